"""A multi-process load for proving an ``InventoryStore`` never oversells.

Run :func:`lock_worker` in several processes (``multiprocessing`` *spawn* context) against
one shared store, then check the store with :func:`load_problems`: every SKU's
``available`` is still >= 0, every lock a worker saw succeed is in the ledger, the
balances follow from the entries, and ``verify()`` is clean. orderkit's own tests do this
with eight processes on one SQLite file and on PostgreSQL; hosts can do the same with
the store they wrote. ``store_factory`` must be picklable (a top-level function, a class, or a
``functools.partial`` of one), because each process builds its own store.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import attrs

from orderkit.inventory.entries import EntryKind
from orderkit.inventory.ledger import InventoryLedger
from orderkit.inventory.ports import InventoryStore
from orderkit.inventory.tokens import LockTokens
from orderkit.model.errors import InsufficientStock

__all__ = ["LoadReport", "load_problems", "lock_worker", "run_load"]


@attrs.frozen
class LoadReport:
    """What one worker did; ``locks`` lists (lock_id, lines) of every successful lock."""

    worker: int
    attempts: int
    locks: tuple[tuple[str, dict[str, int]], ...]
    refused: int
    released: int
    committed: int
    started: float
    finished: float


def run_load(
    store_factory: Callable[[], InventoryStore],
    *,
    secret: bytes,
    skus: Sequence[str],
    attempts: int,
    seed: int,
    worker: int = 0,
    release_share: float = 0.3,
    commit_share: float = 0.2,
) -> LoadReport:
    """Try ``attempts`` random locks of ``skus``; release or commit some of them.

    When a lock is refused, the worker cancels one of its own earlier orders, so stock
    keeps flowing back and every worker keeps competing for it until the end.
    """
    rng = random.Random(seed)
    ledger = InventoryLedger(store_factory(), secret=secret, release_limit=10**9)
    locks: list[tuple[str, dict[str, int]]] = []
    held: list[str] = []
    refused = released = committed = 0
    started = time.time()
    for _ in range(attempts):
        wanted = {sku: rng.randint(1, 3) for sku in rng.sample(list(skus), rng.randint(1, 3))}
        try:
            lock = ledger.lock(f"W{worker}", wanted, ttl=timedelta(days=1))
        except InsufficientStock:
            refused += 1
            if held:  # an older order of this worker is cancelled; its stock returns
                ledger.release(held.pop(rng.randrange(len(held))))
                released += 1
            continue
        locks.append((lock.lock_id, dict(lock.lines)))
        roll = rng.random()
        if roll < release_share:  # a partial cancel of one unit
            sku = rng.choice(sorted(lock.lines))
            ledger.release(lock.lock_id, {sku: 1})
            released += 1
            held.append(lock.lock_id)
        elif roll < release_share + commit_share:
            ledger.commit(lock.lock_id)
            committed += 1
        else:
            held.append(lock.lock_id)
    return LoadReport(
        worker, attempts, tuple(locks), refused, released, committed, started, time.time()
    )


def lock_worker(
    store_factory: Callable[[], InventoryStore],
    secret: bytes,
    skus: Sequence[str],
    attempts: int,
    seed: int,
    worker: int,
    barrier: Any,
    results: Any,
) -> None:
    """Process entry point: wait at ``barrier`` so all start together, run, report.

    ``barrier`` is a ``multiprocessing`` ``Barrier`` and ``results`` a ``Queue`` from the
    same context; the :class:`LoadReport` (or the exception) is put on ``results``.
    """
    try:
        store_factory()  # open the file (and its schema) before the race starts
        barrier.wait(timeout=120)
        results.put(
            run_load(
                store_factory, secret=secret, skus=skus, attempts=attempts, seed=seed,
                worker=worker,
            )
        )
    except Exception as error:  # reported to the parent, which fails the run
        results.put(error)


def load_problems(
    store: InventoryStore, reports: Sequence[LoadReport], *, secret: bytes, skus: Sequence[str]
) -> list[str]:
    """What the store shows wrong after a load, as text (empty when nothing): a SKU
    oversold, a lock a worker saw succeed missing from the ledger or with other lines,
    a lock in the ledger no worker saw, ``on_hand`` other than received minus shipped
    or other than available plus locked, or findings of ``verify()``."""
    problems: list[str] = []
    for sku in skus:
        balance = store.balance(sku)
        if balance.locked < 0 or balance.available < 0:
            problems.append(f"{sku} oversold: {balance}")
    entries = list(store.entries())
    tokens = LockTokens(secret)
    locked: Counter[tuple[str, str]] = Counter()
    for entry in entries:
        if entry.kind is EntryKind.LOCK:
            locked[(entry.lock_key or "", entry.sku)] += entry.qty
    successes = [lock for report in reports for lock in report.locks]
    for lock_id, lines in successes:
        lock_key, _order = tokens.open(lock_id)
        for sku, qty in lines.items():
            if locked[(lock_key, sku)] != qty:
                problems.append(f"lock {lock_key} of {sku}: {locked[(lock_key, sku)]} in the"
                                f" ledger, {qty} seen by its worker")
    if len({key for key, _sku in locked}) != len(successes):
        problems.append(f"{len({key for key, _sku in locked})} locks in the ledger,"
                        f" {len(successes)} seen by the workers")
    for sku in skus:
        received = sum(e.qty for e in entries if e.sku == sku and e.kind is EntryKind.RECEIVE)
        shipped = sum(e.qty for e in entries if e.sku == sku and e.kind is EntryKind.COMMIT)
        balance = store.balance(sku)
        if not balance.on_hand == received - shipped == balance.available + balance.locked:
            problems.append(f"{sku}: {balance}, received {received}, shipped {shipped}")
    report = InventoryLedger(store, secret=secret).verify()
    if not report.ok:
        problems.append(f"verify: {report}")
    return problems
