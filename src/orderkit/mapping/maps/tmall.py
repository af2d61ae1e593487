"""Tmall / Taobao: the ``trade`` object of ``taobao.trade.fullinfo.get``.

Amounts are yuan strings (``"89.00"``), times naive Beijing text
(``"2026-02-16 00:30:00"``). The trade's ``status`` is the fulfilment axis; whether it
was ever paid (``pay_time`` set) decides whether a ``TRADE_CLOSED`` trade was cancelled
before payment or closed by a full refund. Each sub-order (``orders.order[]``) carries its
own ``status`` and ``refund_status``, which is how one refunded line of a still-open trade
shows up. Sub-order discounts (``discount_fee``, ``part_mjz_discount``) are the
merchant's; ``adjust_fee`` is the seller's manual price change and can go either way.
``payment`` is what the buyer pays: sum of sub-order payments plus ``post_fee``.
Waybills are per sub-order (``invoice_no``, ``logistics_company``, ``consign_time``):
sub-orders that share a waybill are one shipment.
"""

from __future__ import annotations

from orderkit.mapping.spec import (
    PRESALE,
    AdjustmentSpec,
    Field,
    HoldSpec,
    LinesSpec,
    PaymentSpec,
    PlatformHold,
    PlatformMap,
    ShipmentSpec,
    StatusAxis,
    StatusRule,
    StatusTable,
    TagSpec,
)
from orderkit.model.orders import AdjustmentKind, Bearer, LineStatus, OrderStatus

__all__ = ["REFUND_REQUESTED", "REFUND_STATUSES", "TRADE_STATUSES", "platform_map"]

#: Documented trade statuses. ``WAIT_PRE_AUTH_CONFIRM`` (credit pre-authorisation) is
#: deliberately absent until a shop that uses it decides what it means for them.
TRADE_STATUSES = (
    "TRADE_NO_CREATE_PAY",
    "WAIT_BUYER_PAY",
    "PAY_PENDING",
    "WAIT_SELLER_SEND_GOODS",
    "PAID_FORBID_CONSIGN",
    "SELLER_CONSIGNED_PART",
    "WAIT_BUYER_CONFIRM_GOODS",
    "TRADE_BUYER_SIGNED",
    "TRADE_FINISHED",
    "TRADE_CLOSED",
    "TRADE_CLOSED_BY_TAOBAO",
)

REFUND_STATUSES = (
    "NO_REFUND",
    "WAIT_SELLER_AGREE",
    "WAIT_BUYER_RETURN_GOODS",
    "WAIT_SELLER_CONFIRM_GOODS",
    "SELLER_REFUSE_BUYER",
    "CLOSED",
    "SUCCESS",
)

#: A refund asked for and not settled yet: the sub-order must not ship meanwhile.
REFUND_REQUESTED = ("WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS")


def platform_map() -> PlatformMap:
    """The Tmall map (also registered as ``taobao``)."""
    return PlatformMap(
        name="tmall",
        description="taobao.trade.fullinfo.get trade object",
        envelopes=("trade_fullinfo_get_response.trade",),
        source_zone="Asia/Shanghai",
        currency="CNY",
        order_id=Field("tid", "id"),
        created_at=Field("created", "timestamp"),
        paid_at=Field("pay_time", "timestamp", required=False, null=(None, "")),
        buyer_id=Field("buyer_open_uid", "text", required=False, fallback=("buyer_nick",)),
        payable=Field("payment", "yuan"),
        ship_to={
            "name": Field("receiver_name", required=False, default=""),
            "phone": Field("receiver_mobile", required=False, fallback=("receiver_phone",)),
            "province": Field("receiver_state", required=False),
            "city": Field("receiver_city", required=False),
            "district": Field("receiver_district", required=False),
            "street": Field("receiver_address", required=False),
            "postcode": Field("receiver_zip", required=False),
            "country": Field("receiver_country", required=False),
        },
        lines=LinesSpec(
            path="orders.order",
            line_id=Field("oid", "id"),
            sku=Field("outer_sku_id", "id", null=(None, ""),
                      fallback=("sku_id", "outer_iid", "num_iid")),
            quantity=Field("num", "count"),
            unit_price=Field("price", "yuan"),
            title=Field("title", required=False),
            status=StatusTable(
                axes={
                    "sub-order": StatusAxis("status", TRADE_STATUSES),
                    "refund": StatusAxis("refund_status", REFUND_STATUSES, default="NO_REFUND"),
                },
                rules=(
                    StatusRule({"refund": "SUCCESS"}, LineStatus.REFUNDED,
                               "refund paid for this sub-order"),
                    StatusRule({"sub-order": ("TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO")},
                               LineStatus.CANCELLED, "sub-order closed without a refund"),
                    StatusRule({"sub-order": ("WAIT_BUYER_CONFIRM_GOODS", "TRADE_BUYER_SIGNED",
                                              "TRADE_FINISHED")},
                               LineStatus.SHIPPED),
                    StatusRule({}, LineStatus.OPEN),
                ),
            ),
        ),
        status=StatusTable(
            axes={
                "trade": StatusAxis("status", TRADE_STATUSES, meaning="fulfilment"),
                "paid": StatusAxis("pay_time", presence=True, default="",
                                   meaning="payment (pay_time set)"),
            },
            rules=(
                StatusRule({"trade": ("TRADE_NO_CREATE_PAY", "WAIT_BUYER_PAY", "PAY_PENDING")},
                           OrderStatus.PENDING_PAYMENT),
                StatusRule({"trade": ("WAIT_SELLER_SEND_GOODS", "PAID_FORBID_CONSIGN")},
                           OrderStatus.PAID),
                StatusRule({"trade": "SELLER_CONSIGNED_PART"}, OrderStatus.SHIPPED,
                           "partly shipped is SHIPPED, as in the lifecycle; lines tell which"),
                StatusRule({"trade": "WAIT_BUYER_CONFIRM_GOODS"}, OrderStatus.SHIPPED),
                StatusRule({"trade": "TRADE_BUYER_SIGNED"}, OrderStatus.DELIVERED),
                StatusRule({"trade": "TRADE_FINISHED"}, OrderStatus.COMPLETED),
                StatusRule({"trade": "TRADE_CLOSED", "paid": "set"}, OrderStatus.CLOSED,
                           "closed after payment: full refund"),
                StatusRule({"trade": ("TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO")},
                           OrderStatus.CANCELLED, "closed before payment"),
            ),
        ),
        adjustments=(
            AdjustmentSpec("post_fee", AdjustmentKind.SHIPPING, Bearer.BUYER, label="post_fee"),
            AdjustmentSpec("discount_fee", AdjustmentKind.DISCOUNT, Bearer.MERCHANT,
                           scope="line", label="sub-order discount"),
            AdjustmentSpec("part_mjz_discount", AdjustmentKind.DISCOUNT, Bearer.MERCHANT,
                           scope="line", label="shop-wide discount share"),
            AdjustmentSpec("adjust_fee", AdjustmentKind.ROUNDING, Bearer.MERCHANT,
                           scope="line", signed=True, label="seller price adjustment"),
        ),
        payment=PaymentSpec(reference=Field("alipay_no", required=False)),
        shipment=ShipmentSpec(
            scope="line",
            carrier=Field("logistics_company", required=False),
            waybill=Field("invoice_no", required=False),
            shipped_at=Field("consign_time", "timestamp", required=False, null=(None, "")),
        ),
        modified_at=Field("modified", "timestamp", required=False, null=(None, "")),
        shop_id=Field("seller_nick", required=False),
        buyer_note=Field("buyer_message", required=False),
        seller_note=Field("seller_memo", required=False),
        holds=(
            HoldSpec(PlatformHold.REFUND_REQUESTED, "refund_status", REFUND_REQUESTED,
                     "the buyer asked for a refund", scope="line"),
            HoldSpec(PlatformHold.CONSIGN_FORBIDDEN, "status", "PAID_FORBID_CONSIGN",
                     "paid, but the platform forbids shipping it"),
        ),
        tags=(
            TagSpec(PRESALE, "new_presell", True),
            TagSpec(PRESALE, "general_new_presell", True),
        ),
        ignore=(
            "type", "consign_time", "end_time", "total_fee", "discount_fee", "adjust_fee",
            "received_payment", "buyer_nick", "shipping_type", "tid_str",
            "orders.order[*].oid_str", "receiver_town", "num", "num_iid", "title",
            "orders.order[*].total_fee", "orders.order[*].payment",
            "orders.order[*].divide_order_fee", "orders.order[*].sku_id",
            "orders.order[*].sku_properties_name", "orders.order[*].num_iid",
            "orders.order[*].outer_iid", "orders.order[*].refund_id", "orders.order[*].pic_path",
            "orders.order[*].shipping_type", "step_trade_status", "step_paid_fee",
        ),
    )
