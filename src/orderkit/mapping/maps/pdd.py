"""Pinduoduo: ``order_info`` from ``pdd.order.information.get`` / ``pdd.order.list.get``.

Order numbers carry a hyphen (``"260216-418930251160325"``) and are kept exactly.
Amounts are yuan sent as JSON numbers (``29.9``), read through their text form so no
binary float ever reaches ``Money``. Times are naive Beijing text. Status lives on three
real axes: ``order_status`` (1 awaiting shipment, 2 shipped, 3 signed for),
``confirm_status`` (0 group not formed, 1 concluded, 2 cancelled) and ``refund_status``
(1 none, 2 after-sale open, 3 refunding, 4 refunded). Receiver fields arrive encrypted
(``"~AgAAAA...~"``) or empty once the shipping window closes; they are kept as given.
``platform_discount`` is funded by Pinduoduo; ``seller_discount`` and the group-leader
free order (``capital_free_discount``) by the shop. ``pay_amount`` is what the buyer paid.

``goods_amount`` is documented as price times count less the seller's price change
(改价金额, a field the payload does not carry), and ``pay_amount`` as ``goods_amount``
less ``discount_amount`` plus ``postage`` (``lywzx/pdd-node-sdk``,
``packages/pdd-origin-api/src/dingDan/PddOrderInformationGet.ts``). It is read as the
map's ``goods_total``: what the lines exceed it by (a price the seller lowered before the
buyer paid) is a DISCOUNT of the order borne by the shop, labelled
``"goods_amount: seller price change"``. ``discount_amount`` is the sum of the three
discounts read apart, so it is ignored.
"""

from __future__ import annotations

from orderkit.mapping.spec import (
    PRESALE,
    AdjustmentSpec,
    Field,
    LinesSpec,
    PaymentSpec,
    PlatformMap,
    ShipmentSpec,
    StatusAxis,
    StatusRule,
    StatusTable,
    TagSpec,
)
from orderkit.model.orders import AdjustmentKind, Bearer, OrderStatus

__all__ = ["platform_map"]


def platform_map() -> PlatformMap:
    """The Pinduoduo map."""
    return PlatformMap(
        name="pdd",
        description="pdd.order.information.get order_info",
        envelopes=("order_info_get_response.order_info",),
        source_zone="Asia/Shanghai",
        currency="CNY",
        order_id=Field("order_sn", "id"),
        created_at=Field("created_time", "timestamp"),
        paid_at=Field("pay_time", "timestamp", required=False, null=(None, "")),
        payable=Field("pay_amount", "yuan_float"),
        goods_total=Field("goods_amount", "yuan_float", required=False),
        ship_to={
            "name": Field("receiver_name", required=False),
            "phone": Field("receiver_phone", required=False),
            "province": Field("province", required=False),
            "city": Field("city", required=False),
            "district": Field("town", required=False),
            "street": Field("receiver_address", required=False),
            "country": Field("country", required=False),
        },
        lines=LinesSpec(
            path="item_list",
            sku=Field("outer_id", "id", null=(None, ""), fallback=("sku_id",)),
            quantity=Field("goods_count", "count"),
            unit_price=Field("goods_price", "yuan_float"),
            title=Field("goods_name", required=False),
        ),
        status=StatusTable(
            axes={
                "shipping": StatusAxis("order_status", (1, 2, 3), meaning="fulfilment"),
                "deal": StatusAxis("confirm_status", (0, 1, 2), default=1,
                                   meaning="group buy concluded / cancelled"),
                "refund": StatusAxis("refund_status", (1, 2, 3, 4), default=1,
                                     meaning="after-sale refund"),
            },
            rules=(
                StatusRule({"refund": 4}, OrderStatus.CLOSED, "refunded in full"),
                StatusRule({"deal": 2}, OrderStatus.CANCELLED),
                StatusRule({"deal": 0}, OrderStatus.PENDING_PAYMENT,
                           "group not formed: the deal is not concluded, do not ship"),
                StatusRule({"shipping": 1}, OrderStatus.PAID),
                StatusRule({"shipping": 2}, OrderStatus.SHIPPED),
                StatusRule({"shipping": 3}, OrderStatus.DELIVERED),
            ),
        ),
        adjustments=(
            AdjustmentSpec("postage", AdjustmentKind.SHIPPING, Bearer.BUYER, unit="yuan_float",
                           label="postage"),
            AdjustmentSpec("seller_discount", AdjustmentKind.DISCOUNT, Bearer.MERCHANT,
                           unit="yuan_float", label="seller_discount"),
            AdjustmentSpec("platform_discount", AdjustmentKind.SUBSIDY, Bearer.PLATFORM,
                           unit="yuan_float", label="platform_discount"),
            AdjustmentSpec("capital_free_discount", AdjustmentKind.DISCOUNT, Bearer.MERCHANT,
                           unit="yuan_float", label="group leader free order"),
        ),
        payment=PaymentSpec(reference=Field("pay_no", required=False),
                            method=Field("pay_type", required=False)),
        shipment=ShipmentSpec(
            carrier=Field("logistics_id", "id", required=False, null=(None, "", 0)),
            waybill=Field("tracking_number", required=False),
            shipped_at=Field("shipping_time", "timestamp", required=False, null=(None, "")),
        ),
        modified_at=Field("updated_at", "timestamp", required=False, null=(None, "")),
        buyer_note=Field("buyer_memo", required=False),
        seller_note=Field("remark", required=False),
        tags=(TagSpec(PRESALE, "is_pre_sale", 1),),
        ignore=(
            "discount_amount", "confirm_time", "receive_time", "last_ship_time",
            "trade_type", "is_lucky_flag", "after_sales_status", "risk_control_status",
            "country_id", "province_id", "city_id", "town_id", "address", "receiver_name_mask",
            "receiver_phone_mask", "receiver_address_mask", "address_mask", "self_contained",
            "item_list[*].goods_id", "item_list[*].sku_id", "item_list[*].outer_goods_id",
            "item_list[*].goods_spec", "item_list[*].goods_img",
        ),
    )
