"""The column-wise exact pass pairs and classifies exactly as the plain join does.

The engine's exact pass reads keys, amounts and accounting periods into columns and
settles the plainly clean pairs without reading their records again. These tests run it
next to a plain, record-by-record version of the documented rule on random sides where
clean and unclean pairs mix: amounts equal in value but not in form or not whole minor
units, several currencies (also ones with 0 and 3 decimals), records around month and
day boundaries of the accounting zone, repeated and missing refs, other kinds.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.model.money import Money
from orderkit.reconcile import Reconciliation, Record, Rejected, reconcile
from orderkit.reconcile import engine as engine_module
from orderkit.reconcile.classify import PeriodOf, classify_pair
from orderkit.reconcile.engine import _Engine
from orderkit.testing.reconcile import outcome_signature

ZONES = ["Asia/Shanghai", "UTC", "Asia/Kathmandu", "America/New_York"]
#: Month ends in Shanghai and New York, and a daylight-saving switch in New York.
EDGES = [
    datetime(2026, 2, 28, 16, tzinfo=UTC),
    datetime(2026, 3, 1, 5, tzinfo=UTC),
    datetime(2026, 3, 8, 7, tzinfo=UTC),
]
REFS = [None, "", "  ", "SO1", "SO2", "SO3", "SO4", "SO5", "SO6"]
AMOUNTS = ["10.00", "10.0", "10", "1E+1", "10.01", "0.60000", "0.6", "10.001", "-5.00", "7"]
CURRENCIES = ["CNY", "CNY", "CNY", "USD", "JPY", "KWD"]


class _PlainExact(_Engine):
    """The exact pass as the docs state it, one record at a time.

    A key (the ref for a sale, ``kind + SEP + ref`` otherwise) that occurs once on each
    side is a pair, in left order, with the kind :func:`classify_pair` gives it; a key
    that occurs more than once on the right, or more than once on the left while the
    right has it, goes to the group step, keys in sorted order.
    """

    def exact(self) -> None:
        def key(record: Record) -> str | None:
            if record.ref is None:
                return None
            return record.ref if record.kind == "sale" else record.kind + "\x1f" + record.ref

        left_keys = [key(r) for r in self.left]
        right_keys = [key(r) for r in self.right]
        on_left = Counter(k for k in left_keys if k is not None)
        on_right = Counter(k for k in right_keys if k is not None)
        single = {k: j for j, k in enumerate(right_keys) if k is not None and on_right[k] == 1}
        for i, k in enumerate(left_keys):
            if k is None or k not in single or on_left[k] != 1:
                continue
            j = single[k]
            record, other = self.left[i], self.right[j]
            self.left_open[i] = 0
            self.right_open[j] = 0
            kind = classify_pair((record,), (other,), self.rules, self.period_of)
            if kind is None:
                money = record.amount
                totals = self.clean_totals
                totals[money.currency] = totals.get(money.currency, Decimal(0)) + money.amount
            else:
                self.pair_kind[len(self.pair_left)] = kind
                engine_module._add_pair(self.pair_amounts, kind, record.amount, other.amount)
            self.pair_left.append(i)
            self.pair_right.append(j)
        grouped = sorted(k for k in on_right if on_right[k] > 1 or on_left[k] > 1)
        for k in grouped:
            self._exact_group(
                k,
                [i for i, lk in enumerate(left_keys) if lk == k],
                [j for j, rk in enumerate(right_keys) if rk == k],
            )


def _plain(left: list[Record], right: list[Record], **options: object) -> Reconciliation:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_module, "_Engine", _PlainExact)
        return reconcile(left, right, **options)  # type: ignore[arg-type]


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


def _assert_same(fast: Reconciliation, plain: Reconciliation) -> None:
    assert outcome_signature(fast) == outcome_signature(plain)
    assert fast.summary() == plain.summary()
    assert fast._amounts == plain._amounts
    assert fast._amounts == fast._recount_amounts()
    assert fast.conservation() == plain.conservation()
    assert fast.conservation()["balanced"] is True


@settings(max_examples=400, deadline=None)
@given(
    left=records("erp"),
    right=records("bank"),
    tz=st.sampled_from(ZONES),
    period=st.sampled_from(["day", "month"]),
)
def test_column_pass_gives_the_outcomes_of_the_plain_join(
    left: list[Record], right: list[Record], tz: str, period: str
) -> None:
    fast = reconcile(left, right, tz=tz, period=period)
    _assert_same(fast, _plain(left, right, tz=tz, period=period))


@settings(max_examples=200, deadline=None)
@given(left=records("erp"), right=records("bank"), tz=st.sampled_from(ZONES))
def test_mirrored_and_sale_only_sides_agree_with_the_plain_join(
    left: list[Record], right: list[Record], tz: str
) -> None:
    # Sale-only sides take the path that keys on the ref alone.
    sales_left = [r for r in left if r.kind == "sale"]
    sales_right = [r for r in right if r.kind == "sale"]
    _assert_same(reconcile(sales_left, sales_right, tz=tz), _plain(sales_left, sales_right, tz=tz))
    _assert_same(reconcile(right, left, tz=tz), _plain(right, left, tz=tz))


T0 = datetime(2026, 2, 16, 2, tzinfo=UTC)


def _sale(source: str, record_id: str, ref: str | None, amount: str, at: datetime = T0) -> Record:
    return Record(source, record_id, ref, Money(amount, "CNY"), at)


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
    _assert_same(result, _plain(left, right))
    assert [(o.status, o.kind, o.rule) for o in result.outcomes][:5] == [
        ("matched", None, "exact_ref"),  # SO1
        ("matched", None, "exact_ref"),  # SO2: E2 with B3
        ("difference", "duplicate", "exact_ref"),  # E3
        ("matched", None, "exact_ref"),  # SO3: E4 with B1
        ("difference", "duplicate", "exact_ref"),  # B2
    ]


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
    _assert_same(result, _plain(left, right))
    assert [(o.status, o.kind) for o in result.outcomes] == [
        ("matched", None),
        ("difference", "amount_mismatch"),
        ("matched", None),
        ("difference", "rounding"),
    ]


def test_day_periods_in_a_quarter_hour_zone_use_the_hour_table_and_its_edges() -> None:
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
    _assert_same(result, _plain(left, right, tz="Asia/Kathmandu", period="day"))
    assert [o.kind for o in result.outcomes] == ["cross_period", None, None]


def test_rejected_inputs_and_empty_sides_pass_through_the_column_pass() -> None:
    rejected = Rejected("bank", "bank.csv", 3, "amount", "x", "expected a decimal string")
    left = [_sale("erp", "E1", "SO1", "10.00")]
    for sides in (([], []), (left, []), ([], left), (left, [rejected])):
        result = reconcile(*sides)
        assert result.conservation()["balanced"] is True
        assert result.summary()["records_accounted"] == sum(map(len, sides))


@settings(max_examples=200, deadline=None)
@given(
    moments=st.lists(
        st.builds(
            lambda edge, seconds: edge + timedelta(seconds=seconds),
            st.sampled_from(EDGES),
            st.integers(-2 * 86400, 2 * 86400),
        ),
        max_size=40,
    ),
    tz=st.sampled_from(ZONES),
    period=st.sampled_from(["day", "month"]),
)
def test_period_column_agrees_with_the_instant_rule_wherever_it_answers(
    moments: list[datetime], tz: str, period: str
) -> None:
    plain = PeriodOf(tz, period)
    column = PeriodOf(tz, period).column(moments, -7)
    assert len(column) == len(moments)
    for at, value in zip(moments, column, strict=True):
        assert value == -7 or value == plain(at)


def test_period_column_answers_for_most_hours_of_a_day_in_a_quarter_hour_zone() -> None:
    periods = PeriodOf("Asia/Kathmandu", "day")
    day = datetime(2026, 2, 16, tzinfo=UTC)
    column = periods.column([day + timedelta(hours=h) for h in range(24)], -1)
    # Only the hour holding local midnight (18:15 UTC) is left to the instant rule.
    assert column.count(-1) == 1
    assert column[18] == -1
