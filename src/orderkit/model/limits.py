"""The ranges every store holds, checked before anything is written.

A value outside these ranges is refused with a
:class:`~orderkit.model.errors.ValidationError` naming the field, by every entry point
and for every store alike, so a value the memory store would keep is never one that
SQLite or PostgreSQL would crash on. The instants are in :mod:`orderkit.model.time`
(:data:`~orderkit.model.time.EARLIEST`, :data:`~orderkit.model.time.LATEST`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

__all__ = ["MAX_AMOUNT", "MAX_AMOUNT_PLACES", "MAX_QUANTITY"]

#: The largest quantity (and stock counter) any store holds: a signed 64-bit integer,
#: what SQLite's ``INTEGER`` and PostgreSQL's ``bigint`` hold. Negative quantities (stock
#: adjustments, oversold counters) are bounded by ``-MAX_QUANTITY``.
MAX_QUANTITY: Final = 2**63 - 1

#: Money amounts are at most this in absolute value (10**15 of any currency: its minor
#: units, at most three decimals, still fit a signed 64-bit integer).
MAX_AMOUNT: Final = Decimal(10) ** 15

#: Money amounts have at most this many decimal places (the default decimal context's
#: precision), so no amount carries an unbounded exponent into a store or a report.
MAX_AMOUNT_PLACES: Final = 28
