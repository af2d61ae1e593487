"""The story tests' invariant check reports what is broken, and nothing when all holds."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.lifecycle import Event, Lifecycle, OrderService
from orderkit.testing import ManualClock
from orderkit.testing.invariants import order_problems
from orderkit.testing.samples import sample_order

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def test_a_kept_order_has_no_problem_and_a_broken_one_is_named() -> None:
    repository = MemoryOrderRepository()
    service = OrderService(repository, lifecycle=Lifecycle(clock=ManualClock(T0)))
    order = attrs.evolve(sample_order("ORD-1"), version=0, status=10, payments=(),
                         shipments=(), paid_at=None, applied_event_ids=())
    service.place(order)
    paid = service.handle("ORD-1", Event("pay", event_id="p1", at=T0,
                                         data={"amount": order.totals.payable})).order
    assert order_problems(repository, [paid]) == []
    skipped = attrs.evolve(paid, version=paid.version + 1)  # a change with no audit entry
    repository.save(skipped, paid.version)
    assert order_problems(repository, [skipped]) == ["ORD-1: version 2, 1 applied entries"]
    split = attrs.evolve(skipped, version=skipped.version + 1,
                         applied_event_ids=())  # forgot the ids it applied
    repository.save(split, skipped.version)
    assert order_problems(repository, [split]) == [
        "ORD-1: version 3, 1 applied entries",
        "ORD-1: an event id applied twice or not remembered",
    ]
