"""A bank statement CSV, whatever the bank calls its columns.

Banks disagree on everything: ``交易时间`` or ``Value Date``, one signed amount column or
separate credit and debit columns, ``2026/02/16 10:02`` or ``16.02.2026``, the date and
the time in one column or in two, account and period lines before the header. A
:class:`BankColumns` says which header is which; ``date_format`` (a ``strptime``
pattern) and ``source_tz`` say how to read the time. The preamble is skipped: the
header is the first line with the columns asked for. A debit whose memo names a bank
charge (``手续费``, ``管理费``, ...) is a ``charge``, not a refund. Bank records usually have no
``ref``: the order number is somewhere in the memo, and the memo pass finds it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import attrs

from orderkit.model.errors import ValidationError
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ
from orderkit.reconcile.readers._table import Cells, Progress, cell_amount, cell_time, read_table
from orderkit.reconcile.records import Record, Rejected

__all__ = ["CHARGE_WORDS", "BankColumns", "read_bank_csv"]

#: Words in a debit's memo that make it a bank charge.
CHARGE_WORDS: Final = ("手续费", "服务费", "管理费", "年费", "工本费", "短信费", "汇划费", "charge")


@attrs.frozen
class BankColumns:
    """Header names of a bank statement. Give ``amount`` or both ``credit`` and ``debit``."""

    record_id: str = "transaction_id"
    at: str = "date"
    amount: str | None = "amount"
    credit: str | None = None
    debit: str | None = None
    memo: str = "memo"
    ref: str | None = None
    currency: str | None = None
    time: str | None = None
    """A separate time-of-day column; its cell is read after the date's."""

    def required(self) -> tuple[str, ...]:
        """Headers that must be present."""
        names = [self.record_id, self.at, *((self.time,) if self.time else ())]
        if self.credit and self.debit:
            names += [self.credit, self.debit]
        elif self.amount:
            names.append(self.amount)
        else:
            raise ValidationError("columns", self, "give amount, or credit and debit")
        return tuple(names)


def read_bank_csv(
    path: str | Path,
    *,
    source: str = "bank",
    columns: BankColumns | None = None,
    date_format: str | None = None,
    source_tz: str = DEFAULT_ACCOUNTING_TZ,
    currency: str = "CNY",
    encoding: str = "utf-8-sig",
    charge_words: tuple[str, ...] = CHARGE_WORDS,
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from a bank statement CSV described by ``columns``.

    Credits are positive, debits negative; a debit whose memo holds one of
    ``charge_words`` is a ``charge``, any other debit a ``refund``.
    """
    spec = columns if columns is not None else BankColumns()
    required = spec.required()

    def parse(cells: Cells) -> Sequence[Record]:
        row_currency = cells.get(spec.currency, "") if spec.currency else ""
        money_currency = row_currency or currency
        if spec.credit and spec.debit:
            credit = cell_amount(cells, spec.credit, money_currency, required=False)
            debit = cell_amount(cells, spec.debit, money_currency, required=False)
            amount = credit - abs(debit)
        else:
            amount = cell_amount(cells, spec.amount or "", money_currency)
        record_id = cells[spec.record_id]
        if not record_id:
            raise ValidationError(spec.record_id, record_id, "expected a transaction id")
        memo = cells.get(spec.memo, "")
        kind = "sale"
        if amount.amount < 0:
            kind = "charge" if any(word in memo for word in charge_words) else "refund"
        if spec.time:
            cells = {**cells, spec.at: f"{cells[spec.at]} {cells[spec.time]}"}
        return (
            Record(
                source,
                record_id,
                cells.get(spec.ref) if spec.ref else None,
                amount,
                cell_time(cells, spec.at, source_tz=source_tz, date_format=date_format),
                memo=memo,
                kind=kind,
            ),
        )

    return read_table(
        path, source=source, parse=parse, encoding=encoding, required=required, progress=progress
    )
