"""Order-level amounts a platform allocates to the lines (``AdjustmentSpec.per_line``):
each line's share is an adjustment of that line, the rest stays on the order."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.mapping import (
    AdjustmentSpec,
    Field,
    LinesSpec,
    PlatformMap,
    Registry,
    StatusAxis,
    StatusRule,
    StatusTable,
    check,
    compile_map,
    get_map,
    normalize,
)
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.money import Money
from orderkit.model.orders import AdjustmentKind, Bearer, Order, OrderStatus

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"
TEA, CUP = "6932104587619990101", "6932104587619990102"


def load(platform: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text("utf-8"))
    return payload


def shares(order: Order, label: str) -> dict[str | None, Money]:
    return {a.line_id: a.amount for a in order.adjustments if a.label == label}


def test_a_douyin_promotion_sits_on_the_sku_order_douyin_allocated_it_to() -> None:
    order = normalize("douyin", load("douyin", "refund_one_sku_with_allocated_coupon"))
    assert shares(order, "shop promotion") == {TEA: Money("20.00", "CNY")}
    assert order.totals.discounts == Money("20.00", "CNY")
    assert order.line_discounts() == {TEA: Money("20.00", "CNY"), CUP: Money("0.00", "CNY")}


def test_what_the_sku_orders_do_not_account_for_stays_on_the_shop_order() -> None:
    payload = load("douyin", "refund_one_sku_with_allocated_coupon")
    payload.update(promotion_shop_amount=2600, promotion_amount=2600, pay_amount=15400)
    order = normalize("douyin", payload)
    assert shares(order, "shop promotion") == {TEA: Money("20.00", "CNY"),
                                               None: Money("6.00", "CNY")}
    assert order.totals.payable == Money("154.00", "CNY")


def test_without_sku_level_amounts_the_promotion_stays_on_the_shop_order() -> None:
    order = normalize("douyin", load("douyin", "refund_one_sku_without_sku_amounts"))
    assert shares(order, "shop promotion") == {None: Money("20.00", "CNY")}
    assert order.line_discounts() == {TEA: Money("10.00", "CNY"), CUP: Money("10.00", "CNY")}


def test_each_bearer_keeps_its_own_share() -> None:
    payload = load("douyin", "refund_one_sku_with_allocated_coupon")
    cup = payload["sku_order_list"][1]
    cup.update(promotion_platform_amount=300, promotion_talent_amount=200)
    payload.update(promotion_platform_amount=300, promotion_talent_amount=200,
                   pay_amount=15500)
    order = normalize("douyin", payload)
    assert {(a.line_id, a.borne_by, a.amount.amount) for a in order.adjustments} == {
        (TEA, Bearer.MERCHANT, Money("20.00", "CNY").amount),
        (CUP, Bearer.PLATFORM, Money("3.00", "CNY").amount),
        (CUP, Bearer.INFLUENCER, Money("2.00", "CNY").amount),
    }
    assert order.totals.platform_funded == Money("3.00", "CNY")


def test_shares_beyond_the_order_level_amount_are_refused_naming_it() -> None:
    payload = load("douyin", "refund_one_sku_with_allocated_coupon")
    payload["sku_order_list"][1]["promotion_shop_amount"] = 100
    with pytest.raises(MappingError) as caught:
        normalize("douyin", {"data": {"shop_order_detail": payload}})
    assert caught.value.path == "data.shop_order_detail.promotion_shop_amount"
    assert caught.value.value == 2000
    assert "less than the 21.00 its lines' promotion_shop_amount add up to" in (
        caught.value.reason)


def test_a_bad_share_is_refused_naming_the_line_field() -> None:
    payload = load("douyin", "refund_one_sku_with_allocated_coupon")
    payload["sku_order_list"][1]["promotion_talent_amount"] = "2.00"
    with pytest.raises(MappingError) as caught:
        normalize("douyin", payload)
    assert (caught.value.path, caught.value.value) == (
        "sku_order_list[1].promotion_talent_amount", "2.00")


def test_a_shopify_code_on_one_line_and_each_lines_tax_sit_on_those_lines() -> None:
    order = normalize("shopify", load("shopify", "partially_refunded_code_on_one_line"))
    tea, cup = (line.line_id for line in order.lines)
    assert shares(order, "total_discounts") == {tea: Money("10.00", "USD")}
    assert shares(order, "total_tax") == {tea: Money("3.72", "USD"), cup: Money("1.50", "USD")}
    assert order.totals.payable == Money("92.22", "USD")


def test_without_the_order_level_amount_the_lines_shares_are_the_whole() -> None:
    payload = load("shopify", "partially_refunded_code_on_one_line")
    del payload["total_discounts"]
    order = normalize("shopify", payload)
    assert shares(order, "total_discounts") == {order.lines[0].line_id: Money("10.00", "USD")}


def test_tax_in_the_prices_is_not_read_from_the_lines_either() -> None:
    payload = load("shopify", "partially_refunded_code_on_one_line")
    payload.update(taxes_included=True, total_price="87.00")
    assert normalize("shopify", payload).totals.tax == Money("0.00", "USD")


@pytest.mark.parametrize(
    ("where", "value", "path", "reason"),
    [
        ("discount_allocations", {"amount": "10.00"}, "line_items[0].discount_allocations",
         "expected a list"),
        ("discount_allocations", ["10.00"], "line_items[0].discount_allocations[0]",
         "expected an object"),
        ("tax_lines", [{"price": "3.725"}], "line_items[0].tax_lines[0].price",
         "more than 2 decimals"),
    ],
)
def test_a_malformed_allocation_list_is_refused_naming_it(
    where: str, value: object, path: str, reason: str
) -> None:
    payload = load("shopify", "partially_refunded_code_on_one_line")
    payload["line_items"][0][where] = value
    with pytest.raises(MappingError, match=reason) as caught:
        normalize("shopify", payload)
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scope": "line"}, "per_line is for an order-level, unsigned amount"),
        ({"kind": AdjustmentKind.ROUNDING, "signed": True},
         "per_line is for an order-level, unsigned amount"),
        ({"per_line": "allocations[*]"}, "bad path segment"),
        ({"per_line": "a[*].b[*].c"}, "bad path segment"),
    ],
)
def test_a_per_line_the_engine_cannot_read_is_refused_when_defined(
    change: dict[str, Any], message: str
) -> None:
    base = get_map("douyin")
    adjustments = list(base.adjustments)
    adjustments[1] = attrs.evolve(adjustments[1], **change)
    with pytest.raises(DefinitionError, match=message) as caught:
        compile_map(attrs.evolve(base, adjustments=tuple(adjustments)))
    assert caught.value.path.startswith("douyin.adjustments[1]")


def test_an_extended_map_can_read_a_line_share_of_its_own() -> None:
    payload = load("douyin", "refund_one_sku_without_sku_amounts")
    payload["sku_order_list"][1]["gift_wrap"] = [{"fee": 150}, {"fee": 50}]
    payload.update(gift_wrap_fee=200, pay_amount=16200)
    extended = get_map("douyin").extended(
        "douyin_gift_wrap",
        adjustments=(AdjustmentSpec("gift_wrap_fee", AdjustmentKind.SHIPPING, Bearer.BUYER,
                                    unit="fen", per_line="gift_wrap[*].fee"),),
    )
    order = compile_map(extended).normalize(payload)
    assert shares(order, "gift_wrap_fee") == {CUP: Money("2.00", "CNY")}


@pytest.mark.parametrize(
    ("platform", "names"),
    [
        ("douyin", ("refund_one_sku_with_allocated_coupon",
                    "refund_one_sku_without_sku_amounts")),
        ("shopify", ("partially_refunded_code_on_one_line",
                     "partially_refunded_code_without_line_allocations")),
    ],
)
def test_check_reads_the_allocation_fixtures_without_findings(
    platform: str, names: tuple[str, ...]
) -> None:
    report = check(platform, [copy.deepcopy(load(platform, name)) for name in names])
    assert report.ok, report.to_text()
    assert not report.unmapped_fields


def _seller_adjusted(adjust_fee: str, payment: str) -> Order:
    """A Youzan-like trade whose seller changed the price (``adjust_fee``, either way)."""
    youzan = PlatformMap(
        name="youzan", source_zone="Asia/Shanghai",
        order_id=Field("tid", "id"), created_at=Field("created", "timestamp"),
        payable=Field("payment", "yuan"),
        lines=LinesSpec("orders", sku=Field("sku", "id"), quantity=Field("num", "count"),
                        unit_price=Field("price", "yuan")),
        status=StatusTable({"trade": StatusAxis("status", values=("WAIT_SELLER_SEND_GOODS",))},
                           (StatusRule({}, OrderStatus.PAID),)),
        adjustments=(AdjustmentSpec("adjust_fee", AdjustmentKind.ROUNDING, Bearer.MERCHANT,
                                    signed=True, label="seller adjust"),),
    )
    registry = Registry(builtins=False)
    registry.register(youzan)
    return registry.normalize("youzan", {
        "tid": "E1", "created": "2026-02-16 00:30:00", "status": "WAIT_SELLER_SEND_GOODS",
        "orders": [{"sku": "TEA", "num": 2, "price": "50.00"}],
        "adjust_fee": adjust_fee, "payment": payment,
    })


@pytest.mark.parametrize(("adjust_fee", "payment"), [("5.00", "105.00"), ("-5.00", "95.00")])
def test_a_signed_order_level_adjustment_maps_either_way(adjust_fee: str, payment: str) -> None:
    order = _seller_adjusted(adjust_fee, payment)
    assert shares(order, "seller adjust") == {None: Money(adjust_fee, "CNY")}
    assert order.totals.payable == Money(payment, "CNY")
