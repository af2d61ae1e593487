"""Faults on PostgreSQL: a worker killed with SIGKILL in the middle of
``OrderService.place``, or whose session the server terminates, leaves no partial effect,
and the placement can simply be retried; a relay killed in the middle of a batch
redelivers, and each message is applied once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from orderkit import Money, Order, OrderLine
from orderkit.adapters.postgres import PostgresInventoryStore, PostgresOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.model.errors import StoreError
from orderkit.outbox import OutboxRelay
from orderkit.testing.postgres import fresh_schema

SECRET = b"postgres-faults-secret-0123456789ab"
T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
ORDER = Order(
    order_id="ORD-KILL", channel="tmall", channel_order_id="T-KILL",
    lines=[OrderLine("1", "CUP", 3, Money("45.50", "CNY")),
           OrderLine("2", "TEA", 2, Money("89.00", "CNY"))],
    created_at=T0,
)


class PausingRepository:
    """The PostgreSQL repository, except that ``insert_many`` (the write ``place``
    makes) tells the parent the backend's pid and then waits to be killed: before
    writing the order (the stock is locked already) or after (both are written), inside
    ``place``'s open transaction."""

    def __init__(self, inner: PostgresOrderRepository, when: str, told: Any) -> None:
        self.inner = inner
        self.when = when
        self.told = told

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def insert_many(self, placements: Any) -> None:
        if self.when == "after the order is written":
            self.inner.insert_many(placements)
        pid = self.inner.database.run(
            "backend pid", lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone()
        )
        self.told.send(pid[0])
        time.sleep(600)  # the parent kills this process long before


def _services(dsn: str, schema: str) -> tuple[PostgresOrderRepository, InventoryLedger]:
    # A release breaker that never trips: every release is applied, none parked.
    repository = PostgresOrderRepository(dsn, schema=schema)
    ledger = InventoryLedger(PostgresInventoryStore(repository.database), secret=SECRET,
                             release_limit=10**9)
    return repository, ledger


def _place_and_hang(dsn: str, schema: str, when: str, told: Any) -> None:
    """The killed worker: its own adapters, a placement that never finishes."""
    repository, ledger = _services(dsn, schema)
    service = OrderService(PausingRepository(repository, when, told),  # type: ignore[arg-type]
                           inventory=ledger)
    service.place(ORDER)


def _effects(dsn: str, schema: str) -> tuple[int, int, int, int]:
    """Orders, lock lines, stock entries past the receipts and pending outbox messages."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        def count(sql: str) -> int:
            row = conn.execute(sql.replace("{s}", f'"{schema}"')).fetchone()
            assert row is not None
            return int(row[0])

        return (
            count("SELECT count(*) FROM {s}.orders"),
            count("SELECT count(*) FROM {s}.inventory_lock_lines"),
            count("SELECT count(*) FROM {s}.inventory_entries WHERE kind <> 'receive'"),
            count("SELECT count(*) FROM {s}.order_outbox"),
        )


def _backend(dsn: str, pid: int) -> tuple[str, bool] | None:
    """The backend's state and whether it holds a transaction id, or ``None`` once gone."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT state, backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = %s",
            (pid,),
        ).fetchone()
    return None if row is None else (str(row[0]), bool(row[1]))


@pytest.mark.parametrize("when", ["before the order is written", "after the order is written"])
def test_a_worker_killed_mid_place_leaves_nothing_and_a_retry_succeeds(
    pg_dsn: str, when: str
) -> None:
    schema = fresh_schema("kill")
    repository, ledger = _services(pg_dsn, schema)
    ledger.receive("CUP", 10, reference="PO-CUP")
    ledger.receive("TEA", 2, reference="PO-TEA")
    repository.close()  # no connection may cross the fork

    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe(duplex=False)
    worker = context.Process(target=_place_and_hang, args=(pg_dsn, schema, when, child_end),
                             daemon=True)
    worker.start()
    assert parent_end.poll(60), "the worker never reached the save"
    backend = parent_end.recv()
    # The kill lands inside the transaction: it is open and has written.
    assert _backend(pg_dsn, backend) == ("idle in transaction", True)
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(10)
    assert worker.exitcode == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while _backend(pg_dsn, backend) is not None:  # the server ends the dead session
        assert time.monotonic() < deadline, "the killed session's backend never ended"
        time.sleep(0.05)

    # Nothing of the placement: no order, no lock line, no stock entry, no message.
    assert _effects(pg_dsn, schema) == (0, 0, 0, 0)
    assert (ledger.stock("CUP").locked, ledger.stock("TEA").locked) == (0, 0)
    assert ledger.verify().ok

    # The retry takes the SKUs' locks the dead session held, and succeeds whole.
    placed = OrderService(repository, inventory=ledger).place(ORDER)
    assert placed.lock_id is not None
    assert repository.get("ORD-KILL").lock_id == placed.lock_id
    assert (ledger.stock("CUP").locked, ledger.stock("TEA").locked) == (3, 2)
    orders, lines, entries, _ = _effects(pg_dsn, schema)
    assert (orders, lines, entries) == (1, 2, 2)
    assert ledger.verify().ok


# --- the session terminated by the server in the middle of place ----------------------------


class TerminatingRepository:
    """The PostgreSQL repository, except that ``insert_many`` (the write ``place``
    makes) first has the server end this session (``pg_terminate_backend`` from another
    connection), before the order is written (the stock is locked already) or after it
    (before the commit)."""

    def __init__(self, inner: PostgresOrderRepository, when: str) -> None:
        self.inner = inner
        self.when = when
        self.terminated: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def insert_many(self, placements: Any) -> None:
        if self.when == "after the order is written":
            self.inner.insert_many(placements)
        if not self.terminated:
            db = self.inner.database
            row = db.run("backend pid",
                         lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone())
            assert row is not None
            pid = int(row[0])
            with psycopg.connect(str(db.source), autocommit=True) as admin:
                ended = admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
            assert ended == (True,)
            deadline = time.monotonic() + 30
            while _backend(str(db.source), pid) is not None:
                assert time.monotonic() < deadline, "the terminated backend never ended"
                time.sleep(0.02)
            self.terminated.append(pid)
        if self.when == "before the order is written":
            self.inner.insert_many(placements)


@pytest.mark.parametrize("when", ["before the order is written", "after the order is written"])
def test_a_session_terminated_by_the_server_mid_place_is_a_store_error_and_a_retry_succeeds(
    pg_dsn: str, when: str
) -> None:
    schema = fresh_schema("terminate")
    repository, ledger = _services(pg_dsn, schema)
    ledger.receive("CUP", 10, reference="PO-CUP")
    ledger.receive("TEA", 2, reference="PO-TEA")
    terminating = TerminatingRepository(repository, when)
    service = OrderService(terminating, inventory=ledger)  # type: ignore[arg-type]

    with pytest.raises(StoreError) as caught:
        service.place(ORDER)
    assert terminating.terminated  # the session really was ended mid-place
    assert "connection to PostgreSQL lost" in str(caught.value)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)

    # Nothing partial: no order without its lock, no lock without its order, no message.
    assert _effects(pg_dsn, schema) == (0, 0, 0, 0)
    assert (ledger.stock("CUP").locked, ledger.stock("TEA").locked) == (0, 0)
    assert ledger.verify().ok

    # The same service, on a fresh connection, places it whole on the retry.
    placed = service.place(ORDER)
    assert placed.lock_id is not None
    assert repository.get("ORD-KILL").lock_id == placed.lock_id
    assert (ledger.stock("CUP").locked, ledger.stock("TEA").locked) == (3, 2)
    orders, lines, entries, _ = _effects(pg_dsn, schema)
    assert (orders, lines, entries) == (1, 2, 2)
    assert ledger.verify().ok


# --- the relay killed in the middle of a batch ------------------------------------------------

SKUS = ("CUP", "TEA", "POT")
RELAY_ORDERS = 40


class DedupSink:
    """The host's consumer of ``event.*`` messages: it counts every delivery, and applies
    a message (adds one to a total) only the first time its id arrives, in one
    transaction of its own database tables."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema
        self.conn: psycopg.Connection[Any] | None = None

    def setup(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                f'CREATE TABLE "{self.schema}".deliveries (message_id text PRIMARY KEY,'
                f' n integer NOT NULL); CREATE TABLE "{self.schema}".applied'
                f' (message_id text PRIMARY KEY); CREATE TABLE "{self.schema}".effect'
                f' (total integer NOT NULL); INSERT INTO "{self.schema}".effect VALUES (0)'
            )

    def publish(self, events: Any) -> None:
        if self.conn is None:  # opened in the process that publishes
            self.conn = psycopg.connect(self.dsn, autocommit=True)
        s = f'"{self.schema}"'
        for message in events:
            with self.conn.transaction():
                self.conn.execute(
                    f"INSERT INTO {s}.deliveries VALUES (%s, 1)"
                    " ON CONFLICT (message_id) DO UPDATE SET n = deliveries.n + 1",
                    (message.message_id,),
                )
                first = self.conn.execute(
                    f"INSERT INTO {s}.applied VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1",
                    (message.message_id,),
                ).fetchone()
                if first is not None:
                    self.conn.execute(f"UPDATE {s}.effect SET total = total + 1")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class Pausing:
    """Wraps a consumer: once it made its ``after``-th delivery in this process (a call
    of ``apply_many`` makes one per stock call) it tells the parent and waits to be
    killed (inside the relay's batch)."""

    def __init__(self, inner: Any, methods: tuple[str, ...], after: int, told: Any) -> None:
        self.inner, self.methods, self.after, self.told = inner, methods, after, told
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name not in self.methods:
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            result = found(*args, **kwargs)
            before = self.calls
            self.calls += len(args[0]) if name == "apply_many" else 1
            if before < self.after <= self.calls:
                self.told.send(self.after)
                time.sleep(600)  # the parent kills this process long before
            return result

        return counted


def _relay_until_killed(dsn: str, schema: str, consumer: str, after: int, told: Any) -> None:
    """The relay process: its own adapters; one consumer pauses to be killed."""
    repository, ledger = _services(dsn, schema)
    sink: Any = DedupSink(dsn, schema)
    inventory: Any = ledger
    if consumer == "stock":
        inventory = Pausing(ledger, ("apply_many",), after, told)
    else:
        sink = Pausing(sink, ("publish",), after, told)
    OutboxRelay(repository, sink=sink, inventory=inventory).run_until_idle(limit=20)
    told.send(0)  # ran dry before the pause: the test's plan is wrong


def _counts(dsn: str, schema: str) -> dict[str, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        def one(sql: str) -> int:
            row = conn.execute(sql.replace("{s}", f'"{schema}"')).fetchone()
            assert row is not None
            return int(row[0] or 0)

        return {
            "pending": one("SELECT count(*) FROM {s}.order_outbox WHERE status <> 'delivered'"),
            "delivered": one("SELECT count(*) FROM {s}.order_outbox"
                             " WHERE status = 'delivered'"),
            "events": one("SELECT count(*) FROM {s}.order_outbox WHERE topic LIKE 'event.%'"),
            "releases": one("SELECT count(*) FROM {s}.inventory_entries"
                            " WHERE kind = 'release'"),
            "deliveries": one("SELECT sum(n) FROM {s}.deliveries"),
            "applied": one("SELECT count(*) FROM {s}.applied"),
            "total": one("SELECT total FROM {s}.effect"),
        }


@pytest.mark.slow
def test_a_relay_killed_mid_batch_redelivers_and_each_message_is_applied_once(
    pg_dsn: str,
) -> None:
    schema = fresh_schema("relaykill")
    repository, ledger = _services(pg_dsn, schema)
    sink = DedupSink(pg_dsn, schema)
    sink.setup()
    for sku in SKUS:
        ledger.receive(sku, 5 * RELAY_ORDERS, reference=f"PO-{sku}")
    # Orders placed, half of them paid, all cancelled: stock.confirm and stock.release
    # messages for the ledger, event.* messages for the host's consumer, all pending.
    service = OrderService(repository, inventory=ledger, sink=sink, deliver=False)
    for n in range(RELAY_ORDERS):
        lines = [OrderLine(str(k), sku, 1 + (n + k) % 3, Money("9.90", "CNY"))
                 for k, sku in enumerate(SKUS[: 1 + n % len(SKUS)], start=1)]
        order = service.place(Order(order_id=f"ORD-{n}", channel="tmall",
                                    channel_order_id=f"T-{n}", lines=lines, created_at=T0))
        if n % 2:
            service.handle(order.order_id, Event("pay", event_id=f"pay-{n}", at=T0,
                                                 data={"amount": order.totals.payable}))
        service.handle(order.order_id, Event("cancel", event_id=f"cancel-{n}", at=T0))
    before = _counts(pg_dsn, schema)
    assert before["delivered"] == 0 and before["events"] > 100
    assert sum(ledger.stock(sku).locked for sku in SKUS) > 0
    repository.close()  # no connection may cross the fork

    context = multiprocessing.get_context("fork")
    plan = [("stock", 3), ("event", 5), ("stock", 30), ("event", 12)]
    for run, (consumer, after) in enumerate(plan):
        parent_end, child_end = context.Pipe(duplex=False)
        relay = context.Process(target=_relay_until_killed,
                                args=(pg_dsn, schema, consumer, after, child_end), daemon=True)
        relay.start()
        assert parent_end.poll(120), f"run {run}: the relay never paused"
        assert parent_end.recv() == after, f"run {run}: the relay ran dry first"
        assert relay.pid is not None
        os.kill(relay.pid, signal.SIGKILL)
        relay.join(10)
        assert relay.exitcode == -signal.SIGKILL
        if run == 0:
            # Killed inside the first batch's transaction: none of its effects stayed.
            after_kill = _counts(pg_dsn, schema)
            assert (after_kill["delivered"], after_kill["releases"]) == (0, 0)

    # A relay started once more delivers everything that is left.
    repository, ledger = _services(pg_dsn, schema)
    consumer = DedupSink(pg_dsn, schema)
    OutboxRelay(repository, sink=consumer, inventory=ledger).run_until_idle(limit=20)
    consumer.close()
    end = _counts(pg_dsn, schema)
    assert end["pending"] == 0 and end["delivered"] == before["pending"]
    # Each event message applied exactly once, though some arrived twice (the kills
    # fell between a delivery and its "delivered" mark).
    assert end["applied"] == end["total"] == end["events"]
    assert end["deliveries"] > end["events"]
    # Each stock message applied once: every release entry once, nothing left locked.
    assert all(ledger.stock(sku).locked == 0 for sku in SKUS)
    assert all(ledger.stock(sku).on_hand == 5 * RELAY_ORDERS for sku in SKUS)
    assert ledger.verify().ok
