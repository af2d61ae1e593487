"""The record an idempotency store keeps per key, and its two states.

A record is written when a caller *claims* a key (``IN_PROGRESS``, with a lease and a
unique claim ``token``) and rewritten once when that caller finishes (``COMPLETED``,
with the encoded outcome). The token is what makes a late finisher harmless: after its
lease expired and another caller took the key over, its token no longer matches and the
store refuses its write.

The record carries a digest of the whole payload and one digest per top-level payload
field, so a conflicting reuse of a key can be reported field by field without storing
the payload itself (it may hold personal data).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import ValidationError
from orderkit.model.time import ensure_aware

__all__ = ["MAX_DURATION", "IdempotencyRecord", "RecordState", "positive_duration"]

#: The longest lease, retention or duplicate window (10 years, like the inventory
#: ledger's ``MAX_TTL``): a lease ending after it is a mistake, and a longer span would
#: reach past the instants orderkit stores (``orderkit.model.time.LATEST``).
MAX_DURATION: Final = timedelta(days=3653)


def positive_duration(name: str, value: object) -> timedelta:
    """``value`` if it is a timedelta above zero and at most :data:`MAX_DURATION`."""
    if not isinstance(value, timedelta) or not timedelta(0) < value <= MAX_DURATION:
        raise ValidationError(name, value, "expected a positive timedelta of at most 10 years")
    return value


class RecordState(StrEnum):
    """Where a key stands: someone is running it, or its outcome is stored."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


_STATES = frozenset(state.value for state in RecordState)


def _field_hashes(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise ValidationError("field_hashes", value, "expected a mapping of field -> digest")
    for name, digest in value.items():
        if not isinstance(name, str) or not isinstance(digest, str):
            raise ValidationError(f"field_hashes.{name}", digest, "expected str -> str")
    return MappingProxyType(dict(value))


def _utc(value: object, path: str) -> datetime:
    return ensure_aware(value, path=path)


def _created_at(value: object) -> datetime:
    return _utc(value, "created_at")


def _lease_expires_at(value: object) -> datetime:
    return _utc(value, "lease_expires_at")


def _completed_at(value: object) -> datetime | None:
    return None if value is None else _utc(value, "completed_at")


def _state(value: object) -> RecordState:
    if isinstance(value, RecordState):
        return value
    if isinstance(value, str) and value in _STATES:
        return RecordState(value)
    raise ValidationError("state", value, "expected 'in_progress' or 'completed'")


def _outcome(_instance: Any, _attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, bytes):
        raise ValidationError("outcome", value, "expected bytes or None")


@attrs.frozen
class IdempotencyRecord:
    """One key's claim or stored outcome (see the module docstring).

    Instants are aware and in UTC. ``outcome`` is opaque to the store: the guard's codec
    writes and reads it. Stores must return records equal to the ones they were given.
    """

    key: str = attrs.field(validator=check.text(allow_empty=False, max_length=512))
    request_hash: str = attrs.field(validator=check.text(allow_empty=False))
    token: str = attrs.field(validator=check.text(allow_empty=False))
    created_at: datetime = attrs.field(converter=_created_at)
    lease_expires_at: datetime = attrs.field(converter=_lease_expires_at)
    field_hashes: Mapping[str, str] = attrs.field(factory=dict, converter=_field_hashes)
    state: RecordState = attrs.field(default=RecordState.IN_PROGRESS, converter=_state)
    outcome: bytes | None = attrs.field(default=None, validator=_outcome)
    completed_at: datetime | None = attrs.field(default=None, converter=_completed_at)

    def lease_expired(self, now: datetime) -> bool:
        """True when the record is in progress and its holder's lease ended by ``now``."""
        return self.state is RecordState.IN_PROGRESS and self.lease_expires_at <= now

    def differing_fields(self, field_hashes: Mapping[str, str]) -> tuple[str, ...]:
        """Top-level payload fields whose digests differ (present on one side only too)."""
        names = set(self.field_hashes) | set(field_hashes)
        return tuple(
            sorted(n for n in names if self.field_hashes.get(n) != field_hashes.get(n))
        )

