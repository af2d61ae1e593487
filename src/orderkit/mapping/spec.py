"""The declarative vocabulary a platform map is written in.

A platform is described as data: which source path feeds which canonical field, in which
unit; which status values exist on which axis and what each combination means; which
amounts are discounts, subsidies or shipping and who bears them. The engine
(:mod:`orderkit.mapping.plan`) compiles this description once and checks it: a map that
names an unknown unit, a status value outside its axis, or leaves a combination of known
status values without a meaning is refused with a :class:`~orderkit.model.errors.DefinitionError`
naming the entry, before any payload is read.

These are plain frozen values so an integrator can build a new platform, or derive one
from a built-in map with :meth:`PlatformMap.extended`, without forking any code.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Literal

import attrs

from orderkit.model.orders import AdjustmentKind, Bearer, LineStatus, OrderStatus

__all__ = [
    "MULTI_BUY_REMAINDER",
    "PRESALE",
    "AdjustmentListSpec",
    "AdjustmentSpec",
    "Field",
    "HoldSpec",
    "LinesSpec",
    "PaymentSpec",
    "PlatformHold",
    "PlatformMap",
    "RefundPaymentSpec",
    "RefundSpec",
    "ShipmentSpec",
    "StatusAxis",
    "StatusRule",
    "StatusTable",
    "TagSpec",
]


#: The label of the ROUNDING adjustment that carries what a line total does not divide
#: into whole minor units per unit (see :attr:`LinesSpec.line_total`).
MULTI_BUY_REMAINDER = "multi-buy remainder"

#: The tag of an order sold before its goods are in stock (Tmall ``new_presell`` or a
#: step trade, Douyin ``pre_sale_type``, Pinduoduo ``is_pre_sale``).
PRESALE = "presale"


class PlatformHold(StrEnum):
    """The hold kinds the built-in maps place when a platform says "do not ship".

    :attr:`Hold.kind <orderkit.model.orders.Hold.kind>` is a free string; these are the
    ones orderkit's own maps use, each with the platform's signal in ``Hold.reason``.
    """

    PLATFORM_LOCKED = "platform_locked"
    """The platform locked the order, a cancellation is pending (JD ``LOCKED``)."""
    PLATFORM_PAUSED = "platform_paused"
    """The platform paused the order (JD ``POP_ORDER_PAUSE``, ``PAUSE``)."""
    REFUND_REQUESTED = "refund_requested"
    """The buyer asked for a refund of a line not shipped yet (Tmall sub-order
    ``refund_status`` ``WAIT_SELLER_AGREE`` and the steps after it)."""
    CONSIGN_FORBIDDEN = "consign_forbidden"
    """Paid, but the platform forbids shipping it (Taobao ``PAID_FORBID_CONSIGN``)."""


def _tuple(value: object) -> tuple[object, ...]:
    if isinstance(value, tuple):
        return value
    if isinstance(value, list | set | frozenset):
        return tuple(value)
    return (value,)


def _frozen_mapping(value: object) -> Mapping[str, object]:
    return dict(value) if isinstance(value, Mapping) else value  # type: ignore[return-value]


def _when(value: Mapping[str, object]) -> Mapping[str, tuple[object, ...]]:
    return {key: _tuple(values) for key, values in dict(value).items()}


@attrs.frozen
class Field:
    """One source field: its ``path`` in the payload and the ``unit`` it is read in.

    ``null`` lists values that mean "not set" (JD's ``"0001-01-01 00:00:00"``, Douyin's
    ``0``); a missing or null optional field takes ``default``. ``fallback`` names other
    paths tried in order while the value is null (a WooCommerce line without ``sku``
    falls back to its ``variation_id`` then ``product_id``).
    """

    path: str
    unit: str = "text"
    required: bool = True
    default: object = None
    null: tuple[object, ...] = attrs.field(default=(None,), converter=_tuple)
    fallback: tuple[str, ...] = ()
    max_decimals: int | None = None


@attrs.frozen
class StatusAxis:
    """One real axis of a platform's status (fulfilment, payment, refund, cancellation).

    ``values`` are every value the platform documents for it, exactly as sent
    (``"WAIT_SELLER_SEND_GOODS"``, ``3``). With ``presence=True`` the axis is whether a
    field is set at all (Shopify ``cancelled_at``, Tmall ``pay_time``): its values are
    ``"set"`` and ``"unset"``, and the values in ``null`` count as unset.
    ``default`` is used when the key is missing (``None``: the key is required).
    """

    path: str
    values: tuple[object, ...] = attrs.field(default=(), converter=_tuple)
    presence: bool = False
    null: tuple[object, ...] = attrs.field(default=(None, ""), converter=_tuple)
    default: object = None
    meaning: str = ""


@attrs.frozen
class StatusRule:
    """``when`` every named axis holds one of the listed values, the status is ``status``.

    Axes not named match anything. Rules are tried in order; the first match wins.
    """

    when: Mapping[str, tuple[object, ...]] = attrs.field(converter=_when)
    status: OrderStatus | LineStatus
    note: str = ""


@attrs.frozen
class StatusTable:
    """Axes plus ordered rules; every combination of known values must hit a rule."""

    axes: Mapping[str, StatusAxis] = attrs.field(converter=_frozen_mapping)
    rules: tuple[StatusRule, ...]

    def with_values(self, axis: str, *values: object) -> StatusTable:
        """The same table with more known ``values`` on ``axis``."""
        current = self.axes[axis]
        axes = dict(self.axes)
        axes[axis] = attrs.evolve(current, values=current.values + values)
        return attrs.evolve(self, axes=axes)

    def with_rules(self, *rules: StatusRule, first: bool = True) -> StatusTable:
        """The same table with ``rules`` tried before (or after) the existing ones."""
        ordered = (*rules, *self.rules) if first else (*self.rules, *rules)
        return attrs.evolve(self, rules=ordered)


@attrs.frozen
class AdjustmentSpec:
    """An amount beside the goods: a discount, a subsidy, shipping, tax ...

    ``scope="line"`` reads ``path`` inside each line item and ties the adjustment to
    that line. Zero amounts are skipped. ``signed`` allows negative values and requires
    kind ROUNDING (a manual price change that can go either way). ``only_if`` applies
    the amount only when another field equals a value (Shopify tax is added only when
    ``taxes_included`` is false).

    ``per_line`` names where the platform says how much of this order-level amount
    falls on each line, read inside each line item in the same ``unit``: a field
    (Douyin ``promotion_shop_amount`` of each sku order) or the items of a list, summed
    (Shopify ``discount_allocations[*].amount``). Each line's share becomes an
    adjustment of that line (same kind, bearer and label), so a refunded line gives
    back its own net amount; what the lines' shares do not account for stays on the
    order, spread over the lines by value as before, and a line that gives no share
    takes none. Shares adding up to more than the order-level amount are refused
    naming it; without an order-level amount the shares are the whole amount.
    ``per_line`` is for an order-level, unsigned amount.

    ``per_line_paid`` names, inside each line item and in the same ``unit``, what the
    buyer pays for the line after every discount on it (Youzan ``orders[].payment``,
    the line's 最终均摊价). A line's share is then its goods (unit price times quantity,
    or its ``line_total``) less that amount, and is handled like a ``per_line`` share;
    a paid amount above the goods is refused naming it, and a line without one takes
    no share. With either, ``path`` may be ``None`` when the platform gives no
    order-level total: the lines' shares are then the whole amount.
    """

    path: str | None
    kind: AdjustmentKind
    borne_by: Bearer = Bearer.MERCHANT
    unit: str = "yuan"
    scope: Literal["order", "line"] = "order"
    label: str = ""
    signed: bool = False
    required: bool = False
    only_if: tuple[str, object] | None = None
    max_decimals: int | None = None
    per_line: str | None = None
    per_line_paid: str | None = None


@attrs.frozen
class AdjustmentListSpec:
    """A list of typed amounts (JD ``couponDetailList``): ``types`` maps each type to the
    (kind, bearer) it becomes, or to ``None`` when the amount is already counted
    elsewhere. An unknown type is an error, never silently dropped."""

    path: str
    amount: str
    type_field: str
    types: Mapping[object, tuple[AdjustmentKind, Bearer] | None] = attrs.field(
        converter=_frozen_mapping
    )
    unit: str = "yuan"
    line_ref: str | None = None


@attrs.frozen
class LinesSpec:
    """Where the line items are and how each one reads; paths are relative to the item.

    ``path`` names a list. With ``one_object=True`` (added in 0.3) it may also name one
    object, which is then the order's one line item (Kuaishou's order detail gives its
    item as ``orderItemInfo``, an object); a list there is read as ever. The paths an
    error names are where the field is in the payload: ``orderItemInfo.num`` for the
    one object (it has no index), ``orderItemInfo[1].num`` in a list. Without the
    option an object is refused ("expected a non-empty list of line items").

    Without ``line_id`` lines are numbered ``"1"``, ``"2"``, ... in payload order.
    ``status`` is a per-line status table (its axes are read inside the item) giving the
    bucket all the line's units sit in; without one, lines follow the order status.

    ``line_total`` is the line's own total (Douyin ``sum_amount``: price times units),
    for platforms that send a total beside or instead of a unit price. When it is given
    and the unit price is missing, refused by its unit (a float quotient such as
    WooCommerce's ``6.666666666666667``, more decimals than the currency has), or does
    not multiply out to it, the total wins (it is what the buyer was charged for the
    line): the unit price becomes the total over the
    units, rounded down to the minor unit, and what does not divide (``3 for 100.00``:
    ``33.33`` a unit and ``0.01`` left) becomes a ROUNDING adjustment of that line
    labelled :data:`MULTI_BUY_REMAINDER`, so the line and the order stay exact to the
    fen. ``unit_price`` may then be optional (``required=False``).

    ``refund_id`` is the platform's id of the line's refund (Taobao sub-order
    ``refund_id``), kept as :attr:`OrderLine.refund_id
    <orderkit.model.orders.OrderLine.refund_id>`: the ``reference`` of the refund sync
    records for the line.
    """

    path: str
    sku: Field
    quantity: Field
    unit_price: Field
    line_id: Field | None = None
    title: Field | None = None
    status: StatusTable | None = None
    line_total: Field | None = None
    refund_id: Field | None = None
    one_object: bool = False


@attrs.frozen
class RefundSpec:
    """Refunded units listed apart from the lines (Shopify ``refunds[*].refund_line_items``).

    Each item names its line by ``line_ref`` (matched against the line's ``line_key``
    field) and the units by ``quantity``; those units move to the REFUNDED bucket.
    """

    path: str
    line_ref: str
    quantity: str
    line_key: str


@attrs.frozen
class RefundPaymentSpec:
    """Money paid back, listed on the order without its units (WooCommerce ``refunds``:
    ``id``, ``reason``, ``total``).

    Each item of the list at ``path`` is one refund: ``refund_id`` (a field of unit
    ``"id"``) and ``amount``, a decimal text in ``unit``; ``negative`` when the platform
    writes what went back as a negative amount (WooCommerce ``"-10.00"``). Each is
    recorded as a REFUND payment of the mapped order, at the platform's modified time;
    a zero amount is skipped.
    """

    path: str
    refund_id: Field
    amount: str
    unit: str = "decimal"
    negative: bool = False


@attrs.frozen
class PaymentSpec:
    """How the buyer's payment reads; it is recorded when the order has a paid time.

    Cash on delivery: when the value at ``on_delivery_path`` is one of
    ``on_delivery_values`` (JD ``payType`` ``"1-货到付款"``), the order's
    :attr:`~orderkit.model.orders.Order.payment_terms` are ``ON_DELIVERY``; such an
    order ships unpaid, and once the payload says it is delivered or completed, what the
    buyer pays is recorded as collected at ``collected_at`` (else the platform's
    modified time), even when the platform gives no paid time.
    """

    reference: Field | None = None
    method: Field | None = None
    on_delivery_path: str | None = None
    on_delivery_values: tuple[object, ...] = attrs.field(default=(), converter=_tuple)
    collected_at: Field | None = None
    refunds: RefundPaymentSpec | None = None
    """Money paid back listed on the order (see :class:`RefundPaymentSpec`)."""


@attrs.frozen
class ShipmentSpec:
    """Where the waybills are; a shipment is recorded for each waybill that is not empty.

    ``scope="order"`` (the default) reads one waybill on the order object (JD
    ``waybill``), carrying every unit. With ``path`` it reads a list of parcels instead
    (Douyin ``logistics_info``, Shopify ``fulfillments``): ``carrier``, ``waybill`` and
    ``shipped_at`` are read inside each parcel, and ``items`` names the list of what it
    carries, each entry naming its line by ``line_ref`` (matched against the line id)
    and its units by ``units``; a parcel without such a list carries every unit. One
    waybill carrying more units of a line than the line has is refused naming its
    ``units``; several waybills may together (a parcel sent again).
    ``scope="line"`` reads the waybill inside each line item (Tmall sub-orders'
    ``invoice_no``): lines that share a waybill are one shipment, each with all its units.

    ``status`` names a field read where the waybill is (inside each parcel, on the
    order, or inside each line) and ``skip`` the values of it that mean "not a shipment"
    (a Shopify fulfillment's ``status`` ``"cancelled"``, ``"error"`` or ``"failure"``);
    a parcel whose status is one of them (type included: ``1`` is not ``"1"``) is passed
    over before its waybill is read, so it neither becomes a shipment nor adds units to
    one with the same waybill. A missing status skips nothing. Each needs the other.
    """

    carrier: Field
    waybill: Field
    shipped_at: Field | None = None
    scope: Literal["order", "line"] = "order"
    path: str | None = None
    items: str | None = None
    line_ref: str | None = None
    units: str | None = None
    status: str | None = None
    skip: tuple[object, ...] = attrs.field(default=(), converter=_tuple)


@attrs.frozen
class HoldSpec:
    """A "do not ship" signal: when the value at ``path`` is one of ``values`` (type
    included: ``1`` is not ``"1"``), the order gets a hold of ``kind``.

    ``scope="line"`` reads ``path`` inside each line item and places the hold only while
    a matching line still has units to ship (a refund asked for a parcel already on its
    way stops nothing). In the mapped order the hold is placed by the channel (``by``
    is the channel name), at the platform's modified time (else the paid time, else
    the created time), and its reason is ``reason`` followed by the field and value
    (and the line ids) that raised it; sync places it on the stored order with a
    ``hold`` event by ``orderkit-sync`` (``SYNC_ACTOR``), and releases it once the
    platform no longer shows the signal.
    """

    kind: str
    path: str
    values: tuple[object, ...] = attrs.field(converter=_tuple)
    reason: str = ""
    scope: Literal["order", "line"] = "order"


@attrs.frozen
class TagSpec:
    """A flag kept on the order as a tag: ``tag`` is added to ``Order.tags`` when the
    value at ``path`` is one of ``values`` (type included), on the order or, with
    ``scope="line"``, on any line item."""

    tag: str
    path: str
    values: tuple[object, ...] = attrs.field(converter=_tuple)
    scope: Literal["order", "line"] = "order"


@attrs.frozen
class PlatformMap:
    """Everything the engine needs to turn one platform's order object into an ``Order``.

    The canonical ``order_id`` is ``"<name>:<channel order id>"`` so ids from different
    platforms never collide; ``channel_order_id`` keeps the platform's id as sent.
    ``payable`` is the platform's own "buyer pays" field: the mapped order must satisfy
    goods + shipping + tax - discounts = payable to the cent, or the payload is refused.
    ``ignore`` lists source fields deliberately not mapped (for :func:`check`).
    ``paid_at`` (like a parcel's ``shipped_at`` and a cash on delivery ``collected_at``)
    before ``created_at`` is refused naming the field: it is a sentinel or a corrupted
    value, not the time of a payment. ``created_at`` itself must fall in the years 2000
    to 2099 (:data:`~orderkit.mapping.fields.CREATED_FROM`, ``CREATED_BEFORE``).

    ``channel`` is the channel identity the orders carry (``Order.channel`` and the
    prefix of ``order_id``); it defaults to ``name``. Two maps that read the same
    platform share it (``taobao`` reads with the ``tmall`` map, so both give
    ``channel == "tmall"`` and one trade is one order, whichever name read it).
    ``modified_at`` is the platform's own modified time, ``shop_id`` the shop (or
    seller) the order belongs to, ``buyer_note`` and ``seller_note`` the buyer's message
    and the seller's memo; they are returned beside the order by
    :meth:`~orderkit.mapping.Registry.read_order`. ``holds`` turn "do not ship" signals
    into :class:`~orderkit.model.orders.Hold` values and ``tags`` flags into
    ``Order.tags``.

    ``goods_total`` is the platform's own total of the goods, when it counts them below
    what the lines add up to by a change the payload has no field for (Pinduoduo
    ``goods_amount``: price times count less the seller's price change, 改价). What
    the lines' unit price times quantity exceed it by becomes a DISCOUNT of the order
    borne by the merchant, labelled ``"<path>: seller price change"``; a goods total
    above the lines is refused naming it. A missing or null one changes nothing.
    """

    name: str
    source_zone: str
    order_id: Field
    created_at: Field
    payable: Field
    lines: LinesSpec
    status: StatusTable
    currency: str = "CNY"
    currency_path: str | None = None
    paid_at: Field | None = None
    buyer_id: Field | None = None
    ship_to: Mapping[str, Field] = attrs.field(factory=dict, converter=_frozen_mapping)
    adjustments: tuple[AdjustmentSpec, ...] = ()
    adjustment_lists: tuple[AdjustmentListSpec, ...] = ()
    refunds: RefundSpec | None = None
    payment: PaymentSpec | None = None
    shipment: ShipmentSpec | None = None
    ignore: tuple[str, ...] = ()
    description: str = ""
    envelopes: tuple[str, ...] = ()
    """Where the order object sits in a whole API response
    (``"trade_fullinfo_get_response.trade"``); tried when the payload is not the order
    object itself, so either can be passed. Error paths then include the envelope."""
    channel: str | None = None
    modified_at: Field | None = None
    shop_id: Field | None = None
    buyer_note: Field | None = None
    seller_note: Field | None = None
    holds: tuple[HoldSpec, ...] = ()
    tags: tuple[TagSpec, ...] = ()
    goods_total: Field | None = None

    @property
    def channel_name(self) -> str:
        """The channel identity of this map's orders: ``channel``, else ``name``."""
        return self.name if self.channel is None else self.channel

    def extended(
        self,
        name: str | None = None,
        *,
        status_values: Mapping[str, tuple[object, ...]] | None = None,
        status_rules: tuple[StatusRule, ...] = (),
        adjustments: tuple[AdjustmentSpec, ...] = (),
        ship_to: Mapping[str, Field] | None = None,
        ignore: tuple[str, ...] = (),
        lines: LinesSpec | None = None,
        shipment: ShipmentSpec | None = None,
        holds: tuple[HoldSpec, ...] = (),
        tags: tuple[TagSpec, ...] = (),
        channel: str | None = None,
    ) -> PlatformMap:
        """A copy with more status values/rules, adjustments, receiver fields, holds,
        tags or ignores, or with other ``lines`` or ``shipment`` readers.

        This is how a built-in map is extended without forking it: new rules are tried
        before the built-in ones, and the result is validated again when registered.
        ``lines`` replaces how line items are read (build it from the base map's with
        ``attrs.evolve(base.lines, sku=Field(...))``). A copy under a new ``name``
        reads the same platform, so it keeps the base map's channel identity unless
        ``channel`` names another.
        """
        status = self.status
        for axis, values in (status_values or {}).items():
            status = status.with_values(axis, *values) if axis in status.axes else status
            if axis not in status.axes:
                status = attrs.evolve(
                    status, axes={**status.axes, axis: StatusAxis(axis, values)}
                )
        if status_rules:
            status = status.with_rules(*status_rules)
        return attrs.evolve(
            self,
            name=self.name if name is None else name,
            channel=self.channel_name if channel is None and name is not None else (
                channel if channel is not None else self.channel),
            status=status,
            adjustments=self.adjustments + tuple(adjustments),
            ship_to={**self.ship_to, **(ship_to or {})},
            ignore=self.ignore + tuple(ignore),
            lines=self.lines if lines is None else lines,
            shipment=self.shipment if shipment is None else shipment,
            holds=self.holds + tuple(holds),
            tags=self.tags + tuple(tags),
        )
