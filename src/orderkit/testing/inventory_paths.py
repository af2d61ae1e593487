"""Prove a store's one-call lock and release give exactly what its port gives.

A store offering :class:`~orderkit.inventory.fastpath.FastInventoryStore` lets the ledger
skip the entry-by-entry conversation of the port. :func:`transcript` replays a list of
ledger operations and records everything observable: each call's result or refusal, then
the entries, counters, lock lines, parked releases and the ``verify()`` report. Replay the
same operations on the store and on :class:`PortOnlyStore` wrapping a fresh one (which
hides the fast methods, so the ledger talks over the port) and compare: any divergence
of the fast path shows up as a differing transcript. Ids are drawn from a deterministic
sequence in both runs, so even entry ids and lock ids must match.

:func:`random_operations` draws a seeded mix that reaches every branch: multi-line and
duplicate-SKU locks, shortages, partial and full releases and commits, replays, the
release breaker and approvals, expiry (lazy and batched), forged, foreign-order and
malformed requests.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from orderkit.inventory.entries import Balance, InventoryLock, LedgerEntry, LockLine
from orderkit.inventory.ledger import InventoryLedger
from orderkit.inventory.ports import InventoryStore, InventoryTransaction
from orderkit.model.errors import OrderkitError
from orderkit.testing.clock import ManualClock

__all__ = ["PortOnlyStore", "random_operations", "transcript"]

#: One operation: its name and its arguments (see :func:`transcript`).
Operation = tuple[Any, ...]

_T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
_SECRET = b"inventory-paths-secret-0123456789"
SKUS = ("CUP", "POT", "TEA")


class PortOnlyStore:
    """``inner`` seen only through the :class:`~orderkit.inventory.ports.InventoryStore` port."""

    def __init__(self, inner: InventoryStore) -> None:
        self.inner = inner

    def transaction(self, skus: Collection[str]) -> AbstractContextManager[InventoryTransaction]:
        return self.inner.transaction(skus)

    def balance(self, sku: str) -> Balance:
        return self.inner.balance(sku)

    def balances(self) -> Mapping[str, Balance]:
        return self.inner.balances()

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        return self.inner.lock_lines(lock_key)

    def lines_of_order(self, order_id: str) -> Sequence[LockLine]:
        return self.inner.lines_of_order(order_id)

    def all_lock_lines(self) -> Iterator[LockLine]:
        return self.inner.all_lock_lines()

    def due_lines(self, now: datetime, limit: int) -> Sequence[LockLine]:
        return self.inner.due_lines(now, limit)

    def entries(self) -> Iterator[LedgerEntry]:
        return self.inner.entries()

    def entry(self, entry_id: str) -> LedgerEntry | None:
        return self.inner.entry(entry_id)

    def pending_parks(self) -> Sequence[LedgerEntry]:
        return self.inner.pending_parks()


def transcript(
    store: InventoryStore,
    operations: Sequence[Operation],
    *,
    release_limit: int = 3,
    release_window: timedelta = timedelta(minutes=30),
) -> tuple[object, ...]:
    """Replay ``operations`` with a ledger over ``store``; everything observable.

    Operations: ``("receive", sku, qty)``, ``("adjust", sku, delta)``, ``("lock", order,
    lines, ttl_minutes)``, ``("lock_many", [(order, lines), ...], ttl_minutes)``,
    ``("release" | "commit", lock_index, lines | None, order_id | None[, one_shot])``
    (``one_shot``: pass the lines as an iterator of pairs), ``("forge",
    lock_index, position)``, ``("advance", minutes)``, ``("expire_due", limit)``,
    ``("approve", park_index)``, ``("stock", sku)``, ``("occupancy", order)``. A
    ``lock_index`` picks among the lock ids issued so far (modulo their number).
    """
    clock = ManualClock(_T0)
    ledger = InventoryLedger(
        store, secret=_SECRET, clock=clock, release_limit=release_limit,
        release_window=release_window, expiry_batch=2,
    )
    ledger._ids.next = map("id-%06d".__mod__, itertools.count(1)).__next__
    lock_ids: list[str] = []
    seen: list[object] = []
    for operation in operations:
        try:
            outcome = _apply(ledger, clock, lock_ids, operation)
        except OrderkitError as error:
            outcome = (type(error).__name__, str(error))
        seen.append((operation[0], outcome))
    return (
        tuple(seen),
        tuple(ledger.entries()),
        tuple(sorted(store.balances().items())),
        tuple(sorted(store.all_lock_lines(), key=lambda line: (line.lock_key, line.sku))),
        ledger.pending_review(),
        ledger.verify(),
    )


def _apply(
    ledger: InventoryLedger, clock: ManualClock, lock_ids: list[str], operation: Operation
) -> object:
    name, *args = operation
    if name == "receive":
        return ledger.receive(args[0], args[1], reference="PO")
    if name == "adjust":
        return ledger.adjust(args[0], args[1], reason="count")
    if name == "lock":
        lock = ledger.lock(args[0], args[1], ttl=timedelta(minutes=args[2]))
        lock_ids.append(lock.lock_id)
        return lock
    if name == "lock_many":
        results = ledger.lock_many(args[0], ttl=timedelta(minutes=args[1]))
        lock_ids.extend(r.lock_id for r in results if isinstance(r, InventoryLock))
        return tuple(
            r if isinstance(r, InventoryLock) else ("InsufficientStock", r.shortages)
            for r in results
        )
    if name in ("release", "commit", "forge"):
        if not lock_ids:
            return None
        lock_id = lock_ids[args[0] % len(lock_ids)]
        if name == "forge":
            position = args[1] % len(lock_id)
            swapped = "0" if lock_id[position] != "0" else "1"
            return ledger.release(lock_id[:position] + swapped + lock_id[position + 1 :])
        action = ledger.commit if name == "commit" else ledger.release
        lines = args[1]
        if len(args) > 3 and args[3] and isinstance(lines, dict):
            lines = iter(list(lines.items()))  # a one-shot iterator of pairs
        return action(lock_id, lines, order_id=args[2])
    if name == "advance":
        return clock.advance(timedelta(minutes=args[0]))
    if name == "expire_due":
        return ledger.expire_due(limit=args[0])
    if name == "approve":
        pending = ledger.pending_review()
        if not pending:
            return None
        return ledger.approve_release(pending[args[0] % len(pending)].entry_id, actor="ops")
    if name == "stock":
        return ledger.stock(args[0])
    if name == "occupancy":
        return ledger.occupancy(args[0])
    raise ValueError(f"unknown operation {name!r}")


def random_operations(rng: random.Random, count: int) -> list[Operation]:
    """``count`` operations drawn with ``rng`` (see the module docstring)."""
    operations: list[Operation] = [("receive", sku, rng.randint(3, 12)) for sku in SKUS]
    orders = ("ORD-1", "ORD-2", "ORD-3")
    for _ in range(count):
        roll = rng.random()
        if roll < 0.25:
            operations.append(("lock", rng.choice(orders), _lines(rng), rng.randint(1, 90)))
        elif roll < 0.30:
            batch = [(rng.choice(orders), _lines(rng)) for _ in range(rng.randint(1, 3))]
            operations.append(("lock_many", batch, rng.randint(1, 90)))
        elif roll < 0.60:
            lines = None if rng.random() < 0.5 else _partial(rng)
            order = None if rng.random() < 0.8 else rng.choice(orders)
            kind = "commit" if rng.random() < 0.3 else "release"
            operations.append((kind, rng.randint(0, 99), lines, order, rng.random() < 0.2))
        elif roll < 0.64:
            operations.append(("forge", rng.randint(0, 99), rng.randint(0, 99)))
        elif roll < 0.74:
            operations.append(("advance", rng.choice([1, 5, 15, 30, 40])))
        elif roll < 0.78:
            operations.append(("expire_due", rng.randint(1, 3)))
        elif roll < 0.82:
            operations.append(("approve", rng.randint(0, 9)))
        elif roll < 0.88:
            operations.append(("receive", rng.choice(SKUS), rng.randint(1, 6)))
        elif roll < 0.92:
            operations.append(("adjust", rng.choice(SKUS), rng.choice([-3, -1, 1, 2])))
        elif roll < 0.96:
            operations.append(("stock", rng.choice(SKUS)))
        else:
            operations.append(("occupancy", rng.choice(orders)))
    return operations


def _lines(rng: random.Random) -> object:
    pairs = [(rng.choice(SKUS), rng.randint(1, 4)) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.7:
        return dict(pairs)
    return pairs  # a SKU may repeat: its demand is summed


def _partial(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.08:
        return {"TEA": 0}  # malformed
    if roll < 0.12:
        return {"KETTLE": 1}  # a SKU no lock holds
    return {rng.choice(SKUS): rng.randint(1, 5)}
