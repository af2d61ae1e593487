"""One :class:`~orderkit.mapping.spec.Field` compiled into a reader.

A reader takes the object the field sits in, the indexed path of that object (``""`` at
the top, ``"orders.order[2]"`` inside a line) and the order's currency, and returns the
canonical value: converted by the field's unit, or the field's ``default`` when an
optional field is missing or null. A value the unit refuses, or a required field that is
missing or empty, raises :class:`~orderkit.model.errors.MappingError` with the platform,
the full path and the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import tzinfo
from typing import Any

from orderkit.mapping.paths import MISSING, lookup, parse_path, path_text
from orderkit.mapping.spec import Field
from orderkit.mapping.units import (
    MONEY_UNITS,
    UNITS,
    Reject,
    money_converter,
    read_count,
    read_id,
    read_text,
    timestamp_converter,
)
from orderkit.model.errors import DefinitionError, MappingError

__all__ = ["FieldReader", "compile_field", "compile_optional_field"]

FieldReader = Callable[[Mapping[str, Any], str, str], Any]
"""``(object, path of the object, currency)`` -> the field's canonical value."""

_SIMPLE: dict[str, Callable[[object], object]] = {
    "count": read_count,
    "id": read_id,
    "text": read_text,
}


def _converter(field: Field, source_tz: tzinfo) -> Callable[[object, str], Any]:
    """``(raw value, currency)`` -> canonical value, for the field's unit."""
    if field.unit in MONEY_UNITS:
        return money_converter(field.unit, max_decimals=field.max_decimals)
    if field.unit == "timestamp":
        return timestamp_converter(source_tz)
    simple = _SIMPLE[field.unit]

    def convert(value: object, _currency: str) -> Any:
        return simple(value)

    return convert


def compile_field(
    field: Field, platform: str, where: str, source_tz: tzinfo, *, units: frozenset[str] = UNITS
) -> FieldReader:
    """The reader of ``field``; :class:`DefinitionError` naming ``platform.where`` when the
    entry is not a ``Field``, its unit is unknown or not one of ``units``, or a path is
    malformed."""
    at = f"{platform}.{where}"
    if not isinstance(field, Field):
        raise DefinitionError("expected a Field", path=at, value=field)
    if field.unit not in UNITS:
        raise DefinitionError(
            f"unknown unit {field.unit!r}; expected one of {sorted(UNITS)}", path=at, value=field
        )
    if field.max_decimals is not None and field.unit not in MONEY_UNITS:
        raise DefinitionError("max_decimals only applies to money units", path=at, value=field)
    paths = [parse_path(field.path, where=at)]
    paths += [parse_path(p, where=f"{at}.fallback") for p in field.fallback]
    if field.unit not in units:
        raise DefinitionError(f"expected unit in {sorted(units)}", path=at, value=field.unit)
    convert = _converter(field, source_tz)
    null = field.null
    required = field.required
    default = field.default
    first = paths[0]

    def read(obj: Mapping[str, Any], prefix: str, currency: str) -> Any:
        for keys in paths:
            value = lookup(obj, keys, prefix, platform)
            if value is MISSING or value in null:
                continue
            try:
                return convert(value, currency)
            except Reject as error:
                raise MappingError(
                    platform, path_text(prefix, keys), value, error.reason
                ) from None
        if required:
            value = lookup(obj, first, prefix, platform)
            reason = "required field missing" if value is MISSING else "required field is empty"
            raise MappingError(platform, path_text(prefix, first), value, reason)
        return default

    return read


def compile_optional_field(
    field: Field | None, platform: str, where: str, source_tz: tzinfo, *, empty: object = None,
    units: frozenset[str] = UNITS,
) -> FieldReader:
    """:func:`compile_field`, or a reader that always returns ``empty`` when the map has no
    such field."""
    if field is None:

        def absent(_obj: Mapping[str, Any], _prefix: str, _currency: str) -> Any:
            return empty

        return absent
    return compile_field(field, platform, where, source_tz, units=units)
