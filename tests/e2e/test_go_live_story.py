"""Story: a tea shop goes live on orderkit with orders already in flight, on SQLite.

The stock is counted on the morning of 1 March (Beijing time) and booked as the
ledger's opening receipts; the service knows that moment (``stock_counted_at``).
Then the orders the old system knew are placed, in the state they are in: one shipped
in February (the count did not include its tins), one paid and still on the shelf, one
shipped partly before and partly after the count. A shop sale handed over at the
counter after go-live is placed already completed; an order replayed from February's
history ships through the lifecycle with its lock. A February tin comes back and is
put on sale again. A second story backfills February's JD orders through sync at
go-live, with no teapot left on the shelf for the one that shipped on 14 February.

At the end: ``on_hand`` is the count, plus what came back, less only what left after
the count; ``on_hand == available + locked``; the ledger replays to its counters and
books, per order, exactly the units the orders say shipped; every order keeps the
architecture's invariants.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from orderkit import LineStatus, Money, Order, OrderLine, OrderStatus, Payment, Shipment
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository, SQLiteSyncStore
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.sync import Sync
from orderkit.testing import ManualClock, MemoryChannelClient
from orderkit.testing.invariants import order_problems

BEIJING = ZoneInfo("Asia/Shanghai")
COUNTED = datetime(2026, 3, 1, 8, 0, tzinfo=BEIJING)
SECRET = b"go-live-secret-0123456789abcdef"
TIN = Money("89.00", "CNY")


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 2 if day > 3 else 3, day, hour, tzinfo=BEIJING)


def _imported(
    order_id: str, units: int, created: datetime, status: OrderStatus,
    shipped: dict[datetime | None, int],
) -> Order:
    """An order as the old system hands it over: paid, ``shipped`` (shipment time ->
    units) in its shipments and in the SHIPPED bucket, the rest open."""
    sent = sum(shipped.values())
    return Order(
        order_id, "tmall", f"T-{order_id}",
        [OrderLine("1", "TEA", units, TIN,
                   quantities={LineStatus.SHIPPED: sent, LineStatus.OPEN: units - sent})],
        created, status=status, paid_at=created,
        payments=[Payment(f"pay-{order_id}", TIN * units, created)],
        shipments=[
            Shipment(f"{order_id}-{n}", "SF", f"SF{order_id}{n}", {"1": count}, shipped_at=at)
            for n, (at, count) in enumerate(shipped.items())
        ],
    )


def test_going_live_books_what_left_before_the_count_once_and_never_takes_it_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shop.db"
    clock = ManualClock(COUNTED.astimezone(UTC) + timedelta(hours=1))
    ledger = InventoryLedger(SQLiteInventoryStore(db), secret=SECRET, clock=clock)
    ledger.receive("TEA", 20, reference="opening count 2026-03-01")
    service = OrderService(
        SQLiteOrderRepository(db), inventory=ledger, clock=clock, stock_counted_at=COUNTED
    )

    # Shipped in February: its two tins had left before the count.
    february = service.place(_imported("FEB-1", 2, _at(20), OrderStatus.SHIPPED, {_at(21): 2}))
    assert february.lock_id is None
    assert ledger.stock("TEA").on_hand == 20
    # Paid in February, still on the shelf at the count: locked, and the lock never lapses.
    service.place(_imported("FEB-2", 3, _at(27), OrderStatus.PAID, {}))
    assert ledger.stock("TEA").locked == 3
    # One tin sent on 28 February, one on 2 March: only the second leaves the count.
    split = service.place(
        _imported("FEB-3", 2, _at(26), OrderStatus.SHIPPED, {_at(28): 1, _at(2): 1})
    )
    assert split.lock_id is None
    assert ledger.stock("TEA").on_hand == 19
    # A sale at the shop's counter after go-live, handed over at once, no shipment.
    counter = Order(
        "POS-1", "pos", "R-0001", [OrderLine("1", "TEA", 1, TIN,
                                             quantities={LineStatus.SHIPPED: 1})],
        _at(2, 15), status=OrderStatus.COMPLETED, paid_at=_at(2, 15),
        payments=[Payment("cash-1", TIN, _at(2, 15))],
    )
    service.place(counter)
    assert ledger.stock("TEA").on_hand == 18
    # February's history replayed through the lifecycle: placed (locked), paid, and
    # shipped on 25 February: the lock lets go and on_hand does not move.
    replayed = service.place(Order("FEB-4", "tmall", "T-FEB-4",
                                   [OrderLine("1", "TEA", 4, TIN)], _at(24)))
    assert replayed.lock_id is not None
    service.handle("FEB-4", Event("pay", event_id="p4", at=_at(24, 11), data={
        "amount": TIN * 4}))
    service.handle("FEB-4", Event("ship", event_id="s4", at=_at(25), data={
        "carrier": "SF", "waybill": "SF4"}))
    level = ledger.stock("TEA")
    assert (level.on_hand, level.locked) == (18, 3)
    # The paid February order ships after go-live: its tins leave the shelf.
    service.handle("FEB-2", Event("ship", event_id="s2", at=_at(3), data={
        "carrier": "SF", "waybill": "SF2"}))
    assert ledger.stock("TEA").on_hand == 15
    # A February tin comes back sellable: it goes on sale again.
    service.handle("FEB-1", Event("deliver", event_id="d1", at=_at(1)))
    service.handle("FEB-1", Event("return_requested", event_id="rma1", at=_at(2),
                                  data={"lines": {"1": 1}}))
    service.handle("FEB-1", Event("return_received", event_id="rx1", at=_at(3, 12),
                                  data={"lines": {"1": 1}, "sellable": {"1": 1}}))

    # Read back as another process would.
    repository = SQLiteOrderRepository(db)
    reader = InventoryLedger(SQLiteInventoryStore(db), secret=SECRET, clock=clock)
    level = reader.stock("TEA")
    # The count, plus the tin that came back, less what left after the count (one of
    # FEB-3, the counter sale, FEB-2's three).
    assert level.on_hand == 20 + 1 - 1 - 1 - 3
    assert level.on_hand == level.available + level.locked and level.locked == 0
    orders = [repository.get(order_id) for order_id in
              ("FEB-1", "FEB-2", "FEB-3", "FEB-4", "POS-1")]
    said = {
        order.order_id: {"TEA": sum(line.quantities[LineStatus.SHIPPED]
                                    + line.quantities[LineStatus.RETURNED]
                                    for line in order.lines)}
        for order in orders
    }
    assert said == {"FEB-1": {"TEA": 2}, "FEB-2": {"TEA": 3}, "FEB-3": {"TEA": 2},
                    "FEB-4": {"TEA": 4}, "POS-1": {"TEA": 1}}
    report = reader.verify(shipped=said)
    assert report.ok and report.mismatches == (), report
    assert order_problems(repository, orders) == []
    assert repository.dead_letters() == [] and repository.oldest_pending() is None


FIXTURES = Path(__file__).parents[1] / "fixtures" / "mapping" / "jd"
#: JD orders of February (fixtures citing the JD order API), by what they are at go-live.
HISTORY = (
    "finished.json",  # 3 trays shipped on 1 February
    "shipped_with_waybill.json",  # a tea and the last teapot shipped on 14 February
    "cancelled_after_payment.json",  # a tea paid, then cancelled and refunded
    "cash_on_delivery_shipped.json",  # 2 cups, placed before the count, shipped after it
    "wait_seller_stock_out.json",  # 2 teas, a cup and a tray paid, still on the shelf
)


def test_a_backfill_of_february_at_go_live_leaves_the_count_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    counted = datetime(2026, 2, 16, 12, 0, tzinfo=BEIJING)
    clock = ManualClock(datetime(2026, 2, 20, tzinfo=UTC))
    ledger = InventoryLedger(SQLiteInventoryStore(db), secret=SECRET, clock=clock)
    opening = {"TEA-OOLONG-250G": 5, "CUP-CELADON": 4, "TRAY-BAMBOO": 2}
    for sku, units in opening.items():
        ledger.receive(sku, units, reference="opening count")  # no teapot left
    repository = SQLiteOrderRepository(db)
    service = OrderService(repository, inventory=ledger, clock=clock, stock_counted_at=counted)
    sync = Sync(repository, service, store=SQLiteSyncStore(db))
    payloads = [json.loads((FIXTURES / name).read_text(encoding="utf-8")) for name in HISTORY]

    report = sync.backfill("jd", MemoryChannelClient(payloads, platform="jd"),
                           datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 20, tzinfo=UTC))

    assert (report.new, report.dead_lettered) == (5, 0), report.summary()
    levels = {sku: (ledger.stock(sku).on_hand, ledger.stock(sku).locked)
              for sku in (*opening, "100012345681")}
    # What left before the count is not taken again; the cups shipped on 17 February
    # leave; the paid order waiting on the shelf holds its units.
    assert levels == {
        "TEA-OOLONG-250G": (5, 2), "CUP-CELADON": (2, 1), "TRAY-BAMBOO": (2, 1),
        "100012345681": (0, 0),
    }
    orders: list[Order] = []
    said: dict[str, dict[str, int]] = {}
    for name in HISTORY:
        stored = repository.find_by_channel("jd", str(json.loads(
            (FIXTURES / name).read_text(encoding="utf-8"))["orderId"]))
        assert stored is not None
        orders.append(stored)
        for line in stored.lines:
            units = line.quantities[LineStatus.SHIPPED] + line.quantities[LineStatus.RETURNED]
            if units:
                said.setdefault(stored.order_id, {})[line.sku] = units
    check = ledger.verify(shipped=said)
    assert check.ok and check.mismatches == (), check
    assert order_problems(repository, orders) == []
    assert repository.dead_letters() == [] and repository.oldest_pending() is None
