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

from typing import Final

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

__all__ = ["IGNORED", "REFUND_REQUESTED", "REFUND_STATUSES", "TRADE_STATUSES", "platform_map"]

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
            refund_id=Field("refund_id", "id", required=False, null=(None, "")),
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
        ignore=IGNORED,
    )


#: Fields of the Trade and Order objects of taobao.trade.fullinfo.get the map knowingly does
#: not read (the TOP documentation lists them; so do the TOP SDK models). Most arrive only
#: when a host asks for them in ``fields``, and many belong to one business (hk_*, et_*,
#: car_*). Amounts among them (coupon_fee, point_fee, step_paid_fee, ...) are already in
#: ``payment`` or the sub-orders; a payload where one changes what the buyer pays is refused
#: by the totals proof, naming ``payment``.
IGNORED: Final = (
    "type", "consign_time", "end_time", "total_fee", "discount_fee", "adjust_fee",
    "received_payment", "buyer_nick", "shipping_type", "tid_str", "orders.order[*].oid_str",
    "receiver_town", "num", "num_iid", "title", "orders.order[*].total_fee",
    "orders.order[*].payment", "orders.order[*].divide_order_fee", "orders.order[*].sku_id",
    "orders.order[*].sku_properties_name", "orders.order[*].num_iid", "orders.order[*].outer_iid",
    "orders.order[*].pic_path", "orders.order[*].shipping_type",
    "step_trade_status", "step_paid_fee", "promotion_details", "service_tags", "service_orders",
    "logistics_infos", "step_pay_details", "agree_refund_checks", "address_details",
    "delivery_plan", "combine_logistics_details", "logistics_consign_info",
    "logistics_modify_info", "receipt_rel_ids", "sid", "acookie_id", "commission_fee",
    "buyer_memo", "buyer_area", "pic_path", "price", "cod_fee", "cod_status", "buyer_cod_fee",
    "seller_cod_fee", "express_agency_fee", "buyer_alipay_no", "buyer_email", "seller_alipay_no",
    "seller_mobile", "seller_phone", "seller_name", "seller_email", "available_confirm_fee",
    "timeout_action_time", "snapshot_url", "trade_memo", "promotion", "credit_card_fee",
    "eticket_ext", "mark_desc", "yfx_fee", "yfx_id", "yfx_type", "send_time", "arrive_cut_time",
    "o2o", "o2o_guide_id", "o2o_guide_name", "o2o_shop_id", "o2o_shop_name", "o2o_delivery",
    "o2o_out_trade_id", "shop_code", "hk_en_name", "hk_flight_no", "hk_china_name", "hk_card_code",
    "hk_card_type", "hk_flight_date", "hk_gender", "hk_birthday", "hk_pickup", "hk_pickup_id",
    "est_con_time", "trade_from", "trade_source", "order_tax_fee", "et_ser_time", "et_shop_name",
    "et_verified_shop_name", "et_plate_number", "o2o_snatch_status", "eticket_service_addr",
    "et_type", "market", "obs", "paid_coupon_fee", "shop_pick", "rx_audit_status", "es_date",
    "es_range", "os_date", "os_range", "trade_attr", "omni_attr", "omni_param", "assembly",
    "identity", "o2o_step_trade_detail", "o2o_step_order_id", "o2o_et_order_id",
    "o2o_voucher_price", "order_tax_promotion_fee", "service_type", "o2o_service_mobile",
    "o2o_service_name", "o2o_service_state", "o2o_service_city", "o2o_service_district",
    "o2o_service_town", "o2o_service_address", "o2o_step_trade_detail_new", "o2o_xiaopiao",
    "o2o_contract", "recharge_fee", "retail_store_code", "retail_out_order_id",
    "platform_subsidy_fee", "nr_offline", "wtt_param", "nr_store_order_id", "nr_shop_id",
    "nr_shop_name", "nr_shop_guide_id", "nr_shop_guide_name", "nr_no_handle", "biz_code",
    "cloud_store", "donee_nick", "donee_open_uid", "suning_shop_code", "allow_appkeys",
    "retail_store_id", "ua", "linkedmall_ext_info", "pay_channel", "rt_omni_send_type",
    "rt_omni_store_id", "rt_omni_outer_store_id", "tcps_start", "tcps_code", "tcps_end",
    "m_tariff_fee", "timing_promise", "promise_service", "cutoff_minutes", "es_time",
    "delivery_time", "collect_time", "dispatch_time", "sign_time", "outer_partner_member_id",
    "root_cat", "gifting", "gifting_takeout", "oi_date", "oi_range", "hold_install", "app_name",
    "easy_home_city_type", "nr_deposit_order_id", "nr_store_code", "propoint", "zqs_order_tag",
    "txp_freezer_id", "txp_receive_method", "extend_info", "lm", "brand_light_shop_source",
    "brand_light_shop_store_id", "is_wmly", "omni_package", "ncz_ext_attr", "invoice_detail_pay",
    "invoice_detail_mid_refund", "invoice_detail_after_refund", "expand_card_basic_price",
    "expand_card_expand_price", "expand_card_basic_price_used", "expand_card_expand_price_used",
    "delivery_cps", "asdp_biz_type", "order_follow_id", "asdp_ads", "ob_tag", "drug_register",
    "stage_address_type", "og_id", "promise_sign_time", "omnichannel_param", "oaid",
    "scenario_group", "play_type", "priority_consign_time", "real_name_auth_status",
    "third_party_customs_declaration", "receipt_type", "async_modified", "nut_feature",
    "lg_aging_type", "lg_aging", "cn_service", "aid", "point_fee", "real_point_fee",
    "buyer_obtain_point_fee", "buyer_flag", "seller_flag", "arrive_interval", "consign_interval",
    "alipay_point", "pcc_af", "trade_ext", "et_shop_id", "coupon_fee", "top_hold",
    "forbid_consign", "team_buy_hold", "share_group_hold", "ofp_hold", "delay_create_delivery",
    "toptype", "sort_info", "sorted", "suning_shop_valid", "expandcard_info", "tmall_coupon_fee",
    "identify_info", "logistics_agreement", "alipay_id", "seller_rate", "buyer_rate",
    "has_post_fee", "is_3D", "is_lgtype", "is_brand_sale", "is_force_wlb", "has_yfx", "can_rate",
    "seller_can_rate", "is_part_consign", "is_daixiao", "is_wt", "zero_purchase", "is_sh_ship",
    "post_gate_declare", "cross_bonded_declare", "is_gift", "you_xiang", "is_istore",
    "is_openmall", "v_logistics_create", "q_r_pay", "is_cycle_buy", "is_force_dc",
    "has_buyer_message", "is_o2o_passport", "tmall_delivery", "threepl_timing", "no_shipping",
    "orders.order[*].ship_info", "orders.order[*].combine_item_info", "orders.order[*].shp_info",
    "orders.order[*].item_meal_name", "orders.order[*].snapshot_url",
    "orders.order[*].timeout_action_time", "orders.order[*].item_memo",
    "orders.order[*].seller_type", "orders.order[*].end_time", "orders.order[*].order_from",
    "orders.order[*].ticket_outer_id", "orders.order[*].ticket_expdate_key",
    "orders.order[*].store_code", "orders.order[*].tmser_spu_code",
    "orders.order[*].sub_order_tax_fee", "orders.order[*].sub_order_tax_rate",
    "orders.order[*].et_ser_time", "orders.order[*].et_shop_name",
    "orders.order[*].et_verified_shop_name", "orders.order[*].et_plate_number",
    "orders.order[*].estimate_con_time", "orders.order[*].bind_oids",
    "orders.order[*].zhengji_status", "orders.order[*].md_qualification", "orders.order[*].md_fee",
    "orders.order[*].customization", "orders.order[*].inv_type", "orders.order[*].shipper",
    "orders.order[*].f_type", "orders.order[*].f_status", "orders.order[*].f_term",
    "orders.order[*].combo_id", "orders.order[*].order_attr", "orders.order[*].assembly_rela",
    "orders.order[*].assembly_price", "orders.order[*].assembly_item",
    "orders.order[*].sub_order_tax_promotion_fee", "orders.order[*].down_payment",
    "orders.order[*].down_payment_ratio", "orders.order[*].month_payment",
    "orders.order[*].tail_payment", "orders.order[*].installment_num", "orders.order[*].penalty",
    "orders.order[*].service_fee", "orders.order[*].car_taker", "orders.order[*].car_taker_phone",
    "orders.order[*].car_taker_id", "orders.order[*].car_store_code",
    "orders.order[*].car_store_name", "orders.order[*].out_unique_id",
    "orders.order[*].ws_bank_apply_no", "orders.order[*].tax_coupon_discount",
    "orders.order[*].nr_reduce_inv_fail", "orders.order[*].nr_outer_iid",
    "orders.order[*].bind_oids_all_status", "orders.order[*].o2o_guide_id",
    "orders.order[*].o2o_guide_name", "orders.order[*].o2o_shop_id",
    "orders.order[*].o2o_shop_name", "orders.order[*].biz_code", "orders.order[*].cloud_store",
    "orders.order[*].hj_settle_no_commission", "orders.order[*].order_taking",
    "orders.order[*].cloud_store_token", "orders.order[*].cloud_store_bind_pos",
    "orders.order[*].retail_store_id", "orders.order[*].out_item_id",
    "orders.order[*].rt_omni_outer_sc_id", "orders.order[*].rt_omni_sc_id",
    "orders.order[*].modify_address", "orders.order[*].ti_modify_address_time",
    "orders.order[*].credit_buy", "orders.order[*].s_tariff_fee", "orders.order[*].timing_promise",
    "orders.order[*].promise_service", "orders.order[*].es_date", "orders.order[*].es_range",
    "orders.order[*].os_date", "orders.order[*].os_range", "orders.order[*].cutoff_minutes",
    "orders.order[*].es_time", "orders.order[*].delivery_time", "orders.order[*].collect_time",
    "orders.order[*].dispatch_time", "orders.order[*].sign_time",
    "orders.order[*].promise_end_time", "orders.order[*].os_activity_id",
    "orders.order[*].os_fg_item_id", "orders.order[*].os_gift_count",
    "orders.order[*].os_sort_num", "orders.order[*].propoint",
    "orders.order[*].special_refund_type", "orders.order[*].extend_info",
    "orders.order[*].brand_light_shop_store_id", "orders.order[*].brand_light_shop_source",
    "orders.order[*].service_order_type", "orders.order[*].service_outer_id",
    "orders.order[*].expand_card_expand_price_used_suborder",
    "orders.order[*].expand_card_basic_price_used_suborder", "orders.order[*].lijian",
    "orders.order[*].auto_flow", "orders.order[*].distribute_status", "orders.order[*].is_idle",
    "orders.order[*].gift_mids", "orders.order[*].promise_collect_time",
    "orders.order[*].b2b_daixiao", "orders.order[*].bundle_id", "orders.order[*].bundle_out_name",
    "orders.order[*].one_yuan_reservation_orders", "orders.order[*].jewcc_no",
    "orders.order[*].modified", "orders.order[*].item_meal_id", "orders.order[*].cid",
    "orders.order[*].bind_oid", "orders.order[*].fqg_num", "orders.order[*].sort_info",
    "orders.order[*].trade_fulfillment_type", "orders.order[*].bundle_type",
    "orders.order[*].buyer_rate", "orders.order[*].seller_rate", "orders.order[*].is_oversold",
    "orders.order[*].is_service_order", "orders.order[*].is_daixiao", "orders.order[*].is_www",
    "orders.order[*].is_sh_ship", "orders.order[*].is_fqg_s_fee", "orders.order[*].tax_free",
    "orders.order[*].is_kaola", "orders.order[*].is_devalue_fee", "orders.order[*].is_free_gift",
    "orders.order[*].has_gift", "orders.order[*].is_force_dc", "orders.order[*].need_return",
    "orders.order[*].is_jzfx",
)
