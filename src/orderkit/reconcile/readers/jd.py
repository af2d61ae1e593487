"""JD (京东) 订单结算明细: one row per order and fee type.

The layout follows the fields of the JD settlement detail as the JD merchant back end
exports it and as ERP vendors document it (the 京东原始账单明细 field list of the Kuaimai
open platform): 订单编号, 单据编号, 单据类型, 商品编号, 商户订单号, 商品名称, 结算状态,
下单时间, 费用计费时间, 费用项, 金额, 币种, 收支方向, 钱包结算备注, 店铺号.

Every row is one record. Its sign comes from 收支方向 (收入 in, 支出 out), its
category from 费用项 (``货款`` the goods, ``佣金`` the commission, ``京豆`` and ``东券``
discounts, ``运费`` freight ...). The order number is the ``ref``, so all the fee rows of
one order meet its ERP record in the exact-reference pass; the row's id is the document
number and the fee type, since one document has a row per fee.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.reconcile.readers._signed import signed
from orderkit.reconcile.readers._table import Cells, Progress, cell_amount, cell_time, read_table
from orderkit.reconcile.readers.categories import categorise, kind_of
from orderkit.reconcile.records import Record, Rejected

__all__ = ["JD_COLUMNS", "read_jd_settlement"]

JD_COLUMNS: Final = (
    "订单编号",
    "单据编号",
    "单据类型",
    "商品编号",
    "商户订单号",
    "商品名称",
    "结算状态",
    "下单时间",
    "费用计费时间",
    "费用项",
    "金额",
    "币种",
    "收支方向",
    "钱包结算备注",
    "店铺号",
)
_JD_TZ: Final = "Asia/Shanghai"
_CURRENCIES: Final = {"": "CNY", "人民币": "CNY", "CNY": "CNY", "RMB": "CNY"}


def read_jd_settlement(
    path: str | Path,
    *,
    source: str = "jd",
    encoding: str = "gbk",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from a JD 订单结算明细 (see the module docstring)."""

    def parse(cells: Cells) -> Sequence[Record]:
        order = cells["订单编号"]
        document = cells["单据编号"]
        fee = cells["费用项"]
        if not document:
            raise ValidationError("单据编号", document, "expected the document number")
        if not fee:
            raise ValidationError("费用项", fee, "expected the fee type")
        currency = _CURRENCIES.get(cells.get("币种", ""), cells.get("币种", ""))
        amount = signed(cell_amount(cells, "金额", currency), cells["收支方向"], "收支方向")
        category = categorise(fee, amount.amount)
        when = "费用计费时间" if cells.get("费用计费时间") else "下单时间"
        merchant_order = cells.get("商户订单号", "")
        return (
            Record(
                source,
                f"{document}#{fee}",
                order or None,
                amount,
                cell_time(cells, when, source_tz=_JD_TZ, date_format=None),
                memo=" ".join(p for p in (fee, cells.get("钱包结算备注", "")) if p),
                kind=kind_of(category),
                status=cells.get("结算状态") or None,
                links=tuple(x for x in (merchant_order, document) if x),
                category=category,
            ),
        )

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("订单编号", "单据编号", "费用项", "金额", "收支方向"),
        progress=progress,
    )
