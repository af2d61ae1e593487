"""``InventoryStore`` in memory: one process, one lock, staged transactions.

A transaction stages its entries in an overlay (reads inside it see them) and merges the
overlay into the store only when the block exits cleanly, so an exception anywhere
leaves the store exactly as it was.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType

from orderkit.errors import ValidationError
from orderkit.inventory.entries import Balance, EntryKind, LedgerEntry, LockLine
from orderkit.inventory.rules import apply_entry

__all__ = ["MemoryInventoryStore"]

_ZERO = Balance(0, 0)


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
        """Stage entries under the store lock; merge them only on a clean exit."""
        return _MemoryTransaction(self, frozenset(skus))

    def _merge(self, tx: _MemoryTransaction) -> None:
        self._balances.update(tx.balances)
        for (lock_key, sku), line in tx.lines.items():
            by_sku = self._lines.get(lock_key)
            if by_sku is None:
                by_sku = self._lines[lock_key] = {}
                self._orders.setdefault(line.order_id, []).append(lock_key)
            if sku not in by_sku:
                heapq.heappush(self._due.setdefault(sku, []), (line.expires_at, lock_key))
                heapq.heappush(self._all_due, (line.expires_at, lock_key, sku))
            by_sku[sku] = line
        for entry in tx.entries:
            self._entries.append(entry)
            self._by_id[entry.entry_id] = entry
            kind = entry.kind
            if kind is EntryKind.RELEASE:
                times = self._releases.setdefault(entry.sku, [])
                if times and entry.at < times[-1]:
                    bisect.insort(times, entry.at)
                else:
                    times.append(entry.at)
            elif kind is EntryKind.PARK:
                self._parks[entry.entry_id] = entry
            elif kind is EntryKind.APPROVE and entry.ref is not None:
                self._approvals[entry.ref] = entry
                self._parks.pop(entry.ref, None)

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
            by_sku = self._lines.get(lock_key, {})
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
    """The overlay of one transaction; reads see base + overlay."""

    __slots__ = ("balances", "entries", "lines", "new_ids", "skus", "store")

    def __init__(self, store: MemoryInventoryStore, skus: frozenset[str]) -> None:
        self.store = store
        self.skus = skus
        self.balances: dict[str, Balance] = {}
        self.lines: dict[tuple[str, str], LockLine] = {}
        self.entries: list[LedgerEntry] = []
        self.new_ids: dict[str, LedgerEntry] = {}

    def __enter__(self) -> _MemoryTransaction:
        self.store._lock.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                self.store._merge(self)
        finally:
            self.store._lock.release()

    def balance(self, sku: str) -> Balance:
        found = self.balances.get(sku)
        if found is not None:
            return found
        return self.store._balances.get(sku, _ZERO)

    def _line(self, lock_key: str | None, sku: str) -> LockLine | None:
        if lock_key is None:
            return None
        staged = self.lines.get((lock_key, sku))
        return staged if staged is not None else self.store._line(lock_key, sku)

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        skus = set(self.store._lines.get(lock_key, {}))
        skus.update(sku for key, sku in self.lines if key == lock_key)
        return tuple(
            line for sku in sorted(skus) if (line := self._line(lock_key, sku)) is not None
        )

    def due_lines(self, sku: str, now: datetime) -> Sequence[LockLine]:
        heap = self.store._due.get(sku)
        found: dict[str, LockLine] = {}
        if heap:
            popped: list[tuple[datetime, str]] = []
            while heap and heap[0][0] <= now:
                item = heapq.heappop(heap)
                base = self.store._line(item[1], sku)
                if base is not None and base.remaining > 0:
                    popped.append(item)
                    line = self._line(item[1], sku)
                    if line is not None and line.remaining > 0:
                        found[item[1]] = line
            for item in popped:
                heapq.heappush(heap, item)
        for (lock_key, line_sku), line in self.lines.items():
            if line_sku == sku and line.expires_at <= now and line.remaining > 0:
                found[lock_key] = line
        return tuple(found.values())

    def release_count(self, sku: str, since: datetime, cap: int) -> int:
        times = self.store._releases.get(sku)
        count = len(times) - bisect.bisect_left(times, since) if times else 0
        for entry in self.entries:
            if entry.kind is EntryKind.RELEASE and entry.sku == sku and entry.at >= since:
                count += 1
        return min(count, cap)

    def entry(self, entry_id: str) -> LedgerEntry | None:
        return self.new_ids.get(entry_id) or self.store._by_id.get(entry_id)

    def approval_of(self, park_entry_id: str) -> LedgerEntry | None:
        found = self.store._approvals.get(park_entry_id)
        if found is not None:
            return found
        for entry in self.entries:
            if entry.kind is EntryKind.APPROVE and entry.ref == park_entry_id:
                return entry
        return None

    def append(self, entry: LedgerEntry) -> None:
        sku = entry.sku
        if sku not in self.skus:
            raise ValidationError("entry.sku", sku, "not among the SKUs this transaction locked")
        entry_id = entry.entry_id
        if entry_id in self.new_ids or entry_id in self.store._by_id:
            raise ValidationError("entry.entry_id", entry_id, "already in the ledger")
        if entry.kind is EntryKind.APPROVE:
            park = None if entry.ref is None else self.entry(entry.ref)
            if park is None or park.kind is not EntryKind.PARK or (
                self.approval_of(park.entry_id) is not None
            ):
                raise ValidationError("entry.ref", entry.ref, "no unapproved parked release")
        line = self._line(entry.lock_key, sku)
        balance, line = apply_entry(entry, self.balance(sku), line)
        self.balances[sku] = balance
        if line is not None and entry.lock_key is not None:
            self.lines[(entry.lock_key, sku)] = line
        self.entries.append(entry)
        self.new_ids[entry_id] = entry
