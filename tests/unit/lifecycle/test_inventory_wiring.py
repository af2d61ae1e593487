"""OrderService with a real InventoryLedger: stock follows the order, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.model.errors import (
    DuplicateOrder,
    InsufficientStock,
    OrderNotFound,
    ValidationError,
)
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine, OrderStatus, Payment
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
SECRET = b"a secret of sixteen bytes or more"


@pytest.fixture(params=["memory", "sqlite"])
def wired(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[OrderService, Any]:
    clock = ManualClock(T0)
    if request.param == "memory":
        store: Any = MemoryInventoryStore()
        repository: Any = MemoryOrderRepository()
    else:
        store = SQLiteInventoryStore(tmp_path / "shop.db")
        repository = SQLiteOrderRepository(tmp_path / "shop.db")
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)
    ledger.receive("TEA", 10, reference="PO-1")
    ledger.receive("CUP", 5, reference="PO-1")
    return OrderService(repository, clock=clock, inventory=ledger), ledger


def order(order_id: str = "ORD-1") -> Order:
    return Order(
        order_id=order_id, channel="tmall", channel_order_id=f"T-{order_id}",
        lines=[
            OrderLine("L1", "TEA", 3, Money("10.00", "CNY")),
            OrderLine("L2", "CUP", 2, Money("5.00", "CNY")),
            OrderLine("L3", "TEA", 2, Money("10.00", "CNY")),
        ],
        created_at=T0,
    )


def event(name: str, event_id: str, **data: Any) -> Event:
    return Event(name, event_id=event_id, at=T0, data=data)


def levels(ledger: Any, sku: str) -> tuple[int, int, int]:
    level = ledger.stock(sku)
    return level.on_hand, level.locked, level.available


def test_placing_an_order_locks_its_lines_summed_per_sku(wired: Any) -> None:
    service, ledger = wired
    placed = service.place(order())
    assert placed.lock_id is not None
    assert service.repository.get("ORD-1").lock_id == placed.lock_id
    assert levels(ledger, "TEA") == (10, 5, 5)
    assert levels(ledger, "CUP") == (5, 2, 3)


def test_partial_cancel_releases_only_cancelled_lines_once(wired: Any) -> None:
    service, ledger = wired
    service.place(order())
    cancel = event("cancel_lines", "c-1", lines={"L1": 2})
    service.handle("ORD-1", cancel)
    assert levels(ledger, "TEA") == (10, 3, 7)
    assert levels(ledger, "CUP") == (5, 2, 3)
    for _ in range(3):
        assert service.handle("ORD-1", cancel).changed is False
    assert levels(ledger, "TEA") == (10, 3, 7)


def test_cancel_releases_the_rest(wired: Any) -> None:
    service, ledger = wired
    service.place(order())
    service.handle("ORD-1", event("cancel_lines", "c-1", lines={"L2": 1}))
    service.handle("ORD-1", event("cancel", "c-2"))
    service.handle("ORD-1", event("cancel", "c-2"))
    assert service.repository.get("ORD-1").status is OrderStatus.CANCELLED
    assert levels(ledger, "TEA") == (10, 0, 10)
    assert levels(ledger, "CUP") == (5, 0, 5)


def test_ship_commits_what_ships_and_a_replay_commits_nothing(wired: Any) -> None:
    service, ledger = wired
    service.place(order())
    service.handle("ORD-1", event("pay", "p-1", amount=Money("60.00", "CNY")))
    ship = event("ship", "s-1", carrier="SF", waybill="SF1", lines={"L1": 3, "L2": 2})
    service.handle("ORD-1", ship)
    service.handle("ORD-1", ship)
    assert levels(ledger, "TEA") == (7, 2, 5)
    assert levels(ledger, "CUP") == (3, 0, 3)
    assert ledger.verify().ok


def test_carrier_scan_on_a_lost_ship_event_commits_the_stock(wired: Any) -> None:
    service, ledger = wired
    service.place(order())
    service.handle("ORD-1", event("pay", "p-1", amount=Money("60.00", "CNY")))
    scan = event("track", "scan-1", status="in_transit", carrier_time=T0 + timedelta(hours=3))
    service.handle("ORD-1", scan)
    assert levels(ledger, "TEA") == (5, 0, 5)
    assert levels(ledger, "CUP") == (3, 0, 3)


def test_failed_lock_stores_no_order(wired: Any) -> None:
    service, ledger = wired
    greedy = Order(
        order_id="ORD-2", channel="tmall", channel_order_id="T-2",
        lines=[OrderLine("L1", "CUP", 6, Money("5.00", "CNY"))], created_at=T0,
    )
    with pytest.raises(InsufficientStock):
        service.place(greedy)
    with pytest.raises(OrderNotFound):
        service.repository.get("ORD-2")
    assert levels(ledger, "CUP") == (5, 0, 5)


def test_placing_a_stored_order_again_is_a_duplicate_and_locks_nothing(wired: Any) -> None:
    service, ledger = wired
    service.place(order())
    with pytest.raises(DuplicateOrder) as caught:
        service.place(order())
    assert caught.value.existing_order_id == "ORD-1"
    assert levels(ledger, "TEA") == (10, 5, 5)


def test_refunding_unshipped_units_releases_their_stock(wired: Any) -> None:
    service, ledger = wired
    service.place(order())
    service.handle("ORD-1", event("pay", "p-1", amount=Money("60.00", "CNY")))
    service.handle("ORD-1", event("refund", "r-1", amount=Money("5.00", "CNY"),
                                  lines={"L2": 1}))
    assert levels(ledger, "CUP") == (5, 1, 4)
    assert levels(ledger, "TEA") == (10, 5, 5)


@pytest.mark.parametrize("status", [OrderStatus.PAID, OrderStatus.PACKED])
def test_placing_a_paid_order_confirms_its_lock_so_it_never_lapses(
    wired: Any, status: OrderStatus
) -> None:
    service, ledger = wired
    paid = attrs.evolve(order("ORD-P"), status=status,
                        payments=[Payment("alipay-1", Money("80.00", "CNY"), T0)])
    service.place(paid)
    service.lifecycle.clock.advance(timedelta(days=3))  # type: ignore[attr-defined]
    ledger.expire_due()
    assert levels(ledger, "TEA") == (10, 5, 5)  # still held: the lock was confirmed
    service.place(order("ORD-Q"))  # another order takes what is left, not the paid units
    service.handle("ORD-P", event("ship", "ship-P", carrier="SF", waybill="SF1"))
    assert ledger.verify().oversold == ()
    assert levels(ledger, "TEA") == (5, 5, 0)


@pytest.mark.parametrize("status", [OrderStatus.CANCELLED, OrderStatus.CLOSED,
                                    OrderStatus.COMPLETED, OrderStatus.DELIVERED])
def test_placing_an_ended_order_with_open_units_is_refused_before_anything(
    wired: Any, status: OrderStatus
) -> None:
    service, ledger = wired
    with pytest.raises(ValidationError) as info:
        service.place(attrs.evolve(order("ORD-X"), status=status))
    assert status.name in info.value.reason
    assert info.value.value == {"L1": 3, "L2": 2, "L3": 2}
    with pytest.raises(OrderNotFound):
        service.repository.get("ORD-X")
    assert levels(ledger, "TEA") == (10, 0, 10)
    assert levels(ledger, "CUP") == (5, 0, 5)


def test_an_ended_order_with_its_units_in_their_buckets_is_placed(wired: Any) -> None:
    service, ledger = wired
    cancelled = Order(
        order_id="ORD-C", channel="tmall", channel_order_id="T-C",
        lines=[OrderLine("L1", "TEA", 3, Money("10.00", "CNY"),
                         quantities={"cancelled": 3})],
        created_at=T0, status=OrderStatus.CANCELLED,
    )
    placed = service.place(cancelled)
    assert placed.lock_id is None
    assert levels(ledger, "TEA") == (10, 0, 10)


def test_place_many_refuses_only_the_ended_order_with_open_units(wired: Any) -> None:
    service, ledger = wired
    results = service.place_many([
        (attrs.evolve(order("ORD-X"), status=OrderStatus.CANCELLED), ()),
        (order("ORD-Y"), ()),
    ])
    assert isinstance(results[0], ValidationError)
    assert isinstance(results[1], Order) and results[1].lock_id is not None
    assert levels(ledger, "TEA") == (10, 5, 5)
