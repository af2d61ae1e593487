"""Streaming readers: one per source format, each yielding records and rejects.

Every reader takes a path and keyword options and returns an iterator, so a file of any
size is read row by row. Rows that cannot be read become
:class:`~orderkit.reconcile.Rejected` inputs (file, line, column, reason) in the stream.
:data:`FORMATS` maps the CLI's ``--left-format``/``--right-format`` names to readers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from orderkit.reconcile.readers._table import parse_amount
from orderkit.reconcile.readers.alipay import ALIPAY_COLUMNS, read_alipay_statement
from orderkit.reconcile.readers.bank import CHARGE_WORDS, BankColumns, read_bank_csv
from orderkit.reconcile.readers.erp import ERP_COLUMNS, read_erp_csv
from orderkit.reconcile.readers.pos import read_pos_csv
from orderkit.reconcile.readers.wechatpay import WECHATPAY_COLUMNS, read_wechatpay_bill
from orderkit.reconcile.records import Record, Rejected

__all__ = [
    "ALIPAY_COLUMNS",
    "CHARGE_WORDS",
    "ERP_COLUMNS",
    "FORMATS",
    "WECHATPAY_COLUMNS",
    "BankColumns",
    "parse_amount",
    "read_alipay_statement",
    "read_bank_csv",
    "read_erp_csv",
    "read_pos_csv",
    "read_wechatpay_bill",
]

Reader = Callable[..., Iterator[Record | Rejected]]

FORMATS: Final[dict[str, Reader]] = {
    "erp": read_erp_csv,
    "bank-csv": read_bank_csv,
    "wechatpay": read_wechatpay_bill,
    "alipay": read_alipay_statement,
    "pos": read_pos_csv,
}
