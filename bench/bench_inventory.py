"""Throughput of the inventory lock ledger on a durable SQLite file.

Run: ``python bench/bench_inventory.py [--seconds 2]``.

Measures the ledger over :class:`SQLiteInventoryStore` (WAL, ``synchronous=FULL``: every
commit is durable): lock+release and lock+commit pairs per second in one process and in
four processes sharing one file, and ``lock_many`` batches. The release breaker stays on
at its defaults; the bench spreads its orders over 1,000 SKUs and a manual clock moves
one second per pair, so a SKU sees a few releases an hour, as in a real catalogue.

The floor, in the same run: bare ``sqlite3`` doing the same two durable ``BEGIN
IMMEDIATE`` / ``UPDATE`` / ``COMMIT`` transactions per pair (the cost the disk sync sets).
The ratio shows what the ledger costs on top of it.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orderkit.adapters.sqlite import SQLiteInventoryStore
from orderkit.inventory import InventoryLedger
from orderkit.testing import ManualClock

SECRET = b"bench-secret-0123456789abcdef"
SKUS = [f"SKU-{n:04}" for n in range(1000)]
TTL = timedelta(hours=2)
SQLITE_TARGET = 5_000


def _ledger(store: SQLiteInventoryStore) -> tuple[InventoryLedger, ManualClock]:
    clock = ManualClock(datetime(2026, 2, 16, tzinfo=UTC))
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)
    for sku in SKUS:
        ledger.receive(sku, 10**9, reference="bench")
    return ledger, clock


def _pairs(ledger: InventoryLedger, clock: ManualClock, seconds: float, commit: bool) -> float:
    """Lock+release (or lock+commit) pairs per second for about ``seconds``."""
    second = timedelta(seconds=1)
    resolve = ledger.commit if commit else ledger.release
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for n in range(100):
            sku = SKUS[(done + n) % len(SKUS)]
            lock = ledger.lock("ORD-BENCH", {sku: 1}, ttl=TTL)
            resolve(lock.lock_id)
            clock.advance(second)
        done += 100
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


def _batched(ledger: InventoryLedger, clock: ManualClock, seconds: float, batch: int) -> float:
    """Locks per second through ``lock_many`` (each lock then released on its own)."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        requests = [("ORD-BENCH", {SKUS[(done + n) % len(SKUS)]: 1}) for n in range(batch)]
        locks = ledger.lock_many(requests, ttl=TTL)
        done += len(locks)
        clock.advance(timedelta(seconds=batch))
        for lock in locks:
            ledger.release(lock.lock_id)  # type: ignore[union-attr]
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


def _lock_many_only(
    ledger: InventoryLedger, clock: ManualClock, seconds: float, batch: int
) -> float:
    """Locks per second through ``lock_many`` alone (the stock never runs out)."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        requests = [("ORD-BENCH", {SKUS[(done + n) % len(SKUS)]: 1}) for n in range(batch)]
        done += len(ledger.lock_many(requests, ttl=TTL))
        clock.advance(timedelta(seconds=1))
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


def _worker(path: str, seconds: float, commit: bool, barrier: object, out: object) -> None:
    ledger, clock = _ledger(SQLiteInventoryStore(path, durable=True))
    barrier.wait()  # type: ignore[attr-defined]
    out.put(_pairs(ledger, clock, seconds, commit))  # type: ignore[attr-defined]


def _parallel(path: str, seconds: float, commit: bool, processes: int) -> float:
    _ledger(SQLiteInventoryStore(path, durable=True))  # create the schema and stock once
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(path, seconds, commit, barrier, out))
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    total = sum(out.get(timeout=600) for _ in procs)
    for proc in procs:
        proc.join()
    return float(total)


# --- the floor ----------------------------------------------------------------------------


def _bare_sqlite(path: str, seconds: float) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS s (sku TEXT PRIMARY KEY, on_hand INT, locked INT)")
    conn.executemany("INSERT OR IGNORE INTO s VALUES (?, ?, 0)", [(s, 10**9) for s in SKUS])
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for n in range(100):
            sku = SKUS[(done + n) % len(SKUS)]
            for delta in (1, -1):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "UPDATE s SET locked = locked + ? WHERE sku = ? AND on_hand - locked >= ?",
                    (delta, sku, max(delta, 0)),
                )
                conn.execute("COMMIT")
        done += 100
        now = time.perf_counter()
        if now >= deadline:
            conn.close()
            return done / (now - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    args = parser.parse_args()
    seconds: float = args.seconds
    workdir = Path(tempfile.mkdtemp(prefix="orderkit-bench-"))
    count = itertools.count()

    def row(name: str, value: float, note: str = "") -> None:
        print(f"{name:<52} {value:>12,.0f}/s  {note}", flush=True)

    def fresh() -> tuple[InventoryLedger, ManualClock]:
        return _ledger(SQLiteInventoryStore(workdir / f"ledger-{next(count)}.db", durable=True))

    print(f"orderkit inventory bench: {seconds:.1f}s per measurement, {len(SKUS)} SKUs")
    print()
    bare = _bare_sqlite(str(workdir / "bare.db"), seconds)
    row("floor: bare sqlite3 durable, lock+release pairs", bare)
    pairs: dict[bool, float] = {}
    for commit in (False, True):
        ledger, clock = fresh()
        pairs[commit] = _pairs(ledger, clock, seconds, commit)
        row(f"sqlite 1 proc lock+{'commit' if commit else 'release'} pairs", pairs[commit])
    ledger, clock = fresh()
    batched = _batched(ledger, clock, seconds, 100)
    row("sqlite 1 proc lock_many(100) locks, then release each", batched)
    ledger, clock = fresh()
    row("sqlite 1 proc lock_many(100) locks only", _lock_many_only(ledger, clock, seconds, 100))
    for commit in (False, True):
        path = str(workdir / f"parallel-{next(count)}.db")
        name = f"sqlite 4 procs lock+{'commit' if commit else 'release'} pairs (total)"
        row(name, _parallel(path, seconds, commit, 4), "one shared file")
    shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(
        f"sqlite lock+release vs target {SQLITE_TARGET:,}/s: {pairs[False] / SQLITE_TARGET:.2f}x;"
        f" vs the bare sqlite3 floor: {pairs[False] / bare:.2f}x"
    )


if __name__ == "__main__":
    main()
