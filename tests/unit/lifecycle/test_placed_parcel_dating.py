"""A parcel an order is placed with is dated one way, whatever later moves its units.

Going live with a stock count, ``OrderService`` dates each shipped unit to tell what
the count included: a unit that left at or before it is only recorded for the order
(``stock.record_shipped``), one that left after it leaves ``on_hand`` (``stock.ship``).
A parcel placed without ``shipped_at`` is dated by the order's ``created_at``. When the
warehouse's ``ship`` of that parcel (a carrier scan's, shipping every open unit) names
fewer units, the ones it leaves out never left: taking them back must undo what the
placement booked (``stock.unrecord_shipped`` or ``stock.unship``), so the parcel keeps
its placement's date, not the ``ship``'s; so too when the order was placed paid or
packed with that parcel and a carrier scan filled it with the open units. Memory and
SQLite stores, delivered by the service's relay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderkit.inventory import EntryKind, InventoryLedger
from orderkit.lifecycle import Event, LinesUnshipped, OrderService
from orderkit.model.money import Money
from orderkit.model.orders import LineStatus, Order, OrderLine, OrderStatus, Payment, Shipment
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
COUNTED = T0 + timedelta(days=1)
SECRET = b"a secret of sixteen bytes or more"
RECEIVED = {"TEA": 10, "CUP": 5}


@pytest.fixture
def going_live(stores: tuple[Any, Any]) -> tuple[OrderService, InventoryLedger]:
    """A service whose ledger was opened by a stock count at ``COUNTED``, a day ago."""
    repository, store = stores
    clock = ManualClock(COUNTED + timedelta(days=1))
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)
    for sku, units in RECEIVED.items():
        ledger.receive(sku, units, reference="opening count")
    return OrderService(repository, clock=clock, inventory=ledger,
                        stock_counted_at=COUNTED), ledger


def scanned(created_at: datetime, *, shipped_at: datetime | None = None) -> Order:
    """An order imported with the parcel a carrier scan shipped whole (two cups and a
    teapot), ``forced``, dated ``shipped_at`` (none: as an importer that does not know)."""
    price = Money("60.00", "CNY")
    return Order(
        order_id="ORD-1", channel="tmall", channel_order_id="T-ORD-1",
        lines=[OrderLine("C", "CUP", 2, Money("5.00", "CNY"),
                         quantities={LineStatus.SHIPPED: 2}),
               OrderLine("P", "TEA", 1, Money("50.00", "CNY"),
                         quantities={LineStatus.SHIPPED: 1})],
        created_at=created_at, status=OrderStatus.SHIPPED, paid_at=created_at,
        payments=[Payment("p1", price, created_at)],
        shipments=[Shipment("yt1", "YTO", "YT1", {"C": 2, "P": 1}, shipped_at=shipped_at,
                            forced=True)],
    )


def ship(event_id: str, at: datetime, waybill: str, lines: dict[str, int]) -> Event:
    return Event("ship", event_id=event_id, at=at,
                 data={"carrier": "YTO", "waybill": waybill, "lines": lines})


def books(ledger: InventoryLedger, sku: str) -> dict[str, int]:
    """``sku``'s ledger as balances: ``on_hand``, what it received (the count and the
    receipts a record of units gone before it booked), what left (commits and lockless
    shipments less what came back), and what is recorded as gone before the count for
    ``ORD-1`` (its receipts less their reversals)."""
    entries = [entry for entry in ledger.entries() if entry.sku == sku]

    def total(*kinds: EntryKind, order: bool = False) -> int:
        return sum(entry.qty for entry in entries if entry.kind in kinds
                   and (not order or entry.order_id == "ORD-1"))

    received = total(EntryKind.RECEIVE) - total(EntryKind.UNRECORD_SHIPPED)
    shipped = (total(EntryKind.COMMIT, EntryKind.SHIP_UNLOCKED)
               - total(EntryKind.UNCOMMIT, EntryKind.UNSHIP_UNLOCKED))
    recorded = total(EntryKind.RECEIVE, order=True) - total(EntryKind.UNRECORD_SHIPPED)
    return {"on_hand": ledger.stock(sku).on_hand, "received": received, "shipped": shipped,
            "recorded": recorded}


def settled(service: OrderService, ledger: InventoryLedger, left: dict[str, int]) -> None:
    """Every message delivered, nothing dead, and the ledger books ``left`` (SKU to
    units that really left) for ``ORD-1``, balances and all."""
    assert service.relay is not None and service.relay.run_once().delivered == 0
    assert service.repository.dead_letters() == []
    report = ledger.verify({"ORD-1": left})
    assert report.ok and report.mismatches == (), report
    for sku in RECEIVED:
        level = ledger.stock(sku)
        assert level.on_hand == level.available + level.locked


def test_a_parcel_placed_before_the_count_is_taken_back_from_its_record(
    going_live: tuple[OrderService, InventoryLedger],
) -> None:
    """Placed before the count without ``shipped_at``: its units are recorded as gone
    before it. The warehouse's ``ship``, told after the count, names only the cups:
    the teapot was on the shelf when it was counted, so its record is taken back and
    ``on_hand`` does not move; the next parcel takes it out once."""
    service, ledger = going_live
    placed = service.place(scanned(T0))
    assert placed.lock_id is None
    assert books(ledger, "TEA") == {"on_hand": 10, "received": 11, "shipped": 1,
                                    "recorded": 1}
    moved = service.handle("ORD-1", ship("wms-yt1", COUNTED + timedelta(minutes=30), "YT1",
                                         {"C": 2}))
    (back,) = [e for e in moved.events if isinstance(e, LinesUnshipped)]
    assert back.skus == {"TEA": 1}
    assert service.repository.get("ORD-1").open_units == {"P": 1}
    # Counted on the shelf, recorded as gone no longer, never on hand twice.
    assert books(ledger, "TEA") == {"on_hand": 10, "received": 10, "shipped": 0,
                                    "recorded": 0}
    assert books(ledger, "CUP") == {"on_hand": 5, "received": 7, "shipped": 2,
                                    "recorded": 2}
    settled(service, ledger, {"CUP": 2})

    service.handle("ORD-1", ship("wms-yt2", COUNTED + timedelta(hours=2), "YT2", {"P": 1}))
    assert books(ledger, "TEA") == {"on_hand": 9, "received": 10, "shipped": 1,
                                    "recorded": 0}
    settled(service, ledger, {"CUP": 2, "TEA": 1})


@pytest.mark.parametrize("shipped_at", [None, COUNTED - timedelta(hours=1)],
                         ids=["undated", "dated_before_its_order"])
def test_a_parcel_placed_after_the_count_is_taken_back_on_hand(
    going_live: tuple[OrderService, InventoryLedger], shipped_at: datetime | None,
) -> None:
    """Placed after the count without ``shipped_at``: its units left ``on_hand``. The
    teapot the ``ship`` leaves out comes back on hand, and nothing is recorded. So too
    with an importer's ``shipped_at`` before the order's ``created_at`` (a clock or
    zone off): goods never move before the order exists, so the parcel is dated by its
    creation, after the count, at placement and when it is taken back alike."""
    service, ledger = going_live
    service.place(scanned(COUNTED + timedelta(minutes=10), shipped_at=shipped_at))
    assert books(ledger, "TEA") == {"on_hand": 9, "received": 10, "shipped": 1,
                                    "recorded": 0}
    service.handle("ORD-1", ship("wms-yt1", COUNTED + timedelta(minutes=30), "YT1",
                                 {"C": 2}))
    assert books(ledger, "TEA") == {"on_hand": 10, "received": 10, "shipped": 0,
                                    "recorded": 0}
    assert books(ledger, "CUP") == {"on_hand": 3, "received": 5, "shipped": 2,
                                    "recorded": 0}
    settled(service, ledger, {"CUP": 2})


def test_a_parcel_placed_with_its_date_keeps_it(
    going_live: tuple[OrderService, InventoryLedger],
) -> None:
    """A ``shipped_at`` the importer knew dates the parcel (before the count here): its
    units are recorded, and the one the ``ship`` leaves out is taken back from the
    record."""
    service, ledger = going_live
    service.place(scanned(T0, shipped_at=COUNTED - timedelta(minutes=5)))
    service.handle("ORD-1", ship("wms-yt1", COUNTED + timedelta(minutes=30), "YT1",
                                 {"C": 2}))
    assert books(ledger, "TEA") == {"on_hand": 10, "received": 10, "shipped": 0,
                                    "recorded": 0}
    settled(service, ledger, {"CUP": 2})


def partly_shipped(status: OrderStatus) -> Order:
    """An order imported before the count, paid (or packed), with the parcel ``YT1``
    carrying its two cups and no ``shipped_at`` (an importer that does not know when it
    left); the teapot is still open."""
    price = Money("60.00", "CNY")
    return Order(
        order_id="ORD-1", channel="tmall", channel_order_id="T-ORD-1",
        lines=[OrderLine("C", "CUP", 2, Money("5.00", "CNY"),
                         quantities={LineStatus.SHIPPED: 2}),
               OrderLine("P", "TEA", 1, Money("50.00", "CNY"))],
        created_at=T0, status=status, paid_at=T0,
        payments=[Payment("p1", price, T0)],
        shipments=[Shipment("yt1", "YTO", "YT1", {"C": 2})],
    )


@pytest.mark.parametrize("status", [OrderStatus.PAID, OrderStatus.PACKED],
                         ids=["paid", "packed"])
def test_a_scan_that_fills_a_placed_parcel_keeps_its_placement_date(
    going_live: tuple[OrderService, InventoryLedger], status: OrderStatus,
) -> None:
    """Placed before the count with an undated parcel of two cups (recorded as gone
    before it) and the teapot open in the order's lock. A carrier scan after the count
    moves the order: every open unit is assumed in that parcel, so the teapot is dated
    with it, by the placement (recorded as gone before the count too), and the parcel
    stays undated. The warehouse's ``ship`` of the parcel names only the cups: the
    teapot never left, so its record is taken back into the lock (not an uncommit of
    units never committed), and the next parcel takes it out once."""
    service, ledger = going_live
    placed = service.place(partly_shipped(status))
    assert placed.lock_id is not None
    assert books(ledger, "CUP") == {"on_hand": 5, "received": 7, "shipped": 2,
                                    "recorded": 2}
    scanned_at = COUNTED + timedelta(minutes=10)
    service.handle("ORD-1", Event("track", event_id="yt1-scan", at=scanned_at, data={
        "status": "in_transit", "carrier_time": scanned_at, "waybill": "YT1"}))
    (parcel,) = service.repository.get("ORD-1").shipments
    assert (parcel.lines, parcel.shipped_at, parcel.forced) == ({"C": 2, "P": 1}, None, True)
    assert books(ledger, "TEA") == {"on_hand": 10, "received": 11, "shipped": 1,
                                    "recorded": 1}
    settled(service, ledger, {"CUP": 2, "TEA": 1})

    moved = service.handle("ORD-1", ship("wms-yt1", COUNTED + timedelta(minutes=30), "YT1",
                                         {"C": 2}))
    (back,) = [e for e in moved.events if isinstance(e, LinesUnshipped)]
    assert back.skus == {"TEA": 1}
    stored = service.repository.get("ORD-1")
    assert stored.open_units == {"P": 1}
    assert stored.shipments[0].shipped_at is None  # still dated by its placement
    assert books(ledger, "TEA") == {"on_hand": 10, "received": 10, "shipped": 0,
                                    "recorded": 0}
    assert ledger.stock("TEA").locked == 1  # back in the order's lock
    settled(service, ledger, {"CUP": 2})

    service.handle("ORD-1", ship("wms-yt2", COUNTED + timedelta(hours=2), "YT2", {"P": 1}))
    assert books(ledger, "TEA") == {"on_hand": 9, "received": 10, "shipped": 1,
                                    "recorded": 0}
    assert books(ledger, "CUP") == {"on_hand": 5, "received": 7, "shipped": 2,
                                    "recorded": 2}
    assert ledger.stock("TEA").locked == 0
    settled(service, ledger, {"CUP": 2, "TEA": 1})
