"""The settlement report hop by hop: what a finance reviewer reads, checked in Chromium.

The month comes from ``orderkit.testing.settlement_month``: WeChat Pay and Alipay
orders, fees, refunds, T+1 payouts, Alipay withdrawals and one break of each kind. The
HTML page is opened in headless Chromium and read from the DOM it builds: the sections
per channel and hop, the column heads that name each hop's two sides, amounts to two
decimals with thousands separators, every break under its own hop and traced to its
orders, and no record under a hop it does not belong to.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

from orderkit.model.money import Money
from orderkit.reconcile import Record, Rejected, Settlement, reconcile, settle
from orderkit.reconcile.report import (
    SETTLEMENT_CSV_COLUMNS,
    labels,
    render_settlement_html,
    settlement_hops,
    write_report,
)
from orderkit.testing.browser import browser_dom
from orderkit.testing.settlement_month import Month, settlement_month

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: An amount as the report shows it: the currency, thousands separators, two decimals.
AMOUNT = re.compile(r"CNY -?\d{1,3}(,\d{3})*\.\d{2}")


def month() -> tuple[Month, Settlement]:
    data = settlement_month(60, seed=11, break_rate=0.02)
    return data, settle(data.erp, data.bills, data.bank)


class Page(HTMLParser):
    """The hop sections of a report page: class, title, column heads, rows."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[dict[str, object]] = []
        self.summary: list[tuple[str, list[str]]] = []
        self.carried: list[list[str]] = []
        self._section: dict[str, object] | None = None
        self._row: list[str] | None = None
        self._row_class = ""
        self._cell: list[str] | None = None
        self._cell_tag = ""
        self._h3: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "section":
            self._section = {"class": cls, "title": "", "heads": [], "rows": []}
            self.sections.append(self._section)
        elif tag == "h3" and self._section is not None:
            self._h3 = []
        elif tag == "tr":
            self._row, self._row_class = [], cls
        elif tag in ("td", "th") and self._row is not None:
            self._cell, self._cell_tag = [], tag

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None
        elif tag == "h3" and self._h3 is not None and self._section is not None:
            self._section["title"] = "".join(self._h3)
            self._h3 = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._section is not None:
                key = "heads" if not self._row_class else "rows"
                target = self._section[key]
                assert isinstance(target, list)
                if key == "heads":
                    target.extend(self._row)
                else:
                    target.append((self._row_class, self._row))
            elif self._row_class.startswith("summary"):
                self.summary.append((self._row_class, self._row))
            elif self._row_class == "carried":
                self.carried.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._h3 is not None:
            self._h3.append(data)


def look(chromium: str, tmp_path: Path, settlement: Settlement, lang: str = "en") -> Page:
    page = write_report(
        settlement, tmp_path / f"settle-{lang}.html", files=("erp.csv", "bank.csv"), lang=lang
    )
    return Page(browser_dom(chromium, page, tmp_path / f"profile-{lang}"))


def test_the_page_shows_each_channel_hop_by_hop_with_amounts_finance_can_read(
    tmp_path: Path, chromium: str
) -> None:
    data, settlement = month()
    page = look(chromium, tmp_path, settlement)
    kinds = [(s["class"], s["title"]) for s in page.sections]
    assert kinds == [
        ("hop order-bill", "order → wechatpay bill"),
        ("hop bill-payout", "wechatpay bill → payout"),
        ("hop payout-bank", "wechatpay payout → bank credit"),
        ("hop order-bill", "order → alipay bill"),
        ("hop bill-payout", "alipay bill → payout"),
        ("hop payout-bank", "alipay payout → bank credit"),
        ("hop order-bank", "order → bank (paid directly)"),
        ("hop bank-only", "bank lines no payout or order explains"),
    ]
    sides = {
        "hop order-bill": ("ERP", " bill"),
        "hop bill-payout": (" transactions", "payout"),
        "hop payout-bank": ("payout", "bank"),
        "hop bank-only": ("payout", "bank"),
    }
    derived = {p.record_id for p in settlement.derived}
    erp_ids = {r.record_id for r in data.erp}
    bank_ids = {r.record_id for r in data.bank}
    for section in page.sections:
        heads, rows = section["heads"], section["rows"]
        assert isinstance(heads, list) and isinstance(rows, list)
        if section["class"] in sides and rows:
            left, right = sides[str(section["class"])]
            assert heads[2].endswith(f"{left}: records") and heads[3].endswith(f"{left}: amount")
            assert heads[4].endswith(f"{right}: records"), heads
            assert heads[5].endswith(f"{right}: amount"), heads
        for _cls, cells in rows:
            # Amount cells: the currency's two decimals with thousands separators, never
            # the five places the WeChat Pay bill's sums carry.
            for amount in (cells[3], cells[5], cells[6]):
                assert amount in ("—", "") or AMOUNT.fullmatch(amount), amount
            shown = set(re.split(r"[; ]+", f"{cells[2]} {cells[4]}"))
            # No pair under the wrong hop: payouts only where payouts are, ERP records
            # only where orders are, bank lines only in the bank hops.
            if section["class"] == "hop order-bill":
                assert not shown & (derived | bank_ids)
            if section["class"] in ("hop payout-bank", "hop bank-only"):
                assert not shown & erp_ids
            if section["class"] == "hop bill-payout":
                assert not shown & (erp_ids | bank_ids)
    # The summary names the hops with their counts and totals.
    summary = {cells[0] + " | " + cells[1]: cells for _cls, cells in page.summary}
    wechat_bank = summary["wechatpay | wechatpay payout → bank credit"]
    short_payouts = [r for r in data.breaks["credit_short"] if r.startswith("wechatpay:")]
    assert wechat_bank[5] == str(len(short_payouts))
    assert AMOUNT.fullmatch(wechat_bank[6]) and "," in wechat_bank[6]


def test_every_break_sits_under_its_own_hop_and_names_its_orders(
    tmp_path: Path, chromium: str
) -> None:
    data, settlement = month()
    page = look(chromium, tmp_path, settlement)
    refs = {r.record_id: r.ref for r in data.erp}
    where: dict[str, str] = {}
    for section in page.sections:
        rows = section["rows"]
        assert isinstance(rows, list)
        for cls, cells in rows:
            if cls == "row break":
                for record_id in re.split(r"; ", cells[2]) + re.split(r"; ", cells[4]):
                    if record_id != "—":
                        where[record_id] = f"{section['class']} {section['title']}"
                if section["class"] != "hop bank-only":
                    assert cells[7] != "—", cells  # traced to its orders
    for record_id in data.breaks["missing_from_bill"] | data.breaks["amount_differs"]:
        assert where[record_id].startswith("hop order-bill"), record_id
    for record_id in data.breaks["missing_from_bill"]:
        assert refs[record_id] in _orders_of(page, record_id)
    # A short credit: the payout waits under its channel's payout hop; the credit, which
    # no payout explains, among the bank's own lines.
    short = data.breaks["credit_short"]
    for record_id in short:
        hop = "payout-bank wechatpay payout" if record_id.startswith("wechatpay:") else "bank-only"
        assert where[record_id].startswith(f"hop {hop}"), record_id
    assert {k for k, v in where.items() if v.startswith("hop bank-only")} == set(
        data.breaks["unknown_credit"] | {r for r in short if r.startswith("BW")}
    )
    # A short WeChat Pay credit names the orders its payout adds up.
    (payout,) = [p for p in settlement.derived if p.record_id in data.breaks["credit_short"]]
    orders = _orders_of(page, payout.record_id)
    members = settlement.members(payout)
    assert orders.startswith(str(members[0].ref))


def _orders_of(page: Page, record_id: str) -> str:
    for section in page.sections:
        rows = section["rows"]
        assert isinstance(rows, list)
        for _cls, cells in rows:
            if record_id in re.split(r"; ", cells[2]) + re.split(r"; ", cells[4]):
                return cells[7]
    raise AssertionError(f"{record_id} is not on the page")


def test_the_chinese_page_names_the_hops_in_chinese(tmp_path: Path, chromium: str) -> None:
    _data, settlement = month()
    page = look(chromium, tmp_path, settlement, lang="zh")
    titles = [s["title"] for s in page.sections]
    assert titles[:3] == [
        "订单 → wechatpay 账单",
        "wechatpay 账单 → 结算款",
        "wechatpay 结算款 → 银行入账",
    ]
    heads = page.sections[2]["heads"]
    assert isinstance(heads, list) and heads[3] == "结算款：金额" and heads[5] == "银行：金额"


def test_every_outcome_is_in_exactly_one_hop_table() -> None:
    _data, settlement = month()
    tables = settlement_hops(settlement)
    placed = [
        (row.status, tuple(map(id, row.left)), tuple(map(id, row.right)))
        for table in tables
        if table.hop != "bill_payout"
        for row in table.rows
    ]
    outcomes = [
        (o.status, tuple(map(id, o.left)), tuple(map(id, o.right))) for o in settlement.outcomes
    ]
    assert sorted(placed) == sorted(outcomes)
    # The payout hop adds up each derived payout from its transactions.
    for table in tables:
        if table.hop == "bill_payout":
            left, right = table.totals()
            derived = [row for row in table.rows if row.rule == "daily_net"]
            for row in derived:
                assert row.left_amount == row.right_amount
            if table.channel == "wechatpay":
                assert left == right and len(derived) == len(table.rows)
    assert sum(len(t.breaks()) for t in tables) == len(settlement.breaks())


def five_decimal_month() -> Settlement:
    """Bill amounts with five places, as the WeChat Pay reader gives them."""
    at = datetime(2026, 3, 10, 12, tzinfo=SHANGHAI)
    erp = [Record("erp", "W1/P1", "SO1", Money("1234.50", "CNY"), at, channel="wechatpay")]
    bill = [
        Record("wechatpay", "4200001001202603101234567890", "SO1", Money("1234.50000", "CNY"), at),
        Record("wechatpay", "4200001001#fee", "SO1", Money("-7.41000", "CNY"), at, kind="fee"),
    ]
    credit = datetime(2026, 3, 11, 10, tzinfo=SHANGHAI)
    bank = [Record("bank", "BK1", None, Money("1227.09", "CNY"), credit, memo="=HYPERLINK(1)")]
    return settle(erp, {"wechatpay": bill}, bank)


def test_a_payout_of_five_decimal_bill_lines_shows_to_the_fen() -> None:
    page = render_settlement_html(five_decimal_month())
    assert "CNY 1,227.09" in page and "1227.09000" not in page and "1,227.09000" not in page
    assert "CNY -7.41" in page and "7.41000" not in page


def test_a_derived_payout_its_memo_chain_and_json_give_amounts_to_the_fen(
    tmp_path: Path,
) -> None:
    month = five_decimal_month()
    (payout,) = month.derived
    assert str(payout.amount) == "CNY 1227.09"
    assert "1227.09 " in str(month.chain("SO1")[2]) and "000" not in str(month.chain("SO1")[2])
    assert month.summary()["amount_accounted"] == {"CNY": "3688.68"}
    assert month.conservation()["amount_in"] == {"CNY": "3688.68"}
    report = write_report(month, tmp_path / "s.json").read_text(encoding="utf-8")
    assert "7.41000" not in report and "1234.50000" not in report
    assert '"-7.41"' in report


def test_the_page_gives_the_inputs_of_each_source_not_one_sum_of_all() -> None:
    month = five_decimal_month()
    assert month.summary()["inputs"] == [
        {"source": "erp", "channel": "", "records": 1, "amount": {"CNY": "1234.50"}},
        {"source": "bill", "channel": "wechatpay", "records": 2, "amount": {"CNY": "1227.09"}},
        {"source": "bank", "channel": "", "records": 1, "amount": {"CNY": "1227.09"}},
    ]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", render_settlement_html(month)))
    assert (
        "inputs: ERP 1 record, CNY 1,234.50; wechatpay bill 2 records, CNY 1,227.09;"
        " bank 1 record, CNY 1,227.09;"
    ) in text
    assert "3,688.68" not in text


def test_the_csv_names_channel_and_hop_and_writes_amounts_to_the_fen(tmp_path: Path) -> None:
    target = write_report(five_decimal_month(), tmp_path / "s.csv")
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "at (Asia/Shanghai)" if c == "at" else c for c in SETTLEMENT_CSV_COLUMNS
    ]
    by = {(r["hop"], r["record_id"]): r for r in rows}
    payout = by["bill_payout", "wechatpay:2026-03-10"]
    assert (payout["channel"], payout["amount"]) == ("wechatpay", "1227.09")
    assert payout["orders"] == "SO1"
    assert by["order_bill", "'4200001001202603101234567890"]["amount"] == "1234.50"
    assert by["payout_bank", "BK1"]["memo"] == "'=HYPERLINK(1)"
    assert {r["hop"] for r in rows if r["source"] == "bank"} == {"payout_bank"}
    zh = write_report(five_decimal_month(), tmp_path / "zh.csv", lang="zh")
    head = zh.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert head[:3] == [labels("zh")[c] for c in ("channel", "hop", "row")]


def test_the_csvs_give_times_in_the_accounting_zone_named_in_the_head(tmp_path: Path) -> None:
    # A credit the bank dates 6 March (00:00 Beijing) and a sale at 07:30 on 1 April:
    # in UTC they would read 5 March and 31 March, and a filter on the date puts them in
    # the wrong day (the second in the wrong month).
    credit = datetime(2026, 3, 6, tzinfo=SHANGHAI)
    early = datetime(2026, 4, 1, 7, 30, tzinfo=SHANGHAI)
    erp = [Record("erp", "E1", "SO1", Money("10.00", "CNY"), early, channel="bank")]
    bank = [Record("bank", "BK1", "SO1", Money("10.00", "CNY"), credit)]
    for result, name in ((settle(erp, {}, bank), "s.csv"), (reconcile(erp, bank), "p.csv")):
        for lang, head in (("en", "at (Asia/Shanghai)"), ("zh", "时间 (Asia/Shanghai)")):
            target = write_report(result, tmp_path / f"{lang}-{name}", lang=lang)
            with target.open(encoding="utf-8-sig", newline="") as handle:
                rows = list(csv.DictReader(handle))
            assert {r[head] for r in rows} == {
                "2026-04-01T07:30:00+08:00", "2026-03-06T00:00:00+08:00"
            }, name


def test_a_rejected_line_is_listed_once_under_the_file_it_came_from(tmp_path: Path) -> None:
    at = datetime(2026, 3, 10, 12, tzinfo=SHANGHAI)
    erp = [
        Record("erp", "W1", "SO1", Money("10.00", "CNY"), at, channel="wechatpay"),
        Rejected("erp", "erp.csv", 10, "amount", "1O0.00", "expected an amount"),
    ]
    bill = [
        Record("wechatpay", "4200001", "SO1", Money("10.00", "CNY"), at),
        Rejected("wechatpay", "wechat.csv", 7, "amount", "x", "expected an amount"),
    ]
    bank = [Rejected("bank", "bank.csv", 4, "credit", "?", "expected an amount")]
    settlement = settle(erp, {"wechatpay": bill}, bank)
    sides = {
        (t.hop, r.rejected.file): r.rejected_side
        for t in settlement_hops(settlement)
        for r in t.rows
        if r.rejected is not None
    }
    assert sides == {
        ("order_bank", "erp.csv"): "left",
        ("order_bill", "wechat.csv"): "right",
        ("bank_only", "bank.csv"): "right",
    }
    page = Page(render_settlement_html(settlement))
    shown = {
        cells[2] if cells[2] != "—" else cells[4]: (cells[2] != "—", cells[4] != "—")
        for section in page.sections
        for _cls, cells in section["rows"]  # type: ignore[attr-defined]
        if cells[1] == "rejected"
    }
    assert shown == {
        "erp.csv:10 amount": (True, False),
        "wechat.csv:7 amount": (False, True),
        "bank.csv:4 credit": (False, True),
    }
    target = write_report(settlement, tmp_path / "s.csv")
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["status"] == "rejected"]
    assert {(r["record_id"], r["side"]) for r in rows} == {
        ("erp.csv:10", "left"), ("wechat.csv:7", "right"), ("bank.csv:4", "right")
    }


def test_each_hops_totals_are_the_amounts_of_the_sources_on_its_sides() -> None:
    data, settlement = month()
    tables = {(t.channel, t.hop): t for t in settlement_hops(settlement)}

    def total(records: list[Record]) -> dict[str, Decimal]:
        return {"CNY": sum((r.amount.amount for r in records), Decimal(0))}

    bank_right: Decimal = Decimal(0)
    for channel, lines in data.bills.items():
        left, right = tables[channel, "order_bill"].totals()
        assert left == total([r for r in data.erp if r.channel == channel])
        assert right == total([r for r in lines if r.kind != "transfer"])
        bank_right += tables[channel, "payout_bank"].totals()[1].get("CNY", Decimal(0))
    bank_right += tables["", "bank_only"].totals()[1].get("CNY", Decimal(0))
    bank_right += tables["", "order_bank"].totals()[1].get("CNY", Decimal(0))
    assert {"CNY": bank_right} == total(data.bank)


def carried_month() -> Settlement:
    """Alipay keeps 99.40 (a sale, no withdrawal); WeChat Pay's last day is a refund its
    next payout will take (49.70 with the fee it gives back)."""
    erp = [
        Record("erp", "TM1", "SO2", Money("100.00", "CNY"), datetime(2026, 3, 14, 20,
               tzinfo=SHANGHAI), channel="alipay"),
        Record("erp", "W1", "SO1", Money("170.00", "CNY"), datetime(2026, 3, 10, 12,
               tzinfo=SHANGHAI), channel="wechatpay"),
        Record("erp", "W1R", "SO1", Money("-50.00", "CNY"), datetime(2026, 3, 20, 9,
               tzinfo=SHANGHAI), kind="refund", channel="wechatpay"),
    ]
    alipay = [
        Record("alipay", "A1", "SO2", Money("100.00", "CNY"), erp[0].at),
        Record("alipay", "A1#fee", "SO2", Money("-0.60", "CNY"), erp[0].at, kind="fee"),
    ]
    wechat = [
        Record("wechatpay", "T1", "SO1", Money("170.00", "CNY"), erp[1].at),
        Record("wechatpay", "T1#fee", "SO1", Money("-1.02", "CNY"), erp[1].at, kind="fee"),
        Record("wechatpay", "R1", "SO1", Money("-50.00", "CNY"), erp[2].at, kind="refund"),
        Record("wechatpay", "R1#fee", "SO1", Money("0.30", "CNY"), erp[2].at, kind="fee"),
    ]
    bank = [Record("bank", "BK1", None, Money("168.98", "CNY"),
                   datetime(2026, 3, 11, 10, tzinfo=SHANGHAI))]
    month = settle(erp, {"wechatpay": wechat, "alipay": alipay}, bank)
    assert month.conservation()["balanced"] is True
    assert month.breaks() == []
    return month


def test_the_reports_show_what_each_channel_still_holds(tmp_path: Path, chromium: str) -> None:
    month = carried_month()
    page = look(chromium, tmp_path, month)
    assert page.carried == [["wechatpay", "CNY -49.70"], ["alipay", "CNY 99.40"]]
    zh = look(chromium, tmp_path, month, lang="zh")
    assert zh.carried == page.carried
    assert labels("zh")["carried"] in render_settlement_html(month, lang="zh")
    report = json.loads(write_report(month, tmp_path / "s.json").read_text(encoding="utf-8"))
    assert report["summary"]["settlement"]["carried"] == {
        "wechatpay": {"CNY": "-49.70"},
        "alipay": {"CNY": "99.40"},
    }
    assert report["summary"]["settlement"] == json.loads(json.dumps(month.summary()))
    # Nothing carried: the page says so.
    plain = five_decimal_month()
    assert plain.carried() == {}
    html = render_settlement_html(plain)
    assert Page(html).carried == [] and labels("en")["carried_none"] in html


def test_the_workbook_summary_shows_what_each_channel_still_holds(tmp_path: Path) -> None:
    import openpyxl  # the test extra's

    from orderkit.reconcile.report import write_xlsx

    month = carried_month()
    book = openpyxl.load_workbook(write_xlsx(month, tmp_path / "s.xlsx"))
    rows = [[cell for cell in row if cell is not None]
            for row in book[labels("en")["sheet_summary"]].iter_rows(values_only=True)]
    at = rows.index([labels("en")["carried"]])
    # A workbook keeps numbers as binary floats: read back through their text.
    shown = [[channel, currency, Decimal(str(amount)).quantize(Decimal("0.01"))]
             for channel, currency, amount in rows[at + 3:at + 5]]
    assert shown == [["wechatpay", "CNY", Decimal("-49.70")], ["alipay", "CNY", Decimal("99.40")]]
    plain = openpyxl.load_workbook(write_xlsx(five_decimal_month(), tmp_path / "p.xlsx"))
    values = [cell for row in plain[labels("en")["sheet_summary"]].iter_rows(values_only=True)
              for cell in row]
    assert labels("en")["carried_none"] in values


def withdrawal_month() -> Settlement:
    """A Tmall order paid through Alipay, its fee, and the balance withdrawn to the bank
    (the bill's own payout row, -254.46 in the bill) and credited the same morning."""
    at = datetime(2026, 3, 14, 20, tzinfo=SHANGHAI)
    erp = [Record("erp", "TM1", "SO2", Money("256.00", "CNY"), at, channel="alipay")]
    alipay = [
        Record("alipay", "A01", "SO2", Money("256.00", "CNY"), at),
        Record("alipay", "A01#fee", "SO2", Money("-1.54", "CNY"), at, kind="fee"),
        Record("alipay", "A02", None, Money("-254.46", "CNY"),
               datetime(2026, 3, 25, 9, tzinfo=SHANGHAI), kind="transfer", memo="提现"),
    ]
    bank = [Record("bank", "BK1", None, Money("254.46", "CNY"),
                   datetime(2026, 3, 25, 9, 5, tzinfo=SHANGHAI), kind="transfer")]
    month = settle(erp, {"alipay": alipay}, bank)
    assert month.conservation()["balanced"] is True
    assert month.breaks() == []
    return month


def test_a_withdrawal_is_paid_out_as_the_bank_sees_it_in_every_report(tmp_path: Path) -> None:
    import openpyxl  # the test extra's

    month = withdrawal_month()
    tables = {(t.channel, t.hop): t for t in settlement_hops(month)}
    (stated,) = tables["alipay", "bill_payout"].rows
    (credited,) = tables["alipay", "payout_bank"].rows
    assert (stated.state, stated.status) == ("explained", "stated")
    assert stated.right_amount == {"CNY": Decimal("254.46")}
    assert credited.left_amount == credited.right_amount == {"CNY": Decimal("254.46")}
    # Nothing to compare on a row the bill states, nor on a match: no difference.
    assert stated.difference == {} and credited.difference == {}
    assert tables["alipay", "bill_payout"].totals() == ({}, {"CNY": Decimal("254.46")})
    # The CSV and the workbook write the payout the same way as the page.
    target = write_report(month, tmp_path / "s.csv")
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["hop"], r["amount"]) for r in rows if r["record_id"] == "A02"} == {
        ("bill_payout", "254.46"), ("payout_bank", "254.46")
    }
    book = openpyxl.load_workbook(write_report(month, tmp_path / "s.xlsx"))
    for name in ("alipay bill→payout", "alipay payout→bank"):
        (head, *cells) = list(book[name].iter_rows(values_only=True))
        # A workbook keeps numbers as binary floats: read back through their text.
        amounts = [
            Decimal(str(row[head.index("amount")]))
            for row in cells
            if row[head.index("record_id")] == "A02"
        ]
        assert amounts == [Decimal("254.46")], name
    page = Page(render_settlement_html(month))
    (section,) = [s for s in page.sections if s["class"] == "hop bill-payout"]
    (row,) = [cells for _cls, cells in section["rows"]]  # type: ignore[union-attr]
    assert row[5] == "CNY 254.46" and row[6] == "", row
