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
