"""What an order may ship now, for a warehouse system that picks from the outbox alone.

A warehouse system (WMS) consuming the domain events cannot tell from them when an
order may be picked without re-implementing the lifecycle's rules. So the engine says
it: after every decision it compares the order before and after (:func:`readiness`)
and emits :class:`~orderkit.lifecycle.ReadyToShip` when what the order may ship changed
while it may ship, and :class:`~orderkit.lifecycle.NotReadyToShip` when an order that
could ship no longer may without having shipped everything. :func:`may_ship` is the one
rule both read, and what a host reads to seed a pick list from stored orders.

A presale's pick is due from the start of its ship-from day in ``ship_from_tz``: the
order repository's ship-from zone, which :class:`~orderkit.lifecycle.OrderService`
passes (the default accounting zone otherwise), so the pick, the watch and the wave
read one instant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import attrs

from orderkit.lifecycle.events import (
    DomainEvent,
    Event,
    NotReadyReason,
    NotReadyToShip,
    ReadyToShip,
)
from orderkit.lifecycle.table import DEFAULT_TABLE, TransitionTable
from orderkit.model.errors import ValidationError
from orderkit.model.orders import Address, LineStatus, Order
from orderkit.model.ship_dates import due_from, paid_since, promised_at
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, ensure_aware

__all__ = ["may_ship", "placed_ready", "readiness"]


def may_ship(order: Order, at: datetime, *, table: TransitionTable = DEFAULT_TABLE) -> bool:
    """Whether ``order`` may ship now (added in 0.3): it has units still to ship
    (``Order.open_units``), no hold at all (a hold stops every unit still open, whenever
    it was placed), and a ``ship`` of them is taken in its status: a ``ship`` row of
    ``table`` leaves the status and its guard passes at ``at`` for a parcel not
    labelled yet (an empty carrier and waybill, every open unit). Under the default table:
    PAID or PACKED; partly shipped (SHIPPED with units open); cash on delivery waiting
    to ship (PENDING_PAYMENT). Never a prepaid order that still owes money (a presale
    whose balance is unpaid), nor an ended one."""
    if not isinstance(order, Order):
        raise ValidationError("order", order, "expected an Order")
    at = ensure_aware(at, path="at")
    if not isinstance(table, TransitionTable):
        raise ValidationError("table", table, "expected a TransitionTable")
    return _ships(order, _probe(at), table)


def _probe(at: datetime) -> Event:
    """The ``ship`` :func:`may_ship` asks the table's guards about: a parcel not
    labelled yet, at ``at``."""
    return Event("ship", event_id="may_ship:probe", at=at,
                 data={"carrier": "", "waybill": ""})


def _ships(order: Order, probe: Event, table: TransitionTable) -> bool:
    """:func:`may_ship`, its arguments checked and its ``ship`` built."""
    if order.holds or not order.open_units:
        return False
    return any(rule.guard is None or table.guards[rule.guard](order, probe)
               for rule in table.candidates(order.status, "ship"))


@attrs.frozen
class _Pick:
    """What a warehouse picks for a shippable order: the fields of its ReadyToShip."""

    lines: Mapping[str, int]
    skus: Mapping[str, int]
    ship_to: Address | None
    ship_due_at: datetime
    promised_at: datetime | None


def _pick(order: Order, probe: Event, table: TransitionTable, tz: str) -> _Pick | None:
    """``order``'s pick, or ``None`` when it may not ship (:func:`may_ship`, asked
    with ``probe``); a presale's ship-from day begins in ``tz``."""
    if not _ships(order, probe, table):
        return None
    try:
        promised = promised_at(order)
    except ValidationError:
        promised = None  # an unreadable promise: the wave names it as bad_tag
    # Cash on delivery waiting to ship is due from its placing, as the wave reads it.
    due = due_from(order, paid_since(order) or order.created_at, tz=tz)
    return _Pick(order.open_units, order.open_units_by_sku, order.ship_to, due, promised)


def readiness(
    before: Order, after: Order, event: Event, now: datetime, table: TransitionTable,
    *, ship_from_tz: str = DEFAULT_ACCOUNTING_TZ,
) -> tuple[DomainEvent, ...]:
    """What ``event`` (applied at ``now``, taking ``before`` to ``after``) tells a
    warehouse about picking the order, judged at the event's own time: a
    :class:`ReadyToShip` when ``after`` may ship and ``before`` could not, or could
    pick something else (other open units, another ship-to); a :class:`NotReadyToShip`
    when ``before`` could ship and ``after`` may not, unless every unit that was open
    shipped; else nothing. A presale's ``ship_due_at`` is the start of its ship-from
    day in ``ship_from_tz`` (an IANA zone name, added in 0.3) when later than its
    payment."""
    probe = _probe(event.at)
    was = _pick(before, probe, table, ship_from_tz)
    pick = _pick(after, probe, table, ship_from_tz)
    if pick is not None:
        return () if pick == was else (_ready(after, pick, event.event_id, now),)
    if was is None:
        return ()
    reason = _why_not(before, after)
    if reason is None:
        return ()
    held = tuple(hold.kind for hold in after.holds) if reason is NotReadyReason.HELD else ()
    return (NotReadyToShip(after.order_id, event.event_id, now, reason.value, was.lines,
                           was.skus, int(after.status), held),)


def placed_ready(
    order: Order, table: TransitionTable, now: Callable[[], datetime],
    *, ship_from_tz: str = DEFAULT_ACCOUNTING_TZ,
) -> ReadyToShip | None:
    """The :class:`ReadyToShip` of ``order`` placed able to ship already (cash on
    delivery waiting to ship, an order imported paid), or ``None`` when it may not ship:
    judged at the order's own time (when it entered its status, else its creation) and
    stamped with ``now()``, read only when it may; a presale's ship-from day begins in
    ``ship_from_tz`` (as for :func:`readiness`). No event of its own says so, so
    :class:`~orderkit.lifecycle.OrderService` writes it with the placement, under the
    event id ``placed:<order id>``; the events applied to the order later tell the rest
    (:func:`readiness`)."""
    pick = _pick(order, _probe(order.status_since or order.created_at), table, ship_from_tz)
    return None if pick is None else _ready(order, pick, f"placed:{order.order_id}", now())


def _ready(order: Order, pick: _Pick, event_id: str, now: datetime) -> ReadyToShip:
    return ReadyToShip(order.order_id, event_id, now, pick.lines, pick.skus, pick.ship_to,
                       pick.ship_due_at, pick.promised_at)


def _why_not(before: Order, after: Order) -> NotReadyReason | None:
    """Why ``after`` may not ship what ``before`` could; ``None`` when every unit open
    before shipped (a full shipment, which its ``LinesShipped`` tells)."""
    if after.holds:
        return NotReadyReason.HELD
    if after.open_units:
        return NotReadyReason.STATUS
    gained = dict.fromkeys((LineStatus.CANCELLED, LineStatus.REFUNDED), 0)
    old = {line.line_id: line for line in before.lines}
    for line in after.lines:
        for status in gained:
            gained[status] += line.quantities[status] - old[line.line_id].quantities[status]
    if gained[LineStatus.CANCELLED] > 0:
        return NotReadyReason.CANCELLED
    if gained[LineStatus.REFUNDED] > 0:
        return NotReadyReason.REFUNDED
    return None
