"""The WeChat Pay merchant transaction bill (交易账单, ``downloadbill`` with ``bill_type=ALL``).

The real layout: a header row, then one row per payment or refund in which *every cell*
starts with a backtick (so spreadsheets keep 28-digit order numbers as text), amounts in
yuan in whole fen (a row with ``45.505`` in an amount column is rejected naming the
column), the fee (手续费) with five decimals, and at the end a summary block
(``总交易单数,应结订单总金额,...``) followed by its own backticked row. Times are Beijing
time without an offset.

Each row becomes up to three records that share the merchant order number as ``ref``:

* the sale (or refund) at the *order amount* (订单金额), which is what the ERP books;
* a ``subsidy`` record for the part of the order paid with a coupon the merchant funds
  (订单金额 minus 应结订单金额: WeChat does not settle it), negative;
* a ``fee`` record for the fee, negative (positive on a refund row, the fee returned).

A refund row mirrors it: the refund at the amount asked for (申请退款金额, the refund of
the order as the ERP books it), a positive ``subsidy`` for the coupon part handed back
to the buyer (申请退款金额 minus 退款金额: WeChat does not take it back from the merchant)
and a positive ``fee`` for the fee returned. 退款金额 is what WeChat Pay takes back (the
应结退款金额); 充值券退款金额, a pre-funded coupon's part, is already inside it.

So the records of a row add up to what WeChat Pay actually pays out for it, and the engine
reports the coupon and the fee as ``coupon_or_subsidy`` and ``platform_fee`` differences
instead of one unexplained amount mismatch. Their categories are ``sale`` (or
``refund``), ``coupon`` and ``payment_fee``.

The older layouts (24 columns for ``ALL``, 26 for ``REFUND``, before 2019) name the
amount 总金额 instead of 应结订单金额, the coupon 企业红包金额 instead of 代金券金额, have
no 订单金额 or 申请退款金额, and end with a five-column summary; they are read the same way
(a refund asked for 退款金额 plus 企业红包退款金额, the red packet handed back). A refund row
of a ``REFUND`` bill carries the payment's time in 交易时间 and the refund's in
退款成功时间: the refund is dated by the latter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile.readers._summary import Stated, SummaryCheck, Total
from orderkit.reconcile.readers._table import (
    Cells,
    Progress,
    cell_amount,
    cell_time,
    first_name,
    line_cells,
    read_table,
)
from orderkit.reconcile.records import Record, Rejected

__all__ = ["WECHATPAY_COLUMNS", "WECHATPAY_LEGACY_COLUMNS", "read_wechatpay_bill"]

#: The columns of the ALL bill, in WeChat Pay's order.
WECHATPAY_COLUMNS: Final = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
)
#: The columns of the older ALL bill (24 columns; the REFUND bill adds 退款申请时间 and
#: 退款成功时间 after 企业红包金额).
WECHATPAY_LEGACY_COLUMNS: Final = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "子商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "总金额",
    "企业红包金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "企业红包退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
)
_SETTLED: Final = ("应结订单金额", "总金额")
_COUPON: Final = ("代金券金额", "代金券或立减优惠金额", "企业红包金额")
#: The coupon part of a refund in the older layouts (the newer one gives 申请退款金额).
_COUPON_REFUND: Final = ("企业红包退款金额", "代金券或立减优惠退款金额")
_SUMMARY_FIRST_CELL: Final = "总交易单数"
_FEE: Final = "手续费"
_CURRENCIES: Final = {"CNY": "CNY", "人民币": "CNY", "": "CNY"}
_WECHAT_TZ: Final = "Asia/Shanghai"


def _currency(cells: Cells) -> str:
    text = cells.get("货币种类", "")
    return _CURRENCIES.get(text, text)


def _amount(cells: Cells, column: str, *, required: bool = True) -> Money:
    """A cell's amount in the row's currency: whole fen, but for the fee (手续费, worked
    out to five decimals)."""
    return cell_amount(cells, column, _currency(cells), required=required, whole=column != _FEE)


def _column_sum(column: str) -> Callable[[Cells], Decimal]:
    def part(cells: Cells) -> Decimal:
        return _amount(cells, column, required=False).amount

    return part


def _sum(label: str, column: str) -> Total:
    return Total(label, False, f"the sum of {column}", _column_sum(column), (column,))


#: The figures of the summary block (current and older layouts) and the column each sums;
#: 总交易单数 counts every row, payments and refunds alike.
_TOTALS: Final = (
    Total(_SUMMARY_FIRST_CELL, True, "rows"),
    _sum("应结订单总金额", "应结订单金额"),
    _sum("退款总金额", "退款金额"),
    _sum("充值券退款总金额", "充值券退款金额"),
    _sum("手续费总金额", _FEE),
    _sum("订单总金额", "订单金额"),
    _sum("申请退款总金额", "申请退款金额"),
    _sum("总交易额", "总金额"),
    _sum("总退款金额", "退款金额"),
    _sum("总企业红包退款金额", "企业红包退款金额"),
)


def _summary_figures(lines: Sequence[tuple[int, str]]) -> dict[tuple[str, bool], Stated]:
    """The summary block: its title line (that ended the table), then a row of figures."""
    titles = line_cells(lines[0][1]) if lines else None
    figures = next(
        ((number, text) for number, text in lines[1:] if text.strip()), None
    )
    if not titles or figures is None:
        return {}
    number, text = figures
    cells = line_cells(text) or []
    return {
        (title, title == _SUMMARY_FIRST_CELL): Stated(number, value, text.rstrip("\r\n"))
        for title, value in zip(titles, cells, strict=False)
    }


_SUMMARY: Final = SummaryCheck(_TOTALS, _summary_figures, required=True)


def read_wechatpay_bill(
    path: str | Path,
    *,
    source: str = "wechatpay",
    encoding: str = "utf-8-sig",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from a WeChat Pay ALL bill (see the module docstring)."""

    def parse(cells: Cells) -> Sequence[Record]:
        at = cell_time(cells, "交易时间", source_tz=_WECHAT_TZ, date_format=None)
        order_no = cells["商户订单号"] or None
        transaction = cells["微信订单号"]
        if not transaction:
            raise ValidationError("微信订单号", transaction, "expected the WeChat Pay order number")
        state = cells["交易状态"]
        fee = _amount(cells, _FEE, required=False)
        memo = cells.get("商品名称", "")
        records: list[Record] = []
        if state == "SUCCESS":
            settled = _amount(cells, first_name(cells, _SETTLED))
            coupon = _amount(cells, first_name(cells, _COUPON), required=False)
            ordered = _amount(cells, "订单金额") if cells.get("订单金额") else settled + coupon
            records.append(
                Record(
                    source,
                    transaction,
                    order_no,
                    ordered,
                    at,
                    memo=memo,
                    status=state,
                    links=(transaction,),
                    category="sale",
                )
            )
            withheld = ordered - settled
            if withheld:
                records.append(
                    Record(
                        source,
                        f"{transaction}#coupon",
                        order_no,
                        -withheld,
                        at,
                        memo=f"代金券 {coupon.amount}",
                        kind="subsidy",
                        status=state,
                        links=(transaction,),
                        category="coupon",
                    )
                )
            record_id = transaction
        elif state in ("REFUND", "REVOKED"):
            refund_no = cells.get("微信退款单号") or f"{transaction}#refund"
            # 退款金额 is what WeChat Pay takes back from the merchant (应结退款金额);
            # 申请退款金额 is the refund of the order, coupon included, as the ERP books it.
            taken_back = _amount(cells, "退款金额")
            if cells.get("申请退款金额"):
                requested = _amount(cells, "申请退款金额")
            else:
                returned = _amount(cells, first_name(cells, _COUPON_REFUND), required=False)
                requested = abs(taken_back) + abs(returned)
            if cells.get("退款成功时间"):
                at = cell_time(cells, "退款成功时间", source_tz=_WECHAT_TZ, date_format=None)
            records.append(
                Record(
                    source,
                    refund_no,
                    order_no,
                    -abs(requested),
                    at,
                    memo=memo,
                    kind="refund",
                    status=cells.get("退款状态") or state,
                    links=(transaction,),
                    category="refund",
                )
            )
            coupon_back = abs(requested) - abs(taken_back)
            if coupon_back:
                records.append(
                    Record(
                        source,
                        f"{refund_no}#coupon",
                        order_no,
                        coupon_back,
                        at,
                        memo=f"代金券退回 {coupon_back.amount}",
                        kind="subsidy",
                        status=cells.get("退款状态") or state,
                        links=(transaction,),
                        category="coupon",
                    )
                )
            record_id = refund_no
        else:
            raise ValidationError("交易状态", state, "expected SUCCESS, REFUND or REVOKED")
        if fee:
            records.append(
                Record(
                    source,
                    f"{record_id}#fee",
                    order_no,
                    -fee,
                    at,
                    memo=f"手续费 费率 {cells.get('费率', '')}",
                    kind="fee",
                    status=state,
                    links=(transaction,),
                    category="payment_fee",
                )
            )
        return records

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("交易时间", "微信订单号", "商户订单号", "交易状态", _SETTLED, _FEE),
        stop=lambda values: bool(values) and values[0] == _SUMMARY_FIRST_CELL,
        footer=f"summary block ({_SUMMARY_FIRST_CELL})",
        summary=_SUMMARY,
        progress=progress,
    )
