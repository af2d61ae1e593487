"""A lifecycle event replayed through the idempotency guard changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orderkit.adapters.memory import MemoryIdempotencyStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteIdempotencyStore, SQLiteOrderRepository
from orderkit.idempotency import Idempotency
from orderkit.lifecycle import Event, OrderService, Transition
from orderkit.model.ids import fingerprint
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_replayed_event_through_the_guard_leaves_order_and_events_unchanged(
    backend: str, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    if backend == "memory":
        repository: Any = MemoryOrderRepository()
        store: Any = MemoryIdempotencyStore()
    else:
        repository = SQLiteOrderRepository(tmp_path / "shop.db")
        store = SQLiteIdempotencyStore(tmp_path / "shop.db")
    service = OrderService(repository, clock=clock)
    guard = Idempotency(store, clock=clock)
    service.place(Order(order_id="ORD-1", channel="jd", channel_order_id="J-1",
                        lines=[OrderLine("1", "TEA", 1, Money("89.00", "CNY"))],
                        created_at=T0))
    pay = Event("pay", event_id="notify-1", at=T0, data={"amount": Money("89.00", "CNY")})
    runs: list[Transition] = []

    def handle() -> Transition:
        runs.append(service.handle("ORD-1", pay))
        return runs[-1]

    key = fingerprint("order.event", "ORD-1", pay.event_id)
    first = guard.run(key, {"event": pay.name, "event_id": pay.event_id}, handle)
    stored = repository.get("ORD-1")
    replays = [guard.run(key, {"event": pay.name, "event_id": pay.event_id}, handle)
               for _ in range(5)]
    assert len(runs) == 1
    assert all(r == first for r in replays)
    assert replays[0].events == first.events
    assert repository.get("ORD-1") == stored
    assert len(repository.audit_trail("ORD-1")) == 1


def test_an_event_id_replayed_with_other_money_is_refused_and_writes_nothing(
    stores: tuple[Any, Any],
) -> None:
    from orderkit.model.errors import IdempotencyConflict

    repository, _store = stores
    service = OrderService(repository, clock=ManualClock(T0))
    service.place(Order(order_id="ORD-1", channel="jd", channel_order_id="J-1",
                        lines=[OrderLine("1", "CUP", 3, Money("45.50", "CNY"))],
                        created_at=T0))
    service.handle("ORD-1", Event("pay", event_id="p", at=T0,
                                  data={"amount": Money("136.50", "CNY")}))
    refund = Event("refund", event_id="rf-A", at=T0,
                   data={"amount": Money("45.50", "CNY"), "lines": {"1": 1}})
    service.handle("ORD-1", refund)
    stored = repository.get("ORD-1")
    trail = repository.audit_trail("ORD-1")
    for name, data, fields in [
        ("refund", {"amount": Money("90.00", "CNY"), "lines": {"1": 1}}, ("data.amount",)),
        ("refund", {"amount": Money("45.50", "CNY"), "lines": {"1": 2}}, ("data.lines",)),
        ("pay", {"amount": Money("45.50", "CNY")}, ("event.name",)),
    ]:
        with pytest.raises(IdempotencyConflict) as info:
            service.handle("ORD-1", Event(name, event_id="rf-A", at=T0, data=data))
        assert info.value.key == "rf-A" and info.value.fields == fields
    # The identical replay stays a no-op; nothing was written by any of them.
    again = service.handle("ORD-1", Event("refund", event_id="rf-A", at=T0,
                                          data={"amount": Money("45.500", "CNY"),
                                                "lines": {"1": 1}}))
    assert again.changed is False
    assert repository.get("ORD-1") == stored
    assert repository.audit_trail("ORD-1") == trail


# --- the same money told again under a new event id (by its reference) ----------------------

CNY = "CNY"


def _paid_cups(lifecycle: Any) -> Order:
    """A shipped order of 3 cups at 45.50, paid in full (alipay trade 2026...01)."""
    order = Order(order_id="ORD-9", channel="tmall", channel_order_id="T-9",
                  lines=[OrderLine("1", "CUP", 3, Money("45.50", CNY))], created_at=T0)
    order = lifecycle.apply(order, Event("pay", event_id="pay-1", at=T0, data={
        "amount": Money("136.50", CNY), "reference": "2026021622001"})).order
    return lifecycle.apply(order, Event("ship", event_id="ship-1", at=T0, data={
        "carrier": "SF", "waybill": "SF1"})).order


def test_a_refund_told_again_under_a_new_id_with_its_refund_number_is_a_duplicate() -> None:
    from orderkit.lifecycle import Lifecycle

    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = _paid_cups(lifecycle)
    data = {"amount": Money("45.50", CNY), "lines": {"1": 1}, "reference": "RF-221455"}
    first = lifecycle.apply(order, Event("refund", event_id="webhook-1", at=T0, data=data))
    # The same refund, delivered by a receiver that keys by its own delivery id.
    again = lifecycle.apply(first.order, Event("refund", event_id="webhook-2", at=T0,
                                               data=dict(data)))
    assert again.events == ()
    assert again.order.totals.refunded == Money("45.50", CNY)
    assert [p.payment_id for p in again.order.payments] == ["pay-1", "webhook-1"]
    assert again.order.lines == first.order.lines
    assert again.ignored is not None and "webhook-1" in again.ignored
    assert "RF-221455" in again.ignored
    assert again.audit[0].outcome == "ignored" and again.audit[0].event_id == "webhook-2"
    # Its own id is now recorded: delivered a third time it is a plain replay.
    assert "webhook-2" in again.order.applied_event_ids
    third = lifecycle.apply(again.order, Event("refund", event_id="webhook-2", at=T0,
                                               data=dict(data)))
    assert third.changed is False and third.order is again.order
    # Told without its lines (a manual import that names only the money): the same refund.
    imported = lifecycle.apply(again.order, Event("refund", event_id="import-7", at=T0, data={
        "amount": Money("45.500", CNY), "reference": "RF-221455"}))
    assert imported.events == () and imported.ignored is not None
    assert imported.order.totals.refunded == Money("45.50", CNY)


def test_a_refund_number_told_again_with_other_money_is_refused_naming_both_amounts() -> None:
    from orderkit.lifecycle import Lifecycle
    from orderkit.model.errors import IdempotencyConflict

    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = lifecycle.apply(_paid_cups(lifecycle), Event("refund", event_id="webhook-1", at=T0,
                            data={"amount": Money("45.50", CNY), "lines": {"1": 1},
                                  "reference": "RF-221455"})).order
    for amount, lines, fields in [
        ("91.00", {"lines": {"1": 2}}, ("data.amount", "data.lines")),
        ("40.00", {}, ("data.amount",)),
        ("45.50", {"lines": {"1": 2}}, ("data.lines",)),
    ]:
        event = Event("refund", event_id="import-7", at=T0,
                      data={"amount": Money(amount, CNY), **lines, "reference": "RF-221455"})
        with pytest.raises(IdempotencyConflict) as info:
            lifecycle.apply(order, event)
        assert info.value.key == "RF-221455" and info.value.fields == fields
        assert info.value.detail == (
            "data.reference RF-221455 is refund webhook-1's, of CNY 45.50 for lines 1x1:"
            f" event import-7 says CNY {amount}"
            + (" for lines 1x2" if lines else "")
        )
        assert info.value.detail in str(info.value)


def test_a_payment_told_again_under_a_new_id_by_its_transaction_number_is_paid_once() -> None:
    from orderkit.lifecycle import Lifecycle
    from orderkit.model.errors import IdempotencyConflict

    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = Order(order_id="ORD-8", channel="jd", channel_order_id="J-8",
                  lines=[OrderLine("1", "CUP", 2, Money("50.00", CNY))], created_at=T0)
    deposit = {"amount": Money("30.00", CNY), "reference": "4200001234", "method": "wechat"}
    first = lifecycle.apply(order, Event("pay", event_id="notify-1", at=T0, data=deposit))
    again = lifecycle.apply(first.order, Event("pay", event_id="notify-1b", at=T0,
                                               data=dict(deposit)))
    assert again.events == () and again.ignored is not None and "notify-1" in again.ignored
    assert again.order.totals.paid == Money("30.00", CNY)
    assert again.order.due == Money("70.00", CNY)
    assert again.order.status.name == "PENDING_PAYMENT"
    with pytest.raises(IdempotencyConflict) as info:
        lifecycle.apply(again.order, Event("pay", event_id="notify-2", at=T0, data={
            "amount": Money("70.00", CNY), "reference": "4200001234"}))
    assert info.value.key == "4200001234" and info.value.fields == ("data.amount",)
    # The balance under its own transaction number pays the order.
    paid = lifecycle.apply(again.order, Event("pay", event_id="notify-2", at=T0, data={
        "amount": Money("70.00", CNY), "reference": "4200005678"}))
    assert paid.order.status.name == "PAID" and paid.order.totals.paid == Money("100.00", CNY)


def test_without_a_reference_or_across_kinds_nothing_is_taken_for_a_duplicate() -> None:
    from orderkit.lifecycle import Lifecycle

    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = _paid_cups(lifecycle)
    for event_id in ("manual-1", "manual-2"):  # two refunds of one cup each, no number
        order = lifecycle.apply(order, Event("refund", event_id=event_id, at=T0, data={
            "amount": Money("45.50", CNY), "lines": {"1": 1}, "reference": ""})).order
    assert order.totals.refunded == Money("91.00", CNY)
    # A refund numbered like the payment is not that payment told again.
    refunded = lifecycle.apply(order, Event("refund", event_id="manual-3", at=T0, data={
        "amount": Money("45.50", CNY), "lines": {"1": 1}, "reference": "2026021622001"}))
    assert refunded.ignored is None and refunded.order.status.name == "CLOSED"


def test_a_refund_told_again_after_it_closed_the_order_is_a_duplicate_not_a_refusal() -> None:
    from orderkit.lifecycle import Lifecycle

    lifecycle = Lifecycle(clock=ManualClock(T0))
    data = {"amount": Money("136.50", CNY), "reference": "RF-ALL"}
    closed = lifecycle.apply(_paid_cups(lifecycle),
                             Event("refund", event_id="webhook-1", at=T0, data=data)).order
    assert closed.status.name == "CLOSED"
    again = lifecycle.apply(closed, Event("refund", event_id="import-1", at=T0, data=data))
    assert again.events == () and again.ignored is not None
    assert again.order.totals.refunded == Money("136.50", CNY)


def test_a_refund_delivered_twice_under_two_ids_through_the_service_is_paid_back_once(
    stores: tuple[Any, Any],
) -> None:
    class ListSink:
        def __init__(self) -> None:
            self.published: list[Any] = []

        def publish(self, events: Any) -> None:
            self.published.extend(events)

    repository, _store = stores
    sink = ListSink()
    service = OrderService(repository, clock=ManualClock(T0), sink=sink)
    service.place(Order(order_id="ORD-1", channel="tmall", channel_order_id="T-1",
                        lines=[OrderLine("1", "CUP", 3, Money("45.50", CNY))],
                        created_at=T0))
    service.handle("ORD-1", Event("pay", event_id="p", at=T0,
                                  data={"amount": Money("136.50", CNY)}))
    data = {"amount": Money("45.50", CNY), "lines": {"1": 1}, "reference": "RF-221455"}
    for event_id in ("webhook-1", "webhook-2", "import-1", "webhook-2"):
        service.handle("ORD-1", Event("refund", event_id=event_id, at=T0, data=dict(data)))
    stored = repository.get("ORD-1")
    assert stored.totals.refunded == Money("45.50", CNY)
    assert {"webhook-1", "webhook-2", "import-1"} <= set(stored.applied_event_ids)
    assert [m.topic for m in sink.published].count("event.Refunded") == 1
    outcomes = [(e.event_id, e.outcome) for e in repository.audit_trail("ORD-1")
                if e.event == "refund"]
    assert outcomes == [("webhook-1", "applied"), ("webhook-2", "ignored"),
                        ("import-1", "ignored")]
