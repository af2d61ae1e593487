"""Where the watch keeps its alert episodes, so a restart or a second watcher process
never sends an alert twice."""

from __future__ import annotations

from collections.abc import MutableMapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

import attrs

__all__ = ["Episode", "EpisodeState", "WatchState"]

EpisodeState = Literal["pending", "firing", "inhibited"]


@attrs.frozen
class Episode:
    """One alert's life: its dedup ``key`` (rule and order, or rule and group), the
    ``orders`` it is about, when the condition was first seen, when it fired and was last
    sent, and how many times it was sent."""

    key: str
    rule: str
    group: str
    state: EpisodeState
    orders: tuple[str, ...]
    first_seen: datetime
    fired_at: datetime | None = None
    last_sent: datetime | None = None
    sent: int = 0


@runtime_checkable
class WatchState(Protocol):
    """The open episodes. ``cycle()`` is a block that sees every open episode by key and
    writes back what the block changed, atomically and exclusively: two watcher
    processes run their cycles one after the other."""

    def cycle(self) -> AbstractContextManager[MutableMapping[str, Episode]]:
        """The open episodes by key, to read and change; written back on exit."""
        ...
