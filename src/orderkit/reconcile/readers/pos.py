"""A point-of-sale export: one row per receipt (refunds as negative amounts).

Columns: ``receipt_no,order_ref,amount,paid_at,payment_method,store,note``, and an
optional ``fee`` (what the acquirer charges on a card or wallet receipt: a charge
positive, a fee given back on a refund negative). Stores key sales in after closing
time, so ``paid_at`` is the time on the receipt (local, read in ``source_tz``), not the
time the row was exported. Amounts are in whole fen: ``12.345`` is rejected naming
``amount``.

Each receipt keeps the way its money reaches the bank in ``Record.channel``: its
payment method and store under the source's name, ``pos.cash.S1`` or ``pos.card.S1``
(the method in lower case; without a store, ``pos.cash``; without a method, none).
:func:`~orderkit.reconcile.settle` pays each such route out on its own: a store's cash
the same day, one deposit per store and day, and a card through its acquirer T+1.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from orderkit.model.errors import ValidationError
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, zone
from orderkit.reconcile.readers._table import Cells, Progress, cell_amount, cell_time, read_table
from orderkit.reconcile.records import Record, Rejected

__all__ = ["POS_COLUMNS", "pos_route", "read_pos_csv"]

#: The columns of a POS export, ``fee`` optional.
POS_COLUMNS = ("receipt_no", "order_ref", "amount", "paid_at", "payment_method", "store", "note")


def pos_route(source: str, method: str, store: str) -> str | None:
    """The route a receipt's money takes to the bank: ``source.method.store``
    (``pos.cash.S1``), ``source.method`` without a store, ``None`` without a method.

    >>> pos_route("pos", " Cash ", "S1"), pos_route("pos", "card", ""), pos_route("pos", "", "S1")
    ('pos.cash.S1', 'pos.card', None)
    """
    method = method.strip().lower()
    if not method:
        return None
    store = store.strip()
    return f"{source}.{method}.{store}" if store else f"{source}.{method}"


def read_pos_csv(
    path: str | Path,
    *,
    source: str = "pos",
    currency: str = "CNY",
    source_tz: str = DEFAULT_ACCOUNTING_TZ,
    encoding: str = "utf-8-sig",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from a POS CSV export (see the module docstring): one record per
    receipt, and a ``fee`` record (``<receipt_no>#fee``) for a receipt with a fee."""
    zone(source_tz, path="source_tz")  # refused before any row is read

    def parse(cells: Cells) -> Sequence[Record]:
        receipt = cells["receipt_no"]
        if not receipt:
            raise ValidationError("receipt_no", receipt, "expected a receipt number")
        amount = cell_amount(cells, "amount", currency, whole=True)
        fee = cell_amount(cells, "fee", currency, required=False)
        method = cells.get("payment_method", "")
        ref = cells.get("order_ref") or None
        at = cell_time(cells, "paid_at", source_tz=source_tz, date_format=None)
        route = pos_route(source, method, cells.get("store", ""))
        kind = "refund" if amount.amount < 0 else "sale"
        receipt_record = Record(
            source,
            receipt,
            ref,
            amount,
            at,
            memo=cells.get("note", ""),
            kind=kind,
            status=method.strip() or None,
            channel=route,
            category=kind,
        )
        if not fee:
            return (receipt_record,)
        return (
            receipt_record,
            Record(
                source,
                f"{receipt}#fee",
                ref,
                -fee,
                at,
                memo=f"fee {fee.amount}",
                kind="fee",
                channel=route,
                category="payment_fee",
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
