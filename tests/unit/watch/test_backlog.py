"""Backlogs are watched: an outbox that stops draining, an outbox message that gave up
and a platform order sync could not store each raise an alert from the stores
themselves (``Backlog`` with ``DEFAULT_METRIC_RULES``), and the alert resolves once the
backlog is gone."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import attrs
import pytest

from orderkit import Money, Order, OrderLine, OrderStatus
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.sqlite import (
    SQLiteInventoryStore,
    SQLiteOrderRepository,
    SQLiteSyncStore,
    SQLiteWatchState,
)
from orderkit.errors import StoreError, ValidationError
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.mapping import Registry, StatusRule, get_map
from orderkit.model.alerts import Alert as Notice
from orderkit.outbox import OutboxRelay
from orderkit.sync import DeadLetter, Sync
from orderkit.testing import ManualClock
from orderkit.testing.samples import sample_order
from orderkit.watch import DEFAULT_METRIC_RULES, DEFAULT_RULES, Backlog, RetryRate, Watcher

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
JD = Path(__file__).parents[2] / "fixtures" / "mapping" / "jd"


class Shop(NamedTuple):
    """One SQLite file, its clock and its order repository."""

    db: Path
    clock: ManualClock
    repository: SQLiteOrderRepository


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    db = tmp_path / "shop.db"
    return Shop(db, ManualClock(T0), SQLiteOrderRepository(db))


class Inbox:
    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def notify(self, alert: Notice) -> None:
        self.notices.append(alert)


class Broker:
    """The host's event sink: down until ``up`` is set."""

    def __init__(self) -> None:
        self.up = False
        self.kept: list[object] = []

    def publish(self, events: Sequence[object]) -> None:
        if not self.up:
            raise ConnectionError("broker unreachable")
        self.kept.extend(events)


def _said(watcher: Watcher, minute: int) -> list[str]:
    report = watcher.run_once()
    return [f"{minute} {a.state} {a.key}"
            for a in (*report.raised, *report.repeated, *report.resolved)]


def test_an_outbox_that_stops_draining_and_a_message_that_gives_up_are_alerts(
    shop: Shop,
) -> None:
    db, clock, repository = shop
    broker = Broker()
    service = OrderService(repository, sink=broker, clock=clock)
    service.place(Order("ORD-1", "tmall", "T-1", [OrderLine("1", "TEA", 1, Money("9.90", "CNY"))],
                        T0))
    service.handle("ORD-1", Event("pay", event_id="p1", at=T0,
                                  data={"amount": Money("9.90", "CNY")}))
    relay = OutboxRelay(repository, sink=broker, clock=clock)
    inbox = Inbox()
    watcher = Watcher(repository, inbox, rules=DEFAULT_METRIC_RULES, clock=clock,
                      state=SQLiteWatchState(db), metrics=[Backlog(outbox=repository)])
    said: list[str] = []
    for minute in range(1, 21):  # the broker is down for 20 minutes
        clock.set(T0 + timedelta(minutes=minute))
        relay.run_once()
        said += _said(watcher, minute)
    # Over 5 minutes late from minute 6 (first seen), held 5 minutes: raised at 11. The
    # messages use up their 10 attempts (about 8.5 minutes of back-off) and die: at once.
    assert "11 raised outbox_lagging:outbox_lag" in said
    dead = [line for line in said if "outbox_dead_letters" in line]
    assert len(dead) == 1 and dead[0].split()[1] == "raised"
    # The order's next message, held behind the dead one, now waits in its turn.
    assert not any("resolved" in line for line in said)
    assert repository.dead_letter_count() == len(relay.dead_letters()) > 0
    critical = next(n for n in inbox.notices if "outbox_dead_letters" in n.subject)
    assert critical.severity == "critical"
    # The broker is back; the dead letters are replayed, the rest waits out its back-off
    # (5 minutes at most): everything is delivered and both alerts resolve.
    broker.up = True
    for letter in relay.dead_letters():
        relay.replay(letter.message.message_id)
    after: list[str] = []
    for minute in range(21, 27):
        clock.set(T0 + timedelta(minutes=minute))
        relay.run_until_idle()
        after += _said(watcher, minute)
    assert sorted(line.split(" ", 1)[1] for line in after) == [
        "resolved outbox_dead_letters:outbox_dead_letters",
        "resolved outbox_lagging:outbox_lag",
    ]
    assert repository.oldest_pending() is None and len(broker.kept) > 0


def test_an_order_sync_could_not_store_is_an_alert_until_it_is_replayed(
    shop: Shop,
) -> None:
    db, clock, repository = shop
    ledger = InventoryLedger(SQLiteInventoryStore(db), secret=b"backlog-secret-0123456789",
                             clock=clock)
    store = SQLiteSyncStore(db)
    sync = Sync(repository, OrderService(repository, inventory=ledger, clock=clock),
                store=store)
    inbox = Inbox()
    watcher = Watcher(repository, inbox, rules=DEFAULT_METRIC_RULES, clock=clock,
                      state=SQLiteWatchState(db), metrics=[Backlog(sync=store)])
    payload = json.loads((JD / "wait_seller_stock_out.json").read_text(encoding="utf-8"))
    payload["orderState"] = "WAIT_FOR_MARS"
    # Paid on JD, in a state the JD map does not know: the order is a dead letter.
    assert sync.receive("jd", payload, received_at=clock.now()).dead_lettered == 1
    assert _said(watcher, 0) == ["0 raised sync_dead_letters:sync_dead_letters"]
    assert "sync_dead_letters is 1" in inbox.notices[0].message
    for sku, units in (("TEA-OOLONG-250G", 2), ("CUP-CELADON", 1), ("TRAY-BAMBOO", 1)):
        ledger.receive(sku, units, reference="PO-1")
    # The map learns the state; the letter replays and the alert resolves.
    fixed = get_map("jd").extended(
        "jd", status_values={"order": ("WAIT_FOR_MARS",)},
        status_rules=(StatusRule({"order": "WAIT_FOR_MARS"}, OrderStatus.PAID),),
    )
    maps = Registry()
    maps.register(fixed, replace=True)
    replaying = Sync(repository, sync.service, store=store, maps=maps)
    assert replaying.replay_dead_letters().new == 1
    clock.advance(timedelta(minutes=1))
    assert _said(watcher, 1) == ["1 resolved sync_dead_letters:sync_dead_letters"]


def test_a_backlog_needs_a_store_that_can_count() -> None:
    with pytest.raises(ValidationError) as neither:
        Backlog()
    assert neither.value.path == "outbox"
    with pytest.raises(ValidationError) as wrong:
        Backlog(outbox=object())  # type: ignore[arg-type]
    assert wrong.value.path == "outbox"
    with pytest.raises(ValidationError) as wrong:
        Backlog(sync="shop.db")  # type: ignore[arg-type]
    assert wrong.value.path == "sync"
    with pytest.raises(ValidationError) as wrong:
        Backlog(outbox=SQLiteOrderRepository)  # type: ignore[arg-type]
    assert wrong.value.path == "outbox" and "not its class" in str(wrong.value)
    with pytest.raises(ValidationError) as wrong:
        Backlog(inventory=InventoryLedger)  # type: ignore[arg-type]
    assert wrong.value.path == "inventory" and "not its class" in str(wrong.value)
    with pytest.raises(ValidationError) as wrong:  # a ledger is not its store
        Backlog(inventory=InventoryLedger(MemoryInventoryStore(),  # type: ignore[arg-type]
                                          secret=b"backlog-secret-0123456789"))
    assert wrong.value.path == "inventory"


def test_a_metric_whose_store_was_not_given_is_not_measured(tmp_path: Path) -> None:
    backlog = Backlog(sync=SQLiteSyncStore(tmp_path / "shop.db"))
    assert backlog.value("sync_dead_letters", T0) == 0
    assert backlog.value("outbox_lag", T0) is None
    assert backlog.value("outbox_dead_letters", T0) is None
    assert backlog.value("inventory_parked_releases", T0) is None
    assert not backlog.provides("inventory_parked_releases")
    with pytest.raises(ValidationError):
        backlog.value("sync_dead_letters", datetime(2026, 3, 2))


def _dead_letter(store: SQLiteSyncStore) -> None:
    store.add_dead_letter(DeadLetter("jd:abc", "jd", '{"orderId":"1"}', "MappingError: x", T0))


def test_two_watchers_sharing_one_state_leave_each_others_metrics_alone(shop: Shop) -> None:
    db, clock, repository = shop
    store = SQLiteSyncStore(db)
    _dead_letter(store)
    # The command line's watcher reads the backlog; the host's own counts its retries.
    backlog = Watcher(repository, Inbox(), rules=DEFAULT_METRIC_RULES, clock=clock,
                      state=SQLiteWatchState(db), metrics=[Backlog(sync=store)])
    host_inbox = Inbox()
    host = Watcher(repository, host_inbox, rules=DEFAULT_METRIC_RULES, clock=clock,
                   state=SQLiteWatchState(db), metrics=[RetryRate()])
    said: list[str] = []
    for minute in range(4):
        clock.set(T0 + timedelta(minutes=minute))
        said += _said(backlog, minute) + _said(host, minute)
    assert said == ["0 raised sync_dead_letters:sync_dead_letters"]
    assert host_inbox.notices == []
    store.resolve_dead_letter("jd:abc")
    clock.advance(timedelta(minutes=1))
    assert _said(host, 9) == [] and _said(backlog, 9) == [
        "9 resolved sync_dead_letters:sync_dead_letters"]


class DownStore:
    """A sync store whose database cannot be reached."""

    def dead_letter_count(self) -> int:
        raise StoreError("count dead letters", "connection refused")


def test_a_store_that_fails_leaves_its_alert_up_and_the_order_rules_run(shop: Shop) -> None:
    db, clock, repository = shop
    store = SQLiteSyncStore(db)
    _dead_letter(store)
    state = SQLiteWatchState(db)
    rules = [*DEFAULT_RULES, *DEFAULT_METRIC_RULES]
    up = Watcher(repository, Inbox(), rules=rules, clock=clock, state=state,
                 metrics=[Backlog(sync=store)])
    assert _said(up, 0) == ["0 raised sync_dead_letters:sync_dead_letters"]
    repository.save(attrs.evolve(sample_order("ORD-9"), status=OrderStatus.PENDING_PAYMENT,
                                 status_since=T0, shipments=()), None)
    clock.advance(timedelta(hours=1))
    down = Watcher(repository, Inbox(), rules=rules, clock=clock, state=state,
                   metrics=[Backlog(sync=DownStore())])
    report = down.run_once()
    assert [a.key for a in report.raised] == ["pending_payment_stale:ORD-9"]
    assert report.resolved == ()  # the dead letters are unknown, not gone
    assert report.unread == (("sync_dead_letters",
                              "count dead letters failed: connection refused"),)


def test_a_metric_alert_carries_its_value(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    store = SQLiteSyncStore(db)
    for n in range(3):
        store.add_dead_letter(DeadLetter(f"jd:{n}", "jd", "{}", "MappingError: x", T0))
    inbox = Inbox()
    Watcher(SQLiteOrderRepository(db), inbox, rules=DEFAULT_METRIC_RULES,
            clock=ManualClock(T0), metrics=[Backlog(sync=store)]).run_once()
    (notice,) = inbox.notices
    assert (notice.detail("value"), notice.detail("state")) == ("3", "raised")


def test_a_watcher_with_nothing_to_measure_leaves_the_others_episode_to_fire(
    shop: Shop,
) -> None:
    db, clock, repository = shop
    busy_rate, idle_rate = RetryRate(), RetryRate()
    inbox = Inbox()
    busy = Watcher(repository, inbox, rules=DEFAULT_METRIC_RULES, clock=clock,
                   state=SQLiteWatchState(db), metrics=[busy_rate])
    idle = Watcher(repository, Inbox(), rules=DEFAULT_METRIC_RULES, clock=clock,
                   state=SQLiteWatchState(db), metrics=[idle_rate])  # no calls: None
    said: list[str] = []
    for minute in range(1, 9):
        clock.set(T0 + timedelta(minutes=minute))
        for n in range(10):
            busy_rate.record(clock.now() - timedelta(seconds=30), retried=n < 3)
        said += _said(busy, minute) + _said(idle, minute)
    assert said == ["6 raised retry_rate_high:retry_rate"]


def test_a_dead_letter_alert_is_repeated_every_hour_with_the_count_then(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    clock = ManualClock(T0)
    store = SQLiteSyncStore(db)
    inbox = Inbox()
    watcher = Watcher(SQLiteOrderRepository(db), inbox, rules=DEFAULT_METRIC_RULES,
                      clock=clock, state=SQLiteWatchState(db), metrics=[Backlog(sync=store)])
    for minute in range(0, 121, 10):  # a letter more every ten minutes, for two hours
        clock.set(T0 + timedelta(minutes=minute))
        store.add_dead_letter(DeadLetter(f"jd:{minute}", "jd", "{}", "MappingError: x", T0))
        watcher.run_once()
    seen = [(notice.detail("state"), notice.detail("value")) for notice in inbox.notices]
    assert seen == [("raised", "1"), ("repeated", "7"), ("repeated", "13")]


def test_releases_the_breaker_parked_are_an_alert_until_approved() -> None:
    """On any store (here the memory one): the count of parked releases nobody approved
    is ``inventory_parked_releases``, critical at once, resolved at zero."""
    clock = ManualClock(T0)
    store = MemoryInventoryStore()
    ledger = InventoryLedger(store, secret=b"backlog-secret-0123456789", clock=clock,
                             release_limit=2)
    ledger.receive("KETTLE", 5, reference="PO-1")
    locks = [ledger.lock(f"ORD-{n}", {"KETTLE": 1}, ttl=timedelta(hours=2)) for n in range(4)]
    assert [ledger.release(lock.lock_id).outcome for lock in locks] == [
        "released", "released", "parked", "parked"]
    backlog = Backlog(inventory=store)
    assert backlog.provides("inventory_parked_releases")
    assert not backlog.provides("outbox_dead_letters")
    assert backlog.value("inventory_parked_releases", T0) == 2
    inbox = Inbox()
    watcher = Watcher(MemoryOrderRepository(), inbox, rules=DEFAULT_METRIC_RULES, clock=clock,
                      metrics=[backlog])
    assert _said(watcher, 0) == [
        "0 raised inventory_parked_releases:inventory_parked_releases"]
    (notice,) = inbox.notices
    assert (notice.severity, notice.detail("value")) == ("critical", "2")
    first, second = ledger.pending_review()
    ledger.approve_release(first.entry_id, actor="ops-lead")
    clock.advance(timedelta(minutes=1))
    assert _said(watcher, 1) == []  # one still waits
    ledger.approve_release(second.entry_id, actor="ops-lead")
    clock.advance(timedelta(minutes=1))
    assert _said(watcher, 2) == [
        "2 resolved inventory_parked_releases:inventory_parked_releases"]
