"""``OrderService``: the one call a host makes to change an order.

``handle(order_id, event)`` loads the order, lets the pure :class:`Lifecycle` decide,
saves the new order *and its audit entries* with the version it read, and only then
hands the domain events to the :class:`~orderkit.lifecycle.ports.EventSink`. When another writer
saved first (:class:`~orderkit.model.errors.ConcurrencyError`) it re-reads and decides again
from the fresh order; it never re-saves the order it computed before. Because the event
id is remembered on the order, the second decision about an event a concurrent writer
already applied is "nothing to do".

With an inventory ledger wired in, the service turns domain events into ledger calls
after the save: :class:`LinesCancelled` releases exactly the cancelled units,
:class:`OrderCancelled` releases what is left, :class:`LinesShipped` commits what
shipped, a refund of unshipped units releases them. They run only for a transition that
is saved, so a replayed event (same id) never releases or commits twice. The save and the
ledger call run in one :meth:`~orderkit.lifecycle.ports.OrderRepository.atomic` block:
when the ledger's store shares the repository's transaction (SQLite adapters on one
file) they commit together, with one ``fsync``, and a process that dies in between
leaves neither. Otherwise a process that dies between the save and the ledger call
leaves the stock locked until the lock's TTL expires (the ledger returns it then), never
released twice. The carrier and the sink are called after the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

import attrs

from orderkit.lifecycle.engine import Lifecycle, Transition
from orderkit.lifecycle.events import (
    AddressChanged,
    DomainEvent,
    Event,
    LinesCancelled,
    LinesShipped,
    OrderCancelled,
    Refunded,
)
from orderkit.lifecycle.ports import CarrierGateway, EventSink, OrderRepository
from orderkit.model.errors import (
    AddressLocked,
    ConcurrencyError,
    NotPermitted,
    TransitionNotAllowed,
    ValidationError,
)
from orderkit.model.orders import LineStatus, Order
from orderkit.model.time import Clock

__all__ = ["InventoryLedgerLike", "OrderService"]


def _attempt(errors: list[BaseException], call: Any, *args: Any) -> None:
    try:
        call(*args)
    except Exception as error:  # collected, re-raised by the caller after the others ran
        errors.append(error)


class InventoryLedgerLike(Protocol):
    """The three calls the service makes on :class:`orderkit.inventory.InventoryLedger`."""

    def lock(self, order_id: str, lines: Mapping[str, int], *, ttl: timedelta) -> Any:
        """Lock stock for an order; the result has ``.lock_id``."""
        ...

    def release(self, lock_id: str, lines: Mapping[str, int] | None = None) -> Any:
        """Return locked stock (only ``lines`` when given)."""
        ...

    def commit(self, lock_id: str, lines: Mapping[str, int] | None = None) -> Any:
        """Take locked stock out of ``on_hand`` (it shipped)."""
        ...


class OrderService:
    """Load, decide, save with the expected version, retry on conflict, publish.

    With a ``carrier`` gateway, an :class:`AddressChanged` on an order that already has a
    waybill is forwarded with ``update_address`` after the save.
    ``max_attempts`` bounds the re-read/re-decide loop under contention; when every
    attempt loses, the last :class:`ConcurrencyError` propagates. ``conflicts`` counts
    the re-reads so far (a contention metric for the host).
    """

    def __init__(
        self,
        repository: OrderRepository,
        *,
        lifecycle: Lifecycle | None = None,
        sink: EventSink | None = None,
        clock: Clock | None = None,
        inventory: InventoryLedgerLike | None = None,
        lock_ttl: timedelta = timedelta(hours=24),
        max_attempts: int = 20,
        carrier: CarrierGateway | None = None,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValidationError("max_attempts", max_attempts, "expected an integer >= 1")
        if not isinstance(lock_ttl, timedelta) or lock_ttl <= timedelta(0):
            raise ValidationError("lock_ttl", lock_ttl, "expected a positive timedelta")
        self.repository = repository
        self.lifecycle = lifecycle or Lifecycle(clock=clock)
        self.sink = sink
        self.inventory = inventory
        self.lock_ttl = lock_ttl
        self.max_attempts = max_attempts
        self.carrier = carrier
        self.conflicts = 0

    def place(self, order: Order) -> Order:
        """Store a new order; with a ledger, lock its open units first (per SKU) and keep
        the lock id on the order. Lock and save run in one :meth:`~OrderRepository.atomic`
        block; if the save fails the lock is released again (rolled back with the block
        when the ledger's store shares the repository's transaction)."""
        if not isinstance(order, Order):
            raise ValidationError("order", order, "expected an Order")
        with self.repository.atomic():
            lock_id = None
            if self.inventory is not None and order.lock_id is None:
                skus: dict[str, int] = {}
                for line in order.lines:
                    open_units = line.quantities[LineStatus.OPEN]
                    if open_units:
                        skus[line.sku] = skus.get(line.sku, 0) + open_units
                if skus:
                    lock_id = self.inventory.lock(order.order_id, skus, ttl=self.lock_ttl).lock_id
                    order = attrs.evolve(order, lock_id=lock_id)
            try:
                self.repository.save(order, None)
            except BaseException:
                if lock_id is not None and self.inventory is not None:
                    self.inventory.release(lock_id)
                raise
        return order

    def handle(self, order_id: str, event: Event) -> Transition:
        """Apply ``event`` to the stored order and return the :class:`Transition`.

        Refusals (:class:`TransitionNotAllowed`, :class:`AddressLocked`,
        :class:`NotPermitted`) are written to the audit trail and re-raised.
        """
        last: ConcurrencyError | None = None
        for _try in range(self.max_attempts):
            order = self.repository.get(order_id)
            try:
                transition = self.lifecycle.apply(order, event)
            except (TransitionNotAllowed, AddressLocked, NotPermitted) as error:
                self.repository.record_audit(
                    order_id, (self.lifecycle.refusal(order, event, error),)
                )
                raise
            if not transition.changed:
                return transition
            errors: list[BaseException] = []
            try:
                # The order, its audit and the stock it moves commit together where the
                # ledger's store shares the repository's transaction.
                with self.repository.atomic():
                    self.repository.save(transition.order, order.version, audit=transition.audit)
                    lock_id = transition.order.lock_id
                    if self.inventory is not None and lock_id is not None:
                        _attempt(errors, self._move_stock, lock_id, transition.events)
            except ConcurrencyError as error:
                last = error
                self.conflicts += 1
                continue
            self._publish(transition, errors)
            return transition
        assert last is not None
        raise last

    def _publish(self, transition: Transition, errors: list[BaseException]) -> None:
        """After the commit: carrier, then sink; each is attempted even when an earlier
        step failed (the order is already saved), and the first failure is raised."""
        if self.carrier is not None:
            for event in transition.events:
                if isinstance(event, AddressChanged) and event.waybill:
                    _attempt(errors, self.carrier.update_address, event.waybill, event.address)
        if self.sink is not None and transition.events:
            _attempt(errors, self.sink.publish, transition.events)
        if errors:
            raise errors[0]

    def _move_stock(self, lock_id: str, events: tuple[DomainEvent, ...]) -> None:
        inventory = self.inventory
        assert inventory is not None
        for event in events:
            if isinstance(event, LinesCancelled) and event.skus:
                inventory.release(lock_id, dict(event.skus))
            elif isinstance(event, OrderCancelled):
                inventory.release(lock_id)
            elif isinstance(event, LinesShipped) and event.skus:
                inventory.commit(lock_id, dict(event.skus))
            elif isinstance(event, Refunded) and event.released:
                inventory.release(lock_id, dict(event.released))
