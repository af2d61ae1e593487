"""A refund told first as money only (a webhook's "refund RF-1 of 43.70 succeeded")
gets its units when the same refund (its reference, its amount) is told again naming
lines: no new money moves, and the order ends exactly as if the refund had named its
lines from the start."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, Lifecycle, OrderService, RefundLinesAssigned, refunds
from orderkit.model.errors import IdempotencyConflict
from orderkit.model.money import Money
from orderkit.model.orders import (
    Adjustment,
    AdjustmentKind,
    LineStatus,
    Order,
    OrderLine,
    Payment,
    PaymentKind,
)
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
CNY = "CNY"
REF = "221455667788990099"


def _order(kind: str) -> Order:
    """Tea x2, a cup and trays x3: at full price, with an order coupon (and a line's
    own discount) spread over the lines, with shipping, or with both."""
    adjustments = {
        "full price": [],
        "coupon": [Adjustment(AdjustmentKind.COUPON, Money("20.00", CNY)),
                   Adjustment(AdjustmentKind.DISCOUNT, Money("5.00", CNY), line_id="1")],
        "shipping": [Adjustment(AdjustmentKind.SHIPPING, Money("8.00", CNY))],
        "coupon and shipping": [Adjustment(AdjustmentKind.COUPON, Money("31.00", CNY)),
                                Adjustment(AdjustmentKind.SHIPPING, Money("8.00", CNY))],
    }[kind]
    return Order(order_id="ORD-7", channel="tmall", channel_order_id="T-7",
                 lines=[OrderLine("1", "TEA", 2, Money("89.00", CNY)),
                        OrderLine("2", "CUP", 1, Money("45.50", CNY)),
                        OrderLine("3", "TRAY", 3, Money("19.90", CNY))],
                 adjustments=adjustments, created_at=T0)


def _paid(lifecycle: Lifecycle, kind: str, shipped: bool) -> Order:
    order = _order(kind)
    order = lifecycle.apply(order, Event("pay", event_id="pay-1", at=T0,
                                         data={"amount": order.due})).order
    if shipped:
        order = lifecycle.apply(order, Event("ship", event_id="ship-1", at=T0, data={
            "carrier": "SF", "waybill": "SF1"})).order
    return order


def _worth(lifecycle: Lifecycle, order: Order, lines: dict[str, int]) -> Money:
    """What ``lines`` are worth on ``order``: what a refund of 0.00 naming them leaves
    owed."""
    probe = lifecycle.apply(order, Event("refund", event_id="probe", at=T0, data={
        "amount": Money("0.00", CNY), "lines": lines}))
    return probe.order.refund_due


def _refund(event_id: str, amount: Money, lines: dict[str, int] | None = None) -> Event:
    data: dict[str, Any] = {"amount": amount, "reference": REF}
    if lines is not None:
        data["lines"] = lines
    return Event("refund", event_id=event_id, at=T0, data=data)


def _assert_same_money(later: Order, direct: Order) -> None:
    """``later`` (money first, lines after) ends as ``direct`` (lines from the start)
    did, field by field."""
    assert later.status is direct.status
    for field in ("goods", "shipping", "tax", "discounts", "rounding", "payable",
                  "settlement", "paid", "refunded", "sold"):
        assert getattr(later.totals, field) == getattr(direct.totals, field), field
    assert later.refund_due == direct.refund_due
    assert later.due == direct.due
    assert later.sold_by_line() == direct.sold_by_line()
    assert [dict(line.quantities) for line in later.lines] == [
        dict(line.quantities) for line in direct.lines]
    assert later.payments == direct.payments
    assert sorted(later.adjustments, key=repr) == sorted(direct.adjustments, key=repr)
    assert later.returns == direct.returns


@pytest.mark.parametrize("kind", ["full price", "coupon", "shipping", "coupon and shipping"])
@pytest.mark.parametrize("shipped", [False, True])
@pytest.mark.parametrize("lines", [{"2": 1}, {"1": 1, "3": 2}, {"1": 2, "3": 3}])
@pytest.mark.parametrize("beyond", ["0.00", "-3.00", "4.00"])
def test_money_only_then_its_lines_ends_as_a_refund_naming_its_lines(
    kind: str, shipped: bool, lines: dict[str, int], beyond: str
) -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    paid = _paid(lifecycle, kind, shipped)
    # The units' worth, a little less (the rest stays owed), or a little more (a
    # concession on what is still sold, or shipping given back).
    amount = _worth(lifecycle, paid, lines) + Money(beyond, CNY)
    direct = lifecycle.apply(paid, _refund("webhook-1", amount, lines))
    money = lifecycle.apply(paid, _refund("webhook-1", amount))
    assert money.order.totals.refunded == amount
    later = lifecycle.apply(money.order, _refund("sync-1", amount, lines))
    _assert_same_money(later.order, direct.order)
    assert later.ignored is None and later.audit[0].outcome == "applied"
    assert "sync-1" in later.order.applied_event_ids
    # No new money: the units, named, with the stock they free when still unshipped.
    assigned = [e for e in later.events if isinstance(e, RefundLinesAssigned)]
    assert [type(e).__name__ for e in later.events if type(e).__name__ == "Refunded"] == []
    assert len(assigned) == 1
    fact = assigned[0]
    assert (fact.refund_id, fact.reference, dict(fact.lines)) == ("webhook-1", REF, lines)
    refunded = next(e for e in direct.events if type(e).__name__ == "Refunded")
    assert dict(fact.released) == dict(refunded.released)
    assert bool(fact.released) is not shipped
    # What it gave back, part by part, is what the refund naming them said.
    assert fact.amount == amount
    for part in ("goods", "discounts", "shipping", "tax", "rounding", "overpaid"):
        assert getattr(fact, part) == getattr(refunded, part), part
    # The refund's payment now names its lines; it keeps its id, time and method.
    payment = next(p for p in later.order.payments if p.kind is PaymentKind.REFUND)
    assert (payment.payment_id, dict(payment.lines), payment.amount) == (
        "webhook-1", lines, amount)


def test_the_order_without_the_refund_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The ``refunds_everything`` guard and the ``refund`` handler both read it.
    lifecycle = Lifecycle(clock=ManualClock(T0))
    paid = _paid(lifecycle, "coupon", shipped=False)
    amount = _worth(lifecycle, paid, {"2": 1})
    order = lifecycle.apply(paid, _refund("webhook-1", amount)).order
    built: list[str] = []
    without = refunds.without_refund

    def counted(order: Order, refund: Payment) -> Order:
        built.append(refund.payment_id)
        return without(order, refund)

    monkeypatch.setattr(refunds, "without_refund", counted)
    later = lifecycle.apply(order, _refund("sync-1", amount, {"2": 1}))
    # the unit refunded before it shipped leaves the pick: a new ReadyToShip says so
    assert [type(e).__name__ for e in later.events] == ["RefundLinesAssigned", "ReadyToShip"]
    assert built == ["webhook-1"]


def test_a_refund_whose_lines_were_given_stays_the_same_refund() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    paid = _paid(lifecycle, "coupon", shipped=False)
    amount = _worth(lifecycle, paid, {"2": 1})
    order = lifecycle.apply(paid, _refund("webhook-1", amount)).order
    order = lifecycle.apply(order, _refund("sync-1", amount, {"2": 1})).order
    # Told again as money only, or with the same lines: the same refund, ignored.
    for event_id, lines in (("webhook-2", None), ("import-1", {"2": 1})):
        again = lifecycle.apply(order, _refund(event_id, amount, lines))
        assert again.events == () and again.ignored is not None
        assert "webhook-1" in again.ignored
        assert again.order.totals == order.totals and again.order.lines == order.lines
    # With other lines, or other money, it is refused.
    for told, fields in (((amount, {"3": 1}), ("data.lines",)),
                         ((amount + Money("1.00", CNY), {"2": 1}), ("data.amount",))):
        with pytest.raises(IdempotencyConflict) as info:
            lifecycle.apply(order, _refund("import-2", *told))
        assert info.value.key == REF and info.value.fields == fields


def test_lines_with_other_money_than_the_money_only_refund_are_refused() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    paid = _paid(lifecycle, "full price", shipped=False)
    order = lifecycle.apply(paid, _refund("webhook-1", Money("45.50", CNY))).order
    with pytest.raises(IdempotencyConflict) as info:
        lifecycle.apply(order, _refund("sync-1", Money("40.00", CNY), {"2": 1}))
    assert info.value.fields == ("data.amount", "data.lines")


def test_lines_naming_every_unit_left_close_the_order_as_a_refund_of_them_would() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    paid = _paid(lifecycle, "shipping", shipped=True)
    every = {"1": 2, "2": 1, "3": 3}
    goods = paid.totals.paid - Money("8.00", CNY)  # the shipping is not paid back
    direct = lifecycle.apply(paid, _refund("webhook-1", goods, every))
    money = lifecycle.apply(paid, _refund("webhook-1", goods)).order
    assert money.status.name == "SHIPPED"
    later = lifecycle.apply(money, _refund("sync-1", goods, every))
    assert later.order.status.name == direct.order.status.name == "CLOSED"
    _assert_same_money(later.order, direct.order)
    assert [type(e).__name__ for e in later.events] == ["RefundLinesAssigned", "StatusChanged"]


def _sink() -> Any:
    class ListSink:
        def __init__(self) -> None:
            self.published: list[Any] = []

        def publish(self, messages: Any) -> None:
            self.published.extend(messages)

    return ListSink()


def test_the_service_frees_the_units_stock_and_publishes_the_refund_once(
    stores: tuple[Any, Any],
) -> None:
    repository, store = stores
    clock = ManualClock(T0)
    ledger = InventoryLedger(store, secret=b"a secret of sixteen bytes or more", clock=clock)
    for sku in ("TEA", "CUP", "TRAY"):
        ledger.receive(sku, 10, reference="PO-1")
    sink = _sink()
    service = OrderService(repository, clock=clock, inventory=ledger, sink=sink)
    service.place(_order("coupon and shipping"))
    service.handle("ORD-7", Event("pay", event_id="pay-1", at=T0,
                                  data={"amount": repository.get("ORD-7").due}))
    assert ledger.stock("CUP").locked == 1
    # The webhook receiver: "refund 221455667788990099 of <the cup's worth> succeeded".
    cup = _worth(service.lifecycle, repository.get("ORD-7"), {"2": 1})
    service.handle("ORD-7", _refund("webhook-1", cup))
    assert ledger.stock("CUP").locked == 1  # money only: no unit named yet
    # Later told which units it was (a poll, an import), twice.
    for event_id in ("sync-1", "sync-1", "import-1"):
        service.handle("ORD-7", _refund(event_id, cup, {"2": 1}))
    order = repository.get("ORD-7")
    assert order.totals.refunded == cup and not order.refund_due.amount
    assert order.line("2").quantities[LineStatus.REFUNDED] == 1
    assert ledger.stock("CUP").locked == 0 and ledger.stock("CUP").available == 10
    assert ledger.verify().ok
    topics = [m.topic for m in sink.published]
    assert topics.count("event.Refunded") == 1
    assert topics.count("event.RefundLinesAssigned") == 1
    assert "event.RefundDue" not in topics
    outcomes = [(e.event_id, e.outcome) for e in repository.audit_trail("ORD-7")
                if e.event == "refund"]
    assert outcomes == [("webhook-1", "applied"), ("sync-1", "applied"),
                        ("import-1", "ignored")]
