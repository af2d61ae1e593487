"""Tmall, Douyin and Shopify keep the waybills their payloads carry, as JD and Pinduoduo do."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import OrderService
from orderkit.mapping import Field, Registry, ShipmentSpec, get_map, normalize
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.orders import LineStatus, OrderStatus
from orderkit.testing import ManualClock

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


SKU_CUP = "6932104587612350202"  # two units in partial_refund_one_sku


def _cup_parcels(*parcels: tuple[str, int]) -> dict[str, Any]:
    """``partial_refund_one_sku`` with parcels ``(waybill, cup units)`` of the cup line."""
    payload = load("douyin", "partial_refund_one_sku")
    first = payload["logistics_info"][0]
    payload["logistics_info"] = [
        dict(first, tracking_no=waybill, product_info=[
            dict(first["product_info"][0], sku_order_id=SKU_CUP, product_count=units)])
        for waybill, units in parcels
    ]
    return payload


def test_a_douyin_parcel_carrying_more_units_than_its_line_has_is_refused_naming_them() -> None:
    with pytest.raises(MappingError) as caught:
        normalize("douyin", _cup_parcels(("YT1", 3)))
    assert (caught.value.path, caught.value.value, caught.value.reason) == (
        "logistics_info[0].product_info[0].product_count", 3,
        f"waybill YT1 carries 3 units of line {SKU_CUP}, which has 2")


def test_one_waybill_listed_twice_carries_no_more_than_the_line_has() -> None:
    with pytest.raises(MappingError) as caught:
        normalize("douyin", _cup_parcels(("YT1", 2), ("YT1", 1)))
    assert (caught.value.path, caught.value.value) == (
        "logistics_info[1].product_info[0].product_count", 1)
    [shipment] = normalize("douyin", _cup_parcels(("YT1", 1), ("YT1", 1))).shipments
    assert dict(shipment.lines) == {SKU_CUP: 2}


def test_parcels_of_an_order_together_may_carry_a_line_again() -> None:
    # A parcel sent again (lost in transit, or a part missing) is a second waybill.
    order = normalize("douyin", _cup_parcels(("YT1", 2), ("YT2", 2)))
    assert [(s.waybill, dict(s.lines)) for s in order.shipments] == [
        ("YT1", {SKU_CUP: 2}), ("YT2", {SKU_CUP: 2})]


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


# Shopify: each fulfillment with a tracking number is a parcel (Fulfillment resource).
REFUNDED = "5723894644908"  # fulfilled_partially_refunded: order #1042
OOLONG, CUP = "14083919118508", "14083919151276"


def test_shopify_fulfillments_are_parcels_carrying_the_line_items_they_list() -> None:
    order = normalize("shopify", load("shopify", "fulfilled_partially_refunded"))
    assert [(s.shipment_id, s.carrier, s.waybill, dict(s.lines), s.shipped_at)
            for s in order.shipments] == [
        (f"shopify:{REFUNDED}:9400111899561000104201", "USPS", "9400111899561000104201",
         {OOLONG: 3, CUP: 1}, datetime(2026, 2, 11, 15, 5, tzinfo=UTC)),  # 10:05 -05:00
        (f"shopify:{REFUNDED}:1Z4E7W190310420022", "UPS", "1Z4E7W190310420022",
         {CUP: 1}, datetime(2026, 2, 12, 21, 40, tzinfo=UTC)),  # 16:40 -05:00
    ]
    # The buckets still come from the line items and the refunds, not the parcels.
    assert order.lines[1].quantities[LineStatus.SHIPPED] == 1
    assert order.lines[1].quantities[LineStatus.REFUNDED] == 1


def test_shopify_fulfillment_time_keeps_the_shops_offset() -> None:
    order = normalize("shopify", load("shopify", "taxes_included_berlin"))
    [shipment] = order.shipments
    assert (shipment.carrier, shipment.waybill) == ("DHL Express", "4752013350")
    assert dict(shipment.lines) == {"14083919249580": 2, "14083919282348": 1}
    assert shipment.shipped_at == datetime(2026, 2, 17, 10, 20, tzinfo=UTC)  # 11:20 +01:00


def test_a_cancelled_shopify_fulfillment_is_not_a_shipment() -> None:
    payload = load("shopify", "fulfilled_after_cancelled_fulfillment")
    assert [f["status"] for f in payload["fulfillments"]] == ["cancelled", "success"]
    order = normalize("shopify", payload)
    [shipment] = order.shipments
    assert (shipment.carrier, shipment.waybill) == ("FedEx", "771234104702")
    assert dict(shipment.lines) == {"14083919347884": 1, "14083919380652": 1}
    assert shipment.shipped_at == datetime(2026, 2, 19, 20, 10, tzinfo=UTC)


def test_a_cancelled_shopify_fulfillment_adds_no_units_to_a_parcel_of_its_waybill() -> None:
    payload = load("shopify", "fulfilled_after_cancelled_fulfillment")
    payload["fulfillments"][0]["tracking_number"] = "771234104702"  # label used again
    [shipment] = normalize("shopify", payload).shipments
    assert (shipment.carrier, dict(shipment.lines)) == (
        "FedEx", {"14083919347884": 1, "14083919380652": 1})


@pytest.mark.parametrize("status", ["cancelled", "error", "failure"])
def test_a_shopify_fulfillment_that_did_not_go_is_skipped(status: str) -> None:
    payload = load("shopify", "fulfilled_after_cancelled_fulfillment")
    payload["fulfillments"][1]["status"] = status
    assert normalize("shopify", payload).shipments == ()


def test_a_shopify_order_without_fulfillments_maps_as_before() -> None:
    bare = load("shopify", "paid_unfulfilled_new_york_only_required_fields")
    assert "fulfillments" not in bare
    order = normalize("shopify", bare)
    assert order.shipments == ()
    assert order.status is OrderStatus.PAID
    assert [line.quantities[LineStatus.OPEN] for line in order.lines] == [2, 1, 1]
    listed = load("shopify", "paid_unfulfilled_new_york")
    assert listed["fulfillments"] == []
    assert normalize("shopify", listed).shipments == ()
    assert normalize("shopify", {**listed, "fulfillments": None}) == normalize("shopify", listed)


def test_a_shopify_fulfillment_without_tracking_number_is_no_shipment() -> None:
    payload = load("shopify", "fulfilled_partially_refunded")
    payload["fulfillments"][1].update(tracking_number=None, tracking_company=None)
    assert [s.waybill for s in normalize("shopify", payload).shipments] == [
        "9400111899561000104201"
    ]


def test_a_shopify_fulfillment_naming_no_line_of_the_order_is_refused_with_its_path() -> None:
    payload = load("shopify", "fulfilled_partially_refunded")
    payload["fulfillments"][1]["line_items"][0]["id"] = 14083919999999
    with pytest.raises(MappingError) as caught:
        normalize("shopify", payload)
    assert caught.value.path == "fulfillments[1].line_items[0].id"
    assert caught.value.value == 14083919999999


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


def test_a_shopify_unit_refunded_after_it_shipped_leaves_stock_when_placed() -> None:
    # Order #1042: 3 oolong and 2 cups, every unit fulfilled in two parcels; then one cup
    # was refunded without a return (restock_type "no_restock"): the buyer kept it.
    payload = load("shopify", "fulfilled_partially_refunded")
    refund = payload["refunds"][0]["refund_line_items"][0]
    assert (refund["line_item_id"], refund["restock_type"]) == (int(CUP), "no_restock")

    def placed(payload: dict[str, Any]) -> InventoryLedger:
        clock = ManualClock(datetime(2026, 2, 20, 12, 0, tzinfo=UTC))
        ledger = InventoryLedger(MemoryInventoryStore(), secret=b"sixteen-bytes-or-more",
                                 clock=clock)
        ledger.receive("TEA-OOLONG-250G", 10, reference="PO-1")
        ledger.receive("CUP-CELADON", 5, reference="PO-1")
        service = OrderService(MemoryOrderRepository(), inventory=ledger, clock=clock)
        stored = service.place(normalize("shopify", payload))
        assert stored.status is OrderStatus.SHIPPED
        return ledger

    ledger = placed(payload)
    # Both cups left (one is in the SHIPPED bucket, the refunded one in the UPS parcel).
    cups = ledger.stock("CUP-CELADON")
    assert (cups.on_hand, cups.locked, cups.available) == (3, 0, 3)
    assert ledger.stock("TEA-OOLONG-250G").on_hand == 7
    order_id = f"shopify:{REFUNDED}"
    assert ledger.verify(shipped={order_id: {"TEA-OOLONG-250G": 3, "CUP-CELADON": 2}}).ok
    # Had the refunded cup never gone out (no second parcel), it would still be here.
    del payload["fulfillments"][1]
    ledger = placed(payload)
    assert ledger.stock("CUP-CELADON").on_hand == 4
    assert ledger.verify(shipped={order_id: {"TEA-OOLONG-250G": 3, "CUP-CELADON": 1}}).ok
