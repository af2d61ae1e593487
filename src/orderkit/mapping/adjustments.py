"""Amounts beside the goods, compiled: one :class:`~orderkit.mapping.spec.AdjustmentSpec`
or one :class:`~orderkit.mapping.spec.AdjustmentListSpec` into a reader.

A reader returns the :class:`~orderkit.model.orders.Adjustment` values it finds, built
through their validating constructors; a zero amount is no adjustment. A list entry of a
type the map does not name is an error, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from orderkit.mapping.paths import MISSING, SCALARS, lookup, parse_path, path_text
from orderkit.mapping.spec import AdjustmentListSpec, AdjustmentSpec
from orderkit.mapping.units import MONEY_UNITS, Reject, amount_converter
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.money import Money
from orderkit.model.orders import Adjustment, AdjustmentKind, Bearer

__all__ = [
    "AdjustmentListReader",
    "AdjustmentReader",
    "compile_adjustment",
    "compile_adjustment_list",
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
                f"required to decide whether {spec.path} applies",
            )
        if not isinstance(flag, type(expected)):
            raise MappingError(
                platform, path_text(prefix, keys), flag, f"expected {type(expected).__name__}"
            )
        return False

    return applies


def compile_adjustment(spec: AdjustmentSpec, platform: str, where: str) -> AdjustmentReader:
    """The reader of one adjustment; :class:`DefinitionError` naming ``platform.where`` when
    its unit, kind, bearer, sign or scope is not sound."""
    at = f"{platform}.{where}"
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
    keys = parse_path(spec.path, where=at)
    applies = _condition(spec, platform, at)
    convert = amount_converter(spec.unit, signed=spec.signed, max_decimals=spec.max_decimals)
    label = spec.label or spec.path
    required = spec.required

    def read(
        obj: Mapping[str, Any], prefix: str, currency: str, line_id: str | None
    ) -> Adjustment | None:
        if not applies(obj, prefix):
            return None
        value = lookup(obj, keys, prefix, platform)
        if value is MISSING or value is None:
            if required:
                raise MappingError(
                    platform, path_text(prefix, keys), value, "required field missing"
                )
            return None
        try:
            amount = convert(value, currency)
        except Reject as error:
            raise MappingError(platform, path_text(prefix, keys), value, error.reason) from None
        if not amount:
            return None
        return Adjustment(kind, Money(amount, currency), bearer, line_id, label)

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
