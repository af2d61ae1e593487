"""Margins after the sale: returns, refused parcels, refunds and what the platform funds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit import Adjustment, AdjustmentKind, Bearer, Money, Order, OrderLine, PaymentTerms
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
    story.send("return_received", at=T0 + 3 * DAY, lines={"1": 2}, sellable={"1": 2})
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


def test_a_unit_the_buyer_kept_or_that_was_scrapped_still_cost_the_merchant() -> None:
    """仅退款 (refunded, the buyer keeps the tin) and a tin returned but not sellable are
    gone for nothing: their product cost stays; only a tin back on the shelf leaves it."""

    def delivered() -> Story:
        story = Story(Order("O1", "pdd", "P1", [OrderLine("1", "TEA", 2, cny("79.00"))], T0))
        story.send("pay", amount=cny("158.00"))
        story.send("ship", carrier="SF", waybill="SF1")
        story.send("deliver", at=T0 + DAY)
        return story

    free = CostModel([FeeTable("pdd", date(2026, 1, 1), Decimal("0"), Decimal("0"),
                               shipping_cost=cny("0.00"), packaging=cny("0.00"))],
                     Shelf52())

    def cost_and_profit(order: Order) -> tuple[Money, Money]:
        found = margin(order, free)
        return found.component("product_cost").amount, found.profit  # type: ignore[union-attr]

    kept = delivered()
    order = kept.send("refund", at=T0 + 2 * DAY, amount=cny("79.00"), lines={"1": 1})
    assert cost_and_profit(order) == (cny("-104.00"), cny("-25.00"))
    for sellable, expected in (({}, ("-104.00", "-25.00")), ({"1": 1}, ("-52.00", "27.00"))):
        back = delivered()
        back.send("return_requested", at=T0 + 2 * DAY, lines={"1": 1})
        back.send("return_received", at=T0 + 3 * DAY, lines={"1": 1}, sellable=sellable)
        order = back.send("refund", at=T0 + 3 * DAY, amount=cny("79.00"))
        assert cost_and_profit(order) == (cny(expected[0]), cny(expected[1]))
    # a tin refunded on its way back (极速退款) costs until it arrives on the shelf
    quick = delivered()
    quick.send("return_requested", at=T0 + 2 * DAY, lines={"1": 1})
    order = quick.send("refund", at=T0 + 2 * DAY, amount=cny("79.00"), lines={"1": 1})
    assert cost_and_profit(order)[0] == cny("-104.00")
    order = quick.send("return_received", at=T0 + 3 * DAY, lines={"1": 1}, sellable={"1": 1})
    assert cost_and_profit(order) == (cny("-52.00"), cny("27.00"))
    # a unit refunded before it shipped never left: no cost
    early = Story(Order("O2", "pdd", "P2", [OrderLine("1", "TEA", 2, cny("79.00"))], T0))
    early.send("pay", amount=cny("158.00"))
    early.send("refund", amount=cny("79.00"), lines={"1": 1})
    order = early.send("ship", carrier="SF", waybill="SF2")
    assert cost_and_profit(order) == (cny("-52.00"), cny("27.00"))
    # imported already returned, with no receipt on record: back in stock, as the ledger
    # counts it when the order is placed
    line = OrderLine("1", "TEA", 2, cny("79.00"), quantities={"shipped": 1, "returned": 1})
    imported = Order("O3", "pdd", "P3", [line], T0, status=40)
    assert cost_and_profit(imported)[0] == cny("-52.00")


class Shelf52:
    def unit_cost(self, sku: str, on: date) -> Money | None:
        return cny("52.00")


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


def test_a_merchant_concession_after_a_unit_refund_is_the_merchants_alone() -> None:
    story = Story(Order("O1", "tmall", "T1", [OrderLine("1", "TEA", 2, cny("50.00"))], T0,
                        adjustments=[Adjustment(AdjustmentKind.COUPON, cny("40.00"),
                                                Bearer.PLATFORM)]))
    story.send("pay", amount=cny("60.00"))
    story.send("refund", amount=cny("30.00"), lines={"1": 1})
    order = story.send("refund", amount=cny("10.00"))  # a concession on the unit kept
    assert order.totals.sold == cny("20.00")
    found = margin(order, COSTS)
    # the buyer pays 20.00 for the unit kept, the platform gives back its 20.00 on it
    assert found.component("merchant_discounts").amount == cny("-10.00")  # type: ignore[union-attr]
    assert found.revenue == cny("40.00")


def test_a_unit_refunded_from_an_order_with_both_coupons_keeps_each_partys_share() -> None:
    story = Story(Order("O1", "tmall", "T1", [OrderLine("1", "TEA", 2, cny("50.00")),
                                              OrderLine("2", "CUP", 1, cny("20.00"))], T0,
                        adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("8.00")),
                                     Adjustment(AdjustmentKind.COUPON, cny("12.00"),
                                                Bearer.PLATFORM),
                                     Adjustment(AdjustmentKind.COUPON, cny("6.00"),
                                                Bearer.MERCHANT)]))
    story.send("pay", amount=cny("110.00"))
    story.send("ship", carrier="SF", waybill="SF1")
    # a tea worth 42.50 after both coupons refunded with 44.00: 1.50 more as a concession
    order = story.send("refund", amount=cny("44.00"), lines={"1": 1})
    assert order.totals.sold == cny("66.00")
    found = margin(order, COSTS)
    # the platform funds 5.00 + 2.00 of its coupon on the tea and the cup kept; the
    # merchant bears 2.50 + 1.00 of its own and the whole 1.50 concession
    assert found.component("merchant_discounts").amount == cny("-5.00")  # type: ignore[union-attr]
    assert found.revenue == cny("73.00")


@st.composite
def refunded_orders(draw: st.DrawFn) -> tuple[Order, Money]:
    """A paid order (perhaps shipped) with platform coupons on its lines, merchant
    discounts, shipping the platform may give back, then any sequence of unit refunds
    and partial refunds; with what the platform funds of its coupons on the units still
    sold and of the shipping still standing."""
    count = draw(st.integers(1, 3))
    lines, adjustments, per_unit = [], [], {}
    for n in range(count):
        line_id = str(n + 1)
        price = draw(st.integers(1, 20_000))
        quantity = draw(st.integers(1, 4))
        lines.append(OrderLine(line_id, f"SKU{n}", quantity, Money.from_minor(price, "CNY")))
        coupon = draw(st.integers(0, price // 2))
        per_unit[line_id] = coupon
        if coupon:
            adjustments.append(Adjustment(AdjustmentKind.COUPON,
                                          Money.from_minor(coupon * quantity, "CNY"),
                                          Bearer.PLATFORM, line_id))
        if draw(st.booleans()):
            adjustments.append(Adjustment(AdjustmentKind.DISCOUNT,
                                          Money.from_minor(draw(st.integers(0, quantity * (
                                              price - coupon) // 2)), "CNY"),
                                          Bearer.MERCHANT, line_id))
    goods = sum(line.amount.amount for line in lines)
    adjustments.append(Adjustment(AdjustmentKind.COUPON, Money.from_minor(
        draw(st.integers(0, int(goods * 100) // 4)), "CNY"), Bearer.MERCHANT))
    shipping = draw(st.integers(0, 2_000))
    adjustments.append(Adjustment(AdjustmentKind.SHIPPING, Money.from_minor(shipping, "CNY")))
    waived = draw(st.integers(0, shipping))  # the platform's free shipping, say
    if waived:
        adjustments.append(Adjustment(AdjustmentKind.SHIPPING_CONCESSION,
                                      Money.from_minor(waived, "CNY"), Bearer.PLATFORM))
    story = Story(Order("O1", "tmall", "T1", lines, T0, adjustments=adjustments))
    story.send("pay", amount=story.order.totals.payable)
    if draw(st.booleans()):
        story.send("ship", carrier="SF", waybill="SF1")
    for _ in range(draw(st.integers(0, 4))):
        order = story.order
        sold = {k: v for k, v in order.sold_units.items() if v}
        if sold and draw(st.booleans()):
            line_id = draw(st.sampled_from(sorted(sold)))
            order = story.send("refund", amount=cny("0.00"),
                               lines={line_id: draw(st.integers(1, sold[line_id]))})
        owed = order.totals.refund_due
        worth = sum(order.sold_by_line().values(), cny("0.00")) + order.shipping_standing
        room = min(worth, order.totals.paid - order.totals.refunded - owed)
        extra = Money.from_minor(draw(st.integers(0, max(0, int(room.amount * 100)))), "CNY")
        if owed + extra:
            story.send("refund", amount=owed + extra)
    order = story.order
    funded = sum(per_unit[line_id] * units for line_id, units in order.sold_units.items())
    if order.shipments or any(order.sold_units.values()):  # the shipping still stands
        funded += waived
    return order, Money.from_minor(funded, "CNY")


@settings(max_examples=300, deadline=None)
@given(refunded_orders())
def test_revenue_is_what_the_buyer_paid_net_of_refunds_plus_what_the_platform_funds(
    case: tuple[Order, Money],
) -> None:
    order, funded = case
    totals = order.totals
    assert totals.refund_due == totals.due == cny("0.00")
    found = margin(order, COSTS)
    assert found.revenue == totals.paid - totals.refunded + funded


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_discounts_the_platform_funds_alone_never_cost_the_merchant(data: st.DataObject) -> None:
    draw = data.draw
    lines, adjustments = [], []
    for n in range(draw(st.integers(1, 3))):
        line_id, price = str(n + 1), draw(st.integers(1, 20_000))
        quantity = draw(st.integers(1, 4))
        lines.append(OrderLine(line_id, f"SKU{n}", quantity, Money.from_minor(price, "CNY")))
        adjustments.append(Adjustment(AdjustmentKind.DISCOUNT, Money.from_minor(
            draw(st.integers(0, price * quantity // 3)), "CNY"), Bearer.PLATFORM, line_id))
    goods = sum(line.amount.amount for line in lines)
    for _ in range(draw(st.integers(1, 2))):
        adjustments.append(Adjustment(AdjustmentKind.COUPON, Money.from_minor(
            draw(st.integers(0, int(goods * 100) // 4)), "CNY"), Bearer.PLATFORM))
    story = Story(Order("O1", "tmall", "T1", lines, T0, adjustments=adjustments))
    story.send("pay", amount=story.order.totals.payable)
    for _ in range(draw(st.integers(0, 3))):
        sold = {k: v for k, v in story.order.sold_units.items() if v}
        if not sold:
            break
        line_id = draw(st.sampled_from(sorted(sold)))
        units = draw(st.integers(1, sold[line_id]))
        story.send("refund", amount=cny("0.00"), lines={line_id: units})
        if story.order.totals.refund_due:  # nothing to pay back for units given free
            story.send("refund", amount=story.order.totals.refund_due)
    found = margin(story.order, COSTS)
    sold_value = story.order.sold_value
    assert found.component("merchant_discounts").amount == cny("0.00")  # type: ignore[union-attr]
    assert found.revenue == sold_value.goods + sold_value.shipping


def test_shipping_the_platform_gives_back_comes_back_from_the_platform() -> None:
    def given_back(bearer: Bearer) -> Order:
        return tea(Adjustment(AdjustmentKind.SHIPPING_CONCESSION, cny("8.00"), bearer))

    free = given_back(Bearer.PLATFORM)  # the platform's free shipping: it pays the fee
    assert free.totals.payable == cny("100.00") and free.totals.settlement == cny("108.00")
    found = margin(free, COSTS)
    assert found.component("shipping_charged").amount == cny("8.00")  # type: ignore[union-attr]
    assert found.revenue == cny("108.00")
    waived = margin(given_back(Bearer.MERCHANT), COSTS)  # the merchant's own
    assert waived.component("shipping_charged").amount == cny("0.00")  # type: ignore[union-attr]
    assert waived.revenue == cny("100.00")


def test_a_line_shipping_fee_the_platform_gives_back_leaves_with_the_units() -> None:
    order = Order("O1", "tmall", "T1", [OrderLine("1", "TEA", 2, cny("50.00"))], T0,
                  adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("6.00"), line_id="1"),
                               Adjustment(AdjustmentKind.SHIPPING_CONCESSION, cny("6.00"),
                                          Bearer.PLATFORM, "1")])
    story = Story(order)
    story.send("pay", amount=cny("100.00"))
    order = story.send("refund", amount=cny("50.00"), lines={"1": 1})
    found = margin(order, COSTS)
    assert found.component("shipping_charged").amount == cny("3.00")  # type: ignore[union-attr]
    assert found.revenue == cny("53.00")
    order = story.send("refund", amount=cny("50.00"), lines={"1": 1})
    assert margin(order, COSTS).revenue == cny("0.00")
