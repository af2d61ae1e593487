"""The line items of a map (:class:`~orderkit.mapping.spec.LinesSpec`), compiled.

Each item is read into a :class:`LineDraft`: its id, SKU, quantity, unit price, title
and the bucket its units sit in (from the per-line status table, or following the order
status). A draft stays open until the order is assembled, because listed refunds
(:mod:`orderkit.mapping.refunds`) move units between its buckets; it then becomes an
:class:`~orderkit.model.orders.OrderLine` through that class's validating constructor.
Adjustments scoped to a line are read inside each item and carry its line id.

The items are the list at the spec's path, or, with ``one_object``, the one object
there (:func:`line_items`); each draft keeps the path of its item (``orders[2]``, or
``orderItemInfo`` for the one object), which every reader inside an item names in
its errors.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping, Sequence
from datetime import tzinfo
from decimal import Decimal
from typing import Any, Final

import attrs

from orderkit.mapping.adjustments import AdjustmentReader
from orderkit.mapping.fields import compile_field, compile_optional_field
from orderkit.mapping.paths import MISSING, lookup, parse_path, path_text
from orderkit.mapping.spec import MULTI_BUY_REMAINDER, LinesSpec
from orderkit.mapping.status import StatusPlan, compile_status
from orderkit.mapping.units import EXACT, MONEY_UNITS
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.money import Money, minor_digits
from orderkit.model.orders import (
    Adjustment,
    AdjustmentKind,
    Bearer,
    LineStatus,
    OrderLine,
    OrderStatus,
)

__all__ = ["LINES_FOLLOW_ORDER", "LineDraft", "LinesReader", "compile_lines", "line_items",
           "split_total"]

#: Where lines sit when the platform has no per-line status: they follow the order.
LINES_FOLLOW_ORDER: Final[Mapping[OrderStatus, LineStatus]] = {
    OrderStatus.PENDING_PAYMENT: LineStatus.OPEN,
    OrderStatus.PAID: LineStatus.OPEN,
    OrderStatus.PACKED: LineStatus.OPEN,
    OrderStatus.SHIPPED: LineStatus.SHIPPED,
    OrderStatus.DELIVERED: LineStatus.SHIPPED,
    OrderStatus.COMPLETED: LineStatus.SHIPPED,
    OrderStatus.CANCELLED: LineStatus.CANCELLED,
    OrderStatus.CLOSED: LineStatus.REFUNDED,
}


@attrs.define
class LineDraft:
    """One line as read from its item, before refunds have moved any of its units.

    Values are as the field readers returned them (a map's own default included);
    :meth:`line` hands them to :class:`OrderLine`, whose constructor checks them.
    """

    line_id: str
    sku: Any
    quantity: Any
    unit_price: Any
    buckets: dict[LineStatus, int]
    title: str
    channel_line_id: str
    item: Mapping[str, Any]
    """The raw item, for refunds that name a line by one of its fields."""
    goods: Decimal
    """What the line's units sell for before any discount: its unit price times its
    quantity, or its total when that priced it (a multi-buy remainder included)."""
    refund_id: str = ""
    prefix: str = attrs.field(kw_only=True)
    """Where the item is in the payload (``orders[2]``, or ``orderItemInfo`` for a line
    item given as one object): the prefix of the paths errors name inside it."""

    def line(self) -> OrderLine:
        """The canonical line, through :class:`OrderLine`'s validating constructor."""
        return OrderLine(
            line_id=self.line_id, sku=self.sku, quantity=self.quantity,
            unit_price=self.unit_price, quantities=self.buckets, title=self.title,
            channel_line_id=self.channel_line_id, refund_id=self.refund_id,
        )


LinesReader = Callable[
    [Mapping[str, Any], str, OrderStatus], tuple[list[LineDraft], list[Adjustment]]
]
"""``(order object, currency, order status)`` -> the line drafts and their adjustments."""


def split_total(total: Money, quantity: int) -> tuple[Money, Money]:
    """``(unit price, remainder)`` of a line ``total`` over ``quantity`` units: the unit
    price is rounded down to the total's smallest digit (the currency's minor unit, or
    finer when the total is), so ``unit * quantity + remainder == total`` exactly and
    ``0 <= remainder < quantity`` of that digit.

    >>> split_total(Money("100.00", "CNY"), 3)
    (Money('33.33', 'CNY'), Money('0.01', 'CNY'))
    """
    exponent = total.amount.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite amount (checked by Money)
    quantum = Decimal(1).scaleb(-max(minor_digits(total.currency), -exponent))
    unit = EXACT.divide(total.amount, Decimal(quantity)).quantize(
        quantum, rounding=decimal.ROUND_FLOOR, context=EXACT
    )
    remainder = EXACT.subtract(total.amount, EXACT.multiply(unit, Decimal(quantity)))
    return Money(unit, total.currency), Money(remainder, total.currency)


def line_items(items: object, base: str, one_object: bool) -> list[tuple[str, Any]] | None:
    """``(path, item)`` of each line item in ``items``, the value at a lines ``base``
    path: a list's items at ``base[i]``, or, when ``one_object``, an object as the one
    item at ``base``; ``None`` when ``items`` is neither (the items themselves are not
    checked here).

    >>> line_items({"num": 1}, "orderItemInfo", True)
    [('orderItemInfo', {'num': 1})]
    >>> line_items([{"num": 1}], "orders", True)
    [('orders[0]', {'num': 1})]
    """
    if isinstance(items, list):
        return [(f"{base}[{index}]", item) for index, item in enumerate(items)]
    if one_object and isinstance(items, Mapping):
        return [(base, items)]
    return None


BucketReader = Callable[[Mapping[str, Any], str, OrderStatus], LineStatus]


def _bucket_reader(
    spec: LinesSpec, platform: str, where: str
) -> tuple[BucketReader, StatusPlan | None]:
    """Where an item's units sit: its own status (the compiled line table is returned
    too), or the order's when it has none."""
    if spec.status is None:
        return (lambda _item, _prefix, status: LINES_FOLLOW_ORDER[status]), None
    plan = compile_status(spec.status, platform, f"{where}.status", LineStatus)

    def bucket(item: Mapping[str, Any], prefix: str, status: OrderStatus) -> LineStatus:
        found: LineStatus = plan.status(item, prefix, platform)
        if found is LineStatus.OPEN and status is OrderStatus.CANCELLED:
            return LineStatus.CANCELLED
        return found

    return bucket, plan


def compile_lines(
    spec: LinesSpec, platform: str, source_tz: tzinfo,
    adjustments: Sequence[AdjustmentReader] = (),
) -> tuple[LinesReader, StatusPlan | None]:
    """The reader of the line items, and the compiled per-line status table if the map has
    one; ``adjustments`` are the line-scoped adjustment readers (read inside each item).
    :class:`DefinitionError` names a bad entry of ``lines``."""
    where = "lines"
    list_keys = parse_path(spec.path, where=f"{platform}.{where}.path")
    base = spec.path
    one_object = spec.one_object
    if not isinstance(one_object, bool):
        raise DefinitionError("expected True or False", path=f"{platform}.{where}.one_object",
                              value=one_object)
    shape = ("a line item object or a non-empty list of line items" if one_object
             else "a non-empty list of line items")
    read_sku = compile_field(spec.sku, platform, f"{where}.sku", source_tz)
    read_quantity = compile_field(spec.quantity, platform, f"{where}.quantity", source_tz,
                                  units=frozenset({"count"}))
    read_price = compile_field(spec.unit_price, platform, f"{where}.unit_price", source_tz,
                               units=MONEY_UNITS)
    read_total = compile_optional_field(spec.line_total, platform, f"{where}.line_total",
                                        source_tz, units=MONEY_UNITS)
    if spec.line_total is None and not spec.unit_price.required:
        raise DefinitionError(
            "unit_price may be optional only when the map gives a line_total",
            path=f"{platform}.{where}.unit_price", value=spec.unit_price,
        )
    price_keys = parse_path(spec.unit_price.path, where=f"{platform}.{where}.unit_price")
    price_null = spec.unit_price.null

    def price_given(item: Mapping[str, Any], prefix: str) -> bool:
        value = lookup(item, price_keys, prefix, platform)
        return value is not MISSING and value not in price_null
    numbered = spec.line_id is None
    read_line_id = compile_optional_field(spec.line_id, platform, f"{where}.line_id", source_tz)
    read_title = compile_optional_field(spec.title, platform, f"{where}.title", source_tz,
                                        empty="")
    read_refund_id = compile_optional_field(spec.refund_id, platform, f"{where}.refund_id",
                                            source_tz, empty="")
    bucket, status_plan = _bucket_reader(spec, platform, where)
    line_adjustments = tuple(adjustments)

    def read(
        payload: Mapping[str, Any], currency: str, status: OrderStatus
    ) -> tuple[list[LineDraft], list[Adjustment]]:
        items = lookup(payload, list_keys, "", platform)
        if items is MISSING or items is None:
            raise MappingError(platform, base, None, "required list of line items missing")
        listed = line_items(items, base, one_object)
        if not listed:
            raise MappingError(platform, base, items, f"expected {shape}")
        drafts: list[LineDraft] = []
        found: list[Adjustment] = []
        seen: set[str] = set()
        for index, (prefix, item) in enumerate(listed):
            if not isinstance(item, Mapping):
                raise MappingError(platform, prefix, item, "expected an object")
            line_id = str(index + 1) if numbered else read_line_id(item, prefix, currency)
            quantity = read_quantity(item, prefix, currency)
            units_in = bucket(item, prefix, status)
            if line_id in seen:
                raise MappingError(platform, prefix, line_id, "duplicate line id")
            seen.add(line_id)
            sku = read_sku(item, prefix, currency)
            total: Money | None = read_total(item, prefix, currency)
            try:
                unit_price = read_price(item, prefix, currency)
            except MappingError:
                if total is None or not price_given(item, prefix):
                    raise
                unit_price = None  # refused by its unit (a float quotient): the total wins
            if total is not None and (
                unit_price is None
                or EXACT.multiply(unit_price.amount, Decimal(quantity)) != total.amount
            ):
                goods = total.amount
                unit_price, remainder = split_total(total, quantity)
                if remainder:
                    found.append(Adjustment(AdjustmentKind.ROUNDING, remainder, Bearer.BUYER,
                                            line_id, MULTI_BUY_REMAINDER))
            elif unit_price is None:
                raise MappingError(
                    platform, path_text(prefix, price_keys),
                    lookup(item, price_keys, prefix, platform),
                    "required field missing (neither a unit price nor a line total)",
                )
            elif isinstance(unit_price, Money) and isinstance(quantity, int):
                goods = EXACT.multiply(unit_price.amount, Decimal(quantity))
            else:  # a map default that is no price: OrderLine refuses it below
                goods = Decimal(0)
            drafts.append(LineDraft(
                line_id=line_id,
                sku=sku,
                quantity=quantity,
                unit_price=unit_price,
                buckets={units_in: quantity},
                title=read_title(item, prefix, currency) or "",
                channel_line_id="" if numbered else line_id,
                item=item,
                goods=goods,
                refund_id=read_refund_id(item, prefix, currency) or "",
                prefix=prefix,
            ))
            for reader in line_adjustments:
                adjustment = reader(item, prefix, currency, line_id)
                if adjustment is not None:
                    found.append(adjustment)
        return drafts, found

    return read, status_plan

