"""Crash test: the transactional outbox on one SQLite file loses and repeats nothing.

Worker processes place, pay, partly cancel, ship and cancel orders (each order's lock,
each decision and the stock it owes commit together); a relay process delivers the
owed stock movements to the ledger. The parent SIGKILLs them at random points hundreds
of times and restarts them (a worker replays its plan from the start: every step has a
fixed id), then drains the relay and checks the file: every stock message applied
exactly once, the balances equal to what the orders' lines say, nothing pending or dead.

Set ``ORDERKIT_CRASH_SEED`` to rerun a failed seed (it is printed with every run).
"""

from __future__ import annotations

import functools
import os
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderkit import LineStatus, OrderStatus
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.inventory import EntryKind, InventoryLedger
from orderkit.lifecycle import OrderService
from orderkit.model.errors import DuplicateOrder
from orderkit.outbox import STOCK_COMMIT, OutboxRelay
from orderkit.testing.crash import PlanStep, relay_forever, run_plan, shop_plan, supervise

SECRET = b"crash-test-secret-0123456789abcdef"
SKUS = ("TEA-250G", "CUP", "POT", "TRAY", "CADDY")
T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
PLANS = 100  # worker plans, run three at a time
CONCURRENCY = 3
ORDERS = 40  # per plan: a restart replays little before it does new work
MIN_KILLS = 200
SPARE = 3  # units per SKU received beyond what every order locks


def _ledger(path: Path) -> InventoryLedger:
    # The system clock with locks that outlive the test (30 days), and a release
    # breaker that never trips: every release must be applied, none parked.
    return InventoryLedger(SQLiteInventoryStore(path), secret=SECRET, release_limit=10**9)


def _plan(seed: int, worker: int) -> tuple[PlanStep, ...]:
    return shop_plan(seed=seed, prefix=f"W{worker}", orders=ORDERS, skus=SKUS, start=T0)


def _work(path: Path, seed: int, worker: int) -> None:
    """A worker process: its own adapters, its plan from the start."""
    service = OrderService(
        SQLiteOrderRepository(path),
        inventory=_ledger(path),
        deliver=False,
        lock_ttl=timedelta(days=30),
    )
    run_plan(service, _plan(seed, worker))


def _relay(path: Path) -> None:
    """The relay process: its own adapters, batches until killed."""
    relay_forever(OutboxRelay(SQLiteOrderRepository(path), inventory=_ledger(path)), limit=20)


@pytest.mark.slow
def test_killed_workers_and_relay_apply_every_stock_message_exactly_once(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("ORDERKIT_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash test seed: {seed} (rerun with ORDERKIT_CRASH_SEED={seed})")
    path = tmp_path / "shop.db"
    plans = [_plan(seed, worker) for worker in range(PLANS)]
    steps = [step for plan in plans for step in plan]
    orders = {step.order_id: step.order for step in steps if step.order is not None}
    demand: Counter[str] = Counter()
    for order in orders.values():
        for line in order.lines:
            demand[line.sku] += line.quantity
    received = {sku: demand[sku] + SPARE for sku in SKUS}

    setup = _ledger(path)
    for sku, units in received.items():
        setup.receive(sku, units, reference="PO-crash")
    SQLiteOrderRepository(path).database.close()  # no connection may cross a fork

    report = supervise(
        {f"worker-{n}": functools.partial(_work, path, seed, n) for n in range(PLANS)},
        daemons={"relay": functools.partial(_relay, path)},
        seed=seed,
        concurrency=CONCURRENCY,
        pause=(0.05, 0.15),
        weights={"relay": CONCURRENCY},  # half of the kills hit the relay
        min_kills=MIN_KILLS,
        timeout=120,
    )
    print(
        f"seed {seed}: {report.kills} kills ({report.by_target['relay']} of the relay),"
        f" {report.replays} replays, {report.seconds} s"
    )
    assert report.kills >= MIN_KILLS, (seed, report)
    assert report.by_target["relay"] > 0, (seed, report)

    # What is left is delivered by a relay in this process, like after a real outage.
    repository = SQLiteOrderRepository(path)
    ledger = _ledger(path)
    relay = OutboxRelay(repository, inventory=ledger)
    drained = relay.run_until_idle(limit=500)
    problems = _broken_invariants(repository, ledger, steps, received)
    if drained.failed:
        problems.append(f"the final drain failed {drained.failed} deliveries")
    assert not problems, f"seed {seed}:\n" + "\n".join(problems)
    statuses = Counter(repository.get(order_id).status for order_id in orders)
    assert statuses[OrderStatus.CANCELLED] and statuses[OrderStatus.SHIPPED], statuses


def _some(items: Iterable[str], count: int = 3) -> str:
    items = sorted(items)
    return ", ".join(items[:count]) + (", ..." if len(items) > count else "")


def _broken_invariants(
    repository: SQLiteOrderRepository,
    ledger: InventoryLedger,
    steps: Sequence[PlanStep],
    received: Mapping[str, int],
) -> list[str]:
    """Every invariant the file breaks after the run, as one line each."""
    problems: list[str] = []
    orders = {step.order_id: step.order for step in steps if step.order is not None}
    pending = repository.pending(1000)
    if pending:
        problems.append(f"{len(pending)} outbox messages still pending")
    dead = repository.dead_letters()
    if dead:
        problems.append(f"{len(dead)} dead letters, first: {dead[0].error}")

    # Every order is stored with every event of its plan applied once (one version each).
    stored = {order_id: repository.get(order_id) for order_id in orders}
    events = Counter(step.order_id for step in steps if step.event is not None)
    off = [
        order_id
        for order_id, order in orders.items()
        if stored[order_id].version != order.version + events[order_id]
    ]
    if off:
        problems.append(f"{len(off)} orders not at their plan's version: {_some(off)}")

    # Each stock message was applied exactly once: one ledger entry per SKU it moved,
    # with the units it owed, and no release or commit that no message owed.
    owed: dict[str, tuple[EntryKind, int]] = {}
    for step in steps:
        for move in step.moves:
            kind = EntryKind.COMMIT if move.topic == STOCK_COMMIT else EntryKind.RELEASE
            for entry_id, units in move.entry_ids().items():
                owed[entry_id] = (kind, units)
    entries = ledger.entries()
    moved = {
        entry.entry_id: (entry.kind, entry.qty)
        for entry in entries
        if entry.kind in {EntryKind.RELEASE, EntryKind.COMMIT}
    }
    lost = set(owed) - set(moved)
    if lost:
        problems.append(f"{len(lost)} owed stock entries missing (lost): {_some(lost)}")
    stray = set(moved) - set(owed)
    if stray:
        problems.append(f"{len(stray)} releases/commits no message owed: {_some(stray)}")
    wrong = {k for k in set(owed) & set(moved) if owed[k] != moved[k]}
    if wrong:
        problems.append(f"{len(wrong)} stock entries with other units: {_some(wrong)}")
    unexpected = Counter(
        e.kind.value for e in entries if e.kind in {EntryKind.EXPIRE, EntryKind.PARK}
    )
    if unexpected:
        problems.append(f"no lock may expire or release park here: {dict(unexpected)}")

    # One lock per order, of exactly its ordered units: no placement left a stray lock.
    lock_keys: dict[str, set[str]] = {order_id: set() for order_id in orders}
    locked_units: Counter[str] = Counter()
    for entry in entries:
        if entry.kind is EntryKind.LOCK:
            lock_keys.setdefault(entry.order_id or "", set()).add(entry.lock_key or "")
            locked_units[entry.order_id or ""] += entry.qty
    not_one = [order_id for order_id, keys in lock_keys.items() if len(keys) != 1]
    if not_one:
        problems.append(f"{len(not_one)} orders without exactly one lock: {_some(not_one)}")
    over = [
        order_id
        for order_id, order in orders.items()
        if locked_units[order_id] != sum(line.quantity for line in order.lines)
    ]
    if over:
        problems.append(f"{len(over)} orders locked other units than ordered: {_some(over)}")

    # Balances: on_hand == received - shipped, locked == the open units of live orders.
    shipped: Counter[str] = Counter()
    open_units: Counter[str] = Counter()
    for order in stored.values():
        for line in order.lines:
            shipped[line.sku] += line.quantities[LineStatus.SHIPPED]
            open_units[line.sku] += line.quantities[LineStatus.OPEN]
    for sku, units in received.items():
        level = ledger.stock(sku)
        expected = (units - shipped[sku], open_units[sku], units - shipped[sku] - open_units[sku])
        if (level.on_hand, level.locked, level.available) != expected:
            problems.append(f"{level} but (on_hand, locked, available) should be {expected}")
    verified = ledger.verify()
    if not verified.ok:
        problems.append(f"ledger.verify() found drift: {verified}")
    return problems


def test_a_replayed_placement_is_a_duplicate_even_when_the_stock_is_gone(tmp_path: Path) -> None:
    # What a restarted worker meets when the first run's placement committed and the
    # stock it locked was the last: the replay must be recognised as done.
    path = tmp_path / "shop.db"
    ledger = _ledger(path)
    service = OrderService(SQLiteOrderRepository(path), inventory=ledger, deliver=False)
    [placement, *_rest] = _plan(7, 0)
    assert placement.order is not None
    for line in placement.order.lines:
        ledger.receive(line.sku, line.quantity, reference="PO-last")
    service.place(placement.order)
    with pytest.raises(DuplicateOrder):
        service.place(placement.order)
    assert run_plan(service, [placement]) == 0  # what a restarted worker does
