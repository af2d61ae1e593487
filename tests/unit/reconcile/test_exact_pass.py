"""The exact-reference pass against a plain reference written here, record by record.

The engine settles most records in one column-wise pass. These tests hold it to the rule
as the docs state it, implemented below in the plainest way (a key per record, a count
per side, the difference-kind ladder, each period from converting the instant itself),
on random sides where clean and unclean pairs mix: amounts equal in value but not in
form or not whole minor units, several currencies (also ones with 0 and 3 decimals),
instants around month and day boundaries of the accounting zone (half-hour,
quarter-hour and daylight-saving offsets), refs repeated on either side or missing,
other kinds. Only the public API is used.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile import Reconciliation, Record, Rejected, Rules, reconcile
from orderkit.reconcile.classify import PeriodOf

ZONES = ["Asia/Shanghai", "UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York"]
#: Month ends in Shanghai and New York, and a daylight-saving switch in New York.
EDGES = [
    datetime(2026, 2, 28, 16, tzinfo=UTC),
    datetime(2026, 3, 1, 5, tzinfo=UTC),
    datetime(2026, 3, 8, 7, tzinfo=UTC),
]
REFS = [None, "", "  ", "SO1", "SO2", "SO3", "SO4", "SO5", "SO6"]
AMOUNTS = ["10.00", "10.0", "10", "1E+1", "10.01", "0.60000", "0.6", "10.001", "-5.00", "7"]
CURRENCIES = ["CNY", "CNY", "CNY", "USD", "JPY", "KWD"]


# --- the reference ----------------------------------------------------------------------


def plain_period(at: datetime, tz: str, period: str) -> int:
    local = at.astimezone(ZoneInfo(tz))
    return local.year * 12 + local.month if period == "month" else local.toordinal()


def plain_kind(left: Record, right: Record, rules: Rules) -> str | None:
    """The difference-kind ladder of the docs for one record a side."""
    if left.amount.currency != right.amount.currency:
        return "amount_mismatch"
    delta = right.amount.amount - left.amount.amount
    if delta:
        return (
            "rounding"
            if abs(delta) <= rules.tolerance(left.amount.currency)
            else ("amount_mismatch")
        )
    if left.kind == "refund" and abs(right.at - left.at) > rules.refund_delay:
        return "delayed_refund"
    if plain_period(left.at, rules.tz, rules.period) != plain_period(
        right.at, rules.tz, rules.period
    ):
        return "cross_period"
    return None


def plain_exact_pairs(
    left: list[Record], right: list[Record], rules: Rules
) -> dict[tuple[str, str], str | None]:
    """Each key (kind and ref) that occurs exactly once on each side is a pair."""

    def key(record: Record) -> tuple[str, str] | None:
        return None if record.ref is None else (record.kind, record.ref)

    on_left = Counter(key(r) for r in left)
    on_right = Counter(key(r) for r in right)
    right_of = {key(r): r for r in right}
    pairs: dict[tuple[str, str], str | None] = {}
    for record in left:
        k = key(record)
        if k is not None and on_left[k] == 1 and on_right[k] == 1:
            other = right_of[k]
            pairs[(record.record_id, other.record_id)] = plain_kind(record, other, rules)
    return pairs


def engine_exact_pairs(result: Reconciliation) -> dict[tuple[str, str], str | None]:
    """The engine's exact-reference pairs whose key occurs once on each side."""
    keys = Counter(
        (side, r.kind, r.ref)
        for side, records in ((0, result.left), (1, result.right))
        for r in records
        if r.ref is not None
    )
    pairs: dict[tuple[str, str], str | None] = {}
    for outcome in result.outcomes:
        if outcome.rule != "exact_ref" or len(outcome.left) != 1 or len(outcome.right) != 1:
            continue
        record, other = outcome.left[0], outcome.right[0]
        if keys[(0, record.kind, record.ref)] == 1 and keys[(1, other.kind, other.ref)] == 1:
            assert outcome.status == ("matched" if outcome.kind is None else "difference")
            pairs[(record.record_id, other.record_id)] = outcome.kind
    return pairs


def recount(result: Reconciliation) -> tuple[Counter[str], dict[tuple[str, int, str], Decimal]]:
    """Counts and amounts by status and by kind, from the outcomes."""
    counts: Counter[str] = Counter()
    sums: dict[tuple[str, int, str], Decimal] = {}
    for outcome in result.outcomes:
        counts[outcome.status] += 1
        if outcome.kind is not None:
            counts["kind:" + outcome.kind] += 1
        names = [outcome.status] + ([] if outcome.kind is None else ["kind:" + outcome.kind])
        for side, records in ((0, outcome.left), (1, outcome.right)):
            for record in records:
                for name in names:
                    key = (name, side, record.amount.currency)
                    sums[key] = sums.get(key, Decimal(0)) + record.amount.amount
    return counts, sums


def assert_summary_is_a_recount(result: Reconciliation) -> None:
    summary = result.summary()
    counts, sums = recount(result)
    by_status: dict[str, dict[str, object]] = summary["by_status"]  # type: ignore[assignment]
    by_kind: dict[str, dict[str, object]] = summary["by_kind"]  # type: ignore[assignment]
    assert {status: body["outcomes"] for status, body in by_status.items()} == {
        name: n for name, n in counts.items() if not name.startswith("kind:")
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
    assert result.conservation()["balanced"] is True


# --- random sides -----------------------------------------------------------------------


@st.composite
def records(draw: st.DrawFn, source: str) -> list[Record]:
    out = []
    for n in range(draw(st.integers(0, 14))):
        at = draw(st.sampled_from(EDGES)) + timedelta(
            minutes=draw(st.integers(-3 * 24 * 4, 3 * 24 * 4)) * 15,
            seconds=draw(st.sampled_from([0, 0, 1, 899])),
        )
        out.append(
            Record(
                source,
                f"{source}-{n}",
                draw(st.sampled_from(REFS)),
                Money(draw(st.sampled_from(AMOUNTS)), draw(st.sampled_from(CURRENCIES))),
                at,
                kind=draw(st.sampled_from(["sale", "sale", "sale", "sale", "refund", "fee"])),
            )
        )
    return out


@settings(max_examples=400, deadline=None)
@given(
    left=records("erp"),
    right=records("bank"),
    tz=st.sampled_from(ZONES),
    period=st.sampled_from(["day", "month"]),
    refund_delay=st.sampled_from([timedelta(minutes=15), timedelta(days=1), timedelta(days=7)]),
)
def test_exact_pass_pairs_and_classifies_as_the_plain_reference(
    left: list[Record], right: list[Record], tz: str, period: str, refund_delay: timedelta
) -> None:
    result = reconcile(left, right, tz=tz, period=period, refund_delay=refund_delay)
    rules = Rules(tz=tz, period=period, refund_delay=refund_delay)  # type: ignore[arg-type]
    assert engine_exact_pairs(result) == plain_exact_pairs(left, right, rules)
    assert_summary_is_a_recount(result)


@settings(max_examples=200, deadline=None)
@given(left=records("erp"), right=records("bank"), tz=st.sampled_from(ZONES))
def test_mirrored_and_sale_only_sides_agree_with_the_plain_reference(
    left: list[Record], right: list[Record], tz: str
) -> None:
    rules = Rules(tz=tz)
    sales_left = [r for r in left if r.kind == "sale"]
    sales_right = [r for r in right if r.kind == "sale"]
    for one, other in ((sales_left, sales_right), (right, left)):
        result = reconcile(one, other, tz=tz)
        assert engine_exact_pairs(result) == plain_exact_pairs(one, other, rules)
        assert_summary_is_a_recount(result)


@settings(max_examples=300, deadline=None)
@given(
    moments=st.lists(
        st.one_of(
            st.builds(
                lambda edge, seconds: edge + timedelta(seconds=seconds),
                st.sampled_from(EDGES),
                st.integers(-2 * 86400, 2 * 86400),
            ),
            # Local mean time: offsets that are not whole minutes (Shanghai before 1901).
            st.datetimes(
                min_value=datetime(1890, 1, 1),
                max_value=datetime(1910, 1, 1),
                timezones=st.just(UTC),
            ),
        ),
        max_size=40,
    ),
    tz=st.sampled_from(ZONES),
    period=st.sampled_from(["day", "month"]),
)
def test_period_of_an_instant_is_that_of_converting_it(
    moments: list[datetime], tz: str, period: str
) -> None:
    periods = PeriodOf(tz, period)
    expected = [plain_period(at, tz, period) for at in moments]
    assert periods.column(moments) == expected
    assert [periods(at) for at in moments] == expected
    assert [PeriodOf(tz, period)(at.astimezone(ZoneInfo(tz))) for at in moments] == expected


# --- stories ----------------------------------------------------------------------------

T0 = datetime(2026, 2, 16, 2, tzinfo=UTC)


def _sale(source: str, record_id: str, ref: str | None, amount: str, at: datetime = T0) -> Record:
    return Record(source, record_id, ref, Money(amount, "CNY"), at)


def test_same_day_same_amount_pairs_are_clean_and_edges_are_classified() -> None:
    mid = datetime(2026, 2, 16, 2, tzinfo=UTC)
    rows = [
        ("SO1", mid, mid + timedelta(hours=5), "10.00", "10.00"),  # clean
        ("SO2", mid, mid, "10.00", "10.0"),  # equal value, other form: still clean
        ("SO3", mid, mid, "10.00", "10.01"),  # rounding
        # 28 Feb 15:00 UTC is 23:00 in Shanghai; 16:30 UTC is already 1 March there.
        (
            "SO4",
            datetime(2026, 2, 28, 15, tzinfo=UTC),
            datetime(2026, 2, 28, 16, 30, tzinfo=UTC),
            "10.00",
            "10.00",
        ),
    ]
    result = reconcile(
        [_sale("erp", f"E-{ref}", ref, erp, erp_at) for ref, erp_at, _b, erp, _m in rows],
        [_sale("bank", f"B-{ref}", ref, bank, bank_at) for ref, _e, bank_at, _a, bank in rows],
    )
    assert [(o.status, o.kind) for o in result.outcomes] == [
        ("matched", None),
        ("matched", None),
        ("difference", "rounding"),
        ("difference", "cross_period"),
    ]
    assert result.summary()["by_status"]["matched"]["left_amount"] == {"CNY": "20.00"}  # type: ignore[index]


def test_a_ref_entered_twice_on_either_side_goes_to_the_group_step() -> None:
    left = [
        _sale("erp", "E1", "SO1", "10.00"),
        _sale("erp", "E2", "SO2", "20.00"),
        _sale("erp", "E3", "SO2", "20.00", T0 + timedelta(minutes=1)),  # entered twice
        _sale("erp", "E4", "SO3", "30.00"),
    ]
    right = [
        _sale("bank", "B1", "SO3", "30.00"),
        _sale("bank", "B2", "SO3", "30.00", T0 + timedelta(minutes=1)),  # paid twice
        _sale("bank", "B3", "SO2", "20.00"),
        _sale("bank", "B4", "SO1", "10.00"),
        _sale("bank", "B5", None, "99.00"),
    ]
    result = reconcile(left, right)
    assert_summary_is_a_recount(result)
    assert [(o.status, o.kind, o.rule) for o in result.outcomes][:5] == [
        ("matched", None, "exact_ref"),  # SO1
        ("matched", None, "exact_ref"),  # SO2: E2 with B3
        ("difference", "duplicate", "exact_ref"),  # E3
        ("matched", None, "exact_ref"),  # SO3: E4 with B1
        ("difference", "duplicate", "exact_ref"),  # B2
    ]


def test_order_entered_twice_in_erp_is_a_duplicate_not_a_second_match() -> None:
    erp = [
        _sale("erp", "E1", "SO20260216000001", "10.00"),
        _sale("erp", "E2", "SO20260216000002", "20.00"),
        _sale("erp", "E3", "SO20260216000001", "10.00", T0 + timedelta(minutes=5)),
    ]
    bank = [
        _sale("bank", "B2", "SO20260216000002", "20.00", T0 + timedelta(hours=1)),
        _sale("bank", "B1", "SO20260216000001", "10.00", T0 + timedelta(hours=1)),
    ]
    result = reconcile(erp, bank)
    got = sorted(
        (o.status, o.kind, [r.record_id for r in o.left], [r.record_id for r in o.right])
        for o in result.outcomes
    )
    assert got == [
        ("difference", "duplicate", ["E3"], []),
        ("matched", None, ["E1"], ["B1"]),
        ("matched", None, ["E2"], ["B2"]),
    ]
    assert result.summary()["records_accounted"] == 5
    assert result.conservation()["balanced"] is True


def test_equal_values_in_other_forms_and_currencies_are_checked_not_assumed() -> None:
    left = [
        _sale("erp", "E1", "SO1", "10.00"),
        Record("erp", "E2", "SO2", Money("10", "JPY"), T0),
        Record("erp", "E3", "SO3", Money("0.60000", "CNY"), T0),
        Record("erp", "E4", "SO4", Money("1.000", "KWD"), T0),
    ]
    right = [
        _sale("bank", "B1", "SO1", "1E+1"),  # equal value, other form: clean
        Record("bank", "B2", "SO2", Money("10", "USD"), T0),  # same number, other currency
        Record("bank", "B3", "SO3", Money("0.6", "CNY"), T0),  # not whole fen, equal value
        Record("bank", "B4", "SO4", Money("1.001", "KWD"), T0),  # one fils apart
    ]
    result = reconcile(left, right)
    assert_summary_is_a_recount(result)
    assert [(o.status, o.kind) for o in result.outcomes] == [
        ("matched", None),
        ("difference", "amount_mismatch"),
        ("matched", None),
        ("difference", "rounding"),
    ]


def test_day_periods_in_a_quarter_hour_zone_are_decided_at_local_midnight() -> None:
    # Kathmandu is UTC+05:45: local midnight falls at 18:15 UTC, inside a UTC hour.
    left = [
        _sale("erp", "E1", "SO1", "10.00", datetime(2026, 2, 16, 18, 0, tzinfo=UTC)),
        _sale("erp", "E2", "SO2", "10.00", datetime(2026, 2, 16, 18, 10, tzinfo=UTC)),
        _sale("erp", "E3", "SO3", "10.00", datetime(2026, 2, 16, 6, 0, tzinfo=UTC)),
    ]
    right = [
        _sale("bank", "B1", "SO1", "10.00", datetime(2026, 2, 16, 18, 20, tzinfo=UTC)),
        _sale("bank", "B2", "SO2", "10.00", datetime(2026, 2, 16, 18, 14, tzinfo=UTC)),
        _sale("bank", "B3", "SO3", "10.00", datetime(2026, 2, 16, 17, 0, tzinfo=UTC)),
    ]
    result = reconcile(left, right, tz="Asia/Kathmandu", period="day")
    assert [o.kind for o in result.outcomes] == ["cross_period", None, None]


def test_rejected_inputs_and_empty_sides_are_accounted_for() -> None:
    rejected = Rejected("bank", "bank.csv", 3, "amount", "x", "expected a decimal string")
    left = [_sale("erp", "E1", "SO1", "10.00")]
    for sides in (([], []), (left, []), ([], left), (left, [rejected])):
        result = reconcile(*sides)
        assert result.conservation()["balanced"] is True
        assert result.summary()["records_accounted"] == sum(map(len, sides))


def test_bad_options_are_refused_before_any_matching() -> None:
    left = [_sale("erp", "E1", "SO1", "10.00")]
    with pytest.raises(ValidationError):
        reconcile(left, left, period="week")
    with pytest.raises(ValidationError):
        reconcile(left, left, tz="Mars/Olympus")
