"""Difference kinds and the rules that assign them.

Each kind answers the question finance asks about a break: "why does received differ
from receivable?" The rules are checked in the order below; the first that applies wins.

For a *pair* (records of both sides that belong together):

1. ``rounding``: totals differ by no more than the rounding tolerance.
2. ``amount_mismatch``: totals differ by more than that.
3. ``delayed_refund``: a refund pair whose two sides are further apart in time than
   ``refund_delay`` (the refund landed late).
4. ``cross_period``: equal amounts, but the two sides fall in different accounting
   periods once both are converted to the accounting zone.
5. otherwise a clean match (kind ``None``).

For a record *left alone* after every pass:

* ``pending``: due at or after the cut-off (not due yet; not a break): a record is due
  at its own time unless the caller says otherwise (a payout on its way to the bank is
  due when its credit is expected);
* ``platform_fee``: a fee record (the source says it is a fee);
* ``coupon_or_subsidy``: a subsidy record (a coupon, a platform subsidy);
* ``bank_charge``: a bank's own charge (account fee, transfer fee), never a refund;
* ``partial_refund``: a refund whose amount is smaller than the sale with the same ref;
* ``missing_right`` / ``missing_left``: nothing on the other side.

``unpaired_exchange`` is assigned before any pass (:mod:`~orderkit.reconcile.exchanges`):
one leg of an exchange (category ``exchange``) whose other leg, the same reference with
the opposite sign, is not there.

``duplicate`` is assigned by the exact-reference pass: a second record on the same side
with the same reference, kind and amount as one already paired.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from itertools import compress, repeat
from operator import add, attrgetter, eq, ge, mul
from typing import Final

from orderkit.model.time import zone
from orderkit.reconcile.records import Record
from orderkit.reconcile.rules import Rules

__all__ = ["DifferenceKind", "PeriodOf", "classify_lone", "classify_pair"]


class DifferenceKind(StrEnum):
    """The difference kinds, as the lower-case strings outcomes carry."""

    ROUNDING = "rounding"
    PLATFORM_FEE = "platform_fee"
    COUPON_OR_SUBSIDY = "coupon_or_subsidy"
    PARTIAL_REFUND = "partial_refund"
    DELAYED_REFUND = "delayed_refund"
    CROSS_PERIOD = "cross_period"
    AMOUNT_MISMATCH = "amount_mismatch"
    MISSING_LEFT = "missing_left"
    MISSING_RIGHT = "missing_right"
    DUPLICATE = "duplicate"
    PENDING = "pending"
    BANK_CHARGE = "bank_charge"
    UNPAIRED_EXCHANGE = "unpaired_exchange"


_HOUR: Final = timedelta(hours=1)
_MICROSECOND: Final = timedelta(microseconds=1)
_HOUR_OF_DAY: Final = attrgetter("hour")
_KIND_OF: Final = attrgetter("kind")
_AT_OF: Final = attrgetter("at")
#: What the memo holds for an hour whose instants do not all share one period.
_MIXED: Final = -1


class PeriodOf:
    """The accounting period of an instant, as a comparable int: the local
    ``year * 12 + month`` (month periods) or the local date's ordinal (day periods) in
    the accounting zone.

    The answer is always that of converting the instant itself to the zone. It is
    memoised per UTC hour: an hour is remembered only when the zone's offset is the same
    at its first and its last microsecond and both fall in one period, so that every
    instant in between does too (no zone changes its offset twice within an hour). The
    instants of any other hour (the one holding local midnight in a zone such as
    Asia/Kathmandu, at UTC+05:45, or a month's first local instant) are converted one
    by one. A month of data then needs about a thousand conversions, not millions.

    :meth:`__call__` takes any aware instant; :meth:`column` takes instants in UTC, as
    :class:`~orderkit.reconcile.Record` stores them.
    """

    __slots__ = ("_memo", "_month", "_zone")

    def __init__(self, tz: str | tzinfo, period: str) -> None:
        self._zone = zone(tz)
        self._month = period == "month"
        self._memo = _HourMemo(self._zone, self._month)

    def __call__(self, at: datetime) -> int:
        instant = at.astimezone(UTC)
        period = self._memo[instant.toordinal() * 24 + instant.hour]
        return _local_period(instant, self._zone, self._month) if period == _MIXED else period

    def column(self, ats: Iterable[datetime]) -> list[int]:
        """The period of each instant of ``ats`` (aware, in UTC), with the memo read in
        C-level ``map`` calls (a UTC hour is keyed as ``ordinal * 24 + hour``)."""
        instants = ats if isinstance(ats, list) else list(ats)
        days = map(mul, map(datetime.toordinal, instants), repeat(24))
        hours = map(add, days, map(_HOUR_OF_DAY, instants))
        periods = list(map(self._memo.__getitem__, hours))
        for k in list(compress(range(len(periods)), map(eq, periods, repeat(_MIXED)))):
            periods[k] = _local_period(instants[k], self._zone, self._month)
        return periods


def _local_period(at: datetime, tz: tzinfo, month: bool) -> int:
    local = at.astimezone(tz)
    return local.year * 12 + local.month if month else local.toordinal()


class _HourMemo(dict[int, int]):
    """UTC hour number (``ordinal * 24 + hour``) -> the period every instant of that hour
    shares, or ``_MIXED``; filled in as it is read."""

    __slots__ = ("_month", "_zone")

    def __init__(self, tz: tzinfo, month: bool) -> None:
        super().__init__()
        self._zone = tz
        self._month = month

    def __missing__(self, key: int) -> int:
        tz, month = self._zone, self._month
        ordinal, hour = divmod(key, 24)
        try:
            first = datetime.fromordinal(ordinal).replace(hour=hour, tzinfo=UTC)
            last = first + (_HOUR - _MICROSECOND)
            same_offset = first.astimezone(tz).utcoffset() == last.astimezone(tz).utcoffset()
            period = _local_period(first, tz, month)
            value = period if same_offset and period == _local_period(last, tz, month) else _MIXED
        except OverflowError:
            # At the very ends of the calendar some local times do not exist.
            value = _MIXED
        self[key] = value
        return value


def classify_pair(
    left: tuple[Record, ...],
    right: tuple[Record, ...],
    rules: Rules,
    period_of: PeriodOf,
) -> str | None:
    """The difference kind of a group of records that belong together, or ``None``."""
    total = Decimal(0)
    currency = (left or right)[0].amount.currency
    if any(r.amount.currency != currency for r in (*left, *right)):
        return DifferenceKind.AMOUNT_MISMATCH.value
    for record in right:
        total += record.amount.amount
    for record in left:
        total -= record.amount.amount
    if total:
        if abs(total) <= rules.tolerance(currency):
            return DifferenceKind.ROUNDING.value
        return DifferenceKind.AMOUNT_MISMATCH.value
    first_left = min(r.at for r in left)
    first_right = min(r.at for r in right)
    if left[0].kind == "refund" and abs(first_right - first_left) > rules.refund_delay:
        return DifferenceKind.DELAYED_REFUND.value
    period = period_of(first_left)
    if any(period_of(r.at) != period for r in (*left, *right)):
        return DifferenceKind.CROSS_PERIOD.value
    return None


#: ``(status, kind)`` of a lone record by its kind: the kinds the source itself says are
#: a difference (a fee, a coupon or subsidy, a bank's charge).
_LONE_BY_KIND: Final = {
    "fee": ("difference", DifferenceKind.PLATFORM_FEE.value),
    "subsidy": ("difference", DifferenceKind.COUPON_OR_SUBSIDY.value),
    "charge": ("difference", DifferenceKind.BANK_CHARGE.value),
}
_PENDING: Final = ("pending", DifferenceKind.PENDING.value)
_PARTIAL_REFUND: Final = ("difference", DifferenceKind.PARTIAL_REFUND.value)
_MISSING: Final = {
    "left": ("unmatched", DifferenceKind.MISSING_RIGHT.value),
    "right": ("unmatched", DifferenceKind.MISSING_LEFT.value),
}


def classify_lone(
    records: Sequence[Record],
    *,
    side: str,
    sale_amounts: Mapping[str, Decimal],
    rules: Rules,
    due: Sequence[datetime] | None = None,
) -> list[tuple[str, str]]:
    """``(status, kind)`` of each record of ``side`` (``"left"`` or ``"right"``) that no
    pass could pair, in the order of ``records``.

    ``due`` gives the instant each record is due, in the order of ``records`` (a payout
    whose bank credit is expected later than the payout itself); by default a record is
    due at its own time (``at``).

    ``sale_amounts`` maps a ref to the amount of the sale with that ref anywhere in the
    input (for telling a partial refund from a missing one); only refunds' refs are
    looked up. The classes are decided on columns: the kind decides most records, then
    the few refunds are compared with their sale, then everything at or after the
    cut-off is ``pending`` (not due yet; that rule comes first).
    """
    if due is None:
        due = list(map(_AT_OF, records))
    kinds = list(map(_KIND_OF, records))
    classes = list(map(_LONE_BY_KIND.get, kinds, repeat(_MISSING[side])))
    for k in compress(range(len(kinds)), map(eq, kinds, repeat("refund"))):
        record = records[k]
        sale_amount = sale_amounts.get(record.ref) if record.ref else None
        if sale_amount is not None and abs(record.amount.amount) < abs(sale_amount):
            classes[k] = _PARTIAL_REFUND
    if rules.cutoff is not None:
        for k in compress(range(len(kinds)), map(ge, due, repeat(rules.cutoff))):
            classes[k] = _PENDING
    return classes
