"""Stories of the watch over a shop's file: a grey state nobody would otherwise see
becomes one alert, and the alert resolves once a person dealt with it.

Each story runs through the public API as a host would (service, relay, ledger,
watcher), then through ``orderkit watch --once --db`` on the same file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest

from orderkit import Money, Order, OrderLine
from orderkit.adapters.memory import MemoryWatchState
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.cli import main
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.model.alerts import Alert
from orderkit.outbox import OutboxMessage, OutboxRelay
from orderkit.testing import ManualClock
from orderkit.watch import DEFAULT_METRIC_RULES, DEFAULT_RULES, Backlog, Watcher

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SECRET = b"watch-story-secret-0123456789"
PARKED = "inventory_parked_releases:inventory_parked_releases"


class Shop(NamedTuple):
    """A shop's SQLite file after a burst of cancels past its release breaker."""

    path: Path
    clock: ManualClock
    repository: SQLiteOrderRepository
    ledger: InventoryLedger


class Sink:
    """The host's event sink: keeps what it is told."""

    def __init__(self) -> None:
        self.topics: list[str] = []

    def publish(self, events: Sequence[OutboxMessage]) -> None:
        self.topics.extend(message.topic for message in events)


class Inbox:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def notify(self, alert: Alert) -> None:
        self.alerts.append(alert)


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    """Eight buyers of one cup cancel within eight minutes, on a shop whose breaker lets
    5 releases of a SKU an hour through: the relay applies every cancel, and the last
    three releases are parked (the cancelled orders still hold their cups)."""
    clock = ManualClock(T0)
    path = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(path)
    ledger = InventoryLedger(SQLiteInventoryStore(path), secret=SECRET, clock=clock,
                             release_limit=5)
    ledger.receive("CUP", 20, reference="PO-1")
    service = OrderService(repository, inventory=ledger, clock=clock, deliver=False)
    sink = Sink()
    relay = OutboxRelay(repository, inventory=ledger, sink=sink, clock=clock)
    for n in range(8):
        service.place(Order(f"ORD-{n}", "tmall", f"T-{n}",
                            [OrderLine("1", "CUP", 1, Money("45.50", "CNY"))], clock.now()))
        service.handle(f"ORD-{n}", Event("cancel", event_id=f"cancel-{n}", at=clock.now()))
        relay.run_until_idle()
        clock.advance(timedelta(minutes=1))
    assert repository.pending(100) == [] and repository.dead_letter_count() == 0
    assert sink.topics.count("event.ReleaseParked") == 3  # told, one by one
    assert len(ledger.pending_review()) == 3 and ledger.stock("CUP").locked == 3
    return Shop(path, clock, repository, ledger)


def _approve_all(ledger: InventoryLedger) -> None:
    for parked in ledger.pending_review():
        assert ledger.approve_release(parked.entry_id, actor="ops-lead").outcome == "released"
    level = ledger.stock("CUP")
    assert (level.on_hand, level.locked) == (20, 0) and ledger.verify().ok


def test_parked_releases_are_one_alert_until_a_person_approves_them(shop: Shop) -> None:
    inbox = Inbox()
    watcher = Watcher(shop.repository, inbox, rules=[*DEFAULT_RULES, *DEFAULT_METRIC_RULES],
                      clock=shop.clock, state=MemoryWatchState(),
                      metrics=[Backlog(outbox=shop.repository,
                                       inventory=SQLiteInventoryStore(shop.path))])
    report = watcher.run_once()
    assert [a.key for a in report.raised] == [PARKED]
    (alert,) = inbox.alerts
    assert (alert.severity, alert.detail("value"), alert.detail("state")) == (
        "critical", "3", "raised")
    # Raised once per episode: the next cycles (within the hour) send nothing.
    for _ in range(3):
        shop.clock.advance(timedelta(minutes=5))
        report = watcher.run_once()
        assert (report.raised, report.repeated, report.resolved) == ((), (), ())
    _approve_all(shop.ledger)
    shop.clock.advance(timedelta(minutes=1))
    assert [a.key for a in watcher.run_once().resolved] == [PARKED]
    assert [a.detail("state") for a in inbox.alerts] == ["raised", "resolved"]


def test_orderkit_watch_alerts_on_parked_releases_of_the_file(
    shop: Shop, capsys: pytest.CaptureFixture[str],
) -> None:
    """``orderkit watch --once --db`` reads the parked releases when the file keeps
    stock: one alert, not sent again by the next run, resolved once approved."""
    assert main(["watch", "--once", "--db", str(shop.path)]) == 0
    first = capsys.readouterr().out
    (line,) = [line for line in first.splitlines() if PARKED in line]
    assert "CRITICAL raised" in line and "inventory_parked_releases is 3" in line
    assert "watch: 1 raised, 0 repeated, 0 resolved" in first
    assert main(["watch", "--once", "--db", str(shop.path)]) == 0
    assert "watch: 0 raised, 0 repeated, 0 resolved" in capsys.readouterr().out
    _approve_all(shop.ledger)
    assert main(["watch", "--once", "--db", str(shop.path)]) == 0
    last = capsys.readouterr().out
    (line,) = [line for line in last.splitlines() if PARKED in line]
    assert "resolved" in line
    assert "watch: 0 raised, 0 repeated, 1 resolved" in last


def test_orderkit_watch_says_which_rules_listed_fewer_orders_than_they_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A rule cut at its ``limit`` (1,000) lists its oldest orders one by one and counts
    the rest: the run's summary says so per rule, with the orders listed and counted."""
    path = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(path)
    for n in range(1003):
        repository.save(Order(f"P-{n:04}", "tmall", f"P-{n:04}",
                              [OrderLine("1", "TEA", 1, Money("89.00", "CNY"))], T0), None)
    assert main(["watch", "--once", "--db", str(path)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert [line for line in said if line.startswith("watch: cut ")] == [
        "watch: cut payment_channel_down:tmall: 1000 of 1003 stale order(s) listed",
        "watch: cut pending_payment_stale: 1000 of 1003 stale order(s) listed",
    ]
