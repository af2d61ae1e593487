"""Profit tables: every grouping adds up to the margins of the orders, returns included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit import Adjustment, AdjustmentKind, Bearer, Money, Order, OrderLine
from orderkit.costing import CostModel, FeeTable, margin, profit_by
from orderkit.lifecycle import Event, Lifecycle
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


class Catalog:
    """TEA and CUP have a cost; nobody knows what the GIFT cost."""

    def unit_cost(self, sku: str, on: date) -> Money | None:
        return {"TEA": cny("20.00"), "CUP": cny("7.25")}.get(sku)


COSTS = CostModel([
    FeeTable("tmall", date(2026, 1, 1), Decimal("0.05"), Decimal("0.006"),
             shipping_cost=cny("4.50"), packaging=cny("1.00")),
    FeeTable("douyin", date(2026, 1, 1), Decimal("0.05"), Decimal("0.006"),
             shipping_cost=cny("6.00"), packaging=cny("1.50"), influencer_rate=Decimal("0.20")),
    FeeTable("pdd", date(2026, 1, 1), Decimal("0.006"), Decimal("0"),
             shipping_cost=cny("4.50"), packaging=cny("1.00"), shipping_subsidy=cny("1.00")),
], Catalog())


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


def shipped_and_returned(order: Order, lines: dict[str, int]) -> Story:
    story = Story(order)
    story.send("pay", amount=order.totals.payable)
    story.send("ship", carrier="SF", waybill="SF1")
    story.send("deliver", at=T0 + DAY)
    story.send("return_requested", at=T0 + 2 * DAY, lines=lines)
    story.send("return_received", at=T0 + 3 * DAY, lines=lines, sellable=lines)
    story.send("refund", at=T0 + 3 * DAY, amount=story.order.totals.refund_due)
    return story


def test_an_order_returned_in_full_that_kept_its_shipping_fee_has_its_sku_rows() -> None:
    def tea(order_id: str) -> Order:
        return Order(order_id, "tmall", order_id, [OrderLine("1", "TEA", 1, cny("50.00"))], T0,
                     adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("6.00"))])

    kept = Story(tea("K"))
    kept.send("pay", amount=cny("56.00"))
    back = shipped_and_returned(tea("B"), {"1": 1}).order
    assert back.status.name == "CLOSED" and not any(back.sold_units.values())
    found = margin(back, COSTS)
    assert (found.revenue, found.profit) == (cny("6.00"), cny("0.46"))
    orders = [kept.order, back]
    by_channel = profit_by(orders, COSTS, "channel")["tmall"]
    by_sku = profit_by(orders, COSTS, "sku")["TEA"]
    assert (by_sku.orders, by_sku.revenue, by_sku.profit) == (
        2, by_channel.revenue, by_channel.profit)
    # two SKUs returned in full: the order's remaining margin goes by what was sold
    two = Order("T", "tmall", "T", [OrderLine("1", "TEA", 1, cny("60.00")),
                                    OrderLine("2", "CUP", 2, cny("10.00"))], T0,
                adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("8.00"))])
    back = shipped_and_returned(two, {"1": 1, "2": 2}).order
    found = margin(back, COSTS)
    rows = profit_by([back], COSTS, "sku")
    assert {sku: row.revenue for sku, row in rows.items()} == {
        "CUP": cny("2.00"), "TEA": cny("6.00")}
    assert sum((row.profit for row in rows.values()), cny("0")) == found.profit



def test_a_discount_on_one_line_stays_with_that_lines_sku() -> None:
    """Douyin puts a 20.00 coupon on the tea's line alone: the tea row takes it (what
    the buyer pays for each line, ``Order.sold_by_line``), the cup row does not. A
    line's coupon the platform funds comes back from it, so it moves nothing."""
    def order(bearer: Bearer) -> Order:
        return Order("D", "douyin", "D", [OrderLine("1", "TEA", 1, cny("90.00")),
                                          OrderLine("2", "CUP", 2, cny("45.00"))], T0,
                     adjustments=[Adjustment(AdjustmentKind.DISCOUNT, cny("20.00"), bearer, "1")])

    merchant = order(Bearer.MERCHANT)
    assert merchant.sold_by_line() == {"1": cny("70.00"), "2": cny("90.00")}
    rows = profit_by([merchant], COSTS, "sku")
    assert {sku: row.revenue for sku, row in rows.items()} == {
        "CUP": cny("90.00"), "TEA": cny("70.00")}
    found = margin(merchant, COSTS)
    assert sum((row.profit for row in rows.values()), cny("0")) == found.profit
    rows = profit_by([order(Bearer.PLATFORM)], COSTS, "sku")
    assert {sku: row.revenue for sku, row in rows.items()} == {
        "CUP": cny("90.00"), "TEA": cny("90.00")}
    # a line discount beyond its own goods (the order's shipping pays for it) takes the
    # line's share to nothing, not below
    beyond = Order("B", "douyin", "B", [OrderLine("1", "TEA", 1, cny("10.00")),
                                        OrderLine("2", "CUP", 1, cny("30.00"))], T0,
                   adjustments=[Adjustment(AdjustmentKind.DISCOUNT, cny("15.00"),
                                           Bearer.MERCHANT, "1"),
                                Adjustment(AdjustmentKind.SHIPPING, cny("8.00"))])
    rows = profit_by([beyond], COSTS, "sku")
    assert {sku: row.revenue for sku, row in rows.items()} == {
        "CUP": margin(beyond, COSTS).revenue, "TEA": cny("0.00")}


SKUS = ("TEA", "CUP", "GIFT")


@st.composite
def shop_orders(draw: st.DrawFn, number: int) -> Order:
    """An order of one to three lines (a 0.00 gift among them, perhaps) with coupons of
    either party, discounts and shipping, paid on one of three days, then kept, cancelled,
    refunded in part or in full before it shipped, or shipped and returned in part or
    in full (the shipping fee kept or given back too)."""
    order_id = f"O{number}"
    lines, adjustments = [], []
    for n in range(draw(st.integers(1, 3))):
        line_id = str(n + 1)
        price = draw(st.sampled_from([0, 1, 999, 5_000, 12_345]))
        quantity = draw(st.integers(1, 3))
        lines.append(OrderLine(line_id, draw(st.sampled_from(SKUS)), quantity,
                               Money.from_minor(price, "CNY")))
        if price and draw(st.booleans()):
            adjustments.append(Adjustment(
                AdjustmentKind.DISCOUNT,
                Money.from_minor(draw(st.integers(0, price * quantity // 3)), "CNY"),
                draw(st.sampled_from([Bearer.MERCHANT, Bearer.PLATFORM])), line_id))
    goods = int(sum(line.amount.amount for line in lines) * 100)
    for bearer in (Bearer.MERCHANT, Bearer.PLATFORM):
        if goods and draw(st.booleans()):
            adjustments.append(Adjustment(AdjustmentKind.COUPON, Money.from_minor(
                draw(st.integers(0, goods // 3)), "CNY"), bearer))
    shipping = draw(st.sampled_from([0, 600, 1_000]))
    if shipping:
        adjustments.append(Adjustment(AdjustmentKind.SHIPPING, Money.from_minor(shipping, "CNY")))
    story = Story(Order(order_id, draw(st.sampled_from(["tmall", "douyin", "pdd"])), order_id,
                        lines, T0 - draw(st.integers(0, 2)) * DAY, adjustments=adjustments,
                        tags=draw(st.sampled_from([set(), {"live"}, {"flash"}]))))
    fate = draw(st.sampled_from(["unpaid", "cancel", "paid", "refund", "return"]))
    if fate == "cancel":
        return story.send("cancel")
    if fate == "unpaid" or not story.order.totals.payable:  # nothing to pay: left unpaid
        return story.order
    story.send("pay", amount=story.order.totals.payable)
    everything = {line.line_id: line.quantity for line in lines}
    chosen = {line_id: draw(st.integers(0, units)) for line_id, units in everything.items()}
    chosen = {line_id: units for line_id, units in chosen.items() if units} or everything
    if fate == "refund":
        story.send("refund", amount=cny("0.00"), lines=chosen)
        if story.order.totals.refund_due:
            story.send("refund", amount=story.order.totals.refund_due)
    elif fate == "return":
        story.send("ship", carrier="SF", waybill=f"SF{number}")
        story.send("deliver", at=T0 + DAY)
        story.send("return_requested", at=T0 + 2 * DAY, lines=chosen)
        story.send("return_received", at=T0 + 3 * DAY, lines=chosen, sellable=chosen)
        if story.order.totals.refund_due:
            story.send("refund", at=T0 + 3 * DAY, amount=story.order.totals.refund_due)
        kept = story.order.shipping_standing
        if kept and not any(story.order.sold_units.values()) and draw(st.booleans()):
            story.send("refund", at=T0 + 3 * DAY, amount=kept)  # the fee given back too
    return story.order


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6).flatmap(
    lambda count: st.tuples(*(shop_orders(n) for n in range(count)))))
def test_every_grouping_adds_up_to_the_margins_of_the_orders(orders: tuple[Order, ...]) -> None:
    margins = [margin(order, COSTS) for order in orders]
    known = [found for found in margins if found.complete]
    revenue = sum((found.revenue for found in known), cny("0.00"))
    profit = sum((found.profit for found in known), cny("0.00"))
    for key in ("channel", "sku", "day", "tag"):
        rows = profit_by(orders, COSTS, key).values()
        assert sum((row.revenue for row in rows), cny("0.00")) == revenue, key
        assert sum((row.profit for row in rows), cny("0.00")) == profit, key
        if key != "sku":  # an order counts once under each of its SKUs
            assert sum(row.orders for row in rows) == len(orders), key
            assert sum(row.unknown for row in rows) == len(margins) - len(known), key
