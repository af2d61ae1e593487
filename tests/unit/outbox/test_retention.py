"""The relay's retention: ``OutboxRelay.purge`` deletes what was delivered long ago, by
the relay's clock, a batch at a time, and refuses what it cannot do."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderkit import Money, Order, OrderLine
from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.errors import ValidationError
from orderkit.lifecycle import Event, OrderService
from orderkit.outbox import OutboxMessage, OutboxRelay, OutboxRetention, message_id
from orderkit.testing import ManualClock
from orderkit.testing.samples import sample_order

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)


class Sink:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def publish(self, events: Sequence[OutboxMessage]) -> None:
        self.ids += [message.message_id for message in events]


class Batches:
    """The memory repository, counting the batches a purge asks it for."""

    def __init__(self, repository: MemoryOrderRepository) -> None:
        self.repository = repository
        self.calls: list[tuple[datetime, int | None, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repository, name)

    def purge_delivered(self, before: datetime, *, limit: int | None = None) -> int:
        deleted = self.repository.purge_delivered(before, limit=limit)
        self.calls.append((before, limit, deleted))
        return deleted


class HostStore:
    """A host's own outbox store, written before the retention existed: every outbox
    method but ``purge_delivered``."""

    def __init__(self, repository: MemoryOrderRepository) -> None:
        self.repository = repository

    def __getattr__(self, name: str) -> Any:
        if name == "purge_delivered":
            raise AttributeError(name)
        return getattr(self.repository, name)


_ORDERS = itertools.count(1)


def _delivered(repository: MemoryOrderRepository, count: int, at: datetime) -> list[str]:
    order_id = f"ORD-{next(_ORDERS)}"
    messages = [
        OutboxMessage(message_id(order_id, "e", k), order_id, "event.StatusChanged", {"k": k}, T0)
        for k in range(count)
    ]
    repository.save(sample_order(order_id, channel_order_id=f"T-{order_id}"), None,
                    outbox=messages)
    repository.mark_delivered([m.message_id for m in messages], at)
    return [m.message_id for m in messages]


def test_a_purge_deletes_what_was_delivered_before_the_retention_by_the_relays_clock() -> None:
    repository, clock = MemoryOrderRepository(), ManualClock(T0)
    _delivered(repository, 3, T0 - timedelta(days=31))
    _delivered(repository, 2, T0 - timedelta(days=30))  # exactly 30 days: kept
    _delivered(repository, 1, T0 - timedelta(days=1))
    relay = OutboxRelay(repository, clock=clock)
    assert relay.purge(timedelta(days=30)) == 3
    assert relay.purge(timedelta(days=30)) == 0
    clock.advance(timedelta(microseconds=1))
    assert relay.purge(timedelta(days=30)) == 2
    clock.advance(timedelta(days=29))
    assert relay.purge(timedelta(days=30)) == 1


def test_a_purge_goes_batch_by_batch_from_one_cut_off() -> None:
    repository, clock = MemoryOrderRepository(), ManualClock(T0)
    _delivered(repository, 7, T0 - timedelta(days=40))
    store = Batches(repository)
    relay = OutboxRelay(store, clock=clock)  # type: ignore[arg-type]
    assert relay.purge(timedelta(days=30), batch=3) == 7
    cutoff = T0 - timedelta(days=30)
    assert store.calls == [(cutoff, 3, 3), (cutoff, 3, 3), (cutoff, 3, 1)]
    store.calls.clear()
    _delivered(repository, 3, T0 - timedelta(days=40))
    assert relay.purge(timedelta(days=30), batch=3) == 3
    assert [deleted for _before, _limit, deleted in store.calls] == [3, 0]


def test_a_purge_keeps_every_message_a_relay_still_owes() -> None:
    """The service's own story: two orders placed and told to the sink, then a cancel
    whose events nobody delivered yet. A purge a year later deletes what was delivered
    and keeps what is still owed, however old; the relay then delivers it."""
    repository, clock, sink = MemoryOrderRepository(), ManualClock(T0), Sink()
    service = OrderService(repository, clock=clock, sink=sink, deliver=False)
    for n in (1, 2):
        service.place(Order(f"ORD-{n}", "shop", str(n),
                            [OrderLine("1", "CUP", 1, Money("9.90", "CNY"))], T0))
    relay = OutboxRelay(repository, sink=sink, clock=clock)
    relay.run_until_idle()
    delivered = len(sink.ids)
    service.handle("ORD-2", Event("cancel", event_id="cs-2", at=clock.now()))
    clock.advance(timedelta(days=365))
    owed = [stored.message.message_id for stored in repository.pending(100)]
    assert owed and relay.purge(timedelta(days=30)) == delivered
    assert [stored.message.message_id for stored in repository.pending(100)] == owed
    relay.run_until_idle()
    assert sink.ids[delivered:] == owed


@pytest.mark.parametrize(
    "older_than",
    [timedelta(0), timedelta(days=-30), timedelta(microseconds=-1), 30, 30.0, "30d", None,
     True, timedelta.max, timedelta(days=T0.year * 366)],
)
def test_a_retention_that_is_not_a_positive_span_is_refused(older_than: Any) -> None:
    repository = MemoryOrderRepository()
    _delivered(repository, 1, T0 - timedelta(days=400))
    relay = OutboxRelay(repository, clock=ManualClock(T0))
    with pytest.raises(ValidationError) as caught:
        relay.purge(older_than)
    assert caught.value.path == "older_than"
    assert relay.purge(timedelta(days=1)) == 1  # nothing was deleted before


@pytest.mark.parametrize("batch", [0, -1, True, "100", 1.5, None, 2**63])
def test_a_batch_that_is_not_a_count_is_refused(batch: Any) -> None:
    repository = MemoryOrderRepository()
    _delivered(repository, 1, T0 - timedelta(days=400))
    relay = OutboxRelay(repository, clock=ManualClock(T0))
    with pytest.raises(ValidationError) as caught:
        relay.purge(timedelta(days=30), batch=batch)
    assert caught.value.path == "batch"
    assert relay.purge(timedelta(days=1)) == 1


def test_a_clock_that_gives_a_naive_instant_is_refused() -> None:
    repository = MemoryOrderRepository()
    _delivered(repository, 1, T0 - timedelta(days=400))

    class Naive:
        def now(self) -> datetime:
            return datetime(2026, 2, 16, 1, 0)

    with pytest.raises(ValidationError) as caught:
        OutboxRelay(repository, clock=Naive()).purge(timedelta(days=30))
    assert caught.value.path == "clock.now()"
    assert OutboxRelay(repository, clock=ManualClock(T0)).purge(timedelta(days=1)) == 1


def test_a_host_store_without_a_retention_is_told_so() -> None:
    repository = MemoryOrderRepository()
    _delivered(repository, 1, T0 - timedelta(days=400))
    host = HostStore(repository)
    assert not isinstance(host, OutboxRetention)
    relay = OutboxRelay(host, clock=ManualClock(T0))  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        relay.purge(timedelta(days=30))
    assert caught.value.path == "store"
    assert "cannot purge" in caught.value.reason
    assert OutboxRelay(repository, clock=ManualClock(T0)).purge(timedelta(days=1)) == 1
