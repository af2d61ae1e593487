"""The engine's trusted fast paths build exactly what the validating constructors build.

``Lifecycle.apply`` skips the attrs ``__init__`` of its own outputs and copies orders
with generated code (see :mod:`orderkit._build`); these
tests pin that the results are equal, of the same type and still frozen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given

from orderkit.lifecycle import DEFAULT_TABLE, Event, Lifecycle, StatusChanged, Transition
from orderkit.lifecycle.engine import (
    _line_with_quantities,
    _move,
    _moved,
    _new_audit_entry,
    _new_lines_shipped,
    _new_payment,
    _new_payment_received,
    _new_shipment,
    _new_status_changed,
    _new_transition,
    _open_lines,
    _order_touched,
    _replace,
    _Row,
    _ship_all_open,
)
from orderkit.lifecycle.events import LinesShipped, PaymentReceived
from orderkit.model.audit import AuditEntry
from orderkit.model.errors import TransitionNotAllowed
from orderkit.model.money import Money
from orderkit.model.orders import (
    HoldKind,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentKind,
    Shipment,
)
from orderkit.testing import ManualClock
from orderkit.testing.strategies import orders

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
PATH = ("pay", "pack", "ship", "deliver", "complete")


def _order(order_id: str = "O1") -> Order:
    line = OrderLine("L1", "TEA", 2, Money("10.00", "CNY"))
    return Order(
        order_id=order_id, channel="pos", channel_order_id="P1", lines=[line], created_at=T0
    )


def _event(name: str, event_id: str | None = None) -> Event:
    data = {
        "pay": {"amount": Money("20.00", "CNY")},
        "ship": {"carrier": "SF", "waybill": "SF1"},
    }.get(name)
    return Event(name, event_id=event_id or f"e-{name}", at=T0, data=data)


def _same(made: object, built: object) -> None:
    assert type(made) is type(built)
    assert made == built
    assert repr(made) == repr(built)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.x = 1  # type: ignore[attr-defined]


def test_positional_makers_equal_the_constructors() -> None:
    money = Money("20.00", "CNY")
    entry_args: tuple[Any, ...] = (
        "O1",
        "e1",
        "pay",
        "ann",
        T0,
        T0,
        10,
        20,
        "applied",
        (("paid", "", "CNY 20.00"),),
        "",
        "bob",
    )
    entry = AuditEntry(*entry_args)
    _same(_new_audit_entry(*entry_args), entry)
    moved = StatusChanged("O1", "e1", T0, "pay", OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)
    _same(
        _new_status_changed("O1", "e1", T0, "pay", OrderStatus.PENDING_PAYMENT, OrderStatus.PAID),
        moved,
    )
    _same(_new_payment_received("O1", "e1", T0, money), PaymentReceived("O1", "e1", T0, money))
    shipped = LinesShipped("O1", "e1", T0, "s1", "SF1", {"L1": 2}, {"TEA": 2})
    _same(_new_lines_shipped("O1", "e1", T0, "s1", "SF1", {"L1": 2}, {"TEA": 2}, False), shipped)
    order = _order()
    _same(
        _new_transition(order, True, (moved,), (entry,), None),
        Transition(order, True, (moved,), (entry,)),
    )
    _same(_new_transition(order, False, (), (), None), Transition(order, False))


def test_keyword_maker_equals_the_validating_constructor() -> None:
    money = Money("20.00", "CNY")
    made = _new_payment(
        payment_id="p1",
        amount=money,
        at=T0,
        method="",
        reference="",
        kind=PaymentKind.PAYMENT,
        lines={},
    )
    _same(made, Payment("p1", money, T0, kind=PaymentKind.PAYMENT, lines={}))
    shipment = _new_shipment(
        shipment_id="s1",
        carrier="SF",
        waybill="SF1",
        lines={"L1": 2},
        shipped_at=T0,
        first_scan_at=None,
        events=(),
    )
    _same(shipment, Shipment("s1", "SF", "SF1", {"L1": 2}, shipped_at=T0))


def test_generated_copies_equal_attrs_evolve() -> None:
    order = _order()
    ids = ("a", "b")
    _same(_order_touched(order, ids, 4), attrs.evolve(order, applied_event_ids=ids, version=4))
    _same(
        _replace(order, {"version": 7, "paid_at": T0, "tags": frozenset({"x"})}),
        attrs.evolve(order, version=7, paid_at=T0, tags=frozenset({"x"})),
    )
    line = order.lines[0]
    buckets = {**line.quantities, LineStatus.OPEN: 0, LineStatus.SHIPPED: 2}
    _same(_line_with_quantities(line, buckets), attrs.evolve(line, quantities=buckets))
    assert order.version == 0 and order.applied_event_ids == ()  # the source is untouched


def test_a_status_move_is_built_whole_as_the_constructors_build_it() -> None:
    order = _order()
    ids = ("a", "b")
    later = datetime(2026, 2, 16, 3, 0, tzinfo=UTC)
    (rule,) = DEFAULT_TABLE.rows[(OrderStatus.PENDING_PAYMENT, "pay")]
    row = _Row(rule)
    event = Event("pack", event_id="e1", at=T0)
    made = _moved(order, ids, 3, event, row, "ann", later)
    new = attrs.evolve(
        order, status=OrderStatus.PAID, status_since=T0, applied_event_ids=ids, version=3
    )
    moved = StatusChanged("O1", "e1", later, "pack", order.status, OrderStatus.PAID)
    entry = AuditEntry("O1", "e1", "pack", "ann", later, T0, 10, 20, "applied", (), "", None)
    _same(made, Transition(new, True, (moved,), (entry,)))
    _same(made.order, new)
    _same(made.events[0], moved)
    _same(made.audit[0], entry)
    assert order.version == 0 and order.applied_event_ids == ()  # the source is untouched


def test_every_step_of_the_happy_path_equals_a_validated_rebuild() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = _order()
    for name in PATH:
        transition = lifecycle.apply(order, _event(name))
        new = transition.order
        _same(new, Order(**attrs.asdict(new, recurse=False)))
        _same(transition, Transition(**attrs.asdict(transition, recurse=False)))
        for entry in transition.audit:
            _same(entry, AuditEntry(**attrs.asdict(entry, recurse=False)))
            assert type(entry.from_status) is int and entry.from_status == order.status
        moved = [e for e in transition.events if isinstance(e, StatusChanged)]
        assert [(e.from_status, e.to_status) for e in moved] == [(order.status, new.status)]
        assert isinstance(new.status, OrderStatus)
        order = new
    assert order.status is OrderStatus.COMPLETED and order.version == len(PATH)


@pytest.mark.parametrize("remember", [1, 2, 3])
def test_the_event_id_window_keeps_the_last_remember_ids(remember: int) -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0), remember=remember)
    order = _order()
    applied = []
    for name in PATH:
        order = lifecycle.apply(order, _event(name)).order
        applied.append(f"e-{name}")
        assert order.applied_event_ids == tuple(applied[-remember:])


def test_a_longer_remembered_window_is_cut_to_remember() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0), remember=2)
    order = attrs.evolve(_order(), applied_event_ids=("x1", "x2", "x3", "x4"))
    order = lifecycle.apply(order, _event("pay")).order
    assert order.applied_event_ids == ("x4", "e-pay")


def test_a_failed_guard_still_names_the_guard_and_the_holds() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = _order()
    order = lifecycle.apply(order, _event("pay")).order
    order = lifecycle.apply(
        order, Event("hold", event_id="h1", at=T0, data={"kind": HoldKind.MANUAL, "reason": "x"})
    ).order
    with pytest.raises(TransitionNotAllowed, match=r"guard no_holds failed \(holds: manual\)"):
        lifecycle.apply(order, _event("ship"))


def test_a_stale_event_and_an_event_without_rows_take_the_slow_path() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = _order()
    for name in PATH[:3]:
        order = lifecycle.apply(order, _event(name)).order
    late = lifecycle.apply(order, _event("pay", "late-pay"))
    assert late.changed and late.ignored == "order is already SHIPPED"
    assert late.order.status == order.status and late.audit[0].outcome == "ignored"
    with pytest.raises(TransitionNotAllowed, match="unknown event"):
        lifecycle.apply(order, Event("teleport", event_id="t1", at=T0))
    with pytest.raises(TransitionNotAllowed):
        lifecycle.apply(order, _event("complete"))


@given(orders())
def test_shipping_everything_open_equals_moving_the_open_units(order: Order) -> None:
    wanted = _open_lines(order)
    lines, moved, skus = _ship_all_open(order)
    assert moved == wanted
    assert (lines, skus) == _move(order, wanted, (LineStatus.OPEN,), LineStatus.SHIPPED, "x")
    for line in lines:
        assert sum(line.quantities.values()) == line.quantity
