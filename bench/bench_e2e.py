"""End to end on the durable SQLite default, next to the bare driver doing the same writes.

orderkit: ``N`` orders placed through :class:`~orderkit.lifecycle.OrderService` with an
inventory ledger (stock locked at placement), then each taken pay -> pack -> ship ->
deliver, on SQLite files with ``synchronous=FULL`` (the default): five decisions per
order, each loading the order, deciding, and saving order and audit with the version it
read; the ship also commits the shipped stock and the placement locks it.

The floor: bare ``sqlite3`` on a file with the same settings, doing one durable
transaction per decision that writes the same rows: the order row (inserted, then
updated with its new status and a JSON body of the real size), one audit row, and for
the placement and the shipment, per SKU, a ledger entry, the balance and the lock line.
It writes them into orderkit's own tables and indexes (made by the adapters before the
clock starts), and, as a second reference, into the same tables without secondary
indexes.

Prints decisions/s, p50 and p99 latency per decision, and the ratio to the floor. Rounds
of orderkit and the floor take turns so that a slow spell of the machine hits both.

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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orderkit import Money, Order, OrderLine, to_dict
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.testing import ManualClock

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SKUS = ("TEA-250G", "CUP", "POT")


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


def run_orderkit(folder: Path, orders: int) -> list[float]:
    """Per-decision latencies (seconds) of ``orders`` orders through the service."""
    clock = ManualClock(T0)
    repository = SQLiteOrderRepository(folder / "orders.db")
    ledger = InventoryLedger(
        SQLiteInventoryStore(folder / "orders.db"), secret=b"bench-secret-0123456789", clock=clock
    )
    for sku in SKUS:
        ledger.receive(sku, orders * 3, reference="bench stock")
    service = OrderService(repository, inventory=ledger, clock=clock)
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
    return latencies


_BARE_SCHEMA = """
CREATE TABLE orders (order_id TEXT PRIMARY KEY, channel TEXT NOT NULL,
                     channel_order_id TEXT NOT NULL, status INTEGER NOT NULL,
                     version INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE order_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL,
                          body TEXT NOT NULL);
CREATE TABLE inventory_entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry_id TEXT NOT NULL,
    kind TEXT NOT NULL, sku TEXT NOT NULL, qty INTEGER NOT NULL, at_us INTEGER NOT NULL,
    actor TEXT NOT NULL, reason TEXT NOT NULL, order_id TEXT, lock_key TEXT,
    expires_us INTEGER, ref TEXT);
CREATE TABLE inventory_balances (sku TEXT PRIMARY KEY, on_hand INTEGER NOT NULL,
                                 locked INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE inventory_lock_lines (lock_key TEXT NOT NULL, sku TEXT NOT NULL,
    order_id TEXT NOT NULL, qty INTEGER NOT NULL, locked_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL, released INTEGER NOT NULL DEFAULT 0,
    committed INTEGER NOT NULL DEFAULT 0, expired INTEGER NOT NULL DEFAULT 0,
    open INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (lock_key, sku)) WITHOUT ROWID;
"""


def _prepare(path: Path, schema: str, orders: int) -> None:
    """The floor's file: orderkit's own tables and indexes (``schema="orderkit"``, made by
    the adapters before anything is timed) or the same tables without secondary indexes."""
    if schema == "orderkit":
        SQLiteOrderRepository(path)
        SQLiteInventoryStore(path)
    else:
        with sqlite3.connect(path) as conn:
            conn.executescript(_BARE_SCHEMA)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO inventory_balances (sku, on_hand, locked) VALUES (?, ?, 0)",
            [(sku, orders * 3) for sku in SKUS],
        )


def run_floor(folder: Path, orders: int, schema: str) -> list[float]:
    """Per-decision latencies of bare ``sqlite3`` writing the rows orderkit writes (the
    order, one audit row, and per SKU of a lock or a shipment a ledger entry, the balance
    and the lock line), one durable transaction per decision; nothing read, nothing
    checked, every value prepared before the clock starts."""
    path = folder / f"floor-{schema}.db"
    _prepare(path, schema, orders)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    # Bodies of the real sizes, serialised once: the floor times the driver, not JSON.
    body = json.dumps(to_dict(_order(0)), separators=(",", ":"))
    audit = body[:300]
    latencies: list[float] = []
    timer = time.perf_counter

    def stock(order_id: str, skus: dict[str, int], *, shipped: bool) -> None:
        for sku, units in skus.items():
            conn.execute(
                "INSERT INTO inventory_entries (entry_id, kind, sku, qty, at_us, actor, reason,"
                " order_id, lock_key, expires_us, ref) VALUES (?, ?, ?, ?, 0, 'system', ?, ?, ?,"
                " ?, NULL)",
                (f"{order_id}-{sku}-{shipped}", "commit" if shipped else "lock", sku, units,
                 "ship" if shipped else "lock", order_id, order_id, None if shipped else 1),
            )
            if shipped:
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
            else:
                conn.execute(
                    "UPDATE inventory_balances SET locked = locked + ? WHERE sku = ?",
                    (units, sku),
                )
                conn.execute(
                    "INSERT INTO inventory_lock_lines (lock_key, order_id, sku, qty, locked_us,"
                    " expires_us) VALUES (?, ?, ?, ?, 0, 1)",
                    (order_id, order_id, sku, units),
                )

    def decision(order_id: str, status: int, version: int, effect: Callable[[], None]) -> None:
        started = timer()
        conn.execute("BEGIN IMMEDIATE")
        if version == 0:
            conn.execute(
                "INSERT INTO orders (order_id, channel, channel_order_id, status, version, body)"
                " VALUES (?, 'tmall', ?, ?, 0, ?)",
                (order_id, order_id, status, body),
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
        effect()
        conn.execute("COMMIT")
        latencies.append(timer() - started)

    for n in range(orders):
        order_id = f"ORD-{n:06d}"
        skus = {SKUS[n % 3]: 2, SKUS[(n + 1) % 3]: 1}

        def nothing() -> None:
            pass

        def lock(oid: str = order_id, units: dict[str, int] = skus) -> None:
            stock(oid, units, shipped=False)

        def ship(oid: str = order_id, units: dict[str, int] = skus) -> None:
            stock(oid, units, shipped=True)

        decision(order_id, 10, 0, lock)
        decision(order_id, 20, 1, nothing)
        decision(order_id, 25, 2, nothing)
        decision(order_id, 30, 3, ship)
        decision(order_id, 40, 4, nothing)
    conn.close()
    return latencies


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
    print(f"{args.orders} orders x 5 decisions, durable SQLite (synchronous=FULL, WAL)")
    print("floor: bare sqlite3, the same writes in one transaction per decision, into")
    print("  'schema': orderkit's own tables and indexes; 'bare': no secondary indexes")
    print(f"{'round':>5} {'orderkit/s':>11} {'p50 ms':>7} {'p99 ms':>7}"
          f" {'schema/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}"
          f" {'bare/s':>8} {'ratio':>6}")
    ratios: list[float] = []
    bare_ratios: list[float] = []
    for k in range(args.rounds):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            ours = _summary(run_orderkit(Path(a), args.orders))
            floor = _summary(run_floor(Path(b), args.orders, "orderkit"))
            bare = _summary(run_floor(Path(b), args.orders, "bare"))
        ratios.append(ours[0] / floor[0])
        bare_ratios.append(ours[0] / bare[0])
        print(f"{k + 1:>5} {ours[0]:>11.0f} {ours[1]:>7.2f} {ours[2]:>7.2f}"
              f" {floor[0]:>9.0f} {floor[1]:>7.2f} {floor[2]:>7.2f} {ratios[-1]:>6.2f}"
              f" {bare[0]:>8.0f} {bare_ratios[-1]:>6.2f}")
    print(f"ratio to the floor on orderkit's schema: median {statistics.median(ratios):.2f},"
          f" range {min(ratios):.2f}-{max(ratios):.2f}")
    print(f"ratio to the bare-table floor: median {statistics.median(bare_ratios):.2f},"
          f" range {min(bare_ratios):.2f}-{max(bare_ratios):.2f}")
    if args.profile:
        with tempfile.TemporaryDirectory() as a:
            profiler = cProfile.Profile()
            profiler.runcall(run_orderkit, Path(a), args.orders)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
