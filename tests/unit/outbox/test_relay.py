"""The relay: order per order, back-off, dead letters, replay, lag, missing consumers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest

from orderkit import Money, Order, OrderLine
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.errors import InsufficientStock, ValidationError
from orderkit.inventory import InventoryLedger, StockLevel
from orderkit.lifecycle import Event, OrderService
from orderkit.outbox import OutboxMessage, OutboxRelay, message_id
from orderkit.testing import ManualClock
from orderkit.testing.samples import sample_order

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)


class Sink:
    """Refuses the messages whose ids are in ``refuse``; keeps the others in order."""

    def __init__(self) -> None:
        self.refuse: set[str] = set()
        self.kept: list[str] = []
        self.topics: list[str] = []
        self.down = False

    def publish(self, events: Sequence[object]) -> None:
        for message in events:
            assert isinstance(message, OutboxMessage)
            if self.down or message.message_id in self.refuse:
                raise ConnectionError(f"refused {message.message_id}")
            self.kept.append(message.message_id)
            self.topics.append(message.topic)


def _stored(repository: MemoryOrderRepository, order_id: str, count: int) -> list[str]:
    messages = [
        OutboxMessage(message_id(order_id, "e", k), order_id, "event.StatusChanged", {"k": k}, T0)
        for k in range(count)
    ]
    repository.save(sample_order(order_id, channel_order_id=f"T-{order_id}"), None,
                    outbox=messages)
    return [m.message_id for m in messages]


def test_a_failing_message_holds_back_its_orders_later_ones_only() -> None:
    repository, clock, sink = MemoryOrderRepository(), ManualClock(T0), Sink()
    a = _stored(repository, "ORD-A", 3)
    b = _stored(repository, "ORD-B", 2)
    sink.refuse = {a[1]}
    relay = OutboxRelay(repository, sink=sink, clock=clock)
    report = relay.run_once()
    assert (report.delivered, report.failed, report.dead_lettered) == (3, 1, 0)
    assert sink.kept == [a[0], *b]  # a[2] waits behind a[1]
    sink.refuse = set()
    assert relay.run_once().delivered == 0  # a[1] waits out its back-off (1 s)
    clock.advance(timedelta(seconds=1))
    assert relay.run_once().delivered == 2
    assert sink.kept == [a[0], *b, a[1], a[2]]


def test_a_sink_that_is_down_never_holds_back_the_stock_a_cancel_releases() -> None:
    """Order is kept per consumer: the cancel's release reaches the ledger while the
    order's earlier events wait for the sink, in this run and while they back off; the
    events then go out in the order they were saved."""
    clock = ManualClock(T0)
    repository = MemoryOrderRepository()
    ledger = InventoryLedger(MemoryInventoryStore(), secret=b"k" * 16, clock=clock)
    ledger.receive("SKU-1", 2, reference="PO-1")
    sink = Sink()
    sink.down = True
    service = OrderService(repository, inventory=ledger, sink=sink, clock=clock)
    order = Order("ORD-A", "tmall", "T-A", [OrderLine("1", "SKU-1", 2, Money("10.00", "CNY"))],
                  T0)
    service.place(order)
    service.handle("ORD-A", Event("pay", event_id="p1", at=T0,
                                  data={"amount": order.totals.payable}))
    assert ledger.stock("SKU-1").locked == 2
    service.handle("ORD-A", Event("cancel", event_id="c1", at=T0))
    assert ledger.stock("SKU-1") == StockLevel("SKU-1", 2, 0, 2)  # released at once
    waiting = [m.message.topic for m in repository.pending(50)]
    assert waiting and all(topic.startswith("event.") for topic in waiting)
    relay = OutboxRelay(repository, inventory=ledger, sink=sink, clock=clock)
    assert relay.run_once().delivered == 0  # the events back off; nothing else waits
    sink.down = False
    clock.advance(timedelta(minutes=5))
    report = relay.run_until_idle()
    assert (report.failed, report.dead_lettered) == (0, 0)
    assert repository.pending(50) == []
    assert sink.topics == waiting  # the sink got the order's events in saved order


def test_back_off_doubles_up_to_its_ceiling_then_the_message_is_a_dead_letter() -> None:
    repository, clock, sink = MemoryOrderRepository(), ManualClock(T0), Sink()
    (only,) = _stored(repository, "ORD-A", 1)
    sink.refuse = {only}
    relay = OutboxRelay(repository, sink=sink, clock=clock, max_attempts=4,
                        backoff=timedelta(seconds=10), max_backoff=timedelta(seconds=25))
    waits = []
    for _attempt in range(3):
        relay.run_once()
        (stored,) = repository.pending(1)
        assert stored.retry_at is not None
        waits.append(stored.retry_at - clock.now())
        clock.advance(waits[-1] - timedelta(microseconds=1))
        assert relay.run_once().failed == 0  # not yet
        clock.advance(timedelta(microseconds=1))
    assert waits == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=25)]
    report = relay.run_once()
    assert (report.failed, report.dead_lettered, report.lag) == (1, 1, timedelta(0))
    (dead,) = relay.dead_letters()
    assert (dead.attempts, dead.error) == (4, f"ConnectionError: refused {only}")
    sink.refuse = set()
    assert relay.replay(only) is True and relay.replay(only) is False
    assert relay.run_once().delivered == 1 and sink.kept == [only]


def test_a_message_without_its_consumer_fails_loudly_instead_of_vanishing() -> None:
    repository, clock = MemoryOrderRepository(), ManualClock(T0)
    _stored(repository, "ORD-A", 1)
    relay = OutboxRelay(repository, clock=clock, max_attempts=1)  # no sink given
    report = relay.run_once()
    assert report.dead_lettered == 1
    assert relay.dead_letters()[0].error.startswith("LookupError: no event sink")
    assert "OutboxRelay(..., sink=sink)" in relay.dead_letters()[0].error


def test_a_stock_message_without_a_ledger_says_to_give_the_relay_one() -> None:
    repository, clock = MemoryOrderRepository(), ManualClock(T0)
    ledger = InventoryLedger(MemoryInventoryStore(), secret=b"k" * 16, clock=clock)
    ledger.receive("TEA", 10, reference="count")
    service = OrderService(repository, inventory=ledger, clock=clock, deliver=False)
    service.place(Order("ORD-S", "shop", "S-1", [OrderLine("1", "TEA", 2, Money("9.00", "CNY"))],
                        T0))
    service.handle("ORD-S", Event("cancel", event_id="c", at=T0))
    relay = OutboxRelay(repository, clock=clock, max_attempts=1)  # no inventory given
    relay.run_until_idle()
    [letter] = relay.dead_letters()
    assert letter.message.topic.startswith("stock.")
    assert "OutboxRelay(..., inventory=ledger)" in letter.error


def test_lag_is_the_age_of_the_oldest_waiting_message() -> None:
    repository, clock, sink = MemoryOrderRepository(), ManualClock(T0), Sink()
    _stored(repository, "ORD-A", 1)
    relay = OutboxRelay(repository, sink=sink, clock=clock)
    clock.advance(timedelta(minutes=3))
    assert relay.lag() == timedelta(minutes=3)
    assert relay.run_once().lag == timedelta(0)


def test_run_until_idle_stops_at_a_failure_instead_of_burning_attempts() -> None:
    repository, clock, sink = MemoryOrderRepository(), ManualClock(T0), Sink()
    ids = _stored(repository, "ORD-A", 1) + _stored(repository, "ORD-B", 1)
    sink.refuse = {ids[0]}
    relay = OutboxRelay(repository, sink=sink, clock=clock, backoff=timedelta(0))
    report = relay.run_until_idle(limit=1)
    assert (report.delivered, report.failed) == (0, 1)
    assert repository.pending(5)[0].attempts == 1


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("max_attempts", {"max_attempts": 0}),
        ("backoff", {"backoff": timedelta(seconds=-1)}),
        ("max_backoff", {"max_backoff": 5}),
    ],
)
def test_bad_settings_are_refused_naming_the_field(field: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        OutboxRelay(MemoryOrderRepository(), **kwargs)  # type: ignore[arg-type]
    assert caught.value.path == field


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        OutboxRelay(MemoryOrderRepository()).run_once(limit=0)
    assert caught.value.path == "limit"


class _TeaShop(NamedTuple):
    clock: ManualClock
    repository: MemoryOrderRepository
    ledger: InventoryLedger
    sink: Sink
    service: OrderService
    relay: OutboxRelay


def _tea_shop() -> _TeaShop:
    """Two teas on the shelf, a service that saves without delivering (locks held 30
    minutes) and its relay, all on one manual clock at ``T0``."""
    clock = ManualClock(T0)
    repository = MemoryOrderRepository()
    ledger = InventoryLedger(MemoryInventoryStore(), secret=b"k" * 16, clock=clock)
    ledger.receive("TEA", 2, reference="PO-1")
    sink = Sink()
    service = OrderService(repository, inventory=ledger, sink=sink, clock=clock,
                           deliver=False, payment_timeout=timedelta(minutes=30))
    relay = OutboxRelay(repository, inventory=ledger, sink=sink, clock=clock)
    return _TeaShop(clock, repository, ledger, sink, service, relay)


def test_a_payment_relayed_after_its_lock_fell_due_keeps_the_stock() -> None:
    """``deliver=False``: the payment is saved at 01:29, the lock holds until 01:30, the
    relay runs at 01:31. The confirm is judged at the payment's time: the paid order
    keeps its units, the next order is refused, and nothing is oversold."""
    clock, _repository, ledger, sink, service, relay = _tea_shop()
    lines = [OrderLine("1", "TEA", 2, Money("10.00", "CNY"))]
    service.place(Order("ORD-A", "shop", "A", lines, T0))
    relay.run_until_idle()
    clock.advance(timedelta(minutes=29))
    service.handle("ORD-A", Event("pay", event_id="p1", at=clock.now(),
                                  data={"amount": Money("20.00", "CNY")}))
    clock.advance(timedelta(minutes=2))
    assert ledger.stock("TEA") == StockLevel("TEA", 2, 0, 2)  # a read swept the lock
    relay.run_until_idle()
    assert ledger.stock("TEA") == StockLevel("TEA", 2, 2, 0)
    assert "event.ReservationLapsed" not in sink.topics
    with pytest.raises(InsufficientStock):
        service.place(Order("ORD-B", "shop", "B", lines, clock.now()))
    service.handle("ORD-A", Event("ship", event_id="s1", at=clock.now(),
                                  data={"carrier": "SF", "waybill": "W1"}))
    relay.run_until_idle()
    assert ledger.stock("TEA") == StockLevel("TEA", 0, 0, 0)
    assert ledger.verify().ok


def test_a_parked_release_is_told_to_the_sink_as_release_parked() -> None:
    """The breaker holds a cancel's release back: the relay delivers the message (the
    ledger has it, parked) and enqueues an ``event.ReleaseParked`` naming what a person
    approves; the release messages are judged by when their cancels were decided."""
    clock = ManualClock(T0)
    repository = MemoryOrderRepository()
    ledger = InventoryLedger(MemoryInventoryStore(), secret=b"k" * 16, clock=clock,
                             release_limit=1)
    ledger.receive("SKU-1", 4, reference="PO-1")
    heard: list[OutboxMessage] = []

    class Keeps:
        def publish(self, events: Sequence[object]) -> None:
            heard.extend(m for m in events if isinstance(m, OutboxMessage))

    sink = Keeps()
    service = OrderService(repository, inventory=ledger, sink=sink, clock=clock,
                           deliver=False)
    for name in ("ORD-A", "ORD-B"):
        service.place(Order(name, "tmall", f"T-{name}",
                            [OrderLine("1", "SKU-1", 2, Money("10.00", "CNY"))], T0))
        service.handle(name, Event("cancel", event_id=f"c-{name}", at=clock.now()))
    relay = OutboxRelay(repository, sink=sink, inventory=ledger, clock=clock)
    report = relay.run_until_idle()
    assert (report.failed, report.dead_lettered) == (0, 0)
    assert ledger.stock("SKU-1") == StockLevel("SKU-1", 4, 2, 2)
    (told,) = [m for m in heard if m.topic == "event.ReleaseParked"]
    (parked,) = ledger.pending_review()
    assert told.order_id == "ORD-B"
    assert {k: told.payload[k] for k in ("order_id", "sku", "units", "entry_id")} == {
        "order_id": "ORD-B", "sku": "SKU-1", "units": 2, "entry_id": parked.entry_id,
    }
    assert "lock_id" not in told.payload  # a lock id releases stock: never sent out
    assert relay.run_until_idle().delivered == 0  # told once


def test_a_sink_keeping_what_it_applied_by_message_id_as_the_port_says_loses_no_event() -> None:
    """Every domain event of one decision carries the input event's ``event_id``: a sink
    that ignored an event id it had seen would drop a partial cancel's ``RefundDue``.
    The port names the key that is unique per message, ``message_id``, and the sink
    receives it on every ``OutboxMessage``."""
    from orderkit.lifecycle.ports import EventSink

    doc = EventSink.publish.__doc__ or ""
    assert "message_id" in doc and "per event id" not in doc
    repository, clock = MemoryOrderRepository(), ManualClock(T0)
    seen: set[str] = set()
    booked: list[str] = []

    class DedupingSink:
        def publish(self, events: Sequence[object]) -> None:
            for message in events:
                assert isinstance(message, OutboxMessage)
                if message.message_id in seen:
                    continue
                seen.add(message.message_id)
                booked.append(message.payload["type"])

    service = OrderService(repository, sink=DedupingSink(), clock=clock)
    lines = [OrderLine("1", "TEA", 2, Money("89.00", "CNY")),
             OrderLine("2", "CUP", 1, Money("45.50", "CNY"))]
    service.place(Order("ORD-A", "shop", "A", lines, T0))
    service.handle("ORD-A", Event("pay", event_id="p1", at=T0,
                                  data={"amount": Money("223.50", "CNY")}))
    booked.clear()
    service.handle("ORD-A", Event("cancel_lines", event_id="c1", at=T0,
                                  data={"lines": {"2": 1}}))
    assert "RefundDue" in booked and "LinesCancelled" in booked


def test_a_payment_made_while_the_lock_held_keeps_its_units_though_handled_after() -> None:
    """The lock holds 30 minutes; the payment is made at 01:20 and its callback handled
    at 01:40 (``Event.at`` is the payment's own time). The confirm is judged at 01:20:
    nobody took the units, so the paid order keeps them."""
    clock, repository, ledger, sink, service, relay = _tea_shop()
    service.place(Order("ORD-A", "shop", "A", [OrderLine("1", "TEA", 2, Money("50.00", "CNY"))],
                        T0))
    relay.run_until_idle()
    clock.advance(timedelta(minutes=40))
    service.handle("ORD-A", Event("pay", event_id="p1", at=T0 + timedelta(minutes=20),
                                  data={"amount": Money("100.00", "CNY")}))
    (confirm,) = [s.message for s in repository.pending(10) if s.message.topic == "stock.confirm"]
    assert confirm.occurred_at == T0 + timedelta(minutes=20)
    assert confirm.created_at == T0 + timedelta(minutes=40)  # saved then: the lag counts it
    relay.run_until_idle()
    assert ledger.stock("TEA") == StockLevel("TEA", 2, 2, 0)
    assert "event.ReservationLapsed" not in sink.topics


def test_a_messages_own_time_is_bounded_by_the_clock_and_the_orders_creation() -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    repository = MemoryOrderRepository()
    service = OrderService(repository, sink=Sink(), clock=clock, deliver=False)
    service.place(Order("ORD-A", "shop", "A", [OrderLine("1", "TEA", 2, Money("50.00", "CNY"))],
                        T0))
    service.handle("ORD-A", Event("pay", event_id="early", at=T0 - timedelta(days=1),
                                  data={"amount": Money("50.00", "CNY")}))
    service.handle("ORD-A", Event("pay", event_id="late", at=T0 + timedelta(days=1),
                                  data={"amount": Money("50.00", "CNY")}))
    by_event = {}
    for stored in repository.pending(20):
        by_event.setdefault(stored.message.payload.get("event_id"), stored.message)
    assert by_event["early"].occurred_at == T0  # not before the order was created
    assert by_event["late"].occurred_at == clock.now()  # not after the clock


def test_each_message_carries_the_order_version_and_its_place_in_the_decision() -> None:
    """A replayed dead letter arrives after the order's later messages: its
    ``(order_version, index)`` is below what the consumer applied last, so it can tell."""
    clock = ManualClock(T0)
    repository, sink = MemoryOrderRepository(), Sink()
    service = OrderService(repository, sink=sink, clock=clock, deliver=False)
    service.place(Order("ORD-A", "shop", "A", [OrderLine("1", "TEA", 2, Money("50.00", "CNY"))],
                        T0))
    service.handle("ORD-A", Event("pay", event_id="p1", at=T0,
                                  data={"amount": Money("100.00", "CNY")}))
    paid_version = repository.get("ORD-A").version
    service.handle("ORD-A", Event("refund", event_id="r1", at=T0,
                                  data={"amount": Money("10.00", "CNY")}))
    messages = [s.message for s in repository.pending(20)]
    stamps = [(m.order_version, m.index) for m in messages]
    assert all(version is not None and index is not None for version, index in stamps)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    paid = [m for m in messages if m.payload.get("event_id") == "p1"]
    refunded = [m for m in messages if m.payload.get("event_id") == "r1"]
    assert {m.order_version for m in paid} == {paid_version}  # what the payment saved
    assert [m.index for m in paid] == list(range(len(paid)))
    assert {m.order_version for m in refunded} == {repository.get("ORD-A").version}
