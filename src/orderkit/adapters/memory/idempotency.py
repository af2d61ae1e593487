"""``IdempotencyStore`` in memory: one dict behind one lock, for one process.

The dict maps a key to its record, or, for a completion nobody has read yet, to the
claim with the outcome beside it (a ``(claim, outcome, completed_at)`` tuple). Folding
the completion into a record only when someone reads it keeps ``complete`` cheap,
which is what every first call pays; the first read replaces the tuple by the record.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Final, TypeAlias

import attrs

from orderkit.idempotency.records import IdempotencyRecord, RecordState

__all__ = ["MemoryIdempotencyStore"]

_IN_PROGRESS: Final = RecordState.IN_PROGRESS
_COMPLETED: Final = RecordState.COMPLETED

#: A claim, its outcome and when it completed: a completion not folded in yet.
_Pending: TypeAlias = tuple[IdempotencyRecord, bytes, datetime]


def _fold(pending: _Pending) -> IdempotencyRecord:
    claim, outcome, at = pending
    if type(outcome) is bytes and type(at) is datetime and at.tzinfo is UTC:
        # What the guard passes: the claim was valid, so there is nothing to check again.
        return claim._trusted_completed(outcome, at)
    # Anything else is validated (and converted to UTC) like any record.
    return attrs.evolve(claim, state=_COMPLETED, outcome=outcome, completed_at=at)


def _held(stored: IdempotencyRecord | _Pending | None, token: str) -> bool:
    """True when ``stored`` is an in-progress claim under ``token``."""
    return (
        isinstance(stored, IdempotencyRecord)
        and stored.state is _IN_PROGRESS
        and stored.token == token
    )


class MemoryIdempotencyStore:
    """Idempotency records for the threads of one process (tests, single-process tools)."""

    def __init__(self) -> None:
        self._records: dict[str, IdempotencyRecord | _Pending] = {}
        self._lock = threading.Lock()

    def _read(self, key: str, stored: IdempotencyRecord | _Pending) -> IdempotencyRecord:
        """``stored`` as a record, folding a pending completion in (call under the lock)."""
        if isinstance(stored, IdempotencyRecord):
            return stored
        record = self._records[key] = _fold(stored)
        return record

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert ``record`` unless its key is taken; return the stored one if it is."""
        with self._lock:
            stored = self._records.setdefault(record.key, record)
            return None if stored is record else self._read(record.key, stored)

    def take_over(self, expected_token: str, record: IdempotencyRecord) -> bool:
        """Replace the in-progress record holding ``expected_token``."""
        with self._lock:
            if not _held(self._records.get(record.key), expected_token):
                return False
            self._records[record.key] = record
            return True

    def complete(self, key: str, token: str, outcome: bytes, completed_at: datetime) -> bool:
        """Store the outcome if ``token`` still holds the key."""
        with self._lock:
            stored = self._records.get(key)
            if not (  # _held, spelled out: this runs on every first call
                isinstance(stored, IdempotencyRecord)
                and stored.state is _IN_PROGRESS
                and stored.token == token
            ):
                return False
            self._records[key] = (stored, outcome, completed_at)
            return True

    def release(self, key: str, token: str) -> bool:
        """Forget the in-progress claim if ``token`` holds it."""
        with self._lock:
            if not _held(self._records.get(key), token):
                return False
            del self._records[key]
            return True

    def get(self, key: str) -> IdempotencyRecord | None:
        """The stored record, or ``None``."""
        with self._lock:
            stored = self._records.get(key)
            return None if stored is None else self._read(key, stored)

    def purge(self, before: datetime) -> int:
        """Drop completed records created before ``before`` and claims dead by then."""
        with self._lock:
            doomed = [
                key for key, stored in self._records.items() if _purgeable(stored, before)
            ]
            for key in doomed:
                del self._records[key]
            return len(doomed)


def _purgeable(stored: IdempotencyRecord | _Pending, before: datetime) -> bool:
    if not isinstance(stored, IdempotencyRecord):
        return stored[0].created_at < before  # a pending completion
    if stored.created_at >= before:
        return False
    return stored.state is _COMPLETED or stored.lease_expires_at <= before
