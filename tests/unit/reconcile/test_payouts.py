"""How channels pay out along the settlement chain: whose day a derived payout adds up,
when it can reach the bank, what a day of refunds leaves, and when it is due.

WeChat Pay pays each Beijing day's net T+1 (its bill has no payout rows, so ``settle``
derives the payouts); refunds come out of the merchant's WeChat Pay balance, never as a
bank debit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile import (
    DEFAULT_PAYOUT_TERMS,
    PayoutTerms,
    Record,
    Settlement,
    read_bill,
    settle,
)
from orderkit.reconcile.report import settlement_hops

SHANGHAI = ZoneInfo("Asia/Shanghai")


def cny(text: str) -> Money:
    return Money(text, "CNY")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


def balanced(month: Settlement) -> Settlement:
    conservation = month.conservation()
    assert conservation["balanced"] is True, conservation
    assert conservation["amount_in"] == conservation["amount_accounted"]
    return month


def bank_hop(month: Settlement) -> list[tuple[str, str | None, list[str], list[str]]]:
    return [
        (o.status, o.kind, [r.record_id for r in o.left], [r.record_id for r in o.right])
        for o in month.outcomes
        if o.hop == "channel_bank"
    ]


def three_wechat_days() -> tuple[list[Record], list[Record], list[Record]]:
    """A 07:00 and a 12:00 sale each Beijing day (10-12 March), and WeChat Pay's credit
    of each day's net at 10:00 the next day."""
    erp: list[Record] = []
    bill: list[Record] = []
    bank: list[Record] = []
    n = 0
    for day in (10, 11, 12):
        for hour, amount in ((7, f"{day}.00"), (12, f"{100 + 3 * day}.00")):
            n += 1
            erp.append(Record("erp", f"E{n}", f"SO{n}", cny(amount), at(day, hour),
                              channel="wechatpay"))
            bill.append(Record("wechatpay", f"T{n}", f"SO{n}", cny(amount), at(day, hour)))
        bank.append(Record("bank", f"BK{day}", None, cny(f"{100 + 4 * day}.00"),
                           at(day + 1, 10)))
    return erp, bill, bank


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "UTC", "America/New_York"])
def test_wechat_pay_days_are_beijing_days_whatever_zone_the_books_are_kept_in(tz: str) -> None:
    erp, bill, bank = three_wechat_days()
    month = balanced(settle(erp, {"wechatpay": bill}, bank, tz=tz))
    assert month.breaks() == []
    assert bank_hop(month) == [
        ("matched", None, [f"wechatpay:2026-03-{day}"], [f"BK{day}"]) for day in (10, 11, 12)
    ]
    assert [p.at for p in month.payouts("wechatpay")] == [at(11, 0), at(12, 0), at(13, 0)]
    assert month.terms("wechatpay") == PayoutTerms.automatic(1, "Asia/Shanghai")


def test_the_settlement_zone_is_set_with_the_payout_terms() -> None:
    assert DEFAULT_PAYOUT_TERMS["wechatpay"] == PayoutTerms.automatic(1, "Asia/Shanghai")
    assert PayoutTerms.parse("T+1@UTC") == PayoutTerms.automatic(1, "UTC")
    assert PayoutTerms.parse(" automatic:2 @ Asia/Tokyo ") == PayoutTerms.automatic(2, "Asia/Tokyo")
    assert PayoutTerms.parse("withdrawal@UTC") == PayoutTerms.withdrawal("UTC")
    for bad in ("T+1@Mars/Olympus", "T+1@"):
        with pytest.raises(ValidationError) as raised:
            PayoutTerms.parse(bad)
        assert raised.value.path in ("payout tz", "payout terms")
    with pytest.raises(ValidationError, match="payout tz"):
        PayoutTerms.automatic(1, "Nowhere/Town")
    erp, bill, bank = three_wechat_days()
    # A host whose channel settles on UTC days says so; its 07:00 Beijing sales then fall
    # on the UTC day before, so its days no longer add up to the bank's credits.
    utc_days = settle(erp, {"wechatpay": bill}, bank,
                      payout_terms={"wechatpay": PayoutTerms.parse("T+1@UTC")})
    assert utc_days.payouts("wechatpay")[0].record_id == "wechatpay:2026-03-09"
    assert utc_days.terms("wechatpay").tz == "UTC"
    # Terms without a zone keep the channel's own; a channel orderkit does not know
    # settles in the accounting zone.
    t2 = settle(erp, {"wechatpay": bill}, [], tz="UTC",
                payout_terms={"wechatpay": PayoutTerms.automatic(2)})
    assert t2.terms("wechatpay") == PayoutTerms.automatic(2, "Asia/Shanghai")
    mall = [Record("mall", r.record_id, r.ref, r.amount, r.at) for r in bill]
    assert settle([], {"mall": mall}, [], tz="UTC").terms("mall").tz == "UTC"
    with pytest.raises(ValidationError, match="channel"):
        t2.terms("alipay")


def one_sale(amount: str = "77.00") -> tuple[list[Record], list[Record]]:
    """A WeChat Pay sale at noon on 12 March: its T+1 payout is due 13 March 00:00."""
    erp = [Record("erp", "E1", "SO1", cny(amount), at(12, 12), channel="wechatpay")]
    bill = [Record("wechatpay", "T1", "SO1", cny(amount), at(12, 12))]
    return erp, bill


def test_a_payout_is_never_paid_by_a_credit_from_before_it_was_due() -> None:
    erp, bill = one_sale()
    # A stranger's transfer of the same amount the day before the sale is not the payout.
    early = Record("bank", "BK1", None, cny("77.00"), at(11, 10), memo="他行汇入 张三")
    month = balanced(settle(erp, {"wechatpay": bill}, [early]))
    assert bank_hop(month) == [
        ("unmatched", "missing_right", ["wechatpay:2026-03-12"], []),
        ("unmatched", "missing_left", [], ["BK1"]),
    ]
    assert len(month.breaks()) == 2
    # Before the payout is due it is pending, not a break; the stray credit still is.
    waiting = balanced(settle(erp, {"wechatpay": bill}, [early], cutoff=at(13, 0)))
    assert [(o.status, o.kind) for o in waiting.outcomes if o.hop == "channel_bank"] == [
        ("pending", "pending"),
        ("unmatched", "missing_left"),
    ]
    # One minute before midnight is still too early; the due instant itself is not.
    for credit_at, status in ((at(12, 23, 59), "unmatched"), (at(13, 0), "matched"),
                              (at(14, 18), "matched")):
        credit = Record("bank", "BK2", None, cny("77.00"), credit_at)
        got = balanced(settle(erp, {"wechatpay": bill}, [credit]))
        assert bank_hop(got)[0][0] == status, credit_at


def test_a_withdrawal_takes_a_credit_dated_its_own_day() -> None:
    # A statement with dates only puts the credit at 00:00; the withdrawal was at 09:00.
    sale = Record("alipay", "A01", "SO1", cny("256.00"), at(14, 20))
    withdrawal = Record("alipay", "A02", None, cny("-256.00"), at(20, 9), kind="transfer")
    erp = [Record("erp", "E1", "SO1", cny("256.00"), at(14, 20), channel="alipay")]
    same_day = Record("bank", "BK1", None, cny("256.00"), at(20, 0))
    month = balanced(settle(erp, {"alipay": [sale, withdrawal]}, [same_day]))
    assert bank_hop(month) == [("matched", None, ["A02"], ["BK1"])]
    day_before = Record("bank", "BK1", None, cny("256.00"), at(19, 23))
    month = balanced(settle(erp, {"alipay": [sale, withdrawal]}, [day_before]))
    assert [status for status, *_ in bank_hop(month)] == ["unmatched", "unmatched"]


def test_a_credit_adding_up_payouts_comes_after_each_of_them() -> None:
    # Two T+1 payouts (of the 11th and the 12th) paid in one credit: only a credit from
    # on or after the later one's due instant can hold both.
    erp = [
        Record("erp", "E1", "SO1", cny("30.00"), at(11, 12), channel="wechatpay"),
        Record("erp", "E2", "SO2", cny("47.00"), at(12, 12), channel="wechatpay"),
    ]
    bill = [
        Record("wechatpay", "T1", "SO1", cny("30.00"), at(11, 12)),
        Record("wechatpay", "T2", "SO2", cny("47.00"), at(12, 12)),
    ]
    both = ["wechatpay:2026-03-11", "wechatpay:2026-03-12"]
    late = Record("bank", "BK1", None, cny("77.00"), at(13, 9))
    month = balanced(settle(erp, {"wechatpay": bill}, [late]))
    assert bank_hop(month) == [("matched", None, both, ["BK1"])]
    early = Record("bank", "BK1", None, cny("77.00"), at(12, 9))
    month = balanced(settle(erp, {"wechatpay": bill}, [early]))
    assert ("matched", None, both, ["BK1"]) not in bank_hop(month)
    assert len(month.breaks()) == 3
    # One payout paid in two credits: both on or after its due instant.
    erp, bill = one_sale()
    halves = [Record("bank", f"BK{n}", None, cny("38.50"), when)
              for n, when in ((1, at(12, 20)), (2, at(13, 10)))]
    month = balanced(settle(erp, {"wechatpay": bill}, halves))
    assert ("matched", None, ["wechatpay:2026-03-12"], ["BK1", "BK2"]) not in bank_hop(month)
    halves[0] = Record("bank", "BK1", None, cny("38.50"), at(13, 9))
    month = balanced(settle(erp, {"wechatpay": bill}, halves))
    assert bank_hop(month) == [("matched", None, ["wechatpay:2026-03-12"], ["BK1", "BK2"])]


def refund_month(*, later_sale: bool) -> Settlement:
    """A sale on the 10th paid out on the 11th; a refund alone on the 20th (WeChat Pay
    takes it, and its fee back, from the merchant's balance); with ``later_sale`` a sale
    on the 22nd, whose payout is net of the refund."""
    erp = [
        Record("erp", "E1", "SO1", cny("170.00"), at(10, 12), channel="wechatpay"),
        Record("erp", "E1R", "SO1", cny("-50.00"), at(20, 9), kind="refund",
               channel="wechatpay"),
    ]
    bill = [
        Record("wechatpay", "T1", "SO1", cny("170.00"), at(10, 12)),
        Record("wechatpay", "T1#fee", "SO1", cny("-1.02"), at(10, 12), kind="fee"),
        Record("wechatpay", "R1", "SO1", cny("-50.00"), at(20, 9), kind="refund"),
        Record("wechatpay", "R1#fee", "SO1", cny("0.30"), at(20, 9), kind="fee"),
    ]
    bank = [Record("bank", "BK1", None, cny("168.98"), at(11, 10))]
    if later_sale:
        erp.append(Record("erp", "E2", "SO2", cny("80.00"), at(22, 12), channel="wechatpay"))
        bill.append(Record("wechatpay", "T2", "SO2", cny("80.00"), at(22, 12)))
        bank.append(Record("bank", "BK2", None, cny("30.30"), at(23, 10)))
    return balanced(settle(erp, {"wechatpay": bill}, bank))


def test_a_day_of_refunds_is_no_bank_debit_but_carried_into_the_next_payout() -> None:
    month = refund_month(later_sale=True)
    assert month.breaks() == []
    assert bank_hop(month) == [
        ("matched", None, ["wechatpay:2026-03-10"], ["BK1"]),
        ("matched", None, ["wechatpay:2026-03-22"], ["BK2"]),
    ]
    payout = month.payouts("wechatpay")[1]
    assert payout.amount == cny("30.30")
    # The payout adds up the refund day too, so its transactions still add up to it.
    assert [r.record_id for r in month.members(payout)] == ["R1", "R1#fee", "T2"]
    assert month.carried() == {}


def test_a_negative_balance_left_at_month_end_is_carried_not_a_break() -> None:
    month = refund_month(later_sale=False)
    assert month.breaks() == []
    assert [p.record_id for p in month.payouts("wechatpay")] == ["wechatpay:2026-03-10"]
    assert month.carried() == {"wechatpay": {"CNY": cny("-49.70")}}
    assert month.summary()["carried"] == {"wechatpay": {"CNY": "-49.70"}}


@pytest.mark.parametrize(("days", "due"), [(1, "2026-03-11"), (2, "2026-03-12")])
@pytest.mark.parametrize("tz", ["Asia/Shanghai", "UTC"])
def test_the_report_names_the_day_a_payout_is_due_in_the_channels_zone(
    days: int, due: str, tz: str
) -> None:
    noon = at(10, 12)
    erp = [Record("erp", "E1", "SO1", cny("170.00"), noon, channel="wechatpay")]
    bill = [Record("wechatpay", "T1", "SO1", cny("170.00"), noon)]
    month = balanced(settle(erp, {"wechatpay": bill}, [], settlement_days=days, tz=tz))
    (table,) = [t for t in settlement_hops(month) if t.hop == "bill_payout"]
    (row,) = table.rows
    assert row.evidence == f"transactions=1; due={due}"


APRIL = datetime(2026, 4, 1, tzinfo=SHANGHAI)


def february(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 2, day, hour, tzinfo=SHANGHAI)


def in_transit(record_id: str, amount: str, due: datetime, **fields: object) -> Record:
    """A payout last month's report left pending, as ``settle(opening=...)`` takes it."""
    values: dict[str, object] = {"kind": "settlement", "channel": "wechatpay", **fields}
    return Record("wechatpay", record_id, None, cny(amount), due, **values)  # type: ignore[arg-type]


def test_last_months_payout_in_transit_matches_its_credit_of_the_first() -> None:
    erp, bill = one_sale()
    bank = [
        Record("bank", "BK0301", None, cny("98.41"), at(1, 0), memo="财付通 结算"),
        Record("bank", "BK0313", None, cny("77.00"), at(13, 10)),
        Record("bank", "BK0302", None, cny("310.00"), at(2, 9), memo="支付宝 提现"),
    ]
    # Without last month's pending payouts the credits of 1 and 2 March are breaks.
    alone = settle(erp, {"wechatpay": bill, "alipay": []}, bank, cutoff=APRIL)
    assert {o.right[0].record_id for o in alone.breaks()} == {"BK0301", "BK0302"}
    # February's T+1 payout of the 28th, due 1 March, and a withdrawal at 22:00 on the
    # 28th (in transit overnight, status not derived); a third never arrives.
    opening = [
        in_transit("wechatpay:2026-02-28", "98.41", at(1, 0), status="derived"),
        in_transit("AL0228", "310.00", february(28, 22), channel="alipay"),
        in_transit("wechatpay:2026-02-27", "12.00", february(28), status="derived"),
    ]
    month = balanced(settle(erp, {"wechatpay": bill, "alipay": []}, bank,
                            cutoff=APRIL, opening=opening))
    assert month.opening == tuple(opening)
    assert bank_hop(month) == [
        # A withdrawal of February credited in March: explained, not a break.
        ("difference", "cross_period", ["AL0228"], ["BK0302"]),
        ("matched", None, ["wechatpay:2026-02-28"], ["BK0301"]),
        ("matched", None, ["wechatpay:2026-03-12"], ["BK0313"]),
        ("unmatched", "missing_right", ["wechatpay:2026-02-27"], []),
    ]
    # Still without a credit in the new month: a real break.
    (missing,) = month.breaks()
    assert (missing.left[0] is opening[2], missing.kind) == (True, "missing_right")
    assert month.inputs_by_source()[-2:] == [
        {"source": "opening", "channel": "", "records": 3, "amount": {"CNY": "420.41"}},
        {"source": "bank", "channel": "", "records": 3, "amount": {"CNY": "485.41"}},
    ]
    tables = {(t.channel, t.hop): t for t in settlement_hops(month)}
    assert [r.left[0].record_id for r in tables["wechatpay", "payout_bank"].rows] == [
        "wechatpay:2026-02-28", "wechatpay:2026-03-12", "wechatpay:2026-02-27"
    ]
    assert [r.left_amounts for r in tables["alipay", "payout_bank"].rows] == [
        (Decimal("310.00"),)
    ]
    assert tables["", "bank_only"].rows == ()


@pytest.mark.parametrize(
    ("item", "path"),
    [
        ("wechatpay:2026-02-28", "opening[1]"),
        (in_transit("W", "98.41", datetime(2026, 3, 1, tzinfo=SHANGHAI), kind="sale"),
         "opening[1].kind"),
        (in_transit("W", "-98.41", datetime(2026, 3, 1, tzinfo=SHANGHAI)), "opening[1].amount"),
        (in_transit("W", "98.41", datetime(2026, 3, 1, tzinfo=SHANGHAI), channel="jd"),
         "opening[1].channel"),
        (in_transit("W", "98.41", datetime(2026, 3, 1, tzinfo=SHANGHAI), channel=None),
         "opening[1].channel"),
    ],
)
def test_opening_takes_only_payouts_in_transit(item: object, path: str) -> None:
    erp, bill = one_sale()
    good = in_transit("wechatpay:2026-02-27", "12.00", datetime(2026, 2, 28, tzinfo=SHANGHAI))
    with pytest.raises(ValidationError) as caught:
        settle(erp, {"wechatpay": bill}, [], opening=[good, item])  # type: ignore[list-item]
    assert caught.value.path == path


# --- a store's tills: each payment method and store its own route to the bank -------------

POS_EXPORT = [
    "receipt_no,order_ref,amount,paid_at,payment_method,store,fee,note",
    "S1-0001,SO1,89.00,2026-03-30 14:00:00,cash,S1,,",
    "S1-0002,SO2,170.00,2026-03-30 15:00:00,card,S1,1.02,",
    "S1-0003,SO3,50.00,2026-03-30 16:00:00,cash,S1,,",
    "S2-0001,SO4,45.00,2026-03-30 17:00:00,cash,S2,,",
    "S1-0004,SO5,120.00,2026-03-31 11:00:00,Cash,S1,,",
    "S1-0005,SO0,-89.00,2026-03-31 12:00:00,cash,S1,,refund of an online order in cash",
]


def pos_month(tmp_path: Path) -> Settlement:
    path = tmp_path / "pos.csv"
    path.write_text("\n".join(POS_EXPORT) + "\n", encoding="utf-8")
    pos = read_bill(path).inputs()
    erp = [
        Record("erp", r.record_id, r.ref, r.amount, r.at, kind=r.kind, channel="pos")
        for r in pos
        if isinstance(r, Record) and r.kind in ("sale", "refund")
    ]
    bank = [
        # Each store pays in its day's cash, the next morning or the same evening.
        Record("bank", "B1", None, cny("139.00"), at(31, 10), memo="现金存款 S1"),
        Record("bank", "B2", None, cny("45.00"), at(30, 19), memo="现金存款 S2"),
        Record("bank", "B3", None, cny("31.00"), at(31, 19), memo="现金存款 S1"),
        # The acquirer pays the card sale T+1, net of its 0.6% fee.
        Record("bank", "B4", None, cny("168.98"), at(31, 10, 30), memo="银联 POS 结算"),
    ]
    return balanced(settle(erp, {"pos": pos}, bank, cutoff=at(31, 0).replace(day=1, month=4)))


def test_pos_receipts_are_paid_out_per_method_and_store(tmp_path: Path) -> None:
    month = pos_month(tmp_path)
    assert [(p.record_id, str(p.amount.amount)) for p in month.payouts("pos")] == [
        ("pos.cash.S1:2026-03-30", "139.00"),
        ("pos.cash.S2:2026-03-30", "45.00"),
        ("pos.card.S1:2026-03-30", "168.98"),
        ("pos.cash.S1:2026-03-31", "31.00"),
    ]
    assert sorted(bank_hop(month)) == [
        ("matched", None, ["pos.card.S1:2026-03-30"], ["B4"]),
        ("matched", None, ["pos.cash.S1:2026-03-30"], ["B1"]),
        ("matched", None, ["pos.cash.S1:2026-03-31"], ["B3"]),
        ("matched", None, ["pos.cash.S2:2026-03-30"], ["B2"]),
    ]
    assert not month.breaks()
    # Cash is paid in by the store the same day (T+0); the card through the acquirer T+1.
    assert month.terms("pos.cash.S1") == PayoutTerms.automatic(0, "Asia/Shanghai")
    assert month.terms("pos.card.S1") == PayoutTerms.automatic(1, "Asia/Shanghai")


def test_a_store_deposit_of_a_day_of_receipts_pairs_with_that_days_cash(tmp_path: Path) -> None:
    # Thirty cash receipts and a cash refund in one day, paid in as one deposit.
    lines = ["receipt_no,order_ref,amount,paid_at,payment_method,store"]
    lines += [f"R{n},SO{n},{10 + n}.50,2026-03-30 {9 + n // 3:02d}:{n % 3 * 10:02d}:00,cash,S7"
              for n in range(30)]
    lines.append("R99,SO3,-13.50,2026-03-30 18:00:00,cash,S7")
    path = tmp_path / "pos.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pos = read_bill(path).inputs()
    assert all(isinstance(r, Record) for r in pos)
    net = sum((r.amount.amount for r in pos if isinstance(r, Record)), Decimal(0))
    bank = [Record("bank", "B1", None, cny(str(net)), at(30, 19), memo="现金存款 S7")]
    month = balanced(settle([], {"pos": pos}, bank))
    assert bank_hop(month) == [("matched", None, ["pos.cash.S7:2026-03-30"], ["B1"])]
    (payout,) = month.payouts("pos")
    assert len(month.members(payout)) == 31


def test_a_route_takes_the_hosts_terms_by_its_name_or_the_bills(tmp_path: Path) -> None:
    path = tmp_path / "pos.csv"
    path.write_text("\n".join(POS_EXPORT) + "\n", encoding="utf-8")
    pos = read_bill(path).inputs()
    month = settle([], {"pos": pos}, [], payout_terms={"pos.card": PayoutTerms.automatic(2)},
                   settlement_days=3)
    assert month.terms("pos.card.S1").days == 2
    assert month.terms("pos.cash.S2").days == 0  # its own default, whatever settlement_days
    assert month.terms("pos").days == 3


def test_a_host_naming_the_channel_sets_every_route_of_it(tmp_path: Path) -> None:
    # The host's word for "pos" (or a route of it) comes before the library's default
    # for the store's cash (pos.cash: T+0).
    path = tmp_path / "pos.csv"
    path.write_text("\n".join(POS_EXPORT) + "\n", encoding="utf-8")
    pos = read_bill(path).inputs()
    month = settle([], {"pos": pos}, [], payout_terms={"pos": PayoutTerms.withdrawal()})
    assert month.terms("pos.cash.S1").mode == "withdrawal"
    month = settle([], {"pos": pos}, [], settlement_days={"pos": 3})
    assert (month.terms("pos.cash.S1").days, month.terms("pos.card.S1").days) == (3, 3)
    month = settle([], {"pos": pos}, [], settlement_days={"pos": 3, "pos.cash": 1})
    assert (month.terms("pos.cash.S1").days, month.terms("pos.card.S1").days) == (1, 3)
