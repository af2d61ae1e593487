"""``WatchState`` on PostgreSQL: the watch's episodes, shared by every watcher process
and machine on the database.

A cycle is one transaction that first takes a transaction-level advisory lock
(``pg_advisory_xact_lock``) named after the schema, then reads the open episodes: a
second watcher's cycle waits at the lock until the first one commits (or rolls back,
or its session dies: the server ends the transaction and frees the lock), and then
reads what the first one wrote, because under PostgreSQL's default isolation (READ
COMMITTED) each statement reads the data committed before it started. So two watchers
take turns and never send the same alert twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime
from typing import Final

from orderkit.adapters._episodes import dump_episode as _dump
from orderkit.adapters._episodes import load_episode as _load
from orderkit.adapters._episodes import written_back
from orderkit.adapters.postgres._db import Database
from orderkit.watch.ports import Episode, checked_history, checked_keys

__all__ = ["PostgresWatchState"]

MIGRATIONS: Final = (
    """
    CREATE TABLE {s}.watch_episodes (
        key text PRIMARY KEY,
        body text NOT NULL
    )
    """,
    # 2: resolved episodes are kept, for the health page's alert history.
    """
    CREATE TABLE {s}.watch_history (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key text NOT NULL,
        resolved_at timestamptz NOT NULL,
        body text NOT NULL
    );
    CREATE INDEX watch_history_by_resolved_at ON {s}.watch_history (resolved_at)
    """,
)

#: The statement :meth:`PostgresWatchState.purge_history` runs: ``{s}`` stands for the
#: schema, the parameters are the cut-off and the batch size. Public so that a test
#: plans the very statement the adapter runs (it must read through
#: ``watch_history_by_resolved_at``).
PURGE_HISTORY: Final = (
    "DELETE FROM {s}.watch_history WHERE id IN (SELECT id FROM {s}.watch_history"
    " WHERE resolved_at < %s ORDER BY resolved_at, id LIMIT %s)"
)


class PostgresWatchState:
    """Open alert episodes in table ``watch_episodes``, resolved ones in
    ``watch_history`` (component ``watch`` of ``schema_version``, version 2); a cycle is
    one transaction under a transaction-level advisory lock, so watcher processes take
    turns, and an episode resolved in it moves to the history in the same transaction.

    ``source`` and ``schema`` as for the other PostgreSQL adapters. A cycle opened
    inside another adapter's block on the same source (``repository.atomic()``, or the
    host's transaction) is a savepoint of it and holds the lock until that transaction
    ends.
    """

    def __init__(self, source: object, *, schema: str | None = None) -> None:
        self._db = Database(source, schema=schema)
        self._db.ensure_schema("watch", MIGRATIONS)

    @property
    def database(self) -> Database:
        """The source and schema (shared with the other PostgreSQL adapters)."""
        return self._db

    @contextmanager
    def cycle(
        self, *, keys: Collection[str] | None = None
    ) -> Iterator[MutableMapping[str, Episode]]:
        """Every open episode, or with ``keys`` the open ones among them (``key =
        ANY(...)`` over the primary key), read under the schema's advisory lock; what
        the block changed is written in the same transaction (see
        :meth:`~orderkit.watch.KeyedWatchState.cycle`)."""
        wanted = checked_keys(keys)
        db = self._db
        with db.transaction("watch cycle") as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"orderkit-watch:{db.schema}",)
            )
            if wanted is None:
                rows = conn.execute(db.sql("SELECT key, body FROM {s}.watch_episodes")).fetchall()
            else:
                rows = conn.execute(
                    db.sql("SELECT key, body FROM {s}.watch_episodes WHERE key = ANY(%s)"),
                    (list(wanted),),
                ).fetchall()
            before: dict[str, str] = dict(rows)
            working = {key: _load(body) for key, body in rows}
            yield working
            gone, changed, closed = written_back(before, working)
            if gone:
                conn.execute(
                    db.sql("DELETE FROM {s}.watch_episodes WHERE key = ANY(%s)"), (gone,)
                )
            if changed:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        db.sql(
                            "INSERT INTO {s}.watch_episodes (key, body) VALUES (%s, %s)"
                            " ON CONFLICT (key) DO UPDATE SET body = excluded.body"
                        ),
                        changed,
                    )
            if closed:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        db.sql(
                            "INSERT INTO {s}.watch_history (key, resolved_at, body)"
                            " VALUES (%s, %s, %s)"
                        ),
                        [(e.key, e.resolved_at or e.first_seen, _dump(e)) for e in closed],
                    )

    def history(self, *, since: datetime | None = None, limit: int = 100) -> list[Episode]:
        """Resolved episodes from ``watch_history``, newest resolution first (ties by
        key in code point order, last first), through the index on ``resolved_at``."""
        since, limit = checked_history(since, limit)
        db = self._db
        where = "" if since is None else " WHERE resolved_at >= %s"
        params: tuple[object, ...] = (limit,) if since is None else (since, limit)
        sql = db.sql(
            f"SELECT body FROM {{s}}.watch_history{where}"
            ' ORDER BY resolved_at DESC, key COLLATE "C" DESC, id DESC LIMIT %s'
        )
        rows = db.run("watch history", lambda conn: conn.execute(sql, params).fetchall(),
                      single=True)
        return [_load(body) for (body,) in rows]

    def purge_history(self, before: datetime, *, limit: int | None = None) -> int:
        """Delete up to ``limit`` (all when ``None``) episodes resolved before
        ``before``, earliest resolved first, in one statement through the index on
        ``resolved_at``, in a transaction of its own (or the open block's); open
        episodes stay (see :class:`~orderkit.watch.WatchRetention`)."""
        return self._db.purge("purge watch history", PURGE_HISTORY, before, limit)
