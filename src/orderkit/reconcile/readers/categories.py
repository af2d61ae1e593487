"""The fee taxonomy of a bill line, from the words the platform writes in it.

Platforms name their line types in Chinese and each in its own words: Alipay's 业务类型
(``在线支付``, ``交易退款``, ``提现``, ``交易分账`` with ``天猫佣金`` in the memo), JD's 费用项
(``货款``, ``佣金``, ``京豆``), Pinduoduo's 账务类型 (``交易收入``, ``技术服务费``,
``多多进宝佣金``), Douyin's 动账摘要 (``订单结算``, ``达人带货佣金``, ``提现``). One ordered
list of word rules turns them into :data:`~orderkit.reconcile.records.CATEGORIES`; the
first rule with a word in the text wins, and the sign of the amount settles the rest (a
``货款`` line paid out is a refund). Text that no rule knows is an ``adjustment``, which
the engine leaves for a person, never a silent sale.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from orderkit.reconcile.records import CATEGORIES

__all__ = ["CATEGORY_WORDS", "categorise", "kind_of"]

#: (words, category), in the order they are tried.
CATEGORY_WORDS: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("提现",), "withdrawal"),
    (("保证金",), "deposit"),
    (("转账", "充值", "转入", "转出", "互转"), "transfer"),
    (
        ("佣金", "技术服务费", "交易服务费", "分账", "分润", "扣点", "平台使用费", "服务费返还"),
        "commission",
    ),
    (("手续费", "支付服务费", "花呗", "信用卡", "收费"), "payment_fee"),
    (("退款", "售后", "退货"), "refund"),
    (("店铺券", "商家优惠", "代金券", "东券", "店铺优惠"), "coupon"),
    (("补贴", "红包", "营销", "京豆", "京券", "平台优惠", "立减", "优惠券结算"), "subsidy"),
    (("运费险", "广告", "推广", "直通车", "罚", "赔付", "扣款", "服务费"), "service_fee"),
    (("结算", "货款", "交易", "收入", "在线支付", "付款", "销售", "运费"), "sale"),
)


def categorise(text: str, amount: Decimal, *, known: Mapping[str, str] | None = None) -> str:
    """The category of a line described by ``text`` whose signed amount is ``amount``.

    >>> from decimal import Decimal as D
    >>> categorise("交易分账 天猫佣金", D("-2.56")), categorise("货款", D("-10"))
    ('commission', 'refund')
    >>> categorise("提现", D("-500")), categorise("某个新名目", D("1"))
    ('withdrawal', 'adjustment')

    ``known`` maps a platform's exact line type to its category first (Alipay's
    ``服务费`` is its payment fee, not a service charge).
    """
    if known is not None and text in known:
        return known[text]
    for words, category in CATEGORY_WORDS:
        if any(word in text for word in words):
            if category == "sale" and amount < 0:
                return "refund"
            return category
    return "adjustment"


def kind_of(category: str) -> str:
    """The record kind a category is reconciled as."""
    return CATEGORIES[category]
