"""``SyncStore`` on SQLite, on the same file as the orders.

Tables ``sync_seen`` (one row per platform and channel order id, indexed by digest
and by receipt time too), ``sync_cursors`` (one
per platform and shop) and ``sync_dead_letters``. Writes made inside the order
repository's ``atomic()`` block on the same file join its transaction, so an order and
what sync saw of it commit together. Instants are integer microseconds since the epoch
(UTC), so "never backwards" is one comparison in the ``UPDATE``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from orderkit.adapters.sqlite._db import Database
from orderkit.model.errors import ValidationError
from orderkit.sync.records import Cursor, DeadLetter, Seen, newest_seen
from orderkit.watch.ports import checked_window

__all__ = ["SQLiteSyncStore"]

_MIGRATIONS: Final = (
    """
    CREATE TABLE sync_seen (
        platform TEXT NOT NULL,
        channel_order_id TEXT NOT NULL,
        modified_us INTEGER NOT NULL,
        digest TEXT NOT NULL,
        received_us INTEGER NOT NULL,
        stale INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (platform, channel_order_id)
    ) WITHOUT ROWID;
    CREATE TABLE sync_cursors (
        platform TEXT NOT NULL,
        shop TEXT NOT NULL,
        modified_us INTEGER NOT NULL,
        ids_at TEXT NOT NULL,
        PRIMARY KEY (platform, shop)
    ) WITHOUT ROWID;
    CREATE TABLE sync_dead_letters (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        letter_id TEXT NOT NULL UNIQUE,
        platform TEXT NOT NULL,
        payload TEXT NOT NULL,
        error TEXT NOT NULL,
        received_us INTEGER NOT NULL,
        attempts INTEGER NOT NULL
    )
    """,
    # 2: a page of payloads is told unchanged by digest before it is mapped.
    """
    CREATE INDEX sync_seen_by_digest ON sync_seen (platform, digest)
    """,
    # 3: the watch reads the sync lag of the versions received in a window.
    """
    CREATE INDEX sync_seen_by_received ON sync_seen (received_us, modified_us)
    """,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Keep a version seen unless a later one is stored ("never backwards" in one statement).
_MARK_SEEN: Final = (
    "INSERT INTO sync_seen"
    " (platform, channel_order_id, modified_us, digest, received_us, stale)"
    " VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (platform, channel_order_id) DO UPDATE SET"
    " modified_us = excluded.modified_us, digest = excluded.digest,"
    " received_us = excluded.received_us"
    " WHERE excluded.modified_us >= sync_seen.modified_us"
)


class SQLiteSyncStore:
    """What sync saw, its cursors and its dead letters in a SQLite file (usually the
    orders' file), safe for several processes."""

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self._db = Database(path, durable=durable)
        self._db.ensure_schema("sync", _MIGRATIONS)

    @property
    def database(self) -> Database:
        """The underlying file handle (shared with other adapters on the same file)."""
        return self._db

    def seen(self, platform: str, channel_order_id: str) -> Seen | None:
        """The newest version applied of this order, or ``None``."""
        with self._db.statement("read seen order") as conn:
            row = conn.execute(
                f"SELECT {_SEEN} FROM sync_seen WHERE platform = ? AND channel_order_id = ?",
                (platform, channel_order_id),
            ).fetchone()
        return None if row is None else _seen(platform, row)

    def seen_many(self, platform: str, channel_order_ids: Collection[str]) -> dict[str, Seen]:
        """The newest version applied of each of these orders that has one: one indexed
        read, the ids passed as one JSON array."""
        ids = sorted(set(channel_order_ids))
        if not ids:
            return {}
        with self._db.statement("read seen orders") as conn:
            rows = conn.execute(
                f"SELECT {_SEEN} FROM sync_seen WHERE platform = ?"
                " AND channel_order_id IN (SELECT value FROM json_each(?))",
                (platform, json.dumps(ids)),
            ).fetchall()
        return {row[0]: _seen(platform, row) for row in rows}

    def seen_digests(self, platform: str, digests: Collection[str]) -> dict[str, Seen]:
        """The newest versions applied whose digest is one of ``digests``: one read
        through the ``(platform, digest)`` index, named in the query (on this table's
        primary key, which starts with the platform too, SQLite's planner otherwise
        prefers the key: every row of the platform read for each page)."""
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        with self._db.statement("read seen digests") as conn:
            rows = conn.execute(
                f"SELECT {_SEEN} FROM sync_seen INDEXED BY sync_seen_by_digest"
                " WHERE platform = ? AND digest IN (SELECT value FROM json_each(?))",
                (platform, json.dumps(wanted)),
            ).fetchall()
        return {row[2]: _seen(platform, row) for row in rows}

    def mark_seen(self, seen: Seen) -> bool:
        """Keep ``seen`` unless a later version is stored (one conditional upsert)."""
        if not isinstance(seen, Seen):
            raise ValidationError("seen", seen, "expected a Seen")
        with self._db.write("mark order seen", savepoint=False) as conn:
            cursor = conn.execute(_MARK_SEEN, _seen_row(seen))
            return cursor.rowcount == 1

    def mark_seen_many(self, seen: Sequence[Seen]) -> int:
        """:meth:`mark_seen` for several versions: the same conditional upsert run
        over all of them in one ``executemany``, in one transaction (the caller's, in
        its ``atomic()`` block); the number of orders whose version was kept."""
        rows = [_seen_row(item) for item in newest_seen(seen)]
        if not rows:
            return 0
        with self._db.write("mark orders seen", savepoint=False) as conn:
            return conn.executemany(_MARK_SEEN, rows).rowcount

    def lags(self, since: datetime, until: datetime) -> list[timedelta]:
        """The lags of the newest versions received in ``[since, until)``, smallest
        first: one read of the ``(received_us, modified_us)`` index, the lag computed
        and sorted in SQL."""
        since, until = checked_window(since, until)
        with self._db.statement("read sync lags") as conn:
            rows = conn.execute(
                "SELECT received_us - modified_us AS lag FROM sync_seen"
                " WHERE received_us >= ? AND received_us < ? ORDER BY lag",
                (_us(since), _us(until)),
            ).fetchall()
        return [timedelta(microseconds=lag) for (lag,) in rows]

    def mark_stale(self, platform: str, channel_order_id: str) -> None:
        """Count one late, older version of this order."""
        with self._db.write("mark order stale", savepoint=False) as conn:
            conn.execute(
                "UPDATE sync_seen SET stale = stale + 1"
                " WHERE platform = ? AND channel_order_id = ?",
                (platform, channel_order_id),
            )

    def cursor(self, platform: str, shop: str) -> Cursor | None:
        """The polling cursor of this platform and shop, or ``None``."""
        with self._db.statement("read sync cursor") as conn:
            row = conn.execute(
                "SELECT modified_us, ids_at FROM sync_cursors WHERE platform = ? AND shop = ?",
                (platform, shop),
            ).fetchone()
        return None if row is None else Cursor(platform, shop, _dt(row[0]), json.loads(row[1]))

    def save_cursor(self, cursor: Cursor) -> Cursor:
        """Move the stored cursor forward to ``cursor``; never back."""
        if not isinstance(cursor, Cursor):
            raise ValidationError("cursor", cursor, "expected a Cursor")
        with self._db.write("save sync cursor") as conn:
            row = conn.execute(
                "SELECT modified_us, ids_at FROM sync_cursors WHERE platform = ? AND shop = ?",
                (cursor.platform, cursor.shop),
            ).fetchone()
            kept = cursor
            if row is not None:
                stored = Cursor(cursor.platform, cursor.shop, _dt(row[0]), json.loads(row[1]))
                kept = stored.advanced(cursor.modified_at, cursor.ids_at)
            conn.execute(
                "INSERT INTO sync_cursors (platform, shop, modified_us, ids_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (platform, shop) DO UPDATE SET"
                " modified_us = excluded.modified_us, ids_at = excluded.ids_at",
                (kept.platform, kept.shop, _us(kept.modified_at), json.dumps(sorted(kept.ids_at))),
            )
        return kept

    def add_dead_letter(self, letter: DeadLetter) -> DeadLetter:
        """Keep ``letter``, or count one more attempt of the stored one."""
        if not isinstance(letter, DeadLetter):
            raise ValidationError("letter", letter, "expected a DeadLetter")
        with self._db.write("add dead letter") as conn:
            conn.execute(
                "INSERT INTO sync_dead_letters"
                " (letter_id, platform, payload, error, received_us, attempts)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (letter_id) DO UPDATE SET"
                " error = excluded.error, attempts = sync_dead_letters.attempts + 1",
                (letter.letter_id, letter.platform, letter.payload, letter.error,
                 _us(letter.received_at), letter.attempts),
            )
            row = conn.execute(
                f"SELECT {_LETTER} FROM sync_dead_letters WHERE letter_id = ?",
                (letter.letter_id,),
            ).fetchone()
        return _letter(row)

    def dead_letters(self, platform: str | None = None) -> list[DeadLetter]:
        """The dead letters (of ``platform``), oldest first."""
        with self._db.statement("read dead letters") as conn:
            rows = conn.execute(
                f"SELECT {_LETTER} FROM sync_dead_letters"
                " WHERE ? IS NULL OR platform = ? ORDER BY seq",
                (platform, platform),
            ).fetchall()
        return [_letter(row) for row in rows]

    def dead_letter_count(self, platform: str | None = None) -> int:
        """How many dead letters (of ``platform``) wait."""
        with self._db.statement("count dead letters") as conn:
            row = conn.execute(
                "SELECT count(*) FROM sync_dead_letters WHERE ? IS NULL OR platform = ?",
                (platform, platform),
            ).fetchone()
        return int(row[0])

    def resolve_dead_letter(self, letter_id: str) -> bool:
        """Drop a letter; ``False`` when there is none with that id."""
        with self._db.write("resolve dead letter", savepoint=False) as conn:
            cursor = conn.execute(
                "DELETE FROM sync_dead_letters WHERE letter_id = ?", (letter_id,)
            )
            return cursor.rowcount == 1


_LETTER: Final = "letter_id, platform, payload, error, received_us, attempts"


def _letter(row: tuple[Any, ...]) -> DeadLetter:
    letter_id, platform, payload, error, received_us, attempts = row
    return DeadLetter(letter_id, platform, payload, error, _dt(int(received_us)), int(attempts))


def _seen_row(seen: Seen) -> tuple[str, str, int, str, int, int]:
    return (seen.platform, seen.channel_order_id, _us(seen.modified_at), seen.digest,
            _us(seen.received_at), seen.stale)


def _us(instant: datetime) -> int:
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dt(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


#: The columns of a ``sync_seen`` row, in the order :func:`_seen` reads them.
_SEEN: Final = "channel_order_id, modified_us, digest, received_us, stale"


def _seen(platform: str, row: tuple[Any, ...]) -> Seen:
    channel_order_id, modified_us, digest, received_us, stale = row
    return Seen(platform, channel_order_id, _dt(modified_us), digest, _dt(received_us),
                int(stale))
