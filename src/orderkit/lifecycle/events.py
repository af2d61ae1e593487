"""What goes into the lifecycle (:class:`Event`) and what comes out (domain events).

An :class:`Event` is a request to change an order: a payment callback, a warehouse scan,
a carrier scan, a customer-service action. It carries an ``event_id`` chosen by whoever
produced it (the gateway's notify id, the carrier's scan id), so that a second delivery
of the same fact can be recognised and ignored.

The domain events are facts the engine decided, for the host to publish after the order
is saved (outbox style): inventory releases exactly the units named in
:class:`LinesCancelled`, finance books revenue per shipment on the value each
:class:`LinesShipped` carries (a carrier scan that proved a shipment no ``ship`` told
also says :class:`ReceivableDue`, of the same value), a carrier gateway forwards
:class:`AddressChanged`. Every domain event names the order, the input
event id that caused it and when the engine decided it, so consumers can deduplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, cast

import attrs

from orderkit.lifecycle.policy import Actor
from orderkit.model import _checks as check
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import Address
from orderkit.model.serialization import from_dict
from orderkit.model.time import ensure_instant

__all__ = [
    "DOMAIN_EVENTS",
    "EVENT_DATA",
    "EVENT_NAMES",
    "AddressChanged",
    "DomainEvent",
    "Event",
    "HoldPlaced",
    "HoldReleased",
    "LinesCancelled",
    "LinesShipped",
    "LinesUnshipped",
    "NotReadyReason",
    "NotReadyToShip",
    "OrderCancelled",
    "Overpaid",
    "PaymentReceived",
    "PaymentShort",
    "PriceChanged",
    "ReadyToShip",
    "ReceivableDue",
    "RefundDue",
    "RefundLinesAssigned",
    "RefundSplit",
    "Refunded",
    "ReturnCancelled",
    "ReturnReceived",
    "ReturnRequested",
    "StatusChanged",
    "StockShort",
    "StockShortage",
    "TrackingRecorded",
    "read_event",
]

#: Per built-in event, the data keys the engine reads for it (and ``approved_by``, read
#: for every event; see ``docs/lifecycle.md``), each with the type of its value when
#: JSON has none for it, else ``None``: :func:`~orderkit.model.serialization.to_dict`
#: writes Money as ``{"amount", "currency"}``, a datetime as ISO text, an Address as an
#: object, and an :class:`Event` reads them back from those forms. A host's own events
#: (see :class:`~orderkit.lifecycle.TransitionTable`) carry what the host likes.
EVENT_DATA: Final[Mapping[str, Mapping[str, type[Any] | None]]] = {
    "pay": {"amount": Money, "method": None, "reference": None},
    "pack": {},
    "ship": {"carrier": None, "waybill": None, "lines": None},
    "track": {
        "status": None, "carrier_time": datetime, "waybill": None, "carrier": None,
        "location": None, "description": None,
    },
    "deliver": {},
    "complete": {},
    "cancel": {},
    "cancel_lines": {"lines": None},
    "refund": {"amount": Money, "lines": None, "method": None, "reference": None},
    "hold": {"kind": None, "reason": None},
    "release_hold": {"kind": None},
    "change_address": {"address": Address},
    "change_price": {"line_id": None, "unit_price": Money},
    "return_requested": {"lines": None},
    "return_received": {"lines": None, "sellable": None},
    "return_cancelled": {"lines": None, "reason": None},
}

#: The event names the engine knows how to apply (a table may declare more, see
#: :class:`~orderkit.lifecycle.TransitionTable`; those only move the status).
EVENT_NAMES = frozenset(EVENT_DATA)


def _data(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("data", value, "expected a mapping or None")
    for key in value:
        if not isinstance(key, str):
            raise ValidationError("data", key, "keys must be strings")
    return dict(value)


def _at(value: object) -> datetime:
    return ensure_instant(value, path="at")


#: Per built-in event, the keys of :data:`EVENT_DATA` whose values have JSON forms.
_JSON_FORMS: Final[Mapping[str, Mapping[str, type[Any]]]] = {
    name: typed
    for name, keys in EVENT_DATA.items()
    if (typed := {key: kind for key, kind in keys.items() if kind is not None})
}


def _from_json_forms(name: str, data: dict[str, Any]) -> None:
    """Read the values of ``name``'s typed keys in ``data`` back from their JSON forms,
    in place; any other value is left for the event's data check to judge."""
    for key, kind in _JSON_FORMS.get(name, {}).items():
        value = data.get(key)
        if not isinstance(value, str if kind is datetime else Mapping):
            continue  # the value itself, or one the data check refuses
        try:
            data[key] = from_dict(kind, value)
        except ValidationError as error:
            raise error.at(f"data.{key}") from None


@attrs.frozen
class Event:
    """A request to change an order.

    ``name`` is one of the table's events (``"pay"``, ``"ship"``, ...), ``event_id`` the
    producer's id for this fact (re-delivering the same id changes nothing), ``at`` when
    it happened (aware), ``data`` the event's details (see ``docs/lifecycle.md``) and
    ``actor`` who asks (``None`` for system and carrier events).

    A built-in event's Money, datetime and Address data may also be given in the JSON
    forms :func:`~orderkit.model.serialization.to_dict` writes, and are read back
    from them: ``from_dict(Event, to_dict(event)) == event``.
    """

    name: str = attrs.field(validator=check.text(allow_empty=False, max_length=64))
    event_id: str = attrs.field(kw_only=True, validator=check.text(allow_empty=False))
    at: datetime = attrs.field(kw_only=True, converter=_at)
    data: Mapping[str, Any] = attrs.field(kw_only=True, default=None, converter=_data)
    actor: Actor | None = attrs.field(
        kw_only=True, default=None, validator=check.instance(Actor, optional=True)
    )

    def __attrs_post_init__(self) -> None:
        # The data's converter cannot see the name, which says which keys are typed; the
        # dict it made is the event's own, so their values are read back in it.
        _from_json_forms(self.name, cast("dict[str, Any]", self.data))


def _decided(event: DomainEvent) -> datetime:
    return event.at


def _none_of_amount(event: LinesCancelled | OrderCancelled) -> Money:
    """Zero in the currency of ``event``'s ``amount``: the ``rounding`` of a cancel's
    payload written before it was added."""
    return Money.zero(event.amount.currency)


@attrs.frozen
class DomainEvent:
    """Base of every fact the engine emits: which order, caused by which event, when.

    ``at`` is when the engine decided it (the clock's time), ``occurred_at`` (added in
    0.3) when the fact itself happened: the causing :class:`Event`'s own ``at`` (a
    payment's time at the gateway, a shipment's at the warehouse), the time finance
    books it by (:func:`~orderkit.model.time.accounting_date`), as the order's own
    ``paid_at`` is. An event processed late is dated by its fact, not by the clock; a
    payload written before 0.3 reads back with ``occurred_at`` equal to ``at``.
    """

    order_id: str
    event_id: str
    at: datetime
    occurred_at: datetime = attrs.field(
        kw_only=True, default=attrs.Factory(_decided, takes_self=True)
    )


@attrs.frozen
class StatusChanged(DomainEvent):
    """The order's status moved (every move emits one)."""

    event: str
    from_status: int
    to_status: int


@attrs.frozen
class PaymentReceived(DomainEvent):
    """A payment was recorded: ``amount``, and (added in 0.3; empty when the ``pay``
    gave none) its ``method`` (how it paid: the clearing account it reached) and
    ``reference`` (the gateway's transaction number, to match its statement)."""

    amount: Money
    method: str = ""
    reference: str = ""


@attrs.frozen
class PaymentShort(DomainEvent):
    """A payment covered less than was due: the order is not PAID yet; later payments
    add up (a presale's deposit, then its balance)."""

    due: Money
    received: Money
    short: Money


@attrs.frozen
class Overpaid(DomainEvent):
    """A payment covered more than was due: the order is PAID and held for payment
    review (``payment_review``) until finance settles the ``excess``."""

    excess: Money


@attrs.frozen
class LinesShipped(DomainEvent):
    """Units left the warehouse: ``lines`` maps line id to units, ``skus`` SKU to units.

    ``forced`` is true when a carrier scan proved the shipment and no ``ship`` came.

    What the units sent are sold for (added in 0.3), the revenue a booker recognises on
    this shipment: their ``goods`` value, their share of the order's ``discounts``,
    ``shipping``, ``tax`` and ``rounding`` (a till's rounding down is spread over the
    lines; the first parcel also carries the order's own shipping and rounding up), and
    ``amount``, the net of those: ``goods - discounts + shipping + tax + rounding`` (see
    :class:`~orderkit.model.orders.SoldValue`). Over an order's shipments, each part
    (less that of :class:`LinesUnshipped`) adds up to that part of the value of its
    units shipped and still sold: to ``Order.sold_value`` (and ``amount`` to
    ``Order.totals.sold``) once nothing is open and nothing shipped left the sale.
    ``None`` in a payload written before 0.3 (``rounding``: before it was added; the
    other parts add up to ``amount`` then only when the order has no rounding).
    """

    shipment_id: str
    waybill: str
    lines: Mapping[str, int]
    skus: Mapping[str, int]
    forced: bool = False
    goods: Money | None = None
    discounts: Money | None = None
    shipping: Money | None = None
    tax: Money | None = None
    amount: Money | None = None
    rounding: Money | None = None


@attrs.frozen
class LinesUnshipped(DomainEvent):
    """Units a carrier scan shipped never left (added in 0.3): the scan moved an order
    no ``ship`` had reached and shipped every open unit with its parcel
    (:class:`LinesShipped` ``forced``); the warehouse's ``ship`` of that parcel
    (``shipment_id``, ``waybill``) names fewer. ``lines`` (line id to units) and
    ``skus`` (SKU to units) are open again: the inventory ledger takes them back from
    what the order's lock committed (``stock.uncommit``), and a later ``ship`` sends
    them. The order's money does not change: the units are still sold, but no longer
    shipped: ``goods``, ``discounts``, ``shipping``, ``tax``, ``rounding`` and
    ``amount`` (``None`` in a payload written before they were added) are the value the
    scan's :class:`LinesShipped` counted for them, part by part, which a booker takes
    back until a later ``ship`` sends them.
    """

    shipment_id: str
    waybill: str
    lines: Mapping[str, int]
    skus: Mapping[str, int]
    goods: Money | None = None
    discounts: Money | None = None
    shipping: Money | None = None
    tax: Money | None = None
    amount: Money | None = None
    rounding: Money | None = None


@attrs.frozen
class LinesCancelled(DomainEvent):
    """Exactly these units were cancelled: release only these from inventory.

    The money that left the order with them: their ``goods`` value, their share of the
    order's ``discounts``, ``shipping``, ``tax`` and ``rounding`` (a till's rounding
    down is spread over the lines; the last units to go also take the order's own
    shipping and rounding up; see :class:`~orderkit.model.orders.SoldValue`), and
    ``amount``, the net of those, which they add up to exactly:
    ``goods - discounts + shipping + tax + rounding``. ``rounding`` (added in 0.3,
    after ``amount`` so a positional construction keeps its meaning) is zero in a
    payload written before it was added (the other parts add up to ``amount`` then
    only when the order has no rounding). When the order was paid, a
    :class:`RefundDue` says what to pay back.
    """

    lines: Mapping[str, int]
    skus: Mapping[str, int]
    goods: Money
    discounts: Money
    shipping: Money
    tax: Money
    amount: Money
    rounding: Money = attrs.field(default=attrs.Factory(_none_of_amount, takes_self=True))


@attrs.frozen
class OrderCancelled(DomainEvent):
    """The whole order was cancelled; ``lines``/``skus`` are the units still open then,
    ``amount`` the value that left with them, and (added in 0.3) its parts, as
    :class:`LinesCancelled` says them: ``goods``, ``discounts``, ``shipping``, ``tax``
    and ``rounding``, adding up to ``amount`` exactly. In a payload written before they
    were added, ``goods``, ``discounts``, ``shipping`` and ``tax`` are ``None`` and
    ``rounding`` is zero."""

    lines: Mapping[str, int]
    skus: Mapping[str, int]
    amount: Money
    goods: Money | None = None
    discounts: Money | None = None
    shipping: Money | None = None
    tax: Money | None = None
    rounding: Money = attrs.field(default=attrs.Factory(_none_of_amount, takes_self=True))


@attrs.frozen
class RefundSplit(DomainEvent):
    """Base of the facts that say what money given back (or owed back) is for, part by
    part (added in 0.3): :class:`RefundDue`, :class:`Refunded` and
    :class:`RefundLinesAssigned`. ``goods``, ``discounts``, ``shipping``, ``tax``,
    ``rounding`` and ``overpaid`` are the parts of a
    :class:`~orderkit.model.orders.RefundValue` (keyword-only), adding up to the fact's
    ``amount``: ``goods - discounts + shipping + tax + rounding + overpaid``. ``None``
    in a payload written before 0.3."""

    goods: Money | None = attrs.field(default=None, kw_only=True)
    discounts: Money | None = attrs.field(default=None, kw_only=True)
    shipping: Money | None = attrs.field(default=None, kw_only=True)
    tax: Money | None = attrs.field(default=None, kw_only=True)
    rounding: Money | None = attrs.field(default=None, kw_only=True)
    overpaid: Money | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class RefundDue(RefundSplit):
    """The buyer is now owed ``amount`` more than before: units they paid for were
    cancelled or returned (``lines``, line id to units), a price was lowered after
    payment, or a payment went over what was due (``lines`` empty). Finance pays it back
    with a ``refund``; :attr:`~orderkit.model.orders.OrderTotals.refund_due` is what is
    still owed.

    What it is owed for (added in 0.3; ``None`` in a payload written before), as a
    :class:`~orderkit.model.orders.RefundValue` counts it: the units' ``goods`` value
    and their share of the order's ``discounts``, ``shipping``, ``tax`` and
    ``rounding`` (as :class:`LinesCancelled` says them), and ``overpaid``, money paid
    beyond the order's price (an overpayment, a price lowered after payment). They add
    up to ``amount``: ``goods - discounts + shipping + tax + rounding + overpaid``.
    """

    amount: Money
    lines: Mapping[str, int]


@attrs.frozen
class ReturnRequested(DomainEvent):
    """The buyer asked, inside the after-sales window, to send back these units."""

    return_id: str
    lines: Mapping[str, int]


@attrs.frozen
class ReturnCancelled(DomainEvent):
    """A return request was cancelled (added in 0.3): the buyer withdrew it or the
    merchant refused it. ``lines`` (line id to units) are no longer awaited; nothing
    moves and nothing is owed for them. ``reason`` is the event's, or empty."""

    lines: Mapping[str, int]
    reason: str = ""


@attrs.frozen
class ReturnReceived(DomainEvent):
    """The warehouse received returned units (``lines``, line id to units); the
    ``restocked`` ones (SKU to units) came back sellable and go back into stock."""

    return_id: str
    lines: Mapping[str, int]
    restocked: Mapping[str, int]


@attrs.frozen
class Refunded(RefundSplit):
    """Money went back to the buyer, covering these units.

    ``released`` maps SKU to units refunded before they shipped (stock to release);
    ``reference`` is the refund's own (the gateway's or platform's refund number, as
    the ``refund`` event gave it; empty when none was, added in 0.3); ``method`` how
    it went back (added in 0.3): the ``refund``'s, else the way the money came in, as
    the order records it (:meth:`~orderkit.model.orders.Order.paying_method`), else
    empty.

    What it gave back (added in 0.3; ``None`` in a payload written before), the split
    the order keeps as the refund's :attr:`~orderkit.model.orders.Payment.value`:
    ``goods``, ``discounts``, ``shipping``, ``tax``, ``rounding`` and ``overpaid``, as
    :class:`RefundDue` says them, adding up to ``amount``. Money given on goods the
    buyer keeps (a concession) is a discount granted: a negative ``discounts``. Over an
    order's life the ``Refunded`` events (each replaced by the
    :class:`RefundLinesAssigned` that re-classes it) add up, part by part, to what
    left the buyer's bill once nothing is owed back
    (:func:`~orderkit.lifecycle.refunds.given_back`).
    """

    amount: Money
    lines: Mapping[str, int]
    released: Mapping[str, int]
    reference: str = ""
    method: str = ""


@attrs.frozen
class RefundLinesAssigned(RefundSplit):
    """The units of a refund recorded as money only are now known (added in 0.3): the
    same refund (its ``reference``, the platform's refund number, and its amount) was
    told again naming ``lines`` (line id to units), which moved to REFUNDED as if the
    refund had named them from the start. No money moved: the :class:`Refunded` of
    ``refund_id`` (the event that recorded the refund) said it. ``released`` maps SKU
    to units refunded before they shipped (stock to release), as in :class:`Refunded`.

    What the refund gave back, now its units are known (added in 0.3; ``None`` in a
    payload written before): its ``amount`` and its ``goods``, ``discounts``,
    ``shipping``, ``tax``, ``rounding`` and ``overpaid``, as :class:`Refunded` says
    them. They replace what the :class:`Refunded` of ``refund_id`` said (a concession
    on the goods kept, as a refund naming no units is booked): a booker reverses that
    split and books this one.
    """

    refund_id: str
    reference: str
    lines: Mapping[str, int]
    released: Mapping[str, int]
    amount: Money | None = None


@attrs.frozen
class ReceivableDue(DomainEvent):
    """A carrier scan proved the goods left: finance may book ``amount``, the value of
    what is still sold (cancelled, refunded and returned units excluded), as revenue.

    Only a scan that forced the shipment (no ``ship`` came) says it, beside the
    :class:`LinesShipped` ``forced`` of the same value; every shipment's
    :class:`LinesShipped` carries its value (from 0.3), so a booker books revenue on
    those and takes this one as the notice that a scan, not the warehouse, proved it:
    booking both counts the forced shipment twice."""

    amount: Money
    status: int
    carrier_time: datetime
    reason: str


@attrs.frozen
class TrackingRecorded(DomainEvent):
    """A carrier scan was written onto a shipment (status may or may not have moved)."""

    shipment_id: str
    status: str
    carrier_time: datetime


@attrs.frozen
class AddressChanged(DomainEvent):
    """The ship-to address changed; forward to the carrier when ``waybill`` is set."""

    previous: Address | None
    address: Address
    waybill: str | None
    approved_by: str | None


@attrs.frozen
class HoldPlaced(DomainEvent):
    """A hold now blocks shipment."""

    kind: str
    reason: str
    by: str


@attrs.frozen
class HoldReleased(DomainEvent):
    """A hold was lifted by ``by`` (approved by ``approved_by`` when that was needed)."""

    kind: str
    by: str
    approved_by: str | None


@attrs.frozen
class StockShortage:
    """One SKU an order was short of: units ``wanted`` and units ``available``."""

    wanted: int
    available: int


@attrs.frozen
class StockShort(DomainEvent):
    """An order sold already (a marketplace's) was stored **waiting for stock**: the
    shelf could not cover its open units, so it holds no lock until it is reserved
    (:meth:`~orderkit.lifecycle.OrderService.reserve`, or a released wave).
    ``shortages`` maps each short SKU to what was wanted and what was available."""

    shortages: Mapping[str, StockShortage]


@attrs.frozen
class PriceChanged(DomainEvent):
    """A line's unit price changed (a sensitive action: two people signed it)."""

    line_id: str
    previous: Money
    unit_price: Money
    approved_by: str | None


@attrs.frozen
class ReadyToShip(DomainEvent):
    """What the order may ship changed while it may ship (added in 0.3): it became
    shippable (paid, or cash on delivery; no hold; units still open; in a status a
    ``ship`` leaves: :func:`~orderkit.lifecycle.may_ship`), or, shippable before and
    after, its open units or its ship-to changed (a line cancelled, one parcel of a
    split order sent, a refund of open units, a scan's units given back, an address
    edit).

    Each one carries the whole pick, not a difference, so a warehouse system replaces
    its pick-list entry with it: ``lines`` (line id to units still to ship), ``skus``
    (SKU to units), ``ship_to``, ``ship_due_at`` (when the order became due to ship:
    its payment, a cash on delivery order's placing, or a presale's ship-from day when
    that is later, as the shipping wave reads it: do not pick it before) and
    ``promised_at`` (the platform's promised ship time, its ``promise:`` tag; ``None``
    when it has none or the tag cannot be read).
    """

    lines: Mapping[str, int]
    skus: Mapping[str, int]
    ship_to: Address | None
    ship_due_at: datetime
    promised_at: datetime | None = None


class NotReadyReason(StrEnum):
    """Why an order that could ship no longer may (:attr:`NotReadyToShip.reason`)."""

    HELD = "held"
    """A hold was placed (``holds`` names the kinds): it may ship again once released."""
    CANCELLED = "cancelled"
    """Its units still to ship were cancelled (a ``cancel``, or a ``cancel_lines`` of
    the rest)."""
    REFUNDED = "refunded"
    """Its units still to ship were refunded (a refund of everything, or of them)."""
    STATUS = "status"
    """It moved to a status no ``ship`` leaves (a host's own status, such as a review);
    ``status`` names it."""


@attrs.frozen
class NotReadyToShip(DomainEvent):
    """An order that could ship no longer may, with units it did not ship (added in
    0.3): a warehouse system takes it off its pick list. ``reason`` is a
    :class:`NotReadyReason` value, ``lines`` and ``skus`` the units it was to pick (its
    last :class:`ReadyToShip`'s), ``status`` the order's status now and ``holds`` the
    kinds of its holds (empty unless ``reason`` is ``held``). A ``ship`` that sends
    every unit still open says nothing here: its :class:`LinesShipped` tells it."""

    reason: str
    lines: Mapping[str, int]
    skus: Mapping[str, int]
    status: int
    holds: tuple[str, ...] = ()


#: Every domain event class by its name, the ``type`` of its outbox payload (added in
#: 0.3).
DOMAIN_EVENTS: Final[Mapping[str, type[DomainEvent]]] = {
    cls.__name__: cls
    for cls in (
        AddressChanged, HoldPlaced, HoldReleased, LinesCancelled, LinesShipped,
        LinesUnshipped, OrderCancelled, Overpaid, PaymentReceived, PaymentShort,
        PriceChanged, ReceivableDue, RefundDue, RefundLinesAssigned, Refunded,
        ReturnCancelled, ReturnReceived, ReturnRequested, StatusChanged, StockShort,
        TrackingRecorded, ReadyToShip, NotReadyToShip,
    )
}


def read_event(payload: Mapping[str, Any]) -> DomainEvent:
    """The domain event an ``event.<type>`` outbox payload holds (added in 0.3): the
    class its ``"type"`` names (:data:`DOMAIN_EVENTS`), read from the payload's other
    keys. Keys the class does not know are ignored, at every level (the event's own,
    and those of the values inside it: an address, a stock shortage, a money mapping),
    as the payloads' contract asks (a payload only gains keys, each with a default): a
    consumer reads a payload from a newer producer, and one written before a key was
    added reads back with its default. What the classes do know is read strictly
    (:func:`~orderkit.model.serialization.from_dict` with ``unknown_keys="ignore"``):
    a payload that is no mapping, names no known ``type``, or lacks or misstates a
    field is a :class:`~orderkit.model.errors.ValidationError` naming its whole path
    (``payload.ship_to.city``).
    """
    if not isinstance(payload, Mapping):
        raise ValidationError("payload", payload, "expected a mapping (a domain event's payload)")
    name = payload.get("type")
    cls = DOMAIN_EVENTS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValidationError(
            "payload.type", name, "no such domain event (known: " + ", ".join(DOMAIN_EVENTS) + ")"
        )
    try:
        return from_dict(cls, dict(payload), unknown_keys="ignore")
    except ValidationError as error:
        raise error.at("payload") from None
