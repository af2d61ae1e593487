"""Profit per order: the three-channel price story, unknown costs, settled fees, tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import attrs
import pytest

from orderkit import Address, Adjustment, AdjustmentKind, Bearer, Money, Order, OrderLine
from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.costing import CostModel, FeeTable, Party, loss_hold, margin, profit_by
from orderkit.errors import NotPermitted, ValidationError
from orderkit.lifecycle import Actor, Directory, Event, Lifecycle, OrderService, Policy
from orderkit.testing import ManualClock

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


class Catalog:
    def __init__(self, costs: dict[str, str]) -> None:
        self.costs = costs

    def unit_cost(self, sku: str, on: date) -> Money | None:
        cost = self.costs.get(sku)
        return None if cost is None else cny(cost)


FEES = [
    FeeTable("tmall", date(2026, 1, 1), Decimal("0.05"), Decimal("0.006"),
             shipping_cost=cny("6.00"), packaging=cny("1.50")),
    FeeTable("douyin", date(2026, 1, 1), Decimal("0.05"), Decimal("0.006"),
             shipping_cost=cny("6.00"), packaging=cny("1.50"), influencer_rate=Decimal("0.20")),
    FeeTable("pdd", date(2026, 1, 1), Decimal("0.006"), Decimal("0"),
             shipping_cost=cny("4.50"), packaging=cny("1.00")),
]
COSTS = CostModel(FEES, Catalog({"TEA": "52.00"}))


def sale(channel: str, price: str, *, coupon: str | None = None, order_id: str = "") -> Order:
    adjustments = (
        [Adjustment(AdjustmentKind.COUPON, cny(coupon), Bearer.MERCHANT)] if coupon else []
    )
    order = Order(order_id=order_id or f"ORD-{channel}", channel=channel,
                  channel_order_id=f"{channel}-1", lines=[OrderLine("1", "TEA", 1, cny(price))],
                  adjustments=adjustments, created_at=T0, ship_to=Address(province="浙江省"),
                  tags={f"{channel}-campaign"})
    if not order.totals.payable:  # nothing to pay
        return order
    paid = Lifecycle(clock=ManualClock(T0)).apply(order, Event(
        "pay", event_id="pay", at=T0, data={"amount": order.totals.payable}))
    return paid.order


def amounts(found: object) -> dict[str, str]:
    return {c.name: str(c.amount.amount) for c in found.components}  # type: ignore[attr-defined]


def test_the_same_tea_on_three_channels_and_the_flash_sale_loses_money() -> None:
    tmall = margin(sale("tmall", "99.00"), COSTS)
    assert amounts(tmall) == {
        "goods": "99.00", "merchant_discounts": "0.00", "shipping_charged": "0.00",
        "product_cost": "-52.00", "commission": "-4.95", "payment_fee": "-0.59",
        "influencer": "0.00", "shipping_cost": "-6.00", "packaging": "-1.50",
    }
    assert (tmall.revenue, tmall.profit, tmall.ratio) == (cny("99.00"), cny("33.96"),
                                                          Decimal("0.3430"))
    live = margin(sale("douyin", "89.00"), COSTS)
    assert live.component("influencer").amount == cny("-17.80")  # type: ignore[union-attr]
    assert (live.profit, live.ratio) == (cny("6.72"), Decimal("0.0755"))
    flash = margin(sale("pdd", "79.00", coupon="25.00"), COSTS)
    assert (flash.revenue, flash.profit, flash.ratio) == (cny("54.00"), cny("-3.82"),
                                                          Decimal("-0.0707"))
    assert flash.component("commission").amount == cny("-0.32")  # type: ignore[union-attr]
    assert all(not c.settled for c in flash.components) and flash.complete
    assert {c.name: c.borne_by for c in flash.components}["goods"] is Party.BUYER


def test_the_loss_making_order_is_held_with_its_numbers_and_released_by_a_second_person() -> None:
    lead = Actor("ops-lead", roles=["ops"])
    agent = Actor("ops-1", roles=["ops"])
    policy = Policy({"ops": {"hold", "release_hold"}}, directory=Directory([lead, agent]))
    repository = MemoryOrderRepository()
    service = OrderService(repository, lifecycle=Lifecycle(clock=ManualClock(T0), policy=policy))
    flash = sale("pdd", "79.00", coupon="25.00")
    service.place(flash)
    assert loss_hold(sale("tmall", "99.00"), COSTS, at=T0) is None  # it may ship
    bot = Actor("costing-bot", roles=["ops"])
    hold = loss_hold(flash, COSTS, at=T0 + timedelta(minutes=1), actor=bot)
    assert hold is not None and hold.data["kind"] == "loss_making"
    assert "margin -7.07%" in hold.data["reason"] and "profit -3.82" in hold.data["reason"]
    held = service.handle(flash.order_id, hold).order
    assert held.hold("loss_making") is not None
    release = {"kind": "loss_making"}
    with pytest.raises(NotPermitted, match="two-person"):
        service.handle(flash.order_id, Event("release_hold", event_id="rel-1", at=T0,
                                             actor=agent, data=release))
    with pytest.raises(NotPermitted, match="different person"):
        service.handle(flash.order_id, Event("release_hold", event_id="rel-2", at=T0,
                                             actor=agent, data={**release, "approved_by": "OPS-1"}))
    released = service.handle(flash.order_id, Event(
        "release_hold", event_id="rel-3", at=T0, actor=agent,
        data={**release, "approved_by": "ops-lead"})).order
    assert released.holds == ()
    again = loss_hold(released, COSTS, at=T0 + timedelta(hours=1), actor=bot)
    assert again is not None and again.event_id == hold.event_id  # same numbers, same id
    assert service.handle(flash.order_id, again).changed is False  # not held a second time


def test_a_loss_on_no_revenue_is_held_whatever_the_threshold() -> None:
    giveaway = sale("pdd", "0.00", order_id="ORD-free")  # a 0.00 lucky-draw order
    covered = sale("pdd", "79.00", coupon="79.00")  # the goods paid by the merchant's coupon
    for order in (giveaway, covered):
        found = margin(order, COSTS)
        assert (found.revenue, found.profit, found.ratio) == (cny("0.00"), cny("-57.50"), None)
        for threshold in (Decimal("-0.05"), Decimal("-0.99"), Decimal("0.10")):
            hold = loss_hold(order, COSTS, at=T0, threshold=threshold)
            assert hold is not None and hold.data["kind"] == "loss_making", order.order_id
            assert "a loss on no revenue" in hold.data["reason"]
    # no revenue and no loss (cancelled before it shipped): nothing to hold
    cancelled = Lifecycle(clock=ManualClock(T0)).apply(
        sale("pdd", "79.00"), Event("refund", event_id="r", at=T0,
                                    data={"amount": cny("79.00"), "lines": {"1": 1}})).order
    found = margin(cancelled, COSTS)
    assert (found.revenue, found.profit) == (cny("0.00"), cny("0.00"))
    assert loss_hold(cancelled, COSTS, at=T0, threshold=Decimal("0.10")) is None


def test_an_unknown_cost_is_named_never_zero() -> None:
    costs = CostModel(FEES, Catalog({}))
    found = margin(sale("tmall", "99.00"), costs)
    assert found.unknown == ("product cost of TEA",) and not found.complete
    assert found.component("product_cost").amount == cny("0.00")  # type: ignore[union-attr]
    hold = loss_hold(sale("tmall", "99.00"), costs, at=T0)
    assert hold is not None and hold.data == {"kind": "cost_unknown",
                                              "reason": "unknown: product cost of TEA"}
    assert loss_hold(sale("tmall", "99.00"), costs, at=T0, hold_unknown=False) is None
    no_table = margin(sale("jd", "99.00"), COSTS)
    assert no_table.unknown == ("fee table of jd on 2026-03-02",)


def test_settled_fees_replace_the_estimates() -> None:
    order = sale("tmall", "99.00")
    settled = attrs.evolve(order, adjustments=[
        Adjustment(AdjustmentKind.COMMISSION, cny("5.10"), Bearer.MERCHANT),
        Adjustment(AdjustmentKind.FEE, cny("0.60"), Bearer.MERCHANT),
    ])
    found = margin(settled, COSTS)
    assert (found.component("commission"), found.component("payment_fee")) == (
        found.components[4], found.components[5])
    assert found.component("commission").amount == cny("-5.10")  # type: ignore[union-attr]
    assert found.component("commission").settled  # type: ignore[union-attr]
    assert found.component("payment_fee").settled  # type: ignore[union-attr]


def test_fee_tables_are_chosen_by_the_shanghai_day_the_order_was_paid() -> None:
    raised = FeeTable("tmall", date(2026, 3, 1), Decimal("0.08"), Decimal("0.006"),
                      shipping_cost=cny("6.00"), packaging=cny("1.50"))
    costs = CostModel([*FEES, raised], Catalog({"TEA": "52.00"}))
    before = attrs.evolve(sale("tmall", "99.00"), paid_at=datetime(2026, 2, 28, 15, 30, tzinfo=UTC))
    after = attrs.evolve(sale("tmall", "99.00"), paid_at=datetime(2026, 2, 28, 16, 10, tzinfo=UTC))
    assert margin(before, costs).component("commission").amount == cny("-4.95")  # type: ignore[union-attr]
    assert margin(after, costs).component("commission").amount == cny("-7.92")  # type: ignore[union-attr]


def test_profit_tables_by_channel_sku_day_and_tag() -> None:
    orders = [sale("tmall", "99.00"), sale("douyin", "89.00"),
              sale("pdd", "79.00", coupon="25.00"), sale("pdd", "79.00", order_id="ORD-pdd-2")]
    by_channel = profit_by(orders, COSTS, "channel")
    assert list(by_channel) == ["douyin", "pdd", "tmall"]
    pdd = by_channel["pdd"]
    assert (pdd.orders, pdd.revenue, pdd.profit) == (2, cny("133.00"), cny("21.03") + cny("-3.82"))
    by_sku = profit_by(orders, COSTS, "sku")
    assert by_sku["TEA"].profit == sum((r.profit for r in by_channel.values()), cny("0"))
    assert list(profit_by(orders, COSTS, "day")) == ["2026-03-02"]
    assert profit_by(orders, COSTS, "tag")["douyin-campaign"].profit == cny("6.72")
    with pytest.raises(ValidationError):
        profit_by(orders, COSTS, "region")  # type: ignore[arg-type]


def test_bad_fee_tables_name_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        FeeTable("tmall", date(2026, 1, 1), 0.05, Decimal("0"),  # type: ignore[arg-type]
                 shipping_cost=cny("6.00"), packaging=cny("1.50"))
    assert caught.value.path == "commission_rate"
    with pytest.raises(ValidationError) as caught:
        FeeTable("tmall", date(2026, 1, 1), Decimal("1.5"), Decimal("0"),
                 shipping_cost=cny("6.00"), packaging=cny("1.50"))
    assert caught.value.path == "commission_rate"
    with pytest.raises(ValidationError) as caught:
        CostModel([FEES[0], FEES[0]], Catalog({}))
    assert caught.value.path == "fees[1].effective_from"


def test_costs_that_cannot_be_booked_are_refused_naming_the_field() -> None:
    order = sale("pdd", "79.00")
    with pytest.raises(ValidationError) as caught:  # a cost counted as income
        margin(order, CostModel(FEES, Catalog({"TEA": "-5.00"})))
    assert (caught.value.path, caught.value.value) == ("unit_cost['TEA']", cny("-5.00"))
    with pytest.raises(ValidationError) as caught:
        FeeTable("pdd", date(2026, 1, 1), Decimal("0.006"), Decimal("0"),
                 shipping_cost=cny("4.505"), packaging=cny("1.00"))
    assert (caught.value.path, caught.value.value) == ("shipping_cost", cny("4.505"))
    with pytest.raises(ValidationError) as caught:
        FeeTable("pdd", date(2026, 1, 1), Decimal("0.006"), Decimal("0"),
                 shipping_cost=Money("4.50", "USD"), packaging=cny("1.00"))
    assert caught.value.path == "packaging" and "shipping_cost" in str(caught.value)
    dollars = FeeTable("pdd", date(2026, 1, 1), Decimal("0.006"), Decimal("0"),
                       shipping_cost=Money("4.50", "USD"), packaging=Money("1.00", "USD"))
    with pytest.raises(ValidationError) as caught:  # a dollar table cannot cost a CNY order
        margin(order, CostModel([dollars], Catalog({"TEA": "52.00"})))
    assert caught.value.path == "shipping_cost" and "CNY" in str(caught.value)
    # a purchase price finer than the fen (an average cost) is booked rounded, once
    three = attrs.evolve(order, lines=[OrderLine("1", "TEA", 3, cny("79.00"))])
    found = margin(three, CostModel(FEES, Catalog({"TEA": "20.3333"})))
    assert found.component("product_cost").amount == cny("-61.00")  # type: ignore[union-attr]
    assert found.profit.is_whole_minor()


def test_the_health_page_shows_profit_by_day_and_channel_as_a_heat_map() -> None:
    from orderkit.costing import profit_grid
    from orderkit.model.time import accounting_period
    from orderkit.watch import health
    from orderkit.watch.page import health_page

    orders = [sale("tmall", "99.00"), sale("pdd", "79.00", coupon="25.00"),
              attrs.evolve(sale("jd", "99.00"), channel="<b>jd</b>")]
    grid = profit_grid(orders, COSTS)
    assert sorted(grid) == [("2026-03-02", "<b>jd</b>"), ("2026-03-02", "pdd"),
                            ("2026-03-02", "tmall")]
    assert grid[("2026-03-02", "pdd")].profit == cny("-3.82")
    assert grid[("2026-03-02", "<b>jd</b>")].unknown == 1  # no jd fee table
    repository = MemoryOrderRepository()
    report = health(repository, accounting_period(T0), now=T0 + timedelta(hours=1))
    page = health_page(report, profit=grid)
    assert "Profit margin by day and channel" in page
    assert ">-7.1%<" in page and ">34.3%<" in page and ">n/a<" in page
    assert "<b>jd</b>" not in page and "&lt;b&gt;jd&lt;/b&gt;" in page  # text, not markup
    assert "Profit by day and channel" not in health_page(report)  # only when given
