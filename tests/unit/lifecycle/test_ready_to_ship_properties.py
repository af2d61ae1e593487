"""Any sequence of events, duplicated or out of order, keeps a pick list built from
``ReadyToShip``, ``NotReadyToShip`` and ``LinesShipped`` alone equal to what the order
says may ship (``may_ship``) and to what a shipping wave selects, and says nothing twice:
each ``ReadyToShip`` changes the pick, each ``NotReadyToShip`` takes one off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from orderkit.fulfilment import WavePolicy, plan_wave
from orderkit.lifecycle import (
    DEFAULT_TABLE,
    Event,
    Lifecycle,
    LinesShipped,
    NotReadyToShip,
    ReadyToShip,
    Transition,
    may_ship,
)
from orderkit.lifecycle.readiness import placed_ready
from orderkit.model.errors import OrderkitError
from orderkit.model.money import Money
from orderkit.model.orders import Address, Order, OrderLine, PaymentTerms
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
LINES = ("L1", "L2")
TERMS = {"prepaid": PaymentTerms.PREPAID, "cod": PaymentTerms.ON_DELIVERY}


def fresh_order(terms: PaymentTerms, presale: bool) -> Order:
    return Order(
        order_id="ORD-P", channel="pos", channel_order_id="P-1",
        lines=[OrderLine("L1", "TEA", 3, Money("10.00", "CNY")),
               OrderLine("L2", "CUP", 2, Money("10.00", "CNY"))],
        created_at=T0, ship_to=Address(name="张*"), payment_terms=terms,
        tags={"presale", "ship_from:2026-02-17"} if presale else set(),
    )


units = st.dictionaries(st.sampled_from(LINES), st.integers(1, 3), min_size=1, max_size=2)
amounts = st.sampled_from(["10.00", "20.00", "50.00", "60.00"]).map(lambda a: Money(a, "CNY"))
kinds = st.sampled_from(["manual", "payment_review"])
payloads: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "pay": st.fixed_dictionaries({"amount": amounts}),
    "pack": st.just({}),
    "ship": st.fixed_dictionaries(
        {"carrier": st.just("SF"), "waybill": st.sampled_from(["W1", "W2", "W3"])},
        optional={"lines": units},
    ),
    "track": st.fixed_dictionaries({
        "status": st.sampled_from(["in_transit", "signed"]),
        "carrier_time": st.just(T0),
        "waybill": st.sampled_from(["W1", "W4"]),
    }),
    "deliver": st.just({}),
    "cancel": st.just({}),
    "cancel_lines": st.fixed_dictionaries({"lines": units}),
    "refund": st.fixed_dictionaries({"amount": amounts}, optional={"lines": units}),
    "hold": st.fixed_dictionaries({"kind": kinds}),
    "release_hold": st.fixed_dictionaries({"kind": kinds}),
    "change_address": st.sampled_from(["甲", "乙"]).map(
        lambda name: {"address": Address(name=name)}),
}
#: The events drawn, the ones that change what may ship more often than the ones that
#: end the order.
NAMES = (*sorted(payloads), "ship", "ship", "hold", "release_hold", "release_hold",
         "cancel_lines", "change_address")
events = st.sampled_from(NAMES).flatmap(
    lambda name: payloads[name].map(lambda data: (name, data))
)


class PickListMachine(RuleBasedStateMachine):
    """One order, and the pick-list entry a warehouse system keeps from its events."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.lifecycle = Lifecycle(clock=self.clock)
        self.order = fresh_order(PaymentTerms.PREPAID, False)
        self.pick: ReadyToShip | None = None
        self.sent: list[Event] = []

    @initialize(terms=st.sampled_from(sorted(TERMS)), presale=st.booleans())
    def place(self, terms: str, presale: bool) -> None:
        self.order = fresh_order(TERMS[terms], presale)
        # A cash on delivery order may ship as placed: the service says so at placement.
        self.pick = placed_ready(self.order, DEFAULT_TABLE, self.clock.now)
        assert (self.pick is not None) == (terms == "cod")

    def _apply(self, event: Event) -> None:
        try:
            transition = self.lifecycle.apply(self.order, event)
        except OrderkitError:
            return
        self._fold(transition)
        self.order = transition.order

    def _fold(self, transition: Transition) -> None:
        if transition.ignored is not None or not transition.changed:
            assert not transition.events
        for fact in transition.events:
            if isinstance(fact, ReadyToShip):
                previous = self.pick
                assert previous is None or (
                    (previous.lines, previous.skus, previous.ship_to, previous.ship_due_at)
                    != (fact.lines, fact.skus, fact.ship_to, fact.ship_due_at)
                ), "a ReadyToShip that changes nothing"
                self.pick = fact
            elif isinstance(fact, NotReadyToShip):
                assert self.pick is not None, "a NotReadyToShip for an order not on the list"
                assert fact.lines == self.pick.lines
                self.pick = None
            elif isinstance(fact, LinesShipped) and self.pick is not None:
                left = {line: units - fact.lines.get(line, 0)
                        for line, units in self.pick.lines.items()}
                if not any(left.values()):
                    self.pick = None

    @rule(item=events, minutes=st.integers(0, 600))
    def deliver_event(self, item: tuple[str, dict[str, Any]], minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        name, data = item
        event = Event(name, event_id=f"E{len(self.sent)}", at=self.clock.now(), data=data)
        self.sent.append(event)
        self._apply(event)

    @rule(minutes=st.integers(0, 600))
    def pay_what_is_due(self, minutes: int) -> None:
        if self.order.due.amount:
            self.clock.advance(timedelta(minutes=minutes))
            event = Event("pay", event_id=f"E{len(self.sent)}", at=self.clock.now(),
                          data={"amount": self.order.due})
            self.sent.append(event)
            self._apply(event)

    @rule(data=st.data())
    def redeliver_an_old_event(self, data: st.DataObject) -> None:
        if self.sent:
            self._apply(data.draw(st.sampled_from(self.sent)))

    @invariant()
    def the_pick_list_is_what_the_order_may_ship(self) -> None:
        now = self.clock.now()
        order = self.order
        if not may_ship(order, now):
            assert self.pick is None, (self.pick, order)
            return
        assert self.pick is not None, order
        assert (self.pick.lines, self.pick.skus, self.pick.ship_to) == (
            order.open_units, order.open_units_by_sku, order.ship_to)

    @invariant()
    def a_wave_selects_what_is_on_the_list_and_due(self) -> None:
        now = self.clock.now()
        stream = "presale" if "presale" in self.order.tags else "in_stock"
        selected = plan_wave([self.order], WavePolicy(stream=stream), now).selected
        due = self.pick is not None and self.pick.ship_due_at <= now
        assert bool(selected) == due, (selected, self.pick)


PickListMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPickListMachine = PickListMachine.TestCase
