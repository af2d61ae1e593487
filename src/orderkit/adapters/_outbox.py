"""The checks every order repository adapter runs on the outbox side of its work.

The memory and the SQLite repository are both outbox stores; they refuse the same input
with the same :class:`~orderkit.model.errors.ValidationError`, so these checks live here
once. Every check runs before the first write, so a refused call writes nothing.

Adapters import this module inside the methods that need it: importing an order
repository loads the model and that adapter only, not the outbox capability.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Final

from orderkit.model._checks import encodable
from orderkit.model.errors import ValidationError
from orderkit.model.retention import checked_purge
from orderkit.model.time import ensure_aware
from orderkit.outbox.messages import CONSUMERS, Consumer, OutboxMessage, StoredMessage

__all__ = [
    "MAX_ERROR_LENGTH",
    "OutboxMessage",
    "StoredMessage",
    "checked_dead",
    "checked_enqueue",
    "checked_error",
    "checked_id",
    "checked_ids",
    "checked_lane",
    "checked_messages",
    "checked_purge",
    "payload_json",
    "refuse_stored_ids",
]

#: The longest failure text kept; a longer one is cut and ends with an ellipsis.
MAX_ERROR_LENGTH: Final = 2000


def checked_messages(
    order_id: str, outbox: Sequence[OutboxMessage]
) -> list[tuple[OutboxMessage, str]]:
    """``outbox``'s messages, each with its payload as JSON text: messages of
    ``order_id`` with distinct ids, storable as UTF-8 text; a :class:`ValidationError`
    names ``outbox[i]...`` otherwise."""
    if isinstance(outbox, str | bytes | Mapping) or not isinstance(outbox, Sequence):
        raise ValidationError("outbox", outbox, "expected a sequence of OutboxMessage")
    messages = list(outbox)
    checked: list[tuple[OutboxMessage, str]] = []
    seen: set[str] = set()
    for index, message in enumerate(messages):
        path = f"outbox[{index}]"
        if not isinstance(message, OutboxMessage):
            raise ValidationError(path, message, "expected an OutboxMessage")
        if message.order_id != order_id:
            raise ValidationError(
                f"{path}.order_id", message.order_id, f"expected the saved order {order_id!r}"
            )
        if message.message_id in seen:
            raise ValidationError(
                f"{path}.message_id", message.message_id, "given twice in one save"
            )
        seen.add(message.message_id)
        encodable(f"{path}.message_id", message.message_id)
        encodable(f"{path}.topic", message.topic)
        checked.append((message, payload_json(message, path=f"{path}.payload")))
    return checked


def checked_enqueue(messages: Sequence[OutboxMessage]) -> list[OutboxMessage]:
    """Messages to enqueue, checked as a save checks its outbox (each against its own
    order) and with distinct ids; a :class:`ValidationError` names ``messages[i]...``."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise ValidationError("messages", messages, "expected a sequence of OutboxMessage")
    checked: list[OutboxMessage] = []
    seen: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, OutboxMessage):
            raise ValidationError(f"messages[{index}]", message, "expected an OutboxMessage")
        if message.message_id in seen:
            raise ValidationError(
                f"messages[{index}].message_id", message.message_id, "given twice"
            )
        seen.add(message.message_id)
        checked_messages(message.order_id, [message])
        checked.append(message)
    return checked


def payload_json(message: OutboxMessage, *, path: str = "payload") -> str:
    """The message's payload as the JSON text it keeps (what the SQLite adapter stores);
    the message checked it when it was made."""
    if not isinstance(message.payload_json, str):
        raise ValidationError(path, message.payload_json, "expected JSON text")
    return message.payload_json


def refuse_stored_ids(taken: Collection[str], ids: Sequence[str], path: str) -> None:
    """Refuse a write one of whose message ids ``ids`` is among ``taken`` (the ids the
    store holds already, in any status), naming ``path[i].message_id``."""
    for index, message_id in enumerate(ids):
        if message_id in taken:
            raise ValidationError(f"{path}[{index}].message_id", message_id, "already stored")


def checked_lane(
    consumer: object, now: object
) -> tuple[Consumer | None, datetime | None]:
    """The ``consumer`` and ``now`` of ``pending``: one of :data:`CONSUMERS` or
    ``None``, an aware instant or ``None``."""
    lane = next((known for known in CONSUMERS if isinstance(consumer, str)
                 and consumer == known), None)
    if consumer is not None and lane is None:
        raise ValidationError("consumer", consumer, f"expected one of {', '.join(CONSUMERS)}")
    return lane, None if now is None else ensure_aware(now, path="now")


def checked_id(message_id: object) -> str:
    """One message id."""
    if not isinstance(message_id, str):
        raise ValidationError("message_id", message_id, "expected a string")
    encodable("message_id", message_id)
    return message_id


def checked_ids(message_ids: Sequence[str]) -> list[str]:
    """A sequence of message ids (a lone string is refused, not read as characters)."""
    if isinstance(message_ids, str | bytes) or not isinstance(message_ids, Sequence):
        raise ValidationError("message_ids", message_ids, "expected a sequence of strings")
    ids = list(message_ids)
    for index, message_id in enumerate(ids):
        if not isinstance(message_id, str):
            raise ValidationError(f"message_ids[{index}]", message_id, "expected a string")
        encodable(f"message_ids[{index}]", message_id)
    return ids


def checked_dead(dead: object) -> bool:
    """The ``dead`` flag of ``mark_failed``."""
    if not isinstance(dead, bool):
        raise ValidationError("dead", dead, "expected True or False")
    return dead


def checked_error(error: object) -> str:
    """A failure's text as kept, the same by every store: at most
    :data:`MAX_ERROR_LENGTH` characters, and characters UTF-8 cannot hold (lone
    surrogates) or PostgreSQL text cannot (NUL) written as escapes."""
    if not isinstance(error, str):
        raise ValidationError("error", error, "expected a string")
    text = error.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    if len(text) > MAX_ERROR_LENGTH:
        text = text[: MAX_ERROR_LENGTH - 1] + "…"
    return text
