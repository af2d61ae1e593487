"""The inventory ledger's storage port (see :mod:`orderkit.inventory`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping, Sequence
    from collections.abc import Set as AbstractSet
    from contextlib import AbstractContextManager

    from orderkit.inventory.entries import Balance, LedgerEntry, LockLine

__all__ = [
    "InventoryStore",
    "InventoryTransaction",
]


@runtime_checkable
class InventoryStore(Protocol):
    """Persists the inventory lock ledger (see :mod:`orderkit.inventory`).

    The contract is an atomic batch: inside :meth:`transaction` the ledger reads what it
    needs and appends entries; the store applies each entry to its counters and lock
    lines at once (so later reads in the same transaction see it), refuses any entry that
    would break a balance (:func:`orderkit.inventory.rules.apply_entry`: ``locked`` and
    every lock line's remaining units never go below zero, and ``available`` only
    through a ``SHIP_UNLOCKED`` shipment, which the ledger reports as an oversell),
    keeps every field of each lock line it returns (a ``CONFIRM`` changes a line's
    ``expires_at``), and commits all of the transaction's entries or none. Transactions
    are serialised by the store's write lock, taken *before* the first read; stores that
    lock per SKU lock the declared ``skus`` in sorted order, so two transactions can
    never deadlock.

    The reads outside a transaction are snapshots for display and for ``verify()``.

    :meth:`now` is the store's clock: the one every process sharing the store agrees on.
    The ledger never decides expiry (nor dates an entry) later than it plus the ledger's
    ``skew_tolerance``.
    """

    def now(self) -> datetime:
        """The store's current instant, aware, in UTC (added in 0.2).

        A database server's ``now`` where there is one (PostgreSQL: ``clock_timestamp()``
        or ``now()``); the machine's clock for a store every process reaches on one
        machine (SQLite); the clock the store was given for an in-memory store.
        """
        ...

    def transaction(self, skus: Collection[str]) -> AbstractContextManager[InventoryTransaction]:
        """Open a write transaction touching only ``skus``; commit on a clean exit.

        An exception inside the block (from the ledger, from a refused entry or from the
        storage) rolls everything back and propagates.
        """
        ...

    def balance(self, sku: str) -> Balance:
        """The cached counters of ``sku`` (zeros when never seen)."""
        ...

    def balances(self) -> Mapping[str, Balance]:
        """The cached counters of every SKU seen."""
        ...

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        """The lines of one lock, by SKU (empty when the lock is unknown)."""
        ...

    def lines_of_locks(self, lock_keys: Collection[str]) -> Mapping[str, Sequence[LockLine]]:
        """The lines of several locks, by lock key then SKU, in one read (added in 0.3);
        an unknown lock has no key in the answer."""
        ...

    def lines_of_order(self, order_id: str) -> Sequence[LockLine]:
        """Every lock line taken for ``order_id``, oldest first."""
        ...

    def all_lock_lines(self) -> Iterator[LockLine]:
        """Every lock line (for ``verify()``)."""
        ...

    def due_lines(self, now: datetime, limit: int) -> Sequence[LockLine]:
        """Up to ``limit`` lines with units still locked whose lock expired by ``now``."""
        ...

    def entries(self) -> Iterator[LedgerEntry]:
        """Every ledger entry, in the order they were appended."""
        ...

    def entry(self, entry_id: str) -> LedgerEntry | None:
        """One entry by id, or ``None``."""
        ...

    def pending_parks(self) -> Sequence[LedgerEntry]:
        """``PARK`` entries that no ``APPROVE`` entry has resolved yet, oldest first."""
        ...

    def pending_park_count(self) -> int:
        """How many entries :meth:`pending_parks` would list, counted in the store (one
        query, no entry loaded): what the watch's ``inventory_parked_releases`` reads."""
        ...


@runtime_checkable
class InventoryTransaction(Protocol):
    """Reads and appends inside one :meth:`InventoryStore.transaction`."""

    def balance(self, sku: str) -> Balance:
        """The counters of ``sku`` including this transaction's entries so far."""
        ...

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        """The lines of one lock, including this transaction's entries so far."""
        ...

    def lines_of_locks(self, lock_keys: Collection[str]) -> Mapping[str, Sequence[LockLine]]:
        """The lines of several locks at once, as :meth:`lock_lines` would give each
        (added in 0.3); an unknown lock has no key in the answer. A store that keeps
        what it read may answer later :meth:`lock_lines` calls for these locks without
        asking its database again."""
        ...

    def due_lines(self, sku: str, now: datetime) -> Sequence[LockLine]:
        """Lines of ``sku`` with units still locked whose lock expired by ``now``."""
        ...

    def release_count(self, sku: str, since: datetime, cap: int) -> int:
        """How many ``RELEASE`` entries of ``sku`` are dated at or after ``since``.

        Counting may stop at ``cap`` (the breaker only needs to know "at least cap"), so
        the cost stays bounded however busy the SKU is.
        """
        ...

    def entry(self, entry_id: str) -> LedgerEntry | None:
        """One entry by id, or ``None``."""
        ...

    def stored(self, entry_ids: Collection[str]) -> AbstractSet[str]:
        """Which of ``entry_ids`` are in the ledger, this transaction's entries included
        (added in 0.3): the ledger's "was this call applied before?" for a whole batch
        of calls, in one read."""
        ...

    def approval_of(self, park_entry_id: str) -> LedgerEntry | None:
        """The ``APPROVE`` entry that resolved the ``PARK`` entry, or ``None``."""
        ...

    def shipped_and_restocked(
        self, order_ids: Collection[str]
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        """For each order of ``order_ids`` and SKU: the units its ``COMMIT`` and
        ``SHIP_UNLOCKED`` entries took out, and the units its ``RESTOCK`` entries put
        back, this transaction's entries included, in one read; an
        (order, SKU) with neither has no key. What bounds a restock: an order returns
        at most what it shipped."""
        ...

    def recorded_shipped(self, order_ids: Collection[str]) -> Mapping[tuple[str, str], int]:
        """For each order of ``order_ids`` and SKU: the units recorded as shipped before
        the stock count (the ``RECEIVE`` entries naming the order, which only
        ``record_shipped`` writes) less those its ``UNRECORD_SHIPPED`` entries took
        back, this transaction's entries included, in one read (added in 0.3); an
        (order, SKU) with neither has no key. What bounds an ``unrecord_shipped``."""
        ...

    def append(self, entry: LedgerEntry) -> None:
        """Apply ``entry`` now (checked by ``apply_entry``); it commits with the rest."""
        ...
