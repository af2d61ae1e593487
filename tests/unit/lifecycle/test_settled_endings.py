"""No order is left where no event can settle it: a deposit that covers what is left
once lines are cut pays the order; an order ends with nothing due that nobody can
collect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from orderkit import Money, Order, OrderLine, OrderStatus, Payment
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, Lifecycle, OrderService
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


class Story:
    def __init__(self, order: Order) -> None:
        self.lifecycle = Lifecycle(clock=ManualClock(T0))
        self.order = order
        self.count = 0

    def send(self, name: str, **data: Any) -> Order:
        self.count += 1
        event = Event(name, event_id=f"e{self.count}", at=T0, data=data)
        self.order = self.lifecycle.apply(self.order, event).order
        t = self.order.totals
        assert t.paid - t.refunded - t.refund_due + t.due == t.sold
        return self.order


def presale() -> Order:
    return Order("T1", "tmall", "1", [OrderLine("1", "TEA", 1, cny("50.00")),
                                      OrderLine("2", "CUP", 1, cny("50.00"))], T0)


def test_a_deposit_that_covers_the_lines_left_after_a_cut_pays_the_order() -> None:
    story = Story(presale())
    story.send("pay", amount=cny("60.00"))
    assert story.order.status is OrderStatus.PENDING_PAYMENT
    order = story.send("cancel_lines", lines={"2": 1})
    totals = order.totals
    assert (order.status, order.paid_at) == (OrderStatus.PAID, T0)
    assert (totals.due, totals.refund_due) == (cny("0.00"), cny("10.00"))
    story.send("refund", amount=cny("10.00"))
    order = story.send("ship", carrier="SF", waybill="SF1")
    assert (order.status, order.totals.refund_due) == (OrderStatus.SHIPPED, cny("0.00"))


def test_a_price_lowered_to_what_the_deposit_covers_pays_the_order() -> None:
    story = Story(presale())
    story.send("pay", amount=cny("60.00"))
    order = story.send("change_price", line_id="2", unit_price=cny("10.00"))
    assert (order.status, order.totals.due, order.totals.refund_due) == (
        OrderStatus.PAID, cny("0.00"), cny("0.00"))


def test_a_cut_that_still_leaves_money_due_keeps_the_order_unpaid() -> None:
    story = Story(presale())
    story.send("pay", amount=cny("40.00"))
    order = story.send("cancel_lines", lines={"2": 1})
    assert (order.status, order.totals.due) == (OrderStatus.PENDING_PAYMENT, cny("10.00"))


def test_the_lock_of_an_order_paid_by_a_cut_is_confirmed() -> None:
    clock = ManualClock(T0)
    ledger = InventoryLedger(MemoryInventoryStore(), secret=b"0123456789abcdef", clock=clock)
    ledger.receive("TEA", 5, reference="PO")
    ledger.receive("CUP", 5, reference="PO")
    service = OrderService(MemoryOrderRepository(), clock=clock, inventory=ledger)
    # imported with its deposit: the lock is not confirmed by a payment event
    service.place(attrs.evolve(presale(), payments=[Payment("dep", cny("60.00"), T0)]))
    service.handle("T1", Event("cancel_lines", event_id="c", at=T0, data={"lines": {"2": 1}}))
    assert service.repository.get("T1").status is OrderStatus.PAID
    clock.advance(timedelta(days=3))
    ledger.expire_due()
    assert ledger.stock("TEA").locked == 1  # kept: the lock never lapses
