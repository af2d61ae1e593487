"""The reports as an Excel workbook (``.xlsx``), written with openpyxl (the ``xlsx`` extra).

``pip install "orderkit[xlsx]"`` installs openpyxl; without it, :func:`write_xlsx` raises
:class:`MissingXlsxExtra` (an :class:`~orderkit.model.errors.OrderkitError` and an
:class:`ImportError`) naming that command. Importing this module never needs openpyxl.

The workbook has a summary sheet first: the title, the accounting period, the zone, the
records' dates, the cut-off in local time, one row per source file, then the counts and
totals (per hop for a :class:`~orderkit.reconcile.Settlement`, per status for a pair).
Then one sheet per section: per hop and channel for a settlement (``wechatpay
order→bill``, ``wechatpay bill→payout``, ``wechatpay payout→bank``, ...,
``order→bank``, ``bank only``; ``wechatpay 订单→账单`` ... in Chinese), per pair for a
reconciliation. Their rows are the CSV reports' rows
(:mod:`orderkit.reconcile.report.settlement_csv`, :mod:`orderkit.reconcile.report.csv_report`)
with typed cells:

* ids (``record_id``, ``ref``) and every other text are **text cells** (number format
  ``@`` for ids), so a 28-digit WeChat Pay transaction id stays
  ``4200001001202603101234567890`` instead of becoming ``4.2E+27``, and a memo starting
  with ``=`` stays text, never a formula;
* amounts are **numeric cells** with the currency's digits as their number format
  (``#,##0.00`` for CNY, ``#,##0`` for JPY), so they add up in a spreadsheet;
* times are the local time of the accounting zone (named in the column head), as date
  cells.

Sheets are written in openpyxl's streaming mode, row by row; a section longer than a
sheet holds (1,048,576 rows) continues on a sheet named with ``(2)``, ``(3)`` ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from orderkit.model.errors import OrderkitError, ValidationError
from orderkit.model.money import minor_digits
from orderkit.model.time import zone
from orderkit.reconcile.chain import Settlement
from orderkit.reconcile.matrix import MultiReconciliation
from orderkit.reconcile.outcomes import Reconciliation
from orderkit.reconcile.records import Record
from orderkit.reconcile.report._common import column_heads
from orderkit.reconcile.report.csv_report import CSV_COLUMNS, _rows
from orderkit.reconcile.report.hops import STATES, settlement_hops
from orderkit.reconcile.report.html_report import cutoff_text
from orderkit.reconcile.report.labels import labels
from orderkit.reconcile.report.settlement_csv import SETTLEMENT_CSV_COLUMNS, table_rows
from orderkit.reconcile.report.settlement_html import Labels, hop_title
from orderkit.reconcile.rules import Rules

__all__ = ["EXCEL_ROWS", "MissingXlsxExtra", "amount_format", "require_openpyxl", "write_xlsx"]

#: The most rows one Excel sheet holds.
EXCEL_ROWS: Final = 1_048_576
_SHEET_NAME: Final = 31
_BAD_IN_NAMES: Final = re.compile(r"[\[\]:*?/\\]")
_ID_COLUMNS: Final = frozenset({"record_id", "ref", "orders"})


class MissingXlsxExtra(OrderkitError, ImportError):
    """The ``.xlsx`` report needs openpyxl, which the ``xlsx`` extra installs.

    ``.extra`` names the extra (``"xlsx"``) and ``.module`` the missing module.
    """

    def __init__(self) -> None:
        super().__init__(
            "the .xlsx report needs the 'openpyxl' module: pip install \"orderkit[xlsx]\""
        )
        self.extra = "xlsx"
        self.module = "openpyxl"
        self.name = "openpyxl"  # ImportError's own field


def require_openpyxl() -> Any:
    """The openpyxl module; :class:`MissingXlsxExtra` when it is not installed."""
    try:
        import openpyxl  # optional: imported only when a workbook is written
    except ImportError as error:
        raise MissingXlsxExtra() from error
    return openpyxl


def amount_format(currency: str) -> str:
    """The number format of ``currency``'s amounts: ``#,##0.00`` for two minor digits.

    >>> amount_format("CNY"), amount_format("JPY"), amount_format("KWD")
    ('#,##0.00', '#,##0', '#,##0.000')
    """
    digits = minor_digits(currency)
    return "#,##0" + ("." + "0" * digits if digits else "")


#: A row is built for the sheet it lands on (openpyxl binds a cell to its sheet).
RowMaker = Callable[[Any], list[Any]]


class _Book:
    """A streaming workbook: sheets with unique, valid names; typed cells."""

    def __init__(self, rows_per_sheet: int) -> None:
        if isinstance(rows_per_sheet, bool) or not isinstance(rows_per_sheet, int) or not (
            2 <= rows_per_sheet <= EXCEL_ROWS
        ):
            raise ValidationError(
                "rows_per_sheet", rows_per_sheet, f"expected a whole number from 2 to {EXCEL_ROWS}"
            )
        openpyxl = require_openpyxl()
        self._cell = openpyxl.cell.WriteOnlyCell
        self.book = openpyxl.Workbook(write_only=True)
        self.rows_per_sheet = rows_per_sheet
        self._names: set[str] = set()

    def name(self, wanted: str) -> str:
        """A sheet name from ``wanted``: Excel's forbidden characters replaced, at most
        31 characters, unique in the workbook (``(2)``, ``(3)`` ... when taken)."""
        base = _BAD_IN_NAMES.sub("_", wanted).strip("'") or "sheet"
        name = base[:_SHEET_NAME]
        n = 1
        while name.casefold() in self._names:
            n += 1
            suffix = f" ({n})"
            name = base[: _SHEET_NAME - len(suffix)] + suffix
        self._names.add(name.casefold())
        return name

    def text(self, sheet: Any, value: str, number_format: str | None = None) -> Any:
        cell = self._cell(sheet, value=value)
        cell.data_type = "s"  # text, even when it starts with "=" (never a formula)
        if number_format:
            cell.number_format = number_format
        return cell

    def number(self, sheet: Any, value: Decimal | int, number_format: str) -> Any:
        cell = self._cell(sheet, value=value)
        cell.number_format = number_format
        return cell

    def when(self, sheet: Any, value: datetime) -> Any:
        cell = self._cell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell

    def section(self, title: str, head: Sequence[str], rows: Iterable[RowMaker]) -> None:
        """One section: a sheet with ``head`` and then ``rows``, continued on further
        sheets when it outgrows one."""
        sheet = self.book.create_sheet(self.name(title))
        sheet.append([self.text(sheet, h) for h in head])
        used = 1
        for make in rows:
            if used >= self.rows_per_sheet:
                sheet = self.book.create_sheet(self.name(title))
                sheet.append([self.text(sheet, h) for h in head])
                used = 1
            sheet.append(make(sheet))
            used += 1


def _header_rows(
    book: _Book, sheet: Any, title: str, rules: Rules, span: str, files: Sequence[str], lang: str
) -> None:
    say = labels(lang)
    sheet.append([book.text(sheet, title)])
    sheet.append([book.text(sheet, say["period"]), book.text(sheet, rules.period)])
    sheet.append([book.text(sheet, say["zone"]), book.text(sheet, rules.tz)])
    sheet.append([book.text(sheet, say["span"]), book.text(sheet, span)])
    sheet.append([book.text(sheet, say["cutoff"]), book.text(sheet, cutoff_text(rules, say))])
    for n, name in enumerate(files):
        sheet.append(
            [book.text(sheet, say["files_label"] if n == 0 else ""), book.text(sheet, name)]
        )
    sheet.append([])


def _span(records: Iterable[Record], rules: Rules) -> str:
    local = zone(rules.tz)
    first: datetime | None = None
    last: datetime | None = None
    for record in records:
        at = record.at
        first = at if first is None or at < first else first
        last = at if last is None or at > last else last
    if first is None or last is None:
        return "—"
    return f"{first.astimezone(local).date()} – {last.astimezone(local).date()}"


def _record_row(
    book: _Book, columns: Sequence[str], cells: Sequence[str], local: Any
) -> RowMaker:
    """A CSV row of raw cells as typed cells for ``sheet``."""
    currency = cells[columns.index("currency")]

    def make(sheet: Any) -> list[Any]:
        out: list[Any] = []
        for column, cell in zip(columns, cells, strict=True):
            if column == "amount" and cell:
                out.append(book.number(sheet, Decimal(cell), amount_format(currency)))
            elif column == "at" and cell:
                local_time = datetime.fromisoformat(cell).astimezone(local)
                out.append(book.when(sheet, local_time.replace(tzinfo=None)))
            elif column == "row" and cell:
                out.append(book.number(sheet, int(cell), "0"))
            elif column in _ID_COLUMNS:
                out.append(book.text(sheet, cell, "@"))
            else:
                out.append(book.text(sheet, cell))
        return out

    return make


def _settlement_book(
    book: _Book, settlement: Settlement, files: Sequence[str], lang: str
) -> None:
    say = labels(lang)
    rules = settlement.rules
    tables = settlement_hops(settlement)
    summary = book.book.create_sheet(book.name(say["sheet_summary"]))
    records = (r for r in settlement.inputs if isinstance(r, Record))
    _header_rows(book, summary, say["settle_title"], rules, _span(records, rules), files, lang)
    head = ["channel", "hop", *(s if s != "break" else "breaks" for s in STATES)]
    head += ["currency", "left_total", "right_total"]
    summary.append([book.text(summary, say[h]) for h in head])
    for table in tables:
        counts = table.counts()
        left, right = table.totals()
        start = [
            book.text(summary, table.channel),
            book.text(summary, hop_title(table, say)),
            *(book.number(summary, counts[s], "#,##0") for s in STATES),
        ]
        currencies = sorted(set(left) | set(right)) or [""]
        for currency in currencies:
            digits = amount_format(currency) if currency else "#,##0.00"
            summary.append(
                [
                    *start,
                    book.text(summary, currency),
                    book.number(summary, left.get(currency, Decimal(0)), digits),
                    book.number(summary, right.get(currency, Decimal(0)), digits),
                ]
            )
    _carried_rows(book, summary, settlement, say)
    local = zone(rules.tz)
    heads = column_heads(SETTLEMENT_CSV_COLUMNS, rules.tz, lang)
    for table in tables:
        short = say[f"sheet_{table.hop}"]
        book.section(
            f"{table.channel} {short}" if table.channel else short,
            heads,
            (
                _record_row(book, SETTLEMENT_CSV_COLUMNS, c, local)
                for c in table_rows(table, rules.tz)
            ),
        )


def _carried_rows(book: _Book, summary: Any, settlement: Settlement, say: Labels) -> None:
    """Under the hops, what each channel still holds at the end (explained, not a
    break), as the HTML page shows it; or a line saying nothing is carried."""
    summary.append([])
    summary.append([book.text(summary, say["carried"])])
    carried = settlement.carried()
    if not carried:
        summary.append([book.text(summary, say["carried_none"])])
        return
    summary.append([book.text(summary, say["carried_note"])])
    summary.append([book.text(summary, say[h]) for h in ("channel", "currency",
                                                          "carried_amount")])
    for channel, nets in carried.items():
        for currency, net in sorted(nets.items()):
            summary.append([
                book.text(summary, channel),
                book.text(summary, currency),
                book.number(summary, net.amount, amount_format(currency)),
            ])


def _pairs_book(
    book: _Book,
    result: Reconciliation | MultiReconciliation,
    files: Sequence[str],
    lang: str,
) -> None:
    say = labels(lang)
    pairs = (
        dict(result.pairs)
        if isinstance(result, MultiReconciliation)
        else {result.right_source: result}
    )
    first = next(iter(pairs.values()))
    rules = first.rules
    summary = book.book.create_sheet(book.name(say["sheet_summary"]))
    records: Iterator[Record] = (
        r for pair in pairs.values() for side in (pair.left, pair.right) for r in side
    )
    _header_rows(book, summary, say["title"], rules, _span(records, rules), files, lang)
    head = ["pair", "status", "outcomes", "records", "currency", "left_amount", "right_amount"]
    summary.append([book.text(summary, say[h]) for h in head])
    for name, pair in pairs.items():
        by_status = pair.summary()["by_status"]
        assert isinstance(by_status, dict)
        for status, body in by_status.items():
            left, right = body["left_amount"], body["right_amount"]
            currencies = sorted(set(left) | set(right)) or [""]
            for currency in currencies:
                digits = amount_format(currency) if currency else "#,##0.00"
                summary.append(
                    [
                        book.text(summary, name),
                        book.text(summary, status),
                        book.number(summary, body["outcomes"], "#,##0"),
                        book.number(summary, body["records"], "#,##0"),
                        book.text(summary, currency),
                        book.number(summary, Decimal(left.get(currency, "0")), digits),
                        book.number(summary, Decimal(right.get(currency, "0")), digits),
                    ]
                )
    local = zone(rules.tz)
    heads = column_heads(CSV_COLUMNS, rules.tz, lang)
    for name, pair in pairs.items():
        title = say["versus"].format(left=pair.left_source, right=name)
        book.section(
            title, heads, (_record_row(book, CSV_COLUMNS, c, local) for c in _rows(name, pair))
        )


def write_xlsx(
    result: Reconciliation | MultiReconciliation | Settlement,
    path: str | Path,
    *,
    files: Sequence[str] = (),
    lang: str = "en",
    rows_per_sheet: int = EXCEL_ROWS,
) -> Path:
    """Write ``result`` as an ``.xlsx`` workbook to ``path`` (see the module docstring);
    returns the path. ``files`` names the source files on the summary sheet; ``lang``
    (``"en"`` or ``"zh"``) is the language of the sheet names and column heads.

    Raises :class:`MissingXlsxExtra` when openpyxl is not installed, before anything is
    written.
    """
    labels(lang)
    book = _Book(rows_per_sheet)
    if isinstance(result, Settlement):
        _settlement_book(book, result, files, lang)
    else:
        _pairs_book(book, result, files, lang)
    target = Path(path)
    book.book.save(target)
    return target
