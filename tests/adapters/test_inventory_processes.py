"""No oversell with eight processes locking on one SQLite file."""

from __future__ import annotations

import functools
import itertools
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orderkit.adapters.sqlite import SQLiteInventoryStore
from orderkit.inventory import InventoryLedger
from orderkit.testing import ManualClock
from orderkit.testing.inventory_load import LoadReport, load_problems, lock_worker

SECRET = b"multi-process-secret-0123456789"
SKUS = ("SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E")
STOCK = 60
PROCESSES = 8
ATTEMPTS = 2_000


@pytest.mark.slow
def test_eight_processes_never_oversell_one_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "inventory.db"
    factory = functools.partial(SQLiteInventoryStore, path, durable=False)
    ledger = InventoryLedger(
        factory(), secret=SECRET, clock=ManualClock(datetime(2026, 2, 16, tzinfo=UTC))
    )
    for sku in SKUS:
        ledger.receive(sku, STOCK, reference="PO-1")

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=lock_worker,
            args=(factory, SECRET, SKUS, ATTEMPTS // PROCESSES, 1000 + n, n, barrier, results),
        )
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    for report in reports:
        if isinstance(report, BaseException):
            raise report
    assert all(isinstance(report, LoadReport) for report in reports)

    # They really ran at the same time: the ledger interleaves the workers' entries. (A
    # worker the scheduler starts late may find every unit already taken and write
    # nothing, so the proof is the interleaving, not that all eight wrote.)
    owners = [entry.order_id for entry in factory().entries() if entry.order_id]
    writers = len(set(owners))
    switches = sum(1 for a, b in itertools.pairwise(owners) if a != b)
    assert writers >= 2
    assert switches > 2 * writers, f"only {switches} switches between {writers} workers"
    assert sum(r.attempts for r in reports) == ATTEMPTS
    successes = [lock for r in reports for lock in r.locks]
    assert sum(len(r.locks) + r.refused for r in reports) == ATTEMPTS
    assert successes and sum(r.refused for r in reports) > 0  # stock really ran out

    assert load_problems(factory(), reports, secret=SECRET, skus=SKUS) == []
    assert ledger.verify().ok
