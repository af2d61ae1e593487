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

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any, Final

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import CurrencyMismatch, ValidationError
from orderkit.model.frozen import FrozenMap
from orderkit.model.ids import parse_recon_id
from orderkit.model.money import Money

__all__ = [
    "Address",
    "Adjustment",
    "AdjustmentKind",
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
    "Shipment",
    "TrackingEvent",
    "TrackingStatus",
    "check_version_raised",
    "status_code",
    "status_name",
]


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
    if isinstance(line.quantity, int):
        out[LineStatus.OPEN] = line.quantity
    return FrozenMap(out)


@attrs.frozen
class OrderLine:
    """One SKU on an order.

    ``quantities`` defaults to every unit OPEN; the buckets must sum to ``quantity``.
    ``status`` summarises them (see :attr:`status`).
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
    SHIPPING and TAX add; DISCOUNT, COUPON and SUBSIDY subtract; ROUNDING adds its sign;
    FEE and COMMISSION do not touch the buyer's price (they reduce what the merchant is
    settled, see :attr:`Order.totals`).
    """

    kind: AdjustmentKind = attrs.field(converter=_to_adjustment_kind)
    amount: Money = attrs.field(validator=check.instance(Money))
    borne_by: Bearer = attrs.field(default=Bearer.MERCHANT, converter=_to_bearer)
    line_id: str | None = attrs.field(default=None, validator=check.optional_text)
    label: str = attrs.field(default="", validator=check.text())

    @amount.validator
    def _magnitude(self, _attribute: Any, value: Money) -> None:
        if self.kind is not AdjustmentKind.ROUNDING and value.amount < 0:
            raise ValidationError(
                "amount.amount", value.amount, f"a {self.kind.value} amount must be >= 0"
            )

    @property
    def payable_effect(self) -> Money:
        """Signed change this adjustment makes to the buyer's payable amount."""
        if self.kind in _ADDS:
            return self.amount
        if self.kind in _SUBTRACTS:
            return -self.amount
        return Money.zero(self.amount.currency)


_ADDS = frozenset({AdjustmentKind.SHIPPING, AdjustmentKind.TAX, AdjustmentKind.ROUNDING})
_SUBTRACTS = (AdjustmentKind.DISCOUNT, AdjustmentKind.COUPON, AdjustmentKind.SUBSIDY)


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

    @amount.validator
    def _positive(self, _attribute: Any, value: Money) -> None:
        if value.amount < 0:
            raise ValidationError("amount.amount", value.amount, "must be >= 0")


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
    """A parcel: carrier, waybill and which line units it carries."""

    shipment_id: str = attrs.field(validator=check.text(allow_empty=False))
    carrier: str = attrs.field(validator=check.text())
    waybill: str = attrs.field(validator=check.text())
    lines: FrozenMap[str, int] = attrs.field(factory=FrozenMap, converter=_to_unit_map)
    shipped_at: datetime | None = attrs.field(default=None, converter=_to_shipped_at)
    first_scan_at: datetime | None = attrs.field(default=None, converter=_to_first_scan_at)
    events: tuple[CarrierScan, ...] = attrs.field(default=(), converter=_to_events)


@attrs.frozen
class Hold:
    """A reason the order must not ship yet, orthogonal to its status."""

    kind: str = attrs.field(validator=check.text(allow_empty=False, max_length=NAME_MAX_LENGTH))
    by: str = attrs.field(validator=check.text())
    at: datetime = attrs.field(converter=_to_at)
    reason: str = attrs.field(default="", validator=check.text())


@attrs.frozen
class OrderTotals:
    """An order's money, computed from its lines and adjustments, exact to the cent.

    ``payable = goods + shipping + tax - discounts + rounding`` is what the buyer owes.
    ``settlement = payable + platform_funded - merchant_fees`` is what the channel should
    pay the merchant: discounts the platform bears come back, fees and commissions go.
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

    @property
    def due(self) -> Money:
        """What the buyer still owes: ``payable - paid``, never below zero."""
        owed = self.payable - self.paid
        return owed if owed.amount > 0 else Money.zero(owed.currency)


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
    version of an order always means one value, in every process.
    """
    if expected_version is not None and order.version <= expected_version:
        raise ValidationError(
            "order.version",
            order.version,
            f"a save must raise the version above {expected_version}",
        )


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


def _to_event_ids(value: object) -> tuple[str, ...]:
    return _to_event_ids_impl(value)


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
        validator=_check_money_items("adjustments"),
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
    """The most recent event ids applied to this order (bounded by the lifecycle)."""

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

    @property
    def totals(self) -> OrderTotals:
        """Goods, shipping, discounts, payable and settlement, exact to the cent."""
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
            if kind in _SUBTRACTS and adjustment.borne_by is Bearer.PLATFORM:
                platform_funded += adjustment.amount.amount
        shipping = by_kind.get(AdjustmentKind.SHIPPING, zero)
        tax = by_kind.get(AdjustmentKind.TAX, zero)
        rounding = by_kind.get(AdjustmentKind.ROUNDING, zero)
        discounts = zero
        for kind in _SUBTRACTS:
            discounts += by_kind.get(kind, zero)
        payable = goods + shipping + tax - discounts + rounding
        fees = by_kind.get(AdjustmentKind.FEE, zero) + by_kind.get(AdjustmentKind.COMMISSION, zero)
        paid = refunded = zero
        for payment in self.payments:
            if payment.kind is PaymentKind.PAYMENT:
                paid += payment.amount.amount
            else:
                refunded += payment.amount.amount

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
        )
