"""Each matching pass, from the month-end stories finance tells."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile import Outcome, Reconciliation, Record, extract_refs, reconcile
from orderkit.testing.reconcile import outcome_signature

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def rec(
    source: str,
    record_id: str,
    ref: str | None,
    amount: str,
    minutes: int = 0,
    **fields: Any,
) -> Record:
    return Record(
        source, record_id, ref, Money(amount, "CNY"), T0 + timedelta(minutes=minutes), **fields
    )


def only(result: Reconciliation, status: str | None = None) -> list[Outcome]:
    return [o for o in result.outcomes if status is None or o.status == status]


def ids(records: tuple[Record, ...]) -> list[str]:
    return [r.record_id for r in records]


# --- pass 1: exact ref --------------------------------------------------------------------


def test_erp_order_matches_bank_credit_with_the_same_recon_id() -> None:
    erp = [rec("erp", "E1", "SO20260216000892", "170.00")]
    bank = [rec("bank", "B1", "SO20260216000892", "170.00", minutes=900)]
    (outcome,) = reconcile(erp, bank).outcomes
    assert (outcome.status, outcome.kind, outcome.rule) == ("matched", None, "exact_ref")
    assert ids(outcome.left) == ["E1"] and ids(outcome.right) == ["B1"]
    assert [str(step) for step in outcome.trace] == ["erp:E1 (+00:00:00)", "bank:B1 (+15:00:00)"]


def test_sale_and_refund_with_the_same_ref_are_paired_separately() -> None:
    erp = [rec("erp", "E1", "SO1", "89.00"), rec("erp", "E1-R", "SO1", "-20.00", 60, kind="refund")]
    gateway = [
        rec("wx", "W1", "SO1", "89.00", 1),
        rec("wx", "W1-R", "SO1", "-20.00", 61, kind="refund"),
    ]
    outcomes = reconcile(erp, gateway).outcomes
    assert sorted((ids(o.left), ids(o.right), o.status) for o in outcomes) == [
        (["E1"], ["W1"], "matched"),
        (["E1-R"], ["W1-R"], "matched"),
    ]


def test_order_paid_in_two_bank_credits_is_a_split_payment() -> None:
    erp = [rec("erp", "E1", "SO1", "300.00")]
    bank = [rec("bank", "B1", "SO1", "100.00", 30), rec("bank", "B2", "SO1", "200.00", 40)]
    (outcome,) = reconcile(erp, bank).outcomes
    assert (outcome.status, outcome.rule) == ("matched", "split_payment")
    assert ids(outcome.right) == ["B1", "B2"]


# --- pass 2: refs in memos ----------------------------------------------------------------


def test_bank_memo_with_spaces_matches_order() -> None:
    erp = [rec("erp", "E1", "SO20260216000892", "170.00")]
    bank = [rec("bank", "B1", None, "170.00", 600, memo="货款 SO 2026 0216 000892")]
    (outcome,) = reconcile(erp, bank).outcomes
    assert (outcome.status, outcome.rule) == ("matched", "memo_ref")
    assert dict(outcome.evidence)["tokens"] == "SO20260216000892"


def test_bank_memo_in_full_width_digits_matches_order() -> None:
    erp = [rec("erp", "E1", "SO20260216000893", "45.50")]
    bank = [rec("bank", "B1", None, "45.50", 600, memo="付款ＳＯ２０２６０２１６０００８９３")]
    (outcome,) = reconcile(erp, bank).outcomes
    assert (outcome.status, outcome.rule) == ("matched", "memo_ref")


def test_bank_memo_with_platform_order_number_matches_through_links() -> None:
    erp = [rec("erp", "E1", "SO1", "99.00", links=("3698512204871532841",))]
    bank = [rec("bank", "B1", None, "99.00", 600, memo="tmall 3698512204871532841")]
    (outcome,) = reconcile(erp, bank).outcomes
    assert (outcome.status, outcome.rule) == ("matched", "memo_ref")


def test_memo_naming_two_orders_is_a_suggestion_never_a_match() -> None:
    erp = [
        rec("erp", "E1", "SO20260216000001", "50.00"),
        rec("erp", "E2", "SO20260216000002", "50.00"),
    ]
    bank = [rec("bank", "B1", None, "50.00", 600, memo="SO20260216000001 / SO20260216000002")]
    result = reconcile(erp, bank, time_window=timedelta(0))
    (suggestion,) = only(result, "suggestion")
    assert ids(suggestion.right) == ["B1"]
    assert dict(suggestion.evidence)["candidates"] == "E1,E2"
    assert not only(result, "matched")


def test_memo_ref_with_a_different_amount_is_a_suggestion() -> None:
    erp = [rec("erp", "E1", "SO20260216000001", "50.00")]
    bank = [rec("bank", "B1", None, "49.70", 600, memo="SO20260216000001")]
    statuses = sorted(o.status for o in reconcile(erp, bank).outcomes)
    assert statuses == ["suggestion", "unmatched"]


def test_extract_refs_finds_recon_ids_and_long_digit_runs() -> None:
    assert extract_refs("ORDER:SO202602-16000123 THANKS")[-3:-2] == ["SO20260216000123"]
    assert "SO20260216000123" in extract_refs("order:SO202602-16000123")
    assert extract_refs("tel 1234567") == []
    assert extract_refs("") == []


# --- pass 3: amount and time window -------------------------------------------------------


def test_cash_deposit_without_ref_matches_by_amount_within_the_window() -> None:
    erp = [rec("erp", "E1", "SO1", "268.00")]
    bank = [rec("bank", "B1", None, "268.00", 120, memo="cash")]
    (outcome,) = reconcile(erp, bank).outcomes
    assert (outcome.status, outcome.rule) == ("matched", "amount_time")
    assert dict(outcome.evidence)["time_difference"] == "+02:00"
    assert dict(outcome.evidence)["window"] == "2 d 00:00"


def test_a_credit_before_the_order_gives_a_readable_negative_time_difference() -> None:
    erp = [rec("erp", "E1", "SO1", "268.00", 9 * 60)]
    bank = [rec("bank", "B1", None, "268.00", memo="cash")]
    (outcome,) = reconcile(erp, bank).outcomes
    assert dict(outcome.evidence)["time_difference"] == "-09:00"
    later = [rec("bank", "B1", None, "268.00", 9 * 60 + 26 * 60 + 30, memo="cash")]
    (outcome,) = reconcile(erp, later, time_window=timedelta(days=3)).outcomes
    assert dict(outcome.evidence)["time_difference"] == "+1 d 02:30"


def test_amount_match_outside_the_time_window_is_not_paired() -> None:
    erp = [rec("erp", "E1", "SO1", "268.00")]
    bank = [rec("bank", "B1", None, "268.00", 60 * 24 * 5)]
    kinds = sorted(
        o.kind or "" for o in reconcile(erp, bank, time_window=timedelta(days=1)).outcomes
    )
    assert kinds == ["missing_left", "missing_right"]


def test_equal_amounts_within_the_window_are_suggestions_and_a_unique_pair_matches() -> None:
    erp = [rec("erp", "E1", "SO1", "10.00", 0), rec("erp", "E2", "SO2", "10.00", 100)]
    bank = [
        rec("bank", "B9", None, "10.00", 101),
        rec("bank", "B1", None, "10.00", 2),
        rec("bank", "B2", None, "10.00", 2),
    ]
    result = reconcile(erp, bank, time_window=timedelta(minutes=30))
    pairs = {ids(o.left)[0]: ids(o.right)[0] for o in only(result, "matched")}
    assert pairs == {"E2": "B9"}
    suggested = {
        (*ids(o.left), *ids(o.right)): dict(o.evidence)["candidates"]
        for o in only(result, "suggestion")
    }
    assert suggested == {("E1",): "B1,B2", ("B1",): "E1", ("B2",): "E1"}


def test_pairing_does_not_depend_on_input_order() -> None:
    erp = [rec("erp", f"E{n}", f"SO{n % 3}", "10.00", n) for n in range(6)]
    bank = [rec("bank", f"B{n}", None, "10.00", n + 1) for n in range(6)]

    def pairs(left: list[Record], right: list[Record]) -> set[tuple[str, ...]]:
        return {
            (o.status, *ids(o.left), "|", *ids(o.right)) for o in reconcile(left, right).outcomes
        }

    expected = pairs(erp, bank)
    rng = random.Random(5)
    for _ in range(5):
        left, right = erp[:], bank[:]
        rng.shuffle(left)
        rng.shuffle(right)
        assert pairs(left, right) == expected


def test_different_refs_are_never_paired_by_amount() -> None:
    erp = [rec("erp", "E1", "SO1", "10.00")]
    bank = [rec("bank", "B1", "SO2", "10.00", 1)]
    assert {o.kind for o in reconcile(erp, bank).outcomes} == {"missing_left", "missing_right"}


# --- pass 4: one-to-many ------------------------------------------------------------------


def test_settlement_batch_covers_the_orders_it_links() -> None:
    erp = [
        rec("erp", "E1", "SO1", "100.00", links=("STL-0216",)),
        rec("erp", "E2", "SO2", "50.00", links=("STL-0216",)),
    ]
    settlement = [rec("tmall_settlement", "S1", "STL-0216", "150.00", 600)]
    (outcome,) = reconcile(erp, settlement).outcomes
    assert (outcome.status, outcome.rule) == ("matched", "batch")
    assert ids(outcome.left) == ["E1", "E2"]


def test_settlement_listing_its_orders_short_by_a_fee_is_an_amount_mismatch() -> None:
    erp = [rec("erp", "E1", "SO1", "100.00"), rec("erp", "E2", "SO2", "50.00")]
    settlement = [rec("tmall_settlement", "S1", "STL-1", "149.10", 600, links=("SO1", "SO2"))]
    (outcome,) = reconcile(erp, settlement).outcomes
    assert (outcome.status, outcome.kind, outcome.rule) == (
        "difference",
        "amount_mismatch",
        "batch",
    )


def test_bank_credit_covering_three_orders_is_found_by_subset_sum() -> None:
    erp = [
        rec("erp", "E1", "SO1", "12.00", 0),
        rec("erp", "E2", "SO2", "30.50", 5),
        rec("erp", "E3", "SO3", "7.25", 10),
        rec("erp", "E4", "SO4", "99.00", 15),
    ]
    bank = [rec("bank", "B1", None, "49.75", 600, memo="batch")]
    result = reconcile(erp, bank)
    (group,) = [o for o in result.outcomes if o.rule == "subset_sum"]
    assert group.status == "matched"
    assert sorted(ids(group.left)) == ["E1", "E2", "E3"]
    assert [o.kind for o in result.outcomes if o.rule != "subset_sum"] == ["missing_right"]


def test_credit_two_groups_add_up_to_is_a_suggestion_naming_both() -> None:
    # 10 + 40 and 20 + 30 both make the 50.00 deposit: which receipts it holds is a
    # person's call, never an automatic match.
    erp = [rec("erp", f"E{n}", f"SO{n}", a, n * 60) for n, a in enumerate(["10", "20", "30", "40"])]
    bank = [rec("bank", "B1", None, "50.00", 540, memo="现金存款")]
    result = reconcile(erp, bank)
    assert not only(result, "matched")
    (credit,) = [o for o in result.outcomes if o.right]
    assert (credit.status, credit.rule) == ("suggestion", "subset_sum")
    assert dict(credit.evidence)["groups"] == "E0+E3 | E1+E2"
    assert dict(credit.evidence)["candidates"] == "E0,E1,E2,E3"
    for outcome in result.outcomes:
        if outcome.left:
            assert (outcome.status, outcome.rule) == ("suggestion", "subset_sum")
            assert dict(outcome.evidence)["candidates"] == "B1"


def test_a_group_of_another_size_also_makes_the_credit_ambiguous() -> None:
    # Day 1's 10 + 20 + 30 and day 1's 30 with day 2's 30 both make 60.00.
    erp = [
        rec("erp", "E0", "SO0", "10.00", 0),
        rec("erp", "E1", "SO1", "20.00", 60),
        rec("erp", "E2", "SO2", "30.00", 120),
        rec("erp", "E3", "SO3", "30.00", 24 * 60 + 180),
    ]
    bank = [rec("bank", "B1", None, "60.00", 540)]
    result = reconcile(erp, bank)
    assert not only(result, "matched")
    (credit,) = [o for o in result.outcomes if o.right]
    assert credit.status == "suggestion"
    assert dict(credit.evidence)["groups"] == "E2+E3 | E0+E1+E2 | E0+E1+E3"


def test_an_open_zero_record_beside_a_group_leaves_it_matched() -> None:
    # A 0.00 record near the credit adds nothing: A + B and A + B + Z are one group.
    erp = [
        rec("erp", "A", None, "30.00", 0),
        rec("erp", "B", None, "70.00", 1),
        rec("erp", "Z", None, "0.00", 2),
    ]
    bank = [rec("bank", "C1", None, "100.00", 5)]
    result = reconcile(erp, bank)
    (group,) = [o for o in result.outcomes if o.right]
    assert (group.status, group.rule) == ("matched", "subset_sum")
    assert ids(group.left) == ["A", "B"]
    (zero,) = [o for o in result.outcomes if "Z" in ids(o.left)]
    assert zero.status != "suggestion"


def test_subset_sum_search_is_bounded_by_max_group() -> None:
    erp = [rec("erp", f"E{n}", f"SO{n}", "1.00", n) for n in range(5)]
    bank = [rec("bank", "B1", None, "5.00", 10)]
    assert not [o for o in reconcile(erp, bank, max_group=4).outcomes if o.rule == "subset_sum"]
    assert [o for o in reconcile(erp, bank, max_group=5).outcomes if o.rule == "subset_sum"]


# --- inputs and options -------------------------------------------------------------------


def test_unknown_option_is_refused_with_its_name() -> None:
    with pytest.raises(ValidationError) as caught:
        reconcile([], [], tolerance=Money("0.01", "CNY"))
    assert caught.value.path == "tolerance"


def test_a_non_record_input_is_refused_with_its_position() -> None:
    with pytest.raises(ValidationError) as caught:
        reconcile([rec("erp", "E1", "SO1", "1.00"), "SO2"], [])  # type: ignore[list-item]
    assert caught.value.path == "left[1]"


def test_record_refuses_a_naive_time_and_an_unknown_kind() -> None:
    with pytest.raises(ValidationError):
        Record("erp", "E1", "SO1", Money("1.00", "CNY"), datetime(2026, 2, 16))
    with pytest.raises(ValidationError) as caught:
        rec("erp", "E1", "SO1", "1.00", kind="gift")
    assert caught.value.path == "kind"


def test_empty_ref_is_no_ref() -> None:
    assert rec("bank", "B1", "  ", "1.00").ref is None


def test_outcome_signature_lists_every_outcome_as_plain_tuples() -> None:
    erp = [rec("erp", "E1", "SO20260216000001", "10.00"), rec("erp", "E2", "SO2", "5.00")]
    bank = [rec("bank", "B1", "SO20260216000001", "10.00")]
    result = reconcile(erp, bank)
    signature = outcome_signature(result)
    assert len(signature) == len(result.outcomes)
    assert ("matched", None, "exact_ref", ("E1",), ("B1",)) in [s[:5] for s in signature]
    assert ("unmatched", "missing_right", "unpaired", ("E2",), ()) in [s[:5] for s in signature]
    changed = reconcile(erp, [rec("bank", "B1", "SO20260216000001", "9.00")])
    assert outcome_signature(changed) != signature
