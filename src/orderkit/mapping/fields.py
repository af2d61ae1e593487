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
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

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

__all__ = ["CREATED_BEFORE", "CREATED_FROM", "FieldReader", "TimeReader", "compile_created",
           "compile_field", "compile_optional_field", "compile_time_after_creation"]

#: An order's creation time is refused unless ``CREATED_FROM <= created < CREATED_BEFORE``.
#: No marketplace order predates 2000 (Taobao opened in 2003, JD's marketplace later),
#: and the sentinels platforms write for "no time" all fall before it (Douyin ``0`` or
#: ``-1``, JD ``"0001-01-01 00:00:00"``, an epoch text); the end catches a year typed
#: wrong (``"2926"``) and a corrupted unix time (anything below 1e11 reads as seconds,
#: up to the year 5138). The range is fixed, not taken from a clock: whether a payload
#: maps must not depend on the day it is read (a replay maps as it did).
CREATED_FROM: Final = datetime(2000, 1, 1, tzinfo=UTC)
CREATED_BEFORE: Final = datetime(2100, 1, 1, tzinfo=UTC)

FieldReader = Callable[[Mapping[str, Any], str, str], Any]
"""``(object, path of the object, currency)`` -> the field's canonical value."""

TimeReader = Callable[[Mapping[str, Any], str, str, datetime], Any]
"""``(object, path of the object, currency, when the order was created)`` -> the time
(``None`` when unset)."""

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


def _source_of(
    field: Field, platform: str, where: str
) -> Callable[[Mapping[str, Any], str, object], tuple[str, object]]:
    """``(object, its path, the value read)`` -> the path and raw value ``field`` was
    read from (the first of its paths that is set; the map's default: its path)."""
    paths = [parse_path(path, where=f"{platform}.{where}")
             for path in (field.path, *field.fallback)]
    null = field.null

    def source(obj: Mapping[str, Any], prefix: str, at: object) -> tuple[str, object]:
        for keys in paths:
            value = lookup(obj, keys, prefix, platform)
            if value is not MISSING and value not in null:
                return path_text(prefix, keys), value
        return path_text(prefix, paths[0]), at

    return source


def _aware(at: object) -> bool:
    return isinstance(at, datetime) and at.utcoffset() is not None


def compile_created(field: Field, platform: str, where: str, source_tz: tzinfo) -> FieldReader:
    """The reader of an order's creation time: a time outside :data:`CREATED_FROM` ..
    :data:`CREATED_BEFORE` is a sentinel or a corrupted value (Douyin ``create_time``
    ``0``), refused as a :class:`MappingError` naming the field and its raw value."""
    read = compile_field(field, platform, where, source_tz, units=frozenset({"timestamp"}))
    source = _source_of(field, platform, where)

    def read_created(obj: Mapping[str, Any], prefix: str, currency: str) -> Any:
        at = read(obj, prefix, currency)
        if _aware(at) and not CREATED_FROM <= at < CREATED_BEFORE:
            path, value = source(obj, prefix, at)
            raise MappingError(
                platform, path, value,
                f"created {at.isoformat()}: not an order's creation time (expected"
                f" {CREATED_FROM.year} to {CREATED_BEFORE.year - 1})",
            )
        return at

    return read_created


def compile_time_after_creation(
    field: Field | None, platform: str, where: str, source_tz: tzinfo, *, event: str,
    noun: str,
) -> TimeReader:
    """The reader of the optional time of something that happens to an order once it
    exists (``event``: ``"paid"``, ``"shipped"``, ``"collected"``): a time before the
    order was created is no such time but a sentinel or a corrupted value (Douyin
    ``pay_time: -1``, an epoch text), refused as a :class:`MappingError` naming the
    field and its raw value. The same second as the creation is accepted."""
    read = compile_optional_field(field, platform, where, source_tz,
                                  units=frozenset({"timestamp"}))
    if field is None:
        return lambda _obj, _prefix, _currency, _created: None
    source = _source_of(field, platform, where)

    def read_after(obj: Mapping[str, Any], prefix: str, currency: str,
                   created: datetime) -> Any:
        at = read(obj, prefix, currency)
        if _aware(at) and isinstance(created, datetime) and at < created:
            path, value = source(obj, prefix, at)
            raise MappingError(
                platform, path, value,
                f"{event} before the order was created ({created.isoformat()}):"
                f" not a {noun} time",
            )
        return at

    return read_after
