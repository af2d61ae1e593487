"""A watch cycle stores what it sent by naming those episodes: with 1 alert among many
open episodes it reads and writes that one, not every open episode, on a real SQLite
state; a host's state written before ``cycle(keys=...)`` is read whole, as before."""

from __future__ import annotations

from collections.abc import Collection, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from orderkit import OrderStatus
from orderkit.adapters.memory import MemoryOrderRepository, MemoryWatchState
from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteWatchState
from orderkit.model.alerts import Alert as Notice
from orderkit.testing import ManualClock
from orderkit.testing.samples import sample_order
from orderkit.watch import ChannelHealth, Watcher
from orderkit.watch.ports import Episode, WatchState, takes_keys

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
OPEN = 2_000  # episodes of another watcher's rules, open all along


class Inbox:
    def __init__(self) -> None:
        self.told: list[str] = []

    def notify(self, alert: Notice) -> None:
        self.told.append(f"{alert.detail('state')} {alert.subject}")


class Counted:
    """A wrapper of the port that records, for each cycle, the keys it named (``None``:
    all) and how many open episodes the state handed out."""

    def __init__(self, state: SQLiteWatchState) -> None:
        self.state = state
        self.cycles: list[tuple[tuple[str, ...] | None, int]] = []

    @contextmanager
    def cycle(
        self, *, keys: Collection[str] | None = None
    ) -> Iterator[MutableMapping[str, Episode]]:
        with self.state.cycle(keys=keys) as episodes:
            self.cycles.append((None if keys is None else tuple(keys), len(episodes)))
            yield episodes


class Whole:
    """A state written for the port before it took ``keys``: ``cycle()`` only."""

    def __init__(self) -> None:
        self.state = MemoryWatchState()
        self.cycles = 0

    @contextmanager
    def cycle(self) -> Iterator[MutableMapping[str, Episode]]:
        self.cycles += 1
        with self.state.cycle() as episodes:
            yield episodes


def _others(state: WatchState, count: int) -> None:
    """``count`` firing episodes of rules this watcher does not run (another watcher's,
    sharing the file): left alone by every cycle here."""
    with state.cycle() as episodes:
        for n in range(count):
            key = f"other_rule:O-{n:05}"
            episodes[key] = Episode(key, "other_rule", f"O-{n:05}", "firing", (f"O-{n:05}",),
                                    T0, fired_at=T0, last_sent=T0, sent=1, route_to="tech")


def test_one_alert_among_thousands_of_open_episodes_reads_and_writes_one(
    tmp_path: Path,
) -> None:
    repo = SQLiteOrderRepository(tmp_path / "shop.db")
    order = attrs.evolve(sample_order("LATE", channel_order_id="LATE"), shipments=(),
                         status=OrderStatus.PENDING_PAYMENT, status_since=T0)
    repo.save(order, None)
    state = Counted(SQLiteWatchState(tmp_path / "shop.db"))
    _others(state.state, OPEN)
    inbox = Inbox()
    watcher = Watcher(repo, inbox, clock=ManualClock(T0 + timedelta(minutes=20)), state=state)

    report = watcher.run_once()

    assert [a.key for a in report.raised] == ["pending_payment_stale:LATE"]
    assert inbox.told == ["raised pending_payment_stale:LATE"]
    # The cycle that decides reads every open episode (it resolves those whose
    # condition cleared); the one that stores what was sent reads only the one sent.
    decide, stored = state.cycles
    assert decide == (None, OPEN)
    assert stored == (("pending_payment_stale:LATE",), 1)
    with state.state.cycle() as episodes:
        assert len(episodes) == OPEN + 1
        late = episodes["pending_payment_stale:LATE"]
    assert (late.state, late.sent, late.claim) == ("firing", 1, None)
    # Nothing due: no second cycle at all.
    state.cycles.clear()
    assert watcher.run_once().raised == ()
    assert [keys for keys, _count in state.cycles] == [None]


def test_a_state_without_keys_is_read_whole_as_before() -> None:
    repo = MemoryOrderRepository()
    order = attrs.evolve(sample_order("LATE", channel_order_id="LATE"), shipments=(),
                         status=OrderStatus.PENDING_PAYMENT, status_since=T0)
    repo.save(order, None)
    state = Whole()
    assert not takes_keys(state)
    assert takes_keys(state.state)
    inbox = Inbox()
    watcher = Watcher(repo, inbox, clock=ManualClock(T0 + timedelta(minutes=20)), state=state)
    assert [a.key for a in watcher.run_once().raised] == ["pending_payment_stale:LATE"]
    assert state.cycles == 2
    with state.state.cycle() as episodes:
        assert episodes["pending_payment_stale:LATE"].sent == 1


def test_channel_health_reads_only_its_channels_episodes(tmp_path: Path) -> None:
    state = Counted(SQLiteWatchState(tmp_path / "shop.db"))
    _others(state.state, OPEN)
    health = ChannelHealth(Inbox(), state=state, clock=ManualClock(T0))
    health.check()
    assert state.cycles == [(("payment_channel_degraded:alipay",
                              "payment_channel_degraded:wechat_pay"), 0)]
