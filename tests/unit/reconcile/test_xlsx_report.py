"""The .xlsx reports, read back with openpyxl: text ids, numeric amounts, one sheet per hop."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from orderkit.cli import main
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile import Record, reconcile, settle
from orderkit.reconcile.report import (
    MissingXlsxExtra,
    check_report_path,
    settlement_hops,
    write_report,
    write_xlsx,
)
from orderkit.testing.settlement_month import settlement_month

SHANGHAI = ZoneInfo("Asia/Shanghai")
WECHAT_ID = "4200001001202603101234567890"


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=SHANGHAI)


def small_settlement() -> object:
    erp = [
        Record("erp", "W1/P1", "SO1", Money("1234.50", "CNY"), at(10, 12), channel="wechatpay"),
        Record("erp", "B1/P1", "SO2", Money("88.00", "CNY"), at(10, 13)),
    ]
    bill = [
        Record("wechatpay", WECHAT_ID, "SO1", Money("1234.50000", "CNY"), at(10, 12)),
        Record("wechatpay", f"{WECHAT_ID}#fee", "SO1", Money("-7.41000", "CNY"), at(10, 12),
               kind="fee"),
    ]
    bank = [
        Record("bank", "BK1", None, Money("1227.09", "CNY"), at(11, 10), memo="=HYPERLINK(1)"),
        Record("bank", "007", None, Money("5.00", "CNY"), at(12, 10), memo="来账"),
    ]
    return settle(erp, {"wechatpay": bill}, bank)


def sheet_rows(sheet: object) -> list[tuple[object, ...]]:
    return list(sheet.iter_rows(values_only=True))  # type: ignore[attr-defined]


def test_a_settlement_workbook_has_a_summary_and_a_sheet_per_hop(tmp_path: Path) -> None:
    settlement = small_settlement()
    path = write_report(settlement, tmp_path / "s.xlsx", files=("erp.csv", "bank.csv"))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [
        "summary",
        "wechatpay order→bill",
        "wechatpay bill→payout",
        "wechatpay payout→bank",
        "order→bank",
        "bank only",
    ]
    summary = sheet_rows(book["summary"])
    facts = {row[0]: row[1] for row in summary[:8] if row[0] is not None}
    assert facts["period"] == "month" and facts["time zone"] == "Asia/Shanghai"
    assert facts["cut-off"] == "none" and facts["source files"] == "erp.csv"
    assert summary[6][:2] == (None, "bank.csv")  # one row per source file
    head = next(n for n, row in enumerate(summary) if row[0] == "channel")
    table = {(row[0], row[1]): row for row in summary[head + 1 :]}
    counts = table["wechatpay", "wechatpay payout → bank credit"]
    assert counts[2:6] == (1, 0, 0, 0) and counts[7:] == (1227.09, 1227.09)

    orders = book["wechatpay order→bill"]
    cells = {c.value: c for row in orders.iter_rows(min_row=2) for c in row if c.column == 10}
    wechat_id = cells[WECHAT_ID]
    assert wechat_id.data_type == "s" and wechat_id.number_format == "@"
    amounts = [row[11] for row in orders.iter_rows(min_row=2)]
    assert {a.data_type for a in amounts} == {"n"}
    assert {a.number_format for a in amounts} == {"#,##0.00"}
    assert sorted(a.value for a in amounts) == [-7.41, 1234.5, 1234.5]
    when = next(orders.iter_rows(min_row=2))[13]
    assert when.value == datetime(2026, 3, 10, 12)  # local time, named in the head
    assert orders.cell(1, 14).value == "at (Asia/Shanghai)"

    payout = sheet_rows(book["wechatpay bill→payout"])[1]
    assert payout[9:12] == ("wechatpay:2026-03-10", None, 1227.09) and payout[16] == "SO1"
    bank = book["wechatpay payout→bank"]
    memo = next(c for row in bank.iter_rows(min_row=2) for c in row if c.column == 16
                and c.value and str(c.value).startswith("="))  # fmt: skip
    assert memo.value == "=HYPERLINK(1)" and memo.data_type == "s"  # text, not a formula
    only = sheet_rows(book["bank only"])
    assert only[1][9] == "007" and only[1][3] == "break"  # leading zeros kept


def test_every_settlement_row_is_on_its_hops_sheet(tmp_path: Path) -> None:
    month = settlement_month(200, seed=3, break_rate=0.01)
    settlement = settle(month.erp, month.bills, month.bank)
    book = openpyxl.load_workbook(write_xlsx(settlement, tmp_path / "m.xlsx", lang="zh"))
    assert book.sheetnames[0] == "汇总" and "wechatpay 订单→账单" in book.sheetnames
    for table in settlement_hops(settlement):
        name = {"order_bank": "订单→银行", "bank_only": "仅银行流水"}.get(table.hop)
        if name is None:
            short = {"order_bill": "订单→账单", "bill_payout": "账单→结算款",
                     "payout_bank": "结算款→银行"}[table.hop]  # fmt: skip
            name = f"{table.channel} {short}"
        rows = sheet_rows(book[name])[1:]
        records = sum(
            1 if table.hop == "bill_payout" or r.rejected else len(r.left) + len(r.right)
            for r in table.rows
        )
        assert len(rows) == records, name
        assert {row[3] for row in rows} <= {"matched", "explained", "pending", "break"}
        breaks = {row[2] for row in rows if row[3] == "break"}
        assert len(breaks) == len(table.breaks())


def test_a_long_section_continues_on_a_second_sheet(tmp_path: Path) -> None:
    month = settlement_month(40, seed=2)
    settlement = settle(month.erp, month.bills, month.bank)
    book = openpyxl.load_workbook(
        write_xlsx(settlement, tmp_path / "m.xlsx", rows_per_sheet=50)
    )
    continued = [n for n in book.sheetnames if n.endswith("(2)")]
    assert "wechatpay order→bill (2)" in continued
    first = sheet_rows(book["wechatpay order→bill"])
    second = sheet_rows(book["wechatpay order→bill (2)"])
    assert len(first) == 50 and first[0] == second[0]  # the head again
    with pytest.raises(ValidationError, match="rows_per_sheet"):
        write_xlsx(settlement, tmp_path / "bad.xlsx", rows_per_sheet=1)
    assert not (tmp_path / "bad.xlsx").exists()


def test_a_pair_reconciliation_workbook_keeps_jpy_without_decimals(tmp_path: Path) -> None:
    erp = [Record("erp", "E1", "00042", Money("1500", "JPY"), at(1, 9))]
    bank = [Record("bank", "B1", "00042", Money("1500", "JPY"), at(1, 10))]
    result = reconcile(erp, bank)
    book = openpyxl.load_workbook(write_report(result, tmp_path / "p.xlsx", lang="zh"))
    assert book.sheetnames == ["汇总", "erp 对 bank"]
    rows = list(book["erp 对 bank"].iter_rows(min_row=2))
    refs = {row[8].value for row in rows}
    assert refs == {"00042"}  # text: the zeros stay
    assert {row[9].number_format for row in rows} == {"#,##0"}
    assert {row[9].value for row in rows} == {1500}


def test_without_openpyxl_the_error_names_the_extra_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    script = (
        "import sys; sys.modules['openpyxl'] = None\n"
        "from orderkit.reconcile.report import write_report, MissingXlsxExtra\n"
        "from orderkit.reconcile import reconcile\n"
        "try:\n"
        f"    write_report(reconcile([], []), {str(tmp_path / 'x.xlsx')!r})\n"
        "except MissingXlsxExtra as error:\n"
        "    print(type(error).__mro__[1].__name__, isinstance(error, ImportError), error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == (
        "OrderkitError True the .xlsx report needs the 'openpyxl' module:"
        ' pip install "orderkit[xlsx]"'
    )
    assert not (tmp_path / "x.xlsx").exists()
    assert issubclass(MissingXlsxExtra, ImportError)
    assert check_report_path(tmp_path / "ok.xlsx").suffix == ".xlsx"


def test_settle_writes_an_xlsx_report_from_the_command_line(tmp_path: Path) -> None:
    erp = tmp_path / "erp.csv"
    erp.write_text(
        "record_id,ref,amount,currency,at,channel\n"
        "W1,SO1,1234.50,CNY,2026-03-10T12:00:00+08:00,wechatpay\n",
        encoding="utf-8",
    )
    bill = tmp_path / "wechat.csv"
    bill.write_text(
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
        "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
        "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
        "费率备注\n"
        f"`2026-03-10 12:00:00,`wx1,`1900000001,`,`,`{WECHAT_ID},`SO1,`o1,`JSAPI,`SUCCESS,"
        "`CFT,`CNY,`1234.50,`0.00,`0,`0,`0.00,`0.00,`,`,`茶,`,`7.41000,`0.60%,`1234.50,"
        "`0.00,`\n"
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
        "`1,`1234.50,`0.00,`0.00,`7.41000,`1234.50,`0.00\n",
        encoding="utf-8",
    )
    bank = tmp_path / "bank.csv"
    bank.write_text(
        "交易日期,交易时间,借方金额,贷方金额,摘要,交易流水号\n"
        "2026-03-11,10:00:00,,1227.09,财付通 结算,B1\n",
        encoding="utf-8",
    )
    out = tmp_path / "report.xlsx"
    code = main(["settle", "--erp", str(erp), "--bill", f"wechatpay={bill}",
                 "--bank", str(bank), "--out", str(out)])  # fmt: skip
    book = openpyxl.load_workbook(out)
    assert code == 0
    assert "wechatpay payout→bank" in book.sheetnames
    rows = sheet_rows(book["wechatpay payout→bank"])[1:]
    assert {(row[9], row[11]) for row in rows} == {("wechatpay:2026-03-10", 1227.09),
                                                    ("B1", 1227.09)}  # fmt: skip
    assert Decimal(str(rows[0][11])) == Decimal("1227.09")


def test_settle_without_openpyxl_stops_before_reading_any_file(tmp_path: Path) -> None:
    missing = tmp_path / "not-read.csv"  # would fail with "cannot use" if it were opened
    script = (
        "import sys; sys.modules['openpyxl'] = None\n"
        "from orderkit.cli import main\n"
        f"raise SystemExit(main(['settle', '--erp', {str(missing)!r}, '--bank', "
        f"{str(missing)!r}, '--out', {str(tmp_path / 'r.xlsx')!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert 'pip install "orderkit[xlsx]"' in done.stderr
    assert "not-read.csv" not in done.stderr and "reading" not in done.stderr
    assert not (tmp_path / "r.xlsx").exists()
