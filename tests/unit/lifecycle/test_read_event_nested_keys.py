"""``read_event`` ignores keys it does not know at every level of an event, not only
the top one.

The payloads' contract is that a payload only gains keys, each with a default, so a
consumer reads what a newer producer wrote. A newer producer adds keys inside nested
values too (an address's ``ship_to``, a stock shortage, a money mapping, a refund's
parts); such a key used to be refused as an unknown field, so the contract held for
the top level only. What a class knows stays strict at every level, and a misstated
nested field is refused naming its whole path.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from orderkit import Money, from_dict
from orderkit import lifecycle as ev
from orderkit.errors import ValidationError
from orderkit.lifecycle import AddressChanged, DomainEvent, read_event
from orderkit.model.orders import Address
from orderkit.outbox.messages import event_content

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
T1 = datetime(2026, 2, 17, 9, 30, tzinfo=UTC)
CNY = Money("10.00", "CNY")
TWO = Money("2.00", "CNY")
HOME = Address(name="张*", phone="138****1234", province="浙江省", city="杭州市",
               street="文三路 1 号")
PARTS: dict[str, Any] = {"goods": Money("9.00", "CNY"), "discounts": Money("1.00", "CNY"),
                         "shipping": TWO, "tax": Money("0.00", "CNY"),
                         "rounding": Money("0.00", "CNY"), "overpaid": Money("0.00", "CNY")}
VALUE: dict[str, Any] = {"goods": Money("9.00", "CNY"), "discounts": Money("1.00", "CNY"),
                         "shipping": TWO, "tax": Money("0.00", "CNY"), "amount": CNY}

#: One event of every type that holds attrs values (an address, a shortage, money).
NESTED: list[DomainEvent] = [
    AddressChanged("O", "a", T0, HOME, attrs.evolve(HOME, city="宁波市"), "SF1", "lead"),
    AddressChanged("O", "a", T0, None, HOME, None, None),
    ev.ReadyToShip("O", "r", T0, {"1": 1}, {"TEA": 1}, HOME, T0, promised_at=T1),
    ev.StockShort("O", "x", T0, {"TEA": ev.StockShortage(2, 1), "CUP": ev.StockShortage(1, 0)}),
    ev.PaymentReceived("O", "p", T0, CNY, "alipay", "PAY-1", occurred_at=T1),
    ev.PaymentShort("O", "p", T0, CNY, Money("8.00", "CNY"), TWO),
    ev.Overpaid("O", "p", T0, TWO),
    ev.LinesShipped("O", "s", T0, "s", "SF1", {"1": 1}, {"TEA": 1}, rounding=Money("0.00", "CNY"),
                    **VALUE),
    ev.LinesUnshipped("O", "u", T0, "s", "SF1", {"1": 1}, {"TEA": 1}, **VALUE),
    ev.LinesCancelled("O", "c", T0, {"1": 1}, {"TEA": 1}, **VALUE),
    ev.OrderCancelled("O", "c", T0, {"1": 1}, {"TEA": 1}, CNY),
    ev.RefundDue("O", "d", T0, CNY, {"1": 1}, **PARTS),
    ev.Refunded("O", "f", T0, CNY, {"1": 1}, {"TEA": 1}, "RF-1", "alipay", **PARTS),
    ev.RefundLinesAssigned("O", "g", T0, "RF-1", "R-1", {"1": 1}, {"TEA": 1}, CNY, **PARTS),
    ev.ReceivableDue("O", "v", T0, CNY, 40, T1, "delivered, cash not collected"),
    ev.PriceChanged("O", "c", T0, "1", CNY, Money("12.00", "CNY"), "lead"),
]


def holds_attrs_values(hint: Any) -> bool:
    """Whether a field's type is, or holds, an attrs class."""
    return attrs.has(hint) if isinstance(hint, type) else any(
        holds_attrs_values(arg) for arg in typing.get_args(hint))


def test_every_event_type_with_nested_values_is_covered() -> None:
    nested = {name for name, cls in ev.DOMAIN_EVENTS.items()
              if any(holds_attrs_values(hint) for field, hint in
                     typing.get_type_hints(cls).items() if field not in ("at", "occurred_at"))}
    assert nested == {type(fact).__name__ for fact in NESTED}


def with_added_keys(value: object, data: Any) -> Any:
    """``data`` (``to_dict(value)``) with a key a newer producer might add in every
    mapping that stands for an attrs value inside ``value`` (not in the top level, and
    not in mappings that are data, such as ``lines``)."""
    if attrs.has(type(value)):
        return {
            **{name: with_added_keys(getattr(value, name), item) for name, item in data.items()},
            "added_later": {"nested": [1, "two"]},
        }
    if isinstance(value, Mapping):
        return {key: with_added_keys(item_value, item)
                for (key, item_value), item in zip(value.items(), data.values(), strict=True)}
    if isinstance(value, tuple | list):
        return [with_added_keys(v, item) for v, item in zip(value, data, strict=True)]
    return data


def newer(fact: DomainEvent) -> dict[str, Any]:
    """The payload of ``fact`` as a newer producer writes it: one more key at the top
    and in every nested attrs value."""
    _topic, payload = event_content(fact)
    top = {key: value for key, value in payload.items() if key != "type"}
    return {"type": payload["type"], "channel_hint": "new",
            **{name: with_added_keys(getattr(fact, name), item) for name, item in top.items()}}


def nested_keys(data: Any) -> int:
    """How many ``added_later`` keys ``data`` carries below its top level."""
    if isinstance(data, dict):
        return sum(key == "added_later" for key in data) + sum(
            nested_keys(item) for item in data.values())
    if isinstance(data, list):
        return sum(nested_keys(item) for item in data)
    return 0


@pytest.mark.parametrize("fact", NESTED, ids=lambda f: type(f).__name__)
def test_a_newer_producers_nested_keys_are_ignored(fact: DomainEvent) -> None:
    payload = newer(fact)
    assert nested_keys(payload) >= 1
    assert read_event(payload) == fact


def test_an_address_from_a_newer_producer_reads_back() -> None:
    fact = NESTED[2]
    _topic, payload = event_content(fact)
    payload["ship_to"] = {**payload["ship_to"], "town": "西溪街道"}
    assert read_event(payload) == fact


def test_from_dict_stays_strict_about_nested_keys() -> None:
    fact = NESTED[0]
    payload = {key: value for key, value in newer(fact).items()
               if key not in ("type", "channel_hint")}
    with pytest.raises(ValidationError) as refused:
        from_dict(AddressChanged, payload)
    assert refused.value.reason == "unknown fields"
    with pytest.raises(ValidationError):
        from_dict(Address, {**attrs.asdict(HOME), "town": "西溪街道"})


@pytest.mark.parametrize(
    ("fact", "change", "path"),
    [
        (NESTED[2], lambda p: p["ship_to"].update(city=12), "payload.ship_to.city"),
        (NESTED[0], lambda p: p["address"].update(phone=None), "payload.address.phone"),
        (NESTED[0], lambda p: p["previous"].update(name=["张"]), "payload.previous.name"),
        (NESTED[3], lambda p: p["shortages"]["TEA"].update(wanted="2"),
         "payload.shortages['TEA'].wanted"),
        (NESTED[3], lambda p: p["shortages"]["CUP"].pop("available"),
         "payload.shortages['CUP'].available"),
        (NESTED[12], lambda p: p["goods"].update(amount=9.0), "payload.goods.amount"),
        (NESTED[4], lambda p: p["amount"].pop("currency"), "payload.amount.currency"),
    ],
)
def test_a_misstated_nested_field_is_refused_naming_its_path(
    fact: DomainEvent, change: Any, path: str
) -> None:
    payload = newer(fact)
    change(payload)
    with pytest.raises(ValidationError) as refused:
        read_event(payload)
    assert refused.value.path == path


def test_from_dict_refuses_an_unknown_policy_for_unknown_keys() -> None:
    with pytest.raises(ValidationError) as refused:
        from_dict(Address, {}, unknown_keys="keep")  # type: ignore[arg-type]
    assert refused.value.path == "unknown_keys"
