"""``OrderService``: the one call a host makes to change an order.

``handle(order_id, event)`` loads the order, lets the pure :class:`Lifecycle` decide, and
saves, in one transaction, the new order, its audit entries and its outbox messages:
what the decision owes the world (see :mod:`orderkit.outbox`). When another writer saved
first (:class:`~orderkit.model.errors.ConcurrencyError`) it re-reads and decides again
from the fresh order; it never re-saves the order it computed before. Because the event
id is remembered on the order, the second decision about an event a concurrent writer
already applied is "nothing to do", and writes no message. ``advance(order_id, step)``
is the same loop for several events: each is decided from the order the one before
left, and all are saved in one save; ``handle`` is its one-event case.

The messages: with an inventory ledger, the stock a decision moves
(:class:`LinesCancelled` releases exactly the cancelled units, :class:`OrderCancelled`
what is left, :class:`LinesShipped` commits what shipped, a refund of unshipped units
releases them, a :class:`ReturnReceived` puts the sellable units back in stock); with an
event sink, every domain event. After the commit the service
delivers them at once through an :class:`~orderkit.outbox.OutboxRelay` (``deliver=True``,
the default); a delivery that fails stays in the outbox for the next relay run, so a
crash or a sink outage loses nothing. Inside a repository block the host opened, "after
the commit" is after the outermost block's commit, and a block that rolls back owes
nothing (:meth:`~orderkit.lifecycle.ports.OrderRepository.after_commit`). Hosts that run
the relay elsewhere (a worker, a cron job) pass ``deliver=False``.

``place(order)`` locks the order's open units (with a ledger) and saves it in one
:meth:`~orderkit.lifecycle.ports.OrderRepository.atomic` block: where the ledger's store
shares the repository's transaction (SQLite adapters on one file) a placement the
repository refuses takes its lock back with it. ``reserve(order_ids, at=...)`` locks
stored orders that hold no lock and saves them in one such block too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from orderkit.lifecycle.engine import (
    Lifecycle,
    Transition,
    dated_before_creation,
    settle_ending,
)
from orderkit.lifecycle.events import (
    AddressChanged,
    Event,
    LinesCancelled,
    LinesShipped,
    LinesUnshipped,
    OrderCancelled,
    PaymentReceived,
    Refunded,
    RefundLinesAssigned,
    ReturnReceived,
    StatusChanged,
    StockShort,
    StockShortage,
)
from orderkit.lifecycle.ports import CarrierGateway, EventSink, OrderRepository
from orderkit.lifecycle.readiness import placed_ready
from orderkit.model.audit import AuditEntry
from orderkit.model.errors import (
    AddressLocked,
    ConcurrencyError,
    DuplicateOrder,
    InsufficientStock,
    NotPermitted,
    OrderkitError,
    OrderNotFound,
    StoreError,
    TransitionNotAllowed,
    ValidationError,
)
from orderkit.model.orders import (
    PAID_TO_SHIP,
    LineStatus,
    Order,
    OrderStatus,
    PaymentTerms,
    Shipment,
    paid_by_status,
)
from orderkit.model.ship_dates import checked_ship_from_tz
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, Clock, ensure_instant
from orderkit.outbox.messages import (
    STOCK_COMMIT,
    STOCK_CONFIRM,
    STOCK_RECORD_SHIPPED,
    STOCK_RELEASE,
    STOCK_RESTOCK,
    STOCK_SHIP,
    STOCK_UNCOMMIT,
    STOCK_UNRECORD_SHIPPED,
    STOCK_UNSHIP,
    OutboxMessage,
    event_content,
    message_id,
)
from orderkit.outbox.ports import StockCall, StockEffects
from orderkit.outbox.relay import OutboxRelay, RelayReport

__all__ = ["InventoryLedgerLike", "OrderService"]


class InventoryLedgerLike(StockEffects, Protocol):
    """The calls the service and its relay make on :class:`orderkit.inventory.InventoryLedger`:
    the relay's stock effects, and the lock a placement takes."""

    def lock(self, order_id: str, lines: Mapping[str, int], *, ttl: timedelta) -> Any:
        """Lock stock for an order; the result has ``.lock_id``."""
        ...

    def lock_many(
        self, requests: Sequence[tuple[str, Mapping[str, int]]], *, ttl: timedelta
    ) -> list[Any]:
        """Lock several orders in one call; each result has ``.lock_id`` or is the
        :class:`~orderkit.model.errors.InsufficientStock` refusing that order."""
        ...

    def occupancy(self, order_id: str) -> Sequence[Any]:
        """Each line still locked (not expired) for ``order_id``, with ``.sku``, ``.qty``
        and ``.lock_id`` (added in 0.3): what :meth:`OrderService.reserve` reads to tell
        a lock that lapsed from one that holds the order's units."""
        ...


class OrderService:
    """Load, decide, save with the expected version and the outbox, retry on conflict,
    deliver.

    With a ``carrier`` gateway, an :class:`AddressChanged` on an order that already has a
    waybill is forwarded with ``update_address`` after the commit.
    ``payment_timeout`` (``lock_ttl`` is its former name, 24 hours by default) is how
    long the stock of an unpaid order stays locked; the payment confirms the lock, which
    from then on never expires: it ends when the order ships or is cancelled. A cash on
    delivery order (:attr:`~orderkit.model.orders.PaymentTerms.ON_DELIVERY`) ships
    unpaid, so its lock is confirmed when it is placed.
    Shipped units leave stock once: an order placed with units already shipped (a sale
    handed over at the counter) owes a ``stock.ship`` for them, and so does a shipment
    of an order that holds no lock. ``stock_counted_at`` is the moment of the stock
    count that opened the ledger: units shipped at or before it (by their shipment's
    ``shipped_at``; a placed order's shipment without one by the order's
    ``created_at``, at its placement and in every later decision about it; never
    before ``created_at``) owe a ``stock.record_shipped`` instead, booked for the order
    without leaving ``on_hand`` again, and a placement does not lock the units its own
    transitions ship at or before it (see "Going live with orders in flight" in the
    inventory guide); units of such a parcel that the warehouse's ``ship`` says never
    left (a carrier scan shipped every open unit first) owe a
    ``stock.unrecord_shipped``. A count later than the clock is refused.
    ``max_attempts`` bounds the re-read/re-decide loop under contention; when every
    attempt loses, the last :class:`ConcurrencyError` propagates. ``conflicts`` counts
    the re-reads so far (a contention metric for the host).
    ``ship_from_tz`` (an IANA zone name) is the zone a presale's ship-from day begins in
    for the ``ReadyToShip`` the service writes; it wins over the repository's own
    ``ship_from_tz`` (an optional attribute of the port), and a host whose repository
    wraps another should pass the zone it stores ``ship_due_at`` in. Without either, the
    default accounting zone. A bad name is a :class:`ValidationError` naming it.
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
        deliver: bool = True,
        payment_timeout: timedelta | None = None,
        stock_counted_at: datetime | None = None,
        ship_from_tz: str | None = None,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValidationError("max_attempts", max_attempts, "expected an integer >= 1")
        if payment_timeout is not None:
            lock_ttl = payment_timeout
            name = "payment_timeout"
        else:
            name = "lock_ttl"
        if not isinstance(lock_ttl, timedelta) or lock_ttl <= timedelta(0):
            raise ValidationError(name, lock_ttl, "expected a positive timedelta")
        self.repository = repository
        #: The zone a presale's ship-from day begins in for the ``ReadyToShip`` this
        #: service writes: the ``ship_from_tz`` given, else the repository's
        #: ``ship_from_tz`` (what its ``ship_due_at`` and so the watch read), else the
        #: default accounting zone.
        self.ship_from_tz = _ship_from_tz(repository, ship_from_tz)
        #: The repository's ``after_commit`` (``None`` for a host repository without it,
        #: delivered to at once): see :meth:`_deliver_after_commit`.
        self._on_commit: Callable[[Callable[[], None]], None] | None = getattr(
            repository, "after_commit", None
        )
        self.lifecycle = lifecycle or Lifecycle(clock=clock)
        if stock_counted_at is not None:
            stock_counted_at = ensure_instant(stock_counted_at, path="stock_counted_at")
            now = self.lifecycle.now()
            if stock_counted_at > now:
                # A count still to come would make every shipment "before the count".
                raise ValidationError(
                    "stock_counted_at", stock_counted_at,
                    f"later than now ({now.isoformat()}): give the time the stock was counted",
                )
        self.sink = sink
        self.inventory = inventory
        self.lock_ttl = lock_ttl
        #: The moment of the stock count that opened the ledger (``None``: every
        #: shipment leaves stock when orderkit hears of it): see :func:`_stock`.
        self.stock_counted_at = stock_counted_at
        self.max_attempts = max_attempts
        self.carrier = carrier
        self.conflicts = 0
        #: Delivers this service's outbox messages right after each commit (``None`` with
        #: ``deliver=False`` or nothing to deliver to): see the module docstring.
        self.relay: OutboxRelay | None = (
            OutboxRelay(repository, sink=sink, inventory=inventory, clock=clock)
            if deliver and (sink is not None or inventory is not None)
            else None
        )
        #: What the last delivery after a commit did (``None`` before any).
        self.last_delivery: RelayReport | None = None
        #: Per thread: the depth of its deliver_later() blocks (``depth``) and whether
        #: a delivery is owed when the outermost one ends (``owed``).
        self._later = threading.local()

    def place(self, order: Order) -> Order:
        """Store a new order; with a ledger, lock its open units first (per SKU) and keep
        the lock id on the order. Lock and save run in one :meth:`~OrderRepository.atomic`
        block; if the save fails the lock is released again (rolled back with the block
        when the ledger's store shares the repository's transaction). An order id that is
        stored already raises :class:`~orderkit.model.errors.DuplicateOrder`; an order
        with open units no event can ship or cancel, refunds beyond what it was paid, or
        a final status with money due that nothing settles raises
        :class:`~orderkit.model.errors.ValidationError` before anything is locked; an
        order ended with nothing sold that owes only its own shipping is stored with
        that waived, as the lifecycle ends one (see :func:`_settled`). The one-order
        case of :meth:`place_many`."""
        if not isinstance(order, Order):
            raise ValidationError("order", order, "expected an Order")
        (placed,) = self.place_many([(order, ())])
        if isinstance(placed, OrderkitError):
            raise placed
        return placed

    def place_many(
        self,
        placements: Sequence[tuple[Order, Sequence[Transition]]],
        *,
        stamp: Callable[[Order], Order] | None = None,
        wait_for_stock: bool = False,
    ) -> list[Order | OrderkitError]:
        """Place several new orders in one :meth:`~OrderRepository.atomic` block.

        Each placement is a new order in its placed form and the transitions
        :meth:`decide` chose from it (empty: store it as it is). With a ledger, the open
        units of every order that holds no lock yet are locked in one
        :meth:`~orderkit.inventory.InventoryLedger.lock_many` call, in order (a cash on
        delivery order's lock is confirmed at once); then every order is stored in its
        final form with the lock id, every audit entry and outbox message of its
        transitions, all in one :meth:`~OrderRepository.insert_many` write. Per
        placement, the stored order, or the error that refused it with nothing of it
        written: :class:`~orderkit.model.errors.InsufficientStock` (short of stock),
        :class:`~orderkit.model.errors.DuplicateOrder` (the id or the channel order id
        is stored already: the block is rolled back, its locks released, and the others
        placed again). ``stamp``, when given, is called on each order whose lock was
        taken, before it is stored, and returns the order to store (sync gives it its
        recon id there, so a refused order draws no number). The outbox is delivered
        once, after the block.

        ``wait_for_stock=True`` is for orders sold already (a marketplace took the
        buyer's order): one the shelf cannot cover is stored all the same, **waiting
        for stock**, instead of refused. It holds no lock; its audit trail records the
        refused lock (event ``lock``, outcome ``refused``, one change per short SKU with
        what was wanted and what was available), and with a sink it owes a
        :class:`~orderkit.lifecycle.StockShort` event. It takes its stock when it is
        reserved (:meth:`reserve`, which a released wave calls). Units its transitions
        ship leave the shelf as for any placement.
        """
        if isinstance(placements, str | bytes) or not isinstance(placements, Sequence):
            raise ValidationError("placements", placements,
                                  "expected a sequence of (order, transitions) pairs")
        if not isinstance(wait_for_stock, bool):
            raise ValidationError("wait_for_stock", wait_for_stock, "expected True or False")
        checked = [_placement(index, placement) for index, placement in enumerate(placements)]
        refused: dict[int, OrderkitError] = {}
        finals: dict[int, Order] = {}  # what each placement stores, before its lock
        for index, (order, transitions) in enumerate(checked):
            stuck = _stuck_open_units(order, self.lifecycle)
            final = stuck or _settled(order, transitions, self.lifecycle)
            if isinstance(final, Order):
                # Placed paid without paid_at: paid when it entered that status, for good
                # (the watch's paid_at anchor must not move with its next status).
                paid_at = paid_by_status(order)
                if paid_at is not None and final.paid_at is None:
                    final = attrs.evolve(final, paid_at=paid_at)
                finals[index] = final
            else:
                refused[index] = final
        while True:
            try:
                results, moved, owed = self._place_checked(checked, finals, refused, stamp,
                                                           wait_for_stock)
            except _Refused as stop:
                # Rolled back with its block (its locks, when the ledger shares the
                # transaction, else released): placed again without them.
                refused.update(stop.errors)
                continue
            if moved or owed:
                self._after_commit(moved, owed)
            return results

    def _place_checked(
        self,
        checked: Sequence[tuple[Order, tuple[Transition, ...]]],
        finals: Mapping[int, Order],
        refused: Mapping[int, OrderkitError],
        stamp: Callable[[Order], Order] | None,
        wait_for_stock: bool,
    ) -> tuple[list[Order | OrderkitError], list[Transition], bool]:
        """One attempt of :meth:`place_many` (``finals``: by index, the order each
        placement not refused stores, before its lock), all or nothing: a save the repository
        refuses rolls the attempt back (releasing the locks the rollback cannot take
        back) and raises :class:`_Refused` naming every placement stored already."""
        results: list[Order | OrderkitError] = []
        moved: list[Transition] = []
        owed = False
        now: datetime | None = None  # read at the first order stored waiting for stock
        live = [placement for index, placement in enumerate(checked) if index not in refused]
        locks: list[str | OrderkitError | None] = []
        saves: list[tuple[int, Order, tuple[AuditEntry, ...], tuple[OutboxMessage, ...]]] = []
        try:
            with self.repository.atomic():
                locks = self._lock_new(live)
                taken = iter(locks)
                for index, (order, transitions) in enumerate(checked):
                    if index in refused:
                        results.append(refused[index])
                        continue
                    lock = next(taken)
                    short = None
                    if wait_for_stock and isinstance(lock, InsufficientStock):
                        short, lock = lock, None
                    if isinstance(lock, OrderkitError):
                        results.append(lock)
                        continue
                    lock_id = order.lock_id if lock is None else lock
                    final = finals[index]
                    if final.lock_id != lock_id:
                        final = attrs.evolve(final, lock_id=lock_id)
                    if stamp is not None:
                        final = stamp(final)
                    # A lock taken here holds the units the transitions leave open:
                    # what they ship or cancel never touches it.
                    messages = (self._placed_messages(order) + self._placed_ready(order)
                                + self._decided_messages(order, transitions, lock_id,
                                                         settled=lock is not None))
                    audit = tuple(e for t in transitions for e in t.audit)
                    if short is not None:
                        now = now or self.lifecycle.now()
                        entry, owed_short = self._short(final, audit, short, now)
                        audit += (entry,)
                        messages += owed_short
                    saves.append((index, final, audit, messages))
                    results.append(final)
                    moved.extend(transitions)
                    owed = owed or bool(messages)
                self.repository.insert_many(
                    [(final, audit, messages) for _i, final, audit, messages in saves]
                )
        except BaseException as error:
            # The block rolled back; what it cannot take back (the locks of a ledger
            # that does not share the repository's transaction) is released.
            self._release_all([order for order, _t in live], locks, error)
            if isinstance(error, ConcurrencyError | DuplicateOrder):
                raise _Refused(self._stored_of(checked, refused, error, saves)) from error
            raise
        return results, moved, owed

    def _short(
        self, order: Order, audit: Sequence[AuditEntry], short: InsufficientStock,
        now: datetime,
    ) -> tuple[AuditEntry, tuple[OutboxMessage, ...]]:
        """The audit entry and, with a sink, the :class:`StockShort` message of
        ``order`` stored waiting for stock, dated by the last event its placement
        applied, else by its creation, and recorded ``now``. The entry records the
        refused lock (event ``lock``, outcome ``refused``: the order did not change, its
        version neither), one change per short SKU."""
        at = audit[-1].event_at if audit else order.created_at
        event_id = f"stock_short:{order.order_id}"
        shortages = sorted(short.shortages.items())
        entry = AuditEntry(
            order.order_id, event_id, "lock", None, now, at,
            int(order.status), int(order.status), "refused",
            tuple(("stock", sku, f"wanted {wanted}, available {available}")
                  for sku, (wanted, available) in shortages),
            reason="short of stock: stored waiting for stock, no lock until it is reserved",
        )
        if self.sink is None:
            return entry, ()
        fact = StockShort(order.order_id, event_id, at, {
            sku: StockShortage(wanted, available) for sku, (wanted, available) in shortages
        })
        return entry, _outbox(order.order_id, event_id, [event_content(fact)], entry.at)

    def _stored_of(
        self,
        checked: Sequence[tuple[Order, tuple[Transition, ...]]],
        refused: Mapping[int, OrderkitError],
        error: ConcurrencyError | DuplicateOrder,
        saves: Sequence[tuple[int, Order, tuple[AuditEntry, ...], tuple[OutboxMessage, ...]]],
    ) -> dict[int, OrderkitError]:
        """The placements of an attempt the repository refused with ``error`` that are
        stored already, as their :class:`DuplicateOrder`: the one ``error`` names, and
        every other one whose channel order id is stored, found in one read (another
        process placing the same page stored many of them), so the next attempt is
        the last one unless yet another order is stored meanwhile."""
        index, named = _refused_one(error, saves)
        # The id is stored already: a duplicate, not a race to retry.
        out: dict[int, OrderkitError] = {index: error if isinstance(error, DuplicateOrder)
                                         else DuplicateOrder(named.channel,
                                                             named.channel_order_id,
                                                             named.order_id)}
        pending = [(i, order) for i, (order, _t) in enumerate(checked)
                   if i not in refused and i != index]
        if not pending:
            return out
        stored = self.repository.find_many_by_channel(
            {(order.channel, order.channel_order_id) for _i, order in pending}
        )
        for i, order in pending:
            found = stored.get((order.channel, order.channel_order_id))
            if found is not None:
                out[i] = DuplicateOrder(order.channel, order.channel_order_id, found.order_id)
        return out

    def _release_all(
        self, orders: Sequence[Order], locks: Sequence[str | OrderkitError | None],
        error: BaseException,
    ) -> None:
        """Release, in one ledger call, the locks taken for ``orders`` by a block that
        rolled back. Called after the rollback: a ledger that shares the repository's
        transaction lost them with it (their release finds no lock and writes nothing);
        a ledger that does not still holds them."""
        if self.inventory is None:
            return
        calls = [StockCall("release", lock, order_id=order.order_id)
                 for order, lock in zip(orders, locks, strict=False) if isinstance(lock, str)]
        if not calls:
            return
        try:
            self.inventory.apply_many(calls)
        except StoreError as undo:
            # The store failed with the save (a lost connection); the save's own error
            # is the one to report.
            error.add_note(f"releasing {len(calls)} lock(s) again failed: {undo}")

    def _lock_new(
        self, placements: Sequence[tuple[Order, tuple[Transition, ...]]]
    ) -> list[str | OrderkitError | None]:
        """Per placement, the lock id taken for the units that need the shelf (``None``:
        no ledger, a lock held already, or nothing to lock) or the error refusing it, in
        one ledger call: the units still open once its transitions are applied. Units the
        transitions cancel or refund before shipping never need stock, and units they
        ship have left: like the shipped units of an order placed as shipped, they leave
        ``on_hand`` by a ``stock.ship`` (or are recorded, before the stock count), and a
        shelf short of them is reported as an oversell, never a refused placement."""
        out: list[str | OrderkitError | None] = [None] * len(placements)
        if self.inventory is None:
            return out
        orders = [order for order, _transitions in placements]
        wanted: list[tuple[int, dict[str, int]]] = []
        for index, (order, transitions) in enumerate(placements):
            if order.lock_id is not None:
                continue
            final = transitions[-1].order if transitions else order
            skus = final.open_units_by_sku
            if skus:
                wanted.append((index, skus))
        if not wanted:
            return out
        results = self.inventory.lock_many(
            [(orders[index].order_id, skus) for index, skus in wanted], ttl=self.lock_ttl
        )
        # A paid order, and accepted cash on delivery (it ships unpaid), keeps its stock
        # until it ships or is cancelled, never lapsing as unpaid: every such lock is
        # confirmed in the same transaction, in one ledger call.
        confirms: list[StockCall] = []
        for (index, _skus), result in zip(wanted, results, strict=True):
            order = orders[index]
            if isinstance(result, OrderkitError):
                # A replayed placement whose stock was the last is a duplicate, not
                # "sold out".
                try:
                    self._refuse_if_stored(order)
                except DuplicateOrder as duplicate:
                    out[index] = duplicate
                else:
                    out[index] = result
                continue
            lock_id: str = result.lock_id
            if _keeps_its_stock(order):
                confirms.append(StockCall("confirm", lock_id, order_id=order.order_id))
            out[index] = lock_id
        if confirms:
            self.inventory.apply_many(confirms)
        return out

    def waits_for_stock(self, order: Order) -> bool:
        """Whether ``order`` (as stored) waits for stock: the service keeps stock, the
        order has open units and holds no lock (stored by ``place_many(...,
        wait_for_stock=True)`` when the shelf could not cover it, or placed without a
        ledger) until :meth:`reserve` locks them (added in 0.3)."""
        return (self.inventory is not None and order.lock_id is None
                and bool(order.open_units_by_sku))

    def reserve(self, order_ids: Iterable[str], *, at: datetime) -> dict[str, OrderkitError]:
        """Lock the open units of stored orders that hold no lock (placed without a
        ledger: imported, or synced from a file; or whose lock lapsed), in one ledger
        call (:meth:`~orderkit.inventory.InventoryLedger.lock_many`), and keep each lock
        id on its order: a new version with an audit entry (event ``reserve``, at
        ``at``). A paid order's lock is confirmed in the same save (a ``stock.confirm``
        outbox message), so it never lapses.

        A lock that no longer holds every open unit of its order (it expired unpaid,
        or its units went to another order before the payment's confirm reached the
        ledger) counts as no lock: the order takes a new one, and the save owes a
        ``stock.release`` of whatever the old lock still held. Orders whose lock holds
        their open units, or with nothing open, are left as they are. Returns the
        orders that could not be reserved, with why (short of stock; changed
        meanwhile: their new lock is released again; or created after ``at``: a
        :class:`~orderkit.model.errors.ValidationError` naming ``at``, as the lifecycle
        refuses goods moving before an order exists). An id given twice is one order,
        reserved once; a single id (a ``str``) instead of a collection of them is
        refused naming ``order_ids``, before anything is read.

        The locks and the saves run in one :meth:`~OrderRepository.atomic` block, as
        :meth:`place_many`'s do: a save that fails otherwise (a
        :class:`~orderkit.model.errors.StoreError`) raises with a note naming the order,
        and keeps nothing of the call: the orders saved before it are rolled back and
        every lock it took is released (rolled back with the block when the ledger's
        store shares the repository's transaction), so a retry reserves them.
        """
        if self.inventory is None:
            raise ValidationError("inventory", None, "reserving stock needs an inventory ledger")
        if isinstance(order_ids, str | bytes) or not isinstance(order_ids, Iterable):
            raise ValidationError("order_ids", order_ids, "expected a collection of order ids")
        ids = list(order_ids)
        for index, order_id in enumerate(ids):
            if not isinstance(order_id, str) or not order_id.strip():
                raise ValidationError(f"order_ids[{index}]", order_id,
                                      "expected an order id (a non-empty string)")
        at = ensure_instant(at, path="at")
        wanted: list[tuple[Order, dict[str, int]]] = []
        refused: dict[str, OrderkitError] = {}
        for order_id in dict.fromkeys(ids):  # an id given twice is one order, read once
            order = self.repository.get(order_id)
            skus = order.open_units_by_sku
            if not skus or self._lock_holds(order, skus):
                continue
            too_early = dated_before_creation(
                order, "at", at, "an order's stock is not reserved before it exists")
            if too_early is not None:
                refused[order_id] = too_early
                continue
            wanted.append((order, skus))
        if not wanted:
            return refused
        owed_any = False
        # Per order, the lock this call took and still holds (for _release_all).
        locks: list[str | OrderkitError | None] = []
        order = wanted[0][0]
        try:
            with self.repository.atomic():
                results = self.inventory.lock_many(
                    [(order.order_id, skus) for order, skus in wanted], ttl=self.lock_ttl
                )
                locks = [
                    result if isinstance(result, OrderkitError) else result.lock_id
                    for result in results
                ]
                now = self.lifecycle.now()
                for index, ((order, _skus), lock) in enumerate(zip(wanted, locks,
                                                                   strict=True)):
                    if isinstance(lock, OrderkitError):
                        refused[order.order_id] = lock
                        continue
                    assert lock is not None  # every result is a lock or its refusal
                    reserved, entry, messages = self._reserved(order, lock, at, now)
                    try:
                        self.repository.save(reserved, order.version, audit=(entry,),
                                             outbox=messages)
                    except ConcurrencyError as error:
                        # Changed meanwhile: this one refused, its lock given back.
                        self.inventory.release(lock, order_id=order.order_id)
                        locks[index] = None
                        refused[order.order_id] = error
                        continue
                    owed_any = owed_any or bool(messages)
        except BaseException as error:
            # Nothing of the call is kept: the block rolled back the orders saved so
            # far, and the locks it could not take back (on a ledger that does not
            # share the repository's transaction) are released.
            error.add_note(f"reserving order {order.order_id} failed: no order of"
                           " this reserve() call was reserved")
            self._release_all([order for order, _skus in wanted], locks, error)
            raise
        if owed_any:
            self._after_commit((), True)
        return refused

    def _reserved(
        self, order: Order, lock_id: str, at: datetime, now: datetime
    ) -> tuple[Order, AuditEntry, tuple[OutboxMessage, ...]]:
        """What :meth:`reserve` saves for ``order`` given ``lock_id``: the new version
        with the lock, its audit entry (event ``reserve``, at ``at``, recorded ``now``)
        and what it owes the ledger (the confirm of a paid order's lock, the release of
        a lapsed lock it supersedes)."""
        event_id = f"reserve:{order.order_id}:{order.version + 1}"
        # Remembered like an event's id: every applied audit entry names one.
        reserved = attrs.evolve(order, lock_id=lock_id, version=order.version + 1,
                                applied_event_ids=(*order.applied_event_ids, event_id))
        entry = AuditEntry(
            order.order_id, event_id, "reserve", None, now, at, int(order.status),
            int(order.status), "applied", (("lock_id", order.lock_id or "", "reserved"),),
        )
        owed: list[tuple[str, dict[str, Any]]] = []
        if _keeps_its_stock(order):
            owed.append((STOCK_CONFIRM, {"lock_id": lock_id}))
        if order.lock_id is not None:
            # The lapsed lock is superseded: whatever it still held goes back.
            owed.append((STOCK_RELEASE, {"lock_id": order.lock_id, "lines": None}))
        return reserved, entry, _outbox(order.order_id, event_id, owed, now)

    def _lock_holds(self, order: Order, units: Mapping[str, int]) -> bool:
        """Whether ``order``'s lock still holds ``units`` (SKU to units): a lock that
        lapsed, wholly or in part, holds less, and counts as no lock."""
        if order.lock_id is None or self.inventory is None:
            return False
        held: dict[str, int] = {}
        for line in self.inventory.occupancy(order.order_id):
            if line.lock_id == order.lock_id:
                held[line.sku] = held.get(line.sku, 0) + line.qty
        return all(held.get(sku, 0) >= qty for sku, qty in units.items())

    def _refuse_if_stored(self, order: Order) -> None:
        """Raise :class:`DuplicateOrder` when ``order``'s id is stored already."""
        try:
            self.repository.get(order.order_id)
        except OrderNotFound:
            return
        raise DuplicateOrder(order.channel, order.channel_order_id, order.order_id)

    def handle(
        self, order_id: str, event: Event, *, current: Order | None = None
    ) -> Transition:
        """Apply ``event`` to the stored order and return the :class:`Transition`.

        ``current`` is the stored order when the caller holds it already (read or saved
        in the same open transaction, as sync does): the first decision starts from it
        instead of reading the order again. The save still checks its version, so a
        ``current`` that is not the stored version only costs a re-read.

        Refusals (:class:`TransitionNotAllowed`, :class:`AddressLocked`,
        :class:`NotPermitted`) are written to the audit trail and re-raised. Bad input
        (:class:`ValidationError`, :class:`IdempotencyConflict`) is raised before
        anything is stored, the audit trail included.
        """
        transitions, unchanged = self._decide(order_id, lambda _order: event, current, 1)
        return transitions[0] if transitions else unchanged

    def advance(
        self,
        order_id: str,
        step: Callable[[Order], Event | None],
        *,
        current: Order | None = None,
        limit: int = 32,
    ) -> tuple[Transition, ...]:
        """Apply the events ``step`` gives, one at a time, each chosen from the order the
        one before left (``step`` returns ``None`` when nothing is left), and save them
        together: one save of the order with every audit entry and outbox message, as
        :meth:`handle` saves one. Stops at an event that changes nothing, and after
        ``limit`` events. Returns the transitions that changed the order (empty: nothing
        to do). ``current`` as for :meth:`handle`; on a conflict the order is re-read
        and every event chosen again. A refusal is audited and raised, and nothing of
        this call is saved."""
        _check_steps(step, limit)
        return self._decide(order_id, step, current, limit)[0]

    def decide(
        self, order: Order, step: Callable[[Order], Event | None], *, limit: int = 32
    ) -> tuple[Transition, ...]:
        """What :meth:`advance` would apply to ``order``, decided in memory: nothing is
        read or written. A refusal is raised (and not audited: nothing was attempted on
        the stored order). What :meth:`place_many` saves for a new order."""
        if not isinstance(order, Order):
            raise ValidationError("order", order, "expected an Order")
        _check_steps(step, limit)
        return tuple(self._steps(order, step, limit, audit=False)[0])

    def _steps(
        self, order: Order, step: Callable[[Order], Event | None], limit: int, *, audit: bool
    ) -> tuple[list[Transition], Transition]:
        """Apply ``step``'s events to ``order`` in memory: the transitions that changed
        it and the last one decided. A refusal is raised, audited first when ``audit``."""
        moved: list[Transition] = []
        latest = Transition(order, False)
        for _n in range(limit):
            event = step(latest.order)
            if event is None:
                break
            try:
                transition = self.lifecycle.apply(latest.order, event,
                                                  ship_from_tz=self.ship_from_tz)
            except (TransitionNotAllowed, AddressLocked, NotPermitted) as error:
                if audit:
                    self.repository.record_audit(
                        order.order_id, (self.lifecycle.refusal(latest.order, event, error),)
                    )
                raise
            latest = transition
            if not transition.changed:
                break
            moved.append(transition)
        return moved, latest

    def save_decided(self, current: Order, transitions: Sequence[Transition]) -> None:
        """Save the ``transitions`` :meth:`decide` chose from ``current`` (the stored
        version) in one save, with every audit entry and outbox message, as
        :meth:`advance` saves them, and deliver. Raises
        :class:`~orderkit.model.errors.ConcurrencyError` when the stored version moved
        on meanwhile (decide again from the fresh order), counted in ``conflicts``."""
        if not isinstance(current, Order):
            raise ValidationError("current", current, "expected an Order")
        moved = tuple(transitions)
        if not moved:
            return
        messages = self._decided_messages(current, moved)
        try:
            self._save(moved[-1].order, current.version, moved, messages)
        except ConcurrencyError:
            self.conflicts += 1
            raise
        self._after_commit(moved, bool(messages))

    def _save(
        self,
        order: Order,
        expected: int | None,
        transitions: Sequence[Transition],
        messages: tuple[OutboxMessage, ...],
    ) -> None:
        """One save of ``order`` with the audit entries of ``transitions`` and
        ``messages``."""
        self.repository.save(
            order, expected, audit=tuple(e for t in transitions for e in t.audit),
            outbox=messages,
        )

    def _decide(
        self,
        order_id: str,
        step: Callable[[Order], Event | None],
        current: Order | None,
        limit: int,
    ) -> tuple[tuple[Transition, ...], Transition]:
        """The one load-decide-save loop of :meth:`handle` and :meth:`advance`: the
        transitions saved and the last transition decided (unchanged when none was)."""
        if current is not None and (
            not isinstance(current, Order) or current.order_id != order_id
        ):
            raise ValidationError("current", current, f"expected the order {order_id}")
        last: ConcurrencyError | None = None
        for _attempt in range(self.max_attempts):
            if current is not None:
                order, current = current, None
            else:
                order = self.repository.get(order_id)
            moved, latest = self._steps(order, step, limit, audit=True)
            if not moved:
                return (), latest
            messages = self._decided_messages(order, moved)
            try:
                self._save(moved[-1].order, order.version, moved, messages)
            except ConcurrencyError as error:
                last = error
                self.conflicts += 1
                continue
            self._after_commit(moved, bool(messages))
            return tuple(moved), latest
        assert last is not None
        raise last

    @contextmanager
    def deliver_later(self) -> Iterator[None]:
        """A block whose decisions owe their outbox deliveries until it ends: the relay
        runs once, instead of once per decision, when this thread's (outermost) block
        exits normally and every repository block open around it has committed (at once
        when none is open). Sync opens one inside each page's transaction, so a page's
        messages are delivered once, after the page's commit, or after the host's when
        the host called sync inside a block of its own. A block that raises owes nothing
        more: the next delivery catches up."""
        later = self._later
        depth = getattr(later, "depth", 0)
        later.depth = depth + 1
        try:
            yield
        except BaseException:
            later.depth = depth
            if not depth:
                later.owed = False
            raise
        later.depth = depth
        if not depth and getattr(later, "owed", False):
            later.owed = False
            self._deliver_after_commit()

    def _after_commit(self, transitions: Sequence[Transition], owed: bool) -> None:
        """Deliver the outbox once the repository block open around the decision (if
        any) has committed (:meth:`_deliver_after_commit`; inside :meth:`deliver_later`,
        once at its end), then forward each address change to the carrier (its failure
        is raised: the order is saved)."""
        if owed and self.relay is not None:
            if getattr(self._later, "depth", 0):
                self._later.owed = True
            else:
                self._deliver_after_commit()
        if self.carrier is not None:
            for transition in transitions:
                for event in transition.events:
                    if isinstance(event, AddressChanged) and event.waybill:
                        self.carrier.update_address(event.waybill, event.address)

    def _deliver_after_commit(self) -> None:
        """Deliver the outbox once the outermost repository block open on this thread
        has committed (at once when none is open; never when it rolls back), through
        :meth:`~orderkit.lifecycle.ports.OrderRepository.after_commit`: decisions made
        inside a host's block are not delivered before the host's commit, and the
        decisions of one block are delivered by one relay run. A host repository
        without ``after_commit`` is delivered to at once."""
        if self._on_commit is None:
            self._deliver()
        else:
            self._on_commit(self._deliver)

    def _deliver(self) -> None:
        """One relay run (failures stay in the outbox for the next)."""
        assert self.relay is not None  # only a service with a relay owes a delivery
        self.last_delivery = self.relay.run_once()

    def _placed_messages(self, order: Order) -> tuple[OutboxMessage, ...]:
        """What placing ``order`` owes the ledger for the units it carries as shipped
        already (a sale handed over at the counter, an order first heard of after it
        shipped): ``stock.ship`` for units that left after the stock count (or with no
        count given), ``stock.record_shipped`` for units that left before it."""
        if self.inventory is None:
            return ()
        owed = _shipped_when_placed(order, self.stock_counted_at)
        now = self.lifecycle.now()
        # The empty event id, which no event has: the placement's ids never meet an
        # event's.
        return _outbox(order.order_id, "", [(topic, {"lines": lines}) for topic, lines in owed],
                       now, version=order.version)

    def _placed_ready(self, order: Order) -> tuple[OutboxMessage, ...]:
        """With a sink, the :class:`ReadyToShip` of ``order`` placed able to ship
        (:func:`~orderkit.lifecycle.readiness.placed_ready`: cash on delivery waiting to
        ship, an order imported paid): no event of its own tells a warehouse system."""
        if self.sink is None:
            return ()
        fact = placed_ready(order, self.lifecycle.table, self.lifecycle.now,
                            ship_from_tz=self.ship_from_tz)
        if fact is None:
            return ()
        return _outbox(order.order_id, fact.event_id, [event_content(fact)], fact.at,
                       version=order.version)

    def _decided_messages(
        self, order: Order, transitions: Sequence[Transition], lock_id: str | None = None,
        *, settled: bool = False,
    ) -> tuple[OutboxMessage, ...]:
        """What ``transitions``, decided one after the other from ``order``, owe
        (:meth:`_messages` of each, given the order it was decided from)."""
        messages: list[OutboxMessage] = []
        before = order
        for transition in transitions:
            messages += self._messages(before, transition, lock_id, settled=settled)
            before = transition.order
        return tuple(messages)

    def _messages(
        self, before: Order, transition: Transition, lock_id: str | None = None, *,
        settled: bool = False,
    ) -> tuple[OutboxMessage, ...]:
        """What the decision taking ``before`` to ``transition.order`` owes: stock
        movements (with a ledger and a lock: the order's, or ``lock_id`` for an order
        being placed with it; ``settled``: that lock was taken for the units the
        placement's transitions leave open), then every domain event (with a sink), with
        ids fixed by the order and event."""
        order = transition.order
        owed: list[tuple[str, dict[str, Any]]] = []
        if self.inventory is not None:
            owed += _stock(lock_id or order.lock_id, before, transition,
                           self.stock_counted_at, settled=settled)
        if self.sink is not None:
            owed += [event_content(event) for event in transition.events]
        if not owed:
            return ()
        decided = transition.audit[0]  # every saved transition carries its entry
        # The input event's own time, never before the order was created nor after the
        # clock: what a confirm or a release is judged at (created_at is the save's).
        occurred = min(max(decided.event_at, order.created_at), decided.at)
        return _outbox(order.order_id, decided.event_id, owed, decided.at,
                       occurred_at=occurred, version=order.version)


def _outbox(
    order_id: str,
    event_id: str,
    owed: Sequence[tuple[str, Mapping[str, Any]]],
    at: datetime,
    *,
    occurred_at: datetime | None = None,
    version: int | None = None,
) -> tuple[OutboxMessage, ...]:
    """The outbox messages of what one decision on ``event_id`` owes, as ``(topic,
    payload)``: their ids fixed by the order, the event and their place (``index``),
    saved at ``at``, caused at ``occurred_at`` (``at`` when not given) and carrying the
    order ``version`` the decision saved."""
    return tuple(
        OutboxMessage(message_id(order_id, event_id, k), order_id, topic, payload, at,
                      occurred_at=occurred_at or at, order_version=version, index=k)
        for k, (topic, payload) in enumerate(owed)
    )


def _stock(
    lock_id: str | None,
    before: Order,
    transition: Transition,
    counted_at: datetime | None,
    *,
    settled: bool = False,
) -> list[tuple[str, dict[str, Any]]]:
    """The stock movements ``transition``'s events (decided from ``before``) imply, as
    ``(topic, payload)``: returned sellable units go back into stock; shipped units
    leave it (committing the order's lock when it has one), except units shipped at or
    before ``counted_at``, the stock count that opened the ledger, by when their parcel
    left (:func:`_parcel_left_at`, the placement's dating too): those are
    only recorded for the order (the count did not include them); the rest move the
    order's lock, when it has one, and so do units a carrier scan shipped that never
    left (:class:`LinesUnshipped`: the lock takes them back from its commit; with no
    lock they come back on hand, ``stock.unship``; of a parcel that left at or before
    ``counted_at`` the record of them is taken back, ``stock.unrecord_shipped``,
    which the order's lock, when it has one, holds again). With
    ``settled`` (a placement's transitions, and ``lock_id`` taken for the units they
    leave open) the lock only confirms: what the transitions ship leaves as units no
    lock holds, and what they cancel or refund was never locked."""
    order = transition.order
    owed: list[tuple[str, dict[str, Any]]] = []
    for event in transition.events:
        if isinstance(event, ReturnReceived) and event.restocked:
            payload = {"lines": dict(event.restocked), "return_id": event.return_id}
            owed.append((STOCK_RESTOCK, payload))
        elif isinstance(event, LinesShipped) and event.skus:
            lines = dict(event.skus)
            holder = None if settled else lock_id
            if counted_at is not None and _parcel_left_at(before, order, event) <= counted_at:
                recorded: dict[str, Any] = {"lock_id": holder, "lines": lines}
                if holder is not None:
                    # What the lock goes on holding: the units still to ship.
                    recorded["keep"] = order.open_units_by_sku
                owed.append((STOCK_RECORD_SHIPPED, recorded))
            elif holder is None:
                owed.append((STOCK_SHIP, {"lines": lines}))
            else:
                owed.append((STOCK_COMMIT, {"lock_id": holder, "lines": lines}))
        elif isinstance(event, LinesUnshipped) and event.skus:
            # Units a carrier scan shipped that never left: the reverse of how the
            # scan's shipment moved them. Back in the order's lock from its commit, or
            # back on hand from a lockless ship, or (the parcel left before the stock
            # count, so the units were on the shelf when it was counted) the record of
            # them taken back, into the order's lock when it has one.
            holder = None if settled else lock_id
            if counted_at is not None and _parcel_left_at(before, order, event) <= counted_at:
                owed.append((STOCK_UNRECORD_SHIPPED,
                             {"lock_id": holder, "lines": dict(event.skus)}))
            elif holder is None:
                owed.append((STOCK_UNSHIP, {"lines": dict(event.skus)}))
            else:
                owed.append((STOCK_UNCOMMIT, {"lock_id": holder, "lines": dict(event.skus)}))
        elif lock_id is None:
            continue
        elif isinstance(event, PaymentReceived) or (
            isinstance(event, StatusChanged)
            and event.to_status == OrderStatus.PAID
            and event.event != "pay"  # a payment confirms with its PaymentReceived
        ):
            # Paid: by this payment, or by earlier ones once lines were cut or repriced.
            owed.append((STOCK_CONFIRM, {"lock_id": lock_id}))
        elif settled:
            continue  # the lock never held what the placement's transitions let go
        elif isinstance(event, LinesCancelled) and event.skus:
            owed.append((STOCK_RELEASE, {"lock_id": lock_id, "lines": dict(event.skus)}))
        elif isinstance(event, OrderCancelled):
            owed.append((STOCK_RELEASE, {"lock_id": lock_id, "lines": None}))
        elif isinstance(event, (Refunded, RefundLinesAssigned)) and event.released:
            owed.append((STOCK_RELEASE, {"lock_id": lock_id, "lines": dict(event.released)}))
    return owed


def _left_at(order: Order, shipment: Shipment, heard_at: datetime) -> datetime:
    """When ``shipment`` of ``order`` left, the one date the stock a parcel owes is
    judged by (:func:`_shipped_when_placed` and :func:`_stock`): its ``shipped_at``,
    else ``heard_at``, when orderkit first heard of it carrying units (the order's
    ``created_at`` for a parcel the order was placed with, which keeps that date when a
    carrier scan or a ``ship`` adds units to it; the event's own time for one an event
    filled, as a lifecycle event that puts units in an empty parcel dates it); never
    before the order was created, as the lifecycle never moves goods before then."""
    return max(shipment.shipped_at or heard_at, order.created_at)


def _parcel_left_at(
    before: Order, after: Order, event: LinesShipped | LinesUnshipped
) -> datetime:
    """When the parcel of ``event`` left (the units it ships, or those a carrier scan
    shipped with it that it gives back), by :func:`_left_at`: as ``before``, the order
    the decision started from, carried it when it carried units already (a parcel the
    order was placed with keeps its placement's date when a ``ship`` reports it later),
    else as the decision left it (the parcel it created or filled, dated by it)."""
    for shipment in before.shipments:
        if shipment.shipment_id == event.shipment_id and shipment.lines:
            return _left_at(before, shipment, before.created_at)
    heard_at = event.occurred_at  # the input event's own time
    for shipment in after.shipments:
        if shipment.shipment_id == event.shipment_id:
            return _left_at(after, shipment, heard_at)
    return max(heard_at, after.created_at)


def _shipped_when_placed(
    order: Order, counted_at: datetime | None
) -> list[tuple[str, dict[str, int]]]:
    """The units ``order`` had sent out and not got back when it is placed, by SKU, as
    the stock messages they owe: ``stock.ship`` (they leave ``on_hand`` now) and, with a
    stock count at ``counted_at``, ``stock.record_shipped`` for those that left at or
    before it. Per line, its :attr:`~orderkit.model.orders.Order.sent_units` less the
    units RETURNED. A shipment is dated by :func:`_left_at` (its ``shipped_at``, or the
    order's ``created_at`` when it has none), as the events that move its units later
    date it; units no shipment of the line dates after the count are dated by
    ``created_at`` too."""
    after: dict[str, int] = {}
    before: dict[str, int] = {}
    sent = order.sent_units
    for line in order.lines:
        units = sent[line.line_id] - line.quantities[LineStatus.RETURNED]  # still out
        if units <= 0:
            continue
        late = units
        if counted_at is not None and order.created_at <= counted_at:
            dated_after = sum(
                shipment.lines.get(line.line_id, 0)
                for shipment in order.shipments
                if _left_at(order, shipment, order.created_at) > counted_at
            )
            late = min(units, dated_after)
        if late:
            after[line.sku] = after.get(line.sku, 0) + late
        if units - late:
            before[line.sku] = before.get(line.sku, 0) + units - late
    owed: list[tuple[str, dict[str, int]]] = []
    if before:
        owed.append((STOCK_RECORD_SHIPPED, before))
    if after:
        owed.append((STOCK_SHIP, after))
    return owed


def _ship_from_tz(repository: OrderRepository, given: object) -> str:
    """The service's ship-from zone: ``given`` (the service's ``ship_from_tz``) when not
    ``None``, else ``repository``'s ``ship_from_tz``, else the default accounting zone.
    One that is no IANA zone name is a :class:`ValidationError` naming ``ship_from_tz``
    (given) or ``repository.ship_from_tz``."""
    if given is not None:
        return checked_ship_from_tz(given)
    configured = getattr(repository, "ship_from_tz", None)
    if configured is None:
        return DEFAULT_ACCOUNTING_TZ
    return checked_ship_from_tz(configured, path="repository.ship_from_tz")


def _keeps_its_stock(order: Order) -> bool:
    """Whether ``order``'s stock lock must never lapse: it was paid (``paid_at``, or a
    paid status), or it is cash on delivery (it ships unpaid by design)."""
    return (
        order.paid_at is not None
        or order.status in PAID_TO_SHIP  # an order imported paid keeps its stock
        or order.payment_terms is PaymentTerms.ON_DELIVERY
    )


def _placement(index: int, placement: object) -> tuple[Order, tuple[Transition, ...]]:
    """``placements[index]`` of :meth:`OrderService.place_many` as ``(order,
    transitions)``; :class:`ValidationError` naming it when it is not such a pair."""
    path = f"placements[{index}]"
    if (
        not isinstance(placement, tuple | list)
        or len(placement) != 2
        or isinstance(placement[1], str | bytes)
        or not isinstance(placement[1], Sequence)
    ):
        raise ValidationError(path, placement, "expected an (order, transitions) pair")
    order, transitions = placement
    if not isinstance(order, Order):
        raise ValidationError(path, order, "expected an Order")
    for transition in transitions:
        if not isinstance(transition, Transition):
            raise ValidationError(path, transition,
                                  "expected the Transitions decide() chose for the order")
    return order, tuple(transitions)


def _stuck_open_units(order: Order, lifecycle: Lifecycle) -> ValidationError | None:
    """The refusal of placing ``order`` with open units in a status where no event can
    ship or cancel them (:meth:`~orderkit.lifecycle.TransitionTable.can_ship_or_cancel`:
    a final status, DELIVERED, a status the table does not know): their lock would
    never end."""
    units = {line.line_id: line.quantities[LineStatus.OPEN] for line in order.lines
             if line.quantities[LineStatus.OPEN]}
    table = lifecycle.table
    if not units or table.can_ship_or_cancel(order.status):
        return None
    if order.status in table.statuses:
        where = f"is {table.name(order.status)}"
        fix = ("put them in the bucket they are in (cancelled, shipped, refunded or"
               " returned) before placing it")
    else:
        where = f"is in status {int(order.status)}, which the service's lifecycle table"
        where += " does not know,"
        fix = "give the service the table that has the status"
    return ValidationError(
        "order.lines",
        units,
        f"order {order.order_id} {where} with open units {units} (line id: units) that"
        f" no event can ship or cancel: {fix}",
    )


def _settled(
    order: Order, transitions: Sequence[Transition], lifecycle: Lifecycle
) -> Order | ValidationError:
    """The order a placement stores (its transitions' last, else ``order``), its ending
    settled as the lifecycle settles one (:func:`~orderkit.lifecycle.engine.settle_ending`:
    in a final status, owing only its own shipping or rounding up with nothing left sold
    (a cash on delivery order refused at the door), that is waived, labelled ``waived
    at placement``); or the refusal of placing ``order`` with money no event can settle:
    refunds beyond what was paid (a refund never exceeds paid minus refunded), or a
    final status with money still due that nothing settles (no order ends owing what
    nobody can collect; a cash on delivery order completed before the carrier remits
    may)."""
    totals = order.totals
    if totals.refunded > totals.paid:
        return ValidationError(
            "order.payments",
            totals.refunded,
            f"order {order.order_id} records {totals.refunded} refunded of"
            f" {totals.paid} paid: refunds never exceed what was paid; record the payment"
            " they pay back",
        )
    final = transitions[-1].order if transitions else order
    table = lifecycle.table
    due = final.due
    if final.status not in table.final or not due.amount:
        return final
    settled = settle_ending(final, table, final.status, final.status_since or final.created_at,
                            "waived at placement")
    if settled is not None:
        waived, _change = settled
        return attrs.evolve(final, adjustments=(*final.adjustments, *waived)) if waived else final
    totals = final.totals
    return ValidationError(
        "order.payments",
        due,
        f"order {final.order_id} is {table.name(final.status)} with {due} due"
        f" ({totals.paid} paid, {totals.refunded} refunded, {totals.sold} sold) that no"
        " event could collect: place it unpaid and bring its payments and refunds as"
        " events (as sync does), so each refund takes its units or its concession",
    )


class _Refused(Exception):
    """Placements of a :meth:`OrderService.place_many` attempt that are stored already
    (by index, each with its :class:`DuplicateOrder`): the attempt is rolled back and
    made again without them."""

    def __init__(self, errors: Mapping[int, OrderkitError]) -> None:
        super().__init__(errors)
        self.errors = dict(errors)


def _refused_one(
    error: ConcurrencyError | DuplicateOrder,
    saves: Sequence[tuple[int, Order, tuple[AuditEntry, ...], tuple[OutboxMessage, ...]]],
) -> tuple[int, Order]:
    """The placement ``error`` names (its order id, or its channel order id): the last
    of the block with it, since of two copies in one block the first is the one stored
    (the later one is the duplicate; the others stored before the block are found by
    :meth:`OrderService._stored_of`)."""
    for index, order, _audit, _messages in reversed(saves):
        if isinstance(error, ConcurrencyError) and order.order_id == error.order_id:
            return index, order
        if isinstance(error, DuplicateOrder) and (order.channel, order.channel_order_id) == (
            error.channel, error.channel_order_id
        ):
            return index, order
    raise error


def _check_steps(step: object, limit: object) -> None:
    """Refuse what :meth:`OrderService.advance` and :meth:`OrderService.decide` cannot
    run: a ``step`` that is no function of the order (an :class:`Event` given where
    the function choosing the next one belongs), a ``limit`` that is no whole number
    from 1."""
    if isinstance(step, Event) or not callable(step):
        raise ValidationError(
            "step", step, "expected a function of the order returning its next Event or None"
            " (to apply one event, use handle)")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit", limit, "expected an integer >= 1")
