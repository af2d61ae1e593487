"""The engine: apply one :class:`~orderkit.lifecycle.Event` to one order, purely.

:meth:`Lifecycle.apply` reads nothing and writes nothing. It returns a
:class:`Transition`: the new order (a new immutable value, ``version`` + 1), the domain
events for the host to publish and the audit entries for the host to store. The host
saves the order and the audit together with optimistic concurrency and then publishes
the events; :class:`~orderkit.lifecycle.OrderService` does exactly that.

Rules the engine keeps, whatever the table says:

* **Idempotent by event id.** The order remembers the ids of the last ``remember``
  (default 256) events applied to it in ``Order.applied_event_ids``. Re-applying one of
  them returns ``changed=False`` with no events and no audit. 256 covers every realistic
  redelivery of a platform callback; a host that replays older history must deduplicate
  upstream (the idempotency guard does).
* **Stale events are recorded, not refused, not reversed.** An event the table lists as
  stale for the current status (a slow ``pay`` after ``ship``) leaves the status alone;
  its id is remembered and an ``ignored`` audit entry says why.
* **Lines are buckets.** Units move between :class:`~orderkit.model.orders.LineStatus`
  buckets; a line's buckets always sum to its quantity.
* **Carrier scans rank upward only.** The table only has upward ``track`` rows, so a
  late ``in_transit`` after ``signed`` is written onto the shipment and moves nothing.
  A scan that moves a PAID or PACKED order (no ``ship`` ever came) emits
  :class:`~orderkit.lifecycle.ReceivableDue` once, for that move; a later ``signed`` on
  an order already SHIPPED moves it to DELIVERED without a second one, so finance never
  books the same revenue twice.

Speed: building an :class:`~orderkit.model.orders.Order` through its constructor (or
``attrs.evolve``) re-runs every field validator. The engine instead copies the already
validated order and sets only the fields it changed, each of which it has validated
itself (:func:`_replace`); ``tests/test_lifecycle_engine.py`` proves the result equals
what the validating constructor builds. Likewise:

* the table is compiled once per :class:`Lifecycle` into ``event -> status -> rows``
  (:class:`_EventPlan`), with the validator, the handler and each row's new status
  resolved, so :meth:`Lifecycle.apply` does one dict lookup per level and no tuple key;
* the engine's own outputs (:class:`Transition`, audit entries, domain events) have no
  validators, so they are built by generated code writing each slot directly
  (:mod:`orderkit._build`) instead of through the frozen ``__setattr__`` detour;
* status-only events (``pack``, ``deliver``, ``complete``) skip the effect object, and
  a move builds its whole result (the order copied with the four fields it changes, the
  ``StatusChanged``, the audit entry and the transition) in one generated call
  (:func:`orderkit._build.assemble`): a Python call costs about as much as the slot
  writes of one of those values;
* ``pay`` and ``ship``, on every order's path, decide their whole change in one function
  each (:func:`_pay_fast`, :func:`_ship_fast`), which hands everything to one generated
  call building the payment or shipment, the order copy, the events, the audit entry and
  the transition: no effect object, field dict or copier lookup. The generic handlers
  (``Lifecycle._pay``, ``Lifecycle._ship``) stay as their checked path, and orders of a
  subclass of ``Order`` take it;
* the first row for a status (usually its only one) is found with one dict lookup and
  its guard asked inline; the applied event ids are extended by one tuple
  concatenation.

Every one of these is kept honest by a test: ``tests/test_lifecycle_fastpath.py``
compares the builders and copies with the validating constructors, and
``tests/test_lifecycle_fast_handlers.py`` replays random event sequences, good data and
bad, through a lifecycle with and one without the fast handlers and requires equal
transitions or the same refusal at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, TypeVar

import attrs

from orderkit._build import Part, assemble, builder, copier
from orderkit.lifecycle.events import (
    AddressChanged,
    DomainEvent,
    Event,
    HoldPlaced,
    HoldReleased,
    LinesCancelled,
    LinesShipped,
    OrderCancelled,
    PaymentReceived,
    PriceChanged,
    ReceivableDue,
    Refunded,
    StatusChanged,
    TrackingRecorded,
)
from orderkit.lifecycle.policy import Policy
from orderkit.lifecycle.table import DEFAULT_TABLE, Rule, TransitionTable
from orderkit.model import _checks as check
from orderkit.model._checks import TEXT_MAX_LENGTH as TEXT_LIMIT
from orderkit.model.audit import AuditEntry
from orderkit.model.errors import (
    AddressLocked,
    OrderkitError,
    TransitionNotAllowed,
    ValidationError,
)
from orderkit.model.money import Money
from orderkit.model.orders import (
    Address,
    Hold,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentKind,
    Shipment,
    TrackingEvent,
    TrackingStatus,
)
from orderkit.model.time import Clock, SystemClock

__all__ = ["Lifecycle", "Transition"]

T = TypeVar("T")

_OPEN: Final = LineStatus.OPEN
_PAYMENT: Final = PaymentKind.PAYMENT
_SHIPPED: Final = LineStatus.SHIPPED
_PRE_SHIP: Final = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.PACKED})
_ADDRESS_LOCKED_FROM: Final = OrderStatus.PACKED
_STATUS: Final = {int(s): s for s in OrderStatus}


@attrs.frozen
class Transition:
    """The outcome of :meth:`Lifecycle.apply`.

    ``order`` is the new order (the same object when nothing changed), ``changed``
    whether it differs, ``events`` the domain events to publish, ``audit`` the entries to
    store; ``ignored`` is the reason when a stale event was recorded and ignored.
    """

    order: Order
    changed: bool
    events: tuple[DomainEvent, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    ignored: str | None = None


class _Effect:
    """What an event handler decided: field changes, domain events, audit texts."""

    __slots__ = ("approved_by", "changes", "events", "fields")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.events: list[DomainEvent] = []
        self.changes: list[tuple[str, str, str]] = []
        self.approved_by: str | None = None


Handler = Callable[[Order, Event, Rule, datetime, _Effect], None]
Validator = Callable[[Order, Mapping[str, Any]], None]
#: A fast handler builds the whole transition: (order, event, row, now, ids to remember,
#: new version, actor id).
FastHandler = Callable[
    [Order, Event, "_Row", datetime, tuple[str, ...], int, str | None], "Transition"
]


class _Row:
    """One table row, prepared once: its guard name, whether it moves the status and
    the status value the new order carries (the :class:`OrderStatus` member when the
    code is one, as the ``Order`` converter would give)."""

    __slots__ = ("guard", "moves", "new_status", "rule", "source", "target")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.guard = rule.guard
        self.source = rule.source
        self.target = rule.target
        self.moves = rule.target != rule.source
        self.new_status: int = _STATUS.get(rule.target, rule.target)


class _EventPlan:
    """Everything :meth:`Lifecycle.apply` needs for one event name, resolved when the
    lifecycle is built instead of on every call: the data validator, the effect handler
    and ``status -> rows`` (in the order they are tried). ``fast`` is the event's
    specialised handler, if it has one: it decides the whole change for an exact
    :class:`Order` without the :class:`_Effect` detour (``handler`` stays the checked
    path it must agree with)."""

    __slots__ = ("fast", "first", "handler", "steps", "validate")

    def __init__(
        self,
        validate: Validator | None,
        handler: Handler | None,
        steps: dict[int, tuple[_Row, ...]],
        fast: FastHandler | None = None,
    ) -> None:
        self.validate = validate
        self.handler = handler
        self.steps = steps
        self.fast = fast
        #: ``status -> its first row``: most statuses have one row, so one lookup and at
        #: most one guard decide most events without a loop.
        self.first = {status: rows[0] for status, rows in steps.items() if rows}


def _compile(
    table: TransitionTable,
    handlers: Mapping[str, Handler],
    fast: Mapping[str, FastHandler] | None = None,
) -> dict[str, _EventPlan]:
    """One :class:`_EventPlan` per event the table knows (an event without rows gets an
    empty ``steps``: it is known, and refused or ignored in every status)."""
    steps: dict[str, dict[int, tuple[_Row, ...]]] = {name: {} for name in table.events}
    for (source, name), rules in table.rows.items():
        steps[name][source] = tuple(_Row(rule) for rule in rules)
    fast = fast or {}
    return {
        name: _EventPlan(_VALIDATORS.get(name), handlers.get(name), by_status, fast.get(name))
        for name, by_status in steps.items()
    }


class Lifecycle:
    """Applies events to orders through a :class:`TransitionTable`.

    ``clock`` stamps audit entries and decides the address edit window;
    ``address_edit_window`` is how long after payment the buyer may change the address
    without an approver; ``policy`` checks roles, regions and the two-person rule
    (default: allow everything); ``remember`` bounds ``Order.applied_event_ids``.
    """

    #: ``pay`` and ``ship`` decide their change in one specialised function each
    #: (:func:`_pay_fast`, :func:`_ship_fast`); the tests build a lifecycle with this off
    #: to compare those with the generic handlers, their checked path.
    _use_fast_handlers: ClassVar[bool] = True

    def __init__(
        self,
        table: TransitionTable = DEFAULT_TABLE,
        *,
        clock: Clock | None = None,
        address_edit_window: timedelta = timedelta(hours=2),
        policy: Policy | None = None,
        remember: int = 256,
    ) -> None:
        if not isinstance(table, TransitionTable):
            raise ValidationError("table", table, "expected a TransitionTable")
        if not isinstance(address_edit_window, timedelta) or address_edit_window < timedelta(0):
            raise ValidationError(
                "address_edit_window", address_edit_window, "expected a non-negative timedelta"
            )
        if isinstance(remember, bool) or not isinstance(remember, int) or remember < 1:
            raise ValidationError("remember", remember, "expected an integer >= 1")
        self.table = table
        self.clock: Clock = clock or SystemClock()
        self.address_edit_window = address_edit_window
        self.policy = policy or Policy.allow_all()
        self._check_policy = not self.policy.allows_everything
        self.remember = remember
        self._handlers: dict[str, Handler] = {
            "pay": self._pay,
            "ship": self._ship,
            "track": self._track,
            "cancel": self._cancel,
            "cancel_lines": self._cancel_lines,
            "refund": self._refund,
            "hold": self._hold,
            "release_hold": self._release_hold,
            "change_address": self._change_address,
            "change_price": self._change_price,
        }
        self._guards = table.guards
        fast: dict[str, FastHandler] = (
            {"pay": _pay_fast, "ship": _ship_fast} if self._use_fast_handlers else {}
        )
        self._plans = _compile(table, self._handlers, fast)

    # --- the one entry point -------------------------------------------------------------

    def apply(self, order: Order, event: Event) -> Transition:
        """Apply ``event`` to ``order``; see the module docstring for the rules.

        Raises :class:`TransitionNotAllowed` (no row, or every guard failed),
        :class:`AddressLocked`, :class:`NotPermitted` and :class:`ValidationError` (bad
        event data, naming ``data.<field>``). A refusal changes nothing.
        """
        exact = type(order) is Order  # a subclass takes the generic copies
        if not exact and not isinstance(order, Order):
            raise ValidationError("order", order, "expected an Order")
        if type(event) is not Event and not isinstance(event, Event):
            raise ValidationError("event", event, "expected an Event")
        event_id = event.event_id
        ids = order.applied_event_ids
        if event_id in ids:
            return _new_transition(order, False, (), (), None)
        name = event.name
        try:
            plan = self._plans[name]
        except KeyError:
            raise TransitionNotAllowed(
                order.order_id, self.table.name(order.status), name, "unknown event"
            ) from None
        if self._check_policy:
            self.policy.check(event.actor, order, name, event.data)
        validate = plan.validate
        if validate is not None:
            validate(order, event.data)
        status = order.status
        # The first row, tried inline; the rest (and refusals) in ``_choose``.
        row = plan.first.get(status)
        if row is None or (row.guard is not None and not self._guards[row.guard](order, event)):
            row = self._choose(order, event, plan.steps.get(status, ()), row is not None)
            if row is None:  # stale: recorded and ignored
                return self._ignore(order, event, self.clock.now())
        now = self.clock.now()
        # Keep the last ``remember`` ids: one new tuple of at most ``remember`` items,
        # concatenated (no intermediate list, unlike ``(*ids, event_id)``).
        remember = self.remember
        ids = (
            ids + (event_id,)  # noqa: RUF005
            if len(ids) < remember
            else ids[len(ids) - remember + 1 :] + (event_id,)  # noqa: RUF005
        )
        version = order.version + 1
        handler = plan.handler
        actor = event.actor
        actor_id = None if actor is None else actor.id
        approved_by = None
        if handler is None and exact:
            # Status-only events (pack, deliver, complete, a host's own events): no
            # effect object, no field dict; a move is built whole in one generated call.
            if row.moves:
                return _moved(order, ids, version, event, row, actor_id, now)
            new = _order_touched(order, ids, version)
            events: tuple[DomainEvent, ...] = ()
            changes: tuple[tuple[str, str, str], ...] = ()
        elif plan.fast is not None and exact:
            return plan.fast(order, event, row, now, ids, version, actor_id)
        else:
            effect = _Effect()
            if handler is not None:
                handler(order, event, row.rule, now, effect)
            fields = effect.fields
            event_list = effect.events
            if row.moves:
                new_status = row.new_status
                fields["status"] = new_status
                fields["status_since"] = event.at
                event_list.append(
                    _new_status_changed(order.order_id, event_id, now, name, status, new_status)
                )
            fields["applied_event_ids"] = ids
            fields["version"] = version
            new = copier(type(order), tuple(fields))(order, *fields.values())
            events = tuple(event_list)
            changes = tuple(effect.changes)
            approved_by = effect.approved_by
        return _applied(
            new, events, order.order_id, changes, approved_by, event, row, actor_id, now
        )

    def refusal(self, order: Order, event: Event, error: OrderkitError) -> AuditEntry:
        """The audit entry recording that ``event`` was refused with ``error``.

        The engine cannot store it (it does no I/O) and a refusal leaves no new order, so
        the host (:class:`~orderkit.lifecycle.OrderService`) stores it beside the order.
        """
        actor = event.actor
        return AuditEntry(
            order.order_id,
            event.event_id,
            event.name,
            None if actor is None else actor.id,
            self.clock.now(),
            event.at,
            int(order.status),
            int(order.status),
            "refused",
            (),
            f"{type(error).__name__}: {error.message}",
            _approver(event.data) if isinstance(event.data, Mapping) else None,
        )

    # --- choosing the row ----------------------------------------------------------------

    def _choose(
        self, order: Order, event: Event, rows: tuple[_Row, ...], first_failed: bool
    ) -> _Row | None:
        """The first of ``rows`` whose guard passes (``first_failed``: the first row's
        guard was already asked and said no); ``None`` when the event is stale here (the
        caller records it as ignored); raises when it is refused."""
        # The guards that said no, for the refusal's reason.
        failed: list[str] = [rows[0].guard] if first_failed and rows[0].guard else []
        guards = self._guards  # the table's own dict: looked up per call, as before
        for row in rows[1:] if first_failed else rows:
            guard = row.guard
            if guard is None or guards[guard](order, event):
                return row
            failed.append(guard)
        self._refuse(order, event, failed)
        return None

    def _refuse(self, order: Order, event: Event, failed: list[str]) -> None:
        """No row matched (``failed`` names the guards that said no): return when the
        event is stale here (the caller records it as ignored), raise otherwise."""
        status = order.status
        name = event.name
        if self.table.stale_reason(status, name) is not None:
            return
        if name == "change_address" and status >= _ADDRESS_LOCKED_FROM:
            raise AddressLocked(
                order.order_id, self.table.name(status), "the parcel may already be labelled"
            )
        if failed:
            reason = "guard " + ", ".join(failed) + " failed"
            if "no_holds" in failed:
                reason += " (holds: " + ", ".join(h.kind for h in order.holds) + ")"
            raise TransitionNotAllowed(order.order_id, self.table.name(status), name, reason)
        raise TransitionNotAllowed(order.order_id, self.table.name(status), name)

    def _ignore(self, order: Order, event: Event, now: datetime) -> Transition:
        reason = self.table.stale_reason(order.status, event.name) or "stale"
        ids = (*order.applied_event_ids, event.event_id)[-self.remember :]
        actor = event.actor
        entry = AuditEntry(
            order.order_id,
            event.event_id,
            event.name,
            None if actor is None else actor.id,
            now,
            event.at,
            int(order.status),
            int(order.status),
            "ignored",
            (),
            reason,
        )
        new = _replace(order, {"applied_event_ids": ids, "version": order.version + 1})
        return Transition(new, True, (), (entry,), reason)

    # --- effects, one per event ----------------------------------------------------------

    def _pay(self, order: Order, event: Event, _rule: Rule, now: datetime, fx: _Effect) -> None:
        amount: Money = event.data["amount"]
        payment = _new_payment(
            payment_id=event.event_id,
            amount=amount,
            at=event.at,
            method=str(event.data.get("method", "")),
            kind=PaymentKind.PAYMENT,
            reference=str(event.data.get("reference", "")),
            lines={},
        )
        fx.fields["payments"] = (*order.payments, payment)
        fx.fields["paid_at"] = event.at
        fx.events.append(_new_payment_received(order.order_id, event.event_id, now, amount))
        fx.changes.append(("paid", "", str(amount)))

    def _ship(self, order: Order, event: Event, _rule: Rule, now: datetime, fx: _Effect) -> None:
        data = event.data
        lines, moved, skus = _shipping(order, data)
        shipment = _new_shipment(
            shipment_id=event.event_id,
            carrier=data["carrier"],
            waybill=data["waybill"],
            lines=moved,
            shipped_at=event.at,
            first_scan_at=None,
            events=(),
        )
        fx.fields["lines"] = lines
        fx.fields["shipments"] = (*order.shipments, shipment)
        fx.events.append(
            _new_lines_shipped(
                order.order_id,
                event.event_id,
                now,
                shipment.shipment_id,
                shipment.waybill,
                dict(moved),
                skus,
                False,
            )
        )
        fx.changes.append(("shipped", "", _units(moved)))

    def _track(self, order: Order, event: Event, rule: Rule, now: datetime, fx: _Effect) -> None:
        data = event.data
        scan = TrackingEvent(
            data["status"],
            data["carrier_time"],
            location=str(data.get("location", "")),
            description=str(data.get("description", "")),
        )
        waybill = data.get("waybill")
        shipments = list(order.shipments)
        index = next(
            (
                i
                for i in range(len(shipments) - 1, -1, -1)
                if waybill is None or shipments[i].waybill == waybill
            ),
            None,
        )
        forced = rule.target != order.status and order.status in _PRE_SHIP
        if index is None:
            shipments.append(
                Shipment(
                    event.event_id,
                    str(data.get("carrier", "")),
                    str(waybill or ""),
                    {},
                    shipped_at=None,
                )
            )
            index = len(shipments) - 1
        shipment = shipments[index]
        events = shipment.events if scan in shipment.events else (*shipment.events, scan)
        first = shipment.first_scan_at
        first = scan.at if first is None or scan.at < first else first
        lines = shipment.lines
        if forced:
            wanted = _open_lines(order)
            new_lines, skus = _move(order, wanted, (_OPEN,), _SHIPPED, "lines")
            fx.fields["lines"] = new_lines
            lines = {**lines, **{k: lines.get(k, 0) + v for k, v in wanted.items()}}
            fx.events.append(
                LinesShipped(
                    order.order_id,
                    event.event_id,
                    now,
                    shipment.shipment_id,
                    shipment.waybill,
                    wanted,
                    skus,
                    forced=True,
                )
            )
            fx.changes.append(("shipped", "", _units(wanted)))
        shipments[index] = attrs.evolve(
            shipment,
            events=events,
            first_scan_at=first,
            lines=lines,
            shipped_at=shipment.shipped_at or (scan.at if forced else None),
        )
        fx.fields["shipments"] = tuple(shipments)
        fx.events.append(
            TrackingRecorded(
                order.order_id,
                event.event_id,
                now,
                shipment.shipment_id,
                scan.status.value,
                scan.at,
            )
        )
        if forced:
            totals = order.totals
            due = (totals.paid if totals.paid else totals.payable) - totals.refunded
            fx.events.append(
                ReceivableDue(
                    order.order_id,
                    event.event_id,
                    now,
                    due,
                    _STATUS.get(rule.target, rule.target),
                    scan.at,
                    f"carrier scan {scan.status.value} at {scan.at.isoformat()}",
                )
            )
        fx.changes.append(("tracking", "", f"{scan.status.value}@{scan.at.isoformat()}"))

    def _cancel(self, order: Order, event: Event, _rule: Rule, now: datetime, fx: _Effect) -> None:
        wanted = _open_lines(order)
        lines, skus = _move(order, wanted, (_OPEN,), LineStatus.CANCELLED, "lines")
        fx.fields["lines"] = lines
        fx.events.append(OrderCancelled(order.order_id, event.event_id, now, wanted, skus))
        fx.changes.append(("cancelled", "", _units(wanted)))

    def _cancel_lines(
        self, order: Order, event: Event, _rule: Rule, now: datetime, fx: _Effect
    ) -> None:
        wanted: Mapping[str, int] = event.data["lines"]
        lines, skus = _move(order, wanted, (_OPEN,), LineStatus.CANCELLED, "data.lines")
        fx.fields["lines"] = lines
        fx.events.append(LinesCancelled(order.order_id, event.event_id, now, dict(wanted), skus))
        fx.changes.append(("cancelled", "", _units(wanted)))

    def _refund(self, order: Order, event: Event, _rule: Rule, now: datetime, fx: _Effect) -> None:
        data = event.data
        amount: Money = data["amount"]
        wanted: Mapping[str, int] = data.get("lines", {})
        totals = order.totals
        if totals.paid and totals.refunded + amount > totals.paid:
            raise ValidationError(
                "data.amount", amount, f"refunds would exceed the {totals.paid} paid"
            )
        lines, _skus = _move(order, wanted, (_SHIPPED, _OPEN), LineStatus.REFUNDED, "data.lines")
        released: dict[str, int] = {}
        by_id = {ln.line_id: ln for ln in order.lines}
        for line_id, qty in wanted.items():
            line = by_id[line_id]
            from_open = max(0, qty - line.quantities[_SHIPPED])
            if from_open:
                released[line.sku] = released.get(line.sku, 0) + from_open
        refund = Payment(
            event.event_id,
            amount,
            event.at,
            kind=PaymentKind.REFUND,
            lines=wanted,
            reference=str(data.get("reference", "")),
        )
        fx.fields["lines"] = lines
        fx.fields["payments"] = (*order.payments, refund)
        fx.events.append(
            Refunded(order.order_id, event.event_id, now, amount, dict(wanted), released)
        )
        fx.changes.append(("refunded", str(totals.refunded), str(totals.refunded + amount)))
        fx.approved_by = _approver(data)

    def _hold(self, order: Order, event: Event, _rule: Rule, now: datetime, fx: _Effect) -> None:
        kind = str(event.data["kind"])
        if order.hold(kind) is not None:
            raise TransitionNotAllowed(
                order.order_id, self.table.name(order.status), "hold", f"already on hold {kind!r}"
            )
        by = event.actor.id if event.actor is not None else "system"
        reason = str(event.data.get("reason", ""))
        fx.fields["holds"] = (*order.holds, Hold(kind, by, event.at, reason))
        fx.events.append(HoldPlaced(order.order_id, event.event_id, now, kind, reason, by))
        fx.changes.append(("holds", "", kind))

    def _release_hold(
        self, order: Order, event: Event, _rule: Rule, now: datetime, fx: _Effect
    ) -> None:
        kind = str(event.data["kind"])
        if order.hold(kind) is None:
            raise TransitionNotAllowed(
                order.order_id,
                self.table.name(order.status),
                "release_hold",
                f"no hold {kind!r} to release",
            )
        by = event.actor.id if event.actor is not None else "system"
        fx.approved_by = _approver(event.data)
        fx.fields["holds"] = tuple(h for h in order.holds if h.kind != kind)
        fx.events.append(
            HoldReleased(order.order_id, event.event_id, now, kind, by, fx.approved_by)
        )
        fx.changes.append(("holds", kind, ""))

    def _change_address(
        self, order: Order, event: Event, _rule: Rule, now: datetime, fx: _Effect
    ) -> None:
        address: Address = event.data["address"]
        approver = _approver(event.data)
        if order.paid_at is not None and now > order.paid_at + self.address_edit_window:
            who = event.actor.id if event.actor is not None else None
            if approver is None or approver == who:
                raise AddressLocked(
                    order.order_id,
                    self.table.name(order.status),
                    f"more than {self.address_edit_window} after payment: needs approved_by"
                    " from a second person",
                )
        waybill = next((s.waybill for s in reversed(order.shipments) if s.waybill), None)
        fx.fields["ship_to"] = address
        fx.approved_by = approver
        fx.events.append(
            AddressChanged(
                order.order_id, event.event_id, now, order.ship_to, address, waybill, approver
            )
        )
        fx.changes.append(("ship_to", _address_text(order.ship_to), _address_text(address)))

    def _change_price(
        self, order: Order, event: Event, _rule: Rule, now: datetime, fx: _Effect
    ) -> None:
        line_id = str(event.data["line_id"])
        price: Money = event.data["unit_price"]
        lines = []
        previous = price
        for line in order.lines:
            if line.line_id == line_id:
                previous = line.unit_price
                line = _replace(line, {"unit_price": price})
            lines.append(line)
        fx.fields["lines"] = tuple(lines)
        fx.approved_by = _approver(event.data)
        fx.events.append(
            PriceChanged(
                order.order_id, event.event_id, now, line_id, previous, price, fx.approved_by
            )
        )
        fx.changes.append((f"lines[{line_id}].unit_price", str(previous), str(price)))


# --- fast handlers ---------------------------------------------------------------------------
# ``pay`` and ``ship`` are on every order's path. Each decides its whole change here, for an
# exact ``Order`` whose event data its validator accepted, and hands it to one generated
# call (``_paid``, ``_shipped``) building the new order (status and status_since always
# written, with their old values when the row does not move), the domain events, the
# audit entry and the transition. They must
# agree with ``Lifecycle._pay``/``Lifecycle._ship`` plus the generic move, which
# ``tests/test_lifecycle_fast_handlers.py`` checks on random event sequences.


def _pay_fast(
    order: Order,
    event: Event,
    row: _Row,
    now: datetime,
    ids: tuple[str, ...],
    version: int,
    actor: str | None,
) -> Transition:
    data = event.data
    amount: Money = data["amount"]
    if len(data) == 1:  # the amount alone, as most gateways send it
        method = reference = ""
    else:
        method = str(data.get("method", ""))
        reference = str(data.get("reference", ""))
    return _paid(order, amount, method, reference, ids, version, event, row, actor, now)


def _ship_fast(
    order: Order,
    event: Event,
    row: _Row,
    now: datetime,
    ids: tuple[str, ...],
    version: int,
    actor: str | None,
) -> Transition:
    data = event.data
    lines, moved, skus = _shipping(order, data)
    return _shipped(
        order,
        data["carrier"],
        data["waybill"],
        lines,
        moved,
        skus,
        _units(moved),
        ids,
        version,
        event,
        row,
        actor,
        now,
    )


# --- helpers ---------------------------------------------------------------------------------


def _replace(instance: T, changes: Mapping[str, Any]) -> T:
    """Copy a validated attrs instance, setting only ``changes``.

    Trusted fast path (:mod:`orderkit._build`): skips the field validators, so every
    value in ``changes`` must already have been validated by the engine (tests compare
    with the constructor).
    """
    copy: Callable[..., T] = copier(type(instance), tuple(changes))
    return copy(instance, *changes.values())


def _move(
    order: Order,
    wanted: Mapping[str, int],
    sources: tuple[LineStatus, ...],
    target: LineStatus,
    path: str,
) -> tuple[tuple[OrderLine, ...], dict[str, int]]:
    """Move ``wanted`` units per line from ``sources`` (in order) into ``target``.

    Builds new lines only; raises :class:`ValidationError` naming ``path[line_id]`` for
    an unknown line or more units than the sources hold (nothing is changed then).
    """
    skus: dict[str, int] = {}
    lines = []
    found = 0
    for line in order.lines:
        qty = wanted.get(line.line_id)
        if not qty:
            lines.append(line)
            continue
        found += 1
        buckets = line.quantities.copy()
        left = qty
        for source in sources:
            take = left if left <= buckets[source] else buckets[source]
            buckets[source] -= take
            left -= take
        if left:
            names = "/".join(s.value for s in sources)
            raise ValidationError(
                f"{path}[{line.line_id!r}]", qty, f"only {qty - left} unit(s) are {names}"
            )
        buckets[target] += qty
        lines.append(_line_with_quantities(line, buckets))
        skus[line.sku] = skus.get(line.sku, 0) + qty
    if found != len(wanted):
        known = {line.line_id for line in order.lines}
        for line_id in wanted:
            if line_id not in known:
                raise ValidationError(
                    f"{path}[{line_id!r}]", line_id, f"order {order.order_id} has no such line"
                )
    return tuple(lines), skus


def _open_lines(order: Order) -> dict[str, int]:
    return {ln.line_id: ln.quantities[_OPEN] for ln in order.lines if ln.quantities[_OPEN]}


def _shipping(
    order: Order, data: Mapping[str, Any]
) -> tuple[tuple[OrderLine, ...], dict[str, int], dict[str, int]]:
    """What a ``ship`` with ``data`` moves: ``(lines, units by line id, units by sku)``;
    the units by line id are a fresh dict the shipment can own."""
    wanted: Mapping[str, int] | None = data.get("lines")
    if wanted is None:
        # Ship everything still open: nothing to check against the buckets.
        return _ship_all_open(order)
    lines, skus = _move(order, wanted, (_OPEN,), _SHIPPED, "data.lines")
    return lines, dict(wanted), skus


def _ship_all_open(
    order: Order,
) -> tuple[tuple[OrderLine, ...], dict[str, int], dict[str, int]]:
    """Every open unit moved to SHIPPED: ``(lines, units by line id, units by sku)``;
    what :func:`_move` gives for ``wanted`` = every line's open units, without the checks
    that cannot fail when the units are read from the buckets themselves."""
    if len(order.lines) == 1 and (units := (line := order.lines[0]).quantities[_OPEN]):
        # The usual single-line order, without the loop.
        return (_all_shipped(line, units),), {line.line_id: units}, {line.sku: units}
    lines = []
    moved: dict[str, int] = {}
    skus: dict[str, int] = {}
    for line in order.lines:
        units = line.quantities[_OPEN]
        if not units:
            lines.append(line)
            continue
        lines.append(_all_shipped(line, units))
        moved[line.line_id] = units
        skus[line.sku] = skus.get(line.sku, 0) + units
    return tuple(lines), moved, skus


def _all_shipped(line: OrderLine, units: int) -> OrderLine:
    """``line`` with its ``units`` open units (all of them) moved to SHIPPED."""
    buckets = line.quantities.copy()
    buckets[_OPEN] = 0
    buckets[_SHIPPED] += units
    return _line_with_quantities(line, buckets)


def _units(lines: Mapping[str, int]) -> str:
    if len(lines) == 1:  # the usual single-line shipment: no list, no join
        for line_id, qty in lines.items():
            return f"{line_id}x{qty}"
    return ", ".join([f"{k}x{v}" for k, v in lines.items()])


def _address_text(address: Address | None) -> str:
    if address is None:
        return ""
    return " ".join(
        p
        for p in (
            address.name,
            address.phone,
            address.province,
            address.city,
            address.district,
            address.street,
            address.postcode,
        )
        if p
    )


def _approver(data: Mapping[str, Any]) -> str | None:
    approver = data.get("approved_by")
    return approver if isinstance(approver, str) and approver else None


# --- event data validation -------------------------------------------------------------------


def _money(order: Order, data: Mapping[str, Any], key: str) -> None:
    value = data.get(key)
    if not isinstance(value, Money):
        raise ValidationError(f"data.{key}", value, "expected Money")
    if value.currency != order.currency:
        raise ValidationError(
            f"data.{key}.currency", value.currency, f"order {order.order_id} is in {order.currency}"
        )
    if value.amount < 0:
        raise ValidationError(f"data.{key}.amount", value.amount, "must be >= 0")


def _text(data: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    value = data.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"data.{key}", value, "expected a non-empty string")


def _text_length(data: Mapping[str, Any], key: str) -> None:
    """``data[key]`` (when present), as text, fits a record's text field."""
    value = data.get(key)
    if value is not None and len(value if isinstance(value, str) else str(value)) > TEXT_LIMIT:
        raise ValidationError(f"data.{key}", value, f"longer than {TEXT_LIMIT} characters")


def _lines(data: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    if key not in data and not required:
        return
    check.quantity_map(f"data.{key}")(data.get(key))
    if required and not data[key]:
        raise ValidationError(f"data.{key}", data[key], "name at least one line")


def _v_pay(order: Order, data: Mapping[str, Any]) -> None:
    amount = data.get("amount")
    if not (
        type(amount) is Money
        and amount.currency == order.currency
        and not amount.amount.is_signed()
    ):
        _money(order, data, "amount")  # raises naming the field (or passes a subclass, -0)
    if len(data) > 1:
        # The payment stores them as text: as long as a Payment accepts.
        _text_length(data, "method")
        _text_length(data, "reference")


def _v_ship(order: Order, data: Mapping[str, Any]) -> None:
    carrier = data.get("carrier")
    waybill = data.get("waybill")
    if not (
        type(carrier) is str
        and carrier.strip()
        and len(carrier) <= TEXT_LIMIT
        and type(waybill) is str
        and waybill.strip()
        and len(waybill) <= TEXT_LIMIT
    ):
        _text(data, "carrier")  # raises naming the field (or passes a str subclass)
        _text(data, "waybill")
        _text_length(data, "carrier")  # the shipment keeps them
        _text_length(data, "waybill")
    if "lines" in data:
        _lines(data, "lines", required=False)


def _v_track(order: Order, data: Mapping[str, Any]) -> None:
    check.enum_member(TrackingStatus, "data.status")(data.get("status"))
    check.aware("data.carrier_time")(data.get("carrier_time"))
    _text(data, "waybill", required=False)


def _v_cancel_lines(order: Order, data: Mapping[str, Any]) -> None:
    _lines(data, "lines")


def _v_refund(order: Order, data: Mapping[str, Any]) -> None:
    _money(order, data, "amount")
    _lines(data, "lines", required=False)


def _v_hold(order: Order, data: Mapping[str, Any]) -> None:
    _text(data, "kind")
    if len(data["kind"]) > 64:
        raise ValidationError("data.kind", data["kind"], "longer than 64 characters")


def _v_change_address(order: Order, data: Mapping[str, Any]) -> None:
    if not isinstance(data.get("address"), Address):
        raise ValidationError("data.address", data.get("address"), "expected an Address")


def _v_change_price(order: Order, data: Mapping[str, Any]) -> None:
    _text(data, "line_id")
    order.line(data["line_id"])
    _money(order, data, "unit_price")


_VALIDATORS: dict[str, Callable[[Order, Mapping[str, Any]], None]] = {
    "pay": _v_pay,
    "ship": _v_ship,
    "track": _v_track,
    "cancel_lines": _v_cancel_lines,
    "refund": _v_refund,
    "hold": _v_hold,
    "release_hold": _v_hold,
    "change_address": _v_change_address,
    "change_price": _v_change_price,
}


# --- trusted constructors for the engine's own outputs ---------------------------------------
# Built once at import (code generation only, no I/O). They take every field positionally;
# the engine's outputs have no validators or converters, so these build exactly what
# their constructors build.

_new_transition: Callable[
    [Order, bool, tuple[DomainEvent, ...], tuple[AuditEntry, ...], str | None], Transition
] = builder(Transition)
_new_audit_entry: Callable[..., AuditEntry] = builder(AuditEntry)
_new_status_changed: Callable[[str, str, datetime, str, int, int], StatusChanged] = builder(
    StatusChanged
)

# Whole results in one generated call each (see ``orderkit._build.assemble``): the new
# order, its domain events, its audit entry and the transition holding them. Every one
# ends with ``_result``'s two parts and takes ``_APPLIED``'s parameters last: the event,
# the table row applied, the actor's id and the clock's time; ``_FROM_APPLIED`` names what
# the parts read from them.
_APPLIED: Final = ("event", "row", "actor", "now")
_FROM_APPLIED: Final = {
    "event_id": "event.event_id",
    "name": "event.name",
    "at": "event.at",
    "source": "row.source",
    "target": "row.target",
}


def _result(order_id: str, events: str, changes: str, approved_by: str = "None") -> list[Part]:
    """The audit entry and the transition of an applied event, as an assembler's last
    parts: the new order is ``new``; ``order_id``, ``events``, ``changes`` and
    ``approved_by`` are expressions; the rest are ``_FROM_APPLIED`` names."""
    entry = {
        "order_id": order_id,
        "event_id": "event_id",
        "event": "name",
        "actor": "actor",
        "at": "now",
        "event_at": "at",
        "from_status": "source",
        "to_status": "target",
        "outcome": "'applied'",
        "changes": changes,
        "reason": "''",
        "approved_by": approved_by,
    }
    result = {
        "order": "new",
        "changed": "True",
        "events": events,
        "audit": "(entry,)",
        "ignored": "None",
    }
    return [Part("entry", AuditEntry, entry), Part("result", Transition, result)]


#: (new order, events, order id, audit changes, approver, *_APPLIED): any applied event.
_applied: Callable[..., Transition] = assemble(
    ("new", "events", "order_id", "changes", "approved_by", *_APPLIED),
    _result("order_id", "events", "changes", "approved_by"),
    "result",
    bindings=_FROM_APPLIED,
)
#: What a table row (the parameter ``row``) writes when it moves the status, and keeps
#: when it does not: the order's status fields and a ``StatusChanged`` named ``changed``
#: (``None`` for a row that keeps the status).
_ROW_STATUS: Final = {
    "status": "row.new_status if row.moves else order.status",
    "status_since": "at if row.moves else order.status_since",
}
_ROW_CHANGED: Final = Part(
    "changed",
    StatusChanged,
    {
        "order_id": "order.order_id",
        "event_id": "event_id",
        "at": "now",
        "event": "name",
        "from_status": "order.status",
        "to_status": "row.new_status",
    },
    when="row.moves",
)
#: (order, ids, version, *_APPLIED): a status-only event whose row moves the status
#: (``pack``, ``deliver``, ``complete``, a host's own).
_moved: Callable[..., Transition] = assemble(
    ("order", "ids", "version", *_APPLIED),
    [
        Part(
            "new",
            Order,
            {
                "status": "row.new_status",
                "status_since": "at",
                "applied_event_ids": "ids",
                "version": "version",
            },
            copy_of="order",
        ),
        attrs.evolve(_ROW_CHANGED, when=None),
        *_result("order.order_id", "(changed,)", "()"),
    ],
    "result",
    bindings=_FROM_APPLIED,
)
#: (order, amount, method, reference, ids, version, *_APPLIED): ``pay`` (see
#: ``_pay_fast``).
_paid: Callable[..., Transition] = assemble(
    ("order", "amount", "method", "reference", "ids", "version", *_APPLIED),
    [
        Part(
            "payment",
            Payment,
            {
                "payment_id": "event_id",
                "amount": "amount",
                "at": "at",
                "method": "method",
                "kind": "_PAYMENT",
                "reference": "reference",
                "lines": "{}",
            },
        ),
        Part(
            "new",
            Order,
            {
                **_ROW_STATUS,
                "payments": "(*order.payments, payment)",
                "paid_at": "at",
                "applied_event_ids": "ids",
                "version": "version",
            },
            copy_of="order",
        ),
        Part(
            "received",
            PaymentReceived,
            {"order_id": "order.order_id", "event_id": "event_id", "at": "now", "amount": "amount"},
        ),
        _ROW_CHANGED,
        *_result(
            "order.order_id",
            "(received,) if changed is None else (received, changed)",
            "(('paid', '', str(amount)),)",
        ),
    ],
    "result",
    bindings=_FROM_APPLIED,
    constants={"_PAYMENT": _PAYMENT},
)
#: (order, carrier, waybill, lines, units by line, units by sku, audit text, ids, version,
#: *_APPLIED): ``ship`` (see ``_ship_fast``).
_shipped: Callable[..., Transition] = assemble(
    (
        "order",
        "carrier",
        "waybill",
        "lines",
        "moved",
        "skus",
        "units",
        "ids",
        "version",
        *_APPLIED,
    ),
    [
        Part(
            "shipment",
            Shipment,
            {
                "shipment_id": "event_id",
                "carrier": "carrier",
                "waybill": "waybill",
                "lines": "moved",
                "shipped_at": "at",
                "first_scan_at": "None",
                "events": "()",
            },
        ),
        Part(
            "new",
            Order,
            {
                **_ROW_STATUS,
                "lines": "lines",
                "shipments": "(*order.shipments, shipment)",
                "applied_event_ids": "ids",
                "version": "version",
            },
            copy_of="order",
        ),
        Part(
            "shipped",
            LinesShipped,
            {
                "order_id": "order.order_id",
                "event_id": "event_id",
                "at": "now",
                "shipment_id": "event_id",
                "waybill": "waybill",
                "lines": "dict(moved)",
                "skus": "skus",
                "forced": "False",
            },
        ),
        _ROW_CHANGED,
        *_result(
            "order.order_id",
            "(shipped,) if changed is None else (shipped, changed)",
            "(('shipped', '', units),)",
        ),
    ],
    "result",
    bindings=_FROM_APPLIED,
)
#: ``Order`` copy for a status-only event whose row keeps the status: (src, ids, version).
_order_touched: Callable[[Order, tuple[str, ...], int], Order] = copier(
    Order, ("applied_event_ids", "version")
)
_new_payment_received: Callable[[str, str, datetime, Money], PaymentReceived] = builder(
    PaymentReceived
)
_new_lines_shipped: Callable[..., LinesShipped] = builder(LinesShipped)
#: The payments and shipments the generic handlers create from already-checked event data
#: (every field, positionally in declaration order or by name).
_new_payment: Callable[..., Payment] = builder(Payment)
_new_shipment: Callable[..., Shipment] = builder(Shipment)
#: A line with new bucket quantities (checked by ``_move``): (src, quantities).
_line_with_quantities: Callable[[OrderLine, dict[LineStatus, int]], OrderLine] = copier(
    OrderLine, ("quantities",)
)
