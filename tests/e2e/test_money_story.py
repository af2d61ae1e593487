"""Money stories: payments against what is due, partial cancels and returns that owe
the buyer exactly their share, bounded refunds, and decisions by the event's time.

Each story checks the money identity at the end:
``paid - refunded - refund_due + due == sold`` (for a paid order, ``due`` is zero).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from orderkit import (
    Address,
    Adjustment,
    AdjustmentKind,
    AfterSale,
    Bearer,
    LineStatus,
    Money,
    Order,
    OrderLine,
    OrderStatus,
)
from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.errors import (
    AddressLocked,
    IdempotencyConflict,
    TransitionNotAllowed,
    ValidationError,
)
from orderkit.inventory import EntryKind, InventoryLedger
from orderkit.lifecycle import (
    Event,
    Lifecycle,
    LinesCancelled,
    OrderService,
    Overpaid,
    PaymentShort,
    ReceivableDue,
    RefundDue,
    Refunded,
    ReturnReceived,
)
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)


def _order() -> Order:
    return Order(
        order_id="ORD-1", channel="tmall", channel_order_id="T1",
        lines=[OrderLine("1", "TEA", 2, Money("89.00", "CNY")),
               OrderLine("2", "CUP", 1, Money("45.50", "CNY"))],
        created_at=T0, ship_to=Address(name="张*", province="浙江省"),
    )


def _stream() -> list[Event]:
    """A day of one order, each event stamped with when it happened."""
    def at(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    return [
        Event("pay", event_id="pay-1", at=at(5), data={"amount": Money("223.50", "CNY")}),
        Event("change_address", event_id="addr-1", at=at(90),
              data={"address": Address(name="张*", province="江苏省")}),
        Event("hold", event_id="hold-1", at=at(100), data={"kind": "fraud_review"}),
        Event("release_hold", event_id="unhold-1", at=at(130), data={"kind": "fraud_review"}),
        Event("pack", event_id="pack-1", at=at(200)),
        Event("ship", event_id="ship-1", at=at(240), data={"carrier": "SF", "waybill": "SF1"}),
    ]


def _replay(clock_at: datetime, *, late_by: timedelta = timedelta(0)) -> Order:
    clock = ManualClock(clock_at)
    repository = MemoryOrderRepository()
    service = OrderService(repository, lifecycle=Lifecycle(clock=clock))
    service.place(_order())
    for event in _stream():
        clock.advance(late_by)  # the clock runs on while events arrive late
        service.handle("ORD-1", event)
    return repository.get("ORD-1")


def test_replaying_events_a_year_later_gives_the_same_orders() -> None:
    today = _replay(T0 + timedelta(hours=1))
    next_year = _replay(T0 + timedelta(days=366), late_by=timedelta(hours=3))
    assert next_year == today
    assert today.ship_to == Address(name="张*", province="江苏省")  # edited 85 min after paying


def test_an_address_edit_is_judged_by_when_it_happened_not_when_it_arrived() -> None:
    clock = ManualClock(T0)
    service = OrderService(MemoryOrderRepository(), lifecycle=Lifecycle(clock=clock))
    service.place(_order())
    paid = {"amount": Money("223.50", "CNY")}
    service.handle("ORD-1", Event("pay", event_id="p", at=T0, data=paid))
    clock.advance(timedelta(hours=5))  # arrives three hours after the window closed...
    late = Event("change_address", event_id="a", at=T0 + timedelta(hours=1),
                 data={"address": Address(name="李*")})
    service.handle("ORD-1", late)  # ...but happened inside it
    after = Event("change_address", event_id="b", at=T0 + timedelta(hours=3),
                  data={"address": Address(name="王*")})
    with pytest.raises(AddressLocked):
        service.handle("ORD-1", after)


def test_refund_can_never_exceed_what_was_paid() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = _order()
    # Imported from a platform as PAID, with no payment recorded: nothing to refund.
    imported = attrs.evolve(order, status=OrderStatus.PAID)
    refund = Event("refund", event_id="r1", at=T0, data={"amount": Money("1000000.00", "CNY")})
    with pytest.raises(ValidationError) as caught:
        lifecycle.apply(imported, refund)
    assert caught.value.path == "data.amount"
    paid = lifecycle.apply(
        order, Event("pay", event_id="p", at=T0, data={"amount": Money("223.50", "CNY")})
    ).order
    first = lifecycle.apply(
        paid, Event("refund", event_id="r2", at=T0, data={"amount": Money("200.00", "CNY")})
    ).order
    with pytest.raises(ValidationError):
        lifecycle.apply(
            first, Event("refund", event_id="r3", at=T0, data={"amount": Money("23.51", "CNY")})
        )
    last = lifecycle.apply(
        first, Event("refund", event_id="r4", at=T0, data={"amount": Money("23.50", "CNY")})
    ).order
    assert last.totals.refunded == last.totals.paid == Money("223.50", "CNY")


def test_three_hundred_redeliveries_apply_once(tmp_path: Path) -> None:
    # An order that takes 300 events (holds placed and lifted by a jittery risk engine),
    # every one of them delivered again afterwards: none applies twice.
    clock = ManualClock(T0)
    repository = SQLiteOrderRepository(tmp_path / "shop.db")
    service = OrderService(repository, lifecycle=Lifecycle(clock=clock))
    service.place(_order())
    events = [
        Event("hold" if n % 2 == 0 else "release_hold", event_id=f"risk-{n}",
              at=T0 + timedelta(seconds=n), data={"kind": "risk"})
        for n in range(300)
    ]
    for event in events:
        service.handle("ORD-1", event)
    stored = repository.get("ORD-1")
    assert stored.version == 300 and len(stored.applied_event_ids) == 300
    for event in reversed(events):  # the redeliveries, oldest last
        assert service.handle("ORD-1", event).changed is False
    fresh = SQLiteOrderRepository(tmp_path / "shop.db").get("ORD-1")
    assert fresh == stored
    assert len(repository.audit_trail("ORD-1")) == 300


def _paying(amount: str, event_id: str, minutes: int = 5) -> Event:
    return Event("pay", event_id=event_id, at=T0 + timedelta(minutes=minutes),
                 data={"amount": Money(amount, "CNY")})


def test_short_payment_does_not_make_an_order_paid() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    t = lifecycle.apply(_order(), _paying("0.01", "cent"))  # a 223.50 order paid 0.01
    assert t.order.status is OrderStatus.PENDING_PAYMENT and t.order.paid_at is None
    (short,) = [e for e in t.events if isinstance(e, PaymentShort)]
    assert (short.due, short.received, short.short) == (
        Money("223.50", "CNY"), Money("0.01", "CNY"), Money("223.49", "CNY")
    )
    with pytest.raises(TransitionNotAllowed):  # nothing ships before it is paid
        lifecycle.apply(t.order, Event("ship", event_id="s", at=T0,
                                       data={"carrier": "SF", "waybill": "SF1"}))


def test_deposit_and_balance_add_up_to_paid() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    deposit = lifecycle.apply(_order(), _paying("50.00", "deposit", 5)).order
    assert deposit.totals.due == Money("173.50", "CNY")
    balance = lifecycle.apply(deposit, _paying("173.50", "balance", 60 * 24 * 10))
    paid = balance.order
    assert paid.status is OrderStatus.PAID
    assert paid.totals.paid == paid.totals.payable and paid.totals.due == Money("0", "CNY")
    assert paid.paid_at == T0 + timedelta(minutes=60 * 24 * 10)  # when it became fully paid
    assert not [e for e in balance.events if isinstance(e, PaymentShort | Overpaid)]


def test_an_overpayment_is_paid_held_for_review_and_names_the_excess() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    t = lifecycle.apply(_order(), _paying("250.00", "over"))
    assert t.order.status is OrderStatus.PAID
    (over,) = [e for e in t.events if isinstance(e, Overpaid)]
    assert over.excess == Money("26.50", "CNY")
    assert t.order.hold("payment_review") is not None  # no shipping until finance looks


def test_refund_of_everything_closes_the_order_and_stops_shipping() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    paid = lifecycle.apply(_order(), _paying("223.50", "pay")).order
    everything = Event("refund", event_id="r-all", at=T0 + timedelta(hours=1),
                       data={"amount": Money("223.50", "CNY")})  # no lines named
    t = lifecycle.apply(paid, everything)
    closed = t.order
    assert closed.status is OrderStatus.CLOSED
    assert all(line.quantities[LineStatus.REFUNDED] == line.quantity for line in closed.lines)
    (refunded,) = [e for e in t.events if isinstance(e, Refunded)]
    assert refunded.released == {"TEA": 2, "CUP": 1}  # the stock goes back
    with pytest.raises(TransitionNotAllowed):
        lifecycle.apply(closed, Event("ship", event_id="s", at=T0 + timedelta(hours=2),
                                      data={"carrier": "SF", "waybill": "SF1"}))
    # A money-only refund (part of the amount, no lines) moves no units.
    part = lifecycle.apply(paid, Event("refund", event_id="r-part", at=T0,
                                       data={"amount": Money("20.00", "CNY")})).order
    assert part.status is OrderStatus.PAID
    assert all(line.quantities[LineStatus.OPEN] == line.quantity for line in part.lines)


def _couponed() -> Order:
    """The tea order with a 20.00 order-level coupon and 8.00 shipping: 211.50 payable."""
    return attrs.evolve(
        _order(),
        adjustments=[
            Adjustment(AdjustmentKind.COUPON, Money("20.00", "CNY"), Bearer.PLATFORM),
            Adjustment(AdjustmentKind.SHIPPING, Money("8.00", "CNY"), Bearer.BUYER),
        ],
    )


def _identity_holds(order: Order) -> None:
    totals = order.totals
    assert totals.paid - totals.refunded - totals.refund_due + totals.due == totals.sold


def _stocked_service(tmp_path: Path, clock: ManualClock) -> tuple[OrderService, InventoryLedger]:
    db = tmp_path / "shop.db"
    ledger = InventoryLedger(SQLiteInventoryStore(db), secret=b"money-story-secret-0123456789",
                             clock=clock)
    ledger.receive("TEA", 10, reference="PO-1")
    ledger.receive("CUP", 4, reference="PO-1")
    service = OrderService(SQLiteOrderRepository(db), inventory=ledger, clock=clock,
                           lifecycle=Lifecycle(clock=clock))
    return service, ledger


def test_partial_cancel_after_payment_owes_the_buyer_exactly_the_cancelled_share(
    tmp_path: Path,
) -> None:
    clock = ManualClock(T0)
    service, ledger = _stocked_service(tmp_path, clock)
    service.place(_couponed())
    service.handle("ORD-1", _paying("211.50", "pay"))
    # The warehouse has no cup after all: cancel that line of the paid order.
    one_hour, two_hours = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    cut = service.handle("ORD-1", Event("cancel_lines", event_id="cut-cup", at=one_hour,
                                        data={"lines": {"2": 1}}))
    (cancelled,) = [e for e in cut.events if isinstance(e, LinesCancelled)]
    # 45.50 of goods, less its share of the coupon (20.00 spread by value: 4.07), and no
    # shipping (the tea still ships): the buyer is owed 41.43, to the fen.
    assert (cancelled.goods, cancelled.discounts, cancelled.shipping, cancelled.amount) == (
        Money("45.50", "CNY"), Money("4.07", "CNY"), Money("0.00", "CNY"), Money("41.43", "CNY")
    )
    (due,) = [e for e in cut.events if isinstance(e, RefundDue)]
    assert (due.amount, due.lines) == (Money("41.43", "CNY"), {"2": 1})
    order = cut.order
    assert order.status is OrderStatus.PAID  # the tea is still sold and ships
    assert order.totals.refund_due == Money("41.43", "CNY")
    assert order.totals.sold == Money("170.07", "CNY")
    assert ledger.stock("CUP").locked == 0 and ledger.stock("TEA").locked == 2
    _identity_holds(order)

    # Finance pays it back (a money-only refund): nothing is owed any more.
    paid_back = service.handle("ORD-1", Event("refund", event_id="refund-cup", at=two_hours,
                                              data={"amount": Money("41.43", "CNY")})).order
    assert paid_back.totals.refund_due == Money("0.00", "CNY")
    assert paid_back.adjustments == order.adjustments  # it paid a debt: no concession
    # The carrier's first scan proves the shipment: revenue is what is still sold.
    scan = Event("track", event_id="scan-1", at=T0 + timedelta(hours=5),
                 data={"status": "in_transit", "carrier_time": T0 + timedelta(hours=5),
                       "carrier": "SF", "waybill": "SF1"})
    shipped = service.handle("ORD-1", scan)
    (receivable,) = [e for e in shipped.events if isinstance(e, ReceivableDue)]
    assert receivable.amount == Money("170.07", "CNY")
    final = shipped.order
    assert final.totals.paid - final.totals.refunded == final.totals.sold
    _identity_holds(final)
    assert ledger.stock("TEA").on_hand == 8 and ledger.verify().ok


def test_seven_day_return_restocks_sellable_units_only(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    service, ledger = _stocked_service(tmp_path, clock)
    service.place(_couponed())
    day = timedelta(days=1)

    def handle(name: str, event_id: str, when: timedelta, **data: object) -> Order:
        clock.advance(timedelta(minutes=1))
        return service.handle("ORD-1", Event(name, event_id=event_id, at=T0 + when,
                                             data=data)).order

    handle("pay", "pay", timedelta(minutes=5), amount=Money("211.50", "CNY"))
    handle("ship", "ship", timedelta(hours=3), carrier="SF", waybill="SF1")
    delivered = handle("track", "signed", day, status="signed", carrier_time=T0 + day)
    assert delivered.status is OrderStatus.DELIVERED and delivered.delivered_at == T0 + day
    assert ledger.stock("TEA").on_hand == 8

    # Day 3: "7 days, no reason": both tins of tea go back.
    asked = handle("return_requested", "rma-1", 3 * day, lines={"1": 2})
    assert asked.after_sale is AfterSale.RETURN_REQUESTED
    # Day 5: they arrive; one tin is dented and cannot be sold again.
    back = service.handle("ORD-1", Event("return_received", event_id="wms-rx-1", at=T0 + 5 * day,
                                         data={"lines": {"1": 2}, "sellable": {"1": 1}}))
    (received,) = [e for e in back.events if isinstance(e, ReturnReceived)]
    assert (received.return_id, received.lines, received.restocked) == (
        "rma-1", {"1": 2}, {"TEA": 1}
    )
    (due,) = [e for e in back.events if isinstance(e, RefundDue)]
    assert due.amount == Money("162.07", "CNY")  # 178.00 of tea less its 15.93 of coupon
    order = back.order
    assert order.line("1").quantities[LineStatus.RETURNED] == 2
    assert order.after_sale is AfterSale.REFUND_DUE
    assert ledger.stock("TEA").on_hand == 9  # only the sellable tin is back for sale
    assert ledger.stock("TEA").available == 9
    again = service.handle("ORD-1", Event("return_received", event_id="wms-rx-1",
                                          at=T0 + 5 * day, data={"lines": {"1": 2}}))
    assert not again.changed and ledger.stock("TEA").on_hand == 9  # a redelivery: once

    refunded = handle("refund", "refund-1", 6 * day, amount=Money("162.07", "CNY"))
    assert refunded.after_sale is AfterSale.RETURNED
    assert refunded.status is OrderStatus.DELIVERED  # the cup was kept
    _identity_holds(refunded)
    assert refunded.totals.paid - refunded.totals.refunded == refunded.totals.sold == Money(
        "49.43", "CNY"
    )  # the cup, less its coupon share, plus the shipping that was spent

    # Day 9: the window (7 days after delivery, by the event's time) has closed.
    late = Event("return_requested", event_id="rma-2", at=T0 + 9 * day, data={"lines": {"2": 1}})
    with pytest.raises(TransitionNotAllowed):
        service.handle("ORD-1", late)
    entries = [e for e in ledger.entries() if e.kind is EntryKind.RESTOCK]
    assert [(e.sku, e.qty, e.order_id, e.reason) for e in entries] == [
        ("TEA", 1, "ORD-1", "return rma-1")  # the order and the return it came back on
    ]
    assert ledger.verify().ok
    level = ledger.stock("TEA")
    assert level.on_hand == level.available + level.locked == 10 - 2 + 1


def test_a_refund_reported_by_the_webhook_and_by_the_import_is_paid_back_once(
    tmp_path: Path,
) -> None:
    # The after-sales desk: the platform's refund of the cup (refund number
    # 221455667788990099) reaches the shop twice, once from the webhook receiver (keyed by
    # its own delivery id) and once from the refund CSV import, and the receiver retries.
    clock = ManualClock(T0)
    service, ledger = _stocked_service(tmp_path, clock)
    service.place(_couponed())
    service.handle("ORD-1", Event("pay", event_id="alipay-notify-1", at=T0, data={
        "amount": Money("211.50", "CNY"), "reference": "2026021622001401"}))
    refund = {"amount": Money("41.43", "CNY"), "lines": {"2": 1},
              "reference": "221455667788990099"}
    told = [service.handle("ORD-1", Event("refund", event_id=event_id, at=T0 + timedelta(hours=1),
                                          data=dict(refund)))
            for event_id in ("webhook-delivery-8812", "csv-import-2026-02-16-3",
                             "webhook-delivery-8813", "webhook-delivery-8812")]
    assert [len([e for e in t.events if isinstance(e, Refunded)]) for t in told] == [1, 0, 0, 0]
    assert [t.ignored is not None for t in told] == [False, True, True, False]
    order = told[-1].order
    assert order.totals.refunded == Money("41.43", "CNY")
    assert order.line("2").quantities[LineStatus.REFUNDED] == 1
    assert ledger.stock("CUP").locked == 0 and ledger.stock("CUP").available == 4
    _identity_holds(order)
    # The payment callback retried under a new notify id is not a second payment either.
    again = service.handle("ORD-1", Event("pay", event_id="alipay-notify-2", at=T0, data={
        "amount": Money("211.50", "CNY"), "reference": "2026021622001401"}))
    assert again.events == () and again.order.totals.paid == Money("211.50", "CNY")
    # Told with other money under that refund number, it is refused and writes nothing.
    with pytest.raises(IdempotencyConflict) as caught:
        service.handle("ORD-1", Event("refund", event_id="csv-import-2026-02-17-1",
                                      at=T0 + timedelta(days=1),
                                      data={**refund, "amount": Money("45.50", "CNY")}))
    assert caught.value.key == "221455667788990099"
    assert "41.43" in str(caught.value) and "45.50" in str(caught.value)
    assert service.repository.get("ORD-1") == again.order
    assert ledger.verify().ok


def test_a_refund_webhooked_as_money_only_gets_its_cup_from_the_import_with_no_new_money(
    tmp_path: Path,
) -> None:
    # The webhook receiver hears "refund 221455667788990099 of 41.43 succeeded" and
    # books the money alone; the next day's refund CSV import says it was the cup.
    clock = ManualClock(T0)
    service, ledger = _stocked_service(tmp_path, clock)
    service.place(_couponed())
    service.handle("ORD-1", _paying("211.50", "pay"))
    at = T0 + timedelta(hours=1)
    money = {"amount": Money("41.43", "CNY"), "reference": "221455667788990099"}
    webhook = service.handle("ORD-1", Event("refund", event_id="webhook-delivery-8812", at=at,
                                            data=dict(money)))
    assert [type(e).__name__ for e in webhook.events] == ["Refunded"]
    assert webhook.order.line("2").quantities[LineStatus.OPEN] == 1  # nothing named yet
    assert ledger.stock("CUP").locked == 1
    imported = [service.handle("ORD-1", Event("refund", event_id=event_id, at=at + timedelta(
        days=1), data={**money, "lines": {"2": 1}}))
        for event_id in ("csv-import-2026-02-17-3", "csv-import-2026-02-17-3",
                         "csv-import-2026-02-18-1")]
    assert [[type(e).__name__ for e in t.events] for t in imported] == [
        ["RefundLinesAssigned", "ReadyToShip"], [], []]  # the tea alone is left to pick
    assert [t.changed for t in imported] == [True, False, True]  # the last one: ignored
    order = service.repository.get("ORD-1")
    # As if the webhook had named the cup: the cup refunded for its 41.43, nothing
    # owed, no concession left on the tea, its stock free again.
    assert order.totals.refunded == Money("41.43", "CNY")
    assert order.totals.sold == Money("170.07", "CNY")
    assert order.refund_due == Money("0.00", "CNY")
    assert [a for a in order.adjustments if a.label.startswith("refund ")] == []
    assert order.line("2").quantities[LineStatus.REFUNDED] == 1
    (refund,) = [p for p in order.payments if p.reference == "221455667788990099"]
    assert (refund.payment_id, dict(refund.lines)) == ("webhook-delivery-8812", {"2": 1})
    assert ledger.stock("CUP").locked == 0 and ledger.stock("CUP").available == 4
    assert ledger.verify().ok
    _identity_holds(order)
