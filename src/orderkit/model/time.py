"""Aware datetimes, platform timestamps and accounting periods.

Every instant orderkit stores or compares is an *aware* ``datetime`` in UTC. Platforms
send time in many shapes: Shopify an ISO string with offset, Tmall/JD/PDD a naive
``"2026-02-16 00:30:00"`` that means Beijing time, Douyin unix seconds, some gateways
unix milliseconds. :func:`parse_timestamp` turns all of them into UTC, given the zone the
*source* meant. Accounting periods are computed in a configured zone (``Asia/Shanghai``
by default), because the sale at 00:30 Beijing time belongs to that Beijing day even
though it is the previous day in UTC.

Nothing here reads the host's local time zone: results are the same under any ``TZ``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Final, Literal, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from dateutil.parser import isoparse

from orderkit.model.errors import ValidationError

__all__ = [
    "DEFAULT_ACCOUNTING_TZ",
    "EARLIEST",
    "LATEST",
    "MILLIS_THRESHOLD",
    "UTC",
    "AccountingPeriod",
    "Clock",
    "SystemClock",
    "accounting_date",
    "accounting_period",
    "checked_now",
    "ensure_aware",
    "ensure_instant",
    "parse_timestamp",
    "zone",
]

DEFAULT_ACCOUNTING_TZ: Final = "Asia/Shanghai"

#: The first instant an order, an event or the inventory ledger accepts.
EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
#: The first instant past the supported range. It leaves room to add any window or lock
#: time-to-live (at most ten years) without overflowing ``datetime``, and keeps every
#: accepted instant before :data:`orderkit.inventory.NEVER`.
LATEST: Final = datetime(9000, 1, 1, tzinfo=UTC)

#: Unix values at or above this are read as milliseconds (1e11 seconds is year 5138).
MILLIS_THRESHOLD: Final = 100_000_000_000
_UNIX_TEXT = re.compile(r"[+-]?\d{1,16}(\.\d+)?")
_NAIVE_FORMATS: Final = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")


def zone(tz: str | tzinfo, *, path: str = "tz") -> tzinfo:
    """Resolve an IANA zone name (``"Asia/Shanghai"``) or pass a ``tzinfo`` through."""
    if isinstance(tz, tzinfo):
        return tz
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(path, tz, "expected an IANA time zone name") from None
    raise ValidationError(path, tz, "expected an IANA time zone name or a tzinfo")


def ensure_aware(value: object, *, path: str = "value") -> datetime:
    """Return ``value`` converted to UTC, refusing naive datetimes and non-datetimes."""
    if not isinstance(value, datetime):
        raise ValidationError(path, value, "expected an aware datetime")
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValidationError(path, value, "expected an aware datetime (with a time zone)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # datetime.min east of UTC, datetime.max west of it
        raise ValidationError(path, value, "instant out of range") from None


def ensure_instant(value: object, *, path: str = "value") -> datetime:
    """Like :func:`ensure_aware`, and also within ``[EARLIEST, LATEST)``.

    Every instant an order, an event or the ledger stores passes this check, so adding
    a window or a time-to-live to it never overflows and every store can hold it.
    """
    instant = ensure_aware(value, path=path)
    if not EARLIEST <= instant < LATEST:
        raise ValidationError(
            path, value, f"expected an instant from {EARLIEST.year} to before {LATEST.year}"
        )
    return instant


def _from_unix(number: Decimal, raw: object, path: str) -> datetime:
    if abs(number) >= MILLIS_THRESHOLD:
        number = number / 1000
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=float(number))
    except (OverflowError, ValueError):
        raise ValidationError(path, raw, "unix time out of range") from None


def parse_timestamp(value: object, *, source_tz: str | tzinfo, path: str = "value") -> datetime:
    """Parse a platform timestamp into an aware UTC ``datetime``.

    Accepted, in this order:

    * an aware ``datetime`` (converted to UTC) or a naive one (read in ``source_tz``);
    * an ``int``/``float``/``Decimal`` or an all-digit string: unix seconds, or unix
      milliseconds when 1e11 or larger;
    * ISO-8601 text; with an offset (``"2026-02-16T00:30:00+08:00"``, ``"...Z"``) it is
      exact, without one (``"2026-02-16 00:30:00"``) it is read in ``source_tz``;
    * ``"YYYY/MM/DD HH:MM[:SS]"`` and ``"YYYYMMDDHHMMSS"`` as naive local text.

    Local text in a zone with daylight saving: a time the clocks skipped is refused, a
    time they showed twice is the earlier instant (China has no daylight saving).
    ``path`` names the field in error messages.

    >>> parse_timestamp("2026-02-16 00:30:00", source_tz="Asia/Shanghai").isoformat()
    '2026-02-15T16:30:00+00:00'
    >>> parse_timestamp(1771173000, source_tz="UTC").isoformat()
    '2026-02-15T16:30:00+00:00'
    """
    source = zone(source_tz, path="source_tz")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return _localize(value, source, value, path)
        return ensure_aware(value, path=path)
    if isinstance(value, bool):
        raise ValidationError(path, value, "expected a timestamp")
    if isinstance(value, int | Decimal):
        return _from_unix(Decimal(value), value, path)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(path, value, "expected a finite unix time")
        return _from_unix(Decimal(repr(value)), value, path)
    if not isinstance(value, str):
        raise ValidationError(path, value, "expected a timestamp string, unix time or datetime")
    text = value.strip()
    if not text:
        raise ValidationError(path, value, "expected a timestamp, got an empty string")
    if _UNIX_TEXT.fullmatch(text) and (len(text) != 14 or "." in text):
        return _from_unix(Decimal(text), value, path)
    parsed = _parse_text(text)
    if parsed is None:
        raise ValidationError(path, value, "expected ISO-8601, 'YYYY-MM-DD HH:MM:SS' or unix time")
    if parsed.tzinfo is None:
        return _localize(parsed, source, value, path)
    return ensure_aware(parsed, path=path)


def _parse_text(text: str) -> datetime | None:
    if len(text) == 14 and text.isdigit():
        # Compact "YYYYMMDDHHMMSS" (bank exports); fromisoformat would misread it.
        try:
            return datetime.strptime(text, "%Y%m%d%H%M%S")
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return isoparse(text)
    except (ValueError, OverflowError):
        pass
    for fmt in _NAIVE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _localize(naive: datetime, source: tzinfo, raw: object, path: str) -> datetime:
    """``naive`` read as a wall-clock time in ``source``. A time the clocks skipped (a
    daylight-saving gap) names no instant and is refused; a time they showed twice is
    the first of the two (the earlier instant), unless a ``datetime`` given says
    ``fold=1``."""
    try:
        instant = naive.replace(tzinfo=source).astimezone(UTC)
        shown = instant.astimezone(source).replace(tzinfo=None)
    except (OverflowError, ValueError):
        raise ValidationError(path, raw, "timestamp out of range") from None
    if shown != naive:  # naive datetimes compare without their fold
        raise ValidationError(
            path, raw, f"no such local time in {source}: the clocks skipped it"
            " (give the timestamp with its offset)",
        )
    return instant


def accounting_date(instant: datetime, tz: str | tzinfo = DEFAULT_ACCOUNTING_TZ) -> date:
    """The business date of ``instant`` in the accounting zone.

    >>> from datetime import datetime, UTC
    >>> accounting_date(datetime(2026, 2, 15, 16, 30, tzinfo=UTC))
    datetime.date(2026, 2, 16)
    """
    aware = ensure_aware(instant, path="instant")
    return aware.astimezone(zone(tz)).date()


Granularity = Literal["day", "month"]


@attrs.frozen
class AccountingPeriod:
    """A business day or month in an accounting zone, as a half-open UTC interval."""

    granularity: Granularity
    start: date
    tz: str

    @property
    def end(self) -> date:
        """The first date after the period."""
        if self.granularity == "day":
            return self.start + timedelta(days=1)
        year, month = divmod(self.start.month, 12)
        return date(self.start.year + year, month + 1, 1)

    @property
    def label(self) -> str:
        """``"2026-02-16"`` for a day, ``"2026-02"`` for a month."""
        return self.start.isoformat() if self.granularity == "day" else self.start.strftime("%Y-%m")

    def bounds(self) -> tuple[datetime, datetime]:
        """``[start, end)`` of the period as aware UTC instants."""
        local = zone(self.tz)
        start = datetime(self.start.year, self.start.month, self.start.day, tzinfo=local)
        end = datetime(self.end.year, self.end.month, self.end.day, tzinfo=local)
        return start.astimezone(UTC), end.astimezone(UTC)

    def contains(self, instant: datetime) -> bool:
        """Whether ``instant`` falls inside this period."""
        start, end = self.bounds()
        return start <= ensure_aware(instant, path="instant") < end

    def __str__(self) -> str:
        return self.label


def accounting_period(
    instant: datetime,
    tz: str | tzinfo = DEFAULT_ACCOUNTING_TZ,
    granularity: Granularity = "day",
) -> AccountingPeriod:
    """The accounting day or month that ``instant`` belongs to in zone ``tz``.

    >>> from datetime import datetime, UTC
    >>> str(accounting_period(datetime(2026, 2, 28, 17, 0, tzinfo=UTC), granularity="month"))
    '2026-03'
    """
    day = accounting_date(instant, tz)
    name = tz if isinstance(tz, str) else str(tz)
    if granularity == "day":
        return AccountingPeriod("day", day, name)
    if granularity == "month":
        return AccountingPeriod("month", day.replace(day=1), name)
    raise ValidationError("granularity", granularity, "expected 'day' or 'month'")


@runtime_checkable
class Clock(Protocol):
    """The source of "now" (a port). Inject :class:`orderkit.testing.ManualClock` in tests."""

    def now(self) -> datetime:
        """The current instant: aware, in UTC."""
        ...


def checked_now(clock: Clock) -> datetime:
    """``clock.now()``, checked as every instant orderkit stores is (added in 0.3): aware,
    in UTC and within ``[EARLIEST, LATEST)`` (:func:`ensure_instant`). A host clock that
    gives a naive or out-of-range datetime is a
    :class:`~orderkit.model.errors.ValidationError` naming ``clock.now()``.

    >>> checked_now(SystemClock()).tzinfo
    datetime.timezone.utc
    """
    return ensure_instant(clock.now(), path="clock.now()")


class SystemClock:
    """The real clock, in UTC. The default wherever a ``clock`` is optional."""

    __slots__ = ()

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        return datetime.now(UTC)
