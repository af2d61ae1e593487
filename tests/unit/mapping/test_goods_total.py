"""A goods total the platform counts below its lines (``PlatformMap.goods_total``):
Pinduoduo ``goods_amount`` is price times count less the seller's price change (改价),
a change the payload has no field for; the difference is the merchant's discount."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.errors import DefinitionError, MappingError
from orderkit.mapping import Registry, check, get_map, normalize
from orderkit.mapping.spec import Field
from orderkit.model.money import Money
from orderkit.model.orders import AdjustmentKind, Bearer

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping" / "pdd"
PRICE_CHANGE = "goods_amount: seller price change"


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return payload


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def sample() -> dict[str, Any]:
    text = resources.files("orderkit.mapping").joinpath("samples", "pdd.json").read_text("utf-8")
    payload: dict[str, Any] = json.loads(text)
    return payload


def test_a_seller_price_change_is_a_merchant_discount_of_the_order() -> None:
    payload = load("awaiting_shipment_seller_price_change")
    order = normalize("pdd", payload)
    changes = [(a.kind, a.borne_by, a.line_id, a.amount) for a in order.adjustments
               if a.label == PRICE_CHANGE]
    assert changes == [(AdjustmentKind.DISCOUNT, Bearer.MERCHANT, None, cny("5.00"))]
    totals = order.totals
    assert (totals.goods, totals.discounts, totals.payable) == (
        cny("105.00"), cny("13.00"), cny("92.00"))
    assert totals.paid == totals.sold == cny("92.00")


def test_the_sample_with_its_price_changed_maps_at_what_the_buyer_paid() -> None:
    changed = sample()
    changed.update(goods_amount=100.0, pay_amount=92.0)  # was 105.0 and 97.0
    assert normalize("pdd", changed).totals.payable == cny("92.00")
    assert check("pdd", [changed]).ok


def test_a_goods_total_equal_to_the_lines_adds_nothing() -> None:
    order = normalize("pdd", load("awaiting_shipment_three_lines"))
    assert not [a for a in order.adjustments if a.label == PRICE_CHANGE]


def test_without_a_goods_total_the_lines_are_the_goods() -> None:
    payload = load("awaiting_shipment_three_lines_only_required_fields")
    assert "goods_amount" not in payload
    order = normalize("pdd", payload)
    assert not [a for a in order.adjustments if a.label == PRICE_CHANGE]
    assert order.totals.payable == cny("97.00")


def test_a_goods_total_above_the_lines_is_refused_naming_it() -> None:
    payload = load("awaiting_shipment_seller_price_change")
    payload.update(goods_amount=110.0, pay_amount=102.0)
    with pytest.raises(MappingError) as caught:
        normalize("pdd", payload)
    assert (caught.value.path, caught.value.value) == ("goods_amount", 110.0)
    assert "105.00" in caught.value.reason


def test_a_goods_total_its_unit_refuses_is_refused_naming_it() -> None:
    payload = load("awaiting_shipment_seller_price_change")
    payload["goods_amount"] = "one hundred"
    with pytest.raises(MappingError) as caught:
        normalize("pdd", payload)
    assert (caught.value.path, caught.value.value) == ("goods_amount", "one hundred")


def test_a_goods_total_in_an_envelope_is_named_with_it() -> None:
    payload = load("awaiting_shipment_seller_price_change")
    payload["goods_amount"] = 110.0
    wrapped = {"order_info_get_response": {"order_info": payload}}
    with pytest.raises(MappingError) as caught:
        normalize("pdd", wrapped)
    assert caught.value.path == "order_info_get_response.order_info.goods_amount"


def test_a_goods_total_must_be_money() -> None:
    spec = attrs.evolve(get_map("pdd"), name="pdd_text_goods",
                        goods_total=Field("goods_amount", "text"))
    with pytest.raises(DefinitionError) as caught:
        Registry(builtins=False).register(spec)
    assert caught.value.path == "pdd_text_goods.goods_total"


def test_a_map_without_goods_total_is_told_of_it_by_check() -> None:
    spec = get_map("pdd")
    registry = Registry(builtins=False)
    registry.register(attrs.evolve(spec, goods_total=None,
                                   ignore=(*spec.ignore, "goods_amount")))
    changed = copy.deepcopy(sample())
    changed.update(goods_amount=100.0, pay_amount=92.0)
    [finding] = check("pdd", [changed], registry=registry).totals_mismatches
    assert "`goods_amount` (100.00)" in finding.suggestion
    assert "sum of the lines (105.00)" in finding.suggestion
    assert "`goods_total`" in finding.suggestion
