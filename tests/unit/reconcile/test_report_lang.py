"""``--lang zh|en``: the HTML and CSV reports' labels in Chinese or English (the default)."""

from __future__ import annotations

import csv
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orderkit.cli import main
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile import Reconciliation, Record, Rejected, reconcile
from orderkit.reconcile.report import CSV_COLUMNS, LANGS, labels, write_report

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "reconcile"

#: English words of the page that a Chinese page must not show.
ENGLISH = (
    "Reconciliation report",
    "Summary",
    "Cross-system matrix",
    "Differences by kind",
    "match rate",
    "accounted for",
    "records dated",
    "files:",
    "left amount",
    "suggestions to confirm",
    "rejected input lines",
)


class _Text(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang: str | None = None
        self.heads: list[str] = []
        self.chunks: list[str] = []
        self._tag = ""
        self._style = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        self._style = tag == "style"
        if tag == "html":
            self.lang = dict(attrs).get("lang")

    def handle_endtag(self, tag: str) -> None:
        self._style = False

    def handle_data(self, data: str) -> None:
        if self._style:
            return
        self.chunks.append(data)
        if self._tag in ("h1", "h2", "th"):
            self.heads.append(data)

    @property
    def text(self) -> str:
        return " ".join(self.chunks)


def _result() -> Reconciliation:
    at = datetime(2026, 3, 14, 10, 0, tzinfo=SHANGHAI)
    left = [
        Record("erp", "SO-1", "SO-1", Money("98.00", "CNY"), at),
        Record("erp", "SO-2", "SO-2", Money("20.00", "CNY"), at),
        Record("erp", "SO-3", "SO-3", Money("35.00", "CNY"), at),
    ]
    right: list[Record | Rejected] = [
        Record("bank", "B-1", "SO-1", Money("98.00", "CNY"), at),
        Record("bank", "B-2", None, Money("35.00", "CNY"), at, memo="转账"),
        Rejected("bank", "bank.csv", 7, "贷方金额", "12,34", "not an amount", "x,12,34"),
    ]
    return reconcile(left, right, tz="Asia/Shanghai")


def test_chinese_html_report_has_chinese_labels_and_no_english_ones(tmp_path: Path) -> None:
    page = write_report(_result(), tmp_path / "r.html", files=("银行.csv",), lang="zh")
    parsed = _Text(page.read_text(encoding="utf-8"))
    assert parsed.lang == "zh"
    for head in ("对账报告", "汇总", "跨系统对照表", "差异明细（按类型）", "状态", "差异类型"):
        assert head in parsed.heads, head
    assert "文件：银行.csv" in parsed.text
    assert "匹配率" in parsed.text and "被拒绝的输入行（1）" in parsed.text
    for word in ENGLISH:
        assert word not in parsed.text, word
    assert "unmatched" in parsed.text  # statuses are codes, written as they are


def test_english_html_report_is_the_default(tmp_path: Path) -> None:
    page = write_report(_result(), tmp_path / "r.html", files=("bank.csv",))
    parsed = _Text(page.read_text(encoding="utf-8"))
    assert parsed.lang == "en"
    for word in ENGLISH[:5]:
        assert word in parsed.text, word
    assert "汇总" not in parsed.text


def test_csv_header_is_in_the_language_asked_for_and_the_cells_are_not(tmp_path: Path) -> None:
    rows = {}
    for lang in LANGS:
        out = write_report(_result(), tmp_path / f"r-{lang}.csv", lang=lang)
        with out.open(encoding="utf-8-sig", newline="") as handle:
            rows[lang] = list(csv.reader(handle))
    assert rows["en"][0] == ["at (Asia/Shanghai)" if c == "at" else c for c in CSV_COLUMNS]
    assert rows["zh"][0][:4] == ["结果序号", "对账方", "状态", "差异类型"]
    assert "金额" in rows["zh"][0] and "摘要" in rows["zh"][0]
    assert len(set(rows["zh"][0])) == len(CSV_COLUMNS)
    assert rows["zh"][1:] == rows["en"][1:]


def test_every_label_has_both_languages_and_an_unknown_language_is_refused(
    tmp_path: Path,
) -> None:
    assert set(labels("en")) == set(labels("zh"))
    assert all(labels("zh")[key] != labels("en")[key] for key in labels("en"))
    with pytest.raises(ValidationError):
        write_report(_result(), tmp_path / "r.csv", lang="fr")


@pytest.mark.parametrize(("lang", "title"), [("zh", "对账报告"), ("en", "Reconciliation report")])
def test_reconcile_command_writes_labels_in_the_language_asked_for(
    tmp_path: Path, lang: str, title: str
) -> None:
    html, table = tmp_path / "r.html", tmp_path / "r.csv"
    code = main(
        [
            "reconcile",
            "--left",
            str(FIXTURES / "erp_2026-02-16.csv"),
            "--right",
            str(FIXTURES / "wechatpay_20260216.csv"),
            "--right-format",
            "wechatpay",
            "--lang",
            lang,
            "--out",
            str(html),
            "--out",
            str(table),
        ]
    )
    assert code == 0
    assert _Text(html.read_text(encoding="utf-8")).heads[0] == title
    with table.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle))
    assert header[2] == labels(lang)["status"]
