"""A map reads a line item given as one object where a list is expected.

Kuaishou's order detail gives its one line item as an object, ``orderItemInfo``, and
``LinesSpec.path`` named a list only: such a payload was refused with "expected a
non-empty list of line items", so a host had to reshape it first. With
``LinesSpec(one_object=True)`` an object at the path is the order's one line item (a
list is read as ever), and error paths name the field where it is in the payload
(``orderItemInfo.num``: there is no index to name). A map without the option still
refuses the object with the same message.

The map below is a test map written in the public map language, not a built-in one:
its status codes and money unit come from an SDK and copies of the platform's
document (see ``tests/fixtures/mapping/test_maps/kuaishou/README.md``).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.mapping import AdjustmentSpec, Field, HoldSpec, LinesSpec, Registry, TagSpec, check
from orderkit.mapping.spec import PlatformMap, ShipmentSpec, StatusAxis, StatusRule, StatusTable
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.money import Money
from orderkit.model.orders import AdjustmentKind, Bearer, LineStatus, OrderStatus

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping" / "test_maps" / "kuaishou"
NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))

#: Kuaishou Shop order status (订单状态) as the order detail documents it.
STATUSES = (10, 30, 40, 50, 70, 80)

KUAISHOU = PlatformMap(
    name="kuaishou",
    source_zone="Asia/Shanghai",
    order_id=Field("orderBaseInfo.oid", "id"),
    created_at=Field("orderBaseInfo.createTime", "timestamp"),
    modified_at=Field("orderBaseInfo.updateTime", "timestamp", required=False),
    paid_at=Field("orderBaseInfo.payTime", "timestamp", required=False, null=(None, 0)),
    payable=Field("orderBaseInfo.totalFee", "fen"),
    status=StatusTable(
        {
            "order": StatusAxis("orderBaseInfo.status", STATUSES, meaning="order status"),
            "paid": StatusAxis("orderBaseInfo.payTime", presence=True, null=(None, 0),
                               default=0, meaning="payment (payTime set)"),
        },
        (
            StatusRule({"order": 80, "paid": "set"}, OrderStatus.CLOSED, "failed after payment"),
            StatusRule({"order": 80}, OrderStatus.CANCELLED, "订单失败 before payment"),
            StatusRule({"order": 10}, OrderStatus.PENDING_PAYMENT),
            StatusRule({"order": 30}, OrderStatus.PAID),
            StatusRule({"order": 40}, OrderStatus.SHIPPED),
            StatusRule({"order": 50}, OrderStatus.DELIVERED),
            StatusRule({"order": 70}, OrderStatus.COMPLETED),
        ),
    ),
    lines=LinesSpec(
        "orderItemInfo",
        one_object=True,
        sku=Field("skuId", "id"),
        quantity=Field("num", "count"),
        unit_price=Field("price", "fen"),
        title=Field("itemTitle", required=False),
    ),
    adjustments=(
        AdjustmentSpec("orderBaseInfo.discountFee", AdjustmentKind.DISCOUNT, Bearer.MERCHANT,
                       unit="fen", label="discountFee"),
    ),
    ship_to={attr: Field(f"orderAddress.{key}", required=False) for attr, key in (
        ("name", "desensitiseConsignee"), ("phone", "desensitiseMobile"),
        ("province", "province"), ("city", "city"), ("district", "district"),
        ("street", "desensitiseAddress"))},
    buyer_note=Field("orderBaseInfo.remark", required=False),
    # totalFee is the goods without freight: the freight is not part of it.
    ignore=("orderBaseInfo.expressFee",),
)


def registry(spec: PlatformMap = KUAISHOU) -> Registry:
    found = Registry(builtins=False)
    found.register(spec)
    return found


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return payload


def refused(spec: PlatformMap, payload: dict[str, Any]) -> MappingError:
    with pytest.raises(MappingError) as error:
        registry(spec).normalize(spec.name, payload)
    return error.value


def test_the_fixtures_cite_their_sources_and_list_their_files() -> None:
    readme = (FIXTURES / "README.md").read_text("utf-8")
    assert "## Where the field names come from" in readme
    assert len(NAMES) >= 3
    for name in NAMES:
        assert f"`{name}.json`" in readme


@pytest.mark.parametrize("name", NAMES)
def test_each_fixture_maps_to_one_line_and_adds_up(name: str) -> None:
    payload = load(name)
    order = registry().normalize("kuaishou", payload)
    item = payload["orderItemInfo"]
    assert [(line.line_id, line.sku, line.quantity) for line in order.lines] == [
        ("1", str(item["skuId"]), item["num"])]
    assert order.lines[0].unit_price == Money.from_minor(item["price"], "CNY")
    assert order.totals.payable == Money.from_minor(payload["orderBaseInfo"]["totalFee"], "CNY")


def test_a_paid_order_reads_its_one_item_discount_and_receiver() -> None:
    order = registry().normalize("kuaishou", load("paid_one_item"))
    assert order.order_id == "kuaishou:2605200074108220"
    assert order.status is OrderStatus.PAID
    assert order.paid_at == datetime(2026, 2, 16, 2, 35, 45, tzinfo=UTC)
    line = order.lines[0]
    assert (line.title, line.unit_price.amount, line.quantities[LineStatus.OPEN]) == (
        "明前龙井 250g", Decimal("59.00"), 2)
    assert [(a.kind, a.amount.amount, a.borne_by) for a in order.adjustments] == [
        (AdjustmentKind.DISCOUNT, Decimal("10.00"), Bearer.MERCHANT)]
    assert order.ship_to is not None
    assert (order.ship_to.name, order.ship_to.city) == ("张**", "杭州市")


def test_a_payload_without_the_optional_fields_maps() -> None:
    order = registry().normalize("kuaishou", load("awaiting_payment_without_optional_fields"))
    assert order.status is OrderStatus.PENDING_PAYMENT
    assert order.paid_at is None
    assert order.ship_to is not None and order.ship_to.city == ""


def test_a_shipped_order_puts_its_units_in_shipped() -> None:
    order = registry().normalize("kuaishou", load("shipped_one_item"))
    assert order.status is OrderStatus.SHIPPED
    assert order.lines[0].quantities[LineStatus.SHIPPED] == 1


def test_a_bad_field_of_the_one_object_is_named_where_it_is() -> None:
    payload = load("paid_one_item")
    payload["orderItemInfo"]["num"] = "two"
    error = refused(KUAISHOU, payload)
    assert (error.path, error.value) == ("orderItemInfo.num", "two")
    del payload["orderItemInfo"]["skuId"]
    payload["orderItemInfo"]["num"] = 2
    assert refused(KUAISHOU, payload).path == "orderItemInfo.skuId"


def test_without_the_option_an_object_is_still_refused_with_the_same_message() -> None:
    plain = attrs.evolve(KUAISHOU, lines=attrs.evolve(KUAISHOU.lines, one_object=False))
    error = refused(plain, load("paid_one_item"))
    assert (error.path, error.reason) == (
        "orderItemInfo", "expected a non-empty list of line items")


def test_with_the_option_a_list_is_read_as_ever() -> None:
    payload = load("paid_one_item")
    other = {**payload["orderItemInfo"], "skuId": 200384417250, "num": 1, "price": 1000}
    payload["orderItemInfo"] = [payload["orderItemInfo"], other]
    payload["orderBaseInfo"]["totalFee"] = 11800
    order = registry().normalize("kuaishou", payload)
    assert [(line.line_id, line.sku) for line in order.lines] == [
        ("1", "200384417233"), ("2", "200384417250")]
    payload["orderItemInfo"][1]["num"] = "one"
    assert refused(KUAISHOU, payload).path == "orderItemInfo[1].num"


@pytest.mark.parametrize("value", [[], "item", 3, True])
def test_with_the_option_neither_an_object_nor_a_non_empty_list_is_refused(value: object) -> None:
    payload = load("paid_one_item")
    payload["orderItemInfo"] = value
    error = refused(KUAISHOU, payload)
    assert (error.path, error.value) == ("orderItemInfo", value)
    assert error.reason == "expected a line item object or a non-empty list of line items"


@pytest.mark.parametrize("value", [None, 1, "yes"])
def test_the_option_is_true_or_false(value: object) -> None:
    spec = attrs.evolve(KUAISHOU, lines=attrs.evolve(KUAISHOU.lines, one_object=value))
    with pytest.raises(DefinitionError) as error:
        registry(spec)
    assert error.value.path == "kuaishou.lines.one_object"


def test_line_scoped_reads_name_the_one_object() -> None:
    spec = KUAISHOU.extended(
        holds=(HoldSpec("refund_requested", "refundStatus", (10,), scope="line"),),
        tags=(TagSpec("live", "itemType", (1,), scope="line"),),
        shipment=ShipmentSpec(carrier=Field("expressCode", "id", required=False),
                              waybill=Field("expressNo", required=False), scope="line"),
    )
    payload = load("shipped_one_item")
    payload["orderItemInfo"].update(refundStatus=10, expressNo="SF1001", expressCode=4)
    mapped = registry(spec).read_order("kuaishou", payload).order
    assert "live" in mapped.tags
    assert [(s.waybill, dict(s.lines)) for s in mapped.shipments] == [("SF1001", {"1": 1})]
    paid = load("paid_one_item")
    paid["orderItemInfo"]["refundStatus"] = 10
    held = registry(spec).normalize("kuaishou", paid)
    assert [hold.reason for hold in held.holds] == ["orderItemInfo.refundStatus=10 (line 1)"]


def test_a_line_share_of_an_order_amount_is_read_in_the_one_object() -> None:
    spec = attrs.evolve(KUAISHOU, adjustments=(
        AdjustmentSpec("orderBaseInfo.discountFee", AdjustmentKind.DISCOUNT, Bearer.MERCHANT,
                       unit="fen", per_line="discountFee", label="discountFee"),))
    order = registry(spec).normalize("kuaishou", load("paid_one_item"))
    assert [(a.line_id, a.amount.amount) for a in order.adjustments] == [("1", Decimal("10.00"))]
    payload = load("paid_one_item")
    payload["orderItemInfo"]["discountFee"] = "10.00"  # yuan text where fen are declared
    error = refused(spec, payload)
    assert (error.path, error.value) == ("orderItemInfo.discountFee", "10.00")


def test_check_names_the_one_objects_fields_as_the_payload_has_them() -> None:
    payloads = [load(name) for name in NAMES]
    drifted = copy.deepcopy(payloads[0])
    drifted["orderItemInfo"]["num"] = "2"
    report = check("kuaishou", [*payloads, drifted], registry=registry())
    paths = {finding.path for finding in report.findings}
    assert "orderItemInfo.skuNick" in {
        f.path for f in report.findings if f.kind == "unmapped_field"}
    assert not any("[*]" in path and path.startswith("orderItemInfo") for path in paths)
    assert not {"orderItemInfo.num", "orderItemInfo.price", "orderItemInfo.skuId"} & {
        f.path for f in report.findings if f.kind == "unmapped_field"}
    assert "orderItemInfo.num" in {f.path for f in report.findings if f.kind == "type_drift"}


def test_check_finds_an_unknown_line_status_in_the_one_object() -> None:
    spec = attrs.evolve(KUAISHOU, lines=attrs.evolve(KUAISHOU.lines, status=StatusTable(
        {"refund": StatusAxis("refundStatus", (0, 10))},
        (StatusRule({"refund": 0}, LineStatus.OPEN), StatusRule({"refund": 10}, LineStatus.OPEN)),
    )))
    payload = load("paid_one_item")
    payload["orderItemInfo"]["refundStatus"] = 99
    report = check("kuaishou", [payload], registry=registry(spec))
    assert [(f.kind, f.path) for f in report.findings if f.kind == "unknown_status"] == [
        ("unknown_status", "orderItemInfo.refundStatus")]


@pytest.mark.parametrize("ignored", ["orderItemInfo[*].skuNick", "orderItemInfo.skuNick"])
@pytest.mark.parametrize("as_list", [False, True], ids=["object", "list"])
def test_an_ignore_entry_in_either_form_ignores_the_field_in_either_shape(
    ignored: str, as_list: bool
) -> None:
    spec = attrs.evolve(KUAISHOU, ignore=(*KUAISHOU.ignore, ignored))
    payload = load("paid_one_item")
    if as_list:
        payload["orderItemInfo"] = [payload["orderItemInfo"]]
    report = check("kuaishou", [payload], registry=registry(spec))
    unmapped = {f.path for f in report.findings if f.kind == "unmapped_field"}
    assert not {path for path in unmapped if "skuNick" in path}
    assert {path for path in unmapped if "skuDesc" in path}  # the others are still named
