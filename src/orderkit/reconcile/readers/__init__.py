"""Streaming readers: one per source format, each yielding records and rejects.

Every reader takes a path and keyword options and returns an iterator, so a file of any
size is read row by row. Rows that cannot be read become
:class:`~orderkit.reconcile.Rejected` inputs (file, line, column, reason) in the stream.
:data:`FORMATS` maps the CLI's ``--left-format``/``--right-format`` names to readers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from orderkit.reconcile.readers._table import check_encoding, parse_amount
from orderkit.reconcile.readers.alipay import (
    ALIPAY_COLUMNS,
    ALIPAY_TRADE_COLUMNS,
    QIANNIU_COLUMNS,
    read_alipay_qianniu,
    read_alipay_statement,
    read_alipay_trades,
)
from orderkit.reconcile.readers.bank import (
    CHARGE_WORDS,
    BankColumns,
    read_bank_csv,
    read_bank_statement,
)
from orderkit.reconcile.readers.bill import (
    LAYOUTS,
    BillRead,
    Layout,
    UnknownBillLayout,
    detect_encoding,
    read_bill,
)
from orderkit.reconcile.readers.categories import CATEGORY_WORDS, categorise
from orderkit.reconcile.readers.douyin import (
    DOUYIN_FLOW_COLUMNS,
    DOUYIN_SETTLEMENT_COLUMNS,
    read_douyin_flow,
    read_douyin_settlement,
)
from orderkit.reconcile.readers.erp import ERP_COLUMNS, read_erp_csv
from orderkit.reconcile.readers.jd import JD_COLUMNS, read_jd_settlement
from orderkit.reconcile.readers.pdd import PDD_COLUMNS, read_pdd_bill
from orderkit.reconcile.readers.pos import POS_COLUMNS, read_pos_csv
from orderkit.reconcile.readers.wechatpay import (
    WECHATPAY_COLUMNS,
    WECHATPAY_LEGACY_COLUMNS,
    read_wechatpay_bill,
)
from orderkit.reconcile.records import Record, Rejected

__all__ = [
    "ALIPAY_COLUMNS",
    "ALIPAY_TRADE_COLUMNS",
    "CATEGORY_WORDS",
    "CHARGE_WORDS",
    "DOUYIN_FLOW_COLUMNS",
    "DOUYIN_SETTLEMENT_COLUMNS",
    "ERP_COLUMNS",
    "FORMATS",
    "JD_COLUMNS",
    "LAYOUTS",
    "PDD_COLUMNS",
    "POS_COLUMNS",
    "QIANNIU_COLUMNS",
    "WECHATPAY_COLUMNS",
    "WECHATPAY_LEGACY_COLUMNS",
    "BankColumns",
    "BillRead",
    "Layout",
    "UnknownBillLayout",
    "categorise",
    "check_encoding",
    "detect_encoding",
    "parse_amount",
    "read_alipay_qianniu",
    "read_alipay_statement",
    "read_alipay_trades",
    "read_bank_csv",
    "read_bank_statement",
    "read_bill",
    "read_douyin_flow",
    "read_douyin_settlement",
    "read_erp_csv",
    "read_jd_settlement",
    "read_pdd_bill",
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
    "alipay-trade": read_alipay_trades,
    "alipay-qianniu": read_alipay_qianniu,
    "jd": read_jd_settlement,
    "pdd": read_pdd_bill,
    "douyin-flow": read_douyin_flow,
    "douyin-settlement": read_douyin_settlement,
    "bank": read_bank_statement,
}
