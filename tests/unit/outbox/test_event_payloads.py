"""A sink reads an ``event.<DomainEvent>`` payload back with ``read_event``.

docs/outbox.md showed ``from_dict(<DomainEvent>, payload)``, but a payload carries its
own ``"type"`` and ``from_dict`` is strict, so the documented call refused every real
payload, and a payload from a newer producer (one more key) too: "payloads only gain
keys" helped only consumers that upgraded first. ``read_event(payload)`` picks the
class by ``type`` and ignores keys it does not know.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orderkit import Money, from_dict
from orderkit.errors import ValidationError
from orderkit.lifecycle import (
    DOMAIN_EVENTS,
    LinesShipped,
    PaymentReceived,
    Refunded,
    StockShort,
    StockShortage,
    read_event,
)
from orderkit.outbox.messages import event_content

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
CNY = Money("10.00", "CNY")

FACTS = [
    PaymentReceived("O", "p", T0, CNY),
    Refunded("O", "r", T0, CNY, {"1": 1}, {"TEA": 1}, "RF-1"),
    LinesShipped("O", "s", T0, "s", "SF1", {"1": 1}, {"TEA": 1}, amount=CNY),
    StockShort("O", "x", T0, {"TEA": StockShortage(2, 1)}),
]


@pytest.mark.parametrize("fact", FACTS, ids=lambda f: type(f).__name__)
def test_a_payload_reads_back_as_its_event(fact: object) -> None:
    _topic, payload = event_content(fact)
    assert read_event(payload) == fact


def test_every_domain_event_is_known_by_its_type() -> None:
    assert set(DOMAIN_EVENTS) >= {"PaymentReceived", "LinesShipped", "StockShort"}
    assert all(cls.__name__ == name for name, cls in DOMAIN_EVENTS.items())


def test_a_newer_producers_key_is_ignored() -> None:
    _topic, payload = event_content(FACTS[1])
    newer = {**payload, "refund_channel": "wechat"}
    assert read_event(newer) == FACTS[1]
    with pytest.raises(ValidationError):  # from_dict stays strict
        from_dict(Refunded, {k: v for k, v in newer.items() if k != "type"})


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ([], "payload"),
        ({"order_id": "O"}, "payload.type"),
        ({"type": "Paid"}, "payload.type"),
        ({"type": "PaymentReceived", "order_id": "O", "event_id": "p", "at": "x",
          "amount": {"amount": "1.00", "currency": "CNY"}}, "payload.at"),
        ({"type": "PaymentReceived", "order_id": "O", "at": T0.isoformat(),
          "amount": {"amount": "1.00", "currency": "CNY"}}, "payload.event_id"),
    ],
)
def test_a_bad_payload_is_refused_naming_the_field(payload: object, path: str) -> None:
    with pytest.raises(ValidationError) as refused:
        read_event(payload)  # type: ignore[arg-type]
    assert refused.value.path == path
