"""Readers against hostile files: a stray quote, commas in the wrong places, a file cut
off in the middle of an amount, a bank's preamble and its separate date and time columns.

Every file is written by the test. The bank layouts follow the statement exports banks
offer for download (account and period lines before the header; 交易日期 and 交易时间 in
two columns; amounts with thousands separators); the WeChat Pay layout is the merchant
trade bill (交易账单) of the ``downloadbill`` API, backticked cells and a summary block.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from orderkit.model.errors import ValidationError
from orderkit.reconcile import Record, Rejected
from orderkit.reconcile.readers import BankColumns, parse_amount, read_bank_csv, read_wechatpay_bill

HEADER = "transaction_id,date,amount,memo\n"


def split(items: list[Record | Rejected]) -> tuple[list[Record], list[Rejected]]:
    return [i for i in items if isinstance(i, Record)], [
        i for i in items if isinstance(i, Rejected)
    ]


def test_a_stray_quote_in_a_memo_rejects_that_line_and_reads_every_line_after_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(
        HEADER
        + "T1,2026-03-02 10:00,10.00,ok\n"
        + 'T2,2026-03-02 10:01,20.00,"货款 SO20260302000002\n'
        + "T3,2026-03-02 10:02,30.00,ok\n"
        + "T4,2026-03-02 10:03,40.00,ok\n",
        encoding="utf-8",
    )
    records, rejected = split(list(read_bank_csv(path)))
    assert [r.record_id for r in records] == ["T1", "T3", "T4"]
    (bad,) = rejected
    assert bad.line == 3 and "quote" in bad.reason
    assert bad.raw.startswith("T2,")


def test_a_stray_quote_in_a_large_file_is_one_rejected_line_not_a_csv_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bank.csv"
    rows = [f"T{n},2026-03-02 10:00,{n}.00,memo {n}\n" for n in range(3000)]
    rows[5] = 'T5,2026-03-02 10:00,5.00,"' + "x" * 200_000 + "\n"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    records, rejected = split(list(read_bank_csv(path)))
    assert len(records) == 2999
    assert [r.line for r in rejected] == [7]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.50", Decimal("1234.50")),
        ("1,234,567", Decimal("1234567")),
        ("¥1,234.50", Decimal("1234.50")),
        ("￥ 8.00", Decimal("8.00")),
        ("RMB 5", Decimal("5")),
        ("0.99元", Decimal("0.99")),
        ("-¥3.00", Decimal("-3.00")),
        ("(12.50)", Decimal("-12.50")),
        ("+7", Decimal("7")),
        ("`1.02000", Decimal("1.02000")),
        ("12", Decimal("12")),
        ("", None),
        ("-", None),
    ],
)
def test_amounts_in_the_forms_bills_write_them(text: str, value: Decimal | None) -> None:
    assert parse_amount(text) == value


@pytest.mark.parametrize(
    "text", ["12,34", "1,23,456", "1234,567", "12.3.4", "1 234", "12-", "¥", "abc", "1e3", "NaN"]
)
def test_an_amount_with_misplaced_separators_or_noise_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_amount(text, "贷方金额")
    assert (caught.value.path, caught.value.value) == ("贷方金额", text)


def test_a_comma_in_the_wrong_place_is_a_rejected_row_naming_its_column(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(
        HEADER + 'T1,2026-03-02 10:00,"12,34",x\nT2,2026-03-02 10:00,"1,234.50",y\n',
        encoding="utf-8",
    )
    records, rejected = split(list(read_bank_csv(path)))
    assert [r.amount.amount for r in records] == [Decimal("1234.50")]
    (bad,) = rejected
    assert (bad.line, bad.column, bad.value) == (2, "amount", "12,34")


def test_padding_after_a_closing_quote_is_trimmed_and_other_text_after_it_named(
    tmp_path: Path,
) -> None:
    # Alipay and WeChat Pay pad cells with a tab or spaces, after a quoted cell too.
    path = tmp_path / "bank.csv"
    path.write_text(
        HEADER
        + 'T1,2026-03-02 10:00,"1,234.50" ,货款\n'
        + 'T2,2026-03-02 10:01,"1,000.00"\t,"乌龙茶,250g"\t\n'
        + 'T3,2026-03-02 10:02,"1,000.00"x,ok\n'
        + 'T4,2026-03-02 10:03,"say ""hi"" ,ok" ,ok\n',
        encoding="utf-8",
    )
    records, rejected = split(list(read_bank_csv(path)))
    assert [(r.record_id, r.amount.amount, r.memo) for r in records] == [
        ("T1", Decimal("1234.50"), "货款"),
        ("T2", Decimal("1000.00"), "乌龙茶,250g"),
    ]
    bad, quoted = rejected
    assert bad.line == 4
    assert bad.reason == 'text (x) follows the closing quote (") of a cell'
    # the quoted cell with escaped quotes and a comma is one cell; its amount is refused
    assert (quoted.line, quoted.column, quoted.value) == (5, "amount", 'say "hi" ,ok')


def test_a_file_cut_off_inside_the_last_amount_is_reported_as_truncated(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(
        HEADER + "T1,2026-03-02 10:00,10.00,x\nT2,2026-03-02 10:00,12.5", encoding="utf-8"
    )
    records, rejected = split(list(read_bank_csv(path)))
    assert [r.record_id for r in records] == ["T1"]
    (cut,) = rejected
    assert cut.line == 3 and "truncated" in cut.reason



def test_a_file_cut_off_inside_a_quoted_last_amount_is_reported_as_truncated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(
        HEADER + 'T1,2026-03-02 10:00,10.00,x\nT2,2026-03-02 10:00,"1,2', encoding="utf-8"
    )
    records, rejected = split(list(read_bank_csv(path)))
    assert [r.record_id for r in records] == ["T1"]
    (cut,) = rejected
    assert cut.line == 3 and "truncated" in cut.reason and "quote" not in cut.reason


WECHAT_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,"
    "订单金额,费率备注\n"
)
WECHAT_ROW = (
    "`2026-03-02 10:00:00,`wx1,`1900000001,`,`,`4200001001,`SO20260302000001,`o1,`JSAPI,"
    "`SUCCESS,`CFT,`CNY,`170.00,`0.00,`tea,`,`1.02000,`0.60%,`170.00,`\n"
)
WECHAT_FOOTER = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
    "`1,`170.00,`0.00,`0.00,`1.02000,`170.00,`0.00"
)


def test_a_wechat_bill_without_its_summary_block_was_cut_off(tmp_path: Path) -> None:
    whole = tmp_path / "whole.csv"
    whole.write_text(WECHAT_HEADER + WECHAT_ROW + WECHAT_FOOTER, encoding="utf-8")
    records, rejected = split(list(read_wechatpay_bill(whole)))
    assert not rejected and [r.kind for r in records] == ["sale", "fee"]
    cut = tmp_path / "cut.csv"
    cut.write_text(WECHAT_HEADER + WECHAT_ROW, encoding="utf-8")
    records, rejected = split(list(read_wechatpay_bill(cut)))
    assert len(records) == 2
    (missing,) = rejected
    assert "summary block" in missing.reason and "truncated" in missing.reason


def test_bank_statement_with_a_preamble_and_separate_date_and_time_columns(tmp_path: Path) -> None:
    path = tmp_path / "statement.csv"
    path.write_text(
        "明细查询文件下载\n"
        "卡号: 1234****9876,户名: 茶叶店\n"
        "\n"
        "起止日期: 2026-03-01 至 2026-03-31\n"
        "交易日期,交易时间,流水号,摘要,收入,支出\n"
        '2026-03-31,23:55:10,B1,财付通 结算,"1,234.50",\n'
        "2026-03-31,09:00:00,B2,账户管理费,,15.00\n"
        "2026-03-30,10:00:00,B3,退款,,20.00\n",
        encoding="gbk",
    )
    columns = BankColumns(
        record_id="流水号",
        at="交易日期",
        time="交易时间",
        amount=None,
        credit="收入",
        debit="支出",
        memo="摘要",
    )
    records, rejected = split(list(read_bank_csv(path, columns=columns, encoding="gbk")))
    assert not rejected
    assert [(r.record_id, str(r.amount.amount), r.kind) for r in records] == [
        ("B1", "1234.50", "sale"),
        ("B2", "-15.00", "charge"),
        ("B3", "-20.00", "refund"),
    ]
    assert records[0].at.isoformat() == "2026-03-31T15:55:10+00:00"


def test_a_statement_without_the_columns_asked_for_is_refused_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "statement.csv"
    path.write_text("账号,x\n日期,金额\n2026-03-01,1.00\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"missing column\(s\)"):
        list(read_bank_csv(path))
