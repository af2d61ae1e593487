"""Outbox messages: what a saved decision still owes the world, stored with the decision.

An :class:`OutboxMessage` is written in the same transaction as the order it belongs
to, so a decision and what it owes (a domain event for the host, a stock movement for
the ledger) are kept or lost together. The :class:`~orderkit.outbox.OutboxRelay`
delivers them afterwards, at least once; every consumer applies a message at most once
by its ``message_id``, so effects happen exactly once even across crashes.

Topics name the consumer and what to do:

* ``event.<DomainEventClass>`` (``event.PaymentReceived``, ...): the domain event for
  the host's :class:`~orderkit.lifecycle.ports.EventSink`; ``payload`` is the event as
  :func:`~orderkit.model.serialization.to_dict` gives it, plus ``"type"``.
* ``stock.release`` and ``stock.commit``: a movement for the inventory ledger;
  ``payload`` is ``{"lock_id": ..., "lines": {sku: units} or None}`` (``None``: all
  that is still locked); ``stock.uncommit``: units a ``stock.commit`` of the lock
  shipped that never left, back on hand and locked again (``{"lock_id": ..., "lines":
  {sku: units}}``); ``stock.confirm``: a payment confirms the lock
  (``{"lock_id": ...}``), which then never expires.
* ``stock.restock``: returned units back in stock (``{"lines": ..., "return_id": ...}``);
  ``stock.ship``: units that left with no lock to commit (``{"lines": ...}``);
  ``stock.unship``: units a ``stock.ship`` booked that never left, back on hand
  (``{"lines": ...}``);
  ``stock.record_shipped``: units that left before the stock count, booked for the order
  without leaving ``on_hand`` again (``{"lines": ..., "lock_id": ... or None}``);
  ``stock.unrecord_shipped``: units a ``stock.record_shipped`` booked that never left,
  taken back (``{"lines": ..., "lock_id": ... or None}``: the lock holds them again).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import ValidationError
from orderkit.model.serialization import to_dict
from orderkit.model.time import ensure_instant

__all__ = [
    "CONSUMERS",
    "STOCK_COMMIT",
    "STOCK_CONFIRM",
    "STOCK_RECORD_SHIPPED",
    "STOCK_RELEASE",
    "STOCK_RESTOCK",
    "STOCK_SHIP",
    "STOCK_UNCOMMIT",
    "STOCK_UNRECORD_SHIPPED",
    "STOCK_UNSHIP",
    "Consumer",
    "DeliveryStatus",
    "OutboxMessage",
    "StoredMessage",
    "consumer_of",
    "event_content",
    "message_id",
]

STOCK_RELEASE: Final = "stock.release"
STOCK_COMMIT: Final = "stock.commit"
STOCK_UNCOMMIT: Final = "stock.uncommit"
STOCK_CONFIRM: Final = "stock.confirm"
STOCK_RESTOCK: Final = "stock.restock"
STOCK_SHIP: Final = "stock.ship"
STOCK_UNSHIP: Final = "stock.unship"
STOCK_RECORD_SHIPPED: Final = "stock.record_shipped"
STOCK_UNRECORD_SHIPPED: Final = "stock.unrecord_shipped"
#: ``pending``: not yet delivered (or failed, to be retried); ``delivered``: every
#: consumer has it; ``dead``: failed ``max_attempts`` times, kept with its error.
DeliveryStatus = Literal["pending", "delivered", "dead"]
#: Who a message goes to: ``sink`` (the host's event sink: ``event.*`` topics) or
#: ``ledger`` (the inventory ledger: every other topic). Each order's messages keep
#: their order per consumer (its *lane*).
Consumer = Literal["sink", "ledger"]
CONSUMERS: Final[tuple[Consumer, ...]] = ("sink", "ledger")


def consumer_of(topic: str) -> Consumer:
    """The consumer of a message of ``topic`` (the stores compute the same in SQL:
    ``sink`` when the topic starts with ``event.``)."""
    return "sink" if topic.startswith("event.") else "ledger"


#: The scalar types a payload holds as they are (``bool`` is an ``int``; subclasses such
#: as an ``IntEnum`` go through :func:`_check_json`, which accepts them too).
_SCALARS: Final = frozenset({str, int, bool, type(None)})


def _check_json(value: object, path: str) -> None:
    """Refuse anything but JSON values (text, integers, booleans, null, lists, mappings
    with text keys): amounts travel as text, never as floats. A container's plain
    scalars are checked in its own loop; only its containers (and anything unusual) are
    visited one call deeper."""
    if isinstance(value, str | bool | int) or value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(path, key, "payload keys must be strings")
            if type(item) not in _SCALARS:
                _check_json(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if type(item) not in _SCALARS:
                _check_json(item, f"{path}[{index}]")
        return
    raise ValidationError(path, value, "payloads hold JSON values (text, integers; no floats)")


#: Canonical JSON: keys sorted, no spaces, text as it is (one encoder, not one per call).
_CANONICAL: Final = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _no_float(text: str) -> Any:
    raise ValueError(f"{text} is not a whole number: amounts travel as text")


def _payload_text(value: object) -> str:
    """The payload (a mapping, or its JSON text) as canonical JSON text (keys sorted),
    which is what the message keeps: immutable, equal for equal payloads, and what a
    store writes as it is."""
    if isinstance(value, str):
        # JSON text holds only JSON values once parsed, floats refused by the parser.
        try:
            value = json.loads(value, parse_float=_no_float, parse_constant=_no_float)
        except ValueError as error:
            raise ValidationError("payload", value, f"expected a JSON object ({error})") from None
        if not isinstance(value, dict):
            raise ValidationError("payload", value, "expected a JSON object")
    elif isinstance(value, Mapping):
        _check_json(value, "payload")
    else:
        raise ValidationError("payload", value, "expected a mapping")
    text = _CANONICAL.encode(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            "payload", value, "not valid Unicode text (a lone surrogate)"
        ) from None
    return text


def _created_at(value: object) -> datetime:
    return ensure_instant(value, path="created_at")


def _occurred_at(value: object) -> datetime | None:
    return None if value is None else ensure_instant(value, path="occurred_at")


def _count(name: str) -> Any:
    """A validator of an optional whole number >= 0 named ``name``."""

    def check(_instance: object, _attribute: object, value: object) -> None:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ValidationError(name, value, "expected an integer >= 0 or None")

    return check


@attrs.frozen
class OutboxMessage:
    """One thing a saved decision owes: ``topic`` says to whom and what, ``payload`` the
    details (JSON values), ``created_at`` when the decision was saved (the clock: what
    the lag is measured from).

    What caused it (added in 0.3; ``None`` on messages written before, and on what the
    relay itself found): ``occurred_at``, the input event's own time (``Event.at``),
    never before the order was created nor after the clock when it was decided: the
    instant a ``stock.confirm`` and a ``stock.release`` are judged at; ``order_version``,
    the version of the order the decision saved; ``index``, the message's place among
    that decision's messages. ``(order_version, index)`` grows with every message of an
    order in the order they were saved, so a consumer can tell a late one (a replayed
    dead letter) from a new one.

    The message keeps its payload as canonical JSON text (``payload_json``);
    :attr:`payload` reads it back as a fresh mapping on every access, so nothing a
    consumer does to what it reads can change the message.
    """

    message_id: str = attrs.field(validator=check.text(allow_empty=False, max_length=128))
    order_id: str = attrs.field(validator=check.text(allow_empty=False))
    topic: str = attrs.field(validator=check.text(allow_empty=False, max_length=64))
    payload_json: str = attrs.field(alias="payload", converter=_payload_text)
    created_at: datetime = attrs.field(converter=_created_at)
    occurred_at: datetime | None = attrs.field(
        default=None, converter=_occurred_at, kw_only=True
    )
    order_version: int | None = attrs.field(
        default=None, validator=_count("order_version"), kw_only=True
    )
    index: int | None = attrs.field(default=None, validator=_count("index"), kw_only=True)

    @property
    def payload(self) -> dict[str, Any]:
        """The payload, parsed from :attr:`payload_json` (a new mapping each time)."""
        parsed: dict[str, Any] = json.loads(self.payload_json)
        return parsed


@attrs.frozen
class StoredMessage:
    """A message as the outbox store keeps it: its delivery ``status``, how many
    deliveries failed (``attempts``), the last failure's text (``error``) and, after a
    failure, the instant before which it is not tried again (``retry_at``)."""

    message: OutboxMessage
    status: DeliveryStatus = "pending"
    attempts: int = 0
    error: str = ""
    retry_at: datetime | None = None


def event_content(fact: object) -> tuple[str, dict[str, Any]]:
    """The topic (``event.<its class>``) and payload (the fact as
    :func:`~orderkit.model.serialization.to_dict` gives it, plus ``"type"``) of the
    message carrying a domain event or a relay's finding to the sink."""
    name = type(fact).__name__
    return f"event.{name}", {"type": name, **to_dict(fact)}


def message_id(order_id: str, event_id: str, index: int) -> str:
    """The id of the ``index``-th message of the decision on ``event_id`` for
    ``order_id``: the same every time that decision is made, so a retried decision
    writes the same ids and a consumer recognises a second delivery.

    128 bits of SHA-256 over the parts, each prefixed with its length so that no two
    different ``(order_id, event_id, index)`` give the same text to hash.
    """
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValidationError("index", index, "expected an integer >= 0")
    parts = (str(order_id), str(event_id))
    text = "outbox|" + "".join(f"{len(part)}:{part}" for part in parts) + f"|{index}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
