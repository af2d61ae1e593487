"""The settlement report as CSV: one row per record per hop row, hop by hop.

Columns (:data:`SETTLEMENT_CSV_COLUMNS`): ``channel`` (empty for the bank's own
sections), ``hop`` (``order_bill``, ``bill_payout``, ``payout_bank``, ``order_bank``,
``bank_only``), ``row`` (the row's number within its hop), ``state`` (``matched``,
``explained``, ``pending``, ``break``), ``status``, ``kind``, ``rule``, ``side``
(``left`` or ``right``), the record's fields, ``orders`` (the order refs the row traces
back to, ``;``-separated) and ``evidence``. The rows of a hop are those of
:func:`~orderkit.reconcile.report.hops.settlement_hops`; a ``bill_payout`` row is written
as its payout record alone (the transactions it adds up are the ``order_bill`` rows of
the same channel, and its ``orders`` name them).

Each record's amount is the one its hop row shows (:attr:`HopRow.left_amounts
<orderkit.reconcile.report.hops.HopRow.left_amounts>`): a payout as the bank receives
it, an Alipay withdrawal of -254.46 in the bill written as 254.46, as on the page.
Amounts are written to the currency's minor unit (``164.01``, not ``164.01000``) when
that loses nothing, without thousands separators, so a spreadsheet reads them as
numbers. Ids and every other cell are written as in the pair report
(:mod:`orderkit.reconcile.report.csv_report`): ids a spreadsheet would turn into numbers
(in ``record_id``, ``ref`` and ``orders``) get a leading ``'``, formula-like text gets
one too; times are in the accounting zone, named in the column head
(``at (Asia/Shanghai)``). The file starts with a UTF-8 BOM.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile.chain import PAYOUT_KINDS, Settlement, check_opening_payout
from orderkit.reconcile.figures import in_places
from orderkit.reconcile.records import Record
from orderkit.reconcile.report._common import column_heads, local_time_text
from orderkit.reconcile.report.escaping import FORMULA_PREFIXES, spreadsheet_safe, spreadsheet_text
from orderkit.reconcile.report.hops import HopRow, HopTable, settlement_hops
from orderkit.reconcile.report.labels import LANGS, labels

__all__ = [
    "SETTLEMENT_CSV_COLUMNS",
    "amount_text",
    "read_pending_payouts",
    "settlement_rows",
    "table_rows",
    "write_settlement_csv",
]

SETTLEMENT_CSV_COLUMNS: Final = (
    "channel",
    "hop",
    "row",
    "state",
    "status",
    "kind",
    "rule",
    "side",
    "source",
    "record_id",
    "ref",
    "amount",
    "currency",
    "at",
    "record_kind",
    "memo",
    "orders",
    "evidence",
)
#: The columns holding ids (``orders`` holds order refs), written with
#: :func:`spreadsheet_text`.
_IDS: Final = frozenset(map(SETTLEMENT_CSV_COLUMNS.index, ("record_id", "ref", "orders")))


def amount_text(value: Decimal, currency: str) -> str:
    """``value`` to ``currency``'s minor unit when that loses nothing (``0.99000`` ->
    ``0.99``), in full otherwise; no thousands separators."""
    return f"{in_places(value, currency):f}"


def _record_cells(record: Record, amount: Decimal, tz: str) -> list[str]:
    return [
        record.source,
        record.record_id,
        record.ref or "",
        amount_text(amount, record.amount.currency),
        record.amount.currency,
        local_time_text(record.at, tz),
        record.kind,
        record.memo,
    ]


def _rows_of(table: HopTable, number: int, row: HopRow, tz: str) -> Iterator[list[str]]:
    head = [
        table.channel,
        table.hop,
        str(number),
        row.state,
        row.status,
        row.kind or "",
        row.rule,
    ]
    tail = [";".join(row.orders), row.evidence]
    if row.rejected is not None:
        rejected = row.rejected
        yield [*head, row.rejected_side, rejected.source, rejected.record_id,
               "", "", "", "", "", rejected.raw, *tail]  # fmt: skip
        return
    sides = [("right", row.right, row.right_amounts)]
    if table.hop != "bill_payout":
        sides.insert(0, ("left", row.left, row.left_amounts))
    for side, records, amounts in sides:
        for record, amount in zip(records, amounts, strict=True):
            yield [*head, side, *_record_cells(record, amount, tz), *tail]


def table_rows(table: HopTable, tz: str) -> Iterator[list[str]]:
    """The CSV rows of one hop table, as raw cells (before spreadsheet escaping), each
    time in the accounting zone ``tz``."""
    for number, row in enumerate(table.rows, start=1):
        yield from _rows_of(table, number, row, tz)


def settlement_rows(settlement: Settlement) -> Iterator[list[str]]:
    """Every CSV row of ``settlement``, hop table by hop table, as raw cells."""
    for table in settlement_hops(settlement):
        yield from table_rows(table, settlement.rules.tz)


def write_settlement_csv(settlement: Settlement, path: str | Path, *, lang: str = "en") -> Path:
    """Write ``settlement`` as CSV to ``path`` (see the module docstring); the header row
    names :data:`SETTLEMENT_CSV_COLUMNS` in ``lang``, the time column with the
    accounting zone its times are in (``at (Asia/Shanghai)``). Returns the path."""
    target = Path(path)
    with target.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(column_heads(SETTLEMENT_CSV_COLUMNS, settlement.rules.tz, lang))
        for cells in settlement_rows(settlement):
            writer.writerow(
                [
                    spreadsheet_text(cell) if n in _IDS and cell else spreadsheet_safe(cell)
                    for n, cell in enumerate(cells)
                ]
            )
    return target


#: A payout in transit: the left side of a ``payout_bank`` row in state ``pending``.
_PENDING_PAYOUT: Final = ("payout_bank", "pending", "left")


def _column_index(head: Sequence[str], file: str) -> dict[str, int]:
    """Where each of :data:`SETTLEMENT_CSV_COLUMNS` is in ``head``, a header row as
    :func:`write_settlement_csv` writes it in any of :data:`LANGS` (the time column
    naming its zone: ``at (Asia/Shanghai)``)."""
    for lang in LANGS:
        say = labels(lang)
        at = re.compile(re.escape(say["at"]) + r" \(.+\)")
        if len(head) == len(SETTLEMENT_CSV_COLUMNS) and all(
            at.fullmatch(cell) if column == "at" else cell == say[column]
            for column, cell in zip(SETTLEMENT_CSV_COLUMNS, head, strict=True)
        ):
            return {column: n for n, column in enumerate(SETTLEMENT_CSV_COLUMNS)}
    raise ValidationError(
        f"{file}:1", ",".join(head), "expected the header of a settlement CSV report"
        " (orderkit settle --out report.csv)",
    )


def _unescaped(cell: str, *, id_cell: bool) -> str:
    """A cell as it was before :func:`spreadsheet_text` (an id) or
    :func:`spreadsheet_safe` (any other text) escaped it."""
    if cell.startswith("'") and (id_cell or cell[1:].startswith(FORMULA_PREFIXES)):
        return cell[1:]
    return cell


def read_pending_payouts(
    path: str | Path, *, channels: Collection[str] | None = None
) -> list[Record]:
    """The payouts a settlement CSV report (:func:`write_settlement_csv`, in any
    language) left in transit: its ``payout_bank`` rows in state ``pending``, each the
    payout record of its ``left`` side, as
    :func:`~orderkit.reconcile.settle` takes them in ``opening``: kind ``settlement``,
    the amount the bank is to receive, the row's ``channel``, and ``status="derived"``
    for a payout the report derived as a day's net (its ``bill_payout`` row's rule is
    ``daily_net``), so that it keeps its credit window.

    A file without the report's header, or a pending payout row that is not a payout
    (:func:`~orderkit.reconcile.chain.check_opening_payout`; with ``channels``, one of
    them), is refused with a :class:`ValidationError` naming the file and line.
    """
    target = Path(path)
    name = target.name
    pending: list[tuple[str, list[str]]] = []
    derived: set[tuple[str, str]] = set()
    with target.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        col = _column_index(next(reader, []), name)
        for cells in reader:
            if len(cells) != len(col):
                raise ValidationError(
                    f"{name}:{reader.line_num}", ",".join(cells),
                    f"expected {len(col)} cells, as in the header",
                )
            hop = cells[col["hop"]]
            record_id = _unescaped(cells[col["record_id"]], id_cell=True)
            if hop == "bill_payout" and cells[col["rule"]] == "daily_net":
                derived.add((cells[col["channel"]], record_id))
            elif (hop, cells[col["state"]], cells[col["side"]]) == _PENDING_PAYOUT:
                pending.append((f"{name}:{reader.line_num}", cells))
    found: list[Record] = []
    for where, cells in pending:
        kind = cells[col["record_kind"]]
        if kind not in PAYOUT_KINDS:
            raise ValidationError(
                f"{where} record_kind", kind, "expected a payout pending on its way to the bank"
            )
        try:
            amount = Money(cells[col["amount"]], cells[col["currency"]])
            instant = datetime.fromisoformat(cells[col["at"]])
        except (InvalidOperation, ValueError, ValidationError) as error:
            raise ValidationError(where, ",".join(cells), f"not a payout: {error}") from None
        channel = cells[col["channel"]]
        record_id = _unescaped(cells[col["record_id"]], id_cell=True)
        try:
            record = Record(
                cells[col["source"]],
                record_id,
                _unescaped(cells[col["ref"]], id_cell=True) or None,
                amount,
                instant,
                memo=_unescaped(cells[col["memo"]], id_cell=False),
                kind="settlement",
                status="derived" if (channel, record_id) in derived else None,
                channel=channel or None,
            )
        except ValidationError as error:
            raise ValidationError(f"{where} {error.path}", error.value, error.reason) from None
        found.append(check_opening_payout(record, where, channels))
    return found
