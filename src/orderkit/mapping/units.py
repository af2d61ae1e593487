"""Units and converters: how one raw payload value becomes a canonical value.

A field map names a *unit* for every source field instead of parsing code:

========================  ===========================================================
unit                      reads
========================  ===========================================================
``"yuan"``/``"decimal"``  a decimal string (``"89.00"``) or an int, in the currency
``"yuan_float"``          a JSON number sent as float (``29.9``), read through its
                          shortest text form (``repr``), never through binary float
``"fen"``/``"minor"``     an integer count of minor units (``8900`` fen)
``"count"``               a quantity: an int, or an all-digit string (``"2"``)
``"id"``                  an identifier: a non-empty string, or an int kept as its digits
``"text"``                a string, kept exactly as given (masked values included)
``"timestamp"``           anything :func:`orderkit.model.time.parse_timestamp` reads
========================  ===========================================================

Money converters refuse more decimals than the currency has (``"12.345"`` CNY) unless the
field declares ``max_decimals``; that is how a float that drifted
(``12.299999999999999``) is caught instead of silently rounded. A converter signals a bad
value with :class:`Reject`; the compiled plan turns it into a
:class:`~orderkit.model.errors.MappingError` carrying platform, path and value.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from datetime import tzinfo
from decimal import Decimal
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money, minor_digits
from orderkit.model.time import parse_timestamp

__all__ = [
    "AMOUNT_LIMIT",
    "EXACT",
    "MAX_COUNT",
    "MONEY_UNITS",
    "UNITS",
    "Reject",
    "amount_converter",
    "is_minor_text",
    "money_converter",
    "read_count",
    "read_id",
    "read_text",
    "timestamp_converter",
]

#: Amounts at or beyond this magnitude are refused: no order is worth 10^15 of anything,
#: and a number that large is a corrupted field, not a price.
AMOUNT_LIMIT: Final = Decimal(10) ** 15
MAX_COUNT: Final = 10**9
#: Every computation on an amount in mapping (the exactness check, fen to yuan, a unit
#: price divided from a line total, the sums of shares and totals) runs in this context:
#: amounts below the limit have at most 23 digits and a sum of them far fewer than 60, so
#: each is exact, and a host's thread context (a lower precision, traps) must not change
#: whether or how a payload maps.
EXACT: Final = decimal.Context(prec=60)
_QUANTUM: Final = {d: Decimal(1).scaleb(-d, context=EXACT) for d in range(9)}
_ZEROS: Final = {d: Decimal(0).scaleb(-d, context=EXACT) for d in range(9)}
_ZERO_TEXT: Final = frozenset({"0", "0.0", "0.00", "0.000"})

MONEY_UNITS: Final = frozenset({"yuan", "decimal", "yuan_float", "decimal_float", "fen", "minor"})
UNITS: Final = MONEY_UNITS | {"count", "id", "text", "timestamp"}


class Reject(Exception):
    """A converter refused a value; ``reason`` says what was expected."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_text(value: object) -> str:
    """A string, kept as given."""
    if isinstance(value, str):
        return value
    raise Reject("expected text")


def read_id(value: object) -> str:
    """A non-empty string, or a non-negative int written as its digits."""
    if isinstance(value, str):
        if value.strip():
            return value
        raise Reject("expected a non-empty identifier")
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < 10**40:
            return str(value)
        raise Reject("identifier out of range")
    raise Reject("expected an identifier (string or integer)")


def read_count(value: object) -> int:
    """A quantity of at least 1: an int, or an all-digit string as JD sends it."""
    if isinstance(value, bool):
        raise Reject("expected an integer quantity")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 12:
        value = int(value)
    if not isinstance(value, int):
        raise Reject("expected an integer quantity")
    if not 1 <= value <= MAX_COUNT:
        raise Reject(f"expected a quantity between 1 and {MAX_COUNT}")
    return value


def _decimal_text(value: object) -> Decimal:
    if isinstance(value, bool):
        raise Reject("expected a decimal amount")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        # A host that parses JSON with ``parse_float=Decimal`` hands the exact text over.
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 40:
            raise Reject("expected a decimal string like '12.30'")
        try:
            return Decimal(text)
        except decimal.InvalidOperation:
            raise Reject("expected a decimal string like '12.30'") from None
    if isinstance(value, float):
        raise Reject("expected a decimal string, got a float (declare the unit as 'yuan_float')")
    raise Reject("expected a decimal string like '12.30'")


def _decimal_float(value: object) -> Decimal:
    if isinstance(value, float):
        # repr() is the shortest text that reads back as the same float: 29.9, not
        # 29.899999999999998578915. That is what the platform wrote into its JSON.
        try:
            return Decimal(repr(value))
        except decimal.InvalidOperation:  # pragma: no cover - repr of a float always parses
            raise Reject("expected a finite number") from None
    return _decimal_text(value)


def is_minor_text(value: object) -> bool:
    """Whether ``value`` is text of a whole number of minor units (``"13590"``), which
    the ``fen`` unit reads like the integer it spells."""
    return isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit()


def _minor(value: object) -> Decimal:
    if isinstance(value, bool):
        raise Reject("expected an integer number of minor units (fen)")
    if isinstance(value, str) and is_minor_text(value):
        if len(value) > 20:
            raise Reject("amount out of range")
        value = int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)
    if not isinstance(value, int):
        raise Reject("expected an integer number of minor units (fen)")
    return Decimal(value)


def amount_converter(
    unit: str, *, signed: bool = False, max_decimals: int | None = None
) -> Callable[[object, str], Decimal]:
    """The converter for a money ``unit``: ``(value, currency)`` -> the exact amount.

    The amount is checked against the currency's decimals and returned as a ``Decimal``
    (so a zero adjustment can be skipped before any ``Money`` is built).
    """
    from_minor = unit in ("fen", "minor")
    parse = _minor if from_minor else _decimal_float if unit.endswith("float") else _decimal_text

    def convert(value: object, currency: str) -> Decimal:
        if value.__class__ is str and value in _ZERO_TEXT:
            # "0.00" is the most common amount of all (and skipped right after).
            return _ZEROS[minor_digits(currency) if max_decimals is None else max_decimals]
        amount = parse(value)
        if not amount.is_finite() or amount.copy_abs() >= AMOUNT_LIMIT:
            raise Reject("amount out of range")
        if amount < 0 and not signed:
            raise Reject("expected an amount >= 0")
        digits = minor_digits(currency)
        if from_minor:
            return amount.scaleb(-digits, context=EXACT)
        allowed = digits if max_decimals is None else max_decimals
        try:
            exact = amount.quantize(_QUANTUM[allowed], context=EXACT)
        except (decimal.InvalidOperation, KeyError):
            raise Reject("amount out of range") from None
        if exact != amount:
            raise Reject(
                f"more than {allowed} decimals for {currency}"
                " (declare max_decimals on the field if the platform really sends them)"
            )
        # Written with the currency's decimals ("29.9" -> 29.90), or as declared.
        return exact if max_decimals is None else amount

    return convert


def money_converter(
    unit: str, *, signed: bool = False, max_decimals: int | None = None
) -> Callable[[object, str], Money]:
    """Like :func:`amount_converter`, returning ``Money`` in the currency."""
    amount = amount_converter(unit, signed=signed, max_decimals=max_decimals)

    def convert(value: object, currency: str) -> Money:
        return Money(amount(value, currency), currency)

    return convert


def timestamp_converter(source_tz: tzinfo) -> Callable[[object, str], object]:
    """The converter for a timestamp read in ``source_tz`` (the zone the platform meant)."""

    def convert(value: object, _currency: str) -> object:
        try:
            return parse_timestamp(value, source_tz=source_tz)
        except ValidationError as error:
            raise Reject(error.reason) from None
        except (OverflowError, ValueError, ArithmeticError):
            raise Reject("timestamp out of range") from None

    return convert
