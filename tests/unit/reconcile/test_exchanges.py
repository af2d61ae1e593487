"""An exchange (换货) in reconciliation: the refund on the original order and the payment
of its replacement, both ``method="exchange"`` under one reference, are the two legs of
one internal transfer. They pair with each other, are never looked for in a bill or the
bank, and only a leg without its partner (or legs that differ) is a break.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine, Payment, PaymentKind
from orderkit.reconcile import Record, needs_a_person, reconcile, records_from_orders, settle

T0 = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
EX = "EX-pos:S1-1-1"


def cny(text: str) -> Money:
    return Money(text, "CNY")


def original(refund: str = "45.50", reference: str = EX) -> Order:
    return Order(
        "pos:S1-1", "pos", "S1-1", [OrderLine("1", "CUP-RED", 1, cny("45.50"))], T0,
        payments=[
            Payment("S1-1-pay", cny("45.50"), T0, method="wechatpay", reference="WX-1"),
            Payment("S1-1-ex", cny(refund), T0 + timedelta(days=2), method="exchange",
                    kind=PaymentKind.REFUND, reference=reference),
        ],
    )


def replacement(paid: str = "45.50", reference: str = EX) -> Order:
    return Order(
        "pos:S1-1-X", "pos", "S1-1-X", [OrderLine("1", "CUP-BLUE", 1, cny(paid))],
        T0 + timedelta(days=2),
        payments=[Payment("S1-1-X-pay", cny(paid), T0 + timedelta(days=2), method="exchange",
                          reference=reference)],
    )


def test_the_legs_of_an_exchange_are_transfers_named_by_the_exchange_reference() -> None:
    records = records_from_orders([original(), replacement()])
    sale, refund, paid = records
    assert (sale.kind, sale.ref, sale.channel) == ("sale", "pos:S1-1", "wechatpay")
    assert (refund.kind, refund.category, refund.ref, str(refund.amount)) == (
        "transfer", "exchange", EX, "CNY -45.50"
    )
    assert refund.links == ("pos:S1-1", "S1-1")  # the order it belongs to
    assert (paid.kind, paid.category, paid.ref, str(paid.amount)) == (
        "transfer", "exchange", EX, "CNY 45.50"
    )
    assert paid.links == ("pos:S1-1-X", "S1-1-X")
    # No refund, no revenue lost: the sales add up to what the buyer paid.
    assert sum(r.amount.amount for r in records if r.kind == "sale") == cny("45.50").amount


def test_an_exchange_pairs_with_itself_against_an_empty_bank() -> None:
    erp = records_from_orders([original(), replacement()])
    result = reconcile(erp, [])
    exchange = [o for o in result.outcomes if o.rule == "exchange"]
    assert len(exchange) == 1
    (paired,) = exchange
    assert (paired.status, paired.kind) == ("matched", None)
    assert {r.record_id for r in paired.left} == {"pos:S1-1/S1-1-ex", "pos:S1-1-X/S1-1-X-pay"}
    assert dict(paired.evidence)["ref"] == EX
    # Only the WeChat sale is looked for in the bank.
    assert [(o.status, o.kind) for o in result.outcomes if o.rule != "exchange"] == [
        ("unmatched", "missing_right")
    ]
    assert result.conservation()["balanced"] is True
    assert result.summary()["by_status"]["matched"]["records"] == 2


def test_settle_reports_the_exchange_paired_never_in_a_bill_or_the_bank() -> None:
    erp = [r for r in records_from_orders([original(), replacement()]) if r.kind != "sale"]
    settlement = settle(erp, {"wechatpay": [], "alipay": []}, [])
    assert settlement.breaks() == []
    (paired,) = settlement.outcomes
    assert (paired.status, paired.rule, paired.hop) == ("matched", "exchange", "order_bank")
    assert settlement.conservation()["balanced"] is True
    assert settlement.summary()["breaks"] == 0


def test_an_exchange_refund_without_its_payment_is_a_break_naming_the_reference() -> None:
    erp = records_from_orders([original()])[1:]
    for result in (reconcile(erp, []), settle(erp, {}, [])):
        (lone,) = result.outcomes
        assert (lone.status, lone.kind, lone.rule) == ("unmatched", "unpaired_exchange", "exchange")
        assert dict(lone.evidence)["ref"] == EX
        assert needs_a_person(lone)


def test_exchange_legs_that_differ_are_a_break_naming_the_reference() -> None:
    # The replacement was dearer and the till booked the whole 50.00 as an exchange.
    erp = records_from_orders([original(), replacement("50.00")])[1:]
    settlement = settle(erp, {}, [])
    (mismatch,) = settlement.breaks()
    assert (mismatch.status, mismatch.kind, mismatch.rule) == (
        "difference", "amount_mismatch", "exchange"
    )
    assert dict(mismatch.evidence)["ref"] == EX
    assert mismatch.difference == {"CNY": cny("-4.50").amount}


def test_an_exchange_without_a_reference_pairs_with_nothing() -> None:
    erp = records_from_orders([original(reference=""), replacement(reference="")])[1:]
    outcomes = reconcile(erp, []).outcomes
    assert [(o.status, o.kind, o.rule) for o in outcomes] == [
        ("unmatched", "unpaired_exchange", "exchange")
    ] * 2


def test_a_transfer_that_is_no_exchange_is_reconciled_as_before() -> None:
    # An Alipay withdrawal (kind transfer, no exchange category) against the bank.
    withdrawal = Record("alipay", "A1", "W1", cny("-256.00"), T0, kind="transfer")
    credit = Record("bank", "B1", "W1", cny("-256.00"), T0, kind="transfer")
    (outcome,) = reconcile([withdrawal], [credit]).outcomes
    assert (outcome.status, outcome.rule) == ("matched", "exact_ref")


def test_a_payout_position_keeps_its_window_when_an_exchange_is_set_apart() -> None:
    # settle() gives the bank hop its payouts first and the direct records after them;
    # the exchange legs among the direct records must not shift the payouts' windows.
    erp = records_from_orders([original(), replacement()])
    sale = erp[0]
    bill = [Record("wechatpay", "W1", "pos:S1-1", cny("45.50"), sale.at, links=("WX-1",))]
    settlement = settle(erp, {"wechatpay": bill}, [], cutoff=T0 + timedelta(hours=1))
    assert settlement.breaks() == []
    assert [(o.status, o.kind) for o in settlement.outcomes if o.hop == "channel_bank"] == [
        ("pending", "pending")
    ]


def test_the_chain_of_either_order_shows_the_exchange() -> None:
    erp = records_from_orders([original(), replacement()])
    settlement = settle(erp, {"wechatpay": []}, [])
    steps = [(s.hop, s.record_id, str(s.amount), s.status) for s in settlement.chain("pos:S1-1")]
    assert steps == [
        ("order_channel", "pos:S1-1/S1-1-pay", "CNY 45.50", "unmatched"),
        ("order_bank", "pos:S1-1/S1-1-ex", "CNY -45.50", "matched"),
        ("order_bank", "pos:S1-1-X/S1-1-X-pay", "CNY 45.50", "matched"),
    ]
    assert [s.record_id for s in settlement.chain("pos:S1-1-X")] == [
        "pos:S1-1-X/S1-1-X-pay", "pos:S1-1/S1-1-ex"
    ]
