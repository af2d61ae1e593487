"""WooCommerce: an order of the REST API v3 (``GET /wp-json/wc/v3/orders/<id>``).

Every time comes twice: ``date_created`` in the site's local zone without an offset, and
``date_created_gmt`` in UTC, also without an offset. The ``_gmt`` fields are read, as
UTC; the local ones are ignored (the site's zone is not in the payload). Totals are
decimal strings, but a line's ``price`` is a JSON number; it is read through its text
form. A line is priced by its ``subtotal``, before coupons: ``price`` is
``total / quantity``, after them, and ``discount_total`` holds the same coupon money
again, so ``price`` is the unit price only while it multiplies out to the subtotal (no
coupon on the line), or when a payload gives no ``subtotal``. Being a PHP float
quotient, ``price`` often has more decimals than the currency (``20.00 / 3`` is
``6.666666666666667``, ``0.30 / 3`` is ``0.09999999999999999``); beside a ``subtotal``
such a price is passed over for it, without one it is refused. ``status`` is a single
axis. A line without a ``sku`` is identified by its variation, else its product id.
``total`` is what the buyer pays. ``date_paid_gmt`` is set when a gateway completes the
payment (or, in later versions, when the order first moves to ``processing`` or
``completed``); an order paid offline (a bank transfer, cash on delivery, a cheque) that
the shop marked ``completed`` may have none, as the documentation's order 723: it is
paid at ``date_completed_gmt``, and a ``processing`` or ``refunded`` one with neither at
the modified time (every map's rule: a status that says paid records the payment).
``refunds`` lists the money paid back (``id``, ``reason``, ``total`` as a negative
decimal text; the documentation's example order writes the reason under ``refund``),
naming no units: each is a REFUND payment, from which sync derives the ``refund``
events.

``fee_lines`` (a gift wrap, a cash on delivery surcharge) are added into ``total``; each
is read as a charge the buyer pays beside the goods. The model's only such kinds are
SHIPPING, TAX and ROUNDING, so a fee is a SHIPPING adjustment borne by the buyer, and,
read as a typed list, it is labelled by its ``tax_status`` (``taxable`` or ``none``, the
two values WooCommerce documents); its tax is in ``total_tax`` already. A negative fee
(a discount written as a fee) is refused naming its ``total``.
"""

from __future__ import annotations

from orderkit.mapping.spec import (
    AdjustmentListSpec,
    AdjustmentSpec,
    Field,
    LinesSpec,
    PaymentSpec,
    PlatformMap,
    RefundPaymentSpec,
    StatusAxis,
    StatusRule,
    StatusTable,
)
from orderkit.model.orders import AdjustmentKind, Bearer, OrderStatus

__all__ = ["platform_map"]

STATUSES = ("pending", "on-hold", "processing", "completed", "cancelled", "refunded",
            "failed", "checkout-draft")


def platform_map() -> PlatformMap:
    """The WooCommerce map."""
    return PlatformMap(
        name="woocommerce",
        description="REST API v3 order",
        source_zone="UTC",
        currency_path="currency",
        order_id=Field("id", "id"),
        created_at=Field("date_created_gmt", "timestamp"),
        paid_at=Field("date_paid_gmt", "timestamp", required=False,
                      fallback=("date_completed_gmt",)),
        buyer_id=Field("customer_id", "id", required=False, null=(None, 0)),
        payable=Field("total", "decimal"),
        ship_to={
            "name": Field("shipping.first_name", required=False),
            "phone": Field("shipping.phone", required=False, null=(None, ""),
                           fallback=("billing.phone",)),
            "province": Field("shipping.state", required=False),
            "city": Field("shipping.city", required=False),
            "street": Field("shipping.address_1", required=False),
            "postcode": Field("shipping.postcode", required=False),
            "country": Field("shipping.country", required=False),
        },
        lines=LinesSpec(
            path="line_items",
            line_id=Field("id", "id"),
            sku=Field("sku", "id", null=(None, "", 0),
                      fallback=("variation_id", "product_id")),
            quantity=Field("quantity", "count"),
            unit_price=Field("price", "decimal_float", required=False),
            title=Field("name", required=False),
            line_total=Field("subtotal", "decimal", required=False),
        ),
        status=StatusTable(
            axes={"status": StatusAxis("status", STATUSES)},
            rules=(
                StatusRule({"status": ("pending", "on-hold", "checkout-draft")},
                           OrderStatus.PENDING_PAYMENT, "on-hold: awaiting a bank transfer"),
                StatusRule({"status": "processing"}, OrderStatus.PAID),
                StatusRule({"status": "completed"}, OrderStatus.COMPLETED),
                StatusRule({"status": ("cancelled", "failed")}, OrderStatus.CANCELLED),
                StatusRule({"status": "refunded"}, OrderStatus.CLOSED),
            ),
        ),
        adjustments=(
            AdjustmentSpec("shipping_total", AdjustmentKind.SHIPPING, Bearer.BUYER,
                           unit="decimal", label="shipping_total"),
            AdjustmentSpec("discount_total", AdjustmentKind.COUPON, Bearer.MERCHANT,
                           unit="decimal", label="discount_total"),
            AdjustmentSpec("total_tax", AdjustmentKind.TAX, Bearer.BUYER, unit="decimal",
                           label="total_tax"),
        ),
        adjustment_lists=(
            AdjustmentListSpec("fee_lines", "total", "tax_status", {
                "taxable": (AdjustmentKind.SHIPPING, Bearer.BUYER),
                "none": (AdjustmentKind.SHIPPING, Bearer.BUYER),
            }, unit="decimal"),
        ),
        payment=PaymentSpec(reference=Field("transaction_id", required=False),
                            method=Field("payment_method", required=False),
                            refunds=RefundPaymentSpec("refunds", Field("id", "id"), "total",
                                                      negative=True)),
        modified_at=Field("date_modified_gmt", "timestamp", required=False),
        buyer_note=Field("customer_note", required=False),
        ignore=(
            "parent_id", "number", "order_key", "created_via", "version", "date_created",
            "date_modified", "date_paid", "date_completed", "discount_tax",
            "shipping_tax", "cart_tax", "prices_include_tax", "customer_ip_address",
            "customer_user_agent", "billing", "shipping.last_name", "shipping.company",
            "shipping.address_2", "payment_method_title", "cart_hash", "meta_data", "tax_lines",
            "shipping_lines", "coupon_lines", "refunds[*].reason",
            "fee_lines[*].id", "fee_lines[*].name", "fee_lines[*].tax_class",
            "fee_lines[*].amount", "fee_lines[*].total_tax", "fee_lines[*].taxes",
            "fee_lines[*].meta_data",
            "refunds[*].refund", "_links",
            "line_items[*].product_id", "line_items[*].variation_id", "line_items[*].tax_class",
            "line_items[*].subtotal_tax", "line_items[*].total",
            "line_items[*].total_tax", "line_items[*].taxes", "line_items[*].meta_data",
        ),
    )
