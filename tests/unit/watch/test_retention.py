"""The watch history's retention: ``purge_resolved`` (and ``Watcher.purge``) deletes
the episodes resolved long ago, by the given clock, a batch at a time, keeps every open
episode, and refuses what it cannot do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderkit import Money, Order, OrderLine
from orderkit.adapters.memory import MemoryOrderRepository, MemoryWatchState
from orderkit.model.errors import ValidationError
from orderkit.testing import ManualClock
from orderkit.watch import (
    StdoutNotifier,
    Watcher,
    WatchHistory,
    WatchRetention,
    purge_resolved,
)
from orderkit.watch.ports import Episode

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _closed(state: MemoryWatchState, key: str, resolved_at: datetime) -> None:
    """An episode of ``key`` raised a day before ``resolved_at`` and resolved then."""
    episode = Episode(key, key.split(":")[0], "", "firing", (key.split(":")[-1],),
                      resolved_at - timedelta(days=1), fired_at=resolved_at - timedelta(days=1))
    with state.cycle() as episodes:
        episodes[key] = episode
    with state.cycle() as episodes:
        episodes[key] = Episode(key, episode.rule, "", "resolved", episode.orders,
                                episode.first_seen, episode.fired_at,
                                resolved_at=resolved_at)


def _keys(state: WatchHistory) -> list[str]:
    return [e.key for e in state.history(limit=1000)]


class Batches:
    """The memory state, counting the batches a purge asks it for."""

    def __init__(self, state: MemoryWatchState) -> None:
        self.state = state
        self.calls: list[tuple[datetime, int | None, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.state, name)

    def purge_history(self, before: datetime, *, limit: int | None = None) -> int:
        deleted = self.state.purge_history(before, limit=limit)
        self.calls.append((before, limit, deleted))
        return deleted


class HostState:
    """A host's own watch state, written before the retention existed: a cycle and a
    history, no ``purge_history``."""

    def __init__(self, state: MemoryWatchState) -> None:
        self.state = state

    def __getattr__(self, name: str) -> Any:
        if name == "purge_history":
            raise AttributeError(name)
        return getattr(self.state, name)


def test_a_purge_deletes_what_was_resolved_before_the_span_by_the_clock() -> None:
    state, clock = MemoryWatchState(), ManualClock(T0)
    for n in range(3):
        _closed(state, f"stale:OLD-{n}", T0 - timedelta(days=91))
    _closed(state, "stale:EDGE", T0 - timedelta(days=90))  # exactly 90 days: kept
    _closed(state, "stale:NEW", T0 - timedelta(days=1))
    assert purge_resolved(state, timedelta(days=90), clock=clock) == 3
    assert purge_resolved(state, timedelta(days=90), clock=clock) == 0
    assert _keys(state) == ["stale:NEW", "stale:EDGE"]
    clock.advance(timedelta(microseconds=1))
    assert purge_resolved(state, timedelta(days=90), clock=clock) == 1
    clock.advance(timedelta(days=89))
    assert purge_resolved(state, timedelta(days=90), clock=clock) == 1
    assert _keys(state) == []


def test_a_purge_goes_batch_by_batch_from_one_cut_off() -> None:
    state = MemoryWatchState()
    for n in range(7):
        _closed(state, f"stale:O-{n}", T0 - timedelta(days=100, minutes=n))
    counted = Batches(state)
    assert purge_resolved(counted, timedelta(days=90), batch=3, clock=ManualClock(T0)) == 7
    cutoff = T0 - timedelta(days=90)
    assert counted.calls == [(cutoff, 3, 3), (cutoff, 3, 3), (cutoff, 3, 1)]
    counted.calls.clear()
    for n in range(3):
        _closed(state, f"stale:P-{n}", T0 - timedelta(days=100))
    assert purge_resolved(counted, timedelta(days=90), batch=3, clock=ManualClock(T0)) == 3
    assert [deleted for _before, _limit, deleted in counted.calls] == [3, 0]


def test_the_watcher_purges_its_state_by_its_clock_and_keeps_open_alerts() -> None:
    """The watcher's own story: an order unpaid for a long time fires an alert that
    stays open; a purge a year later deletes the old resolved episodes only, and the
    next run repeats the open alert: it neither raises it again nor resolves it."""
    repository, clock = MemoryOrderRepository(), ManualClock(T0)
    state = MemoryWatchState()
    told: list[str] = []

    class Inbox:
        def notify(self, alert: Any) -> None:
            told.append(f"{alert.detail('state')} {alert.subject}")

    watcher = Watcher(repository, Inbox(), clock=clock, state=state)
    _closed(state, "stale:GONE", T0 - timedelta(days=200))
    repository.save(Order("ORD-1", "shop", "1", [OrderLine("1", "CUP", 1, Money("9.90", "CNY"))],
                          T0), None)
    clock.advance(timedelta(hours=1))
    watcher.run_once()
    assert told == ["raised pending_payment_stale:ORD-1"]  # the unpaid order's alert
    clock.advance(timedelta(days=365))
    assert watcher.purge(timedelta(days=90), batch=1) == 1
    assert _keys(state) == []
    with state.cycle() as episodes:
        assert [e.state for e in episodes.values()] == ["firing"]
    told.clear()
    watcher.run_once()
    assert told == ["repeated pending_payment_stale:ORD-1"]  # its episode was kept


@pytest.mark.parametrize(
    "older_than",
    [timedelta(0), timedelta(days=-30), timedelta(microseconds=-1), 30, 30.0, "90d", None,
     True, timedelta.max, timedelta(days=T0.year * 366)],
)
def test_a_retention_that_is_not_a_positive_span_is_refused(older_than: Any) -> None:
    state = MemoryWatchState()
    _closed(state, "stale:A", T0 - timedelta(days=400))
    with pytest.raises(ValidationError) as caught:
        purge_resolved(state, older_than, clock=ManualClock(T0))
    assert caught.value.path == "older_than"
    assert purge_resolved(state, timedelta(days=1), clock=ManualClock(T0)) == 1


@pytest.mark.parametrize("batch", [0, -1, True, "100", 1.5, None, 2**63])
def test_a_batch_that_is_not_a_count_is_refused(batch: Any) -> None:
    state = MemoryWatchState()
    _closed(state, "stale:A", T0 - timedelta(days=400))
    with pytest.raises(ValidationError) as caught:
        purge_resolved(state, timedelta(days=30), batch=batch, clock=ManualClock(T0))
    assert caught.value.path == "batch"
    assert purge_resolved(state, timedelta(days=1), clock=ManualClock(T0)) == 1


def test_a_clock_that_gives_a_naive_instant_is_refused() -> None:
    state = MemoryWatchState()
    _closed(state, "stale:A", T0 - timedelta(days=400))

    class Naive:
        def now(self) -> datetime:
            return datetime(2026, 3, 2, 1, 0)

    with pytest.raises(ValidationError) as caught:
        purge_resolved(state, timedelta(days=30), clock=Naive())
    assert caught.value.path == "clock.now()"
    assert purge_resolved(state, timedelta(days=1), clock=ManualClock(T0)) == 1


def test_a_host_state_without_a_retention_is_told_so() -> None:
    state = MemoryWatchState()
    _closed(state, "stale:A", T0 - timedelta(days=400))
    host = HostState(state)
    assert not isinstance(host, WatchRetention)
    watcher = Watcher(MemoryOrderRepository(), StdoutNotifier(), clock=ManualClock(T0),
                      state=state)
    watcher.state = host  # type: ignore[assignment]
    with pytest.raises(ValidationError) as caught:
        watcher.purge(timedelta(days=30))
    assert caught.value.path == "state"
    assert "cannot purge" in caught.value.reason
    assert purge_resolved(state, timedelta(days=1), clock=ManualClock(T0)) == 1
