"""Whatever a platform sends, the only exception that comes out is ``MappingError``."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit.mapping import check, normalize
from orderkit.model.errors import MappingError
from orderkit.model.money import Money
from orderkit.testing.strategies import mutated_payloads, odd_json_values

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"
SEEDS = [
    (p.parent.name, json.loads(p.read_text("utf-8"))) for p in sorted(FIXTURES.glob("*/*.json"))
]

ODD = odd_json_values()


def mutated() -> st.SearchStrategy[tuple[str, Any]]:
    return mutated_payloads(SEEDS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_payloads_raise_only_mapping_errors(case: tuple[str, Any]) -> None:
    platform, payload = case
    try:
        order = normalize(platform, payload)
    except MappingError as error:
        assert error.platform == platform
        assert isinstance(error.path, str)
        assert error.path
    else:
        assert order.channel == platform


@settings(max_examples=60, deadline=None)
@given(st.lists(mutated(), min_size=1, max_size=3))
def test_check_never_crashes_on_mutated_batches(cases: list[tuple[str, Any]]) -> None:
    platform = cases[0][0]
    report = check(platform, [payload for _, payload in cases])
    assert report.records == len(cases)
    assert report.mapped <= report.records


@settings(max_examples=100, deadline=None)
@given(st.one_of(ODD, st.dictionaries(st.text(max_size=8), ODD, max_size=6)))
def test_arbitrary_json_is_refused_cleanly(payload: Any) -> None:
    for platform in ("tmall", "douyin", "shopify"):
        with contextlib.suppress(MappingError):
            normalize(platform, payload)


@st.composite
def pdd_orders(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """A Pinduoduo order with random float prices that are whole fen, and its payable in fen."""
    _, seed = next(s for s in SEEDS if s[0] == "pdd" and s[1]["order_sn"].startswith("260216-4"))
    order = copy.deepcopy(seed)
    items = []
    goods = 0
    for index in range(draw(st.integers(min_value=1, max_value=5))):
        cents = draw(st.integers(min_value=1, max_value=10**9))
        count = draw(st.integers(min_value=1, max_value=50))
        goods += cents * count
        items.append({**seed["item_list"][0], "sku_id": index, "outer_id": f"SKU-{index}",
                      "goods_price": cents / 100, "goods_count": count})
    platform = draw(st.integers(min_value=0, max_value=goods // 2))
    seller = draw(st.integers(min_value=0, max_value=goods // 2))
    postage = draw(st.integers(min_value=0, max_value=10**5))
    payable = goods - platform - seller + postage
    order.update(item_list=items, platform_discount=platform / 100, seller_discount=seller / 100,
                 capital_free_discount=0, postage=postage / 100, pay_amount=payable / 100,
                 goods_amount=goods / 100)
    return order, payable


@settings(max_examples=150, deadline=None)
@given(pdd_orders())
def test_float_amounts_reach_money_exactly_and_always_balance(case: tuple[Any, int]) -> None:
    order_info, payable_fen = case
    order = normalize("pdd", order_info)
    assert order.totals.payable == Money.from_minor(payable_fen, "CNY")
    assert order.totals.payable.amount.as_tuple().exponent == -2
