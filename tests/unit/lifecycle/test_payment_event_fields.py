"""``PaymentReceived`` carries the payment's ``method`` and ``reference``, ``Refunded``
its ``method``: a sink picks the clearing account and matches the gateway's statement
from the events alone."""

from __future__ import annotations

from datetime import UTC, datetime

from orderkit import Money, Order, OrderLine, from_dict
from orderkit.lifecycle import Event, Lifecycle, PaymentReceived, Refunded
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def test_payments_and_refunds_say_how_and_under_which_number_money_moved() -> None:
    life = Lifecycle(clock=ManualClock(T0))
    order = Order("O", "shop", "O", [OrderLine("1", "TEA", 2, cny("50.00"))], T0)
    moved = life.apply(order, Event("pay", event_id="p", at=T0, data={
        "amount": cny("60.00"), "method": "alipay", "reference": "ALI-2026-0001"}))
    paid = moved.events[0]
    assert isinstance(paid, PaymentReceived)
    assert (paid.method, paid.reference) == ("alipay", "ALI-2026-0001")
    moved = life.apply(moved.order, Event("pay", event_id="p2", at=T0, data={
        "amount": cny("40.00"), "method": "wechat", "reference": "WX-4200001"}))
    order = moved.order
    told = life.apply(order, Event("refund", event_id="r", at=T0, data={
        "amount": cny("40.00"), "method": "wechat", "reference": "WX-RF-1"})).events[0]
    assert isinstance(told, Refunded)
    assert (told.method, told.reference) == ("wechat", "WX-RF-1")
    # No method given: the way the money came in (Order.paying_method), as stored.
    guessed = life.apply(order, Event("refund", event_id="r2", at=T0,
                                      data={"amount": cny("10.00")}))
    refund = guessed.events[0]
    assert isinstance(refund, Refunded)
    assert refund.method == guessed.order.payments[-1].method
    assert refund.method in ("alipay", "wechat")


def test_payloads_written_before_read_back_with_empty_method_and_reference() -> None:
    old = {"order_id": "O", "event_id": "p", "at": T0.isoformat(),
           "amount": {"amount": "1.00", "currency": "CNY"}}
    assert (from_dict(PaymentReceived, old).method,
            from_dict(PaymentReceived, old).reference) == ("", "")
    refunded = {**old, "lines": {}, "released": {}}
    assert from_dict(Refunded, refunded).method == ""
