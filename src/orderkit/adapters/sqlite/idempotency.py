"""``IdempotencyStore`` on SQLite: one row per key, shared by every process on the file.

Each operation is one ``BEGIN IMMEDIATE`` transaction, so "insert if absent" and every
compare-and-set on the claim token are atomic across processes. Instants are stored as
integer microseconds since the Unix epoch (UTC), so comparisons in SQL are exact.

Only the completion has to survive a power cut: it is the promise that a retry gets the
stored outcome. Claims, takeovers and releases are committed without waiting for the
disk (WAL with ``synchronous=NORMAL``: atomic and visible to every process at once, but
possibly lost on power loss). Losing a claim costs nothing that a durable claim would
have saved: after a crash the claim's holder is gone either way and the work runs again
(at once, or after the lease). The completion's own ``FULL`` commit flushes the write-
ahead log, claim included. This halves the disk flushes on every guarded call.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from orderkit.adapters.sqlite._db import Database
from orderkit.idempotency.records import IdempotencyRecord, RecordState

__all__ = ["SQLiteIdempotencyStore"]

_MIGRATIONS: Final = (
    """
    CREATE TABLE idempotency_records (
        key TEXT PRIMARY KEY,
        request_hash TEXT NOT NULL,
        field_hashes TEXT NOT NULL,
        token TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        lease_expires_at INTEGER NOT NULL,
        completed_at INTEGER,
        outcome BLOB
    );
    CREATE INDEX idempotency_records_created_at ON idempotency_records (created_at)
    """,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_COLUMNS: Final = (
    "key, request_hash, field_hashes, token, state, created_at, lease_expires_at,"
    " completed_at, outcome"
)
_IN_PROGRESS: Final = RecordState.IN_PROGRESS.value
_COMPLETED: Final = RecordState.COMPLETED.value


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _row(record: IdempotencyRecord) -> tuple[object, ...]:
    return (
        record.key,
        record.request_hash,
        json.dumps(dict(record.field_hashes), sort_keys=True),
        record.token,
        record.state.value,
        _micros(record.created_at),
        _micros(record.lease_expires_at),
        None if record.completed_at is None else _micros(record.completed_at),
        record.outcome,
    )


def _record(row: tuple[Any, ...]) -> IdempotencyRecord:
    key, request_hash, fields, token, state, created, lease, completed, outcome = row
    return IdempotencyRecord(
        key=key,
        request_hash=request_hash,
        field_hashes=json.loads(fields),
        token=token,
        state=state,
        created_at=_instant(created),
        lease_expires_at=_instant(lease),
        completed_at=None if completed is None else _instant(completed),
        outcome=None if outcome is None else bytes(outcome),
    )


class SQLiteIdempotencyStore:
    """Idempotency records in a SQLite file, safe for many threads and processes."""

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self._db = Database(path, durable=durable)
        self._db.ensure_schema("idempotency", _MIGRATIONS)
        # Claims, takeovers and releases need atomicity and visibility, not a disk flush.
        self._fast = Database(path, durable=False)

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert ``record`` unless its key is taken; return the stored one if it is."""
        with self._fast.write("claim idempotency key") as conn:
            inserted = conn.execute(
                f"INSERT INTO idempotency_records ({_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                _row(record),
            ).rowcount
            if inserted == 1:
                return None
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM idempotency_records WHERE key = ?", (record.key,)
            ).fetchone()
        return _record(row)

    def take_over(self, expected_token: str, record: IdempotencyRecord) -> bool:
        """Replace the in-progress record holding ``expected_token``."""
        values = _row(record)
        with self._fast.write("take over idempotency key") as conn:
            changed = conn.execute(
                "UPDATE idempotency_records SET request_hash = ?, field_hashes = ?,"
                " token = ?, state = ?, created_at = ?, lease_expires_at = ?,"
                " completed_at = ?, outcome = ?"
                " WHERE key = ? AND token = ? AND state = ?",
                (*values[1:], record.key, expected_token, _IN_PROGRESS),
            ).rowcount
        return changed == 1

    def complete(self, key: str, token: str, outcome: bytes, completed_at: datetime) -> bool:
        """Store the outcome if ``token`` still holds the key."""
        with self._db.write("complete idempotency key") as conn:
            changed = conn.execute(
                "UPDATE idempotency_records SET state = ?, outcome = ?, completed_at = ?"
                " WHERE key = ? AND token = ? AND state = ?",
                (_COMPLETED, outcome, _micros(completed_at), key, token, _IN_PROGRESS),
            ).rowcount
        return changed == 1

    def release(self, key: str, token: str) -> bool:
        """Forget the in-progress claim if ``token`` holds it."""
        with self._fast.write("release idempotency key") as conn:
            changed = conn.execute(
                "DELETE FROM idempotency_records WHERE key = ? AND token = ? AND state = ?",
                (key, token, _IN_PROGRESS),
            ).rowcount
        return changed == 1

    def get(self, key: str) -> IdempotencyRecord | None:
        """The stored record, or ``None``."""
        with self._db.read("read idempotency key") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM idempotency_records WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else _record(row)

    def purge(self, before: datetime) -> int:
        """Drop completed records created before ``before`` and claims dead by then."""
        cutoff = _micros(before)
        with self._db.write("purge idempotency records") as conn:
            return conn.execute(
                "DELETE FROM idempotency_records WHERE created_at < ?"
                " AND (state = ? OR lease_expires_at <= ?)",
                (cutoff, _COMPLETED, cutoff),
            ).rowcount

    def close(self) -> None:
        """Close this thread's connections."""
        self._db.close()
        self._fast.close()
