"""Month-end as money really flows: order -> payment channel -> payout -> bank.

A tea shop's March, built here: WeChat Pay orders (a merchant coupon, fees, a partial
refund) settling T+1 net into the bank; Tmall orders paid through Alipay (the Alipay bill
knows them as ``T200P<tid>`` and by the Alipay trade number), a Tmall commission, a
refund, and one withdrawal from Alipay to the bank; a store's card sales through a POS
acquirer settling T+1 net, one of them rung up at 23:55 on the 31st and keyed into the
ERP after the cut-off; B2B orders paid by bank transfer (one credit whose memo names two
orders, one credit a fen short, two identical anonymous credits for two orders of the
same amount); and a bank charge. The ERP side is built from canonical orders with
``records_from_orders``.

Every outcome is asserted against the story's truth, the totals per class against the
fixture's own amounts, and conservation at the end.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs
import pytest

from orderkit.lifecycle import Event, Lifecycle
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine, OrderStatus, Payment, PaymentKind
from orderkit.reconcile import (
    DEFAULT_PAYOUT_TERMS,
    Outcome,
    PayoutTerms,
    Record,
    Settlement,
    reconcile,
    records_from_orders,
    settle,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CUTOFF = datetime(2026, 4, 1, tzinfo=SHANGHAI)
TID1, TID2 = "3698512204871532841", "3698512204871532999"
TRADE1, TRADE2 = "2026031422001400001", "2026031522001400002"


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def cny(text: str) -> Money:
    return Money(text, "CNY")


def order(
    order_id: str,
    recon_id: str,
    amount: str,
    paid: datetime,
    method: str,
    *,
    channel: str = "web",
    channel_order_id: str | None = None,
    reference: str = "",
    refunds: tuple[tuple[str, datetime, str], ...] = (),
) -> Order:
    payments = [Payment("P1", cny(amount), paid, method=method, reference=reference)]
    for n, (refunded, when, ref) in enumerate(refunds, start=1):
        payments.append(
            Payment(
                f"R{n}", cny(refunded), when, method=method, kind=PaymentKind.REFUND, reference=ref
            )
        )
    return Order(
        order_id,
        channel,
        channel_order_id or order_id,
        (OrderLine("L1", "TEA", 1, cny(amount)),),
        paid - timedelta(minutes=1),
        recon_id=recon_id,
        status=OrderStatus.PAID,
        payments=tuple(payments),
    )


def bill(
    source: str, record_id: str, ref: str | None, amount: str, when: datetime, **fields: object
) -> Record:
    return Record(source, record_id, ref, cny(amount), when, **fields)  # type: ignore[arg-type]


# --- the fixture ---------------------------------------------------------------------------

ORDERS = [
    # WeChat Pay: order amounts as the ERP booked them.
    order("W1", "SO20260310000001", "170.00", at(10, 12), "wechatpay", reference="4200001001"),
    order("W2", "SO20260310000002", "45.50", at(10, 15), "wechatpay", reference="4200001002"),
    order(
        "W3",
        "SO20260311000003",
        "89.00",
        at(11, 9),
        "wechatpay",
        reference="4200001003",
        refunds=(("20.00", at(12, 10), "5030001003"),),
    ),
    order("W4", "SO20260312000004", "60.00", at(12, 16), "wechatpay", reference="4200001004"),
    # Tmall through Alipay.
    order(
        "TM1",
        "SO20260314000001",
        "256.00",
        at(14, 20),
        "alipay",
        channel="tmall",
        channel_order_id=TID1,
        reference=TRADE1,
    ),
    order(
        "TM2",
        "SO20260315000002",
        "128.00",
        at(15, 11),
        "alipay",
        channel="tmall",
        channel_order_id=TID2,
        reference=TRADE2,
        refunds=(("28.00", at(16, 9), "RF-TM2-1"),),
    ),
    # Store card sales through the POS acquirer; POS2 was keyed in after the cut-off.
    order(
        "POS1", "SO20260330000001", "89.00", at(30, 14), "pos", channel="store", reference="UP0001"
    ),
    order(
        "POS2",
        "SO20260331000002",
        "120.00",
        at(1, 0, 20, month=4),
        "pos",
        channel="store",
        reference="UP0002",
    ),
    # B2B orders paid by bank transfer (no channel bill).
    order("B1", "SO20260318000001", "1200.00", at(18, 10), "bank_transfer"),
    order("B2", "SO20260318000002", "800.00", at(18, 10), "bank_transfer"),
    order("B3", "SO20260319000003", "560.00", at(19, 10), "bank_transfer"),
    order("B4", "SO20260325000004", "300.00", at(25, 10), "bank_transfer"),
    order("B5", "SO20260325000005", "300.00", at(25, 11), "bank_transfer"),
]

WECHATPAY = [
    bill(
        "wechatpay", "4200001001", "SO20260310000001", "170.00", at(10, 12), links=("4200001001",)
    ),
    bill("wechatpay", "4200001001#coupon", "SO20260310000001", "-5.00", at(10, 12), kind="subsidy"),
    bill("wechatpay", "4200001001#fee", "SO20260310000001", "-0.99", at(10, 12), kind="fee"),
    bill("wechatpay", "4200001002", "SO20260310000002", "45.50", at(10, 15)),
    bill("wechatpay", "4200001002#fee", "SO20260310000002", "-0.27", at(10, 15), kind="fee"),
    bill("wechatpay", "4200001003", "SO20260311000003", "89.00", at(11, 9)),
    bill("wechatpay", "4200001003#fee", "SO20260311000003", "-0.53", at(11, 9), kind="fee"),
    bill("wechatpay", "5030001003", "SO20260311000003", "-20.00", at(12, 10), kind="refund"),
    bill("wechatpay", "5030001003#fee", "SO20260311000003", "0.12", at(12, 10), kind="fee"),
    bill("wechatpay", "4200001004", "SO20260312000004", "60.00", at(12, 16)),
    bill("wechatpay", "4200001004#fee", "SO20260312000004", "-0.36", at(12, 16), kind="fee"),
]
ALIPAY = [
    bill("alipay", "A01", f"T200P{TID1}", "256.00", at(14, 20), links=(TRADE1,)),
    bill("alipay", "A02", f"T200P{TID1}", "-12.80", at(17, 8), kind="fee", memo="天猫佣金"),
    bill("alipay", "A03", f"T200P{TID2}", "128.00", at(15, 11), links=(TRADE2,)),
    bill("alipay", "A04", f"T200P{TID2}", "-28.00", at(16, 9, 1), kind="refund"),
    bill("alipay", "A05", None, "-350.00", at(20, 9), kind="transfer", memo="提现"),
]
POS = [
    bill("pos", "U1", "SO20260330000001", "89.00", at(30, 14)),
    bill("pos", "U1#fee", "SO20260330000001", "-0.34", at(30, 14), kind="fee"),
    bill("pos", "U2", "SO20260331000002", "120.00", at(31, 23, 55)),
    bill("pos", "U2#fee", "SO20260331000002", "-0.46", at(31, 23, 55), kind="fee"),
]
BANK = [
    bill("bank", "BK01", None, "209.24", at(11, 10, 2), memo="财付通支付科技有限公司 微信支付结算"),
    bill("bank", "BK02", None, "88.47", at(12, 10, 1), memo="财付通支付科技有限公司 微信支付结算"),
    bill("bank", "BK03", None, "39.76", at(13, 10, 3), memo="财付通支付科技有限公司 微信支付结算"),
    bill("bank", "BK04", None, "350.00", at(20, 9, 5), kind="transfer", memo="支付宝 提现"),
    bill("bank", "BK05", None, "88.66", at(31, 11), memo="银联商务 POS 结算"),
    bill(
        "bank", "BK06", None, "2000.00", at(18, 15), memo="货款 SO20260318000001 SO20260318000002"
    ),
    bill("bank", "BK07", None, "559.99", at(19, 16), memo="付款 SO 2026 0319 000003"),
    bill("bank", "BK08", None, "300.00", at(25, 14), memo="转账"),
    bill("bank", "BK09", None, "300.00", at(25, 14, 30), memo="转账"),
    bill("bank", "BK10", None, "-15.00", at(31, 9), kind="charge", memo="账户管理费"),
]

#: The story's truth: (hop, status, kind, rule, left ids, right ids) of every outcome.
TRUTH = {
    ("order_channel", "matched", None, "exact_ref", ("W1/P1",), ("4200001001",)),
    ("order_channel", "difference", "coupon_or_subsidy", "unpaired", (), ("4200001001#coupon",)),
    ("order_channel", "difference", "platform_fee", "unpaired", (), ("4200001001#fee",)),
    ("order_channel", "matched", None, "exact_ref", ("W2/P1",), ("4200001002",)),
    ("order_channel", "difference", "platform_fee", "unpaired", (), ("4200001002#fee",)),
    ("order_channel", "matched", None, "exact_ref", ("W3/P1",), ("4200001003",)),
    ("order_channel", "difference", "platform_fee", "unpaired", (), ("4200001003#fee",)),
    ("order_channel", "matched", None, "exact_ref", ("W3/R1",), ("5030001003",)),
    ("order_channel", "difference", "platform_fee", "unpaired", (), ("5030001003#fee",)),
    ("order_channel", "matched", None, "exact_ref", ("W4/P1",), ("4200001004",)),
    ("order_channel", "difference", "platform_fee", "unpaired", (), ("4200001004#fee",)),
    ("order_channel", "matched", None, "shared_link", ("TM1/P1",), ("A01",)),
    ("order_channel", "difference", "platform_fee", "unpaired", (), ("A02",)),
    ("order_channel", "matched", None, "shared_link", ("TM2/P1",), ("A03",)),
    ("order_channel", "matched", None, "shared_link", ("TM2/R1",), ("A04",)),
    ("order_channel", "matched", None, "exact_ref", ("POS1/P1",), ("U1",)),
    ("order_channel", "difference", "platform_fee", "unpaired", (), ("U1#fee",)),
    ("order_channel", "difference", "cross_period", "exact_ref", ("POS2/P1",), ("U2",)),
    ("order_channel", "difference", "platform_fee", "unpaired", (), ("U2#fee",)),
    ("channel_bank", "matched", None, "amount_time", ("wechatpay:2026-03-10",), ("BK01",)),
    ("channel_bank", "matched", None, "amount_time", ("wechatpay:2026-03-11",), ("BK02",)),
    ("channel_bank", "matched", None, "amount_time", ("wechatpay:2026-03-12",), ("BK03",)),
    ("channel_bank", "matched", None, "amount_time", ("A05",), ("BK04",)),
    ("channel_bank", "matched", None, "amount_time", ("pos:2026-03-30",), ("BK05",)),
    ("channel_bank", "pending", "pending", "unpaired", ("pos:2026-03-31",), ()),
    ("channel_bank", "difference", "bank_charge", "unpaired", (), ("BK10",)),
    ("order_bank", "matched", None, "memo_ref", ("B1/P1", "B2/P1"), ("BK06",)),
    ("order_bank", "difference", "rounding", "memo_ref", ("B3/P1",), ("BK07",)),
    ("order_bank", "suggestion", None, "amount_time", ("B4/P1",), ()),
    ("order_bank", "suggestion", None, "amount_time", ("B5/P1",), ()),
    ("order_bank", "suggestion", None, "amount_time", (), ("BK08",)),
    ("order_bank", "suggestion", None, "amount_time", (), ("BK09",)),
}


def month_end() -> tuple[list[Record], Settlement]:
    erp = records_from_orders(ORDERS)
    result = settle(
        erp,
        {"wechatpay": WECHATPAY, "alipay": ALIPAY, "pos": POS},
        BANK,
        cutoff=CUTOFF,
    )
    return erp, result


def total(records: list[Record], kind: str) -> Decimal:
    return sum((r.amount.amount for r in records if r.kind == kind), Decimal(0))


def test_month_end_follows_every_yuan_from_order_to_bank() -> None:
    erp, result = month_end()
    seen = {
        (
            o.hop,
            o.status,
            o.kind,
            o.rule,
            tuple(r.record_id for r in o.left),
            tuple(r.record_id for r in o.right),
        )
        for o in result.outcomes
    }
    assert seen == TRUTH
    assert len(result.outcomes) == len(TRUTH)

    # Every input record is in exactly one outcome; derived payouts are not inputs.
    inputs = [*erp, *WECHATPAY, *ALIPAY, *POS, *BANK]
    derived = {id(p) for p in result.derived}
    placed = [id(r) for o in result.outcomes for r in o.records if id(r) not in derived]
    assert sorted(placed) == sorted(id(r) for r in inputs)

    # Totals per class equal the fixture's own amounts.
    by_kind = result.summary()["by_kind"]
    assert isinstance(by_kind, dict)
    bills = [*WECHATPAY, *ALIPAY, *POS]
    assert by_kind["platform_fee"] == {
        "outcomes": len([r for r in bills if r.kind == "fee"]),
        "difference": {"CNY": str(total(bills, "fee"))},
    }
    assert by_kind["coupon_or_subsidy"]["difference"] == {"CNY": str(total(bills, "subsidy"))}
    assert by_kind["bank_charge"]["difference"] == {"CNY": str(total(BANK, "charge"))}
    assert by_kind["rounding"]["difference"] == {"CNY": "-0.01"}
    assert by_kind["cross_period"]["difference"] == {"CNY": "0.00"}
    pos_last_day = sum((r.amount.amount for r in POS if r.at.day == 31), Decimal(0))
    assert by_kind["pending"]["difference"] == {"CNY": str(-pos_last_day)}

    # Each derived payout is the net of its day's transactions.
    for payout in result.derived:
        members = result.members(payout)
        assert members and payout.amount.amount == sum(m.amount.amount for m in members)

    # Only the two anonymous 300.00 credits and their two orders need a person.
    assert sorted(
        (*(r.record_id for r in o.left), *(r.record_id for r in o.right)) for o in result.breaks()
    ) == [("B4/P1",), ("B5/P1",), ("BK08",), ("BK09",)]

    summary = result.summary()
    conservation = result.conservation()
    assert conservation["balanced"] is True
    assert summary["records_in"] == summary["records_accounted"] == len(inputs)
    assert conservation["records_in"] == conservation["records_accounted"] == len(inputs)
    amount_in = sum((r.amount.amount for r in inputs), Decimal(0))
    assert summary["amount_accounted"] == {"CNY": str(amount_in)}
    assert conservation["amount_in"] == conservation["amount_accounted"] == {"CNY": str(amount_in)}


def test_chain_of_a_wechat_order_shows_each_hop_with_its_time() -> None:
    _erp, result = month_end()
    steps = result.chain("SO20260310000001")
    assert [(s.hop, s.source, s.record_id, s.status) for s in steps] == [
        ("order_channel", "erp", "W1/P1", "matched"),
        ("order_channel", "wechatpay", "4200001001", "matched"),
        ("channel_bank", "wechatpay", "wechatpay:2026-03-10", "matched"),
        ("channel_bank", "bank", "BK01", "matched"),
        ("order_channel", "wechatpay", "4200001001#coupon", "difference"),
        ("order_channel", "wechatpay", "4200001001#fee", "difference"),
    ]
    assert steps[3].after == timedelta(hours=22, minutes=2)
    assert str(steps[3]) == "channel_bank bank:BK01 CNY 209.24 (+22:02) matched"


def test_chain_of_a_tmall_order_stops_in_alipay_and_of_a_b2b_order_reaches_the_bank() -> None:
    _erp, result = month_end()
    tmall = result.chain("SO20260315000002")
    assert [(s.record_id, s.hop) for s in tmall] == [
        ("TM2/P1", "order_channel"),
        ("A03", "order_channel"),
        ("TM2/R1", "order_channel"),
        ("A04", "order_channel"),
    ]
    b2b = result.chain("SO20260318000002")
    assert [(s.record_id, s.hop, s.status) for s in b2b] == [
        ("B2/P1", "order_bank", "matched"),
        ("BK06", "order_bank", "matched"),
    ]
    with pytest.raises(ValidationError, match="no ERP record"):
        result.chain("SO-NOBODY")


def test_an_order_paid_by_wechat_is_never_missing_from_alipay() -> None:
    erp, result = month_end()
    alipay_hop = result.results["order_channel", "alipay"]
    assert {r.record_id for r in alipay_hop.left} == {"TM1/P1", "TM2/P1", "TM2/R1"}
    # The old way, every order against every source, reports the WeChat orders as missing.
    naive = reconcile(erp, ALIPAY)
    assert len([o for o in naive.outcomes if o.kind == "missing_right"]) > 5
    assert not [o for o in result.outcomes if o.kind == "missing_right"]


def test_a_bill_and_a_bank_with_no_rows_for_the_period_are_named_after_their_source() -> None:
    erp = [Record("erp", "W1", "SO20260310000001", cny("600.00"), at(10, 12), channel="wechatpay")]
    result = settle(erp, {"wechatpay": []}, [], cutoff=CUTOFF)
    sides = {hop: (r.left_source, r.right_source) for hop, r in result.results.items()}
    assert sides == {
        ("order_channel", "wechatpay"): ("erp", "wechatpay"),
        ("bank", ""): ("erp", "bank"),
    }

def test_a_bank_charge_is_not_a_refund_and_a_withdrawal_is_not_a_break() -> None:
    _erp, result = month_end()
    (charge,) = [o for o in result.outcomes if "BK10" in {r.record_id for r in o.right}]
    assert (charge.kind, charge.right[0].kind) == ("bank_charge", "charge")
    (withdrawal,) = [o for o in result.outcomes if "A05" in {r.record_id for r in o.left}]
    assert withdrawal.status == "matched"
    assert withdrawal.left[0] is ALIPAY[-1] and withdrawal.right[0] is BANK[3]


def test_records_from_orders_add_up_to_what_each_order_was_paid_less_refunded() -> None:
    erp = records_from_orders(ORDERS)
    for each in ORDERS:
        mine = [r for r in erp if r.record_id.startswith(f"{each.order_id}/")]
        totals = each.totals
        assert sum((r.amount for r in mine), Money.zero("CNY")) == totals.paid - totals.refunded
        assert {r.ref for r in mine} == {each.recon_id}
    (tm1,) = [r for r in erp if r.record_id == "TM1/P1"]
    assert (tm1.channel, tm1.links) == ("alipay", (TRADE1, TID1, "TM1"))
    routed = records_from_orders(ORDERS[:1], channels={"wechatpay": "wx"})
    assert routed[0].channel == "wx"
    with pytest.raises(ValidationError, match=r"orders\[0\]"):
        records_from_orders(["W1"])  # type: ignore[list-item]


def test_a_lifecycle_refund_goes_back_through_the_channel_the_order_was_paid_with() -> None:
    # A store order paid by WeChat Pay and partly refunded through the lifecycle: the
    # refund is on the WeChat Pay bill, not on a bill of the sales channel "store".
    life = Lifecycle()
    t0, t1 = datetime(2026, 3, 10, 12, tzinfo=SHANGHAI), datetime(2026, 3, 12, 9, tzinfo=SHANGHAI)
    order = Order(
        "ORD-9", "store", "S-9", (OrderLine("1", "TEA", 1, cny("89.00")),), t0,
        recon_id="SO20260310000003",
    )
    paid = {"amount": cny("89.00"), "method": "wechatpay", "reference": "4200001003"}
    order = life.apply(order, Event("pay", event_id="p-9", at=t0, data=paid)).order
    back = {"amount": cny("20.00"), "method": "wechatpay", "reference": "5000001"}
    order = life.apply(order, Event("refund", event_id="r-9", at=t1, data=back)).order
    erp = records_from_orders([order])
    assert [(r.kind, r.channel) for r in erp] == [("sale", "wechatpay"), ("refund", "wechatpay")]
    bill = [
        Record("wechatpay", "4200001003", "SO20260310000003", cny("89.00"), t0),
        Record(
            "wechatpay", "5000001", "SO20260310000003", cny("-20.00"), t1,
            kind="refund", links=("4200001003",),
        ),
    ]
    # WeChat Pay takes the refund from the merchant's balance, not from the bank: it is
    # owed out of the next payout, carried at the end of the records.
    bank = [
        Record("bank", "BK1", None, cny("89.00"), datetime(2026, 3, 11, 10, tzinfo=SHANGHAI)),
    ]
    month = settle(erp, {"wechatpay": bill}, bank)
    assert month.breaks() == []
    assert month.carried() == {"wechatpay": {"CNY": cny("-20.00")}}


def test_a_refund_without_a_method_of_an_order_paid_two_ways_follows_the_payment_it_covers() -> (
    None
):
    t0 = datetime(2026, 3, 10, 12, tzinfo=SHANGHAI)
    order = Order(
        "ORD-10", "store", "S-10", (OrderLine("1", "TEA", 1, cny("300.00")),), t0,
        payments=(
            Payment("P1", cny("250.00"), t0, method="alipay"),
            Payment("P2", cny("50.00"), t0 + timedelta(minutes=1), method="wechatpay"),
            Payment("R1", cny("30.00"), t0 + timedelta(days=1), kind=PaymentKind.REFUND),
            Payment("R2", cny("200.00"), t0 + timedelta(days=2), kind=PaymentKind.REFUND),
        ),
    )
    channels = {r.record_id: r.channel for r in records_from_orders([order])}
    assert channels == {
        "ORD-10/P1": "alipay", "ORD-10/P2": "wechatpay",
        "ORD-10/R1": "wechatpay", "ORD-10/R2": "alipay",
    }
    unpaid_method = attrs.evolve(order, payments=order.payments[2:3])
    assert records_from_orders([unpaid_method])[0].channel == "store"


def test_an_alipay_month_without_a_withdrawal_carries_its_balance_and_has_no_breaks() -> None:
    # Alipay keeps the money until the merchant withdraws it: no T+1 payout is invented.
    at = datetime(2026, 3, 14, 20, tzinfo=SHANGHAI)
    erp = [Record("erp", "TM1", "SO20260314000001", cny("256.00"), at, channel="alipay")]
    sale = Record("alipay", "A01", "SO20260314000001", cny("256.00"), at, category="sale")
    fee = Record(
        "alipay", "A02", "SO20260314000001", cny("-1.54"), at, kind="fee",
        category="payment_fee",
    )
    month = settle(erp, {"alipay": [sale, fee]}, [], tz="Asia/Shanghai")
    assert month.payouts("alipay") == () and month.derived == []
    assert month.breaks() == []
    assert month.carried() == {"alipay": {"CNY": cny("254.46")}}
    assert month.summary()["carried"] == {"alipay": {"CNY": "254.46"}}
    # With a withdrawal of 100.00 the rest stays in the balance.
    withdrawal = Record(
        "alipay", "A03", None, cny("-100.00"), at + timedelta(days=6), kind="transfer",
        category="withdrawal",
    )
    credit = Record("bank", "BK1", None, cny("100.00"), at + timedelta(days=6, hours=1))
    month = settle(erp, {"alipay": [sale, fee, withdrawal]}, [credit])
    assert month.breaks() == []
    assert month.carried() == {"alipay": {"CNY": cny("154.46")}}
    # A host whose channel pays out by itself says so; one it names "mall" withdraws.
    daily = settle(
        erp, {"alipay": [sale, fee]}, [], payout_terms={"alipay": PayoutTerms.automatic(1)}
    )
    assert [str(p.amount) for p in daily.payouts("alipay")] == ["CNY 254.46"]
    mall = [attrs.evolve(r, source="mall") for r in (sale, fee)]
    routed = [attrs.evolve(erp[0], channel="mall")]
    assert settle(routed, {"mall": mall}, []).payouts("mall") != ()
    kept = settle(
        routed, {"mall": mall}, [], payout_terms={"mall": PayoutTerms.withdrawal()}
    )
    assert (kept.payouts("mall"), kept.breaks()) == ((), [])
    assert DEFAULT_PAYOUT_TERMS["wechatpay"] == PayoutTerms.automatic(1, "Asia/Shanghai")
    assert PayoutTerms.parse("T+2") == PayoutTerms.automatic(2)  # orderkit settle --payout
    assert PayoutTerms.parse("withdrawal@Asia/Shanghai") == DEFAULT_PAYOUT_TERMS["alipay"]
    with pytest.raises(ValidationError, match="payout terms"):
        PayoutTerms.parse("weekly")


def test_settle_refuses_bad_input_with_its_name() -> None:
    with pytest.raises(ValidationError, match="bills"):
        settle([], [], [])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="settlement_days"):
        settle([], {"wechatpay": WECHATPAY}, [], settlement_days=-1)


@pytest.mark.parametrize(
    ("days", "path", "value"),
    [
        (1.5, "settlement_days", 1.5),
        ("1", "settlement_days", "1"),
        (True, "settlement_days", True),
        (None, "settlement_days", None),
        ({"wechatpay": 1.5}, "settlement_days['wechatpay']", 1.5),
        # Refused even where no channel pays out automatically.
        ({"alipay": "2"}, "settlement_days['alipay']", "2"),
    ],
)
def test_settle_refuses_settlement_days_that_are_no_whole_number(
    days: object, path: str, value: object
) -> None:
    with pytest.raises(ValidationError) as refused:
        settle([], {"wechatpay": WECHATPAY}, [], settlement_days=days)  # type: ignore[arg-type]
    assert (refused.value.path, refused.value.value) == (path, value)
    with pytest.raises(ValidationError, match="unknown option"):
        settle([], {}, [], tolerance=1)


def test_breaks_and_summary_agree_whether_or_not_the_outcomes_were_built() -> None:
    """breaks() and summary() read the hops' compact results; read after the outcomes,
    they filter and recount those. Both ways give the same answer."""
    from orderkit.testing.settlement_month import settlement_month

    month = settlement_month(400, seed=11)

    def shape(outcome: Outcome) -> tuple[object, ...]:
        records = tuple(r.record_id for r in outcome.records)
        return (outcome.hop, outcome.status, outcome.kind, outcome.rule, records)

    def story() -> Settlement:
        return month_end()[1]

    def generated() -> Settlement:
        return settle(month.erp, month.bills, month.bank)

    for build in (story, generated):
        lazy = build()
        lazy_breaks = [shape(o) for o in lazy.breaks()]
        lazy_summary = lazy.summary()
        eager = build()
        every = eager.outcomes
        assert [shape(o) for o in eager.breaks()] == lazy_breaks
        assert lazy_breaks == [shape(o) for o in every if o in eager.breaks()]
        assert eager.summary() == lazy_summary
        assert lazy.conservation()["balanced"] is True
        derived = {id(p) for p in eager.derived}
        placed = [id(r) for o in every for r in o.records if id(r) not in derived]
        placed += [id(o.rejected) for o in every if o.rejected is not None]
        assert sorted(placed) == sorted(map(id, eager.inputs))
        assert lazy_summary["records_accounted"] == len(placed)
        # Derived payouts list their members in time order, then record id.
        for payout in eager.derived:
            members = eager.members(payout)
            assert list(members) == sorted(members, key=lambda r: (r.at, r.record_id))


@pytest.mark.parametrize("fault", ["dropped", "counted_twice", "one_for_another"])
def test_conservation_fails_when_a_record_is_dropped_or_counted_twice(fault: str) -> None:
    """summary() reports what the engine placed, by construction; conservation() recounts
    the inputs and the placements independently and must catch a placement gone wrong,
    even one that keeps the count (one record placed in another's stead)."""
    from orderkit.testing.settlement_month import settlement_month

    month = settlement_month(200, seed=4)
    result = settle(month.erp, month.bills, month.bank)
    assert result.conservation()["balanced"] is True
    hop = result.results["order_channel", "wechatpay"]
    # The bill's lone records (its fee lines, among others) and their classes.
    lone_right, classes = hop._lone[1], hop._lone_classes[1]
    assert len(lone_right) >= 2
    if fault == "dropped":
        lone_right.pop()
        classes.pop()
    elif fault == "counted_twice":
        lone_right.append(lone_right[0])
        classes.append(classes[0])
    else:
        lone_right[-1], classes[-1] = lone_right[0], classes[0]
    conservation = result.conservation()
    assert conservation["balanced"] is False
    summary = result.summary()
    if fault == "one_for_another":
        assert summary["records_accounted"] == summary["records_in"]
    else:
        assert summary["records_accounted"] != summary["records_in"]
        assert conservation["records_accounted"] != conservation["records_in"]


def test_a_withdrawal_still_in_transit_at_the_cut_off_is_pending_like_a_payout() -> None:
    # 31 March, 22:00: the merchant withdraws from Alipay; WeChat Pay owes the evening's
    # sales T+1. Neither credit has reached the bank by the cut-off: both are in transit.
    erp = [
        Record("erp", "A1", "SO1", cny("100.00"), at(31, 10), channel="alipay"),
        Record("erp", "W1", "SO2", cny("99.00"), at(31, 21), channel="wechatpay"),
    ]
    late = Record("alipay", "AL2", None, cny("-100.00"), at(31, 22), kind="transfer")
    early = attrs.evolve(late, record_id="AL3", at=at(30, 22))
    bills = {
        "alipay": [Record("alipay", "AL1", "SO1", cny("100.00"), at(31, 10)), late],
        "wechatpay": [Record("wechatpay", "WX1", "SO2", cny("99.00"), at(31, 21))],
    }
    month = settle(erp, bills, [], cutoff=CUTOFF)
    in_transit = {
        o.left[0].record_id: (o.status, o.kind) for o in month.outcomes if o.hop == "channel_bank"
    }
    assert in_transit == {
        "AL2": ("pending", "pending"),
        "wechatpay:2026-03-31": ("pending", "pending"),
    }
    assert month.breaks() == []
    # A withdrawal of the day before was due at the bank by 31 March: a break.
    bills["alipay"].append(early)
    (missing,) = settle(erp, bills, [], cutoff=CUTOFF).breaks()
    assert (missing.left[0].record_id, missing.kind) == ("AL3", "missing_right")
