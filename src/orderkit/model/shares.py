"""How an order's amounts are shared out among its lines and units: the weights an
order-level discount is spread by, and the part of a line's discounts its units still
sold carry. The order's totals and the costing's margins both use them, so a discount
is spread the same way wherever it is counted."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orderkit.model.orders import OrderLine

__all__ = ["spread_weights", "units_share"]


def spread_weights(
    lines: Sequence[OrderLine], own: Mapping[str, Decimal]
) -> list[int | Decimal]:
    """How order-level discounts and tax are spread: by each line's value net of its own
    discounts at sale (``own``; as the platforms allocate a coupon), else by value, else
    by units. Concessions granted later do not move the spread."""
    gross: list[int | Decimal] = [line.amount.amount for line in lines]
    net: list[int | Decimal] = [
        max(Decimal(0), value - own.get(line.line_id, Decimal(0)))
        for line, value in zip(lines, gross, strict=True)
    ]
    if any(net):
        return net
    if any(gross):
        return gross
    return [line.quantity for line in lines]


def units_share(shares: list[tuple[Decimal, int]], sold: int, minor: int) -> Decimal:
    """What ``sold`` units of a line carry of its ``shares`` (``(amount, units covered)``
    of one kind, say every discount of the line): each amount in proportion to the
    units it covers that are still sold, summed exactly and rounded once, half up, to
    the smallest digit of the amounts. Rounding once keeps a unit's share within its
    exact part by less than one fen, so no unit carries more discount than its price."""
    if all(sold >= covered for _total, covered in shares):  # every covered unit is sold
        return sum((total for total, _covered in shares), Decimal(0))
    digits = minor
    exact = Fraction(0)
    for total, covered in shares:
        exponent = total.as_tuple().exponent
        assert isinstance(exponent, int)
        digits = max(digits, -exponent)
        exact += Fraction(total) * min(sold, covered) / covered
    # Half up (floor of x + 1/2): shifting by whole fen shifts the result by as much.
    return Decimal(math.floor(exact * 10**digits + Fraction(1, 2))).scaleb(-digits)
