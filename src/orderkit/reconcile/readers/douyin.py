"""Douyin shop (抖店) bills: the 资金流水 (fund flow) and the 结算账单 (settlement bill).

Both layouts follow the fields the Douyin open platform documents for them and that ERP
vendors list for the exported files:

* **资金流水**, one row per movement of the shop's account (the fund-flow fields of the
  Kuaimai open platform's 抖音账单明细): 动账时间, 动账流水号, 动账方向 (入账/出账),
  动账账户, 动账金额 (or ``动账金额(元)``), 动账摘要, 订单号, 子订单号, 下单时间, 商品ID,
  业务类型, 备注. One
  record per row, signed by 动账方向 and categorised by 动账摘要 (``订单结算`` a sale,
  ``达人带货佣金`` a commission, ``平台补贴扣回`` a subsidy, ``提现`` a withdrawal).
* **结算账单**, one row per settled sub-order (``order.getSettleBillDetailV3``): 结算时间,
  结算单号, 订单号, 子订单号, 商家实收, 结算账户, 结算单类型, 订单总价, 结算前退款金额,
  平台补贴, 达人补贴, 抖音支付补贴, 平台服务费, 佣金, 渠道分成, 招商服务费, 站外推广费,
  其他分成 (amounts in yuan). A settled row becomes the sale at 订单总价, a ``refund``
  for 结算前退款金额, a ``subsidy`` for the platform's, the influencer's and Douyin Pay's
  subsidies and a ``commission`` for the platform's service fee and every share; these
  add up to 商家实收. When they do not (a column this reader does not know), the rest is
  one ``adjustment`` record named so in its memo, which the engine leaves for a person.
  A row whose 结算单类型 is a refund after settlement is one ``refund`` record.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile.readers._signed import signed
from orderkit.reconcile.readers._table import (
    Cells,
    Progress,
    cell_amount,
    cell_time,
    first_name,
    read_table,
)
from orderkit.reconcile.readers.categories import categorise, kind_of
from orderkit.reconcile.records import Record, Rejected

__all__ = [
    "DOUYIN_FLOW_COLUMNS",
    "DOUYIN_SETTLEMENT_COLUMNS",
    "FLOW_AMOUNT",
    "read_douyin_flow",
    "read_douyin_settlement",
]

DOUYIN_FLOW_COLUMNS: Final = (
    "动账时间",
    "动账流水号",
    "动账方向",
    "动账账户",
    "动账金额",
    "动账摘要",
    "订单号",
    "子订单号",
    "下单时间",
    "商品ID",
    "业务类型",
    "备注",
)
DOUYIN_SETTLEMENT_COLUMNS: Final = (
    "结算时间",
    "结算单号",
    "订单号",
    "子订单号",
    "商家实收",
    "结算账户",
    "结算单类型",
    "下单时间",
    "商品ID",
    "业务类型",
    "订单总价",
    "结算前退款金额",
    "平台补贴",
    "达人补贴",
    "抖音支付补贴",
    "平台服务费",
    "佣金",
    "渠道分成",
    "招商服务费",
    "站外推广费",
    "其他分成",
    "备注",
)
#: The fund flow's amount column: ``动账金额``, or with its unit as ERP vendors label it.
FLOW_AMOUNT: Final = ("动账金额", "动账金额(元)", "动账金额（元）")
_SUBSIDIES: Final = ("平台补贴", "达人补贴", "抖音支付补贴")
_SHARES: Final = ("平台服务费", "佣金", "渠道分成", "招商服务费", "站外推广费", "其他分成")
_DOUYIN_TZ: Final = "Asia/Shanghai"


def read_douyin_flow(
    path: str | Path,
    *,
    source: str = "douyin",
    encoding: str = "utf-8-sig",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from a Douyin shop 资金流水 (see the module docstring)."""

    def parse(cells: Cells) -> Sequence[Record]:
        record_id = cells["动账流水号"]
        if not record_id:
            raise ValidationError("动账流水号", record_id, "expected the movement number")
        amount_column = first_name(cells, FLOW_AMOUNT)
        amount = signed(cell_amount(cells, amount_column, "CNY"), cells["动账方向"], "动账方向")
        summary = cells.get("动账摘要", "")
        category = categorise(summary, amount.amount)
        sub_order = cells.get("子订单号", "")
        return (
            Record(
                source,
                record_id,
                cells.get("订单号") or None,
                amount,
                cell_time(cells, "动账时间", source_tz=_DOUYIN_TZ, date_format=None),
                memo=" ".join(p for p in (summary, cells.get("备注", "")) if p),
                kind=kind_of(category),
                status=cells.get("业务类型") or None,
                links=(sub_order,) if sub_order else (),
                category=category,
            ),
        )

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("动账时间", "动账流水号", "动账方向", FLOW_AMOUNT),
        progress=progress,
    )


def read_douyin_settlement(
    path: str | Path,
    *,
    source: str = "douyin",
    encoding: str = "utf-8-sig",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from a Douyin shop 结算账单 (see the module docstring)."""

    def parse(cells: Cells) -> Sequence[Record]:
        settlement = cells["结算单号"] or cells.get("子订单号", "")
        if not settlement:
            raise ValidationError("结算单号", settlement, "expected the settlement number")
        order = cells.get("订单号") or None
        links = tuple(x for x in (cells.get("子订单号", ""), cells["结算单号"]) if x)
        at = cell_time(cells, "结算时间", source_tz=_DOUYIN_TZ, date_format=None)
        received = cell_amount(cells, "商家实收", "CNY")
        trade_type = cells.get("结算单类型", "")

        def record(suffix: str, amount: Money, category: str, memo: str) -> Record:
            return Record(
                source,
                f"{settlement}{suffix}",
                order,
                amount,
                at,
                memo=memo,
                kind=kind_of(category),
                status=trade_type or None,
                links=links,
                category=category,
            )

        if "退款" in trade_type:
            return (record("", -abs(received), "refund", trade_type),)
        records = [record("", cell_amount(cells, "订单总价", "CNY"), "sale", "订单总价")]
        refund = cell_amount(cells, "结算前退款金额", "CNY", required=False)
        if refund:
            records.append(record("#refund", -abs(refund), "refund", "结算前退款金额"))
        for column in _SUBSIDIES:
            part = cell_amount(cells, column, "CNY", required=False)
            if part:
                records.append(record(f"#{column}", part, "subsidy", column))
        for column in _SHARES:
            part = cell_amount(cells, column, "CNY", required=False)
            if part:
                records.append(record(f"#{column}", -abs(part), "commission", column))
        total = sum((r.amount for r in records[1:]), records[0].amount)
        if total != received:
            rest = received - total
            records.append(
                record("#rest", rest, "adjustment", f"商家实收 {received.amount} 未解释部分")
            )
        return records

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("结算时间", "结算单号", "订单号", "商家实收", "订单总价"),
        progress=progress,
    )
