"""Streaming CSV plumbing shared by every reader.

A reader walks a file row by row (never loading it whole), turns each row into records
and turns each failure into a :class:`~orderkit.reconcile.Rejected` that names the file,
the physical line and the column. One bad row never stops the rows after it.

Bills are one row per line, so each physical line is parsed on its own, strictly: a
stray quote (``货款"SO1`` typed at the start of a memo cell) makes that one line a
rejected line that says so, and never swallows the lines after it into one cell. A
file that ends without a line break inside a data row was cut off: that row is
rejected as truncated rather than read with half an amount. A preamble before the
header (a bank's account and period lines) is skipped: the header is the first line
that has every required column. A row with a cell in scientific notation
(``4.20000E+27``: an id Excel rounded when the file was saved) is rejected saying so.
"""

from __future__ import annotations

import codecs
import csv
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Final

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money, minor_digits
from orderkit.model.time import parse_timestamp, zone
from orderkit.reconcile.records import Record, Rejected

if TYPE_CHECKING:
    from orderkit.reconcile.readers._summary import SummaryCheck, Tally

__all__ = [
    "LINE",
    "Cells",
    "Column",
    "Progress",
    "RowParser",
    "cell_amount",
    "cell_time",
    "check_encoding",
    "first_cell",
    "first_name",
    "income_less_expense",
    "line_cells",
    "not_text",
    "parse_amount",
    "read_table",
]

Progress = Callable[[int], None]
#: One data row: header name -> cell text (already stripped).
Cells = dict[str, str]
RowParser = Callable[[Cells], Sequence[Record]]
#: A required column: one header name, or several spellings of which any one will do.
Column = str | tuple[str, ...]
#: The key under which :func:`read_table` passes the physical line number to ``parse``
#: when asked (``numbered=True``), for layouts whose rows carry no id of their own.
LINE: Final = "\x00line"

PROGRESS_EVERY: Final = 100_000
#: How many lines before the header a reader looks through for it (a bank's preamble).
HEADER_SEARCH_LINES: Final = 50
#: How many lines after the table a summary is looked for in (the line that ended the
#: table included).
SUMMARY_LINES: Final = 20
#: An amount as bills write it, once the currency symbol, the sign and the parentheses
#: are off: digits with thousands separators every three digits (``1,234,567``) or none
#: at all, then an optional fraction.
_AMOUNT: Final = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+")
_SYMBOLS: Final = ("¥", "￥", "CNY", "RMB")
#: A cell as Excel writes a long number it has rounded (``4.20000E+27``): a 28-digit
#: order number saved so has lost its digits, and every row would share one id.
_SCIENTIFIC: Final = re.compile(r"[0-9](?:\.[0-9]+)?E\+[0-9]+", re.IGNORECASE)
_EXCEL_DAMAGED: Final = (
    "a number in scientific notation: Excel rounded this id when the file was saved,"
    " and its digits are lost (download the bill again; open it with the column as text)"
)
_EMPTY: Final = frozenset({"", "-", "--", "—"})


def parse_amount(text: str, column: str = "amount") -> Decimal | None:
    """``text`` as a Decimal, strictly; ``None`` for an empty cell (``""``, ``"-"``).

    Accepted: an optional sign, a currency symbol (``¥``, ``￥``, ``CNY``, ``RMB``) before
    or ``元`` after the number, thousands separators only every three digits, parentheses
    for a negative amount. Anything else is refused with a :class:`ValidationError`
    naming the column and the text: ``"12,34"`` is not 1234, ``"12.3.4"`` is nothing.

    >>> parse_amount("¥1,234.50"), parse_amount("(12.50)"), parse_amount("-0.99元")
    (Decimal('1234.50'), Decimal('-12.50'), Decimal('-0.99'))
    >>> parse_amount("12,34")
    Traceback (most recent call last):
    ...
    orderkit.model.errors.ValidationError: amount: expected an amount such as 1,234.50 (got '12,34')
    """
    cell = text.strip().strip("`").strip().replace("，", ",")
    if cell in _EMPTY:
        return None
    negative = False
    if cell.startswith("(") and cell.endswith(")"):
        negative, cell = True, cell[1:-1].strip()
    if cell.startswith(("+", "-")):
        negative, cell = negative != (cell[0] == "-"), cell[1:].strip()
    for symbol in _SYMBOLS:
        if cell.startswith(symbol):
            cell = cell[len(symbol) :].strip()
            break
    if cell.endswith("元"):
        cell = cell[:-1].strip()
    if cell.startswith(("+", "-")) and not negative:
        negative, cell = cell[0] == "-", cell[1:].strip()
    if not _AMOUNT.fullmatch(cell):
        raise ValidationError(column, text, "expected an amount such as 1,234.50")
    try:
        value = Decimal(cell.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValidationError(column, text, "expected an amount such as 1,234.50") from None
    return -value if negative else value


def check_encoding(encoding: str, path: str = "encoding") -> str:
    """``encoding`` if Python can read text in it, else a :class:`ValidationError` on ``path``.

    >>> check_encoding("gbk"), check_encoding("latin-9x", "--erp-encoding")
    Traceback (most recent call last):
    ...
    orderkit.model.errors.ValidationError: --erp-encoding: unknown text encoding (got 'latin-9x')
    """
    try:
        codecs.lookup(encoding)
    except (LookupError, ValueError):
        raise ValidationError(path, encoding, "unknown text encoding") from None
    try:
        "".encode(encoding)
    except LookupError:  # base64, rot13 ...: codecs, but not of text
        raise ValidationError(path, encoding, "not a text encoding") from None
    return encoding


def not_text(file: str, encoding: str, error: UnicodeError) -> ValidationError:
    """The error for a file that does not decode in ``encoding`` (a byte that does not
    decode, or UTF-16 without its byte-order mark), naming the file and the encoding."""
    reason = error.reason if isinstance(error, UnicodeDecodeError) else str(error)
    return ValidationError("encoding", encoding, f"{file} is not {encoding} text ({reason})")


def cell_amount(
    cells: Cells, column: str, currency: str, *, required: bool = True, whole: bool = False
) -> Money:
    """The cell as Money, read by :func:`parse_amount`; an empty optional cell is zero.

    ``whole``: the amount must be a whole number of the currency's minor unit (fen), as
    every amount of a bill is but a fee worked out to more decimals.
    """
    text = cells.get(column, "")
    value = parse_amount(text, column)
    if value is None:
        if required:
            raise ValidationError(column, text, "expected an amount, got an empty cell")
        return Money(0, currency)
    money = Money(value, currency)
    if whole and not money.is_whole_minor():
        digits = minor_digits(currency)
        raise ValidationError(
            column, text, f"expected at most {digits} decimals: {currency} has no smaller unit"
        )
    return money



def income_less_expense(cells: Cells, income: str, expense: str, currency: str) -> Money:
    """A row's signed amount from its income and expense columns (an expense written
    with or without its minus sign); a row filling both is refused naming ``expense``."""
    money_in = cell_amount(cells, income, currency, required=False)
    money_out = cell_amount(cells, expense, currency, required=False)
    if money_in and money_out:
        raise ValidationError(expense, cells[expense], "a row has income or expense, not both")
    return money_in - abs(money_out)

def cell_time(cells: Cells, column: str, *, source_tz: str, date_format: str | None) -> datetime:
    """The cell as an aware UTC datetime, read in ``source_tz`` when it has no offset."""
    text = cells.get(column, "")
    if not text:
        raise ValidationError(column, text, "expected a timestamp, got an empty cell")
    if date_format is None:
        try:
            return parse_timestamp(text, source_tz=source_tz, path=column)
        except ValidationError:
            raise ValidationError(column, text, "expected a timestamp") from None
    try:
        parsed = datetime.strptime(text, date_format)
    except ValueError:
        raise ValidationError(column, text, f"expected a timestamp like {date_format!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(source_tz))
    return parse_timestamp(parsed, source_tz=source_tz, path=column)


def first_cell(cells: Cells, names: Column, default: str = "") -> str:
    """The cell of the first of ``names`` that the header has, else ``default``."""
    for name in (names,) if isinstance(names, str) else names:
        if name in cells:
            return cells[name]
    return default


def first_name(cells: Cells, names: Column) -> str:
    """The first of ``names`` that the header has (for error messages), else the first."""
    options = (names,) if isinstance(names, str) else names
    return next((name for name in options if name in cells), options[0])


def _has(candidate: Sequence[str], column: Column) -> bool:
    if isinstance(column, str):
        return column in candidate
    return any(name in candidate for name in column)


_TRUNCATED: Final = "the file ends inside this line: it was cut off (truncated)"


def _clean(cell: str) -> str:
    # WeChat Pay prefixes every cell with a backtick (so spreadsheets keep long numbers as
    # text); Alipay appends a tab for the same reason.
    return cell.strip().lstrip("`").strip()


class _TextAfterQuote(csv.Error):
    """A quoted cell whose closing quote is followed by more than padding."""


def _cells(line: str) -> list[str]:
    """One physical line as cells; a quote left open raises ``csv.Error``.

    Padding after a closing quote (``"1,234.50" ``, Alipay's ``"乌龙茶,250g"\t``) is
    dropped like any padding; other text after it raises :class:`_TextAfterQuote`.
    """
    try:
        return next(csv.reader((line,), strict=True), [])
    except csv.Error:
        unpadded = _unpad(line)
        if unpadded is None:
            raise
        return next(csv.reader((unpadded,), strict=True), [])


def _unpad(line: str) -> str | None:
    """``line`` without the spaces and tabs after each closing quote; ``None`` when a
    quote does not close (the caller's error stands)."""
    body = line.rstrip("\r\n")
    parts: list[str] = []
    start = 0
    while True:
        if body.startswith('"', start):
            close = start + 1
            while True:
                close = body.find('"', close)
                if close < 0:
                    return None
                if not body.startswith('""', close):
                    break
                close += 2
            comma = body.find(",", close + 1)
            stop = comma if comma >= 0 else len(body)
            if body[close + 1 : stop].strip(" \t"):
                raise _TextAfterQuote(body[close + 1 : stop])
            parts.append(body[start : close + 1])
        else:
            comma = body.find(",", start)
            stop = comma if comma >= 0 else len(body)
            parts.append(body[start:stop])
        if comma < 0:
            return ",".join(parts) + line[len(body) :]
        start = comma + 1


def line_cells(line: str) -> list[str] | None:
    """One physical line as cleaned cells (as a data row's), ``None`` if it cannot be split."""
    try:
        return [_clean(cell) for cell in _cells(line)]
    except csv.Error:
        return None


def _fit(values: list[str], width: int) -> list[str]:
    """``values`` without the empty cells past ``width`` (ICBC ends each row with a comma)."""
    if len(values) > width and not any(values[width:]):
        return values[:width]
    return values


def read_table(
    path: str | Path,
    *,
    source: str,
    parse: RowParser,
    encoding: str = "utf-8-sig",
    required: Sequence[Column] = (),
    skip: Callable[[str], bool] | None = None,
    stop: Callable[[Sequence[str]], bool] | None = None,
    end: Callable[[str], bool] | None = None,
    footer: str | None = None,
    summary: SummaryCheck | None = None,
    numbered: bool = False,
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Yield records (and rejects) from a CSV file with one header row.

    ``skip(raw_line)`` drops comment lines before the CSV parser sees them (Alipay's
    ``#`` lines); ``stop(cells)`` marks the line that ends the data part (WeChat Pay's
    summary block, a bank's ``人民币合计``); ``required`` lists header names that must be
    present (lines before the first line that has them all are a preamble and skipped).
    ``footer`` names what must end the file (WeChat Pay's summary block): a file without
    it was cut off, which is reported as a rejected line. ``end(raw_line)`` marks, after
    the header, a raw line that ends the table (Alipay's ``#`` summary lines).
    ``summary`` checks the figures of the summary after the table (from the line that
    ended it) against the rows (see :mod:`~orderkit.reconcile.readers._summary`).
    ``numbered`` passes each row's physical line number to ``parse`` under :data:`LINE`.
    A required column may be a tuple of spellings, any one of which will do.
    ``progress(rows)`` is called every 100,000 rows.

    Nothing after the end of a table is dropped unread: a line there with every required
    column is the header of another table (two downloads joined into one file: its
    preamble and footer lines before it are skipped as the first file's were, and each
    table's summary is checked against its own rows), and a line with as many cells as
    the header is a data row (read, and then the file must end with a footer again).
    """
    name = Path(path).name
    source = sys.intern(source)
    check_encoding(encoding)
    try:
        handle = open(path, encoding=encoding, newline="")  # noqa: SIM115
    except OSError as error:
        raise ValidationError("path", str(path), f"cannot open: {error.strerror}") from None

    def is_header(candidate: Sequence[str]) -> bool:
        return all(_has(candidate, column) for column in required)

    with handle:
        header: list[str] | None = None
        first_header: list[str] | None = None
        tally: Tally | None = None
        #: After a table has ended: the lines of its footer (its summary), else ``None``.
        trailer: list[tuple[int, str]] | None = None
        count = 0
        line = 0
        try:
            for line, text in enumerate(handle, start=1):
                if header is None:
                    if (skip is not None and skip(text)) or not text.strip():
                        continue
                    try:
                        candidate = [_clean(cell) for cell in _cells(text)]
                    except csv.Error:
                        continue
                    if is_header(candidate):
                        header = candidate
                        tally = summary.tally(header) if summary is not None else None
                    elif first_header is None:
                        first_header = candidate
                    if header is None and line >= HEADER_SEARCH_LINES:
                        break
                    continue
                if trailer is not None:
                    # After the end of a table: another table's header, a row, or footer.
                    values = None if not text.strip() else line_cells(text)
                    footer_line = (
                        values is None
                        or (end is not None and end(text))
                        or (skip is not None and skip(text))
                        or (stop is not None and stop(values))
                    )
                    if values is not None and is_header(values):
                        if tally is not None:
                            yield from tally.differences(source, name, trailer)
                        header, trailer = values, None
                        tally = summary.tally(header) if summary is not None else None
                        continue
                    if footer_line or len(_fit(values or [], len(header))) != len(header):
                        if text.strip() and len(trailer) <= SUMMARY_LINES:
                            trailer.append((line, text))
                        continue
                    if tally is not None:
                        yield from tally.differences(source, name, trailer)
                        tally = summary.tally(header) if summary is not None else None
                    trailer = None
                if end is not None and end(text):
                    trailer = [(line, text)]
                    continue
                if skip is not None and skip(text):
                    continue
                if not text.strip():
                    continue
                try:
                    cells = _cells(text)
                except csv.Error as error:
                    if tally is not None:
                        tally.add(None)
                    if isinstance(error, _TextAfterQuote):
                        reason = f'text ({error}) follows the closing quote (") of a cell'
                    elif not text.endswith(("\n", "\r")):
                        # The last line, with no line break: the quoted cell was cut off.
                        reason = _TRUNCATED
                    else:
                        reason = 'a quote (") opens a cell that does not close on this line'
                    yield Rejected(
                        source, name, line, "", text.rstrip("\r\n"), reason, text.rstrip("\r\n")
                    )
                    continue
                values = [_clean(cell) for cell in cells]
                if stop is not None and stop(values):
                    trailer = [(line, text)]
                    continue
                if is_header(values):
                    # Another download's header with no footer before it.
                    if footer is not None:
                        yield _cut_off(source, name, line, footer)
                    header = values
                    tally = summary.tally(header) if summary is not None else None
                    continue
                count += 1
                if progress is not None and count % PROGRESS_EVERY == 0:
                    progress(count)
                raw = text.rstrip("\r\n")
                if not text.endswith(("\n", "\r")):
                    if tally is not None:
                        tally.add(None)
                    yield Rejected(source, name, line, "", raw, _TRUNCATED, raw)
                    continue
                values = _fit(values, len(header))
                if len(values) != len(header):
                    if tally is not None:
                        tally.add(None)
                    yield Rejected(
                        source,
                        name,
                        line,
                        "",
                        str(len(values)),
                        f"expected {len(header)} cells, found {len(values)}",
                        raw,
                    )
                    continue
                row = dict(zip(header, values, strict=True))
                if tally is not None:
                    tally.add(row)
                damaged = next((c for c, v in row.items() if _SCIENTIFIC.fullmatch(v)), None)
                if damaged is not None:
                    yield Rejected(source, name, line, damaged, row[damaged], _EXCEL_DAMAGED, raw)
                    continue
                if numbered:
                    row[LINE] = str(line)
                try:
                    yield from parse(row)
                except ValidationError as error:
                    yield Rejected(
                        source, name, line, error.path, str(error.value), error.reason, raw
                    )
            if trailer is not None and tally is not None:
                yield from tally.differences(source, name, trailer)
        except UnicodeError as error:
            raise not_text(name, encoding, error) from None
        if header is None:
            seen = first_header or []
            missing = [
                column if isinstance(column, str) else " or ".join(column)
                for column in required
                if not _has(seen, column)
            ]
            raise ValidationError("header", ",".join(seen), f"{name}: missing column(s) {missing}")
        if footer is not None and trailer is None:
            yield _cut_off(source, name, line + 1, footer)
        if progress is not None and (count % PROGRESS_EVERY or not count):
            progress(count)


def _cut_off(source: str, file: str, line: int, footer: str) -> Rejected:
    """The rejected line for a table that ends before its ``footer``."""
    return Rejected(
        source, file, line, "", "", f"the file ends before its {footer}: it was cut off (truncated)"
    )
