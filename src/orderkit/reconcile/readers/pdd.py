"""Pinduoduo (拼多多) 货款账单: the merchant's goods-payment account, one row per entry.

The layout follows the fields of the Pinduoduo 货款账单 as the merchant back end exports
it and as ERP vendors document it (the 拼多多账单明细 field list of the Kuaimai open
platform): 商户订单号, 发生时间, 收入金额（+元）, 支出金额（-元）, 账务类型, 备注, 业务描述.

The rows carry no id of their own, so a record's id is the order number and the
physical line (``<order>#L<line>``, ``L<line>`` without an order). The category comes
from 账务类型: ``交易收入`` a sale, ``优惠券结算`` the platform's coupon subsidy,
``技术服务费`` and ``多多进宝佣金`` commissions, ``退款`` a refund, ``提现`` a withdrawal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from orderkit.reconcile.readers._table import (
    LINE,
    Cells,
    Progress,
    cell_time,
    first_name,
    income_less_expense,
    read_table,
)
from orderkit.reconcile.readers.categories import categorise, kind_of
from orderkit.reconcile.records import Record, Rejected

__all__ = ["PDD_COLUMNS", "read_pdd_bill"]

PDD_COLUMNS: Final = (
    "商户订单号",
    "发生时间",
    "收入金额（+元）",
    "支出金额（-元）",
    "账务类型",
    "备注",
    "业务描述",
)
_INCOME: Final = ("收入金额（+元）", "收入金额(+元)", "收入金额")
_EXPENSE: Final = ("支出金额（-元）", "支出金额(-元)", "支出金额")
_PDD_TZ: Final = "Asia/Shanghai"


def read_pdd_bill(
    path: str | Path,
    *,
    source: str = "pdd",
    encoding: str = "utf-8-sig",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from a Pinduoduo 货款账单 (see the module docstring)."""

    def parse(cells: Cells) -> Sequence[Record]:
        income_column = first_name(cells, _INCOME)
        expense_column = first_name(cells, _EXPENSE)
        amount = income_less_expense(cells, income_column, expense_column, "CNY")
        business = cells.get("账务类型", "")
        category = categorise(business, amount.amount)
        if category == "adjustment":
            category = categorise(f"{business} {cells.get('业务描述', '')}", amount.amount)
        order = cells.get("商户订单号", "")
        line = cells[LINE]
        return (
            Record(
                source,
                f"{order}#L{line}" if order else f"L{line}",
                order or None,
                amount,
                cell_time(cells, "发生时间", source_tz=_PDD_TZ, date_format=None),
                memo=" ".join(p for p in (cells.get("备注", ""), cells.get("业务描述", "")) if p),
                kind=kind_of(category),
                status=business or None,
                category=category,
            ),
        )

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("商户订单号", "发生时间", "账务类型", _INCOME, _EXPENSE),
        numbered=True,
        progress=progress,
    )
