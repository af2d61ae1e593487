"""Every recorded platform payload maps, and its money adds up to the platform's own total."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orderkit.mapping import get_map, normalize
from orderkit.model.money import Money
from orderkit.model.orders import AdjustmentKind, Bearer, LineStatus, Order, OrderStatus

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"
PLATFORMS = ("tmall", "jd", "pdd", "douyin", "shopify", "woocommerce")
ALL = sorted(FIXTURES.glob("*/*.json"))


def load(platform: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text("utf-8"))
    return payload


def platform_payable(platform: str, payload: dict[str, Any]) -> Money:
    """The platform's own "buyer pays" field, read independently of the engine."""
    spec = get_map(platform)
    raw = payload[spec.payable.path]
    currency = payload[spec.currency_path] if spec.currency_path else spec.currency
    if spec.payable.unit == "fen":
        return Money.from_minor(raw, currency)
    return Money(Decimal(repr(raw)) if isinstance(raw, float) else raw, currency)


def qty(order: Order, index: int) -> dict[str, int]:
    return {k.value: v for k, v in order.lines[index].quantities.items() if v}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_platform_has_at_least_five_fixtures(platform: str) -> None:
    assert len(list((FIXTURES / platform).glob("*.json"))) >= 5


@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_fixture_directory_cites_its_sources_and_lists_its_files(platform: str) -> None:
    readme = (FIXTURES / platform / "README.md").read_text("utf-8")
    assert "## Where the field names come from" in readme
    for path in sorted((FIXTURES / platform).glob("*.json")):
        assert f"`{path.name}`" in readme, f"{platform}/README.md does not list {path.name}"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_platform_has_a_payload_without_most_of_its_optional_fields(platform: str) -> None:
    spec = get_map(platform)
    fields = [spec.paid_at, spec.buyer_id, spec.modified_at, spec.shop_id, spec.buyer_note,
              spec.seller_note, *spec.ship_to.values()]
    optional = {f.path.split(".")[0] for f in fields if f is not None and not f.required}
    assert len(optional) >= 4
    payloads = [json.loads(p.read_text("utf-8")) for p in (FIXTURES / platform).glob("*.json")]
    fewest = min(len(optional & set(payload)) for payload in payloads)
    assert fewest <= len(optional) // 2


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_fixture_maps_and_goods_plus_shipping_minus_discounts_is_payable(
    path: Path,
) -> None:
    platform = path.parent.name
    payload = json.loads(path.read_text("utf-8"))
    order = normalize(platform, payload)
    totals = order.totals
    expected = platform_payable(platform, payload)
    assert totals.goods + totals.shipping + totals.tax - totals.discounts + totals.rounding == (
        expected
    )
    assert totals.payable == expected
    assert order.channel == get_map(platform).channel_name == platform
    assert order.channel_order_id == str(payload[get_map(platform).order_id.path])
    assert order.order_id == f"{platform}:{order.channel_order_id}"
    assert order.created_at.tzinfo is UTC
    assert all(isinstance(line.unit_price.amount, Decimal) for line in order.lines)


def test_taobao_and_tmall_share_one_channel_identity() -> None:
    payload = load("tmall", "wait_seller_send_goods")
    tmall, taobao = normalize("tmall", payload), normalize("taobao", payload)
    # One trade is one order, whichever name read it: it cannot be stored twice.
    assert taobao == tmall
    assert (taobao.channel, taobao.order_id) == ("tmall", "tmall:3698512204871532841")
    assert get_map("taobao").name == "taobao"


def test_tmall_beijing_midnight_trade_is_stored_in_utc_with_receiver_kept_masked() -> None:
    order = normalize("tmall", load("tmall", "wait_seller_send_goods"))
    assert order.created_at == datetime(2026, 2, 15, 16, 30, tzinfo=UTC)
    assert order.status is OrderStatus.PAID
    assert order.ship_to is not None
    assert (order.ship_to.name, order.ship_to.phone) == ("张*", "138****5678")
    assert order.payments[0].amount == Money("328.50", "CNY")
    assert order.lines[0].channel_line_id == "3698512204872532841"


def test_tmall_sub_order_refund_marks_only_that_line_refunded() -> None:
    order = normalize("tmall", load("tmall", "sub_order_refund"))
    assert order.status is OrderStatus.PAID
    assert qty(order, 0) == {"open": 1}
    assert qty(order, 1) == {"refunded": 2}


def test_tmall_sub_order_refund_id_is_kept_on_its_line() -> None:
    order = normalize("tmall", load("tmall", "sub_order_refund"))
    assert [line.refund_id for line in order.lines] == ["", "221455667788990011"]
    many = normalize("tmall", load("tmall", "finished_many_requested_fields"))  # ""
    assert [line.refund_id for line in many.lines] == ["", ""]


def test_tmall_closed_trade_is_cancelled_before_payment_and_closed_after_it() -> None:
    assert normalize("tmall", load("tmall", "closed_by_taobao_unpaid")).status is (
        OrderStatus.CANCELLED
    )
    closed = normalize("tmall", load("tmall", "closed_after_full_refund"))
    assert closed.status is OrderStatus.CLOSED
    assert closed.lines[0].status is LineStatus.REFUNDED


def test_tmall_seller_price_adjustment_lowers_the_payable() -> None:
    order = normalize("tmall", load("tmall", "trade_finished_price_adjusted"))
    rounding = [a for a in order.adjustments if a.kind is AdjustmentKind.ROUNDING]
    assert [a.amount for a in rounding] == [Money("-7.00", "CNY")]
    assert order.totals.payable == Money("346.45", "CNY")


def test_jd_year_one_timestamp_means_not_yet_paid() -> None:
    payload = load("jd", "cash_on_delivery_not_yet_paid")
    assert payload["paymentConfirmTime"] == "0001-01-01 00:00:00"
    order = normalize("jd", payload)
    assert order.paid_at is None
    assert order.payments == ()
    assert order.status is OrderStatus.PENDING_PAYMENT


def test_jd_platform_coupons_are_platform_funded_and_shop_coupons_not_counted_twice() -> None:
    order = normalize("jd", load("jd", "wait_seller_stock_out"))
    by_bearer = {(a.kind, a.borne_by): a.amount for a in order.adjustments}
    assert by_bearer == {
        (AdjustmentKind.DISCOUNT, Bearer.MERCHANT): Money("20.00", "CNY"),
        (AdjustmentKind.COUPON, Bearer.PLATFORM): Money("15.00", "CNY"),
        (AdjustmentKind.SUBSIDY, Bearer.PLATFORM): Money("3.50", "CNY"),
    }
    assert order.totals.platform_funded == Money("18.50", "CNY")


def test_jd_cancelled_after_payment_is_closed_and_unpaid_is_cancelled() -> None:
    assert normalize("jd", load("jd", "cancelled_after_payment")).status is OrderStatus.CLOSED
    assert normalize("jd", load("jd", "cancelled_unpaid")).status is OrderStatus.CANCELLED


def test_jd_shipped_order_records_its_waybill() -> None:
    order = normalize("jd", load("jd", "shipped_with_waybill"))
    assert order.status is OrderStatus.SHIPPED
    assert [(s.carrier, s.waybill) for s in order.shipments] == [("467", "JDVA21738465902")]
    assert order.lines[1].sku == "100012345681"  # no outer sku id: the JD sku id


def test_pdd_hyphenated_order_number_is_kept_exactly() -> None:
    order = normalize("pdd", load("pdd", "awaiting_shipment_three_lines"))
    assert order.channel_order_id == "260216-418930251160325"
    assert order.order_id == "pdd:260216-418930251160325"


def test_pdd_float_prices_become_exact_money() -> None:
    order = normalize("pdd", load("pdd", "awaiting_shipment_three_lines"))
    assert [line.unit_price for line in order.lines] == [
        Money("29.90", "CNY"), Money("15.50", "CNY"), Money("9.90", "CNY")
    ]
    assert order.totals.payable == Money("97.00", "CNY")


def test_pdd_encrypted_and_empty_receivers_are_kept_as_given() -> None:
    encrypted = normalize("pdd", load("pdd", "shipped_encrypted_receiver")).ship_to
    assert encrypted is not None
    assert encrypted.name == "~AgAAAAGdXhLQ7y8XrwB5xyz0TfIU~0~"
    empty = normalize("pdd", load("pdd", "signed_empty_receiver")).ship_to
    assert empty is not None
    assert (empty.name, empty.phone, empty.street) == ("", "", "")


def test_pdd_group_not_formed_is_not_ready_to_ship() -> None:
    order = normalize("pdd", load("pdd", "group_not_formed"))
    assert order.status is OrderStatus.PENDING_PAYMENT


def test_douyin_sku_sub_orders_become_lines_and_fen_becomes_yuan() -> None:
    order = normalize("douyin", load("douyin", "paid_three_skus_with_influencer_promotion"))
    assert [line.line_id for line in order.lines] == [
        "6932104587612340101", "6932104587612340102", "6932104587612340103"
    ]
    assert order.lines[0].unit_price == Money("89.00", "CNY")
    influencer = [a for a in order.adjustments if a.borne_by is Bearer.INFLUENCER]
    assert [a.amount for a in influencer] == [Money("8.00", "CNY")]
    assert order.paid_at == datetime(2026, 2, 16, 4, 30, 45, tzinfo=UTC)


def test_douyin_refunded_sku_order_is_refunded_while_its_sibling_ships() -> None:
    order = normalize("douyin", load("douyin", "partial_refund_one_sku"))
    assert order.status is OrderStatus.SHIPPED
    assert qty(order, 0) == {"shipped": 1}
    assert qty(order, 1) == {"refunded": 2}


def test_douyin_unpaid_order_has_no_paid_time() -> None:
    order = normalize("douyin", load("douyin", "awaiting_payment"))
    assert order.paid_at is None
    assert order.status is OrderStatus.PENDING_PAYMENT


def test_shopify_offset_times_are_converted_exactly() -> None:
    order = normalize("shopify", load("shopify", "paid_unfulfilled_new_york"))
    assert order.created_at == datetime(2026, 2, 16, 0, 30, tzinfo=UTC)
    assert order.channel_order_id == "5723894612140"
    assert order.lines[2].sku == "44012341230001"  # no sku: the variant id


def test_shopify_refund_line_items_move_units_to_refunded() -> None:
    order = normalize("shopify", load("shopify", "fulfilled_partially_refunded"))
    assert qty(order, 1) == {"shipped": 1, "refunded": 1}


def test_shopify_tax_included_prices_do_not_add_tax_again() -> None:
    order = normalize("shopify", load("shopify", "taxes_included_berlin"))
    assert order.currency == "EUR"
    assert order.totals.tax == Money.zero("EUR")
    assert order.totals.payable == Money("62.60", "EUR")


def test_woocommerce_gmt_fields_are_read_as_utc() -> None:
    payload = load("woocommerce", "processing_from_docs")
    order = normalize("woocommerce", payload)
    assert payload["date_created"] == "2017-03-22T16:28:02"
    assert order.created_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert order.paid_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)


def test_woocommerce_line_without_sku_uses_its_variation_then_product() -> None:
    order = normalize("woocommerce", load("woocommerce", "on_hold_bank_transfer"))
    assert [line.sku for line in order.lines] == ["TEA-OOLONG-250G", "23", "TRAY-BAMBOO"]
    assert order.status is OrderStatus.PENDING_PAYMENT


def test_a_partly_shipped_trade_is_shipped_in_the_map_and_in_the_lifecycle() -> None:
    from orderkit.lifecycle import Event, Lifecycle

    payload = load("tmall", "wait_seller_send_goods")
    payload["status"] = "SELLER_CONSIGNED_PART"  # one sub-order left the warehouse
    payload["orders"]["order"][0]["status"] = "WAIT_BUYER_CONFIRM_GOODS"
    mapped = normalize("tmall", payload)
    assert mapped.status is OrderStatus.SHIPPED
    assert [line.status for line in mapped.lines] == [
        LineStatus.SHIPPED, LineStatus.OPEN, LineStatus.OPEN
    ]
    # The same fact through the lifecycle: the paid trade ships its first line only.
    paid = normalize("tmall", load("tmall", "wait_seller_send_goods"))
    assert paid.status is OrderStatus.PAID
    first = paid.lines[0]
    at = datetime(2026, 2, 17, tzinfo=UTC)
    ship = Event("ship", event_id="s1", at=at,
                 data={"carrier": "SF", "waybill": "SF1", "lines": {first.line_id: first.quantity}})
    decided = Lifecycle().apply(paid, ship).order
    assert decided.status == mapped.status
    assert [line.status for line in decided.lines] == [line.status for line in mapped.lines]
