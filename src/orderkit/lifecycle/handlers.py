"""What each event does to an order: one plain function per event.

A handler receives a :class:`Step` (the order, the event, the table row chosen, the
clock's time and the lifecycle's settings) whose event data the engine has already
checked (:mod:`orderkit.lifecycle.validation`), and returns an :class:`Effect`: the
order fields to change, the domain events to emit and the audit changes to record. It
reads nothing and writes nothing; the engine applies the effect with ``attrs.evolve``, so
every new value goes through the canonical types' own validators.

Events without a handler (``pack``, ``deliver``, ``complete`` and a host's own events)
only move the status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypedDict

import attrs

from orderkit.lifecycle.events import (
    AddressChanged,
    DomainEvent,
    Event,
    HoldPlaced,
    HoldReleased,
    LinesCancelled,
    LinesShipped,
    LinesUnshipped,
    OrderCancelled,
    Overpaid,
    PaymentReceived,
    PaymentShort,
    PriceChanged,
    ReceivableDue,
    Refunded,
    RefundLinesAssigned,
    ReturnCancelled,
    ReturnReceived,
    ReturnRequested,
    TrackingRecorded,
)
from orderkit.lifecycle.parcels import scan_target, scanned_parcel
from orderkit.lifecycle.policy import Actor, Policy, named_approver
from orderkit.lifecycle.refunds import (
    reclassed_refund,
    refund_fields,
    refund_label,
    refund_value,
    repriced_left,
    unrefunded,
)
from orderkit.lifecycle.table import (
    Rule,
    TransitionTable,
    blocking_holds,
    refund_lines,
    refund_moves_on,
)
from orderkit.model.audit import Change
from orderkit.model.errors import (
    AddressLocked,
    NotPermitted,
    TransitionNotAllowed,
    ValidationError,
)
from orderkit.model.money import Money
from orderkit.model.orders import (
    Address,
    Adjustment,
    AdjustmentKind,
    Bearer,
    CarrierScan,
    Hold,
    HoldKind,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentKind,
    RefundValue,
    Return,
    Shipment,
    SoldValue,
    status_code,
)

__all__ = ["HANDLERS", "Effect", "Handler", "Step", "approver", "charges_back", "refund_label"]

_OPEN: Final = LineStatus.OPEN
_SHIPPED: Final = LineStatus.SHIPPED
_CANCELLED: Final = LineStatus.CANCELLED
_RETURNED: Final = LineStatus.RETURNED
_REFUNDED: Final = LineStatus.REFUNDED
_PRE_SHIP: Final = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.PACKED})


@attrs.frozen
class Step:
    """Everything a handler may read: the order before the event, the event, the table
    row chosen for it, the clock's time and the lifecycle's settings."""

    order: Order
    event: Event
    rule: Rule
    now: datetime
    table: TransitionTable
    address_edit_window: timedelta
    after_sale_window: timedelta
    policy: Policy
    approved_by: str | None = None
    """Who approved the event: the policy's checked approver, else the id named in
    ``data["approved_by"]``."""

    def refuse(self, reason: str) -> TransitionNotAllowed:
        """The error refusing this step's event with ``reason``."""
        order = self.order
        return TransitionNotAllowed(
            order.order_id, self.table.name(order.status), self.event.name, reason
        )


@attrs.frozen
class Effect:
    """What a handler decided: ``fields`` of the order to change, domain ``events`` to
    emit (dated ``at`` the step's clock; the engine gives each the event's own time as
    ``occurred_at``), ``changes`` for the audit entry, and who approved it
    (``approved_by``)."""

    fields: Mapping[str, Any] = attrs.Factory(dict)
    events: tuple[DomainEvent, ...] = ()
    changes: tuple[Change, ...] = ()
    approved_by: str | None = None


Handler = Callable[[Step], Effect]


def approver(data: Mapping[str, Any]) -> str | None:
    """The id of the ``approved_by`` named in event data (an :class:`Actor` or an id),
    or ``None``; a :class:`ValidationError` on ``data.approved_by`` for one that is no
    actor id (:func:`~orderkit.lifecycle.policy.named_approver`)."""
    value = named_approver(data)
    return value.id if isinstance(value, Actor) else value


# --- one handler per event -------------------------------------------------------------------


def pay(step: Step) -> Effect:
    """Record the payment against what is due: exact makes the order PAID (the table's
    ``pays_in_full`` row); short keeps it unpaid with a :class:`PaymentShort` (later
    payments add up); over makes it PAID, held for payment review, with an
    :class:`Overpaid` naming the excess."""
    order, event = step.order, step.event
    amount: Money = event.data["amount"]
    due = order.due
    payment = Payment(
        event.event_id,
        amount,
        event.at,
        method=event.data.get("method") or "",  # checked: text when given
        kind=PaymentKind.PAYMENT,
        reference=event.data.get("reference") or "",
    )
    fields: dict[str, Any] = {"payments": (*order.payments, payment)}
    events: list[DomainEvent] = [PaymentReceived(order.order_id, event.event_id, step.now,
                                                 amount, payment.method, payment.reference)]
    if amount < due:
        events.append(
            PaymentShort(order.order_id, event.event_id, step.now, due, amount, due - amount)
        )
    else:
        fields["paid_at"] = event.at
        if amount > due:
            events.append(Overpaid(order.order_id, event.event_id, step.now, amount - due))
            if order.hold(HoldKind.PAYMENT_REVIEW) is None:
                excess = f"overpaid by {amount - due}"
                review = Hold(HoldKind.PAYMENT_REVIEW, "system", event.at, excess)
                fields["holds"] = (*order.holds, review)
    return Effect(fields, tuple(events), (("paid", "", str(amount)),))


def ship(step: Step) -> Effect:
    """Move the named units (default: every open unit) to SHIPPED on a new shipment.

    A held order ships nothing (:func:`~orderkit.lifecycle.table.blocking_holds`: the
    holds placed by the ship's own time; one placed after the parcel left stays on the
    order and is named in the audit as ``left_before_hold``): the
    ``no_holds`` guards refuse it in PAID and PACKED, and this handler on the row that
    sends a partly shipped order's last units (chosen by ``new_parcel``: with nothing
    open, or for a parcel the order already carries, the ``ship`` is stale, ignored)."""
    order, event = step.order, step.event
    data = event.data
    held = blocking_holds(order, event)
    if held:
        raise step.refuse(
            "the order is on hold (holds: " + ", ".join(h.kind for h in held)
            + "): release the hold before its units ship"
        )
    named: Mapping[str, int] | None = data.get("lines")
    wanted = order.open_units if named is None else dict(named)
    # Holds placed after the parcel left stay on the order (they stop what is still
    # open); the audit says the parcel had left before them.
    late: tuple[Change, ...] = tuple(
        ("left_before_hold", "", f"{h.kind}@{h.at.isoformat()}") for h in order.holds
    )
    scanned = scanned_parcel(order, data["waybill"])
    if scanned is not None:  # a carrier scan recorded this parcel first
        reported = _report_scanned(step, scanned, wanted)
        return attrs.evolve(reported, changes=(*reported.changes, *late))
    lines, skus, _taken = _move(order, wanted, (_OPEN,), _SHIPPED, "data.lines")
    shipment = Shipment(event.event_id, data["carrier"], data["waybill"], wanted, event.at)
    shipments = (*order.shipments, shipment)
    shipped = LinesShipped(
        order.order_id,
        event.event_id,
        step.now,
        shipment.shipment_id,
        shipment.waybill,
        wanted,
        skus,
        **_shipped_between(order, (order.lines, order.shipments), (lines, shipments)),
    )
    return Effect(
        {"lines": lines, "shipments": shipments},
        (shipped,),
        (("shipped", "", units_text(wanted)), *late),
    )


def track(step: Step) -> Effect:
    """Write a carrier scan onto its shipment (the one with its waybill; with none
    named, the latest), or onto a new one.

    A scan that moves an order no ``ship`` reached (PAID or PACKED) proves the parcel
    left: every open unit ships with it (:class:`LinesShipped` ``forced``; the shipment
    is :attr:`~orderkit.model.orders.Shipment.forced` until the warehouse's ``ship``
    tells what it carries) and finance hears :class:`ReceivableDue`; the scan's time
    dates the parcel unless it carried units already (:func:`_dated`). A scan naming no
    waybill records a shipment without one; the next scan naming a waybill, or the
    warehouse's ``ship`` of the parcel
    (:func:`~orderkit.lifecycle.parcels.scanned_parcel`), gives it its number.
    """
    order, event, rule = step.order, step.event, step.rule
    data = event.data
    scan = CarrierScan(
        data["status"],
        data["carrier_time"],
        location=str(data.get("location", "")),
        description=str(data.get("description", "")),
    )
    waybill: str | None = data.get("waybill")
    carrier = str(data.get("carrier", ""))
    shipments = list(order.shipments)
    index = scan_target(order, waybill)
    # A scan that moves an order no ``ship`` ever reached proves the shipment itself.
    forced = rule.target != order.status and order.status in _PRE_SHIP
    if index is None:
        shipments.append(Shipment(event.event_id, carrier, waybill or "", {}))
        index = len(shipments) - 1
    shipment = shipments[index]
    if waybill and not shipment.waybill:  # the number of a parcel scanned without one
        shipment = attrs.evolve(shipment, waybill=waybill, carrier=shipment.carrier or carrier)
    first = shipment.first_scan_at
    fields: dict[str, Any] = {}
    events: list[DomainEvent] = []
    changes: list[Change] = []
    units = dict(shipment.lines)
    wanted: dict[str, int] = {}
    skus: dict[str, int] = {}
    if forced:
        wanted = order.open_units
        fields["lines"], skus, _taken = _move(order, wanted, (_OPEN,), _SHIPPED, "lines")
        for line_id, qty in wanted.items():
            units[line_id] = units.get(line_id, 0) + qty
    shipments[index] = attrs.evolve(
        shipment,
        events=shipment.events if scan in shipment.events else (*shipment.events, scan),
        first_scan_at=scan.at if first is None or scan.at < first else first,
        lines=units,
        shipped_at=_dated(shipment, scan.at) if forced else shipment.shipped_at,
        forced=shipment.forced or forced,
    )
    fields["shipments"] = tuple(shipments)
    if forced:
        after = (fields["lines"], fields["shipments"])
        events.append(
            LinesShipped(
                order.order_id,
                event.event_id,
                step.now,
                shipment.shipment_id,
                shipment.waybill,
                wanted,
                skus,
                forced=True,
                **_shipped_between(order, (order.lines, order.shipments), after),
            )
        )
        changes.append(("shipped", "", units_text(wanted)))
    events.append(
        TrackingRecorded(
            order.order_id,
            event.event_id,
            step.now,
            shipment.shipment_id,
            scan.status.value,
            scan.at,
        )
    )
    if rule.target == OrderStatus.DELIVERED and order.delivered_at is None:
        fields["delivered_at"] = scan.at
    if forced:
        events.append(
            ReceivableDue(
                order.order_id,
                event.event_id,
                step.now,
                order.totals.sold,  # forcing the shipment moves no unit out of "sold"
                status_code(rule.target),
                scan.at,
                f"carrier scan {scan.status.value} at {scan.at.isoformat()}",
            )
        )
    changes.append(("tracking", "", f"{scan.status.value}@{scan.at.isoformat()}"))
    return Effect(fields, tuple(events), tuple(changes))


def _dated(parcel: Shipment, at: datetime) -> datetime | None:
    """``parcel``'s ``shipped_at`` once an event at ``at`` puts units in it: its own;
    else ``at`` when it carried none yet (the event is when orderkit first heard of it
    carrying units); else none. A parcel the order was placed with, carrying units and
    no ``shipped_at``, stays undated: ``OrderService`` dates it by the order's
    ``created_at``, at placement and whenever its units move, and the units a carrier
    scan or a ``ship`` adds to it left with it, on that date (a parcel leaves once)."""
    if parcel.shipped_at is not None or parcel.lines:
        return parcel.shipped_at
    return at


def _report_scanned(step: Step, index: int, wanted: Mapping[str, int]) -> Effect:
    """A ``ship`` of the parcel a carrier scan recorded first (``order.shipments[index]``):
    its carrier and waybill go on that shipment, and the units it names that the scan
    did not ship (``wanted``, less those) ship now, in that parcel.

    The ``ship`` says what the parcel carries. A scan that moved an order no ``ship``
    had reached assumed every open unit left with it
    (:attr:`~orderkit.model.orders.Shipment.forced`): the units of those the ``ship``
    does not name never left, so they go back to OPEN (:class:`LinesUnshipped`; the
    ledger takes them back from the lock's commit) while the order's status can still
    ship or cancel them (:meth:`TransitionTable.can_ship_or_cancel` of the row's
    target); units of the parcel a refund has moved to REFUNDED since stay in it, as
    paid back from the parcel. Otherwise (a DELIVERED order, or units a ``ship`` told
    before) naming fewer units than the parcel carries is refused: those units left
    with it."""
    order, event = step.order, step.event
    data = event.data
    parcel = order.shipments[index]
    moving = dict(wanted)
    back: dict[str, int] = {}
    if data.get("lines") is not None:
        reopen = parcel.forced and step.table.can_ship_or_cancel(step.rule.target)
        shipped = {line.line_id: line.quantities[_SHIPPED] for line in order.lines}
        for line_id, units in parcel.lines.items():
            left = moving.get(line_id, 0) - units
            if left < 0 and reopen:
                # Units a refund took from SHIPPED since the scan were the parcel's (it
                # shipped every open unit): they stay in it; only those shipped go back.
                if still := min(-left, shipped.get(line_id, 0)):
                    back[line_id] = still
            elif left < 0:
                where = (f"and the order is {step.table.name(step.rule.target)}" if parcel.forced
                         else "(it left with them)")
                raise ValidationError(
                    f"data.lines[{line_id!r}]",
                    moving.get(line_id, 0),
                    f"the carrier's scan already shipped {units} unit(s) of line {line_id}"
                    f" in this parcel {where}: name at least those, or no lines",
                )
            moving[line_id] = max(left, 0)
        moving = {line_id: units for line_id, units in moving.items() if units}
    fields: dict[str, Any] = {}
    events: list[DomainEvent] = []
    changes: list[Change] = []
    current = order
    if back:
        reopened, back_skus, _taken = _move(order, back, (_SHIPPED,), _OPEN, "data.lines")
        current = attrs.evolve(order, lines=reopened)
        fields["lines"] = reopened
        events.append(LinesUnshipped(order.order_id, event.event_id, step.now,
                                     parcel.shipment_id, data["waybill"], back, back_skus,
                                     **_shipped_between(order, (reopened, order.shipments),
                                                        (order.lines, order.shipments))))
        changes.append(("unshipped", units_text(back), ""))
    lines, skus, _taken = _move(current, moving, (_OPEN,), _SHIPPED, "data.lines")
    carried = {line_id: units - back.get(line_id, 0) for line_id, units in parcel.lines.items()}
    shipment = attrs.evolve(
        parcel,
        carrier=data["carrier"],
        waybill=data["waybill"],
        lines=_add({line_id: units for line_id, units in carried.items() if units}, moving),
        shipped_at=_dated(parcel, event.at),
        forced=False,
    )
    shipments = list(order.shipments)
    shipments[index] = shipment
    fields["shipments"] = tuple(shipments)
    if parcel.waybill != shipment.waybill:
        changes.append((f"shipments[{parcel.shipment_id}].waybill", parcel.waybill,
                        shipment.waybill))
    if moving:
        fields["lines"] = lines
        events.append(LinesShipped(order.order_id, event.event_id, step.now,
                                   shipment.shipment_id, shipment.waybill, moving, skus,
                                   **_shipped_between(order, (current.lines, current.shipments),
                                                      (lines, fields["shipments"]))))
        changes.append(("shipped", "", units_text(moving)))
    return Effect(fields, tuple(events), tuple(changes))


def cancel(step: Step) -> Effect:
    order, event = step.order, step.event
    wanted = order.open_units
    lines, skus, _taken = _move(order, wanted, (_OPEN,), _CANCELLED, "lines")
    left = _value_left(order, lines)
    return Effect(
        {"lines": lines},
        (OrderCancelled(order.order_id, event.event_id, step.now, wanted, skus, left.amount,
                        left.goods, left.discounts, left.shipping, left.tax, left.rounding),),
        (("cancelled", "", units_text(wanted)),),
    )


def cancel_lines(step: Step) -> Effect:
    order, event = step.order, step.event
    wanted: Mapping[str, int] = event.data["lines"]
    lines, skus, _taken = _move(order, wanted, (_OPEN,), _CANCELLED, "data.lines")
    left = _value_left(order, lines)
    cancelled = LinesCancelled(
        order.order_id,
        event.event_id,
        step.now,
        dict(wanted),
        skus,
        left.goods,
        left.discounts,
        left.shipping,
        left.tax,
        left.amount,
        left.rounding,
    )
    return Effect({"lines": lines}, (cancelled,), (("cancelled", "", units_text(wanted)),))


def refund(step: Step) -> Effect:
    """Pay money back, never more than was paid and not yet refunded.

    Named lines (or, with none named, a refund of everything still paid) move their
    units to REFUNDED (open ones first, their stock released; see
    :func:`refund_moves` for units already cancelled or returned). The amount pays
    off what is owed first (:attr:`OrderTotals.refund_due` once those units left);
    anything beyond is a concession on the units still sold, recorded as CONCESSION
    adjustments spread over them by value, and beyond what they are worth, gives back
    the order's own shipping still charged (a SHIPPING_CONCESSION on the order). A
    refund beyond all three is refused.

    A refund naming the lines of one recorded as money only under its reference, of
    its amount (:func:`~orderkit.lifecycle.refunds.reclassed_refund`), moves no money:
    see :func:`_assign_lines`.
    """
    order, event = step.order, step.event
    recorded = reclassed_refund(order, event)
    if recorded is not None:
        return _assign_lines(step, recorded)
    data = event.data
    amount: Money = data["amount"]
    payment = Payment(
        event.event_id,
        amount,
        event.at,
        method=_refund_method(order, data, amount, event.at),
        kind=PaymentKind.REFUND,
        lines=refund_lines(order, event),  # the named lines, or everything for a full refund
        reference=data.get("reference") or "",  # checked: text when given
    )
    fields, released = _pay_back(order, event, payment)
    value = _gives_back(order, fields, payment)
    fields["payments"] = (*order.payments, attrs.evolve(payment, value=value))
    refunded = order.totals.refunded
    return Effect(
        fields,
        (Refunded(order.order_id, event.event_id, step.now, amount, dict(payment.lines),
                  released, payment.reference, payment.method, **refund_fields(value)),),
        (("refunded", str(refunded), str(refunded + amount)),),
        step.approved_by,
    )


def _gives_back(order: Order, fields: Mapping[str, Any], payment: Payment) -> RefundValue:
    """What ``payment`` (a refund paid back on ``order``, which ``fields`` change) gives
    back, part by part (:func:`~orderkit.lifecycle.refunds.refund_value`)."""
    unvalued = attrs.evolve(payment, value=None)
    after = attrs.evolve(order, **fields, payments=(*order.payments, unvalued))
    return refund_value(order, after, payment.amount)


def _assign_lines(step: Step, recorded: Payment) -> Effect:
    """The units ``step``'s ``refund`` names given to ``recorded``, the refund of the
    same reference and amount recorded as money only: what ``recorded`` did to the
    order is taken back (:func:`~orderkit.lifecycle.refunds.unrefunded`: its payment
    and its concessions) and it is paid back again on the line path, under its own id,
    time and method, naming those lines; so the order ends as if it had named them from
    the start. No money moves: a :class:`RefundLinesAssigned` says which units went
    (and the stock they free, as a refund of them would have), and what the refund gave
    back now they are known (valued on the order without it, as when it was paid)."""
    order, event = step.order, step.event
    base = unrefunded(order, recorded)
    payment = attrs.evolve(recorded, lines=refund_lines(base, event))
    fields, released = _pay_back(base, event, payment)
    value = _gives_back(base, fields, payment)
    payment = attrs.evolve(payment, value=value)
    fields.setdefault("adjustments", base.adjustments)  # its concessions taken back
    fields["payments"] = tuple(payment if p.payment_id == recorded.payment_id else p
                               for p in order.payments)
    assigned = RefundLinesAssigned(order.order_id, event.event_id, step.now,
                                   recorded.payment_id, recorded.reference,
                                   dict(payment.lines), released, payment.amount,
                                   **refund_fields(value))
    return Effect(
        fields,
        (assigned,),
        ((f"payments[{recorded.payment_id}].lines", "", units_text(payment.lines)),),
        step.approved_by,
    )


def _pay_back(
    order: Order, event: Event, payment: Payment
) -> tuple[dict[str, Any], dict[str, int]]:
    """What paying back ``payment`` (a refund, by ``event``) does to ``order``: the
    order fields it changes (``lines`` and ``returns`` for the units it moves,
    ``adjustments`` for what it gives beyond what is owed, labelled
    :func:`refund_label` of its id) and the units it releases before they shipped, by
    SKU. Refuses more than was paid and not refunded, or more than is owed plus what is
    still sold and charged."""
    amount = payment.amount
    totals = order.totals
    left = totals.paid - totals.refunded
    if amount > left:
        # Bounded even when nothing was paid: a refund never exceeds paid minus refunded.
        raise ValidationError(
            "data.amount",
            amount,
            f"refunds would exceed the {totals.paid} paid ({totals.refunded} refunded so far)",
        )
    moves = refund_moves_on(order, event)  # less units already out of the sale
    fields: dict[str, Any] = {}
    released: dict[str, int] = {}
    after = order
    if moves:
        fields["lines"], _skus, taken = _move(order, moves, (_OPEN, _SHIPPED), _REFUNDED,
                                              "data.lines")
        released = taken.get(_OPEN, {})
        after = attrs.evolve(order, lines=fields["lines"])
        returns = _refund_requested(order, after)
        if returns != order.returns:
            fields["returns"] = returns
    owed = left - after.totals.sold
    concession = amount - owed if owed.amount > 0 else amount
    zero = Money.zero(amount.currency)
    worth = max(
        Money(sum((m.amount for m in after.sold_by_line().values()), Decimal(0)),
              amount.currency),
        zero,
    )
    shipping = max(after.shipping_standing, zero)
    rounding = max(after.rounding_standing, zero)
    if concession > worth + shipping + rounding:
        # Beyond what is owed, a refund lowers the price of the goods still sold, then
        # gives back the order's own shipping (and its rounding up); nothing else is left.
        raise ValidationError(
            "data.amount",
            amount,
            f"more than the {max(owed, zero)} owed plus the {worth} the goods still sold"
            f" are worth and the {shipping + rounding} of the order's own charges still"
            " standing",
        )
    if concession.amount > 0:
        label = refund_label(payment.payment_id)
        on_goods = min(concession, worth)
        given: list[Adjustment] = _concession(after, on_goods, label) if on_goods else []
        given += charges_back(concession - on_goods, shipping, label)
        fields["adjustments"] = (*order.adjustments, *given)
    return fields, released


def return_requested(step: Step) -> Effect:
    """The buyer asks to send back shipped units, inside the after-sales window (from
    delivery, by the event's time)."""
    order, event = step.order, step.event
    wanted: Mapping[str, int] = event.data["lines"]
    since = order.delivered_at or order.status_since or order.created_at
    if event.at > since + step.after_sale_window:
        raise step.refuse(
            f"the after-sales window of {step.after_sale_window} after delivery"
            f" ({since.isoformat()}) has closed"
        )
    asked = _outstanding(order)
    shipped = {line.line_id: line.quantities[_SHIPPED] for line in order.lines}
    _known(order, wanted, "data.lines")
    _refuse_over(wanted, {line_id: shipped[line_id] - asked.get(line_id, 0) for line_id in wanted},
                 "lines", "only {cap} shipped unit(s) are not already asked back")
    request = Return(event.event_id, wanted, requested_at=event.at)
    return Effect(
        {"returns": (*order.returns, request)},
        (ReturnRequested(order.order_id, event.event_id, step.now, event.event_id, dict(wanted)),),
        (("returns", "", units_text(wanted)),),
    )


def return_received(step: Step) -> Effect:
    """Returned units arrived: they move to RETURNED, the ``sellable``
    ones go back into stock, and the oldest open requests are marked received (goods
    nobody asked back open a return of their own). No more units of a line come back
    than left the building and have not come back yet (:attr:`Order.sent_units` less
    those RETURNED).

    A cash on delivery parcel refused at the door (the table's ``refused_on_delivery``
    row: nothing paid, every unit back, none open) closes the order, and the engine
    waives the order's own shipping nobody will collect (a SHIPPING_CONCESSION), so
    nothing is left due."""
    order, event = step.order, step.event
    wanted: Mapping[str, int] = event.data["lines"]
    sellable: Mapping[str, int] = event.data.get("sellable", {})
    _refuse_over(sellable, wanted, "sellable", "more than the {cap} unit(s) received")
    # Requested units refunded before their parcel came back arrive first, from REFUNDED
    # (the buyer was paid back for them already); the rest from SHIPPED, and units
    # refunded without a request only when no shipped unit is left.
    _known(order, wanted, "data.lines")
    sent = order.sent_units
    # A unit refunded or cancelled before it shipped never left: it cannot come back
    # (and the ledger would refuse to restock it).
    out = {line_id: sent[line_id] - order.line(line_id).quantities[_RETURNED]
           for line_id in wanted}
    _refuse_over(wanted, out, "lines", "only {cap} unit(s) were sent and not returned yet:"
                 " units returned cannot exceed units sent")
    first = _refunded_arriving(order, wanted)
    lines, _skus, _taken = _move(order, first, (_REFUNDED,), _RETURNED, "data.lines")
    rest = {line_id: qty - first.get(line_id, 0) for line_id, qty in wanted.items()}
    lines, _skus, _taken = _move(attrs.evolve(order, lines=lines), rest,
                                 (_SHIPPED, _REFUNDED), _RETURNED, "data.lines")
    returns, return_id = _receive(order, wanted, sellable, event)
    restocked: dict[str, int] = {}
    for line_id, qty in sellable.items():
        if qty:
            sku = order.line(line_id).sku
            restocked[sku] = restocked.get(sku, 0) + qty
    received = ReturnReceived(
        order.order_id, event.event_id, step.now, return_id, dict(wanted), restocked
    )
    fields: dict[str, Any] = {"lines": lines, "returns": returns}
    return Effect(fields, (received,), (("returned", "", units_text(wanted)),))


def return_cancelled(step: Step) -> Effect:
    """A return request is cancelled: the buyer withdrew it or the merchant refused it.
    The units named (default: every unit still asked back) are no longer awaited, taken
    from the oldest requests (within a request, the units not refunded yet first: a
    unit refunded before it came back is given up last). Nothing moves and nothing is
    owed; a later refund of those units is an ordinary refund, and a later return of
    them a new one."""
    order, event = step.order, step.event
    asked = _outstanding(order)
    if not asked:
        raise step.refuse("no return request waits for units")
    named: Mapping[str, int] | None = event.data.get("lines")
    wanted = dict(asked) if named is None else dict(named)
    _known(order, wanted, "data.lines")
    _refuse_over(wanted, asked, "lines", "only {cap} unit(s) are asked back and not received")
    left = dict(wanted)
    returns: list[Return] = []
    for request in order.returns:
        more: dict[str, int] = {}
        for line_id, missing in request.outstanding.items():
            take = min(missing, left.get(line_id, 0))
            if take:
                more[line_id] = take
                left[line_id] -= take
        if more:
            # Its units refunded in transit stay awaited while any other is
            # (Return.refunded_in_transit is capped by what is still awaited).
            request = attrs.evolve(request, cancelled=_add(request.cancelled, more))
        returns.append(request)
    reason = str(event.data.get("reason", ""))
    return Effect(
        {"returns": tuple(returns)},
        (ReturnCancelled(order.order_id, event.event_id, step.now, wanted, reason),),
        (("returns", units_text(wanted), ""),),
    )


def hold(step: Step) -> Effect:
    order, event = step.order, step.event
    kind = str(event.data["kind"])
    if order.hold(kind) is not None:
        raise step.refuse(f"already on hold {kind!r}")
    by = event.actor.id if event.actor is not None else "system"
    reason = str(event.data.get("reason", ""))
    return Effect(
        {"holds": (*order.holds, Hold(kind, by, event.at, reason))},
        (HoldPlaced(order.order_id, event.event_id, step.now, kind, reason, by),),
        (("holds", "", kind),),
    )


def release_hold(step: Step) -> Effect:
    order, event = step.order, step.event
    kind = str(event.data["kind"])
    if order.hold(kind) is None:
        raise step.refuse(f"no hold {kind!r} to release")
    by = event.actor.id if event.actor is not None else "system"
    approved_by = step.approved_by
    return Effect(
        {"holds": tuple(h for h in order.holds if h.kind != kind)},
        (HoldReleased(order.order_id, event.event_id, step.now, kind, by, approved_by),),
        (("holds", kind, ""),),
        approved_by,
    )


def change_address(step: Step) -> Effect:
    order, event = step.order, step.event
    address: Address = event.data["address"]
    approved_by = step.approved_by
    window = step.address_edit_window
    # Judged by the event's own time, never the clock: a replay, or an edit that arrives
    # late, is decided as it was when it happened.
    if order.paid_at is not None and event.at > order.paid_at + window:
        try:
            approved_by = step.policy.approval(event.actor, order, event.name, event.data).id
        except NotPermitted as refused:
            raise AddressLocked(
                order.order_id,
                step.table.name(order.status),
                f"more than {window} after payment: needs approved_by from a second person"
                f" ({refused.reason})",
            ) from None
    waybill = next((s.waybill for s in reversed(order.shipments) if s.waybill), None)
    changed = AddressChanged(
        order.order_id, event.event_id, step.now, order.ship_to, address, waybill, approved_by
    )
    return Effect(
        {"ship_to": address},
        (changed,),
        (("ship_to", _address_text(order.ship_to), _address_text(address)),),
        approved_by,
    )


def change_price(step: Step) -> Effect:
    """Reprice one line. A lower price after payment leaves the buyer owed the
    difference (``refund_due``, a :class:`RefundDue`); a higher one is taken only where
    the order still collects a ``pay`` (:meth:`TransitionTable.collects`: unpaid, or
    cash on delivery). A raise on an order paid in advance is refused with a
    :class:`ValidationError` on ``data.unit_price`` naming what was paid: it would ship
    owing money no ``pay`` is taken for (a stale ``pay`` from PAID on), so the
    difference is collected as a payment of its own (a supplementary order or payment
    link, 补差价).

    Units that already left the sale (cancelled, refunded, returned) keep the value
    they left at (:func:`~orderkit.lifecycle.refunds.repriced_left`): the new price
    re-values only the units still sold, so what they were paid beyond it is owed back
    as ``overpaid``.

    A price that would leave a line worth less than its discounts, or push units still
    sold below nothing (:func:`_pushed_below_zero`: a cut below what a concession
    already gave back on them, or a cut moving an order discount onto such units) is
    refused with a :class:`ValidationError` on ``data.unit_price``: the buyer would be
    owed more than was paid for them, a refund nobody could make."""
    order, event = step.order, step.event
    line_id = str(event.data["line_id"])
    price: Money = event.data["unit_price"]
    previous = order.line(line_id).unit_price
    lines = tuple(
        attrs.evolve(line, unit_price=price) if line.line_id == line_id else line
        for line in order.lines
    )
    repriced = attrs.evolve(order, lines=lines)
    floor = repriced.line_discounts()[line_id]
    totals = repriced.totals
    if price * order.line(line_id).quantity < floor or totals.goods < totals.discounts:
        raise ValidationError(
            "data.unit_price",
            price,
            f"line {line_id} (or the order) would be worth less than its discounts",
        )
    below = _pushed_below_zero(order, repriced)
    if below is not None:
        raise ValidationError(
            "data.unit_price",
            price,
            f"line {line_id} at {price} would leave line {below[0]}'s units still sold"
            f" worth {below[1]}: less than nothing, after the discounts and the money"
            " given back on them (concessions); a price is not cut below what was given"
            " back on its units",
        )
    target = step.rule.target
    if repriced.due > order.due and not step.table.collects(repriced, target, event.at):
        raise ValidationError(
            "data.unit_price",
            price,
            f"order {order.order_id} is {step.table.name(order.status)}, paid"
            f" {order.totals.paid}: raising line {line_id} from {previous} would leave"
            f" {repriced.due} due that no pay in {step.table.name(target)} collects;"
            " collect the difference as a payment of its own (a supplementary order or"
            " payment link)",
        )
    approved_by = step.approved_by
    return Effect(
        {"lines": lines, "repriced_left": repriced_left(order, repriced)},
        (
            PriceChanged(
                order.order_id, event.event_id, step.now, line_id, previous, price, approved_by
            ),
        ),
        ((f"lines[{line_id}].unit_price", str(previous), str(price)),),
        approved_by,
    )


#: The handler of every event that does more than move the status.
HANDLERS: Final[Mapping[str, Handler]] = {
    "pay": pay,
    "ship": ship,
    "track": track,
    "cancel": cancel,
    "cancel_lines": cancel_lines,
    "refund": refund,
    "return_requested": return_requested,
    "return_received": return_received,
    "return_cancelled": return_cancelled,
    "hold": hold,
    "release_hold": release_hold,
    "change_address": change_address,
    "change_price": change_price,
}


# --- helpers ---------------------------------------------------------------------------------


def _refuse_over(named: Mapping[str, int], cap: Mapping[str, int], key: str,
                 words: str) -> None:
    """Refuse the first count of ``named`` (units by line id, ``data.<key>``) above its
    line's ``cap`` (0 when not given), naming ``data.<key>[line id]``; ``words`` says
    why, with ``{cap}`` for the line's cap."""
    for line_id, qty in named.items():
        limit = cap.get(line_id, 0)
        if qty > limit:
            raise ValidationError(f"data.{key}[{line_id!r}]", qty, words.format(cap=limit))


def _known(order: Order, wanted: Mapping[str, int], path: str) -> None:
    known = {line.line_id for line in order.lines}
    for line_id in wanted:
        if line_id not in known:
            raise ValidationError(
                f"{path}[{line_id!r}]", line_id, f"order {order.order_id} has no such line"
            )


def _move(
    order: Order,
    wanted: Mapping[str, int],
    sources: tuple[LineStatus, ...],
    target: LineStatus,
    path: str,
) -> tuple[tuple[OrderLine, ...], dict[str, int], dict[LineStatus, dict[str, int]]]:
    """Move ``wanted`` units per line from ``sources`` (in order) into ``target``:
    ``(new lines, units by SKU, units taken by source and SKU)``. Raises
    :class:`ValidationError` naming ``path[line_id]`` for an unknown line or more units
    than the sources hold."""
    _known(order, wanted, path)
    skus: dict[str, int] = {}
    taken: dict[LineStatus, dict[str, int]] = {}
    lines = []
    for line in order.lines:
        qty = wanted.get(line.line_id)
        if not qty:
            lines.append(line)
            continue
        buckets = dict(line.quantities)
        left = qty
        for source in sources:
            take = min(left, buckets[source])
            if take:
                buckets[source] -= take
                left -= take
                by_sku = taken.setdefault(source, {})
                by_sku[line.sku] = by_sku.get(line.sku, 0) + take
        if left:
            names = "/".join(s.value for s in sources)
            raise ValidationError(
                f"{path}[{line.line_id!r}]", qty, f"only {qty - left} unit(s) are {names}"
            )
        buckets[target] += qty
        lines.append(attrs.evolve(line, quantities=buckets))
        skus[line.sku] = skus.get(line.sku, 0) + qty
    return tuple(lines), skus, taken


def _pushed_below_zero(before: Order, after: Order) -> tuple[str, Money] | None:
    """The first line whose units still sold are worth less than nothing in ``after``
    and less than they were in ``before`` (the same units, repriced), with that worth;
    else ``None``. A line is worth what its units still sold are, one of them or all of
    them, whichever is less (:func:`_sold_worth`). A line already below zero (an order
    placed with discounts that also cover its own charges: its shipping) may stay so."""
    was = _sold_worth(before)
    for line_id, worth in _sold_worth(after).items():
        if worth.amount < 0 and worth < was[line_id]:
            return line_id, worth
    return None


def _sold_worth(order: Order) -> dict[str, Money]:
    """By line id, for each line with units still sold, what the least of them are
    worth as the order counts them: one unit or all of them, whichever is less (their
    goods less their share of the discounts and concessions, plus their share of the
    charges; not the order's own charges)."""
    charges = order.units_value({}, charged=True).amount
    return {
        line_id: min(order.units_value({line_id: 1}, charged=True).amount - charges, all_units)
        for line_id, all_units in order.sold_by_line().items()
    }


def _value_left(order: Order, lines: tuple[OrderLine, ...]) -> SoldValue:
    """The value that leaves ``order`` when its lines become ``lines``."""
    return order.sold_value.minus(attrs.evolve(order, lines=lines).sold_value)


class _Value(TypedDict):
    """The money fields of :class:`LinesShipped` and :class:`LinesUnshipped`."""

    goods: Money
    discounts: Money
    shipping: Money
    tax: Money
    amount: Money
    rounding: Money


def _shipped_between(
    order: Order,
    before: tuple[tuple[OrderLine, ...], tuple[Shipment, ...]],
    after: tuple[tuple[OrderLine, ...], tuple[Shipment, ...]],
) -> _Value:
    """The value a shipment sent when ``order``'s lines and shipments went from
    ``before`` to ``after`` (each the value of the lines' SHIPPED units, with the order's
    own charges once a parcel carried any: :meth:`~orderkit.model.orders.Order.units_value`
    on ``order``, whose shares moving units leaves as they are), as the money fields of
    :class:`LinesShipped` (and, the other way round, of :class:`LinesUnshipped`)."""
    sent = _shipped_value(order, *after).minus(_shipped_value(order, *before))
    return {"goods": sent.goods, "discounts": sent.discounts, "shipping": sent.shipping,
            "tax": sent.tax, "amount": sent.amount, "rounding": sent.rounding}


def _shipped_value(
    order: Order, lines: tuple[OrderLine, ...], shipments: tuple[Shipment, ...]
) -> SoldValue:
    return order.units_value({line.line_id: line.quantities[_SHIPPED] for line in lines},
                             charged=any(shipment.lines for shipment in shipments))


def _concession(order: Order, amount: Money, label: str) -> list[Adjustment]:
    """``amount`` off the units still sold, spread over their lines by what each is
    still worth (so no line goes below zero), each part covering the line's units sold
    now, each labelled ``label``."""
    worth = order.sold_by_line()
    sold_units = order.sold_units
    sold = [(line, sold_units[line.line_id]) for line in order.lines if sold_units[line.line_id]]
    weights: list[int | Decimal] = [
        max(Decimal(0), worth[line.line_id].amount) for line, _units in sold
    ]
    if not any(weights):
        weights = [units for _line, units in sold]
    return [
        Adjustment(AdjustmentKind.CONCESSION, part, Bearer.MERCHANT, line.line_id, label, units)
        for (line, units), part in zip(sold, amount.allocate(weights), strict=True)
        if part.amount
    ]


def _refund_method(order: Order, data: Mapping[str, Any], amount: Money, at: datetime) -> str:
    """How a refund of ``amount`` at ``at`` goes back: ``data["method"]`` when given,
    else the way the money came in (:meth:`Order.paying_method`: the payment that
    refund most likely refunds), else ``""``."""
    method = data.get("method")
    if method is not None and str(method):
        return str(method)
    return order.paying_method(amount, at)


def charges_back(amount: Money, shipping: Money, label: str) -> list[Adjustment]:
    """``amount`` of the order's own charges given back (or waived) by the merchant:
    its ``shipping`` still standing first (a SHIPPING_CONCESSION), the rest from its
    rounding up (a negative ROUNDING), each labelled ``label``."""
    on_shipping = min(amount, shipping)
    on_rounding = amount - on_shipping
    back: list[Adjustment] = []
    if on_shipping.amount > 0:
        back.append(Adjustment(AdjustmentKind.SHIPPING_CONCESSION, on_shipping,
                               Bearer.MERCHANT, None, label))
    if on_rounding.amount > 0:
        back.append(Adjustment(AdjustmentKind.ROUNDING, -on_rounding, Bearer.MERCHANT, None,
                               label))
    return back


def _refund_requested(order: Order, after: Order) -> tuple[Return, ...]:
    """``order``'s returns with the shipped units this refund moved to REFUNDED
    (``order`` -> ``after``) recorded on the oldest requests that still wait for such
    units: they are refunded before they came back."""
    left = {
        line.line_id: line.quantities[_SHIPPED] - after.line(line.line_id).quantities[_SHIPPED]
        for line in order.lines
    }
    out: list[Return] = []
    for request in order.returns:
        more: dict[str, int] = {}
        waiting = request.refunded_in_transit
        for line_id, missing in request.outstanding.items():
            take = min(missing - waiting.get(line_id, 0), left.get(line_id, 0))
            if take > 0:
                more[line_id] = take
                left[line_id] -= take
        out.append(attrs.evolve(request, refunded=_add(request.refunded, more))
                   if more else request)
    return tuple(out)


def _refunded_arriving(order: Order, wanted: Mapping[str, int]) -> dict[str, int]:
    """Of the units ``wanted`` received, those that are requested units refunded before
    they came back (matched to the oldest open requests, as :func:`_receive` does)."""
    left = dict(wanted)
    out: dict[str, int] = {}
    for request in order.returns:
        waiting = request.refunded_in_transit
        for line_id, missing in request.outstanding.items():
            take = min(missing, left.get(line_id, 0))
            if take:
                left[line_id] -= take
                refunded = min(take, waiting.get(line_id, 0))
                if refunded:
                    out[line_id] = out.get(line_id, 0) + refunded
    return out


def _outstanding(order: Order) -> dict[str, int]:
    """Units asked back and not received yet, by line id."""
    out: dict[str, int] = {}
    for request in order.returns:
        for line_id, units in request.outstanding.items():
            out[line_id] = out.get(line_id, 0) + units
    return out


def _receive(
    order: Order, wanted: Mapping[str, int], sellable: Mapping[str, int], event: Event
) -> tuple[tuple[Return, ...], str]:
    """Mark ``wanted`` received against the oldest open requests; units nobody asked
    back open a return of their own. Returns the returns and the id the units went to
    (the first request they matched, or this event's id)."""
    left = dict(wanted)
    good = dict(sellable)
    returns: list[Return] = []
    first: str | None = None
    for request in order.returns:
        got: dict[str, int] = {}
        fine: dict[str, int] = {}
        for line_id, missing in request.outstanding.items():
            take = min(missing, left.get(line_id, 0))
            if take:
                got[line_id] = take
                left[line_id] -= take
                fine[line_id] = min(take, good.get(line_id, 0))
                good[line_id] = good.get(line_id, 0) - fine[line_id]
        if got:
            first = first or request.return_id
            request = attrs.evolve(
                request,
                received=_add(request.received, got),
                sellable=_add(request.sellable, {k: v for k, v in fine.items() if v}),
                received_at=event.at,
            )
        returns.append(request)
    rest = {line_id: units for line_id, units in left.items() if units}
    if rest:
        fine = {line_id: units for line_id, units in good.items() if units and line_id in rest}
        returns.append(
            Return(event.event_id, rest, received=rest, sellable=fine, received_at=event.at)
        )
        first = first or event.event_id
    assert first is not None
    return tuple(returns), first


def _add(base: Mapping[str, int], more: Mapping[str, int]) -> dict[str, int]:
    out = dict(base)
    for key, units in more.items():
        out[key] = out.get(key, 0) + units
    return out


def units_text(lines: Mapping[str, int]) -> str:
    """Units by line id as the audit writes them: ``"L1x2, L2x1"``."""
    return ", ".join(f"{line_id}x{qty}" for line_id, qty in lines.items())


def _address_text(address: Address | None) -> str:
    if address is None:
        return ""
    parts = (
        address.name,
        address.phone,
        address.province,
        address.city,
        address.district,
        address.street,
        address.postcode,
    )
    return " ".join(part for part in parts if part)
