"""The HTML report as finance reads it: amounts to the minor unit with thousands
separators, the cut-off in local time, the period and the files in the header, each
difference with its date and memo; checked in the DOM a browser builds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orderkit.model.money import Money
from orderkit.reconcile import Record, Rules, reconcile, reconcile_many
from orderkit.reconcile.report import format_amount, write_report
from orderkit.testing.browser import browser_dom


@pytest.mark.parametrize(
    ("value", "currency", "text"),
    [
        ("1234567.5", "CNY", "CNY 1,234,567.50"),
        ("-0.99000", "CNY", "CNY -0.99"),
        ("0.00123", "CNY", "CNY 0.00123"),
        ("1500", "JPY", "JPY 1,500"),
        ("12.345", "KWD", "KWD 12.345"),
    ],
)
def test_amounts_are_shown_to_the_minor_unit_with_thousands_separators(
    value: str, currency: str, text: str
) -> None:
    assert format_amount(Decimal(value), currency) == text


def test_the_report_header_and_differences_read_as_finance_needs(
    tmp_path: Path, chromium: str
) -> None:
    at = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)  # 23:30 on the 31st in Beijing
    erp = [Record("erp", "E1", "SO20260331000001", Money("1234567.50", "CNY"), at)]
    bank = [
        Record(
            "bank",
            "B1",
            None,
            Money("1234560.50", "CNY"),
            at,
            memo="货款 SO20260331000001",
        )
    ]
    cutoff = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)  # midnight, 1 April, in Beijing
    result = reconcile(erp, bank, rules=Rules(cutoff=cutoff))
    page = write_report(result, tmp_path / "r.html", files=("erp.csv", "bank-2026-03.csv"))
    dom = browser_dom(chromium, page, tmp_path / "profile")
    assert "cut-off 2026-04-01 00:00 (Asia/Shanghai)" in dom
    assert "records dated 2026-03-31 – 2026-03-31 (Asia/Shanghai)" in dom
    assert "files: erp.csv, bank-2026-03.csv" in dom
    assert "CNY 1,234,567.50" in dom and "CNY 1,234,560.50" in dom
    assert "1234567.50" not in dom  # no amount without its separators
    assert "B1 CNY 1,234,560.50 2026-03-31 23:30 货款 SO20260331000001" in dom


def test_the_cross_system_matrix_shows_amounts_as_the_rest_of_the_page(
    tmp_path: Path, chromium: str
) -> None:
    at = datetime(2026, 3, 10, 4, tzinfo=UTC)
    ref = "SO20260310000001"
    erp = [Record("erp", "E1", ref, Money("1234.50", "CNY"), at)]
    wechat = [
        Record("wechatpay", "T1", ref, Money("1234.50", "CNY"), at),
        Record("wechatpay", "T1#fee", ref, Money("-0.99000", "CNY"), at, kind="fee"),
    ]
    bank = [Record("bank", "B1", None, Money("1234.49", "CNY"), at, memo=ref)]
    result = reconcile_many({"erp": erp, "wechatpay": wechat, "bank": bank})
    page = write_report(result, tmp_path / "r.html")
    dom = browser_dom(chromium, page, tmp_path / "profile")
    assert "CNY 1,234.49 (rounding)" in dom
    assert "CNY -0.99 (platform_fee)" in dom
    assert "1234.5" not in dom and "0.99000" not in dom
