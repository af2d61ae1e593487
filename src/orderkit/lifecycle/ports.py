"""The lifecycle's ports: where orders are stored, where domain events go, the carrier.

Every method that can fail for infrastructure reasons raises
:class:`~orderkit.model.errors.StoreError` (with the driver error chained).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal, Protocol, runtime_checkable

import attrs

from orderkit.model.orders import ANCHORS, Address, Anchor, Order, PaymentTerms
from orderkit.outbox.ports import OutboxStore

if TYPE_CHECKING:
    from orderkit.model.audit import AddressVersion, AuditEntry
    from orderkit.outbox.messages import OutboxMessage

__all__ = [
    "ANCHORS",
    "GROUP_BY",
    "LEAVE_OUT",
    "Anchor",
    "CarrierGateway",
    "EventSink",
    "FirstScan",
    "GroupBy",
    "OrderRepository",
]

#: What the watch groups stale orders by: the order's ``channel``, its latest parcel's
#: ``carrier`` and its ship-to province (``region``); an order without one is in group
#: ``"unknown"``.
GroupBy = Literal["channel", "carrier", "region"]
GROUP_BY: Final[tuple[GroupBy, ...]] = ("channel", "carrier", "region")

#: The anchors a ``stale`` query may leave orders out by (``leave_out``: an order that
#: has the instant is left out): the ones an order may lack, which the SQL stores keep
#: in columns of their own. ``balance_due_since`` leaves out the presales that took
#: their deposit and wait for their balance.
LEAVE_OUT: Final[tuple[Anchor, ...]] = (
    "paid_at", "return_requested_since", "refund_due_since", "partly_shipped_since",
    "ship_due_at", "balance_due_since",
)


@attrs.frozen
class FirstScan:
    """An order's first parcel, as the carrier report reads it: who carried it, when it
    was handed over (``shipped_at``, aware UTC) and when the carrier first scanned it
    (``first_scan_at``, ``None`` while it has no scan), with the order's ``channel``
    and ``tags`` (where a host keeps its outlet)."""

    order_id: str
    channel: str
    carrier: str
    waybill: str
    shipped_at: datetime
    first_scan_at: datetime | None
    tags: frozenset[str] = frozenset()


@runtime_checkable
class OrderRepository(OutboxStore, Protocol):
    """Stores orders with optimistic concurrency.

    ``save`` compares the version currently stored with ``expected_version`` (``None``
    meaning "must not exist yet") and raises :class:`~orderkit.model.errors.ConcurrencyError`
    when they differ, so two writers that read the same version cannot both win. A second
    order claiming a ``(channel, channel_order_id)`` already stored under another
    ``order_id`` raises :class:`~orderkit.model.errors.DuplicateOrder`.

    ``ship_from_tz`` (an IANA zone name) is an optional attribute, not a member of the
    protocol: the zone a presale's ship-from day begins in, the one the repository
    derives ``ship_due_at`` in. :class:`~orderkit.lifecycle.service.OrderService`
    reads it for the ``ReadyToShip`` it writes (the default accounting zone without
    it); a repository wrapping another should forward it, or the host passes
    ``OrderService(..., ship_from_tz=...)``, which wins over it.
    """

    def get(self, order_id: str) -> Order:
        """The stored order; :class:`~orderkit.model.errors.OrderNotFound` when absent."""
        ...

    def find_by_channel(self, channel: str, channel_order_id: str) -> Order | None:
        """The order holding this channel order id, or ``None``."""
        ...

    def find_many_by_channel(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], Order]:
        """The stored orders holding these ``(channel, channel order id)`` keys, by key,
        in one set-based read through the channel index (keys not stored are left
        out): how sync finds a page's orders at once. A key that is not a pair of
        strings is a ``ValidationError`` naming it."""
        ...

    def find_by_waybill(self, waybill: str) -> list[Order]:
        """Every order with a shipment carrying ``waybill``, by order id, through an
        index (carrier callbacks carry only the waybill; several orders can travel in one
        merged parcel). Empty when none; a blank waybill is a ``ValidationError``."""
        ...

    def stale(
        self,
        statuses: Collection[int],
        anchor: Anchor,
        before: datetime,
        limit: int,
        *,
        terms: PaymentTerms | None = None,
        group: tuple[GroupBy, str] | None = None,
        leave_out: Collection[Anchor] = (),
    ) -> list[Order]:
        """Orders in one of ``statuses`` whose ``anchor`` instant is earlier than
        ``before``, oldest first, at most ``limit`` (the watch's query: backed by an
        index, so a watch cycle never loads every order). Anchors: ``status_since``,
        ``paid_at``, ``created_at``, and ``unscanned_since`` (when the latest parcel
        was handed over, for orders whose latest parcel has no carrier scan yet);
        ``status_since`` is ``created_at`` for an order that never changed status.
        Orders without that instant are left out. ``terms`` keeps only orders with
        those :attr:`~orderkit.model.orders.Order.payment_terms` (``None``: any), so a
        cash-on-delivery order waiting to ship is not taken for an unpaid one.
        ``group`` (a :data:`GroupBy` and a value, such as ``("channel", "jd")``) keeps
        only the orders of that group, so one group's flood takes no slot of another's;
        a bad one is a ``ValidationError`` naming ``group``. ``leave_out`` (anchors of
        :data:`LEAVE_OUT`) leaves out the orders that have any of those instants (a
        presale waiting for its balance, by ``balance_due_since``), in the store, so
        ``limit`` counts only the orders kept. Anchors ``ship_due_at`` (when the order
        became due to ship: its ``paid_at``, or a presale's ship-from day when that
        begins later) and ``balance_due_since`` (while a presale that took its deposit
        waits for its balance: when the deposit came) are derived by the stores."""
        ...

    def stale_count(
        self,
        statuses: Collection[int],
        anchor: Anchor,
        before: datetime,
        *,
        terms: PaymentTerms | None = None,
        group_by: GroupBy | None = None,
        leave_out: Collection[Anchor] = (),
    ) -> dict[str, int]:
        """How many orders :meth:`stale` would find without a limit, counted in the
        store over the same index (no order is loaded): by group value when
        ``group_by`` is given, else one entry under ``""``; groups with none are left
        out. The watch's count of what it could not list."""
        ...

    def stale_groups(
        self,
        statuses: Collection[int],
        anchor: Anchor,
        before: datetime,
        limit: int,
        *,
        group_by: GroupBy,
        terms: PaymentTerms | None = None,
        leave_out: Collection[Anchor] = (),
    ) -> dict[str, tuple[int, list[Order]]]:
        """By value of ``group_by``, how many orders :meth:`stale` would find in that
        group without a limit, and the first ``limit`` of them, oldest first (ties by
        order id), as :meth:`stale` with ``group`` would list them; groups with none are
        left out. One query for every group (the watch's grouped rules): each group's
        flood takes no slot of another's."""
        ...

    def count_by_status(
        self,
        anchor: Anchor,
        since: datetime | None,
        until: datetime,
        statuses: Collection[int] | None = None,
        *,
        leave_out: Collection[Anchor] = (),
        due_by: datetime | None = None,
    ) -> dict[int, int]:
        """How many orders have their ``anchor`` instant in ``[since, until)``
        (``since=None``: no lower bound), by status code, of ``statuses`` only (``None``:
        every status); statuses with none are left out. Counted in the store (an
        aggregate over the ``stale`` indexes), never by loading orders: the health
        page's query. ``leave_out`` leaves out the orders that have any of those
        instants, as :meth:`stale`'s does (a presale waiting for its balance, by
        ``balance_due_since``); ``due_by`` (aware) keeps only the orders due to ship
        before it (``ship_due_at``, a presale's ship-from day) or with no such instant
        (unpaid, cash on delivery), so a presale is not counted before its day."""
        ...

    def first_scans(self, since: datetime, until: datetime) -> list[FirstScan]:
        """The first parcel of every order whose first parcel was handed over in
        ``[since, until)``, by ``shipped_at`` then order id, through an index: the
        carrier report's query (one small row per order, no order loaded)."""
        ...

    def save(
        self,
        order: Order,
        expected_version: int | None,
        *,
        audit: Sequence[AuditEntry] = (),
        outbox: Sequence[OutboxMessage] = (),
    ) -> None:
        """Insert (``expected_version=None``) or replace the order at that version.

        ``audit`` entries and ``outbox`` messages are stored in the same atomic write;
        when the ship-to address differs from the stored one, an
        :class:`~orderkit.model.audit.AddressVersion` with the old and new address is
        kept too. Every message must belong to ``order`` and carry a ``message_id`` not
        stored yet, or :class:`~orderkit.model.errors.ValidationError` names
        ``outbox[i].order_id`` or ``outbox[i].message_id`` and nothing is written.
        """
        ...

    def insert_many(
        self, placements: Sequence[tuple[Order, Sequence[AuditEntry], Sequence[OutboxMessage]]]
    ) -> None:
        """Insert several new orders, each with its audit entries and outbox messages,
        in one atomic write (one multi-row write where the store has one): how a page of
        new orders is stored at once. Each order must be new, as ``save(order, None)``
        requires: an order id stored already (or twice in ``placements``) raises
        :class:`~orderkit.model.errors.ConcurrencyError` and a channel order id held
        already :class:`~orderkit.model.errors.DuplicateOrder`, naming it, and nothing
        of the call is written."""
        ...

    def atomic(self) -> AbstractContextManager[object]:
        """A block whose writes commit together, or not at all when it raises.

        Blocks nest. The writes of other stores that share this repository's transaction
        (SQLite adapters on the same file, a memory inventory store built on a memory
        repository's ``database``) join it too: :class:`OrderService` saves an
        order and moves its stock in one such block, so they commit with one ``fsync``.
        Stores that cannot share it commit on their own, as outside a block.
        """
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the outermost :meth:`atomic` block open on this thread
        has committed, and at once when none is open (added in 0.3).

        A callback registered in a block that raises (or in an inner block that raises)
        is dropped with its writes. One registered again in the same block (an equal
        callable: the same bound method) runs once. Callbacks run in the order they were
        registered, after the commit, outside any block: one may open a block of its
        own. Every one runs even when one before it raised; then the first error
        propagates from the block's end (whose writes stay committed), with a note
        saying so and naming any later error. Something that cannot be called is
        refused at once with a ``ValidationError`` naming ``callback``.
        :class:`OrderService` delivers a decision's outbox messages through
        it. A store that joins a transaction it cannot see end (PostgreSQL on the host's
        own connection) drops the callback: that delivery is left to the relay.

        A host repository without this method still works: the service then delivers at
        once, as before 0.3.
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
class EventSink(Protocol):
    """Receives domain events to publish (outbox style: after the state is saved)."""

    def publish(self, events: Sequence[object]) -> None:
        """Publish ``events`` in order: each an
        :class:`~orderkit.outbox.messages.OutboxMessage` whose ``payload`` is the domain
        event (plus ``"type"``) and whose ``message_id`` is unique per message.

        Delivery is at least once, so the host keeps what it applied by ``message_id``
        and ignores a ``message_id`` it has seen. Never deduplicate by the payload's
        ``event_id``: it is the id of the input event, shared by every domain event of
        one decision (a partial cancel's ``LinesCancelled``, ``RefundDue`` and
        ``StatusChanged`` all carry it).
        """
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
