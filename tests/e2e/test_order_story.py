"""Story: a tea shop's day on the embedded SQLite default, through the public API only.

Two orders are placed with stock locked; both are paid; one is packed, shipped and
delivered, the other loses one line to a partial cancel and is then cancelled. The
payment callback of the first arrives twice. At the end the architecture's invariants
are checked on what the files hold, read back by fresh adapters (another process's
view): stock balances, every change versioned and audited through the transition
table, each event applied once, money conserved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from orderkit import LineStatus, Money, Order, OrderLine, OrderStatus
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.testing import ManualClock
from orderkit.testing.invariants import order_problems

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
SECRET = b"story-secret-0123456789abcdef"
RECEIVED = {"TEA-250G": 10, "CUP": 4}


def _order(order_id: str, channel_order_id: str) -> Order:
    return Order(
        order_id=order_id,
        channel="tmall",
        channel_order_id=channel_order_id,
        lines=[
            OrderLine("1", "TEA-250G", 2, Money("89.00", "CNY")),
            OrderLine("2", "CUP", 1, Money("45.50", "CNY")),
        ],
        created_at=T0,
    )


def _event(name: str, event_id: str, minutes: int, **data: object) -> Event:
    return Event(name, event_id=event_id, at=T0 + timedelta(minutes=minutes), data=data)


def test_a_day_of_orders_on_sqlite_keeps_every_invariant(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    clock = ManualClock(T0)
    ledger = InventoryLedger(SQLiteInventoryStore(db), secret=SECRET, clock=clock)
    for sku, units in RECEIVED.items():
        ledger.receive(sku, units, reference="PO-20260216")
    service = OrderService(SQLiteOrderRepository(db), inventory=ledger, clock=clock)

    shipped = service.place(_order("ORD-1", "T1001"))
    kept = service.place(_order("ORD-2", "T1002"))
    assert shipped.lock_id is not None and kept.lock_id is not None
    assert ledger.stock("CUP").available == RECEIVED["CUP"] - 2

    paid = _event("pay", "alipay-notify-1", 5, amount=Money("223.50", "CNY"))
    service.handle("ORD-1", paid)
    assert not service.handle("ORD-1", paid).changed  # the gateway's retry: nothing happens
    service.handle("ORD-2", _event("pay", "alipay-notify-2", 6, amount=Money("223.50", "CNY")))
    service.handle("ORD-1", _event("pack", "wms-pack-1", 30))
    service.handle("ORD-1", _event("ship", "wms-ship-1", 40, carrier="SF", waybill="SF100"))
    service.handle("ORD-1", _event("deliver", "sf-signed-1", 2000))
    service.handle("ORD-2", _event("cancel_lines", "cs-cut-2", 50, lines={"2": 1}))
    assert ledger.stock("CUP").locked == 0  # only the cancelled cup went back
    assert ledger.stock("TEA-250G").locked == 2
    service.handle("ORD-2", _event("cancel", "cs-cancel-2", 60))

    # Read back as another process would: new adapters on the same file, cold caches.
    repository = SQLiteOrderRepository(db)
    reader = InventoryLedger(SQLiteInventoryStore(db), secret=SECRET, clock=clock)
    first, second = repository.get("ORD-1"), repository.get("ORD-2")
    assert first.status == OrderStatus.DELIVERED
    assert second.status == OrderStatus.CANCELLED

    # Inventory: on_hand == available + locked == received - shipped, and the ledger
    # replays to its counters.
    shipped_units = {"TEA-250G": 2, "CUP": 1}
    for sku, units in RECEIVED.items():
        level = reader.stock(sku)
        assert level.on_hand == level.available + level.locked
        assert level.on_hand == units - shipped_units[sku]
        assert level.locked == 0
    assert reader.verify().ok

    # Versions and audit, table rows, each event applied once, buckets.
    assert order_problems(repository, (first, second)) == []

    # Money: paid - refunded - still to refund == what is still sold, exactly. The
    # delivered order keeps everything; the cancelled one owes the buyer all they paid.
    totals = first.totals
    assert totals.paid - totals.refunded == totals.sold == Money("223.50", "CNY")
    for order in (first, second):
        totals = order.totals
        assert totals.paid - totals.refunded - totals.refund_due == totals.sold
    assert second.totals.refund_due == Money("223.50", "CNY")
    assert second.totals.sold == Money("0.00", "CNY")
    assert first.line("1").quantities[LineStatus.SHIPPED] == 2
    assert second.line("2").quantities[LineStatus.CANCELLED] == 1
    assert second.line("1").quantities[LineStatus.CANCELLED] == 2
