"""Lines priced by their total: Douyin search-list items and multi-buy offers."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit.mapping import MULTI_BUY_REMAINDER, Registry, check, get_map, normalize
from orderkit.mapping.lines import split_total
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.money import Money
from orderkit.model.orders import AdjustmentKind, LineStatus

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"


def load(platform: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text("utf-8"))
    return payload


def test_douyin_search_list_item_reads_origin_amount_and_sum_amount() -> None:
    payload = load("douyin", "search_list_item_without_goods_price")
    assert all("goods_price" not in item for item in payload["sku_order_list"])
    order = normalize("douyin", payload)
    # sum_amount / item_num for the first line, origin_amount alone for the second.
    assert [line.unit_price for line in order.lines] == [
        Money("45.50", "CNY"), Money("128.00", "CNY")
    ]
    assert order.adjustments == ()
    assert order.totals.payable == Money.from_minor(payload["pay_amount"], "CNY")


def test_douyin_multi_buy_line_keeps_its_exact_total() -> None:
    payload = load("douyin", "multi_buy_three_for_100")
    item = payload["sku_order_list"][0]
    assert (item["item_num"], item["origin_amount"], item["sum_amount"]) == (3, 3333, 10000)
    order = normalize("douyin", payload)
    line = order.lines[0]
    [remainder] = [a for a in order.adjustments if a.label == MULTI_BUY_REMAINDER]
    assert (line.unit_price, line.amount) == (Money("33.33", "CNY"), Money("99.99", "CNY"))
    assert (remainder.kind, remainder.line_id) == (AdjustmentKind.ROUNDING, line.line_id)
    assert line.amount + remainder.amount == Money("100.00", "CNY")
    assert order.sold_by_line()[line.line_id] == Money("100.00", "CNY")
    totals = order.totals
    assert totals.payable == Money.from_minor(payload["pay_amount"], "CNY")
    # Every amount is whole fen: nothing downstream has to round.
    assert [m.minor for m in (totals.goods, totals.rounding, totals.payable, totals.sold)] == [
        18899, 1, 19500, 19500
    ]


def test_a_multi_buy_line_with_one_unit_cancelled_keeps_the_money_identity() -> None:
    order = normalize("douyin", load("douyin", "multi_buy_three_for_100"))
    line = order.lines[0]
    cancelled = attrs.evolve(
        line, quantities={LineStatus.OPEN: 2, LineStatus.CANCELLED: 1}
    )
    partly = attrs.evolve(order, lines=(cancelled, *order.lines[1:]))
    # Two of the three units carry two thirds of the remainder, rounded once.
    assert partly.sold_by_line()[line.line_id] == Money("66.67", "CNY")


def test_a_line_total_wins_over_a_unit_price_that_does_not_multiply_out() -> None:
    payload = load("douyin", "multi_buy_three_for_100")
    payload["sku_order_list"][0]["goods_price"] = 3333
    order = normalize("douyin", payload)
    assert order.lines[0].unit_price == Money("33.33", "CNY")
    assert order.totals.rounding == Money("0.01", "CNY")


def test_a_line_without_any_price_names_the_unit_price_field() -> None:
    payload = load("douyin", "search_list_item_without_goods_price")
    del payload["sku_order_list"][1]["origin_amount"]
    with pytest.raises(MappingError) as caught:
        normalize("douyin", payload)
    assert caught.value.path == "sku_order_list[1].goods_price"
    assert "neither a unit price nor a line total" in caught.value.reason


def test_check_reports_no_type_drift_for_search_list_items() -> None:
    batch = [load("douyin", "search_list_item_without_goods_price"),
             load("douyin", "multi_buy_three_for_100")]
    report = check("douyin", batch)
    assert report.drifted_fields == ()
    assert report.mapped == 2
    # Without the line total and origin_amount the same batch fails, and not as drift.
    spec = get_map("douyin")
    strict = attrs.evolve(spec, lines=attrs.evolve(
        spec.lines, unit_price=attrs.evolve(spec.lines.unit_price, required=True, fallback=()),
        line_total=None,
    ))
    registry = Registry(builtins=False)
    registry.register(strict)
    old = check("douyin", batch, registry=registry)
    assert old.mapped == 0
    assert old.drifted_fields == ()
    assert {f.path for f in old.errors} == {"sku_order_list[*].goods_price"}


def test_an_optional_unit_price_needs_a_line_total() -> None:
    spec = get_map("douyin")
    broken = attrs.evolve(spec, lines=attrs.evolve(spec.lines, line_total=None))
    with pytest.raises(DefinitionError) as caught:
        Registry(builtins=False).register(broken)
    assert caught.value.path == "douyin.lines.unit_price"


@given(
    fen=st.integers(min_value=0, max_value=10**12),
    quantity=st.integers(min_value=1, max_value=10**6),
)
def test_split_total_is_exact_and_rounds_down_to_the_fen(fen: int, quantity: int) -> None:
    total = Money.from_minor(fen, "CNY")
    unit, remainder = split_total(total, quantity)
    assert unit * quantity + remainder == total
    assert unit.is_whole_minor() and remainder.is_whole_minor()
    assert Decimal(0) <= remainder.amount < Decimal(quantity) / 100
