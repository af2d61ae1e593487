"""What the buyer paid for each line (``AdjustmentSpec.per_line_paid``): Youzan gives
each line's ``payment`` after every promotion and no order-level total of them, so a
line's discount is its goods less that payment, and each line's sold amount is what the
platform says it was paid, to the fen."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.mapping import AdjustmentSpec, Field, PlatformMap, Registry, check, compile_map
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.money import Money
from orderkit.model.orders import AdjustmentKind, Bearer

CUSTOM = Path(__file__).parents[2] / "fixtures" / "custom_maps"
TEA, CUP = "1541210987654321001", "1541210987654321002"


def youzan_map() -> PlatformMap:
    spec = importlib.util.spec_from_file_location("youzan_map", CUSTOM / "youzan_map.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found: PlatformMap = module.YOUZAN
    return found


def registry(platform_map: PlatformMap | None = None) -> Registry:
    out = Registry(builtins=False)
    out.register(platform_map or youzan_map())
    return out


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((CUSTOM / "youzan" / f"{name}.json").read_text("utf-8"))
    return payload


def test_each_line_sells_for_what_youzan_says_it_was_paid() -> None:
    order = registry().normalize("youzan", load("paid_two_lines_with_promotions"))
    assert order.sold_by_line() == {TEA: Money("100.00", "CNY"), CUP: Money("28.00", "CNY")}
    assert {(a.line_id, a.kind, a.borne_by, a.amount.amount, a.label)
            for a in order.adjustments if a.kind is AdjustmentKind.DISCOUNT} == {
        (TEA, AdjustmentKind.DISCOUNT, Bearer.MERCHANT, Money("18.00", "CNY").amount,
         "promotions"),
        (CUP, AdjustmentKind.DISCOUNT, Bearer.MERCHANT, Money("2.00", "CNY").amount,
         "promotions"),
    }
    assert order.totals.payable == Money("136.00", "CNY")
    assert order.line_discounts() == {TEA: Money("18.00", "CNY"), CUP: Money("2.00", "CNY")}


def test_a_payload_without_line_payments_maps_from_its_lines_alone() -> None:
    order = registry().normalize("youzan", load("awaiting_payment_only_required_fields"))
    assert order.adjustments == ()
    assert order.totals.payable == Money("59.00", "CNY")


def test_a_line_paid_more_than_its_goods_is_refused_naming_its_payment() -> None:
    payload = load("paid_two_lines_with_promotions")
    payload["full_order_info"]["orders"][1]["payment"] = "31.00"
    with pytest.raises(MappingError) as raised:
        registry().normalize("youzan", payload)
    assert raised.value.path == "full_order_info.orders[1].payment"
    assert raised.value.value == "31.00"
    assert "more than the line's goods 30.00" in raised.value.reason


def test_an_order_level_total_keeps_what_the_lines_do_not_account_for() -> None:
    base = youzan_map()
    with_total = attrs.evolve(base, adjustments=(
        base.adjustments[0],
        AdjustmentSpec("full_order_info.pay_info.discount_total", AdjustmentKind.DISCOUNT,
                       per_line_paid="payment", label="promotions"),
    ))
    payload = load("paid_two_lines_with_promotions")
    info = payload["full_order_info"]
    info["pay_info"].update(discount_total="23.00", payment="133.00")
    order = registry(with_total).normalize("youzan", payload)
    assert {(a.line_id, a.amount.amount) for a in order.adjustments if a.label == "promotions"} == {
        (TEA, Money("18.00", "CNY").amount), (CUP, Money("2.00", "CNY").amount),
        (None, Money("3.00", "CNY").amount),
    }
    info["pay_info"].update(discount_total="19.00", payment="137.00")
    with pytest.raises(MappingError) as raised:
        registry(with_total).normalize("youzan", payload)
    assert raised.value.path == "full_order_info.pay_info.discount_total"
    assert "less than the 20.00 its lines' payment leave" in raised.value.reason



def test_a_line_priced_by_its_total_pays_against_that_total() -> None:
    base = youzan_map()
    by_total = attrs.evolve(base, lines=attrs.evolve(
        base.lines, unit_price=attrs.evolve(base.lines.unit_price, required=False),
        line_total=Field("line_goods", "yuan")))
    payload = load("awaiting_payment_only_required_fields")
    info = payload["full_order_info"]
    line = info["orders"][0]
    del line["price"]
    line.update(num=3, line_goods="100.00", payment="90.00")
    info["pay_info"]["payment"] = "90.00"
    order = registry(by_total).normalize("youzan", payload)
    assert order.lines[0].unit_price == Money("33.33", "CNY")
    assert order.sold_by_line() == {"1541211000000000009": Money("90.00", "CNY")}


@pytest.mark.parametrize(("change", "entry"), [
    ({"path": None}, "adjustments[1]"),
    ({"per_line": "promotion_amount"}, "adjustments[1].per_line_paid"),
    ({"scope": "line", "path": "payment"}, "adjustments[1].per_line_paid"),
    ({"signed": True, "kind": AdjustmentKind.ROUNDING}, "adjustments[1].per_line_paid"),
])
def test_per_line_paid_is_checked_when_the_map_is_compiled(
    change: dict[str, Any], entry: str
) -> None:
    base = youzan_map()
    spec = base.adjustments[1]
    if change == {"path": None}:
        spec = attrs.evolve(spec, per_line_paid=None)
    else:
        spec = attrs.evolve(spec, **change)
    with pytest.raises(DefinitionError) as raised:
        compile_map(attrs.evolve(base, adjustments=(base.adjustments[0], spec)))
    assert raised.value.path == f"youzan.{entry}"


def test_check_counts_the_line_payment_as_mapped() -> None:
    payloads = [load("paid_two_lines_with_promotions"),
                load("awaiting_payment_only_required_fields")]
    report = check("youzan", copy.deepcopy(payloads), registry=registry())
    assert report.mapped == 2
    assert report.findings == ()
