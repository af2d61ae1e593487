"""Every difference kind, each from the story that produces it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from orderkit.model.money import Money
from orderkit.reconcile import DifferenceKind, Outcome, Reconciliation, Record, reconcile

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


def rec(
    source: str, record_id: str, ref: str | None, amount: str, minutes: int = 0, **fields: Any
) -> Record:
    return Record(
        source, record_id, ref, Money(amount, "CNY"), T0 + timedelta(minutes=minutes), **fields
    )


def kinds(result: Reconciliation) -> list[tuple[str, str | None]]:
    return sorted((o.status, o.kind) for o in result.outcomes)


def of_kind(result: Reconciliation, kind: str) -> Outcome:
    (outcome,) = [o for o in result.outcomes if o.kind == kind]
    return outcome


def test_one_fen_short_is_rounding() -> None:
    result = reconcile([rec("erp", "E1", "SO1", "33.34")], [rec("bank", "B1", "SO1", "33.33", 5)])
    assert kinds(result) == [("difference", "rounding")]
    assert of_kind(result, "rounding").difference == {"CNY": Money("-0.01", "CNY").amount}


def test_rounding_tolerance_is_configurable() -> None:
    left, right = [rec("erp", "E1", "SO1", "33.34")], [rec("bank", "B1", "SO1", "33.30", 5)]
    assert kinds(reconcile(left, right)) == [("difference", "amount_mismatch")]
    wide = reconcile(left, right, amount_tolerance=Money("0.05", "CNY"))
    assert kinds(wide) == [("difference", "rounding")]


def test_gateway_fee_line_is_a_platform_fee_traced_to_its_sale() -> None:
    erp = [rec("erp", "E1", "SO1", "170.00")]
    wechat = [
        rec("wechatpay", "W1", "SO1", "170.00", 1),
        rec("wechatpay", "W1#fee", "SO1", "-1.02000", 1, kind="fee"),
    ]
    result = reconcile(erp, wechat)
    assert kinds(result) == [("difference", "platform_fee"), ("matched", None)]
    fee = of_kind(result, "platform_fee")
    assert [step.record_id for step in fee.trace] == ["E1", "W1", "W1#fee"]
    assert dict(fee.evidence)["belongs_to"] == "E1,W1"


def test_merchant_coupon_is_coupon_or_subsidy() -> None:
    erp = [rec("erp", "E1", "SO1", "45.50")]
    wechat = [
        rec("wechatpay", "W1", "SO1", "45.50", 1),
        rec("wechatpay", "W1#coupon", "SO1", "-5.00", 1, kind="subsidy"),
    ]
    assert ("difference", "coupon_or_subsidy") in kinds(reconcile(erp, wechat))


def test_refund_in_the_bank_smaller_than_the_sale_is_a_partial_refund() -> None:
    erp = [rec("erp", "E1", "SO1", "89.00")]
    bank = [
        rec("bank", "B1", "SO1", "89.00", 5),
        rec("bank", "B2", "SO1", "-20.00", 90, kind="refund"),
    ]
    result = reconcile(erp, bank)
    assert kinds(result) == [("difference", "partial_refund"), ("matched", None)]


def test_full_refund_missing_from_the_erp_is_missing_left() -> None:
    erp = [rec("erp", "E1", "SO1", "89.00")]
    bank = [
        rec("bank", "B1", "SO1", "89.00", 5),
        rec("bank", "B2", "SO1", "-89.00", 90, kind="refund"),
    ]
    assert ("unmatched", "missing_left") in kinds(reconcile(erp, bank))


def test_refund_landing_twelve_days_later_is_a_delayed_refund() -> None:
    erp = [rec("erp", "E1-R", "SO1", "-30.00", kind="refund")]
    bank = [rec("bank", "B1-R", "SO1", "-30.00", 60 * 24 * 12, kind="refund")]
    assert kinds(reconcile(erp, bank)) == [("difference", "delayed_refund")]
    assert kinds(reconcile(erp, bank, refund_delay=timedelta(days=14))) == [("matched", None)]


def test_pos_sale_at_2355_beijing_stamped_in_utc_is_cross_period_by_day() -> None:
    # POS stamps UTC+8, the ERP stamps UTC and books the sale after midnight.
    pos = [
        Record(
            "pos", "R1", "SO1", Money("89.00", "CNY"), datetime(2026, 2, 28, 23, 55, tzinfo=BEIJING)
        )
    ]
    erp = [
        Record("erp", "E1", "SO1", Money("89.00", "CNY"), datetime(2026, 2, 28, 16, 5, tzinfo=UTC))
    ]
    result = reconcile(erp, pos)
    assert kinds(result) == [("difference", "cross_period")]
    # The same two instants in UTC are the same UTC day: only the accounting zone sees it.
    assert kinds(reconcile(erp, pos, tz="UTC")) == [("matched", None)]


def test_same_instant_in_two_zones_is_not_cross_period() -> None:
    instant = datetime(2026, 2, 28, 23, 55, tzinfo=BEIJING)
    pos = [Record("pos", "R1", "SO1", Money("89.00", "CNY"), instant)]
    erp = [Record("erp", "E1", "SO1", Money("89.00", "CNY"), instant.astimezone(UTC))]
    assert kinds(reconcile(erp, pos)) == [("matched", None)]


def test_cross_period_by_day_when_the_period_is_a_day() -> None:
    erp = [
        Record("erp", "E1", "SO1", Money("89.00", "CNY"), datetime(2026, 2, 16, 15, 50, tzinfo=UTC))
    ]
    bank = [
        Record(
            "bank", "B1", "SO1", Money("89.00", "CNY"), datetime(2026, 2, 16, 16, 10, tzinfo=UTC)
        )
    ]
    assert kinds(reconcile(erp, bank)) == [("matched", None)]
    assert kinds(reconcile(erp, bank, period="day")) == [("difference", "cross_period")]


def test_received_less_than_receivable_is_an_amount_mismatch() -> None:
    result = reconcile([rec("erp", "E1", "SO1", "100.00")], [rec("bank", "B1", "SO1", "70.00", 5)])
    assert kinds(result) == [("difference", "amount_mismatch")]


def test_order_without_payment_is_missing_right_and_stray_credit_is_missing_left() -> None:
    result = reconcile([rec("erp", "E1", "SO1", "100.00")], [rec("bank", "B1", None, "1.23", 5)])
    assert kinds(result) == [("unmatched", "missing_left"), ("unmatched", "missing_right")]


def test_bank_credit_imported_twice_is_a_duplicate() -> None:
    erp = [rec("erp", "E1", "SO1", "100.00")]
    bank = [rec("bank", "B1", "SO1", "100.00", 5), rec("bank", "B1-again", "SO1", "100.00", 6)]
    result = reconcile(erp, bank)
    assert kinds(result) == [("difference", "duplicate"), ("matched", None)]
    assert dict(of_kind(result, "duplicate").evidence) == {"duplicate_of": "B1"}


def test_order_entered_twice_in_the_erp_is_a_duplicate() -> None:
    erp = [rec("erp", "E1", "SO1", "100.00"), rec("erp", "E1b", "SO1", "100.00", 1)]
    bank = [rec("bank", "B1", "SO1", "100.00", 5)]
    result = reconcile(erp, bank)
    assert kinds(result) == [("difference", "duplicate"), ("matched", None)]
    assert [r.record_id for r in of_kind(result, "duplicate").left] == ["E1b"]


def test_sale_after_the_cutoff_is_pending_not_a_break() -> None:
    erp = [rec("erp", "E1", "SO1", "100.00", 0), rec("erp", "E2", "SO2", "80.00", 600)]
    result = reconcile(erp, [], cutoff=T0 + timedelta(hours=5))
    assert kinds(result) == [("pending", "pending"), ("unmatched", "missing_right")]


def test_every_kind_is_documented_and_named_in_lower_case() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[3] / "docs" / "reconcile.md").read_text(encoding="utf-8")
    for kind in DifferenceKind:
        assert kind.value == kind.value.lower()
        assert f"`{kind.value}`" in page
