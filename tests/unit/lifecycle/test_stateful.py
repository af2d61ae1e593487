"""Any sequence of events, duplicated or out of order, keeps the lifecycle's promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from orderkit.lifecycle import DEFAULT_TABLE, Event, Lifecycle
from orderkit.model.errors import OrderkitError
from orderkit.model.money import Money
from orderkit.model.orders import Address, Order, OrderLine, OrderStatus
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
LINES = ("L1", "L2")


def fresh_order() -> Order:
    return Order(
        order_id="ORD-S",
        channel="pos",
        channel_order_id="S-1",
        lines=[OrderLine("L1", "TEA", 4, Money("10.00", "CNY")),
               OrderLine("L2", "CUP", 2, Money("5.00", "CNY"))],
        created_at=T0,
    )


units = st.dictionaries(st.sampled_from(LINES), st.integers(1, 4), min_size=1, max_size=2)
payloads: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "pay": st.just({"amount": Money("50.00", "CNY")}),
    "pack": st.just({}),
    "ship": st.fixed_dictionaries(
        {"carrier": st.just("SF"), "waybill": st.sampled_from(["W1", "W2"])},
        optional={"lines": units},
    ),
    "track": st.fixed_dictionaries({
        "status": st.sampled_from(["in_transit", "out_for_delivery", "signed", "exception"]),
        # within the first 90 minutes: a scan timed after its event is refused
        "carrier_time": st.integers(0, 90).map(lambda m: T0 + timedelta(minutes=m)),
    }),
    "deliver": st.just({}),
    "complete": st.just({}),
    "cancel": st.just({}),
    "cancel_lines": st.fixed_dictionaries({"lines": units}),
    "refund": st.fixed_dictionaries({
        "amount": st.sampled_from(["1.00", "10.00", "40.00"]).map(lambda a: Money(a, "CNY")),
        "lines": units,
    }),
    "hold": st.fixed_dictionaries({"kind": st.sampled_from(["manual", "near_expiry"])}),
    "release_hold": st.fixed_dictionaries({"kind": st.sampled_from(["manual", "near_expiry"])}),
    "change_address": st.just({"address": Address(name="李*")}),
}
events = st.sampled_from(sorted(payloads)).flatmap(
    lambda name: payloads[name].map(lambda data: (name, data))
)


class LifecycleMachine(RuleBasedStateMachine):
    """Two copies of one order: one gets every event once, the other every event twice."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.lifecycle = Lifecycle(clock=self.clock)
        self.once = fresh_order()
        self.twice = fresh_order()
        self.sent: list[Event] = []

    def _apply(self, order: Order, event: Event) -> tuple[Order, str | None]:
        try:
            transition = self.lifecycle.apply(order, event)
        except OrderkitError as error:
            return order, type(error).__name__
        if transition.changed:
            new = transition.order
            assert new.version == order.version + 1
            assert not order.is_final or new.status == order.status
            if new.status != order.status:
                rows = DEFAULT_TABLE.candidates(order.status, event.name)
                assert any(r.target == new.status for r in rows), (order.status, event.name)
        else:
            assert transition.order is order and not transition.events
        return transition.order, None

    @rule(item=events, minutes=st.integers(0, 90))
    def deliver_event(self, item: tuple[str, dict[str, Any]], minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        name, data = item
        event = Event(name, event_id=f"E{len(self.sent)}", at=self.clock.now(), data=data)
        self.sent.append(event)
        self.once, outcome = self._apply(self.once, event)
        self.twice, first = self._apply(self.twice, event)
        self.twice, second = self._apply(self.twice, event)
        assert outcome == first
        if first is None:
            assert second is None

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def redeliver_an_old_event(self, data: st.DataObject) -> None:
        event = data.draw(st.sampled_from(self.sent))
        if event.event_id in self.once.applied_event_ids:
            before = self.once
            self.once, _ = self._apply(self.once, event)
            assert self.once is before
            self.twice, _ = self._apply(self.twice, event)

    @invariant()
    def buckets_sum_to_ordered_quantities(self) -> None:
        for order in (self.once, self.twice):
            for line in order.lines:
                assert sum(line.quantities.values()) == line.quantity
                assert all(v >= 0 for v in line.quantities.values())

    @invariant()
    def no_order_is_delivered_with_units_still_to_ship(self) -> None:
        # DELIVERED and COMPLETED take no ship or cancel: open units there would hold
        # their stock forever.
        if self.once.status in (OrderStatus.DELIVERED, OrderStatus.COMPLETED):
            assert not self.once.open_units_by_sku, self.once.lines

    @invariant()
    def duplicates_change_nothing(self) -> None:
        assert self.once == self.twice


LifecycleMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycleMachine = LifecycleMachine.TestCase
