"""End to end on the durable SQLite default, next to the bare driver doing the same writes.

orderkit: ``N`` orders placed through :class:`~orderkit.lifecycle.OrderService` with an
inventory ledger (stock locked at placement), then each taken pay -> pack -> ship ->
deliver, on SQLite files with ``synchronous=FULL`` (the default): five decisions per
order, each loading the order, deciding, and saving order and audit with the version it
read; the ship also commits the shipped stock and the placement locks it.

The floor: bare ``sqlite3`` on a file with the same settings, doing one durable
transaction per decision that writes the same rows: the order row (inserted, then
updated with its new status and a JSON body), one audit row, and for the placement and
the shipment the stock rows (a ledger entry, the balance, the lock line).

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


_FLOOR_SCHEMA = """
CREATE TABLE orders (order_id TEXT PRIMARY KEY, status INTEGER NOT NULL,
                     version INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE order_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL,
                          body TEXT NOT NULL);
CREATE TABLE balances (sku TEXT PRIMARY KEY, on_hand INTEGER NOT NULL,
                       available INTEGER NOT NULL, locked INTEGER NOT NULL);
CREATE TABLE entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE lock_lines (lock_id TEXT NOT NULL, sku TEXT NOT NULL, units INTEGER NOT NULL,
                         PRIMARY KEY (lock_id, sku));
"""


def run_floor(folder: Path, orders: int) -> list[float]:
    """Per-decision latencies of bare ``sqlite3`` writing the same rows, one durable
    transaction per decision."""
    conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(_FLOOR_SCHEMA)
    conn.executemany(
        "INSERT INTO balances VALUES (?, ?, ?, 0)", [(sku, orders * 3, orders * 3) for sku in SKUS]
    )
    # A body of the real size, serialised once: the floor times the driver, not JSON.
    body = json.dumps(to_dict(_order(0)), separators=(",", ":"))
    latencies: list[float] = []
    timer = time.perf_counter

    def stock(lock_id: str, skus: dict[str, int], *, shipped: bool) -> None:
        for sku, units in skus.items():
            if shipped:
                conn.execute(
                    "UPDATE balances SET on_hand = on_hand - ?, locked = locked - ?"
                    " WHERE sku = ?",
                    (units, units, sku),
                )
                conn.execute(
                    "UPDATE lock_lines SET units = units - ? WHERE lock_id = ? AND sku = ?",
                    (units, lock_id, sku),
                )
            else:
                conn.execute(
                    "UPDATE balances SET available = available - ?, locked = locked + ?"
                    " WHERE sku = ? AND available >= ?",
                    (units, units, sku, units),
                )
                conn.execute("INSERT INTO lock_lines VALUES (?, ?, ?)", (lock_id, sku, units))
            conn.execute("INSERT INTO entries (body) VALUES (?)", (body,))

    def decision(order_id: str, status: int, version: int, effect: Callable[[], None]) -> None:
        started = timer()
        conn.execute("BEGIN IMMEDIATE")
        if version == 0:
            conn.execute("INSERT INTO orders VALUES (?, ?, 0, ?)", (order_id, status, body))
        else:
            conn.execute(
                "UPDATE orders SET status = ?, version = ?, body = ?"
                " WHERE order_id = ? AND version = ?",
                (status, version, body, order_id, version - 1),
            )
            conn.execute("INSERT INTO order_audit (order_id, body) VALUES (?, ?)", (order_id, body))
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
    print(f"{'round':>5} {'orderkit/s':>11} {'p50 ms':>7} {'p99 ms':>7}"
          f" {'floor/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}")
    ratios = []
    for k in range(args.rounds):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            ours = _summary(run_orderkit(Path(a), args.orders))
            floor = _summary(run_floor(Path(b), args.orders))
        ratio = ours[0] / floor[0]
        ratios.append(ratio)
        print(f"{k + 1:>5} {ours[0]:>11.0f} {ours[1]:>7.2f} {ours[2]:>7.2f}"
              f" {floor[0]:>9.0f} {floor[1]:>7.2f} {floor[2]:>7.2f} {ratio:>6.2f}")
    print(f"ratio to the floor: median {statistics.median(ratios):.2f},"
          f" range {min(ratios):.2f}-{max(ratios):.2f}")
    if args.profile:
        with tempfile.TemporaryDirectory() as a:
            profiler = cProfile.Profile()
            profiler.runcall(run_orderkit, Path(a), args.orders)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
