"""``IdempotencyStore`` on PostgreSQL: one row per key, shared by every process.

Each operation is one SQL statement, atomic by itself: "insert if absent" is
``INSERT ... ON CONFLICT DO NOTHING`` and every compare-and-set on the claim token is one
``UPDATE``/``DELETE ... WHERE token = %s``. A claim whose key is taken reads the stored
row with a second statement (and inserts again in the rare case that the row was
released in between). Instants are ``timestamptz`` (microseconds, read back in UTC).
Outcomes are ``bytea``; the per-field fingerprints are kept as the JSON text the guard
compares.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from orderkit.adapters.postgres._db import Database, utc
from orderkit.idempotency.records import IdempotencyRecord, RecordState
from orderkit.model.errors import StoreError

__all__ = ["PostgresIdempotencyStore"]

MIGRATIONS: Final = (
    """
    CREATE TABLE {s}.idempotency_records (
        key text PRIMARY KEY,
        request_hash text NOT NULL,
        field_hashes text NOT NULL,
        token text NOT NULL,
        state text NOT NULL,
        created_at timestamptz NOT NULL,
        lease_expires_at timestamptz NOT NULL,
        completed_at timestamptz,
        outcome bytea
    );
    CREATE INDEX idempotency_records_created_at ON {s}.idempotency_records (created_at)
    """,
)

_fields_json: Final = json.JSONEncoder(sort_keys=True).encode
_COLUMNS: Final = (
    "key, request_hash, field_hashes, token, state, created_at, lease_expires_at,"
    " completed_at, outcome"
)
_SELECT_COLUMNS: Final = (
    "key, request_hash, field_hashes, token, state, created_at AT TIME ZONE 'UTC',"
    " lease_expires_at AT TIME ZONE 'UTC', completed_at AT TIME ZONE 'UTC', outcome"
)
_IN_PROGRESS: Final = RecordState.IN_PROGRESS.value
_COMPLETED: Final = RecordState.COMPLETED.value
#: How often a claim retries when its key is released between its insert and its read.
_MAX_ROUNDS: Final = 8


def _row(record: IdempotencyRecord) -> tuple[object, ...]:
    return (
        record.key,
        record.request_hash,
        _fields_json(dict(record.field_hashes)),
        record.token,
        record.state.value,
        record.created_at,
        record.lease_expires_at,
        record.completed_at,
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
        created_at=utc(created),
        lease_expires_at=utc(lease),
        completed_at=None if completed is None else utc(completed),
        outcome=None if outcome is None else bytes(outcome),
    )


class PostgresIdempotencyStore:
    """Idempotency records in PostgreSQL, safe for many threads, processes and machines.

    ``source`` is a DSN, a pool, the host's connection or another adapter's
    ``database`` (see :class:`~orderkit.adapters.postgres.PostgresOrderRepository`).
    """

    def __init__(self, source: object, *, schema: str | None = None) -> None:
        self._db = Database(source, schema=schema)
        self._db.ensure_schema("idempotency", MIGRATIONS)
        sql = self._db.sql
        self._insert = sql(
            f"INSERT INTO {{s}}.idempotency_records ({_COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING"
        )
        self._select = sql(f"SELECT {_SELECT_COLUMNS} FROM {{s}}.idempotency_records"
                           " WHERE key = %s")

    @property
    def database(self) -> Database:
        """The source and schema (shared with the other PostgreSQL adapters)."""
        return self._db

    def _count(self, operation: str, sql: str, params: tuple[object, ...]) -> int:
        return self._db.run(
            operation, lambda conn: conn.execute(sql, params).rowcount, single=True
        )

    def _fetch(self, operation: str, key: str) -> tuple[Any, ...] | None:
        return self._db.run(
            operation, lambda conn: conn.execute(self._select, (key,)).fetchone(), single=True
        )

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert ``record`` unless its key is taken; return the stored one if it is."""
        values = _row(record)
        for _ in range(_MAX_ROUNDS):
            if self._count("claim idempotency key", self._insert, values) == 1:
                return None
            row = self._fetch("claim idempotency key", record.key)
            if row is not None:
                return _record(row)
            # Released between the two statements: the key is free again, so try again.
        raise StoreError("claim idempotency key", f"key {record.key} keeps changing hands")

    def take_over(self, expected_token: str, record: IdempotencyRecord) -> bool:
        """Replace the in-progress record holding ``expected_token``."""
        values = _row(record)
        return self._count(
            "take over idempotency key",
            self._db.sql(
                "UPDATE {s}.idempotency_records SET request_hash = %s, field_hashes = %s,"
                " token = %s, state = %s, created_at = %s, lease_expires_at = %s,"
                " completed_at = %s, outcome = %s"
                " WHERE key = %s AND token = %s AND state = %s"
            ),
            (*values[1:], record.key, expected_token, _IN_PROGRESS),
        ) == 1

    def complete(self, key: str, token: str, outcome: bytes, completed_at: datetime) -> bool:
        """Store the outcome if ``token`` still holds the key."""
        return self._count(
            "complete idempotency key",
            self._db.sql(
                "UPDATE {s}.idempotency_records SET state = %s, outcome = %s,"
                " completed_at = %s WHERE key = %s AND token = %s AND state = %s"
            ),
            (_COMPLETED, outcome, completed_at, key, token, _IN_PROGRESS),
        ) == 1

    def release(self, key: str, token: str) -> bool:
        """Forget the in-progress claim if ``token`` holds it."""
        return self._count(
            "release idempotency key",
            self._db.sql(
                "DELETE FROM {s}.idempotency_records WHERE key = %s AND token = %s"
                " AND state = %s"
            ),
            (key, token, _IN_PROGRESS),
        ) == 1

    def get(self, key: str) -> IdempotencyRecord | None:
        """The stored record, or ``None``."""
        row = self._fetch("read idempotency key", key)
        return None if row is None else _record(row)

    def purge(self, before: datetime) -> int:
        """Drop completed records created before ``before`` and claims dead by then."""
        return self._count(
            "purge idempotency records",
            self._db.sql(
                "DELETE FROM {s}.idempotency_records WHERE created_at < %s"
                " AND (state = %s OR lease_expires_at <= %s)"
            ),
            (before, _COMPLETED, before),
        )

    def close(self) -> None:
        """Close this thread's own connection (DSN sources only)."""
        self._db.close()
