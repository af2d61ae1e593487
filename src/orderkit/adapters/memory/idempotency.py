"""``IdempotencyStore`` in memory: one dict behind one lock, for one process."""

from __future__ import annotations

import threading
from datetime import datetime

import attrs

from orderkit.idempotency.records import IdempotencyRecord, RecordState

__all__ = ["MemoryIdempotencyStore"]


@attrs.define
class _Entry:
    """A stored claim; completion is kept beside it and folded in when read.

    Building the completed record only when someone reads it keeps ``complete`` cheap,
    which is what every first call pays.
    """

    claim: IdempotencyRecord
    outcome: bytes | None = None
    completed_at: datetime | None = None
    folded: IdempotencyRecord | None = None

    @property
    def done(self) -> bool:
        return self.completed_at is not None

    def record(self) -> IdempotencyRecord:
        if not self.done:
            return self.claim
        if self.folded is None:
            self.folded = attrs.evolve(
                self.claim,
                state=RecordState.COMPLETED,
                outcome=self.outcome,
                completed_at=self.completed_at,
            )
        return self.folded

    def held_by(self, token: str) -> bool:
        return not self.done and self.claim.token == token


class MemoryIdempotencyStore:
    """Idempotency records for the threads of one process (tests, single-process tools)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert ``record`` unless its key is taken; return the stored one if it is."""
        entry = _Entry(record) if record.state is RecordState.IN_PROGRESS else None
        with self._lock:
            stored = self._entries.get(record.key)
            if stored is None:
                self._entries[record.key] = entry or _completed_entry(record)
                return None
            return stored.record()

    def take_over(self, expected_token: str, record: IdempotencyRecord) -> bool:
        """Replace the in-progress record holding ``expected_token``."""
        with self._lock:
            stored = self._entries.get(record.key)
            if stored is None or not stored.held_by(expected_token):
                return False
            self._entries[record.key] = (
                _Entry(record)
                if record.state is RecordState.IN_PROGRESS
                else _completed_entry(record)
            )
            return True

    def complete(self, key: str, token: str, outcome: bytes, completed_at: datetime) -> bool:
        """Store the outcome if ``token`` still holds the key."""
        with self._lock:
            stored = self._entries.get(key)
            if stored is None or not stored.held_by(token):
                return False
            stored.outcome = outcome
            stored.completed_at = completed_at
            return True

    def release(self, key: str, token: str) -> bool:
        """Forget the in-progress claim if ``token`` holds it."""
        with self._lock:
            stored = self._entries.get(key)
            if stored is None or not stored.held_by(token):
                return False
            del self._entries[key]
            return True

    def get(self, key: str) -> IdempotencyRecord | None:
        """The stored record, or ``None``."""
        with self._lock:
            stored = self._entries.get(key)
            return None if stored is None else stored.record()

    def purge(self, before: datetime) -> int:
        """Drop completed records created before ``before`` and claims dead by then."""
        with self._lock:
            doomed = [
                key for key, entry in self._entries.items() if _purgeable(entry, before)
            ]
            for key in doomed:
                del self._entries[key]
            return len(doomed)


def _completed_entry(record: IdempotencyRecord) -> _Entry:
    return _Entry(record, record.outcome, record.completed_at or record.created_at, record)


def _purgeable(entry: _Entry, before: datetime) -> bool:
    if entry.claim.created_at >= before:
        return False
    return entry.done or entry.claim.lease_expires_at <= before
