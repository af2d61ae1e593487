"""Replaying a lifecycle event through the guard changes nothing and emits nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderkit.adapters.memory import MemoryIdempotencyStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteIdempotencyStore, SQLiteOrderRepository
from orderkit.idempotency import Idempotency, fingerprint
from orderkit.idempotency.ports import IdempotencyStore
from orderkit.lifecycle import Event, OrderService
from orderkit.lifecycle.ports import OrderRepository
from orderkit.model.money import Money
from orderkit.model.orders import Address, Order, OrderLine, OrderStatus
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


class ListSink:
    """An EventSink that keeps what it was given."""

    def __init__(self) -> None:
        self.published: list[object] = []

    def publish(self, events: Sequence[object]) -> None:
        self.published.extend(events)


def _stores(kind: str, tmp_path: Path) -> tuple[OrderRepository, IdempotencyStore]:
    if kind == "memory":
        return MemoryOrderRepository(), MemoryIdempotencyStore()
    path = tmp_path / "shop.db"
    return SQLiteOrderRepository(path), SQLiteIdempotencyStore(path)


def _handle_guarded(
    guard: Idempotency, service: OrderService, order_id: str, event: Event
) -> tuple[int, int]:
    """What a host's event consumer does: one guard key per producer event id."""

    def apply() -> tuple[int, int]:
        transition = service.handle(order_id, event)
        return transition.order.version, int(transition.order.status)

    payload = {"order_id": order_id, "event": event.name, "data": dict(event.data)}
    return guard.run(fingerprint("order.event", event.event_id), payload, apply)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_redelivered_payment_callback_leaves_order_and_events_unchanged(
    kind: str, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    repository, store = _stores(kind, tmp_path)
    sink = ListSink()
    service = OrderService(repository, sink=sink, clock=clock)
    guard = Idempotency(store, clock=clock, retention=timedelta(hours=24))
    service.place(
        Order(
            order_id="ORD-1", channel="tmall", channel_order_id="T-1",
            lines=[OrderLine("L1", "TEA", 3, Money("10.00", "CNY"))], created_at=T0,
            ship_to=Address(name="张*", province="浙江省"),
        )
    )
    paid = Event("pay", event_id="PAY-7731", at=T0, data={"amount": Money("30.00", "CNY")})

    first = _handle_guarded(guard, service, "ORD-1", paid)
    order_after_first = repository.get("ORD-1")
    events_after_first = list(sink.published)
    assert order_after_first.status is OrderStatus.PAID
    assert first == (order_after_first.version, int(OrderStatus.PAID))
    assert events_after_first

    # The payment provider delivers the same callback twice more.
    for _ in range(2):
        assert _handle_guarded(guard, service, "ORD-1", paid) == first
    assert repository.get("ORD-1") == order_after_first
    assert sink.published == events_after_first

    # Even after the guard forgot the key, the lifecycle remembers the event id.
    clock.advance(timedelta(hours=25))
    assert guard.purge() == 1
    replayed = _handle_guarded(guard, service, "ORD-1", paid)
    assert replayed == first
    assert repository.get("ORD-1") == order_after_first
    assert sink.published == events_after_first
