"""``InventoryStore`` in memory: one process, one lock, transactions with an undo log.

A transaction holds the store lock for its whole block and applies each entry to the
store's dicts at once (so reads inside it, and the ledger's next decision, see it with
plain dict lookups), recording how to undo every change. When the block raises, the undo
log is replayed backwards before the lock is released, so an exception anywhere leaves
the store exactly as it was and no other thread ever saw the half-written state.

(An earlier version staged entries in an overlay and merged it on exit; every read had
to look in two places and every commit copied the overlay. Same contract, about twice
the cost per lock+release.)
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any

from orderkit.errors import ValidationError
from orderkit.inventory.entries import Balance, EntryKind, LedgerEntry, LockLine
from orderkit.inventory.rules import apply_entry

__all__ = ["MemoryInventoryStore"]

_ZERO = Balance(0, 0)
_MISSING: Any = object()  # "the key was absent" in the undo log


class MemoryInventoryStore:
    """The inventory ledger in dicts, guarded by one lock; same contract as SQLite."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._balances: dict[str, Balance] = {}
        self._lines: dict[str, dict[str, LockLine]] = {}
        self._orders: dict[str, list[str]] = {}
        self._entries: list[LedgerEntry] = []
        self._by_id: dict[str, LedgerEntry] = {}
        self._approvals: dict[str, LedgerEntry] = {}
        self._parks: dict[str, LedgerEntry] = {}
        self._releases: dict[str, list[datetime]] = {}
        self._due: dict[str, list[tuple[datetime, str]]] = {}
        self._all_due: list[tuple[datetime, str, str]] = []

    # --- transactions ------------------------------------------------------------------

    def transaction(self, skus: Collection[str]) -> _MemoryTransaction:
        """Apply entries under the store lock; undo them all if the block raises."""
        return _MemoryTransaction(self, skus)

    def _line(self, lock_key: str | None, sku: str) -> LockLine | None:
        if lock_key is None:
            return None
        by_sku = self._lines.get(lock_key)
        return None if by_sku is None else by_sku.get(sku)

    # --- reads -------------------------------------------------------------------------

    def balance(self, sku: str) -> Balance:
        """The counters of ``sku`` (zeros when never seen)."""
        with self._lock:
            return self._balances.get(sku, _ZERO)

    def balances(self) -> Mapping[str, Balance]:
        """The counters of every SKU seen."""
        with self._lock:
            return dict(self._balances)

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        """The lines of one lock (empty when unknown)."""
        with self._lock:
            by_sku = self._lines.get(lock_key)
            if not by_sku:
                return ()
            if len(by_sku) == 1:  # every release reads its lock first: skip the sort
                return tuple(by_sku.values())
            return tuple(by_sku[sku] for sku in sorted(by_sku))

    def lines_of_order(self, order_id: str) -> Sequence[LockLine]:
        """Every lock line taken for ``order_id``, oldest lock first."""
        with self._lock:
            return tuple(
                line
                for lock_key in self._orders.get(order_id, ())
                for line in self._lines[lock_key].values()
            )

    def all_lock_lines(self) -> Iterator[LockLine]:
        """Every lock line."""
        with self._lock:
            lines = [line for by_sku in self._lines.values() for line in by_sku.values()]
        return iter(lines)

    def due_lines(self, now: datetime, limit: int) -> Sequence[LockLine]:
        """Up to ``limit`` open lines whose lock expired by ``now``."""
        with self._lock:
            heap = self._all_due
            found: list[LockLine] = []
            keep: list[tuple[datetime, str, str]] = []
            while heap and heap[0][0] <= now and len(found) < limit:
                item = heapq.heappop(heap)
                line = self._line(item[1], item[2])
                if line is not None and line.remaining > 0:
                    found.append(line)
                    keep.append(item)
            for item in keep:
                heapq.heappush(heap, item)
            return tuple(found)

    def entries(self) -> Iterator[LedgerEntry]:
        """Every entry in append order."""
        with self._lock:
            return iter(list(self._entries))

    def entry(self, entry_id: str) -> LedgerEntry | None:
        """One entry by id, or ``None``."""
        with self._lock:
            return self._by_id.get(entry_id)

    def pending_parks(self) -> Sequence[LedgerEntry]:
        """``PARK`` entries not yet approved, oldest first."""
        with self._lock:
            return tuple(self._parks.values())


class _MemoryTransaction:
    """One write transaction: entries go straight into the store, with an undo log."""

    __slots__ = ("entries_at", "skus", "store", "undo")

    def __init__(self, store: MemoryInventoryStore, skus: Collection[str]) -> None:
        self.store = store
        self.skus = frozenset(skus)
        # How to undo each change, newest last: ``(dict, key, value before)`` (the common
        # case, a cheap tuple; ``_MISSING`` when the key was absent) or a callable.
        self.undo: list[Callable[[], object] | tuple[dict[Any, Any], Any, object]] = []
        self.entries_at = 0

    def __enter__(self) -> _MemoryTransaction:
        self.store._lock.acquire()
        self.entries_at = len(self.store._entries)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if kind is not None:
                self._rollback()
        finally:
            self.store._lock.release()

    def _rollback(self) -> None:
        store = self.store
        for entry in store._entries[self.entries_at :]:
            store._by_id.pop(entry.entry_id, None)
        del store._entries[self.entries_at :]
        for action in reversed(self.undo):
            if callable(action):
                action()
                continue
            mapping, key, old = action
            if old is _MISSING:
                mapping.pop(key, None)
            else:
                mapping[key] = old
        self.undo.clear()

    def balance(self, sku: str) -> Balance:
        return self.store._balances.get(sku, _ZERO)

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        by_sku = self.store._lines.get(lock_key)
        if not by_sku:
            return ()
        if len(by_sku) == 1:
            return tuple(by_sku.values())
        return tuple(by_sku[sku] for sku in sorted(by_sku))

    def due_lines(self, sku: str, now: datetime) -> Sequence[LockLine]:
        heap = self.store._due.get(sku)
        if not heap or heap[0][0] > now:  # the common case: nothing of this SKU is due
            return ()
        found: dict[str, LockLine] = {}
        popped: list[tuple[datetime, str]] = []
        while heap and heap[0][0] <= now:
            item = heapq.heappop(heap)
            line = self.store._line(item[1], sku)
            if line is not None and line.remaining > 0:
                popped.append(item)  # still open: it stays due until resolved
                found[item[1]] = line
        for item in popped:
            heapq.heappush(heap, item)
        return tuple(found.values())

    def release_count(self, sku: str, since: datetime, cap: int) -> int:
        # A sorted list of the SKU's release instants: one bisect, never a scan.
        times = self.store._releases.get(sku)
        if not times:
            return 0
        return min(len(times) - bisect.bisect_left(times, since), cap)

    def entry(self, entry_id: str) -> LedgerEntry | None:
        return self.store._by_id.get(entry_id)

    def approval_of(self, park_entry_id: str) -> LedgerEntry | None:
        return self.store._approvals.get(park_entry_id)

    def append(self, entry: LedgerEntry) -> None:
        store = self.store
        sku = entry.sku
        if sku not in self.skus:
            raise ValidationError("entry.sku", sku, "not among the SKUs this transaction locked")
        entry_id = entry.entry_id
        if entry_id in store._by_id:
            raise ValidationError("entry.entry_id", entry_id, "already in the ledger")
        kind = entry.kind
        if kind is EntryKind.APPROVE:
            park = None if entry.ref is None else store._by_id.get(entry.ref)
            if park is None or park.kind is not EntryKind.PARK or (
                park.entry_id in store._approvals
            ):
                raise ValidationError("entry.ref", entry.ref, "no unapproved parked release")
        lock_key = entry.lock_key
        by_sku = None if lock_key is None else store._lines.get(lock_key)
        before = None if by_sku is None else by_sku.get(sku)
        balances = store._balances
        old_balance = balances.get(sku)
        balance, line = apply_entry(entry, _ZERO if old_balance is None else old_balance, before)
        # Every check passed: write, recording the undo of each change.
        undo = self.undo
        undo.append((balances, sku, _MISSING if old_balance is None else old_balance))
        balances[sku] = balance
        if line is not None and line is not before and lock_key is not None:
            self._put_line(lock_key, sku, line, before)
        store._entries.append(entry)
        store._by_id[entry_id] = entry
        if kind is EntryKind.RELEASE:
            times = store._releases.get(sku)
            if times is None:
                times = store._releases[sku] = []
                undo.append((store._releases, sku, _MISSING))
            if times and entry.at < times[-1]:
                bisect.insort(times, entry.at)
            else:
                times.append(entry.at)
            undo.append(partial(times.remove, entry.at))
        elif kind is EntryKind.PARK:
            store._parks[entry_id] = entry
            undo.append((store._parks, entry_id, _MISSING))
        elif kind is EntryKind.APPROVE and entry.ref is not None:
            ref = entry.ref
            pending = list(store._parks.items())  # approvals are rare: keep the order exactly
            store._parks.pop(ref, None)
            store._approvals[ref] = entry
            undo.append((store._approvals, ref, _MISSING))
            undo.append(partial(_restore_parks, store._parks, pending))

    def _put_line(self, lock_key: str, sku: str, line: LockLine, before: LockLine | None) -> None:
        store = self.store
        undo = self.undo
        if before is not None:
            by_sku = store._lines[lock_key]
            by_sku[sku] = line
            undo.append((by_sku, sku, before))
            return
        new_lines = store._lines.get(lock_key)
        if new_lines is None:
            new_lines = store._lines[lock_key] = {}
            store._orders.setdefault(line.order_id, []).append(lock_key)
            undo.append(partial(_forget_lock, store, lock_key, line.order_id))
        new_lines[sku] = line
        undo.append((new_lines, sku, _MISSING))
        due = store._due.get(sku)
        if due is None:
            due = store._due[sku] = []
            undo.append((store._due, sku, _MISSING))
        item = (line.expires_at, lock_key)
        heapq.heappush(due, item)
        all_item = (line.expires_at, lock_key, sku)
        heapq.heappush(store._all_due, all_item)
        undo.append(partial(_unpush, due, item, store._all_due, all_item))


def _unpush(
    due: list[tuple[datetime, str]],
    item: tuple[datetime, str],
    all_due: list[tuple[datetime, str, str]],
    all_item: tuple[datetime, str, str],
) -> None:
    """Undo the two ``heappush`` of a new lock line (rollbacks only, so O(n) is fine)."""
    due.remove(item)
    heapq.heapify(due)
    all_due.remove(all_item)
    heapq.heapify(all_due)


def _forget_lock(store: MemoryInventoryStore, lock_key: str, order_id: str) -> None:
    store._lines.pop(lock_key, None)
    keys = store._orders.get(order_id)
    if keys is not None:
        keys.remove(lock_key)
        if not keys:
            del store._orders[order_id]


def _restore_parks(parks: dict[str, LedgerEntry], pending: list[tuple[str, LedgerEntry]]) -> None:
    parks.clear()
    parks.update(pending)
