"""Readers: real layouts, streaming, and bad rows reported without stopping the rest."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from orderkit.model.errors import ValidationError
from orderkit.reconcile import Record, Rejected, reconcile
from orderkit.reconcile.readers import (
    BankColumns,
    read_alipay_statement,
    read_bank_csv,
    read_erp_csv,
    read_pos_csv,
    read_wechatpay_bill,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "reconcile"
CMB = BankColumns(
    record_id="交易流水号",
    at="交易时间",
    amount=None,
    credit="贷方金额",
    debit="借方金额",
    memo="摘要",
)


def split(items: list[Record | Rejected]) -> tuple[list[Record], list[Rejected]]:
    return [i for i in items if isinstance(i, Record)], [
        i for i in items if isinstance(i, Rejected)
    ]


def test_wechatpay_bill_rows_become_sale_coupon_and_fee_records() -> None:
    records, rejected = split(list(read_wechatpay_bill(FIXTURES / "wechatpay_20260216.csv")))
    assert not rejected
    by_id = {r.record_id: r for r in records}
    sale = by_id["4200002612202602161234567891"]
    assert (sale.ref, sale.amount.amount, sale.kind) == (
        "SO20260216000893",
        Decimal("45.50"),
        "sale",
    )
    assert sale.at.isoformat() == "2026-02-16T03:15:42+00:00"  # Beijing time, stored in UTC
    assert by_id["4200002612202602161234567891#coupon"].amount.amount == Decimal("-5.00")
    assert by_id["4200002612202602161234567891#fee"].amount.amount == Decimal("-0.24300")
    refund = by_id["50000100012026021612345678901"]
    assert (refund.kind, refund.amount.amount) == ("refund", Decimal("-20.00"))
    assert by_id["50000100012026021612345678901#fee"].amount.amount == Decimal("0.12000")


def test_wechatpay_bill_summary_lines_are_not_records() -> None:
    records = list(read_wechatpay_bill(FIXTURES / "wechatpay_20260216.csv"))
    assert all(isinstance(r, Record) and not r.record_id.startswith("`") for r in records)
    fees = sum(r.amount.amount for r in records if isinstance(r, Record) and r.kind == "fee")
    assert fees == Decimal("-3.28500")  # 3.40500 charged, 0.12000 returned with the refund


def test_wechatpay_bill_reconciles_against_the_erp_export_with_fees_classified() -> None:
    erp = list(read_erp_csv(FIXTURES / "erp_2026-02-16.csv"))
    wechat = list(read_wechatpay_bill(FIXTURES / "wechatpay_20260216.csv"))
    result = reconcile(erp, wechat)
    summary = result.summary()
    assert summary["by_status"]["matched"]["outcomes"] == 5  # type: ignore[index]
    assert summary["by_kind"]["platform_fee"] == {  # type: ignore[index]
        "outcomes": 5,
        "left_amount": {},
        "right_amount": {"CNY": "-3.28500"},
        "difference": {"CNY": "-3.28500"},
    }
    assert summary["by_kind"]["coupon_or_subsidy"]["difference"] == {"CNY": "-5.00"}  # type: ignore[index]
    assert result.conservation()["balanced"] is True
    assert set(summary["by_kind"]) == {"platform_fee", "coupon_or_subsidy"}  # type: ignore[call-overload]


def test_alipay_statement_in_gbk_skips_comment_lines_and_reports_the_bad_row() -> None:
    records, rejected = split(list(read_alipay_statement(FIXTURES / "alipay_20260216.csv")))
    assert [(r.ref, r.kind, str(r.amount.amount)) for r in records] == [
        ("SO20260216000892", "sale", "170.00"),
        ("SO20260216000892", "fee", "-1.02"),
        ("SO20260216000893", "sale", "45.50"),
    ]
    assert records[0].links == ("2026021622001412345678901234",)
    (bad,) = rejected
    assert (bad.file, bad.line, bad.column, bad.value) == (
        "alipay_20260216.csv",
        9,
        "收入金额（+元）",
        "八十九.00",
    )


def test_alipay_statement_read_with_the_wrong_encoding_says_so() -> None:
    with pytest.raises(ValidationError) as caught:
        list(read_alipay_statement(FIXTURES / "alipay_20260216.csv", encoding="utf-8"))
    assert caught.value.path == "encoding"


def test_bank_csv_with_its_own_headers_and_date_format() -> None:
    items = list(
        read_bank_csv(FIXTURES / "bank_2026-02.csv", columns=CMB, date_format="%Y/%m/%d %H:%M")
    )
    records, rejected = split(items)
    assert [r.record_id for r in records] == [
        "CMB202602170001",
        "CMB202602170002",
        "CMB202602170004",
        "CMB202602170005",
    ]
    assert records[0].at.isoformat() == "2026-02-17T01:30:00+00:00"
    # The bank's own 手续费 is a charge, not a refund.
    assert records[-1].amount.amount == Decimal("-12.00") and records[-1].kind == "charge"
    (bad,) = rejected
    assert (bad.line, bad.column, bad.value) == (4, "贷方金额", "abc")
    assert "bank_2026-02.csv:4 column '贷方金额'" in str(bad)


def test_bank_csv_in_utc_source_zone(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(
        "transaction_id,date,amount,memo\nT1,2026-02-28 23:30:00,10.00,x\n", encoding="utf-8"
    )
    (record,) = read_bank_csv(path, source_tz="UTC")
    assert isinstance(record, Record) and record.at.isoformat() == "2026-02-28T23:30:00+00:00"


def test_bad_rows_are_reported_with_line_and_column_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "erp.csv"
    path.write_text(
        "record_id,ref,amount,at\n"
        "E1,SO1,10.00,2026-02-16 10:00:00\n"
        "E2,SO2,ten,2026-02-16 10:00:00\n"
        "E3,SO3,30.00,yesterday\n"
        "E4,SO4\n"
        ",SO5,5.00,2026-02-16 10:00:00\n"
        "E6,SO6,60.00,2026-02-16T10:00:00+00:00\n",
        encoding="utf-8",
    )
    records, rejected = split(list(read_erp_csv(path)))
    assert [r.record_id for r in records] == ["E1", "E6"]
    assert [(r.line, r.column) for r in rejected] == [
        (3, "amount"),
        (4, "at"),
        (5, ""),
        (6, "record_id"),
    ]
    result = reconcile(records + rejected, [])  # type: ignore[operator]
    assert [o.status for o in result.outcomes].count("rejected") == 4


def test_missing_required_column_is_refused_up_front(tmp_path: Path) -> None:
    path = tmp_path / "erp.csv"
    path.write_text("record_id,amount,at\nE1,1.00,2026-02-16 10:00:00\n", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        list(read_erp_csv(path))
    assert "ref" in str(caught.value)


def test_readers_stream_and_report_progress(tmp_path: Path) -> None:
    path = tmp_path / "erp.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("record_id,ref,amount,at\n")
        for n in range(100_001):
            out.write(f"E{n},SO{n},1.00,2026-02-16 10:00:00\n")
    seen: list[int] = []
    stream = read_erp_csv(path, progress=seen.append)
    first = next(stream)
    assert isinstance(first, Record) and seen == []  # nothing read ahead
    assert sum(1 for _ in stream) == 100_000
    assert seen == [100_000, 100_001]


def test_pos_export_reads_refunds_as_negative_receipts(tmp_path: Path) -> None:
    records, rejected = split(list(read_pos_csv(FIXTURES / "pos_store7.csv")))
    assert not rejected
    assert [(r.record_id, r.ref, r.kind) for r in records] == [
        ("STORE7-0009", "SO20260216000892", "sale"),
        ("STORE7-0010", "SO20260216000895", "sale"),
        ("STORE7-0011", None, "sale"),
    ]
    path = tmp_path / "pos.csv"
    path.write_text(
        "receipt_no,order_ref,amount,paid_at\nR9,SO1,-12.00,2026-02-16 21:00:00\n", encoding="utf-8"
    )
    (refund,) = read_pos_csv(path)
    assert isinstance(refund, Record) and refund.kind == "refund"


def test_pos_export_keeps_each_receipts_payment_method_and_store(tmp_path: Path) -> None:
    path = tmp_path / "pos.csv"
    path.write_text(
        "receipt_no,order_ref,amount,paid_at,payment_method,store,fee,note\n"
        "S1-1,SO1,89.00,2026-03-30 14:00:00,cash,S1,,\n"
        "S1-2,SO2,170.00,2026-03-30 15:00:00,Card,S1,1.02,\n"
        "S2-1,SO3,-20.00,2026-03-30 16:00:00,wechatpay,S2,-0.12,\n"
        "S2-2,SO4,5.00,2026-03-30 16:05:00,,,,\n",
        encoding="utf-8",
    )
    records, rejected = split(list(read_pos_csv(path)))
    assert not rejected
    read = [(r.record_id, r.kind, str(r.amount.amount), r.channel, r.category) for r in records]
    assert read == [
        ("S1-1", "sale", "89.00", "pos.cash.S1", "sale"),
        ("S1-2", "sale", "170.00", "pos.card.S1", "sale"),
        ("S1-2#fee", "fee", "-1.02", "pos.card.S1", "payment_fee"),
        ("S2-1", "refund", "-20.00", "pos.wechatpay.S2", "refund"),
        ("S2-1#fee", "fee", "0.12", "pos.wechatpay.S2", "payment_fee"),
        ("S2-2", "sale", "5.00", None, "sale"),
    ]
    assert records[2].ref == "SO2"


def test_pos_receipt_of_a_tenth_of_a_fen_is_rejected_naming_its_amount(tmp_path: Path) -> None:
    # No till takes 12.345 CNY: a rejected line, not a receipt the ERP's 12.35 "rounds" to.
    path = tmp_path / "pos.csv"
    path.write_text(
        "receipt_no,order_ref,amount,paid_at,payment_method,store,note\n"
        "S1-1,SO1,12.345,2026-03-31 10:00:00,cash,S1,\n"
        "S1-2,SO2,12.30,2026-03-31 10:05:00,cash,S1,\n",
        encoding="utf-8",
    )
    records, rejected = split(list(read_pos_csv(path)))
    assert [r.record_id for r in records] == ["S1-2"]
    assert [(r.file, r.line, r.column, r.value, r.reason) for r in rejected] == [
        ("pos.csv", 2, "amount", "12.345", "expected at most 2 decimals: CNY has no smaller unit")
    ]
