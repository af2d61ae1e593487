"""Shopify: an order of the REST Admin API (``GET /admin/api/<version>/orders/<id>.json``).

Money is decimal strings in the order's ``currency``; times ISO-8601 with the shop's
offset (``"2026-02-15T19:30:00-05:00"``), converted exactly. Status is on three axes:
``financial_status`` (payment and refunds), ``fulfillment_status`` (``null`` until
something ships) and whether ``cancelled_at`` is set. Refunded units come from
``refunds[].refund_line_items[]``. Tax is added to the payable only when
``taxes_included`` is false (in tax-inclusive shops it is already in the prices).
Shopify allocates discounts and tax to the lines: a line's ``discount_allocations``
amounts are its share of ``total_discounts`` and its ``tax_lines`` prices its share of
``total_tax``, each read as an adjustment of that line, so a refunded line gives back
its own discounted subtotal and tax (as the refund's ``subtotal`` and ``total_tax``
say); what the lines do not account for (a shipping discount, shipping tax, or all of
it on a payload without those lists) stays on the order, spread over the lines by value.
``total_price`` is what the buyer pays. The order carries no payment time
(``processed_at`` is when the order was processed, paid or not); payments come from the
Transactions API, so no ``Payment`` is recorded here.
Shipments are the order's ``fulfillments`` (the Fulfillment resource): each one with a
``tracking_number`` is a parcel of ``tracking_company``, shipped at its ``created_at``,
carrying the ``line_items`` it lists (each naming the order's line item by its ``id``,
with the ``quantity`` fulfilled). A fulfilment whose ``status`` is ``cancelled``,
``error`` or ``failure`` is not a shipment.
"""

from __future__ import annotations

from orderkit.mapping.spec import (
    AdjustmentSpec,
    Field,
    LinesSpec,
    PlatformMap,
    RefundSpec,
    ShipmentSpec,
    StatusAxis,
    StatusRule,
    StatusTable,
)
from orderkit.model.orders import AdjustmentKind, Bearer, LineStatus, OrderStatus

__all__ = ["platform_map"]

FINANCIAL = ("pending", "authorized", "partially_paid", "paid", "partially_refunded",
             "refunded", "voided")
FULFILLMENT = (None, "partial", "fulfilled", "restocked")
#: Fulfillment ``status`` values that mean the parcel did not go (of ``pending``,
#: ``open``, ``success``, ``cancelled``, ``error``, ``failure``).
NOT_SHIPPED = ("cancelled", "error", "failure")

#: Fields of a Fulfillment the map knowingly does not read; its ``line_items`` are whole
#: line items of the order, of which only ``id`` and ``quantity`` are read.
IGNORED_FULFILLMENT_FIELDS = tuple(
    f"fulfillments[*].{name}" for name in (
        "id", "order_id", "name", "service", "location_id", "updated_at", "receipt",
        "shipment_status", "tracking_numbers", "tracking_url", "tracking_urls",
        "line_items[*].variant_id", "line_items[*].product_id", "line_items[*].title",
        "line_items[*].name", "line_items[*].variant_title", "line_items[*].vendor",
        "line_items[*].sku", "line_items[*].price", "line_items[*].grams",
        "line_items[*].total_discount", "line_items[*].fulfillment_status",
        "line_items[*].fulfillable_quantity", "line_items[*].requires_shipping",
        "line_items[*].taxable", "line_items[*].tax_lines",
        "line_items[*].discount_allocations",
    )
)


def platform_map() -> PlatformMap:
    """The Shopify map."""
    paid = ("paid", "partially_paid", "partially_refunded")
    return PlatformMap(
        name="shopify",
        description="REST Admin API Order",
        envelopes=("order",),
        source_zone="UTC",
        currency_path="currency",
        order_id=Field("id", "id"),
        created_at=Field("created_at", "timestamp"),
        buyer_id=Field("customer.id", "id", required=False),
        payable=Field("total_price", "decimal"),
        ship_to={
            "name": Field("shipping_address.name", required=False),
            "phone": Field("shipping_address.phone", required=False),
            "province": Field("shipping_address.province", required=False),
            "city": Field("shipping_address.city", required=False),
            "street": Field("shipping_address.address1", required=False),
            "postcode": Field("shipping_address.zip", required=False),
            "country": Field("shipping_address.country_code", required=False),
        },
        lines=LinesSpec(
            path="line_items",
            line_id=Field("id", "id"),
            sku=Field("sku", "id", null=(None, ""), fallback=("variant_id", "product_id")),
            quantity=Field("quantity", "count"),
            unit_price=Field("price", "decimal"),
            title=Field("title", required=False),
            status=StatusTable(
                axes={"fulfilment": StatusAxis("fulfillment_status", FULFILLMENT,
                                               null=(), default="")},
                rules=(
                    StatusRule({"fulfilment": "fulfilled"}, LineStatus.SHIPPED),
                    StatusRule({}, LineStatus.OPEN, "partial lines stay open until fulfilled"),
                ),
            ),
        ),
        status=StatusTable(
            axes={
                "financial": StatusAxis("financial_status", FINANCIAL, meaning="payment"),
                "fulfilment": StatusAxis("fulfillment_status", FULFILLMENT, meaning="fulfilment"),
                "cancelled": StatusAxis("cancelled_at", presence=True, default=None,
                                        meaning="cancellation (cancelled_at set)"),
            },
            rules=(
                StatusRule({"financial": "refunded"}, OrderStatus.CLOSED, "refunded in full"),
                StatusRule({"cancelled": "set"}, OrderStatus.CANCELLED),
                StatusRule({"financial": "voided"}, OrderStatus.CANCELLED),
                StatusRule({"fulfilment": "restocked"}, OrderStatus.CLOSED, "returned"),
                StatusRule({"financial": ("pending", "authorized")},
                           OrderStatus.PENDING_PAYMENT, "not captured yet"),
                StatusRule({"financial": paid, "fulfilment": ("fulfilled", "partial")},
                           OrderStatus.SHIPPED, "partly shipped is SHIPPED, as in the lifecycle"),
                StatusRule({"financial": paid}, OrderStatus.PAID),
            ),
        ),
        adjustments=(
            AdjustmentSpec("total_shipping_price_set.shop_money.amount", AdjustmentKind.SHIPPING,
                           Bearer.BUYER, unit="decimal", label="shipping"),
            AdjustmentSpec("total_discounts", AdjustmentKind.DISCOUNT, Bearer.MERCHANT,
                           unit="decimal", label="total_discounts",
                           per_line="discount_allocations[*].amount"),
            AdjustmentSpec("total_tax", AdjustmentKind.TAX, Bearer.BUYER, unit="decimal",
                           label="total_tax", only_if=("taxes_included", False),
                           per_line="tax_lines[*].price"),
        ),
        refunds=RefundSpec(path="refunds[*].refund_line_items", line_ref="line_item_id",
                           quantity="quantity", line_key="id"),
        shipment=ShipmentSpec(
            path="fulfillments",
            carrier=Field("tracking_company", required=False),
            waybill=Field("tracking_number", required=False),
            shipped_at=Field("created_at", "timestamp", required=False),
            items="line_items",
            line_ref="id",
            units="quantity",
            status="status",
            skip=NOT_SHIPPED,
        ),
        modified_at=Field("updated_at", "timestamp", required=False),
        buyer_note=Field("note", required=False),
        ignore=(
            "name", "order_number", "processed_at", "gateway", "email", "closed_at",
            "cancel_reason", "subtotal_price", "total_line_items_price", "total_price_set",
            "taxes_included", "tax_lines", "discount_codes", "discount_applications",
            "shipping_lines", "payment_gateway_names", "tags", "billing_address", "customer",
            "refunds", "token", "test", "source_name", "presentment_currency",
            "line_items[*].variant_id", "line_items[*].product_id", "line_items[*].name",
            "line_items[*].variant_title", "line_items[*].vendor", "line_items[*].grams",
            "line_items[*].total_discount", "line_items[*].fulfillable_quantity",
            "line_items[*].requires_shipping", "line_items[*].taxable",
            "line_items[*].tax_lines[*].title", "line_items[*].tax_lines[*].rate",
            "line_items[*].tax_lines[*].price_set",
            "line_items[*].discount_allocations[*].amount_set",
            "line_items[*].discount_allocations[*].discount_application_index",
            "shipping_address",
            "total_shipping_price_set.presentment_money",
            "total_shipping_price_set.shop_money.currency_code",
            *IGNORED_FULFILLMENT_FIELDS,
        ),
    )
