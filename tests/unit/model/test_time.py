"""Platform timestamps become aware UTC; accounting dates follow the accounting zone."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit import accounting_date, accounting_period, parse_timestamp
from orderkit.model.errors import ValidationError
from orderkit.model.time import AccountingPeriod, checked_now

BEIJING = "Asia/Shanghai"


def test_beijing_half_past_midnight_is_previous_day_in_utc_but_books_on_the_beijing_day() -> None:
    instant = parse_timestamp("2026-02-16 00:30:00", source_tz=BEIJING)
    assert instant == datetime(2026, 2, 15, 16, 30, tzinfo=UTC)
    assert instant.tzinfo is UTC
    assert accounting_date(instant, tz=BEIJING) == date(2026, 2, 16)
    assert accounting_date(instant, tz="UTC") == date(2026, 2, 15)


def test_results_do_not_depend_on_the_host_time_zone() -> None:
    code = (
        "from orderkit import parse_timestamp, accounting_date, accounting_period\n"
        "i = parse_timestamp('2026-02-16 00:30:00', source_tz='Asia/Shanghai')\n"
        "print(i.isoformat(), accounting_date(i), accounting_period(i, granularity='month'))\n"
        "print(parse_timestamp(1771173000, source_tz='UTC').isoformat())\n"
    )
    outputs = set()
    for tz in ("America/New_York", "Asia/Shanghai", "UTC", "Pacific/Kiritimati"):
        env = {**os.environ, "TZ": tz}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout)
    assert outputs == {"2026-02-15T16:30:00+00:00 2026-02-16 2026-02\n2026-02-15T16:30:00+00:00\n"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-16T00:30:00+08:00", datetime(2026, 2, 15, 16, 30, tzinfo=UTC)),
        ("2026-02-15T16:30:00Z", datetime(2026, 2, 15, 16, 30, tzinfo=UTC)),
        ("2026-02-15T11:30:00-05:00", datetime(2026, 2, 15, 16, 30, tzinfo=UTC)),
        ("2026-02-16 00:30:00", datetime(2026, 2, 15, 16, 30, tzinfo=UTC)),
        ("2026/02/16 00:30:00", datetime(2026, 2, 15, 16, 30, tzinfo=UTC)),
        ("20260216003000", datetime(2026, 2, 15, 16, 30, tzinfo=UTC)),
        (1771173000, datetime(2026, 2, 15, 16, 30, tzinfo=UTC)),
        (1771173000123, datetime(2026, 2, 15, 16, 30, 0, 123000, tzinfo=UTC)),
        ("1771173000", datetime(2026, 2, 15, 16, 30, tzinfo=UTC)),
        ("1771173000123", datetime(2026, 2, 15, 16, 30, 0, 123000, tzinfo=UTC)),
        (Decimal("1771173000.5"), datetime(2026, 2, 15, 16, 30, 0, 500000, tzinfo=UTC)),
        (datetime(2026, 2, 16, 0, 30), datetime(2026, 2, 15, 16, 30, tzinfo=UTC)),
        (
            datetime(2026, 2, 16, 0, 30, tzinfo=timezone(timedelta(hours=8))),
            datetime(2026, 2, 15, 16, 30, tzinfo=UTC),
        ),
    ],
)
def test_every_platform_shape_parses_to_utc(value: object, expected: datetime) -> None:
    parsed = parse_timestamp(value, source_tz=BEIJING)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_source_zone_accepts_a_tzinfo() -> None:
    parsed = parse_timestamp("2026-07-01 12:00:00", source_tz=ZoneInfo("America/New_York"))
    assert parsed == datetime(2026, 7, 1, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "yesterday",
        "2026-13-01 00:00:00",
        "2026-02-30",
        True,
        None,
        [],
        float("nan"),
        "0001-01-01 00:00:00",
        10**30,
    ],
)
def test_bad_timestamps_name_the_value(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_timestamp(value, source_tz=BEIJING, path="orders[0].pay_time")
    assert caught.value.path == "orders[0].pay_time"
    assert caught.value.value is value or caught.value.value == value


def test_unknown_source_zone_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_timestamp("2026-02-16 00:30:00", source_tz="Beijing/Standard")
    assert caught.value.path == "source_tz"


@given(st.text(max_size=30))
def test_any_text_parses_or_raises_validation_error(text: str) -> None:
    try:
        parsed = parse_timestamp(text, source_tz=BEIJING)
    except ValidationError as error:
        assert error.value == text
    else:
        assert parsed.tzinfo is UTC


@given(st.datetimes(min_value=datetime(1974, 1, 1), max_value=datetime(3000, 1, 1)))
def test_unix_seconds_and_milliseconds_agree(naive: datetime) -> None:
    # Values >= 1e11 are milliseconds: unambiguous for instants from March 1973 on.
    instant = naive.replace(microsecond=0, tzinfo=UTC)
    seconds = int(instant.timestamp())
    assert parse_timestamp(seconds, source_tz="UTC") == instant
    assert parse_timestamp(seconds * 1000, source_tz="UTC") == instant


def test_accounting_month_follows_the_accounting_zone() -> None:
    # 1 March 01:00 Beijing is still February in UTC.
    instant = datetime(2026, 2, 28, 17, 0, tzinfo=UTC)
    assert str(accounting_period(instant, tz=BEIJING, granularity="month")) == "2026-03"
    assert str(accounting_period(instant, tz="UTC", granularity="month")) == "2026-02"
    day = accounting_period(instant, tz=BEIJING)
    assert day == AccountingPeriod("day", date(2026, 3, 1), BEIJING)


def test_accounting_period_bounds_are_half_open_utc_instants() -> None:
    period = accounting_period(datetime(2026, 12, 31, 18, 0, tzinfo=UTC), granularity="month")
    assert period.label == "2027-01"
    start, end = period.bounds()
    assert start == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert end == datetime(2027, 1, 31, 16, 0, tzinfo=UTC)
    assert period.contains(start)
    assert not period.contains(end)


def test_naive_instant_is_refused_for_accounting() -> None:
    with pytest.raises(ValidationError) as caught:
        accounting_date(datetime(2026, 2, 16, 0, 30))
    assert caught.value.path == "instant"


def test_unknown_granularity_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        accounting_period(datetime(2026, 2, 16, tzinfo=UTC), granularity="week")  # type: ignore[arg-type]
    assert caught.value.path == "granularity"


def test_unix_values_below_1e11_are_seconds() -> None:
    assert parse_timestamp(99_999_999_999, source_tz="UTC").year == 5138
    assert parse_timestamp(100_000_000_000, source_tz="UTC").year == 1973


def test_a_local_time_the_clocks_skipped_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        parse_timestamp("2026-03-08 02:30:00", source_tz="America/New_York", path="pay_time")
    assert refused.value.path == "pay_time"
    assert "skipped" in refused.value.message


def test_a_local_time_shown_twice_is_the_earlier_instant_unless_fold_says_otherwise() -> None:
    from datetime import datetime as dt

    twice = "2026-11-01 01:30:00"  # New York's clocks went back from 02:00 to 01:00
    assert parse_timestamp(twice, source_tz="America/New_York").isoformat() == (
        "2026-11-01T05:30:00+00:00")
    second = dt(2026, 11, 1, 1, 30, fold=1)
    assert parse_timestamp(second, source_tz="America/New_York").isoformat() == (
        "2026-11-01T06:30:00+00:00")


class _FixedClock:
    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant


def test_a_clock_reading_is_checked_in_utc_naming_the_clock() -> None:
    beijing = datetime(2026, 2, 16, 8, 30, tzinfo=ZoneInfo(BEIJING))
    assert checked_now(_FixedClock(beijing)) == beijing
    assert checked_now(_FixedClock(beijing)).tzinfo is UTC
    for wrong in (datetime(2026, 2, 16, 8, 30), datetime(1899, 12, 31, 23, 0, tzinfo=UTC),
                  datetime(9000, 1, 1, tzinfo=UTC)):
        with pytest.raises(ValidationError) as refused:
            checked_now(_FixedClock(wrong))
        assert (refused.value.path, refused.value.value) == ("clock.now()", wrong)
