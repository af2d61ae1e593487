"""``compile_map``: a :class:`~orderkit.mapping.spec.PlatformMap` checked and compiled.

Compiling does every check that can be done without a payload (paths parse, units exist
and fit their role, every combination of known status values has a meaning, adjustments
are coherent) and raises :class:`~orderkit.model.errors.DefinitionError` naming the bad
entry (``"tmall.status.rules[3]"``). Each section of the map has its own small compiler
here or in its module (:mod:`~orderkit.mapping.fields`, :mod:`~orderkit.mapping.status`,
:mod:`~orderkit.mapping.lines`, :mod:`~orderkit.mapping.adjustments`,
:mod:`~orderkit.mapping.refunds`); :func:`compile_map` composes their readers into the
:class:`~orderkit.mapping.plan.Sections` of a :class:`~orderkit.mapping.plan.Plan`. This
happens once per map: reading a payload is then a run of those readers, a dict lookup
per status, and the validating constructors of the canonical values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import tzinfo
from typing import Any, Final

import attrs

from orderkit.mapping.adjustments import (
    AdjustmentReader,
    AllocatedReader,
    compile_adjustment,
    compile_adjustment_list,
    compile_allocated,
)
from orderkit.mapping.fields import (
    FieldReader,
    compile_created,
    compile_field,
    compile_optional_field,
    compile_time_after_creation,
)
from orderkit.mapping.lines import LineDraft, compile_lines
from orderkit.mapping.paths import lookup, parse_path
from orderkit.mapping.plan import (
    AddressReader,
    AdjustmentsReader,
    CurrencyReader,
    Extras,
    ExtrasReader,
    GoodsTotalReader,
    Header,
    HeaderReader,
    PaymentsReader,
    Plan,
    Sections,
    goods_of,
)
from orderkit.mapping.refunds import compile_refund_payments, compile_refunds
from orderkit.mapping.shipments import compile_shipments
from orderkit.mapping.signals import compile_holds, compile_tags, value_matcher
from orderkit.mapping.spec import Field, HoldSpec, PaymentSpec, PlatformMap, TagSpec
from orderkit.mapping.status import StatusPlan, compile_status
from orderkit.mapping.units import EXACT, MONEY_UNITS
from orderkit.model.errors import DefinitionError, MappingError, ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import (
    PAID_STATUSES,
    Address,
    Adjustment,
    AdjustmentKind,
    Bearer,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentTerms,
)
from orderkit.model.time import zone

__all__ = ["compile_map"]

_ADDRESS_FIELDS: Final = frozenset(a.name for a in attrs.fields(Address))


def _check_name(spec: object) -> PlatformMap:
    if not isinstance(spec, PlatformMap):
        raise DefinitionError("expected a PlatformMap", path="map", value=spec)
    name = spec.name
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise DefinitionError(
            "a platform name is a short word like 'tmall'", path="name", value=name
        )
    return spec


def _check_channel(spec: PlatformMap) -> str:
    channel = spec.channel_name
    if not isinstance(channel, str) or not channel.replace("_", "").replace("-", "").isalnum():
        raise DefinitionError(
            "a channel is a short word like 'tmall'", path=f"{spec.name}.channel", value=channel
        )
    return channel


def _compile_zone(spec: PlatformMap) -> tzinfo:
    try:
        return zone(spec.source_zone, path=f"{spec.name}.source_zone")
    except ValidationError as error:
        raise DefinitionError(
            error.reason, path=f"{spec.name}.source_zone", value=spec.source_zone
        ) from None


def _compile_currency(spec: PlatformMap) -> CurrencyReader:
    """A fixed currency (checked now), or one read from ``currency_path`` (checked then)."""
    name = spec.name
    if spec.currency_path is None:
        try:
            Money.zero(spec.currency)
        except ValidationError:
            raise DefinitionError(
                "expected an ISO 4217 code", path=f"{name}.currency", value=spec.currency
            ) from None
        fixed: str = spec.currency
        return lambda _payload: fixed
    path = spec.currency_path
    keys = parse_path(path, where=f"{name}.currency_path")

    def read(payload: Mapping[str, Any]) -> str:
        currency = lookup(payload, keys, "", name)
        try:
            Money.zero(currency)
        except ValidationError:
            raise MappingError(name, path, currency, "expected an ISO 4217 currency") from None
        code: str = currency
        return code

    return read


def _compile_header(spec: PlatformMap, tz: tzinfo) -> tuple[HeaderReader, StatusPlan]:
    """Order id, created and paid times, and the order status table."""
    name = spec.name
    read_id = compile_field(spec.order_id, name, "order_id", tz, units=frozenset({"id"}))
    read_created = compile_created(spec.created_at, name, "created_at", tz)
    read_paid = compile_time_after_creation(spec.paid_at, name, "paid_at", tz,
                                            event="paid", noun="payment")
    read_modified = compile_modified(spec, tz)
    status = compile_status(spec.status, name, "status", OrderStatus)

    def read(payload: Mapping[str, Any], currency: str) -> Header:
        channel_order_id = read_id(payload, "", currency)
        created_at = read_created(payload, "", currency)
        paid_at = read_paid(payload, "", currency, created_at)
        modified_at = read_modified(payload, "", currency)
        return Header(channel_order_id, created_at, paid_at, status.status(payload, "", name),
                      modified_at)

    return read, status


def compile_modified(spec: PlatformMap, tz: tzinfo) -> FieldReader:
    """The reader of the platform's modified time (``None`` without one)."""
    return compile_optional_field(spec.modified_at, spec.name, "modified_at", tz,
                                  units=frozenset({"timestamp"}))


def _compile_extras(spec: PlatformMap, tz: tzinfo) -> ExtrasReader:
    """Shop id and the buyer's and seller's notes (``""`` when the map has none)."""
    name = spec.name
    read_shop = compile_optional_field(spec.shop_id, name, "shop_id", tz, empty="",
                                       units=frozenset({"id", "text"}))
    read_buyer = compile_optional_field(spec.buyer_note, name, "buyer_note", tz, empty="",
                                        units=frozenset({"text"}))
    read_seller = compile_optional_field(spec.seller_note, name, "seller_note", tz, empty="",
                                         units=frozenset({"text"}))

    def read(payload: Mapping[str, Any], currency: str) -> Extras:
        return Extras(
            shop_id=read_shop(payload, "", currency) or "",
            buyer_note=read_buyer(payload, "", currency) or "",
            seller_note=read_seller(payload, "", currency) or "",
        )

    return read


def _compile_adjustments(
    spec: PlatformMap,
) -> tuple[list[AdjustmentReader], AdjustmentsReader]:
    """Line-scoped adjustment readers (read inside each item), and one reader for the
    order-level adjustments (each with its lines' shares, see ``per_line``) followed by
    the adjustment lists."""
    name = spec.name
    line_scoped: list[AdjustmentReader] = []
    order_scoped: list[AllocatedReader] = []
    for index, adjustment in enumerate(spec.adjustments):
        where = f"adjustments[{index}]"
        if adjustment.scope == "line":
            line_scoped.append(compile_adjustment(adjustment, name, where))
        else:
            order_scoped.append(compile_allocated(adjustment, name, where))
    lists = [
        compile_adjustment_list(listed, name, f"adjustment_lists[{index}]")
        for index, listed in enumerate(spec.adjustment_lists)
    ]

    def read(
        payload: Mapping[str, Any], currency: str, drafts: Sequence[LineDraft]
    ) -> list[Adjustment]:
        items = [(draft.line_id, draft.prefix, draft.item, draft.goods) for draft in drafts]
        found = []
        for reader in order_scoped:
            found.extend(reader(payload, currency, items))
        line_ids = frozenset(draft.line_id for draft in drafts)
        for read_list in lists:
            found.extend(read_list(payload, currency, line_ids))
        return found

    return line_scoped, read


def _compile_address(ship_to: Mapping[str, Field], platform: str, tz: tzinfo) -> AddressReader:
    """The receiver: text fields named after :class:`Address` attributes (None without)."""
    readers = []
    for attr, field in ship_to.items():
        where = f"ship_to[{attr!r}]"
        if attr not in _ADDRESS_FIELDS:
            raise DefinitionError(
                f"Address has no field {attr!r}; expected one of {sorted(_ADDRESS_FIELDS)}",
                path=f"{platform}.{where}", value=attr,
            )
        if isinstance(field, Field) and field.unit != "text":
            raise DefinitionError("receiver fields are text", path=f"{platform}.{where}",
                                  value=field.unit)
        readers.append((attr, compile_field(field, platform, where, tz)))

    def read(payload: Mapping[str, Any], currency: str) -> Address | None:
        if not readers:
            return None
        return Address(**{attr: read(payload, "", currency) or "" for attr, read in readers})

    return read


#: Statuses in which a cash on delivery order has been paid to the carrier.
_COLLECTED: Final = frozenset({OrderStatus.DELIVERED, OrderStatus.COMPLETED})


def _compile_payment(spec: PlatformMap, tz: tzinfo) -> PaymentsReader:
    """The payment terms and the buyer's payment, recorded when the order has a paid
    time, or, on delivery terms, once it is delivered (none without a spec). A prepaid
    order in a status that says it was paid (:data:`PAID_STATUSES`) but with no paid
    time (a WooCommerce bank transfer the shop marked completed) was paid all the same:
    at the payload's modified time, else its creation (as sync pays it)."""
    name = spec.name
    payment: PaymentSpec | None = spec.payment
    if payment is None:
        return lambda _payload, _currency, _header, _payable: (PaymentTerms.PREPAID, ())
    if spec.paid_at is None:
        raise DefinitionError("a payment needs paid_at", path=f"{name}.payment", value=payment)
    channel = spec.channel_name
    read_reference = compile_optional_field(payment.reference, name, "payment.reference", tz)
    read_method = compile_optional_field(payment.method, name, "payment.method", tz)
    read_collected = compile_time_after_creation(payment.collected_at, name,
                                                 "payment.collected_at", tz,
                                                 event="collected", noun="collection")
    on_delivery = None
    if payment.on_delivery_path is not None:
        on_delivery = value_matcher(payment.on_delivery_path, payment.on_delivery_values,
                                    name, f"{name}.payment.on_delivery")
    elif payment.on_delivery_values or payment.collected_at is not None:
        raise DefinitionError("on_delivery_values and collected_at need on_delivery_path",
                              path=f"{name}.payment", value=payment)

    read_refunds = compile_refund_payments(payment.refunds, name, channel, tz)

    def read(
        payload: Mapping[str, Any], currency: str, header: Header, payable: Money
    ) -> tuple[PaymentTerms, tuple[Payment, ...]]:
        refunds = read_refunds(payload, currency, header.channel_order_id,
                               header.signalled_at)
        terms = PaymentTerms.PREPAID
        if on_delivery is not None and on_delivery(payload) is not None:
            terms = PaymentTerms.ON_DELIVERY
        at = header.paid_at
        if at is None and terms is PaymentTerms.ON_DELIVERY and header.status in _COLLECTED:
            at = read_collected(payload, "", currency, header.created_at) or header.signalled_at
        elif at is None and terms is PaymentTerms.PREPAID and header.status in PAID_STATUSES:
            at = header.signalled_at
        if at is None:
            return terms, refunds
        reference = read_reference(payload, "", currency) or ""
        method = read_method(payload, "", currency) or ""
        return terms, (Payment(
            payment_id=f"{channel}:{header.channel_order_id}:payment",
            amount=payable,
            at=at,
            method=method,
            reference=reference,
        ), *refunds)

    return read


def _compile_goods_total(spec: PlatformMap, tz: tzinfo) -> GoodsTotalReader:
    """The reader of the platform's own goods total (``goods_total``): what the lines
    exceed it by is the merchant's discount (a price the seller changed), a goods total
    above the lines is refused naming it; nothing without one."""
    name = spec.name
    field = spec.goods_total
    if field is None:
        return lambda _payload, _currency, _lines: []
    read_total = compile_field(field, name, "goods_total", tz, units=MONEY_UNITS)
    keys = parse_path(field.path, where=f"{name}.goods_total")
    label = f"{field.path}: seller price change"

    def read(
        payload: Mapping[str, Any], currency: str, lines: Sequence[OrderLine]
    ) -> list[Adjustment]:
        total = read_total(payload, "", currency)
        if total is None:
            return []
        if not isinstance(total, Money):  # a map default that is no amount
            raise MappingError(name, field.path, total, "expected an amount")
        goods = goods_of(lines)
        change = EXACT.subtract(goods, total.amount)
        if change < 0:
            raise MappingError(
                name, field.path, lookup(payload, keys, "", name),
                f"more than the {goods} its lines add up to (unit price times quantity):"
                " not a goods total less a price change",
            )
        if not change:
            return []
        return [Adjustment(AdjustmentKind.DISCOUNT, Money(change, currency), Bearer.MERCHANT,
                           None, label)]

    return read


def _status_plans(
    spec: PlatformMap, order_status: StatusPlan, line_status: StatusPlan | None
) -> dict[str, tuple[str, StatusPlan]]:
    """The compiled status tables by scope, for ``check`` to find unknown values."""
    plans = {"order": ("", order_status)}
    if line_status is not None:
        plans["line"] = (spec.lines.path, line_status)
    return plans


def _check_ignored(spec: PlatformMap) -> None:
    for index, ignored in enumerate(spec.ignore):
        parse_path(ignored.replace("[*]", ""), where=f"{spec.name}.ignore[{index}]")


def _both_forms(spec: PlatformMap, pattern: str) -> Iterator[str]:
    """``pattern``, and with ``lines.one_object`` a field inside the line items also in
    its other form: as it is in the one object (``orderItemInfo.num``) beside as it is
    in a list (``orderItemInfo[*].num``), whichever of the two ``pattern`` is."""
    yield pattern
    if not spec.lines.one_object:
        return
    listed, single = f"{spec.lines.path}[*].", f"{spec.lines.path}."
    if pattern.startswith(listed):
        yield single + pattern[len(listed):]
    elif pattern.startswith(single):
        yield listed + pattern[len(single):]


def _patterns(spec: PlatformMap) -> Iterator[tuple[str, str]]:
    """(source path pattern, unit) for every field the map reads, in both forms of
    :func:`_both_forms`."""
    for pattern, unit in _listed_patterns(spec):
        for form in _both_forms(spec, pattern):
            yield form, unit


def _ignored(spec: PlatformMap) -> frozenset[str]:
    """The map's ``ignore`` entries, each in both forms of :func:`_both_forms`."""
    return frozenset(form for ignored in spec.ignore for form in _both_forms(spec, ignored))


def _listed_patterns(spec: PlatformMap) -> Iterator[tuple[str, str]]:
    """(source path pattern, unit) for every field the map reads, line items as a list."""
    def field(f: Field | None, prefix: str = "") -> Iterator[tuple[str, str]]:
        if f is None:
            return
        for path in (f.path, *f.fallback):
            yield (f"{prefix}{path}", f.unit)

    yield from field(spec.order_id)
    yield from field(spec.created_at)
    yield from field(spec.paid_at)
    yield from field(spec.buyer_id)
    yield from field(spec.payable)
    yield from field(spec.goods_total)
    for extra in (spec.modified_at, spec.shop_id, spec.buyer_note, spec.seller_note):
        yield from field(extra)
    signals: list[HoldSpec | TagSpec] = [*spec.holds, *spec.tags]
    for signal in signals:
        yield (f"{spec.lines.path}[*].{signal.path}" if signal.scope == "line"
               else signal.path, "flag")
    if spec.currency_path:
        yield (spec.currency_path, "text")
    for receiver in spec.ship_to.values():
        yield from field(receiver)
    line = f"{spec.lines.path}[*]."
    for item in (spec.lines.sku, spec.lines.quantity, spec.lines.unit_price,
                 spec.lines.line_id, spec.lines.title, spec.lines.line_total,
                 spec.lines.refund_id):
        yield from field(item, line)
    for axis in spec.status.axes.values():
        yield (axis.path, "status")
    if spec.lines.status is not None:
        for axis in spec.lines.status.axes.values():
            yield (f"{line}{axis.path}", "status")
    for adjustment in spec.adjustments:
        prefix = line if adjustment.scope == "line" else ""
        if adjustment.path is not None:
            yield (f"{prefix}{adjustment.path}", adjustment.unit)
        for per_line in (adjustment.per_line, adjustment.per_line_paid):
            if per_line:
                yield (f"{line}{per_line}", adjustment.unit)
        if adjustment.only_if:
            yield (f"{prefix}{adjustment.only_if[0]}", "flag")
    for listed in spec.adjustment_lists:
        yield (f"{listed.path}[*].{listed.amount}", listed.unit)
        yield (f"{listed.path}[*].{listed.type_field}", "type")
        if listed.line_ref:
            yield (f"{listed.path}[*].{listed.line_ref}", "ref")
    if spec.refunds is not None:
        yield (f"{spec.refunds.path}[*].{spec.refunds.line_ref}", "ref")
        yield (f"{spec.refunds.path}[*].{spec.refunds.quantity}", "count")
    if spec.payment is not None:
        if spec.payment.on_delivery_path is not None:  # a field read as text stays text
            yield (spec.payment.on_delivery_path, "flag")
        yield from field(spec.payment.reference)
        yield from field(spec.payment.method)
        yield from field(spec.payment.collected_at)
        listed_refunds = spec.payment.refunds
        if listed_refunds is not None:
            yield from field(listed_refunds.refund_id, f"{listed_refunds.path}[*].")
            yield (f"{listed_refunds.path}[*].{listed_refunds.amount}", listed_refunds.unit)
    if spec.shipment is not None:
        shipment = spec.shipment
        parcel = line if shipment.scope == "line" else (
            f"{shipment.path}[*]." if shipment.path else "")
        yield from field(shipment.carrier, parcel)
        yield from field(shipment.waybill, parcel)
        yield from field(shipment.shipped_at, parcel)
        if shipment.status is not None:
            yield (f"{parcel}{shipment.status}", "flag")
        if shipment.items:
            yield (f"{parcel}{shipment.items}[*].{shipment.line_ref}", "ref")
            yield (f"{parcel}{shipment.items}[*].{shipment.units}", "count")


def compile_map(spec: PlatformMap) -> Plan:
    """Validate ``spec`` and compile it; :class:`DefinitionError` names the first bad entry."""
    spec = _check_name(spec)
    name = spec.name
    tz = _compile_zone(spec)
    currency = _compile_currency(spec)
    header, order_status = _compile_header(spec, tz)
    payable = compile_field(spec.payable, name, "payable", tz, units=MONEY_UNITS)
    buyer = compile_optional_field(spec.buyer_id, name, "buyer_id", tz, empty="")
    address = _compile_address(spec.ship_to, name, tz)
    line_adjustments, adjustments = _compile_adjustments(spec)
    lines, line_status = compile_lines(spec.lines, name, tz, line_adjustments)
    refunds = compile_refunds(spec.refunds, name)
    payments = _compile_payment(spec, tz)
    channel = _check_channel(spec)
    shipments = compile_shipments(spec.shipment, name, channel, tz)
    holds = compile_holds(spec.holds, name, channel)
    tags = compile_tags(spec.tags, name)
    extras = _compile_extras(spec, tz)
    _check_ignored(spec)
    sections = Sections(
        platform=name, currency=currency, header=header, lines=lines, refunds=refunds,
        adjustments=adjustments, address=address, payable=payable, payments=payments,
        shipments=shipments, buyer=buyer, holds=holds, tags=tags, extras=extras,
        goods_total=_compile_goods_total(spec, tz), channel=channel,
    )
    patterns = dict(_patterns(spec))
    envelopes = tuple(
        parse_path(envelope, where=f"{name}.envelopes[{index}]")
        for index, envelope in enumerate(spec.envelopes)
    )
    id_key = parse_path(spec.order_id.path, where=f"{name}.order_id")[0]
    return Plan(
        spec, frozenset(patterns) | _ignored(spec), patterns, sections, envelopes,
        id_key, _status_plans(spec, order_status, line_status),
        compile_field(spec.order_id, name, "order_id", tz, units=frozenset({"id"})),
        compile_modified(spec, tz),
    )
