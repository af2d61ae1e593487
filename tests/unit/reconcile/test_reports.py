"""Reports, the ``orderkit reconcile`` command, the example script and the demo chapter."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from orderkit.cli import main
from orderkit.demo import CHAPTERS, Story, chapter_reconcile
from orderkit.model.errors import ValidationError
from orderkit.reconcile import Record, Rejected, reconcile, reconcile_many
from orderkit.reconcile.readers import read_erp_csv, read_pos_csv, read_wechatpay_bill
from orderkit.reconcile.report import CSV_COLUMNS, render_html, write_report
from orderkit.testing import ManualClock

ROOT = Path(__file__).parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "reconcile"
ERP = FIXTURES / "erp_2026-02-16.csv"
WECHAT = FIXTURES / "wechatpay_20260216.csv"
BANK = FIXTURES / "bank_2026-02.csv"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_cli_writes_html_json_and_csv_with_progress_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outs = [tmp_path / "report.html", tmp_path / "report.json", tmp_path / "report.csv"]
    code = main(
        [
            "reconcile",
            "--left",
            str(ERP),
            "--right",
            str(WECHAT),
            "--right-format",
            "wechatpay",
            "--tz",
            "Asia/Shanghai",
            *(arg for out in outs for arg in ("--out", str(out))),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out == ""
    assert "reading wechatpay_20260216.csv: 5 rows" in captured.err
    assert f"wrote {outs[0]}" in captured.err

    data = json.loads(outs[1].read_text(encoding="utf-8"))
    assert data["summary"]["by_kind"]["platform_fee"]["outcomes"] == 5
    assert len(data["outcomes"]) == 11
    assert {o["status"] for o in data["outcomes"]} == {"matched", "difference"}
    fee = next(o for o in data["outcomes"] if o["kind"] == "platform_fee")
    assert [step["source"] for step in fee["trace"]][:2] == ["erp", "wechatpay"]

    with outs[2].open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["at (Asia/Shanghai)" if c == "at" else c for c in CSV_COLUMNS]
    assert len(rows) == 16  # every record once: 5 ERP + 11 WeChat Pay
    assert {row["kind"] for row in rows} == {"", "platform_fee", "coupon_or_subsidy"}

    html = outs[0].read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(html)
    tags = [tag for tag, _ in parser.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags  # self-contained
    assert "style" in tags
    assert "Cross-system matrix" in html and "platform_fee (5)" in html


def test_cli_bank_csv_with_column_mapping_reports_rejected_rows_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bank.json"
    code = main(
        [
            "reconcile",
            "--left",
            str(ERP),
            "--right",
            str(BANK),
            "--bank-columns",
            "record_id=交易流水号,at=交易时间,credit=贷方金额,debit=借方金额,memo=摘要",
            "--date-format",
            "%Y/%m/%d %H:%M",
            "--alert-threshold",
            "100.00",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1  # EXIT_REFUSED: a rejected line and breaks need a person
    assert "outcomes need a person" in err
    assert "ALERT [warning] erp vs bank 2026-02-16" in err
    data = json.loads(out.read_text(encoding="utf-8"))
    (rejected,) = [o for o in data["outcomes"] if o["status"] == "rejected"]
    assert rejected["rejected"]["line"] == 4 and rejected["rejected"]["column"] == "贷方金额"


def test_cli_names_a_file_with_no_rows_after_the_file_not_right(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bill with no rows for the period: its side is named after the file in the
    alerts, never ``right``."""
    empty = tmp_path / "bank_2026-03.csv"
    empty.write_text(BANK.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    code = main(["reconcile", "--left", str(ERP), "--right", str(empty), "--bank-columns",
                 "record_id=交易流水号,at=交易时间,credit=贷方金额,debit=借方金额,memo=摘要",
                 "--date-format", "%Y/%m/%d %H:%M", "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 1  # every ERP order is missing from the bank
    assert "erp vs bank_2026-03" in err and "vs right" not in err
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert (data["summary"]["left_source"], data["summary"]["right_source"]) == (
        "erp", "bank_2026-03")


def test_cli_refuses_an_unknown_report_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "reconcile",
            "--left",
            str(ERP),
            "--right",
            str(WECHAT),
            "--right-format",
            "wechatpay",
            "--out",
            str(tmp_path / "report.xls"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "expected a .html, .json, .csv or .xlsx" in err
    assert "reading" not in err  # refused before any file was read


def test_html_matrix_highlights_the_cells_that_differ() -> None:
    result = reconcile_many(
        {
            "erp": read_erp_csv(ERP),
            "pos": read_pos_csv(FIXTURES / "pos_store7.csv"),
            "wechatpay": read_wechat_list(),
        }
    )
    rows = result.matrix()
    first = next(row for row in rows if row.key == "SO20260216000892")
    assert [cell.status for cell in first.cells] == ["matched", "matched", "matched"]
    assert [step.source for step in first.trace] == ["pos", "erp", "wechatpay"]
    assert any(cell.differs for row in rows for cell in row.cells)
    html = render_html(result)
    assert html.count('class="diff num"') >= 1
    assert "<td>SO20260216000893</td>" in html  # in the WeChat bill, not at the till
    assert "<td>SO20260216000892</td>" not in html  # clean everywhere: not in the matrix


def read_wechat_list() -> list[Record | Rejected]:
    return list(read_wechatpay_bill(WECHAT))


def test_write_report_picks_the_writer_from_the_suffix(tmp_path: Path) -> None:
    result = reconcile(read_erp_csv(ERP), read_wechatpay_bill(WECHAT))
    assert json.loads(write_report(result, tmp_path / "r.JSON").read_text(encoding="utf-8"))
    with pytest.raises(ValidationError):
        write_report(result, tmp_path / "r.txt")


def test_month_end_example_writes_reports_and_flags_breaks(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "month_end.py"),
            str(ERP),
            str(WECHAT),
            str(BANK),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "platform_fee" in done.stdout and "missing_right" in done.stdout
    assert "ALERT erp vs bank 2026-02-16" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "report.csv",
        "report.html",
        "report.json",
    ]


_WECHAT_HEAD = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,"
    "退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)


def _month_end(tmp_path: Path, orders: list[str], bank: str) -> subprocess.CompletedProcess[str]:
    """Run ``examples/month_end.py`` on ERP orders of CNY 88.00 each (paid by WeChat Pay
    at 10:00 on 2026-03-17, Shanghai time) and on the bank line ``bank``."""
    erp = tmp_path / "erp.csv"
    erp.write_text(
        "record_id,ref,amount,at,currency\n"
        + "".join(
            f"E{i},{ref},88.00,2026-03-17T10:00:00+08:00,CNY\n" for i, ref in enumerate(orders)
        ),
        encoding="utf-8",
    )
    rows = [
        ",".join(
            "`" + cell
            for cell in (
                "2026-03-17 10:00:01", "wx1", "1900000109", "0", "", f"420000{i}", ref, "oU",
                "JSAPI", "SUCCESS", "CMB_DEBIT", "CNY", "88.00", "0.00", "0", "0", "0.00",
                "0.00", "", "", "茶", "", "0.00000", "0.60%", "88.00", "0.00", "",
            )
        )
        for i, ref in enumerate(orders)
    ]
    wechat = tmp_path / "wechat.csv"
    total = f"{88 * len(orders)}.00"
    summary = [
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
        f"`{len(orders)},`{total},`0.00,`0.00,`0.00000,`{total},`0.00",
    ]
    wechat.write_text("\n".join([_WECHAT_HEAD, *rows, *summary]) + "\n", encoding="utf-8")
    statement = tmp_path / "bank.csv"
    statement.write_text(
        "交易流水号,交易时间,贷方金额,借方金额,摘要\n" + bank + "\n", encoding="utf-8"
    )
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "month_end.py"),
            str(erp),
            str(wechat),
            str(statement),
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )


def test_month_end_example_exits_1_when_only_suggestions_need_a_person(tmp_path: Path) -> None:
    done = _month_end(
        tmp_path, ["SO20260317000004", "SO20260317000005"], "BK1,2026/03/17 12:00,88.00,,转账"
    )
    assert "need a person        3" in done.stdout  # two orders and one bank credit
    assert done.returncode == 1, done.stderr


def test_month_end_example_exits_0_when_a_rounding_is_all_that_differs(tmp_path: Path) -> None:
    done = _month_end(
        tmp_path, ["SO20260317000004"], "BK1,2026/03/17 12:00,87.99,,货款 SO20260317000004"
    )
    assert "rounding             1" in done.stdout
    assert "need a person" not in done.stdout
    assert done.returncode == 0, done.stdout + done.stderr


def test_demo_ends_with_a_reconciliation_and_its_difference_summary(tmp_path: Path) -> None:
    out = io.StringIO()
    story = Story(
        out=out,
        db_path=tmp_path / "demo.db",
        clock=ManualClock(datetime(2026, 2, 16, 2, 0, tzinfo=UTC)),
    )
    chapter_reconcile(story)
    text = out.getvalue()
    assert chapter_reconcile in CHAPTERS
    assert "SO20260228000001: erp matched, pos difference (cross_period), bank pending" in text
    assert "erp vs bank: match rate 80%; outcomes by kind: pending x1" in text
    assert "erp vs pos: match rate 40%; outcomes by kind: cross_period x1, missing_right x1" in text


def test_the_page_of_an_empty_month_shows_a_dash_for_its_amounts_as_the_settle_page_does() -> (
    None
):
    page = render_html(reconcile([], [], names=("erp", "bank")))
    assert "amounts in —, accounted for — (balanced)" in page
    assert "amounts in , " not in page
