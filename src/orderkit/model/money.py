"""Money: an exact amount in one ISO 4217 currency.

Amounts are :class:`decimal.Decimal`; floats are refused at the door because
``0.1 + 0.2`` is not ``0.3`` and marketplaces that send floats (``"payment": 12.3``) must be
read through their text form (see ``orderkit.mapping``). Money keeps the precision it was
given (a WeChat Pay fee has five decimals); rounding to the currency's minor unit happens
only when asked, with :meth:`Money.round` or :meth:`Money.allocate`, and is half-up unless
another mode is passed.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

import attrs

from orderkit.model.errors import CurrencyMismatch, ValidationError
from orderkit.model.limits import MAX_AMOUNT, MAX_AMOUNT_PLACES

__all__ = ["MINOR_DIGITS", "Money", "minor_digits", "whole_minor"]

#: The rounding modes :meth:`Money.round` takes: the :mod:`decimal` module's.
_ROUNDINGS: Final = frozenset({
    decimal.ROUND_05UP, decimal.ROUND_CEILING, decimal.ROUND_DOWN, decimal.ROUND_FLOOR,
    decimal.ROUND_HALF_DOWN, decimal.ROUND_HALF_EVEN, decimal.ROUND_HALF_UP, decimal.ROUND_UP,
})

#: Currencies whose minor unit is not 1/100 (ISO 4217 exponent). Everything else in
#: :data:`_CURRENCIES` has two decimals.
MINOR_DIGITS: Final[dict[str, int]] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}

_CURRENCIES: Final[frozenset[str]] = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BOV",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHE",
        "CHF",
        "CHW",
        "CLF",
        "CLP",
        "CNY",
        "COP",
        "COU",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MXV",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SLL",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "USN",
        "UYI",
        "UYU",
        "UYW",
        "UZS",
        "VED",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
        "ZWL",
    ]
)


def minor_digits(currency: str) -> int:
    """Number of decimals of ``currency``'s minor unit (2 for CNY, 0 for JPY, 3 for KWD)."""
    return MINOR_DIGITS.get(currency, 2)


def whole_minor(amount: Decimal, currency: str) -> bool:
    """True when ``amount`` is an exact number of ``currency``'s minor units, decided on
    its digits: exact for any finite amount, whatever the decimal context."""
    _sign, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):  # not finite
        return False
    finer = -exponent - minor_digits(currency)  # digits below the minor unit
    return finer <= 0 or not any(digits[-finer:])


def _to_amount(value: object) -> Decimal:
    # bool is an int subclass; True yuan is a bug, not an amount.
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ValidationError("amount", value, "expected a decimal string") from None
    elif isinstance(value, float):
        raise ValidationError(
            "amount",
            value,
            "floats are not accepted for money; pass a Decimal, an int or a decimal string",
        )
    else:
        raise ValidationError("amount", value, "expected a Decimal, an int or a decimal string")
    if not amount.is_finite():
        raise ValidationError("amount", value, "expected a finite amount")
    if abs(amount) > MAX_AMOUNT:
        raise ValidationError("amount", value, "expected an amount of at most 10**15")
    if amount.as_tuple().exponent < -MAX_AMOUNT_PLACES:  # type: ignore[operator]
        raise ValidationError(
            "amount", value, f"expected at most {MAX_AMOUNT_PLACES} decimal places"
        )
    return amount


def _check_currency(_instance: object, _attribute: object, value: Any) -> None:
    if not isinstance(value, str) or value not in _CURRENCIES:
        raise ValidationError("currency", value, "expected an ISO 4217 currency code like 'CNY'")


#: The zero of each currency asked for so far (see :meth:`Money.zero`).
_ZEROS: dict[str, Money] = {}


def _coerce_factor(value: object) -> Decimal:
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise ValidationError("factor", value, "money can be multiplied by an int or a Decimal")


@attrs.frozen(repr=False)
class Money:
    """An immutable amount of one currency.

    >>> Money("12.30", "CNY") + Money(5, "CNY")
    Money('17.30', 'CNY')
    >>> Money.from_minor(1230, "CNY").amount
    Decimal('12.30')
    >>> Money("0.10", "CNY").minor
    10
    """

    amount: Decimal = attrs.field(converter=_to_amount)
    currency: str = attrs.field(validator=_check_currency)

    # --- construction ------------------------------------------------------------------

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """Build from an integer count of minor units (fen, cents; yen for JPY)."""
        if not isinstance(minor, int) or isinstance(minor, bool):
            raise ValidationError("minor", minor, "expected an integer number of minor units")
        _check_currency(None, None, currency)
        return cls(Decimal(minor).scaleb(-minor_digits(currency)), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``, with the currency's decimals (``0.00`` for CNY).

        Money is immutable, so one zero per currency is made and handed out again."""
        if cls is Money and isinstance(currency, str):
            kept = _ZEROS.get(currency)
            if kept is not None:
                return kept
        zero = cls.from_minor(0, currency)  # checks the currency: at most one per code
        if cls is Money:
            _ZEROS[currency] = zero
        return zero

    # --- conversion --------------------------------------------------------------------

    @property
    def minor(self) -> int:
        """The amount in minor units; refuses an amount finer than the minor unit.

        Call :meth:`round` first when sub-minor precision (a 5-decimal fee) must go.
        """
        scaled = self.amount.scaleb(minor_digits(self.currency))
        if scaled != scaled.to_integral_value():
            raise ValidationError(
                "amount",
                self.amount,
                f"{self.currency} has {minor_digits(self.currency)} decimals; round() first",
            )
        return int(scaled)

    @property
    def digits(self) -> int:
        """Decimals that hold this amount exactly: the currency's minor digits, or more
        for an amount finer than the minor unit (``Money("0.125", "CNY").digits == 3``)."""
        exponent = self.amount.as_tuple().exponent
        assert isinstance(exponent, int)  # a finite amount (checked on construction)
        return max(minor_digits(self.currency), -exponent)

    def round(self, rounding: str = ROUND_HALF_UP) -> Money:
        """Round to the currency's minor unit (half-up by default; ``rounding`` is one of
        the :mod:`decimal` modules' modes, such as ``decimal.ROUND_HALF_EVEN``)."""
        if not isinstance(rounding, str) or rounding not in _ROUNDINGS:
            raise ValidationError(
                "rounding", rounding, "expected a decimal rounding mode: "
                + ", ".join(sorted(_ROUNDINGS)),
            )
        exponent = Decimal(1).scaleb(-minor_digits(self.currency))
        return Money(self.amount.quantize(exponent, rounding=rounding), self.currency)

    def is_whole_minor(self) -> bool:
        """True when the amount is an exact number of minor units."""
        return whole_minor(self.amount, self.currency)

    # --- arithmetic --------------------------------------------------------------------

    def _same(self, other: Money, op: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(op, self.currency, other.currency)

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "+")
        return Money(self.amount + other.amount, self.currency)

    def __radd__(self, other: object) -> Money:
        # Lets sum() start from the int 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "-")
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, Money):
            return NotImplemented
        if isinstance(factor, float):
            return NotImplemented
        return Money(self.amount * _coerce_factor(factor), self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __bool__(self) -> bool:
        return bool(self.amount)

    def _compare(self, other: object, op: str) -> Decimal | Any:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, op)
        return other.amount

    def __lt__(self, other: object) -> bool:
        amount = self._compare(other, "<")
        return amount if amount is NotImplemented else self.amount < amount

    def __le__(self, other: object) -> bool:
        amount = self._compare(other, "<=")
        return amount if amount is NotImplemented else self.amount <= amount

    def __gt__(self, other: object) -> bool:
        amount = self._compare(other, ">")
        return amount if amount is NotImplemented else self.amount > amount

    def __ge__(self, other: object) -> bool:
        amount = self._compare(other, ">=")
        return amount if amount is NotImplemented else self.amount >= amount

    # --- allocation --------------------------------------------------------------------

    def allocate(self, weights: Sequence[int | Decimal]) -> list[Money]:
        """Split into parts proportional to ``weights`` that sum back exactly.

        Works in minor units (or, for an amount finer than the minor unit, in its own
        smallest digit): each part gets the floor of its exact share, and the remaining
        units go one each to the parts with the largest remainders (earlier parts win
        ties), so the result is deterministic and never off by a fen. Used to spread an
        order-level discount over lines by line value.

        >>> [str(m) for m in Money("10.00", "CNY").allocate([1, 1, 1])]
        ['CNY 3.34', 'CNY 3.33', 'CNY 3.33']
        """
        if not weights:
            raise ValidationError("weights", weights, "expected at least one weight")
        exact: list[Decimal] = []
        for index, weight in enumerate(weights):
            if isinstance(weight, bool) or not isinstance(weight, int | Decimal):
                raise ValidationError(f"weights[{index}]", weight, "expected an int or a Decimal")
            if not Decimal(weight).is_finite() or weight < 0:
                raise ValidationError(f"weights[{index}]", weight, "expected a weight >= 0")
            exact.append(Decimal(weight))
        total_weight = sum(exact, Decimal(0))
        if total_weight == 0:
            raise ValidationError("weights", list(weights), "weights must not all be zero")
        digits = self.digits
        units = int(self.amount.scaleb(digits))
        sign = -1 if units < 0 else 1
        units = abs(units)
        shares = []
        remainders = []
        with decimal.localcontext() as context:
            context.prec = max(50, len(str(units)) + 30)
            for weight in exact:
                share, remainder = divmod(units * weight, total_weight)
                shares.append(int(share))
                remainders.append(remainder)
        leftover = units - sum(shares)
        order = sorted(range(len(shares)), key=lambda i: (-remainders[i], i))
        for i in order[:leftover]:
            shares[i] += 1
        return [Money(Decimal(sign * share).scaleb(-digits), self.currency) for share in shares]

    # --- text --------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Money({str(self.amount)!r}, {self.currency!r})"

    def __str__(self) -> str:
        # str() of the Decimal, not an f-string: Decimal.__format__ is several times slower
        # and this text is written into every payment's audit entry.
        return self.currency + " " + str(self.amount)

