"""``InventoryStore`` in memory: dicts behind one lock, for tests and one-process tools.

A transaction holds the store lock for its whole block. Its entries are checked with
:func:`~orderkit.inventory.rules.apply_entry` as they are appended and staged beside the
store (reads inside the transaction see them); a clean exit copies the staged counters,
lock lines and entries into the store, and an exception discards them, so nobody ever
sees half a transaction. The store decides nothing else: the ledger keeps the policy.
Lock lines are kept whole, so a confirmed line's new expiry and its count of units
shipped unlocked are kept with it.

Built on a :class:`~orderkit.adapters.memory.MemoryOrderRepository`'s ``database``, the
store shares the repository's lock, and a transaction committed inside the repository's
``atomic()`` block is undone with it when the block raises, as on one SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from types import TracebackType
from typing import TypeVar

from orderkit.adapters.memory._db import Database
from orderkit.inventory.entries import (
    Balance,
    EntryKind,
    LedgerEntry,
    LockLine,
    count_record,
    count_return,
)
from orderkit.inventory.rules import apply_entry
from orderkit.model._checks import quantity
from orderkit.model.errors import ValidationError
from orderkit.model.time import Clock, SystemClock

__all__ = ["MemoryInventoryStore"]

_K = TypeVar("_K")
_V = TypeVar("_V")


def _due_order(line: LockLine) -> tuple[datetime, str, str]:
    return (line.expires_at, line.lock_key, line.sku)


def _put_back(stored: dict[_K, _V], key: _K, value: _V | None) -> None:
    """Set ``key`` back to ``value``, or remove it when it had none."""
    if value is None:
        stored.pop(key, None)
    else:
        stored[key] = value


class MemoryInventoryStore:
    """The inventory ledger in dicts, guarded by one lock; same contract as SQLite.

    ``database`` is a :class:`~orderkit.adapters.memory.MemoryOrderRepository`'s
    ``database`` (added in 0.3): the store then joins that repository's ``atomic()``
    blocks, its writes kept or undone with the block. Without one it stands alone.
    ``clock`` is the store's clock (:meth:`now`; the system clock by default): the one
    every ledger on this store defers to when its own clock runs ahead.
    """

    def __init__(self, database: Database | None = None, *, clock: Clock | None = None) -> None:
        if database is not None and not isinstance(database, Database):
            raise ValidationError(
                "database", database, "expected a MemoryOrderRepository's database"
            )
        self._clock: Clock = SystemClock() if clock is None else clock
        self._db = Database() if database is None else database
        self._lock = self._db.lock
        self._balances: dict[str, Balance] = {}
        #: lock key -> SKU -> line, locks in the order they were taken.
        self._lines: dict[str, dict[str, LockLine]] = {}
        #: SKU -> lock keys of its lines with units still locked (what can fall due).
        self._open: dict[str, set[str]] = {}
        self._entries: list[LedgerEntry] = []
        self._by_id: dict[str, LedgerEntry] = {}
        #: park entry id -> the APPROVE entry that resolved it.
        self._approvals: dict[str, LedgerEntry] = {}
        #: SKU -> the instants of its RELEASE entries.
        self._releases: dict[str, list[datetime]] = {}
        #: (order id, SKU) -> [units shipped, units restocked] by its entries.
        self._returns: dict[tuple[str, str], list[int]] = {}
        #: order id -> its (order id, SKU) -> units recorded as shipped before the count
        #: less those taken back (``count_record``): ``recorded_shipped`` reads an
        #: order's own tally, never the whole ledger.
        self._recorded: dict[str, dict[tuple[str, str], int]] = {}

    def transaction(self, skus: Collection[str]) -> _MemoryTransaction:
        """Stage entries under the store lock; keep them on a clean exit only."""
        return _MemoryTransaction(self, skus)

    @property
    def database(self) -> Database:
        """The in-memory database this store writes in (its own, or the repository's it
        was built on)."""
        return self._db

    def _commit(self, tx: _MemoryTransaction) -> None:
        """Copy a finished transaction's staged writes into the store (lock held), and
        note how to undo them while a block of the database is open."""
        if self._db.recording:
            self._db.remember(self._undo_of(tx))
        self._balances.update(tx.balances)
        for lock_key, by_sku in tx.lines.items():
            self._lines.setdefault(lock_key, {}).update(by_sku)
            for sku, line in by_sku.items():
                open_keys = self._open.setdefault(sku, set())
                if line.remaining > 0:
                    open_keys.add(lock_key)
                else:
                    open_keys.discard(lock_key)
        for entry in tx.entries:
            self._entries.append(entry)
            self._by_id[entry.entry_id] = entry
            if entry.kind is EntryKind.RELEASE:
                self._releases.setdefault(entry.sku, []).append(entry.at)
            elif entry.kind is EntryKind.APPROVE and entry.ref is not None:
                self._approvals[entry.ref] = entry
            count_return(self._returns, entry)
            if entry.order_id is not None:
                tally = self._recorded.get(entry.order_id, {})
                count_record(tally, entry)
                if tally:  # kept only for the orders whose entries change the tally
                    self._recorded[entry.order_id] = tally

    def _undo_of(self, tx: _MemoryTransaction) -> Callable[[], None]:
        """How to put back what committing ``tx`` is about to change."""
        balances = {sku: self._balances.get(sku) for sku in tx.balances}
        lines = {
            (lock_key, sku): self._lines.get(lock_key, {}).get(sku)
            for lock_key, by_sku in tx.lines.items()
            for sku in by_sku
        }
        opened = {(key, sku): key in self._open.get(sku, ()) for key, sku in lines}
        entries = len(self._entries)
        releases = {sku: len(self._releases.get(sku, ())) for sku in tx.skus}
        returns = {
            key: None if tally is None else list(tally)
            for entry in tx.entries
            if entry.order_id is not None
            for key in [(entry.order_id, entry.sku)]
            for tally in [self._returns.get(key)]
        }
        recorded = {
            order_id: None if tally is None else dict(tally)
            for order_id in {e.order_id for e in tx.entries if e.order_id is not None}
            for tally in [self._recorded.get(order_id)]
        }

        def undo() -> None:
            for sku, balance in balances.items():
                _put_back(self._balances, sku, balance)
            for (lock_key, sku), line in lines.items():
                by_sku = self._lines.setdefault(lock_key, {})
                _put_back(by_sku, sku, line)
                if not by_sku:
                    del self._lines[lock_key]
                open_keys = self._open.setdefault(sku, set())
                if opened[(lock_key, sku)]:
                    open_keys.add(lock_key)
                else:
                    open_keys.discard(lock_key)
            for entry in self._entries[entries:]:
                del self._by_id[entry.entry_id]
                if entry.kind is EntryKind.APPROVE and entry.ref is not None:
                    self._approvals.pop(entry.ref, None)
            del self._entries[entries:]
            for sku, count in releases.items():
                del self._releases.setdefault(sku, [])[count:]
            for key, tally in returns.items():
                _put_back(self._returns, key, tally)
            for order_id, records in recorded.items():
                _put_back(self._recorded, order_id, records)

        return undo

    def now(self) -> datetime:
        """The store's clock: the instant every ledger on this store defers to."""
        return self._clock.now()

    # --- reads -------------------------------------------------------------------------

    def balance(self, sku: str) -> Balance:
        """The counters of ``sku`` (zeros when never seen)."""
        with self._lock:
            return self._balances.get(sku, Balance())

    def balances(self) -> Mapping[str, Balance]:
        """The counters of every SKU seen."""
        with self._lock:
            return dict(self._balances)

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        """The lines of one lock, by SKU (empty when unknown)."""
        with self._lock:
            by_sku = self._lines.get(lock_key, {})
            return tuple(by_sku[sku] for sku in sorted(by_sku))

    def lines_of_locks(self, lock_keys: Collection[str]) -> Mapping[str, Sequence[LockLine]]:
        """The lines of several locks, by lock key (unknown locks left out)."""
        found = {key: self.lock_lines(key) for key in set(lock_keys)}
        return {key: lines for key, lines in found.items() if lines}

    def lines_of_order(self, order_id: str) -> Sequence[LockLine]:
        """Every lock line taken for ``order_id``, oldest first."""
        with self._lock:
            found = [
                line
                for by_sku in self._lines.values()
                for line in by_sku.values()
                if line.order_id == order_id
            ]
        return tuple(sorted(found, key=lambda line: (line.locked_at, line.lock_key, line.sku)))

    def all_lock_lines(self) -> Iterator[LockLine]:
        """Every lock line."""
        with self._lock:
            lines = [line for by_sku in self._lines.values() for line in by_sku.values()]
        return iter(lines)

    def due_lines(self, now: datetime, limit: int) -> Sequence[LockLine]:
        """Up to ``limit`` open lines whose lock expired by ``now``, oldest expiry first."""
        limit = quantity("limit", limit)
        with self._lock:
            due = [
                self._lines[lock_key][sku]
                for sku, open_keys in self._open.items()
                for lock_key in open_keys
                if self._lines[lock_key][sku].expires_at <= now
            ]
        return tuple(sorted(due, key=_due_order)[:limit])

    def entries(self) -> Iterator[LedgerEntry]:
        """Every entry, in the order they were appended."""
        with self._lock:
            return iter(list(self._entries))

    def entry(self, entry_id: str) -> LedgerEntry | None:
        """One entry by id, or ``None``."""
        with self._lock:
            return self._by_id.get(entry_id)

    def pending_parks(self) -> Sequence[LedgerEntry]:
        """``PARK`` entries that no ``APPROVE`` entry has resolved yet, oldest first."""
        with self._lock:
            return tuple(
                entry
                for entry in self._entries
                if entry.kind is EntryKind.PARK and entry.entry_id not in self._approvals
            )

    def pending_park_count(self) -> int:
        """How many ``PARK`` entries no ``APPROVE`` entry has resolved yet."""
        return len(self.pending_parks())


class _MemoryTransaction:
    """One write transaction: staged balances, lines and entries over the store's."""

    def __init__(self, store: MemoryInventoryStore, skus: Collection[str]) -> None:
        self.store = store
        self.skus = frozenset(skus)
        self.balances: dict[str, Balance] = {}
        self.lines: dict[str, dict[str, LockLine]] = {}
        self.entries: list[LedgerEntry] = []
        self.by_id: dict[str, LedgerEntry] = {}

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
                self.store._commit(self)
        finally:
            self.store._lock.release()

    def _line(self, lock_key: str, sku: str) -> LockLine | None:
        staged = self.lines.get(lock_key, {}).get(sku)
        return staged if staged is not None else self.store._lines.get(lock_key, {}).get(sku)

    def balance(self, sku: str) -> Balance:
        staged = self.balances.get(sku)
        return staged if staged is not None else self.store._balances.get(sku, Balance())

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        by_sku = {**self.store._lines.get(lock_key, {}), **self.lines.get(lock_key, {})}
        return tuple(by_sku[sku] for sku in sorted(by_sku))

    def lines_of_locks(self, lock_keys: Collection[str]) -> Mapping[str, Sequence[LockLine]]:
        found = {key: self.lock_lines(key) for key in set(lock_keys)}
        return {key: lines for key, lines in found.items() if lines}

    def due_lines(self, sku: str, now: datetime) -> Sequence[LockLine]:
        keys = set(self.store._open.get(sku, ()))
        keys.update(lock_key for lock_key, by_sku in self.lines.items() if sku in by_sku)
        lines = (self._line(lock_key, sku) for lock_key in keys)
        due = [
            line
            for line in lines
            if line is not None and line.remaining > 0 and line.expires_at <= now
        ]
        return tuple(sorted(due, key=_due_order))

    def release_count(self, sku: str, since: datetime, cap: int) -> int:
        stored = sum(1 for at in self.store._releases.get(sku, ()) if at >= since)
        staged = sum(
            1
            for entry in self.entries
            if entry.kind is EntryKind.RELEASE and entry.sku == sku and entry.at >= since
        )
        return min(stored + staged, cap)

    def entry(self, entry_id: str) -> LedgerEntry | None:
        staged = self.by_id.get(entry_id)
        return staged if staged is not None else self.store._by_id.get(entry_id)

    def stored(self, entry_ids: Collection[str]) -> AbstractSet[str]:
        return {entry_id for entry_id in entry_ids if self.entry(entry_id) is not None}

    def shipped_and_restocked(
        self, order_ids: Collection[str]
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        wanted = set(order_ids)
        found = {
            key: list(tally) for key, tally in self.store._returns.items() if key[0] in wanted
        }
        for entry in self.entries:
            if entry.order_id in wanted:
                count_return(found, entry)
        return {key: (tally[0], tally[1]) for key, tally in found.items()}

    def recorded_shipped(self, order_ids: Collection[str]) -> Mapping[tuple[str, str], int]:
        wanted = set(order_ids)
        found = {
            key: units
            for order_id in wanted
            for key, units in self.store._recorded.get(order_id, {}).items()
        }
        for entry in self.entries:  # this transaction's own
            if entry.order_id in wanted:
                count_record(found, entry)
        return found

    def approval_of(self, park_entry_id: str) -> LedgerEntry | None:
        for entry in self.entries:
            if entry.kind is EntryKind.APPROVE and entry.ref == park_entry_id:
                return entry
        return self.store._approvals.get(park_entry_id)

    def append(self, entry: LedgerEntry) -> None:
        sku = entry.sku
        if sku not in self.skus:
            raise ValidationError("entry.sku", sku, "not among the SKUs this transaction locked")
        if self.entry(entry.entry_id) is not None:
            raise ValidationError("entry.entry_id", entry.entry_id, "already in the ledger")
        if entry.kind is EntryKind.APPROVE:
            park = None if entry.ref is None else self.entry(entry.ref)
            if park is None or park.kind is not EntryKind.PARK or (
                self.approval_of(park.entry_id) is not None
            ):
                raise ValidationError("entry.ref", entry.ref, "no unapproved parked release")
        lock_key = entry.lock_key
        before = None if lock_key is None else self._line(lock_key, sku)
        balance, line = apply_entry(entry, self.balance(sku), before)
        # Every check passed: stage the entry and what it changed.
        self.balances[sku] = balance
        if line is not None and lock_key is not None:
            self.lines.setdefault(lock_key, {})[sku] = line
        self.entries.append(entry)
        self.by_id[entry.entry_id] = entry
