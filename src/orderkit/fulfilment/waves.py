"""Shipping waves that explain every order they leave out.

The incident: a daily batch shipment skipped every presale order for two weeks (237
late orders) because a filter excluded them and nothing said why. :func:`plan_wave`
selects the orders of one shipping batch by a :class:`WavePolicy` and gives, for every
candidate it did not select, an :class:`Exclusion`: a reason code and words. An
:class:`ExclusionLog` turns an order left out for the same reason for too long into an
:class:`~orderkit.model.alerts.Alert`.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Final, Literal

import attrs

from orderkit.model import _checks as check
from orderkit.model.alerts import Alert
from orderkit.model.errors import ValidationError
from orderkit.model.orders import (
    HoldKind,
    LineStatus,
    Order,
    OrderStatus,
    PaymentTerms,
    status_name,
)
from orderkit.model.ship_dates import PRESALE_TAG, promised_at, ship_from, tag_value
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, ensure_aware, zone

__all__ = [
    "PRESALE_TAG",
    "Exclusion",
    "ExclusionLog",
    "Reason",
    "Wave",
    "WavePolicy",
    "plan_wave",
    "policy_from_toml",
    "ship_from",
]

Stream = Literal["in_stock", "presale"]


class Reason(StrEnum):
    """Why a candidate is not in the wave."""

    NOT_READY = "not_ready"
    """Not ready to ship: not PAID or PACKED, not cash on delivery waiting to ship, and
    not partly shipped with units still open (unpaid, shipped in full, ended)."""
    ON_HOLD = "on_hold"
    """A hold blocks shipment (the words name it)."""
    ADDRESS_REVIEW = "address_review"
    """The address is under review."""
    OTHER_STREAM = "other_stream"
    """Presale and in-stock orders ship in their own waves."""
    PRESALE_NOT_SHIPPABLE = "presale_not_shippable"
    """A presale order before its ship-from date."""
    BAD_TAG = "bad_tag"
    """Its ``promise:`` or (presale) ``ship_from:`` tag cannot be read (the words name
    the tag): it is left out until the tag is mended, the rest of the wave is planned."""
    AWAITING_STOCK = "awaiting_stock"
    """Not enough stock for its open units (orders without a lock)."""
    AFTER_CUTOFF = "after_cutoff"
    """Paid after the wave's cut-off: the next wave takes it."""
    CARRIER = "carrier"
    """Its carrier is not in this wave."""
    REGION = "region"
    """Its region is not in this wave."""
    OVER_CAP = "over_cap"
    """The wave's order or line cap was reached."""


@attrs.frozen
class Exclusion:
    """Why one candidate was left out: ``code`` for machines, ``words`` for people."""

    code: Reason
    words: str


#: A cap of a wave: an integer >= 1, or None for none.
_CAP: Final = attrs.validators.optional(check.count(minimum=1))


def _names(path: str, value: object) -> frozenset[str] | None:
    """The field ``path``: a collection of strings (or None), refused naming it."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError(path, value, "expected a collection of strings or None")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise ValidationError(path, item, "expected a collection of strings or None")
    return frozenset(items)


def _carriers(value: object) -> frozenset[str] | None:
    return _names("carriers", value)


def _regions(value: object) -> frozenset[str] | None:
    return _names("regions", value)


def _cutoff(_instance: object, _attribute: object, value: time | None) -> None:
    if value is not None and (not isinstance(value, time) or value.tzinfo is not None):
        raise ValidationError("cutoff", value,
                              "expected None or a local time of day without an offset"
                              " (its zone is tz)")


def _promise(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ValidationError("promise", value, "expected a non-negative timedelta")


@attrs.frozen
class WavePolicy:
    """How one wave picks its orders.

    ``stream``: ``"in_stock"`` or ``"presale"`` (an order is presale when it has the
    ``presale_tag``; presale orders ship from the date of their ``ship_from:YYYY-MM-DD``
    tag). ``cutoff``: the local time of day (in ``tz``) after which a payment waits for
    the next wave. ``carriers`` and ``regions`` limit the wave (``carrier_of`` reads an
    order's carrier, default its ``carrier:<name>`` tag; the region is the ship-to
    province). ``max_orders`` and ``max_lines`` cap it. Orders are taken by promised
    ship time (a ``promise:<ISO datetime>`` tag, else paid time plus ``promise``), then
    paid time, then id.
    """

    stream: Stream = attrs.field(default="in_stock")
    cutoff: time | None = attrs.field(default=None, validator=_cutoff)
    tz: str = DEFAULT_ACCOUNTING_TZ
    carriers: frozenset[str] | None = attrs.field(default=None, converter=_carriers)
    regions: frozenset[str] | None = attrs.field(default=None, converter=_regions)
    max_orders: int | None = attrs.field(default=None, validator=_CAP)
    max_lines: int | None = attrs.field(default=None, validator=_CAP)
    promise: timedelta = attrs.field(default=timedelta(hours=48), validator=_promise)
    presale_tag: str = PRESALE_TAG
    carrier_of: Callable[[Order], str | None] | None = None

    @stream.validator
    def _stream(self, _attribute: object, value: object) -> None:
        if value not in ("in_stock", "presale"):
            raise ValidationError("stream", value, "expected in_stock or presale")

    def promised(self, order: Order) -> datetime:
        """When the platform promised ``order`` would ship; a ``promise:`` tag that is no
        ISO datetime with its offset is a :class:`ValidationError` naming the tag
        (:func:`plan_wave` leaves its order out as ``bad_tag``)."""
        promised = promised_at(order)
        if promised is not None:
            return promised
        return (order.paid_at or order.created_at) + self.promise

    def carrier(self, order: Order) -> str | None:
        """``order``'s carrier (``carrier_of``, else its ``carrier:<name>`` tag)."""
        if self.carrier_of is not None:
            return self.carrier_of(order)
        return tag_value(order, "carrier:")


#: The longest promise a policy file may give: a year, in hours.
_MAX_PROMISE_HOURS: Final = 366 * 24

_POLICY_KEYS: Final = frozenset({
    "stream", "cutoff", "tz", "carriers", "regions", "max_orders", "max_lines",
    "promise_hours", "presale_tag",
})


def policy_from_toml(text: str) -> WavePolicy:
    """A :class:`WavePolicy` from TOML text (the ``[wave]`` table, or the top level)::

        [wave]
        stream = "in_stock"        # or "presale"
        cutoff = "16:00"           # local time in tz
        tz = "Asia/Shanghai"
        carriers = ["SF", "YTO"]
        regions = ["浙江省"]
        max_orders = 500
        max_lines = 2000
        promise_hours = 48

    Unknown keys and wrong types raise :class:`~orderkit.model.errors.ValidationError`
    naming the key; so does anything beside a ``[wave]`` table (a key above it, another
    table) and a table other than ``[wave]`` (``[waves]``), since nothing would read it.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValidationError("policy", text[:80], f"not TOML: {error}") from None
    if "wave" in data:
        # Beside the [wave] table nothing is read: a cap or a carrier list written above
        # it, or a misspelt [waves] table, would be ignored without a word.
        for key, value in data.items():
            if key != "wave":
                raise ValidationError(key, value, "outside the [wave] table: nothing reads"
                                      " it (move it into [wave])")
        table = data["wave"]
    else:
        table = data
        for key, value in data.items():
            if isinstance(value, dict):  # [waves], [Wave]: a table name misspelt
                raise ValidationError(key, value, "unknown table: the policy is the [wave]"
                                      " table (or keys at the top level)")
    if not isinstance(table, dict):
        raise ValidationError("wave", table, "expected a table")
    for key in table:
        if key not in _POLICY_KEYS:
            raise ValidationError(f"wave.{key}", table[key], "unknown policy key")
    fields: dict[str, object] = {}
    for key, value in table.items():
        if key == "cutoff":
            try:
                if not isinstance(value, str):
                    raise ValueError(value)
                fields["cutoff"] = time.fromisoformat(value)
            except ValueError:
                raise ValidationError("wave.cutoff", value, "expected HH:MM") from None
        elif key == "promise_hours":
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or not 0 <= value <= _MAX_PROMISE_HOURS):
                raise ValidationError("wave.promise_hours", value,
                                      f"expected hours from 0 to {_MAX_PROMISE_HOURS}")
            fields["promise"] = timedelta(hours=value)
        elif key in ("carriers", "regions"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValidationError(f"wave.{key}", value, "expected a list of names")
            fields[key] = value
        elif key in ("stream", "tz", "presale_tag"):
            if not isinstance(value, str):
                raise ValidationError(f"wave.{key}", value, "expected text")
            fields[key] = value
        else:
            fields[key] = value
    zone(str(fields.get("tz", DEFAULT_ACCOUNTING_TZ)), path="wave.tz")
    try:
        return WavePolicy(**fields)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ValidationError(f"wave.{error.path}", error.value, error.reason) from None


@attrs.frozen
class Wave:
    """One planned wave: ``selected`` order ids in pick order, and for every other
    candidate its :class:`Exclusion`."""

    stream: Stream
    at: datetime
    selected: tuple[str, ...]
    excluded: Mapping[str, Exclusion]

    def summary(self) -> dict[Reason, int]:
        """How many candidates each reason left out, most first."""
        counts: dict[Reason, int] = {}
        for exclusion in self.excluded.values():
            counts[exclusion.code] = counts.get(exclusion.code, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0].value)))


def plan_wave(
    orders: Iterable[Order],
    policy: WavePolicy,
    now: datetime,
    *,
    stock: Mapping[str, int] | None = None,
    held: Mapping[str, Mapping[str, int]] | None = None,
) -> Wave:
    """Select the orders of one wave; every candidate not selected gets a reason.

    ``stock`` (SKU to units available), when given, is spent in pick order by the
    open units that no lock holds (an order placed with an inventory ledger has its
    units reserved already). ``held`` (order id to SKU to units: what each order's lock
    still holds, as :meth:`~orderkit.inventory.InventoryLedger.occupancy` reads it),
    when given, says what a lock holds: a lock that lapsed holds nothing, so its order
    spends ``stock`` like one without a lock; without ``held`` a lock id is trusted to
    hold the order's open units. No candidate is ever left out without an
    :class:`Exclusion`: one whose ``promise:`` or (presale) ``ship_from:`` tag cannot
    be read is left out as ``bad_tag``, naming the tag. An order given twice is refused with a
    :class:`~orderkit.model.errors.ValidationError` naming its id.

    A partly shipped order (SHIPPED, with units still OPEN) is a candidate for its
    open units: they are what its lines and stock count, and a later ``ship`` sends
    them.
    """
    if not isinstance(policy, WavePolicy):
        raise ValidationError("policy", policy, "expected a WavePolicy")
    now = ensure_aware(now, path="now")
    local = zone(policy.tz)
    today = now.astimezone(local).date()
    cutoff = (
        datetime.combine(today, policy.cutoff, tzinfo=local)
        if policy.cutoff is not None
        else None
    )
    left = _stock(stock)
    _check_held(held)
    excluded: dict[str, Exclusion] = {}
    ready: list[Order] = []
    seen: set[str] = set()
    promises: dict[str, datetime] = {}
    for order in orders:
        if not isinstance(order, Order):
            raise ValidationError("orders", order, "expected Orders")
        if order.order_id in seen:
            # Two pages of a query that overlap: planned twice, its stock spent twice.
            raise ValidationError("orders", order.order_id, "the same order is given twice")
        seen.add(order.order_id)
        reason = _why_not(order, policy, today, cutoff, promises)
        if reason is not None:
            excluded[order.order_id] = reason
        else:
            ready.append(order)
    ready.sort(key=lambda o: (promises[o.order_id], o.paid_at or o.created_at, o.order_id))
    selected: list[str] = []
    lines = 0
    for order in ready:
        open_lines = [line for line in order.lines if line.quantities[LineStatus.OPEN]]
        if policy.max_orders is not None and len(selected) >= policy.max_orders:
            excluded[order.order_id] = Exclusion(
                Reason.OVER_CAP, f"the wave is full ({policy.max_orders} orders)")
            continue
        if policy.max_lines is not None and lines + len(open_lines) > policy.max_lines:
            excluded[order.order_id] = Exclusion(
                Reason.OVER_CAP, f"{len(open_lines)} lines would pass the cap of"
                f" {policy.max_lines} ({lines} taken)")
            continue
        wanted = _unheld(order, held) if stock is not None else {}
        if wanted:
            short = {sku: (qty, left.get(sku, 0)) for sku, qty in wanted.items()
                     if qty > left.get(sku, 0)}
            if short:
                words = ", ".join(f"{sku} needs {qty}, {have} available"
                                  for sku, (qty, have) in sorted(short.items()))
                excluded[order.order_id] = Exclusion(Reason.AWAITING_STOCK, words)
                continue
            for sku, qty in wanted.items():
                left[sku] = left.get(sku, 0) - qty
        selected.append(order.order_id)
        lines += len(open_lines)
    return Wave(policy.stream, now, tuple(selected), excluded)


def _unheld(order: Order, held: Mapping[str, Mapping[str, int]] | None) -> dict[str, int]:
    """The open units of ``order`` (SKU to units) that no lock holds for it."""
    units = order.open_units_by_sku
    if order.lock_id is None:
        return units
    if held is None:
        return {}
    mine = held.get(order.order_id, {})
    return {sku: qty - mine.get(sku, 0) for sku, qty in units.items() if qty > mine.get(sku, 0)}


def _check_held(held: object) -> None:
    """``plan_wave``'s ``held``, checked: order id to SKU to whole units >= 0."""
    if held is None:
        return
    if not isinstance(held, Mapping):
        raise ValidationError("held", held, "expected a mapping of order id to units by SKU")
    for order_id, units in held.items():
        _units(units, f"held[{order_id!r}]")


def _stock(stock: object) -> dict[str, int]:
    """``plan_wave``'s ``stock``, checked: SKU to whole units available (>= 0)."""
    return {} if stock is None else _units(stock, "stock")


def _units(value: object, path: str) -> dict[str, int]:
    """``value`` at ``path``, checked: SKU to whole units (>= 0)."""
    if not isinstance(value, Mapping):
        raise ValidationError(path, value, "expected a mapping of SKU to units")
    for sku, units in value.items():
        if not isinstance(sku, str) or not sku:
            raise ValidationError(path, sku, "expected SKUs as keys")
        if isinstance(units, bool) or not isinstance(units, int) or units < 0:
            raise ValidationError(f"{path}[{sku!r}]", units, "expected whole units >= 0")
    return dict(value)


_READY = frozenset({OrderStatus.PAID, OrderStatus.PACKED})


def _ready(order: Order) -> bool:
    """PAID or PACKED, or cash on delivery waiting to ship: the lifecycle packs and ships
    those unpaid (the buyer pays the courier); or partly shipped (SHIPPED with units
    still open: a later ``ship`` sends them)."""
    if order.status in _READY:
        return True
    if order.status == OrderStatus.SHIPPED:
        return bool(order.open_units_by_sku)
    return (order.status == OrderStatus.PENDING_PAYMENT
            and order.payment_terms is PaymentTerms.ON_DELIVERY)


def _why_not(
    order: Order, policy: WavePolicy, today: date, cutoff: datetime | None,
    promises: dict[str, datetime],
) -> Exclusion | None:
    """Why ``order`` is left out of the wave (``None``: it is ready); its promise, read
    with its other tags, goes into ``promises`` for the wave's order."""
    if not _ready(order):
        return Exclusion(Reason.NOT_READY, f"status {status_name(order.status)}")
    if order.hold(HoldKind.ADDRESS_REVIEW) is not None:
        return Exclusion(Reason.ADDRESS_REVIEW, "the address is under review")
    if order.holds:
        held = ", ".join(f"{h.kind} ({h.reason})" if h.reason else h.kind for h in order.holds)
        return Exclusion(Reason.ON_HOLD, f"on hold: {held}")
    presale = policy.presale_tag in order.tags
    if presale != (policy.stream == "presale"):
        other = "presale" if presale else "in-stock"
        return Exclusion(Reason.OTHER_STREAM, f"{other}: planned in the {other} wave")
    try:
        # The tags the wave reads: one that cannot be read leaves out its order, named,
        # never the whole wave.
        ships_from = ship_from(order, presale_tag=policy.presale_tag)
        promises[order.order_id] = policy.promised(order)
    except ValidationError as error:
        return Exclusion(Reason.BAD_TAG, f"bad tag {error.value}: {error.reason}")
    if ships_from is not None and ships_from > today:
        return Exclusion(Reason.PRESALE_NOT_SHIPPABLE,
                         f"presale ships from {ships_from.isoformat()}")
    if cutoff is not None and (order.paid_at or order.created_at) > cutoff:
        # The day and the zone of the cut-off, as the floor reads it; cash on delivery
        # waiting to ship was placed then (the courier collects), not paid.
        shown = f"{cutoff:%Y-%m-%d %H:%M:%S}" if cutoff.second else f"{cutoff:%Y-%m-%d %H:%M}"
        if order.paid_at is None and order.payment_terms is PaymentTerms.ON_DELIVERY:
            return Exclusion(Reason.AFTER_CUTOFF, f"placed after the cut-off {shown}"
                             f" ({policy.tz}), cash on delivery: next wave")
        return Exclusion(Reason.AFTER_CUTOFF,
                         f"paid after the cut-off {shown} ({policy.tz}): next wave")
    if policy.carriers is not None:
        carrier = policy.carrier(order)
        if carrier not in policy.carriers:
            return Exclusion(Reason.CARRIER, f"carrier {carrier or 'unknown'} is not in this wave")
    if policy.regions is not None:
        region = order.ship_to.province if order.ship_to is not None else ""
        if region not in policy.regions:
            return Exclusion(Reason.REGION, f"region {region or 'unknown'} is not in this wave")
    return None


@attrs.frozen
class _Since:
    code: Reason
    since: datetime
    alerted: bool = False


class ExclusionLog:
    """Remembers since when each order is left out for the same reason, across waves;
    :meth:`update` returns an :class:`Alert` (kind ``fulfilment.excluded_too_long``)
    once per order and reason when that lasts longer than ``threshold``."""

    def __init__(self, *, threshold: timedelta = timedelta(hours=24)) -> None:
        if not isinstance(threshold, timedelta) or threshold <= timedelta(0):
            raise ValidationError("threshold", threshold, "expected a positive timedelta")
        self.threshold = threshold
        self._since: dict[str, _Since] = {}

    def update(self, wave: Wave) -> list[Alert]:
        """Record ``wave``; alerts for orders left out too long (each raised once)."""
        alerts: list[Alert] = []
        for order_id in wave.selected:
            self._since.pop(order_id, None)
        for order_id, exclusion in sorted(wave.excluded.items()):
            if exclusion.code in (Reason.NOT_READY, Reason.OTHER_STREAM):
                continue  # not this wave's to ship
            seen = self._since.get(order_id)
            if seen is None or seen.code is not exclusion.code:
                seen = _Since(exclusion.code, wave.at)
            if not seen.alerted and wave.at - seen.since > self.threshold:
                alerts.append(Alert(
                    "fulfilment.excluded_too_long", "warning", order_id,
                    f"left out of every {wave.stream} wave for"
                    f" {wave.at - seen.since}: {exclusion.words}",
                    wave.at,
                    {"reason": exclusion.code.value, "since": seen.since.isoformat()},
                ))
                seen = attrs.evolve(seen, alerted=True)
            self._since[order_id] = seen
        return alerts
