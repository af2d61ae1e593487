"""Every Protocol a host may implement, in one place.

orderkit's core never touches a database, a clock, a queue or a carrier API directly: it
talks to these ports. ``orderkit.adapters`` ships memory and SQLite implementations (and
PostgreSQL as an extra); a host can write its own, and prove it with the matching contract
suite in :mod:`orderkit.testing`.

Every port method that can fail for infrastructure reasons raises
:class:`~orderkit.errors.StoreError` (with the driver error chained), never the driver's
own exception type.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from orderkit.orders import Address, Order

__all__ = [
    "CarrierGateway",
    "Clock",
    "EventSink",
    "IdempotencyStore",
    "InventoryStore",
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

    def save(self, order: Order, expected_version: int | None) -> None:
        """Insert (``expected_version=None``) or replace the order at that version."""
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

    def notify(self, alert: object) -> None:
        """Deliver one alert."""
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

    The contract is an atomic batch: the ledger hands over a set of entries with the
    balance conditions they require, and the store applies all of them or none, checking
    the conditions under its write lock.
    """


@runtime_checkable
class IdempotencyStore(Protocol):
    """Persists idempotency records (see :mod:`orderkit.idempotency`).

    The contract is put-if-absent with expiry: claiming a key succeeds for exactly one
    caller until the claim completes, is released, or its lease expires.
    """
