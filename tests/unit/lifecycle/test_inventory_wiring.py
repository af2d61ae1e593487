"""OrderService with a real InventoryLedger: stock follows the order, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import DEFAULT_TABLE, Event, Lifecycle, LinesUnshipped, OrderService
from orderkit.model.errors import (
    DuplicateOrder,
    InsufficientStock,
    OrderNotFound,
    ValidationError,
)
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine, OrderStatus, Payment, Shipment
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
SECRET = b"a secret of sixteen bytes or more"


@pytest.fixture
def wired(stores: tuple[Any, Any]) -> tuple[OrderService, Any]:
    clock = ManualClock(T0)
    repository, store = stores
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
    scan = attrs.evolve(event("track", "scan-1", status="in_transit",
                              carrier_time=T0 + timedelta(hours=3)), at=T0 + timedelta(hours=3))
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


@pytest.mark.parametrize("bad", [
    pytest.param(lambda: order("ORD-Z"), id="a bare order"),
    pytest.param(lambda: ("x",), id="one item"),
    pytest.param(lambda: None, id="none"),
    pytest.param(lambda: (order("ORD-Z"), None), id="no transitions"),
    pytest.param(lambda: (order("ORD-Z"), ["t"]), id="not a transition"),
    pytest.param(lambda: ("x", ()), id="not an order"),
])
def test_place_many_refuses_a_malformed_placement_naming_it_before_anything(
    wired: Any, bad: Any
) -> None:
    service, ledger = wired
    with pytest.raises(ValidationError) as info:
        service.place_many([(order("ORD-Y"), ()), bad()])
    assert info.value.path == "placements[1]"
    with pytest.raises(OrderNotFound):
        service.repository.get("ORD-Y")
    assert levels(ledger, "TEA") == (10, 0, 10)
    with pytest.raises(ValidationError) as info:
        service.place_many(None)
    assert info.value.path == "placements"


def handed_over(order_id: str, shipped: dict[str, int], **extra: Any) -> Order:
    """An order placed with ``shipped`` units (line id -> units) already out, paid."""
    lines = [OrderLine("L1", "TEA", 3, Money("10.00", "CNY")),
             OrderLine("L2", "CUP", 2, Money("5.00", "CNY"))]
    lines = [attrs.evolve(line, quantities={
        "shipped": shipped.get(line.line_id, 0),
        "open": line.quantity - shipped.get(line.line_id, 0),
    }) for line in lines]
    return Order(
        order_id=order_id, channel="pos", channel_order_id=f"R-{order_id}", lines=lines,
        created_at=extra.pop("created_at", T0), status=extra.pop("status", OrderStatus.SHIPPED),
        paid_at=T0, payments=[Payment("p1", Money("40.00", "CNY"), T0)], **extra,
    )


def counted_at(wired: Any, counted: datetime) -> tuple[OrderService, Any]:
    """A service over the same stores whose ledger was opened by a count at ``counted``,
    an hour ago."""
    service, ledger = wired
    clock = service.lifecycle.clock
    clock.set(counted + timedelta(hours=1))
    return OrderService(service.repository, clock=clock, inventory=ledger,
                        stock_counted_at=counted), ledger


def test_an_order_placed_with_shipped_units_takes_them_out_of_stock_once(wired: Any) -> None:
    service, ledger = wired
    placed = service.place(handed_over("POS-1", {"L1": 3, "L2": 1}))
    assert levels(ledger, "TEA") == (7, 0, 7)
    assert levels(ledger, "CUP") == (4, 1, 3)  # the open cup is locked, the other left
    assert service.relay is not None and service.relay.run_once().delivered == 0
    assert ledger.restock({"TEA": 3}, order_id="POS-1", ref="rma-1").outcome == "restocked"
    assert ledger.verify(shipped={"POS-1": {"TEA": 3, "CUP": 1}}).ok
    assert placed.lock_id is not None


def test_a_shipment_of_an_order_without_a_lock_takes_its_units_out_of_stock(
    wired: Any,
) -> None:
    service, ledger = wired
    bare = OrderService(service.repository, clock=service.lifecycle.clock)  # no ledger
    stored = bare.place(attrs.evolve(order(), status=OrderStatus.PAID, paid_at=T0))
    assert stored.lock_id is None and levels(ledger, "TEA") == (10, 0, 10)
    service.handle("ORD-1", event("ship", "s1", carrier="SF", waybill="SF1",
                                  lines={"L1": 2, "L2": 2}))
    assert levels(ledger, "TEA") == (8, 0, 8)
    assert levels(ledger, "CUP") == (3, 0, 3)
    assert ledger.verify(shipped={"ORD-1": {"TEA": 2, "CUP": 2}}).ok


def test_units_shipped_before_the_stock_count_are_recorded_not_taken_again(
    wired: Any,
) -> None:
    counted = T0 + timedelta(days=1)
    going_live, ledger = counted_at(wired, counted)
    # Two shipments: one before the count, one after; a shipment without shipped_at
    # is dated by the order's created_at (before the count here).
    going_live.place(handed_over("OLD-1", {"L1": 3, "L2": 2}, shipments=[
        Shipment("s1", "SF", "SF1", {"L1": 2}, shipped_at=counted - timedelta(hours=1)),
        Shipment("s2", "SF", "SF2", {"L1": 1, "L2": 1}, shipped_at=counted),
        Shipment("s3", "SF", "SF3", {"L2": 1}, shipped_at=counted + timedelta(seconds=1)),
    ]))
    assert levels(ledger, "TEA") == (10, 0, 10)
    assert levels(ledger, "CUP") == (4, 0, 4)  # only s3 left after the count
    going_live.place(handed_over("OLD-2", {"L1": 1}, shipments=[
        Shipment("s4", "SF", "SF4", {"L1": 1})]))
    assert levels(ledger, "TEA") == (10, 2, 8)  # no shipped_at: created before the count
    # An order created after the count ships after it, whatever its shipments say.
    going_live.place(handed_over("NEW-1", {"L1": 1}, created_at=counted + timedelta(hours=1)))
    assert levels(ledger, "TEA") == (9, 4, 5)
    report = ledger.verify(shipped={"OLD-1": {"TEA": 3, "CUP": 2}, "OLD-2": {"TEA": 1},
                                    "NEW-1": {"TEA": 1}})
    assert report.ok and report.mismatches == ()


def test_a_replayed_shipment_before_the_count_lets_the_lock_go_without_taking_stock(
    wired: Any,
) -> None:
    going_live, ledger = counted_at(wired, T0 + timedelta(days=1))
    going_live.place(order())
    assert levels(ledger, "TEA") == (10, 5, 5)
    going_live.handle("ORD-1", event("pay", "p1", amount=Money("60.00", "CNY")))
    going_live.handle("ORD-1", event("ship", "s1", carrier="SF", waybill="SF1"))
    assert levels(ledger, "TEA") == (10, 0, 10)
    assert levels(ledger, "CUP") == (5, 0, 5)
    assert ledger.verify(shipped={"ORD-1": {"TEA": 5, "CUP": 2}}).ok


def test_a_stock_count_time_must_be_aware(wired: Any) -> None:
    service, _ledger = wired
    with pytest.raises(ValidationError) as refused:
        OrderService(service.repository, stock_counted_at=datetime(2026, 3, 1))
    assert refused.value.path == "stock_counted_at"


def test_history_placed_with_its_shipment_before_the_count_locks_nothing_it_shipped(
    wired: Any,
) -> None:
    counted = T0 + timedelta(days=1)
    going_live, ledger = counted_at(wired, counted)
    # A batch as a go-live backfill places it: last month's order (paid, then shipped
    # before the count) first, then a paid order still on the shelf, short stock.
    tight = [OrderLine("L1", "TEA", 8, Money("10.00", "CNY"))]
    old = attrs.evolve(order("OLD-1"), lines=tight)
    steps = iter([
        event("pay", "p-old", amount=Money("80.00", "CNY")),
        Event("ship", event_id="s-old", at=counted - timedelta(hours=2),
              data={"carrier": "SF", "waybill": "SF-OLD"}),
    ])
    history = going_live.decide(old, lambda _order: next(steps, None))
    waiting = attrs.evolve(order("WAIT-1"), lines=tight, status=OrderStatus.PAID, paid_at=T0)
    placed = going_live.place_many([(old, history), (waiting, ())])
    assert isinstance(placed[0], Order) and placed[0].lock_id is None
    assert isinstance(placed[1], Order) and placed[1].lock_id is not None
    assert levels(ledger, "TEA") == (10, 8, 2)  # the waiting order holds its 8
    # A third order from before the count that the shelf cannot cover is short of stock
    # like any other: refused, nothing written.
    with pytest.raises(InsufficientStock):
        going_live.place(attrs.evolve(order("OLD-2"), lines=tight))
    assert ledger.verify(shipped={"OLD-1": {"TEA": 8}}).ok


def test_a_shipment_before_the_count_of_units_outside_the_lock_is_recorded(wired: Any) -> None:
    counted = T0 + timedelta(days=1)
    going_live, ledger = counted_at(wired, counted)
    # Placed part shipped (L1 out before the count): the lock holds the cups only.
    part = handed_over("PART-1", {"L1": 3}, shipments=[
        Shipment("s0", "SF", "SF0", {"L1": 3}, shipped_at=counted - timedelta(hours=3))])
    part = attrs.evolve(part, lines=[
        attrs.evolve(part.lines[0], quantity=5, quantities={"shipped": 3, "open": 2}),
        part.lines[1],
    ], payments=[Payment("p1", Money("60.00", "CNY"), T0)])
    placed = going_live.place(part)
    assert levels(ledger, "TEA") == (10, 2, 8) and levels(ledger, "CUP") == (5, 2, 3)
    # The rest of it is replayed as shipped before the count too, teas and cups.
    going_live.handle("PART-1", Event("ship", event_id="s1", at=counted - timedelta(hours=1),
                                      data={"carrier": "SF", "waybill": "SF1"}))
    assert placed.lock_id is not None
    assert levels(ledger, "TEA") == (10, 0, 10) and levels(ledger, "CUP") == (5, 0, 5)
    assert ledger.verify(shipped={"PART-1": {"TEA": 5, "CUP": 2}}).ok


def test_a_count_still_to_come_is_refused(wired: Any) -> None:
    service, _ledger = wired
    with pytest.raises(ValidationError) as refused:
        OrderService(service.repository, clock=service.lifecycle.clock,
                     stock_counted_at=T0 + timedelta(seconds=1))
    assert refused.value.path == "stock_counted_at" and "later than now" in str(refused.value)


def test_two_copies_of_one_order_in_a_batch_store_the_first(wired: Any) -> None:
    service, ledger = wired
    first = handed_over("DUP-1", {"L1": 3, "L2": 2})
    stale = attrs.evolve(order("DUP-1"), channel="pos", channel_order_id="R-DUP-1",
                         status=OrderStatus.PAID, paid_at=T0)
    results = service.place_many([(first, ()), (stale, ())])
    assert isinstance(results[0], Order) and isinstance(results[1], DuplicateOrder)
    assert service.repository.get("DUP-1").status == OrderStatus.SHIPPED
    assert levels(ledger, "TEA") == (7, 0, 7)  # shipped, not locked by the stale copy


def test_an_event_named_like_the_placement_does_not_collide_with_its_messages(
    wired: Any,
) -> None:
    service, ledger = wired
    service.place(handed_over("POS-9", {"L1": 1}))
    service.handle("POS-9", event("ship", "place", carrier="SF", waybill="SF9",
                                  lines={"L1": 2}))
    assert levels(ledger, "TEA") == (7, 0, 7)
    assert service.repository.dead_letters() == []


def test_units_refunded_after_they_shipped_left_the_shelf_and_returned_ones_came_back(
    wired: Any,
) -> None:
    service, ledger = wired
    kept = handed_over("POS-K", {"L1": 1}, shipments=[Shipment("s1", "SF", "SF1", {"L1": 3})])
    kept = attrs.evolve(kept, lines=[
        attrs.evolve(kept.lines[0], quantities={"shipped": 1, "refunded": 1, "returned": 1}),
        attrs.evolve(kept.lines[1], quantities={"cancelled": 2}),
    ])
    service.place(kept)
    # Three teas left; one came back (RETURNED), one was refunded and kept by the buyer.
    assert levels(ledger, "TEA") == (8, 0, 8)
    assert ledger.verify(shipped={"POS-K": {"TEA": 2}}).ok


def test_cancelled_units_never_left_whatever_an_order_level_waybill_carries(
    wired: Any,
) -> None:
    service, ledger = wired
    # A map with one waybill for the whole order says it carries every unit.
    cut = handed_over("JD-1", {"L1": 2}, shipments=[
        Shipment("s1", "JD", "JDV1", {"L1": 3, "L2": 2})])
    cut = attrs.evolve(cut, lines=[
        attrs.evolve(cut.lines[0], quantities={"shipped": 2, "cancelled": 1}),
        attrs.evolve(cut.lines[1], quantities={"cancelled": 2}),
    ])
    service.place(cut)
    assert levels(ledger, "TEA") == (8, 0, 8) and levels(ledger, "CUP") == (5, 0, 5)


def test_a_lock_keeps_the_units_still_to_ship_when_history_is_recorded(wired: Any) -> None:
    counted = T0 + timedelta(days=1)
    going_live, ledger = counted_at(wired, counted)
    three = [OrderLine("L1", "TEA", 3, Money("10.00", "CNY")),
             OrderLine("L2", "CUP", 1, Money("5.00", "CNY"))]
    before = Event("ship", event_id="s1", at=counted - timedelta(hours=1),
                   data={"carrier": "SF", "waybill": "SF1", "lines": {"L1": 2, "L2": 1}})
    # Replayed in one placement: the lock never held what left before the count.
    steps = iter([event("pay", "p1", amount=Money("35.00", "CNY")), before])
    replayed = attrs.evolve(order("OLD-1"), lines=three)
    history = going_live.decide(replayed, lambda _order: next(steps, None))
    going_live.place_many([(replayed, history)])
    assert levels(ledger, "TEA") == (10, 1, 9) and levels(ledger, "CUP") == (5, 0, 5)
    # Placed first, its shipment before the count handled later: the lock held it all.
    going_live.place(attrs.evolve(order("OLD-2"), lines=three))
    going_live.handle("OLD-2", event("pay", "p2", amount=Money("35.00", "CNY")))
    going_live.handle("OLD-2", attrs.evolve(before, event_id="s2"))
    assert levels(ledger, "TEA") == (10, 2, 8) and levels(ledger, "CUP") == (5, 0, 5)
    assert service_dead_letters(going_live) == []
    assert ledger.verify(shipped={"OLD-1": {"TEA": 2, "CUP": 1},
                                  "OLD-2": {"TEA": 2, "CUP": 1}}).ok


def service_dead_letters(service: OrderService) -> list[Any]:
    return list(service.repository.dead_letters())


def test_history_cancelled_or_refunded_before_shipping_needs_no_stock(wired: Any) -> None:
    counted = T0 + timedelta(days=1)
    going_live, ledger = counted_at(wired, counted)
    big = attrs.evolve(order("OLD-C"), lines=[OrderLine("L1", "TEA", 40, Money("1.00", "CNY"))])
    steps = iter([event("cancel", "c1")])
    history = going_live.decide(big, lambda _order: next(steps, None))
    (placed,) = going_live.place_many([(big, history)])
    assert isinstance(placed, Order) and placed.status == OrderStatus.CANCELLED
    assert levels(ledger, "TEA") == (10, 0, 10)


def test_a_return_of_a_unit_that_never_shipped_is_refused_and_the_real_one_restocks(
    wired: Any,
) -> None:
    service, ledger = wired
    service.place(order())
    service.handle("ORD-1", event("pay", "p-1", amount=Money("60.00", "CNY")))
    service.handle("ORD-1", event("refund", "r-1", amount=Money("5.00", "CNY"),
                                  lines={"L2": 1}))  # before it shipped: back on the shelf
    service.handle("ORD-1", event("ship", "s-1", carrier="SF", waybill="SF1"))
    service.handle("ORD-1", event("deliver", "d-1"))
    assert levels(ledger, "CUP") == (4, 0, 4)
    with pytest.raises(ValidationError) as info:
        service.handle("ORD-1", event("return_received", "rx-1", lines={"L2": 2},
                                      sellable={"L2": 2}))
    assert info.value.path == "data.lines['L2']"
    service.handle("ORD-1", event("return_received", "rx-2", lines={"L2": 1},
                                  sellable={"L2": 1}))
    assert levels(ledger, "CUP") == (5, 0, 5)
    assert ledger.verify().ok


def test_placing_in_a_status_the_services_table_does_not_know_is_refused(
    wired: Any,
) -> None:
    # One worker wired without the host's extended table: status 22 takes no event
    # there, so its lock (confirmed: the order is paid) would never end.
    service, ledger = wired
    with pytest.raises(ValidationError) as info:
        service.place(attrs.evolve(order("ORD-X"), status=22, paid_at=T0))
    assert "22" in info.value.reason and "does not know" in info.value.reason
    assert info.value.value == {"L1": 3, "L2": 2, "L3": 2}
    with pytest.raises(OrderNotFound):
        service.repository.get("ORD-X")
    assert levels(ledger, "TEA") == (10, 0, 10)


def test_placing_in_a_host_status_is_judged_by_where_the_status_leads(wired: Any) -> None:
    service, ledger = wired
    table = DEFAULT_TABLE.extend(
        [(10, "submit_review", 22), (22, "approve_review", 20),
         (20, "hand_to_wms", 23), (23, "wms_delivered", 40)],
        statuses={22: "AWAITING_REVIEW", 23: "AT_WMS"},
        events={"submit_review", "approve_review", "hand_to_wms", "wms_delivered"},
    )
    host = OrderService(service.repository, inventory=service.inventory,
                        clock=service.lifecycle.clock,
                        lifecycle=Lifecycle(table, clock=service.lifecycle.clock))
    with pytest.raises(ValidationError) as info:
        host.place(attrs.evolve(order("ORD-X"), status=23, paid_at=T0))
    assert "AT_WMS" in info.value.reason
    placed = host.place(attrs.evolve(order("ORD-Y"), status=22))
    assert placed.lock_id is not None
    assert levels(ledger, "TEA") == (10, 5, 5)


def test_an_order_with_nothing_to_pay_is_paid_by_a_zero_payment_and_ships(wired: Any) -> None:
    # A gift sent at no charge: placed at 0.00, nothing is due.
    service, ledger = wired
    free = Order(order_id="ORD-X", channel="shop", channel_order_id="X",
                 lines=[OrderLine("1", "CUP", 1, Money("0.00", "CNY"))], created_at=T0)
    service.place(free)
    paid = service.handle("ORD-X", event("pay", "pay-0", amount=Money("0.00", "CNY"))).order
    assert (paid.status, paid.paid_at, paid.totals.due) == (
        OrderStatus.PAID, T0, Money("0.00", "CNY"))
    service.lifecycle.clock.advance(timedelta(hours=25))  # type: ignore[attr-defined]
    ledger.expire_due()
    assert levels(ledger, "CUP") == (5, 1, 4)  # confirmed like any paid order's lock
    service.handle("ORD-X", event("ship", "ship-X", carrier="SF", waybill="SF1"))
    assert levels(ledger, "CUP") == (4, 0, 4)
    assert ledger.verify().ok


def test_a_ship_after_a_scan_without_waybill_is_found_by_its_waybill(wired: Any) -> None:
    service, ledger = wired
    service.place(order())
    service.handle("ORD-1", event("pay", "p-1", amount=Money("60.00", "CNY")))
    scanned_at = T0 + timedelta(hours=2)
    service.handle("ORD-1", Event("track", event_id="scan-1", at=scanned_at,
                                  data={"status": "in_transit", "carrier_time": scanned_at}))
    ship = Event("ship", event_id="s-1", at=scanned_at + timedelta(minutes=5),
                 data={"carrier": "SF", "waybill": "SF200"})
    assert service.handle("ORD-1", ship).ignored is None
    (found,) = service.repository.find_by_waybill("SF200")
    assert [(s.carrier, s.waybill) for s in found.shipments] == [("SF", "SF200")]
    assert levels(ledger, "TEA") == (5, 0, 5)  # shipped once, by the scan
    assert levels(ledger, "CUP") == (3, 0, 3)
    assert ledger.verify({"ORD-1": {"TEA": 5, "CUP": 2}}).ok


def test_an_early_scan_of_one_parcel_of_two_gives_back_the_units_its_ship_does_not_name(
    wired: Any,
) -> None:
    """2 cups and a teapot leave as two parcels; the carrier scans parcel 1 before the
    warehouse reports it. The scan ships every open unit; the warehouse's ``ship`` of
    parcel 1 names only the cups, so the teapot is open again and back in the order's
    lock, and parcel 2 ships it."""
    service, ledger = wired
    service.place(Order(
        order_id="ORD-2", channel="tmall", channel_order_id="T-ORD-2",
        lines=[OrderLine("C", "CUP", 2, Money("5.00", "CNY")),
               OrderLine("P", "TEA", 1, Money("50.00", "CNY"))],
        created_at=T0,
    ))
    service.handle("ORD-2", event("pay", "p-2", amount=Money("60.00", "CNY")))
    scanned_at = T0 + timedelta(hours=2)
    service.handle("ORD-2", Event("track", event_id="yt1-scan", at=scanned_at, data={
        "status": "in_transit", "carrier_time": scanned_at, "waybill": "YT1"}))
    assert levels(ledger, "TEA") == (9, 0, 9)  # the scan assumed every open unit left
    assert levels(ledger, "CUP") == (3, 0, 3)

    ship = Event("ship", event_id="wms-yt1", at=scanned_at + timedelta(minutes=5),
                 data={"carrier": "YTO", "waybill": "YT1", "lines": {"C": 2}})
    moved = service.handle("ORD-2", ship)
    assert moved.ignored is None
    stored = service.repository.get("ORD-2")
    assert stored.status is OrderStatus.SHIPPED
    assert stored.open_units == {"P": 1}
    assert stored.partly_shipped_since == scanned_at
    assert [(s.carrier, s.waybill, dict(s.lines)) for s in stored.shipments] == [
        ("YTO", "YT1", {"C": 2})]
    (back,) = [e for e in moved.events if isinstance(e, LinesUnshipped)]
    assert (back.lines, back.skus, back.waybill) == ({"P": 1}, {"TEA": 1}, "YT1")
    assert levels(ledger, "TEA") == (10, 1, 9)  # on the shelf, the order's again
    assert levels(ledger, "CUP") == (3, 0, 3)
    assert ledger.verify({"ORD-2": {"CUP": 2}}).ok
    totals = stored.totals
    assert totals.paid - totals.refunded - totals.refund_due + totals.due == totals.sold
    assert str(totals.sold.amount) == "60.00" and not totals.due.amount
    # The warehouse retries its callback under a fresh id: one parcel, nothing moves.
    again = service.handle("ORD-2", attrs.evolve(ship, event_id="wms-yt1-retry"))
    assert again.ignored is not None
    assert service.handle("ORD-2", ship).changed is False
    assert levels(ledger, "TEA") == (10, 1, 9)

    service.handle("ORD-2", Event("ship", event_id="wms-yt2", at=scanned_at + timedelta(hours=1),
                                  data={"carrier": "YTO", "waybill": "YT2", "lines": {"P": 1}}))
    done = service.repository.get("ORD-2")
    assert [(s.waybill, dict(s.lines)) for s in done.shipments] == [
        ("YT1", {"C": 2}), ("YT2", {"P": 1})]
    assert done.open_units == {} and done.partly_shipped_since is None
    for line in done.lines:
        assert sum(line.quantities.values()) == line.quantity
    assert levels(ledger, "TEA") == (9, 0, 9)
    assert levels(ledger, "CUP") == (3, 0, 3)
    assert ledger.verify({"ORD-2": {"CUP": 2, "TEA": 1}}).ok
    (found,) = service.repository.find_by_waybill("YT2")
    assert found.order_id == "ORD-2"


def test_a_ship_after_a_signed_scan_no_ship_reached_writes_its_waybill(wired: Any) -> None:
    service, ledger = wired
    service.place(order())
    service.handle("ORD-1", event("pay", "p-1", amount=Money("60.00", "CNY")))
    signed_at = T0 + timedelta(hours=30)
    service.handle("ORD-1", Event("track", event_id="signed-1", at=signed_at,
                                  data={"status": "signed", "carrier_time": signed_at}))
    assert service.repository.get("ORD-1").status is OrderStatus.DELIVERED
    before = service.repository.get("ORD-1")
    ship = Event("ship", event_id="s-1", at=signed_at + timedelta(minutes=5),
                 data={"carrier": "SF", "waybill": "SF300"})
    assert service.handle("ORD-1", ship).ignored is None
    (found,) = service.repository.find_by_waybill("SF300")
    assert found.status is OrderStatus.DELIVERED
    assert [(s.carrier, s.waybill, dict(s.lines)) for s in found.shipments] == [
        ("SF", "SF300", dict(before.shipments[0].lines))]
    assert found.lines == before.lines
    assert levels(ledger, "TEA") == (5, 0, 5)  # shipped once, by the scan
    assert ledger.verify({"ORD-1": {"TEA": 5, "CUP": 2}}).ok
    # Any other parcel on a delivered order stays as it was: ignored, nothing moves.
    other = Event("ship", event_id="s-2", at=signed_at + timedelta(minutes=6),
                  data={"carrier": "SF", "waybill": "SF301"})
    assert service.handle("ORD-1", other).ignored is not None
    assert service.repository.find_by_waybill("SF301") == []


def test_a_page_that_loses_a_race_is_placed_again_once_without_the_stored_orders(
    wired: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pollers place the same page of new orders; the other one stored every other
    order first. The loser finds them all in one read and places the rest once: two
    insert attempts, no lock released one at a time, whatever the page's size."""
    lose_the_race(*wired, monkeypatch)


def test_a_lost_race_on_a_memory_ledger_sharing_the_repositorys_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The memory ledger built on the repository's database loses the attempt's locks
    with the block's rollback: nothing is left to release."""
    repository = MemoryOrderRepository()
    clock = ManualClock(T0)
    ledger = InventoryLedger(MemoryInventoryStore(repository.database), secret=SECRET,
                             clock=clock)
    ledger.receive("TEA", 10, reference="PO-1")
    lose_the_race(OrderService(repository, clock=clock, inventory=ledger), ledger,
                  monkeypatch)


def lose_the_race(service: OrderService, ledger: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger.receive("TEA", 100, reference="PO-2")
    page = [attrs.evolve(order(f"RACE-{n}"), lines=[
        OrderLine("L1", "TEA", 1, Money("10.00", "CNY"))]) for n in range(24)]
    winner = OrderService(service.repository, clock=service.lifecycle.clock, inventory=ledger)
    for placed in page[::2]:
        winner.place(placed)
    calls: dict[str, int] = {"insert_many": 0, "lock_many": 0, "release": 0, "apply_many": 0}

    def counted(target: Any, name: str) -> None:
        real = getattr(target, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(target, name, call)

    counted(service.repository, "insert_many")
    for name in ("lock_many", "release", "apply_many"):
        counted(ledger, name)
    results = service.place_many([(placed, ()) for placed in page])

    assert calls["insert_many"] <= 2 and calls["lock_many"] <= 2, calls
    assert calls["release"] == 0 and calls["apply_many"] <= 1, calls
    for n, result in enumerate(results):
        if n % 2:
            assert isinstance(result, Order) and result.lock_id is not None
        else:
            assert isinstance(result, DuplicateOrder)
            assert result.existing_order_id == f"RACE-{n}"
    # Each order stored once, with one lock: the loser's first locks did not stay.
    assert levels(ledger, "TEA") == (110, 24, 86)
    assert ledger.verify({}).ok


def test_an_early_scan_of_one_parcel_of_two_of_an_order_without_a_lock_gives_units_back(
    wired: Any,
) -> None:
    """The two-parcel story for an order stored without a lock (placed before the shop
    kept stock): the scan of parcel 1 ships every open unit with no lock to commit; the
    warehouse's ``ship`` of parcel 1 names only the cups, so the teapot comes back on
    hand, and parcel 2 takes it once."""
    service, ledger = wired
    OrderService(service.repository, clock=service.lifecycle.clock).place(Order(
        order_id="ORD-9", channel="tmall", channel_order_id="T-ORD-9",
        lines=[OrderLine("C", "CUP", 2, Money("5.00", "CNY")),
               OrderLine("P", "TEA", 1, Money("50.00", "CNY"))],
        created_at=T0,
    ))
    assert service.repository.get("ORD-9").lock_id is None
    service.handle("ORD-9", event("pay", "p-9", amount=Money("60.00", "CNY")))
    scanned_at = T0 + timedelta(hours=2)
    service.handle("ORD-9", Event("track", event_id="yt1-scan", at=scanned_at, data={
        "status": "in_transit", "carrier_time": scanned_at, "waybill": "YT1"}))
    assert levels(ledger, "TEA") == (9, 0, 9)  # the scan assumed every open unit left
    assert levels(ledger, "CUP") == (3, 0, 3)

    ship = Event("ship", event_id="wms-yt1", at=scanned_at + timedelta(minutes=5),
                 data={"carrier": "YTO", "waybill": "YT1", "lines": {"C": 2}})
    service.handle("ORD-9", ship)
    assert service.repository.get("ORD-9").open_units == {"P": 1}
    assert levels(ledger, "TEA") == (10, 0, 10)  # the teapot never left: on the shelf
    assert levels(ledger, "CUP") == (3, 0, 3)
    assert ledger.verify({"ORD-9": {"CUP": 2}}).ok
    service.relay.run_once()  # nothing left over, nothing applied twice
    assert levels(ledger, "TEA") == (10, 0, 10)
    assert service_dead_letters(service) == []

    service.handle("ORD-9", Event("ship", event_id="wms-yt2", at=scanned_at + timedelta(hours=1),
                                  data={"carrier": "YTO", "waybill": "YT2", "lines": {"P": 1}}))
    assert service.repository.get("ORD-9").open_units == {}
    assert levels(ledger, "TEA") == (9, 0, 9)  # received 10, one teapot really left
    assert levels(ledger, "CUP") == (3, 0, 3)  # received 5, two cups left
    assert ledger.verify({"ORD-9": {"CUP": 2, "TEA": 1}}).ok
    assert service_dead_letters(service) == []


def test_units_an_early_scan_recorded_before_the_stock_count_go_back_to_the_lock(
    wired: Any,
) -> None:
    """The scan of parcel 1 predates the stock count, so every open unit was recorded as
    shipped (booked for the order, never out of on_hand, the lock let go of them). The
    warehouse's ``ship`` of the parcel names only the cups: the teapot never left, so it
    was on the shelf when the stock was counted. It goes back to open, the record of it
    is taken back (``stock.unrecord_shipped``) and the order's lock holds it again out
    of the counted stock; parcel 2 then takes it out once."""
    service, ledger = wired
    service.place(Order(
        order_id="ORD-8", channel="tmall", channel_order_id="T-ORD-8",
        lines=[OrderLine("C", "CUP", 2, Money("5.00", "CNY")),
               OrderLine("P", "TEA", 1, Money("50.00", "CNY"))],
        created_at=T0,
    ))
    service.handle("ORD-8", event("pay", "p-8", amount=Money("60.00", "CNY")))
    scanned_at = T0 + timedelta(minutes=10)
    counted = scanned_at + timedelta(minutes=1)
    going_live, ledger = counted_at(wired, counted)
    going_live.handle("ORD-8", Event("track", event_id="yt1-scan", at=scanned_at, data={
        "status": "in_transit", "carrier_time": scanned_at, "waybill": "YT1"}))
    assert levels(ledger, "TEA") == (10, 0, 10)  # recorded: on_hand as counted
    # Reported after the count: the parcel's own time (the scan's) decides.
    told_at = counted + timedelta(minutes=30)
    moved = going_live.handle("ORD-8", Event("ship", event_id="wms-yt1", at=told_at, data={
        "carrier": "YTO", "waybill": "YT1", "lines": {"C": 2}}))
    (back,) = [e for e in moved.events if isinstance(e, LinesUnshipped)]
    assert back.skus == {"TEA": 1}
    stored = going_live.repository.get("ORD-8")
    assert (stored.status, stored.open_units) == (OrderStatus.SHIPPED, {"P": 1})
    assert levels(ledger, "TEA") == (10, 1, 9)  # counted on the shelf, the order's again
    assert levels(ledger, "CUP") == (5, 0, 5)  # the cups left before the count
    assert ledger.verify({"ORD-8": {"CUP": 2}}).ok
    going_live.relay.run_once()  # nothing left over, nothing applied twice
    assert levels(ledger, "TEA") == (10, 1, 9)

    going_live.handle("ORD-8", Event("ship", event_id="wms-yt2", at=counted + timedelta(hours=1),
                                     data={"carrier": "YTO", "waybill": "YT2", "lines": {"P": 1}}))
    assert going_live.repository.get("ORD-8").open_units == {}
    assert levels(ledger, "TEA") == (9, 0, 9)  # counted 10, one teapot left after
    assert levels(ledger, "CUP") == (5, 0, 5)
    assert ledger.verify({"ORD-8": {"CUP": 2, "TEA": 1}}).ok
    assert service_dead_letters(going_live) == []


def test_a_placement_reopening_units_recorded_before_the_stock_count_locks_them(
    wired: Any,
) -> None:
    """The same story decided at placement (an import replaying the scan and the
    warehouse's ship): the order is placed with the teapot open and locked, the cups
    recorded as shipped before the count, and the others of the page are placed."""
    scanned_at = T0 + timedelta(minutes=10)
    counted = scanned_at + timedelta(minutes=1)
    going_live, ledger = counted_at(wired, counted)
    paid = Order(
        order_id="ORD-7", channel="tmall", channel_order_id="T-ORD-7",
        lines=[OrderLine("C", "CUP", 2, Money("5.00", "CNY")),
               OrderLine("P", "TEA", 1, Money("50.00", "CNY"))],
        created_at=T0, status=OrderStatus.PAID, paid_at=T0,
        payments=[Payment("p1", Money("60.00", "CNY"), T0)],
    )
    steps = iter([
        Event("track", event_id="yt1-scan", at=scanned_at, data={
            "status": "in_transit", "carrier_time": scanned_at, "waybill": "YT1"}),
        Event("ship", event_id="wms-yt1", at=counted, data={
            "carrier": "YTO", "waybill": "YT1", "lines": {"C": 2}}),
    ])
    decided = going_live.decide(paid, lambda _o: next(steps, None))
    other = order("ORD-6")
    placed, also = going_live.place_many([(paid, decided), (other, ())])
    assert isinstance(placed, Order) and placed.open_units == {"P": 1}
    assert isinstance(also, Order) and also.order_id == "ORD-6"
    assert levels(ledger, "CUP") == (5, 2, 3)  # ORD-6's lock; ORD-7's cups left before
    assert levels(ledger, "TEA") == (10, 5 + 1, 4)  # ORD-6's five and ORD-7's teapot
    assert ledger.verify({"ORD-7": {"CUP": 2}}).ok
    assert service_dead_letters(going_live) == []


def test_a_parked_release_without_a_sink_writes_no_event_that_could_only_die() -> None:
    # A host with stock and no event sink: the service writes no event.* message, and
    # neither does the relay for a release its breaker parked (it would fail for want of
    # a sink and become a dead letter, a second critical alert). The parked release
    # stays visible in the ledger (pending_review; the watch's inventory_parked_releases).
    from orderkit.outbox import OutboxRelay

    clock = ManualClock(T0)
    repository = MemoryOrderRepository()
    ledger = InventoryLedger(MemoryInventoryStore(), secret=SECRET, clock=clock,
                             release_limit=1)
    ledger.receive("TEA", 10, reference="PO-1")
    ledger.receive("CUP", 10, reference="PO-1")
    service = OrderService(repository, clock=clock, inventory=ledger)
    for name in ("X0", "X1"):
        service.place(order(name))
        service.handle(name, Event("cancel", event_id=f"c-{name}", at=clock.now()))
    relay = OutboxRelay(repository, inventory=ledger, clock=clock)
    for _ in range(12):
        clock.advance(timedelta(minutes=6))
        relay.run_until_idle()
    assert {parked.order_id for parked in ledger.pending_review()} == {"X1"}
    assert list(relay.dead_letters()) == []
    assert repository.oldest_pending() is None  # nothing waits for a sink
