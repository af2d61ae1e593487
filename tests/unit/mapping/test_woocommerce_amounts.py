"""WooCommerce money as the REST API v3 writes it: a coupon lowers each line's ``total``
(and its ``price``, which is ``total / quantity``) and is repeated in ``discount_total``;
the map counts it once."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orderkit.errors import MappingError
from orderkit.mapping import normalize
from orderkit.model.money import Money
from orderkit.model.orders import AdjustmentKind, Bearer

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping" / "woocommerce"


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return payload


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def test_a_coupon_is_counted_once_lines_priced_before_it() -> None:
    payload = load("processing_with_coupon")
    assert payload["line_items"][0]["price"] == 2.7  # total / quantity, after the coupon
    order = normalize("woocommerce", payload)
    assert [line.unit_price for line in order.lines] == [usd("3.00"), usd("12.00")]
    coupons = [(a.kind, a.borne_by, a.amount) for a in order.adjustments
               if a.kind is AdjustmentKind.COUPON]
    assert coupons == [(AdjustmentKind.COUPON, Bearer.MERCHANT, usd("1.80"))]
    totals = order.totals
    assert (totals.goods, totals.discounts, totals.payable) == (
        usd("18.00"), usd("1.80"), usd("26.20"))
    assert order.totals.paid == order.totals.sold == usd("26.20")


def test_a_fixed_cart_coupon_spread_over_three_lines_is_counted_once() -> None:
    order = normalize("woocommerce", load("on_hold_bank_transfer"))
    assert [line.unit_price for line in order.lines] == [usd("24.00"), usd("12.50"),
                                                         usd("38.00")]
    assert (order.totals.discounts, order.totals.payable) == (usd("5.00"), usd("100.40"))


def test_without_a_subtotal_the_line_price_is_the_unit_price() -> None:
    payload = load("processing_only_required_fields")
    assert "subtotal" not in payload["line_items"][0]
    order = normalize("woocommerce", payload)
    assert [line.unit_price for line in order.lines] == [usd("3.00"), usd("12.00")]
    assert order.totals.payable == usd("29.35")


def test_a_fee_line_is_a_charge_the_buyer_pays() -> None:
    payload = load("processing_with_gift_wrap_fee")
    order = normalize("woocommerce", payload)
    fees = [(a.kind, a.borne_by, a.amount) for a in order.adjustments
            if a.amount == usd("5.00")]
    assert fees == [(AdjustmentKind.SHIPPING, Bearer.BUYER, usd("5.00"))]
    assert order.totals.payable == order.totals.paid == usd("34.35")


def test_a_negative_fee_is_refused_naming_it() -> None:
    payload = load("processing_with_gift_wrap_fee")
    payload["fee_lines"][0]["total"] = "-5.00"
    payload["total"] = "24.35"
    with pytest.raises(MappingError) as caught:
        normalize("woocommerce", payload)
    assert (caught.value.path, caught.value.value) == ("fee_lines[0].total", "-5.00")


def test_a_fee_line_of_an_unknown_tax_status_is_refused_naming_it() -> None:
    payload = load("processing_with_gift_wrap_fee")
    payload["fee_lines"][0]["tax_status"] = "shipping-only"
    with pytest.raises(MappingError) as caught:
        normalize("woocommerce", payload)
    assert caught.value.path == "fee_lines[0].tax_status"


def test_a_php_float_price_of_a_line_with_a_coupon_is_priced_from_its_subtotal() -> None:
    payload = load("processing_with_coupon")
    line = payload["line_items"][1]
    payload["line_items"] = [dict(line, quantity=3, subtotal="30.00", total="20.00",
                                  price=20 / 3)]  # get_total() / get_quantity() in PHP
    payload.update(discount_total="10.00", total="30.00",
                   coupon_lines=[dict(payload["coupon_lines"][0], discount="10.00")])
    assert payload["line_items"][0]["price"] == 6.666666666666667
    order = normalize("woocommerce", payload)
    assert [line.unit_price for line in order.lines] == [usd("10.00")]
    assert [a.amount for a in order.adjustments if a.kind is AdjustmentKind.COUPON] == [
        usd("10.00")]
    assert (order.totals.goods, order.totals.payable) == (usd("30.00"), usd("30.00"))
    assert order.totals.paid == usd("30.00")


def test_a_php_float_price_without_a_coupon_is_priced_from_its_subtotal() -> None:
    payload = load("processing_from_docs")
    line = payload["line_items"][0]
    payload["line_items"] = [dict(line, quantity=3, subtotal="0.30", total="0.30",
                                  subtotal_tax="0.00", total_tax="0.00", taxes=[],
                                  price=0.30 / 3)]
    assert payload["line_items"][0]["price"] == 0.09999999999999999
    payload.update(total=str(Decimal("0.30") + Decimal(payload["shipping_total"])),
                   total_tax="0.00", cart_tax="0.00", shipping_tax="0.00",
                   discount_total="0.00", tax_lines=[])
    order = normalize("woocommerce", payload)
    assert [(line.quantity, line.unit_price) for line in order.lines] == [(3, usd("0.10"))]
    assert order.totals.payable == usd(payload["total"])


def test_a_price_its_unit_refuses_is_still_refused_without_a_subtotal() -> None:
    payload = load("processing_only_required_fields")
    payload["line_items"][0]["price"] = 20 / 3
    with pytest.raises(MappingError) as caught:
        normalize("woocommerce", payload)
    assert (caught.value.path, caught.value.value) == ("line_items[0].price", 20 / 3)
