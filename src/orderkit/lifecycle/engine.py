"""The engine: apply one :class:`~orderkit.lifecycle.Event` to one order, purely.

:meth:`Lifecycle.apply` reads nothing and writes nothing. It returns a
:class:`Transition`: the new order (a new immutable value, ``version`` + 1), the domain
events for the host to publish and the audit entries for the host to store. The host
saves the order and the audit together with optimistic concurrency and then publishes
the events; :class:`~orderkit.lifecycle.OrderService` does exactly that.

``apply`` has one path: check the event data (:mod:`orderkit.lifecycle.validation`),
choose the table row, run the event's handler (:mod:`orderkit.lifecycle.handlers`),
evolve the order with ``attrs.evolve`` (so every field goes through the order's own
validators) and return the :class:`Transition`.

Rules the engine keeps, whatever the table says:

* **Idempotent by event id, forever.** The order keeps the id of every event applied to
  it in ``Order.applied_event_ids``. Re-applying one of them returns ``changed=False``
  with no events and no audit, after the same policy check as the first time: an actor
  who may not apply the event gets :class:`NotPermitted`, not the order. A ``pay`` or
  ``refund`` replayed with other data than the payment it recorded under its id (another
  amount, other lines, the other kind) is refused with :class:`IdempotencyConflict`
  naming the fields; other events are not compared (their data is not kept). A host may
  bound an order's history with ``remember``: an order that reached the bound refuses
  new events with :class:`TransitionNotAllowed` instead of forgetting an id.
* **Money is also known by its reference.** A ``pay`` or ``refund`` under a new id
  whose non-empty ``data["reference"]`` (the gateway's transaction number, the
  platform's refund number) a payment of the same kind on the order already carries
  is that money told again: with the same amount (and the same lines, when it names
  lines) it is recorded as ignored, a duplicate of the earlier event, whatever the
  status; with other money it is refused with :class:`IdempotencyConflict` keyed by
  the reference. An empty reference never makes a duplicate. A ``refund`` of the
  amount of a refund recorded as money only under its reference, naming lines, gives
  it those units: the handler takes back that refund's concessions and refunds the
  units, with no new money (:class:`~orderkit.lifecycle.RefundLinesAssigned`).
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
* **Goods do not move before the order exists.** A ``ship``, ``deliver`` or carrier
  scan dated (or, for a scan, timed by the carrier) before ``Order.created_at`` is
  refused with :class:`ValidationError` naming ``at`` (or ``data.carrier_time``).
* **Whichever row moves it, an order fits its new status.** Open units never move to
  a status where no event can ship or cancel them (DELIVERED, a final status), and
  nothing moves to PAID with money still due: a host's row that would is refused, as
  ``deliver [nothing_open]`` and ``pay [pays_in_full]`` are.
* **No order ends owing what nobody can collect.** A decision that moves an order to a
  final status with money still due and no unit left sold waives what is left, the
  order's own shipping and rounding up (a SHIPPING_CONCESSION, then a negative
  ROUNDING, borne by the merchant); with units still sold it is refused unless a
  ``pay`` in that status can still settle it (cash on delivery completed unpaid).
  :func:`settle_ending` is that rule; placing an order ended already keeps it too.
* **A warehouse hears what it may pick.** After every decision the order before and
  after are compared (:func:`~orderkit.lifecycle.readiness.readiness`, added in 0.3): a
  :class:`~orderkit.lifecycle.ReadyToShip` when what it may ship changed while it may
  ship, a :class:`~orderkit.lifecycle.NotReadyToShip` when it no longer may without
  having shipped everything. Replays and ignored events say nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from orderkit.lifecycle.events import DomainEvent, Event, RefundDue, StatusChanged
from orderkit.lifecycle.handlers import (
    HANDLERS,
    Effect,
    Step,
    approver,
    charges_back,
    units_text,
)
from orderkit.lifecycle.policy import Policy
from orderkit.lifecycle.readiness import readiness
from orderkit.lifecycle.refunds import (
    is_reclass,
    owed_between,
    recorded_by_reference,
    refund_fields,
)
from orderkit.lifecycle.table import (
    DEFAULT_TABLE,
    Rule,
    TransitionTable,
    blocking_holds,
    repeated_parcel,
)
from orderkit.lifecycle.validation import CHECKS
from orderkit.model.audit import AuditEntry, Change
from orderkit.model.errors import (
    AddressLocked,
    IdempotencyConflict,
    OrderkitError,
    TransitionNotAllowed,
    ValidationError,
)
from orderkit.model.money import Money
from orderkit.model.orders import (
    Adjustment,
    Order,
    OrderStatus,
    Payment,
    PaymentKind,
    status_code,
)
from orderkit.model.ship_dates import checked_ship_from_tz
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, Clock, SystemClock, checked_now

__all__ = ["Lifecycle", "Transition"]

_ADDRESS_LOCKED_FROM: Final = OrderStatus.PACKED
_NO_EFFECT: Final = Effect()


@attrs.frozen
class Transition:
    """The outcome of :meth:`Lifecycle.apply`.

    ``order`` is the new order (the same object when nothing changed), ``changed``
    whether it differs, ``events`` the domain events to publish, ``audit`` the entries to
    store; ``ignored`` is the reason when a stale event, or a payment told again under
    a new id (its reference), was recorded and ignored.
    """

    order: Order
    changed: bool
    events: tuple[DomainEvent, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    ignored: str | None = None


class Lifecycle:
    """Applies events to orders through a :class:`TransitionTable`.

    ``clock`` only stamps when audit entries and domain events were written (a domain
    event's ``at``; its ``occurred_at`` is the event's own time); every decision uses
    the event's own time (``event.at``), so replaying a stream on any day gives the
    same orders. ``address_edit_window`` is how long after payment (by event
    time) the buyer may change the address without an approver;
    ``after_sale_window`` (7 days by default) how long after delivery the buyer may ask
    for a return; ``policy`` checks roles, regions and the two-person rule (default:
    allow everything); ``remember`` (default ``None``: no bound) is the most events an
    order may take: past it, new events are refused, never an id forgotten.

    Whenever a decision leaves the buyer owed more than before (units they paid for
    cancelled or returned, an overpayment, a price lowered after payment), the
    transition carries a :class:`~orderkit.lifecycle.RefundDue` naming the amount.
    """

    def __init__(
        self,
        table: TransitionTable = DEFAULT_TABLE,
        *,
        clock: Clock | None = None,
        address_edit_window: timedelta = timedelta(hours=2),
        policy: Policy | None = None,
        remember: int | None = None,
        after_sale_window: timedelta = timedelta(days=7),
    ) -> None:
        if not isinstance(table, TransitionTable):
            raise ValidationError("table", table, "expected a TransitionTable")
        if not isinstance(address_edit_window, timedelta) or address_edit_window < timedelta(0):
            raise ValidationError(
                "address_edit_window", address_edit_window, "expected a non-negative timedelta"
            )
        if not isinstance(after_sale_window, timedelta) or after_sale_window < timedelta(0):
            raise ValidationError(
                "after_sale_window", after_sale_window, "expected a non-negative timedelta"
            )
        if remember is not None and (
            isinstance(remember, bool) or not isinstance(remember, int) or remember < 1
        ):
            raise ValidationError("remember", remember, "expected an integer >= 1 or None")
        self.table = table
        self.clock: Clock = clock or SystemClock()
        self.address_edit_window = address_edit_window
        self.policy = policy or Policy.allow_all()
        self.remember = remember
        self.after_sale_window = after_sale_window

    def now(self) -> datetime:
        """The clock's time (added in 0.3), checked as the ledger and the idempotency
        guard check theirs: a host clock that gives a naive datetime is a
        :class:`ValidationError` naming ``clock.now()``."""
        return checked_now(self.clock)

    def apply(
        self, order: Order, event: Event, *, ship_from_tz: str = DEFAULT_ACCOUNTING_TZ
    ) -> Transition:
        """Apply ``event`` to ``order``; see the module docstring for the rules.

        ``ship_from_tz`` (an IANA zone name, added in 0.3) is the zone a presale's
        ship-from day begins in for its :class:`~orderkit.lifecycle.ReadyToShip`'s
        ``ship_due_at``: :class:`~orderkit.lifecycle.OrderService` passes its order
        repository's.

        Raises :class:`TransitionNotAllowed` (no row, or every guard failed),
        :class:`AddressLocked`, :class:`NotPermitted`, :class:`IdempotencyConflict` (a
        ``pay`` or ``refund`` id, or reference, told again with other money) and
        :class:`ValidationError` (an event the table does not have, naming
        ``event.name``; bad event data, naming ``data.<field>``; a zone that is none,
        naming ``ship_from_tz``). A refusal changes nothing; a ``pay`` or ``refund``
        telling recorded money again under a new id is recorded as ignored.
        """
        if not isinstance(order, Order):
            raise ValidationError("order", order, "expected an Order")
        if not isinstance(event, Event):
            raise ValidationError("event", event, "expected an Event")
        checked_ship_from_tz(ship_from_tz)
        name = event.name
        if name not in self.table.events:
            # Bad input, not a refusal: no status would take it (a typo, or a host's own
            # event the table was not extended with).
            raise ValidationError(
                "event.name", name,
                "no such event in the lifecycle table (it has: "
                + ", ".join(sorted(self.table.events)) + ")",
            )
        # An approver no store can hold is bad input: refused before the policy (whose
        # refusals are audited, approver and all) reads it.
        named = approver(event.data)
        # Every path checks the policy, a replay too: a replay returns the order, so only
        # someone who may apply the event gets it back.
        approved = self.policy.check(event.actor, order, name, event.data,
                                     event_id=event.event_id)
        if event.event_id in order.applied_event_ids:
            _refuse_another_replay(order, event)
            return Transition(order, False)
        check = CHECKS.get(name)
        if check is not None:
            check(order, event.data)
        _refuse_if_misdated(order, event)
        told = _told_again(order, event)
        if told is not None:
            return self._ignore(order, event, self.now(), told)
        rule = self._choose(order, event)
        now = self.now()
        if rule is None:
            return self._ignore(order, event, now, self._stale(order, event))
        handler = HANDLERS.get(name)
        effect = (
            _NO_EFFECT
            if handler is None
            else handler(
                Step(
                    order,
                    event,
                    rule,
                    now,
                    self.table,
                    self.address_edit_window,
                    self.after_sale_window,
                    self.policy,
                    approved.id if approved is not None else named,
                )
            )
        )
        fields = dict(effect.fields)
        events = list(effect.events)
        if rule.target != rule.source:
            fields["status"] = rule.target
            fields["status_since"] = event.at
            if rule.target == OrderStatus.DELIVERED and order.delivered_at is None:
                fields.setdefault("delivered_at", event.at)
            if rule.target == OrderStatus.PAID and order.paid_at is None:
                fields.setdefault("paid_at", event.at)  # paid by what was paid before
            events.append(
                StatusChanged(
                    order.order_id,
                    event.event_id,
                    now,
                    name,
                    order.status,
                    status_code(rule.target),
                )
            )
        new = attrs.evolve(
            order,
            applied_event_ids=self._remembered(order, event),
            version=order.version + 1,
            **fields,
        )
        if rule.target != rule.source:
            self._refuse_misfit(new, event, rule)
        changes = effect.changes
        if rule.target in self.table.final and new.due.amount > 0:
            waived, waiver = self._settle_ending(new, event, rule)
            fields["adjustments"] = (*new.adjustments, *waived)
            new = attrs.evolve(new, adjustments=fields["adjustments"])
            changes = (*changes, waiver)
        if _money_moved(order, new, fields):
            owed = new.refund_due - order.refund_due
            if owed.amount > 0:
                events.append(
                    RefundDue(order.order_id, event.event_id, now, owed, _left(order, new),
                              **refund_fields(owed_between(order, new)))
                )
        events.extend(readiness(order, new, event, now, self.table,
                                ship_from_tz=ship_from_tz))
        entry = AuditEntry(
            order.order_id,
            event.event_id,
            name,
            _actor_id(event),
            now,
            event.at,
            rule.source,
            rule.target,
            "applied",
            changes,
            "",
            effect.approved_by,
        )
        # Every fact is dated by the event that caused it (``occurred_at``), beside the
        # clock's ``at``: finance books it by the former.
        facts = tuple(attrs.evolve(fact, occurred_at=event.at) for fact in events)
        return Transition(new, True, facts, (entry,))

    def refusal(self, order: Order, event: Event, error: OrderkitError) -> AuditEntry:
        """The audit entry recording that ``event`` was refused with ``error``.

        The engine cannot store it (it does no I/O) and a refusal leaves no new order, so
        the host (:class:`~orderkit.lifecycle.OrderService`) stores it beside the order.
        """
        return AuditEntry(
            order.order_id,
            event.event_id,
            event.name,
            _actor_id(event),
            self.now(),
            event.at,
            int(order.status),
            int(order.status),
            "refused",
            (),
            f"{type(error).__name__}: {error.message}",
            approver(event.data) if isinstance(event.data, Mapping) else None,
        )

    # --- what a status promises ----------------------------------------------------------

    def _refuse_misfit(self, order: Order, event: Event, rule: Rule) -> None:
        """Refuse the move of ``order`` (as ``event`` leaves it) to the status ``rule``
        targets when it does not fit there, whichever row moves it: a host's rows are
        held to what the default rows' guards keep. Open units in a status where no
        event can ship or cancel them (:meth:`TransitionTable.can_ship_or_cancel`:
        DELIVERED, a final status) would keep their stock locked for ever
        (``deliver [nothing_open]``); a PAID order owes nothing (``pay
        [pays_in_full]``)."""
        target = self.table.name(rule.target)
        if not self.table.can_ship_or_cancel(rule.target) and order.open_units_by_sku:
            reason = f"{target} takes no ship and no cancel: {_open_units(order)}"
        elif rule.target == OrderStatus.PAID and order.due.amount > 0:
            reason = f"it would move the order to {target} with {order.due} still due"
        else:
            return
        raise TransitionNotAllowed(order.order_id, self.table.name(rule.source), event.name,
                                   reason)

    # --- ending with nothing left to collect ---------------------------------------------

    def _settle_ending(
        self, order: Order, event: Event, rule: Rule
    ) -> tuple[tuple[Adjustment, ...], Change]:
        """What settles ``order`` (after ``event``, in the final status ``rule`` moves
        it to) while it still owes something (:func:`settle_ending`, the waiver labelled
        by the event). Otherwise the event is refused: no order ends owing what no event
        can settle."""
        label = (f"refused on delivery {event.event_id}" if rule.guard == "refused_on_delivery"
                 else f"waived at {event.name} {event.event_id}")
        settled = settle_ending(order, self.table, rule.target, event.at, label)
        if settled is not None:
            return settled
        raise TransitionNotAllowed(
            order.order_id, self.table.name(rule.source), event.name,
            f"it would end the order in {self.table.name(rule.target)} with {order.due}"
            " still due that no event could settle",
        )

    # --- choosing the row ----------------------------------------------------------------

    def _choose(self, order: Order, event: Event) -> Rule | None:
        """The first row for the order's status whose guard passes; ``None`` when the
        event is stale here (recorded as ignored); raises when it is refused."""
        failed: list[str] = []  # the guards that said no, for the refusal's reason
        for rule in self.table.candidates(order.status, event.name):
            if rule.guard is None or self.table.guards[rule.guard](order, event):
                return rule
            failed.append(rule.guard)
        status = order.status
        name = event.name
        if self.table.stale_reason(status, name) is not None:
            return None
        if name == "change_address" and status >= _ADDRESS_LOCKED_FROM:
            raise AddressLocked(
                order.order_id, self.table.name(status), "the parcel may already be labelled"
            )
        if failed:
            reason = "guard " + ", ".join(failed) + " failed" + _details(order, event, failed)
            raise TransitionNotAllowed(order.order_id, self.table.name(status), name, reason)
        raise TransitionNotAllowed(order.order_id, self.table.name(status), name)

    def _stale(self, order: Order, event: Event) -> str:
        """Why ``event`` is stale for ``order``'s status: the table's reason and what
        the guards that did not pass say."""
        return (self.table.stale_reason(order.status, event.name) or "stale") + _details(
            order, event,
            [rule.guard for rule in self.table.candidates(order.status, event.name)
             if rule.guard],
        )

    def _ignore(self, order: Order, event: Event, now: datetime, reason: str) -> Transition:
        """``event`` recorded as ignored for ``reason``: its id remembered, nothing
        else changed, nothing emitted."""
        entry = AuditEntry(
            order.order_id,
            event.event_id,
            event.name,
            _actor_id(event),
            now,
            event.at,
            int(order.status),
            int(order.status),
            "ignored",
            (),
            reason,
        )
        new = attrs.evolve(
            order,
            applied_event_ids=self._remembered(order, event),
            version=order.version + 1,
        )
        return Transition(new, True, (), (entry,), reason)

    def _remembered(self, order: Order, event: Event) -> tuple[str, ...]:
        """The order's applied event ids with ``event``'s added; an order at the
        ``remember`` bound refuses the event rather than forget an id."""
        ids = order.applied_event_ids
        if self.remember is not None and len(ids) >= self.remember:
            raise TransitionNotAllowed(
                order.order_id,
                self.table.name(order.status),
                event.name,
                f"the order has taken {len(ids)} events, the lifecycle's bound (remember)",
            )
        return (*ids, event.event_id)


#: The events that record their money on the order, under their event id.
_PAYMENT_KINDS: Final = {"pay": PaymentKind.PAYMENT, "refund": PaymentKind.REFUND}


def _refuse_another_replay(order: Order, event: Event) -> None:
    """Refuse a ``pay`` or ``refund`` whose id the order applied with other data: the
    payment it recorded under that id is of the other kind, of another amount, or (a
    refund naming lines) covers other lines. A replay of the same event passes, and so
    does one of any other event: only a payment keeps its event's data on the order, so
    comparing costs no read."""
    kind = _PAYMENT_KINDS.get(event.name)
    if kind is None:
        return
    recorded = next((p for p in order.payments if p.payment_id == event.event_id), None)
    if recorded is None:
        return  # ignored as stale: nothing recorded to compare with
    fields = ["event.name"] if recorded.kind is not kind else _differing(recorded, event.data)
    if fields:
        raise IdempotencyConflict(event.event_id, fields)


def _told_again(order: Order, event: Event) -> str | None:
    """Why ``event`` (a ``pay`` or ``refund`` under an id the order has not applied,
    its data checked) is money the order already recorded, or ``None``: a payment of
    its kind on ``order`` carries its non-empty ``data["reference"]`` (a gateway's
    transaction number or a platform's refund number names one payment or refund), of
    the same amount and, when the event names lines, the same lines. Refuses it with
    :class:`IdempotencyConflict` (keyed by the reference, naming both amounts) when
    that payment moved other money. A ``refund`` naming the lines of a refund recorded
    as money only, of its amount, is neither: it gives that refund its units
    (:func:`~orderkit.lifecycle.refunds.is_reclass`)."""
    kind = _PAYMENT_KINDS.get(event.name)
    if kind is None:
        return None
    data = event.data
    reference: str = data.get("reference") or ""  # checked: text when given
    recorded = recorded_by_reference(order, kind, reference)
    if recorded is None or is_reclass(recorded, event):
        # None recorded, or the units of the refund recorded as money only: the refund
        # handler gives them to it.
        return None
    said = f"{recorded.amount}" + (f" for lines {units_text(recorded.lines)}" if recorded.lines
                                   else "")
    fields = _differing(recorded, data)
    if fields:
        lines = data.get("lines")
        asked = f"{data['amount']}" + (f" for lines {units_text(lines)}" if lines else "")
        raise IdempotencyConflict(
            reference, fields,
            f"data.reference {reference} is {event.name} {recorded.payment_id}'s, of"
            f" {said}: event {event.event_id} says {asked}",
        )
    return (f"a duplicate of {event.name} {recorded.payment_id} (data.reference {reference},"
            f" {said}): the same money told again")


def settle_ending(
    order: Order, table: TransitionTable, status: int, at: datetime, label: str
) -> tuple[tuple[Adjustment, ...], Change] | None:
    """How ``order``, ending in the final ``status`` (at ``at``) while it still owes
    ``order.due``, settles it, as the adjustments to add and the audit change saying
    so; ``None`` when nothing can. With no unit left sold, what it owes is the order's
    own shipping (and rounding up) that nobody will collect from an ended order, waived
    by the merchant (a SHIPPING_CONCESSION, then a negative ROUNDING, labelled
    ``label``); with units still sold, nothing is added when a ``pay`` in ``status``
    can still settle it (cash on delivery money collected after completion). The one
    rule for an ending: the lifecycle's decisions and
    :meth:`~orderkit.lifecycle.OrderService.place_many` (an order placed ended) keep
    it."""
    due = order.due
    if not any(order.sold_units.values()):
        shipping = max(order.shipping_standing, Money.zero(due.currency))
        waived = charges_back(due, shipping, label)
        settled = attrs.evolve(order, adjustments=(*order.adjustments, *waived))
        if not settled.due.amount:  # waiving adds adjustments, never sold units
            return tuple(waived), ("shipping_waived", "", str(due))
    elif table.collects(order, status, at):
        return (), ("due", "", str(due))
    return None


def _differing(recorded: Payment, data: Mapping[str, Any]) -> list[str]:
    """The fields of a ``pay`` or ``refund``'s ``data`` that say other money than
    ``recorded``: its amount, and its lines when it names lines."""
    fields = [] if data.get("amount") == recorded.amount else ["data.amount"]
    lines = data.get("lines")
    if lines is not None and (not isinstance(lines, Mapping)
                              or dict(lines) != dict(recorded.lines)):
        fields.append("data.lines")
    return fields


#: The events whose time says when goods moved: a shipment's ``shipped_at`` (which the
#: stock count compares), a carrier scan's time, ``delivered_at`` (where the after-sales
#: window starts).
_GOODS_MOVED: Final = frozenset({"ship", "track", "deliver"})


def dated_before_creation(
    order: Order, path: str, when: datetime, what: str
) -> ValidationError | None:
    """The refusal of ``when`` (the value at ``path``) when it is earlier than ``order``
    was created (``None`` when it is not): ``what`` says what does not happen to an order
    before it exists. The lifecycle and :meth:`OrderService.reserve` judge by it."""
    if when >= order.created_at:
        return None
    return ValidationError(
        path, when,
        f"before the order was created ({order.created_at.isoformat()}): {what}"
        " (is the sender's clock or time zone wrong?)",
    )


#: How far a carrier's clock may run ahead of the event that reports its scan: a scan's
#: ``carrier_time`` later than the event's own time by more is refused.
CARRIER_CLOCK_SKEW: Final = timedelta(minutes=5)


def _refuse_if_misdated(order: Order, event: Event) -> None:
    """Refuse an event that dates goods moving before the order was created (a ``ship``,
    a ``deliver``, a carrier scan by its ``at`` or its carrier's time), or a carrier
    scan timed after the event reporting it (beyond :data:`CARRIER_CLOCK_SKEW`): the
    stock would book the units as gone before a stock count taken after the order, and
    the after-sales window would run from before the order existed, or from a delivery
    still to come."""
    if event.name not in _GOODS_MOVED:
        return
    times = [("at", event.at)]
    if event.name == "track":
        times.append(("data.carrier_time", event.data["carrier_time"]))  # checked: aware
    for path, when in times:
        refusal = dated_before_creation(order, path, when,
                                        "goods of an order do not move before it exists")
        if refusal is not None:
            raise refusal
    if event.name == "track" and times[1][1] > event.at + CARRIER_CLOCK_SKEW:
        raise ValidationError(
            "data.carrier_time", times[1][1],
            f"later than the event reporting the scan ({event.at.isoformat()}) by more"
            f" than the {CARRIER_CLOCK_SKEW} a carrier's clock may run ahead: a scan is"
            " reported after it happens (is the carrier's clock or time zone wrong?)",
        )


def _holds(order: Order, event: Event) -> str | None:
    held = blocking_holds(order, event)
    return "holds: " + ", ".join(h.kind for h in held) if held else None


def _open_units(order: Order, _event: Event | None = None) -> str:
    return (f"open units {order.open_units} (line id: units) still to ship: ship or cancel"
            " them first")


def _nothing_to_ship(_order: Order, _event: Event) -> str:
    return "nothing is left to ship: every unit left or left the sale"


def _repeat(order: Order, event: Event) -> str | None:
    parcel = repeated_parcel(order, event)
    if parcel is None:
        return None
    units = units_text(parcel.lines)
    return (f"waybill {parcel.waybill} already carries {units} (shipment"
            f" {parcel.shipment_id}): a repeat of that parcel")


#: What the order shows that made a guard of the default table say no, for a refusal.
_GUARD_DETAILS: Final[Mapping[str, Callable[[Order, Event], str | None]]] = {
    "no_holds": _holds,
    "on_delivery_no_holds": _holds,
    "nothing_open": _open_units,
    "has_open_units": _nothing_to_ship,
    "new_parcel": _repeat,
}


def _details(order: Order, event: Event, guards: Sequence[str]) -> str:
    """What the ``guards`` that did not pass say about ``order`` and ``event``, each as
    `` (detail)``: the words a refusal or an ignored event's reason ends with."""
    details = [explain(order, event) for guard in guards
               if (explain := _GUARD_DETAILS.get(guard)) is not None]
    return "".join(f" ({detail})" for detail in details if detail is not None)


def _actor_id(event: Event) -> str | None:
    return None if event.actor is None else event.actor.id


def _left(before: Order, after: Order) -> dict[str, int]:
    """Units that stopped being sold between ``before`` and ``after``, by line id."""
    now = after.sold_units
    return {
        line_id: units - now.get(line_id, 0)
        for line_id, units in before.sold_units.items()
        if units > now.get(line_id, 0)
    }


def _money_moved(before: Order, after: Order, fields: Mapping[str, object]) -> bool:
    """Whether the change can change what the buyer is owed: a payment, an adjustment,
    or lines whose prices or units still sold changed (a shipment moves units from open
    to shipped, which changes neither)."""
    if "payments" in fields or "adjustments" in fields:
        return True
    if "lines" not in fields:
        return False
    return before.sold_units != after.sold_units or any(
        old.unit_price != new.unit_price
        for old, new in zip(before.lines, after.lines, strict=True)
    )
