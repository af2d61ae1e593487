"""A flash sale on PostgreSQL: attempts/s with 1, 4 and 8 client processes, next to bare
psycopg doing the same transactions in the same run.

**orderkit.** Each process runs :func:`orderkit.testing.flash_sale.run_sale` on one SKU
of ``--stock`` units: every attempt places an order through
:class:`~orderkit.lifecycle.OrderService` with an inventory ledger (the stock lock and
the order, its audit entry and outbox message in one transaction), and a third of the
placed orders are cancelled again (the order saved with its release message, then the
relay releasing the lock). Attempts after the SKU sold out are refused by the ledger.

**The floor.** The same transactions with bare psycopg into orderkit's own tables
(made by the adapters before the clock starts), nothing decoded, nothing checked beyond
the one comparison a sale needs: per attempt ``BEGIN``, the SKU's advisory lock, its
balance; when enough is available one ledger entry, the balance, the lock line, the
order row, one audit row and one outbox row; ``COMMIT``. A cancel: the order, one audit
row and one outbox row in one transaction, then the release (entry, balance, lock line,
the message marked delivered) in another.

Every process checks at the end that nothing was oversold. Prints attempts/s for each
client count and the ratio to the floor, and the server settings used.

    python bench/bench_postgres.py [--attempts 2000] [--stock 100] [--clients 1 4 8]
        [--dsn DSN] [--durable] [--profile]

``--profile`` then runs one client whose every attempt is refused (the SKU sold out),
prints its client CPU per attempt and the functions that take it (cProfile), and the
same for the floor's refusal (``BEGIN``, the lock, the balance, ``COMMIT``).

Without ``--dsn`` it starts a throw-away cluster (``fsync`` off unless ``--durable``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from orderkit.adapters.postgres import PostgresInventoryStore, PostgresOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.testing.flash_sale import run_sale
from orderkit.testing.postgres import TemporaryCluster, fresh_schema

SECRET = b"bench-postgres-secret-0123456789"
SKU = "MILK-POWDER-800G"
T0 = datetime(2026, 2, 16, 12, 0, tzinfo=UTC)


def _orderkit(dsn: str, schema: str, attempts: int, worker: int, barrier: Any,
              results: Any) -> None:
    repository = PostgresOrderRepository(dsn, schema=schema)
    store = PostgresInventoryStore(dsn, schema=schema)
    barrier.wait(timeout=120)
    started = time.perf_counter()
    report = run_sale(repository, store, secret=SECRET, sku=SKU, attempts=attempts,
                      seed=worker, worker=worker)
    results.put((time.perf_counter() - started, len(report.placed)))


def _floor(dsn: str, schema: str, attempts: int, worker: int, barrier: Any,
           results: Any) -> None:
    rng = random.Random(worker)
    s = f'"{schema}"'
    conn = psycopg.connect(dsn, autocommit=True)
    body = json.dumps({"order": "x" * 600})  # about the size of an order's JSON
    barrier.wait(timeout=120)
    started = time.perf_counter()
    placed = 0
    for attempt in range(attempts):
        order_id, units = f"F{worker}-{attempt}", rng.randint(1, 3)
        lock_key = uuid.uuid4().hex
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(28523, hashtext(%s))", (f"{schema}:{SKU}",))
            on_hand, locked = conn.execute(
                f"SELECT on_hand, locked FROM {s}.inventory_balances WHERE sku = %s", (SKU,)
            ).fetchone() or (0, 0)
            if on_hand - locked < units:
                continue
            conn.execute(
                f"INSERT INTO {s}.inventory_entries (entry_id, kind, sku, qty, at, actor,"
                " reason, order_id, lock_key, expires_at) VALUES (%s, 'lock', %s, %s, %s,"
                " 'system', 'lock', %s, %s, %s)",
                (uuid.uuid4().hex, SKU, units, T0, order_id, lock_key, T0 + timedelta(hours=1)),
            )
            conn.execute(f"UPDATE {s}.inventory_balances SET locked = locked + %s"
                         " WHERE sku = %s", (units, SKU))
            conn.execute(
                f"INSERT INTO {s}.inventory_lock_lines (lock_key, sku, order_id, qty,"
                " locked_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (lock_key, SKU, order_id, units, T0, T0 + timedelta(hours=1)),
            )
            conn.execute(
                f"INSERT INTO {s}.orders (order_id, channel, channel_order_id, status,"
                " version, ship_to, body) VALUES (%s, 'floor', %s, 10, 1, 'null', %s)",
                (order_id, order_id, body),
            )
            conn.execute(f"INSERT INTO {s}.order_audit (order_id, body) VALUES (%s, %s)",
                         (order_id, body))
        placed += 1
        if rng.random() < 1 / 3:
            message = uuid.uuid4().hex
            with conn.transaction():
                conn.execute(f"UPDATE {s}.orders SET status = 90, version = 2, body = %s"
                             " WHERE order_id = %s", (body, order_id))
                conn.execute(f"INSERT INTO {s}.order_audit (order_id, body) VALUES (%s, %s)",
                             (order_id, body))
                conn.execute(
                    f"INSERT INTO {s}.order_outbox (position, message_id, order_id, topic,"
                    " payload, created_at) VALUES (pg_current_xact_id()::text::bigint, %s,"
                    " %s, 'stock.release', '{}', %s)", (message, order_id, T0),
                )
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(28523, hashtext(%s))",
                             (f"{schema}:{SKU}",))
                conn.execute(
                    f"INSERT INTO {s}.inventory_entries (entry_id, kind, sku, qty, at, actor,"
                    " reason, lock_key) VALUES (%s, 'release', %s, %s, %s, 'relay',"
                    " 'release', %s)", (f"{message}:{SKU}", SKU, units, T0, lock_key),
                )
                conn.execute(f"UPDATE {s}.inventory_balances SET locked = locked - %s"
                             " WHERE sku = %s", (units, SKU))
                conn.execute(f"UPDATE {s}.inventory_lock_lines SET released = qty,"
                             " open = false WHERE lock_key = %s", (lock_key,))
                conn.execute(f"UPDATE {s}.order_outbox SET status = 'delivered'"
                             " WHERE message_id = %s", (message,))
    results.put((time.perf_counter() - started, placed))
    conn.close()


def _round(target: Any, dsn: str, clients: int, attempts: int, stock: int) -> float:
    schema = fresh_schema("bench")
    PostgresOrderRepository(dsn, schema=schema)
    ledger = InventoryLedger(PostgresInventoryStore(dsn, schema=schema), secret=SECRET)
    ledger.receive(SKU, stock, reference="PO-BENCH")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(clients)
    results = ctx.Queue()
    share = attempts // clients
    workers = [
        ctx.Process(target=target, args=(dsn, schema, share, n, barrier, results))
        for n in range(clients)
    ]
    for worker in workers:
        worker.start()
    done = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    with psycopg.connect(dsn) as conn:
        on_hand, locked = conn.execute(
            f'SELECT on_hand, locked FROM "{schema}".inventory_balances WHERE sku = %s', (SKU,)
        ).fetchone()
    assert 0 <= locked <= on_hand == stock, f"oversold: {locked} locked of {on_hand}"
    return share * clients / max(seconds for seconds, _placed in done)


def _profile(dsn: str, attempts: int) -> None:
    """Client CPU per refused attempt, orderkit's (with its profile) and the floor's."""
    import cProfile
    import pstats

    schema = fresh_schema("bench")
    repository = PostgresOrderRepository(dsn, schema=schema)
    store = PostgresInventoryStore(dsn, schema=schema)
    InventoryLedger(store, secret=SECRET).receive(SKU, 1, reference="PO-BENCH")
    run_sale(repository, store, secret=SECRET, sku=SKU, attempts=50, seed=0, worker=0)
    started = time.process_time()
    report = run_sale(repository, store, secret=SECRET, sku=SKU, attempts=attempts, seed=1,
                      worker=1)
    ours = (time.process_time() - started) / attempts
    assert report.sold_out == attempts
    conn = psycopg.connect(dsn, autocommit=True)
    s = f'"{schema}"'
    started = time.process_time()
    for _attempt in range(attempts):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(28523, hashtext(%s))", (f"{schema}:{SKU}",))
            conn.execute(f"SELECT on_hand, locked FROM {s}.inventory_balances WHERE sku = %s",
                         (SKU,)).fetchone()
    floor = (time.process_time() - started) / attempts
    conn.close()
    print(f"client CPU per refused attempt: orderkit {ours * 1000:.3f} ms,"
          f" floor {floor * 1000:.3f} ms, ratio {floor / ours:.2f}")
    profiler = cProfile.Profile()
    profiler.runcall(lambda: run_sale(repository, store, secret=SECRET, sku=SKU,
                                      attempts=attempts, seed=2, worker=2))
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--stock", type=int, default=100)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--dsn")
    parser.add_argument("--durable", action="store_true",
                        help="a throw-away cluster with fsync on")
    parser.add_argument("--profile", action="store_true",
                        help="then profile the client of a refused attempt")
    args = parser.parse_args()
    cluster = None
    dsn = args.dsn
    if dsn is None:
        settings = ("fsync=on", "full_page_writes=on") if args.durable else ()
        cluster = TemporaryCluster(settings=settings)
        dsn = cluster.start()
    try:
        with psycopg.connect(dsn) as conn:
            shown = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("server_version", "fsync", "synchronous_commit",
                             "shared_buffers", "max_connections")
            }
        print("server:", ", ".join(f"{k}={v}" for k, v in shown.items()))
        print(f"{args.attempts} attempts on one SKU of {args.stock} units,"
              " a third of the placed orders cancelled")
        print(f"{'clients':>7} {'orderkit/s':>11} {'floor/s':>9} {'ratio':>6}")
        for clients in args.clients:
            ours = _round(_orderkit, dsn, clients, args.attempts, args.stock)
            floor = _round(_floor, dsn, clients, args.attempts, args.stock)
            print(f"{clients:>7} {ours:>11.0f} {floor:>9.0f} {ours / floor:>6.2f}")
        if args.profile:
            _profile(dsn, args.attempts)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
