"""Resolved alerts are kept: the memory and SQLite watch states move a resolved episode
into their history (table ``watch_history``), and the health page shows it beside the
open ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from orderkit import OrderStatus
from orderkit.adapters.memory import MemoryOrderRepository, MemoryWatchState
from orderkit.adapters.sqlite import SQLiteWatchState
from orderkit.model.alerts import Alert as Notice
from orderkit.model.time import accounting_period
from orderkit.testing import ManualClock
from orderkit.testing.samples import sample_order
from orderkit.watch import ChannelHealth, Rule, Watcher, WatchHistory, WatchState, health
from orderkit.watch.page import health_page

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def notify(self, alert: Notice) -> None:
        self.notices.append(alert)

    def said(self) -> list[str]:
        return [f"{n.detail('state')} {n.subject}" for n in self.notices]


def open_keys(state: WatchState) -> list[str]:
    with state.cycle() as episodes:
        return sorted(episodes)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_resolved_episode_moves_to_the_history(store: str, tmp_path: Path) -> None:
    def make() -> SQLiteWatchState | MemoryWatchState:
        return SQLiteWatchState(tmp_path / "shop.db") if store == "sqlite" else memory

    memory = MemoryWatchState()
    state = make()
    repo = MemoryOrderRepository()
    clock = ManualClock(T0)
    inbox = Inbox()
    rule = Rule("pending", {OrderStatus.PENDING_PAYMENT}, "status_since", timedelta(minutes=5),
                "customer_service", for_=timedelta(minutes=2))
    watcher = Watcher(repo, inbox, rules=[rule], clock=clock, state=state)
    order = attrs.evolve(sample_order("A", channel_order_id="A"), shipments=(),
                         status=OrderStatus.PENDING_PAYMENT, status_since=T0)
    repo.save(order, None)
    for minutes in (6, 8):
        clock.set(T0 + timedelta(minutes=minutes))
        watcher.run_once()
    assert open_keys(state) == ["pending:A"] and state.history() == []
    paid = attrs.evolve(order, status=OrderStatus.PAID, version=order.version + 1,
                        status_since=T0 + timedelta(minutes=9))
    repo.save(paid, order.version)
    clock.set(T0 + timedelta(minutes=10))
    assert [a.key for a in watcher.run_once().resolved] == ["pending:A"]

    restarted = make()  # a restart reads the same history from the file
    assert isinstance(restarted, WatchHistory) and open_keys(restarted) == []
    (closed,) = restarted.history()
    assert (closed.key, closed.state, closed.sent) == ("pending:A", "resolved", 1)
    assert (closed.fired_at, closed.resolved_at) == (T0 + timedelta(minutes=8),
                                                    T0 + timedelta(minutes=10))
    assert restarted.history(since=T0 + timedelta(minutes=11)) == []

    # The same order stuck again: a new episode that waits out its "for" once more.
    repo.save(attrs.evolve(paid, status=OrderStatus.PENDING_PAYMENT, version=paid.version + 1,
                           status_since=T0 + timedelta(minutes=20)), paid.version)
    for minutes in (26, 27, 28):
        clock.set(T0 + timedelta(minutes=minutes))
        watcher.run_once()
    assert inbox.said() == ["raised pending:A", "resolved pending:A", "raised pending:A"]
    assert [e.resolved_at for e in make().history(limit=5)] == [T0 + timedelta(minutes=10)]


def test_a_recovered_payment_channel_is_kept_in_the_history(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    state = SQLiteWatchState(tmp_path / "shop.db")
    channels = ChannelHealth(Inbox(), fallbacks={"wechat_pay": "alipay"}, clock=clock,
                             state=state)
    for minute in (1, 2, 3):
        order_id = f"W-{minute}"
        channels.expect(sample_order(order_id, channel_order_id=order_id), "wechat_pay",
                        T0 + timedelta(minutes=minute))
    clock.set(T0 + timedelta(minutes=10))
    assert [a.key for a in channels.check().raised] == ["payment_channel_degraded:wechat_pay"]
    channels.expect(sample_order("W-4", channel_order_id="W-4"), "wechat_pay", clock.now())
    assert channels.callback("W-4", clock.now() + timedelta(seconds=3))
    clock.set(T0 + timedelta(minutes=11))
    assert [a.key for a in channels.check().resolved] == ["payment_channel_degraded:wechat_pay"]
    assert open_keys(state) == []
    assert [e.key for e in state.history()] == ["payment_channel_degraded:wechat_pay"]


def test_the_health_page_shows_resolved_alerts_beside_open_ones(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    state = SQLiteWatchState(tmp_path / "shop.db")
    repo = MemoryOrderRepository()
    rule = Rule("pending", {OrderStatus.PENDING_PAYMENT}, "status_since", timedelta(minutes=5),
                "customer_service")
    watcher = Watcher(repo, Inbox(), rules=[rule], clock=clock, state=state)
    for order_id in ("A", "B"):
        repo.save(attrs.evolve(sample_order(order_id, channel_order_id=order_id), shipments=(),
                               status=OrderStatus.PENDING_PAYMENT, status_since=T0), None)
    clock.set(T0 + timedelta(minutes=6))
    watcher.run_once()
    a = repo.get("A")
    repo.save(attrs.evolve(a, status=OrderStatus.CANCELLED, version=a.version + 1), a.version)
    clock.set(T0 + timedelta(minutes=7))
    watcher.run_once()
    with state.cycle() as episodes:
        still_open = list(episodes.values())
    report = health(repo, accounting_period(T0), now=clock.now())
    page = health_page(report, alerts=still_open, resolved=state.history())
    assert "1 open, 1 resolved" in page
    rows = page.split("<tr>")
    (resolved_row,) = [r for r in rows if "<td>pending:A</td>" in r]
    assert "<td>resolved</td>" in resolved_row
    assert "<td>2026-03-02T09:07:00+08:00</td>" in resolved_row  # in the accounting zone
    (open_row,) = [r for r in rows if "<td>pending:B</td>" in r]
    assert "<td>firing</td>" in open_row
    assert "No alert." in health_page(report)
