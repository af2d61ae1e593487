"""The CSV report: one row per record per outcome, for a spreadsheet or a database load.

Columns: ``outcome`` (the outcome's number), ``pair`` (the other source, for a
multi-source result), ``status``, ``kind``, ``rule``, ``side``, then the record's fields,
the evidence and the trace as text; times are in the accounting zone with their offset,
the zone named in the head (``at (Asia/Shanghai)``). A rejected input line is one row
with its file, line and column in the evidence. The file starts with a UTF-8 BOM so
spreadsheet programs read the Chinese memos correctly.

Every cell goes through :func:`~orderkit.reconcile.report.escaping.spreadsheet_safe`: a
text cell starting with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or NUL is
written with a single quote in front (``'=HYPERLINK(...)``) so a spreadsheet shows it as
text instead of evaluating it; the rest of the cell is kept as it is. Cells that are
plain decimal numbers (the ``amount`` column's ``-20.00``) are written unchanged. A
program that loads the file back as data strips one leading ``'`` from a cell whose
second character is one of those prefixes.

Ids are kept as text. The ``record_id`` and ``ref`` cells go through
:func:`~orderkit.reconcile.report.escaping.spreadsheet_text`: an id a spreadsheet would
read as a number (a 19-digit Tmall tid, a 28-digit WeChat Pay transaction id, an id with
leading zeros) is written with the same leading ``'``, so it is not shown as
``4.2E+27`` nor rounded to 15 digits. A program loading the file back strips one leading
``'`` from every ``record_id`` and ``ref`` cell.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from orderkit.model.time import DEFAULT_ACCOUNTING_TZ
from orderkit.reconcile.matrix import MultiReconciliation
from orderkit.reconcile.outcomes import Reconciliation
from orderkit.reconcile.report._common import column_heads, evidence_text, local_time_text
from orderkit.reconcile.report.escaping import spreadsheet_safe, spreadsheet_text

__all__ = ["CSV_COLUMNS", "ID_COLUMNS", "write_csv"]

CSV_COLUMNS: Final = (
    "outcome",
    "pair",
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
    "evidence",
    "trace",
)
#: The columns holding ids, written with :func:`spreadsheet_text`.
ID_COLUMNS: Final = frozenset({CSV_COLUMNS.index("record_id"), CSV_COLUMNS.index("ref")})


def _row(cells: list[str]) -> list[str]:
    return [
        spreadsheet_text(cell) if n in ID_COLUMNS and cell else spreadsheet_safe(cell)
        for n, cell in enumerate(cells)
    ]


def _rows(name: str, result: Reconciliation) -> Iterator[list[str]]:
    tz = result.rules.tz
    for number, outcome in enumerate(result.outcomes, start=1):
        head = [str(number), name, outcome.status, outcome.kind or "", outcome.rule]
        evidence = evidence_text(outcome)
        trace = outcome.trace_text()
        if outcome.rejected is not None:
            rejected = outcome.rejected
            yield [
                *head,
                "",
                rejected.source,
                rejected.record_id,
                "",
                "",
                "",
                "",
                "",
                rejected.raw,
                evidence,
                "",
            ]
            continue
        for side, records in (("left", outcome.left), ("right", outcome.right)):
            for record in records:
                yield [
                    *head,
                    side,
                    record.source,
                    record.record_id,
                    record.ref or "",
                    str(record.amount.amount),
                    record.amount.currency,
                    local_time_text(record.at, tz),
                    record.kind,
                    record.memo,
                    evidence,
                    trace,
                ]


def _zone_of(result: Reconciliation | MultiReconciliation) -> str:
    """The accounting zone of ``result`` (every pair of a multi-source result shares its
    rules); the default zone for one without pairs, which has no rows."""
    if isinstance(result, MultiReconciliation):
        pair = next(iter(result.pairs.values()), None)
        return pair.rules.tz if pair is not None else DEFAULT_ACCOUNTING_TZ
    return result.rules.tz


def write_csv(
    result: Reconciliation | MultiReconciliation, path: str | Path, *, lang: str = "en"
) -> Path:
    """Write ``result`` as CSV to ``path``; returns the path.

    The header row names :data:`CSV_COLUMNS` in ``lang``: ``"en"`` (the names
    themselves) or ``"zh"`` (``结果序号,对账方,状态,...``); the cells do not change. The
    times are in the accounting zone, named in the head (``at (Asia/Shanghai)``).
    """
    target = Path(path)
    pairs = (
        result.pairs.items()
        if isinstance(result, MultiReconciliation)
        else [(result.right_source, result)]
    )
    with target.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(column_heads(CSV_COLUMNS, _zone_of(result), lang))
        for name, pair in pairs:
            writer.writerows(_row(row) for row in _rows(name, pair))
    return target
