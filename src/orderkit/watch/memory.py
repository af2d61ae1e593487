"""The watch's episodes in memory, for tests and a single watcher process (the
:class:`~orderkit.watch.Watcher`'s default; also ``orderkit.adapters.memory``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

from orderkit.watch.ports import Episode

__all__ = ["MemoryWatchState"]


class MemoryWatchState:
    """Open alert episodes in a dict; cycles are serialised by a lock."""

    def __init__(self) -> None:
        self._episodes: dict[str, Episode] = {}
        self._lock = threading.Lock()

    @contextmanager
    def cycle(self) -> Iterator[MutableMapping[str, Episode]]:
        """The open episodes; the block's changes replace them unless it raises."""
        with self._lock:
            working = dict(self._episodes)
            yield working
            self._episodes = working
