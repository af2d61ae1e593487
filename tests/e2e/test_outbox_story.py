"""Stories of the outbox: no effect of a saved decision is lost or applied twice.

Each story runs through the public API as a host would, and ends with the inventory
invariants of ARCHITECTURE.md: for every SKU ``on_hand == available + locked`` and the
ledger replays to its counters (``verify()``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit import Money, Order, OrderLine
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.errors import DuplicateOrder, InsufficientStock
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.outbox import OutboxMessage, OutboxRelay, StockCall
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
SECRET = b"outbox-story-secret-0123456789"


def _order(order_id: str, cups: int = 2, **extra: Any) -> Order:
    return Order(
        order_id=order_id, channel="tmall", channel_order_id=f"T-{order_id}",
        lines=[OrderLine("1", "CUP", cups, Money("45.50", "CNY"))], created_at=T0, **extra,
    )


def _event(name: str, event_id: str, **data: Any) -> Event:
    return Event(name, event_id=event_id, at=T0 + timedelta(minutes=5), data=data)


def _pay(order_id: str, cups: int = 2) -> Event:
    return _event("pay", f"pay-{order_id}", amount=Money("45.50", "CNY") * cups)


def _balanced(ledger: InventoryLedger, sku: str = "CUP") -> tuple[int, int, int]:
    level = ledger.stock(sku)
    assert level.on_hand == level.available + level.locked
    assert ledger.verify().ok
    return level.on_hand, level.locked, level.available


class FlakySink:
    """An event sink that is down while ``down`` is set, and keeps every message it
    accepted (a host's consumer keeps them by id)."""

    def __init__(self) -> None:
        self.down = True
        self.refused = 0
        self.accepted: list[OutboxMessage] = []

    def publish(self, events: Sequence[object]) -> None:
        if self.down:
            self.refused += 1
            raise ConnectionError("message broker unreachable")
        for message in events:
            assert isinstance(message, OutboxMessage)
            self.accepted.append(message)


class DiesAfterApplying:
    """Wraps the ledger: applies the call, then the relay's process dies before it can
    mark the message delivered (the exception stands in for the crash)."""

    def __init__(self, ledger: InventoryLedger) -> None:
        self.ledger = ledger

    def release(self, lock_id: str, lines: Mapping[str, int] | None = None, **kw: Any) -> Any:
        self.ledger.release(lock_id, lines, **kw)
        raise SystemError("killed after the ledger committed")

    def commit(self, lock_id: str, lines: Mapping[str, int] | None = None, **kw: Any) -> Any:
        self.ledger.commit(lock_id, lines, **kw)
        raise SystemError("killed after the ledger committed")

    def confirm(self, lock_id: str, **kw: Any) -> Any:
        return self.ledger.confirm(lock_id, **kw)  # the payment's confirmation goes through

    def restock(self, lines: Mapping[str, int], **kw: Any) -> Any:
        return self.ledger.restock(lines, **kw)

    def apply_many(self, calls: Sequence[StockCall]) -> Any:
        results = self.ledger.apply_many(calls)
        if any(call.operation in ("release", "commit") for call in calls):
            raise SystemError("killed after the ledger committed")
        return results  # the payment's confirmation goes through


def test_kill_between_save_and_stock_move_loses_nothing(tmp_path: Path) -> None:
    # The ledger lives in its own file: its commit and the outbox mark are two
    # transactions, the worst case for a crash in between.
    clock = ManualClock(T0)
    orders_file, stock_file = tmp_path / "orders.db", tmp_path / "stock.db"
    ledger = InventoryLedger(SQLiteInventoryStore(stock_file), secret=SECRET, clock=clock)
    ledger.receive("CUP", 5, reference="PO-1")
    service = OrderService(
        SQLiteOrderRepository(orders_file), inventory=ledger, clock=clock, deliver=False
    )
    service.place(_order("ORD-1"))
    service.handle("ORD-1", _pay("ORD-1"))
    service.handle("ORD-1", _event("cancel_lines", "cs-1", lines={"1": 1}))
    # The process dies here: saved as cancelled, the release owed.
    assert _balanced(ledger) == (5, 2, 3)

    # After a restart: new adapters on the same files; the first relay dies after the
    # ledger applied the release and before the message was marked delivered.
    repository = SQLiteOrderRepository(orders_file)
    ledger = InventoryLedger(SQLiteInventoryStore(stock_file), secret=SECRET, clock=clock)
    dying = OutboxRelay(repository, inventory=DiesAfterApplying(ledger), clock=clock)
    report = dying.run_once()
    assert (report.delivered, report.failed) == (1, 1)  # the confirmation; the release died
    assert _balanced(ledger) == (5, 1, 4)  # applied once...
    relay = OutboxRelay(repository, inventory=ledger, clock=clock)
    assert relay.run_once().delivered == 0  # the failed message waits out its back-off
    clock.advance(timedelta(seconds=2))
    report = relay.run_once()
    assert (report.delivered, report.failed) == (1, 0)
    assert _balanced(ledger) == (5, 1, 4)  # ...and not again on redelivery
    assert repository.pending(10) == []


def test_sink_down_then_up_delivers_every_event_once(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    repository = SQLiteOrderRepository(tmp_path / "shop.db")
    sink = FlakySink()
    service = OrderService(repository, sink=sink, clock=clock)
    for n in range(3):
        service.place(_order(f"ORD-{n}"))
        service.handle(f"ORD-{n}", _pay(f"ORD-{n}"))
        clock.advance(timedelta(seconds=1))
        service.handle(f"ORD-{n}", _event("pack", f"pack-{n}"))
    # Every decision was saved while the broker was down; nothing was raised or lost,
    # and the failed deliveries wait out their back-off instead of using up attempts.
    assert all(repository.get(f"ORD-{n}").version == 2 for n in range(3))
    assert sink.accepted == [] and sink.refused >= 3
    assert len(repository.pending(100)) == 12 and repository.dead_letters() == []
    relay = OutboxRelay(repository, sink=sink, clock=clock)
    assert relay.run_once().delivered == 0  # still down
    assert relay.lag() > timedelta(0)
    sink.down = False
    clock.advance(timedelta(minutes=10))  # every back-off has passed
    report = relay.run_until_idle()
    assert (report.delivered, report.failed, report.lag) == (12, 0, timedelta(0))
    assert relay.run_until_idle().delivered == 0
    ids = Counter(message.message_id for message in sink.accepted)
    assert len(ids) == 12 and set(ids.values()) == {1}  # pay: 3 events, pack: 1; once each
    for n in range(3):  # in order per order
        topics = [m.topic for m in sink.accepted if m.order_id == f"ORD-{n}"]
        assert topics == ["event.PaymentReceived", "event.StatusChanged", "event.ReadyToShip",
                          "event.StatusChanged"]


def test_foreign_lock_id_cannot_release_another_orders_stock() -> None:
    clock = ManualClock(T0)
    repository = MemoryOrderRepository()
    ledger = InventoryLedger(MemoryInventoryStore(), secret=SECRET, clock=clock)
    ledger.receive("CUP", 10, reference="PO-1")
    service = OrderService(repository, inventory=ledger, clock=clock)
    original = service.place(_order("ORD-1", cups=5))
    service.handle("ORD-1", _pay("ORD-1", 5))
    # A split copies the original's lock id onto a new order, which is then cancelled.
    copy = _order("ORD-1-SPLIT", cups=5, lock_id=original.lock_id)
    service.place(copy)
    service.handle("ORD-1-SPLIT", _event("cancel", "cs-split"))
    assert _balanced(ledger) == (10, 5, 5)  # the original's 5 units stay locked
    # The service delivered at once; the ledger's refusal is final, no retry can change it.
    assert service.last_delivery is not None and service.last_delivery.dead_lettered == 1
    relay = OutboxRelay(repository, inventory=ledger, clock=clock)
    (dead,) = relay.dead_letters()
    assert dead.message.order_id == "ORD-1-SPLIT"
    assert dead.error.startswith("InvalidLock") and "another order" in dead.error
    refused = repository.audit_trail("ORD-1-SPLIT")[-1]  # and the order's trail says so
    assert (refused.outcome, refused.event, refused.actor) == (
        "refused", "stock.release", "outbox-relay"
    )
    assert "another order" in refused.reason
    assert _balanced(ledger) == (10, 5, 5)


def test_a_restock_of_more_than_the_order_shipped_is_dead_lettered_with_its_reason() -> None:
    clock = ManualClock(T0)
    repository = MemoryOrderRepository()
    ledger = InventoryLedger(MemoryInventoryStore(), secret=SECRET, clock=clock)
    ledger.receive("CUP", 10, reference="PO-1")
    service = OrderService(repository, inventory=ledger, clock=clock)
    service.place(_order("ORD-1", cups=5))
    # A return message for units the ledger never saw leave (a forged or mistaken one).
    repository.enqueue([
        OutboxMessage("ret-1", "ORD-1", "stock.restock", {"lines": {"CUP": 500}}, T0),
    ])
    relay = OutboxRelay(repository, inventory=ledger, clock=clock)
    report = relay.run_until_idle()
    assert (report.delivered, report.dead_lettered) == (0, 1)
    (dead,) = relay.dead_letters()
    assert dead.message.message_id == "ret-1"
    assert dead.error.startswith("RestockExceedsShipment") and "500 units of CUP" in dead.error
    refused = repository.audit_trail("ORD-1")[-1]
    assert (refused.outcome, refused.event, refused.actor) == (
        "refused", "stock.restock", "outbox-relay"
    )
    assert refused.reason == (
        "RestockExceedsShipment: order ORD-1: cannot restock 500 units of CUP: it shipped 0"
        " and 0 were restocked already, so at most 0 may come back"
    )
    assert _balanced(ledger) == (10, 5, 5)
    assert ledger.verify().ok


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_placing_a_stored_order_again_is_a_duplicate(kind: str, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    if kind == "memory":
        repository: Any = MemoryOrderRepository()
        store: Any = MemoryInventoryStore()
    else:
        repository = SQLiteOrderRepository(tmp_path / "shop.db")
        store = SQLiteInventoryStore(tmp_path / "shop.db")
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)
    ledger.receive("CUP", 10, reference="PO-1")
    service = OrderService(repository, inventory=ledger, clock=clock)
    service.place(_order("ORD-1"))
    for _attempt in range(3):  # a retrying importer
        with pytest.raises(DuplicateOrder) as caught:
            service.place(_order("ORD-1"))
        assert caught.value.existing_order_id == "ORD-1"
    assert _balanced(ledger) == (10, 2, 8)  # locked once
    assert len(ledger.occupancy("ORD-1")) == 1


def _one_cup_shop(
    tmp_path: Path,
) -> tuple[ManualClock, SQLiteOrderRepository, InventoryLedger, FlakySink, OrderService]:
    """One cup in stock, a sink that is up, unpaid locks held for 30 minutes."""
    clock = ManualClock(T0)
    path = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(path)
    ledger = InventoryLedger(SQLiteInventoryStore(path), secret=SECRET, clock=clock)
    ledger.receive("CUP", 1, reference="PO-1")
    sink = FlakySink()
    sink.down = False
    service = OrderService(
        repository, inventory=ledger, sink=sink, clock=clock,
        payment_timeout=timedelta(minutes=30),
    )
    return clock, repository, ledger, sink, service


def test_paid_order_shipping_after_a_day_still_takes_stock_out(tmp_path: Path) -> None:
    clock, repository, ledger, sink, service = _one_cup_shop(tmp_path)
    service.place(_order("ORD-A", cups=1))
    service.handle("ORD-A", _pay("ORD-A", 1))  # the payment confirms the reservation
    clock.advance(timedelta(hours=25))  # the warehouse is a day behind
    with pytest.raises(InsufficientStock):  # the cup is still A's
        service.place(_order("ORD-B", cups=1))
    service.handle("ORD-A", _event("ship", "ship-A", carrier="SF", waybill="SF1"))
    level = ledger.stock("CUP")
    assert (level.on_hand, level.locked, level.available) == (0, 0, 0)  # 1 received - 1 shipped
    assert ledger.verify(shipped={"ORD-A": {"CUP": 1}}).ok
    assert repository.pending(10) == []
    assert "event.OversellDetected" not in {m.topic for m in sink.accepted}


def test_a_late_payment_and_a_shipment_anyway_are_reported_not_hidden(tmp_path: Path) -> None:
    clock, _repository, ledger, sink, service = _one_cup_shop(tmp_path)
    service.place(_order("ORD-A", cups=1))
    clock.advance(timedelta(minutes=45))  # the lock lapsed; the platform still took the money
    late = attrs.evolve(_pay("ORD-A", 1), at=clock.now())  # paid now, after the lock fell due
    service.handle("ORD-A", late)
    lapsed = [m for m in sink.accepted if m.topic == "event.ReservationLapsed"]
    assert [m.payload["lines"] for m in lapsed] == [{"CUP": 1}]
    service.place(_order("ORD-B", cups=1))  # the cup was free again: B takes it
    service.handle("ORD-A", _event("ship", "ship-A", carrier="SF", waybill="SF1"))
    # The cup physically left for A: on_hand follows the warehouse, and the shortfall is
    # reported, never hidden.
    level = ledger.stock("CUP")
    assert (level.on_hand, level.locked, level.available) == (0, 1, -1)
    (oversell,) = [m for m in sink.accepted if m.topic == "event.OversellDetected"]
    assert (oversell.payload["sku"], oversell.payload["units"]) == ("CUP", 1)
    assert oversell.payload["order_ids"] == ["ORD-A"]
    assert not ledger.verify().ok


def _busy_hour(
    tmp_path: Path, *, relay_every: timedelta | None, spacing: timedelta, **settings: Any,
) -> tuple[ManualClock, Path, SQLiteOrderRepository, InventoryLedger, FlakySink]:
    """25 buyers of one SKU cancel their unpaid orders, ``spacing`` apart, wired as
    docs/outbox.md's SQLite story (``deliver=False`` and a relay): the relay runs after
    each cancel (``relay_every`` set) or once at the end, after an outage."""
    clock = ManualClock(T0)
    path = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(path)
    ledger = InventoryLedger(SQLiteInventoryStore(path), secret=SECRET, clock=clock, **settings)
    ledger.receive("CUP", 100, reference="PO-1")
    sink = FlakySink()
    sink.down = False
    service = OrderService(repository, inventory=ledger, sink=sink, clock=clock, deliver=False)
    relay = OutboxRelay(repository, inventory=ledger, sink=sink, clock=clock)
    for n in range(25):
        service.place(_order(f"ORD-{n}", cups=1))
        service.handle(f"ORD-{n}", Event("cancel", event_id=f"cancel-{n}", at=clock.now()))
        if relay_every is not None:
            relay.run_until_idle()
        clock.advance(spacing)
    relay.run_until_idle()
    assert repository.pending(100) == [] and repository.dead_letter_count() == 0
    return clock, path, repository, ledger, sink


def test_an_ordinary_hour_of_cancellations_returns_every_unit(tmp_path: Path) -> None:
    """The default breaker leaves a shop's normal cancellations alone: 25 in half an
    hour release all their units."""
    _clock, _path, _repository, ledger, sink = _busy_hour(
        tmp_path, relay_every=timedelta(0), spacing=timedelta(minutes=1)
    )
    assert _balanced(ledger) == (100, 0, 100)
    assert "event.ReleaseParked" not in {m.topic for m in sink.accepted}


def test_a_relay_catching_up_judges_the_breaker_by_when_the_cancels_were_decided(
    tmp_path: Path,
) -> None:
    """25 cancels over ten hours, delivered in one go after an outage: no hour held more
    than the limit, so nothing is parked however fast the relay catches up."""
    _clock, _path, _repository, ledger, _sink = _busy_hour(
        tmp_path, relay_every=None, spacing=timedelta(minutes=25), release_limit=20
    )
    assert _balanced(ledger) == (100, 0, 100)
    assert ledger.pending_review() == ()


def test_a_parked_release_is_told_and_waits_for_a_person(tmp_path: Path) -> None:
    """A breaker tripped by cancels (a shop that set it low): every parked release
    reaches the sink as a ReleaseParked, verify() is not ok and names it, and
    ``orderkit dead-letters`` lists it and exits 1, until a person approves it."""
    from orderkit.cli import main

    _clock, path, repository, ledger, sink = _busy_hour(
        tmp_path, relay_every=timedelta(0), spacing=timedelta(minutes=1), release_limit=20
    )
    assert ledger.stock("CUP").locked == 5  # held back: the 21st to 25th cancels
    told = [m.payload for m in sink.accepted if m.topic == "event.ReleaseParked"]
    assert [(p["order_id"], p["sku"], p["units"]) for p in told] == [
        (f"ORD-{n}", "CUP", 1) for n in range(20, 25)
    ]
    pending = ledger.pending_review()
    assert [p.entry_id for p in pending] == [p["entry_id"] for p in told]
    report = ledger.verify()
    assert not report.ok
    assert [(p.order_id, p.sku, p.units) for p in report.parked] == [
        (f"ORD-{n}", "CUP", 1) for n in range(20, 25)
    ]
    assert main(["dead-letters", "--db", str(path)]) == 1  # a person is needed
    for parked in pending:
        assert ledger.approve_release(parked.entry_id, actor="ops-lead").outcome == "released"
    assert _balanced(ledger) == (100, 0, 100)
    assert main(["dead-letters", "--db", str(path)]) == 0
    assert repository.get("ORD-24").status.name == "CANCELLED"
