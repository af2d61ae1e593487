"""``SyncStore`` on PostgreSQL, in the orders' schema.

Tables ``sync_seen`` (one row per platform and channel order id, indexed by digest
and by receipt time too), ``sync_cursors`` (one per platform and shop) and
``sync_dead_letters``. Built on the same source as the order repository, its writes
join the repository's ``atomic()`` block, so an order and what sync saw of it commit
together.

"Never backwards" holds across processes and machines: ``mark_seen`` is one
conditional upsert (``... DO UPDATE ... WHERE excluded.modified_at >=
sync_seen.modified_at``), and ``save_cursor`` reads the stored cursor ``FOR UPDATE``
(after inserting it when there was none), so two pollers saving at once merge their
cursors one after the other instead of the later commit overwriting the earlier.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from orderkit.adapters.postgres._db import Database, utc
from orderkit.model.errors import ValidationError
from orderkit.sync.records import Cursor, DeadLetter, Seen, newest_seen
from orderkit.watch.ports import checked_window

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresSyncStore"]

MIGRATIONS: Final = (
    """
    CREATE TABLE {s}.sync_seen (
        platform text NOT NULL,
        channel_order_id text NOT NULL,
        modified_at timestamptz NOT NULL,
        digest text NOT NULL,
        received_at timestamptz NOT NULL,
        stale integer NOT NULL DEFAULT 0,
        PRIMARY KEY (platform, channel_order_id)
    );
    CREATE INDEX sync_seen_by_digest ON {s}.sync_seen (platform, digest);
    CREATE TABLE {s}.sync_cursors (
        platform text NOT NULL,
        shop text NOT NULL,
        modified_at timestamptz NOT NULL,
        ids_at text[] NOT NULL,
        PRIMARY KEY (platform, shop)
    );
    CREATE TABLE {s}.sync_dead_letters (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        letter_id text NOT NULL UNIQUE,
        platform text NOT NULL,
        payload text NOT NULL,
        error text NOT NULL,
        received_at timestamptz NOT NULL,
        attempts integer NOT NULL
    );
    CREATE INDEX sync_dead_letters_by_platform ON {s}.sync_dead_letters (platform, seq)
    """,
    # 2: the watch reads the sync lag of the versions received in a window.
    """
    CREATE INDEX sync_seen_by_received ON {s}.sync_seen (received_at) INCLUDE (modified_at)
    """,
)

_SEEN: Final = (
    "channel_order_id, modified_at AT TIME ZONE 'UTC', digest,"
    " received_at AT TIME ZONE 'UTC', stale"
)
_LETTER: Final = (
    "letter_id, platform, payload, error, received_at AT TIME ZONE 'UTC', attempts"
)

#: How a marked version meets the stored one: it replaces it unless that one is later.
_KEEP_LATER: Final = (
    " ON CONFLICT (platform, channel_order_id) DO UPDATE SET"
    " modified_at = excluded.modified_at, digest = excluded.digest,"
    " received_at = excluded.received_at"
    " WHERE excluded.modified_at >= old.modified_at"
)


class PostgresSyncStore:
    """What sync saw, its cursors and its dead letters in PostgreSQL, shared by every
    process and machine on the database.

    ``source`` is a DSN, a ``psycopg_pool.ConnectionPool``, the host's open
    ``psycopg.Connection`` or another PostgreSQL adapter's ``database``; ``schema``
    names the PostgreSQL schema (default ``orderkit``). The tables are component
    ``sync`` of ``schema_version`` (version 2).
    """

    def __init__(self, source: object, *, schema: str | None = None) -> None:
        self._db = Database(source, schema=schema)
        self._db.ensure_schema("sync", MIGRATIONS)

    @property
    def database(self) -> Database:
        """The source and schema (shared with the other PostgreSQL adapters)."""
        return self._db

    def _all(self, operation: str, sql: str, params: tuple[Any, ...]) -> list[Any]:
        text = self._db.sql(sql)
        return self._db.run(
            operation, lambda conn: conn.execute(text, params).fetchall(), single=True
        )

    def seen(self, platform: str, channel_order_id: str) -> Seen | None:
        """The newest version applied of this order, or ``None``."""
        rows = self._all(
            "read seen order",
            f"SELECT {_SEEN} FROM {{s}}.sync_seen"
            " WHERE platform = %s AND channel_order_id = %s",
            (platform, channel_order_id),
        )
        return _seen(platform, rows[0]) if rows else None

    def seen_many(self, platform: str, channel_order_ids: Collection[str]) -> dict[str, Seen]:
        """The newest version applied of each of these orders that has one: one read
        through the primary key, the ids passed as one array."""
        ids = sorted(set(channel_order_ids))
        if not ids:
            return {}
        rows = self._all(
            "read seen orders",
            f"SELECT {_SEEN} FROM {{s}}.sync_seen"
            " WHERE platform = %s AND channel_order_id = ANY(%s)",
            (platform, ids),
        )
        return {row[0]: _seen(platform, row) for row in rows}

    def seen_digests(self, platform: str, digests: Collection[str]) -> dict[str, Seen]:
        """The newest versions applied whose digest is one of ``digests``: one read
        through the ``(platform, digest)`` index."""
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        rows = self._all(
            "read seen digests",
            f"SELECT {_SEEN} FROM {{s}}.sync_seen WHERE platform = %s AND digest = ANY(%s)",
            (platform, wanted),
        )
        return {row[2]: _seen(platform, row) for row in rows}

    def mark_seen(self, seen: Seen) -> bool:
        """Keep ``seen`` unless a later version is stored (one conditional upsert)."""
        if not isinstance(seen, Seen):
            raise ValidationError("seen", seen, "expected a Seen")
        sql = self._db.sql(
            "INSERT INTO {s}.sync_seen AS old"
            " (platform, channel_order_id, modified_at, digest, received_at, stale)"
            " VALUES (%s, %s, %s, %s, %s, %s)" + _KEEP_LATER
        )
        params = (seen.platform, seen.channel_order_id, seen.modified_at, seen.digest,
                  seen.received_at, seen.stale)
        return self._db.run(
            "mark order seen", lambda conn: conn.execute(sql, params).rowcount == 1,
            single=True,
        )

    def mark_seen_many(self, seen: Sequence[Seen]) -> int:
        """:meth:`mark_seen` for several versions in one statement: the same
        conditional upsert over the rows of ``unnest`` of one array per column; the
        number of orders whose version was kept."""
        kept = newest_seen(seen)
        if not kept:
            return 0
        sql = self._db.sql(
            "INSERT INTO {s}.sync_seen AS old"
            " (platform, channel_order_id, modified_at, digest, received_at, stale)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[],"
            " %s::timestamptz[], %s::integer[])" + _KEEP_LATER
        )
        params = ([s.platform for s in kept], [s.channel_order_id for s in kept],
                  [s.modified_at for s in kept], [s.digest for s in kept],
                  [s.received_at for s in kept], [s.stale for s in kept])
        rows: int = self._db.run(
            "mark orders seen", lambda conn: conn.execute(sql, params).rowcount, single=True
        )
        return rows

    def lags(self, since: datetime, until: datetime) -> list[timedelta]:
        """The lags of the newest versions received in ``[since, until)``, smallest
        first: one read of the ``sync_seen_by_received`` index (an index-only scan
        where the table is vacuumed), the lag computed and sorted by the server."""
        since, until = checked_window(since, until)
        rows = self._all(
            "read sync lags",
            "SELECT received_at - modified_at AS lag FROM {s}.sync_seen"
            " WHERE received_at >= %s AND received_at < %s ORDER BY lag",
            (since, until),
        )
        return [lag for (lag,) in rows]

    def mark_stale(self, platform: str, channel_order_id: str) -> None:
        """Count one late, older version of this order."""
        sql = self._db.sql(
            "UPDATE {s}.sync_seen SET stale = stale + 1"
            " WHERE platform = %s AND channel_order_id = %s"
        )
        self._db.run(
            "mark order stale", lambda conn: conn.execute(sql, (platform, channel_order_id)),
            single=True,
        )

    def cursor(self, platform: str, shop: str) -> Cursor | None:
        """The polling cursor of this platform and shop, or ``None``."""
        rows = self._all(
            "read sync cursor",
            "SELECT modified_at AT TIME ZONE 'UTC', ids_at FROM {s}.sync_cursors"
            " WHERE platform = %s AND shop = %s",
            (platform, shop),
        )
        if not rows:
            return None
        return Cursor(platform, shop, utc(rows[0][0]), frozenset(rows[0][1]))

    def save_cursor(self, cursor: Cursor) -> Cursor:
        """Move the stored cursor forward to ``cursor``; never back. One transaction:
        insert it when there is none, else advance the stored one under its row lock."""
        if not isinstance(cursor, Cursor):
            raise ValidationError("cursor", cursor, "expected a Cursor")
        insert = self._db.sql(
            "INSERT INTO {s}.sync_cursors (platform, shop, modified_at, ids_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (platform, shop) DO NOTHING"
        )
        select = self._db.sql(
            "SELECT modified_at AT TIME ZONE 'UTC', ids_at FROM {s}.sync_cursors"
            " WHERE platform = %s AND shop = %s FOR UPDATE"
        )
        update = self._db.sql(
            "UPDATE {s}.sync_cursors SET modified_at = %s, ids_at = %s"
            " WHERE platform = %s AND shop = %s"
        )

        def work(conn: psycopg.Connection[Any]) -> Cursor:
            key = (cursor.platform, cursor.shop)
            inserted = conn.execute(
                insert, (*key, cursor.modified_at, sorted(cursor.ids_at))
            ).rowcount
            if inserted == 1:
                return cursor
            row = conn.execute(select, key).fetchone()
            assert row is not None  # the row exists: the insert met it, rows are not deleted
            stored = Cursor(cursor.platform, cursor.shop, utc(row[0]), frozenset(row[1]))
            kept = stored.advanced(cursor.modified_at, cursor.ids_at)
            if kept != stored:
                conn.execute(update, (kept.modified_at, sorted(kept.ids_at), *key))
            return kept

        return self._db.run("save sync cursor", work)

    def add_dead_letter(self, letter: DeadLetter) -> DeadLetter:
        """Keep ``letter``, or count one more attempt of the stored one (one upsert)."""
        if not isinstance(letter, DeadLetter):
            raise ValidationError("letter", letter, "expected a DeadLetter")
        sql = self._db.sql(
            "INSERT INTO {s}.sync_dead_letters AS old"
            " (letter_id, platform, payload, error, received_at, attempts)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (letter_id) DO UPDATE SET"
            " error = excluded.error, attempts = old.attempts + 1"
            f" RETURNING {_LETTER}"
        )
        params = (letter.letter_id, letter.platform, letter.payload, letter.error,
                  letter.received_at, letter.attempts)
        row = self._db.run(
            "add dead letter", lambda conn: conn.execute(sql, params).fetchone(), single=True
        )
        assert row is not None  # an upsert with RETURNING returns its row
        return _letter(row)

    def dead_letters(self, platform: str | None = None) -> list[DeadLetter]:
        """The dead letters (of ``platform``), oldest first."""
        if platform is None:
            rows = self._all(
                "read dead letters",
                f"SELECT {_LETTER} FROM {{s}}.sync_dead_letters ORDER BY seq", (),
            )
        else:
            rows = self._all(
                "read dead letters",
                f"SELECT {_LETTER} FROM {{s}}.sync_dead_letters WHERE platform = %s"
                " ORDER BY seq",
                (platform,),
            )
        return [_letter(row) for row in rows]

    def dead_letter_count(self, platform: str | None = None) -> int:
        """How many dead letters (of ``platform``) wait."""
        rows = self._all(
            "count dead letters",
            "SELECT count(*) FROM {s}.sync_dead_letters"
            " WHERE %s::text IS NULL OR platform = %s",
            (platform, platform),
        )
        return int(rows[0][0])

    def resolve_dead_letter(self, letter_id: str) -> bool:
        """Drop a letter; ``False`` when there is none with that id."""
        sql = self._db.sql("DELETE FROM {s}.sync_dead_letters WHERE letter_id = %s")
        return self._db.run(
            "resolve dead letter", lambda conn: conn.execute(sql, (letter_id,)).rowcount == 1,
            single=True,
        )


def _seen(platform: str, row: tuple[Any, ...]) -> Seen:
    channel_order_id, modified_at, digest, received_at, stale = row
    return Seen(platform, channel_order_id, utc(modified_at), digest, utc(received_at),
                int(stale))


def _letter(row: tuple[Any, ...]) -> DeadLetter:
    letter_id, platform, payload, error, received_at, attempts = row
    received: datetime = received_at
    return DeadLetter(letter_id, platform, payload, error, utc(received), int(attempts))
