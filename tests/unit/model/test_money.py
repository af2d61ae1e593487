"""Money is exact: Decimal inside, floats refused, fen and yuan convert without loss."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit import Money
from orderkit.model.errors import CurrencyMismatch, OrderkitError, ValidationError
from orderkit.model.money import minor_digits
from orderkit.testing.strategies import currencies


def test_float_amount_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Money(12.3, "CNY")  # type: ignore[arg-type]
    assert caught.value.path == "amount"
    assert caught.value.value == 12.3
    assert "float" in str(caught.value)


@pytest.mark.parametrize("amount", [Decimal("12.30"), "12.30", " 12.30 ", 1230])
def test_decimal_int_and_decimal_string_are_accepted(amount: object) -> None:
    money = Money(amount, "CNY")  # type: ignore[arg-type]
    assert isinstance(money.amount, Decimal)


@pytest.mark.parametrize("amount", [True, None, "12,30", "NaN", "Infinity", [1], b"1"])
def test_non_amounts_are_refused(amount: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Money(amount, "CNY")  # type: ignore[arg-type]
    assert caught.value.path == "amount"


@pytest.mark.parametrize("currency", ["cny", "RMB", "", "XXX", 156, None])
def test_unknown_currency_is_refused(currency: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Money("1", currency)  # type: ignore[arg-type]
    assert caught.value.path == "currency"


def test_fen_and_yuan_convert_exactly() -> None:
    assert Money.from_minor(1230, "CNY") == Money("12.30", "CNY")
    assert Money("12.30", "CNY").minor == 1230
    assert Money("0.01", "CNY").minor == 1


@given(st.integers(-(10**15), 10**15), currencies())
def test_minor_units_round_trip(minor: int, currency: str) -> None:
    money = Money.from_minor(minor, currency)
    assert money.minor == minor
    assert money.amount == Decimal(minor).scaleb(-minor_digits(currency))


def test_zero_and_three_digit_currencies() -> None:
    assert Money.from_minor(1230, "JPY").amount == Decimal(1230)
    assert Money.from_minor(1230, "KWD").amount == Decimal("1.230")
    assert Money("1.5", "JPY").is_whole_minor() is False


@given(currencies())
def test_zero_has_the_currency_decimals_and_is_made_once(currency: str) -> None:
    zero = Money.zero(currency)
    assert zero.amount == 0 and zero.amount.as_tuple().exponent == -minor_digits(currency)
    assert zero.currency == currency
    assert Money.zero(currency) is zero


@pytest.mark.parametrize("currency", ["XYZ", "cny", "", None, ["CNY"], 156])
def test_zero_of_no_currency_is_refused(currency: object) -> None:
    with pytest.raises(ValidationError) as raised:
        Money.zero(currency)  # type: ignore[arg-type]
    assert raised.value.path == "currency"


def test_sub_fen_amount_must_be_rounded_before_minor() -> None:
    fee = Money("0.12345", "CNY")  # WeChat Pay fees have five decimals
    with pytest.raises(ValidationError):
        _ = fee.minor
    assert fee.round().minor == 12


def test_rounding_is_half_up_by_default_and_explicit_otherwise() -> None:
    assert Money("0.125", "CNY").round() == Money("0.13", "CNY")
    assert Money("-0.125", "CNY").round() == Money("-0.13", "CNY")
    assert Money("0.125", "CNY").round(ROUND_HALF_EVEN) == Money("0.12", "CNY")


def test_same_currency_arithmetic() -> None:
    a, b = Money("10.10", "CNY"), Money("0.20", "CNY")
    assert a + b == Money("10.30", "CNY")
    assert a - b == Money("9.90", "CNY")
    assert b * 3 == Money("0.60", "CNY")
    assert 3 * b == Money("0.60", "CNY")
    assert -b == Money("-0.20", "CNY")
    assert sum([a, b]) == Money("10.30", "CNY")
    assert b < a
    assert a >= a


def test_mixed_currencies_are_refused() -> None:
    cny, usd = Money("1", "CNY"), Money("1", "USD")
    for operation in (lambda: cny + usd, lambda: cny - usd, lambda: cny < usd):
        with pytest.raises(CurrencyMismatch) as caught:
            operation()
        assert isinstance(caught.value, OrderkitError)
        assert caught.value.right == "USD"
    assert cny != usd


def test_foreign_operands_are_not_implemented() -> None:
    with pytest.raises(TypeError):
        _ = Money("1", "CNY") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = Money("1", "CNY") * 1.5  # type: ignore[operator]
    assert Money("1", "CNY") != Decimal(1)


def test_money_is_immutable() -> None:
    money = Money("1", "CNY")
    with pytest.raises(AttributeError):
        money.amount = Decimal(2)  # type: ignore[misc]


def test_allocate_spreads_an_order_discount_by_line_value() -> None:
    discount = Money("10.00", "CNY")
    parts = discount.allocate([Decimal("89.00"), Decimal("45.50"), Decimal("9.90")])
    assert sum(parts) == discount
    assert parts == [Money("6.16", "CNY"), Money("3.15", "CNY"), Money("0.69", "CNY")]


@given(
    st.integers(-(10**12), 10**12),
    currencies(),
    st.lists(st.integers(0, 10**6), min_size=1, max_size=30).filter(any),
)
def test_allocation_parts_sum_back_exactly(minor: int, currency: str, weights: list[int]) -> None:
    total = Money.from_minor(minor, currency)
    parts = total.allocate(weights)
    assert len(parts) == len(weights)
    assert sum(parts, Money.zero(currency)) == total
    for part, weight in zip(parts, weights, strict=True):
        assert part.is_whole_minor()
        exact = Decimal(minor) * weight / sum(weights)
        assert abs(Decimal(part.minor) - exact) < 1
        if weight == 0:
            assert part.minor == 0


@pytest.mark.parametrize(
    ("weights", "path"),
    [
        ([], "weights"),
        ([0, 0], "weights"),
        ([1, -1], "weights[1]"),
        ([1, 1.5], "weights[1]"),
        ([True], "weights[0]"),
    ],
)
def test_allocate_refuses_bad_weights(weights: list[object], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Money("1.00", "CNY").allocate(weights)  # type: ignore[arg-type]
    assert caught.value.path == path


@pytest.mark.parametrize("rounding", ["BANKERS", 2, None, "round_half_up"])
def test_round_refuses_a_mode_decimal_does_not_have_naming_it(rounding: object) -> None:
    with pytest.raises(ValidationError) as refused:
        Money("1.005", "CNY").round(rounding)  # type: ignore[arg-type]
    assert refused.value.path == "rounding"
    assert refused.value.value == rounding
    assert "ROUND_HALF_EVEN" in refused.value.message


def test_round_takes_every_decimal_mode() -> None:
    import decimal

    assert Money("1.005", "CNY").round(decimal.ROUND_HALF_EVEN) == Money("1.00", "CNY")
    assert Money("1.001", "CNY").round(decimal.ROUND_CEILING) == Money("1.01", "CNY")
