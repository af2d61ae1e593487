"""The watch's episodes in memory, for tests and a single watcher process (the
:class:`~orderkit.watch.Watcher`'s default; also ``orderkit.adapters.memory``)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime

from orderkit.watch.ports import Episode, checked_history, checked_keys, checked_purge

__all__ = ["MemoryWatchState"]


def _resolved_at(episode: Episode) -> datetime:
    """When a closed episode was resolved (its first sighting when it kept none), as
    the SQL states store it."""
    return episode.resolved_at or episode.first_seen


class MemoryWatchState:
    """Open alert episodes in a dict, resolved ones in a list (the history); cycles and
    purges are serialised by a lock."""

    def __init__(self) -> None:
        self._episodes: dict[str, Episode] = {}
        self._history: list[Episode] = []
        self._lock = threading.Lock()

    @contextmanager
    def cycle(
        self, *, keys: Collection[str] | None = None
    ) -> Iterator[MutableMapping[str, Episode]]:
        """The open episodes (with ``keys``, those among them); the block's changes
        replace them unless it raises (see :meth:`~orderkit.watch.KeyedWatchState.cycle`)."""
        wanted = checked_keys(keys)
        with self._lock:
            if wanted is None:
                working = dict(self._episodes)
            else:
                working = {k: self._episodes[k] for k in wanted if k in self._episodes}
            read = set(working)
            yield working
            for key in read - working.keys():
                del self._episodes[key]
            for key, episode in working.items():
                if episode.state == "resolved":
                    self._episodes.pop(key, None)
                    self._history.append(episode)
                else:
                    self._episodes[key] = episode

    def history(self, *, since: datetime | None = None, limit: int = 100) -> list[Episode]:
        """Resolved episodes, newest resolution first (ties by key, last first)."""
        since, limit = checked_history(since, limit)
        with self._lock:
            found = [e for e in self._history
                     if since is None or (e.resolved_at is not None and e.resolved_at >= since)]
        found.sort(key=lambda e: (_resolved_at(e), e.key), reverse=True)
        return found[:limit]

    def purge_history(self, before: datetime, *, limit: int | None = None) -> int:
        """Delete up to ``limit`` (all when ``None``) episodes resolved before
        ``before``, earliest resolved first; open episodes stay (see
        :class:`~orderkit.watch.WatchRetention`)."""
        cutoff, count = checked_purge(before, limit)
        with self._lock:
            old = sorted((_resolved_at(e), n) for n, e in enumerate(self._history)
                         if _resolved_at(e) < cutoff)
            gone = {n for _at, n in old[:count]}
            self._history = [e for n, e in enumerate(self._history) if n not in gone]
        return len(gone)
