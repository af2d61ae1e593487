"""From a stored order and a freshly mapped one, the next lifecycle event.

Sync never stores a mapped order over a stored one. A first sighting is placed in its
*initial* form (:func:`initial`: unpaid, every unit open) and then, like every later
sighting, brought to the mapped state one event at a time: :func:`next_event` looks at
what the stored order still lacks and returns the event that supplies it, or ``None``
when nothing is missing. Events only move forward (more paid, more units cancelled,
shipped or refunded, a later status), so an older payload yields nothing over a newer
state, and no update is ever undone.

Event ids come from the order and the *cumulative* state the event brings it to
(``"<channel>:<channel order id>:pay:328.50"``), never from when or how the payload
arrived: the same change seen from a webhook and from a poll is one event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

import attrs

from orderkit.lifecycle.events import Event
from orderkit.lifecycle.policy import Actor
from orderkit.model.money import Money
from orderkit.model.orders import (
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    PaymentKind,
    PaymentTerms,
)

__all__ = ["SYNC_ACTOR", "UNKNOWN_WAYBILL", "Wanted", "initial", "next_event"]

#: Who sync's holds and releases are by: sync releases only the holds it placed.
SYNC_ACTOR: Final = Actor("orderkit-sync")
#: Carrier and waybill of a shipment the payload reports without one.
UNKNOWN_WAYBILL: Final = "unknown"

_PAID: Final = frozenset(
    {OrderStatus.PAID, OrderStatus.PACKED, OrderStatus.SHIPPED, OrderStatus.DELIVERED,
     OrderStatus.COMPLETED, OrderStatus.CLOSED}
)
_BEFORE_SHIP: Final = frozenset({OrderStatus.PAID, OrderStatus.PACKED})
_CANCELLABLE: Final = frozenset(
    {OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.PACKED, OrderStatus.SHIPPED}
)
_OPEN, _SHIPPED, _CANCELLED = LineStatus.OPEN, LineStatus.SHIPPED, LineStatus.CANCELLED
_REFUNDED, _RETURNED = LineStatus.REFUNDED, LineStatus.RETURNED


def initial(order: Order) -> Order:
    """``order`` as it was when placed: unpaid, every unit open, nothing shipped or held
    (a line whose units are all open already is kept as it is)."""
    return attrs.evolve(
        order,
        status=OrderStatus.PENDING_PAYMENT,
        lines=tuple(
            line if line.quantities[_OPEN] == line.quantity else
            OrderLine(line.line_id, line.sku, line.quantity, line.unit_price,
                      title=line.title, channel_line_id=line.channel_line_id)
            for line in order.lines
        ),
        payments=(),
        shipments=(),
        holds=(),
        paid_at=None,
        status_since=None,
        delivered_at=None,
        returns=(),
        version=0,
        applied_event_ids=(),
        lock_id=None,
    )


def next_event(stored: Order, target: Order, *, at: datetime) -> Event | None:
    """The event that brings ``stored`` one step closer to ``target`` (``None``: it has
    everything ``target`` has). ``at`` is the platform's modified time of ``target``,
    the time of every event whose own time the payload does not give."""
    return Wanted(target, at).next_event(stored)


class Wanted:
    """What a mapped order ``target`` (modified at ``at``) asks of a stored order, read
    once: its units per line in the buckets the steps compare, whether and how much it
    says was paid, its holds. :meth:`next_event` is :func:`next_event` with these facts
    read from ``target`` once instead of at every step of every event, which is what
    sync does for each payload while the lifecycle applies its events one by one."""

    __slots__ = ("at", "cancelled", "holds", "key", "paid_in", "refunded", "shipped", "target")

    def __init__(self, target: Order, at: datetime) -> None:
        self.target = target
        self.at = at
        self.key = f"{target.channel}:{target.channel_order_id}"
        self.paid_in = any(p.kind is PaymentKind.PAYMENT for p in target.payments)
        self.cancelled = _units(target, _CANCELLED)
        self.shipped = _units(target, _SHIPPED, _RETURNED)
        self.refunded = _units(target, _REFUNDED)
        self.holds = frozenset(hold.kind for hold in target.holds)

    def paid(self) -> Money:
        """What ``target`` says the buyer paid: its payments, or without any, its
        payable (the order keeps its totals once derived)."""
        return _paid(self.target) if self.paid_in else self.target.totals.payable

    def next_event(self, stored: Order) -> Event | None:
        """The event that brings ``stored`` one step closer to the target (``None``:
        nothing is missing)."""
        steps = _COD_STEPS if stored.payment_terms is PaymentTerms.ON_DELIVERY else _STEPS
        for step in steps:
            event = step(stored, self)
            if event is not None:
                return event
        return None


def _units(order: Order, *buckets: LineStatus) -> dict[str, int]:
    return {line.line_id: sum(line.quantities[b] for b in buckets) for line in order.lines}


def _text(units: Mapping[str, int]) -> str:
    return ",".join(f"{line_id}={n}" for line_id, n in sorted(units.items()))


def _more(
    stored: Order,
    want: Mapping[str, int],
    buckets: tuple[LineStatus, ...],
    movable: tuple[LineStatus, ...] = (_OPEN,),
) -> dict[str, int]:
    """Units ``want`` has in ``buckets`` beyond ``stored``, up to what ``stored`` has in
    ``movable`` (the units they can come from); none without reading ``stored`` when
    ``want`` has none at all."""
    if not any(want.values()):
        return {}
    have, free = _units(stored, *buckets), _units(stored, *movable)
    return {
        line_id: n
        for line_id, wanted in want.items()
        if (n := min(wanted - have.get(line_id, 0), free.get(line_id, 0))) > 0
    }


def _paid(order: Order) -> Money:
    """What the order's payments brought in (its totals' ``paid``), summed from the
    payments alone: deciding whether a payment is missing needs no other total."""
    paid = Money.zero(order.currency)
    for payment in order.payments:
        if payment.kind is PaymentKind.PAYMENT:
            paid = paid + payment.amount
    return paid


def _release(stored: Order, want: Wanted) -> Event | None:
    for hold in stored.holds:
        if hold.by == SYNC_ACTOR.id and hold.kind not in want.holds:
            at = want.at
            return Event("release_hold",
                         event_id=f"{want.key}:release_hold:{hold.kind}:{_iso(at)}",
                         at=at, data={"kind": hold.kind}, actor=SYNC_ACTOR)
    return None


def _pay(stored: Order, want: Wanted) -> Event | None:
    target = want.target
    if stored.payment_terms is PaymentTerms.ON_DELIVERY:
        # Shipped unpaid: only money the payload says was collected is paid, whatever
        # its status (a shipped or delivered status says nothing about the money).
        if not want.paid_in or stored.status not in _COLLECTING:
            return None
    elif target.status not in _PAID or stored.status != OrderStatus.PENDING_PAYMENT:
        return None
    wanted = want.paid()
    amount = wanted - _paid(stored)
    if amount.amount <= 0:
        return None
    when = target.paid_at or next(
        (p.at for p in target.payments if p.kind is PaymentKind.PAYMENT), want.at
    )
    return Event("pay", event_id=f"{want.key}:pay:{wanted.amount}", at=when,
                 data={"amount": amount})


def _cancel_lines(stored: Order, want: Wanted) -> Event | None:
    if stored.status not in _CANCELLABLE:
        return None
    more = _more(stored, want.cancelled, (_CANCELLED,))
    if not more:
        return None
    return Event("cancel_lines", event_id=f"{want.key}:cancel_lines:{_text(want.cancelled)}",
                 at=want.at, data={"lines": more})


def _cancel(stored: Order, want: Wanted) -> Event | None:
    if want.target.status != OrderStatus.CANCELLED or stored.status not in _CANCELLABLE:
        return None
    if stored.status == OrderStatus.SHIPPED:
        return None  # goods left: the lifecycle cannot cancel; the refund says the rest
    return Event("cancel", event_id=f"{want.key}:cancel", at=want.at)


def _ship(stored: Order, want: Wanted) -> Event | None:
    unpaid_goes = (stored.status == OrderStatus.PENDING_PAYMENT
                   and stored.payment_terms is PaymentTerms.ON_DELIVERY)
    if stored.status not in _BEFORE_SHIP and stored.status != OrderStatus.SHIPPED and not (
        unpaid_goes
    ):
        return None
    more = _more(stored, want.shipped, (_SHIPPED, _RETURNED))
    if not more:
        return None
    known = {s.waybill for s in stored.shipments}
    parcel = next((s for s in want.target.shipments if s.waybill and s.waybill not in known),
                  None)
    carrier = (parcel.carrier if parcel is not None else "") or UNKNOWN_WAYBILL
    waybill = parcel.waybill if parcel is not None else UNKNOWN_WAYBILL
    when = (parcel.shipped_at if parcel is not None else None) or want.at
    return Event("ship", event_id=f"{want.key}:ship:{waybill}:{_text(want.shipped)}", at=when,
                 data={"carrier": carrier, "waybill": waybill, "lines": more})


def _refund(stored: Order, want: Wanted) -> Event | None:
    at = want.at
    if want.target.status == OrderStatus.CLOSED and stored.status != OrderStatus.CLOSED:
        totals = stored.totals
        left = totals.paid - totals.refunded
        if stored.status == OrderStatus.CANCELLED and left.amount <= 0:
            return None
        return Event("refund", event_id=f"{want.key}:refund:all", at=at,
                     data={"amount": left})
    # Refunded units come from open or shipped ones; what is owed back is what the
    # order, with them refunded, has been paid beyond its sold amount.
    more = _more(stored, want.refunded, (_REFUNDED,), (_OPEN, _SHIPPED))
    if not more:
        return None
    return Event("refund", event_id=f"{want.key}:refund:{_text(want.refunded)}", at=at,
                 data={"amount": _moved(stored, more).refund_due, "lines": more})


def _moved(order: Order, refunded: Mapping[str, int]) -> Order:
    """``order`` with these units refunded, open ones first (as the lifecycle moves them)."""
    lines = []
    for line in order.lines:
        n = refunded.get(line.line_id, 0)
        q = dict(line.quantities)
        from_open = min(n, q[_OPEN])
        q[_OPEN] -= from_open
        q[_SHIPPED] -= n - from_open
        q[_REFUNDED] += n
        lines.append(attrs.evolve(line, quantities=q))
    return attrs.evolve(order, lines=tuple(lines))


def _deliver(stored: Order, want: Wanted) -> Event | None:
    if stored.status != OrderStatus.SHIPPED:
        return None
    target = want.target
    if target.status not in (OrderStatus.DELIVERED, OrderStatus.COMPLETED):
        return None
    return Event("deliver", event_id=f"{want.key}:deliver", at=target.delivered_at or want.at)


def _complete(stored: Order, want: Wanted) -> Event | None:
    if stored.status != OrderStatus.DELIVERED or want.target.status != OrderStatus.COMPLETED:
        return None
    return Event("complete", event_id=f"{want.key}:complete", at=want.at)


def _hold(stored: Order, want: Wanted) -> Event | None:
    if stored.is_final or not want.holds:
        return None
    for hold in want.target.holds:
        if stored.hold(hold.kind) is None:
            at = want.at
            return Event("hold", event_id=f"{want.key}:hold:{hold.kind}:{_iso(at)}", at=at,
                         data={"kind": hold.kind, "reason": hold.reason}, actor=SYNC_ACTOR)
    return None


def _iso(at: datetime) -> str:
    return at.isoformat()


#: The steps in the order :func:`next_event` tries them.
_STEPS: Final = (_release, _pay, _cancel_lines, _cancel, _ship, _refund, _deliver, _complete,
                 _hold)
#: Cash on delivery: the goods go first and the carrier collects on delivery, so the
#: payment comes after the delivery and before the completion.
_COD_STEPS: Final = (_release, _cancel_lines, _cancel, _ship, _refund, _deliver, _pay,
                     _complete, _hold)
#: Statuses in which a cash on delivery order takes the money collected for it.
_COLLECTING: Final = frozenset(
    {OrderStatus.PENDING_PAYMENT, OrderStatus.PACKED, OrderStatus.SHIPPED,
     OrderStatus.DELIVERED, OrderStatus.COMPLETED}
)
