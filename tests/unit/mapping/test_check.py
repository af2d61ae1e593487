"""``check`` reads a batch and says what the map misses, each finding with a fix."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.cli import main
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
    get_map,
)
from orderkit.model.orders import AdjustmentKind, Bearer, OrderStatus

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"


def batch(platform: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text("utf-8")) for p in sorted((FIXTURES / platform).glob("*.json"))]


@pytest.mark.parametrize("platform", ["tmall", "jd", "pdd", "douyin", "shopify", "woocommerce"])
def test_the_recorded_fixtures_are_fully_accounted_for(platform: str) -> None:
    report = check(platform, batch(platform))
    assert report.ok, report.to_text()
    assert report.mapped == report.records >= 5


@pytest.mark.parametrize("platform", ["tmall", "jd", "pdd", "douyin", "shopify", "woocommerce"])
def test_check_mapping_strict_agrees_with_check_on_the_recorded_fixtures(
    platform: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The command reads numbers with a fraction as Decimal (Pinduoduo's yuan amounts,
    # WooCommerce's line price); those are JSON numbers, as json.loads gives check().
    source = tmp_path / f"{platform}.json"
    source.write_text(json.dumps(batch(platform), ensure_ascii=False), "utf-8")
    assert main(["check-mapping", "--platform", platform, "--strict", str(source)]) == 0
    assert capsys.readouterr().out.strip() == check(platform, batch(platform)).to_text()


def test_a_yuan_string_read_as_a_decimal_number_is_drift_as_a_float_is() -> None:
    from decimal import Decimal

    trades = batch("tmall")
    trades[0]["payment"] = Decimal("97.00")
    drifted = check("tmall", trades).drifted_fields
    assert [finding.path for finding in drifted] == ["payment"]
    assert "arrives as float, str" in drifted[0].detail
    assert "'yuan_float'" in drifted[0].suggestion


def test_a_new_trade_status_is_reported_with_the_fix() -> None:
    trades = batch("tmall")
    trades[1]["status"] = "WAIT_PRE_AUTH_CONFIRM"
    trades[3]["status"] = "WAIT_PRE_AUTH_CONFIRM"
    report = check("tmall", trades)
    [finding] = report.unknown_statuses
    assert finding.path == "status"
    assert finding.records == (1, 3)
    assert finding.count == 2
    assert "add `WAIT_PRE_AUTH_CONFIRM` to the tmall status table" in finding.suggestion
    assert report.mapped == report.records - 2


def test_a_field_the_platform_started_sending_is_reported_unmapped() -> None:
    orders = batch("jd")
    orders[0]["giftWrapNote"] = "红色礼盒"
    orders[-1]["itemInfoList"][1]["serviceName"] = "延保一年"
    report = check("jd", orders)
    assert {f.path for f in report.unmapped_fields} == {
        "giftWrapNote", "itemInfoList[*].serviceName"
    }
    assert all("ignore list" in f.suggestion for f in report.unmapped_fields)


def test_fen_amount_that_turned_into_a_yuan_string_is_drift() -> None:
    orders = batch("douyin")
    orders[2]["post_amount"] = "8.00"
    report = check("douyin", orders)
    [finding] = report.drifted_fields
    assert finding.path == "post_amount"
    assert "int, str" in finding.detail
    assert "'yuan'" in finding.suggestion


def test_yuan_string_that_became_a_float_is_drift_with_the_unit_to_use() -> None:
    orders = batch("jd")
    orders[0]["itemInfoList"][0]["jdPrice"] = 89.0
    report = check("jd", orders)
    [finding] = report.drifted_fields
    assert finding.path == "itemInfoList[*].jdPrice"
    assert "'yuan_float'" in finding.suggestion


def test_totals_that_do_not_add_up_are_reported_with_the_arithmetic() -> None:
    orders = batch("pdd")
    orders[0] = copy.deepcopy(orders[0])
    orders[0]["pay_amount"] = 95.0  # an unmapped 2.00 discount
    report = check("pdd", orders)
    [finding] = report.totals_mismatches
    assert finding.records == (0,)
    assert "but the platform's payable is 95.00" in finding.detail
    assert "adjustments" in finding.suggestion


def test_records_that_are_not_objects_are_errors_not_crashes() -> None:
    report = check("shopify", [*batch("shopify"), "oops"])
    [finding] = report.errors
    assert finding.path == "$"
    assert "error $" in report.to_text()


@pytest.mark.parametrize(
    ("platform", "name"),
    [("tmall", "finished_many_requested_fields"), ("douyin", "shipped_every_documented_field")],
)
def test_strict_check_passes_on_payloads_carrying_the_documented_fields(
    platform: str, name: str
) -> None:
    path = FIXTURES / platform / f"{name}.json"
    payload = json.loads(path.read_text("utf-8"))
    assert len(payload) > 80  # far more than the map reads
    report = check(platform, [payload])
    assert report.ok, report.to_text()
    assert main(["check-mapping", "--platform", platform, "--strict", str(path)]) == 0


def test_an_ignored_field_is_still_reported_once_the_map_stops_ignoring_it() -> None:
    payload = json.loads((FIXTURES / "douyin" / "shipped_every_documented_field.json")
                         .read_text("utf-8"))
    spec = get_map("douyin")
    registry = Registry(builtins=False)
    registry.register(attrs.evolve(spec, ignore=tuple(
        path for path in spec.ignore if path != "modify_amount"
    )))
    report = check("douyin", [payload], registry=registry)
    assert [f.path for f in report.unmapped_fields] == ["modify_amount"]


def test_shopify_fulfillments_are_read_and_a_new_field_in_them_is_reported() -> None:
    orders = batch("shopify")
    assert sum(len(order.get("fulfillments") or []) for order in orders) == 9
    shipped = next(order for order in orders if order.get("name") == "#1045")
    shipped["fulfillments"][0]["origin_address"] = {"city": "Berlin"}
    shipped["fulfillments"][0]["line_items"][0]["gift_card"] = False
    report = check("shopify", orders)
    assert [f.path for f in report.unmapped_fields] == [
        "fulfillments[*].line_items[*].gift_card", "fulfillments[*].origin_address.city",
    ]


def test_a_fulfillment_status_that_changed_type_is_drift() -> None:
    orders = batch("shopify")
    shipped = next(order for order in orders if order.get("name") == "#1045")
    shipped["fulfillments"][0]["status"] = 1
    [finding] = check("shopify", orders).drifted_fields
    assert finding.path == "fulfillments[*].status"


def _woo_723() -> dict[str, Any]:
    """Order 723 of the WooCommerce REST API v3 documentation (see the fixture README):
    completed, with two refunds (``refunds[*]``: ``id``, ``reason``, ``total``)."""
    path = FIXTURES / "woocommerce" / "completed_with_refunds_from_docs.json"
    order: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return order


def test_woocommerce_refunds_are_read_as_money_paid_back() -> None:
    from decimal import Decimal

    from orderkit.mapping import normalize
    from orderkit.model.orders import PaymentKind

    order = normalize("woocommerce", _woo_723())
    back = [(p.payment_id, p.amount.amount) for p in order.payments
            if p.kind is PaymentKind.REFUND]
    assert back == [("woocommerce:723:refund:726", Decimal("10.00")),
                    ("woocommerce:723:refund:724", Decimal("9.00"))]
    assert order.totals.refunded.amount == Decimal("19.00")


def test_a_completed_woocommerce_order_without_date_paid_is_paid_when_completed() -> None:
    """Order 723 (a bank transfer, ``date_paid`` null: WooCommerce sets it only when a
    gateway completes the payment) is ``completed``: the buyer paid its ``total``,
    read at ``date_completed_gmt``, as sync reads it. An order the shop marked
    ``refunded`` with neither time is paid at its modified time; a ``pending`` or
    ``cancelled`` one is not paid."""
    from datetime import UTC, datetime

    from orderkit.mapping import normalize
    from orderkit.model.orders import PaymentKind

    order = normalize("woocommerce", _woo_723())
    [payment] = [p for p in order.payments if p.kind is PaymentKind.PAYMENT]
    completed = datetime(2017, 3, 21, 19, 54, 51, tzinfo=UTC)
    assert (payment.payment_id, str(payment.amount), payment.at, payment.method) == (
        "woocommerce:723:payment", "USD 39.00", completed, "bacs")
    assert order.paid_at == completed
    assert (str(order.totals.paid), str(order.totals.refunded)) == ("USD 39.00", "USD 19.00")
    refunded = dict(_woo_723(), status="refunded", date_completed_gmt=None,
                    date_modified_gmt="2017-03-22T08:00:00")
    assert normalize("woocommerce", refunded).paid_at == datetime(2017, 3, 22, 8, tzinfo=UTC)
    for status in ("pending", "on-hold", "cancelled", "failed"):
        unpaid = dict(_woo_723(), status=status, date_completed_gmt=None, refunds=[])
        assert normalize("woocommerce", unpaid).payments == (), status


def test_order_723_is_paid_alike_by_normalize_and_sync_and_not_placed_as_is() -> None:
    """``normalize`` and ``Sync.receive`` read the same payment (amount and time); the
    mapped order, its refunds naming no units, is no order to store COMPLETED as it is
    (it would owe 19.00 nobody collects): ``OrderService.place`` refuses it by name."""
    from datetime import UTC, datetime

    from orderkit.adapters.memory import MemoryOrderRepository, MemorySyncStore
    from orderkit.lifecycle import OrderService
    from orderkit.mapping import normalize
    from orderkit.model.errors import ValidationError
    from orderkit.model.orders import PaymentKind
    from orderkit.sync import Sync

    mapped = normalize("woocommerce", _woo_723())
    repository = MemoryOrderRepository()
    with pytest.raises(ValidationError) as caught:
        OrderService(repository).place(mapped)
    assert (caught.value.path, str(caught.value.value)) == ("order.payments", "USD 19.00")
    assert "COMPLETED with USD 19.00 due" in caught.value.reason
    sync = Sync(repository, OrderService(repository), store=MemorySyncStore())
    sync.receive("woocommerce", _woo_723(), received_at=datetime(2026, 3, 1, tzinfo=UTC))
    stored = repository.find_by_channel("woocommerce", "723")
    assert stored is not None
    [synced] = [p for p in stored.payments if p.kind is PaymentKind.PAYMENT]
    [read] = [p for p in mapped.payments if p.kind is PaymentKind.PAYMENT]
    assert (synced.amount, synced.at) == (read.amount, read.at)
    assert (stored.paid_at, stored.totals.refunded) == (mapped.paid_at, mapped.totals.refunded)
    assert not stored.totals.due  # its refunds took their place as concessions


def test_a_woocommerce_refund_not_written_negative_is_refused_by_name() -> None:
    from orderkit.mapping import normalize
    from orderkit.model.errors import MappingError

    order = _woo_723()
    order["refunds"][1]["total"] = "9.00"
    with pytest.raises(MappingError) as caught:
        normalize("woocommerce", order)
    assert (caught.value.path, caught.value.value) == ("refunds[1].total", "9.00")


def test_a_new_money_field_in_woocommerce_refunds_is_reported_unmapped() -> None:
    order = _woo_723()
    order["refunds"][0]["shipping_total"] = "-10.00"
    report = check("woocommerce", [order])
    assert [f.path for f in report.unmapped_fields] == ["refunds[*].shipping_total"]


def test_a_pdd_seller_price_change_checks_clean() -> None:
    # goods_amount = goods_price * goods_count - the seller's price change (改价), a field
    # the payload does not carry; pay_amount = goods_amount - discount_amount + postage.
    orders = batch("pdd")
    changed = [o for o in orders if o["order_sn"] == "260217-552014873360418"]
    assert [(o["goods_amount"], o["pay_amount"]) for o in changed] == [(100.0, 92.0)]
    assert check("pdd", orders).ok


def test_an_ignored_amount_list_that_is_the_gap_is_named() -> None:
    payload = json.loads((FIXTURES / "woocommerce" / "processing_with_gift_wrap_fee.json")
                         .read_text("utf-8"))
    second = copy.deepcopy(payload)
    second["fee_lines"].append(dict(second["fee_lines"][0], id=320, total="2.50"))
    second["total"] = "36.85"
    spec = get_map("woocommerce")
    registry = Registry(builtins=False)
    registry.register(attrs.evolve(spec, adjustment_lists=(), ignore=(*spec.ignore, "fee_lines")))
    report = check("woocommerce", [payload, second], registry=registry)
    [finding] = report.totals_mismatches
    assert finding.records == (0, 1)
    assert "`fee_lines[*].total`" in finding.suggestion
    assert "adds to what the buyer pays" in finding.suggestion


def test_a_gap_nothing_in_the_payload_explains_keeps_the_general_fix() -> None:
    orders = batch("pdd")
    orders[0] = dict(orders[0], pay_amount=95.5)
    [finding] = check("pdd", orders).totals_mismatches
    assert "add the missing discount, subsidy, shipping or tax field" in finding.suggestion


def _kuaishou(unit: str) -> Registry:
    """A Kuaishou ``open.order.detail`` map whose amounts are read in ``unit`` (the
    platform sends integer fen)."""
    registry = Registry(builtins=False)
    registry.register(PlatformMap(
        name="kuaishou", source_zone="Asia/Shanghai",
        order_id=Field("orderBaseInfo.oid", "id"),
        created_at=Field("orderBaseInfo.createTime", "timestamp"),
        modified_at=Field("orderBaseInfo.updateTime", "timestamp"),
        payable=Field("orderBaseInfo.totalFee", unit),
        lines=LinesSpec("orderItemList", sku=Field("skuNick", "id"),
                        quantity=Field("num", "count"), unit_price=Field("price", unit)),
        adjustments=(
            AdjustmentSpec("orderBaseInfo.expressFee", AdjustmentKind.SHIPPING, Bearer.BUYER,
                           unit=unit),
            AdjustmentSpec("orderBaseInfo.discountFee", AdjustmentKind.DISCOUNT,
                           Bearer.MERCHANT, unit=unit),
        ),
        status=StatusTable({"s": StatusAxis("orderBaseInfo.status", values=(30,))},
                           (StatusRule({}, OrderStatus.PAID),)),
    ))
    return registry


def _kuaishou_order(**amounts: object) -> dict[str, Any]:
    base: dict[str, Any] = {"oid": 2602160012345678, "status": 30,
                            "createTime": 1771173000000, "updateTime": 1771173000000,
                            "totalFee": 13590, "expressFee": 600, "discountFee": 1000}
    return {"orderBaseInfo": {**base, **amounts},
            "orderItemList": [{"skuNick": "TEA-250", "num": 2, "price": 6995}]}


def test_an_amount_declared_yuan_that_arrives_as_a_json_integer_is_a_unit_to_confirm() -> None:
    registry = _kuaishou("yuan")
    payload = _kuaishou_order()
    # Whole yuan sent as integers is possible: normalize reads them, check asks.
    assert str(registry.normalize("kuaishou", payload).totals.payable.amount) == "13590.00"
    report = check("kuaishou", [payload], registry=registry)
    assert report.mapped == 1
    assert [(f.kind, f.path) for f in report.findings] == [
        ("type_drift", "orderBaseInfo.discountFee"), ("type_drift", "orderBaseInfo.expressFee"),
        ("type_drift", "orderBaseInfo.totalFee"), ("type_drift", "orderItemList[*].price")]
    total = report.findings[2]
    assert total.detail == "arrives as int but is declared 'yuan'"
    assert total.suggestion == (
        "`orderBaseInfo.totalFee` arrives as a JSON integer (13590), read as 13590 yuan:"
        " if the platform sends fen there, declare it as 'fen' in the kuaishou map; if it"
        " really sends whole yuan as integers, confirm it and keep 'yuan'")
    assert check("kuaishou", [payload], registry=_kuaishou("fen")).ok


def test_a_zero_integer_where_yuan_is_declared_is_no_unit_question() -> None:
    registry = _kuaishou("yuan")
    payload = _kuaishou_order(totalFee="139.90", expressFee=0, discountFee="0.00")
    payload["orderItemList"][0]["price"] = "69.95"
    assert check("kuaishou", [payload], registry=registry).ok


def test_whole_fen_written_as_text_is_not_advised_to_become_yuan() -> None:
    registry = _kuaishou("fen")
    payload = _kuaishou_order(totalFee="13590")
    assert str(registry.normalize("kuaishou", payload).totals.payable.amount) == "135.90"
    [finding] = check("kuaishou", [payload], registry=registry).drifted_fields
    assert finding.path == "orderBaseInfo.totalFee"
    assert "'yuan'" not in finding.suggestion
    assert finding.suggestion.startswith(
        "`orderBaseInfo.totalFee` arrives as text of a whole number ('13590'), read as fen")
    decimal_text = _kuaishou_order(totalFee="135.90")
    [finding] = check("kuaishou", [decimal_text], registry=registry).drifted_fields
    assert "declare it as 'yuan'" in finding.suggestion


def test_whole_number_text_where_yuan_is_declared_is_a_unit_to_confirm() -> None:
    # Fen written as text ("13590") in fields the map reads as yuan: every amount scales
    # alike, the totals add up, and each is read 100 times too large.
    registry = _kuaishou("yuan")
    text = {"totalFee": "13590", "expressFee": "600", "discountFee": "1000"}
    payload = _kuaishou_order(**text)
    payload["orderItemList"][0]["price"] = "6995"
    assert str(registry.normalize("kuaishou", payload).totals.payable.amount) == "13590.00"
    report = check("kuaishou", [payload], registry=registry)
    assert [(f.kind, f.path) for f in report.findings] == [
        ("type_drift", "orderBaseInfo.discountFee"), ("type_drift", "orderBaseInfo.expressFee"),
        ("type_drift", "orderBaseInfo.totalFee"), ("type_drift", "orderItemList[*].price")]
    total = report.findings[2]
    assert total.detail == "arrives as str but is declared 'yuan' (text of a whole number)"
    assert total.suggestion == (
        "`orderBaseInfo.totalFee` arrives as text of a whole number ('13590'), read as 13590"
        " yuan: if the platform sends fen there, declare it as 'fen' in the kuaishou map; if"
        " it really sends whole yuan as text, confirm it and keep 'yuan'")
    # One such record among many with decimals is found too; "0" asks nothing.
    decimals = [_kuaishou_order(totalFee=f"{140 + 2 * n}.90", expressFee="6.00",
                                discountFee="0") for n in range(8)]
    for n, order in enumerate(decimals):
        order["orderItemList"][0]["price"] = f"{67 + n}.45"
    whole = _kuaishou_order(totalFee="140", expressFee="6.00", discountFee="0")
    whole["orderItemList"][0]["price"] = "67.00"
    found = check("kuaishou", [*decimals, whole], registry=registry).drifted_fields
    assert [f.path for f in found] == ["orderBaseInfo.totalFee"]
    assert found[0].records == (8,)


def test_a_map_without_a_modified_time_is_told_sync_needs_one() -> None:
    pos = PlatformMap(
        name="pos", source_zone="Asia/Shanghai", order_id=Field("receipt_no", "id"),
        created_at=Field("sold_at", "timestamp"), paid_at=Field("sold_at", "timestamp"),
        payable=Field("total", "yuan"),
        lines=LinesSpec("items", sku=Field("barcode", "id"), quantity=Field("qty", "count"),
                        unit_price=Field("price", "yuan")),
        status=StatusTable({"s": StatusAxis("state", values=("done",))},
                           (StatusRule({}, OrderStatus.COMPLETED),)),
    )
    registry = Registry(builtins=False)
    registry.register(pos)
    receipt = {"receipt_no": "R-0001", "sold_at": "2026-02-16 10:00:00", "state": "done",
               "total": "12.00", "items": [{"barcode": "6901234567892", "qty": 2, "price": "6.00"}]}
    report = check("pos", [receipt, receipt], registry=registry)
    assert report.mapped == 2
    [finding] = report.findings
    assert report.sync_needs == (finding,)
    assert (finding.kind, finding.path, finding.count, finding.records) == (
        "sync", "modified_at", 2, (0, 1))
    assert "dead-letters every payload" in finding.detail
    assert "`sold_at`" in finding.suggestion
    registry.register(attrs.evolve(pos, modified_at=Field("sold_at", "timestamp")),
                      replace=True)
    assert check("pos", [receipt], registry=registry).ok


def test_an_empty_payload_is_missing_its_fields_not_an_unmapped_one() -> None:
    report = check("jd", [{}])
    assert [f.path for f in report.unmapped_fields] == []
    assert "orderId" in [f.path for f in report.findings if f.kind == "error"]
