"""Margins after the sale: returns, refused parcels, refunds and what the platform funds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from orderkit import Adjustment, AdjustmentKind, Money, Order, OrderLine, PaymentTerms
from orderkit.costing import CostModel, FeeTable, margin
from orderkit.lifecycle import Event, Lifecycle
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


class Catalog:
    def unit_cost(self, sku: str, on: date) -> Money | None:
        return cny("30.00")


TMALL = FeeTable("tmall", date(2026, 1, 1), Decimal("0.05"), Decimal("0.006"),
                 shipping_cost=cny("6.00"), packaging=cny("1.50"))
JD = FeeTable("jd", date(2026, 1, 1), Decimal("0.05"), Decimal("0"),
              shipping_cost=cny("6.00"), packaging=cny("1.50"))
COSTS = CostModel([TMALL, JD], Catalog())


class Story:
    def __init__(self, order: Order) -> None:
        self.lifecycle = Lifecycle(clock=ManualClock(T0))
        self.order = order
        self.count = 0

    def send(self, name: str, at: datetime = T0, **data: Any) -> Order:
        self.count += 1
        event = Event(name, event_id=f"e{self.count}", at=at, data=data)
        self.order = self.lifecycle.apply(self.order, event).order
        return self.order


def amounts(order: Order) -> dict[str, str]:
    return {c.name: str(c.amount.amount) for c in margin(order, COSTS).components}


def tea(*adjustments: Adjustment, channel: str = "tmall", **fields: Any) -> Order:
    return Order("O1", channel, "T1", [OrderLine("1", "TEA", 2, cny("50.00"))], T0,
                 adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("8.00")), *adjustments],
                 **fields)


def test_a_shipped_order_returned_in_full_still_paid_its_carrier_and_its_box() -> None:
    story = Story(tea())
    story.send("pay", amount=cny("108.00"))
    story.send("ship", carrier="SF", waybill="SF1")
    story.send("deliver", at=T0 + DAY)
    story.send("return_requested", at=T0 + 2 * DAY, lines={"1": 2})
    story.send("return_received", at=T0 + 3 * DAY, lines={"1": 2})
    order = story.send("refund", at=T0 + 3 * DAY, amount=story.order.totals.refund_due)
    assert order.totals.sold == order.shipping_standing == cny("8.00")  # the fee was kept
    found = margin(order, COSTS)
    assert amounts(order) == {
        "goods": "0.00", "merchant_discounts": "0.00", "shipping_charged": "8.00",
        "product_cost": "0.00", "commission": "0.00", "payment_fee": "-0.05",
        "influencer": "0.00", "shipping_cost": "-6.00", "packaging": "-1.50",
    }
    assert (found.revenue, found.profit) == (cny("8.00"), cny("0.45"))
    # the fee given back too: the parcel still went out, a loss
    order = story.send("refund", at=T0 + 3 * DAY, amount=cny("8.00"))
    assert order.status.name == "CLOSED"
    found = margin(order, COSTS)
    assert found.component("shipping_charged").amount == cny("0.00")  # type: ignore[union-attr]
    assert (found.revenue, found.profit) == (cny("0.00"), cny("-7.50"))


def test_a_refused_cash_on_delivery_parcel_waives_the_fee_but_not_the_carrier() -> None:
    story = Story(tea(channel="jd", payment_terms=PaymentTerms.ON_DELIVERY))
    story.send("ship", carrier="jd", waybill="J1")
    order = story.send("return_received", lines={"1": 2}, sellable={"1": 2})
    assert order.status.name == "CLOSED" and order.shipping_standing == cny("0.00")
    found = margin(order, COSTS)
    assert found.component("shipping_cost").amount == cny("-6.00")  # type: ignore[union-attr]
    assert found.component("packaging").amount == cny("-1.50")  # type: ignore[union-attr]
    assert (found.revenue, found.profit) == (cny("0.00"), cny("-7.50"))


def test_an_order_refunded_before_it_shipped_spent_nothing_on_shipping() -> None:
    story = Story(tea())
    story.send("pay", amount=cny("108.00"))
    order = story.send("refund", amount=cny("108.00"), lines={"1": 2})
    found = margin(order, COSTS)
    assert found.component("shipping_cost") is None and found.component("packaging") is None
    assert (found.revenue, found.profit) == (cny("0.00"), cny("0.00"))
