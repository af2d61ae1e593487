"""Amounts beside the goods, compiled: one :class:`~orderkit.mapping.spec.AdjustmentSpec`
or one :class:`~orderkit.mapping.spec.AdjustmentListSpec` into a reader.

A reader returns the :class:`~orderkit.model.orders.Adjustment` values it finds, built
through their validating constructors; a zero amount is no adjustment. A list entry of a
type the map does not name is an error, never silently dropped. An order-level amount
whose lines say their share of it (``per_line``) is read by :func:`compile_allocated`
into an adjustment of each such line and one of the order for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from orderkit.mapping.paths import MISSING, SCALARS, lookup, parse_path, path_text
from orderkit.mapping.spec import AdjustmentListSpec, AdjustmentSpec
from orderkit.mapping.units import EXACT, MONEY_UNITS, Reject, amount_converter
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.money import Money
from orderkit.model.orders import Adjustment, AdjustmentKind, Bearer

__all__ = [
    "AdjustmentListReader",
    "AdjustmentReader",
    "AllocatedReader",
    "LineItems",
    "compile_adjustment",
    "compile_adjustment_list",
    "compile_allocated",
]

AdjustmentReader = Callable[[Mapping[str, Any], str, str, "str | None"], "Adjustment | None"]
"""``(object, its path, currency, line id or None)`` -> the adjustment, or None."""

AdjustmentListReader = Callable[[Mapping[str, Any], str, frozenset[str]], list[Adjustment]]
"""``(order object, currency, the order's line ids)`` -> the listed adjustments."""


def _condition(
    spec: AdjustmentSpec, platform: str, at: str
) -> Callable[[Mapping[str, Any], str], bool]:
    """Whether the adjustment applies to an object (``only_if``); always, without one."""
    if spec.only_if is None:
        return lambda _obj, _prefix: True
    keys = parse_path(spec.only_if[0], where=f"{at}.only_if")
    expected = spec.only_if[1]

    def applies(obj: Mapping[str, Any], prefix: str) -> bool:
        flag = lookup(obj, keys, prefix, platform)
        if flag == expected and type(flag) is type(expected):
            return True
        if flag is MISSING or flag is None:
            raise MappingError(
                platform, path_text(prefix, keys), flag,
                f"required to decide whether {_label(spec)} applies",
            )
        if not isinstance(flag, type(expected)):
            raise MappingError(
                platform, path_text(prefix, keys), flag, f"expected {type(expected).__name__}"
            )
        return False

    return applies


def _label(spec: AdjustmentSpec) -> str:
    """The label of ``spec``'s adjustments: its own, else the path it reads."""
    return spec.label or spec.path or spec.per_line or spec.per_line_paid or ""


def _check_spec(spec: AdjustmentSpec, at: str) -> tuple[AdjustmentKind, Bearer]:
    """The kind and bearer of ``spec``; :class:`DefinitionError` naming ``at`` when its
    unit, kind, bearer, sign, scope, ``per_line`` or ``per_line_paid`` is not sound."""
    if spec.unit not in MONEY_UNITS:
        raise DefinitionError(f"unknown money unit {spec.unit!r}", path=at, value=spec.unit)
    try:
        kind = AdjustmentKind(spec.kind)
        bearer = Bearer(spec.borne_by)
    except ValueError:
        raise DefinitionError("unknown adjustment kind or bearer", path=at, value=spec) from None
    if spec.signed and kind is not AdjustmentKind.ROUNDING:
        raise DefinitionError("only a ROUNDING adjustment may be signed", path=at, value=spec)
    if spec.scope not in ("order", "line"):
        raise DefinitionError("scope is 'order' or 'line'", path=at, value=spec.scope)
    for name, value in (("per_line", spec.per_line), ("per_line_paid", spec.per_line_paid)):
        if value is not None and (spec.scope != "order" or spec.signed):
            raise DefinitionError(f"{name} is for an order-level, unsigned amount",
                                  path=f"{at}.{name}", value=value)
    if spec.per_line is not None and spec.per_line_paid is not None:
        raise DefinitionError("a line gives its share (per_line) or what it was paid"
                              " (per_line_paid), not both",
                              path=f"{at}.per_line_paid", value=spec.per_line_paid)
    if spec.path is None and spec.per_line is None and spec.per_line_paid is None:
        raise DefinitionError("expected a path (None only beside per_line or"
                              " per_line_paid)", path=at, value=spec)
    return kind, bearer


AmountReader = Callable[[Mapping[str, Any], str, str], "tuple[object, Decimal | None]"]
"""``(object, its path, currency)`` -> (the raw value, its amount or None when unset)."""


def _read_amount(
    keys: tuple[str, ...], convert: Callable[[object, str], Decimal], platform: str
) -> AmountReader:
    """The reader of the amount at ``keys``: (the raw value, its amount, or None when it
    is unset); a :class:`MappingError` naming the path when ``convert`` refuses it."""

    def read(obj: Mapping[str, Any], prefix: str, currency: str) -> tuple[object, Decimal | None]:
        value = lookup(obj, keys, prefix, platform)
        if value is MISSING or value is None:
            return value, None
        try:
            return value, convert(value, currency)
        except Reject as error:
            raise MappingError(platform, path_text(prefix, keys), value, error.reason) from None

    return read


def _amount(spec: AdjustmentSpec, platform: str, at: str) -> AmountReader:
    """The reader of the amount at ``spec.path`` (a :class:`MappingError` when it is
    required and unset, or not an amount of ``spec.unit``)."""
    if spec.path is None:  # the lines' shares are the whole amount
        if spec.required:
            raise DefinitionError("a required amount needs a path", path=at, value=spec)
        return lambda _obj, _prefix, _currency: (MISSING, None)
    keys = parse_path(spec.path, where=at)
    convert = amount_converter(spec.unit, signed=spec.signed, max_decimals=spec.max_decimals)
    amount = _read_amount(keys, convert, platform)
    if not spec.required:
        return amount

    def read(obj: Mapping[str, Any], prefix: str, currency: str) -> tuple[object, Decimal | None]:
        value, found = amount(obj, prefix, currency)
        if found is None:
            raise MappingError(platform, path_text(prefix, keys), value, "required field missing")
        return value, found

    return read


def compile_adjustment(spec: AdjustmentSpec, platform: str, where: str) -> AdjustmentReader:
    """The reader of one adjustment; :class:`DefinitionError` naming ``platform.where`` when
    its unit, kind, bearer, sign or scope is not sound."""
    at = f"{platform}.{where}"
    kind, bearer = _check_spec(spec, at)
    applies = _condition(spec, platform, at)
    amount_of = _amount(spec, platform, at)
    label = _label(spec)

    def read(
        obj: Mapping[str, Any], prefix: str, currency: str, line_id: str | None
    ) -> Adjustment | None:
        if not applies(obj, prefix):
            return None
        amount = amount_of(obj, prefix, currency)[1]
        if not amount:
            return None
        return Adjustment(kind, Money(amount, currency), bearer, line_id, label)

    return read


LineItems = Sequence[tuple[str, str, Mapping[str, Any], Decimal]]
"""The order's line items as ``(line id, item path, item, goods)``, in payload order;
``goods`` is what the line's units are sold for before any discount (unit price times
quantity, or the line's total)."""

ShareReader = Callable[[Mapping[str, Any], str, str, Decimal], Decimal]
"""``(line item, its path, currency, its goods)`` -> the line's share (zero for none)."""

AllocatedReader = Callable[[Mapping[str, Any], str, LineItems], list[Adjustment]]
"""``(order object, currency, line items)`` -> the order-level adjustment, split into
the lines' shares and what they leave on the order."""


def _share_reader(spec: AdjustmentSpec, per_line: str, platform: str, at: str) -> ShareReader:
    """The reader of one line's share: the field at ``per_line`` inside the item, or the
    sum over a list's items (``"discount_allocations[*].amount"``); zero when unset."""
    outer, star, inner = per_line.partition("[*].")
    list_keys = parse_path(outer, where=f"{at}.per_line")
    item_keys = parse_path(inner, where=f"{at}.per_line") if star else ()
    convert = amount_converter(spec.unit, max_decimals=spec.max_decimals)
    direct = _read_amount(list_keys, convert, platform)
    of_part = _read_amount(item_keys, convert, platform)

    def read(item: Mapping[str, Any], prefix: str, currency: str, _goods: Decimal) -> Decimal:
        if not star:
            share = direct(item, prefix, currency)[1]
            return Decimal(0) if share is None else share
        parts = lookup(item, list_keys, prefix, platform)
        if parts is MISSING or parts is None:
            return Decimal(0)
        base = path_text(prefix, list_keys)
        if not isinstance(parts, list):
            raise MappingError(platform, base, parts, "expected a list")
        total = Decimal(0)
        for index, part in enumerate(parts):
            if not isinstance(part, Mapping):
                raise MappingError(platform, f"{base}[{index}]", part, "expected an object")
            share = of_part(part, f"{base}[{index}]", currency)[1]
            if share is not None:
                total = EXACT.add(total, share)
        return total

    return read


def _paid_share_reader(
    spec: AdjustmentSpec, per_line_paid: str, platform: str, at: str
) -> ShareReader:
    """The reader of one line's share from what the buyer paid for it
    (``per_line_paid``): its goods less that amount; zero when unset, and a
    :class:`MappingError` naming the field when it is more than the goods."""
    keys = parse_path(per_line_paid, where=f"{at}.per_line_paid")
    paid_of = _read_amount(keys, amount_converter(spec.unit, max_decimals=spec.max_decimals),
                           platform)

    def read(item: Mapping[str, Any], prefix: str, currency: str, goods: Decimal) -> Decimal:
        raw, paid = paid_of(item, prefix, currency)
        if paid is None:
            return Decimal(0)
        share = EXACT.subtract(goods, paid)
        if share < 0:
            raise MappingError(
                platform, path_text(prefix, keys), raw,
                f"more than the line's goods {goods} (unit price times quantity): not what"
                " the buyer pays for the line after its discounts",
            )
        return share

    return read


def compile_allocated(spec: AdjustmentSpec, platform: str, where: str) -> AllocatedReader:
    """The reader of an order-level adjustment with its lines' shares (``per_line``):
    one adjustment per line that has a share, and one on the order for what they leave.
    Without ``per_line`` it is the order-level adjustment alone.
    :class:`DefinitionError` naming ``platform.where`` when the spec is not sound."""
    at = f"{platform}.{where}"
    kind, bearer = _check_spec(spec, at)
    applies = _condition(spec, platform, at)
    amount_of = _amount(spec, platform, at)
    label = _label(spec)
    share_of: ShareReader | None = None
    if spec.per_line is not None:
        share_of = _share_reader(spec, spec.per_line, platform, at)
    elif spec.per_line_paid is not None:
        share_of = _paid_share_reader(spec, spec.per_line_paid, platform, at)
    shares_from = (f"lines' {spec.per_line} add up to" if spec.per_line is not None
                   else f"lines' {spec.per_line_paid} leave of their goods")

    def read(payload: Mapping[str, Any], currency: str, lines: LineItems) -> list[Adjustment]:
        if not applies(payload, ""):
            return []
        raw, total = amount_of(payload, "", currency)
        out: list[Adjustment] = []
        allocated = Decimal(0)
        if share_of is not None:
            for line_id, prefix, item, goods in lines:
                share = share_of(item, prefix, currency, goods)
                if share:
                    allocated = EXACT.add(allocated, share)
                    out.append(Adjustment(kind, Money(share, currency), bearer, line_id, label))
        if total is None:
            return out
        left = EXACT.subtract(total, allocated)
        if share_of is not None and left < 0:  # (a signed amount has no shares)
            raise MappingError(
                platform, str(spec.path), raw, f"less than the {allocated} its {shares_from}",
            )
        if left:
            out.append(Adjustment(kind, Money(left, currency), bearer, None, label))
        return out

    return read


def _check_types(spec: AdjustmentListSpec, at: str) -> None:
    for key, target in spec.types.items():
        if target is None:
            continue
        try:
            AdjustmentKind(target[0])
            Bearer(target[1])
        except (ValueError, TypeError, IndexError):
            raise DefinitionError(
                "expected (AdjustmentKind, Bearer) or None", path=f"{at}.types[{key!r}]",
                value=target,
            ) from None


def compile_adjustment_list(
    spec: AdjustmentListSpec, platform: str, where: str
) -> AdjustmentListReader:
    """The reader of a list of typed amounts; :class:`DefinitionError` naming
    ``platform.where`` when its unit, a type's target or a path is not sound."""
    at = f"{platform}.{where}"
    if spec.unit not in MONEY_UNITS:
        raise DefinitionError(f"unknown money unit {spec.unit!r}", path=at, value=spec.unit)
    _check_types(spec, at)
    list_keys = parse_path(spec.path, where=at)
    amount_keys = parse_path(spec.amount, where=f"{at}.amount")
    type_keys = parse_path(spec.type_field, where=f"{at}.type_field")
    ref_keys = parse_path(spec.line_ref, where=f"{at}.line_ref") if spec.line_ref else None
    convert = amount_converter(spec.unit)
    types = dict(spec.types)
    base = ".".join(list_keys)

    def entry(
        item: Mapping[str, Any], prefix: str, currency: str, line_ids: frozenset[str]
    ) -> Adjustment | None:
        type_value = lookup(item, type_keys, prefix, platform)
        if not isinstance(type_value, SCALARS) or type_value not in types:
            raise MappingError(
                platform, path_text(prefix, type_keys), type_value,
                f"unknown adjustment type; add it to the {platform} map",
            )
        target = types[type_value]
        if target is None:
            return None
        value = lookup(item, amount_keys, prefix, platform)
        try:
            amount = convert(value, currency)
        except Reject as error:
            raise MappingError(
                platform, path_text(prefix, amount_keys), value, error.reason
            ) from None
        if not amount:
            return None
        line_id = None
        if ref_keys is not None:
            ref = lookup(item, ref_keys, prefix, platform)
            if isinstance(ref, str | int) and str(ref) in line_ids:
                line_id = str(ref)
        return Adjustment(target[0], Money(amount, currency), target[1], line_id,
                          f"{type_value}")

    def read(
        payload: Mapping[str, Any], currency: str, line_ids: frozenset[str]
    ) -> list[Adjustment]:
        items = lookup(payload, list_keys, "", platform)
        if items is MISSING or items is None:
            return []
        if not isinstance(items, list):
            raise MappingError(platform, base, items, "expected a list")
        out = []
        for index, item in enumerate(items):
            prefix = f"{base}[{index}]"
            if not isinstance(item, Mapping):
                raise MappingError(platform, prefix, item, "expected an object")
            adjustment = entry(item, prefix, currency, line_ids)
            if adjustment is not None:
                out.append(adjustment)
        return out

    return read
