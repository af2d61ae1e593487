"""A host wraps ``OrderService`` calls in its own ``repository.atomic()`` block: what the
decisions owe is delivered once the host's block commits, and never when it rolls back,
on every adapter alike."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from orderkit import Money, Order, OrderLine, OrderStatus
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.postgres import PostgresInventoryStore, PostgresOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.lifecycle.ports import OrderRepository
from orderkit.outbox import OutboxRelay
from orderkit.testing import ManualClock
from orderkit.testing.postgres import fresh_schema

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
SECRET = b"delivery-after-commit-0123456789"


class Sink:
    """Keeps what it was told, by message id (a second delivery changes nothing)."""

    def __init__(self) -> None:
        self.topics: list[str] = []
        self._seen: set[str] = set()

    def publish(self, events: Sequence[object]) -> None:
        for event in events:
            key = str(getattr(event, "message_id", ""))
            if key not in self._seen:
                self._seen.add(key)
                self.topics.append(str(getattr(event, "topic", "")))


class HostFailed(Exception):
    """The host's own work after orderkit's call failed: its block rolls back."""


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def shop(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[OrderRepository, InventoryLedger]:
    clock = ManualClock(T0)
    repository: OrderRepository
    store: object
    if request.param == "memory":
        memory = MemoryOrderRepository()
        repository, store = memory, MemoryInventoryStore(memory.database)
    elif request.param == "sqlite":
        repository = SQLiteOrderRepository(tmp_path / "shop.db")
        store = SQLiteInventoryStore(tmp_path / "shop.db")
    else:
        dsn = request.getfixturevalue("pg_dsn")
        postgres = PostgresOrderRepository(dsn, schema=fresh_schema())
        repository, store = postgres, PostgresInventoryStore(postgres.database)
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)  # type: ignore[arg-type]
    ledger.receive("CUP", 3, reference="PO-1")
    return repository, ledger


def _placed(repository: OrderRepository, ledger: InventoryLedger, sink: Sink) -> OrderService:
    service = OrderService(repository, inventory=ledger, sink=sink, clock=ManualClock(T0))
    service.place(Order("ORD-1", "shop", "1", [OrderLine("1", "CUP", 2, Money("10.00", "CNY"))],
                        T0))
    sink.topics.clear()
    return service


def test_a_cancel_in_a_host_block_that_rolls_back_tells_no_one_and_keeps_the_stock(
    shop: tuple[OrderRepository, InventoryLedger],
) -> None:
    repository, ledger = shop
    sink = Sink()
    service = _placed(repository, ledger, sink)
    with contextlib.suppress(HostFailed), repository.atomic():
        service.handle("ORD-1", Event("cancel", event_id="c-1", at=T0))
        assert sink.topics == []  # nothing is delivered inside the host's block
        raise HostFailed
    assert repository.get("ORD-1").status is OrderStatus.PENDING_PAYMENT
    assert sink.topics == []
    assert ledger.stock("CUP").locked == 2  # the lock of an order still open stays
    assert list(repository.pending(10)) == []
    assert ledger.verify().ok


def test_a_cancel_in_a_host_block_that_commits_is_delivered_once_after_the_commit(
    shop: tuple[OrderRepository, InventoryLedger],
) -> None:
    repository, ledger = shop
    sink = Sink()
    service = _placed(repository, ledger, sink)
    with repository.atomic():
        with repository.atomic():  # nested: only the outermost block's commit delivers
            service.handle("ORD-1", Event("cancel", event_id="c-1", at=T0))
        assert sink.topics == []
        assert ledger.stock("CUP").locked == 2
    assert repository.get("ORD-1").status is OrderStatus.CANCELLED
    assert sink.topics == ["event.OrderCancelled", "event.StatusChanged"]
    assert ledger.stock("CUP").locked == 0
    assert list(repository.pending(10)) == []
    assert service.last_delivery is not None and service.last_delivery.delivered == 3
    assert OutboxRelay(repository, inventory=ledger, sink=sink).run_once().delivered == 0
    assert sink.topics == ["event.OrderCancelled", "event.StatusChanged"]  # once


def test_a_host_callback_that_fails_after_the_commit_leaves_the_delivery_done(
    shop: tuple[OrderRepository, InventoryLedger],
) -> None:
    """The host's own callback, registered before orderkit's delivery, raises after the
    commit: the delivery runs all the same, and the error says the block committed."""
    repository, ledger = shop
    sink = Sink()
    service = _placed(repository, ledger, sink)

    def refresh_cache() -> None:
        raise HostFailed("the host's cache refresh failed")

    def host_block() -> None:
        with repository.atomic():
            repository.after_commit(refresh_cache)
            service.handle("ORD-1", Event("cancel", event_id="c-1", at=T0))

    with pytest.raises(HostFailed) as raised:
        host_block()
    assert any("committed" in note for note in raised.value.__notes__)
    assert repository.get("ORD-1").status is OrderStatus.CANCELLED
    assert sink.topics == ["event.OrderCancelled", "event.StatusChanged"]
    assert ledger.stock("CUP").locked == 0
    assert list(repository.pending(10)) == []


def test_a_place_in_a_host_block_that_rolls_back_keeps_no_lock(
    shop: tuple[OrderRepository, InventoryLedger],
) -> None:
    """The order goes with the host's rollback, and so does the stock it locked (the
    memory ledger joins the repository's block when built on its ``database``)."""
    repository, ledger = shop
    service = OrderService(repository, inventory=ledger, sink=Sink(), clock=ManualClock(T0))
    with contextlib.suppress(HostFailed), repository.atomic():
        service.place(Order("ORD-9", "shop", "9", [OrderLine("1", "CUP", 3, Money("1", "CNY"))],
                            T0))
        assert ledger.stock("CUP").locked == 3
        raise HostFailed
    assert repository.find_by_channel("shop", "9") is None
    stock = ledger.stock("CUP")
    assert (stock.on_hand, stock.locked, stock.available) == (3, 0, 3)
    assert ledger.held(["ORD-9"]) == {"ORD-9": {}}
    assert ledger.verify().ok


def test_a_reserve_in_a_host_block_that_rolls_back_leaves_the_order_waiting(
    shop: tuple[OrderRepository, InventoryLedger],
) -> None:
    repository, ledger = shop
    service = OrderService(repository, inventory=ledger, sink=Sink(), clock=ManualClock(T0))
    waiting = Order("ORD-W", "shop", "W", [OrderLine("1", "POT", 1, Money("1", "CNY"))], T0)
    (placed,) = service.place_many([(waiting, ())], wait_for_stock=True)
    assert isinstance(placed, Order) and service.waits_for_stock(placed)
    ledger.receive("POT", 1, reference="PO-2")
    with contextlib.suppress(HostFailed), repository.atomic():
        assert service.reserve(["ORD-W"], at=T0) == {}
        raise HostFailed
    assert repository.get("ORD-W").lock_id is None
    assert ledger.stock("POT").locked == 0
    assert ledger.held(["ORD-W"]) == {"ORD-W": {}}
    assert service.reserve(["ORD-W"], at=T0) == {}  # the unit is free to take again
    assert ledger.stock("POT").locked == 1
    assert ledger.verify().ok


def test_on_the_hosts_own_connection_delivery_is_left_to_the_relay(
    pg_dsn: str,
) -> None:
    """orderkit cannot see the commit of a transaction it did not open: a decision made in
    the host's transaction is delivered by the relay the host runs, never before."""
    schema = fresh_schema()
    with psycopg.connect(pg_dsn) as host:
        repository = PostgresOrderRepository(host, schema=schema)
        ledger = InventoryLedger(PostgresInventoryStore(repository.database), secret=SECRET,
                                 clock=ManualClock(T0))
        ledger.receive("CUP", 3, reference="PO-1")
        host.commit()
        sink = Sink()
        service = _placed(repository, ledger, sink)
        host.commit()
        relay = OutboxRelay(repository, inventory=ledger, sink=sink, clock=ManualClock(T0))
        relay.run_once()  # the placement's own messages
        host.commit()
        sink.topics.clear()
        service.handle("ORD-1", Event("cancel", event_id="c-1", at=T0))
        host.rollback()
        assert repository.get("ORD-1").status is OrderStatus.PENDING_PAYMENT
        assert sink.topics == [] and ledger.stock("CUP").locked == 2
        service.handle("ORD-1", Event("cancel", event_id="c-1", at=T0))
        host.commit()
        assert sink.topics == [] and ledger.stock("CUP").locked == 2  # not seen: owed
        assert relay.run_once().delivered == 3
        host.commit()
        assert sink.topics == ["event.OrderCancelled", "event.StatusChanged"]
        assert ledger.stock("CUP").locked == 0
