"""Streaming CSV plumbing shared by every reader.

A reader walks a file row by row (never loading it whole), turns each row into records
and turns each failure into a :class:`~orderkit.reconcile.Rejected` that names the file,
the physical line and the column. One bad row never stops the rows after it.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.time import parse_timestamp, zone
from orderkit.reconcile.records import Record, Rejected

__all__ = [
    "Cells",
    "Progress",
    "RowParser",
    "cell_amount",
    "cell_time",
    "read_table",
]

Progress = Callable[[int], None]
#: One data row: header name -> cell text (already stripped).
Cells = dict[str, str]
RowParser = Callable[[Cells], Sequence[Record]]

PROGRESS_EVERY: Final = 100_000
_AMOUNT_NOISE: Final = str.maketrans("", "", "¥￥,， \t`")


def cell_amount(cells: Cells, column: str, currency: str, *, required: bool = True) -> Money:
    """The cell as Money; ``"¥1,234.50"`` is accepted, ``"12.3.4"`` is not."""
    text = cells.get(column, "")
    cleaned = text.translate(_AMOUNT_NOISE)
    if not cleaned:
        if required:
            raise ValidationError(column, text, "expected an amount, got an empty cell")
        return Money(0, currency)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValidationError(column, text, "expected a decimal amount") from None
    if not value.is_finite():
        raise ValidationError(column, text, "expected a finite amount")
    return Money(value, currency)


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


def _clean(cell: str) -> str:
    # WeChat Pay prefixes every cell with a backtick (so spreadsheets keep long numbers as
    # text); Alipay appends a tab for the same reason.
    return cell.strip().lstrip("`").strip()


def read_table(
    path: str | Path,
    *,
    source: str,
    parse: RowParser,
    encoding: str = "utf-8-sig",
    required: Sequence[str] = (),
    skip: Callable[[str], bool] | None = None,
    stop: Callable[[Sequence[str]], bool] | None = None,
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Yield records (and rejects) from a CSV file with one header row.

    ``skip(raw_line)`` drops comment lines before the CSV parser sees them (Alipay's
    ``#`` lines); ``stop(cells)`` ends the data part (WeChat Pay's summary block);
    ``required`` lists header names that must be present. ``progress(rows)`` is called
    every 100,000 rows.
    """
    name = Path(path).name
    source = sys.intern(source)
    try:
        handle = open(path, encoding=encoding, newline="")  # noqa: SIM115
    except OSError as error:
        raise ValidationError("path", str(path), f"cannot open: {error.strerror}") from None
    with handle:
        line_numbers: list[int] = []

        def lines() -> Iterator[str]:
            try:
                for number, line in enumerate(handle, start=1):
                    if skip is not None and skip(line):
                        continue
                    if not line.strip():
                        continue
                    line_numbers.append(number)
                    yield line
            except UnicodeDecodeError as error:
                raise ValidationError(
                    "encoding", encoding, f"{name} is not {encoding} text ({error.reason})"
                ) from None

        rows = csv.reader(lines())
        header: list[str] | None = None
        count = 0
        for cells in rows:
            line = line_numbers[-1] if line_numbers else 0
            if header is None:
                header = [_clean(cell) for cell in cells]
                missing = [column for column in required if column not in header]
                if missing:
                    raise ValidationError(
                        "header", ",".join(header), f"{name}: missing column(s) {missing}"
                    )
                continue
            values = [_clean(cell) for cell in cells]
            if stop is not None and stop(values):
                break
            count += 1
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(count)
            raw = ",".join(cells)
            if len(values) != len(header):
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
            try:
                yield from parse(dict(zip(header, values, strict=True)))
            except ValidationError as error:
                yield Rejected(source, name, line, error.path, str(error.value), error.reason, raw)
        if progress is not None and (count % PROGRESS_EVERY or not count):
            progress(count)
