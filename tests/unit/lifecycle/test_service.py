"""OrderService: load, decide, save with the version read, retry by re-deciding, publish."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.lifecycle import (
    DEFAULT_TABLE,
    Actor,
    Event,
    Lifecycle,
    OrderService,
    Policy,
)
from orderkit.lifecycle.ports import OrderRepository
from orderkit.model.audit import AuditEntry
from orderkit.model.errors import (
    ConcurrencyError,
    NotPermitted,
    TransitionNotAllowed,
    ValidationError,
)
from orderkit.model.money import Money
from orderkit.model.orders import Address, Order, OrderLine, OrderStatus
from orderkit.outbox import OutboxMessage
from orderkit.testing import ManualClock
from orderkit.testing.lifecycle import handle_events
from orderkit.testing.processes import race

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def new_order(order_id: str = "ORD-1") -> Order:
    return Order(
        order_id=order_id,
        channel="tmall",
        channel_order_id=f"T-{order_id}",
        lines=[OrderLine("L1", "TEA", 3, Money("10.00", "CNY"))],
        created_at=T0,
        ship_to=Address(name="张*", province="浙江省"),
    )


def pay(event_id: str = "pay-1") -> Event:
    return Event("pay", event_id=event_id, at=T0, data={"amount": Money("30.00", "CNY")})


class ListSink:
    """An EventSink that keeps what it was given."""

    def __init__(self) -> None:
        self.published: list[object] = []

    def publish(self, events: Sequence[object]) -> None:
        self.published.extend(events)


class InterleavingRepository:
    """Wraps a repository; just before the first save (after the order was read),
    another writer gets in first and commits."""

    def __init__(self, inner: OrderRepository, interloper: Any) -> None:
        self.inner = inner
        self.interloper = interloper
        self.blocks = 0


    def get(self, order_id: str) -> Order:
        return self.inner.get(order_id)

    def find_by_channel(self, channel: str, channel_order_id: str) -> Order | None:
        return self.inner.find_by_channel(channel, channel_order_id)

    def save(
        self,
        order: Order,
        expected_version: int | None,
        *,
        audit: Sequence[AuditEntry] = (),
        outbox: Sequence[OutboxMessage] = (),
    ) -> None:
        self.blocks += 1
        if self.blocks == 1 and self.interloper is not None:
            self.interloper()
        self.inner.save(order, expected_version, audit=audit, outbox=outbox)

    def __getattr__(self, name: str) -> Any:
        # The outbox side of the port, unchanged.
        return getattr(self.inner, name)

    def record_audit(self, order_id: str, entries: Sequence[AuditEntry]) -> None:
        self.inner.record_audit(order_id, entries)

    def audit_trail(self, order_id: str) -> list[AuditEntry]:
        return self.inner.audit_trail(order_id)

    def address_history(self, order_id: str) -> list[Any]:
        return self.inner.address_history(order_id)


@pytest.fixture(params=["memory", "sqlite"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderRepository]:
    if request.param == "memory":
        yield MemoryOrderRepository()
    else:
        yield SQLiteOrderRepository(tmp_path / "orders.db")


def service_for(repository: OrderRepository, **kw: Any) -> OrderService:
    return OrderService(repository, clock=ManualClock(T0), **kw)


def test_handle_saves_order_and_audit_then_publishes(repository: OrderRepository) -> None:
    sink = ListSink()
    service = service_for(repository, sink=sink)
    service.place(new_order())
    transition = service.handle("ORD-1", pay())
    stored = repository.get("ORD-1")
    assert stored == transition.order
    assert stored.status is OrderStatus.PAID
    assert [m.topic for m in sink.published] == ["event.PaymentReceived", "event.StatusChanged",
                                                 "event.ReadyToShip"]
    assert sink.published[0].payload["amount"] == {"amount": "30.00", "currency": "CNY"}
    assert [e.event_id for e in repository.audit_trail("ORD-1")] == ["pay-1"]


def test_replayed_event_through_the_service_publishes_nothing(
    repository: OrderRepository,
) -> None:
    sink = ListSink()
    service = service_for(repository, sink=sink)
    service.place(new_order())
    service.handle("ORD-1", pay())
    published = len(sink.published)  # PaymentReceived, StatusChanged, ReadyToShip
    for _ in range(3):
        assert service.handle("ORD-1", pay()).changed is False
    assert len(sink.published) == published == 3
    assert repository.get("ORD-1").version == 1
    assert len(repository.audit_trail("ORD-1")) == 1


def test_refusals_are_audited_and_raised(repository: OrderRepository) -> None:
    policy = Policy({"support": {"cancel", "hold"}})
    service = OrderService(repository, lifecycle=Lifecycle(clock=ManualClock(T0), policy=policy))
    service.place(new_order())
    intern = Actor("intern-7", roles=["support"])
    with pytest.raises(NotPermitted):
        service.handle(
            "ORD-1",
            Event(
                "refund", event_id="r1", at=T0, actor=intern, data={"amount": Money("1.00", "CNY")}
            ),
        )
    with pytest.raises(TransitionNotAllowed):
        service.handle("ORD-1", Event("deliver", event_id="d1", at=T0))
    trail = repository.audit_trail("ORD-1")
    assert [(e.event_id, e.outcome, e.actor) for e in trail] == [
        ("r1", "refused", "intern-7"),
        ("d1", "refused", None),
    ]
    assert "NotPermitted" in trail[0].reason
    assert repository.get("ORD-1").version == 0


def test_bad_input_is_raised_before_anything_is_stored_and_not_audited(
    repository: OrderRepository,
) -> None:
    # A refund beyond what was paid and a return of units never sent are bad input
    # (ValidationError): refused before anything is stored, audit trail included.
    service = service_for(repository)
    service.place(new_order())
    service.handle("ORD-1", pay())
    service.handle("ORD-1", Event("ship", event_id="s1", at=T0,
                                  data={"carrier": "SF", "waybill": "SF1"}))
    trail = repository.audit_trail("ORD-1")
    for name, data in [("refund", {"amount": Money("300.00", "CNY")}),
                       ("return_received", {"lines": {"L1": 4}})]:
        with pytest.raises(ValidationError):
            service.handle("ORD-1", Event(name, event_id=f"bad-{name}", at=T0, data=data))
    assert repository.audit_trail("ORD-1") == trail
    assert repository.get("ORD-1").version == 2


def test_address_versions_are_kept_by_the_repository(repository: OrderRepository) -> None:
    service = service_for(repository)
    service.place(new_order())
    service.handle("ORD-1", pay())
    moved = Address(name="李*", province="江苏省")
    service.handle(
        "ORD-1",
        Event(
            "change_address", event_id="a1", at=T0, actor=Actor("buyer-1"), data={"address": moved}
        ),
    )
    (version,) = repository.address_history("ORD-1")
    assert (version.previous, version.address) == (new_order().ship_to, moved)
    assert (version.event_id, version.actor, version.version) == ("a1", "buyer-1", 2)


def test_conflict_is_resolved_by_rereading_and_redeciding(repository: OrderRepository) -> None:
    service_for(repository).place(new_order())
    other = service_for(repository)
    racing = InterleavingRepository(repository, lambda: other.handle("ORD-1", pay("pay-other")))
    service = service_for(racing)
    transition = service.handle(
        "ORD-1", Event("hold", event_id="h1", at=T0, data={"kind": "manual"})
    )
    assert service.conflicts == 1
    stored = repository.get("ORD-1")
    assert stored == transition.order
    assert stored.status is OrderStatus.PAID  # the other writer's payment survived
    assert stored.hold("manual") is not None
    assert stored.applied_event_ids == ("pay-other", "h1")


def test_same_event_won_by_another_writer_is_not_applied_twice(
    repository: OrderRepository,
) -> None:
    service_for(repository).place(new_order())
    other = service_for(repository)
    racing = InterleavingRepository(repository, lambda: other.handle("ORD-1", pay()))
    sink = ListSink()
    transition = service_for(racing, sink=sink).handle("ORD-1", pay())
    assert transition.changed is False
    assert sink.published == []
    assert len(repository.get("ORD-1").payments) == 1


def test_service_gives_up_after_max_attempts(repository: OrderRepository) -> None:
    service_for(repository).place(new_order())

    class AlwaysLoses(InterleavingRepository):
        def save(
            self,
            order: Order,
            expected_version: int | None,
            *,
            audit: Sequence[AuditEntry] = (),
            outbox: Sequence[OutboxMessage] = (),
        ) -> None:
            raise ConcurrencyError(order.order_id, expected_version, expected_version)

    service = service_for(AlwaysLoses(repository, None), max_attempts=3)
    with pytest.raises(ConcurrencyError):
        service.handle("ORD-1", pay())
    assert service.conflicts == 3


def holds(prefix: str, count: int) -> list[Event]:
    return [
        Event(
            "hold",
            event_id=f"{prefix}-{i}",
            at=T0 + timedelta(seconds=i),
            data={"kind": f"{prefix}-{i}"},
        )
        for i in range(count)
    ]


def test_threads_racing_on_one_sqlite_file_apply_every_event_once(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    SQLiteOrderRepository(path).save(new_order(), expected_version=None)
    shared = pay()
    barrier = threading.Barrier(4)
    results: list[tuple[list[bool], int]] = []

    def worker(index: int) -> None:
        barrier.wait()
        events = [shared, *holds(f"t{index}", 10)]
        results.append(handle_events("ORD-1", events, SQLiteOrderRepository(path)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(changed[0] for changed, _ in results) == 1
    stored = SQLiteOrderRepository(path).get("ORD-1")
    assert stored.version == 1 + 40
    assert len(stored.holds) == 40
    assert len(SQLiteOrderRepository(path).audit_trail("ORD-1")) == 41


@pytest.mark.slow
def test_processes_racing_on_one_sqlite_file_apply_every_event_once(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    SQLiteOrderRepository(path).save(new_order(), expected_version=None)
    shared = pay()
    jobs = [partial(handle_events, "ORD-1", [shared, *holds(f"p{i}", 15)]) for i in range(4)]
    outcomes = race(partial(SQLiteOrderRepository, path), jobs)
    assert sum(changed[0] for changed, _ in outcomes) == 1
    assert all(all(changed[1:]) for changed, _ in outcomes)
    assert sum(conflicts for _, conflicts in outcomes) > 0  # they really overlapped
    stored = SQLiteOrderRepository(path).get("ORD-1")
    assert stored.version == 1 + 60
    assert len(stored.holds) == 60


class RecordingCarrier:
    """A CarrierGateway that remembers address updates."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, Address]] = []

    def create_waybill(self, order: Order) -> str:
        return "unused"

    def update_address(self, waybill: str, address: Address) -> None:
        self.updates.append((waybill, address))

    def cancel(self, waybill: str) -> None:
        pass


def test_address_change_is_forwarded_when_a_waybill_exists(
    repository: OrderRepository,
) -> None:
    carrier = RecordingCarrier()
    service = service_for(repository, carrier=carrier)
    service.place(new_order())
    service.handle("ORD-1", pay())
    moved = Address(name="李*", province="江苏省")
    service.handle("ORD-1", Event("change_address", event_id="a1", at=T0, data={"address": moved}))
    assert carrier.updates == []
    service.handle(
        "ORD-1",
        Event(
            "track",
            event_id="scan-x",
            at=T0,
            data={"status": "exception", "carrier_time": T0, "waybill": "YT1", "carrier": "YTO"},
        ),
    )
    newer = Address(name="王*", province="江苏省")
    service.handle("ORD-1", Event("change_address", event_id="a2", at=T0, data={"address": newer}))
    assert carrier.updates == [("YT1", newer)]


class BrokenCarrier(RecordingCarrier):
    def update_address(self, waybill: str, address: Address) -> None:
        raise ConnectionError("carrier API down")


def test_events_are_published_even_when_the_carrier_call_fails(
    repository: OrderRepository,
) -> None:
    sink = ListSink()
    service = service_for(repository, carrier=BrokenCarrier(), sink=sink)
    service.place(new_order())
    service.handle("ORD-1", pay())
    service.handle(
        "ORD-1",
        Event(
            "track",
            event_id="scan-x",
            at=T0,
            data={"status": "exception", "carrier_time": T0, "waybill": "YT1"},
        ),
    )
    published = len(sink.published)
    with pytest.raises(ConnectionError):
        service.handle(
            "ORD-1",
            Event("change_address", event_id="a1", at=T0, data={"address": Address(name="王*")}),
        )
    assert repository.get("ORD-1").ship_to == Address(name="王*")
    assert len(sink.published) > published


def test_an_order_waits_in_a_host_defined_review_status_and_is_stored_there(
    repository: OrderRepository,
) -> None:
    awaiting_review = 22
    table = DEFAULT_TABLE.extend(
        [
            (OrderStatus.PAID, "submit_review", awaiting_review),
            (awaiting_review, "approve_review", OrderStatus.PAID),
            (awaiting_review, "cancel", OrderStatus.CANCELLED),
        ],
        statuses={awaiting_review: "AWAITING_REVIEW"},
        events={"submit_review", "approve_review"},
    )
    service = service_for(repository, lifecycle=Lifecycle(table, clock=ManualClock(T0)))
    service.place(new_order())
    service.handle("ORD-1", pay())
    held = service.handle("ORD-1", Event("submit_review", event_id="rev-1", at=T0))
    assert held.order.status == awaiting_review
    assert repository.get("ORD-1").status == awaiting_review
    with pytest.raises(TransitionNotAllowed) as refused:
        service.handle(
            "ORD-1",
            Event("ship", event_id="ship-1", at=T0, data={"carrier": "SF", "waybill": "SF1"}),
        )
    assert refused.value.status == "AWAITING_REVIEW"
    approved = service.handle("ORD-1", Event("approve_review", event_id="rev-2", at=T0))
    assert approved.order.status is OrderStatus.PAID
    assert [e.to_status for e in repository.audit_trail("ORD-1")][-2:] == [22, 20]


def test_handle_starts_from_the_order_the_caller_holds(repository: OrderRepository) -> None:
    service = service_for(repository)
    placed = service.place(new_order())
    reads: list[str] = []
    original = repository.get

    def counting_get(order_id: str) -> Order:
        reads.append(order_id)
        return original(order_id)

    repository.get = counting_get  # type: ignore[method-assign]
    paid = service.handle("ORD-1", pay(), current=placed).order
    assert reads == []  # decided from the order held, saved against its version
    assert paid.status == OrderStatus.PAID
    # A held order that is no longer the stored version costs a re-read, not a lost update.
    hold = Event("hold", event_id="h-1", at=T0, data={"kind": "manual", "reason": "check"})
    held = service.handle("ORD-1", hold, current=placed).order
    assert reads == ["ORD-1"]
    assert (held.status, held.version, [h.kind for h in held.holds]) == (
        OrderStatus.PAID, 2, ["manual"])
    with pytest.raises(ValidationError):
        service.handle("ORD-1", pay("pay-2"), current=new_order("ORD-2"))


def test_deliver_later_runs_the_relay_once_when_the_block_ends(
    repository: OrderRepository,
) -> None:
    sink = ListSink()
    service = service_for(repository, sink=sink)
    for n in (1, 2):
        service.place(new_order(f"ORD-{n}"))
    with service.deliver_later():
        with service.deliver_later():  # nested: only the outermost block delivers
            service.handle("ORD-1", pay())
        service.handle("ORD-2", pay())
        assert sink.published == []
    assert sorted({e.order_id for e in sink.published}) == ["ORD-1", "ORD-2"]  # type: ignore[attr-defined]
    assert service.last_delivery is not None and service.last_delivery.delivered >= 2
    # A block that fails owes nothing more; the next delivery catches up.
    def failing_host() -> None:
        with service.deliver_later():
            service.handle("ORD-1", Event("pack", event_id="pack-1", at=T0))
            raise RuntimeError("host failed after the decision")

    with pytest.raises(RuntimeError):
        failing_host()
    published = len(sink.published)
    service.handle("ORD-2", Event("pack", event_id="pack-2", at=T0))
    assert len(sink.published) > published


def test_deliver_later_inside_a_host_block_delivers_once_the_host_commits(
    repository: OrderRepository,
) -> None:
    sink = ListSink()
    service = service_for(repository, sink=sink)
    for n in (1, 2):
        service.place(new_order(f"ORD-{n}"))
    published = len(sink.published)
    with repository.atomic():  # the host's own block, around a sync page's
        with service.deliver_later():
            service.handle("ORD-1", pay())
        assert len(sink.published) == published  # the host has not committed
    assert [m.topic for m in sink.published[published:]] == [
        "event.PaymentReceived", "event.StatusChanged", "event.ReadyToShip"]
    published = len(sink.published)

    def failing_host() -> None:
        with repository.atomic():
            with service.deliver_later():
                service.handle("ORD-2", pay("pay-2"))
            raise RuntimeError("host failed after the page")

    with pytest.raises(RuntimeError):
        failing_host()
    assert len(sink.published) == published  # rolled back: told no one
    assert repository.get("ORD-2").status is OrderStatus.PENDING_PAYMENT


def test_decisions_in_a_block_are_delivered_by_one_run_once_it_commits(
    repository: OrderRepository,
) -> None:
    sink = ListSink()
    service = service_for(repository, sink=sink)
    for n in (1, 2):
        service.place(new_order(f"ORD-{n}"))
    runs: list[int] = []
    relay = service.relay
    assert relay is not None
    run_once = relay.run_once
    relay.run_once = lambda limit=100: runs.append(limit) or run_once(limit)  # type: ignore[method-assign]
    with repository.atomic():
        service.handle("ORD-1", pay())
        with repository.atomic():
            service.handle("ORD-2", pay())
        assert sink.published == [] and runs == []  # the block has not committed
    assert sorted({e.order_id for e in sink.published}) == ["ORD-1", "ORD-2"]  # type: ignore[attr-defined]
    assert len(runs) == 1  # the block's decisions: one relay run after its commit
    published = len(sink.published)

    def failing_host() -> None:
        with repository.atomic():
            service.handle("ORD-1", Event("pack", event_id="pack-1", at=T0))
            raise RuntimeError("host failed after the decision")

    with pytest.raises(RuntimeError):
        failing_host()
    assert len(sink.published) == published and len(runs) == 1
    assert repository.get("ORD-1").status is OrderStatus.PAID  # rolled back, told no one


class WithoutAfterCommit(InterleavingRepository):
    """A host's own repository written before ``after_commit`` was in the port."""

    def __getattr__(self, name: str) -> Any:
        if name == "after_commit":
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_a_host_repository_without_after_commit_is_delivered_to_at_once(
    repository: OrderRepository,
) -> None:
    sink = ListSink()
    host = WithoutAfterCommit(repository, None)
    assert not hasattr(host, "after_commit")
    service = service_for(host, sink=sink)  # type: ignore[arg-type]
    service.place(new_order())
    with repository.atomic():
        service.handle("ORD-1", pay())
        assert [m.topic for m in sink.published][-3:] == [
            "event.PaymentReceived", "event.StatusChanged",
            "event.ReadyToShip"]  # at once, as before 0.3


def test_advance_and_decide_refuse_an_event_where_the_step_function_belongs(
    repository: OrderRepository,
) -> None:
    service = service_for(repository)
    order = service.place(new_order())
    for call in (lambda: service.decide(order, pay()),  # type: ignore[arg-type]
                 lambda: service.advance("ORD-1", pay()),  # type: ignore[arg-type]
                 lambda: service.decide(order, "pay")):  # type: ignore[arg-type]
        with pytest.raises(ValidationError) as refused:
            call()
        assert refused.value.path == "step" and "use handle" in str(refused.value)
    assert repository.get("ORD-1").version == order.version  # nothing written


def test_advance_saves_every_event_it_applies_in_one_save(repository: OrderRepository) -> None:
    service = service_for(repository)
    service.place(new_order())
    saves: list[int] = []
    original = repository.save

    def counting_save(order: Order, expected: int | None, **kw: Any) -> None:
        saves.append(order.version)
        original(order, expected, **kw)

    repository.save = counting_save  # type: ignore[method-assign]
    script = [pay(), Event("pack", event_id="pack-1", at=T0),
              Event("ship", event_id="ship-1", at=T0, data={"carrier": "sf", "waybill": "SF1"})]

    def step(order: Order) -> Event | None:
        return script[order.version] if order.version < len(script) else None

    moved = service.advance("ORD-1", step)
    assert [t.order.status for t in moved] == [
        OrderStatus.PAID, OrderStatus.PACKED, OrderStatus.SHIPPED]
    assert saves == [3]  # one save, version raised once per event
    stored = repository.get("ORD-1")
    assert stored == moved[-1].order
    assert [e.event_id for e in repository.audit_trail("ORD-1")] == ["pay-1", "pack-1", "ship-1"]
    assert service.advance("ORD-1", step) == ()  # nothing left to do
    assert saves == [3]


def test_advance_refused_midway_saves_nothing_and_audits_the_refusal(
    repository: OrderRepository,
) -> None:
    service = service_for(repository)
    service.place(new_order())
    script = [pay(), Event("deliver", event_id="deliver-1", at=T0)]  # PAID cannot deliver
    with pytest.raises(TransitionNotAllowed):
        service.advance("ORD-1", lambda order: script[order.version])
    stored = repository.get("ORD-1")
    assert (stored.version, stored.status) == (0, OrderStatus.PENDING_PAYMENT)
    assert [(e.event_id, e.outcome) for e in repository.audit_trail("ORD-1")] == [
        ("deliver-1", "refused")]
    with pytest.raises(ValidationError):
        service.advance("ORD-1", lambda order: None, limit=0)


class NaiveClock:
    """A host clock that (wrongly) gives naive datetimes."""

    def now(self) -> datetime:
        return datetime(2026, 2, 16, 2, 0)


def test_a_naive_host_clock_is_refused_naming_clock_now(repository: OrderRepository) -> None:
    service = OrderService(repository, clock=NaiveClock(), sink=ListSink())
    service.place(new_order())
    with pytest.raises(ValidationError) as refused:
        service.handle("ORD-1", pay())
    assert refused.value.path == "clock.now()"
    assert repository.get("ORD-1").version == 0  # nothing written


def test_the_refunded_event_carries_the_refund_s_reference(repository: OrderRepository) -> None:
    from orderkit.lifecycle import Refunded
    from orderkit.model.serialization import from_dict, to_dict

    sink = ListSink()
    service = service_for(repository, sink=sink)
    service.place(new_order())
    service.handle("ORD-1", pay())
    t = service.handle("ORD-1", Event("refund", event_id="rf-1", at=T0, data={
        "amount": Money("10.00", "CNY"), "lines": {"L1": 1}, "reference": "TB-REFUND-9"}))
    (refunded,) = [e for e in t.events if isinstance(e, Refunded)]
    assert refunded.reference == "TB-REFUND-9"
    (message,) = [m for m in sink.published if m.topic == "event.Refunded"]
    assert message.payload["reference"] == "TB-REFUND-9"
    assert from_dict(Refunded, to_dict(refunded)) == refunded
    # A message written before the field existed reads back with no reference.
    older = {k: v for k, v in to_dict(refunded).items() if k != "reference"}
    assert from_dict(Refunded, older).reference == ""


def _ended(status: OrderStatus, *payments: Any, **changes: Any) -> Order:
    """``new_order`` placed as it is in ``status``, its units shipped."""
    from orderkit.model.orders import LineStatus

    line = OrderLine("L1", "TEA", 3, Money("10.00", "CNY"), quantities={LineStatus.SHIPPED: 3})
    return Order("ORD-E", "woocommerce", "E", [line], T0, status=status, payments=payments,
                 **changes)


def test_place_refuses_an_order_in_a_final_status_still_owing_money() -> None:
    """A COMPLETED order no payment paid for (a payload read without its payment) would
    end owing what no event can collect: refused, naming the amount, nothing stored."""
    from orderkit.model.orders import Payment, PaymentKind

    repository = MemoryOrderRepository()
    service = OrderService(repository)
    back = Payment("r1", Money("19.00", "CNY"), T0, kind=PaymentKind.REFUND)
    paid = Payment("p1", Money("30.00", "CNY"), T0)
    with pytest.raises(ValidationError) as caught:
        service.place(_ended(OrderStatus.COMPLETED, paid, back))
    assert caught.value.path == "order.payments"
    assert caught.value.value == Money("19.00", "CNY")
    assert "COMPLETED with CNY 19.00 due" in caught.value.reason
    assert repository.find_by_channel("woocommerce", "E") is None


def test_place_settles_an_ended_order_as_the_lifecycle_ends_one() -> None:
    """A cash on delivery order the buyer refused at the door, imported CLOSED: every
    unit RETURNED, its 8.00 shipping charged, nothing paid. Ending it through events
    waives that shipping (nobody will collect it); placed as it is, it is settled the
    same way, with the waiver stored, instead of refused."""
    from orderkit.model.orders import (
        Adjustment,
        AdjustmentKind,
        Bearer,
        LineStatus,
        PaymentTerms,
        Shipment,
    )

    cny = partial(Money, currency="CNY")
    line = OrderLine("L1", "TEA", 3, cny("10.00"), quantities={LineStatus.RETURNED: 3})
    refused = Order("ORD-R", "jd", "R", [line], T0, status=OrderStatus.CLOSED,
                    payment_terms=PaymentTerms.ON_DELIVERY,
                    adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("8.00"),
                                            Bearer.MERCHANT)],
                    shipments=[Shipment("S1", "JD", "JD1", {"L1": 3}, T0)])
    repository = MemoryOrderRepository()
    placed = OrderService(repository).place(refused)
    assert placed.status is OrderStatus.CLOSED and not placed.due.amount
    assert repository.get("ORD-R") == placed
    (waiver,) = [a for a in placed.adjustments
                 if a.kind is AdjustmentKind.SHIPPING_CONCESSION]
    assert (waiver.amount, waiver.borne_by) == (cny("8.00"), Bearer.MERCHANT)

    clock = ManualClock(T0)
    lifecycle = Lifecycle(clock=clock)
    story = attrs.evolve(refused, status=OrderStatus.PENDING_PAYMENT, shipments=(),
                         lines=(OrderLine("L1", "TEA", 3, cny("10.00")),))
    for event_id, name, data in [("E1", "ship", {"carrier": "JD", "waybill": "JD1"}),
                                 ("E2", "return_received", {"lines": {"L1": 3}})]:
        clock.advance(timedelta(hours=1))
        story = lifecycle.apply(story, Event(name, event_id=event_id, at=clock.now(),
                                             data=data)).order
    assert story.status is OrderStatus.CLOSED
    assert story.totals == placed.totals
    assert [(a.kind, a.amount, a.borne_by) for a in story.adjustments] == [
        (a.kind, a.amount, a.borne_by) for a in placed.adjustments]


def test_place_refuses_refunds_beyond_what_was_paid() -> None:
    from orderkit.model.orders import Payment, PaymentKind

    service = OrderService(MemoryOrderRepository())
    back = Payment("r1", Money("19.00", "CNY"), T0, kind=PaymentKind.REFUND)
    with pytest.raises(ValidationError) as caught:
        service.place(_ended(OrderStatus.SHIPPED, back))
    assert caught.value.path == "order.payments"
    assert caught.value.value == Money("19.00", "CNY")
    assert "CNY 19.00 refunded" in caught.value.reason
    assert "CNY 0.00 paid" in caught.value.reason


def test_place_takes_an_ended_order_settled_or_collectable_later() -> None:
    """Paid in full and completed, or a cash on delivery order completed before the
    carrier remitted (a ``pay`` in COMPLETED still settles it): placed as they are."""
    from orderkit.model.orders import Payment, PaymentTerms

    service = OrderService(MemoryOrderRepository())
    paid = Payment("p1", Money("30.00", "CNY"), T0)
    assert service.place(_ended(OrderStatus.COMPLETED, paid)).status == OrderStatus.COMPLETED
    cod = attrs.evolve(_ended(OrderStatus.COMPLETED), order_id="ORD-COD",
                       channel_order_id="COD", payment_terms=PaymentTerms.ON_DELIVERY)
    assert service.place(cod).totals.due == Money("30.00", "CNY")


@pytest.mark.parametrize("since", [None, T0 + timedelta(hours=3)])
def test_an_order_placed_paid_without_paid_at_is_paid_from_its_placement_for_good(
    since: datetime | None, tmp_path: Path,
) -> None:
    """An importer places an order already PAID with no ``paid_at``: it is stamped paid
    when it entered that status (its ``status_since``, else ``created_at``), so packing
    it two days later does not restart its "paid and not shipped" clock."""
    from orderkit.model.orders import Payment

    for repository in (MemoryOrderRepository(), SQLiteOrderRepository(tmp_path / "o.db")):
        clock = ManualClock(T0 + timedelta(hours=4))
        service = OrderService(repository, clock=clock)
        paid = attrs.evolve(new_order(), status=OrderStatus.PAID, status_since=since,
                            payments=[Payment("p1", Money("30.00", "CNY"), T0)])
        placed_at = since or T0
        assert service.place(paid).paid_at == placed_at
        packed_at = T0 + timedelta(days=2)
        service.handle("ORD-1", Event("pack", event_id="pack-1", at=packed_at))
        stored = repository.get("ORD-1")
        assert stored.status is OrderStatus.PACKED and stored.paid_at == placed_at
        late = repository.stale([OrderStatus.PAID, OrderStatus.PACKED], "ship_due_at",
                                placed_at + timedelta(hours=25), 10)
        assert [o.order_id for o in late] == ["ORD-1"]
