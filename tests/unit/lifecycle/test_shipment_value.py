"""Every shipment tells finance the value of what it sent (``LinesShipped.amount``).

A general-ledger booker fed by the sink alone recognised revenue only on the
``ReceivableDue`` of a carrier scan that forced SHIPPED: a warehouse ``ship`` and a cash
on delivery order shipped and delivered unpaid carried no amount at all. Now each
``LinesShipped`` carries the sold value of the units it sends (``goods``, their share of
``discounts``, ``shipping``, ``tax`` and a till's ``rounding``, and ``amount``; the first
parcel also carries the order's own shipping and rounding up), and ``LinesUnshipped``
the value it takes back, so that the values add up, part by part, to ``Order.totals``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit import Adjustment, AdjustmentKind, Money, Order, OrderLine, PaymentTerms
from orderkit.errors import OrderkitError
from orderkit.lifecycle import (
    DomainEvent,
    Event,
    Lifecycle,
    LinesCancelled,
    LinesShipped,
    LinesUnshipped,
    OrderCancelled,
    ReceivableDue,
    read_event,
)
from orderkit.outbox.messages import event_content
from orderkit.testing import ManualClock
from orderkit.testing.strategies import PRICED_LINE_IDS, priced_orders

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def cny(amount: str | int) -> Money:
    return Money.from_minor(amount, "CNY") if isinstance(amount, int) else Money(amount, "CNY")


def cup_order(**kwargs: Any) -> Order:
    charges = [Adjustment(AdjustmentKind.SHIPPING, cny("10.00")),
               Adjustment(AdjustmentKind.COMMISSION, cny("5.05"))]
    return Order("O", "shop", "1", [OrderLine("1", "CUP", 2, cny("45.50"))], T0,
                 adjustments=charges, **kwargs)


def test_a_warehouse_ship_carries_the_value_of_what_it_sent() -> None:
    life = Lifecycle(clock=ManualClock(T0))
    order = life.apply(cup_order(), Event("pay", event_id="p", at=T0,
                                          data={"amount": cny("101.00")})).order
    shipped = life.apply(order, Event("ship", event_id="s", at=T0,
                                      data={"carrier": "SF", "waybill": "SF1"})).events[0]
    assert isinstance(shipped, LinesShipped)
    assert (shipped.goods, shipped.discounts, shipped.shipping, shipped.tax, shipped.amount) == (
        cny("91.00"), cny("0.00"), cny("10.00"), cny("0.00"), cny("101.00"))


def test_a_cash_on_delivery_shipment_tells_the_value_the_carrier_collects() -> None:
    life = Lifecycle(clock=ManualClock(T0))
    cod = cup_order(payment_terms=PaymentTerms.ON_DELIVERY)
    moved = life.apply(cod, Event("ship", event_id="s", at=T0,
                                  data={"carrier": "jd", "waybill": "JD1"}))
    shipped = moved.events[0]
    assert isinstance(shipped, LinesShipped)
    assert shipped.amount == moved.order.totals.due == cny("101.00")


def test_parcels_split_a_lines_discount_exactly() -> None:
    # 10.00 off three units: 3.33 + 3.33 + 3.34 over three parcels, never 3 x 3.33.
    life = Lifecycle(clock=ManualClock(T0))
    order = Order("O", "shop", "1", [OrderLine("1", "TEA", 3, cny("10.00"))], T0,
                  adjustments=[Adjustment(AdjustmentKind.DISCOUNT, cny("10.00"), line_id="1")])
    order = life.apply(order, Event("pay", event_id="p", at=T0,
                                    data={"amount": cny("20.00")})).order
    amounts = []
    for n in range(3):
        moved = life.apply(order, Event("ship", event_id=f"s{n}", at=T0,
                                        data={"carrier": "SF", "waybill": f"SF{n}",
                                              "lines": {"1": 1}}))
        order = moved.order
        amounts.append(next(e for e in moved.events if isinstance(e, LinesShipped)).amount)
    assert sum(amounts, cny(0)) == order.totals.sold == cny("20.00")


def test_a_forced_scan_ships_the_value_its_receivable_names() -> None:
    life = Lifecycle(clock=ManualClock(T0))
    order = life.apply(cup_order(), Event("pay", event_id="p", at=T0,
                                          data={"amount": cny("101.00")})).order
    moved = life.apply(order, Event("track", event_id="t", at=T0,
                                    data={"status": "in_transit", "carrier_time": T0}))
    shipped = next(e for e in moved.events if isinstance(e, LinesShipped))
    due = next(e for e in moved.events if isinstance(e, ReceivableDue))
    assert shipped.forced and shipped.amount == due.amount == cny("101.00")


def test_a_payload_from_before_reads_back_without_the_values() -> None:
    from orderkit import from_dict

    old = {"order_id": "O", "event_id": "s", "at": T0.isoformat(), "shipment_id": "s",
           "waybill": "SF1", "lines": {"1": 2}, "skus": {"CUP": 2}, "forced": False}
    assert from_dict(LinesShipped, old).amount is None


SHIPPED_PARTS = ("goods", "discounts", "shipping", "tax", "rounding")


def till_receipt(rounding: str) -> Order:
    """Tea x3 and a cup, 10.00 off the receipt, 6.00 shipping and 3.21 tax, rounded by
    the till by ``rounding`` (down: spread over the lines; up: a charge of the order)."""
    return Order("POS-R", "pos", "R", [OrderLine("1", "TEA", 3, cny("49.99")),
                                       OrderLine("2", "CUP", 1, cny("19.99"))], T0,
                 adjustments=[Adjustment(AdjustmentKind.DISCOUNT, cny("10.00")),
                              Adjustment(AdjustmentKind.SHIPPING, cny("6.00")),
                              Adjustment(AdjustmentKind.TAX, cny("3.21")),
                              Adjustment(AdjustmentKind.ROUNDING, cny(rounding))])


@pytest.mark.parametrize("rounding", ["-0.08", "0.05"])
def test_a_rounded_orders_shipments_add_up_part_by_part_to_its_totals(rounding: str) -> None:
    life = Lifecycle(clock=ManualClock(T0))
    order = till_receipt(rounding)
    order = life.apply(order, Event("pay", event_id="p", at=T0,
                                    data={"amount": order.totals.payable})).order
    story = [  # a scan ships every open unit; the warehouse says its parcel held a tea
        Event("track", event_id="t", at=T0, data={"status": "in_transit",
                                                  "carrier_time": T0, "waybill": "YT1"}),
        Event("ship", event_id="s1", at=T0, data={"carrier": "YT", "waybill": "YT1",
                                                  "lines": {"1": 1}}),
        Event("ship", event_id="s2", at=T0, data={"carrier": "SF", "waybill": "SF2",
                                                  "lines": {"1": 1}}),
        Event("ship", event_id="s3", at=T0, data={"carrier": "SF", "waybill": "SF3"}),
    ]
    facts: list[DomainEvent] = []
    for event in story:
        moved = life.apply(order, event)
        order = moved.order
        facts.extend(e for e in moved.events if isinstance(e, LinesShipped | LinesUnshipped))
    assert [type(e).__name__ for e in facts] == [
        "LinesShipped", "LinesUnshipped", "LinesShipped", "LinesShipped"]
    for fact in facts:
        assert isinstance(fact, LinesShipped | LinesUnshipped)
        assert fact.rounding is not None
        assert fact.amount == (fact.goods - fact.discounts + fact.shipping + fact.tax
                               + fact.rounding)
    assert not order.open_units
    totals = order.totals
    for part in SHIPPED_PARTS:
        sent = sum((getattr(e, part) * (-1 if isinstance(e, LinesUnshipped) else 1)
                    for e in facts), cny(0))
        assert sent == getattr(totals, part), part
    assert totals.rounding == cny(rounding)


def test_a_payload_from_before_the_rounding_part_reads_back_without_it() -> None:
    value = {part: {"amount": "1.00", "currency": "CNY"}
             for part in ("goods", "discounts", "shipping", "tax", "amount")}
    old = {"order_id": "O", "event_id": "s", "at": T0.isoformat(), "shipment_id": "s",
           "waybill": "SF1", "lines": {"1": 2}, "skus": {"CUP": 2}, **value}
    for kind in ("LinesShipped", "LinesUnshipped"):
        fact = read_event({"type": kind, **old})
        assert isinstance(fact, LinesShipped | LinesUnshipped)
        assert fact.rounding is None and fact.amount == cny("1.00")


def test_a_shipments_payload_carries_its_rounding_and_reads_it_back() -> None:
    life = Lifecycle(clock=ManualClock(T0))
    order = till_receipt("-0.08")
    order = life.apply(order, Event("pay", event_id="p", at=T0,
                                    data={"amount": order.totals.payable})).order
    shipped = life.apply(order, Event("ship", event_id="s", at=T0, data={
        "carrier": "SF", "waybill": "SF1", "lines": {"2": 1}})).events[0]
    _topic, payload = event_content(shipped)
    assert payload["rounding"] == {"amount": "-0.01", "currency": "CNY"}
    assert read_event(payload) == shipped


# --- the values add up to the order's totals ------------------------------------------------


def test_a_price_changed_after_a_cancel_spreads_the_order_again_but_not_that_cancel() -> None:
    # What the cancels carry no longer adds up to the totals part by part: the earlier
    # cancel keeps the coupon and tax shares of its day, the later one takes its share of
    # them as spread again over the new price. Each cancel adds up to its own amount.
    life = Lifecycle(clock=ManualClock(T0))
    order = Order("O", "shop", "1", [OrderLine("1", "TEA", 1, cny("100.00")),
                                     OrderLine("2", "CUP", 1, cny("100.00"))], T0,
                  adjustments=[Adjustment(AdjustmentKind.TAX, cny("10.00")),
                               Adjustment(AdjustmentKind.COUPON, cny("20.00"))])
    facts: list[LinesCancelled | OrderCancelled] = []
    for name, data in [("cancel_lines", {"lines": {"1": 1}}),
                       ("change_price", {"line_id": "2", "unit_price": cny("50.00")}),
                       ("cancel", {})]:
        moved = life.apply(order, Event(name, event_id=name, at=T0, data=data))
        order = moved.order
        facts += [e for e in moved.events if isinstance(e, LinesCancelled | OrderCancelled)]
    assert [(f.goods, f.discounts, f.tax, f.amount) for f in facts] == [
        (cny("100.00"), cny("10.00"), cny("5.00"), cny("95.00")),
        (cny("50.00"), cny("6.67"), cny("3.33"), cny("46.66")),
    ]
    for fact in facts:
        assert fact.amount == (fact.goods - fact.discounts + fact.shipping + fact.tax
                               + fact.rounding)
    totals = order.totals
    assert (totals.goods, totals.discounts, totals.tax, totals.payable) == (
        cny("150.00"), cny("20.00"), cny("10.00"), cny("140.00"))



units = st.dictionaries(st.sampled_from(PRICED_LINE_IDS), st.integers(1, 3), min_size=1, max_size=2)
steps = st.lists(st.one_of(
    st.tuples(st.just("ship"), st.one_of(st.none(), units)),
    st.tuples(st.just("ship_scanned"), units),  # the warehouse tells the scanned parcel
    st.tuples(st.just("cancel_lines"), units),
    st.tuples(st.just("track"), st.none()),
    st.tuples(st.just("refund"), st.none()),  # what is owed back, as money only
    st.tuples(st.just("cancel"), st.none()),
    # a line's new unit price, in fen (0.00 to 99.99): a cut or a raise
    st.tuples(st.just("change_price"), st.dictionaries(
        st.sampled_from(PRICED_LINE_IDS), st.integers(0, 9999), min_size=1, max_size=1)),
), max_size=8)


def _event(order: Order, n: int, name: str, lines: dict[str, int] | None) -> Event:
    at = T0 + timedelta(hours=n)
    data: dict[str, Any]
    if name in ("ship", "ship_scanned"):
        data = {"carrier": "SF", "waybill": "YT1" if name == "ship_scanned" else f"SF{n}"}
        if lines is not None:
            data["lines"] = lines
        name = "ship"
    elif name == "track":
        data = {"status": "in_transit", "carrier_time": at, "waybill": "YT1"}
    elif name == "refund":
        data = {"amount": order.refund_due}
    elif name == "cancel_lines":
        data = {"lines": lines}
    elif name == "change_price":
        assert lines is not None
        ((line_id, fen),) = lines.items()
        data = {"line_id": line_id, "unit_price": cny(f"{fen // 100}.{fen % 100:02d}")}
    else:
        data = {}
    return Event(name, event_id=f"e{n}", at=at, data=data)


@settings(max_examples=150, deadline=None)
@given(priced_orders(rounding=True), st.booleans(), steps)
def test_the_values_events_carry_add_up_to_the_totals(
    order: Order, pay: bool, story: list[tuple[str, dict[str, int] | None]]
) -> None:
    life = Lifecycle(clock=ManualClock(T0))
    events: list[DomainEvent] = []
    if pay or order.payment_terms is PaymentTerms.PREPAID:
        order = life.apply(order, Event("pay", event_id="p", at=T0,
                                        data={"amount": order.totals.payable})).order
    story = [*story, ("ship", None)]  # whatever is still open ships at the end
    left = repriced_after_leaving = False
    for n, (name, lines) in enumerate(story, start=1):
        try:
            moved = life.apply(order, _event(order, n, name, lines))
        except OrderkitError:
            continue
        order = moved.order
        events.extend(moved.events)
        repriced_after_leaving |= left and name == "change_price"
        left |= any(isinstance(e, LinesShipped | LinesCancelled | OrderCancelled)
                    for e in moved.events)
    zero = cny(0)
    shipped = sum((e.amount for e in events if isinstance(e, LinesShipped) and e.amount),
                  zero)
    unshipped = sum((e.amount for e in events if isinstance(e, LinesUnshipped) and e.amount),
                    zero)
    cancelled = sum((e.amount for e in events
                     if isinstance(e, LinesCancelled | OrderCancelled)), zero)
    for e in events:
        if isinstance(e, LinesShipped | LinesUnshipped):
            assert e.amount is not None and e.goods is not None
            assert e.discounts is not None and e.shipping is not None and e.tax is not None
            assert e.rounding is not None
            assert e.amount == e.goods - e.discounts + e.shipping + e.tax + e.rounding
        if isinstance(e, LinesCancelled | OrderCancelled):
            assert e.goods is not None and e.discounts is not None
            assert e.shipping is not None and e.tax is not None
            assert e.amount == e.goods - e.discounts + e.shipping + e.tax + e.rounding
    # The shipments and cancels carry the order's totals only when no price changed
    # after a unit left: a change_price spreads discounts, tax and rounding again, and
    # what left before keeps its old shares (see the test above).
    if not order.open_units and not repriced_after_leaving:
        assert shipped - unshipped == order.totals.sold
        assert shipped - unshipped + cancelled == order.totals.payable
        # part by part, the shipments and the cancels carry the whole order
        for part in SHIPPED_PARTS:
            carried = sum((getattr(e, part) * (-1 if isinstance(e, LinesUnshipped) else 1)
                           for e in events if isinstance(e, LinesShipped | LinesUnshipped
                                                         | LinesCancelled | OrderCancelled)),
                          zero)
            assert carried == getattr(order.totals, part), part
    if not order.open_units:
        # part by part, the value of the units shipped and still sold
        for part in SHIPPED_PARTS:
            sent = sum((getattr(e, part) * (-1 if isinstance(e, LinesUnshipped) else 1)
                        for e in events if isinstance(e, LinesShipped | LinesUnshipped)),
                       zero)
            assert sent == getattr(order.sold_value, part), part
    forced = [e for e in events if isinstance(e, LinesShipped) and e.forced]
    receivable = [e for e in events if isinstance(e, ReceivableDue)]
    assert [e.amount for e in forced] == [e.amount for e in receivable]
