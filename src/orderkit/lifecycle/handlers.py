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
from typing import Any, Final

import attrs

from orderkit.lifecycle.events import (
    AddressChanged,
    DomainEvent,
    Event,
    HoldPlaced,
    HoldReleased,
    LinesCancelled,
    LinesShipped,
    OrderCancelled,
    Overpaid,
    PaymentReceived,
    PaymentShort,
    PriceChanged,
    ReceivableDue,
    Refunded,
    TrackingRecorded,
)
from orderkit.lifecycle.table import Rule, TransitionTable, refund_lines
from orderkit.model.audit import Change
from orderkit.model.errors import AddressLocked, TransitionNotAllowed, ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import (
    Address,
    CarrierScan,
    Hold,
    HoldKind,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentKind,
    Shipment,
    status_code,
)

__all__ = ["HANDLERS", "Effect", "Handler", "Step", "approver"]

_OPEN: Final = LineStatus.OPEN
_SHIPPED: Final = LineStatus.SHIPPED
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

    def refuse(self, reason: str) -> TransitionNotAllowed:
        """The error refusing this step's event with ``reason``."""
        order = self.order
        return TransitionNotAllowed(
            order.order_id, self.table.name(order.status), self.event.name, reason
        )


@attrs.frozen
class Effect:
    """What a handler decided: ``fields`` of the order to change, domain ``events`` to
    emit, ``changes`` for the audit entry, and who approved it (``approved_by``)."""

    fields: Mapping[str, Any] = attrs.Factory(dict)
    events: tuple[DomainEvent, ...] = ()
    changes: tuple[Change, ...] = ()
    approved_by: str | None = None


Handler = Callable[[Step], Effect]


def approver(data: Mapping[str, Any]) -> str | None:
    """The ``approved_by`` named in event data, or ``None``."""
    value = data.get("approved_by")
    return value if isinstance(value, str) and value else None


# --- one handler per event -------------------------------------------------------------------


def pay(step: Step) -> Effect:
    """Record the payment against what is due: exact makes the order PAID (the table's
    ``pays_in_full`` row); short keeps it unpaid with a :class:`PaymentShort` (later
    payments add up); over makes it PAID, held for payment review, with an
    :class:`Overpaid` naming the excess."""
    order, event = step.order, step.event
    amount: Money = event.data["amount"]
    due = order.totals.due
    payment = Payment(
        event.event_id,
        amount,
        event.at,
        method=str(event.data.get("method", "")),
        kind=PaymentKind.PAYMENT,
        reference=str(event.data.get("reference", "")),
    )
    fields: dict[str, Any] = {"payments": (*order.payments, payment)}
    events: list[DomainEvent] = [PaymentReceived(order.order_id, event.event_id, step.now, amount)]
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
    order, event = step.order, step.event
    data = event.data
    named: Mapping[str, int] | None = data.get("lines")
    wanted = _open_lines(order) if named is None else dict(named)
    lines, skus = _move(order, wanted, (_OPEN,), _SHIPPED, "data.lines")
    shipment = Shipment(event.event_id, data["carrier"], data["waybill"], wanted, event.at)
    shipped = LinesShipped(
        order.order_id,
        event.event_id,
        step.now,
        shipment.shipment_id,
        shipment.waybill,
        wanted,
        skus,
    )
    return Effect(
        {"lines": lines, "shipments": (*order.shipments, shipment)},
        (shipped,),
        (("shipped", "", _units(wanted)),),
    )


def track(step: Step) -> Effect:
    order, event, rule = step.order, step.event, step.rule
    data = event.data
    scan = CarrierScan(
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
    # A scan that moves an order no ``ship`` ever reached proves the shipment itself.
    forced = rule.target != order.status and order.status in _PRE_SHIP
    if index is None:
        shipments.append(
            Shipment(event.event_id, str(data.get("carrier", "")), str(waybill or ""), {})
        )
        index = len(shipments) - 1
    shipment = shipments[index]
    first = shipment.first_scan_at
    fields: dict[str, Any] = {}
    events: list[DomainEvent] = []
    changes: list[Change] = []
    units = dict(shipment.lines)
    if forced:
        wanted = _open_lines(order)
        fields["lines"], skus = _move(order, wanted, (_OPEN,), _SHIPPED, "lines")
        for line_id, qty in wanted.items():
            units[line_id] = units.get(line_id, 0) + qty
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
            )
        )
        changes.append(("shipped", "", _units(wanted)))
    shipments[index] = attrs.evolve(
        shipment,
        events=shipment.events if scan in shipment.events else (*shipment.events, scan),
        first_scan_at=scan.at if first is None or scan.at < first else first,
        lines=units,
        shipped_at=shipment.shipped_at or (scan.at if forced else None),
    )
    fields["shipments"] = tuple(shipments)
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
    if forced:
        totals = order.totals
        due = (totals.paid if totals.paid else totals.payable) - totals.refunded
        events.append(
            ReceivableDue(
                order.order_id,
                event.event_id,
                step.now,
                due,
                status_code(rule.target),
                scan.at,
                f"carrier scan {scan.status.value} at {scan.at.isoformat()}",
            )
        )
    changes.append(("tracking", "", f"{scan.status.value}@{scan.at.isoformat()}"))
    return Effect(fields, tuple(events), tuple(changes))


def cancel(step: Step) -> Effect:
    order, event = step.order, step.event
    wanted = _open_lines(order)
    lines, skus = _move(order, wanted, (_OPEN,), LineStatus.CANCELLED, "lines")
    return Effect(
        {"lines": lines},
        (OrderCancelled(order.order_id, event.event_id, step.now, wanted, skus),),
        (("cancelled", "", _units(wanted)),),
    )


def cancel_lines(step: Step) -> Effect:
    order, event = step.order, step.event
    wanted: Mapping[str, int] = event.data["lines"]
    lines, skus = _move(order, wanted, (_OPEN,), LineStatus.CANCELLED, "data.lines")
    return Effect(
        {"lines": lines},
        (LinesCancelled(order.order_id, event.event_id, step.now, dict(wanted), skus),),
        (("cancelled", "", _units(wanted)),),
    )


def refund(step: Step) -> Effect:
    order, event = step.order, step.event
    data = event.data
    amount: Money = data["amount"]
    wanted = refund_lines(order, event)  # the named lines, or everything for a full refund
    totals = order.totals
    if totals.refunded + amount > totals.paid:
        # Bounded even when nothing was paid: a refund never exceeds paid minus refunded.
        raise ValidationError(
            "data.amount",
            amount,
            f"refunds would exceed the {totals.paid} paid ({totals.refunded} refunded so far)",
        )
    lines, _skus = _move(order, wanted, (_SHIPPED, _OPEN), LineStatus.REFUNDED, "data.lines")
    released: dict[str, int] = {}
    by_id = {line.line_id: line for line in order.lines}
    for line_id, qty in wanted.items():
        line = by_id[line_id]
        from_open = max(0, qty - line.quantities[_SHIPPED])
        if from_open:
            released[line.sku] = released.get(line.sku, 0) + from_open
    payment = Payment(
        event.event_id,
        amount,
        event.at,
        kind=PaymentKind.REFUND,
        lines=wanted,
        reference=str(data.get("reference", "")),
    )
    return Effect(
        {"lines": lines, "payments": (*order.payments, payment)},
        (Refunded(order.order_id, event.event_id, step.now, amount, dict(wanted), released),),
        (("refunded", str(totals.refunded), str(totals.refunded + amount)),),
        approver(data),
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
    approved_by = approver(event.data)
    return Effect(
        {"holds": tuple(h for h in order.holds if h.kind != kind)},
        (HoldReleased(order.order_id, event.event_id, step.now, kind, by, approved_by),),
        (("holds", kind, ""),),
        approved_by,
    )


def change_address(step: Step) -> Effect:
    order, event = step.order, step.event
    address: Address = event.data["address"]
    approved_by = approver(event.data)
    window = step.address_edit_window
    # Judged by the event's own time, never the clock: a replay, or an edit that arrives
    # late, is decided as it was when it happened.
    if order.paid_at is not None and event.at > order.paid_at + window:
        who = event.actor.id if event.actor is not None else None
        if approved_by is None or approved_by == who:
            raise AddressLocked(
                order.order_id,
                step.table.name(order.status),
                f"more than {window} after payment: needs approved_by from a second person",
            )
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
    order, event = step.order, step.event
    line_id = str(event.data["line_id"])
    price: Money = event.data["unit_price"]
    previous = order.line(line_id).unit_price
    lines = tuple(
        attrs.evolve(line, unit_price=price) if line.line_id == line_id else line
        for line in order.lines
    )
    approved_by = approver(event.data)
    return Effect(
        {"lines": lines},
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
    "hold": hold,
    "release_hold": release_hold,
    "change_address": change_address,
    "change_price": change_price,
}


# --- helpers ---------------------------------------------------------------------------------


def _open_lines(order: Order) -> dict[str, int]:
    return {line.line_id: line.quantities[_OPEN] for line in order.lines if line.quantities[_OPEN]}


def _move(
    order: Order,
    wanted: Mapping[str, int],
    sources: tuple[LineStatus, ...],
    target: LineStatus,
    path: str,
) -> tuple[tuple[OrderLine, ...], dict[str, int]]:
    """Move ``wanted`` units per line from ``sources`` (in order) into ``target``:
    ``(new lines, units by SKU)``. Raises :class:`ValidationError` naming
    ``path[line_id]`` for an unknown line or more units than the sources hold."""
    known = {line.line_id for line in order.lines}
    for line_id in wanted:
        if line_id not in known:
            raise ValidationError(
                f"{path}[{line_id!r}]", line_id, f"order {order.order_id} has no such line"
            )
    skus: dict[str, int] = {}
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
            buckets[source] -= take
            left -= take
        if left:
            names = "/".join(s.value for s in sources)
            raise ValidationError(
                f"{path}[{line.line_id!r}]", qty, f"only {qty - left} unit(s) are {names}"
            )
        buckets[target] += qty
        lines.append(attrs.evolve(line, quantities=buckets))
        skus[line.sku] = skus.get(line.sku, 0) + qty
    return tuple(lines), skus


def _units(lines: Mapping[str, int]) -> str:
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
