"""Every Protocol a host may implement, in one place.

orderkit's core never touches a database, a clock, a queue or a carrier API directly: it
talks to these ports. ``orderkit.adapters`` ships memory and SQLite implementations (a
PostgreSQL one is planned); a host can write its own, and prove it with the matching
contract suite in :mod:`orderkit.testing`.

Every port method that can fail for infrastructure reasons raises
:class:`~orderkit.errors.StoreError` (with the driver error chained), never the driver's
own exception type.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from orderkit.orders import Address, Order

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping
    from contextlib import AbstractContextManager

    from orderkit.alerts import Alert
    from orderkit.idempotency.records import IdempotencyRecord
    from orderkit.inventory.entries import Balance, LedgerEntry, LockLine
    from orderkit.lifecycle.audit import AddressVersion, AuditEntry

__all__ = [
    "CarrierGateway",
    "Clock",
    "EventSink",
    "IdempotencyStore",
    "InventoryStore",
    "InventoryTransaction",
    "Notifier",
    "OrderRepository",
    "ReconIdSequence",
]


@runtime_checkable
class Clock(Protocol):
    """The source of "now". Inject :class:`orderkit.testing.ManualClock` in tests."""

    def now(self) -> datetime:
        """The current instant: aware, in UTC."""
        ...


@runtime_checkable
class OrderRepository(Protocol):
    """Stores orders with optimistic concurrency.

    ``save`` compares the version currently stored with ``expected_version`` (``None``
    meaning "must not exist yet") and raises :class:`~orderkit.errors.ConcurrencyError`
    when they differ, so two writers that read the same version cannot both win. A second
    order claiming a ``(channel, channel_order_id)`` already stored under another
    ``order_id`` raises :class:`~orderkit.errors.DuplicateOrder`.
    """

    def get(self, order_id: str) -> Order:
        """The stored order; :class:`~orderkit.errors.OrderNotFound` when absent."""
        ...

    def find_by_channel(self, channel: str, channel_order_id: str) -> Order | None:
        """The order holding this channel order id, or ``None``."""
        ...

    def save(
        self, order: Order, expected_version: int | None, *, audit: Sequence[AuditEntry] = ()
    ) -> None:
        """Insert (``expected_version=None``) or replace the order at that version.

        ``audit`` entries are stored in the same atomic write; when the ship-to address
        differs from the stored one, an :class:`~orderkit.lifecycle.audit.AddressVersion`
        with the old and new address is kept too.
        """
        ...

    def record_audit(self, order_id: str, entries: Sequence[AuditEntry]) -> None:
        """Append audit entries without changing the order (refusals are audited too)."""
        ...

    def audit_trail(self, order_id: str) -> list[AuditEntry]:
        """Every audit entry of the order, oldest first (empty when none)."""
        ...

    def address_history(self, order_id: str) -> list[AddressVersion]:
        """Every address change of the order, oldest first (empty when none)."""
        ...


@runtime_checkable
class ReconIdSequence(Protocol):
    """Hands out reconciliation sequence numbers.

    Per ``(prefix, day)``, numbers start at 1 and increase by exactly 1 on each call:
    gap-free and never repeated, across threads and processes sharing the store.
    """

    def next_value(self, prefix: str, on: date) -> int:
        """Draw the next number for ``prefix`` on ``on``."""
        ...


@runtime_checkable
class EventSink(Protocol):
    """Receives domain events to publish (outbox style: after the state is saved)."""

    def publish(self, events: Sequence[object]) -> None:
        """Publish ``events`` in order. Must be idempotent per event id on the host side."""
        ...


@runtime_checkable
class Notifier(Protocol):
    """Delivers alerts (SLA breaches, reconciliation differences) to people."""

    def notify(self, alert: Alert) -> None:
        """Deliver one :class:`~orderkit.alerts.Alert`."""
        ...


@runtime_checkable
class CarrierGateway(Protocol):
    """A carrier's API: waybills, address corrections, cancellations."""

    def create_waybill(self, order: Order) -> str:
        """Create a waybill for the order and return its number."""
        ...

    def update_address(self, waybill: str, address: Address) -> None:
        """Forward an address change for an existing waybill."""
        ...

    def cancel(self, waybill: str) -> None:
        """Cancel a waybill that has not been collected."""
        ...


@runtime_checkable
class InventoryStore(Protocol):
    """Persists the inventory lock ledger (see :mod:`orderkit.inventory`).

    The contract is an atomic batch: inside :meth:`transaction` the ledger reads what it
    needs and appends entries; the store applies each entry to its counters and lock
    lines at once (so later reads in the same transaction see it), refuses any entry that
    would break a balance (:func:`orderkit.inventory.rules.apply_entry`: ``available``,
    ``locked`` and every lock line's remaining units never go below zero), and commits
    all of the transaction's entries or none. Transactions are serialised by the store's
    write lock, taken *before* the first read; stores that lock per SKU lock the declared
    ``skus`` in sorted order, so two transactions can never deadlock.

    The reads outside a transaction are snapshots for display and for ``verify()``.
    """

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


@runtime_checkable
class InventoryTransaction(Protocol):
    """Reads and appends inside one :meth:`InventoryStore.transaction`."""

    def balance(self, sku: str) -> Balance:
        """The counters of ``sku`` including this transaction's entries so far."""
        ...

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        """The lines of one lock, including this transaction's entries so far."""
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

    def approval_of(self, park_entry_id: str) -> LedgerEntry | None:
        """The ``APPROVE`` entry that resolved the ``PARK`` entry, or ``None``."""
        ...

    def append(self, entry: LedgerEntry) -> None:
        """Apply ``entry`` now (checked by ``apply_entry``); it commits with the rest."""
        ...


@runtime_checkable
class IdempotencyStore(Protocol):
    """Persists idempotency records (see :mod:`orderkit.idempotency`).

    The contract is put-if-absent with expiry: claiming a key succeeds for exactly one
    caller until the claim completes, is released, or its lease expires.

    Every write is atomic across the threads and processes sharing the store, and every
    change to an existing record is a compare-and-set on the record's claim ``token``:
    a caller whose lease expired and was taken over can no longer complete, release or
    replace the record (its token no longer matches). The store keeps policy out: it
    never looks at the clock; the guard decides when a lease has expired and passes the
    instants in.
    """

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert ``record`` if no record exists under ``record.key``.

        Returns ``None`` when the record was inserted (the caller holds the claim), or the
        record already stored (unchanged) when the key is taken.
        """
        ...

    def take_over(self, expected_token: str, record: IdempotencyRecord) -> bool:
        """Replace the in-progress record under ``record.key`` if it holds ``expected_token``.

        Used when a lease expired: ``False`` (nothing written) when the stored record has
        another token, is completed, or is gone.
        """
        ...

    def complete(self, key: str, token: str, outcome: bytes, completed_at: datetime) -> bool:
        """Store ``outcome`` and mark the record completed, if it is in progress under
        ``token``. ``False`` (nothing written) when the claim was lost."""
        ...

    def release(self, key: str, token: str) -> bool:
        """Delete the in-progress record if it holds ``token`` (so a retry runs again)."""
        ...

    def get(self, key: str) -> IdempotencyRecord | None:
        """The stored record, or ``None``."""
        ...

    def purge(self, before: datetime) -> int:
        """Delete records created before ``before`` (completed ones, and in-progress ones
        whose lease also ended before it); returns how many were deleted."""
        ...
