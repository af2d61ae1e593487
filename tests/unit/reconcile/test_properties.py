"""Conservation: whatever the input, every record ends in exactly one outcome."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.model.money import Money
from orderkit.reconcile import STATUSES, Record, Rejected, reconcile
from orderkit.reconcile.figures import in_places

T0 = datetime(2026, 2, 27, tzinfo=UTC)
REFS = [None, "SO20260227000001", "SO20260227000002", "SO20260227000003", "3698512204871532841"]
KINDS = ["sale", "sale", "sale", "refund", "fee", "subsidy", "adjustment"]
AMOUNTS = ["0.01", "10.00", "10.01", "20.00", "30.00", "-5.00", "-0.60000", "99.99"]
MEMOS = [
    "",
    "",
    "货款 SO 2026 0227 000001",
    "SO20260227000002/SO20260227000003",
    "3698512204871532841",
]


@st.composite
def records(draw: st.DrawFn, source: str) -> list[Record | Rejected]:
    count = draw(st.integers(min_value=0, max_value=14))
    out: list[Record | Rejected] = []
    for n in range(count):
        if draw(st.integers(0, 19)) == 0:
            out.append(Rejected(source, f"{source}.csv", n + 2, "amount", "x", "bad amount"))
            continue
        out.append(
            Record(
                source,
                f"{source}-{n}",
                draw(st.sampled_from(REFS)),
                Money(draw(st.sampled_from(AMOUNTS)), draw(st.sampled_from(["CNY", "CNY", "USD"]))),
                T0 + timedelta(hours=draw(st.integers(0, 24 * 6))),
                memo=draw(st.sampled_from(MEMOS)),
                kind=draw(st.sampled_from(KINDS)),
                links=tuple(
                    draw(st.lists(st.sampled_from(["SO20260227000001", "STL-1"]), max_size=2))
                ),
            )
        )
    return out


@settings(max_examples=150, deadline=None)
@given(
    left=records("erp"),
    right=records("bank"),
    cutoff=st.none() | st.just(T0 + timedelta(days=5)),
    period=st.sampled_from(["day", "month"]),
)
def test_every_input_is_in_exactly_one_outcome_and_amounts_are_conserved(
    left: list[Record | Rejected],
    right: list[Record | Rejected],
    cutoff: datetime | None,
    period: str,
) -> None:
    result = reconcile(left, right, cutoff=cutoff, period=period)
    seen: Counter[int] = Counter()
    for outcome in result.outcomes:
        assert outcome.status in STATUSES
        assert all(r.source == "erp" for r in outcome.left)
        assert all(r.source == "bank" for r in outcome.right)
        for item in (*outcome.left, *outcome.right):
            seen[id(item)] += 1
        if outcome.rejected is not None:
            seen[id(outcome.rejected)] += 1
        if outcome.status in ("matched", "suggestion", "rejected"):
            assert outcome.kind is None
        else:
            assert outcome.kind is not None
    inputs = [id(item) for item in (*left, *right)]
    assert sorted(seen) == sorted(inputs)
    assert set(seen.values()) <= {1}

    amount_in: dict[str, Decimal] = {}
    for entry in (*left, *right):
        if isinstance(entry, Record):
            amount_in[entry.amount.currency] = (
                amount_in.get(entry.amount.currency, Decimal(0)) + entry.amount.amount
            )
    accounted: dict[str, Decimal] = {}
    for outcome in result.outcomes:
        for member in outcome.records:
            accounted[member.amount.currency] = (
                accounted.get(member.amount.currency, Decimal(0)) + member.amount.amount
            )
    assert accounted == amount_in

    summary = result.summary()
    assert summary["records_accounted"] == len(left) + len(right)
    # Exact, written to the currency's places (a five-decimal bill line is 0.60, not 0.60000).
    expected = {c: str(in_places(value, c)) for c, value in sorted(amount_in.items())}
    conservation = result.conservation()
    assert conservation["balanced"] is True
    assert conservation["amount_in"] == conservation["amount_accounted"] == expected
    # The summary's amounts by status (kept incrementally by the engine) add up too.
    by_status: dict[str, Decimal] = {}
    for body in summary["by_status"].values():  # type: ignore[attr-defined]
        for side in ("left_amount", "right_amount"):
            for currency, value in body[side].items():
                by_status[currency] = by_status.get(currency, Decimal(0)) + Decimal(value)
    assert by_status == amount_in


@settings(max_examples=60, deadline=None)
@given(left=records("erp"), right=records("bank"), seed=st.randoms(use_true_random=False))
def test_outcomes_do_not_depend_on_input_order(
    left: list[Record | Rejected], right: list[Record | Rejected], seed: random.Random
) -> None:
    def signature(
        left_items: list[Record | Rejected], right_items: list[Record | Rejected]
    ) -> Counter[tuple[object, ...]]:
        return Counter(
            (
                o.status,
                o.kind,
                o.rule,
                tuple(sorted(r.record_id for r in o.left)),
                tuple(sorted(r.record_id for r in o.right)),
            )
            for o in reconcile(left_items, right_items).outcomes
            if o.rejected is None
        )

    shuffled_left, shuffled_right = left[:], right[:]
    seed.shuffle(shuffled_left)
    seed.shuffle(shuffled_right)
    assert signature(left, right) == signature(shuffled_left, shuffled_right)


def _decoys(source: str) -> list[Record | Rejected]:
    """One record of every kind that nothing can pair with: no ref, link or memo, a
    currency the other records never use, and a time far past the rest (so it sorts
    last among the lone records of its side)."""
    far = T0 + timedelta(days=400)
    return [
        Record(source, f"{source}-decoy-{kind}", None, Money("12345.67", "EUR"), far, kind=kind)
        for kind in sorted(set(KINDS))
    ]


@settings(max_examples=150, deadline=None)
@given(
    left=records("erp"),
    right=records("bank"),
    cutoff=st.none() | st.just(T0 + timedelta(days=5)),
)
def test_setting_aside_what_no_pass_can_pair_changes_no_outcome(
    left: list[Record | Rejected], right: list[Record | Rejected], cutoff: datetime | None
) -> None:
    """The engine closes, right after the exact pass, the records whose kind has no open
    record on the other side (unless an id ties them to a batch). With a lone decoy of
    every kind on both sides nothing qualifies, so every record goes through every pass:
    the outcomes of the real records must be the same either way, in the same order."""

    def shapes(result_left: list[Record | Rejected], result_right: list[Record | Rejected]) -> list[
        tuple[object, ...]
    ]:
        return [
            (
                o.status,
                o.kind,
                o.rule,
                o.evidence,
                tuple(r.record_id for r in o.left),
                tuple(r.record_id for r in o.right),
                tuple(r.record_id for r in o.related),
            )
            for o in reconcile(result_left, result_right, cutoff=cutoff).outcomes
            if not any("decoy" in r.record_id for r in o.records)
        ]

    assert shapes(left, right) == shapes([*left, *_decoys("erp")], [*right, *_decoys("bank")])
