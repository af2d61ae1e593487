"""The Alipay account statement CSV (账务明细), as downloaded from the merchant portal.

The real layout: comment lines starting with ``#`` before the table (account, date
range, a dashed title line) and after it (totals, export time); a header row; cells
padded with a trailing tab so spreadsheets keep long numbers as text; income and
expense in separate columns (收入金额（+元）, 支出金额（-元）); GBK encoding is common, so
``encoding`` defaults to ``"gbk"``. The service fee for a payment is its own row with the
same merchant order number, which becomes a ``fee`` record (category ``payment_fee``);
a withdrawal to the bank (``提现``) is a ``transfer`` (``withdrawal``).

Two more Alipay layouts are read here: the 业务明细 (trade bill: one row per trade or
refund, with the merchant's discount, the service fee and the profit share in columns of
their own) and the account statement as a Taobao or Tmall seller exports it from Qianniu.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.reconcile.readers._summary import Stated, SummaryCheck, Total
from orderkit.reconcile.readers._table import (
    Cells,
    Progress,
    cell_amount,
    cell_time,
    income_less_expense,
    parse_amount,
    read_table,
)
from orderkit.reconcile.readers.categories import categorise, kind_of
from orderkit.reconcile.records import Record, Rejected

__all__ = [
    "ALIPAY_CATEGORIES",
    "ALIPAY_COLUMNS",
    "ALIPAY_TRADE_COLUMNS",
    "QIANNIU_COLUMNS",
    "alipay_category",
    "read_alipay_qianniu",
    "read_alipay_statement",
    "read_alipay_trades",
]

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
#: 业务类型 -> category where the words alone would mislead (Alipay's 服务费 is its
#: payment fee); anything else is categorised by its words
#: (:func:`~orderkit.reconcile.readers.categories.categorise`).
ALIPAY_CATEGORIES: Final = {
    "在线支付": "sale",
    "交易付款": "sale",
    "交易": "sale",
    "收费": "payment_fee",
    "服务费": "payment_fee",
    "交易服务费": "payment_fee",
    "退款": "refund",
    "交易退款": "refund",
    "营销补贴": "subsidy",
}
_ALIPAY_TZ: Final = "Asia/Shanghai"


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


#: ``#收入合计：3笔，共304.50元``: a summary line's label, its count and its amount.
_SUMMARY_LINE: Final = re.compile(
    r"\s*#\s*(?P<label>\S+?合计)\s*[：:]\s*(?P<count>[0-9,]+)\s*笔\s*[，,]\s*共\s*"
    r"(?P<amount>[-+]?[0-9,.]+)\s*元"
)


def _summary_lines(lines: Sequence[tuple[int, str]]) -> dict[tuple[str, bool], Stated]:
    """The ``#...合计：N笔，共X元`` lines after the table, by label."""
    figures: dict[tuple[str, bool], Stated] = {}
    for number, text in lines:
        match = _SUMMARY_LINE.match(text)
        if match:
            raw = text.rstrip("\r\n")
            figures[match["label"], True] = Stated(number, match["count"], raw)
            figures[match["label"], False] = Stated(number, match["amount"], raw)
    return figures


def _filled(column: str) -> Callable[[Mapping[str, str]], Decimal]:
    def part(cells: Mapping[str, str]) -> Decimal:
        return Decimal(bool(parse_amount(cells.get(column, ""), column)))

    return part


def _amount(column: str) -> Callable[[Mapping[str, str]], Decimal]:
    def part(cells: Mapping[str, str]) -> Decimal:
        return abs(parse_amount(cells.get(column, ""), column) or Decimal(0))

    return part


#: 收入合计 counts and sums the income rows, 支出合计 the expense rows (written with or
#: without their minus sign).
_STATEMENT_SUMMARY: Final = SummaryCheck(
    (
        Total("收入合计", True, f"rows with {_INCOME}", _filled(_INCOME), (_INCOME,)),
        Total(
            "收入合计", False, f"the sum of {_INCOME}", _amount(_INCOME), (_INCOME,),
            absolute=True,
        ),
        Total("支出合计", True, f"rows with {_EXPENSE}", _filled(_EXPENSE), (_EXPENSE,)),
        Total(
            "支出合计", False, f"the sum of {_EXPENSE}", _amount(_EXPENSE), (_EXPENSE,),
            absolute=True,
        ),
    ),
    _summary_lines,
)


def alipay_category(business: str, memo: str, amount: Decimal) -> str:
    """The category of an Alipay line from its 业务类型/账务类型, then its memo.

    A payment type (``在线支付``, ``交易付款``) is a sale when money comes in. Money going
    out under it is the shop paying for something from its balance (ads, supplies): not
    a sale, and not a buyer's refund either (Alipay names those ``交易退款``), so it is
    an ``adjustment``, left for a person.

    >>> from decimal import Decimal as D
    >>> alipay_category("在线支付", "", D("256.00")), alipay_category("在线支付", "", D("-1000"))
    ('sale', 'adjustment')
    """
    category = categorise(business, amount, known=ALIPAY_CATEGORIES)
    if category == "sale" and amount < 0:
        return "adjustment"
    if category == "adjustment" and memo:
        category = categorise(f"{business} {memo}", amount)
    return category


def read_alipay_statement(
    path: str | Path,
    *,
    source: str = "alipay",
    encoding: str = "gbk",
    require_footer: bool = False,
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from an Alipay 账务明细 CSV (see the module docstring).

    With ``require_footer`` (as :func:`~orderkit.reconcile.read_bill` reads it), a file
    whose table is not followed by Alipay's ``#`` summary lines was cut off, which is
    reported as a rejected line. The ``#收入合计`` and ``#支出合计`` lines are checked
    against the rows (count and amount): where they differ, the summary line is a
    rejected line saying what each gives.
    """

    def parse(cells: Cells) -> Sequence[Record]:
        amount = income_less_expense(cells, _INCOME, _EXPENSE, "CNY")
        record_id = cells["账务流水号"]
        if not record_id:
            raise ValidationError("账务流水号", record_id, "expected the account entry number")
        business = cells.get("业务类型", "")
        flow = cells.get("业务流水号", "")
        memo = " ".join(part for part in (cells.get("备注", ""), cells.get("商品名称", "")) if part)
        category = alipay_category(business, cells.get("备注", ""), amount.amount)
        return (
            Record(
                source,
                record_id,
                cells.get("商户订单号") or None,
                amount,
                cell_time(cells, "发生时间", source_tz=_ALIPAY_TZ, date_format=None),
                memo=memo,
                kind=kind_of(category),
                status=business or None,
                links=(flow,) if flow else (),
                category=category,
            ),
        )

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("账务流水号", "商户订单号", "发生时间", _INCOME, _EXPENSE),
        skip=_is_comment,
        end=_is_comment,
        footer="summary lines (#...)" if require_footer else None,
        summary=_STATEMENT_SUMMARY,
        progress=progress,
    )


#: The columns of the Alipay 业务明细 (trade bill, 25 columns), as the merchant portal
#: and ``alipay.data.dataservice.bill.downloadurl.query`` (``bill_type=trade``) give it.
ALIPAY_TRADE_COLUMNS: Final = (
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
)


def read_alipay_trades(
    path: str | Path,
    *,
    source: str = "alipay",
    encoding: str = "gbk",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from an Alipay 业务明细 (trade bill).

    Each row becomes the sale (or refund) at 订单金额, a ``coupon`` record for 商家优惠
    (the merchant's own discount, negative), a ``payment_fee`` record for 服务费 and a
    ``commission`` record for 分润, all sharing the merchant order number as ``ref`` and
    the Alipay trade number as a link (a Tmall order shows as ``T200P<tid>``). The table
    ends with ``#`` summary lines; a file without them was cut off.
    """

    def parse(cells: Cells) -> Sequence[Record]:
        trade_no = cells["支付宝交易号"]
        if not trade_no:
            raise ValidationError("支付宝交易号", trade_no, "expected the Alipay trade number")
        business = cells.get("业务类型", "")
        ordered = cell_amount(cells, "订单金额（元）", "CNY")
        refund = "退款" in business
        when = "完成时间" if cells.get("完成时间") else "创建时间"
        at = cell_time(cells, when, source_tz=_ALIPAY_TZ, date_format=None)
        order_no = cells.get("商户订单号") or None
        batch = cells.get("退款批次号/请求号", "")
        record_id = f"{trade_no}#refund:{batch}" if refund else trade_no
        memo = cells.get("商品名称", "")
        main = "refund" if refund or ordered.amount < 0 else "sale"
        records = [
            Record(
                source,
                record_id,
                order_no,
                -abs(ordered) if main == "refund" else ordered,
                at,
                memo=memo,
                kind=main,
                status=business or None,
                links=(trade_no,),
                category=main,
            )
        ]
        sign = 1 if main == "refund" else -1
        for column, suffix, category in (
            ("商家优惠（元）", "coupon", "coupon"),
            ("服务费（元）", "fee", "payment_fee"),
            ("分润（元）", "share", "commission"),
        ):
            part = cell_amount(cells, column, "CNY", required=False)
            if part:
                records.append(
                    Record(
                        source,
                        f"{record_id}#{suffix}",
                        order_no,
                        abs(part) * sign,
                        at,
                        memo=f"{column} {part.amount}",
                        kind=kind_of(category),
                        status=business or None,
                        links=(trade_no,),
                        category=category,
                    )
                )
        return records

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）"),
        skip=_is_comment,
        end=_is_comment,
        footer="summary lines (#...)",
        progress=progress,
    )


#: The Alipay account statement as a Taobao or Tmall seller exports it from Qianniu
#: (千牛 -> 财务 -> 支付宝账务明细): one row per account entry.
QIANNIU_COLUMNS: Final = (
    "入账时间",
    "支付宝交易号",
    "支付宝流水号",
    "商户订单号",
    "账务类型",
    "收入（+元）",
    "支出（-元）",
    "账户余额（元）",
    "服务费（元）",
    "支付渠道",
    "签约产品",
    "对方账户",
    "对方名称",
    "银行订单号",
    "商品名称",
    "备注",
)


def read_alipay_qianniu(
    path: str | Path,
    *,
    source: str = "alipay",
    encoding: str = "gbk",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    """Stream records from the Qianniu seller export of the Alipay account.

    One record per row, signed (income positive, expense negative), categorised by
    账务类型 and 备注: a Tmall order's ``交易付款`` is a ``sale`` whose merchant order
    number is ``T200P<tid>``, ``交易分账`` with ``天猫佣金`` in the memo a ``commission``,
    ``提现`` a ``withdrawal``. The 服务费 column repeats, for information, a fee that
    Alipay books as its own row, so it adds no record.
    """

    def parse(cells: Cells) -> Sequence[Record]:
        amount = income_less_expense(cells, "收入（+元）", "支出（-元）", "CNY")
        record_id = cells["支付宝流水号"]
        if not record_id:
            raise ValidationError("支付宝流水号", record_id, "expected the account entry number")
        business = cells.get("账务类型", "")
        remark = cells.get("备注", "")
        category = alipay_category(business, remark, amount.amount)
        trade_no = cells.get("支付宝交易号", "")
        return (
            Record(
                source,
                record_id,
                cells.get("商户订单号") or None,
                amount,
                cell_time(cells, "入账时间", source_tz=_ALIPAY_TZ, date_format=None),
                memo=" ".join(p for p in (remark, cells.get("商品名称", "")) if p),
                kind=kind_of(category),
                status=business or None,
                links=(trade_no,) if trade_no else (),
                category=category,
            ),
        )

    return read_table(
        path,
        source=source,
        parse=parse,
        encoding=encoding,
        required=("入账时间", "支付宝流水号", "账务类型", "收入（+元）", "支出（-元）"),
        skip=_is_comment,
        end=_is_comment,
        footer="summary lines (#...)",
        progress=progress,
    )
