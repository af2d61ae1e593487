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

A ship-to address the channel shows is brought with ``change_address`` only when it is
a *new address* (:func:`new_address`): the stored order has shipped nothing yet, and the
address names a street, none of its fields is a value the platform encrypted
(``~...~``, ``$...$``, ``#...#``), and it differs from the stored one in a field where
it is neither empty nor merely the stored value masked (``"张*"`` for ``"张三"``). An
emptied receiver (Pinduoduo clears it once the shipping window closes) or an encrypted
one is never a change, nor is any address once goods have left.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from orderkit.lifecycle.events import Event
from orderkit.lifecycle.policy import Actor
from orderkit.lifecycle.refunds import (
    money_only_refund,
    recorded_by_reference,
    refund_label,
    unrefunded,
)
from orderkit.lifecycle.table import refund_moves
from orderkit.model.money import Money
from orderkit.model.orders import (
    PAID_STATUSES,
    Address,
    Adjustment,
    AdjustmentKind,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    PaymentKind,
    PaymentTerms,
)

__all__ = [
    "MISMATCH_HOLD",
    "SYNC_ACTOR",
    "UNKNOWN_WAYBILL",
    "Wanted",
    "initial",
    "new_address",
    "next_event",
]

#: Who sync's holds and releases are by: sync releases only the holds it placed.
SYNC_ACTOR: Final = Actor("orderkit-sync")
#: Carrier and waybill of a shipment the payload reports without one.
UNKNOWN_WAYBILL: Final = "unknown"
#: The hold sync places while the channel shows lines or amounts the lifecycle has no
#: event for (a line added, an adjustment changed, a price changed after payment), or a
#: new address the lifecycle no longer takes (packed, past the edit window); its
#: reason names the difference, and sync releases it once the channel no longer shows one.
MISMATCH_HOLD: Final = "channel_mismatch"
#: Adjustments that never change what the buyer pays (fees, commissions) or that the
#: lifecycle itself adds (concessions and shipping given back, recorded by refunds and
#: a refused cash-on-delivery parcel): left out of the comparison, as is the rounding a
#: refund takes back (labelled by :func:`refund_label`).
_UNCOMPARED: Final = frozenset(
    {AdjustmentKind.FEE, AdjustmentKind.COMMISSION, AdjustmentKind.CONCESSION,
     AdjustmentKind.SHIPPING_CONCESSION}
)

_BEFORE_SHIP: Final = frozenset({OrderStatus.PAID, OrderStatus.PACKED})
#: Where an order's goods have not left yet: its address still matters.
_UNSHIPPED: Final = _BEFORE_SHIP | {OrderStatus.PENDING_PAYMENT}
#: Where the goods have left (in whole or in part): the table takes no hold there.
_GONE: Final = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})


def _goods_left(stored: Order) -> bool:
    """Whether ``stored`` is past taking a hold: ended, or its goods left."""
    return stored.is_final or stored.status in _GONE


#: Longest hold reason sync writes.
_REASON_MAX: Final = 1000
_CANCELLABLE: Final = frozenset(
    {OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.PACKED, OrderStatus.SHIPPED}
)
_OPEN, _SHIPPED, _CANCELLED = LineStatus.OPEN, LineStatus.SHIPPED, LineStatus.CANCELLED
_REFUNDED, _RETURNED = LineStatus.REFUNDED, LineStatus.RETURNED
#: A value a platform encrypted rather than masked: Pinduoduo's and Douyin's ciphertexts
#: are wrapped in ``~``, ``$`` or ``#`` (``~AgAAAAGd...~0~``, ``$1380013$AgAAAA...$``).
_ENCRYPTED: Final = re.compile(r"^([~$#]).+\1$", re.DOTALL)
#: A run of mask characters in a value the platform masked (``138****5678``).
_MASK: Final = re.compile(r"\*+")


def initial(order: Order) -> Order:
    """``order`` as it was when placed: unpaid, every unit open, nothing shipped,
    refunded or held (a line whose units are all open already, with no refund id, is
    kept as it is)."""
    return attrs.evolve(
        order,
        status=OrderStatus.PENDING_PAYMENT,
        lines=tuple(
            line if line.quantities[_OPEN] == line.quantity and not line.refund_id else
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


def new_address(stored: Order, target: Order) -> Address | None:
    """``target``'s ship-to address when it is a new address for ``stored`` (see the
    module's text): ``stored`` has shipped nothing (unpaid, paid or packed), the address
    names a street, none of its fields is encrypted, and a field differs from the stored
    one other than by masking or emptying it; else ``None``."""
    if stored.shipments or stored.status not in _UNSHIPPED:
        return None  # the goods left: where they went is the carrier's, not a change
    address = target.ship_to
    if address is None or not address.street or address == stored.ship_to:
        return None
    values = attrs.astuple(address)
    if any(_ENCRYPTED.match(value) for value in values):
        return None
    have = stored.ship_to
    if have is not None and all(
        _masks(value, known) for value, known in zip(values, attrs.astuple(have), strict=True)
    ):
        return None
    return address


def _masks(value: str, known: str) -> bool:
    """Whether ``value`` is ``known``, ``known`` masked (each run of ``*`` standing
    for some of its characters), or empty (the platform no longer says)."""
    if value == known or not value:
        return True
    if "*" not in value:
        return False
    pattern = ".+".join(re.escape(part) for part in _MASK.split(value))
    return re.fullmatch(pattern, known, re.DOTALL) is not None


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
    sync does for each payload while the lifecycle applies its events one by one.

    With ``readdress=False`` a new address is not brought with ``change_address`` but
    held as a difference (:data:`MISMATCH_HOLD`): what sync decides once the lifecycle
    refused the address (``AddressLocked``)."""

    __slots__ = ("at", "cancelled", "holds", "key", "lines", "listed", "paid_back",
                 "paid_in", "readdress", "refunded", "shipped", "target")

    def __init__(self, target: Order, at: datetime, *, readdress: bool = True) -> None:
        self.target = target
        self.at = at
        self.readdress = readdress
        self.key = f"{target.channel}:{target.channel_order_id}"
        self.paid_in = any(p.kind is PaymentKind.PAYMENT for p in target.payments)
        self.cancelled = _units(target, _CANCELLED)
        self.shipped = target.sent_units
        self.refunded = _units(target, _REFUNDED)
        self.listed = tuple(p for p in target.payments if p.kind is PaymentKind.REFUND)
        self.paid_back = _paid(target, PaymentKind.REFUND)
        self.holds = frozenset(hold.kind for hold in target.holds)
        self.lines = {line.line_id: line for line in target.lines}

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
    return _beyond(want, _units(stored, *buckets), _units(stored, *movable))


def _beyond(
    want: Mapping[str, int], have: Mapping[str, int], free: Mapping[str, int]
) -> dict[str, int]:
    """Units ``want`` has beyond ``have``, up to ``free``, by line id."""
    return {
        line_id: n
        for line_id, wanted in want.items()
        if (n := min(wanted - have.get(line_id, 0), free.get(line_id, 0))) > 0
    }


def _paid(order: Order, kind: PaymentKind = PaymentKind.PAYMENT) -> Money:
    """What the order's payments brought in (its totals' ``paid``), or with
    ``kind=REFUND`` paid back, summed from the payments alone: deciding whether a
    payment is missing needs no other total."""
    paid = Money.zero(order.currency)
    for payment in order.payments:
        if payment.kind is kind:
            paid = paid + payment.amount
    return paid


def _release(stored: Order, want: Wanted) -> Event | None:
    if _goods_left(stored):
        return None  # sync changes no hold once goods left: see _hold
    for hold in stored.holds:
        if hold.by == SYNC_ACTOR.id and hold.kind not in want.holds and (
            hold.kind != MISMATCH_HOLD or _difference(stored, want) is None
        ):
            at = want.at
            return Event("release_hold",
                         event_id=f"{want.key}:release_hold:{hold.kind}:{_iso(at)}",
                         at=at, data={"kind": hold.kind}, actor=SYNC_ACTOR)
    return None


def _unpaid(stored: Order) -> bool:
    """Before payment (and before any shipment): its lines and prices may still change."""
    return stored.status == OrderStatus.PENDING_PAYMENT and not stored.shipments


def _reprice(stored: Order, want: Wanted) -> Event | None:
    """Before payment, a line whose unit price the channel changed: ``change_price``."""
    if not _unpaid(stored):
        return None
    for line in stored.lines:
        wanted = want.lines.get(line.line_id)
        if wanted is None or wanted is line or wanted.sku != line.sku:
            continue
        price = wanted.unit_price
        if price != line.unit_price and price.currency == line.unit_price.currency:
            at = want.at
            return Event("change_price",
                         event_id=f"{want.key}:change_price:{line.line_id}:{price.amount}:"
                                  f"{_iso(at)}",
                         at=at, data={"line_id": line.line_id, "unit_price": price})
    return None


def _remove(stored: Order, want: Wanted) -> Event | None:
    """Before payment, lines the channel no longer shows: their open units cancelled
    (unless a line kept its id with another SKU, as lines numbered by position are when
    one before them goes: that difference is :func:`_mismatch`'s)."""
    if not _unpaid(stored):
        return None
    if len(want.lines) >= len(stored.lines) and all(
        line.line_id in want.lines for line in stored.lines
    ):
        return None
    gone: dict[str, int] = {}
    for line in stored.lines:
        wanted = want.lines.get(line.line_id)
        if wanted is None:
            if line.quantities[_OPEN]:
                gone[line.line_id] = line.quantities[_OPEN]
        elif wanted.sku != line.sku:
            return None  # lines numbered by position and renumbered: not told apart here
    if not gone:
        return None
    return Event("cancel_lines", event_id=f"{want.key}:remove_lines:{_text(gone)}", at=want.at,
                 data={"lines": gone})


def _pay(stored: Order, want: Wanted) -> Event | None:
    target = want.target
    if stored.payment_terms is PaymentTerms.ON_DELIVERY:
        # Shipped unpaid: only money the payload says was collected is paid, whatever
        # its status (a shipped or delivered status says nothing about the money).
        if not want.paid_in or stored.status not in _COLLECTING:
            return None
    elif target.status not in PAID_STATUSES or stored.status != OrderStatus.PENDING_PAYMENT:
        return None
    wanted = want.paid()
    amount = wanted - _paid(stored)
    if amount.amount < 0 or not (amount.amount or _owes_nothing_unpaid(stored)):
        return None
    when = target.paid_at or next(
        (p.at for p in target.payments if p.kind is PaymentKind.PAYMENT), want.at
    )
    data: dict[str, object] = {"amount": amount}
    # The gateway's transaction number and method the payload names (the latest payment
    # that names one) go with the money, so the stored payment links to the gateway's;
    # a number a stored payment carries already (a deposit the host recorded under the
    # trade's number) does not: that money is in ``_paid(stored)``, and this is the rest.
    for payment in reversed(target.payments):
        if payment.kind is PaymentKind.PAYMENT and (payment.reference or payment.method):
            if payment.reference and recorded_by_reference(
                    stored, PaymentKind.PAYMENT, payment.reference) is None:
                data["reference"] = payment.reference
            if payment.method:
                data["method"] = payment.method
            break
    return Event("pay", event_id=f"{want.key}:pay:{wanted.amount}", at=when, data=data)


def _owes_nothing_unpaid(stored: Order) -> bool:
    """Whether ``stored`` was never paid and owes nothing (a platform coupon covered
    it): a ``pay`` of 0.00 is what pays it, as the lifecycle takes it."""
    return stored.paid_at is None and not stored.due.amount


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


def _readdress(stored: Order, want: Wanted) -> Event | None:
    """A new address (:func:`new_address`): ``change_address`` by
    :data:`SYNC_ACTOR` at the payload's modified time, its id from the order, the
    address and that time (the same version read twice is one event; an address the
    buyer goes back to later is a new one)."""
    if not want.readdress:
        return None
    address = new_address(stored, want.target)
    if address is None:
        return None
    at = want.at
    text = "\x1f".join(attrs.astuple(address))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return Event("change_address", event_id=f"{want.key}:change_address:{digest}:{_iso(at)}",
                 at=at, data={"address": address}, actor=SYNC_ACTOR)


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
    # One parcel at a time, each with its own waybill, time and units (what it carried
    # of the units still missing); what no parcel names goes last, as one shipment.
    known = {s.waybill for s in stored.shipments}
    parcel = next((s for s in want.target.shipments if s.waybill and s.waybill not in known),
                  None)
    if parcel is not None:
        carried = {line_id: n for line_id, units in parcel.lines.items()
                   if (n := min(units, more.get(line_id, 0))) > 0}
        more = carried or more
    carrier = (parcel.carrier if parcel is not None else "") or UNKNOWN_WAYBILL
    waybill = parcel.waybill if parcel is not None else UNKNOWN_WAYBILL
    when = (parcel.shipped_at if parcel is not None else None) or want.at
    return Event("ship", event_id=f"{want.key}:ship:{waybill}:{_text(want.shipped)}", at=when,
                 data={"carrier": carrier, "waybill": waybill, "lines": more})


def _refund(stored: Order, want: Wanted) -> Event | None:
    """Money the channel paid back that ``stored`` has not: for a CLOSED trade
    everything (:func:`_refund_all`), for refunded lines their units
    (:func:`_refund_units`), and money listed without units (:func:`_refund_money`).
    When the channel lists its refunds, a CLOSED trade's lines go first, each with
    its own listed refund, and closing pays what the list has left."""
    closing = want.target.status == OrderStatus.CLOSED and stored.status != OrderStatus.CLOSED
    if closing and not want.listed:
        return _refund_all(stored, want)
    event = _refund_units(stored, want)
    if event is not None:
        return event
    return _refund_all(stored, want) if closing else _refund_money(stored, want)


def _refund_all(stored: Order, want: Wanted) -> Event | None:
    """The refund that closes ``stored`` as the channel closed the trade: everything
    still paid, or when the channel lists its refunds what they add up to beyond what
    ``stored`` refunded (naming the units still sold, so the order closes with the rest
    owed, as the mapped order shows it)."""
    totals = stored.totals
    left = totals.paid - totals.refunded
    listed = _listed(stored, want)
    back = _paid_back(stored)
    refund_ids = [want.lines[line_id].refund_id for line_id, n in want.refunded.items()
                  if n > back.get(line_id, 0)]
    data: dict[str, object] = {"amount": left}
    if listed is not None:
        amount, refund_ids = listed
        sold = {line_id: n for line_id, n in stored.sold_units.items() if n}
        if amount.amount <= 0 and not sold:
            return None  # the listed money is recorded and nothing is left to close
        if amount != left or not amount.amount:  # else a refund of everything closes it
            data = {"amount": max(amount, Money.zero(amount.currency))}
            if sold:
                data["lines"] = _named(stored, sold, {})
    elif stored.is_final and left.amount <= 0:
        # Ended with nothing left to pay back (cancelled, or completed and refunded
        # in full): a zero refund cannot close it, the order has nothing to change.
        return None
    _refer(stored, data, refund_ids)
    return Event("refund", event_id=f"{want.key}:refund:all", at=want.at, data=data)


def _refund_units(stored: Order, want: Wanted) -> Event | None:
    """Units refunded beyond those the order paid back: they come from returned units
    still owed for, then from open or shipped ones. What goes back is what the channel
    lists for them (:func:`_listed`), else what the order, with them refunded as the
    lifecycle refunds them, has been paid beyond its sold amount. Units whose refund id
    a refund recorded as money only carries are that refund's: they are told with its
    id and amount, which the lifecycle takes as their refund's lines, no new money."""
    if not any(want.refunded.values()):
        return None
    back = _paid_back(stored)
    out = _units(stored, _REFUNDED, _RETURNED)
    owed = {line_id: out[line_id] - n for line_id, n in back.items()}
    free = {line_id: n + owed[line_id] for line_id, n in _units(stored, _OPEN,
                                                                _SHIPPED).items()}
    more = _beyond(want.refunded, back, free)
    if not more:
        return None
    # One refund per platform refund id (the first line's first; lines without one
    # together), its id the units it brings the order to.
    refund_id = want.lines[next(iter(more))].refund_id
    group = {line_id: n for line_id, n in more.items()
             if want.lines[line_id].refund_id == refund_id}
    reached = {line_id: n - (0 if line_id in group else more.get(line_id, 0))
               for line_id, n in want.refunded.items()}
    event_id = f"{want.key}:refund:{_text(reached)}"
    recorded = money_only_refund(stored, refund_id)
    if recorded is not None:
        # Its refund was recorded as money only (a webhook told "refund <id> of 43.70"):
        # these are its units, told with its id and amount, so the lifecycle gives them
        # to it instead of paying them back again.
        return Event("refund", event_id=event_id, at=want.at, data={
            "amount": recorded.amount, "reference": refund_id,
            "lines": _named(unrefunded(stored, recorded), group, owed)})
    lines = _named(stored, group, owed)
    later = frozenset(want.lines[line_id].refund_id for line_id in more
                      if line_id not in group) - {""}
    listed = _listed(stored, want, refund_id, later)
    if listed is None:
        moves = refund_moves(stored, Event("refund", event_id=event_id, at=want.at,
                                           data={"lines": lines}))
        amount, refund_ids = _moved(stored, moves).refund_due, [refund_id]
    else:
        # Listed below what the order refunded: the units go and nothing is paid
        # twice; the difference holds the order (_difference).
        amount, refund_ids = listed
        amount = max(amount, Money.zero(amount.currency))
    data: dict[str, object] = {"amount": amount, "lines": lines}
    _refer(stored, data, refund_ids)
    return Event("refund", event_id=event_id, at=want.at, data=data)


def _refund_money(stored: Order, want: Wanted) -> Event | None:
    """Money paid back without units named (WooCommerce ``refunds``): what the channel
    lists beyond what the order has refunded, its id the listed total."""
    listed = _listed(stored, want)
    if listed is None or listed[0].amount <= 0:
        return None
    amount, refund_ids = listed
    data: dict[str, object] = {"amount": amount}
    _refer(stored, data, refund_ids)
    return Event("refund", event_id=f"{want.key}:refund:{want.paid_back.amount}", at=want.at,
                 data=data)


def _listed(
    stored: Order, want: Wanted, refund_id: str = "", later: frozenset[str] = frozenset()
) -> tuple[Money, list[str]] | None:
    """What the channel's listed refunds (a map's ``RefundPaymentSpec``) say the refund
    sync brings now pays back, with the refund ids it stands for (see :func:`_refer`);
    ``None`` when the channel lists none.

    A refund under the line refund id ``refund_id`` that a listed refund not recorded
    yet carries (by its reference) pays that listed refund. Any other pays what the
    listed refunds add up to beyond what ``stored`` refunded, less the listed refunds
    not recorded yet that other lines' refunds (their ids ``later``) will pay; it
    stands for ``refund_id``, else for the listed refund of that amount alone."""
    if not want.listed:
        return None
    new = [p for p in want.listed
           if recorded_by_reference(stored, PaymentKind.REFUND, p.reference) is None]
    zero = Money.zero(want.paid_back.currency)
    if refund_id:
        own = [p.amount for p in new if p.reference == refund_id]
        if own:
            return sum(own, zero), [refund_id]
    amount = want.paid_back - _paid(stored, PaymentKind.REFUND)
    amount = amount - sum((p.amount for p in new if p.reference in later), zero)
    if refund_id:
        return amount, [refund_id]
    return amount, [p.reference for p in new if p.reference not in later and p.amount == amount]


def _refer(stored: Order, data: dict[str, object], refund_ids: Sequence[str]) -> None:
    """Give a refund's ``data`` the platform's refund id as its ``reference`` when
    ``refund_ids`` (one for each part of what it pays back, ``""`` for a part without
    one) are one id that no refund ``stored`` records carries yet. A refund recorded
    under it (by a webhook, say) is in what ``stored`` refunded, so what sync brings
    now is not that refund told again but money beyond it, which the lifecycle would
    otherwise take for a duplicate or refuse (the units of a refund recorded as money
    only are told with its id by :func:`_refund_units`)."""
    if (len(set(refund_ids)) == 1 and refund_ids[0]
            and recorded_by_reference(stored, PaymentKind.REFUND, refund_ids[0]) is None):
        data["reference"] = refund_ids[0]


def _paid_back(order: Order) -> dict[str, int]:
    """Units of each line whose money went back to the buyer, as a channel counts its
    refunded units: the REFUNDED ones, and the RETURNED ones a refund paid for. While
    the buyer is owed nothing, that is every RETURNED unit; while the buyer is owed
    money, those the order's refunds named beyond its REFUNDED units (a refund before
    the goods came back, whose units the receipt took from REFUNDED, or one naming
    units already back); the other RETURNED units are still owed for."""
    owing = bool(order.refund_due)
    named: Counter[str] = Counter()
    if owing:
        for payment in order.payments:
            if payment.kind is PaymentKind.REFUND:
                named.update(payment.lines)
    back = {}
    for line in order.lines:
        refunded, returned = line.quantities[_REFUNDED], line.quantities[_RETURNED]
        paid = min(returned, max(0, named[line.line_id] - refunded)) if owing else returned
        back[line.line_id] = refunded + paid
    return back


def _named(order: Order, more: Mapping[str, int], owed: Mapping[str, int]) -> dict[str, int]:
    """The lines a refund of ``more`` units names (each line's units still owed for
    first, then open or shipped ones): ``more`` itself, but while the buyer is owed
    money a line that also gives back open or shipped units names its units already
    out of the sale too, since the lifecycle then counts those among the units named
    (:func:`~orderkit.lifecycle.table.refund_moves`) and moves only the rest."""
    if not order.refund_due:
        return dict(more)
    named = {}
    for line_id, n in more.items():
        moving = n - min(n, owed.get(line_id, 0))
        if moving:
            quantities = order.line(line_id).quantities
            n = moving + quantities[_CANCELLED] + quantities[_RETURNED]
        named[line_id] = n
    return named


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
    # Holds say "do not ship". Once an order has shipped (in whole or in part) the
    # payload's other updates apply and its holds are not placed, so one platform flag
    # never stops the order's later versions (the ship of its last units the platform
    # shows, refunds, delivery) from applying. The lifecycle takes a hold on a partly
    # shipped order; a person or the warehouse places it, not sync.
    if _goods_left(stored) or not want.holds:
        return None
    for hold in want.target.holds:
        if stored.hold(hold.kind) is None:
            at = want.at
            return Event("hold", event_id=f"{want.key}:hold:{hold.kind}:{_iso(at)}", at=at,
                         data={"kind": hold.kind, "reason": hold.reason}, actor=SYNC_ACTOR)
    return None


def _mismatch(stored: Order, want: Wanted) -> Event | None:
    """A difference in lines, amounts or the address no other step can bring (see
    :func:`_difference`):
    the :data:`MISMATCH_HOLD` hold, with the difference as its reason."""
    if _goods_left(stored) or stored.hold(MISMATCH_HOLD) is not None:
        return None  # see _hold: no hold once the goods left
    reason = _difference(stored, want)
    if reason is None:
        return None
    at = want.at
    return Event("hold", event_id=f"{want.key}:hold:{MISMATCH_HOLD}:{_iso(at)}", at=at,
                 data={"kind": MISMATCH_HOLD, "reason": reason[:_REASON_MAX]},
                 actor=SYNC_ACTOR)


def _difference(stored: Order, want: Wanted) -> str | None:
    """What the channel shows of ``stored``'s lines and amounts that the lifecycle has no
    event for, as text (``None``: nothing): a line added; a line's SKU or quantity
    changed; after payment, a line gone (units not cancelled) or repriced; an adjustment
    the buyer's price depends on (not a fee, commission or concession) added, changed or
    gone; refunds the channel lists adding up to other than ``stored`` refunded (more
    than the lifecycle took, or less than it refunded); a new address
    (:func:`new_address`: :func:`_readdress`'s, unless the lifecycle refused it).
    Before payment a repriced line is :func:`_reprice`'s and a line gone
    :func:`_remove`'s."""
    target = want.target
    found: list[str] = []
    unpaid = _unpaid(stored)
    matched = 0
    for line in stored.lines:
        wanted = want.lines.get(line.line_id)
        if wanted is not None:
            matched += 1
        if wanted is line:
            continue
        if wanted is None:
            if not unpaid and line.quantities[_CANCELLED] != line.quantity:
                found.append(f"line {line.line_id} ({line.sku}) is gone from the channel")
        elif wanted.sku != line.sku or wanted.quantity != line.quantity:
            found.append(f"line {line.line_id} is {wanted.quantity} x {wanted.sku} on the "
                         f"channel, {line.quantity} x {line.sku} stored")
        elif wanted.unit_price != line.unit_price and not unpaid:
            found.append(f"line {line.line_id} costs {wanted.unit_price} a unit on the "
                         f"channel, {line.unit_price} stored")
    if matched < len(want.lines):
        known = {line.line_id for line in stored.lines}
        found += [f"line {line.line_id} ({line.quantity} x {line.sku} at {line.unit_price}) "
                  "is on the channel, not stored" for line in target.lines
                  if line.line_id not in known]
    if stored.adjustments != target.adjustments:
        # A line gone from the channel takes its adjustments with it.
        gone = frozenset(line.line_id for line in stored.lines if line.line_id not in want.lines)
        refunds = frozenset(refund_label(p.payment_id) for p in stored.payments
                            if p.kind is PaymentKind.REFUND)
        have = _adjusted(stored.adjustments, gone, refunds)
        want_ = _adjusted(target.adjustments, gone, refunds)
        for sign, items in (("on the channel, not stored", want_ - have),
                            ("stored, not on the channel", have - want_)):
            found += [f"adjustment {kind} {amount}"
                      + (f" on line {line_id}" if line_id else "") + f" {sign}"
                      for kind, amount, line_id in sorted(items.elements(), key=str)]
    if want.listed:
        refunded = _paid(stored, PaymentKind.REFUND)
        if refunded != want.paid_back:
            found.append(f"refunds of {want.paid_back} listed on the channel, {refunded} "
                         "refunded stored")
    address = new_address(stored, target)
    if address is not None:
        found.append(f"ship-to address {_address_text(address)} on the channel, "
                     f"{_address_text(stored.ship_to)} stored")
    if not found:
        return None
    return "the channel shows what the lifecycle has no event for: " + "; ".join(found)


def _adjusted(
    adjustments: tuple[Adjustment, ...], gone: frozenset[str], refunds: frozenset[str]
) -> Counter[tuple[str, Decimal, str]]:
    return Counter((str(a.kind), a.amount.amount, a.line_id or "") for a in adjustments
                   if a.kind not in _UNCOMPARED and a.line_id not in gone
                   and a.label not in refunds)


def _address_text(address: Address | None) -> str:
    if address is None:
        return "none"
    return " ".join(value for value in attrs.astuple(address) if value) or "empty"


def _iso(at: datetime) -> str:
    return at.isoformat()


#: The steps in the order :func:`next_event` tries them.
_STEPS: Final = (_release, _reprice, _remove, _pay, _cancel_lines, _cancel, _readdress, _ship,
                 _refund, _deliver, _complete, _hold, _mismatch)
#: Cash on delivery: the goods go first and the carrier collects on delivery, so the
#: payment comes after the delivery and before the completion.
_COD_STEPS: Final = (_release, _reprice, _remove, _cancel_lines, _cancel, _readdress, _ship,
                     _refund, _deliver, _pay, _complete, _hold, _mismatch)
#: Statuses in which a cash on delivery order takes the money collected for it.
_COLLECTING: Final = frozenset(
    {OrderStatus.PENDING_PAYMENT, OrderStatus.PACKED, OrderStatus.SHIPPED,
     OrderStatus.DELIVERED, OrderStatus.COMPLETED}
)
