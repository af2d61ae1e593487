"""``OrderRepository`` in memory, for unit tests and single-process tools."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from orderkit.model.audit import (
    AddressVersion,
    AuditEntry,
    address_version,
    checked_entries,
)
from orderkit.model.errors import ConcurrencyError, DuplicateOrder, OrderNotFound, ValidationError
from orderkit.model.orders import Order, check_version_raised

__all__ = ["MemoryOrderRepository"]


class MemoryOrderRepository:
    """Orders in a dict, guarded by a lock; same contract as the SQLite repository.

    Audit entries and address versions are kept beside the orders and written under the
    same lock as the order, so a save is all or nothing. An :meth:`atomic` block holds
    the lock and keeps an undo log, so an exception undoes every save and audit record
    made in it.
    """

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._by_channel: dict[tuple[str, str], str] = {}
        self._audit: dict[str, list[AuditEntry]] = {}
        self._addresses: dict[str, list[AddressVersion]] = {}
        self._lock = threading.RLock()
        #: While an atomic block is open: how to undo each write, oldest first.
        self._undo: list[Callable[[], None]] | None = None

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A block whose saves commit together, or not at all when it raises."""
        with self._lock:
            outer = self._undo is None
            undo = self._undo = [] if outer else self._undo
            assert undo is not None
            mark = len(undo)
            try:
                yield
            except BaseException:
                while len(undo) > mark:
                    undo.pop()()
                raise
            finally:
                if outer:
                    self._undo = None

    def _remember_undo(self, order_id: str, key: tuple[str, str] | None = None) -> None:
        """Note how to put back ``order_id``'s order, audit and addresses, and the channel
        keys a save of it under ``key`` touches."""
        if self._undo is None:
            return
        previous = self._orders.get(order_id)
        touched = {key} if key is not None else set()
        if previous is not None:
            touched.add((previous.channel, previous.channel_order_id))
        keys = {k: self._by_channel.get(k) for k in touched}
        audit = len(self._audit.get(order_id, ()))
        addresses = len(self._addresses.get(order_id, ()))

        def undo() -> None:
            if previous is None:
                self._orders.pop(order_id, None)
            else:
                self._orders[order_id] = previous
            for k, holder in keys.items():
                if holder is None:
                    self._by_channel.pop(k, None)
                else:
                    self._by_channel[k] = holder
            del self._audit.setdefault(order_id, [])[audit:]
            del self._addresses.setdefault(order_id, [])[addresses:]

        self._undo.append(undo)

    def get(self, order_id: str) -> Order:
        """The stored order; :class:`OrderNotFound` when absent."""
        with self._lock:
            try:
                return self._orders[order_id]
            except KeyError:
                raise OrderNotFound(order_id) from None

    def find_by_channel(self, channel: str, channel_order_id: str) -> Order | None:
        """The order holding ``channel_order_id`` on ``channel``, or ``None``."""
        with self._lock:
            order_id = self._by_channel.get((channel, channel_order_id))
            return None if order_id is None else self._orders[order_id]

    def save(
        self, order: Order, expected_version: int | None, *, audit: Sequence[AuditEntry] = ()
    ) -> None:
        """Insert or replace ``order`` if the stored version is ``expected_version``;
        store ``audit`` and any address change with it."""
        if not isinstance(order, Order):
            raise ValidationError("order", order, "expected an Order")
        check_version_raised(order, expected_version)
        entries = checked_entries(audit)
        with self._lock:
            current = self._orders.get(order.order_id)
            stored = None if current is None else current.version
            if stored != expected_version:
                raise ConcurrencyError(order.order_id, expected_version, stored)
            key = (order.channel, order.channel_order_id)
            holder = self._by_channel.get(key)
            if holder is not None and holder != order.order_id:
                raise DuplicateOrder(order.channel, order.channel_order_id, holder)
            self._remember_undo(order.order_id, key)
            if current is not None:
                self._by_channel.pop((current.channel, current.channel_order_id), None)
                if current.ship_to != order.ship_to:
                    self._addresses.setdefault(order.order_id, []).append(
                        address_version(current.ship_to, order.order_id, order.version,
                                        order.ship_to, entries)
                    )
            self._orders[order.order_id] = order
            self._by_channel[key] = order.order_id
            if entries:
                self._audit.setdefault(order.order_id, []).extend(entries)

    def record_audit(self, order_id: str, entries: Sequence[AuditEntry]) -> None:
        """Append audit entries without touching the order."""
        checked = checked_entries(entries)
        with self._lock:
            self._remember_undo(order_id)
            self._audit.setdefault(order_id, []).extend(checked)

    def audit_trail(self, order_id: str) -> list[AuditEntry]:
        """The order's audit entries, oldest first."""
        with self._lock:
            return list(self._audit.get(order_id, ()))

    def address_history(self, order_id: str) -> list[AddressVersion]:
        """The order's address changes, oldest first."""
        with self._lock:
            return list(self._addresses.get(order_id, ()))
