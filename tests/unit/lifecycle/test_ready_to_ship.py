"""A warehouse system picks from the outbox alone: the engine tells it when an order may
ship (``ReadyToShip``) and when it no longer may (``NotReadyToShip``), judged from the
order before and after each decision.

Before, a WMS consuming the domain events had to re-implement the lifecycle's rules
(paid in full or cash on delivery, no hold, units still open, a status a ``ship``
leaves) from ``PaymentReceived``, ``HoldPlaced``, ``LinesCancelled``... to know what to
pick, and no event said that a partly shipped order's last units became shippable
again after a hold was released.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit import Address, Hold, Money, Order, OrderLine, OrderStatus, PaymentTerms
from orderkit.errors import ValidationError
from orderkit.lifecycle import (
    DEFAULT_TABLE,
    DOMAIN_EVENTS,
    DomainEvent,
    Event,
    Lifecycle,
    NotReadyReason,
    NotReadyToShip,
    OrderService,
    ReadyToShip,
    Transition,
    may_ship,
    read_event,
)
from orderkit.outbox.messages import event_content
from orderkit.testing import ManualClock
from orderkit.testing.strategies import addresses, aware_datetimes

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
HOME = Address(name="张*", province="浙江省", city="杭州市")
OFFICE = Address(name="张*", province="浙江省", city="宁波市", street="中山路1号")


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def new_order(**fields: Any) -> Order:
    return Order(**{
        "order_id": "ORD-1", "channel": "tmall", "channel_order_id": "T-1",
        "lines": [OrderLine("L1", "TEA", 3, cny("10.00")),
                  OrderLine("L2", "CUP", 1, cny("20.00"))],
        "created_at": T0, "ship_to": HOME, **fields,
    })


class Flow:
    """An order and a lifecycle; each event is dated by the clock, which moves on."""

    def __init__(self, order: Order | None = None, lifecycle: Lifecycle | None = None) -> None:
        self.clock = ManualClock(T0)
        self.lifecycle = lifecycle or Lifecycle(clock=self.clock)
        self.order = order or new_order()
        self.count = 0

    def send(self, name: str, data: dict[str, Any] | None = None) -> Transition:
        self.count += 1
        self.clock.advance(HOUR)
        event = Event(name, event_id=f"E{self.count}", at=self.clock.now(), data=data)
        transition = self.lifecycle.apply(self.order, event)
        self.order = transition.order
        return transition

    def pay(self, amount: str = "50.00") -> Transition:
        return self.send("pay", {"amount": cny(amount)})

    def ship(self, waybill: str, lines: dict[str, int] | None = None) -> Transition:
        data: dict[str, Any] = {"carrier": "SF", "waybill": waybill}
        if lines is not None:
            data["lines"] = lines
        return self.send("ship", data)


def picks(transition: Transition) -> list[DomainEvent]:
    return [e for e in transition.events if isinstance(e, ReadyToShip | NotReadyToShip)]


def ready(transition: Transition) -> ReadyToShip:
    [fact] = picks(transition)
    assert isinstance(fact, ReadyToShip)
    return fact


def stopped(transition: Transition) -> NotReadyToShip:
    [fact] = picks(transition)
    assert isinstance(fact, NotReadyToShip)
    return fact


# --- becoming shippable ----------------------------------------------------------------------


def test_a_payment_in_full_makes_the_order_ready_with_its_whole_pick() -> None:
    flow = Flow()
    paid = flow.pay()
    fact = ready(paid)
    assert (fact.lines, fact.skus, fact.ship_to) == ({"L1": 3, "L2": 1}, {"TEA": 3, "CUP": 1},
                                                      HOME)
    assert fact.ship_due_at == flow.order.paid_at == T0 + HOUR
    assert fact.promised_at is None
    assert (fact.order_id, fact.event_id, fact.occurred_at) == ("ORD-1", "E1", T0 + HOUR)
    assert paid.events[-1] is fact  # after the payment's own facts
    assert may_ship(flow.order, flow.clock.now())


def test_a_short_payment_is_not_ready_and_the_balance_makes_it_so() -> None:
    flow = Flow()
    assert picks(flow.pay("20.00")) == []
    assert not may_ship(flow.order, flow.clock.now())
    assert ready(flow.pay("30.00")).lines == {"L1": 3, "L2": 1}


def test_a_presale_is_due_from_its_ship_from_day_and_carries_its_promise() -> None:
    presale = new_order(tags={"presale", "ship_from:2026-03-20",
                              "promise:2026-03-22T10:00:00+08:00"})
    flow = Flow(presale)
    assert picks(flow.pay("20.00")) == []  # the deposit
    fact = ready(flow.pay("30.00"))  # the balance
    # The start of the ship-from day in Shanghai, as the wave and the watch read it.
    assert fact.ship_due_at == datetime(2026, 3, 19, 16, 0, tzinfo=UTC)
    assert fact.promised_at == datetime(2026, 3, 22, 2, 0, tzinfo=UTC)


def test_a_presale_is_due_from_its_ship_from_day_in_the_zone_it_is_given() -> None:
    """The zone the ship-from day begins in is the caller's (``OrderService`` passes
    its repository's ``ship_from_tz``); a zone that is none is refused before anything
    is decided."""
    presale = new_order(tags={"presale", "ship_from:2026-03-20"})
    pay = Event("pay", event_id="p1", at=T0, data={"amount": cny("50.00")})
    lifecycle = Lifecycle(clock=ManualClock(T0 + HOUR))
    fact = ready(lifecycle.apply(presale, pay, ship_from_tz="America/Los_Angeles"))
    assert fact.ship_due_at == datetime(2026, 3, 20, 7, 0, tzinfo=UTC)  # PDT
    for bad in ("Mars/Olympus", "", None):
        with pytest.raises(ValidationError) as refused:
            lifecycle.apply(presale, pay, ship_from_tz=bad)  # type: ignore[arg-type]
        assert (refused.value.path, refused.value.value) == ("ship_from_tz", bad)


def test_an_unreadable_promise_tag_is_left_out_not_refused() -> None:
    flow = Flow(new_order(tags={"promise:2026-03-22T10:00:00"}))  # no offset
    assert ready(flow.pay()).promised_at is None


def test_an_overpaid_order_is_held_for_review_and_ready_once_released() -> None:
    flow = Flow()
    paid = flow.pay("60.00")
    assert picks(paid) == []
    released = flow.send("release_hold", {"kind": "payment_review"})
    assert ready(released).lines == {"L1": 3, "L2": 1}


def test_cash_on_delivery_is_ready_unpaid_and_due_from_its_placing() -> None:
    flow = Flow(new_order(payment_terms=PaymentTerms.ON_DELIVERY))
    assert may_ship(flow.order, T0)
    moved = flow.send("change_address", {"address": OFFICE})
    fact = ready(moved)
    assert (fact.ship_to, fact.ship_due_at) == (OFFICE, T0)


# --- what it may ship changes while shippable ------------------------------------------------


def test_a_partial_cancel_shrinks_the_pick_after_the_money_owed_back() -> None:
    flow = Flow()
    flow.pay()
    cut = flow.send("cancel_lines", {"lines": {"L1": 1}})
    assert [type(e).__name__ for e in cut.events] == ["LinesCancelled", "RefundDue",
                                                      "ReadyToShip"]
    assert (ready(cut).lines, ready(cut).skus) == ({"L1": 2, "L2": 1}, {"TEA": 2, "CUP": 1})


def test_a_refund_of_an_open_unit_shrinks_the_pick() -> None:
    flow = Flow()
    flow.pay()
    back = flow.send("refund", {"amount": cny("20.00"), "lines": {"L2": 1}})
    assert ready(back).lines == {"L1": 3}


def test_each_parcel_of_a_split_order_leaves_the_rest_ready_and_the_last_says_nothing() -> None:
    flow = Flow()
    flow.pay()
    first = flow.ship("SF1", {"L1": 2})
    assert (ready(first).lines, ready(first).skus) == ({"L1": 1, "L2": 1}, {"TEA": 1, "CUP": 1})
    assert flow.order.status is OrderStatus.SHIPPED
    assert may_ship(flow.order, flow.clock.now())
    last = flow.ship("SF2")
    assert picks(last) == []  # its LinesShipped tells the WMS the rest left
    assert not may_ship(flow.order, flow.clock.now())


def test_the_second_parcel_shrinks_the_pick() -> None:
    flow = Flow()
    flow.pay()
    flow.ship("SF1", {"L1": 2})
    assert ready(flow.ship("SF2", {"L2": 1})).lines == {"L1": 1}


def test_an_address_change_while_ready_carries_the_new_ship_to() -> None:
    flow = Flow()
    flow.pay()
    moved = flow.send("change_address", {"address": OFFICE})
    assert [type(e).__name__ for e in moved.events] == ["AddressChanged", "ReadyToShip"]
    assert ready(moved).ship_to == OFFICE


def test_an_address_change_before_payment_says_nothing() -> None:
    assert picks(Flow().send("change_address", {"address": OFFICE})) == []


def test_a_pack_changes_nothing_a_warehouse_picks() -> None:
    flow = Flow()
    flow.pay()
    assert picks(flow.send("pack")) == []
    assert may_ship(flow.order, flow.clock.now())


def test_units_a_scan_assumed_shipped_are_ready_again_when_the_ship_names_fewer() -> None:
    flow = Flow()
    flow.pay()
    scanned = flow.send("track", {"status": "in_transit", "carrier_time": flow.clock.now(),
                                  "waybill": "YT1"})
    assert picks(scanned) == []  # every open unit left with the parcel
    told = flow.ship("YT1", {"L1": 3})
    assert [type(e).__name__ for e in told.events] == ["LinesUnshipped", "ReadyToShip"]
    assert ready(told).lines == {"L2": 1}


# --- no longer shippable ---------------------------------------------------------------------


def test_a_hold_takes_it_off_the_pick_list_and_its_release_puts_it_back() -> None:
    flow = Flow()
    flow.pay()
    held = flow.send("hold", {"kind": "address_review", "reason": "buyer called"})
    fact = stopped(held)
    assert (fact.reason, fact.holds, fact.status) == ("held", ("address_review",), 20)
    assert (fact.lines, fact.skus) == ({"L1": 3, "L2": 1}, {"TEA": 3, "CUP": 1})
    assert not may_ship(flow.order, flow.clock.now())
    moved = flow.send("change_address", {"address": OFFICE})
    assert picks(moved) == []  # held: nothing to pick
    released = flow.send("release_hold", {"kind": "address_review"})
    assert (ready(released).lines, ready(released).ship_to) == ({"L1": 3, "L2": 1}, OFFICE)


def test_a_second_hold_on_a_held_order_says_nothing() -> None:
    flow = Flow()
    flow.pay()
    flow.send("hold", {"kind": "manual"})
    assert picks(flow.send("hold", {"kind": "near_expiry"})) == []
    assert picks(flow.send("release_hold", {"kind": "manual"})) == []  # still held
    assert ready(flow.send("release_hold", {"kind": "near_expiry"})).lines


def test_a_partly_shipped_order_held_before_its_last_units() -> None:
    flow = Flow()
    flow.pay()
    flow.ship("SF1", {"L1": 3})
    fact = stopped(flow.send("hold", {"kind": "second_check"}))
    assert (fact.reason, fact.status, fact.lines) == ("held", 30, {"L2": 1})


def test_a_cancel_takes_it_off_naming_the_units() -> None:
    flow = Flow()
    flow.pay()
    fact = stopped(flow.send("cancel"))
    assert fact.reason == NotReadyReason.CANCELLED == "cancelled"
    assert (fact.status, fact.holds, fact.lines) == (90, (), {"L1": 3, "L2": 1})


def test_the_rest_of_a_partly_shipped_order_cancelled() -> None:
    flow = Flow()
    flow.pay()
    flow.ship("SF1", {"L1": 3})
    fact = stopped(flow.send("cancel_lines", {"lines": {"L2": 1}}))
    assert (fact.reason, fact.status, fact.skus) == ("cancelled", 30, {"CUP": 1})


def test_a_refund_of_everything_takes_it_off() -> None:
    flow = Flow()
    flow.pay()
    fact = stopped(flow.send("refund", {"amount": cny("50.00")}))
    assert (fact.reason, fact.status) == ("refunded", 95)


def test_a_move_to_a_status_no_ship_leaves_takes_it_off_and_back() -> None:
    reviewed = DEFAULT_TABLE.extend(
        [(20, "submit_review", 22), (22, "approve_review", 20), (22, "cancel", 90)],
        statuses={22: "AWAITING_REVIEW"}, events={"submit_review", "approve_review"})
    flow = Flow(lifecycle=Lifecycle(reviewed))
    flow.pay()
    fact = stopped(flow.send("submit_review"))
    assert (fact.reason, fact.status) == ("status", 22)
    assert not may_ship(flow.order, flow.clock.now(), table=reviewed)
    assert ready(flow.send("approve_review")).lines == {"L1": 3, "L2": 1}


def test_a_full_shipment_needs_no_word() -> None:
    flow = Flow()
    flow.pay()
    shipped = flow.ship("SF1")
    assert [type(e).__name__ for e in shipped.events] == ["LinesShipped", "StatusChanged"]


# --- replays and ignored events ---------------------------------------------------------------


def test_a_replay_and_an_ignored_event_emit_nothing() -> None:
    flow = Flow()
    paid = flow.pay()
    event = Event("pay", event_id="E1", at=T0 + HOUR, data={"amount": cny("50.00")})
    assert flow.lifecycle.apply(flow.order, event).events == ()
    flow.ship("SF1", {"L1": 1})
    late = flow.send("pay", {"amount": cny("50.00")})  # stale after shipment
    assert late.ignored is not None and late.events == ()
    assert ready(paid)


# --- the payloads ------------------------------------------------------------------------------


def test_both_facts_travel_as_outbox_payloads_and_read_back() -> None:
    flow = Flow(new_order(tags={"promise:2026-03-22T10:00:00+08:00"}))
    fact = ready(flow.pay())
    topic, payload = event_content(fact)
    assert topic == "event.ReadyToShip"
    assert payload["ship_to"]["city"] == "杭州市"
    assert payload["ship_due_at"] == (T0 + HOUR).isoformat()
    assert read_event(payload) == fact
    gone = stopped(flow.send("hold", {"kind": "manual"}))
    topic, payload = event_content(gone)
    assert (topic, payload["reason"], payload["holds"]) == ("event.NotReadyToShip", "held",
                                                             ["manual"])
    assert read_event(payload) == gone
    assert {"ReadyToShip", "NotReadyToShip"} <= set(DOMAIN_EVENTS)


_ids = st.text("ABC123-:", min_size=1, max_size=8)
_units = st.dictionaries(_ids, st.integers(1, 10**6), max_size=3)


@given(fact=st.one_of(
    st.builds(ReadyToShip, _ids, _ids, aware_datetimes(), _units, _units,
              st.none() | addresses(), aware_datetimes(), st.none() | aware_datetimes(),
              occurred_at=aware_datetimes()),
    st.builds(NotReadyToShip, _ids, _ids, aware_datetimes(),
              st.sampled_from([r.value for r in NotReadyReason]), _units, _units,
              st.integers(1, 999), st.lists(_ids, max_size=3).map(tuple),
              occurred_at=aware_datetimes()),
))
def test_any_such_fact_survives_json_and_reads_back(fact: DomainEvent) -> None:
    topic, payload = event_content(fact)
    assert topic == f"event.{type(fact).__name__}"
    assert read_event(json.loads(json.dumps(payload))) == fact


def test_a_payload_without_a_promise_or_an_address_reads_back() -> None:
    payload = {"type": "ReadyToShip", "order_id": "O", "event_id": "p",
               "at": T0.isoformat(), "lines": {"1": 1}, "skus": {"TEA": 1}, "ship_to": None,
               "ship_due_at": T0.isoformat()}
    fact = read_event(payload)
    assert isinstance(fact, ReadyToShip)
    assert (fact.ship_due_at, fact.promised_at, fact.ship_to) == (T0, None, None)


def test_a_bad_payload_is_refused_naming_the_field() -> None:
    payload = {"type": "NotReadyToShip", "order_id": "O", "event_id": "h",
               "at": T0.isoformat(), "reason": "held", "lines": {"1": "x"}, "skus": {},
               "status": 20}
    with pytest.raises(ValidationError) as refused:
        read_event(payload)
    assert refused.value.path.startswith("payload.lines")


# --- may_ship's own input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "path"),
    [
        (("ORD-1", T0), {}, "order"),
        ((new_order(), datetime(2026, 3, 2)), {}, "at"),
        ((new_order(), "2026-03-02"), {}, "at"),
        ((new_order(), T0), {"table": {}}, "table"),
    ],
)
def test_may_ship_refuses_bad_input_naming_it(args: tuple[Any, ...], kwargs: dict[str, Any],
                                              path: str) -> None:
    with pytest.raises(ValidationError) as refused:
        may_ship(*args, **kwargs)
    assert refused.value.path == path


# --- placement ---------------------------------------------------------------------------------


class ListSink:
    def __init__(self) -> None:
        self.published: list[Any] = []

    def publish(self, events: Any) -> None:
        self.published.extend(events)


def test_an_order_placed_able_to_ship_is_ready_from_its_placement(
    stores: tuple[Any, Any],
) -> None:
    """No event of its own tells a warehouse of a cash on delivery order, or of an order
    imported paid: the placement writes its ReadyToShip."""
    repository, _store = stores
    sink = ListSink()
    service = OrderService(repository, sink=sink, clock=ManualClock(T0 + HOUR))
    service.place(new_order(order_id="COD", channel_order_id="T-COD",
                            payment_terms=PaymentTerms.ON_DELIVERY))
    service.place(new_order(order_id="PAID", channel_order_id="T-PAID",
                            status=OrderStatus.PAID))
    service.place(new_order(order_id="UNPAID", channel_order_id="T-UNPAID"))
    service.place(new_order(order_id="HELD", channel_order_id="T-HELD", status=OrderStatus.PAID,
                            holds=[Hold("manual", "cs-1", T0)]))
    facts = [read_event(m.payload) for m in sink.published]
    assert [(type(f).__name__, f.order_id, f.event_id) for f in facts] == [
        ("ReadyToShip", "COD", "placed:COD"), ("ReadyToShip", "PAID", "placed:PAID")]
    cod, paid = facts
    assert isinstance(cod, ReadyToShip) and isinstance(paid, ReadyToShip)
    assert (cod.lines, cod.ship_to, cod.ship_due_at, cod.at) == (
        {"L1": 3, "L2": 1}, HOME, T0, T0 + HOUR)
    assert paid.ship_due_at == repository.get("PAID").paid_at == T0
    # What comes next is told by the events applied to it.
    t = service.handle("COD", Event("cancel_lines", event_id="c", at=T0 + HOUR,
                                    data={"lines": {"L2": 1}}))
    assert ready(t).lines == {"L1": 3}


def test_a_placement_without_a_sink_or_unable_to_ship_reads_no_clock(
    stores: tuple[Any, Any],
) -> None:
    class NoClock:
        def now(self) -> datetime:
            raise AssertionError("the clock was read")

    repository, _store = stores
    OrderService(repository, clock=NoClock()).place(new_order(status=OrderStatus.PAID))
    OrderService(repository, clock=NoClock(), sink=ListSink()).place(
        new_order(order_id="ORD-2", channel_order_id="T-2"))
