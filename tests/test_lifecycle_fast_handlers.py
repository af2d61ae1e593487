"""``pay`` and ``ship`` decide their change in one specialised function each; the generic
handlers (an effect object, a field dict, a copy keyed by the changed fields) are the
checked path they must agree with.

A lifecycle built with ``_use_fast_handlers = False`` runs only the checked path. Both
get the same random orders and the same random event sequences, good data and bad; every
step must give equal transitions (order, domain events, audit entries) or the same
refusal, and every order the fast path builds must equal what the validating
constructor builds from its fields.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit.lifecycle import DEFAULT_TABLE, Event, Lifecycle, Transition, TransitionTable
from orderkit.model.audit import AuditEntry
from orderkit.model.errors import OrderkitError, ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine, OrderStatus, Payment, Shipment
from orderkit.testing import ManualClock
from orderkit.testing.strategies import orders

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
LONG = "W" * 4097  # one character more than a record's text field takes

#: A table where ``pay`` does not move the status once paid (a top-up), so the fast
#: handler's "row keeps the status" branch is exercised too.
TOP_UPS = DEFAULT_TABLE.extend([(20, "pay", 20)], remove=[(20, "pay")])


class CheckedLifecycle(Lifecycle):
    """The same engine with every event going through the generic handlers."""

    _use_fast_handlers = False


def outcome(lifecycle: Lifecycle, order: Order, event: Event) -> Transition | tuple[str, str]:
    try:
        return lifecycle.apply(order, event)
    except OrderkitError as error:
        return type(error).__name__, str(error)


def _line_ids(order: Order) -> st.SearchStrategy[str]:
    return st.sampled_from([line.line_id for line in order.lines] + ["nope"])


@st.composite
def pay_data(draw: st.DrawFn, order: Order) -> dict[str, Any]:
    other = "USD" if order.currency != "USD" else "EUR"
    currency = draw(st.sampled_from([order.currency] * 9 + [other]))
    minor = draw(st.sampled_from([0, 1000, 17850, 99999] * 3 + [-100]))
    amount = draw(st.sampled_from([Money.from_minor(minor, currency)] * 9 + [None, "10.00", 10]))
    data: dict[str, Any] = {"amount": amount}
    for key in ("method", "reference"):
        value = draw(st.sampled_from([None] * 4 + ["alipay", "T-1", "", 7] * 2 + [LONG]))
        if value is not None:
            data[key] = value
    return data


@st.composite
def ship_data(draw: st.DrawFn, order: Order) -> dict[str, Any]:
    data: dict[str, Any] = {
        "carrier": draw(st.sampled_from(["SF"] * 12 + ["ZTO-9", "", "  ", None, 5, LONG])),
        "waybill": draw(st.sampled_from(["SF1"] * 12 + ["W 2", "", None, LONG])),
    }
    if draw(st.integers(0, 2)) == 0:
        data["lines"] = draw(
            st.dictionaries(_line_ids(order), st.sampled_from([1, 1, 2, 3, 50, 0]), max_size=3)
        )
    return data


@st.composite
def stories(draw: st.DrawFn) -> tuple[Order, list[Event]]:
    order = draw(orders())
    if draw(st.booleans()):  # an order the happy path can take: every unit open
        order = attrs.evolve(
            order,
            lines=[attrs.evolve(ln, quantities={"open": ln.quantity}) for ln in order.lines],
            status=draw(st.sampled_from(list(OrderStatus)[:4])),
            holds=(),
            applied_event_ids=(),
        )
    start = order.created_at
    names = ["pay", "ship"] * 3 + ["pack", "deliver", "complete", "hold", "release_hold", "track"]
    events: list[Event] = []
    if draw(st.booleans()):  # open with a payment and a shipment
        events.append(Event("pay", event_id="P", at=start, data=draw(pay_data(order))))
        events.append(Event("ship", event_id="S", at=start, data=draw(ship_data(order))))
    for index in range(draw(st.integers(1, 12))):
        if events and draw(st.integers(0, 5)) == 0:
            events.append(draw(st.sampled_from(events)))  # a redelivery
            continue
        name = draw(st.sampled_from(names))
        data: dict[str, Any] | None = None
        if name == "pay":
            data = draw(pay_data(order))
        elif name == "ship":
            data = draw(ship_data(order))
        elif name in ("hold", "release_hold"):
            data = {"kind": "manual"}
        elif name == "track":
            data = {"status": "in_transit", "carrier_time": start + timedelta(hours=index)}
        at = start + timedelta(minutes=draw(st.integers(0, 600)))
        events.append(Event(name, event_id=f"E{index}", at=at, data=data))
    return order, events


def _valid(order: Order) -> None:
    """The trusted copy equals what the validating constructors build from its fields."""
    rebuilt = Order(**attrs.asdict(order, recurse=False))
    assert type(order) is Order and order == rebuilt and repr(order) == repr(rebuilt)
    for payment in order.payments:
        assert payment == Payment(**attrs.asdict(payment, recurse=False))
    for shipment in order.shipments:
        assert shipment == Shipment(**attrs.asdict(shipment, recurse=False))
    for line in order.lines:
        assert line == OrderLine(**attrs.asdict(line, recurse=False))


def _replay(table: TransitionTable, order: Order, events: list[Event]) -> None:
    fast, checked = (
        Lifecycle(table, clock=ManualClock(order.created_at)),
        CheckedLifecycle(table, clock=ManualClock(order.created_at)),
    )
    for event in events:
        got, want = outcome(fast, order, event), outcome(checked, order, event)
        assert got == want, event
        if isinstance(got, Transition):
            assert isinstance(want, Transition)
            assert got.events == want.events and got.audit == want.audit
            assert [type(e) for e in got.events] == [type(e) for e in want.events]
            for entry in got.audit:
                assert entry == AuditEntry(**attrs.asdict(entry, recurse=False))
            _valid(got.order)
            order = got.order


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stories())
def test_fast_handlers_agree_with_the_checked_path_on_random_stories(
    story: tuple[Order, list[Event]],
) -> None:
    _replay(DEFAULT_TABLE, *story)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stories())
def test_fast_handlers_agree_where_a_row_keeps_the_status(
    story: tuple[Order, list[Event]],
) -> None:
    _replay(TOP_UPS, *story)


def _order(status: OrderStatus = OrderStatus.PENDING_PAYMENT) -> Order:
    return Order(
        order_id="O1",
        channel="pos",
        channel_order_id="P1",
        lines=[OrderLine("L1", "TEA", 2, Money("10.00", "CNY"))],
        created_at=T0,
        status=status,
    )


CNY_1 = Money("1.00", "CNY")
SHIP = {"carrier": "SF", "waybill": "W1"}
BAD_DATA = [
    ("pay", {"amount": Money("1.00", "USD")}, "data.amount.currency"),
    ("pay", {"amount": Money("-1.00", "CNY")}, "data.amount.amount"),
    ("pay", {"amount": "1.00"}, "data.amount"),
    ("pay", {"amount": CNY_1, "method": LONG}, "data.method"),
    ("pay", {"amount": CNY_1, "reference": LONG}, "data.reference"),
    ("ship", {**SHIP, "carrier": " "}, "data.carrier"),
    ("ship", {**SHIP, "waybill": None}, "data.waybill"),
    ("ship", {**SHIP, "carrier": LONG}, "data.carrier"),
    ("ship", {**SHIP, "waybill": LONG}, "data.waybill"),
    ("ship", {**SHIP, "lines": {"L1": 3}}, "data.lines['L1']"),
    ("ship", {**SHIP, "lines": {"L9": 1}}, "data.lines['L9']"),
]


@pytest.mark.parametrize(("name", "data", "field"), BAD_DATA)
def test_the_fast_path_refuses_what_the_checked_path_refuses(
    name: str, data: dict[str, Any], field: str
) -> None:
    order = _order(OrderStatus.PENDING_PAYMENT if name == "pay" else OrderStatus.PAID)
    event = Event(name, event_id="bad", at=T0, data=data)
    for lifecycle in (Lifecycle(clock=ManualClock(T0)), CheckedLifecycle(clock=ManualClock(T0))):
        with pytest.raises(ValidationError) as info:
            lifecycle.apply(order, event)
        assert info.value.path == field


def test_an_order_subclass_keeps_its_class_through_every_step() -> None:
    @attrs.frozen
    class TaggedOrder(Order):
        pass

    order: Order = TaggedOrder(**attrs.asdict(_order(), recurse=False))
    lifecycle = Lifecycle(clock=ManualClock(T0))
    for name, data in (
        ("pay", {"amount": Money("20.00", "CNY")}),
        ("pack", None),
        ("ship", {"carrier": "SF", "waybill": "SF1"}),
        ("deliver", None),
    ):
        order = lifecycle.apply(order, Event(name, event_id=name, at=T0, data=data)).order
        assert type(order) is TaggedOrder
    assert order.status is OrderStatus.DELIVERED and order.version == 4
