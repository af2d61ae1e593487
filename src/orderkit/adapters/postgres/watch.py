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

import json
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime
from typing import Final

from orderkit.adapters.postgres._db import Database
from orderkit.watch.ports import Episode

__all__ = ["PostgresWatchState"]

MIGRATIONS: Final = (
    """
    CREATE TABLE {s}.watch_episodes (
        key text PRIMARY KEY,
        body text NOT NULL
    )
    """,
)


def _dump(episode: Episode) -> str:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return json.dumps({
        "key": episode.key, "rule": episode.rule, "group": episode.group,
        "state": episode.state, "orders": list(episode.orders),
        "first_seen": iso(episode.first_seen), "fired_at": iso(episode.fired_at),
        "last_sent": iso(episode.last_sent), "sent": episode.sent,
    }, ensure_ascii=False, sort_keys=True)


def _load(body: str) -> Episode:
    data = json.loads(body)

    def when(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    first_seen = when(data["first_seen"])
    assert first_seen is not None
    return Episode(data["key"], data["rule"], data["group"], data["state"],
                   tuple(data["orders"]), first_seen, when(data["fired_at"]),
                   when(data["last_sent"]), data["sent"])


class PostgresWatchState:
    """Open alert episodes in table ``watch_episodes`` (component ``watch`` of
    ``schema_version``, version 1); a cycle is one transaction under a
    transaction-level advisory lock, so watcher processes take turns.

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
    def cycle(self) -> Iterator[MutableMapping[str, Episode]]:
        """The open episodes; the block's changes are written in its transaction."""
        db = self._db
        with db.transaction("watch cycle") as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"orderkit-watch:{db.schema}",)
            )
            rows = conn.execute(db.sql("SELECT key, body FROM {s}.watch_episodes")).fetchall()
            before: dict[str, str] = dict(rows)
            working = {key: _load(body) for key, body in rows}
            yield working
            after = {key: _dump(episode) for key, episode in working.items()}
            gone = [key for key in before if key not in after]
            changed = [(key, body) for key, body in after.items() if before.get(key) != body]
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
