"""The canonical ERP export: one CSV row per order, refund or adjustment.

Columns (header names; only the first four are required)::

    record_id,ref,amount,at,currency,memo,kind,status,links,channel

``at`` is ISO-8601 with an offset, or naive text read in ``source_tz``; ``links`` holds
other ids separated by ``|`` (a platform order number, a settlement batch); ``channel``
names the payment channel the order was paid through (the name of its bill in
:func:`~orderkit.reconcile.settle`, ``orderkit settle --bill CHANNEL=FILE``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from orderkit.model.errors import ValidationError
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, zone
from orderkit.reconcile.readers._table import Cells, Progress, cell_amount, cell_time, read_table
from orderkit.reconcile.records import KINDS, Record, Rejected

__all__ = ["ERP_COLUMNS", "read_erp_csv"]

ERP_COLUMNS = (
    "record_id",
    "ref",
    "amount",
    "at",
    "currency",
    "memo",
    "kind",
    "status",
    "links",
    "channel",
)


def read_erp_csv(
    path: str | Path,
    *,
    source: str = "erp",
    currency: str = "CNY",
    source_tz: str = DEFAULT_ACCOUNTING_TZ,
    encoding: str = "utf-8-sig",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from a canonical ERP CSV export (see the module docstring).

    An unknown ``source_tz`` is refused at once, before any row is read.
    """
    zone(source_tz, path="source_tz")
    intern = sys.intern

    def parse(cells: Cells) -> Sequence[Record]:
        record_id = cells["record_id"]
        if not record_id:
            raise ValidationError("record_id", record_id, "expected a record id")
        kind = cells.get("kind") or "sale"
        if kind not in KINDS:
            raise ValidationError("kind", kind, f"expected one of {', '.join(sorted(KINDS))}")
        links = tuple(link.strip() for link in cells.get("links", "").split("|") if link.strip())
        return (
            Record(
                source,
                record_id,
                cells.get("ref") or None,
                cell_amount(cells, "amount", cells.get("currency") or currency),
                cell_time(cells, "at", source_tz=source_tz, date_format=None),
                memo=cells.get("memo", ""),
                kind=intern(kind),
                status=cells.get("status") or None,
                links=links,
                channel=cells.get("channel") or None,
            ),
        )

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("record_id", "ref", "amount", "at"),
        progress=progress,
    )
