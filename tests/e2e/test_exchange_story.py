"""An exchange at the till (换货): a red cup comes back and the buyer takes a blue one.

Two orders joined by one internal transfer: the red cup's order takes the cup back
(sellable) and refunds what it was sold for with ``method="exchange"``; the blue cup's
replacement order is placed at the same price and paid with that money, ``method=
"exchange"`` under the same reference, then ships like any paid order. Through
OrderService on SQLite, stock moved by the relay, then the month's reconciliation with
an empty bank and empty bills: the exchange is one paired internal transfer, never a
break, and the only thing looked for in a bill is the WeChat Pay money the buyer really
paid. A dearer replacement is topped up by WeChat Pay, a second ``pay`` on the
replacement order, found in the WeChat Pay bill like any sale.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from orderkit import Money, Order, OrderLine, OrderStatus
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.outbox import OutboxRelay
from orderkit.reconcile import Record, reconcile, records_from_orders, settle
from orderkit.testing import ManualClock

T0 = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
SECRET = b"0123456789abcdef0123"
RED, BLUE = "pos:S1-1", "pos:S1-1-X"
EX = f"EX-{RED}-1"


def cny(text: str) -> Money:
    return Money(text, "CNY")


class Till:
    """A store's till on SQLite: orders, outbox and stock in one file, the relay
    moving the stock."""

    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "chain.db"
        self.clock = ManualClock(T0)
        self.ledger = InventoryLedger(SQLiteInventoryStore(path), secret=SECRET, clock=self.clock)
        for sku in ("CUP-RED", "CUP-BLUE"):
            self.ledger.receive(sku, 5, reference="PO-1")
        self.repository = SQLiteOrderRepository(path)
        self.service = OrderService(
            self.repository, inventory=self.ledger, clock=self.clock, deliver=False
        )
        self.relay = OutboxRelay(self.repository, inventory=self.ledger, clock=self.clock)

    def handle(self, order_id: str, kind: str, event_id: str, **data: object) -> Order:
        order = self.service.handle(
            order_id, Event(kind, event_id=event_id, at=self.clock.now(), data=data)
        ).order
        self.relay.run_until_idle()
        return order

    def sell_the_red_cup(self) -> Order:
        self.service.place(Order(RED, "pos", "S1-1", [OrderLine("1", "CUP-RED", 1, cny("45.50"))],
                                 T0))
        self.handle(RED, "pay", "S1-1-pay", amount=cny("45.50"), method="wechatpay",
                    reference="4200001001")
        self.handle(RED, "ship", "S1-1-out", carrier="counter", waybill="S1-1")
        return self.handle(RED, "deliver", "S1-1-dlv")

    def take_the_red_cup_back(self) -> Order:
        self.clock.advance(timedelta(days=2))
        self.handle(RED, "return_requested", "S1-1-rma", lines={"1": 1})
        back = self.handle(RED, "return_received", "S1-1-rx", lines={"1": 1},
                           sellable={"1": 1})
        # What the red cup was sold for is owed; the exchange pays it over to the
        # replacement instead of back to the buyer.
        return self.handle(RED, "refund", "S1-1-ex", amount=back.refund_due, method="exchange",
                           reference=EX)

    def replace_with_the_blue_cup(self, price: str, exchanged: Money) -> Order:
        self.service.place(Order(BLUE, "pos", "S1-1-X",
                                 [OrderLine("1", "CUP-BLUE", 1, cny(price))],
                                 self.clock.now(), tags=[f"exchange-of={RED}"]))
        return self.handle(BLUE, "pay", "S1-1-X-ex", amount=exchanged, method="exchange",
                           reference=EX)

    def ship_the_blue_cup(self) -> Order:
        return self.handle(BLUE, "ship", "S1-1-X-out", carrier="counter", waybill="S1-1-X")


def _settled(order: Order) -> None:
    totals = order.totals
    assert totals.due == totals.refund_due == cny("0.00")
    assert totals.paid - totals.refunded == totals.sold  # the money identity


def _revenue(*orders: Order) -> Money:
    return sum((o.totals.paid - o.totals.refunded for o in orders), cny("0.00"))


def test_a_red_cup_exchanged_for_a_blue_one_of_the_same_price(tmp_path: Path) -> None:
    till = Till(tmp_path)
    till.sell_the_red_cup()
    red = till.take_the_red_cup_back()
    assert red.status is OrderStatus.CLOSED
    blue = till.replace_with_the_blue_cup("45.50", red.payments[-1].amount)
    assert blue.status is OrderStatus.PAID
    blue = till.ship_the_blue_cup()
    assert blue.status is OrderStatus.SHIPPED

    red, blue = till.repository.get(RED), till.repository.get(BLUE)
    for order in (red, blue):
        _settled(order)
    assert _revenue(red, blue) == cny("45.50")  # the sale the buyer kept, once
    red_stock, blue_stock = till.ledger.stock("CUP-RED"), till.ledger.stock("CUP-BLUE")
    assert (red_stock.on_hand, red_stock.locked) == (5, 0)  # sold one, got it back sellable
    assert (blue_stock.on_hand, blue_stock.locked) == (4, 0)  # the replacement left
    assert till.ledger.verify().ok
    assert till.repository.pending(100) == []

    erp = records_from_orders([red, blue])
    assert [(r.kind, str(r.amount), r.channel) for r in erp] == [
        ("sale", "CNY 45.50", "wechatpay"),
        ("transfer", "CNY -45.50", "exchange"),
        ("transfer", "CNY 45.50", "exchange"),
    ]
    for result in (reconcile(erp, []), settle(erp, {"wechatpay": []}, [])):
        (exchange,) = [o for o in result.outcomes if o.rule == "exchange"]
        assert (exchange.status, dict(exchange.evidence)["ref"]) == ("matched", EX)
        assert len(exchange.records) == 2
    month = settle(erp, {"wechatpay": []}, [])
    # The only thing a person is asked about is the WeChat Pay sale the empty bill lacks.
    assert [[r.record_id for r in o.records] for o in month.breaks()] == [[f"{RED}/S1-1-pay"]]
    assert month.conservation()["balanced"] is True


def test_a_dearer_blue_cup_is_topped_up_by_wechat_pay(tmp_path: Path) -> None:
    till = Till(tmp_path)
    till.sell_the_red_cup()
    red = till.take_the_red_cup_back()
    blue = till.replace_with_the_blue_cup("52.00", red.payments[-1].amount)
    assert blue.status is OrderStatus.PENDING_PAYMENT and blue.due == cny("6.50")
    blue = till.handle(BLUE, "pay", "S1-1-X-pay", amount=blue.due, method="wechatpay",
                       reference="4200001002")
    assert blue.status is OrderStatus.PAID
    till.ship_the_blue_cup()

    red, blue = till.repository.get(RED), till.repository.get(BLUE)
    for order in (red, blue):
        _settled(order)
    assert _revenue(red, blue) == cny("52.00")
    assert till.ledger.stock("CUP-RED").on_hand == 5
    assert till.ledger.stock("CUP-BLUE").on_hand == 4
    assert till.ledger.verify().ok

    erp = records_from_orders([red, blue])
    month = settle(erp, {"wechatpay": []}, [])
    (exchange,) = [o for o in month.outcomes if o.rule == "exchange"]
    assert exchange.status == "matched"
    breaks = month.breaks()
    # The money the buyer really paid (the red cup, then the top-up) is what the WeChat
    # Pay bill is asked for; the exchange is not.
    assert sorted(r.record_id for o in breaks for r in o.records) == [
        f"{BLUE}/S1-1-X-pay", f"{RED}/S1-1-pay"
    ]
    assert sum(r.amount.amount for o in breaks for r in o.records) == Decimal("52.00")
    # With the bill that has them, nothing is left for a person at the order hop.
    bill = [Record("wechatpay", r.record_id, r.ref, r.amount, r.at, links=r.links)
            for r in erp if r.channel == "wechatpay"]
    paid = settle(erp, {"wechatpay": bill}, [])
    assert [o for o in paid.breaks() if o.hop == "order_channel"] == []
