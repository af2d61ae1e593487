"""The canonical order: one shape for every channel.

Every platform payload is mapped onto these types, every lifecycle event produces a new
one, and every store saves them. They are immutable (``attrs.frozen``): a change is a new
value made with :func:`attrs.evolve` by the lifecycle engine, with ``version`` bumped.

Money is :class:`~orderkit.model.money.Money` (``Decimal`` inside) and every datetime is aware
and held in UTC; constructors refuse anything else with a
:class:`~orderkit.model.errors.ValidationError` that names the field.

Line quantities are *buckets*: ``OrderLine.quantities`` maps each :class:`LineStatus` to
a count and the counts always sum to ``quantity``. That is what lets 2 of 5 units be
cancelled, or 1 of 3 refunded, without losing track of the rest.
"""

from __future__ import annotations

import decimal
import math
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from fractions import Fraction
from typing import Any, Final, Literal

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import CurrencyMismatch, ValidationError
from orderkit.model.frozen import FrozenMap
from orderkit.model.ids import parse_recon_id
from orderkit.model.money import Money, minor_digits, whole_minor
from orderkit.model.shares import spread_weights, units_share

__all__ = [
    "ANCHORS",
    "PAID_STATUSES",
    "PAID_TO_SHIP",
    "Address",
    "Adjustment",
    "AdjustmentKind",
    "AfterSale",
    "Anchor",
    "Bearer",
    "CarrierScan",
    "Hold",
    "HoldKind",
    "LineStatus",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OrderTotals",
    "Payment",
    "PaymentKind",
    "PaymentTerms",
    "RefundValue",
    "Return",
    "Shipment",
    "SoldValue",
    "TrackingEvent",
    "TrackingStatus",
    "check_version_raised",
    "derived",
    "status_code",
    "status_name",
]


#: The instants a watch measures an order's age from (see the order repository's
#: ``stale`` query): when it entered its status, was fully paid or was placed; when its
#: latest parcel was handed over while that parcel has no carrier scan; and, while its
#: :attr:`Order.after_sale` is RETURN_REQUESTED, when the oldest return still awaited was
#: asked for, and while it is REFUND_DUE, when the last returned unit was received; and,
#: while it is partly shipped (units still to ship after a parcel left), when its first
#: parcel left (:attr:`Order.partly_shipped_since`); when it became due to ship (paid,
#: and a presale's ship-from day begun); and while a presale that took its deposit waits
#: for its balance, when the deposit was paid.
Anchor = Literal[
    "status_since", "paid_at", "created_at", "unscanned_since",
    "return_requested_since", "refund_due_since", "partly_shipped_since",
    "ship_due_at", "balance_due_since",
]
ANCHORS: Final[tuple[Anchor, ...]] = (
    "status_since", "paid_at", "created_at", "unscanned_since",
    "return_requested_since", "refund_due_since", "partly_shipped_since",
    "ship_due_at", "balance_due_since",
)


class OrderStatus(IntEnum):
    """The organisation-wide order status codes."""

    PENDING_PAYMENT = 10
    """Created, not paid."""
    PAID = 20
    """Paid, awaiting fulfilment."""
    PACKED = 25
    """Packed and scanned at the warehouse; the address is locked from here."""
    SHIPPED = 30
    """Waybill issued and handed to the carrier."""
    DELIVERED = 40
    """The carrier reports it signed for."""
    COMPLETED = 50
    """The buyer confirmed, or the confirmation window closed."""
    CANCELLED = 90
    """Cancelled before shipment; all locks released."""
    CLOSED = 95
    """Ended after payment by full refund or return."""

    @property
    def is_final(self) -> bool:
        """COMPLETED, CANCELLED and CLOSED accept no further status change."""
        return self in _FINAL


_FINAL = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.CLOSED})

#: The statuses that say an order was paid whatever its payments say, while it waits to
#: ship or travels (an order imported in one of them is paid: see :func:`paid_by_status`).
PAID_TO_SHIP: Final = frozenset(
    {OrderStatus.PAID, OrderStatus.PACKED, OrderStatus.SHIPPED, OrderStatus.DELIVERED}
)


#: The statuses that say a prepaid order's buyer paid: PAID to COMPLETED, and CLOSED
#: (ended after payment). A platform showing one of them without a paid time was paid
#: all the same (mapping records the payment, sync brings the ``pay``); CANCELLED says
#: nothing about the money.
PAID_STATUSES: Final = PAID_TO_SHIP | {OrderStatus.COMPLETED, OrderStatus.CLOSED}


class LineStatus(StrEnum):
    """The buckets a line's units sit in."""

    OPEN = "open"
    """Ordered and not yet shipped, cancelled or refunded."""
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    RETURNED = "returned"


class AdjustmentKind(StrEnum):
    """What an adjustment is; decides how it moves the totals (see :class:`Adjustment`)."""

    DISCOUNT = "discount"
    COUPON = "coupon"
    SHIPPING = "shipping"
    SUBSIDY = "subsidy"
    FEE = "fee"
    COMMISSION = "commission"
    TAX = "tax"
    ROUNDING = "rounding"
    CONCESSION = "concession"
    """Money given back while the goods stay sold (a partial refund, compensation for a
    late parcel): a discount granted after the sale, recorded by a ``refund``."""
    SHIPPING_CONCESSION = "shipping_concession"
    """Shipping given back or waived after the sale: it lowers the order's own shipping
    (a line's, with ``line_id``). Recorded by a ``refund`` beyond what the goods still
    sold are worth (the merchant refunds the shipping fee: a full refund of a shipped
    order, the seller's fault, 运费险) and by a cash on delivery parcel refused at the
    door (the fee nobody will collect)."""


class Bearer(StrEnum):
    """Who bears (pays for) an adjustment."""

    PLATFORM = "platform"
    MERCHANT = "merchant"
    INFLUENCER = "influencer"
    BUYER = "buyer"


class HoldKind(StrEnum):
    """Built-in hold kinds. :attr:`Hold.kind` accepts any non-empty string too."""

    LOSS_MAKING = "loss_making"
    NEAR_EXPIRY = "near_expiry"
    ADDRESS_REVIEW = "address_review"
    PAYMENT_REVIEW = "payment_review"
    MANUAL = "manual"


class TrackingStatus(StrEnum):
    """Carrier scan statuses, ranked in this order (an exception ranks with in-transit)."""

    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    SIGNED = "signed"
    EXCEPTION = "exception"


class PaymentKind(StrEnum):
    """Money in (payment) or back out to the buyer (refund)."""

    PAYMENT = "payment"
    REFUND = "refund"


class PaymentTerms(StrEnum):
    """When the buyer pays (:attr:`Order.payment_terms`)."""

    PREPAID = "prepaid"
    """Paid before the goods leave: an unpaid order is not packed or shipped."""
    ON_DELIVERY = "on_delivery"
    """Cash on delivery (JD 货到付款): packed and shipped unpaid; the carrier collects
    what is due when the buyer signs, and that payment is recorded then."""


class AfterSale(StrEnum):
    """Where an order stands after delivery (:attr:`Order.after_sale`), beside its
    status: a COMPLETED order stays COMPLETED while the buyer returns a unit."""

    NONE = "none"
    """No return asked for (or every request was cancelled before anything came back)."""
    RETURN_REQUESTED = "return_requested"
    """The buyer asked to return units the warehouse has not received yet, and the
    request was not cancelled (``return_cancelled``)."""
    REFUND_DUE = "refund_due"
    """Every requested unit is back; the buyer is still owed money for them."""
    RETURNED = "returned"
    """Every requested unit is back and refunded."""


# --- value objects -----------------------------------------------------------------------


@attrs.frozen
class Address:
    """A receiver. Masked or empty values (``"张*"``, ``"138****1234"``) are kept as given."""

    name: str = attrs.field(default="", validator=check.text())
    phone: str = attrs.field(default="", validator=check.text())
    province: str = attrs.field(default="", validator=check.text())
    city: str = attrs.field(default="", validator=check.text())
    district: str = attrs.field(default="", validator=check.text())
    street: str = attrs.field(default="", validator=check.text())
    postcode: str = attrs.field(default="", validator=check.text())
    country: str = attrs.field(default="", validator=check.text())


_ZERO_BUCKETS: dict[LineStatus, int] = dict.fromkeys(LineStatus, 0)
#: Longest ``order_id`` / ``channel_order_id``, and longest ``channel`` and hold kind.
ID_MAX_LENGTH: Final = 128
NAME_MAX_LENGTH: Final = 64
# StrEnum members hash and compare like their values, so this finds both "open" and OPEN.
_STATUS_BY_KEY: dict[str, LineStatus] = {status.value: status for status in LineStatus}


def _line_quantities(value: object) -> FrozenMap[LineStatus, int]:
    if not isinstance(value, Mapping):
        raise ValidationError("quantities", value, "expected a mapping of LineStatus to int")
    out = _ZERO_BUCKETS.copy()
    for key, qty in value.items():
        status = _STATUS_BY_KEY.get(key) if isinstance(key, str) else None
        if status is None:
            allowed = ", ".join(_STATUS_BY_KEY)
            raise ValidationError("quantities", key, f"expected a LineStatus ({allowed})")
        if type(qty) is not int or qty < 0:  # bool is refused too
            raise ValidationError(f"quantities.{status.value}", qty, "expected an integer >= 0")
        out[status] = qty
    return FrozenMap(out)


def _default_quantities(line: OrderLine) -> FrozenMap[LineStatus, int]:
    out = _ZERO_BUCKETS.copy()
    # A bad quantity (negative, not an int) leaves the buckets empty: the quantity's own
    # validator then names the field the caller got wrong.
    if type(line.quantity) is int and line.quantity > 0:
        out[LineStatus.OPEN] = line.quantity
    return FrozenMap(out)


@attrs.frozen
class OrderLine:
    """One SKU on an order.

    ``quantities`` defaults to every unit OPEN; the buckets must sum to ``quantity``.
    ``status`` summarises them (see :attr:`status`). The line's :attr:`amount` is a
    whole number of the currency's minor units (what a buyer can be asked to pay); its
    unit price may be finer (0.0125 a unit, 8 units: 0.10).
    """

    line_id: str = attrs.field(validator=check.text(allow_empty=False))
    sku: str = attrs.field(validator=check.text(allow_empty=False))
    quantity: int = attrs.field(validator=check.count(minimum=1))
    unit_price: Money = attrs.field(validator=check.instance(Money))
    quantities: FrozenMap[LineStatus, int] = attrs.field(
        default=attrs.Factory(_default_quantities, takes_self=True),
        converter=_line_quantities,
    )
    title: str = attrs.field(default="", validator=check.text())
    channel_line_id: str = attrs.field(default="", validator=check.text())
    """The platform's own id for the line (Taobao ``oid``, Douyin sku order id)."""
    refund_id: str = attrs.field(default="", validator=check.text())
    """The platform's id of the line's refund, as a mapped order shows it (Taobao
    sub-order ``refund_id``); sync records it as the ``reference`` of the refund it
    brings for the line. ``""``: none given."""

    @unit_price.validator
    def _whole_minor_amount(self, _attribute: Any, value: Money) -> None:
        amount = _EXACT.multiply(value.amount, Decimal(self.quantity))
        if not whole_minor(amount, value.currency):
            raise ValidationError(
                "unit_price", value,
                f"line {self.line_id}: {self.quantity} x {value.amount} ="
                f" {value.currency} {amount}, not a whole number of {value.currency}"
                f" minor units ({Money.from_minor(1, value.currency).amount}); a multi-buy"
                " line takes a unit price rounded down and the rest as its ROUNDING",
            )

    @quantities.validator
    def _buckets_sum_to_quantity(
        self, _attribute: Any, value: FrozenMap[LineStatus, int]
    ) -> None:
        if sum(value.values()) != self.quantity:
            raise ValidationError(
                "quantities",
                {k.value: v for k, v in value.items() if v},
                f"buckets must sum to quantity {self.quantity}",
            )
        if self.unit_price.amount < 0:
            raise ValidationError("unit_price.amount", self.unit_price.amount, "must be >= 0")

    @property
    def status(self) -> LineStatus:
        """The line's headline status: OPEN while any unit is open, else SHIPPED while any
        unit shipped, else RETURNED, REFUNDED, then CANCELLED."""
        q = self.quantities
        for status in _LINE_PRECEDENCE:
            if q[status]:
                return status
        return LineStatus.CANCELLED

    @property
    def amount(self) -> Money:
        """``unit_price x quantity``: the goods value of the whole line."""
        return self.unit_price * self.quantity


_LINE_PRECEDENCE = (
    LineStatus.OPEN,
    LineStatus.SHIPPED,
    LineStatus.RETURNED,
    LineStatus.REFUNDED,
    LineStatus.CANCELLED,
)


_to_adjustment_kind_impl = check.enum_member(AdjustmentKind, "kind")


def _to_adjustment_kind(value: object) -> AdjustmentKind:
    return _to_adjustment_kind_impl(value)


_to_bearer_impl = check.enum_member(Bearer, "borne_by")


def _to_bearer(value: object) -> Bearer:
    return _to_bearer_impl(value)


@attrs.frozen
class Adjustment:
    """A money movement beside the goods: discount, coupon, shipping, fee, ...

    ``amount`` is a magnitude (>= 0) and the kind decides the sign, except ROUNDING,
    which is signed. Effect on what the buyer pays (:attr:`payable_effect`):
    SHIPPING and TAX add; DISCOUNT, COUPON, SUBSIDY, CONCESSION and
    SHIPPING_CONCESSION subtract; ROUNDING adds its sign;
    FEE and COMMISSION do not touch the buyer's price (they reduce what the merchant is
    settled, see :attr:`Order.totals`).
    """

    kind: AdjustmentKind = attrs.field(converter=_to_adjustment_kind)
    amount: Money = attrs.field(validator=check.instance(Money))
    borne_by: Bearer = attrs.field(default=Bearer.MERCHANT, converter=_to_bearer)
    line_id: str | None = attrs.field(default=None, validator=check.optional_text)
    label: str = attrs.field(default="", validator=check.text())
    units: int | None = attrs.field(default=None)
    """How many of ``line_id``'s units it covers (``None``: every unit of the line), at
    most the line's quantity (the order checks it). A concession covers the units still
    sold when it was granted."""

    @amount.validator
    def _magnitude(self, _attribute: Any, value: Money) -> None:
        if self.kind is not AdjustmentKind.ROUNDING and value.amount < 0:
            raise ValidationError(
                "amount.amount", value.amount, f"a {self.kind.value} amount must be >= 0"
            )

    @units.validator
    def _covered(self, _attribute: Any, value: int | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError("units", value, "expected an integer >= 1 or None")
        if self.line_id is None:
            raise ValidationError("units", value, "only an adjustment of one line covers units")

    @property
    def payable_effect(self) -> Money:
        """Signed change this adjustment makes to the buyer's payable amount."""
        if self.kind in _ADDS:
            return self.amount
        if self.kind in _LOWERS:
            return -self.amount
        return Money.zero(self.amount.currency)


_ADDS = frozenset({AdjustmentKind.SHIPPING, AdjustmentKind.TAX, AdjustmentKind.ROUNDING})
_SUBTRACTS = (
    AdjustmentKind.DISCOUNT,
    AdjustmentKind.COUPON,
    AdjustmentKind.SUBSIDY,
    AdjustmentKind.CONCESSION,
)
#: Kinds that lower what the buyer pays: the discounts, and shipping given back.
_LOWERS = frozenset({*_SUBTRACTS, AdjustmentKind.SHIPPING_CONCESSION})


#: How each part of a :class:`RefundValue` counts in its ``amount`` (discounts subtract).
_PART_SIGNS: Final = (1, -1, 1, 1, 1, 1)


def _same_currency(value: RefundValue, attribute: Any, money: Money) -> None:
    if not isinstance(money, Money):
        raise ValidationError(attribute.name, money, "expected Money")
    if money.currency != value.goods.currency:
        raise CurrencyMismatch(f"{attribute.name}.currency", value.goods.currency, money.currency)


@attrs.frozen
class RefundValue:
    """What money given back to the buyer (or owed back) is for, part by part (added in
    0.3): what a refund gave back (:attr:`Payment.value`, ``Refunded``), what became
    owed (``RefundDue``).

    ``goods``, ``discounts``, ``shipping``, ``tax`` and ``rounding`` are value that left
    the buyer's bill, counted as :class:`SoldValue` counts what is still sold: for
    units given back, their price and their share of the order's discounts, shipping,
    tax and rounding; for money given on goods the buyer keeps (a concession: a
    discount granted after the sale), a negative ``discounts``; for the order's own
    shipping (or rounding up) given back, ``shipping`` (or ``rounding``). ``overpaid``
    is money paid beyond what the order is priced at: a payment over what was due, or a
    price lowered after payment (before the goods ship, so never revenue): none of
    goods, shipping or tax.
    ``amount = goods - discounts + shipping + tax + rounding + overpaid``.
    """

    goods: Money = attrs.field(validator=check.instance(Money))
    discounts: Money = attrs.field(validator=_same_currency)
    shipping: Money = attrs.field(validator=_same_currency)
    tax: Money = attrs.field(validator=_same_currency)
    rounding: Money = attrs.field(validator=_same_currency)
    overpaid: Money = attrs.field(validator=_same_currency)

    @classmethod
    def zero(cls, currency: str) -> RefundValue:
        """Nothing, in ``currency``."""
        zero = Money.zero(currency)
        return cls(zero, zero, zero, zero, zero, zero)

    @classmethod
    def left(cls, value: SoldValue, overpaid: Money | None = None) -> RefundValue:
        """``value`` (what left the bill, as :meth:`SoldValue.minus` gives it) and
        ``overpaid`` (default zero) as a refund's parts."""
        return cls(value.goods, value.discounts, value.shipping, value.tax, value.rounding,
                   Money.zero(value.goods.currency) if overpaid is None else overpaid)

    @property
    def amount(self) -> Money:
        """``goods - discounts + shipping + tax + rounding + overpaid``."""
        return (self.goods - self.discounts + self.shipping + self.tax + self.rounding
                + self.overpaid)

    def plus(self, other: RefundValue) -> RefundValue:
        """Part by part, ``self`` and ``other`` together."""
        return RefundValue(*(a + b for a, b in zip(self._parts(), other._parts(), strict=True)))

    def minus(self, other: RefundValue) -> RefundValue:
        """Part by part, what ``self`` holds beyond ``other``."""
        return RefundValue(*(a - b for a, b in zip(self._parts(), other._parts(), strict=True)))

    def part(self, amount: Money) -> RefundValue:
        """The share of this value worth ``amount``: each part in proportion
        (``amount / self.amount``), rounded once, half up, to the finest digit of the
        parts (the currency's minor unit at least); the few of those digits rounding
        leaves over go to the largest part. So the parts add up to ``amount`` exactly.
        A :class:`ValidationError` names ``amount`` when it is no Money of this value's
        currency, or this value is worth nothing and ``amount`` is not zero."""
        total = self.amount
        currency = total.currency
        if not isinstance(amount, Money):
            raise ValidationError("amount", amount, "expected Money")
        if amount.currency != currency:
            raise CurrencyMismatch("amount.currency", currency, amount.currency)
        if amount == total:
            return self
        if not amount:
            return RefundValue.zero(currency)
        if not total:
            raise ValidationError("amount", amount, "no share of a value worth nothing")
        parts = self._parts()
        digits = max(money.digits for money in (*parts, amount))
        ratio = Fraction(amount.amount) / Fraction(total.amount)
        signed = [Fraction(sign * money.amount) for sign, money in zip(_PART_SIGNS, parts,
                                                                       strict=True)]
        shares = [math.floor(share * ratio * 10**digits + Fraction(1, 2)) for share in signed]
        largest = max(range(len(shares)), key=lambda index: (abs(signed[index]), -index))
        shares[largest] += int(amount.amount.scaleb(digits)) - sum(shares)
        return RefundValue(*(Money(Decimal(sign * share).scaleb(-digits), currency)
                             for sign, share in zip(_PART_SIGNS, shares, strict=True)))

    def _parts(self) -> tuple[Money, Money, Money, Money, Money, Money]:
        return (self.goods, self.discounts, self.shipping, self.tax, self.rounding,
                self.overpaid)


_to_at_impl = check.aware("at")


def _to_at(value: object) -> datetime:
    return _to_at_impl(value)


_to_payment_kind_impl = check.enum_member(PaymentKind, "kind")


def _to_payment_kind(value: object) -> PaymentKind:
    return _to_payment_kind_impl(value)


_to_unit_map_impl = check.quantity_map("lines")


def _to_unit_map(value: object) -> FrozenMap[str, int]:
    return FrozenMap(_to_unit_map_impl(value))


@attrs.frozen
class Payment:
    """Money received from (PAYMENT) or returned to (REFUND) the buyer.

    ``lines`` names the line ids and units a refund covers, when known.
    """

    payment_id: str = attrs.field(validator=check.text(allow_empty=False))
    amount: Money = attrs.field(validator=check.instance(Money))
    at: datetime = attrs.field(converter=_to_at)
    method: str = attrs.field(default="", validator=check.text())
    kind: PaymentKind = attrs.field(default=PaymentKind.PAYMENT, converter=_to_payment_kind)
    reference: str = attrs.field(default="", validator=check.text())
    """The gateway's transaction id (Alipay trade_no, WeChat transaction_id, ...)."""
    lines: FrozenMap[str, int] = attrs.field(factory=FrozenMap, converter=_to_unit_map)
    value: RefundValue | None = attrs.field(
        default=None, validator=check.instance(RefundValue, optional=True)
    )
    """What a refund gave back, part by part (added in 0.3; see :class:`RefundValue`):
    the lifecycle records it with every refund it pays, and the ``Refunded`` event
    carries it. ``None`` for a payment, and for a refund recorded without it (placed by
    a mapping, or stored before 0.3)."""

    @amount.validator
    def _positive(self, _attribute: Any, value: Money) -> None:
        if value.amount < 0:
            raise ValidationError("amount.amount", value.amount, "must be >= 0")

    @value.validator
    def _adds_up(self, _attribute: Any, value: RefundValue | None) -> None:
        if value is None:
            return
        if self.kind is not PaymentKind.REFUND:
            raise ValidationError("value", value, "only a refund says what it gave back")
        if value.goods.currency != self.amount.currency:
            raise CurrencyMismatch("value.goods.currency", self.amount.currency,
                                   value.goods.currency)
        if value.amount != self.amount:
            raise ValidationError(
                "value", value,
                f"its parts add up to {value.amount}, not the refund's {self.amount}",
            )


_to_tracking_status_impl = check.enum_member(TrackingStatus, "status")


def _to_tracking_status(value: object) -> TrackingStatus:
    return _to_tracking_status_impl(value)


@attrs.frozen
class CarrierScan:
    """One carrier scan, stamped with the carrier's own time."""

    status: TrackingStatus = attrs.field(converter=_to_tracking_status)
    at: datetime = attrs.field(converter=_to_at)
    location: str = attrs.field(default="", validator=check.text())
    description: str = attrs.field(default="", validator=check.text())


#: The 0.1 name of :class:`CarrierScan`, kept as an alias: "event" in orderkit means an
#: input :class:`~orderkit.lifecycle.Event` or an emitted domain event, never a scan.
TrackingEvent = CarrierScan


_to_shipped_at_impl = check.optional_aware("shipped_at")


def _to_shipped_at(value: object) -> datetime | None:
    return _to_shipped_at_impl(value)


_to_first_scan_at_impl = check.optional_aware("first_scan_at")


def _to_first_scan_at(value: object) -> datetime | None:
    return _to_first_scan_at_impl(value)


_to_events_impl = check.tuple_of(CarrierScan, "events")


def _to_events(value: object) -> tuple[CarrierScan, ...]:
    return _to_events_impl(value)


@attrs.frozen
class Shipment:
    """A parcel: carrier, waybill and which line units it carries.

    ``forced`` (added in 0.3): its units are the ones a carrier scan assumed left with
    it (every unit still open when the scan moved an order no ``ship`` had reached);
    the warehouse's ``ship`` of the parcel tells what is in it, and clears it.
    """

    shipment_id: str = attrs.field(validator=check.text(allow_empty=False))
    carrier: str = attrs.field(validator=check.text())
    waybill: str = attrs.field(validator=check.text())
    lines: FrozenMap[str, int] = attrs.field(factory=FrozenMap, converter=_to_unit_map)
    shipped_at: datetime | None = attrs.field(default=None, converter=_to_shipped_at)
    first_scan_at: datetime | None = attrs.field(default=None, converter=_to_first_scan_at)
    events: tuple[CarrierScan, ...] = attrs.field(default=(), converter=_to_events)
    forced: bool = attrs.field(default=False, validator=check.instance(bool))


@attrs.frozen
class Hold:
    """A reason the order must not ship yet, orthogonal to its status."""

    kind: str = attrs.field(validator=check.text(allow_empty=False, max_length=NAME_MAX_LENGTH))
    by: str = attrs.field(validator=check.text())
    at: datetime = attrs.field(converter=_to_at)
    reason: str = attrs.field(default="", validator=check.text())


_to_requested_at_impl = check.optional_aware("requested_at")


def _to_requested_at(value: object) -> datetime | None:
    return _to_requested_at_impl(value)


_to_received_at_impl = check.optional_aware("received_at")


def _to_received_at(value: object) -> datetime | None:
    return _to_received_at_impl(value)


@attrs.frozen
class Return:
    """One after-sales return: the units the buyer asked to send back (``lines``, line
    id to units), when (``requested_at``), and what the warehouse got back so far
    (``received``), of which ``sellable`` went back into stock.

    ``return_id`` is the id of the ``return_requested`` event (or of the
    ``return_received`` event, for goods that came back unannounced). ``refunded``
    counts requested units refunded before they came back (a quick refund, 极速退款):
    they arrive first, and their receipt takes them from REFUNDED, so the buyer is not
    owed them a second time. ``cancelled`` counts requested units no longer awaited: the
    buyer withdrew the request or the merchant refused it (``return_cancelled``).
    """

    return_id: str = attrs.field(validator=check.text(allow_empty=False))
    lines: FrozenMap[str, int] = attrs.field(converter=_to_unit_map)
    requested_at: datetime | None = attrs.field(default=None, converter=_to_requested_at)
    received: FrozenMap[str, int] = attrs.field(factory=FrozenMap, converter=_to_unit_map)
    sellable: FrozenMap[str, int] = attrs.field(factory=FrozenMap, converter=_to_unit_map)
    received_at: datetime | None = attrs.field(default=None, converter=_to_received_at)
    refunded: FrozenMap[str, int] = attrs.field(factory=FrozenMap, converter=_to_unit_map)
    cancelled: FrozenMap[str, int] = attrs.field(factory=FrozenMap, converter=_to_unit_map)

    @property
    def refunded_in_transit(self) -> dict[str, int]:
        """Requested units refunded before they came back and still awaited, by line id
        (refunded units are the first received, and the last a cancel gives up)."""
        outstanding = self.outstanding
        return {
            line_id: left
            for line_id, units in self.refunded.items()
            if (left := min(units - self.received.get(line_id, 0),
                            outstanding.get(line_id, 0))) > 0
        }

    @property
    def outstanding(self) -> dict[str, int]:
        """Requested units still awaited (not received, not cancelled), by line id."""
        return {
            line_id: left
            for line_id, units in self.lines.items()
            if (left := units - self.received.get(line_id, 0)
                - self.cancelled.get(line_id, 0)) > 0
        }


@attrs.frozen
class SoldValue:
    """What the buyer pays for the units still sold, by component.

    ``goods`` is their price; ``discounts``, ``tax`` and per-line ``shipping`` are their
    share of the order's: order-level amounts are spread over lines by line value (net
    of the line's own discounts) with :meth:`Money.allocate`, and a line's share goes
    to its units in proportion, rounded once to the fen, so a line's units together
    always carry exactly its share. The order's own rounding down (抹零) is spread like
    an order discount, in ``rounding``. The order's own shipping (net of what was given
    back) and rounding up count while anything is still sold or travelled.
    ``amount = goods - discounts + shipping + tax + rounding``.
    """

    goods: Money
    discounts: Money
    shipping: Money
    tax: Money
    rounding: Money

    @property
    def amount(self) -> Money:
        """``goods - discounts + shipping + tax + rounding``."""
        return self.goods - self.discounts + self.shipping + self.tax + self.rounding

    def minus(self, other: SoldValue) -> SoldValue:
        """Component by component, what ``self`` holds beyond ``other`` (the value that
        left when an order went from ``self`` to ``other``)."""
        return SoldValue(
            self.goods - other.goods,
            self.discounts - other.discounts,
            self.shipping - other.shipping,
            self.tax - other.tax,
            self.rounding - other.rounding,
        )


@attrs.frozen
class OrderTotals:
    """An order's money, computed from its lines and adjustments, exact to the cent.

    ``payable = goods + shipping + tax - discounts + rounding`` is what the order was
    placed for (less any concession granted since); ``shipping`` is the shipping charged
    net of what was given back (SHIPPING_CONCESSION). ``sold`` is the part of it for the
    units still sold (open or shipped; see :class:`SoldValue`): cancelled, refunded and
    returned units leave it. ``settlement = payable + platform_funded - merchant_fees``
    is what the channel should pay the merchant: discounts the platform bears come back,
    fees and commissions go.

    The money identity, exact to the fen after every event:
    ``paid - refunded - refund_due + due == sold`` (for a paid order ``due`` is zero).
    """

    goods: Money
    shipping: Money
    tax: Money
    discounts: Money
    rounding: Money
    payable: Money
    platform_funded: Money
    merchant_fees: Money
    settlement: Money
    paid: Money
    refunded: Money
    sold: Money

    @property
    def due(self) -> Money:
        """What the buyer still owes: ``sold - (paid - refunded)``, never below zero."""
        return _at_least_zero(
            self.sold.amount - self.paid.amount + self.refunded.amount, self.sold.currency
        )

    @property
    def refund_due(self) -> Money:
        """What the buyer is owed back: ``paid - refunded - sold``, never below zero
        (cancelled or returned units paid for, an overpayment, a price lowered after
        payment)."""
        return _at_least_zero(
            self.paid.amount - self.refunded.amount - self.sold.amount, self.sold.currency
        )


def _at_least_zero(amount: Decimal, currency: str) -> Money:
    """``amount`` in ``currency``, or zero when it is not above zero."""
    return Money(amount, currency) if amount > 0 else Money.zero(currency)


def _check_lines(order: Order, _attribute: Any, lines: tuple[OrderLine, ...]) -> None:
    if not lines:
        raise ValidationError("lines", lines, "an order needs at least one line")
    currency = lines[0].unit_price.currency
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.line_id in seen:
            raise ValidationError(f"lines[{index}].line_id", line.line_id, "duplicate line id")
        seen.add(line.line_id)
        if line.unit_price.currency != currency:
            raise CurrencyMismatch(
                f"lines[{index}].unit_price.currency", currency, line.unit_price.currency
            )


def _check_money_items(name: str) -> Any:
    def validate(order: Order, _attribute: Any, items: tuple[Any, ...]) -> None:
        if not order.lines:
            return
        currency = order.lines[0].unit_price.currency
        for index, item in enumerate(items):
            if item.amount.currency != currency:
                raise CurrencyMismatch(
                    f"{name}[{index}].amount.currency", currency, item.amount.currency
                )

    return validate


#: Exact sums and products of amounts, whatever the host's decimal context.
_EXACT: Final = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX,
                                Emin=decimal.MIN_EMIN)


def _check_payable(order: Order, _attribute: Any, adjustments: tuple[Adjustment, ...]) -> None:
    """The adjustments leave the order payable at zero or more (discounts beyond the
    goods plus charges would owe the buyer money nobody paid), and at a whole number of
    minor units (no payment settles CNY 99.995)."""
    if not adjustments or not order.lines:
        return
    # Exact whatever the host's decimal context: a sum rounded to its precision must not
    # refuse an order.
    with decimal.localcontext(_EXACT):
        payable = sum((line.unit_price.amount * line.quantity for line in order.lines),
                      Decimal(0))
        for adjustment in adjustments:
            amount = adjustment.amount.amount
            if adjustment.kind in _ADDS:
                payable += amount
            elif adjustment.kind in _LOWERS:
                payable -= amount
    if payable < 0:
        raise ValidationError(
            "adjustments", adjustments,
            f"discounts beyond the goods plus charges: the order would be payable at"
            f" {Money(payable, order.currency)}",
        )
    if not whole_minor(payable, order.currency):
        # The lines are whole minor units (each checks its own): an adjustment is not.
        index, adjustment = next(
            (index, adjustment) for index, adjustment in enumerate(adjustments)
            if (adjustment.kind in _ADDS or adjustment.kind in _LOWERS)
            and not adjustment.amount.is_whole_minor()
        )
        raise ValidationError(
            f"adjustments[{index}].amount", adjustment.amount,
            f"the order would be payable at {order.currency} {payable}, not a whole number"
            f" of {order.currency} minor units",
        )


def _check_covered_units(
    order: Order, _attribute: Any, adjustments: tuple[Adjustment, ...]
) -> None:
    """An adjustment of one line covers at most that line's units (its ``units`` is
    spread over them: more would leave part of it on units the line does not have)."""
    if all(adjustment.units is None for adjustment in adjustments):
        return
    quantity = {line.line_id: line.quantity for line in order.lines}
    for index, adjustment in enumerate(adjustments):
        units = adjustment.units
        if units is None or adjustment.line_id not in quantity:
            continue
        if units > quantity[adjustment.line_id]:
            raise ValidationError(
                f"adjustments[{index}].units", units,
                f"line {adjustment.line_id} has {quantity[adjustment.line_id]} units",
            )


def _check_repriced_left(order: Order, attribute: Any, value: RefundValue | None) -> None:
    """``repriced_left`` is ``None`` or a :class:`RefundValue` of the order's currency
    with nothing ``overpaid`` (units' value, never money beyond the price)."""
    if value is None:
        return
    if not isinstance(value, RefundValue):
        raise ValidationError(attribute.name, value, "expected a RefundValue or None")
    currency = order.currency
    if value.goods.currency != currency:
        raise CurrencyMismatch(f"{attribute.name}.goods.currency", currency,
                               value.goods.currency)
    if value.overpaid.amount:
        raise ValidationError(f"{attribute.name}.overpaid", value.overpaid,
                              "units' value: nothing is overpaid")


def _check_holds(_order: Order, _attribute: Any, holds: tuple[Hold, ...]) -> None:
    kinds: set[str] = set()
    for index, hold in enumerate(holds):
        if hold.kind in kinds:
            raise ValidationError(f"holds[{index}].kind", hold.kind, "one hold per kind")
        kinds.add(hold.kind)


def _check_recon_id(_order: Order, _attribute: Any, value: str | None) -> None:
    if value is not None:
        try:
            parse_recon_id(value)
        except ValidationError as error:
            raise ValidationError("recon_id", value, error.reason) from None


def _to_tags(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError("tags", value, "expected a collection of strings")
    tags = frozenset(value)
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise ValidationError("tags", tag, "tags are non-empty strings")
        check.storable("tags", tag)
    return tags


_to_lines_impl = check.tuple_of(OrderLine, "lines")


def _to_lines(value: object) -> tuple[OrderLine, ...]:
    return _to_lines_impl(value)


_to_created_at_impl = check.aware("created_at")


def _to_created_at(value: object) -> datetime:
    return _to_created_at_impl(value)


_STATUS_BY_CODE: dict[int, OrderStatus] = {int(status): status for status in OrderStatus}

#: Codes a host may use for statuses of its own (added to an extended transition table).
CUSTOM_STATUS_RANGE: range = range(1, 1000)


def _to_status(value: object) -> int:
    if type(value) is not int and not isinstance(value, OrderStatus):
        raise ValidationError("status", value, "expected an integer status code, e.g. 20")
    known = _STATUS_BY_CODE.get(value)
    if known is not None:
        return known
    if value not in CUSTOM_STATUS_RANGE:
        raise ValidationError(
            "status", value, "expected an OrderStatus code or a custom code from 1 to 999"
        )
    return value


def check_version_raised(order: Order, expected_version: int | None) -> None:
    """Refuse a save on top of ``expected_version`` that does not raise the version.

    Every change bumps ``version`` (repositories call this before writing), so one
    version of an order always means one value, in every process. ``order`` must be an
    :class:`Order` and ``expected_version`` ``None`` (a new order) or a stored version,
    an ``int`` from 0: a bool, a version read back as text or a number no store holds is
    refused with a :class:`~orderkit.model.errors.ValidationError` naming it, on every
    repository alike.
    """
    if not isinstance(order, Order):
        raise ValidationError("order", order, "expected an Order")
    if expected_version is None:
        return
    check.quantity("expected_version", expected_version, minimum=0)
    if order.version <= expected_version:
        raise ValidationError(
            "order.version",
            order.version,
            f"a save must raise the version above {expected_version}",
        )


def paid_by_status(order: Order) -> datetime | None:
    """When ``order``, carrying no ``paid_at`` while its status says it was paid (PAID
    to DELIVERED: placed already paid by an importer), became paid: when it entered its
    status (its ``created_at`` while it never changed status). ``None`` for any other
    order, and for cash on delivery (unpaid until the door, whatever its status).
    ``OrderService.place`` stamps it as the order's ``paid_at``; the watch's ``paid_at``
    anchor falls back to it for orders stored before that."""
    if (order.paid_at is not None or order.status not in PAID_TO_SHIP
            or order.payment_terms is PaymentTerms.ON_DELIVERY):
        return None
    return order.status_since or order.created_at


def status_code(code: int) -> int:
    """The :class:`OrderStatus` member for a known code, the code itself for a custom one
    (what ``Order.status`` holds for that code)."""
    return _STATUS_BY_CODE.get(code, code)


def status_name(code: int) -> str:
    """``"PAID"`` for 20; a custom code's number as text (its table knows its name)."""
    known = _STATUS_BY_CODE.get(code)
    return known.name if known is not None else str(code)


_to_adjustments_impl = check.tuple_of(Adjustment, "adjustments")


def _to_adjustments(value: object) -> tuple[Adjustment, ...]:
    return _to_adjustments_impl(value)


_to_payments_impl = check.tuple_of(Payment, "payments")


def _to_payments(value: object) -> tuple[Payment, ...]:
    return _to_payments_impl(value)


_to_shipments_impl = check.tuple_of(Shipment, "shipments")


def _to_shipments(value: object) -> tuple[Shipment, ...]:
    return _to_shipments_impl(value)


_to_holds_impl = check.tuple_of(Hold, "holds")


def _to_holds(value: object) -> tuple[Hold, ...]:
    return _to_holds_impl(value)


_to_paid_at_impl = check.optional_aware("paid_at")


def _to_paid_at(value: object) -> datetime | None:
    return _to_paid_at_impl(value)


_to_status_since_impl = check.optional_aware("status_since")


def _to_status_since(value: object) -> datetime | None:
    return _to_status_since_impl(value)


_to_event_ids_impl = check.tuple_of(str, "applied_event_ids")
_to_delivered_at_impl = check.optional_aware("delivered_at")
_to_returns_impl = check.tuple_of(Return, "returns")


def _to_delivered_at(value: object) -> datetime | None:
    return _to_delivered_at_impl(value)


_to_payment_terms_impl = check.enum_member(PaymentTerms, "payment_terms")


def _to_payment_terms(value: object) -> PaymentTerms:
    return _to_payment_terms_impl(value)


def _to_returns(value: object) -> tuple[Return, ...]:
    return _to_returns_impl(value)


def _to_event_ids(value: object) -> tuple[str, ...]:
    ids: tuple[str, ...] = _to_event_ids_impl(value)
    # Every Order build (each evolve) passes here, so the ids are looked at together:
    # their joined text holds a NUL or a lone surrogate exactly when one of them does.
    # Each is looked at alone only to name the one refused.
    try:
        check.storable("applied_event_ids", "".join(ids))
    except ValidationError:
        pass
    else:
        return ids
    for index, event_id in enumerate(ids):
        check.storable(f"applied_event_ids[{index}]", event_id)
    return ids


@attrs.frozen
class Order:
    """A canonical order, identical in shape whatever channel it came from.

    Only ``order_id``, ``channel``, ``channel_order_id``, ``lines`` and ``created_at``
    are required. All money shares the currency of the first line.
    """

    order_id: str = attrs.field(validator=check.text(allow_empty=False, max_length=ID_MAX_LENGTH))
    channel: str = attrs.field(validator=check.text(allow_empty=False, max_length=NAME_MAX_LENGTH))
    """``"tmall"``, ``"jd"``, ``"pdd"``, ``"douyin"``, ``"shopify"``, ``"pos"``, ..."""
    channel_order_id: str = attrs.field(
        validator=check.text(allow_empty=False, max_length=ID_MAX_LENGTH)
    )
    """The channel's own order number, exactly as the channel sent it."""
    lines: tuple[OrderLine, ...] = attrs.field(converter=_to_lines, validator=_check_lines)
    created_at: datetime = attrs.field(converter=_to_created_at)
    recon_id: str | None = attrs.field(default=None, validator=_check_recon_id)
    status: int = attrs.field(default=OrderStatus.PENDING_PAYMENT, converter=_to_status)
    """An :class:`OrderStatus` member, or a host's own code (1-999) from an extended
    transition table, such as ``22`` for an "awaiting review" state."""
    ship_to: Address | None = attrs.field(
        default=None, validator=check.instance(Address, optional=True)
    )
    adjustments: tuple[Adjustment, ...] = attrs.field(
        default=(),
        converter=_to_adjustments,
        validator=[_check_money_items("adjustments"), _check_covered_units, _check_payable],
    )
    payments: tuple[Payment, ...] = attrs.field(
        default=(),
        converter=_to_payments,
        validator=_check_money_items("payments"),
    )
    shipments: tuple[Shipment, ...] = attrs.field(default=(), converter=_to_shipments)
    holds: tuple[Hold, ...] = attrs.field(default=(), converter=_to_holds, validator=_check_holds)
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=_to_tags)
    paid_at: datetime | None = attrs.field(default=None, converter=_to_paid_at)
    version: int = attrs.field(default=0, validator=check.count(minimum=0))
    buyer_id: str = attrs.field(default="", validator=check.text())
    """The channel's buyer identity (open id, nick hash); used for duplicate detection."""
    status_since: datetime | None = attrs.field(default=None, converter=_to_status_since)
    """When the order entered its current status (for SLA watches)."""
    lock_id: str | None = attrs.field(default=None, validator=check.optional_text)
    """The inventory lock holding this order's stock, when a ledger is wired in."""
    applied_event_ids: tuple[str, ...] = attrs.field(default=(), converter=_to_event_ids)
    """Every event id applied to this order (never forgotten; see the lifecycle)."""
    delivered_at: datetime | None = attrs.field(default=None, converter=_to_delivered_at)
    """When the buyer signed for it (the after-sales window runs from here)."""
    returns: tuple[Return, ...] = attrs.field(default=(), converter=_to_returns)
    """After-sales returns asked for or received, oldest first."""
    payment_terms: PaymentTerms = attrs.field(
        default=PaymentTerms.PREPAID, converter=_to_payment_terms
    )
    """When the buyer pays: before shipment (the default) or on delivery (see
    :class:`PaymentTerms`)."""
    repriced_left: RefundValue | None = attrs.field(
        default=None, validator=_check_repriced_left
    )
    """What the units that left the sale (cancelled, refunded, returned) were worth when
    they left, beyond what the order's prices now value them at, part by part (added in
    0.3; its ``overpaid`` is zero). A price changed after units of its line left (a
    ``change_price``; spreading the order's discounts again moves other lines' shares
    too) would re-value them; the lifecycle keeps the difference here, so that what
    left the buyer's bill (:func:`~orderkit.lifecycle.refunds.given_back`) counts them
    at the value they left at, as their cancel and their refunds said it, and the
    price change re-values only the units still sold. ``None``: no price changed what
    units that left were worth."""

    @property
    def currency(self) -> str:
        """The order's currency (that of its lines)."""
        return self.lines[0].unit_price.currency

    @property
    def is_final(self) -> bool:
        """True once the order can no longer change status (COMPLETED, CANCELLED, CLOSED)."""
        return self.status in _FINAL

    def line(self, line_id: str) -> OrderLine:
        """The line with ``line_id``; :class:`ValidationError` naming it when absent."""
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise ValidationError("line_id", line_id, f"order {self.order_id} has no such line")

    def hold(self, kind: str) -> Hold | None:
        """The hold of ``kind``, if the order has one."""
        for hold in self.holds:
            if hold.kind == kind:
                return hold
        return None

    def paying_method(self, amount: Money, at: datetime) -> str:
        """The method of the payment a refund of ``amount`` made at ``at`` goes back
        through (refunds go back the way the money came in): the only method the order
        was paid with, else the latest payment made by ``at`` that covers ``amount``
        (else the latest made by then, else the first); ``""`` when no payment names a
        method. The lifecycle stamps a refund given without a method with it, and the
        reconcile bridge routes a refund stored without one by it."""
        paid = [p for p in self.payments if p.kind is PaymentKind.PAYMENT and p.method]
        if len({p.method for p in paid}) <= 1:
            return paid[0].method if paid else ""
        before = [p for p in paid if p.at <= at] or paid[:1]
        covering = [
            p for p in before
            if p.amount.currency == amount.currency and p.amount.amount >= amount.amount
        ]
        return max(covering or before, key=lambda p: p.at).method

    @property
    def after_sale(self) -> AfterSale:
        """Where the order stands after delivery (see :class:`AfterSale`)."""
        # A request cancelled before anything came back is as if never made.
        if not any(r.outstanding or r.received for r in self.returns):
            return AfterSale.NONE
        if any(r.outstanding for r in self.returns):
            return AfterSale.RETURN_REQUESTED
        if self.totals.refund_due:
            return AfterSale.REFUND_DUE
        return AfterSale.RETURNED

    @property
    def return_requested_since(self) -> datetime | None:
        """While :attr:`after_sale` is RETURN_REQUESTED, when the oldest return still
        awaited was asked for (else ``None``). Read off the order's returns, so every
        store derives the same instant: the watch's anchor of that name."""
        if not self.returns or self.after_sale is not AfterSale.RETURN_REQUESTED:
            return None
        return min((r.requested_at for r in self.returns
                    if r.outstanding and r.requested_at is not None), default=None)

    @property
    def refund_due_since(self) -> datetime | None:
        """While :attr:`after_sale` is REFUND_DUE, when the last returned unit was
        received (every requested unit is back, and that receipt left the buyer owed;
        else ``None``): the watch's anchor of that name."""
        if not self.returns or self.after_sale is not AfterSale.REFUND_DUE:
            return None
        return max((r.received_at for r in self.returns if r.received_at is not None),
                   default=None)

    @property
    def partly_shipped_since(self) -> datetime | None:
        """While the order is partly shipped (units still to ship, OPEN, after some left:
        a parcel was handed over, or units were SHIPPED or RETURNED), when its first
        parcel left: the earliest :attr:`Shipment.shipped_at`, or, when no parcel carries
        a time (units moved by hand), when it entered its status. ``None`` otherwise
        (nothing sent yet, or nothing left to send). Under the default lifecycle only a
        SHIPPED order is ever partly shipped: a ``deliver`` or a ``signed`` scan leaves an
        order with open units SHIPPED, and no final status keeps open units. The watch's
        ``partly_shipped_since`` anchor is this."""
        if not self.open_units:
            return None
        handed = [s.shipped_at for s in self.shipments if s.shipped_at is not None]
        if handed:
            return min(handed)
        if any(self.sent_units.values()):
            return self.status_since or self.created_at
        return None

    @property
    def sold_units(self) -> dict[str, int]:
        """Units still sold (open or shipped), by line id."""
        return {
            line.line_id: line.quantities[LineStatus.OPEN] + line.quantities[LineStatus.SHIPPED]
            for line in self.lines
        }

    @property
    def sent_units(self) -> dict[str, int]:
        """Units that left the building at some point, by line id: those SHIPPED or
        RETURNED, or, when the order's shipments carried more of a line (a unit
        refunded after it shipped stays with the buyer, in REFUNDED), what they carried,
        never counting CANCELLED units (an order-level waybill "carries every unit")."""
        sent: dict[str, int] = {}
        for shipment in self.shipments:
            for line_id, units in shipment.lines.items():
                sent[line_id] = sent.get(line_id, 0) + units
        return {
            line.line_id: min(
                line.quantity - line.quantities[LineStatus.CANCELLED],
                max(line.quantities[LineStatus.SHIPPED] + line.quantities[LineStatus.RETURNED],
                    sent.get(line.line_id, 0)),
            )
            for line in self.lines
        }

    @property
    def open_units(self) -> dict[str, int]:
        """Units still to ship (open), by line id; lines with none are left out: what a
        ``ship`` or ``cancel_lines`` naming no lines moves."""
        return {line.line_id: line.quantities[LineStatus.OPEN] for line in self.lines
                if line.quantities[LineStatus.OPEN]}

    @property
    def open_units_by_sku(self) -> dict[str, int]:
        """Units still to ship (open), by SKU; SKUs with none are left out: what a stock
        lock for the order holds."""
        units: dict[str, int] = {}
        for line in self.lines:
            if line.quantities[LineStatus.OPEN]:
                units[line.sku] = units.get(line.sku, 0) + line.quantities[LineStatus.OPEN]
        return units

    @property
    def sold_value(self) -> SoldValue:
        """What the buyer pays for the units still sold (see :class:`SoldValue`)."""
        value: SoldValue = derived(self, "sold_value", self._sold_value)
        return value

    def _sold_value(self) -> SoldValue:
        currency = self.currency
        return SoldValue(*(Money(amount, currency) for amount in self._sold_amounts()))

    def _sold_amounts(self) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """:attr:`sold_value`'s ``(goods, discounts, shipping, tax, rounding)`` as
        Decimals, shared by it and :attr:`totals` (each builds its own ``Money``)."""
        amounts: tuple[Decimal, Decimal, Decimal, Decimal, Decimal] = derived(
            self, "sold_amounts", self._compute_sold_amounts
        )
        return amounts

    def _compute_sold_amounts(self) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        # the order's own charges stand while anything is sold or travelled
        return self._amounts(_sold_count, bool(self.shipments))

    def units_value(self, units: Mapping[str, int], *, charged: bool) -> SoldValue:
        """What the buyer pays for ``units`` (line id to units) of this order's lines, as
        :attr:`sold_value` counts them (each line's share of the discounts, tax and
        shipping going to its units in proportion), and the order's own charges when
        ``charged`` or any unit is counted (added in 0.3). The shares depend on the
        lines and the adjustments only, not on where the units stand, so this values the
        units of the order a decision makes from this one by moving units between
        statuses."""
        currency = self.currency
        amounts = self._amounts(lambda line: units.get(line.line_id, 0), charged)
        return SoldValue(*(Money(amount, currency) for amount in amounts))

    def _amounts(
        self, counted: Callable[[OrderLine], int], charged: bool
    ) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """``(goods, discounts, shipping, tax, rounding)`` of each line's ``counted``
        units, and the order's own charges when ``charged`` or any unit is counted."""
        currency = self.currency
        zero = Money.zero(currency).amount
        goods = zero
        sums = [zero, zero, zero, zero]  # discounts, shipping, tax, rounding
        for line_goods, line_sums in self._lines_of(minor_digits(currency), counted).values():
            charged = True
            goods += line_goods
            for slot, amount in enumerate(line_sums):
                sums[slot] += amount
        if charged:
            shipping, rounding = self._own_charges()
            sums[1] += shipping
            sums[3] += rounding
        return goods, sums[0], sums[1], sums[2], sums[3]

    def _own_charges(self) -> tuple[Decimal, Decimal]:
        """The order's own shipping (its SHIPPING adjustments on no line of it, less the
        SHIPPING_CONCESSION given back on it) and its own rounding up: its ROUNDING on
        no line, net, when above zero, a charge that stays with the order like its
        shipping (a net rounding down, 抹零, is a discount to the buyer, spread over the
        lines like an order discount by :meth:`_compute_line_parts`, so units that leave
        the sale take their part of it with them)."""
        known = {line.line_id for line in self.lines}
        zero = Money.zero(self.currency).amount
        shipping = rounding = zero
        for adjustment in self.adjustments:
            if adjustment.line_id in known:
                continue
            if adjustment.kind is AdjustmentKind.SHIPPING:
                shipping += adjustment.amount.amount
            elif adjustment.kind is AdjustmentKind.SHIPPING_CONCESSION:
                shipping -= adjustment.amount.amount
            elif adjustment.kind is AdjustmentKind.ROUNDING:
                rounding += adjustment.amount.amount
        return shipping, rounding if rounding > 0 else zero

    @property
    def charges_stand(self) -> bool:
        """Whether the order's own charges (its shipping, its rounding up) stand: anything
        is still sold, or a parcel went out (false once every unit was cancelled or
        refunded before shipment)."""
        return bool(self.shipments) or any(self.sold_units.values())

    def _own_standing(self) -> tuple[Decimal, Decimal]:
        """:meth:`_own_charges` while they stand (:attr:`charges_stand`), else zeros."""
        if not self.charges_stand:
            zero = Money.zero(self.currency).amount
            return zero, zero
        return self._own_charges()

    @property
    def shipping_standing(self) -> Money:
        """The order's own shipping the buyer is still charged (its order-level
        SHIPPING less the SHIPPING_CONCESSION given back on it), while it stands: once
        anything is still sold or has shipped (zero when every unit was cancelled or
        refunded before shipment). What a refund beyond the goods may give back."""
        return Money(self._own_standing()[0], self.currency)

    @property
    def rounding_standing(self) -> Money:
        """The order's own rounding up (its ROUNDING on no line, net, when above zero)
        while it stands, as :attr:`shipping_standing`: what a refund may give back after
        the shipping. Zero when it rounds down (that is spread over the lines)."""
        return Money(self._own_standing()[1], self.currency)

    def sold_by_line(self) -> dict[str, Money]:
        """What the buyer pays for each line's units still sold (its goods, less its
        discounts, plus its tax, own shipping and rounding), by line id; lines with nothing sold
        are left out. The order's own shipping and rounding up are not in any line."""
        currency = self.currency
        return {
            line_id: Money(goods - sums[0] + sums[1] + sums[2] + sums[3], currency)
            for line_id, (goods, sums) in self._sold_lines(minor_digits(currency)).items()
        }

    def _sold_lines(self, minor: int) -> dict[str, tuple[Decimal, list[Decimal]]]:
        """Per line with units still sold: their goods and their ``(discounts, shipping,
        tax, rounding)`` shares."""
        return self._lines_of(minor, _sold_count)

    def _lines_of(
        self, minor: int, counted: Callable[[OrderLine], int]
    ) -> dict[str, tuple[Decimal, list[Decimal]]]:
        """Per line with ``counted`` units: their goods and their ``(discounts,
        shipping, tax, rounding)`` shares (a line's share goes to its units in
        proportion, so its units together always carry exactly its share)."""
        parts = self._line_parts()
        out: dict[str, tuple[Decimal, list[Decimal]]] = {}
        for line in self.lines:
            sold = counted(line)
            if not sold:
                continue
            groups: dict[int, list[tuple[Decimal, int]]] = {}
            for (slot, covered), total in parts[line.line_id].items():
                groups.setdefault(slot, []).append((total, covered))
            sums = [Decimal(0)] * 4
            for slot, shares in groups.items():
                sums[slot] = units_share(shares, sold, minor)
            out[line.line_id] = (line.unit_price.amount * sold, sums)
        return out

    def line_discounts(self) -> dict[str, Money]:
        """Each line's whole share of the order's discounts (its own, plus its part of
        the order-level ones), by line id."""
        currency = self.currency
        return {
            line_id: Money(sum((a for (slot, _u), a in row.items() if slot == 0), Decimal(0)),
                           currency)
            for line_id, row in self._line_parts().items()
        }

    def _line_parts(self) -> dict[str, dict[tuple[int, int], Decimal]]:
        """Each line's share of the adjustments, as ``(slot, units covered) -> amount``
        (slots: discounts, shipping, tax, rounding): its own adjustments, plus its part
        of the order-level discounts, tax and rounding down, spread by line value (by
        units when every line is free). Shared: callers must not change it."""
        parts: dict[str, dict[tuple[int, int], Decimal]] = derived(
            self, "line_parts", self._compute_line_parts
        )
        return parts

    def _compute_line_parts(self) -> dict[str, dict[tuple[int, int], Decimal]]:
        currency = self.currency
        parts: dict[str, dict[tuple[int, int], Decimal]] = {line.line_id: {} for line in self.lines}
        quantity = {line.line_id: line.quantity for line in self.lines}
        spread: dict[int, Decimal] = {}
        own: dict[str, Decimal] = {}  # each line's own discounts at sale
        rounding = Money.zero(currency).amount
        for adjustment in self.adjustments:
            slot = _SHARE_SLOT.get(adjustment.kind)
            if slot is None:
                continue
            amount, line_id = adjustment.amount.amount, adjustment.line_id
            if line_id is not None and line_id in parts:
                key = (slot, adjustment.units or quantity[line_id])
                if adjustment.kind is AdjustmentKind.SHIPPING_CONCESSION:
                    amount = -amount  # lowers the line's own shipping
                parts[line_id][key] = parts[line_id].get(key, 0) + amount
                if slot == 0 and adjustment.kind is not AdjustmentKind.CONCESSION:
                    own[line_id] = own.get(line_id, Decimal(0)) + amount
            elif adjustment.kind is AdjustmentKind.ROUNDING:
                rounding += amount  # the order's own, net (see _own_charges)
            elif adjustment.kind not in _ORDER_CHARGES:
                spread[slot] = spread.get(slot, 0) + amount
        if rounding < 0:  # a rounding down is a discount: spread like one
            spread[_SHARE_SLOT[AdjustmentKind.ROUNDING]] = rounding
        if spread:
            weights = spread_weights(self.lines, own)
            for slot, total in spread.items():
                shares = Money(total, currency).allocate(weights)
                for line, share in zip(self.lines, shares, strict=True):
                    key = (slot, line.quantity)
                    row = parts[line.line_id]
                    row[key] = row.get(key, 0) + share.amount
        return parts

    @property
    def due(self) -> Money:
        """What the buyer still owes: ``totals.due``, without building the whole
        :class:`OrderTotals` (a payment's guard reads it on every ``pay``)."""
        paid, refunded, sold = self._balance()
        return _at_least_zero(sold - paid + refunded, self.currency)

    @property
    def refund_due(self) -> Money:
        """What the buyer is owed back: ``totals.refund_due``, without building the
        whole :class:`OrderTotals` (the engine compares it before and after every
        decision that moves money)."""
        paid, refunded, sold = self._balance()
        return _at_least_zero(paid - refunded - sold, self.currency)

    def _balance(self) -> tuple[Decimal, Decimal, Decimal]:
        """``(paid, refunded, sold)`` as Decimals, shared by :attr:`totals`, :attr:`due`
        and :attr:`refund_due`."""
        balance: tuple[Decimal, Decimal, Decimal] = derived(
            self, "balance", self._compute_balance
        )
        return balance

    def _compute_balance(self) -> tuple[Decimal, Decimal, Decimal]:
        paid = refunded = Money.zero(self.currency).amount
        for payment in self.payments:
            if payment.kind is PaymentKind.PAYMENT:
                paid += payment.amount.amount
            else:
                refunded += payment.amount.amount
        goods, discounts, shipping, tax, rounding = self._sold_amounts()
        return paid, refunded, goods - discounts + shipping + tax + rounding

    @property
    def totals(self) -> OrderTotals:
        """Goods, shipping, discounts, payable, what is still sold, paid and refunded, and
        settlement, exact to the cent."""
        value: OrderTotals = derived(self, "totals", self._totals)
        return value

    def _totals(self) -> OrderTotals:
        # Every amount on an order shares its currency (checked on construction), so the
        # sums run on Decimals and become Money once at the end.
        currency = self.currency
        zero = Money.zero(currency).amount
        goods = zero
        for line in self.lines:
            goods += line.unit_price.amount * line.quantity
        by_kind: dict[AdjustmentKind, Decimal] = {}
        platform_funded = zero
        for adjustment in self.adjustments:
            kind = adjustment.kind
            by_kind[kind] = by_kind.get(kind, zero) + adjustment.amount.amount
            if kind in _LOWERS and adjustment.borne_by is Bearer.PLATFORM:
                platform_funded += adjustment.amount.amount
        # Net of the shipping given back since (SHIPPING_CONCESSION): what was charged.
        shipping = by_kind.get(AdjustmentKind.SHIPPING, zero) - by_kind.get(
            AdjustmentKind.SHIPPING_CONCESSION, zero
        )
        tax = by_kind.get(AdjustmentKind.TAX, zero)
        rounding = by_kind.get(AdjustmentKind.ROUNDING, zero)
        discounts = zero
        for kind in _SUBTRACTS:
            discounts += by_kind.get(kind, zero)
        payable = goods + shipping + tax - discounts + rounding
        fees = by_kind.get(AdjustmentKind.FEE, zero) + by_kind.get(AdjustmentKind.COMMISSION, zero)
        paid, refunded, sold = self._balance()

        def money(amount: Decimal) -> Money:
            return Money(amount, currency)

        return OrderTotals(
            goods=money(goods),
            shipping=money(shipping),
            tax=money(tax),
            discounts=money(discounts),
            rounding=money(rounding),
            payable=money(payable),
            platform_funded=money(platform_funded),
            merchant_fees=money(fees),
            settlement=money(payable + platform_funded - fees),
            paid=money(paid),
            refunded=money(refunded),
            sold=money(sold),
        )


#: Values derived from an order, kept while the order lives (:func:`derived`): an order
#: is immutable, so its totals never change, and a decision reads them several times
#: (the guard, the handler, the refund check). Keyed by ``id``; the weak reference's
#: callback drops the entry when the order is freed, before its ``id`` can be reused.
_DERIVED: dict[int, tuple[weakref.ref[Order], dict[str, Any]]] = {}


def derived(order: Order, name: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, once per ``order`` and ``name`` while the order lives (an order is
    immutable: what is derived from it never changes). The lifecycle keeps what a
    decision reads several times this way (the guard, the handler, the engine)."""
    key = id(order)
    entry = _DERIVED.get(key)
    if entry is None or entry[0]() is not order:

        def forget(_gone: weakref.ref[Order]) -> None:
            _DERIVED.pop(key, None)

        entry = (weakref.ref(order, forget), {})
        _DERIVED[key] = entry
    cache = entry[1]
    try:
        return cache[name]
    except KeyError:
        value = cache[name] = compute()
        return value


def _sold_count(line: OrderLine) -> int:
    """A line's units still sold: open or shipped."""
    return line.quantities[LineStatus.OPEN] + line.quantities[LineStatus.SHIPPED]


#: Order-level kinds that stay with the order instead of being spread over its lines
#: (the order's ROUNDING only when it rounds up: a rounding down is spread, see
#: :meth:`Order._own_charges`).
_ORDER_CHARGES: Final = frozenset(
    {AdjustmentKind.SHIPPING, AdjustmentKind.SHIPPING_CONCESSION, AdjustmentKind.ROUNDING}
)

#: Where an adjustment kind goes in a line's share ``(discounts, shipping, tax, rounding)``.
_SHARE_SLOT: Final[dict[AdjustmentKind, int]] = {
    **dict.fromkeys(_SUBTRACTS, 0),
    AdjustmentKind.SHIPPING: 1,
    AdjustmentKind.SHIPPING_CONCESSION: 1,  # negated: it lowers the shipping
    AdjustmentKind.TAX: 2,
    AdjustmentKind.ROUNDING: 3,
}
