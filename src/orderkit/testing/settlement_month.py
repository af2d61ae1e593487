"""A realistic month of orders, channel bills and bank credits, with known breaks.

:func:`settlement_month` builds the inputs of :func:`~orderkit.reconcile.settle` for one
month, the way the money really flows:

* orders paid through WeChat Pay (60%) or Alipay (40%), at any time of the month; about
  3% refunded in part a day later;
* the WeChat Pay bill: each payment (its 28-digit transaction id, the order's ref), its
  0.6% payment fee as a separate line, each refund; WeChat Pay pays each day's net out
  T+1 as one bank credit at 10:00 (the bill has no payout rows, so ``settle`` derives
  them);
* the Alipay bill: each payment (the Alipay trade number as a shared link), its 0.6%
  fee, each refund, and one withdrawal row a day (the day's net, moved to the bank at
  09:00 the next day, when the day's net is positive), which the bank shows as a credit
  five minutes later; a WeChat Pay day of more refunds than sales pays nothing and
  is taken out of the next day's payout (WeChat Pay never debits the bank);
* a few breaks, each of a kind finance meets (``Month.breaks`` names the records that
  must end in a break): an order missing from its channel's bill, a bill payment no
  order explains, an order booked at a different amount than the bill, a WeChat Pay
  credit short of its payout, and a bank credit nobody can place.

Everything is decided by ``seed``; amounts are :class:`~decimal.Decimal` with two
places; times are aware. The month is the orderkit tests' and ``bench/bench_settle.py``'s
shared input: a test runs it small, the benchmark at a million records.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

import attrs

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.time import zone
from orderkit.reconcile import Record

__all__ = ["BREAK_KINDS", "Month", "settlement_month"]

#: The breaks a month holds, one each per ``1 / break_rate`` orders (at least one each).
BREAK_KINDS: Final = (
    "missing_from_bill",
    "bill_without_order",
    "amount_differs",
    "credit_short",
    "unknown_credit",
)
_FEE_RATE: Final = Decimal("0.006")
_CENT: Final = Decimal("0.01")


@attrs.frozen
class Month:
    """The inputs of :func:`~orderkit.reconcile.settle` and the truth about them.

    ``breaks`` maps each break kind of :data:`BREAK_KINDS` to the ids of the records
    (ERP, bill, derived payout ``wechatpay:YYYY-MM-DD`` or bank) that must end in an
    outcome needing a person.
    """

    erp: list[Record]
    bills: dict[str, list[Record]]
    bank: list[Record]
    breaks: dict[str, frozenset[str]]

    @property
    def records(self) -> int:
        """How many input records the month has."""
        return len(self.erp) + sum(len(b) for b in self.bills.values()) + len(self.bank)

    def break_ids(self) -> frozenset[str]:
        """Every record id that must end in a break."""
        return frozenset().union(*self.breaks.values())


def _fee(amount: Decimal) -> Decimal:
    return (amount * _FEE_RATE).quantize(_CENT, ROUND_HALF_UP)


def settlement_month(
    orders: int,
    *,
    seed: int = 7,
    year: int = 2026,
    month: int = 3,
    tz: str = "Asia/Shanghai",
    break_rate: float = 0.001,
) -> Month:
    """A month of ``orders`` orders and everything their money leaves behind (see the
    module docstring); about ``break_rate`` of the orders carry each kind of break."""
    if isinstance(orders, bool) or not isinstance(orders, int) or orders < 20:
        raise ValidationError("orders", orders, "expected a whole number of at least 20")
    if not 0 < break_rate < 0.05:
        raise ValidationError("break_rate", break_rate, "expected a rate above 0 and below 0.05")
    rng = random.Random(seed)
    local = zone(tz)
    start = datetime(year, month, 1, tzinfo=local)
    days = 28
    each = max(1, round(orders * break_rate))
    # Which orders carry which break (distinct orders, WeChat Pay ones for the credit).
    chosen = rng.sample(range(orders), 2 * each)
    missing = set(chosen[:each])
    differs = set(chosen[each : 2 * each])
    short_days = {rng.randrange(days - 1) for _ in range(each)}
    erp: list[Record] = []
    wechat: list[Record] = []
    alipay: list[Record] = []
    net: dict[tuple[str, int], Decimal] = {}
    truth: dict[str, set[str]] = {kind: set() for kind in BREAK_KINDS}

    def book(channel: str, day: int, amount: Decimal) -> None:
        key = (channel, day)
        net[key] = net.get(key, Decimal(0)) + amount

    for k in range(orders):
        day = rng.randrange(days)
        at = start + timedelta(days=day, seconds=rng.randrange(8 * 3600, 23 * 3600))
        amount = Decimal(rng.randrange(500, 100_000)).scaleb(-2)
        ref = f"SO{year}{month:02d}{k:08d}"
        wechat_paid = rng.random() < 0.6
        channel = "wechatpay" if wechat_paid else "alipay"
        txn = f"42000{k:023d}" if wechat_paid else f"{year}{month:02d}{day + 1:02d}2200{k:010d}"
        booked = amount + Decimal(1) if k in differs else amount
        erp.append(
            Record("erp", f"O{k}/P1", ref, Money(booked, "CNY"), at, channel=channel, links=(txn,))
        )
        if k in missing:
            truth["missing_from_bill"].add(f"O{k}/P1")
            continue
        if k in differs:
            truth["amount_differs"].update((f"O{k}/P1", txn if wechat_paid else f"A{k}"))
        lines = wechat if wechat_paid else alipay
        sale_id = txn if wechat_paid else f"A{k}"
        fee = _fee(amount)
        lines.append(
            Record(channel, sale_id, ref, Money(amount, "CNY"), at, links=(txn,), category="sale")
        )
        lines.append(
            Record(channel, f"{sale_id}#fee", ref, Money(-fee, "CNY"), at, kind="fee",
                   category="payment_fee")
        )
        book(channel, day, amount - fee)
        if rng.random() < 0.03 and day < days - 1:
            back = (amount * Decimal(rng.randrange(10, 60)) / 100).quantize(_CENT)
            when = at + timedelta(days=1)
            refund_id = f"50300{k:023d}" if wechat_paid else f"A{k}R"
            erp.append(
                Record("erp", f"O{k}/R1", ref, Money(-back, "CNY"), when, kind="refund",
                       channel=channel, links=(refund_id,))
            )
            lines.append(
                Record(channel, refund_id, ref, Money(-back, "CNY"), when, kind="refund",
                       links=(refund_id,), category="refund")
            )
            book(channel, day + 1, -back)
    # Bill payments no order explains: amounts no order has, at quiet hours.
    for n in range(each):
        channel = "wechatpay" if n % 2 == 0 else "alipay"
        day = rng.randrange(days)
        at = start + timedelta(days=day, hours=3, minutes=n % 60)
        amount = Decimal(2_000_000 + n).scaleb(-2)
        record_id = f"43000{n:023d}" if channel == "wechatpay" else f"AX{n}"
        (wechat if channel == "wechatpay" else alipay).append(
            Record(channel, record_id, f"SX{n:08d}", Money(amount, "CNY"), at, category="sale")
        )
        truth["bill_without_order"].add(record_id)
        book(channel, day, amount)
    bank: list[Record] = []
    owed = Decimal(0)  # what WeChat Pay's days of refunds left owing
    for (channel, day), total in sorted(net.items()):
        due = datetime.combine((start + timedelta(days=day + 1)).date(), time(0), tzinfo=local)
        label = (start + timedelta(days=day)).date().isoformat()
        if channel == "alipay":
            if total <= 0:
                continue  # nothing to withdraw: the balance stays in Alipay
            alipay.append(
                Record("alipay", f"W{label}", None, Money(-total, "CNY"), due + timedelta(hours=9),
                       kind="transfer", memo="提现", category="withdrawal")
            )
            bank.append(
                Record("bank", f"BA{label}", None, Money(total, "CNY"),
                       due + timedelta(hours=9, minutes=5), kind="transfer",
                       memo="支付宝 提现")
            )
            continue
        total += owed
        if total <= 0:
            owed = total  # taken from the WeChat Pay balance: out of the next payout
            continue
        owed = Decimal(0)
        credit = total
        if day in short_days:
            credit -= Decimal(5)
            truth["credit_short"].update((f"wechatpay:{label}", f"BW{label}"))
        bank.append(
            Record("bank", f"BW{label}", None, Money(credit, "CNY"), due + timedelta(hours=10),
                   memo=f"财付通 微信支付 结算 {label}")
        )
    for n in range(each):
        at = start + timedelta(days=rng.randrange(days), hours=15, minutes=n % 60)
        bank.append(
            Record("bank", f"BX{n}", None, Money(Decimal(7_777_700 + n).scaleb(-2), "CNY"), at,
                   memo="来账 无附言")
        )
        truth["unknown_credit"].add(f"BX{n}")
    bank.sort(key=lambda r: (r.at, r.record_id))
    return Month(
        erp,
        {"wechatpay": wechat, "alipay": alipay},
        bank,
        {kind: frozenset(ids) for kind, ids in truth.items()},
    )
