"""Amount-and-time and subset-sum passes against a plain reference written here.

One bank credit without a reference against a handful of ERP orders: the reference
below states the rules as the docs do (the only order within the tolerance and the
window takes the credit by amount and time; two or more such orders make the credit and
each of them a suggestion, never a match; otherwise the one group among the
``max_candidates`` orders nearest in time whose amounts add up to the credit, and when
two or more groups do, a suggestion naming them) and tries every combination. Times
are coarse, so ties in time are common.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.model.money import Money
from orderkit.reconcile import Record, reconcile

T0 = datetime(2026, 2, 16, 2, tzinfo=UTC)
AMOUNTS = ["10.00", "20", "12.5", "0.00", "-5.00", "15.00", "2.5", "7.123456", "30.00"]
TARGETS = ["30.00", "30", "12.5", "0.00", "-5.00", "7.123456", "45.00", "60.00", "22.50"]


def plain_group(
    erp: list[Record], credit: Record, window: timedelta, max_group: int, limit: int
) -> tuple[str, list[str]] | None:
    target = credit.amount.amount
    close = [
        record.record_id
        for record in erp
        if abs(record.amount.amount - target) <= Decimal("0.01")
        and abs(record.at - credit.at) <= window
    ]
    if len(close) == 1:
        return "amount_time", close
    if close:
        return "suggestion", sorted(close)
    nearest = sorted(
        (abs(r.at - credit.at), r.at, r.record_id, r.amount.amount)
        for r in erp
        if abs(r.at - credit.at) <= window
    )[:limit]
    if len(nearest) < 2:
        return None
    groups = [
        sorted(record_id for _d, _at, record_id, _a in combo)
        for size in range(2, max_group + 1)
        for combo in itertools.combinations(nearest, size)
        if sum((amount for *_rest, amount in combo), Decimal(0)) == target
        and all(amount for *_rest, amount in combo)  # a zero adds nothing to a group
    ]
    if len(groups) == 1:
        return "subset_sum", groups[0]
    if groups:
        return "ambiguous_groups", sorted({record_id for group in groups for record_id in group})
    return None


@settings(max_examples=400, deadline=None)
@given(
    orders=st.lists(st.tuples(st.sampled_from(AMOUNTS), st.integers(0, 40)), max_size=9),
    target=st.sampled_from(TARGETS),
    credit_minute=st.integers(0, 40),
    window=st.integers(0, 15),
    max_group=st.integers(2, 4),
    limit=st.integers(2, 6),
    order=st.randoms(use_true_random=False),
)
def test_one_credit_is_paired_or_grouped_as_the_plain_rule_says(
    orders: list[tuple[str, int]],
    target: str,
    credit_minute: int,
    window: int,
    max_group: int,
    limit: int,
    order: random.Random,
) -> None:
    erp = [
        Record("erp", f"E{n}", f"SO{n}", Money(amount, "CNY"), T0 + timedelta(minutes=minute))
        for n, (amount, minute) in enumerate(orders)
    ]
    credit = Record("bank", "B1", None, Money(target, "CNY"), T0 + timedelta(minutes=credit_minute))
    shuffled = erp[:]
    order.shuffle(shuffled)
    result = reconcile(
        shuffled,
        [credit],
        time_window=timedelta(minutes=window),
        max_group=max_group,
        max_candidates=limit,
    )
    grouped = [o for o in result.outcomes if o.right]
    assert len(grouped) == 1
    (outcome,) = grouped
    expected = plain_group(erp, credit, timedelta(minutes=window), max_group, limit)
    if expected is None:
        assert (outcome.status, outcome.kind, outcome.left) == ("unmatched", "missing_left", ())
    elif expected[0] == "suggestion":
        assert (outcome.status, outcome.rule, outcome.left) == ("suggestion", "amount_time", ())
        assert sorted(dict(outcome.evidence)["candidates"].split(",")) == expected[1]
        for order_id in expected[1]:
            (mine,) = [o for o in result.outcomes if [r.record_id for r in o.left] == [order_id]]
            assert (mine.status, dict(mine.evidence)["candidates"]) == ("suggestion", "B1")
    elif expected[0] == "ambiguous_groups":
        # Two or more groups add up: a suggestion naming them, each record of the groups
        # named (the first few groups only, when there are more).
        assert (outcome.status, outcome.rule, outcome.left) == ("suggestion", "subset_sum", ())
        named = dict(outcome.evidence)["candidates"].split(",")
        assert set(named) <= set(expected[1])
        assert len(dict(outcome.evidence)["groups"].split(" | ")) >= 2
        for order_id in named:
            (mine,) = [o for o in result.outcomes if [r.record_id for r in o.left] == [order_id]]
            assert (mine.status, dict(mine.evidence)["candidates"]) == ("suggestion", "B1")
    else:
        rule, members = expected
        assert outcome.rule == rule
        assert sorted(r.record_id for r in outcome.left) == members
        assert outcome.status in ("matched", "difference")
    # Whatever is left is reported in time order, then record id, whatever the input order.
    alone = [o.left[0] for o in result.outcomes if o.left and o.status == "unmatched"]
    assert alone == sorted(alone, key=lambda r: (r.at, r.record_id))
    assert result.conservation()["balanced"] is True
