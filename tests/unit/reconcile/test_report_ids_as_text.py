"""Long numeric ids stay text in the CSV report: no ``4.2E+27``, no lost leading zeros."""

from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from orderkit.model.money import Money
from orderkit.reconcile import Record, reconcile, settle
from orderkit.reconcile.report import spreadsheet_text, write_csv, write_report

SHANGHAI = ZoneInfo("Asia/Shanghai")
TID = "3698512204871532841"  # a Tmall tid: 19 digits
WECHAT = "4200001234202603011234567890"  # a WeChat Pay transaction id: 28 digits
#: What a spreadsheet opening a CSV reads as a number.
NUMBER = re.compile(r"[+-]?[0-9][0-9.,/:eE+-]*\Z")


def _loaded(cell: str) -> str:
    """An id cell as a program loading the report strips it: one leading quote off."""
    return cell[1:] if cell.startswith("'") else cell


def test_long_numeric_ids_are_written_as_text_and_read_back_whole(tmp_path: Path) -> None:
    at = datetime(2026, 3, 14, 10, 0, tzinfo=SHANGHAI)
    left = [
        Record("erp", "SO-1", TID, Money("98.00", "CNY"), at),
        Record("erp", "00123", WECHAT, Money("12.00", "CNY"), at),
        Record("erp", "'quoted", None, Money("5.00", "CNY"), at),
    ]
    right = [
        Record("alipay", "2026031422001400001", TID, Money("98.00", "CNY"), at),
        Record("wechatpay", WECHAT, WECHAT, Money("12.00", "CNY"), at),
    ]
    out = write_csv(reconcile(left, right), tmp_path / "report.csv")
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))

    ids = [(row["record_id"], row["ref"]) for row in rows]
    for record_id, ref in ids:
        for cell in (record_id, ref):
            assert not NUMBER.match(cell), cell  # no id cell is a number to a spreadsheet
    assert ("'" + WECHAT, "'" + WECHAT) in ids
    assert ("'00123", "'" + WECHAT) in ids
    assert ("SO-1", "'" + TID) in ids
    loaded = {(_loaded(record_id), _loaded(ref)) for record_id, ref in ids}
    assert loaded == {
        ("SO-1", TID),
        ("2026031422001400001", TID),
        ("00123", WECHAT),
        (WECHAT, WECHAT),
        ("'quoted", ""),
    }
    amounts = {row["amount"] for row in rows}
    assert amounts == {"98.00", "12.00", "5.00"}  # amounts stay numbers


@given(st.text(alphabet="0123456789+-.eE'=@ xT", max_size=30))
def test_an_id_cell_is_never_a_number_or_a_formula_and_loads_back(cell: str) -> None:
    written = spreadsheet_text(cell)
    assert _loaded(written) == cell
    assert not NUMBER.match(written)
    assert not written.startswith(("=", "+", "-", "@", "\t", "\r", "\0"))


def test_the_settlement_csv_keeps_numeric_order_numbers_text_in_the_orders_column(
    tmp_path: Path,
) -> None:
    # A Tmall tid as the order number: the payout of its day names it alone in `orders`,
    # the column finance traces a payout back by. A bare number there would read
    # 3.69851E+18 and be saved back rounded.
    at = datetime(2026, 3, 14, 10, 0, tzinfo=SHANGHAI)
    erp = [Record("erp", "E1", TID, Money("98.00", "CNY"), at, channel="wechatpay")]
    bill = [Record("wechatpay", WECHAT, TID, Money("98.00", "CNY"), at)]
    out = write_report(settle(erp, {"wechatpay": bill}, []), tmp_path / "s.csv")
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["orders"] for row in rows} == {"'" + TID}
    assert {_loaded(row["orders"]) for row in rows} == {TID}
