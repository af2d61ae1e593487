"""Throughput of the inventory lock ledger: lock+release and lock+commit pairs per second.

Run: ``python bench/bench_inventory.py [--seconds 2]``.

Measures the memory store and a SQLite file (WAL, ``synchronous=FULL``: every commit is
durable), in one process and in four processes at once (memory: four separate stores;
SQLite: four processes sharing one file), plus ``lock_many`` batches. One more memory row
hides the store's one-call methods (``PortOnlyStore``), showing what the fast path saves
over the store port. The release breaker stays on at its defaults; the bench spreads its
orders over 1,000 SKUs and a manual clock moves one second per pair, so a SKU sees a few
releases an hour, as in a real catalogue.

Peers, in the same run: a bare dict with a ``threading.Lock`` (the floor for an
in-process counter with no ledger); a sketch of the ledger's obligations in the fewest
plain-Python steps (:func:`_sketch_pairs`: a signed lock id, a ledger entry per
movement, counters, an expiry heap, the breaker's release times, result objects; no
input checks, no error paths, no store port), which is what any pure-Python ledger has
to spend at least; and bare ``sqlite3`` doing the same two durable ``BEGIN IMMEDIATE``
/ ``UPDATE`` / ``COMMIT`` transactions per pair (the floor set by the disk sync). The
ratios show what the ledger costs on top of each.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import itertools
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.adapters.sqlite import SQLiteInventoryStore
from orderkit.inventory import InventoryLedger
from orderkit.inventory.ports import InventoryStore
from orderkit.testing import ManualClock
from orderkit.testing.inventory_paths import PortOnlyStore

SECRET = b"bench-secret-0123456789abcdef"
SKUS = [f"SKU-{n:04}" for n in range(1000)]
TTL = timedelta(hours=2)
MEMORY_TARGET = 100_000
SQLITE_TARGET = 5_000


def _ledger(store: InventoryStore) -> tuple[InventoryLedger, ManualClock]:
    clock = ManualClock(datetime(2026, 2, 16, tzinfo=UTC))
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)
    for sku in SKUS:
        ledger.receive(sku, 10**9, reference="bench")
    return ledger, clock


class _Locks(Protocol):
    """What the pair loop drives: the ledger, or the plain-Python sketch of it."""

    def lock(self, order_id: str, demand: dict[str, int], *, ttl: timedelta) -> Any: ...

    def release(self, lock_id: str) -> Any: ...

    def commit(self, lock_id: str) -> Any: ...


def _pairs(ledger: _Locks, clock: ManualClock, seconds: float, commit: bool) -> float:
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


def _store(kind: str, path: str | None) -> InventoryStore:
    if kind == "memory":
        return MemoryInventoryStore()
    assert path is not None
    return SQLiteInventoryStore(path, durable=True)


def _worker(
    kind: str, path: str | None, seconds: float, commit: bool, barrier: object, out: object
) -> None:
    ledger, clock = _ledger(_store(kind, path))
    barrier.wait()  # type: ignore[attr-defined]
    out.put(_pairs(ledger, clock, seconds, commit))  # type: ignore[attr-defined]


def _parallel(kind: str, path: str | None, seconds: float, commit: bool, processes: int) -> float:
    if path is not None:
        _ledger(_store(kind, path))  # create the schema and stock once
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(kind, path, seconds, commit, barrier, out))
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    total = sum(out.get(timeout=600) for _ in procs)
    for proc in procs:
        proc.join()
    return float(total)


# --- peers ------------------------------------------------------------------------------


def _bare_dict(seconds: float) -> float:
    counters = {sku: [10**9, 0] for sku in SKUS}
    guard = threading.Lock()
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for n in range(1000):
            sku = SKUS[(done + n) % len(SKUS)]
            with guard:
                row = counters[sku]
                if row[0] - row[1] >= 1:
                    row[1] += 1
            with guard:
                counters[sku][1] -= 1
        done += 1000
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


class _SketchLock:
    __slots__ = ("expires_at", "lines", "lock_id", "locked_at", "order_id")
    lock_id: str
    order_id: str
    lines: dict[str, int]
    locked_at: datetime
    expires_at: datetime


class _SketchResult:
    __slots__ = ("lines", "lock_id", "order_id", "outcome")
    outcome: str
    lock_id: str
    order_id: str
    lines: dict[str, int]


class _Sketch:
    """The ledger's obligations for one lock and its release in the fewest plain-Python
    steps; :func:`_sketch_pairs` times it with the ledger's own pair loop."""

    def __init__(
        self,
        lock: Callable[..., _SketchLock],
        release: Callable[[str], _SketchResult],
    ) -> None:
        self.lock = lock
        self.release = release

    def commit(self, lock_id: str) -> _SketchResult:
        raise NotImplementedError("the sketch measures lock and release only")


def _sketch_pairs(seconds: float) -> float:
    """Lock+release pairs/s of the ledger's obligations in the fewest plain-Python steps.

    Per lock: read the clock, an expiry instant, a lock key and an entry id, the
    all-or-nothing check and the counter, a ledger entry, a lock line, an expiry heap
    item, an HMAC-SHA256 lock id (keyed states precomputed) remembered for the release,
    a result object. Per release: the remembered id, the line's remainder, the breaker
    (the SKU's 20th-newest release inside the hour?), the counter, a ledger entry, the
    release instant, a result object. Nothing is validated and nothing can fail, so no
    real ledger can be faster than this in Python; it is not a usable ledger.
    """
    key = SECRET.ljust(64, b"\x00")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))
    pattern = os.urandom(8).hex() + "%08x"
    ids = map(pattern.__mod__, itertools.count(1)).__next__
    clock = ManualClock(datetime(2026, 2, 16, tzinfo=UTC))
    counters = {sku: [10**9, 0] for sku in SKUS}
    lines: dict[str, list[Any]] = {}
    entries: list[tuple[Any, ...]] = []
    due: dict[str, list[tuple[datetime, str]]] = {}
    releases: dict[str, list[datetime]] = {}
    issued: dict[str, str] = {}
    guard = threading.Lock()
    window = timedelta(hours=1)

    def lock(order_id: str, demand: dict[str, int], *, ttl: timedelta) -> _SketchLock:
        now = clock.now()
        expires_at = now + ttl
        ((sku, qty),) = demand.items()
        lock_key = ids()
        with guard:
            row = counters[sku]
            if qty > row[0] - row[1]:
                raise AssertionError("the bench never runs out of stock")
            entries.append(
                (ids(), "lock", sku, qty, now, "system", "lock", order_id, lock_key, expires_at)
            )
            row[1] += qty
            lines[lock_key] = [lock_key, order_id, sku, qty, now, expires_at, 0, 0, 0]
            heapq.heappush(due.setdefault(sku, []), (expires_at, lock_key))
        body = f"{lock_key}.{order_id.encode('utf-8').hex()}"
        mac = inner.copy()
        mac.update(body.encode("ascii"))
        tag = outer.copy()
        tag.update(mac.digest())
        lock_id = f"{body}.{tag.digest()[:16].hex()}"
        issued[lock_id] = lock_key
        result = _SketchLock()
        result.lock_id, result.order_id, result.lines = lock_id, order_id, {sku: qty}
        result.locked_at, result.expires_at = now, expires_at
        return result

    def release(lock_id: str) -> _SketchResult:
        now = clock.now()
        lock_key = issued[lock_id]
        with guard:
            line = lines[lock_key]
            sku = line[2]
            qty = line[3] - line[6] - line[7] - line[8]
            times = releases.get(sku)
            if times is not None and len(times) >= 20 and times[-20] >= now - window:
                raise AssertionError("the bench never trips the breaker")
            entries.append(
                (ids(), "release", sku, qty, now, "system", "release", line[1], lock_key, None)
            )
            counters[sku][1] -= qty
            line[6] += qty
            if times is None:
                releases[sku] = [now]
            else:
                times.append(now)
        result = _SketchResult()
        result.outcome, result.lock_id, result.order_id = "released", lock_id, line[1]
        result.lines = {sku: qty}
        return result

    return _pairs(_Sketch(lock, release), clock, seconds, commit=False)


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
    rows: list[tuple[str, float, str]] = []

    def row(name: str, value: float, note: str = "") -> None:
        rows.append((name, value, note))
        print(f"{name:<52} {value:>12,.0f}/s  {note}", flush=True)

    def fresh(kind: str) -> tuple[InventoryLedger, ManualClock, str | None]:
        path = None if kind == "memory" else str(workdir / f"{kind}-{len(rows)}.db")
        ledger, clock = _ledger(_store(kind, path))
        return ledger, clock, path

    print(f"orderkit inventory bench: {seconds:.1f}s per measurement, {len(SKUS)} SKUs")
    print()
    bare_dict = _bare_dict(seconds)
    row("peer: dict + threading.Lock, lock+release pairs", bare_dict)
    sketch = _sketch_pairs(seconds)
    row("peer: plain-Python sketch of the obligations, pairs", sketch, "no checks, no port")
    results: dict[str, float] = {}
    for kind in ("memory", "sqlite"):
        for commit in (False, True):
            ledger, clock, _path = fresh(kind)
            name = f"{kind} 1 proc lock+{'commit' if commit else 'release'} pairs"
            results[name] = _pairs(ledger, clock, seconds, commit)
            row(name, results[name])
        if kind == "memory":  # the same store with its one-call methods hidden
            ledger, clock = _ledger(PortOnlyStore(MemoryInventoryStore()))
            row(
                "memory 1 proc lock+release pairs, port only",
                _pairs(ledger, clock, seconds, False),
                "no fast path",
            )
        if kind == "sqlite":
            bare = _bare_sqlite(str(workdir / "bare.db"), seconds)
            row("peer: bare sqlite3 durable, lock+release pairs", bare)
            results["bare sqlite"] = bare
        ledger, clock, _path = fresh(kind)
        row(
            f"{kind} 1 proc lock_many(100) locks, then release each",
            _batched(ledger, clock, seconds, 100),
        )
        ledger, clock, _path = fresh(kind)
        row(
            f"{kind} 1 proc lock_many(100) locks only", _lock_many_only(ledger, clock, seconds, 100)
        )
        path = None if kind == "memory" else str(workdir / f"{kind}-parallel.db")
        for commit in (False, True):
            name = f"{kind} 4 procs lock+{'commit' if commit else 'release'} pairs (total)"
            row(
                name,
                _parallel(kind, path, seconds, commit, 4),
                "separate stores" if kind == "memory" else "one shared file",
            )

    shutil.rmtree(workdir, ignore_errors=True)
    memory = results["memory 1 proc lock+release pairs"]
    sqlite_pairs = results["sqlite 1 proc lock+release pairs"]
    print()
    print(
        f"memory lock+release vs target {MEMORY_TARGET:,}/s: {memory / MEMORY_TARGET:.2f}x;"
        f" vs bare dict peer: {memory / bare_dict:.3f}x;"
        f" vs plain-Python sketch: {memory / sketch:.2f}x"
        f" (the sketch itself: {sketch / MEMORY_TARGET:.2f}x the target)"
    )
    print(
        f"sqlite lock+release vs target {SQLITE_TARGET:,}/s: {sqlite_pairs / SQLITE_TARGET:.2f}x;"
        f" vs bare sqlite3 peer: {sqlite_pairs / results['bare sqlite']:.2f}x"
    )


if __name__ == "__main__":
    main()
