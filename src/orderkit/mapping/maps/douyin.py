"""Douyin Shop: ``shop_order_detail`` from ``order.orderDetail`` (or an ``order.searchList``
item).

A shop (parent) order holds sku sub-orders in ``sku_order_list``, each with its own
``order_id``, ``parent_order_id``, ``order_status`` and after-sale state; they become the
lines, identified by their sku order id. A line's unit price is ``goods_price`` when
sent, else ``origin_amount`` (the current unit price); ``sum_amount`` (unit price times
``item_num``) is the line total and wins when the unit price does not multiply out to it,
as on a multi-buy offer ("3 for 100.00"). Amounts are integer fen, times unix seconds
(``pay_time`` is ``0`` until paid). Discounts are split by who funds them: the shop
(``promotion_shop_amount``), the platform (``promotion_platform_amount``), the
influencer whose live room sold it (``promotion_talent_amount``) and the payment channel
(``promotion_pay_amount``). Douyin allocates each of them to the sku orders itself: a
sku order's own ``promotion_shop_amount`` (and the others) is its share, read as a
discount of that line, so refunding a sku order gives back its own ``pay_amount``; what
the sku orders do not account for (or all of it, when they carry no such fields, as an
``order.searchList`` item may not) stays on the shop order, spread over the lines by
value. ``pay_amount`` is what the buyer paid. Receivers come
encrypted with masked twins (``mask_post_receiver``: ``"张**"``); the masked values are
kept as given.
Parcels are ``logistics_info`` entries (``tracking_no``, ``company``, ``ship_time``), each
listing the sku orders and units it carries in ``product_info``.
"""

from __future__ import annotations

from typing import Final

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
from orderkit.model.orders import AdjustmentKind, Bearer, LineStatus, OrderStatus

__all__ = ["IGNORED", "ORDER_STATUSES", "platform_map"]

#: 1 awaiting payment, 105 paid (awaiting confirmation), 2 preparing, 101 part shipped,
#: 3 shipped, 4 cancelled, 5 completed.
ORDER_STATUSES = (1, 105, 2, 101, 3, 4, 5)


def platform_map() -> PlatformMap:
    """The Douyin Shop map."""
    return PlatformMap(
        name="douyin",
        description="order.orderDetail shop_order_detail",
        envelopes=("data.shop_order_detail",),
        source_zone="Asia/Shanghai",
        currency="CNY",
        order_id=Field("order_id", "id"),
        created_at=Field("create_time", "timestamp"),
        paid_at=Field("pay_time", "timestamp", required=False, null=(None, 0, "")),
        buyer_id=Field("doudian_open_id", required=False),
        payable=Field("pay_amount", "fen"),
        ship_to={
            "name": Field("mask_post_receiver", required=False, null=(None, ""),
                          fallback=("post_receiver",)),
            "phone": Field("mask_post_tel", required=False, null=(None, ""),
                           fallback=("post_tel",)),
            "province": Field("post_addr.province.name", required=False),
            "city": Field("post_addr.city.name", required=False),
            "district": Field("post_addr.town.name", required=False),
            "street": Field("mask_post_addr.detail", required=False, null=(None, ""),
                            fallback=("post_addr.detail",)),
        },
        lines=LinesSpec(
            path="sku_order_list",
            line_id=Field("order_id", "id"),
            sku=Field("code", "id", null=(None, ""), fallback=("sku_id",)),
            quantity=Field("item_num", "count"),
            unit_price=Field("goods_price", "fen", required=False,
                             fallback=("origin_amount",)),
            line_total=Field("sum_amount", "fen", required=False),
            title=Field("product_name", required=False),
            status=StatusTable(
                axes={
                    "sku order": StatusAxis("order_status", ORDER_STATUSES),
                    "refund": StatusAxis("after_sale_info.refund_status", (0, 1, 2, 3, 4),
                                         default=0),
                },
                rules=(
                    StatusRule({"refund": 3}, LineStatus.REFUNDED, "refund succeeded"),
                    StatusRule({"sku order": 4}, LineStatus.CANCELLED),
                    StatusRule({"sku order": (3, 5)}, LineStatus.SHIPPED),
                    StatusRule({}, LineStatus.OPEN),
                ),
            ),
        ),
        status=StatusTable(
            axes={
                "order": StatusAxis("order_status", ORDER_STATUSES, meaning="fulfilment"),
                "paid": StatusAxis("pay_time", presence=True, null=(None, 0, ""), default=0,
                                   meaning="payment (pay_time set)"),
            },
            rules=(
                StatusRule({"order": 4, "paid": "set"}, OrderStatus.CLOSED,
                           "cancelled after payment: refunded"),
                StatusRule({"order": 4}, OrderStatus.CANCELLED),
                StatusRule({"order": 1}, OrderStatus.PENDING_PAYMENT),
                StatusRule({"order": (105, 2)}, OrderStatus.PAID),
                StatusRule({"order": 101}, OrderStatus.SHIPPED,
                           "partly shipped is SHIPPED, as in the lifecycle; lines tell which"),
                StatusRule({"order": 3}, OrderStatus.SHIPPED),
                StatusRule({"order": 5}, OrderStatus.COMPLETED),
            ),
        ),
        adjustments=(
            AdjustmentSpec("post_amount", AdjustmentKind.SHIPPING, Bearer.BUYER, unit="fen",
                           label="post_amount"),
            AdjustmentSpec("promotion_shop_amount", AdjustmentKind.DISCOUNT, Bearer.MERCHANT,
                           unit="fen", label="shop promotion",
                           per_line="promotion_shop_amount"),
            AdjustmentSpec("promotion_platform_amount", AdjustmentKind.SUBSIDY, Bearer.PLATFORM,
                           unit="fen", label="platform promotion",
                           per_line="promotion_platform_amount"),
            AdjustmentSpec("promotion_talent_amount", AdjustmentKind.DISCOUNT,
                           Bearer.INFLUENCER, unit="fen", label="influencer promotion",
                           per_line="promotion_talent_amount"),
            AdjustmentSpec("promotion_pay_amount", AdjustmentKind.SUBSIDY, Bearer.PLATFORM,
                           unit="fen", label="payment channel promotion",
                           per_line="promotion_pay_amount"),
        ),
        payment=PaymentSpec(reference=Field("channel_payment_no", required=False),
                            method=Field("pay_type_desc", required=False)),
        shipment=ShipmentSpec(
            path="logistics_info",
            carrier=Field("company", required=False),
            waybill=Field("tracking_no", required=False),
            shipped_at=Field("ship_time", "timestamp", required=False, null=(None, 0, "")),
            items="product_info",
            line_ref="sku_order_id",
            units="product_count",
        ),
        modified_at=Field("update_time", "timestamp", required=False, null=(None, 0, "")),
        shop_id=Field("shop_id", "id", required=False),
        buyer_note=Field("buyer_words", required=False),
        seller_note=Field("seller_words", required=False),
        tags=(
            TagSpec(PRESALE, "pre_sale_type", (1, 2), scope="line"),
            TagSpec(PRESALE, "trade_type", 2, scope="line"),
        ),
        ignore=IGNORED,
    )


#: Fields of order.orderDetail / order.searchList the map knowingly does not read (the
#: Douyin open platform documents them; the doudian SDKs list them). Among them are amounts
#: the totals do not need on ordinary orders (modify_amount, post_insurance_amount,
#: tax_amount, packing_amount, the redpack amounts): a payload where one of them changes
#: what the buyer pays is refused by the totals proof, naming pay_amount, never mapped
#: silently wrong. A sku order's ``pay_amount`` (and ``promotion_amount``, the sum of its
#: promotions) follow from what the map reads: its ``sum_amount`` less its promotions.
IGNORED: Final = (
    "order_status_desc", "main_status", "main_status_desc", "finish_time", "order_amount",
    "promotion_amount", "pay_type", "shop_name", "b_type", "b_type_desc", "biz", "biz_desc",
    "encrypt_post_receiver", "encrypt_post_tel", "post_receiver", "post_tel",
    "post_addr.province.id", "post_addr.city.id", "post_addr.town.id", "post_addr.street.id",
    "post_addr.street.name", "post_addr.detail", "post_addr.encrypt_detail", "mask_post_addr",
    "logistics_info[*].company_name", "logistics_info[*].delivery_id",
    "logistics_info[*].product_info[*].product_name", "logistics_info[*].product_info[*].price",
    "logistics_info[*].product_info[*].outer_sku_id", "logistics_info[*].product_info[*].sku_id",
    "logistics_info[*].product_info[*].sku_specs", "logistics_info[*].product_info[*].product_id",
    "logistics_info[*].product_info[*].product_id_str", "sku_order_list[*].parent_order_id",
    "sku_order_list[*].product_id", "sku_order_list[*].sku_id", "sku_order_list[*].order_amount",
    "sku_order_list[*].pay_amount", "sku_order_list[*].post_amount",
    "sku_order_list[*].promotion_amount", "sku_order_list[*].author_id",
    "sku_order_list[*].author_name",
    "sku_order_list[*].order_status_desc", "sku_order_list[*].after_sale_info",
    "sku_order_list[*].create_time", "sku_order_list[*].pay_time", "sku_order_list[*].spec",
    "accept_order_status", "open_id", "order_level", "order_type", "order_type_desc", "trade_type",
    "trade_type_desc", "order_expire_time", "cancel_reason", "sub_b_type", "sub_b_type_desc",
    "app_id", "post_insurance_amount", "modify_amount", "modify_post_amount", "shop_cost_amount",
    "platform_cost_amount", "exp_ship_time", "ship_time", "promotion_detail",
    "seller_remark_stars", "order_phase_list", "serial_number_list", "promotion_redpack_amount",
    "promotion_redpack_platform_amount", "promotion_redpack_talent_amount", "user_id_info",
    "appointment_ship_time", "d_car_shop_biz_data", "shop_order_tag_ui", "total_promotion_amount",
    "post_origin_amount", "post_promotion_amount", "user_tag_ui", "author_cost_amount",
    "only_platform_cost_amount", "promise_info", "user_coordinate", "earliest_receipt_time",
    "latest_receipt_time", "early_arrival", "target_arrival_time", "packing_amount",
    "supermarket_order_serial_no", "tax_amount", "address_tag_ui", "sku_order_list[*].order_level",
    "sku_order_list[*].biz", "sku_order_list[*].biz_desc", "sku_order_list[*].order_type",
    "sku_order_list[*].order_type_desc", "sku_order_list[*].trade_type_desc",
    "sku_order_list[*].main_status", "sku_order_list[*].main_status_desc",
    "sku_order_list[*].order_expire_time", "sku_order_list[*].finish_time",
    "sku_order_list[*].update_time", "sku_order_list[*].cancel_reason", "sku_order_list[*].b_type",
    "sku_order_list[*].b_type_desc", "sku_order_list[*].sub_b_type",
    "sku_order_list[*].sub_b_type_desc", "sku_order_list[*].send_pay",
    "sku_order_list[*].send_pay_desc", "sku_order_list[*].theme_type",
    "sku_order_list[*].theme_type_desc", "sku_order_list[*].app_id", "sku_order_list[*].room_id",
    "sku_order_list[*].content_id", "sku_order_list[*].video_id", "sku_order_list[*].origin_id",
    "sku_order_list[*].cid", "sku_order_list[*].c_biz", "sku_order_list[*].c_biz_desc",
    "sku_order_list[*].page_id", "sku_order_list[*].pay_type",
    "sku_order_list[*].channel_payment_no", "sku_order_list[*].post_insurance_amount",
    "sku_order_list[*].modify_amount", "sku_order_list[*].modify_post_amount",
    "sku_order_list[*].shop_cost_amount", "sku_order_list[*].platform_cost_amount",
    "sku_order_list[*].post_tel",
    "sku_order_list[*].encrypt_post_tel", "sku_order_list[*].post_receiver",
    "sku_order_list[*].encrypt_post_receiver", "sku_order_list[*].post_addr",
    "sku_order_list[*].exp_ship_time", "sku_order_list[*].ship_time",
    "sku_order_list[*].logistics_receipt_time", "sku_order_list[*].confirm_receipt_time",
    "sku_order_list[*].goods_type", "sku_order_list[*].first_cid", "sku_order_list[*].second_cid",
    "sku_order_list[*].third_cid", "sku_order_list[*].fourth_cid", "sku_order_list[*].out_sku_id",
    "sku_order_list[*].supplier_id", "sku_order_list[*].out_product_id",
    "sku_order_list[*].warehouse_ids", "sku_order_list[*].out_warehouse_ids",
    "sku_order_list[*].inventory_type", "sku_order_list[*].inventory_type_desc",
    "sku_order_list[*].reduce_stock_type", "sku_order_list[*].reduce_stock_type_desc",
    "sku_order_list[*].has_tax", "sku_order_list[*].source_platform",
    "sku_order_list[*].promotion_detail", "sku_order_list[*].campaign_info",
    "sku_order_list[*].sku_order_tag_ui", "sku_order_list[*].product_pic",
    "sku_order_list[*].is_comment", "sku_order_list[*].inventory_list",
    "sku_order_list[*].writeoff_info", "sku_order_list[*].relation_order",
    "sku_order_list[*].promotion_redpack_amount",
    "sku_order_list[*].promotion_redpack_platform_amount",
    "sku_order_list[*].promotion_redpack_talent_amount", "sku_order_list[*].receive_type",
    "sku_order_list[*].need_serial_number", "sku_order_list[*].ad_env_type",
    "sku_order_list[*].product_id_str", "sku_order_list[*].appointment_ship_time",
    "sku_order_list[*].room_id_str", "sku_order_list[*].given_product_type",
    "sku_order_list[*].master_sku_order_id", "sku_order_list[*].card_voucher",
    "sku_order_list[*].bundle_sku_info", "sku_order_list[*].account_list",
    "sku_order_list[*].sku_customization_info", "sku_order_list[*].is_activity",
    "sku_order_list[*].author_cost_amount", "sku_order_list[*].only_platform_cost_amount",
    "sku_order_list[*].promise_info", "sku_order_list[*].store_info",
    "sku_order_list[*].mask_post_receiver", "sku_order_list[*].mask_post_tel",
    "sku_order_list[*].mask_post_addr", "sku_order_list[*].contract_info",
    "sku_order_list[*].master_sku_order_id_list", "sku_order_list[*].given_product_activity_info",
    "sku_order_list[*].quality_check_info", "sku_order_list[*].sku_yun_warehouse_info",
    "sku_order_list[*].tax_amount",
)
