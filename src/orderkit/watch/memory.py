"""The watch's episodes in memory, for tests and a single watcher process (the
:class:`~orderkit.watch.Watcher`'s default; also ``orderkit.adapters.memory``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime

from orderkit.watch.ports import Episode, checked_history

__all__ = ["MemoryWatchState"]


class MemoryWatchState:
    """Open alert episodes in a dict, resolved ones in a list (the history); cycles are
    serialised by a lock."""

    def __init__(self) -> None:
        self._episodes: dict[str, Episode] = {}
        self._history: list[Episode] = []
        self._lock = threading.Lock()

    @contextmanager
    def cycle(self) -> Iterator[MutableMapping[str, Episode]]:
        """The open episodes; the block's changes replace them unless it raises."""
        with self._lock:
            working = dict(self._episodes)
            yield working
            closed = [e for e in working.values() if e.state == "resolved"]
            self._episodes = {k: e for k, e in working.items() if e.state != "resolved"}
            self._history.extend(closed)

    def history(self, *, since: datetime | None = None, limit: int = 100) -> list[Episode]:
        """Resolved episodes, newest resolution first (ties by key, last first)."""
        since, limit = checked_history(since, limit)
        with self._lock:
            found = [e for e in self._history
                     if since is None or (e.resolved_at is not None and e.resolved_at >= since)]
        found.sort(key=lambda e: (e.resolved_at or e.first_seen, e.key), reverse=True)
        return found[:limit]
