"""The values of the inventory ledger: entries, lock lines, stock levels and results.

Every movement of stock is one immutable :class:`LedgerEntry` for one SKU. Its effect on
the SKU's two counters (``on_hand`` and ``locked``) follows from its kind and quantity
alone, so anyone holding the entries can recompute every balance and every lock line;
this is what :meth:`InventoryLedger.verify` does to prove the cached counters never
drifted.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final, Literal, Protocol

import attrs

from orderkit.model.errors import ReleaseSuspended

__all__ = [
    "NEVER",
    "Balance",
    "EntryKind",
    "InventoryLock",
    "LedgerEntry",
    "LedgerOutcome",
    "LineOccupancy",
    "LockLine",
    "ParkedRelease",
    "ReleaseResult",
    "StockCall",
    "StockLevel",
    "count_record",
    "count_return",
]

#: The expiry of a confirmed lock line: it never falls due.
NEVER: Final = datetime(9999, 12, 31, tzinfo=UTC)

#: What a ``release``/``commit``/``confirm``/``restock``/``approve_release`` call did.
LedgerOutcome = Literal[
    "released",
    "committed",
    "confirmed",
    "lapsed",
    "already_released",
    "already_committed",
    "already_confirmed",
    "expired",
    "parked",
    "restocked",
    "recorded",
    "uncommitted",
    "unshipped",
    "unrecorded",
    "already_applied",
]


class EntryKind(enum.StrEnum):
    """The kinds of movement, with their effect on (``on_hand``, ``locked``)."""

    RECEIVE = "receive"  # (+qty, 0): goods arrived
    ADJUST = "adjust"  # (+qty, 0): a count correction; qty may be negative
    LOCK = "lock"  # (0, +qty): held for an order
    RELEASE = "release"  # (0, -qty): an order let go (cancel, partial cancel)
    COMMIT = "commit"  # (-qty, -qty): shipped; the units leave the building
    EXPIRE = "expire"  # (0, -qty): the lock outlived its ttl
    PARK = "park"  # (0, 0): a release held back by the breaker, pending review
    APPROVE = "approve"  # (0, -qty): a parked release applied after review
    CONFIRM = "confirm"  # (0, 0): a paid order's line stops expiring (``expires_at`` = new)
    SHIP_UNLOCKED = "ship_unlocked"  # (-qty, 0): shipped without (enough) lock; may oversell
    OVERSELL = "oversell"  # (0, 0): the record that a shipment left the SKU qty short
    RESTOCK = "restock"  # (+qty, 0): returned units back in stock, sellable again
    #: (0, +qty): units of a line that expired locked again for its order (a payment
    #: made while the lock held, applied after it fell due); ``expires_at`` = new expiry
    RELOCK = "relock"
    #: (0, 0): the record that a confirm could not hold ``qty`` units of the order's
    #: lock line (they had expired and another order holds them): what the confirm
    #: reported as ``lapsed``, kept so that its retry reports them again
    LAPSE = "lapse"
    #: (0, 0): a release (a cancel) of units whose lock had already expired: they count
    #: as released, no longer as expired, so a late confirm does not lock them again
    RELEASE_EXPIRED = "release_expired"
    #: (+qty, +qty): units a ``COMMIT`` booked as shipped that never left (a carrier
    #: scan assumed every open unit went, the warehouse's ``ship`` of the parcel named
    #: fewer): back on hand and locked again on the lock line that committed them
    UNCOMMIT = "uncommit"
    #: (+qty, 0): units a ``SHIP_UNLOCKED`` booked as shipped for an order that never
    #: left (a carrier scan assumed every open unit went, the warehouse's ``ship`` of the
    #: parcel named fewer): back on hand, counted off the order's shipments, and off
    #: its lock line's ``shipped_unlocked`` when it names the lock the units were
    #: shipped on
    UNSHIP_UNLOCKED = "unship_unlocked"
    #: (-qty, 0): the reverse of the ``RECEIVE`` a ``record_shipped`` booked for an
    #: order: units recorded as gone before the stock count that never left (a carrier
    #: scan dated before the count assumed every open unit went, the warehouse's
    #: ``ship`` of the parcel named fewer), so the count included them; written after
    #: the ``UNCOMMIT``/``UNSHIP_UNLOCKED`` entries that put the units back on hand,
    #: so ``on_hand`` ends where it was
    UNRECORD_SHIPPED = "unrecord_shipped"


_EFFECTS: dict[EntryKind, tuple[int, int]] = {
    EntryKind.RECEIVE: (1, 0),
    EntryKind.ADJUST: (1, 0),
    EntryKind.LOCK: (0, 1),
    EntryKind.RELEASE: (0, -1),
    EntryKind.COMMIT: (-1, -1),
    EntryKind.EXPIRE: (0, -1),
    EntryKind.PARK: (0, 0),
    EntryKind.APPROVE: (0, -1),
    EntryKind.CONFIRM: (0, 0),
    EntryKind.SHIP_UNLOCKED: (-1, 0),
    EntryKind.OVERSELL: (0, 0),
    EntryKind.RESTOCK: (1, 0),
    EntryKind.RELOCK: (0, 1),
    EntryKind.LAPSE: (0, 0),
    EntryKind.RELEASE_EXPIRED: (0, 0),
    EntryKind.UNCOMMIT: (1, 1),
    EntryKind.UNSHIP_UNLOCKED: (1, 0),
    EntryKind.UNRECORD_SHIPPED: (-1, 0),
}

#: Kinds that take back units a shipping entry booked as gone (they never left).
UNSHIPPING: Final = frozenset({EntryKind.UNCOMMIT, EntryKind.UNSHIP_UNLOCKED})

#: Kinds that take units out of the building (``shipped`` in the balance invariant).
SHIPPING: Final = frozenset({EntryKind.COMMIT, EntryKind.SHIP_UNLOCKED})

#: Kinds that resolve units of a lock line, by the line counter they add to.
RESOLVING: dict[EntryKind, str] = {
    EntryKind.RELEASE: "released",
    EntryKind.APPROVE: "released",
    EntryKind.COMMIT: "committed",
    EntryKind.EXPIRE: "expired",
}

#: How each kind moves a counter of its lock line when it names one: the counter and the
#: sign of ``qty`` on it (a ``RELOCK`` or ``RELEASE_EXPIRED`` also takes ``qty`` off
#: ``expired``; a ``CONFIRM`` or ``RELOCK`` sets the line's expiry).
LINE_MOVES: dict[EntryKind, tuple[str, int]] = {
    **{kind: (field, 1) for kind, field in RESOLVING.items()},
    EntryKind.SHIP_UNLOCKED: ("shipped_unlocked", 1),
    EntryKind.RELEASE_EXPIRED: ("released", 1),
    EntryKind.UNCOMMIT: ("committed", -1),
    EntryKind.UNSHIP_UNLOCKED: ("shipped_unlocked", -1),
}


@attrs.frozen
class LedgerEntry:
    """One immutable movement of one SKU: who moved how much, when and why.

    ``lock_key`` names the lock a lock-related entry belongs to (the lock's identity,
    never its secret token). ``expires_at`` is set on ``LOCK`` entries, and on
    ``CONFIRM`` and ``RELOCK`` entries (the line's new expiry, :data:`NEVER`). ``ref``
    carries the receiving reference, or for an ``APPROVE`` the id of the ``PARK`` it
    applies.
    """

    entry_id: str
    kind: EntryKind
    sku: str
    qty: int
    at: datetime
    actor: str = "system"
    reason: str = ""
    order_id: str | None = None
    lock_key: str | None = None
    expires_at: datetime | None = None
    ref: str | None = None

    @property
    def on_hand_delta(self) -> int:
        """How this entry moves ``on_hand``."""
        return _EFFECTS[self.kind][0] * self.qty

    @property
    def locked_delta(self) -> int:
        """How this entry moves ``locked``."""
        return _EFFECTS[self.kind][1] * self.qty


def count_return(returns: dict[tuple[str, str], list[int]], entry: LedgerEntry) -> None:
    """Count ``entry`` in ``returns`` ((order id, SKU) -> [units shipped, units
    restocked]) when it ships, takes back a shipment of (``UNCOMMIT``,
    ``UNSHIP_UNLOCKED``) or restocks
    units of an order: what bounds the order's restocks (a restock never brings back
    more than its order shipped)."""
    if entry.order_id is None:
        return
    if entry.kind in SHIPPING:
        returns.setdefault((entry.order_id, entry.sku), [0, 0])[0] += entry.qty
    elif entry.kind in UNSHIPPING:
        returns.setdefault((entry.order_id, entry.sku), [0, 0])[0] -= entry.qty
    elif entry.kind is EntryKind.RESTOCK:
        returns.setdefault((entry.order_id, entry.sku), [0, 0])[1] += entry.qty


def count_record(records: dict[tuple[str, str], int], entry: LedgerEntry) -> None:
    """Count ``entry`` in ``records`` ((order id, SKU) -> units recorded as shipped
    before the stock count) when it books such units for an order (the ``RECEIVE`` of a
    ``record_shipped``, the only receipt that names an order) or takes them back
    (``UNRECORD_SHIPPED``): what bounds the order's ``unrecord_shipped`` calls."""
    if entry.order_id is None:
        return
    if entry.kind is EntryKind.RECEIVE:
        records[(entry.order_id, entry.sku)] = (
            records.get((entry.order_id, entry.sku), 0) + entry.qty)
    elif entry.kind is EntryKind.UNRECORD_SHIPPED:
        records[(entry.order_id, entry.sku)] = (
            records.get((entry.order_id, entry.sku), 0) - entry.qty)


@attrs.frozen
class Balance:
    """The two stored counters of one SKU; ``available`` follows from them.

    ``available`` is negative only after a shipment of units that were not locked
    (``SHIP_UNLOCKED``) took units promised to other orders: the SKU is oversold.
    """

    on_hand: int = 0
    locked: int = 0

    @property
    def available(self) -> int:
        """Units that may still be locked: ``on_hand - locked`` (below zero: oversold)."""
        return self.on_hand - self.locked


@attrs.frozen
class StockLevel:
    """What :meth:`InventoryLedger.stock` reports: ``on_hand == available + locked``."""

    sku: str
    on_hand: int
    locked: int
    available: int


@attrs.frozen
class LockLine:
    """One SKU of one lock and how its units were resolved so far.

    ``expires_at`` is :data:`NEVER` once the line was confirmed. ``released`` counts the
    units the order let go of, including units whose lock had expired first (a
    ``RELEASE_EXPIRED`` entry moves them from ``expired`` to ``released``: ``expired`` is
    what the order lost by time and may still want). ``shipped_unlocked``
    counts units shipped against this line beyond what it still held (``SHIP_UNLOCKED``
    entries: after expiry, after release, or more than was locked) less those taken
    back since (``UNSHIP_UNLOCKED`` entries naming the lock: they never left); it is not
    part of ``remaining``.
    """

    lock_key: str
    order_id: str
    sku: str
    qty: int
    locked_at: datetime
    expires_at: datetime
    released: int = 0
    committed: int = 0
    expired: int = 0
    shipped_unlocked: int = 0

    @property
    def remaining(self) -> int:
        """Units still locked on this line (each unit is resolved at most once)."""
        return self.qty - self.released - self.committed - self.expired


@attrs.frozen
class InventoryLock:
    """A lock taken for an order; keep ``lock_id`` (it is the only way to release it)."""

    lock_id: str
    order_id: str
    lines: dict[str, int]
    locked_at: datetime
    expires_at: datetime


@attrs.frozen
class LineOccupancy:
    """One locked line as an order page shows it before the customer cancels."""

    sku: str
    qty: int
    locked_at: datetime
    expires_at: datetime
    lock_id: str


@attrs.frozen
class ParkedRelease:
    """A release the breaker held back; ``approve_release(entry_id, actor=...)`` applies it."""

    entry_id: str
    sku: str
    qty: int
    order_id: str
    lock_id: str
    at: datetime


@attrs.frozen
class ReleaseResult:
    """What ``release``, ``commit``, ``uncommit``, ``confirm``, ``restock``,
    ``unrecord_shipped`` or ``approve_release`` did.

    ``lines`` holds the units actually moved per SKU by this call (empty when nothing
    changed); for ``confirm``, the units whose lock it made permanent. When
    ``outcome == "parked"``, ``parked`` lists the held-back lines and ``suspension`` is
    the :class:`~orderkit.model.errors.ReleaseSuspended` describing the first of them,
    returned rather than raised so that the lines that were not parked stay applied;
    call :meth:`raise_if_parked` to turn it into an exception.

    ``unlocked`` (commit): units of ``lines`` shipped although no longer locked on the
    lock (expired, released, or more than was locked); (uncommit, unrecord_shipped):
    units of ``lines`` taken back that are not locked again. ``oversold`` (commit,
    unrecord_shipped): per SKU, how many units below zero ``available`` went because of
    this call (units promised to other orders that are gone); empty when nobody else
    lost stock. ``lapsed``
    (confirm): per SKU, units of the lock that had already expired and are not held
    (a retry of the confirm with its ``ref`` reports them again).
    """

    outcome: LedgerOutcome
    lock_id: str
    order_id: str
    lines: dict[str, int] = attrs.Factory(dict)
    parked: tuple[ParkedRelease, ...] = ()
    unlocked: dict[str, int] = attrs.Factory(dict)
    oversold: dict[str, int] = attrs.Factory(dict)
    lapsed: dict[str, int] = attrs.Factory(dict)

    @property
    def suspension(self) -> ReleaseSuspended | None:
        """The first parked line as a :class:`ReleaseSuspended` value, or ``None``."""
        if not self.parked:
            return None
        first = self.parked[0]
        return ReleaseSuspended(first.sku, first.entry_id, "release breaker tripped")

    def raise_if_parked(self) -> ReleaseResult:
        """Raise :class:`~orderkit.model.errors.ReleaseSuspended` when a line was parked."""
        suspension = self.suspension
        if suspension is not None:
            raise suspension
        return self


class StockCall(Protocol):
    """One call of :meth:`~orderkit.inventory.InventoryLedger.apply_many` (added in 0.3).

    ``operation`` is ``"release"``, ``"commit"``, ``"uncommit"``, ``"confirm"``,
    ``"restock"``, ``"ship"``, ``"unship"``, ``"record_shipped"`` or
    ``"unrecord_shipped"``, with the arguments of the ledger method of that name:
    ``lock_id`` (not for a restock, a ship or an unship; optional for
    ``record_shipped`` and ``unrecord_shipped``), ``lines`` (``None``: the whole lock;
    required for an uncommit, a restock, a ship, an unship, ``record_shipped`` and
    ``unrecord_shipped``), ``order_id``, ``ref`` (the call's id, which makes a retry a
    no-op; required for a restock, a ship, an unship, ``record_shipped`` and
    ``unrecord_shipped``) and ``reason``
    (``None``: the method's default). Any object with these attributes will do, such as
    :class:`orderkit.outbox.StockCall`. A confirm's or a release's ``at`` (when its
    payment or its cancel was decided, see
    :meth:`~orderkit.inventory.InventoryLedger.confirm` and ``release``) is read when
    the object has that attribute (added in 0.3); without it the call is judged at the
    ledger's clock.
    """

    @property
    def operation(self) -> str: ...

    @property
    def lock_id(self) -> str | None: ...

    @property
    def lines(self) -> Mapping[str, int] | None: ...

    @property
    def order_id(self) -> str | None: ...

    @property
    def ref(self) -> str | None: ...

    @property
    def reason(self) -> str | None: ...
