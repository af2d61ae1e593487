"""Payloads that cannot be mapped fail loudly, with the platform, the path and the value."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from orderkit.mapping import MappingFailure, normalize, normalize_many
from orderkit.model.errors import MappingError, ValidationError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"


def load(platform: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text("utf-8"))
    return payload


def fails(platform: str, payload: object) -> MappingError:
    with pytest.raises(MappingError) as caught:
        normalize(platform, payload)  # type: ignore[arg-type]
    return caught.value


def test_bad_price_on_the_third_sub_order_names_its_path() -> None:
    trade = load("tmall", "wait_seller_send_goods")
    trade["orders"]["order"][2]["price"] = "12,80"
    error = fails("tmall", trade)
    assert (error.platform, error.path, error.value) == ("tmall", "orders.order[2].price", "12,80")
    assert "decimal" in error.reason
    assert str(error).startswith("tmall: orders.order[2].price:")
    assert isinstance(error, ValidationError)


def test_unknown_status_is_an_error_not_a_default() -> None:
    trade = load("tmall", "wait_seller_send_goods")
    trade["status"] = "WAIT_PRE_AUTH_CONFIRM"
    error = fails("tmall", trade)
    assert (error.path, error.value) == ("status", "WAIT_PRE_AUTH_CONFIRM")
    assert "add 'WAIT_PRE_AUTH_CONFIRM' to the tmall status table" in error.reason


def test_unknown_line_status_names_the_line() -> None:
    order = load("douyin", "partial_refund_one_sku")
    order["sku_order_list"][1]["after_sale_info"]["refund_status"] = 9
    error = fails("douyin", order)
    assert (error.path, error.value) == ("sku_order_list[1].after_sale_info.refund_status", 9)


def test_status_sent_as_text_where_the_platform_sends_numbers_is_refused() -> None:
    order = load("pdd", "awaiting_shipment_three_lines")
    order["order_status"] = "1"
    assert fails("pdd", order).path == "order_status"


def test_missing_required_field_is_named() -> None:
    order = load("jd", "finished")
    del order["orderId"]
    error = fails("jd", order)
    assert (error.path, error.reason) == ("orderId", "required field missing")


def test_float_that_drifted_below_the_fen_is_refused_not_rounded() -> None:
    order = load("pdd", "awaiting_shipment_three_lines")
    order["item_list"][0]["goods_price"] = 19.9 * 3  # 59.699999999999996
    error = fails("pdd", order)
    assert error.path == "item_list[0].goods_price"
    assert "more than 2 decimals" in error.reason


def test_yuan_string_field_refuses_a_float() -> None:
    order = load("jd", "finished")
    order["itemInfoList"][0]["jdPrice"] = 128.0
    error = fails("jd", order)
    assert error.path == "itemInfoList[0].jdPrice"
    assert "yuan_float" in error.reason


def test_fen_field_refuses_a_yuan_string() -> None:
    order = load("douyin", "awaiting_payment")
    order["pay_amount"] = "136.00"
    assert fails("douyin", order).path == "pay_amount"


def test_totals_that_do_not_add_up_are_refused_with_the_arithmetic() -> None:
    trade = load("tmall", "wait_seller_send_goods")
    trade["payment"] = "300.00"
    error = fails("tmall", trade)
    assert error.path == "payment"
    assert "= 328.50, but the platform's payable is 300.00" in error.reason


def test_non_object_payload_and_unknown_platform_are_mapping_errors() -> None:
    assert fails("tmall", ["not", "an", "order"]).path == "$"
    with pytest.raises(MappingError, match="unknown platform"):
        normalize("ebay", {})


def test_refund_of_more_units_than_the_line_has_is_refused() -> None:
    order = load("shopify", "fulfilled_partially_refunded")
    order["refunds"][0]["refund_line_items"][0]["quantity"] = 3
    error = fails("shopify", order)
    assert error.path == "refunds[0].refund_line_items[0].quantity"


def test_normalize_many_keeps_successes_and_failures_side_by_side() -> None:
    good = load("jd", "finished")
    bad = copy.deepcopy(good)
    bad["orderState"] = "WAIT_FOR_MARS"
    also_good = load("jd", "cancelled_unpaid")
    result = normalize_many("jd", [good, bad, "garbage", also_good])
    assert len(result) == 4
    assert [o.channel_order_id for o in result.orders] == ["281730001122", "281736999002"]
    assert [(f.index, f.error.path) for f in result.failures] == [(1, "orderState"), (2, "$")]
    assert isinstance(result.outcomes[1], MappingFailure)
    assert result.outcomes[1].payload is bad
    assert not result.ok


@pytest.mark.parametrize("drifted", [True, 1.0, "2"])
def test_status_of_the_wrong_json_type_is_unknown_even_if_it_compares_equal(
    drifted: object,
) -> None:
    order = load("pdd", "awaiting_shipment_three_lines")
    order["confirm_status"] = drifted
    error = fails("pdd", order)
    assert (error.path, error.value) == ("confirm_status", drifted)


def test_a_whole_api_response_is_unwrapped_and_errors_name_the_envelope() -> None:
    trade = load("tmall", "wait_seller_send_goods")
    response = {"trade_fullinfo_get_response": {"trade": trade, "request_id": "3d7p1q"}}
    assert normalize("tmall", response) == normalize("tmall", trade)
    trade["orders"]["order"][2]["price"] = None
    error = fails("tmall", response)
    assert error.path == "trade_fullinfo_get_response.trade.orders.order[2].price"


@pytest.mark.parametrize(
    ("platform", "name", "envelope"),
    [
        ("pdd", "cancelled", ("order_info_get_response", "order_info")),
        ("douyin", "awaiting_payment", ("data", "shop_order_detail")),
        ("shopify", "pending_bank_deposit", ("order",)),
    ],
)
def test_platform_response_envelopes(platform: str, name: str, envelope: tuple[str, ...]) -> None:
    payload: Any = load(platform, name)
    expected = normalize(platform, payload)
    for key in reversed(envelope):
        payload = {key: payload}
    assert normalize(platform, payload) == expected
