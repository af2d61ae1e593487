"""End to end on the durable SQLite default (or on PostgreSQL), next to the bare driver
doing the same writes.

**Deciding (the producing side).** ``N`` orders placed through
:class:`~orderkit.lifecycle.OrderService` with an inventory ledger and an event sink
(stock locked at placement), then each taken pay -> pack -> ship -> deliver, on one
SQLite file with ``synchronous=FULL`` (the default), with ``deliver=False``: five
decisions per order, each loading the order, deciding, and saving the order, its audit
entry and its outbox messages (every domain event; the stock a shipment moves) in one
transaction; the placement also locks the stock, in the same transaction.

**Relaying.** Then an :class:`~orderkit.outbox.OutboxRelay` delivers every message
(``run_until_idle(limit=500)``): the stock commits to the ledger in one transaction per
batch, the events to a sink that keeps them.

The floors: bare ``sqlite3`` on a file with the same settings, writing the same rows
into orderkit's own tables and indexes (made by the adapters before the clock starts),
nothing read, nothing checked, every value prepared beforehand: for deciding, one
durable transaction per decision (the order row, its audit rows, the outbox rows, the
shipment's waybill, and for a placement per SKU a ledger entry, the balance and the lock
line); for relaying, one transaction per batch of 500 messages (per stock message and
SKU a ledger entry and the lock line, and for a shipment the balance; every message
marked delivered). The values are orderkit's own: the same decisions are made once
beforehand, untimed, on the memory adapters, and the floors write each decision's order
body, audit entries and outbox messages as orderkit serialises them (the stores index
an order's times from its body, so the indexes move as the order is paid and shipped),
with ids of the shape orderkit's are.

**On PostgreSQL** (``--postgres``) orderkit runs on
:class:`~orderkit.adapters.postgres.PostgresOrderRepository` and
:class:`~orderkit.adapters.postgres.PostgresInventoryStore` sharing one connection,
each round in a fresh schema, and the floors are bare ``psycopg`` writing the same rows
into orderkit's PostgreSQL tables (the outbox position expression orderkit writes
included, the shipment's waybill row too): per decision one transaction sent as one
pipeline (``BEGIN``, the SKUs' advisory locks for a placement, the writes, ``COMMIT``:
one round trip); per relay batch one transaction of one ``executemany`` per statement.
Without ``--dsn`` a throw-away cluster is started (``fsync`` off unless ``--durable``);
the server settings are printed.

Prints decisions/s with p50 and p99 per decision, relay effects/s, and the ratios to the
floors. In each round orderkit and the floors take turns an order at a time (then each
relays), so that a slow spell of the machine hits both.

    python bench/bench_e2e.py [--orders 500] [--rounds 3] [--profile] [--paced MS]
        [--postgres [--dsn DSN] [--durable] [--round-trips]]

``--round-trips`` runs one more (untimed) round on a connection that counts how often
the client waits for the server: per decision, and per relay batch.

``--paced MS`` runs the floor a second time in each round, in turn with the other two,
each decision after ``MS`` ms of CPU work (untimed), and prints orderkit's ratio to
that floor too. A commit that follows a millisecond of work is slower on some disks
than one that follows the last at once (a virtual disk's flush, a drive's write cache);
with ``MS`` set to orderkit's own Python time per decision (its p50 less the floor's),
this shows how much of the gap to the floor is that and how much is orderkit's code.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from orderkit import Money, Order, OrderLine, to_dict
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.outbox import OutboxRelay
from orderkit.testing import ManualClock

#: The run's clock starts now: the PostgreSQL store reads the lock lines due by the
#: database server's clock, which a clock months away would make all of them.
T0 = datetime.now(UTC).replace(second=0, microsecond=0)
SKUS = ("TEA-250G", "CUP", "POT")
BATCH = 500
#: The decisions of one order: (name, status code, version after it).
STEPS = (("place", 10, 0), ("pay", 20, 1), ("pack", 25, 2), ("ship", 30, 3),
         ("deliver", 40, 4))

#: Per-decision latencies, the relay's time, and the number of messages it covered.
Run = tuple[list[float], float, int]
#: A run stepped one order at a time: ``None`` after each order, the :data:`Run` last.
Steps = Generator[Run | None, None, None]


def _order(n: int) -> Order:
    return Order(
        order_id=f"ORD-{n:06d}",
        channel="tmall",
        channel_order_id=f"T{n:012d}",
        lines=[
            OrderLine("1", SKUS[n % 3], 2, Money("89.00", "CNY")),
            OrderLine("2", SKUS[(n + 1) % 3], 1, Money("45.50", "CNY")),
        ],
        created_at=T0,
    )


def _events(n: int) -> list[Event]:
    at = T0 + timedelta(minutes=1)
    return [
        Event("pay", event_id=f"pay-{n}", at=at, data={"amount": Money("223.50", "CNY")}),
        Event("pack", event_id=f"pack-{n}", at=at),
        Event("ship", event_id=f"ship-{n}", at=at, data={"carrier": "SF", "waybill": f"SF{n}"}),
        Event("deliver", event_id=f"deliver-{n}", at=at),
    ]


class KeepingSink:
    """An event sink that keeps what it is given, as a host's consumer would."""

    def __init__(self) -> None:
        self.kept: list[object] = []

    def publish(self, events: Sequence[object]) -> None:
        self.kept.extend(events)


def run_orderkit(
    repository: Any, store: Any, orders: int, before_relay: Any = None
) -> Generator[None, None, Run]:
    """Per-decision latencies of ``orders`` orders through the service on ``repository``
    and ``store`` (empty), then the relay's time and the number of messages it
    delivered; yields after each order (``before_relay``: called before the relay)."""
    clock = ManualClock(T0)
    ledger = InventoryLedger(store, secret=b"bench-secret-0123456789", clock=clock)
    for sku in SKUS:
        ledger.receive(sku, orders * 3, reference="bench stock")
    sink = KeepingSink()
    service = OrderService(repository, inventory=ledger, sink=sink, clock=clock, deliver=False)
    latencies: list[float] = []
    timer = time.perf_counter
    for n in range(orders):
        started = timer()
        service.place(_order(n))
        latencies.append(timer() - started)
        for event in _events(n):
            started = timer()
            service.handle(f"ORD-{n:06d}", event)
            latencies.append(timer() - started)
        yield
    relay = OutboxRelay(repository, sink=sink, inventory=ledger, clock=clock)
    if before_relay is not None:
        before_relay()
    started = timer()
    report = relay.run_until_idle(limit=BATCH)
    relayed = timer() - started
    assert report.failed == 0 and report.lag == timedelta(0), report
    return latencies, relayed, report.delivered


# --- what the floors write: the same for both back ends ---------------------------------


class Message(NamedTuple):
    message_id: str
    order_id: str
    kind: str  # "event", or the stock movement: "confirm", "commit"
    topic: str
    payload: str
    created_at: datetime
    created_us: int  # created_at as the SQLite store writes it
    stock: dict[str, int]
    lock_key: str  # the order's lock
    occurred_at: datetime | None  # when the fact happened, the order's version, and the
    order_version: int | None  # message's place among those of that version
    message_index: int | None


class Decision(NamedTuple):
    order_id: str
    name: str
    status: int
    version: int
    skus: dict[str, int]
    messages: list[Message]
    order: Order  # the order as saved, for the columns a store derives from it
    body: str
    audits: list[str]
    lock_key: str
    lock_entries: dict[str, str]  # per SKU, the id of the entry locking it
    instants: tuple[datetime | None, ...]  # the PostgreSQL store's columns: _instants
    derived: tuple[str | None, ...]  # the SQLite store's: _DERIVED, as ISO text


#: The JSON every store writes (compact, text as it is).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _hex(text: str) -> str:
    """A 32-digit hex id standing for ``text``, of the shape orderkit's entry ids, lock
    keys and message ids have (random-looking, so index inserts land where orderkit's
    do)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _us(moment: datetime) -> int:
    """``moment`` as the SQLite store writes instants: microseconds since the epoch."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


#: The instants every store keeps in columns beside the order's body for the watch's
#: indexes, derived from the whole order (both stores).
_DERIVED = (
    "return_requested_since", "refund_due_since", "partly_shipped_since", "paid_at",
    "ship_due_at", "balance_due_since",
)


def _derived(order: Order) -> tuple[datetime | None, ...]:
    """The order's :data:`_DERIVED` instants, as the stores compute them for the bench's
    orders: no presales, paid by a ``pay`` that stamps ``paid_at``, so due to ship from
    that payment and never waiting for a balance."""
    assert not order.tags, order.tags  # a presale's anchors would differ
    return (order.return_requested_since, order.refund_due_since, order.partly_shipped_since,
            order.paid_at, order.paid_at, None)


def _instants(order: Order) -> tuple[datetime | None, ...]:
    """The instants a PostgreSQL store keeps in columns beside the order's body (for the
    watch's indexes): since when in its status, created, shipped and not scanned since,
    first shipped, then the :data:`_DERIVED` ones."""
    latest = order.shipments[-1] if order.shipments else None
    return (order.status_since, order.created_at,
            latest.shipped_at if latest is not None and latest.first_scan_at is None else None,
            order.shipments[0].shipped_at if order.shipments else None, *_derived(order))


def _decisions(orders: int) -> list[Decision]:
    """The decisions of ``orders`` orders with the rows each one writes: the orders, their
    audit entries and outbox messages exactly as orderkit serialises them, recorded from
    the same decisions made once beforehand on the memory adapters (untimed). Writing
    orderkit's own values matters: the stores index the order's times from its body, and
    those indexes move as an order is paid and shipped."""
    saved: dict[tuple[str, int], tuple[Order, str, list[str], list[Message]]] = {}

    class Recording(MemoryOrderRepository):
        def save(self, order: Order, expected_version: int | None, *,
                 audit: Sequence[Any] = (), outbox: Sequence[Any] = ()) -> None:
            super().save(order, expected_version, audit=audit, outbox=outbox)
            skus = {line.sku: line.quantity for line in order.lines}
            messages = [
                Message(m.message_id, m.order_id,
                        m.topic.removeprefix("stock.") if m.topic.startswith("stock.")
                        else "event", m.topic, m.payload_json, m.created_at,
                        _us(m.created_at), skus if m.topic.startswith("stock.") else {},
                        _hex(order.order_id), m.occurred_at, m.order_version, m.index)
                for m in outbox
            ]
            saved[order.order_id, order.version] = (
                order, _JSON.encode(to_dict(order)),
                [_JSON.encode(to_dict(entry)) for entry in audit], messages,
            )

    for _ in run_orderkit(Recording(), MemoryInventoryStore(), orders):
        pass
    plan = []
    for n in range(orders):
        order_id = f"ORD-{n:06d}"
        for name, status, version in STEPS:
            order, body, audits, messages = saved[order_id, version]
            assert int(order.status) == status, (order_id, name, order.status)
            skus = {line.sku: line.quantity for line in order.lines}
            plan.append(Decision(order_id, name, status, version, skus, messages, order, body,
                                 audits, _hex(order_id),
                                 {sku: _hex(f"{order_id}-{sku}-lock") for sku in skus},
                                 _instants(order),
                                 tuple(None if at is None else at.astimezone(UTC).isoformat()
                                       for at in _derived(order))))
    return plan


def _timed_floor(
    plan: list[Decision],
    decide: Callable[[Decision], None],
    relay: Callable[[list[Message]], None],
    pace: float,
) -> Generator[None, None, Run]:
    """A floor's run: ``decide`` timed on each decision of ``plan`` (yielding after each
    order's ``deliver``), then ``relay`` timed over the plan's messages in batches of
    :data:`BATCH`; the per-decision latencies, the relay's time and the messages it
    covered. With a ``pace`` (seconds), each decision comes after that much CPU work,
    untimed: the gap a library's own Python leaves between one commit and the next."""
    latencies: list[float] = []
    timer = time.perf_counter
    for d in plan:
        if pace:
            busy_until = timer() + pace
            while timer() < busy_until:
                pass
        started = timer()
        decide(d)
        latencies.append(timer() - started)
        if d.name == "deliver":
            yield

    messages = [m for d in plan for m in d.messages]
    started = timer()
    for first in range(0, len(messages), BATCH):
        relay(messages[first:first + BATCH])
    relayed = timer() - started
    return latencies, relayed, len(messages)


# --- SQLite --------------------------------------------------------------------------------


def _floor_file(path: Path, orders: int) -> sqlite3.Connection:
    """A file with orderkit's own tables and indexes (made by the adapters before the
    clock starts) and the stock received; a bare connection to it."""
    SQLiteOrderRepository(path)
    SQLiteInventoryStore(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executemany(
        "INSERT INTO inventory_balances (sku, on_hand, locked) VALUES (?, ?, 0)",
        [(sku, orders * 3) for sku in SKUS],
    )
    return conn


_ENTRY = (
    "INSERT INTO inventory_entries (entry_id, kind, sku, qty, at_us, actor, reason,"
    " order_id, lock_key, expires_us, ref) VALUES (?, ?, ?, ?, ?, 'system', ?, ?, ?, ?, NULL)"
)
_OUTBOX = (
    "INSERT INTO order_outbox (message_id, order_id, topic, payload, created_us,"
    " occurred_us, order_version, message_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_DERIVED_SET = ", ".join(f"{column} = ?" for column in _DERIVED)


class SQLite:
    """The durable SQLite default: a fresh file per round."""

    def describe(self) -> list[str]:
        return ["durable SQLite (synchronous=FULL, WAL);",
                "floors: bare sqlite3, the same rows into orderkit's own tables and indexes"]

    @contextmanager
    def _folder(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory() as folder:
            yield Path(folder)

    def orderkit(self, orders: int) -> Steps:
        with self._folder() as folder:
            path = folder / "shop.db"
            run = yield from run_orderkit(SQLiteOrderRepository(path),
                                          SQLiteInventoryStore(path), orders)
        yield run

    def floor(self, orders: int, pace: float = 0.0) -> Steps:
        """Bare ``sqlite3`` writing the same rows: per-decision latencies, then the time
        of the relay's writes in batches and the number of messages they cover (``pace``:
        see :func:`_timed_floor`)."""
        with self._folder() as folder:
            run = yield from self._floor(folder, orders, pace)
        yield run

    def _floor(self, folder: Path, orders: int, pace: float) -> Generator[None, None, Run]:
        plan = _decisions(orders)
        conn = _floor_file(folder / "floor.db", orders)
        at = _us(T0)
        expires = _us(T0 + timedelta(hours=24))  # the service's default payment timeout
        never = _us(datetime(9999, 12, 31, tzinfo=UTC))

        def decide(d: Decision) -> None:
            derived = d.derived
            conn.execute("BEGIN IMMEDIATE")
            if d.version == 0:
                conn.execute(
                    "INSERT INTO orders (order_id, channel, channel_order_id, status, version,"
                    f" body, {', '.join(_DERIVED)}) VALUES (?, 'tmall', ?, ?, 0, ?,"
                    f" {', '.join('?' for _ in _DERIVED)})",
                    (d.order_id, d.order.channel_order_id, d.status, d.body, *derived),
                )
                for sku, units in d.skus.items():
                    conn.execute(_ENTRY, (d.lock_entries[sku], "lock", sku, units,
                                          at, "lock", d.order_id, d.lock_key, expires))
                    conn.execute(
                        "UPDATE inventory_balances SET locked = locked + ? WHERE sku = ?",
                        (units, sku),
                    )
                    conn.execute(
                        "INSERT INTO inventory_lock_lines (lock_key, order_id, sku, qty,"
                        " locked_us, expires_us) VALUES (?, ?, ?, ?, ?, ?)",
                        (d.lock_key, d.order_id, sku, units, at, expires),
                    )
            else:
                conn.execute(
                    f"UPDATE orders SET status = ?, version = ?, body = ?, {_DERIVED_SET}"
                    " WHERE order_id = ? AND version = ?",
                    (d.status, d.version, d.body, *derived, d.order_id, d.version - 1),
                )
            for audit in d.audits:
                conn.execute("INSERT INTO order_audit (order_id, body) VALUES (?, ?)",
                             (d.order_id, audit))
            if d.name == "ship":
                conn.execute("INSERT OR IGNORE INTO order_waybills (waybill, order_id)"
                             " VALUES (?, ?)", (d.order.shipments[0].waybill, d.order_id))
            for m in d.messages:
                conn.execute(_OUTBOX, (m.message_id, m.order_id, m.topic, m.payload,
                                       m.created_us, _us(m.occurred_at) if m.occurred_at
                                       else None, m.order_version, m.message_index))
            conn.execute("COMMIT")

        def relay(batch: list[Message]) -> None:
            conn.execute("BEGIN IMMEDIATE")
            for m in batch:
                for sku, units in m.stock.items():
                    conn.execute(_ENTRY, (f"{m.message_id}:{sku}", m.kind, sku, units, at,
                                          m.kind, m.order_id, m.lock_key,
                                          never if m.kind == "confirm" else None))
                    if m.kind == "confirm":
                        conn.execute(
                            "UPDATE inventory_lock_lines SET expires_us = ?"
                            " WHERE lock_key = ? AND sku = ?",
                            (never, m.lock_key, sku),
                        )
                        continue
                    conn.execute(
                        "UPDATE inventory_balances SET on_hand = on_hand - ?,"
                        " locked = locked - ? WHERE sku = ?",
                        (units, units, sku),
                    )
                    conn.execute(
                        "UPDATE inventory_lock_lines SET committed = ?, open = 0"
                        " WHERE lock_key = ? AND sku = ?",
                        (units, m.lock_key, sku),
                    )
                conn.execute(
                    "UPDATE order_outbox SET status = 'delivered', delivered_us = ?"
                    " WHERE message_id = ?",
                    (at, m.message_id),
                )
            conn.execute("COMMIT")

        run = yield from _timed_floor(plan, decide, relay, pace)
        conn.close()
        return run

    def close(self) -> None:
        pass


# --- PostgreSQL ----------------------------------------------------------------------------


class Postgres:
    """orderkit's PostgreSQL adapters, a fresh schema per round."""

    def __init__(self, dsn: str | None, durable: bool) -> None:
        import psycopg

        from orderkit.testing.postgres import TemporaryCluster

        self._psycopg = psycopg
        self._cluster = None
        if dsn is None:
            settings = ("fsync=on", "full_page_writes=on") if durable else ()
            self._cluster = TemporaryCluster(settings=settings)
            dsn = self._cluster.start()
        self.dsn = dsn

    def describe(self) -> list[str]:
        with self._psycopg.connect(self.dsn) as conn:
            shown = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("server_version", "fsync", "synchronous_commit",
                             "full_page_writes", "shared_buffers")
            }
        return ["PostgreSQL, server: " + ", ".join(f"{k}={v}" for k, v in shown.items())
                + ";",
                "floors: bare psycopg, the same rows into orderkit's own tables and indexes,"
                " one pipeline per decision"]

    @contextmanager
    def _schema(self) -> Iterator[str]:
        from orderkit.testing.postgres import fresh_schema

        schema = fresh_schema("bench")
        try:
            yield schema
        finally:
            with self._psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def orderkit(self, orders: int) -> Steps:
        from orderkit.adapters.postgres import PostgresInventoryStore, PostgresOrderRepository

        with self._schema() as schema:
            repository = PostgresOrderRepository(self.dsn, schema=schema)
            store = PostgresInventoryStore(repository.database)
            try:
                run = yield from run_orderkit(repository, store, orders)
            finally:
                repository.close()
        yield run

    def floor(self, orders: int, pace: float = 0.0) -> Steps:
        with self._schema() as schema:
            run = yield from self._floor(schema, orders, pace)
        yield run

    def round_trips(self, orders: int) -> None:
        """One untimed orderkit round on a connection that counts its round trips (each
        wait for the server), printed for the decisions and for the relay."""
        from orderkit.adapters.postgres import PostgresInventoryStore, PostgresOrderRepository

        class Counting(self._psycopg.Connection):  # type: ignore[name-defined,misc]
            waits = 0

            def wait(self, *args: Any, **kwargs: Any) -> Any:
                Counting.waits += 1
                return super().wait(*args, **kwargs)

        marks: list[int] = []
        with self._schema() as schema:
            conn = Counting.connect(self.dsn, autocommit=True)
            repository = PostgresOrderRepository(conn, schema=schema)
            store = PostgresInventoryStore(repository.database)
            start = Counting.waits
            steps = run_orderkit(repository, store, orders,
                                 lambda: marks.append(Counting.waits))
            try:
                while True:
                    next(steps)
            except StopIteration as stop:
                _latencies, _relayed, delivered = stop.value
            conn.close()
        relay = Counting.waits - marks[0]
        batches = -(-delivered // BATCH)
        print(f"round trips: {(marks[0] - start) / (orders * 5):.1f} per decision;"
              f" relay {relay} for {delivered} messages ({2 * orders} stock) in"
              f" {batches} batches of up to {BATCH}: {relay / batches:.0f} per batch")

    def _floor(self, schema: str, orders: int, pace: float) -> Generator[None, None, Run]:
        from orderkit.adapters.postgres import PostgresInventoryStore, PostgresOrderRepository

        made = PostgresOrderRepository(self.dsn, schema=schema)
        PostgresInventoryStore(made.database)
        made.close()
        s = f'"{schema}"'
        conn = self._psycopg.connect(self.dsn, autocommit=True)
        conn.cursor().executemany(
            f"INSERT INTO {s}.inventory_balances (sku, on_hand, locked) VALUES (%s, %s, 0)",
            [(sku, orders * 3) for sku in SKUS],
        )
        plan = _decisions(orders)
        ship_to = "null"
        expires = T0 + timedelta(hours=24)  # the service's default payment timeout
        insert_order = (
            f"INSERT INTO {s}.orders (order_id, channel, channel_order_id, status, version,"
            " ship_to, body, status_since, created_at, unscanned_since, first_shipped_at,"
            f" {', '.join(_DERIVED)}) VALUES (%s, 'tmall', %s, %s, 0, %s, %s, %s, %s, %s, %s,"
            f" {', '.join('%s' for _ in _DERIVED)})"
        )
        entry = (
            f"INSERT INTO {s}.inventory_entries (entry_id, kind, sku, qty, at, actor, reason,"
            " order_id, lock_key, expires_at, ref)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        update_order = (
            f"UPDATE {s}.orders SET channel = 'tmall', channel_order_id = %s, status = %s,"
            " version = %s, ship_to = %s, body = %s, status_since = %s, created_at = %s,"
            " unscanned_since = %s, first_shipped_at = %s, "
            + ", ".join(f"{column} = %s" for column in _DERIVED) + " WHERE order_id = %s"
        )
        # What orderkit writes as a message's position (see the repository's docstring).
        outbox = (
            f"INSERT INTO {s}.order_outbox (position, message_id, order_id, topic, payload,"
            " created_at, occurred_at, order_version, message_index)"
            " VALUES (greatest(pg_current_xact_id()::text::bigint,"
            f" (SELECT max(position) FROM {s}.order_outbox WHERE order_id = %s)),"
            " %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        lock_balance = f"UPDATE {s}.inventory_balances SET locked = locked + %s WHERE sku = %s"
        lock_line = (
            f"INSERT INTO {s}.inventory_lock_lines (lock_key, order_id, sku, qty,"
            " locked_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s)"
        )
        audit_entry = f"INSERT INTO {s}.order_audit (order_id, body) VALUES (%s, %s)"
        waybill = (
            f"INSERT INTO {s}.order_waybills (waybill, order_id)"
            " VALUES (%s, %s) ON CONFLICT DO NOTHING"
        )
        confirm_line = (
            f"UPDATE {s}.inventory_lock_lines SET expires_at = 'infinity'"
            " WHERE lock_key = %s AND sku = %s"
        )
        commit_balance = (
            f"UPDATE {s}.inventory_balances SET on_hand = on_hand - %s,"
            " locked = locked - %s WHERE sku = %s"
        )
        commit_line = (
            f"UPDATE {s}.inventory_lock_lines SET committed = %s, open = false"
            " WHERE lock_key = %s AND sku = %s"
        )
        delivered = (
            f"UPDATE {s}.order_outbox SET status = 'delivered', delivered_at = %s"
            " WHERE message_id = ANY(%s)"
        )

        def decide(d: Decision) -> None:
            times = d.instants
            with conn.pipeline():
                conn.execute("BEGIN")
                if d.version == 0:
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(28523, k) FROM (SELECT DISTINCT"
                        " hashtext(%s || x) AS k FROM unnest(%s::text[]) AS x ORDER BY k)"
                        " AS keys",
                        (f"{schema}:", sorted(d.skus)),
                    )
                    cursor = conn.cursor()
                    cursor.executemany(entry, [
                        (d.lock_entries[sku], "lock", sku, units, T0, "system",
                         "lock", d.order_id, d.lock_key, expires, None)
                        for sku, units in d.skus.items()
                    ])
                    cursor.executemany(lock_balance,
                                       [(units, sku) for sku, units in d.skus.items()])
                    cursor.executemany(lock_line, [
                        (d.lock_key, d.order_id, sku, units, T0, expires)
                        for sku, units in d.skus.items()
                    ])
                    conn.execute(insert_order, (d.order_id, d.order.channel_order_id, d.status,
                                                ship_to, d.body, *times))
                else:
                    conn.execute(update_order, (d.order.channel_order_id, d.status, d.version,
                                                ship_to, d.body, *times, d.order_id))
                if d.audits:
                    conn.cursor().executemany(audit_entry,
                                              [(d.order_id, audit) for audit in d.audits])
                if d.name == "ship":
                    conn.execute(waybill, (d.order.shipments[0].waybill, d.order_id))
                if d.messages:
                    conn.cursor().executemany(outbox, [
                        (m.order_id, m.message_id, m.order_id, m.topic, m.payload, m.created_at,
                         m.occurred_at, m.order_version, m.message_index)
                        for m in d.messages
                    ])
                conn.execute("COMMIT")

        def relay(batch: list[Message]) -> None:
            stock = [(m, sku, units) for m in batch for sku, units in m.stock.items()]
            commits = [(m, sku, units) for m, sku, units in stock if m.kind == "commit"]
            with conn.pipeline():
                conn.execute("BEGIN")
                cursor = conn.cursor()
                if stock:
                    cursor.executemany(entry, [
                        (f"{m.message_id}:{sku}", m.kind, sku, units, T0, "relay", m.kind,
                         m.order_id, m.lock_key, None, m.message_id)
                        for m, sku, units in stock
                    ])
                    confirms = [(m, sku) for m, sku, _units in stock if m.kind == "confirm"]
                    if confirms:
                        cursor.executemany(confirm_line,
                                           [(m.lock_key, sku) for m, sku in confirms])
                if commits:
                    cursor.executemany(commit_balance,
                                       [(units, units, sku) for _m, sku, units in commits])
                    cursor.executemany(commit_line,
                                       [(units, m.lock_key, sku)
                                        for m, sku, units in commits])
                conn.execute(delivered, (T0, [m.message_id for m in batch]))
                conn.execute("COMMIT")

        run = yield from _timed_floor(plan, decide, relay, pace)
        conn.close()
        return run

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()


# --- rounds ----------------------------------------------------------------------------------


def _in_turn(*runs: Steps) -> list[Run]:
    """Run them an order at a time, taking turns, so that a slow spell of the machine hits
    each; then each one's relay."""
    done: list[Run | None] = [None for _run in runs]
    while None in done:
        for k, steps in enumerate(runs):
            if done[k] is None:
                done[k] = next(steps)
    for steps in runs:
        steps.close()
    return [run for run in done if run is not None]


def _summary(latencies: list[float]) -> tuple[float, float, float]:
    """(decisions/s, p50 ms, p99 ms)."""
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / sum(latencies), cuts[49] * 1000, cuts[98] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile one orderkit round")
    parser.add_argument("--postgres", action="store_true",
                        help="on PostgreSQL (a throw-away cluster unless --dsn)")
    parser.add_argument("--dsn", help="with --postgres: the server to use")
    parser.add_argument("--durable", action="store_true",
                        help="with --postgres and no --dsn: a cluster with fsync on")
    parser.add_argument("--round-trips", action="store_true",
                        help="with --postgres: count the round trips of one round")
    parser.add_argument("--paced", type=float, metavar="MS", default=0.0,
                        help="also run the floor with MS ms of CPU work before each"
                             " decision (untimed), in turn with the other two")
    args = parser.parse_args()
    if (args.dsn or args.durable) and not args.postgres:
        parser.error("--dsn and --durable go with --postgres")
    backend: SQLite | Postgres = (
        Postgres(args.dsn, args.durable) if args.postgres else SQLite()
    )
    try:
        _rounds(backend, args.orders, args.rounds, args.paced / 1000)
        if args.round_trips and isinstance(backend, Postgres):
            backend.round_trips(args.orders)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(lambda: list(backend.orderkit(args.orders)))
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    finally:
        backend.close()


def _rounds(backend: SQLite | Postgres, orders: int, rounds: int, pace: float) -> None:
    first, second = backend.describe()
    print(f"{orders} orders x 5 decisions, {first}")
    print(second)
    print(f"{'round':>5} {'decide/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'floor/s':>8}"
          f" {'p50 ms':>7} {'ratio':>6} {'relay/s':>8} {'floor/s':>8} {'ratio':>6}")
    decide_ratios: list[float] = []
    paced_ratios: list[float] = []
    relay_rates: list[float] = []
    delivered = 0
    for k in range(rounds):
        runs = _in_turn(backend.orderkit(orders), backend.floor(orders),
                        *([backend.floor(orders, pace)] if pace else []))
        (ours, ours_relay, delivered), (floor, floor_relay, written) = runs[:2]
        mine, bare = _summary(ours), _summary(floor)
        relay_rate, floor_rate = delivered / ours_relay, written / floor_relay
        decide_ratios.append(mine[0] / bare[0])
        relay_rates.append(relay_rate)
        print(f"{k + 1:>5} {mine[0]:>9.0f} {mine[1]:>7.2f} {mine[2]:>7.2f} {bare[0]:>8.0f}"
              f" {bare[1]:>7.2f} {decide_ratios[-1]:>6.2f} {relay_rate:>8.0f}"
              f" {floor_rate:>8.0f} {relay_rate / floor_rate:>6.2f}")
        if pace:
            paced = _summary(runs[2][0])
            paced_ratios.append(mine[0] / paced[0])
            print(f"{'':>5} {'paced floor':>17} {paced[0]:>8.0f} {paced[1]:>7.2f}"
                  f" {paced_ratios[-1]:>6.2f}")
    print(f"deciding, ratio to the floor: median {statistics.median(decide_ratios):.2f},"
          f" range {min(decide_ratios):.2f}-{max(decide_ratios):.2f}")
    if pace:
        print(f"the floor paced by {pace * 1000:.2f} ms of CPU work before each decision"
              f" (untimed): ratio median {statistics.median(paced_ratios):.2f}")
    print(f"relaying: median {statistics.median(relay_rates):,.0f} messages/s"
          f" ({delivered} messages, of which {2 * orders} stock confirmations and"
          f" commits, in batches of {BATCH})")


if __name__ == "__main__":
    main()
