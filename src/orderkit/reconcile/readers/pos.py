"""A point-of-sale export: one row per receipt (refunds as negative amounts).

Columns: ``receipt_no,order_ref,amount,paid_at,payment_method,store,note``. Stores key
sales in after closing time, so ``paid_at`` is the time on the receipt (local, read in
``source_tz``), not the time the row was exported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from orderkit.model.errors import ValidationError
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, zone
from orderkit.reconcile.readers._table import Cells, Progress, cell_amount, cell_time, read_table
from orderkit.reconcile.records import Record, Rejected

__all__ = ["read_pos_csv"]


def read_pos_csv(
    path: str | Path,
    *,
    source: str = "pos",
    currency: str = "CNY",
    source_tz: str = DEFAULT_ACCOUNTING_TZ,
    encoding: str = "utf-8-sig",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from a POS CSV export (see the module docstring)."""
    zone(source_tz, path="source_tz")  # refused before any row is read

    def parse(cells: Cells) -> Sequence[Record]:
        receipt = cells["receipt_no"]
        if not receipt:
            raise ValidationError("receipt_no", receipt, "expected a receipt number")
        amount = cell_amount(cells, "amount", currency)
        return (
            Record(
                source,
                receipt,
                cells.get("order_ref") or None,
                amount,
                cell_time(cells, "paid_at", source_tz=source_tz, date_format=None),
                memo=cells.get("note", ""),
                kind="refund" if amount.amount < 0 else "sale",
                status=cells.get("payment_method") or None,
            ),
        )

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("receipt_no", "amount", "paid_at"),
        progress=progress,
    )
