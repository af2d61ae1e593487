"""``IdempotencyStore`` in memory: one dict behind one lock, for one process."""

from __future__ import annotations

import threading
from datetime import datetime

import attrs

from orderkit.idempotency.records import IdempotencyRecord, RecordState

__all__ = ["MemoryIdempotencyStore"]


class MemoryIdempotencyStore:
    """Idempotency records for the threads of one process (tests, single-process tools)."""

    def __init__(self) -> None:
        self._records: dict[str, IdempotencyRecord] = {}
        self._lock = threading.Lock()

    def _held(self, key: str, token: str) -> IdempotencyRecord | None:
        """The in-progress record under ``key`` if it holds ``token`` (lock held)."""
        stored = self._records.get(key)
        if stored is None or stored.state is not RecordState.IN_PROGRESS:
            return None
        return stored if stored.token == token else None

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert ``record`` unless its key is taken; return the stored one if it is."""
        with self._lock:
            stored = self._records.setdefault(record.key, record)
            return None if stored is record else stored

    def take_over(self, expected_token: str, record: IdempotencyRecord) -> bool:
        """Replace the in-progress record holding ``expected_token``."""
        with self._lock:
            if self._held(record.key, expected_token) is None:
                return False
            self._records[record.key] = record
            return True

    def complete(self, key: str, token: str, outcome: bytes, completed_at: datetime) -> bool:
        """Store the outcome if ``token`` still holds the key."""
        with self._lock:
            stored = self._held(key, token)
            if stored is None:
                return False
            self._records[key] = attrs.evolve(
                stored, state=RecordState.COMPLETED, outcome=outcome, completed_at=completed_at
            )
            return True

    def release(self, key: str, token: str) -> bool:
        """Forget the in-progress claim if ``token`` holds it."""
        with self._lock:
            if self._held(key, token) is None:
                return False
            del self._records[key]
            return True

    def get(self, key: str) -> IdempotencyRecord | None:
        """The stored record, or ``None``."""
        with self._lock:
            return self._records.get(key)

    def purge(self, before: datetime) -> int:
        """Drop completed records created before ``before`` and claims dead by then."""
        with self._lock:
            doomed = [
                key
                for key, stored in self._records.items()
                if stored.created_at < before
                and (stored.state is RecordState.COMPLETED or stored.lease_expires_at <= before)
            ]
            for key in doomed:
                del self._records[key]
            return len(doomed)
