"""The story tests' invariant check reports what is broken, and nothing when all holds."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from orderkit import Money, Order, OrderLine
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
    assert order_problems(repository, [skipped]) == [
        "ORD-1: version 2, 1 entries that changed it (applied or ignored)"]
    split = attrs.evolve(skipped, version=skipped.version + 1,
                         applied_event_ids=())  # forgot the ids it applied
    repository.save(split, skipped.version)
    assert order_problems(repository, [split]) == [
        "ORD-1: version 3, 1 entries that changed it (applied or ignored)",
        "ORD-1: an event id applied twice or not remembered",
    ]


def test_a_stale_event_recorded_and_ignored_counts_as_a_change_it_must_be_kept_as_one() -> None:
    """The engine records a stale event (a payment after shipment) and ignores it: the
    order takes a new version and remembers the id, beside an ``ignored`` entry. That
    order keeps the rules; one whose ignored entry was saved without the id it names,
    or without a new version, does not."""
    repository = MemoryOrderRepository()
    service = OrderService(repository, lifecycle=Lifecycle(clock=ManualClock(T0)))
    order = Order("ORD-2", "tmall", "T-2", [OrderLine("1", "SKU-A", 1, Money("10.00", "CNY"))],
                  T0)
    service.place(order)
    service.handle("ORD-2", Event("pay", event_id="p1", at=T0,
                                  data={"amount": order.totals.payable}))
    service.handle("ORD-2", Event("ship", event_id="s1", at=T0,
                                  data={"carrier": "SF", "waybill": "SF1"}))
    late = service.handle("ORD-2", Event("pay", event_id="p1-retry", at=T0,
                                         data={"amount": order.totals.payable}))
    assert late.ignored is not None
    shipped = repository.get("ORD-2")
    assert [e.outcome for e in repository.audit_trail("ORD-2")] == [
        "applied", "applied", "ignored"]
    assert order_problems(repository, [shipped]) == []
    (ignored,) = (e for e in repository.audit_trail("ORD-2") if e.outcome == "ignored")
    forgot = attrs.evolve(shipped, version=shipped.version + 1)  # the id it names is lost
    repository.save(forgot, shipped.version, audit=(attrs.evolve(ignored, event_id="p2"),))
    assert order_problems(repository, [forgot]) == [
        "ORD-2: an event id applied twice or not remembered"]
    twice = repository.get("ORD-2")  # two ignored entries saved with one new version
    repository.save(attrs.evolve(twice, version=twice.version + 1, applied_event_ids=(
        *twice.applied_event_ids, "p2", "p3", "p4")), twice.version,
        audit=(attrs.evolve(ignored, event_id="p3"), attrs.evolve(ignored, event_id="p4")))
    assert order_problems(repository, [repository.get("ORD-2")]) == [
        "ORD-2: version 5, 6 entries that changed it (applied or ignored)"]
