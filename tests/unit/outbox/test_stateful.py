"""The order service, its outbox and the inventory ledger, under any interleaving.

A state machine places orders (their stock is locked at once), pays, cancels, ships,
lets a carrier scan prove a shipment no ``ship`` recorded, lets time pass (unpaid locks
expire; confirmed ones must not), runs the relay in small batches, crashes it (its
ledger raises before or after booking one message: a failure the relay records, or a
process that dies mid-batch) and restarts it, and receives stock. It runs on the memory
adapters and on SQLite (orders and inventory on one file, sharing one transaction).

A plain model of the ledger (on hand, lock lines, expiry) follows what the relay was
seen to book, and when; after every step each SKU has ``on_hand == available + locked``
and the ledger's counters are the model's. After the relay is drained (a rule, and at
teardown), the ledger is checked against the stored orders alone: ``on_hand`` is what
came in minus what the orders say shipped; ``locked`` is the open units of the orders
still holding stock (unpaid within the payment timeout, or paid and confirmed in time);
nothing waits or is dead; ``verify()`` reports exactly the oversold SKUs; every event
message reached the sink once, in order per order; every oversell and lapsed
reservation the ledger found reached the sink.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
from hypothesis import HealthCheck, currently_in_test_context, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orderkit import LineStatus, Money, Order, OrderLine, OrderStatus
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.errors import (
    InsufficientStock,
    OrderNotFound,
    RefusedError,
    TransitionNotAllowed,
    ValidationError,
)
from orderkit.inventory import NEVER, InventoryLedger, ReleaseResult
from orderkit.inventory.ports import InventoryStore
from orderkit.lifecycle import Event, OrderService
from orderkit.lifecycle.ports import OrderRepository
from orderkit.outbox import (
    STOCK_COMMIT,
    STOCK_CONFIRM,
    STOCK_RELEASE,
    OutboxMessage,
    OutboxRelay,
    StockCall,
    StoredMessage,
)
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
SKUS = ("TEA", "CUP", "POT")
PAYMENT_TIMEOUT = timedelta(minutes=30)
SECRET = b"outbox-stateful-secret-0123456789"
#: More than any run holds, so a snapshot of the outbox is the whole of it.
ALL: Final = 10_000
#: A crashing relay's ``max_attempts``: a message it fails that often is a dead letter.
CRASH_ATTEMPTS = 2
TOPICS = {"release": STOCK_RELEASE, "commit": STOCK_COMMIT, "confirm": STOCK_CONFIRM}
FINDINGS = ("event.OversellDetected", "event.ReservationLapsed")
#: An order's lines: 1 to 3 of (SKU, quantity).
LINES = st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 3)), min_size=1, max_size=3)
#: Picks an order (modulo how many there are).
CHOICE = st.integers(0, 15)
REFUSED = (TransitionNotAllowed, ValidationError)
PAID = (OrderStatus.PAID, OrderStatus.PACKED)


def event(value: str) -> None:
    """Count ``value`` in hypothesis's statistics (and nothing outside a hypothesis test)."""
    if currently_in_test_context():
        hypothesis_event(value)


class RelayDied(BaseException):
    """The relay's process dies: not an ``Exception``, so nothing in the relay records
    it and its batch's open transaction is abandoned."""


class LedgerDown(ConnectionError):
    """The ledger failed one call: the relay records the failure and backs off."""


# --- the relay's ledger, observed ------------------------------------------------------------


@attrs.frozen
class Crash:
    """Where the relay crashes: at the call for ``target`` (a stock message),
    ``"before"`` or ``"after"`` the real ledger booked it; its process ``dies``, or the
    call fails and the relay records it. A relay that survives a failed batch tries its
    messages one at a time: the crash then hits the target's own call again, so that it
    is the target that fails, as the relay would find out."""

    target: OutboxMessage
    when: str
    dies: bool

    def hits(self, method: str, lock_id: str, lines: Mapping[str, int] | None) -> bool:
        payload = self.target.payload
        return (
            self.target.topic == TOPICS[method]
            and payload.get("lock_id") == lock_id
            and (method == "confirm" or payload.get("lines") == lines)
        )


@attrs.frozen
class Call:
    """One stock call that reached the real ledger and returned (``ref``: the id of
    the message it was made for, when made by ``apply_many``)."""

    method: str
    lock_id: str
    lines: Mapping[str, int] | None
    result: ReleaseResult
    ref: str | None = None


class Spy:
    """Passes the relay's stock calls to the real ledger and records those that returned;
    with a :class:`Crash`, the call for its message raises (:class:`RelayDied` when the
    process dies, else :class:`LedgerDown`)."""

    def __init__(self, ledger: InventoryLedger, crash: Crash | None = None) -> None:
        self.ledger = ledger
        self.crash = crash
        self.calls: list[Call] = []

    def release(
        self,
        lock_id: str,
        lines: Mapping[str, int] | None = None,
        *,
        order_id: str | None = None,
        ref: str | None = None,
    ) -> ReleaseResult:
        return self._call(
            "release", lock_id, lines,
            lambda: self.ledger.release(lock_id, lines, order_id=order_id, ref=ref),
        )

    def commit(
        self,
        lock_id: str,
        lines: Mapping[str, int] | None = None,
        *,
        order_id: str | None = None,
        ref: str | None = None,
    ) -> ReleaseResult:
        return self._call(
            "commit", lock_id, lines,
            lambda: self.ledger.commit(lock_id, lines, order_id=order_id, ref=ref),
        )

    def confirm(
        self, lock_id: str, *, order_id: str | None = None, ref: str | None = None
    ) -> ReleaseResult:
        return self._call(
            "confirm", lock_id, None,
            lambda: self.ledger.confirm(lock_id, order_id=order_id, ref=ref),
        )

    def restock(
        self, lines: Mapping[str, int], *, order_id: str, ref: str, reason: str = "return"
    ) -> ReleaseResult:
        return self.ledger.restock(lines, order_id=order_id, ref=ref, reason=reason)

    def apply_many(self, calls: Sequence[StockCall]) -> list[ReleaseResult | RefusedError]:
        crash = self.crash
        hit = crash is not None and any(c.ref == crash.target.message_id for c in calls)
        if crash is not None and hit and crash.when == "before":
            self._fire(crash, len(calls))
        results = self.ledger.apply_many(calls)
        for call, result in zip(calls, results, strict=True):
            if isinstance(result, ReleaseResult) and call.operation in TOPICS:
                lines = None if call.lines is None else dict(call.lines)
                self.calls.append(Call(call.operation, call.lock_id or "", lines, result,
                                       call.ref))
        if crash is not None and hit:
            self._fire(crash, len(calls))
        return results

    def _fire(self, crash: Crash, size: int) -> None:
        if crash.dies or size == 1:
            self.crash = None  # one message only
        self._raise(crash)

    def _call(
        self,
        method: str,
        lock_id: str,
        lines: Mapping[str, int] | None,
        call: Callable[[], ReleaseResult],
    ) -> ReleaseResult:
        crash = self.crash
        if crash is not None and crash.hits(method, lock_id, lines):
            self.crash = None  # one message only
            if crash.when == "before":
                self._raise(crash)
        else:
            crash = None
        result = call()
        self.calls.append(Call(method, lock_id, None if lines is None else dict(lines), result))
        if crash is not None:
            self._raise(crash)
        return result

    @staticmethod
    def _raise(crash: Crash) -> None:
        topic = crash.target.topic
        event(f"crash: {'dies' if crash.dies else 'fails'} {crash.when} the ledger ({topic})")
        if crash.dies:
            raise RelayDied(crash.when)
        raise LedgerDown(f"simulated crash {crash.when} the ledger")


class Sink:
    """Keeps every message by id, notes any id delivered twice."""

    def __init__(self) -> None:
        self.kept: dict[str, OutboxMessage] = {}
        self.twice: list[str] = []

    def publish(self, events: Sequence[object]) -> None:
        for message in events:
            assert isinstance(message, OutboxMessage)
            if message.message_id in self.kept:
                self.twice.append(message.message_id)
            self.kept[message.message_id] = message


# --- a plain model of the ledger -------------------------------------------------------------


@attrs.define
class ModelLine:
    remaining: int
    expires_at: datetime
    expired: int = 0  # lost by time, not let go of by a release since
    shipped_unlocked: int = 0  # shipped beyond what the line still held

    @property
    def still_wanted(self) -> int:
        """Expired units the order has neither shipped nor let go of since."""
        return max(0, self.expired - self.shipped_unlocked)


@attrs.define
class ModelLedger:
    """On hand per SKU and each order's lock lines; expiry is a function of time."""

    on_hand: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(SKUS, 0))
    locks: dict[str, dict[str, ModelLine]] = attrs.Factory(dict)

    def expire(self, now: datetime) -> None:
        for lines in self.locks.values():
            for line in lines.values():
                if line.remaining and line.expires_at <= now:
                    line.expired += line.remaining
                    line.remaining = 0

    def locked(self, sku: str, now: datetime) -> int:
        self.expire(now)
        return sum(lines[sku].remaining for lines in self.locks.values() if sku in lines)

    def available(self, sku: str, now: datetime) -> int:
        return self.on_hand[sku] - self.locked(sku, now)

    def lock(self, order_id: str, demand: Mapping[str, int], now: datetime) -> bool:
        if any(qty > self.available(sku, now) for sku, qty in demand.items()):
            return False
        self.locks[order_id] = {
            sku: ModelLine(qty, now + PAYMENT_TIMEOUT) for sku, qty in demand.items()
        }
        return True

    def release(self, order_id: str, lines: Mapping[str, int] | None, now: datetime) -> None:
        self.expire(now)
        held = self.locks[order_id]
        for sku, line in held.items():
            asked = line.remaining + line.still_wanted if lines is None else lines.get(sku, 0)
            # Expired units the order still wanted are let go of first: no stock moves.
            let_go = min(asked, line.still_wanted)
            line.expired -= let_go
            line.remaining -= min(asked - let_go, line.remaining)

    def commit(self, order_id: str, lines: Mapping[str, int], now: datetime) -> dict[str, int]:
        """Ship ``lines``; the units that went below what was available, per SKU."""
        oversold: dict[str, int] = {}
        for sku, qty in sorted(lines.items()):
            before = self.available(sku, now)
            line = self.locks[order_id][sku]
            held = min(qty, line.remaining)
            line.remaining -= held
            line.shipped_unlocked += qty - held
            self.on_hand[sku] -= qty
            below = max(0, -self.available(sku, now)) - max(0, -before)
            if below > 0:
                oversold[sku] = below
        return oversold

    def confirm(self, order_id: str, now: datetime, paid_at: datetime) -> dict[str, int]:
        """The lock stops expiring, judged at the payment's instant: units that expired
        only after it, and that the order still wants (neither shipped nor let go of
        since), are locked again while still available; the units it still wants and
        could not get, per SKU."""
        self.expire(now)
        lapsed: dict[str, int] = {}
        for sku, line in sorted(self.locks[order_id].items()):
            wanted = line.still_wanted
            back = 0
            if wanted and paid_at < line.expires_at:
                back = min(wanted, max(0, self.available(sku, now)))
                line.expired -= back
                line.remaining += back
            if wanted > back:
                lapsed[sku] = wanted - back
            if line.remaining:
                line.expires_at = NEVER
        return lapsed


def finding_key(message: OutboxMessage) -> tuple[Any, ...]:
    """What a finding says, comparable with what the model expects."""
    payload = message.payload
    if message.topic == "event.OversellDetected":
        return ("oversell", payload["cause"], tuple(payload["order_ids"]), payload["sku"],
                payload["units"])
    return ("lapsed", payload["cause"], payload["order_id"],
            tuple(sorted(dict(payload["lines"]).items())))


# --- the machine -----------------------------------------------------------------------------


class OutboxMachine(RuleBasedStateMachine):
    """Service, outbox, relay and ledger on the memory adapters."""

    #: Whether the ledger's writes join the outbox store's transaction (then a batch the
    #: relay abandons takes its stock movements with it).
    shared_transaction = False

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.repository, store = self.make_stores()
        # The release breaker is not what this machine is about: it never trips here.
        self.ledger = InventoryLedger(store, secret=SECRET, clock=self.clock,
                                      release_limit=10**6)
        self.sink = Sink()
        self.service = OrderService(
            self.repository, inventory=self.ledger, clock=self.clock, deliver=False,
            payment_timeout=PAYMENT_TIMEOUT, sink=self.sink,
        )
        self.relay, self.spy = self.fresh_relay()
        self.model = ModelLedger()
        self.received: dict[str, int] = dict.fromkeys(SKUS, 0)
        self.order_ids: list[str] = []
        self.placed_at: dict[str, datetime] = {}
        self.events = 0
        #: Every message a decision saved, in the order the outbox returned them.
        self.messages: dict[str, OutboxMessage] = {}
        self.saved: list[str] = []
        self.drained = 0  # how many of them were saved before the last drain
        #: Stock messages the ledger booked (each once), and when a confirm was booked.
        self.booked: set[str] = set()
        self.confirmed_at: dict[str, datetime] = {}
        self.ever_dead: set[str] = set()
        #: Findings the relay must deliver, and those it may lose (see ``run``).
        self.required: set[tuple[Any, ...]] = set()
        #: Set by each rule, cleared by the invariants: teardown checks a healthy run only.
        self.in_step = False

    def make_stores(self) -> tuple[OrderRepository, InventoryStore]:
        return MemoryOrderRepository(), MemoryInventoryStore()

    def fresh_relay(self, crash: Crash | None = None) -> tuple[OutboxRelay, Spy]:
        spy = Spy(self.ledger, crash)
        attempts = CRASH_ATTEMPTS if crash is not None else 10
        relay = OutboxRelay(self.repository, sink=self.sink, inventory=spy, clock=self.clock,
                            max_attempts=attempts)
        return relay, spy

    def teardown(self) -> None:
        try:
            if not self.in_step:
                self.drain_and_check()
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        """Nothing to remove for the memory adapters."""

    # --- helpers -----------------------------------------------------------------------------

    def begin(self) -> None:
        self.in_step = True

    def now(self) -> datetime:
        return self.clock.now()

    def pick(self, choice: int, fitting: bool, *statuses: int) -> Order:
        """The ``choice``-th order, of those in ``statuses`` when ``fitting`` (and there
        are any): any order may be refused, which is allowed too."""
        orders = [self.repository.get(order_id) for order_id in self.order_ids]
        if fitting and any(order.status in statuses for order in orders):
            orders = [order for order in orders if order.status in statuses]
        return orders[choice % len(orders)]

    def handle(self, order_id: str, name: str, data: Mapping[str, Any] | None = None) -> None:
        self.events += 1
        try:
            self.service.handle(
                order_id, Event(name, event_id=f"E{self.events}", at=self.now(), data=data)
            )
        except REFUSED as error:
            event(f"{name}: {type(error).__name__}")
        else:
            event(f"{name}: applied")
        self.note_saved()

    def note_saved(self) -> None:
        for stored in self.repository.pending(ALL):
            message = stored.message
            if message.message_id not in self.messages and message.topic not in FINDINGS:
                self.messages[message.message_id] = message
                self.saved.append(message.message_id)

    def run(self, relay: OutboxRelay, spy: Spy, batch: Callable[[], Any]) -> Any:
        """Run ``batch`` on ``relay`` and book in the model what the ledger kept, in the
        order the relay called it, at this instant."""
        now = self.now()
        before = list(self.repository.pending(ALL))
        spy.calls = []
        report = None
        with contextlib.suppress(RelayDied):
            report = batch()
        waiting = {s.message.message_id for s in self.repository.pending(ALL)}
        dead = {s.message.message_id for s in self.repository.dead_letters()}
        self.ever_dead |= dead
        delivered = {s.message.message_id for s in before} - waiting - dead
        used: set[str] = set()
        for call in spy.calls:
            message = self.message_of(call, before, used)
            marked = message.message_id in delivered
            # Where the ledger shares the outbox's transaction, a movement whose message
            # was not marked delivered was rolled back with it.
            if self.shared_transaction and not marked:
                continue
            self.book(message, call, now)
        for message_id in delivered:
            if message_id in self.messages and self.is_stock(message_id):
                assert message_id in self.booked, f"{message_id} delivered, never booked"
        return report

    def is_stock(self, message_id: str) -> bool:
        return self.messages[message_id].topic.startswith("stock.")

    @staticmethod
    def message_of(call: Call, pending: Sequence[StoredMessage], used: set[str]) -> OutboxMessage:
        """The pending message this call delivers: the one it names, or the first that
        fits (the relay goes oldest first)."""
        if call.ref is not None:
            return next(s.message for s in pending if s.message.message_id == call.ref)
        for stored in pending:
            message = stored.message
            payload = message.payload
            if (
                message.message_id not in used
                and message.topic == TOPICS[call.method]
                and payload.get("lock_id") == call.lock_id
                and (call.method == "confirm" or payload.get("lines") == call.lines)
            ):
                used.add(message.message_id)
                return message
        raise AssertionError(f"the ledger was called for no pending message: {call}")

    def book(self, message: OutboxMessage, call: Call, now: datetime) -> None:
        """Apply one stock message to the model, once, and expect what it finds."""
        if message.message_id in self.booked:
            return
        order_id = message.order_id
        mine = [m for m in self.saved if self.messages[m].order_id == order_id
                and self.is_stock(m)]
        for earlier in mine[: mine.index(message.message_id)]:
            assert earlier in self.booked or earlier in self.ever_dead, (
                f"{message.topic} of {order_id} booked before an earlier message"
            )
        self.booked.add(message.message_id)
        cause = message.message_id
        found: set[tuple[Any, ...]] = set()
        if call.method == "release":
            self.model.release(order_id, call.lines, now)
        elif call.method == "commit":
            assert call.lines is not None
            oversold = self.model.commit(order_id, call.lines, now)
            found = {("oversell", cause, (order_id,), sku, n) for sku, n in oversold.items()}
            if oversold:
                event("oversell")
        else:
            self.confirmed_at[order_id] = now
            lapsed = self.model.confirm(order_id, now, message.created_at)
            if lapsed:
                found = {("lapsed", cause, order_id, tuple(sorted(lapsed.items())))}
                event("reservation lapsed")
        # A movement booked by a run that did not mark its message delivered, on a ledger
        # outside the outbox's transaction, is found "already_applied" on redelivery; the
        # ledger keeps what the first call found, so it is still reported.
        self.required.update(found)

    # --- rules -------------------------------------------------------------------------------

    @initialize(stock=st.lists(st.integers(2, 6), min_size=len(SKUS), max_size=len(SKUS)),
                orders=st.lists(LINES, max_size=2))
    def opening_stock(
        self, stock: list[int], orders: Sequence[list[tuple[str, int]]] = ()
    ) -> None:
        for sku, qty in zip(SKUS, stock, strict=True):
            self.receive_stock(sku, qty)
        for lines in orders:
            self.place(lines)

    @rule(sku=st.sampled_from(SKUS), qty=st.integers(1, 3))
    def receive_stock(self, sku: str, qty: int) -> None:
        self.begin()
        self.ledger.receive(sku, qty, reference="PO")
        self.model.on_hand[sku] += qty
        self.received[sku] += qty

    @rule(lines=LINES)
    def place(self, lines: list[tuple[str, int]]) -> None:
        self.begin()
        order_id = f"ORD-{len(self.placed_at) + 1}"
        now = self.now()
        self.placed_at[order_id] = now
        order = Order(
            order_id=order_id, channel="shop", channel_order_id=order_id,
            lines=[OrderLine(f"L{i}", sku, qty, Money("10.00", "CNY"))
                   for i, (sku, qty) in enumerate(lines, 1)],
            created_at=now,
        )
        demand: dict[str, int] = {}
        for sku, qty in lines:
            demand[sku] = demand.get(sku, 0) + qty
        if self.model.lock(order_id, demand, now):
            stored = self.service.place(order)
            assert stored.lock_id is not None
            self.order_ids.append(order_id)
            event("place: locked")
        else:
            with pytest.raises(InsufficientStock):
                self.service.place(order)
            with pytest.raises(OrderNotFound):
                self.repository.get(order_id)
            event("place: InsufficientStock")

    @precondition(lambda self: bool(self.order_ids))
    @rule(
        name=st.sampled_from(["pay", "pack", "cancel_some_units", "cancel", "ship",
                              "carrier_scan"]),
        choice=CHOICE, fitting=st.booleans(), line=st.integers(0, 2), units=st.integers(1, 3),
        status=st.sampled_from(["signed", "in_transit"]),
    )
    def decide(
        self, name: str, choice: int, fitting: bool, line: int, units: int, status: str
    ) -> None:
        """One event for one order (one rule, so that every kind of event is enabled in
        every run: a late shipment needs a placement, a payment and a shipment)."""
        self.begin()
        if name == "cancel_some_units":
            self.cancel_some_units(choice, fitting, line, units)
        elif name == "carrier_scan":
            self.carrier_scan(choice, fitting, status)
        else:
            getattr(self, name)(choice, fitting)

    def pay(self, choice: int, fitting: bool) -> None:
        order = self.pick(choice, fitting, OrderStatus.PENDING_PAYMENT)
        self.handle(order.order_id, "pay", {"amount": order.totals.payable})

    def pack(self, choice: int, fitting: bool) -> None:
        self.handle(self.pick(choice, fitting, OrderStatus.PAID).order_id, "pack")

    def cancel_some_units(self, choice: int, fitting: bool, line: int, units: int) -> None:
        order = self.pick(choice, fitting, OrderStatus.PENDING_PAYMENT, *PAID)
        line_id = order.lines[line % len(order.lines)].line_id
        self.handle(order.order_id, "cancel_lines", {"lines": {line_id: units}})

    def cancel(self, choice: int, fitting: bool) -> None:
        order = self.pick(choice, fitting, OrderStatus.PENDING_PAYMENT, *PAID)
        self.handle(order.order_id, "cancel")

    def ship(self, choice: int, fitting: bool) -> None:
        self.handle(self.pick(choice, fitting, *PAID).order_id, "ship",
                    {"carrier": "SF", "waybill": f"W{self.events + 1}"})

    def carrier_scan(self, choice: int, fitting: bool, status: str) -> None:
        """A scan that proves a shipment no ``ship`` recorded (on a paid order)."""
        self.handle(self.pick(choice, fitting, *PAID).order_id, "track",
                    {"status": status, "carrier_time": self.now()})

    @rule(minutes=st.sampled_from([1, 10, 29, 30, 31, 45, 90]) | st.integers(1, 24 * 60))
    def time_passes(self, minutes: int) -> None:
        self.begin()
        self.clock.advance(timedelta(minutes=minutes))

    @rule(limit=st.integers(1, 4))
    def run_relay_once(self, limit: int) -> None:
        self.begin()
        report = self.run(self.relay, self.spy, lambda: self.relay.run_once(limit=limit))
        assert (report.failed, report.dead_lettered) == (0, 0), report

    @rule(choice=CHOICE, topic=st.sampled_from(sorted(TOPICS.values())),
          followed=st.booleans(), when=st.sampled_from(["before", "after"]),
          dies=st.booleans(), past=st.integers(0, 8), limit=st.integers(1, 4))
    def crash_the_relay(self, choice: int, topic: str, followed: bool, when: str,
                        dies: bool, past: int, limit: int) -> None:
        """A relay crashes at one waiting stock message it will call the ledger for (one
        of ``topic`` if any; ``followed`` by another stock message of its order if any;
        its batch goes ``past`` messages past it), then a fresh relay runs once
        (``limit``)."""
        self.begin()
        now = self.now()
        pending = list(self.repository.pending(ALL))
        waiting: set[str] = set()  # orders whose earlier message waits out a back-off
        candidates: list[tuple[int, OutboxMessage]] = []
        for index, stored in enumerate(pending):
            message = stored.message
            if stored.retry_at is not None and stored.retry_at > now:
                waiting.add(message.order_id)
            elif message.order_id not in waiting and message.topic.startswith("stock."):
                candidates.append((index, message))
        if candidates:
            fitting = [c for c in candidates if c[1].topic == topic] or candidates
            if followed:
                fitting = [
                    (index, message) for index, message in fitting
                    if any(later.message.order_id == message.order_id
                           and later.message.topic.startswith("stock.")
                           for later in pending[index + 1:])
                ] or fitting
            index, target = fitting[choice % len(fitting)]
            relay, spy = self.fresh_relay(Crash(target, when, dies))
            self.run(relay, spy, lambda: relay.run_once(limit=index + 1 + past))
            if self.repository.dead_letters():
                event("dead letter")
        self.relay, self.spy = self.fresh_relay()  # the restarted process
        self.run_relay_once(limit)

    @precondition(lambda self: len(self.saved) >= self.drained + 6)
    @rule()
    def drain(self) -> None:
        """Once a few decisions are owed (so that crashes find something to crash on)."""
        self.begin()
        self.drain_and_check()

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def stock_follows_the_model(self) -> None:
        now = self.now()
        for sku in SKUS:
            level = self.ledger.stock(sku)
            assert level.on_hand == level.available + level.locked, level
            assert (level.on_hand, level.locked) == (
                self.model.on_hand[sku], self.model.locked(sku, now)
            ), (level, self.model)
        assert self.sink.twice == []
        self.in_step = False

    # --- draining ------------------------------------------------------------------------------

    def drain_and_check(self) -> None:
        """Replay dead letters, wait out every back-off and run the relay until nothing
        waits; then check the ledger against the stored orders."""
        for _round in range(20):
            for dead in self.repository.dead_letters():
                assert "simulated crash" in dead.error, dead
                assert self.relay.replay(dead.message.message_id)
            pending = self.repository.pending(ALL)
            if not pending:
                break
            due = max((s.retry_at for s in pending if s.retry_at is not None), default=None)
            if due is not None and due > self.now():
                self.clock.advance(due - self.now())
            report = self.run(self.relay, self.spy, lambda: self.relay.run_until_idle(limit=3))
            assert (report.failed, report.dead_lettered) == (0, 0), report
        self.drained = len(self.saved)
        assert list(self.repository.pending(ALL)) == []
        assert list(self.repository.dead_letters()) == []
        self.check_against_the_orders()

    def check_against_the_orders(self) -> None:
        now = self.now()
        orders = [self.repository.get(order_id) for order_id in self.order_ids]
        shipped = dict.fromkeys(SKUS, 0)
        held = dict.fromkeys(SKUS, 0)
        by_order: dict[str, dict[str, int]] = {}
        for order in orders:
            confirmed = self.confirmed_at.get(order.order_id)
            if order.paid_at is not None:
                assert confirmed is not None, f"{order.order_id} is paid, its lock never confirmed"
            expires = self.placed_at[order.order_id] + PAYMENT_TIMEOUT
            holds = order.status == OrderStatus.PENDING_PAYMENT and now < expires
            # A paid order holds what its confirm could keep (judged at the payment's
            # time: all of it, unless its units went to another order meanwhile).
            kept = (self.model.locks.get(order.order_id, {})
                    if order.status in PAID and confirmed is not None else {})
            for sku, model_line in kept.items():
                held[sku] += model_line.remaining
            open_units = 0
            for line in order.lines:
                units = line.quantities[LineStatus.SHIPPED]
                shipped[line.sku] += units
                if units:
                    mine = by_order.setdefault(order.order_id, {})
                    mine[line.sku] = mine.get(line.sku, 0) + units
                open_units += line.quantities[LineStatus.OPEN]
                if holds:
                    held[line.sku] += line.quantities[LineStatus.OPEN]
            short = any(
                units > (kept[sku].remaining if sku in kept else 0)
                for sku, units in order.open_units_by_sku.items()
            )
            if order.status in PAID and open_units and short:
                # A paid order lost its reservation: the sink was told.
                assert any(
                    m.topic == "event.ReservationLapsed" and m.order_id == order.order_id
                    for m in self.sink.kept.values()
                ), f"{order.order_id} is paid and lost its stock, and nobody was told"
        oversold: dict[str, int] = {}
        for sku in SKUS:
            level = self.ledger.stock(sku)
            on_hand = self.received[sku] - shipped[sku]
            assert (level.on_hand, level.locked) == (on_hand, held[sku]), (level, held)
            if on_hand < held[sku]:
                oversold[sku] = held[sku] - on_hand
        report = self.ledger.verify(by_order)
        assert (report.drifts, report.problems, report.mismatches) == ((), (), ()), report
        assert {o.sku: o.units for o in report.oversold} == oversold, report
        assert report.ok == (not oversold)
        if oversold:
            event("drained with an oversell")
        # Every event message reached the sink once, in the order it was saved per order.
        owed = [m for m in self.saved if not self.is_stock(m)]
        assert set(owed) <= set(self.sink.kept)
        received = [m for m in self.sink.kept if m in self.messages]
        for order_id in self.order_ids:
            assert [m for m in received if self.messages[m].order_id == order_id] == [
                m for m in owed if self.messages[m].order_id == order_id
            ]
        found = {finding_key(m) for m in self.sink.kept.values() if m.topic in FINDINGS}
        assert self.required <= found, self.required - found
        assert found <= self.required, found - self.required


TestOutboxMachine = OutboxMachine.TestCase
TestOutboxMachine.settings = settings(
    max_examples=500, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class SQLiteOutboxMachine(OutboxMachine):
    """The same on SQLite: orders, outbox and inventory on one file, one transaction."""

    shared_transaction = True

    def make_stores(self) -> tuple[OrderRepository, InventoryStore]:
        self.directory = Path(tempfile.mkdtemp(prefix="orderkit-outbox-"))
        path = self.directory / "shop.db"
        return (SQLiteOrderRepository(path, durable=False),
                SQLiteInventoryStore(path, durable=False))

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


TestSQLiteOutboxMachine = SQLiteOutboxMachine.TestCase
TestSQLiteOutboxMachine.settings = settings(
    max_examples=80, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- the incident, through the machine ---------------------------------------------------------


def late_shipment(machine: OutboxMachine) -> None:
    """A paid order whose lock lapsed before the payment is confirmed, another order
    takes the unit, and the first one ships."""
    steps: list[Callable[[], None]] = [
        lambda: machine.opening_stock([1, 4, 4]),
        lambda: machine.place([("TEA", 1)]),  # ORD-1 locks the only tea
        lambda: machine.time_passes(31),  # unpaid for 31 minutes: its lock lapses
        lambda: machine.pay(0, True),
        machine.drain,  # the confirm finds the lapse
        lambda: machine.place([("TEA", 1)]),  # ORD-2 takes the tea
        lambda: machine.ship(0, True),  # ORD-1 ships all the same
    ]
    for step in steps:
        step()
        machine.stock_follows_the_model()


@pytest.mark.parametrize("machine_class", [OutboxMachine, SQLiteOutboxMachine])
def test_a_paid_order_shipped_after_its_lock_lapsed_is_reported_as_an_oversell(
    machine_class: type[OutboxMachine],
) -> None:
    machine = machine_class()
    try:
        late_shipment(machine)
        machine.crash_the_relay(0, STOCK_COMMIT, False, "before", dies=True, past=3, limit=4)
        machine.drain()
        report = machine.ledger.verify()
        assert [(o.sku, o.units) for o in report.oversold] == [("TEA", 1)]
        found = sorted(m.topic for m in machine.sink.kept.values() if m.topic in FINDINGS)
        assert found == ["event.OversellDetected", "event.ReservationLapsed"]
    finally:
        machine.teardown()


def test_an_oversell_found_before_a_crash_still_reaches_the_sink() -> None:
    machine = OutboxMachine()
    try:
        late_shipment(machine)
        machine.crash_the_relay(0, STOCK_COMMIT, False, "after", dies=False, past=0, limit=1)
        machine.drain()
        assert [o.sku for o in machine.ledger.verify().oversold] == ["TEA"]
        found = [m.topic for m in machine.sink.kept.values()]
        assert "event.OversellDetected" in found
    finally:
        machine.teardown()


@pytest.mark.parametrize("machine_class", [OutboxMachine, SQLiteOutboxMachine])
def test_a_confirm_replayed_after_the_orders_cancel_locks_nothing_again(
    machine_class: type[OutboxMachine],
) -> None:
    """The payment's confirm is dead-lettered; the order is cancelled after its lock
    fell due, and the cancel is applied; then the confirm is replayed. Judged at the
    payment's time it would lock the tea again, for an order that no longer wants it."""
    machine = machine_class()
    try:
        steps: list[Callable[[], None]] = [
            lambda: machine.opening_stock([3, 4, 2]),
            lambda: machine.place([("TEA", 1)]),
            lambda: machine.pay(0, True),  # paid while the lock holds
            lambda: machine.time_passes(31),  # the lock falls due before the relay runs
            lambda: machine.crash_the_relay(0, STOCK_CONFIRM, False, "before", dies=False,
                                            past=0, limit=1),
            lambda: machine.time_passes(5),
            lambda: machine.crash_the_relay(0, STOCK_CONFIRM, False, "before", dies=False,
                                            past=0, limit=1),  # a dead letter now
            lambda: machine.cancel(0, True),
            lambda: machine.run_relay_once(4),  # the cancel's release finds the lock expired
        ]
        for step in steps:
            step()
            machine.stock_follows_the_model()
        assert [d.message.topic for d in machine.repository.dead_letters()] == [STOCK_CONFIRM]
        machine.drain()  # replays the confirm
        assert machine.ledger.stock("TEA").locked == 0
        assert not any(m.topic in FINDINGS for m in machine.sink.kept.values())
    finally:
        machine.teardown()
