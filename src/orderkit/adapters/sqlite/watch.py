"""The watch's episodes in SQLite, shared by every watcher process on the file."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Final

from orderkit.adapters._episodes import dump_episode as _dump
from orderkit.adapters._episodes import load_episode as _load
from orderkit.adapters._episodes import written_back
from orderkit.adapters.sqlite._db import Database
from orderkit.watch.ports import Episode, checked_history, checked_keys, checked_purge

__all__ = ["SQLiteWatchState"]

_MIGRATIONS: Final = (
    """
    CREATE TABLE watch_episodes (
        key TEXT PRIMARY KEY,
        body TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE watch_history (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        resolved_at TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX watch_history_by_resolved_at ON watch_history (resolved_at);
    """,
)


def _utc(value: datetime) -> str:
    """A sortable text instant (UTC, microseconds always shown)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


class SQLiteWatchState:
    """Open alert episodes in table ``watch_episodes``, resolved ones in
    ``watch_history``; a cycle is one ``BEGIN IMMEDIATE`` transaction, so watcher
    processes on the file take turns."""

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self._db = Database(path, durable=durable)
        self._db.ensure_schema("watch", _MIGRATIONS)

    @contextmanager
    def cycle(
        self, *, keys: Collection[str] | None = None
    ) -> Iterator[MutableMapping[str, Episode]]:
        """Every open episode, or with ``keys`` the open ones among them (primary key
        lookups of a JSON array of the keys), in one ``BEGIN IMMEDIATE`` transaction
        that writes back what the block changed (see
        :meth:`~orderkit.watch.KeyedWatchState.cycle`)."""
        wanted = checked_keys(keys)
        with self._db.write("watch cycle") as conn:
            if wanted is None:
                rows = conn.execute("SELECT key, body FROM watch_episodes").fetchall()
            else:
                rows = conn.execute(
                    "SELECT key, body FROM watch_episodes"
                    " WHERE key IN (SELECT value FROM json_each(?))",
                    (json.dumps(wanted),),
                ).fetchall()
            before: dict[str, str] = dict(rows)
            working = {key: _load(body) for key, body in rows}
            yield working
            gone, changed, closed = written_back(before, working)
            if gone:
                conn.executemany("DELETE FROM watch_episodes WHERE key = ?",
                                 [(key,) for key in gone])
            if changed:
                conn.executemany(
                    "INSERT INTO watch_episodes (key, body) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET body = excluded.body",
                    changed,
                )
            if closed:
                conn.executemany(
                    "INSERT INTO watch_history (key, resolved_at, body) VALUES (?, ?, ?)",
                    [(e.key, _utc(e.resolved_at or e.first_seen), _dump(e)) for e in closed],
                )

    def history(self, *, since: datetime | None = None, limit: int = 100) -> list[Episode]:
        """Resolved episodes from ``watch_history``, newest resolution first (ties by
        key, last first), through the index on ``resolved_at``."""
        since, limit = checked_history(since, limit)
        sql = "SELECT body FROM watch_history"
        params: tuple[object, ...] = ()
        if since is not None:
            sql += " WHERE resolved_at >= ?"
            params = (_utc(since),)
        sql += " ORDER BY resolved_at DESC, key DESC, id DESC LIMIT ?"
        with self._db.read("watch history") as conn:
            rows = conn.execute(sql, (*params, limit)).fetchall()
        return [_load(body) for (body,) in rows]

    def purge_history(self, before: datetime, *, limit: int | None = None) -> int:
        """Delete up to ``limit`` (all when ``None``) episodes resolved before
        ``before``, earliest resolved first, in one statement through the index on
        ``resolved_at``, in a ``BEGIN IMMEDIATE`` transaction of its own; open episodes
        stay (see :class:`~orderkit.watch.WatchRetention`)."""
        cutoff, count = checked_purge(before, limit)
        with self._db.write("purge watch history", savepoint=False) as conn:
            cursor = conn.execute(
                "DELETE FROM watch_history WHERE id IN (SELECT id FROM watch_history"
                " WHERE resolved_at < ? ORDER BY resolved_at, id LIMIT ?)",
                (_utc(cutoff), -1 if count is None else count),
            )
            return cursor.rowcount
