"""Every order can end settled. The order's own shipping goes back (a full refund of a
shipped order, a refund of the fee after the goods, a cash on delivery parcel refused at
the door), a deposit that covers what is left once lines are cut pays the order, and no
order ends owing what nobody can collect."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit import (
    Adjustment,
    AdjustmentKind,
    Bearer,
    LineStatus,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentTerms,
)
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.costing import CostModel, FeeTable, margin
from orderkit.errors import OrderkitError, TransitionNotAllowed, ValidationError
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, Lifecycle, OrderService
from orderkit.model.serialization import from_dict, to_dict
from orderkit.reconcile import records_from_orders
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


class Story:
    def __init__(self, order: Order) -> None:
        self.lifecycle = Lifecycle(clock=ManualClock(T0))
        self.order = order
        self.count = 0

    def send(self, name: str, **data: Any) -> Order:
        self.count += 1
        event = Event(name, event_id=f"e{self.count}", at=T0, data=data)
        self.order = self.lifecycle.apply(self.order, event).order
        assert_identity(self.order)
        return self.order


def assert_identity(order: Order) -> None:
    t = order.totals
    assert t.paid - t.refunded - t.refund_due + t.due == t.sold


def shipped_tea(*, coupon: str | None = None) -> Story:
    adjustments = [Adjustment(AdjustmentKind.SHIPPING, cny("8.00"), Bearer.BUYER)]
    if coupon:
        adjustments.append(Adjustment(AdjustmentKind.COUPON, cny(coupon), Bearer.PLATFORM))
    story = Story(Order("O1", "tmall", "T1", [OrderLine("1", "TEA", 2, cny("10.00"))], T0,
                        adjustments=adjustments))
    story.send("pay", amount=story.order.totals.payable, method="alipay")
    story.send("ship", carrier="SF", waybill="SF1")
    return story


@pytest.mark.parametrize("lines", [None, {"1": 2}])
def test_a_full_refund_of_a_shipped_order_gives_the_shipping_back_and_closes_it(
    lines: dict[str, int] | None,
) -> None:
    story = shipped_tea()
    data: dict[str, Any] = {"amount": cny("28.00")}
    if lines:
        data["lines"] = lines
    order = story.send("refund", **data)
    assert order.status.name == "CLOSED"
    assert order.line("1").quantities["refunded"] == 2
    totals = order.totals
    assert (totals.paid, totals.refunded, totals.sold, totals.due, totals.refund_due) == (
        cny("28.00"), cny("28.00"), cny("0.00"), cny("0.00"), cny("0.00"))
    (given,) = [a for a in order.adjustments if a.kind is AdjustmentKind.SHIPPING_CONCESSION]
    assert (given.amount, given.line_id, given.borne_by) == (cny("8.00"), None, Bearer.MERCHANT)
    assert totals.shipping == cny("0.00")  # charged 8.00, given back 8.00
    assert order.shipping_standing == cny("0.00")


def test_the_goods_then_the_fee_refunded_separately_close_the_order() -> None:
    story = shipped_tea()
    order = story.send("refund", amount=cny("20.00"))
    assert (order.status.name, order.totals.sold) == ("SHIPPED", cny("8.00"))
    order = story.send("refund", amount=cny("8.00"))
    assert order.status.name == "CLOSED"
    assert (order.totals.sold, order.totals.refunded) == (cny("0.00"), cny("28.00"))


def test_a_refund_beyond_the_goods_takes_the_goods_first_then_the_shipping() -> None:
    story = shipped_tea()
    order = story.send("refund", amount=cny("25.00"))  # money only: the goods stay sold
    assert order.status.name == "SHIPPED"
    kinds = {a.kind: a.amount for a in order.adjustments if a.label == "refund e3"}
    assert kinds == {AdjustmentKind.CONCESSION: cny("20.00"),
                     AdjustmentKind.SHIPPING_CONCESSION: cny("5.00")}
    assert order.shipping_standing == cny("3.00")
    assert order.totals.sold == cny("3.00")


def test_a_full_refund_gives_back_the_orders_own_rounding_up_too() -> None:
    adjustments = [Adjustment(AdjustmentKind.SHIPPING, cny("8.00")),
                   Adjustment(AdjustmentKind.ROUNDING, cny("0.01"), Bearer.BUYER)]
    story = Story(Order("O2", "pos", "P2", [OrderLine("1", "TEA", 2, cny("10.00"))], T0,
                        adjustments=adjustments))
    story.send("pay", amount=cny("28.01"))
    story.send("ship", carrier="SF", waybill="SF1")
    order = story.send("refund", amount=cny("28.01"))
    assert order.status.name == "CLOSED"
    assert (order.totals.sold, order.totals.refunded) == (cny("0.00"), cny("28.01"))
    given = sorted((a.kind.value, str(a.amount.amount)) for a in order.adjustments
                   if a.label == "refund e3")
    assert given == [("rounding", "-0.01"), ("shipping_concession", "8.00")]


def test_margin_and_bridge_add_up_for_an_order_whose_shipping_went_back() -> None:
    story = shipped_tea(coupon="2.00")
    order = story.send("refund", amount=story.order.totals.paid)
    assert order.status.name == "CLOSED"
    fees = FeeTable("tmall", date(2026, 1, 1), Decimal("0.05"), Decimal("0.006"),
                    shipping_cost=cny("6.00"), packaging=cny("1.50"))

    class Catalog:
        def unit_cost(self, sku: str, on: date) -> Money | None:
            return cny("5.00")

    found = margin(order, CostModel([fees], Catalog()))
    assert found.revenue == cny("0.00")  # nothing sold, no shipping kept
    assert found.component("shipping_charged").amount == cny("0.00")  # type: ignore[union-attr]
    records = records_from_orders([order])
    total = sum((r.amount for r in records), cny("0.00"))
    assert total == order.totals.paid - order.totals.refunded == cny("0.00")
    # the stored form reads back the same
    assert from_dict(Order, to_dict(order)) == order


def test_refused_cash_on_delivery_parcel_closes_with_nothing_due() -> None:
    story = Story(Order("C1", "jd", "1", [OrderLine("1", "CUP", 2, cny("45.50"))], T0,
                        payment_terms=PaymentTerms.ON_DELIVERY,
                        adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("10.00"))]))
    story.send("ship", carrier="jd", waybill="J1")
    assert story.order.totals.due == cny("101.00")
    order = story.send("return_received", lines={"1": 2}, sellable={"1": 2})
    assert order.status.name == "CLOSED"
    totals = order.totals
    assert (totals.paid, totals.sold, totals.due, totals.refund_due) == (
        cny("0.00"), cny("0.00"), cny("0.00"), cny("0.00"))
    (waived,) = [a for a in order.adjustments if a.kind is AdjustmentKind.SHIPPING_CONCESSION]
    assert waived.amount == cny("10.00")
    assert waived.label.startswith("refused on delivery")


def test_a_cash_on_delivery_parcel_partly_refused_stays_shipped_and_owes_its_fee() -> None:
    story = Story(Order("C2", "jd", "2", [OrderLine("1", "CUP", 2, cny("45.50"))], T0,
                        payment_terms=PaymentTerms.ON_DELIVERY,
                        adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("10.00"))]))
    story.send("ship", carrier="jd", waybill="J1")
    order = story.send("return_received", lines={"1": 1})
    assert order.status.name == "SHIPPED"
    assert order.totals.due == cny("55.50")  # one cup and the fee, collected on delivery
    assert not [a for a in order.adjustments if a.kind is AdjustmentKind.SHIPPING_CONCESSION]


def presale() -> Order:
    return Order("T1", "tmall", "1", [OrderLine("1", "TEA", 1, cny("50.00")),
                                      OrderLine("2", "CUP", 1, cny("50.00"))], T0)


def test_a_deposit_that_covers_the_lines_left_after_a_cut_pays_the_order() -> None:
    story = Story(presale())
    story.send("pay", amount=cny("60.00"))
    assert story.order.status is OrderStatus.PENDING_PAYMENT
    order = story.send("cancel_lines", lines={"2": 1})
    totals = order.totals
    assert (order.status, order.paid_at) == (OrderStatus.PAID, T0)
    assert (totals.due, totals.refund_due) == (cny("0.00"), cny("10.00"))
    story.send("refund", amount=cny("10.00"))
    order = story.send("ship", carrier="SF", waybill="SF1")
    assert (order.status, order.totals.refund_due) == (OrderStatus.SHIPPED, cny("0.00"))


def test_a_price_lowered_to_what_the_deposit_covers_pays_the_order() -> None:
    story = Story(presale())
    story.send("pay", amount=cny("60.00"))
    order = story.send("change_price", line_id="2", unit_price=cny("10.00"))
    assert (order.status, order.totals.due, order.totals.refund_due) == (
        OrderStatus.PAID, cny("0.00"), cny("0.00"))


def test_a_cut_that_still_leaves_money_due_keeps_the_order_unpaid() -> None:
    story = Story(presale())
    story.send("pay", amount=cny("40.00"))
    order = story.send("cancel_lines", lines={"2": 1})
    assert (order.status, order.totals.due) == (OrderStatus.PENDING_PAYMENT, cny("10.00"))


def test_the_lock_of_an_order_paid_by_a_cut_is_confirmed() -> None:
    clock = ManualClock(T0)
    ledger = InventoryLedger(MemoryInventoryStore(), secret=b"0123456789abcdef", clock=clock)
    ledger.receive("TEA", 5, reference="PO")
    ledger.receive("CUP", 5, reference="PO")
    service = OrderService(MemoryOrderRepository(), clock=clock, inventory=ledger)
    # imported with its deposit: the lock is not confirmed by a payment event
    service.place(attrs.evolve(presale(), payments=[Payment("dep", cny("60.00"), T0)]))
    service.handle("T1", Event("cancel_lines", event_id="c", at=T0, data={"lines": {"2": 1}}))
    assert service.repository.get("T1").status is OrderStatus.PAID
    clock.advance(timedelta(days=3))
    ledger.expire_due()
    assert ledger.stock("TEA").locked == 1  # kept: the lock never lapses


def cod(*lines: OrderLine) -> Order:
    return Order("J1", "jd", "1", lines or [OrderLine("1", "CUP", 2, cny("45.50"))], T0,
                 payment_terms=PaymentTerms.ON_DELIVERY,
                 adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("10.00"))])


def test_a_zero_refund_of_every_unit_of_an_unpaid_cash_on_delivery_order_waives_its_fee() -> None:
    story = Story(cod())
    story.send("ship", carrier="jd", waybill="JDV1")
    order = story.send("refund", amount=cny("0.00"), lines={"1": 2})
    totals = order.totals
    assert order.status is OrderStatus.CLOSED
    assert (totals.sold, totals.due, totals.refund_due) == (cny("0.00"),) * 3
    waived = order.adjustments[-1]
    assert (waived.kind, waived.amount) == (AdjustmentKind.SHIPPING_CONCESSION, cny("10.00"))


def test_a_cancel_after_a_scan_waives_the_fee_of_an_unpaid_cash_on_delivery_order() -> None:
    story = Story(cod())
    story.send("pack")
    order = story.send("track", status="exception", carrier_time=T0)
    assert order.shipments and order.totals.due == cny("101.00")
    order = story.send("cancel")
    assert (order.status, order.totals.due, order.totals.sold) == (
        OrderStatus.CANCELLED, cny("0.00"), cny("0.00"))


def test_an_order_is_not_completed_owing_what_no_payment_can_settle() -> None:
    # imported delivered with 10.00 still unpaid: no ``pay`` is taken once it completes
    story = Story(Order("P1", "tmall", "1",
                        [OrderLine("1", "TEA", 1, cny("60.00"),
                                   quantities={LineStatus.SHIPPED: 1})], T0,
                        status=OrderStatus.DELIVERED, payments=[Payment("p1", cny("50.00"), T0)],
                        paid_at=T0, delivered_at=T0))
    with pytest.raises(TransitionNotAllowed, match=r"10\.00 still due") as refused:
        story.send("complete")
    # the refusal names the status the order is in, not the one it would have moved to
    assert refused.value.status == "DELIVERED"
    assert "in status DELIVERED" in str(refused.value)
    # cash on delivery is completed unpaid: the money collected later is still taken
    story = Story(cod())
    story.send("ship", carrier="jd", waybill="JDV1")
    story.send("deliver")
    assert story.send("complete").status is OrderStatus.COMPLETED
    assert story.send("pay", amount=cny("101.00")).totals.due == cny("0.00")


def paid_tea() -> Story:
    story = Story(Order("P1", "tmall", "1", [OrderLine("1", "TEA", 2, cny("150.00"))], T0))
    story.send("pay", amount=cny("300.00"))
    return story


def test_a_price_raised_after_payment_is_refused_naming_what_was_paid() -> None:
    story = paid_tea()
    before = story.order
    with pytest.raises(ValidationError, match=r"300\.00") as refused:
        story.send("change_price", line_id="1", unit_price=cny("160.00"))
    assert refused.value.path == "data.unit_price"
    assert refused.value.value == cny("160.00")
    assert story.order is before  # nothing changed: it ships paid, owing nothing


def test_a_price_cut_after_payment_is_owed_back_and_a_raise_before_payment_is_due() -> None:
    story = paid_tea()
    order = story.send("change_price", line_id="1", unit_price=cny("140.00"))
    assert (order.status, order.totals.due, order.totals.refund_due) == (
        OrderStatus.PAID, cny("0.00"), cny("20.00"))
    unpaid = Story(Order("P2", "tmall", "2", [OrderLine("1", "TEA", 2, cny("150.00"))], T0))
    order = unpaid.send("change_price", line_id="1", unit_price=cny("160.00"))
    assert (order.status, order.totals.due) == (OrderStatus.PENDING_PAYMENT, cny("320.00"))
    # a deposit paid, then the price raised: the order still takes the rest
    unpaid.send("pay", amount=cny("100.00"))
    order = unpaid.send("change_price", line_id="1", unit_price=cny("170.00"))
    assert order.totals.due == cny("240.00")
    assert unpaid.send("pay", amount=cny("240.00")).status is OrderStatus.PAID


def two_line_cod_one_sent() -> Story:
    story = Story(cod(OrderLine("1", "CUP", 1, cny("45.50")),
                      OrderLine("2", "TEA", 1, cny("89.00"))))
    story.send("ship", carrier="jd", waybill="JDV4", lines={"1": 1})
    return story


@pytest.mark.parametrize("refused_first", [True, False])
def test_a_cash_on_delivery_order_refused_in_part_and_cut_closes_whatever_comes_last(
    refused_first: bool,
) -> None:
    story = two_line_cod_one_sent()
    events = [("return_received", {"lines": {"1": 1}, "sellable": {"1": 1}}),
              ("cancel_lines", {"lines": {"2": 1}})]
    for name, data in events if refused_first else events[::-1]:
        order = story.send(name, **data)
    totals = order.totals
    assert order.status is OrderStatus.CLOSED
    assert (totals.sold, totals.due, totals.paid) == (cny("0.00"),) * 3
    assert order.adjustments[-1].label.startswith("refused on delivery")


def test_a_cash_on_delivery_order_signed_for_then_sent_back_unpaid_closes() -> None:
    story = Story(cod())
    story.send("ship", carrier="jd", waybill="JDV1")
    story.send("track", status="signed", carrier_time=T0)
    assert story.order.status is OrderStatus.DELIVERED
    order = story.send("return_received", lines={"1": 2})
    assert (order.status, order.totals.due, order.totals.sold) == (
        OrderStatus.CLOSED, cny("0.00"), cny("0.00"))


LINE_IDS = ("1", "2")
units = st.dictionaries(st.sampled_from(LINE_IDS), st.integers(1, 2), min_size=1, max_size=2)
amounts = st.one_of(
    st.integers(0, 30_000).map(lambda fen: Money.from_minor(fen, "CNY")),
    st.sampled_from(["due", "refund_due", "paid_left", "zero"]),
)
steps: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "pay": st.fixed_dictionaries({"amount": amounts}),
    "cancel_lines": st.fixed_dictionaries({"lines": units}),
    "cancel": st.just({}),
    "pack": st.just({}),
    "ship": st.fixed_dictionaries({"carrier": st.just("SF"), "waybill": st.just("SF1")},
                                  optional={"lines": units}),
    "track": st.fixed_dictionaries({"status": st.sampled_from(["signed", "exception"]),
                                    "carrier_time": st.just(T0)}),
    "deliver": st.just({}),
    "complete": st.just({}),
    "refund": st.fixed_dictionaries({"amount": amounts}, optional={"lines": units}),
    "return_received": st.fixed_dictionaries({"lines": units}),
    "change_price": st.fixed_dictionaries({"line_id": st.sampled_from(LINE_IDS),
                                           "unit_price": st.integers(0, 9_999).map(
                                               lambda fen: Money.from_minor(fen, "CNY"))}),
}
stories = st.lists(st.sampled_from(sorted(steps)).flatmap(
    lambda name: steps[name].map(lambda data: (name, data))), min_size=1, max_size=14)


def _amount(order: Order, data: dict[str, Any]) -> dict[str, Any]:
    named = data.get("amount")
    if not isinstance(named, str):
        return data
    totals = order.totals
    value = {"due": totals.due, "refund_due": totals.refund_due, "zero": cny("0.00"),
             "paid_left": totals.paid - totals.refunded}[named]
    return {**data, "amount": value}


def _takes(lifecycle: Lifecycle, order: Order, name: str, **data: Any) -> Order | None:
    try:
        return lifecycle.apply(order, Event(name, event_id="probe", at=T0, data=data)).order
    except OrderkitError:
        return None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PaymentTerms), st.booleans(), stories)
def test_no_order_is_left_where_no_event_can_settle_it(
    terms: PaymentTerms, shipping: bool, story: list[tuple[str, dict[str, Any]]]
) -> None:
    """After every step: an order owed money can be refunded it; an ended order owing
    money can still be paid it; a part-paid order owing nothing is not left unpaid; and
    an order with every unit out of the sale that owes nothing ends, or can."""
    order = Order("H1", "jd", "1", [OrderLine("1", "CUP", 2, cny("45.50")),
                                    OrderLine("2", "TEA", 1, cny("89.00"))], T0,
                  payment_terms=terms,
                  adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("10.00"))] if shipping
                  else [])
    lifecycle = Lifecycle(clock=ManualClock(T0))
    for n, (name, data) in enumerate(story):
        event = Event(name, event_id=f"e{n}", at=T0, data=_amount(order, data))
        try:
            order = lifecycle.apply(order, event).order
        except OrderkitError:
            continue
        totals = order.totals
        assert totals.paid - totals.refunded - totals.refund_due + totals.due == totals.sold
        if totals.refund_due.amount:
            assert _takes(lifecycle, order, "refund", amount=totals.refund_due) is not None
        if totals.due.amount and order.is_final:
            assert _takes(lifecycle, order, "pay", amount=totals.due) is not None
        if order.status == OrderStatus.PENDING_PAYMENT and totals.paid.amount:
            assert totals.due.amount or not any(order.sold_units.values())
        if (terms is PaymentTerms.ON_DELIVERY and not any(order.sold_units.values())
                and order.shipments and totals.paid == totals.refunded):
            # every unit out of the sale, nothing kept: nobody will collect anything
            assert (order.is_final, totals.due) == (True, cny("0.00")), order.status
        if not any(order.sold_units.values()) and not totals.due and not totals.refund_due:
            ends = [_takes(lifecycle, order, probe, **probe_data) for probe, probe_data in
                    (("refund", {"amount": cny("0.00")}), ("cancel", {}), ("complete", {}))]
            assert order.is_final or any(e is not None and e.is_final for e in ends), (
                order.status, [line.quantities for line in order.lines])


def test_an_order_whose_discounts_exceed_its_goods_and_charges_is_refused() -> None:
    from orderkit.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        Order("N1", "pos", "1", [OrderLine("1", "TEA", 1, cny("10.00"))], T0,
              adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("5.00")),
                           Adjustment(AdjustmentKind.COUPON, cny("22.14"))])
    assert info.value.path == "adjustments"
    assert "CNY -7.14" in info.value.reason
    free = Order("N2", "pos", "1", [OrderLine("1", "TEA", 1, cny("10.00"))], T0,
                 adjustments=[Adjustment(AdjustmentKind.COUPON, cny("10.00"))])
    assert free.totals.payable == cny("0.00")


@pytest.mark.parametrize("key", ["method", "reference"])
@pytest.mark.parametrize("name", ["pay", "refund"])
def test_a_payment_method_or_reference_that_is_not_text_is_refused(name: str, key: str) -> None:
    from orderkit.errors import ValidationError

    story = Story(presale())
    if name == "refund":
        story.send("pay", amount=cny("100.00"))
    with pytest.raises(ValidationError) as info:
        story.send(name, amount=cny("10.00"), **{key: 5})
    assert (info.value.path, info.value.value) == (f"data.{key}", 5)


def test_a_cash_on_delivery_order_sent_in_part_is_not_delivered_with_units_open() -> None:
    story = two_line_cod_one_sent()
    with pytest.raises(TransitionNotAllowed, match="open units"):
        story.send("deliver")
    assert story.send("track", status="signed", carrier_time=T0).status is OrderStatus.SHIPPED
    story.send("ship", carrier="jd", waybill="JDV5")
    assert story.send("deliver").status is OrderStatus.DELIVERED


def test_returns_of_a_receipt_rounded_down_pay_back_exactly_what_was_paid() -> None:
    """A till receipt: 2 x 49.99, 10.00 off the receipt, rounded down (抹零) to 89.90.
    The cup and then the tea come back; refunding what each return says is owed pays
    back the 89.90, and the order closes with nothing sold and nothing due."""
    adjustments = [Adjustment(AdjustmentKind.DISCOUNT, cny("10.00"), label="receipt 10%"),
                   Adjustment(AdjustmentKind.ROUNDING, cny("-0.08"), label="抹零")]
    story = Story(Order("R-B", "pos", "R-B", [OrderLine("1", "TEA", 1, cny("49.99")),
                                              OrderLine("2", "CUP", 1, cny("49.99"))], T0,
                        adjustments=adjustments))
    story.send("pay", amount=cny("89.90"), method="cash")
    story.send("ship", carrier="counter", waybill="R-B")
    story.send("deliver")
    owed = []
    for line_id in ("2", "1"):
        story.count += 1
        event = Event("return_received", event_id=f"e{story.count}", at=T0,
                      data={"lines": {line_id: 1}, "sellable": {line_id: 1}})
        received = story.lifecycle.apply(story.order, event)
        owed += [e.amount for e in received.events if type(e).__name__ == "RefundDue"]
        story.order = received.order
        story.send("refund", amount=owed[-1], method="cash")
    order = story.order
    assert sum(owed, cny("0.00")) == cny("89.90")
    assert order.status.name == "CLOSED"
    assert (order.totals.sold, order.totals.refund_due, order.totals.refunded) == (
        cny("0.00"), cny("0.00"), cny("89.90"))
