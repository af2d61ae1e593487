"""Matching a finance team can sign: the month-end bugs of issue 22, told as stories.

Each story was a wrong answer on a real month: a one-fen rounding reported as a break, a
bank credit naming two orders left unmatched, an ambiguous amount matched to one of two
orders, a Tmall order never found in Alipay although both sides carry the same trade
number. Every story also checks that each record ends in exactly one outcome and that
the amounts are conserved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orderkit.model.money import Money
from orderkit.reconcile import Outcome, Reconciliation, Record, reconcile

T0 = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)
SO1 = "SO20260316000001"
SO2 = "SO20260316000002"
TID = "3698512204871532841"
TRADE_NO = "2026031622001456781234567890"


def rec(
    source: str, record_id: str, ref: str | None, amount: str, minutes: int = 0, **fields: Any
) -> Record:
    return Record(
        source, record_id, ref, Money(amount, "CNY"), T0 + timedelta(minutes=minutes), **fields
    )


def shape(outcome: Outcome) -> tuple[str, str | None, str, list[str], list[str]]:
    return (
        outcome.status,
        outcome.kind,
        outcome.rule,
        [r.record_id for r in outcome.left],
        [r.record_id for r in outcome.right],
    )


def every_record_once(result: Reconciliation, *sides: list[Record]) -> None:
    seen = [id(r) for o in result.outcomes for r in o.records]
    assert sorted(seen) == sorted(id(r) for side in sides for r in side)
    assert result.conservation()["balanced"] is True


def test_one_fen_short_on_a_memo_match_is_rounding_not_a_break_and_a_suggestion() -> None:
    erp = [rec("erp", "E1", SO1, "170.00")]
    bank = [rec("bank", "B1", None, "169.99", 600, memo=f"货款 {SO1}")]
    result = reconcile(erp, bank)
    assert [shape(o) for o in result.outcomes] == [
        ("difference", "rounding", "memo_ref", ["E1"], ["B1"])
    ]
    every_record_once(result, erp, bank)
    # With no tolerance at all the same memo is only a suggestion.
    exact = reconcile(erp, bank, amount_tolerance=Money("0.00", "CNY"))
    assert sorted(o.status for o in exact.outcomes) == ["suggestion", "unmatched"]
    every_record_once(exact, erp, bank)


def test_bank_credit_whose_memo_names_two_orders_that_sum_to_it_matches_both() -> None:
    erp = [rec("erp", "E1", SO1, "120.00"), rec("erp", "E2", SO2, "80.00", 5)]
    bank = [rec("bank", "B1", None, "200.00", 900, memo=f"货款 {SO1} {SO2}")]
    result = reconcile(erp, bank)
    assert [shape(o) for o in result.outcomes] == [
        ("matched", None, "memo_ref", ["E1", "E2"], ["B1"])
    ]
    every_record_once(result, erp, bank)


def test_memo_naming_two_orders_one_fen_off_is_rounding_and_far_off_is_a_suggestion() -> None:
    erp = [rec("erp", "E1", SO1, "120.00"), rec("erp", "E2", SO2, "80.00", 5)]
    near = [rec("bank", "B1", None, "199.99", 900, memo=f"{SO2}/{SO1}")]
    result = reconcile(erp, near)
    assert [shape(o) for o in result.outcomes] == [
        ("difference", "rounding", "memo_ref", ["E1", "E2"], ["B1"])
    ]
    far = [rec("bank", "B1", None, "190.00", 900, memo=f"{SO2}/{SO1}")]
    result = reconcile(erp, far, time_window=timedelta(0))
    assert sorted(o.status for o in result.outcomes) == ["suggestion", "unmatched", "unmatched"]
    (suggestion,) = [o for o in result.outcomes if o.status == "suggestion"]
    assert dict(suggestion.evidence)["candidates"] == "E2,E1"
    every_record_once(result, erp, far)


def test_bank_credit_equally_close_to_two_same_amount_orders_is_only_a_suggestion() -> None:
    erp = [rec("erp", "E1", None, "88.00", 0), rec("erp", "E2", None, "88.00", 120)]
    bank = [rec("bank", "B1", None, "88.00", 60, memo="转账")]
    result = reconcile(erp, bank)
    assert not [o for o in result.outcomes if o.status in ("matched", "difference")]
    assert sorted((shape(o), dict(o.evidence)["candidates"]) for o in result.outcomes) == [
        (("suggestion", None, "amount_time", [], ["B1"]), "E1,E2"),
        (("suggestion", None, "amount_time", ["E1"], []), "B1"),
        (("suggestion", None, "amount_time", ["E2"], []), "B1"),
    ]
    every_record_once(result, erp, bank)


def test_two_identical_anonymous_credits_against_one_order_are_suggestions() -> None:
    erp = [rec("erp", "E1", None, "300.00")]
    bank = [rec("bank", "B1", None, "300.00", 30), rec("bank", "B2", None, "300.00", 30)]
    result = reconcile(erp, bank)
    assert {o.status for o in result.outcomes} == {"suggestion"}
    every_record_once(result, erp, bank)


def test_a_unique_amount_within_the_window_still_matches() -> None:
    erp = [rec("erp", "E1", None, "88.00"), rec("erp", "E2", None, "89.00")]
    bank = [rec("bank", "B1", None, "88.00", 60)]
    result = reconcile(erp, bank)
    assert [shape(o) for o in result.outcomes] == [
        ("matched", None, "amount_time", ["E1"], ["B1"]),
        ("unmatched", "missing_right", "unpaired", ["E2"], []),
    ]


def test_tmall_order_matches_its_alipay_row_through_the_shared_trade_number() -> None:
    erp = [rec("erp", "E1", SO1, "256.00", links=(TRADE_NO, TID))]
    alipay = [rec("alipay", "A1", f"T200P{TID}", "256.00", 1, links=(TRADE_NO,))]
    result = reconcile(erp, alipay)
    assert [shape(o) for o in result.outcomes] == [("matched", None, "shared_link", ["E1"], ["A1"])]
    every_record_once(result, erp, alipay)


def test_tmall_order_matches_through_t200p_alone_and_a_shared_id_with_two_candidates_does_not() -> (
    None
):
    erp = [rec("erp", "E1", SO1, "256.00", links=(TID,))]
    alipay = [rec("alipay", "A1", f"T200P{TID}", "256.00", 1)]
    (outcome,) = reconcile(erp, alipay).outcomes
    assert (shape(outcome), dict(outcome.evidence)) == (
        ("matched", None, "shared_link", ["E1"], ["A1"]),
        {"link": TID},
    )
    # Two Alipay rows carry the same trade number: neither is taken on the link alone.
    twice = [
        rec("alipay", "A1", None, "256.00", 1, links=(TRADE_NO,)),
        rec("alipay", "A2", None, "256.00", 2, links=(TRADE_NO,)),
    ]
    erp = [rec("erp", "E1", SO1, "256.00", links=(TRADE_NO,))]
    result = reconcile(erp, twice)
    assert not [o for o in result.outcomes if o.status == "matched"]
    every_record_once(result, erp, twice)


def test_tmall_row_whose_memo_carries_the_t200p_form_matches_by_memo() -> None:
    erp = [rec("erp", "E1", SO1, "256.00", links=(TID,))]
    alipay = [rec("alipay", "A1", None, "256.00", 1, memo=f"淘宝交易 T200P{TID} 货款")]
    (outcome,) = reconcile(erp, alipay).outcomes
    assert shape(outcome) == ("matched", None, "memo_ref", ["E1"], ["A1"])


def test_shared_link_with_a_fen_of_difference_is_rounding() -> None:
    erp = [rec("erp", "E1", SO1, "99.90", links=(TRADE_NO,))]
    wechat = [rec("wechatpay", "W1", "other-merchant-no", "99.89", 1, links=(TRADE_NO,))]
    (outcome,) = reconcile(erp, wechat).outcomes
    assert shape(outcome) == ("difference", "rounding", "shared_link", ["E1"], ["W1"])
