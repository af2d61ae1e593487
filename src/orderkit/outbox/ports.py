"""The outbox's ports: where messages wait, and the stock ledger the relay feeds.

Each order repository adapter is also the outbox store of the messages it saved with
its orders (``OrderRepository.save(..., outbox=...)``), so that the order and what it
owes commit in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from orderkit.model.errors import RefusedError
    from orderkit.outbox.messages import Consumer, OutboxMessage, StoredMessage

__all__ = ["OutboxRetention", "OutboxStore", "StockCall", "StockEffects", "StockResult"]


@runtime_checkable
class OutboxStore(Protocol):
    """Keeps outbox messages until they are delivered.

    Messages are returned in the order their transactions committed; a store never
    passes over a message that commits after a later one was already returned.
    """

    def atomic(self) -> AbstractContextManager[object]:
        """A block whose writes commit together (see ``OrderRepository.atomic``)."""
        ...

    def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        """Add messages that no order save carries (what the relay itself found out,
        such as an oversell), atomically; an id already stored is refused with a
        :class:`~orderkit.model.errors.ValidationError` naming ``messages[i].message_id``."""
        ...

    def pending(
        self, limit: int, *, consumer: Consumer | None = None, now: datetime | None = None
    ) -> Sequence[StoredMessage]:
        """Up to ``limit`` undelivered, not dead messages, oldest first.

        With ``consumer`` (``"sink"`` or ``"ledger"``, see
        :func:`~orderkit.outbox.messages.consumer_of`) only that consumer's messages
        (changed in 0.3). With ``now`` (aware) only the messages a relay can deliver
        then: none whose ``retry_at`` is after ``now``, nor any whose order has an
        earlier pending message for the same consumer whose ``retry_at`` is after
        ``now`` (it waits behind it). So rows waiting out a back-off never fill the
        limit and hide the work behind them. Bad values raise a
        :class:`~orderkit.model.errors.ValidationError` naming ``consumer`` or ``now``.
        """
        ...

    def mark_delivered(self, message_ids: Sequence[str], at: datetime) -> None:
        """Record that these messages reached every consumer."""
        ...

    def mark_failed(
        self, message_id: str, error: str, *, dead: bool, retry_at: datetime | None = None
    ) -> None:
        """Count a failed delivery, keep ``error`` and ``retry_at`` (not to be tried
        before then); ``dead`` moves it to the dead letters, where it waits for
        :meth:`replay` (which clears ``retry_at``)."""
        ...

    def dead_letters(self) -> Sequence[StoredMessage]:
        """Every dead message, oldest first."""
        ...

    def dead_letter_count(self) -> int:
        """How many dead messages wait for a replay (what :meth:`dead_letters` would
        list, counted in the store)."""
        ...

    def replay(self, message_id: str) -> bool:
        """Make a dead message pending again with its attempts reset; ``False`` when no
        dead message has that id."""
        ...

    def oldest_pending(self) -> datetime | None:
        """When the oldest undelivered message was created (``None``: none waits)."""
        ...


@runtime_checkable
class OutboxRetention(Protocol):
    """An outbox store that can forget what it delivered long ago (added in 0.3): the
    memory, SQLite and PostgreSQL order repositories are one. Optional for a host's own
    store: :meth:`~orderkit.outbox.OutboxRelay.purge` refuses a store without it.

    Delivered messages are kept until purged, so the outbox grows with every decision
    (two or three messages each) until something deletes them. Only ``delivered`` rows
    go: a pending message is still owed and a dead one waits for a person. Nothing a
    relay does needs a delivered row: it reads pending rows only; a delivered message is
    never delivered again (only a dead one is put back in line); each order's later
    messages are still numbered after its earlier ones (a SQLite ``seq`` is never
    reused, and a PostgreSQL position was below every running transaction's id when the
    relay read the message, so every later writer's position is above it); the ledger
    keeps the message ids it applied in its own entries, and the sink in its own store.
    A purged message's id is no longer taken: a store refuses an id only while it keeps
    the message (orderkit never writes an id twice: an order remembers the event ids it
    applied, and a relay's findings are named after the stock message that was
    applied).
    """

    def purge_delivered(self, before: datetime, *, limit: int | None = None) -> int:
        """Delete the messages delivered before ``before`` (aware; one delivered at
        ``before`` is kept), earliest delivered first, at most ``limit`` of them (all
        when ``None``), in one transaction (a block's, inside :meth:`OutboxStore.atomic`);
        returns how many were deleted. Pending and dead messages are never deleted. A
        naive ``before`` or a ``limit`` that is not an integer >= 1 raises a
        :class:`~orderkit.model.errors.ValidationError` naming it, before anything is
        deleted."""
        ...


class StockResult(Protocol):
    """What the ledger answers a stock call: units it had to ship beyond what was
    available (``oversold``) and units of a confirmed lock that had lapsed. A result
    with ``parked`` (releases its breaker held back for review, each with ``sku``,
    ``qty`` and ``entry_id``, as :class:`~orderkit.inventory.ReleaseResult` gives
    them) has each told to the sink as an ``event.ReleaseParked``."""

    @property
    def oversold(self) -> Mapping[str, int]: ...

    @property
    def lapsed(self) -> Mapping[str, int]: ...


@attrs.frozen
class StockCall:
    """One stock message as a call of :meth:`StockEffects.apply_many` (added in 0.3):
    ``operation`` is ``"release"``, ``"commit"``, ``"uncommit"``, ``"confirm"``,
    ``"restock"``, ``"ship"``, ``"unship"``, ``"record_shipped"`` or
    ``"unrecord_shipped"``, the other fields the
    arguments of the :class:`~orderkit.inventory.InventoryLedger` method of that name
    (``reason=None``: its default). A host's own :class:`StockEffects` that does not
    know an operation refuses the batch; the relay then retries each message alone, and
    one that keeps failing becomes a dead letter."""

    operation: str
    lock_id: str | None = None
    lines: Mapping[str, int] | None = None
    order_id: str | None = None
    ref: str | None = None
    reason: str | None = None
    #: ``record_shipped`` only: what the lock keeps holding, SKU to units.
    keep: Mapping[str, int] | None = None
    #: ``confirm`` and ``release``: when the payment or the cancel happened (aware),
    #: the instant the ledger judges it at (``None``: the ledger's clock); the relay
    #: passes the message's ``occurred_at`` (its ``created_at`` when it has none). A
    #: release's ``at`` is what the ledger's release breaker counts it by.
    at: datetime | None = None


@runtime_checkable
class StockEffects(Protocol):
    """What the relay asks of the inventory ledger (:class:`~orderkit.inventory.InventoryLedger`).

    ``ref`` is the message id: a second call with the same ``ref`` changes nothing.
    """

    def release(
        self,
        lock_id: str,
        lines: Mapping[str, int] | None = None,
        *,
        order_id: str | None = None,
        ref: str | None = None,
    ) -> StockResult:
        """Return locked units to available (all that is locked when ``lines`` is None)."""
        ...

    def commit(
        self,
        lock_id: str,
        lines: Mapping[str, int] | None = None,
        *,
        order_id: str | None = None,
        ref: str | None = None,
    ) -> StockResult:
        """Take shipped units out of ``on_hand`` (even when their lock lapsed)."""
        ...

    def confirm(
        self, lock_id: str, *, order_id: str | None = None, ref: str | None = None
    ) -> StockResult:
        """A payment: the lock's units still locked never expire."""
        ...

    def restock(
        self, lines: Mapping[str, int], *, order_id: str, ref: str, reason: str = "return"
    ) -> StockResult:
        """Returned units (SKU to units) came back sellable: back into stock; ``reason``
        names the return."""
        ...

    def apply_many(self, calls: Sequence[StockCall]) -> Sequence[StockResult | RefusedError]:
        """Apply a batch of calls in one transaction, in order, each as its method would
        alone (added in 0.3): what the relay uses. A call refused for its lock id gets
        its :class:`~orderkit.model.errors.RefusedError` in the answer and changes
        nothing; any other error raised refuses the whole batch (the relay then tries
        the batch's messages one at a time)."""
        ...
