"""End to end on the durable SQLite default, next to the bare driver doing the same writes.

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
durable transaction per decision (the order row, one audit row, the outbox rows, and
for a placement per SKU a ledger entry, the balance and the lock line); for relaying,
one transaction per batch of 500 messages (per stock message and SKU a ledger entry and
the lock line, and for a shipment the balance; every message marked delivered).

Prints decisions/s with p50 and p99 per decision, relay effects/s, and the ratios to the
floors. Rounds of orderkit and the floors take turns so that a slow spell of the machine
hits both.

    python bench/bench_e2e.py [--orders 500] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orderkit import Money, Order, OrderLine, to_dict
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.outbox import OutboxRelay
from orderkit.testing import ManualClock

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SKUS = ("TEA-250G", "CUP", "POT")
BATCH = 500
#: Outbox messages per decision with a sink and a ledger: pay (the stock confirmation,
#: PaymentReceived, StatusChanged), pack (StatusChanged), ship (the stock commit,
#: LinesShipped, StatusChanged), deliver (StatusChanged).
MESSAGES = {"pay": 3, "pack": 1, "ship": 3, "deliver": 1}


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


def run_orderkit(folder: Path, orders: int) -> tuple[list[float], float, int]:
    """Per-decision latencies of ``orders`` orders through the service, then the relay's
    time and the number of messages it delivered."""
    clock = ManualClock(T0)
    path = folder / "shop.db"
    repository = SQLiteOrderRepository(path)
    ledger = InventoryLedger(
        SQLiteInventoryStore(path), secret=b"bench-secret-0123456789", clock=clock
    )
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
    relay = OutboxRelay(repository, sink=sink, inventory=ledger, clock=clock)
    started = timer()
    report = relay.run_until_idle(limit=BATCH)
    relayed = timer() - started
    assert report.failed == 0 and report.lag == timedelta(0), report
    return latencies, relayed, report.delivered


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
    " order_id, lock_key, expires_us, ref) VALUES (?, ?, ?, ?, 0, 'system', ?, ?, ?, ?, NULL)"
)
_OUTBOX = (
    "INSERT INTO order_outbox (message_id, order_id, topic, payload, created_us)"
    " VALUES (?, ?, ?, ?, 0)"
)


def run_floor(folder: Path, orders: int) -> tuple[list[float], float, int]:
    """Bare ``sqlite3`` writing the same rows: per-decision latencies, then the time of
    the relay's writes in batches and the number of messages they cover."""
    conn = _floor_file(folder / "floor.db", orders)
    # Bodies of the real sizes, serialised once: the floor times the driver, not JSON.
    body = json.dumps(to_dict(_order(0)), separators=(",", ":"))
    audit = body[:300]
    payload = body[:250]
    latencies: list[float] = []
    timer = time.perf_counter
    messages: list[tuple[str, str, str, dict[str, int]]] = []

    def decide(order_id: str, status: int, version: int, name: str, skus: dict[str, int]) -> None:
        started = timer()
        conn.execute("BEGIN IMMEDIATE")
        if version == 0:
            conn.execute(
                "INSERT INTO orders (order_id, channel, channel_order_id, status, version, body)"
                " VALUES (?, 'tmall', ?, ?, 0, ?)",
                (order_id, order_id, status, body),
            )
            for sku, units in skus.items():
                conn.execute(_ENTRY, (f"{order_id}-{sku}-lock", "lock", sku, units, "lock",
                                      order_id, order_id, 1))
                conn.execute(
                    "UPDATE inventory_balances SET locked = locked + ? WHERE sku = ?",
                    (units, sku),
                )
                conn.execute(
                    "INSERT INTO inventory_lock_lines (lock_key, order_id, sku, qty, locked_us,"
                    " expires_us) VALUES (?, ?, ?, ?, 0, 1)",
                    (order_id, order_id, sku, units),
                )
        else:
            conn.execute(
                "UPDATE orders SET status = ?, version = ?, body = ?"
                " WHERE order_id = ? AND version = ?",
                (status, version, body, order_id, version - 1),
            )
            conn.execute(
                "INSERT INTO order_audit (order_id, body) VALUES (?, ?)", (order_id, audit)
            )
            for k in range(MESSAGES[name]):
                message = f"{order_id}-{name}-{k}"
                stock = skus if name in ("pay", "ship") and k == 0 else None
                kind = ("commit" if name == "ship" else "confirm") if stock else "event"
                topic = "event.StatusChanged" if kind == "event" else f"stock.{kind}"
                conn.execute(_OUTBOX, (message, order_id, topic, payload))
                messages.append((message, order_id, kind, stock or {}))
        conn.execute("COMMIT")
        latencies.append(timer() - started)

    for n in range(orders):
        order_id = f"ORD-{n:06d}"
        skus = {SKUS[n % 3]: 2, SKUS[(n + 1) % 3]: 1}
        for status, version, name in ((10, 0, "place"), (20, 1, "pay"), (25, 2, "pack"),
                                      (30, 3, "ship"), (40, 4, "deliver")):
            decide(order_id, status, version, name, skus)

    started = timer()
    for first in range(0, len(messages), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        for message, order_id, kind, stock in messages[first:first + BATCH]:
            for sku, units in stock.items():
                conn.execute(_ENTRY, (f"{message}:{sku}", kind, sku, units, kind,
                                      order_id, order_id, None))
                if kind == "confirm":
                    conn.execute(
                        "UPDATE inventory_lock_lines SET expires_us = ?"
                        " WHERE lock_key = ? AND sku = ?",
                        (2**62, order_id, sku),
                    )
                    continue
                conn.execute(
                    "UPDATE inventory_balances SET on_hand = on_hand - ?, locked = locked - ?"
                    " WHERE sku = ?",
                    (units, units, sku),
                )
                conn.execute(
                    "UPDATE inventory_lock_lines SET committed = ?, open = 0"
                    " WHERE lock_key = ? AND sku = ?",
                    (units, order_id, sku),
                )
            conn.execute(
                "UPDATE order_outbox SET status = 'delivered', delivered_us = 0"
                " WHERE message_id = ?",
                (message,),
            )
        conn.execute("COMMIT")
    relayed = timer() - started
    conn.close()
    return latencies, relayed, len(messages)


def _summary(latencies: list[float]) -> tuple[float, float, float]:
    """(decisions/s, p50 ms, p99 ms)."""
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / sum(latencies), cuts[49] * 1000, cuts[98] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile one orderkit round")
    args = parser.parse_args()
    print(f"{args.orders} orders x 5 decisions, durable SQLite (synchronous=FULL, WAL);")
    print("floors: bare sqlite3, the same rows into orderkit's own tables and indexes")
    print(f"{'round':>5} {'decide/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'floor/s':>8}"
          f" {'p50 ms':>7} {'ratio':>6} {'relay/s':>8} {'floor/s':>8} {'ratio':>6}")
    decide_ratios: list[float] = []
    relay_rates: list[float] = []
    for k in range(args.rounds):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            ours, ours_relay, delivered = run_orderkit(Path(a), args.orders)
            floor, floor_relay, written = run_floor(Path(b), args.orders)
        mine, bare = _summary(ours), _summary(floor)
        relay_rate, floor_rate = delivered / ours_relay, written / floor_relay
        decide_ratios.append(mine[0] / bare[0])
        relay_rates.append(relay_rate)
        print(f"{k + 1:>5} {mine[0]:>9.0f} {mine[1]:>7.2f} {mine[2]:>7.2f} {bare[0]:>8.0f}"
              f" {bare[1]:>7.2f} {decide_ratios[-1]:>6.2f} {relay_rate:>8.0f}"
              f" {floor_rate:>8.0f} {relay_rate / floor_rate:>6.2f}")
    print(f"deciding, ratio to the floor: median {statistics.median(decide_ratios):.2f},"
          f" range {min(decide_ratios):.2f}-{max(decide_ratios):.2f}")
    print(f"relaying: median {statistics.median(relay_rates):,.0f} messages/s"
          f" ({delivered} messages, of which {2 * args.orders} stock confirmations and"
          f" commits, in batches of {BATCH})")
    if args.profile:
        with tempfile.TemporaryDirectory() as a:
            profiler = cProfile.Profile()
            profiler.runcall(run_orderkit, Path(a), args.orders)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
