"""JD POP: an order from ``jingdong.pop.order.search`` / ``jingdong.pop.order.get``.

Amounts are yuan strings, quantities strings (``"itemTotal": "2"``), times naive Beijing
text, and an unset time is ``"0001-01-01 00:00:00"``: that value means "not yet", never
the first of January of year one. ``orderState`` is the fulfilment axis;
``paymentConfirmTime`` (set or "not yet") the payment axis that tells a cancelled unpaid
order from one cancelled after payment. ``sellerDiscount`` already contains the shop's
own promotions; of ``couponDetailList`` only the JD-funded types are added, as platform
subsidies (the shop-funded types are listed with ``None`` so they are not counted twice).
``orderPayment`` is what the buyer pays.

Cash on delivery (``payType`` ``"1-货到付款"``): the order goes out unpaid
(``WAIT_GOODS_RECEIVE_CONFIRM`` with ``paymentConfirmTime`` still "not yet") and the
carrier collects ``orderPayment`` from the buyer; ``FINISHED_L`` records that payment,
at ``orderEndTime`` (else ``modified``) when JD gives no ``paymentConfirmTime``.
"""

from __future__ import annotations

from orderkit.mapping.spec import (
    AdjustmentListSpec,
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
)
from orderkit.model.orders import AdjustmentKind, Bearer, OrderStatus

__all__ = ["CASH_ON_DELIVERY", "NOT_YET", "ORDER_STATES", "platform_map"]

#: ``payType`` of a cash on delivery order (``"4-在线支付"`` is paid online).
CASH_ON_DELIVERY = "1-货到付款"

#: JD's "no value" for a time field.
NOT_YET = "0001-01-01 00:00:00"

ORDER_STATES = (
    "WAIT_SELLER_STOCK_OUT",
    "WAIT_SEND_CODE",
    "WAIT_SELLER_DELIVERY",
    "WAIT_GOODS_RECEIVE_CONFIRM",
    "FINISHED_L",
    "TRADE_CANCELED",
    "LOCKED",
    "POP_ORDER_PAUSE",
    "PAUSE",
)


def platform_map() -> PlatformMap:
    """The JD POP map."""
    not_set = (None, "", NOT_YET)
    return PlatformMap(
        name="jd",
        description="jingdong.pop.order.search OrderSearchInfo",
        source_zone="Asia/Shanghai",
        currency="CNY",
        order_id=Field("orderId", "id"),
        created_at=Field("orderStartTime", "timestamp"),
        paid_at=Field("paymentConfirmTime", "timestamp", required=False, null=not_set),
        buyer_id=Field("open_id_buyer", required=False, fallback=("pin",)),
        payable=Field("orderPayment", "yuan"),
        ship_to={
            "name": Field("consigneeInfo.fullname", required=False),
            "phone": Field("consigneeInfo.mobile", required=False, null=(None, ""),
                           fallback=("consigneeInfo.telephone",)),
            "province": Field("consigneeInfo.province", required=False),
            "city": Field("consigneeInfo.city", required=False),
            "district": Field("consigneeInfo.county", required=False),
            "street": Field("consigneeInfo.fullAddress", required=False),
        },
        lines=LinesSpec(
            path="itemInfoList",
            sku=Field("outerSkuId", "id", null=(None, ""), fallback=("skuId",)),
            quantity=Field("itemTotal", "count"),
            unit_price=Field("jdPrice", "yuan"),
            title=Field("skuName", required=False),
        ),
        status=StatusTable(
            axes={
                "order": StatusAxis("orderState", ORDER_STATES, meaning="fulfilment"),
                "paid": StatusAxis("paymentConfirmTime", presence=True, null=not_set,
                                   default=NOT_YET, meaning="payment (paymentConfirmTime set)"),
            },
            rules=(
                StatusRule({"order": "TRADE_CANCELED", "paid": "set"}, OrderStatus.CLOSED,
                           "cancelled after payment: refunded"),
                StatusRule({"order": "TRADE_CANCELED"}, OrderStatus.CANCELLED),
                StatusRule({"paid": "unset", "order": ("WAIT_SELLER_STOCK_OUT", "WAIT_SEND_CODE",
                                                       "LOCKED", "POP_ORDER_PAUSE", "PAUSE")},
                           OrderStatus.PENDING_PAYMENT, "cash on delivery or not yet confirmed"),
                StatusRule({"order": ("WAIT_SELLER_STOCK_OUT", "WAIT_SEND_CODE", "LOCKED",
                                      "POP_ORDER_PAUSE", "PAUSE")},
                           OrderStatus.PAID,
                           "LOCKED/PAUSE: a cancellation is pending, do not ship"),
                StatusRule({"order": "WAIT_SELLER_DELIVERY"}, OrderStatus.PACKED,
                           "cross-border: out of the bonded warehouse, awaiting domestic carrier"),
                StatusRule({"order": "WAIT_GOODS_RECEIVE_CONFIRM"}, OrderStatus.SHIPPED),
                StatusRule({"order": "FINISHED_L"}, OrderStatus.COMPLETED),
            ),
        ),
        adjustments=(
            AdjustmentSpec("freightPrice", AdjustmentKind.SHIPPING, Bearer.BUYER,
                           label="freightPrice"),
            AdjustmentSpec("sellerDiscount", AdjustmentKind.DISCOUNT, Bearer.MERCHANT,
                           label="sellerDiscount"),
        ),
        adjustment_lists=(
            AdjustmentListSpec(
                path="couponDetailList",
                amount="couponPrice",
                type_field="couponType",
                types={
                    "20-套装优惠": None,
                    "28-闪团优惠": None,
                    "29-团购优惠": None,
                    "30-单品促销优惠": None,
                    "35-满返满送(返现)": None,
                    "100-店铺优惠": None,
                    "34-手机红包": (AdjustmentKind.COUPON, Bearer.PLATFORM),
                    "39-京豆优惠": (AdjustmentKind.SUBSIDY, Bearer.PLATFORM),
                    "41-京东券优惠": (AdjustmentKind.COUPON, Bearer.PLATFORM),
                },
            ),
        ),
        payment=PaymentSpec(
            method=Field("payType", required=False),
            on_delivery_path="payType",
            on_delivery_values=(CASH_ON_DELIVERY,),
            collected_at=Field("orderEndTime", "timestamp", required=False, null=not_set),
        ),
        shipment=ShipmentSpec(
            carrier=Field("logisticsId", "id", required=False, null=(None, "")),
            waybill=Field("waybill", required=False),
        ),
        modified_at=Field("modified", "timestamp", required=False, null=not_set),
        shop_id=Field("venderId", "id", required=False, null=(None, "")),
        buyer_note=Field("orderRemark", required=False),
        seller_note=Field("venderRemark", required=False),
        holds=(
            HoldSpec(PlatformHold.PLATFORM_LOCKED, "orderState", "LOCKED",
                     "JD locked the order: a cancellation is pending"),
            HoldSpec(PlatformHold.PLATFORM_PAUSED, "orderState", ("POP_ORDER_PAUSE", "PAUSE"),
                     "JD paused the order"),
        ),
        ignore=(
            "orderType", "orderTotalPrice", "orderSellerPrice", "orderStateRemark", "deliveryType",
            "invoiceInfo", "invoiceCode", "balanceUsed", "pin", "returnOrder",
            "orderSource", "storeOrder", "consigneeInfo.provinceId", "consigneeInfo.cityId",
            "consigneeInfo.countyId", "consigneeInfo.town", "consigneeInfo.townId",
            "itemInfoList[*].skuId", "itemInfoList[*].wareId", "itemInfoList[*].productNo",
            "itemInfoList[*].giftPoint", "itemInfoList[*].newStoreId",
            "couponDetailList[*].orderId", "couponDetailList[*].skuId", "directParentOrderId",
            "parentOrderId", "realPin", "open_id", "pauseBizInfo", "taxFee", "orderSign",
            "storeId", "idSopShipmenttype", "scDT", "serviceFee", "vatInfo", "customs",
            "customsModel", "invoiceEasyInfo", "tuiHuoWuYou",
        ),
    )
