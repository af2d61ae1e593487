"""The order's own shipping goes back: a full refund of a shipped order, a refund of the
fee after the goods, and a cash on delivery parcel refused at the door."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from orderkit import Adjustment, AdjustmentKind, Bearer, Money, Order, OrderLine, PaymentTerms
from orderkit.costing import CostModel, FeeTable, margin
from orderkit.lifecycle import Event, Lifecycle
from orderkit.model.serialization import from_dict, to_dict
from orderkit.reconcile import records_from_orders
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
        assert_identity(self.order)
        return self.order


def assert_identity(order: Order) -> None:
    t = order.totals
    assert t.paid - t.refunded - t.refund_due + t.due == t.sold


def shipped_tea(*, coupon: str | None = None) -> Story:
    adjustments = [Adjustment(AdjustmentKind.SHIPPING, cny("8.00"), Bearer.BUYER)]
    if coupon:
        adjustments.append(Adjustment(AdjustmentKind.COUPON, cny(coupon), Bearer.PLATFORM))
    story = Story(Order("O1", "tmall", "T1", [OrderLine("1", "TEA", 2, cny("10.00"))], T0,
                        adjustments=adjustments))
    story.send("pay", amount=story.order.totals.payable, method="alipay")
    story.send("ship", carrier="SF", waybill="SF1")
    return story


@pytest.mark.parametrize("lines", [None, {"1": 2}])
def test_a_full_refund_of_a_shipped_order_gives_the_shipping_back_and_closes_it(
    lines: dict[str, int] | None,
) -> None:
    story = shipped_tea()
    data: dict[str, Any] = {"amount": cny("28.00")}
    if lines:
        data["lines"] = lines
    order = story.send("refund", **data)
    assert order.status.name == "CLOSED"
    assert order.line("1").quantities["refunded"] == 2
    totals = order.totals
    assert (totals.paid, totals.refunded, totals.sold, totals.due, totals.refund_due) == (
        cny("28.00"), cny("28.00"), cny("0.00"), cny("0.00"), cny("0.00"))
    (given,) = [a for a in order.adjustments if a.kind is AdjustmentKind.SHIPPING_CONCESSION]
    assert (given.amount, given.line_id, given.borne_by) == (cny("8.00"), None, Bearer.MERCHANT)
    assert totals.shipping == cny("0.00")  # charged 8.00, given back 8.00
    assert order.shipping_standing == cny("0.00")


def test_the_goods_then_the_fee_refunded_separately_close_the_order() -> None:
    story = shipped_tea()
    order = story.send("refund", amount=cny("20.00"))
    assert (order.status.name, order.totals.sold) == ("SHIPPED", cny("8.00"))
    order = story.send("refund", amount=cny("8.00"))
    assert order.status.name == "CLOSED"
    assert (order.totals.sold, order.totals.refunded) == (cny("0.00"), cny("28.00"))


def test_a_refund_beyond_the_goods_takes_the_goods_first_then_the_shipping() -> None:
    story = shipped_tea()
    order = story.send("refund", amount=cny("25.00"))  # money only: the goods stay sold
    assert order.status.name == "SHIPPED"
    kinds = {a.kind: a.amount for a in order.adjustments if a.label == "refund e3"}
    assert kinds == {AdjustmentKind.CONCESSION: cny("20.00"),
                     AdjustmentKind.SHIPPING_CONCESSION: cny("5.00")}
    assert order.shipping_standing == cny("3.00")
    assert order.totals.sold == cny("3.00")


def test_a_full_refund_gives_back_the_orders_own_rounding_up_too() -> None:
    adjustments = [Adjustment(AdjustmentKind.SHIPPING, cny("8.00")),
                   Adjustment(AdjustmentKind.ROUNDING, cny("0.01"), Bearer.BUYER)]
    story = Story(Order("O2", "pos", "P2", [OrderLine("1", "TEA", 2, cny("10.00"))], T0,
                        adjustments=adjustments))
    story.send("pay", amount=cny("28.01"))
    story.send("ship", carrier="SF", waybill="SF1")
    order = story.send("refund", amount=cny("28.01"))
    assert order.status.name == "CLOSED"
    assert (order.totals.sold, order.totals.refunded) == (cny("0.00"), cny("28.01"))
    given = sorted((a.kind.value, str(a.amount.amount)) for a in order.adjustments
                   if a.label == "refund e3")
    assert given == [("rounding", "-0.01"), ("shipping_concession", "8.00")]


def test_margin_and_bridge_add_up_for_an_order_whose_shipping_went_back() -> None:
    story = shipped_tea(coupon="2.00")
    order = story.send("refund", amount=story.order.totals.paid)
    assert order.status.name == "CLOSED"
    fees = FeeTable("tmall", date(2026, 1, 1), Decimal("0.05"), Decimal("0.006"),
                    shipping_cost=cny("6.00"), packaging=cny("1.50"))

    class Catalog:
        def unit_cost(self, sku: str, on: date) -> Money | None:
            return cny("5.00")

    found = margin(order, CostModel([fees], Catalog()))
    assert found.revenue == cny("0.00")  # nothing sold, no shipping kept
    assert found.component("shipping_charged").amount == cny("0.00")  # type: ignore[union-attr]
    records = records_from_orders([order])
    total = sum((r.amount for r in records), cny("0.00"))
    assert total == order.totals.paid - order.totals.refunded == cny("0.00")
    # the stored form reads back the same
    assert from_dict(Order, to_dict(order)) == order


def test_refused_cash_on_delivery_parcel_closes_with_nothing_due() -> None:
    story = Story(Order("C1", "jd", "1", [OrderLine("1", "CUP", 2, cny("45.50"))], T0,
                        payment_terms=PaymentTerms.ON_DELIVERY,
                        adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("10.00"))]))
    story.send("ship", carrier="jd", waybill="J1")
    assert story.order.totals.due == cny("101.00")
    order = story.send("return_received", lines={"1": 2}, sellable={"1": 2})
    assert order.status.name == "CLOSED"
    totals = order.totals
    assert (totals.paid, totals.sold, totals.due, totals.refund_due) == (
        cny("0.00"), cny("0.00"), cny("0.00"), cny("0.00"))
    (waived,) = [a for a in order.adjustments if a.kind is AdjustmentKind.SHIPPING_CONCESSION]
    assert waived.amount == cny("10.00")
    assert waived.label.startswith("refused on delivery")


def test_a_cash_on_delivery_parcel_partly_refused_stays_shipped_and_owes_its_fee() -> None:
    story = Story(Order("C2", "jd", "2", [OrderLine("1", "CUP", 2, cny("45.50"))], T0,
                        payment_terms=PaymentTerms.ON_DELIVERY,
                        adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("10.00"))]))
    story.send("ship", carrier="jd", waybill="J1")
    order = story.send("return_received", lines={"1": 1})
    assert order.status.name == "SHIPPED"
    assert order.totals.due == cny("55.50")  # one cup and the fee, collected on delivery
    assert not [a for a in order.adjustments if a.kind is AdjustmentKind.SHIPPING_CONCESSION]
