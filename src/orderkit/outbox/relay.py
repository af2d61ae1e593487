"""The relay: delivers outbox messages to their consumers, in batches, exactly once in effect.

:meth:`OutboxRelay.run_once` reads up to ``limit`` pending messages for each consumer,
oldest first, each consumer's lane apart and only what it can deliver now (the store
leaves out the messages waiting out a back-off and those behind them in their order's
lane, so they never fill the limit), and hands each to its consumer by topic:

* ``stock.*`` messages go to the inventory ledger with ``ref=message_id`` (an oversell,
  lapsed units or a release its breaker parked are enqueued as
  ``event.OversellDetected``, ``event.ReservationLapsed`` and ``event.ReleaseParked``
  messages in the same transaction; a confirm is judged, and a release counted by the
  breaker, at the message's ``occurred_at``, the payment's or the cancel's own time):
  the batch's stock messages in one :meth:`~orderkit.outbox.StockEffects.apply_many`
  call (one ledger transaction that asks the store once which of them were applied before), marked
  delivered in the same transaction, so where the ledger's store shares the outbox
  store's transaction (SQLite adapters on one file, PostgreSQL adapters on one source)
  a batch of effects costs one commit and an effect and its "delivered" mark are kept
  or lost together. Elsewhere the ledger's ``ref`` makes a second delivery a no-op.
  When the batch call fails, its messages are applied one at a time, each in a
  savepoint of its own, so that the failing one is found and recorded and the others
  go through.
* ``event.*`` messages go to the host's :class:`~orderkit.lifecycle.ports.EventSink`
  one by one, outside any transaction (a sink is a network call), and are marked
  delivered afterwards: a crash in between delivers them again, so the sink keeps
  what it applied by ``message_id``.

Messages of one order reach each consumer in the order they were saved: when one fails,
the order's later messages *for the same consumer* wait behind it, and its messages for
the other consumer go on (a sink that is down never holds back the stock a cancel
releases, and a ledger that refuses never holds back the order's events). A failed
message is not tried again before its back-off has passed (``backoff`` doubled per
failure, at most ``max_backoff``), so a consumer that is down for a while is not
hammered and its messages do not use up their attempts in a burst. A stock message the
ledger refuses (a lock id of another order, say) becomes a dead letter at once, and the
refusal is written into the order's audit trail; any other message that failed
``max_attempts`` times becomes a dead letter too. Dead letters are kept with their
error, no longer block, are listed by :meth:`dead_letters` and put back by
:meth:`replay`. Delivered messages stay in the store until :meth:`OutboxRelay.purge`
deletes those delivered longer ago than a retention.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import attrs

from orderkit.model.audit import AuditEntry
from orderkit.model.errors import OrderNotFound, RefusedError, ValidationError
from orderkit.model.retention import purge_in_batches
from orderkit.model.time import Clock, SystemClock, checked_now
from orderkit.outbox.findings import OversellDetected, ReleaseParked, ReservationLapsed
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
    Consumer,
    OutboxMessage,
    StoredMessage,
    consumer_of,
    event_content,
    message_id,
)
from orderkit.outbox.ports import OutboxRetention, StockCall, StockEffects, StockResult

if TYPE_CHECKING:
    from orderkit.lifecycle.ports import EventSink, OrderRepository

__all__ = ["OutboxRelay", "RelayReport"]

_NO_LAG: Final = timedelta(0)
_EVENTS: Final[Consumer] = "sink"
_STOCK: Final[Consumer] = "ledger"
_ERROR_TEXT: Final = 2000
#: The ledger call of each stock topic.
_OPERATIONS: Final = {
    STOCK_RELEASE: "release", STOCK_COMMIT: "commit", STOCK_UNCOMMIT: "uncommit",
    STOCK_CONFIRM: "confirm",
}
#: The ledger call of each stock topic that names the order's units, not a lock's.
_ORDER_OPERATIONS: Final = {
    STOCK_RESTOCK: "restock", STOCK_SHIP: "ship", STOCK_UNSHIP: "unship",
    STOCK_RECORD_SHIPPED: "record_shipped", STOCK_UNRECORD_SHIPPED: "unrecord_shipped",
}
#: The order topics that may name the order's lock.
_HELD_TOPICS: Final = frozenset({STOCK_RECORD_SHIPPED, STOCK_UNRECORD_SHIPPED})


@attrs.frozen
class RelayReport:
    """What one :meth:`OutboxRelay.run_once` did: messages ``delivered``, deliveries
    that ``failed`` (to be retried), messages ``dead_lettered`` in this run, and the
    ``lag`` after it (the age of the oldest message still waiting; zero when none)."""

    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    lag: timedelta = _NO_LAG


class OutboxRelay:
    """Delivers the messages of ``store`` to ``sink`` (``event.*``) and ``inventory``
    (``stock.*``). A message whose consumer is not given fails (and, after
    ``max_attempts`` failures, becomes a dead letter): nothing is dropped silently. With
    the defaults a message is tried for about eight and a half minutes (back-offs of 1 s,
    2 s, 4 s, ... up to 5 minutes) before it is a dead letter."""

    def __init__(
        self,
        store: OrderRepository,
        *,
        sink: EventSink | None = None,
        inventory: StockEffects | None = None,
        clock: Clock | None = None,
        max_attempts: int = 10,
        backoff: timedelta = timedelta(seconds=1),
        max_backoff: timedelta = timedelta(minutes=5),
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValidationError("max_attempts", max_attempts, "expected an integer >= 1")
        for name, value in (("backoff", backoff), ("max_backoff", max_backoff)):
            if not isinstance(value, timedelta) or value < _NO_LAG:
                raise ValidationError(name, value, "expected a non-negative timedelta")
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.store = store
        self.sink = sink
        self.inventory = inventory
        self.clock: Clock = clock or SystemClock()
        self.max_attempts = max_attempts

    def run_once(self, limit: int = 100) -> RelayReport:
        """Deliver up to ``limit`` pending messages per consumer; see the module
        docstring."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError("limit", limit, "expected an integer >= 1")
        now = checked_now(self.clock)
        delivered = failed = dead = 0
        # (order, consumer) pairs whose earlier message failed or waits in this run
        blocked: set[tuple[str, str]] = set()
        events: list[StoredMessage] = []
        applied: list[str] = []
        with self.store.atomic():
            stock: list[tuple[StoredMessage, StockCall]] = []
            # Each consumer's lane read apart, each up to ``limit``, without the rows
            # that wait out a back-off and those behind them: what this run can deliver.
            ready = [
                *self.store.pending(limit, consumer=_STOCK, now=now),
                *self.store.pending(limit, consumer=_EVENTS, now=now),
            ]
            for stored in ready:
                message = stored.message
                lane = _lane(message)
                if lane in blocked:
                    continue
                if stored.retry_at is not None and stored.retry_at > now:
                    blocked.add(lane)  # waits out its back-off, and so do the order's
                    continue  # later messages for the same consumer
                if lane[1] == _EVENTS:
                    events.append(stored)
                    continue
                try:
                    stock.append((stored, _stock_call(message)))
                except Exception as error:  # recorded on the message, retried later
                    dead += self._failed(stored, error, now)
                    failed += 1
                    blocked.add(lane)
            outcomes: list[tuple[StoredMessage, StockResult | RefusedError, list[OutboxMessage]]]
            outcomes = []
            if len(stock) > 1:
                try:  # the whole batch in one ledger transaction
                    with self.store.atomic():
                        outcomes = self._apply_stock(stock, now)
                except Exception:  # some message failed: one at a time, to find which
                    outcomes = []
            if not outcomes:
                for stored, call in stock:
                    if _lane(stored.message) in blocked:
                        continue
                    try:
                        with self.store.atomic():
                            outcomes += self._apply_stock([(stored, call)], now)
                    except Exception as error:  # recorded on the message, retried later
                        dead += self._failed(stored, error, now)
                        failed += 1
                        blocked.add(_lane(stored.message))
            for stored, outcome, found in outcomes:
                if isinstance(outcome, RefusedError):  # retrying cannot help
                    self._audit_refusal(stored.message, outcome, now)
                    dead += self._failed(stored, outcome, now, final=True)
                    failed += 1
                else:
                    applied.append(stored.message.message_id)
                    # What the ledger found goes out with this run's events.
                    events.extend(StoredMessage(m) for m in found)
            # Marked in the transaction that applied them: kept or lost together.
            self.store.mark_delivered(applied, now)
            delivered += len(applied)
        published: list[str] = []
        failures: list[tuple[StoredMessage, Exception]] = []
        for stored in events:
            message = stored.message
            lane = _lane(message)
            if lane in blocked:
                continue
            try:
                self._publish(message)
            except Exception as error:  # recorded on the message, retried later
                failures.append((stored, error))
                blocked.add(lane)
            else:
                published.append(message.message_id)
        if published or failures:
            with self.store.atomic():
                self.store.mark_delivered(published, now)
                for stored, failure in failures:
                    dead += self._failed(stored, failure, now)
        delivered += len(published)
        failed += len(failures)
        return RelayReport(delivered, failed, dead, self.lag(now))

    def run_until_idle(self, limit: int = 100, *, max_batches: int = 1000) -> RelayReport:
        """Run batches until one delivers nothing or meets a failure (a failed message
        waits for the next run instead of using up its attempts in one drain); the report
        sums the batches."""
        delivered = failed = dead = 0
        report = RelayReport()
        for _batch in range(max_batches):
            report = self.run_once(limit)
            delivered += report.delivered
            failed += report.failed
            dead += report.dead_lettered
            if not report.delivered or report.failed:
                break
        return RelayReport(delivered, failed, dead, report.lag)

    def lag(self, now: datetime | None = None) -> timedelta:
        """How long the oldest undelivered message has waited (zero when none waits)."""
        oldest = self.store.oldest_pending()
        if oldest is None:
            return _NO_LAG
        return max(_NO_LAG, (now or checked_now(self.clock)) - oldest)

    def purge(self, older_than: timedelta, *, batch: int = 1000) -> int:
        """Delete the messages delivered more than ``older_than`` ago (by the relay's
        clock; added in 0.3) and return how many: the outbox's retention, for a cron job
        (``orderkit outbox purge`` on a SQLite file). Pending and dead messages are
        kept, whatever their age.

        The cut-off is read once; the store then deletes ``batch`` messages at a time
        (:meth:`~orderkit.outbox.ports.OutboxRetention.purge_delivered`), each batch in
        a transaction of its own unless the caller holds a block open, until a batch
        finds fewer: a first purge of a year of messages never holds the write lock
        for long, and the relay and the services write between its batches.
        ``older_than`` must be a positive ``timedelta`` (reaching back no earlier than
        1900) and ``batch`` an integer from 1, or a
        :class:`~orderkit.model.errors.ValidationError` names it; so does a store
        without ``purge_delivered`` (a host's own outbox store), naming ``store``.
        """
        store = self.store
        if not isinstance(store, OutboxRetention):
            raise ValidationError(
                "store", store, "this outbox store cannot purge (no purge_delivered, see"
                " OutboxRetention): delete its delivered messages in the store itself"
            )
        return purge_in_batches(
            lambda before, limit: store.purge_delivered(before, limit=limit), older_than,
            batch, self.clock, example="timedelta(days=30)",
        )

    def dead_letters(self) -> Sequence[StoredMessage]:
        """Every message that failed ``max_attempts`` times, with its last error."""
        return self.store.dead_letters()

    def replay(self, message_id: str) -> bool:
        """Put a dead letter back in line (attempts reset); ``False`` if none has that id."""
        return self.store.replay(message_id)

    # --- consumers -----------------------------------------------------------------------

    def _apply_stock(
        self, stock: Sequence[tuple[StoredMessage, StockCall]], now: datetime
    ) -> list[tuple[StoredMessage, StockResult | RefusedError, list[OutboxMessage]]]:
        """Apply stock messages in one ledger call (``ref`` = each one's id) and enqueue
        what the ledger found (an oversell, lapsed units of a confirmed lock, a release
        its breaker parked); per message its result (or the ledger's refusal) and the
        messages it found."""
        inventory = self.inventory
        if inventory is None:
            raise LookupError(
                f"no inventory ledger for {stock[0][0].message.topic!r} messages: give the"
                " relay the ledger the orders' stock is in (OutboxRelay(..., inventory=ledger))"
            )
        results = inventory.apply_many([call for _stored, call in stock])
        if len(results) != len(stock):
            raise LookupError(f"the ledger answered {len(results)} of {len(stock)} calls")
        outcomes: list[tuple[StoredMessage, StockResult | RefusedError, list[OutboxMessage]]]
        outcomes = []
        enqueued: list[OutboxMessage] = []
        for (stored, _call), result in zip(stock, results, strict=True):
            messages: list[OutboxMessage] = []
            if not isinstance(result, RefusedError):
                order_id, ref = stored.message.order_id, stored.message.message_id
                found: list[object] = [
                    OversellDetected(sku, units, (order_id,), now, ref)
                    for sku, units in sorted(result.oversold.items())
                ]
                if result.lapsed:
                    found.append(ReservationLapsed(order_id, dict(result.lapsed), now, ref))
                if self.sink is not None:
                    # Told to the sink only: without one (a host that keeps stock and
                    # takes no events) the message could only fail and die; the ledger
                    # keeps the parked release (pending_review, the watch's
                    # inventory_parked_releases).
                    found += [
                        ReleaseParked(order_id, park.sku, park.qty, park.entry_id, now, ref)
                        for park in getattr(result, "parked", ())  # a ledger with a breaker
                    ]
                messages = [
                    OutboxMessage(
                        message_id(order_id, f"found:{ref}", k), order_id,
                        *event_content(fact), now,
                    )
                    for k, fact in enumerate(found)
                ]
                enqueued += messages
            outcomes.append((stored, result, messages))
        if enqueued:
            self.store.enqueue(enqueued)
        return outcomes

    def _publish(self, message: OutboxMessage) -> None:
        if self.sink is None:
            raise LookupError(
                f"no event sink for {message.topic!r} messages: give the relay the host's"
                " sink (OutboxRelay(..., sink=sink))"
            )
        self.sink.publish((message,))

    def _audit_refusal(self, message: OutboxMessage, error: RefusedError, now: datetime) -> None:
        """Write the ledger's refusal (a lock id of another order, say) into the order's
        audit trail, beside the decisions it followed from."""
        try:
            order = self.store.get(message.order_id)
        except OrderNotFound:
            return
        self.store.record_audit(
            message.order_id,
            (
                AuditEntry(
                    message.order_id,
                    message.message_id,
                    message.topic,
                    "outbox-relay",
                    now,
                    message.created_at,
                    int(order.status),
                    int(order.status),
                    "refused",
                    (),
                    f"{type(error).__name__}: {error.message}",
                ),
            ),
        )

    def _failed(
        self, stored: StoredMessage, error: Exception, now: datetime, *, final: bool = False
    ) -> int:
        """Record a failed delivery and its back-off; 1 when it made the message a dead
        letter (at once when ``final``: a refusal that no retry can change)."""
        attempts = stored.attempts + 1
        dead = final or attempts >= self.max_attempts
        wait = min(self.max_backoff, self.backoff * 2 ** min(attempts - 1, 32))
        text = f"{type(error).__name__}: {error}"[:_ERROR_TEXT]
        self.store.mark_failed(
            stored.message.message_id, text, dead=dead, retry_at=None if dead else now + wait
        )
        return int(dead)


def _lane(message: OutboxMessage) -> tuple[str, str]:
    """The order and the consumer a message goes to: the unit that keeps its order
    (``event.*`` to the sink, everything else to the ledger)."""
    return message.order_id, consumer_of(message.topic)


def _stock_call(message: OutboxMessage) -> StockCall:
    """The ledger call a stock message asks for (``ref``: the message's id)."""
    payload = message.payload
    order_id, ref = message.order_id, message.message_id
    operation = _ORDER_OPERATIONS.get(message.topic)
    if operation is not None:
        # The order's units: no lock id to check, except the lock a shipment before the
        # stock count lets go of (or holds again, when it never left).
        reason = None
        if message.topic == STOCK_RESTOCK:
            reason = f"return {payload.get('return_id') or ''}".strip()
        held = payload.get("lock_id") if message.topic in _HELD_TOPICS else None
        if held is not None and not isinstance(held, str):
            raise ValidationError("payload.lock_id", held, "expected a lock id")
        keep = payload.get("keep") if held is not None else None
        return StockCall(operation, held, _units(payload.get("lines")), order_id, ref, reason,
                         None if keep is None else _units(keep))
    operation = _OPERATIONS.get(message.topic)
    if operation is None:
        raise LookupError(f"no consumer for topic {message.topic!r}")
    lock_id = payload.get("lock_id")
    if not isinstance(lock_id, str):
        raise ValidationError("payload.lock_id", lock_id, "expected a lock id")
    lines = payload.get("lines")
    units = None if lines is None else _units(lines)
    # Judged at the payment's or the cancel's own time (its occurred_at; created_at for
    # a message written before it had one), not when the relay got to it: a payment
    # made while the lock held keeps its units, and a relay catching up does not make an
    # hour of cancels look like a burst to the release breaker.
    at = message.occurred_at or message.created_at
    if operation == "confirm":
        return StockCall(operation, lock_id, None, order_id, ref, at=at)
    if operation == "release":
        return StockCall(operation, lock_id, units, order_id, ref, at=at)
    return StockCall(operation, lock_id, units, order_id, ref)


def _units(lines: object) -> dict[str, int]:
    """A stock message's ``lines`` (SKU to units), as the ledger takes them."""
    if not isinstance(lines, dict):
        raise ValidationError("payload.lines", lines, "expected a mapping of SKU to units")
    return dict(lines)
