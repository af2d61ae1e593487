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
  that is still locked).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import ValidationError
from orderkit.model.frozen import FrozenMap
from orderkit.model.ids import fingerprint
from orderkit.model.time import ensure_aware

__all__ = [
    "STOCK_COMMIT",
    "STOCK_RELEASE",
    "DeliveryStatus",
    "OutboxMessage",
    "StoredMessage",
    "message_id",
]

STOCK_RELEASE: Final = "stock.release"
STOCK_COMMIT: Final = "stock.commit"
#: ``pending``: not yet delivered (or failed, to be retried); ``delivered``: every
#: consumer has it; ``dead``: failed ``max_attempts`` times, kept with its error.
DeliveryStatus = Literal["pending", "delivered", "dead"]


def _frozen(value: object, path: str) -> Any:
    """A deep, read-only copy of JSON-like data: mappings become FrozenMaps, lists tuples."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(path, key, "payload keys must be strings")
            out[key] = _frozen(item, f"{path}.{key}")
        return FrozenMap(out)
    if isinstance(value, list | tuple):
        return tuple(_frozen(item, f"{path}[{i}]") for i, item in enumerate(value))
    if value is None or isinstance(value, str | int | bool):
        return value
    raise ValidationError(path, value, "payloads hold JSON values (text, numbers as text)")


def _payload(value: object) -> FrozenMap[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError("payload", value, "expected a mapping")
    frozen: FrozenMap[str, Any] = _frozen(value, "payload")
    return frozen


def _created_at(value: object) -> datetime:
    return ensure_aware(value, path="created_at")


@attrs.frozen
class OutboxMessage:
    """One thing a saved decision owes: ``topic`` says to whom and what, ``payload`` the
    details (JSON values, read-only), ``created_at`` when the decision was saved."""

    message_id: str = attrs.field(validator=check.text(allow_empty=False, max_length=128))
    order_id: str = attrs.field(validator=check.text(allow_empty=False))
    topic: str = attrs.field(validator=check.text(allow_empty=False, max_length=64))
    payload: FrozenMap[str, Any] = attrs.field(converter=_payload)
    created_at: datetime = attrs.field(converter=_created_at)


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


def message_id(order_id: str, event_id: str, index: int) -> str:
    """The id of the ``index``-th message of the decision on ``event_id`` for
    ``order_id``: the same every time that decision is made, so a retried decision
    writes the same ids and a consumer recognises a second delivery."""
    return fingerprint("outbox", order_id, event_id, index)[:32]
