"""JSON-safe dictionaries for every canonical type, and back.

``to_dict`` gives plain ``dict``/``list``/``str``/``int``/``bool``/``None`` values that
``json.dumps`` accepts as they are: ``Decimal`` becomes a string (``"12.30"``, never a
float), datetimes ISO-8601 with their offset, enums their code. ``from_dict`` is strict:
it refuses floats for money, naive datetimes, strings where integers belong, keys no
class knows, and reports the first bad field as a
:class:`~orderkit.model.errors.ValidationError` with its full path
(``"lines[1].unit_price.amount"``). A reader of payloads that only gain keys (the
outbox's domain events) passes ``unknown_keys="ignore"``: keys a class does not know
are then skipped at every level, and everything it knows is read as strictly.

An order without a repricing (``Order.repriced_left`` is ``None``) is written without
that key, so an orderkit from before the field still reads it; both shapes read back.

The converter is private to orderkit (built by :func:`make_converter`); the global
``cattrs`` converter is never touched.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final, Literal, TypeVar

import cattrs
from cattrs.errors import AttributeValidationNote, IterableValidationNote
from cattrs.gen import make_dict_unstructure_fn, override

from orderkit.model.errors import OrderkitError, ValidationError
from orderkit.model.frozen import FrozenMap
from orderkit.model.money import Money
from orderkit.model.orders import Order
from orderkit.model.time import ensure_aware

__all__ = ["from_dict", "make_converter", "to_dict"]

T = TypeVar("T")

UnknownKeys = Literal["refuse", "ignore"]
"""What :func:`from_dict` does with a key no class knows: refuse it (the default) or
ignore it."""


def _strict(kind: type[Any], name: str) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _type: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise ValidationError("", value, f"expected {name}")
        if not isinstance(value, kind):
            raise ValidationError("", value, f"expected {name}")
        return value

    return structure


def _structure_decimal(value: Any, _type: Any) -> Decimal:
    if isinstance(value, float):
        raise ValidationError("", value, "floats are not accepted for amounts; use a string")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValidationError("", value, "expected a decimal string")
    try:
        amount = Decimal(value)
    except ArithmeticError:
        raise ValidationError("", value, "expected a decimal string") from None
    if not amount.is_finite():
        raise ValidationError("", value, "expected a finite amount")
    return amount


def _structure_money(value: Any, _type: Any) -> Money:
    if not isinstance(value, dict):
        raise ValidationError("", value, "expected {'amount': '12.30', 'currency': 'CNY'}")
    for key in ("amount", "currency"):
        if key not in value:
            raise ValidationError(key, None, "required field missing")
    try:
        return Money(value["amount"], value["currency"])
    except ValidationError as error:
        raise error from None


def _structure_datetime(value: Any, _type: Any) -> datetime:
    if isinstance(value, datetime):
        return ensure_aware(value, path="")
    if not isinstance(value, str):
        raise ValidationError("", value, "expected an ISO-8601 string with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError("", value, "expected an ISO-8601 string with an offset") from None
    return ensure_aware(parsed, path="")


def _structure_date(value: Any, _type: Any) -> date:
    if not isinstance(value, str):
        raise ValidationError("", value, "expected an ISO date 'YYYY-MM-DD'")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError("", value, "expected an ISO date 'YYYY-MM-DD'") from None


def _is_enum(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, Enum)


def _enum_value(member: Enum) -> Any:
    return member.value


def _is_frozenset(cls: Any) -> bool:
    return cls is frozenset or typing.get_origin(cls) is frozenset


def _is_frozen_map(cls: Any) -> bool:
    return cls is FrozenMap or typing.get_origin(cls) is FrozenMap


def _is_enum_keyed_dict(cls: Any) -> bool:
    args = typing.get_args(cls)
    return typing.get_origin(cls) is dict and bool(args) and _is_enum(args[0])


def _is_tuple_of(cls: Any) -> bool:
    args = typing.get_args(cls)
    return typing.get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


#: Types whose values are JSON values as they are (no hook to run per item).
_PLAIN: Final = (str, int, bool)


def _check_unknown_keys(unknown_keys: object) -> None:
    if unknown_keys not in ("refuse", "ignore"):
        raise ValidationError("unknown_keys", unknown_keys, "expected 'refuse' or 'ignore'")


def make_converter(*, unknown_keys: UnknownKeys = "refuse") -> cattrs.Converter:
    """Build orderkit's private converter (one per caller; never the global one).

    ``unknown_keys="ignore"`` builds one that skips keys an attrs class does not know,
    at every level; every other rule is the same."""
    _check_unknown_keys(unknown_keys)
    converter = cattrs.Converter(detailed_validation=True,
                                 forbid_extra_keys=unknown_keys == "refuse")
    converter.register_unstructure_hook(Decimal, str)
    converter.register_unstructure_hook(
        Money, lambda m: {"amount": str(m.amount), "currency": m.currency}
    )
    converter.register_unstructure_hook(datetime, lambda d: d.isoformat())
    converter.register_unstructure_hook(date, lambda d: d.isoformat())
    converter.register_unstructure_hook_func(_is_enum, _enum_value)
    converter.register_unstructure_hook_func(_is_frozenset, lambda s: sorted(s))
    converter.register_unstructure_hook_func(
        _is_enum_keyed_dict,
        lambda d: {key.value: converter.unstructure(value) for key, value in d.items()},
    )
    def unstructure_frozen_map(cls: Any) -> Callable[[FrozenMap[Any, Any]], dict[Any, Any]]:
        # One hook per FrozenMap[K, V], resolved once: enum keys by value, values by V's hook.
        key, item = typing.get_args(cls) or (Any, Any)
        if _is_enum(key):
            codes = {member: member.value for member in key}
            if item in _PLAIN:
                return lambda m: {codes[k]: v for k, v in m.items()}
            value_hook = converter.get_unstructure_hook(item)
            return lambda m: {codes[k]: value_hook(v) for k, v in m.items()}
        if item in _PLAIN and key in _PLAIN:
            return lambda m: dict(m.items())
        value_hook = converter.get_unstructure_hook(item)
        return lambda m: {k: value_hook(v) for k, v in m.items()}

    converter.register_unstructure_hook_factory(_is_frozen_map, unstructure_frozen_map)

    def unstructure_tuple_of(cls: Any) -> Callable[[tuple[Any, ...]], list[Any]]:
        # tuple[X, ...] -> a list, as cattrs gives it, with X's hook resolved once.
        item = typing.get_args(cls)[0]
        if item in _PLAIN:
            return list
        hook = converter.get_unstructure_hook(item)
        return lambda values: [hook(value) for value in values]

    converter.register_unstructure_hook_factory(_is_tuple_of, unstructure_tuple_of)
    # An order without a repricing leaves ``repriced_left`` out (an orderkit from
    # before the field refuses a stored order naming it); both shapes read back.
    converter.register_unstructure_hook(Order, make_dict_unstructure_fn(
        Order, converter, repriced_left=override(omit_if_default=True)))

    def structure_frozen_map(value: Any, cls: Any) -> FrozenMap[Any, Any]:
        key, item = typing.get_args(cls) or (Any, Any)
        plain: Any = dict[key, item]  # type: ignore[valid-type]
        return FrozenMap(converter.structure(value, plain))

    converter.register_structure_hook_func(_is_frozen_map, structure_frozen_map)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(Money, _structure_money)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_structure_hook(date, _structure_date)
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    return converter


@functools.cache
def _default_converter(unknown_keys: UnknownKeys = "refuse") -> cattrs.Converter:
    # Built on first use, not at import time; one per ``unknown_keys``.
    return make_converter(unknown_keys=unknown_keys)


def to_dict(obj: object) -> Any:
    """A JSON-safe representation of any canonical value (orders, lines, money, ...).

    >>> from orderkit import Money
    >>> to_dict(Money("12.30", "CNY"))
    {'amount': '12.30', 'currency': 'CNY'}
    """
    return _default_converter().unstructure(obj)


def from_dict(cls: type[T], data: Any, *, unknown_keys: UnknownKeys = "refuse") -> T:
    """Rebuild a ``cls`` from :func:`to_dict` output; strict, with field paths in errors.

    A key that ``cls``, or an attrs class inside it, does not know is refused as
    ``"unknown fields"``, unless ``unknown_keys="ignore"`` (added in 0.3), which skips
    such keys at every level and reads the rest as strictly (for payloads that only
    gain keys, such as the outbox's domain events: see
    :func:`~orderkit.lifecycle.read_event`). A money mapping reads its ``amount`` and
    ``currency`` only, in either case.

    >>> from orderkit import Money
    >>> from_dict(Money, {"amount": "12.30", "currency": "CNY"})
    Money('12.30', 'CNY')
    """
    _check_unknown_keys(unknown_keys)
    try:
        return _default_converter(unknown_keys).structure(data, cls)
    except OrderkitError:
        raise
    except Exception as error:  # cattrs wraps field errors in exception groups
        path, leaf = _locate(error, "")
        raise _as_validation_error(path, leaf, data) from None


def _locate(error: BaseException, path: str) -> tuple[str, BaseException]:
    """Walk cattrs' exception groups to the first leaf error and its field path."""
    if isinstance(error, BaseExceptionGroup) and error.exceptions:
        inner = error.exceptions[0]
        return _locate(inner, path + _step(inner))
    return path, error


def _step(error: BaseException) -> str:
    for note in getattr(error, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return f".{note.name}"
        if isinstance(note, IterableValidationNote):
            return f"[{note.index!r}]"
    return ""


def _as_validation_error(path: str, leaf: BaseException, data: Any) -> ValidationError:
    path = path.lstrip(".")
    if isinstance(leaf, ValidationError):
        return leaf.at(path) if path else leaf
    if isinstance(leaf, KeyError):
        return ValidationError(path, None, "required field missing")
    if type(leaf).__name__ == "ForbiddenExtraKeysError":
        extra = sorted(getattr(leaf, "extra_fields", ()))
        return ValidationError(path or "$", extra, "unknown fields")
    return ValidationError(path or "$", _value_at(data, path), str(leaf) or type(leaf).__name__)


def _value_at(data: Any, path: str) -> Any:
    """Best effort: the raw value at ``path`` inside ``data`` (for the error message)."""
    value = data
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        try:
            value = value[int(part.strip("[]'\""))] if part.startswith("[") else value[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return value
