"""``OrderRepository`` and ``OutboxStore`` in memory, for unit tests and single-process
tools."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING

import attrs

from orderkit.adapters.memory._db import Database
from orderkit.model._checks import quantity, stored_key
from orderkit.model.audit import (
    AddressVersion,
    AuditEntry,
    address_version,
    checked_entries,
)
from orderkit.model.errors import ConcurrencyError, DuplicateOrder, OrderNotFound
from orderkit.model.orders import Order, PaymentTerms, check_version_raised
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, ensure_aware

if TYPE_CHECKING:
    from orderkit.lifecycle.ports import FirstScan, GroupBy
    from orderkit.model.orders import Anchor
    from orderkit.outbox.messages import Consumer, OutboxMessage, StoredMessage

__all__ = ["MemoryOrderRepository"]


@attrs.frozen
class _Held:
    """One outbox message as kept here: its place in commit order, its delivery state."""

    seq: int
    stored: StoredMessage
    delivered_at: datetime | None = None


class MemoryOrderRepository:
    """Orders in a dict, guarded by a lock; same contract as the SQLite repository.

    Audit entries, address versions and outbox messages are kept beside the orders and
    written under the same lock as the order, so a save is all or nothing. An
    :meth:`atomic` block holds the lock and keeps an undo log, so an exception undoes
    every save, audit record and outbox change made in it. Lock and log are its
    :attr:`database`'s: a ``MemoryInventoryStore(repository.database)`` shares them, so
    its stock writes join the block too.

    It is also the :class:`~orderkit.outbox.ports.OutboxStore` of the messages saved with
    its orders: they are numbered as they are saved, under the lock, so that number is
    their commit order. Delivered messages are kept (their ids stay taken) until
    :meth:`purge_delivered` deletes them.

    ``ship_from_tz`` (an IANA zone name; the default accounting zone when ``None``) is
    the zone a presale's ship-from day begins in for the watch's ``ship_due_at``.
    """

    def __init__(self, *, ship_from_tz: str | None = None) -> None:
        from orderkit.adapters._watch import checked_ship_from_tz

        self._ship_from_tz = checked_ship_from_tz(ship_from_tz) or DEFAULT_ACCOUNTING_TZ
        self._orders: dict[str, Order] = {}
        self._by_channel: dict[tuple[str, str], str] = {}
        self._by_waybill: dict[str, set[str]] = {}
        self._audit: dict[str, list[AuditEntry]] = {}
        self._addresses: dict[str, list[AddressVersion]] = {}
        #: Every outbox message by id, in commit order.
        self._outbox: dict[str, _Held] = {}
        #: The pending ones: id -> seq, lowest seq first.
        self._pending: dict[str, int] = {}
        self._seq = 0
        self._db = Database()
        self._lock = self._db.lock

    @property
    def ship_from_tz(self) -> str:
        """The zone a presale's ship-from day begins in (its ``ship_due_at``): the one
        given, else the default accounting zone."""
        return self._ship_from_tz

    @property
    def database(self) -> Database:
        """The in-memory database of this repository: build a
        :class:`~orderkit.adapters.memory.MemoryInventoryStore` on it to have its stock
        writes join this repository's :meth:`atomic` blocks (added in 0.3)."""
        return self._db

    def atomic(self) -> AbstractContextManager[None]:
        """A block whose saves commit together, or not at all when it raises (with the
        writes of the stores built on :attr:`database`)."""
        return self._db.atomic()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this thread's outermost :meth:`atomic` block ends
        without raising (at once when it has none open); dropped if the block it was
        registered in raises. Registered again in one block, it runs once."""
        self._db.after_commit(callback)

    def _remember_undo(self, order_id: str, key: tuple[str, str] | None = None) -> None:
        """Note how to put back ``order_id``'s order, audit and addresses, and the channel
        keys a save of it under ``key`` touches."""
        if not self._db.recording:
            return
        previous = self._orders.get(order_id)
        touched = {key} if key is not None else set()
        if previous is not None:
            touched.add((previous.channel, previous.channel_order_id))
        keys = {k: self._by_channel.get(k) for k in touched}
        audit = len(self._audit.get(order_id, ()))
        addresses = len(self._addresses.get(order_id, ()))

        def undo() -> None:
            self._index_waybills(self._orders.get(order_id), previous)
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

        self._db.remember(undo)

    def get(self, order_id: str) -> Order:
        """The stored order; :class:`OrderNotFound` when absent."""
        stored_key("order_id", order_id)
        with self._lock:
            try:
                return self._orders[order_id]
            except KeyError:
                raise OrderNotFound(order_id) from None

    def find_by_channel(self, channel: str, channel_order_id: str) -> Order | None:
        """The order holding ``channel_order_id`` on ``channel``, or ``None``."""
        stored_key("channel", channel)
        stored_key("channel_order_id", channel_order_id)
        with self._lock:
            order_id = self._by_channel.get((channel, channel_order_id))
            return None if order_id is None else self._orders[order_id]

    def find_many_by_channel(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], Order]:
        """The orders holding these ``(channel, channel order id)`` keys, by key."""
        from orderkit.adapters._keys import checked_channel_keys  # loaded when used

        wanted = checked_channel_keys(keys)
        with self._lock:
            return {
                key: self._orders[order_id]
                for key in wanted
                if (order_id := self._by_channel.get(key)) is not None
            }

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
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.stale` (a scan here)."""
        from orderkit.adapters._watch import checked_group, checked_query
        from orderkit.watch.rules import group_key

        codes, anchor, before, limit = checked_query(statuses, anchor, before, limit)
        wanted = checked_group(group)
        found = [
            (at, order.order_id, order)
            for at, order in self._stale(codes, anchor, before, terms, leave_out)
            if wanted is None or group_key(order, wanted[0]) == wanted[1]
        ]
        found.sort(key=lambda item: (item[0], item[1]))
        return [order for _at, _id, order in found[:limit]]

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
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.stale_count` (a scan
        here)."""
        from orderkit.adapters._watch import checked_group_by, checked_query
        from orderkit.watch.rules import group_key

        codes, anchor, before, _ = checked_query(statuses, anchor, before)
        by = checked_group_by(group_by)
        counts: dict[str, int] = {}
        for _at, order in self._stale(codes, anchor, before, terms, leave_out):
            key = "" if by is None else group_key(order, by)
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

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
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.stale_groups` (a scan
        here)."""
        from orderkit.adapters._watch import checked_query, required_group_by
        from orderkit.watch.rules import group_key

        codes, anchor, before, limit = checked_query(statuses, anchor, before, limit)
        by = required_group_by(group_by)
        groups: dict[str, list[tuple[datetime, str, Order]]] = {}
        for at, order in self._stale(codes, anchor, before, terms, leave_out):
            groups.setdefault(group_key(order, by), []).append((at, order.order_id, order))
        found: dict[str, tuple[int, list[Order]]] = {}
        for group, members in sorted(groups.items()):
            members.sort(key=lambda item: (item[0], item[1]))
            found[group] = (len(members), [order for _at, _id, order in members[:limit]])
        return found

    def _stale(
        self, codes: Collection[int], anchor: Anchor, before: datetime, terms: object,
        leave_out: object,
    ) -> list[tuple[datetime, Order]]:
        """The orders in ``codes`` whose ``anchor`` is before ``before``, with it (less
        those that have an instant of ``leave_out``)."""
        from orderkit.adapters._watch import anchor_of, checked_leave_out, checked_terms

        kept = checked_terms(terms)
        left_out = checked_leave_out(leave_out)
        tz = self._ship_from_tz
        with self._lock:
            return [
                (at, order)
                for order in self._orders.values()
                if order.status in codes
                and (kept is None or order.payment_terms == kept)
                and all(anchor_of(order, other, tz=tz) is None for other in left_out)
                and (at := anchor_of(order, anchor, tz=tz)) is not None
                and at < before
            ]

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
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.count_by_status` (a scan
        here)."""
        from orderkit.adapters._watch import anchor_of, checked_count

        query = checked_count(anchor, since, until, statuses, leave_out, due_by)
        tz = self._ship_from_tz
        counts: dict[int, int] = {}
        with self._lock:
            for order in self._orders.values():
                if query.statuses is not None and order.status not in query.statuses:
                    continue
                if any(anchor_of(order, other, tz=tz) is not None
                       for other in query.leave_out):
                    continue
                if query.due_by is not None:
                    due = anchor_of(order, "ship_due_at", tz=tz)
                    if due is not None and due >= query.due_by:
                        continue
                at = anchor_of(order, query.anchor, tz=tz)
                if (at is not None and at < query.until
                        and (query.since is None or at >= query.since)):
                    counts[order.status] = counts.get(order.status, 0) + 1
        return dict(sorted(counts.items()))

    def first_scans(self, since: datetime, until: datetime) -> list[FirstScan]:
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.first_scans` (a scan here)."""
        from orderkit.lifecycle.ports import FirstScan

        start = ensure_aware(since, path="since")
        end = ensure_aware(until, path="until")
        found: list[FirstScan] = []
        with self._lock:
            for order in self._orders.values():
                first = order.shipments[0] if order.shipments else None
                if first is None or first.shipped_at is None:
                    continue
                if start <= first.shipped_at < end:
                    found.append(FirstScan(order.order_id, order.channel, first.carrier,
                                           first.waybill, first.shipped_at,
                                           first.first_scan_at, order.tags))
        found.sort(key=lambda scan: (scan.shipped_at, scan.order_id))
        return found

    def find_by_waybill(self, waybill: str) -> list[Order]:
        """Every order with a shipment carrying ``waybill``, by order id."""
        stored_key("waybill", waybill, blank=False)
        with self._lock:
            return [self._orders[i] for i in sorted(self._by_waybill.get(waybill, ()))]

    def _index_waybills(self, old: Order | None, new: Order | None) -> None:
        """Move the waybill index from ``old`` to ``new`` (the same order's versions)."""
        for order, add in ((old, False), (new, True)):
            if order is None:
                continue
            for waybill in {s.waybill for s in order.shipments if s.waybill}:
                holders = self._by_waybill.setdefault(waybill, set())
                if add:
                    holders.add(order.order_id)
                else:
                    holders.discard(order.order_id)
                    if not holders:
                        del self._by_waybill[waybill]

    def save(
        self,
        order: Order,
        expected_version: int | None,
        *,
        audit: Sequence[AuditEntry] = (),
        outbox: Sequence[OutboxMessage] = (),
    ) -> None:
        """Insert or replace ``order`` if the stored version is ``expected_version``;
        store ``audit``, any address change and the ``outbox`` messages with it."""
        check_version_raised(order, expected_version)
        entries = checked_entries(audit)
        messages: list[OutboxMessage] = []
        if outbox or not isinstance(outbox, Sequence):
            from orderkit.adapters import _outbox  # the outbox only loads when used

            messages = [m for m, _ in _outbox.checked_messages(order.order_id, outbox)]
        with self._lock:
            current = self._orders.get(order.order_id)
            stored = None if current is None else current.version
            if stored != expected_version:
                raise ConcurrencyError(order.order_id, expected_version, stored)
            self._refuse_stored_ids(messages, "outbox")
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
            self._index_waybills(current, order)
            self._orders[order.order_id] = order
            self._by_channel[key] = order.order_id
            if entries:
                self._audit.setdefault(order.order_id, []).extend(entries)
            self._append(messages)

    def insert_many(
        self, placements: Sequence[tuple[Order, Sequence[AuditEntry], Sequence[OutboxMessage]]]
    ) -> None:
        """Insert new orders with their audit entries and outbox messages, all or none
        (one block of inserts)."""
        with self.atomic():
            for order, audit, outbox in placements:
                self.save(order, None, audit=audit, outbox=outbox)

    def record_audit(self, order_id: str, entries: Sequence[AuditEntry]) -> None:
        """Append audit entries without touching the order."""
        stored_key("order_id", order_id)
        checked = checked_entries(entries)
        with self._lock:
            self._remember_undo(order_id)
            self._audit.setdefault(order_id, []).extend(checked)

    def audit_trail(self, order_id: str) -> list[AuditEntry]:
        """The order's audit entries, oldest first."""
        stored_key("order_id", order_id)
        with self._lock:
            return list(self._audit.get(order_id, ()))

    def address_history(self, order_id: str) -> list[AddressVersion]:
        """The order's address changes, oldest first."""
        stored_key("order_id", order_id)
        with self._lock:
            return list(self._addresses.get(order_id, ()))

    # --- the outbox store ----------------------------------------------------------------

    def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        """Add messages no order save carries; all or none."""
        from orderkit.adapters._outbox import checked_enqueue

        checked = checked_enqueue(messages)
        with self._lock:
            self._refuse_stored_ids(checked, "messages")
            self._append(checked)

    def pending(
        self, limit: int, *, consumer: Consumer | None = None, now: datetime | None = None
    ) -> list[StoredMessage]:
        """Up to ``limit`` pending messages, oldest (first saved) first: those of
        ``consumer`` only, when given, and with ``now`` none waiting out a back-off nor
        behind one in its order's lane (see ``OutboxStore.pending``)."""
        count = quantity("limit", limit)
        if consumer is None and now is None:
            with self._lock:
                return [self._outbox[i].stored for i in islice(self._pending, count)]
        from orderkit.adapters._outbox import checked_lane
        from orderkit.outbox.messages import consumer_of

        wanted, at = checked_lane(consumer, now)
        found: list[StoredMessage] = []
        waiting: set[tuple[str, str]] = set()  # (order, consumer) lanes behind a back-off
        with self._lock:
            for held in (self._outbox[i] for i in self._pending):
                if len(found) == count:
                    break
                message = held.stored.message
                lane = (message.order_id, consumer_of(message.topic))
                if (wanted is not None and lane[1] != wanted) or lane in waiting:
                    continue
                retry_at = held.stored.retry_at
                if at is not None and retry_at is not None and retry_at > at:
                    waiting.add(lane)
                    continue
                found.append(held.stored)
        return found

    def mark_delivered(self, message_ids: Sequence[str], at: datetime) -> None:
        """Mark these messages delivered at ``at``; unknown or delivered ones are skipped."""
        from orderkit.adapters import _outbox

        ids = _outbox.checked_ids(message_ids)
        at = ensure_aware(at, path="at")
        with self._lock:
            for message_id in ids:
                held = self._outbox.get(message_id)
                if held is not None and held.stored.status != "delivered":
                    stored = attrs.evolve(held.stored, status="delivered")
                    self._put(message_id, attrs.evolve(held, stored=stored, delivered_at=at))

    def mark_failed(
        self, message_id: str, error: str, *, dead: bool, retry_at: datetime | None = None
    ) -> None:
        """Count a failed delivery of a pending message and keep ``error`` (cut to
        2000 characters) and ``retry_at``; ``dead`` moves it to the dead letters."""
        from orderkit.adapters import _outbox

        message_id = _outbox.checked_id(message_id)
        text = _outbox.checked_error(error)
        dead = _outbox.checked_dead(dead)
        retry = None if retry_at is None else ensure_aware(retry_at, path="retry_at")
        with self._lock:
            held = self._outbox.get(message_id)
            if held is None or held.stored.status != "pending":
                return
            stored = attrs.evolve(
                held.stored,
                status="dead" if dead else "pending",
                attempts=held.stored.attempts + 1,
                error=text,
                retry_at=retry,
            )
            self._put(message_id, attrs.evolve(held, stored=stored))

    def dead_letters(self) -> list[StoredMessage]:
        """Every dead message, oldest first."""
        with self._lock:
            return [h.stored for h in self._outbox.values() if h.stored.status == "dead"]

    def dead_letter_count(self) -> int:
        """How many dead messages wait for a replay."""
        return len(self.dead_letters())

    def replay(self, message_id: str) -> bool:
        """Make a dead message pending again, attempts and error cleared; ``False`` when
        no dead message has that id."""
        from orderkit.adapters import _outbox

        message_id = _outbox.checked_id(message_id)
        with self._lock:
            held = self._outbox.get(message_id)
            if held is None or held.stored.status != "dead":
                return False
            stored = attrs.evolve(
                held.stored, status="pending", attempts=0, error="", retry_at=None
            )
            self._put(message_id, attrs.evolve(held, stored=stored))
            return True

    def oldest_pending(self) -> datetime | None:
        """When the earliest created pending message was created (``None``: none waits)."""
        with self._lock:
            return min(
                (self._outbox[i].stored.message.created_at for i in self._pending), default=None
            )

    def purge_delivered(self, before: datetime, *, limit: int | None = None) -> int:
        """Delete up to ``limit`` (all when ``None``) messages delivered before
        ``before``, earliest delivered first; pending and dead ones stay (see
        ``OutboxRetention``). Undone with an :meth:`atomic` block that raises."""
        from orderkit.adapters._outbox import checked_purge

        cutoff, count = checked_purge(before, limit)
        with self._lock:
            old = sorted(
                (held.delivered_at, held.seq, message_id)
                for message_id, held in self._outbox.items()
                if held.stored.status == "delivered"
                and held.delivered_at is not None
                and held.delivered_at < cutoff
            )
            for _at, _seq, message_id in old[:count]:
                self._put(message_id, None)
            return len(old[:count])

    def _refuse_stored_ids(self, messages: Sequence[OutboxMessage], path: str) -> None:
        """Refuse a write one of whose message ids is stored already (any status)."""
        if messages:
            from orderkit.adapters import _outbox

            _outbox.refuse_stored_ids(self._outbox, [m.message_id for m in messages], path)

    def _append(self, messages: Sequence[OutboxMessage]) -> None:
        """Store ``messages`` as pending, in order, undoably inside an atomic block."""
        if not messages:
            return
        from orderkit.adapters._outbox import StoredMessage

        for message in messages:
            self._seq += 1
            self._put(message.message_id, _Held(self._seq, StoredMessage(message)))

    def _put(self, message_id: str, held: _Held | None) -> None:
        """Store ``held`` under ``message_id`` (``None``: delete it), undoably inside an
        atomic block."""
        previous = self._outbox.get(message_id)
        if self._db.recording:
            self._db.remember(lambda: self._place(message_id, previous))
        self._place(message_id, held)

    def _place(self, message_id: str, held: _Held | None) -> None:
        if held is None:
            self._outbox.pop(message_id, None)
        else:
            self._outbox[message_id] = held
        if held is None or held.stored.status != "pending":
            self._pending.pop(message_id, None)
            return
        if message_id in self._pending:
            return
        last = next(reversed(self._pending.values()), 0)
        self._pending[message_id] = held.seq
        if held.seq < last:  # a replayed or restored message goes back to its place
            self._pending = dict(sorted(self._pending.items(), key=lambda item: item[1]))
