"""The engine's shortcuts decide exactly what the plain rules decide.

Each test runs a fast path next to the plain rule it stands in for, on random inputs
chosen to sit on the rules' edges: amounts equal in value but not in form, several
currencies and kinds, instants around month and day boundaries in zones with
half-hour and quarter-hour offsets and daylight saving.
"""

from __future__ import annotations

import gc
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile import Reconciliation, Record, Rejected, Rules, reconcile
from orderkit.reconcile.classify import PeriodOf, WholeDays, classify_pair
from orderkit.reconcile.engine import _subset
from orderkit.testing.reconcile import outcome_signature

ZONES = ["Asia/Shanghai", "UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York"]
#: Around the end of February and of March (a DST switch in New York on 8 March).
EDGES = [datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 8, 6, tzinfo=UTC)]

instants = st.builds(
    lambda edge, seconds: edge + timedelta(seconds=seconds),
    st.sampled_from(EDGES),
    st.integers(-3 * 86400, 3 * 86400),
)


# --- accounting periods ---------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    moments=st.lists(instants, max_size=40),
    tz=st.sampled_from(ZONES),
    period=st.sampled_from(["day", "month"]),
)
def test_whole_day_periods_agree_with_the_instant_rule_wherever_they_answer(
    moments: list[datetime], tz: str, period: str
) -> None:
    days = PeriodOf(tz, period).whole_days(-1)
    plain = PeriodOf(tz, period)
    for at in moments:
        value = days[at.toordinal()]
        assert value == -1 or value == plain(at)


def test_whole_day_periods_answer_far_from_month_edges_and_not_across_them() -> None:
    shanghai = PeriodOf("Asia/Shanghai", "month")
    assert shanghai.whole_day(datetime(2026, 2, 16).toordinal()) == 2026 * 12 + 2
    assert shanghai.whole_day(datetime(2026, 2, 1).toordinal()) == 2026 * 12 + 2
    # 28 Feb 16:00 UTC is 1 March in Shanghai: that UTC day holds two months.
    assert shanghai.whole_day(datetime(2026, 2, 28).toordinal()) is None
    assert PeriodOf("UTC", "day").whole_day(datetime(2026, 2, 28).toordinal()) == (
        datetime(2026, 2, 28).toordinal()
    )
    assert PeriodOf("Asia/Kathmandu", "day").whole_day(datetime(2026, 2, 16).toordinal()) is None


def test_whole_day_at_the_end_of_the_calendar_defers_to_the_instant_rule() -> None:
    # 23:45 UTC on the last day would be in the year 10000 in Shanghai.
    last = datetime(9999, 12, 31, 1, tzinfo=UTC)
    periods = PeriodOf("Asia/Shanghai", "day")
    assert periods.whole_days(-1)[last.toordinal()] == -1
    assert periods(last) == last.toordinal()


def test_period_of_an_instant_before_1970_uses_its_own_quarter_hour() -> None:
    # One microsecond before midnight UTC is still the previous day in UTC.
    at = datetime(1969, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
    assert PeriodOf("UTC", "day")(at) == at.toordinal()


# --- the exact pass: column test against the checked classification -----------------

T0 = datetime(2026, 2, 27, 12, tzinfo=UTC)
REFS = ["SO20260227000001", "SO20260227000002", "SO20260227000003", "SO20260227000004"]
AMOUNTS = ["10.00", "10.0", "10", "10.01", "20.00", "-5.00", "0.60000", "99.99"]


@st.composite
def sides(draw: st.DrawFn) -> tuple[list[Record | Rejected], list[Record | Rejected]]:
    """Two sides whose records mostly share refs, so the exact pass pairs most of them."""
    out: tuple[list[Record | Rejected], list[Record | Rejected]] = ([], [])
    for side, source in ((0, "erp"), (1, "bank")):
        for n in range(draw(st.integers(0, 10))):
            out[side].append(
                Record(
                    source,
                    f"{source}-{n}",
                    draw(st.sampled_from(REFS)),
                    Money(
                        draw(st.sampled_from(AMOUNTS)), draw(st.sampled_from(["CNY", "CNY", "USD"]))
                    ),
                    T0 + timedelta(minutes=15 * draw(st.integers(-4 * 24 * 4, 4 * 24 * 4))),
                    kind=draw(st.sampled_from(["sale", "sale", "sale", "refund", "fee"])),
                )
            )
    return out


class _NoWholeDays(WholeDays):
    """A day table that knows no day: every period question goes to the instant rule."""

    def __missing__(self, ordinal: int) -> int:
        return self._unknown  # each side's table has its own: they never compare equal


def _no_whole_days(self: PeriodOf, unknown: int) -> WholeDays:
    return _NoWholeDays(self, unknown)


@settings(max_examples=200, deadline=None)
@given(
    data=sides(),
    tz=st.sampled_from(ZONES),
    period=st.sampled_from(["day", "month"]),
)
def test_exact_pass_gives_the_same_outcomes_and_summary_with_or_without_the_period_tables(
    data: tuple[list[Record | Rejected], list[Record | Rejected]], tz: str, period: str
) -> None:
    left, right = data
    fast = reconcile(left, right, tz=tz, period=period)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PeriodOf, "whole_days", _no_whole_days)
        patch.setattr(PeriodOf, "whole_hours", _no_whole_days)
        checked = reconcile(left, right, tz=tz, period=period)
    assert outcome_signature(fast) == outcome_signature(checked)
    assert fast.summary() == checked.summary()
    # And each exact 1:1 pair has the kind the plain classification gives it.
    periods = PeriodOf(tz, period)
    rules = Rules(tz=tz, period=period)  # type: ignore[arg-type]
    for outcome in fast.outcomes:
        if outcome.rule == "exact_ref" and len(outcome.left) == len(outcome.right) == 1:
            assert outcome.kind == classify_pair(outcome.left, outcome.right, rules, periods)


def test_same_day_same_amount_pairs_are_clean_and_edges_are_checked() -> None:
    def pair(ref: str, erp_at: datetime, bank_at: datetime, erp: str, bank: str) -> list[Record]:
        return [
            Record("erp", f"E-{ref}", ref, Money(erp, "CNY"), erp_at),
            Record("bank", f"B-{ref}", ref, Money(bank, "CNY"), bank_at),
        ]

    mid = datetime(2026, 2, 16, 2, tzinfo=UTC)
    rows = [
        pair("SO1", mid, mid + timedelta(hours=5), "10.00", "10.00"),  # clean
        pair("SO2", mid, mid, "10.00", "10.0"),  # equal value, other form: still clean
        pair("SO3", mid, mid, "10.00", "10.01"),  # rounding
        # 28 Feb 15:00 UTC is 23:00 in Shanghai; 16:30 UTC is already 1 March there.
        pair(
            "SO4",
            datetime(2026, 2, 28, 15, tzinfo=UTC),
            datetime(2026, 2, 28, 16, 30, tzinfo=UTC),
            "10.00",
            "10.00",
        ),
    ]
    result = reconcile([r[0] for r in rows], [r[1] for r in rows])
    assert [(o.status, o.kind) for o in result.outcomes] == [
        ("matched", None),
        ("matched", None),
        ("difference", "rounding"),
        ("difference", "cross_period"),
    ]
    assert result.summary()["by_status"]["matched"]["left_amount"] == {"CNY": "20.00"}  # type: ignore[index]


# --- the summary: one pass against a plain recount of the outcomes -------------------


def _recount(result: Reconciliation) -> tuple[Counter[str], dict[tuple[str, int, str], Decimal]]:
    counts: Counter[str] = Counter()
    sums: dict[tuple[str, int, str], Decimal] = {}
    for outcome in result.outcomes:
        counts[outcome.status] += 1
        if outcome.kind is not None:
            counts["kind:" + outcome.kind] += 1
        for side, records in ((0, outcome.left), (1, outcome.right)):
            for record in records:
                for name in (outcome.status, "kind:" + (outcome.kind or "")):
                    key = (name, side, record.amount.currency)
                    sums[key] = sums.get(key, Decimal(0)) + record.amount.amount
    return counts, sums


@settings(max_examples=150, deadline=None)
@given(data=sides())
def test_summary_counts_and_amounts_equal_a_recount_of_the_outcomes(
    data: tuple[list[Record | Rejected], list[Record | Rejected]],
) -> None:
    result = reconcile(*data)
    summary = result.summary()
    counts, sums = _recount(result)
    # The totals the engine kept as it went equal a recount of the records.
    assert result._amounts == result._recount_amounts()
    by_status: dict[str, dict[str, object]] = summary["by_status"]  # type: ignore[assignment]
    by_kind: dict[str, dict[str, object]] = summary["by_kind"]  # type: ignore[assignment]
    assert {status: body["outcomes"] for status, body in by_status.items()} == {
        status: n for status, n in counts.items() if not status.startswith("kind:")
    }
    assert {kind: body["outcomes"] for kind, body in by_kind.items()} == {
        name[5:]: n for name, n in counts.items() if name.startswith("kind:")
    }
    for name, body in (*by_status.items(), *(("kind:" + k, b) for k, b in by_kind.items())):
        for side, field in ((0, "left_amount"), (1, "right_amount")):
            expected = {c: v for (n, s, c), v in sums.items() if n == name and s == side}
            got = body[field]
            assert isinstance(got, dict)
            assert {c: Decimal(v) for c, v in got.items()} == expected


# --- subset sums --------------------------------------------------------------------


def _plain_subset(
    target: Decimal, candidates: list[tuple[int, Decimal]], max_group: int
) -> tuple[int, ...] | None:
    """Smallest group first, then the first combination in candidate order."""
    for size in range(2, max_group + 1):
        for combo in itertools.combinations(range(len(candidates)), size):
            if sum((candidates[c][1] for c in combo), Decimal(0)) == target:
                return tuple(candidates[c][0] for c in combo)
    return None


@settings(max_examples=300, deadline=None)
@given(
    target=st.sampled_from(
        ["30.00", "30", "12.5", "0.00", "-5.00", "7.123456", "45.00", "60.00", "-10.00"]
    ),
    amounts=st.lists(
        st.sampled_from(["10.00", "20", "12.5", "0.00", "-5.00", "15.00", "2.5", "7.123456"]),
        max_size=8,
    ),
    max_group=st.integers(2, 4),
)
def test_subset_search_finds_the_same_group_as_trying_every_combination(
    target: str, amounts: list[str], max_group: int
) -> None:
    candidates = [(100 + n, Decimal(a)) for n, a in enumerate(amounts)]
    expected = _plain_subset(Decimal(target), candidates, max_group)
    assert _subset(Decimal(target), candidates, max_group) == expected


# --- the run leaves the interpreter as it found it, and still refuses bad input -------


def _one_pair() -> tuple[list[Record], list[Record]]:
    at = datetime(2026, 2, 16, 2, tzinfo=UTC)
    return (
        [Record("erp", "E1", "SO1", Money("10.00", "CNY"), at)],
        [Record("bank", "B1", "SO1", Money("10.00", "CNY"), at)],
    )


def test_cycle_collector_is_restored_after_a_run_and_after_a_refused_input() -> None:
    left, right = _one_pair()
    assert gc.isenabled()
    reconcile(left, right)
    assert gc.isenabled()
    with pytest.raises(ValidationError):
        reconcile([*left, "not a record"], right)  # type: ignore[list-item]
    assert gc.isenabled()
    gc.disable()
    try:
        reconcile(left, right)
        assert not gc.isenabled()  # left as the caller set it
    finally:
        gc.enable()


def test_bad_options_are_refused_before_any_matching() -> None:
    left, right = _one_pair()
    with pytest.raises(ValidationError):
        reconcile(left, right, period="week")
    with pytest.raises(ValidationError):
        reconcile(left, right, tz="Mars/Olympus")
    assert gc.isenabled()
