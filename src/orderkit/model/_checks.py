"""Field validators shared by the canonical types.

attrs' stock validators raise ``TypeError``/``ValueError``; orderkit promises an
:class:`~orderkit.model.errors.ValidationError` that names the field, so these small factories
raise that instead. They are private: the public contract is the error they raise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

from orderkit.model.errors import ValidationError
from orderkit.model.limits import MAX_QUANTITY
from orderkit.model.time import ensure_instant

T = TypeVar("T")
Validator = Callable[[Any, Any, Any], None]


#: The longest text a canonical field takes unless it says otherwise.
TEXT_MAX_LENGTH: Final = 4096


def encodable(path: str, value: str) -> str:
    """Refuse text that does not encode as UTF-8 (a lone surrogate such as ``"\\udc80"``,
    which JSON allows); every store and every hash writes text as UTF-8."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValidationError(
                path, value, f"not encodable as UTF-8 (lone surrogate at {error.start})"
            ) from None
    return value


def storable(path: str, value: str) -> str:
    """Refuse text a store cannot hold: text holding NUL (PostgreSQL text and JSON
    refuse it, where memory and SQLite would keep it) or not :func:`encodable`. Every
    text field of the canonical types, and every key a store looks up, is checked here.

    (Fingerprints and payload digests take NUL: they hash text, they do not store it.)
    """
    at = value.find("\x00")
    if at >= 0:
        raise ValidationError(path, value, f"contains NUL (at {at}), which no store holds")
    return encodable(path, value)


def stored_key(path: str, value: object, *, blank: bool = True) -> str:
    """``value`` as a key a store can hold (an id, a waybill): a string (non-blank
    unless ``blank``) that is :func:`storable`."""
    if not isinstance(value, str) or (not blank and not value.strip()):
        raise ValidationError(path, value,
                              "expected a string" if blank else "expected a non-empty string")
    return storable(path, value)


def quantity(path: str, value: object, *, minimum: int = 1) -> int:
    """An ``int`` (bools refused) from ``minimum`` to :data:`MAX_QUANTITY`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(path, value, "expected an integer")
    if not minimum <= value <= MAX_QUANTITY:
        raise ValidationError(path, value, f"expected an integer from {minimum} to 2**63-1")
    return value


def text(*, allow_empty: bool = True, max_length: int = TEXT_MAX_LENGTH) -> Validator:
    """A ``str`` field; non-empty unless ``allow_empty``."""

    def check(_instance: object, attribute: Any, value: object) -> None:
        if not isinstance(value, str):
            raise ValidationError(attribute.name, value, "expected a string")
        if not allow_empty and not value.strip():
            raise ValidationError(attribute.name, value, "must not be empty")
        if len(value) > max_length:
            raise ValidationError(attribute.name, value, f"longer than {max_length} characters")
        storable(attribute.name, value)

    return check


def bounded_text(path: str, value: object, *, expected: str = "expected a string") -> str:
    """``value`` (at ``path``) as text a store holds: a ``str`` of at most
    :data:`TEXT_MAX_LENGTH` characters that is :func:`storable`; ``expected`` says what
    else the place takes, for the refusal of what is no string."""
    if not isinstance(value, str):
        raise ValidationError(path, value, expected)
    if len(value) > TEXT_MAX_LENGTH:
        raise ValidationError(path, value, f"longer than {TEXT_MAX_LENGTH} characters")
    return storable(path, value)


def optional_text(_instance: object, attribute: Any, value: object) -> None:
    """A ``str`` field that may be ``None``."""
    if value is not None:
        bounded_text(attribute.name, value, expected="expected a string or None")


def instance(kind: type[Any] | tuple[type[Any], ...], *, optional: bool = False) -> Validator:
    """A field holding an instance of ``kind`` (or ``None`` when ``optional``)."""
    names = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__

    def check(_instance: object, attribute: Any, value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, kind):
            raise ValidationError(attribute.name, value, f"expected {names}")

    return check


def count(*, minimum: int = 0) -> Validator:
    """An ``int`` field (bools refused) from ``minimum`` to :data:`MAX_QUANTITY`."""

    def check(_instance: object, attribute: Any, value: object) -> None:
        quantity(attribute.name, value, minimum=minimum)

    return check


def aware(path: str) -> Callable[[object], datetime]:
    """Converter: an aware datetime in the supported range, normalised to UTC."""

    def convert(value: object) -> datetime:
        return ensure_instant(value, path=path)

    return convert


def optional_aware(path: str) -> Callable[[object], datetime | None]:
    """Converter: ``None`` or an aware datetime in the supported range, in UTC."""

    def convert(value: object) -> datetime | None:
        return None if value is None else ensure_instant(value, path=path)

    return convert


def enum_member(enum: type[T], path: str) -> Callable[[object], T]:
    """Converter: a member of ``enum``, or a value that names one (``20`` -> ``PAID``)."""
    by_value: dict[object, T] = {member.value: member for member in enum}  # type: ignore[attr-defined]
    allowed = ", ".join(repr(value) for value in by_value)

    def convert(value: object) -> T:
        if isinstance(value, enum):
            return value
        try:
            member = by_value.get(value)
        except TypeError:  # unhashable
            member = None
        if member is None or isinstance(value, bool | float):
            raise ValidationError(path, value, f"expected one of {allowed}")
        return member

    return convert


def tuple_of(kind: type[Any], path: str) -> Callable[[object], tuple[Any, ...]]:
    """Converter: any iterable (not a string or mapping) of ``kind`` -> a tuple."""

    def convert(value: object) -> tuple[Any, ...]:
        if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
            raise ValidationError(path, value, f"expected a sequence of {kind.__name__}")
        items = tuple(value)
        for index, item in enumerate(items):
            if not isinstance(item, kind):
                raise ValidationError(f"{path}[{index}]", item, f"expected {kind.__name__}")
        return items

    return convert


def quantity_map(path: str) -> Callable[[object], dict[str, int]]:
    """Converter: a mapping of id -> positive int quantity (line ids to units)."""

    def convert(value: object) -> dict[str, int]:
        if not isinstance(value, Mapping):
            raise ValidationError(path, value, "expected a mapping of line id to quantity")
        out: dict[str, int] = {}
        for key, qty in value.items():
            if not isinstance(key, str) or not key:
                raise ValidationError(f"{path}", key, "keys must be non-empty strings")
            if len(key) > TEXT_MAX_LENGTH:
                raise ValidationError(path, key, f"keys longer than {TEXT_MAX_LENGTH} characters")
            storable(path, key)
            out[key] = quantity(f"{path}[{key!r}]", qty)
        return out

    return convert
