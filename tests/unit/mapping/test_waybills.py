"""Tmall and Douyin keep the waybills their payloads carry, as JD and Pinduoduo do."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.mapping import Field, Registry, ShipmentSpec, get_map, normalize
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.orders import LineStatus, OrderStatus

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"


def load(platform: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text("utf-8"))
    return payload


def test_tmall_sub_orders_sharing_a_waybill_are_one_shipment() -> None:
    order = normalize("tmall", load("tmall", "seller_consigned_part_with_waybill"))
    assert order.status is OrderStatus.SHIPPED
    [shipment] = order.shipments
    assert (shipment.carrier, shipment.waybill) == ("顺丰速运", "SF1400012345678")
    assert shipment.shipment_id == "tmall:3698512204871539999:SF1400012345678"
    assert dict(shipment.lines) == {"3698512204872539999": 2, "3698512204873539999": 1}
    assert shipment.shipped_at == datetime(2026, 2, 17, 2, 15, 2, tzinfo=UTC)
    # The sub-order still waiting has no waybill and is in no shipment.
    assert order.lines[2].status is LineStatus.OPEN


def test_tmall_sub_orders_in_two_parcels_are_two_shipments() -> None:
    trade = load("tmall", "seller_consigned_part_with_waybill")
    third = trade["orders"]["order"][2]
    third.update(status="WAIT_BUYER_CONFIRM_GOODS", invoice_no="YT7500000000001",
                 logistics_company="圆通速递", consign_time="2026-02-18 09:00:00")
    order = normalize("tmall", trade)
    assert [(s.waybill, dict(s.lines)) for s in order.shipments] == [
        ("SF1400012345678", {"3698512204872539999": 2, "3698512204873539999": 1}),
        ("YT7500000000001", {"3698512204874539999": 1}),
    ]


def test_an_unshipped_tmall_trade_has_no_shipment() -> None:
    assert normalize("tmall", load("tmall", "wait_seller_send_goods")).shipments == ()


def test_douyin_parcel_carries_only_the_sku_orders_it_lists() -> None:
    order = normalize("douyin", load("douyin", "partial_refund_one_sku"))
    [shipment] = order.shipments
    assert (shipment.carrier, shipment.waybill) == ("shentong", "773000111222333")
    assert dict(shipment.lines) == {"6932104587612350201": 1}
    assert shipment.shipped_at == datetime(2026, 2, 16, 0, 0, tzinfo=UTC)


def test_douyin_parcel_without_its_product_list_carries_every_unit() -> None:
    payload = load("douyin", "partial_refund_one_sku")
    del payload["logistics_info"][0]["product_info"]
    [shipment] = normalize("douyin", payload).shipments
    assert dict(shipment.lines) == {"6932104587612350201": 1, "6932104587612350202": 2}


def test_douyin_parcel_naming_no_line_of_the_order_is_refused_with_its_path() -> None:
    payload = load("douyin", "partial_refund_one_sku")
    payload["logistics_info"][0]["product_info"][0]["sku_order_id"] = "6932104587699999999"
    with pytest.raises(MappingError) as caught:
        normalize("douyin", payload)
    assert caught.value.path == "logistics_info[0].product_info[0].sku_order_id"
    assert caught.value.value == "6932104587699999999"


def test_douyin_order_without_logistics_info_has_no_shipment() -> None:
    payload = load("douyin", "search_list_item_without_goods_price")
    assert "logistics_info" not in payload
    assert normalize("douyin", payload).shipments == ()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"items": "product_info"}, "douyin.shipment.items"),
        ({"scope": "line"}, "douyin.shipment.path"),
        ({"scope": "parcel"}, "douyin.shipment.scope"),
        ({"status": "status"}, "douyin.shipment.skip"),
        ({"skip": ("cancelled",)}, "douyin.shipment.status"),
        ({"status": "status", "skip": (["cancelled"],)}, "douyin.shipment.skip"),
        ({"status": "", "skip": ("cancelled",)}, "douyin.shipment.status"),
    ],
)
def test_an_unsound_shipment_spec_is_refused_when_registered(
    change: dict[str, Any], where: str
) -> None:
    spec = get_map("douyin")
    assert spec.shipment is not None
    base = ShipmentSpec(carrier=Field("company"), waybill=Field("tracking_no"),
                        path="logistics_info")
    if "scope" in change:
        base = attrs.evolve(base, **change)
    else:
        base = attrs.evolve(base, **change, line_ref=None, units=None)
    with pytest.raises(DefinitionError) as caught:
        Registry(builtins=False).register(attrs.evolve(spec, shipment=base))
    assert caught.value.path == where


def test_a_parcel_whose_status_is_skipped_is_no_shipment_its_json_type_included() -> None:
    spec = get_map("douyin")
    assert spec.shipment is not None
    registry = Registry(builtins=False)
    registry.register(attrs.evolve(spec, shipment=attrs.evolve(
        spec.shipment, status="state", skip=(9,))))
    payload = load("douyin", "partial_refund_one_sku")
    payload["logistics_info"][0]["state"] = 9
    assert registry.normalize("douyin", payload).shipments == ()
    payload["logistics_info"][0]["state"] = "9"  # not the number 9: a parcel
    assert [s.waybill for s in registry.normalize("douyin", payload).shipments] == [
        "773000111222333"
    ]
    del payload["logistics_info"][0]["state"]  # no status: a parcel
    assert len(registry.normalize("douyin", payload).shipments) == 1
