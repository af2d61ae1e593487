"""How channels pay out along the settlement chain: whose day a derived payout adds up,
when it can reach the bank, what a day of refunds leaves, and when it is due.

WeChat Pay pays each Beijing day's net T+1 (its bill has no payout rows, so ``settle``
derives the payouts); refunds come out of the merchant's WeChat Pay balance, never as a
bank debit.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile import DEFAULT_PAYOUT_TERMS, PayoutTerms, Record, Settlement, settle

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
