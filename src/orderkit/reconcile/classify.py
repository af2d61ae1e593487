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

* ``pending``: at or after the cut-off (not due yet; not a break);
* ``platform_fee``: a fee record (the source says it is a fee);
* ``coupon_or_subsidy``: a subsidy record (a coupon, a platform subsidy);
* ``partial_refund``: a refund whose amount is smaller than the sale with the same ref;
* ``missing_right`` / ``missing_left``: nothing on the other side.

``duplicate`` is assigned by the exact-reference pass: a second record on the same side
with the same reference, kind and amount as one already paired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from itertools import repeat
from operator import add, attrgetter, mul
from typing import Final

from orderkit.model.time import zone
from orderkit.reconcile.records import Record
from orderkit.reconcile.rules import Rules

__all__ = ["DifferenceKind", "PeriodOf", "WholeDays", "classify_lone", "classify_pair"]


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


_QUARTER_HOUR: Final = timedelta(minutes=15)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL: Final = _EPOCH.toordinal()
_QUARTERS_PER_DAY: Final = 96
_QUARTERS_PER_HOUR: Final = 4
_HOUR: Final = attrgetter("hour")


class PeriodOf:
    """The accounting period (as a comparable int) of an instant, cached.

    Every modern zone offset and every daylight-saving switch falls on a quarter hour, so
    all instants in the same UTC quarter hour share a local date; the cache is keyed on
    that quarter hour and a month of data needs a few thousand conversions, not millions.
    For month periods the UTC month is used directly when the day is far enough from the
    month's edges that no offset (always less than a day) can move it.

    :meth:`whole_days` answers per UTC day for the days that lie inside one period, so
    the exact pass can compare two instants with two C-level lookups.
    """

    __slots__ = ("_cache", "_month", "_zone")

    def __init__(self, tz: str | tzinfo, period: str) -> None:
        self._zone = zone(tz)
        self._month = period == "month"
        self._cache: dict[int, int] = {}

    def __call__(self, at: datetime) -> int:
        if self._month and 2 <= at.day <= 27:
            return at.year * 12 + at.month
        # Exact floor division (also before 1970, where truncating a float would not be).
        return self._quarter((at - _EPOCH) // _QUARTER_HOUR)

    def _quarter(self, key: int) -> int:
        """The period of the UTC quarter hour number ``key`` (counted from the epoch)."""
        value = self._cache.get(key)
        if value is None:
            local = (_EPOCH + key * _QUARTER_HOUR).astimezone(self._zone)
            value = local.year * 12 + local.month if self._month else local.toordinal()
            self._cache[key] = value
        return value

    def whole_days(self, unknown: int) -> WholeDays:
        """A table from UTC day ordinals to the period of every instant of that day.

        Built as it is read, one Python step per distinct day. Days that straddle a
        period boundary map to ``unknown``, which must be negative (no period is), so
        that two tables with different ``unknown`` values never agree on such a day;
        callers then ask :meth:`__call__`. Keys are ``at.toordinal()`` of UTC instants,
        as :class:`~orderkit.reconcile.Record` stores them.
        """
        return WholeDays(self, unknown)

    def whole_hours(self, unknown: int) -> WholeDays:
        """:meth:`whole_days` for UTC hours: keys are ``ordinal * 24 + hour`` of UTC
        instants, values the period of every instant of that hour or ``unknown``.

        For day periods in a zone whose offset is not a whole number of days (all but
        UTC) no UTC day lies inside one local day, but all hours but one or two a day do.
        """
        return WholeDays(self, unknown, self.whole_hour)

    def column(self, ats: Iterable[datetime], unknown: int) -> list[int]:
        """The period of each instant of ``ats`` (aware, in UTC), or ``unknown`` where the
        whole-day (month periods) or whole-hour (day periods) table cannot answer.

        Every step is a C-level ``map``, so a million instants cost a few attribute
        reads each and no Python call: the exact pass compares two such columns.
        """
        if self._month:
            days = self.whole_days(unknown)
            return list(map(days.__getitem__, map(datetime.toordinal, ats)))
        hours = self.whole_hours(unknown)
        instants = list(ats)
        firsts = map(mul, map(datetime.toordinal, instants), repeat(24))
        keys = map(add, firsts, map(_HOUR, instants))
        return list(map(hours.__getitem__, keys))

    def whole_hour(self, key: int) -> int | None:
        """The period shared by every instant of the UTC hour ``key`` (``ordinal * 24 +
        hour``), if there is one; like :meth:`whole_day`, always what ``self(at)`` says."""
        ordinal, hour = divmod(key, 24)
        start = (ordinal - _EPOCH_ORDINAL) * _QUARTERS_PER_DAY + hour * _QUARTERS_PER_HOUR
        try:
            periods = {self._quarter(q) for q in range(start, start + _QUARTERS_PER_HOUR)}
        except OverflowError:
            return None
        return periods.pop() if len(periods) == 1 else None

    def whole_day(self, ordinal: int) -> int | None:
        """The period shared by every instant of the UTC day ``ordinal``, if there is one.

        A day is given a period only when all of its quarter hours (the unit
        :meth:`__call__` is keyed on) agree, so the answer always equals ``self(at)`` for
        any UTC instant ``at`` of that day.
        """
        if self._month:
            day = date.fromordinal(ordinal)
            if 2 <= day.day <= 27:
                # Same shortcut as __call__: every instant of the day takes this branch.
                return day.year * 12 + day.month
        start = (ordinal - _EPOCH_ORDINAL) * _QUARTERS_PER_DAY
        try:
            periods = {self._quarter(q) for q in range(start, start + _QUARTERS_PER_DAY)}
        except OverflowError:
            # A day at the very ends of the calendar, where some local times do not
            # exist: leave each instant to __call__, which answers as it always has.
            return None
        return periods.pop() if len(periods) == 1 else None


class WholeDays(dict[int, int]):
    """UTC day ordinal -> :meth:`PeriodOf.whole_day` (or, built by
    :meth:`PeriodOf.whole_hours`, hour number -> :meth:`PeriodOf.whole_hour`), or ``unknown``
    when that is ``None``.

    A ``dict`` so that a lookup of a day already seen costs one C-level subscript; the
    first lookup of a day fills it in (``__missing__``). Two tables with different
    ``unknown`` values compare equal only for days with a known, equal period.
    """

    __slots__ = ("_answer", "_periods", "_unknown")

    def __init__(
        self,
        periods: PeriodOf,
        unknown: int,
        answer: Callable[[int], int | None] | None = None,
    ) -> None:
        super().__init__()
        self._periods = periods
        self._unknown = unknown
        #: What a key means: a UTC day ordinal (the default) or an hour number.
        self._answer = periods.whole_day if answer is None else answer

    def __missing__(self, key: int) -> int:
        found = self._answer(key)
        value = self._unknown if found is None else found
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
    if any(period_of(r.at) != period_of(first_left) for r in (*left, *right)):
        return DifferenceKind.CROSS_PERIOD.value
    return None


def classify_lone(
    record: Record,
    *,
    side: str,
    sale_amount: Decimal | None,
    rules: Rules,
) -> tuple[str, str]:
    """``(status, kind)`` of a record no pass could pair.

    ``side`` is ``"left"`` or ``"right"``; ``sale_amount`` the amount of a sale with the
    same ref anywhere in the input (for telling a partial refund from a missing one).
    """
    if rules.cutoff is not None and record.at >= rules.cutoff:
        return "pending", DifferenceKind.PENDING.value
    if record.kind == "fee":
        return "difference", DifferenceKind.PLATFORM_FEE.value
    if record.kind == "subsidy":
        return "difference", DifferenceKind.COUPON_OR_SUBSIDY.value
    if (
        record.kind == "refund"
        and sale_amount is not None
        and abs(record.amount.amount) < abs(sale_amount)
    ):
        return "difference", DifferenceKind.PARTIAL_REFUND.value
    missing = DifferenceKind.MISSING_RIGHT if side == "left" else DifferenceKind.MISSING_LEFT
    return "unmatched", missing.value
