"""The Alipay account statement CSV (账务明细), as downloaded from the merchant portal.

The real layout: comment lines starting with ``#`` before the table (account, date
range, a dashed title line) and after it (totals, export time); a header row; cells
padded with a trailing tab so spreadsheets keep long numbers as text; income and
expense in separate columns (收入金额（+元）, 支出金额（-元）); GBK encoding is common, so
``encoding`` defaults to ``"gbk"``. The service fee for a payment is its own row with the
same merchant order number, which becomes a ``fee`` record.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.reconcile.readers._table import Cells, Progress, cell_amount, cell_time, read_table
from orderkit.reconcile.records import Record, Rejected

__all__ = ["ALIPAY_COLUMNS", "read_alipay_statement"]

ALIPAY_COLUMNS: Final = (
    "账务流水号",
    "业务流水号",
    "商户订单号",
    "商品名称",
    "发生时间",
    "对方账号",
    "收入金额（+元）",
    "支出金额（-元）",
    "账户余额（元）",
    "交易渠道",
    "业务类型",
    "备注",
)
_INCOME: Final = "收入金额（+元）"
_EXPENSE: Final = "支出金额（-元）"
#: 业务类型 -> record kind; anything else (transfers, withdrawals) is an adjustment.
_KINDS: Final = {
    "在线支付": "sale",
    "交易付款": "sale",
    "交易": "sale",
    "收费": "fee",
    "服务费": "fee",
    "交易服务费": "fee",
    "退款": "refund",
    "交易退款": "refund",
    "营销补贴": "subsidy",
}
_ALIPAY_TZ: Final = "Asia/Shanghai"


def read_alipay_statement(
    path: str | Path,
    *,
    source: str = "alipay",
    encoding: str = "gbk",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from an Alipay 账务明细 CSV (see the module docstring)."""

    def parse(cells: Cells) -> Sequence[Record]:
        income = cell_amount(cells, _INCOME, "CNY", required=False)
        expense = cell_amount(cells, _EXPENSE, "CNY", required=False)
        if income and expense:
            raise ValidationError(
                _EXPENSE, cells[_EXPENSE], "a row has income or expense, not both"
            )
        amount = income - abs(expense)
        record_id = cells["账务流水号"]
        if not record_id:
            raise ValidationError("账务流水号", record_id, "expected the account entry number")
        business = cells.get("业务类型", "")
        kind = _KINDS.get(business, "adjustment")
        flow = cells.get("业务流水号", "")
        memo = " ".join(part for part in (cells.get("备注", ""), cells.get("商品名称", "")) if part)
        return (
            Record(
                source,
                record_id,
                cells.get("商户订单号") or None,
                amount,
                cell_time(cells, "发生时间", source_tz=_ALIPAY_TZ, date_format=None),
                memo=memo,
                kind=kind,
                status=business or None,
                links=(flow,) if flow else (),
            ),
        )

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("账务流水号", "商户订单号", "发生时间", _INCOME, _EXPENSE),
        skip=lambda line: line.lstrip().startswith("#"),
        progress=progress,
    )
