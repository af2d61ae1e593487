"""A bank statement CSV, whatever the bank calls its columns.

Banks disagree on everything: ``交易时间`` or ``Value Date``, one signed amount column or
separate credit and debit columns, ``2026/02/16 10:02`` or ``16.02.2026``, the date and
the time in one column or in two, account and period lines before the header. A
:class:`BankColumns` says which header is which; ``date_format`` (a ``strptime``
pattern) and ``source_tz`` say how to read the time. The preamble is skipped: the
header is the first line with the columns asked for. A debit is a bank charge (a
``charge``, not a refund) only when it is the bank's own: no other party (no
counterparty, or the bank itself) and the bank's word for a charge (``手续费``,
``账户管理费``, ``Bank charge``, ...) as a whole word of its memo. Paying a vendor's
``3月代运营服务费`` or ``Recharge Trading Ltd`` is a debit nobody has explained. Bank
records usually have no ``ref``: the order number is somewhere in the memo, and the
memo pass finds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Final

import attrs

from orderkit.model.errors import ValidationError
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, zone
from orderkit.reconcile.readers._signed import plain_datetime
from orderkit.reconcile.readers._table import (
    LINE,
    Cells,
    Progress,
    cell_amount,
    cell_time,
    read_table,
)
from orderkit.reconcile.records import CATEGORIES, Record, Rejected

__all__ = [
    "CHARGE_WORDS",
    "BankColumns",
    "is_bank_charge",
    "read_bank_csv",
    "read_bank_statement",
]

#: What banks call their own charges in a statement's summary (摘要, 用途): a debit is a
#: bank charge when one of these is a whole word (or two) of it (``账户管理费``, not
#: ``3月物业管理费``; ``Bank charge``, not ``Recharge``), compared without case.
CHARGE_WORDS: Final = (
    "手续费",
    "汇划费",
    "汇费",
    "收费",
    "扣费",
    "年费",
    "工本费",
    "管理费",
    "账户管理费",
    "小额账户管理费",
    "账户维护费",
    "短信费",
    "短信服务费",
    "短信通知费",
    "转账手续费",
    "汇款手续费",
    "跨行手续费",
    "bank charge",
    "bank charges",
    "service charge",
    "service charges",
    "bank fee",
    "bank fees",
    "account fee",
)
#: What separates the words of a memo.
_WORD_BREAK: Final = re.compile(r"[\s,，.。;；:：/\\|()（）\[\]【】<>《》\-_#*]+")
#: A counterparty that is a bank (the bank's own account for its charges).
_A_BANK: Final = re.compile(r"银行|\bbank\b", re.IGNORECASE)


def is_bank_charge(
    memos: Iterable[str], counterparty: str = "", words: Iterable[str] = CHARGE_WORDS
) -> bool:
    """Whether a debit is the bank's own charge: no other party (``counterparty`` empty or
    a bank) and one of ``words`` a whole word of one of ``memos`` (or two words of it,
    ``Bank charge``).

    >>> is_bank_charge(["收费", "账户管理费"]), is_bank_charge(["网银转账", "3月物业管理费"])
    (True, False)
    >>> is_bank_charge(["手续费"], "某某代运营有限公司"), is_bank_charge(["Recharge fee"])
    (False, False)
    """
    if counterparty.strip() and not _A_BANK.search(counterparty):
        return False
    wanted = {word.casefold() for word in words}
    for memo in memos:
        found = [word.casefold() for word in _WORD_BREAK.split(memo) if word]
        pairs = (f"{first} {second}" for first, second in pairwise(found))
        if wanted.intersection(found) or wanted.intersection(pairs):
            return True
    return False


@attrs.frozen
class BankColumns:
    """Header names of a bank statement. Give ``amount`` or both ``credit`` and ``debit``."""

    record_id: str = "transaction_id"
    at: str = "date"
    amount: str | None = "amount"
    credit: str | None = None
    debit: str | None = None
    memo: str = "memo"
    counterparty: str | None = None
    """The other party's name: a debit to anyone but a bank is never a bank charge."""
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

    Credits are positive, debits negative; a debit with one of ``charge_words`` as a
    whole word of its memo and no other party (the ``counterparty`` column, when named,
    empty or a bank) is a ``charge`` (:func:`is_bank_charge`), any other debit a
    ``refund``.
    """
    zone(source_tz, path="source_tz")  # refused before any row is read
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
            other = cells.get(spec.counterparty, "") if spec.counterparty else ""
            kind = "charge" if is_bank_charge((memo,), other, charge_words) else "refund"
        category = {"sale": "credit", "refund": "debit", "charge": "bank_charge"}[kind]
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
                category=category,
            ),
        )

    return read_table(
        path, source=source, parse=parse, encoding=encoding, required=required, progress=progress
    )


#: Header spellings of Chinese bank statement exports, tried in this order.
STATEMENT_DATE: Final = ("交易日期", "记账日期", "交易日", "入账日期", "日期")
STATEMENT_TIME: Final = ("交易时间", "时间")
#: A statement's date: a date column, or a single date-and-time column (交易时间).
STATEMENT_WHEN: Final = (*STATEMENT_DATE, *STATEMENT_TIME)
STATEMENT_ID: Final = ("交易流水号", "流水号", "银行流水号", "交易流水", "凭证号", "交易参考号")
STATEMENT_CREDIT: Final = (
    "贷方金额",
    "贷方发生额",
    "记账金额(收入)",
    "记账金额（收入）",
    "交易金额(收入)",
    "交易金额（收入）",
    "收入金额",
    "收入",
)
STATEMENT_DEBIT: Final = (
    "借方金额",
    "借方发生额",
    "记账金额(支出)",
    "记账金额（支出）",
    "交易金额(支出)",
    "交易金额（支出）",
    "支出金额",
    "支出",
)
STATEMENT_MEMO: Final = (
    "摘要",
    "用途",
    "附言",
    "交易详情",
    "备注",
    "交易场所",
    "对方户名",
    "对方账户名称",
    "对方名称",
)
#: The columns in which a bank writes what a line is (its summary), searched for a charge.
STATEMENT_SUMMARY: Final = ("摘要", "用途", "交易详情")
#: The other party's name.
STATEMENT_COUNTERPARTY: Final = ("对方户名", "对方账户名称", "对方名称")
STATEMENT_CURRENCY: Final = ("币种", "记账币种", "交易币种", "货币")
_CURRENCY_NAMES: Final = {"": "", "人民币": "CNY", "RMB": "CNY", "CNY": "CNY", "美元": "USD"}


def _first_present(header: Sequence[str], names: Sequence[str]) -> str | None:
    return next((name for name in names if name in header), None)


def read_bank_statement(
    path: str | Path,
    *,
    source: str = "bank",
    source_tz: str = DEFAULT_ACCOUNTING_TZ,
    currency: str = "CNY",
    encoding: str = "utf-8-sig",
    charge_words: tuple[str, ...] = CHARGE_WORDS,
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from a Chinese bank statement export, its columns found by name.

    The header is found after the bank's preamble by its date, credit and debit
    columns (``交易日期``/``记账日期``, ``贷方金额``/``记账金额(收入)``, ``借方金额``/...);
    a statement whose only date column is ``交易时间`` (date and time in one cell) is read
    by it; a separate ``交易时间`` column beside a date column is read with the date,
    dates without separators (``20260302``) as dates. The memo joins every memo-like
    cell (摘要, 用途, 附言, 交易详情, 对方户名 ...), so the order numbers and the payer's
    name are all searched. A statement without a transaction number column gets
    ``L<line>`` ids. A line whose first cell ends in ``合计`` (``人民币合计``) ends a
    table; rows after it, or another statement joined on, are read too. Credits are ``credit``
    records (kind ``sale``); a debit that is the bank's own charge (no counterparty or a
    bank, and a charge word as a whole word of 摘要, 用途 or 交易详情:
    :func:`is_bank_charge`) is a ``bank_charge`` (kind ``charge``), any other debit a
    ``debit`` (kind ``refund``).
    """
    zone(source_tz, path="source_tz")  # refused before any row is read
    columns: dict[str, str | None] = {}

    def parse(cells: Cells) -> Sequence[Record]:
        if not columns:
            header = list(cells)
            for key, names in (
                ("date", STATEMENT_DATE),
                ("time", STATEMENT_TIME),
                ("id", STATEMENT_ID),
                ("credit", STATEMENT_CREDIT),
                ("debit", STATEMENT_DEBIT),
                ("currency", STATEMENT_CURRENCY),
            ):
                columns[key] = _first_present(header, names)
        date_column = columns["date"] or columns["time"] or ""
        text = plain_datetime(cells.get(date_column, ""))
        time_column = columns["time"]
        if time_column and time_column != date_column and ":" not in text:
            clock = cells.get(time_column, "")
            if len(clock) == 6 and clock.isdigit():
                clock = f"{clock[:2]}:{clock[2:4]}:{clock[4:]}"
            text = f"{text} {clock}" if clock else text
        row_currency = cells.get(columns["currency"] or "", "")
        money_currency = _CURRENCY_NAMES.get(row_currency, row_currency) or currency
        credit = cell_amount(cells, columns["credit"] or "", money_currency, required=False)
        debit = cell_amount(cells, columns["debit"] or "", money_currency, required=False)
        if credit and debit:
            debit_column = columns["debit"] or ""
            raise ValidationError(
                debit_column, cells.get(debit_column), "a line has a credit or a debit, not both"
            )
        amount = credit - abs(debit)
        record_id = cells.get(columns["id"] or "", "") or f"L{cells[LINE]}"
        memo = " ".join(cells[name] for name in STATEMENT_MEMO if cells.get(name))
        if amount.amount < 0:
            summary = (cells.get(name, "") for name in STATEMENT_SUMMARY)
            other = next((cells[name] for name in STATEMENT_COUNTERPARTY if cells.get(name)), "")
            charge = is_bank_charge(summary, other, charge_words)
            category = "bank_charge" if charge else "debit"
        else:
            category = "credit"
        return (
            Record(
                source,
                record_id,
                None,
                amount,
                cell_time({date_column: text}, date_column, source_tz=source_tz, date_format=None),
                memo=memo,
                kind=CATEGORIES[category],
                category=category,
            ),
        )

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=(STATEMENT_WHEN, STATEMENT_CREDIT, STATEMENT_DEBIT),
        stop=lambda values: bool(values) and values[0].endswith("合计"),
        numbered=True,
        progress=progress,
    )
