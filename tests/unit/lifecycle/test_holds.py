"""Holds against the warehouse's events: a partly shipped order held before its last
units go, a hold that stops the pack, a parcel reported twice, a parcel that left
before the hold was placed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from orderkit.lifecycle import Event, Lifecycle
from orderkit.model.errors import TransitionNotAllowed
from orderkit.model.money import Money
from orderkit.model.orders import (
    Address,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    PaymentTerms,
)
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def new_order() -> Order:
    return Order(
        order_id="ORD-1",
        channel="tmall",
        channel_order_id="T-ORD-1",
        lines=[
            OrderLine("L1", "TEA", 5, Money("10.00", "CNY")),
            OrderLine("L2", "JADE", 2, Money("25.00", "CNY")),
        ],
        created_at=T0,
        ship_to=Address(name="张*", province="浙江省", city="杭州市"),
    )


class Flow:
    """An order and a lifecycle; each event is dated ``at`` (default: the clock)."""

    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.lifecycle = Lifecycle(clock=self.clock)
        self.order = new_order()
        self.count = 0

    def event(self, name: str, data: dict[str, Any] | None = None, *,
              at: datetime | None = None, event_id: str | None = None) -> Event:
        self.count += 1
        return Event(name, event_id=event_id or f"E{self.count}", at=at or self.clock.now(),
                     data=data)

    def send(self, name: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        transition = self.lifecycle.apply(self.order, self.event(name, data, **kw))
        self.order = transition.order
        return transition

    def paid(self) -> Flow:
        self.send("pay", {"amount": Money("100.00", "CNY")})
        return self

    def tea_first(self) -> Flow:
        """Paid; the tea went out, the jade was back-ordered."""
        self.paid().send("ship", {"carrier": "SF", "waybill": "SF1", "lines": {"L1": 5}})
        return self


def open_units(order: Order) -> dict[str, int]:
    return {line.line_id: line.quantities[LineStatus.OPEN] for line in order.lines
            if line.quantities[LineStatus.OPEN]}


# --- a partly shipped order ---------------------------------------------------------------


def test_a_partly_shipped_order_is_held_and_its_hold_stops_the_last_units() -> None:
    flow = Flow().tea_first()
    held = flow.send("hold", {"kind": "second_check", "reason": "check before shipping: JADE"})
    assert held.order.status is OrderStatus.SHIPPED
    assert [h.kind for h in held.order.holds] == ["second_check"]
    with pytest.raises(TransitionNotAllowed) as refused:
        flow.send("ship", {"carrier": "SF", "waybill": "SF2"})
    assert "second_check" in refused.value.reason
    assert open_units(flow.order) == {"L2": 2}
    flow.send("release_hold", {"kind": "second_check"})
    shipped = flow.send("ship", {"carrier": "SF", "waybill": "SF2"})
    assert shipped.order.status is OrderStatus.SHIPPED and open_units(shipped.order) == {}


def test_a_fully_shipped_order_still_takes_no_hold() -> None:
    flow = Flow().paid()
    flow.send("ship", {"carrier": "SF", "waybill": "SF1"})
    with pytest.raises(TransitionNotAllowed) as refused:
        flow.send("hold", {"kind": "manual"})
    assert "nothing is left to ship" in refused.value.reason
    assert flow.order.holds == ()


# --- a hold stops the pack ----------------------------------------------------------------


def test_a_held_order_is_not_packed() -> None:
    flow = Flow().paid()
    flow.send("hold", {"kind": "address_review", "reason": "buyer asked to change address"})
    with pytest.raises(TransitionNotAllowed) as refused:
        flow.send("pack")
    assert "address_review" in refused.value.reason
    assert flow.order.status is OrderStatus.PAID
    flow.send("change_address", {"address": Address(name="张*", province="浙江省",
                                                    city="宁波市", street="中山路1号")})
    flow.send("release_hold", {"kind": "address_review"})
    assert flow.send("pack").order.status is OrderStatus.PACKED


def test_a_held_cash_on_delivery_order_is_not_packed() -> None:
    flow = Flow()
    flow.order = attrs.evolve(flow.order, payment_terms=PaymentTerms.ON_DELIVERY)
    flow.send("hold", {"kind": "manual"})
    with pytest.raises(TransitionNotAllowed) as refused:
        flow.send("pack")
    assert "manual" in refused.value.reason
    flow.send("release_hold", {"kind": "manual"})
    assert flow.send("pack").order.status is OrderStatus.PACKED


# --- a parcel reported twice --------------------------------------------------------------


def test_a_parcel_reported_again_under_a_fresh_id_is_ignored() -> None:
    """A WMS retries its ship callback for SF1 (1 of 5 tins) with a new event id: one
    parcel, booked once."""
    flow = Flow().paid()
    parcel = {"carrier": "SF", "waybill": "SF1", "lines": {"L1": 1}}
    flow.send("ship", parcel, event_id="wms-ship-1")
    again = flow.send("ship", parcel, event_id="wms-ship-2")
    assert again.ignored is not None and "SF1" in again.ignored
    assert again.events == () and again.audit[0].outcome == "ignored"
    assert open_units(again.order) == {"L1": 4, "L2": 2}
    assert [s.waybill for s in again.order.shipments] == ["SF1"]
    # Held meanwhile, the repeat is still a repeat: ignored, not refused.
    flow.send("hold", {"kind": "manual"})
    assert flow.send("ship", parcel, event_id="wms-ship-3").ignored is not None


def test_a_second_parcel_ships_under_another_waybill_or_with_other_lines() -> None:
    flow = Flow().paid()
    flow.send("ship", {"carrier": "SF", "waybill": "SF1", "lines": {"L1": 1}})
    other = flow.send("ship", {"carrier": "SF", "waybill": "SF2", "lines": {"L1": 1}})
    assert other.ignored is None and open_units(other.order) == {"L1": 3, "L2": 2}
    # One waybill for two parcels of the order (SF's multi-piece 子母件, JD's packages
    # of one waybill, reported by the master number): other lines are another parcel.
    more = flow.send("ship", {"carrier": "SF", "waybill": "SF1", "lines": {"L1": 1, "L2": 2}})
    assert more.ignored is None and open_units(more.order) == {"L1": 2}
    assert [s.waybill for s in more.order.shipments] == ["SF1", "SF2", "SF1"]


# --- a parcel that left before the hold ---------------------------------------------------


def test_a_ship_dated_before_the_hold_ships_whichever_arrives_first() -> None:
    """The parcel left at 10:30; customer service held the order at 11:00; the WMS
    reported the ship at 11:30. The goods left before the hold existed."""
    ship = {"carrier": "SF", "waybill": "SF1"}
    hold = {"kind": "manual", "reason": "buyer called"}
    outcomes = []
    for first in ("ship", "hold"):
        flow = Flow().paid()
        flow.send("pack", at=T0 + HOUR)
        events = {"ship": flow.event("ship", ship, at=T0 + 1.5 * HOUR, event_id="sA"),
                  "hold": flow.event("hold", hold, at=T0 + 2 * HOUR, event_id="hA")}
        for name in (first, "hold" if first == "ship" else "ship"):
            try:
                flow.order = flow.lifecycle.apply(flow.order, events[name]).order
            except TransitionNotAllowed:
                assert (first, name) == ("ship", "hold")  # nothing was left to hold
        outcomes.append((flow.order.status, flow.order.lines, flow.order.shipments))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] is OrderStatus.SHIPPED
    # Hold first: the hold stays on record, and the ship's audit says the parcel had left.
    assert [h.kind for h in flow.order.holds] == ["manual"]


def test_the_ship_of_a_parcel_that_left_before_the_hold_says_so() -> None:
    flow = Flow().paid()
    flow.send("hold", {"kind": "manual"}, at=T0 + 2 * HOUR)
    shipped = flow.send("ship", {"carrier": "SF", "waybill": "SF1", "lines": {"L1": 5}},
                        at=T0 + HOUR)
    (entry,) = shipped.audit
    assert ("left_before_hold", "", "manual@" + (T0 + 2 * HOUR).isoformat()) in entry.changes
    # The units still open wait for the hold: a ship dated after it is refused.
    with pytest.raises(TransitionNotAllowed) as refused:
        flow.send("ship", {"carrier": "SF", "waybill": "SF2"}, at=T0 + 3 * HOUR)
    assert "manual" in refused.value.reason
    # A hold placed at the very time of the ship stops it (the hold wins a tie).
    with pytest.raises(TransitionNotAllowed):
        flow.send("ship", {"carrier": "SF", "waybill": "SF2"}, at=T0 + 2 * HOUR)


def test_the_ship_of_a_parcel_the_carrier_scanned_first_names_a_later_hold_too() -> None:
    flow = Flow().tea_first()
    flow.send("track", {"status": "in_transit", "carrier_time": T0 + HOUR, "waybill": "SF2",
                        "carrier": "SF"}, at=T0 + HOUR)  # the carrier scans SF2 first
    flow.send("hold", {"kind": "manual"}, at=T0 + 2 * HOUR)
    shipped = flow.send("ship", {"carrier": "SF", "waybill": "SF2", "lines": {"L2": 2}},
                        at=T0 + HOUR + HOUR / 2)
    (entry,) = shipped.audit
    assert ("left_before_hold", "", "manual@" + (T0 + 2 * HOUR).isoformat()) in entry.changes
    assert [s.waybill for s in shipped.order.shipments] == ["SF1", "SF2"]


def test_a_pack_dated_before_the_hold_is_taken() -> None:
    flow = Flow().paid()
    flow.send("hold", {"kind": "address_review"}, at=T0 + 2 * HOUR)
    assert flow.send("pack", at=T0 + HOUR).order.status is OrderStatus.PACKED
