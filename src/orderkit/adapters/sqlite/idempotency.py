"""``IdempotencyStore`` on SQLite: one row per key, shared by every process on the file.

Each operation is one SQL statement committed on its own (autocommit): "insert if
absent" is ``INSERT ... ON CONFLICT DO NOTHING`` and every compare-and-set on the claim
token is one ``UPDATE``/``DELETE ... WHERE token = ?``, each atomic across processes by
itself, so ``BEGIN IMMEDIATE``/``COMMIT`` would only add two round trips. A claim whose
key is taken reads the stored row with a second statement (and inserts again in the rare
case that the row was released in between). Instants are stored as integer microseconds
since the Unix epoch (UTC), so comparisons in SQL are exact.

Only the completion has to survive a power cut: it is the promise that a retry gets the
stored outcome. Claims, takeovers and releases are committed without waiting for the
disk (WAL with ``synchronous=NORMAL``: atomic and visible to every process at once, but
possibly lost on power loss). Losing a claim costs nothing that a durable claim would
have saved: after a crash the claim's holder is gone either way and the work runs again
(at once, or after the lease). The completion's own ``FULL`` commit flushes the write-
ahead log, claim included. This halves the disk flushes on every guarded call.

Both kinds of commit go through the one connection per thread that every adapter on
the file shares: a relaxed commit is a :meth:`Database.statement` with
``durable=False`` (``PRAGMA synchronous = NORMAL`` for that statement only; the next use
of the connection sets the file's durability back, so an order saved after a claim is
as durable as ever). Two connections, one per level, would each find the other's writes
in the log at every switch and drop their whole page cache; a pragma costs much less.
Inside a transaction the host opened (``repository.atomic()``) every operation joins
it and commits with it, as durably as the file. With ``durable=False`` on every
adapter of the file every commit is ``NORMAL``.
"""

from __future__ import annotations

import json
import os
import sqlite3
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
#: ``json.dumps(fields, sort_keys=True)`` without its argument handling, once per write.
_fields_json: Final = json.JSONEncoder(sort_keys=True).encode
_MICROSECOND: Final = timedelta(microseconds=1)
_COLUMNS: Final = (
    "key, request_hash, field_hashes, token, state, created_at, lease_expires_at,"
    " completed_at, outcome"
)
_IN_PROGRESS: Final = RecordState.IN_PROGRESS.value
_COMPLETED: Final = RecordState.COMPLETED.value
_SELECT: Final = f"SELECT {_COLUMNS} FROM idempotency_records WHERE key = ?"
_INSERT: Final = (
    f"INSERT INTO idempotency_records ({_COLUMNS})"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
)
#: Whether a commit waits for the disk: the completion's and a purge's do, a claim's,
#: a takeover's and a release's only need atomicity (module doc).
_FLUSHED: Final = True
_ATOMIC: Final = False


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _row(record: IdempotencyRecord) -> tuple[object, ...]:
    return (
        record.key,
        record.request_hash,
        _fields_json(dict(record.field_hashes)),
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

    @property
    def database(self) -> Database:
        """The underlying file handle (shared with other adapters on the same file)."""
        return self._db

    def _execute(
        self, operation: str, durable: bool, sql: str, params: tuple[object, ...]
    ) -> sqlite3.Cursor:
        """Run one statement in its own transaction (autocommit: atomic by itself),
        skipping the disk flush unless ``durable``; driver errors become
        :class:`StoreError` saying why, as in every adapter."""
        with self._db.statement(operation, durable=durable) as conn:
            return conn.execute(sql, params)

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert ``record`` unless its key is taken; return the stored one if it is.
        The insert and the read are one transaction, so no release between them can
        leave a claim without an answer."""
        with self._db.write("claim idempotency key", savepoint=False, durable=_ATOMIC) as conn:
            if conn.execute(_INSERT, _row(record)).rowcount == 1:
                return None
            row = conn.execute(_SELECT, (record.key,)).fetchone()
        return _record(row)

    def take_over(self, expected_token: str, record: IdempotencyRecord) -> bool:
        """Replace the in-progress record holding ``expected_token``."""
        values = _row(record)
        changed = self._execute(
            "take over idempotency key",
            _ATOMIC,
            "UPDATE idempotency_records SET request_hash = ?, field_hashes = ?,"
            " token = ?, state = ?, created_at = ?, lease_expires_at = ?,"
            " completed_at = ?, outcome = ?"
            " WHERE key = ? AND token = ? AND state = ?",
            (*values[1:], record.key, expected_token, _IN_PROGRESS),
        ).rowcount
        return changed == 1

    def complete(self, key: str, token: str, outcome: bytes, completed_at: datetime) -> bool:
        """Store the outcome if ``token`` still holds the key."""
        changed = self._execute(
            "complete idempotency key",
            _FLUSHED,
            "UPDATE idempotency_records SET state = ?, outcome = ?, completed_at = ?"
            " WHERE key = ? AND token = ? AND state = ?",
            (_COMPLETED, outcome, _micros(completed_at), key, token, _IN_PROGRESS),
        ).rowcount
        return changed == 1

    def release(self, key: str, token: str) -> bool:
        """Forget the in-progress claim if ``token`` holds it."""
        changed = self._execute(
            "release idempotency key",
            _ATOMIC,
            "DELETE FROM idempotency_records WHERE key = ? AND token = ? AND state = ?",
            (key, token, _IN_PROGRESS),
        ).rowcount
        return changed == 1

    def get(self, key: str) -> IdempotencyRecord | None:
        """The stored record, or ``None``."""
        row = self._execute("read idempotency key", _FLUSHED, _SELECT, (key,)).fetchone()
        return None if row is None else _record(row)

    def purge(self, before: datetime) -> int:
        """Drop completed records created before ``before`` and claims dead by then."""
        cutoff = _micros(before)
        return self._execute(
            "purge idempotency records",
            _FLUSHED,
            "DELETE FROM idempotency_records WHERE created_at < ?"
            " AND (state = ? OR lease_expires_at <= ?)",
            (cutoff, _COMPLETED, cutoff),
        ).rowcount

    def close(self) -> None:
        """Close this thread's connection."""
        self._db.close()
