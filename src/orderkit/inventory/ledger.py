"""The inventory lock ledger: lock at order creation, release by line, commit on shipment.

Stock moves in two phases, like a ledger of pending transfers. Placing an order *locks*
units (they stop being available but are still on hand); shipping *commits* them (they
leave ``on_hand``); cancelling *releases* them (they become available again), line by
line and never more than is still locked; a lock nobody resolves *expires*, unless
payment *confirmed* it. Every movement is an immutable entry, so the counters can always
be recomputed and checked (:meth:`InventoryLedger.verify`).

The oversell incidents this closes: a cancel that never returned stock, a partial cancel
of 2 of 5 lines that returned all 5, two channels selling the last unit at the same
moment, a forged id releasing another order's stock, and a runaway script releasing
thousands of locks in a minute (the release breaker parks those for review), and a
paid order shipped after its lock expired while another order shipped the same unit
(confirmed locks never expire; a late shipment is booked anyway and reported as an
oversell, which ``verify()`` keeps reporting until stock covers it).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

import attrs

from orderkit.inventory.entries import (
    NEVER,
    EntryKind,
    InventoryLock,
    LedgerEntry,
    LedgerOutcome,
    LineOccupancy,
    LockLine,
    ParkedRelease,
    ReleaseResult,
    StockCall,
    StockLevel,
    count_record,
    count_return,
)
from orderkit.inventory.ports import InventoryStore, InventoryTransaction
from orderkit.inventory.refusals import (
    RestockExceedsShipment,
    UnrecordExceedsRecord,
    UnshipExceedsShipment,
)
from orderkit.inventory.tokens import LockTokens
from orderkit.inventory.verify import VerifyReport, verify_store
from orderkit.inventory.views import available_units, held_units, live_lines
from orderkit.model import _checks as check
from orderkit.model.errors import InsufficientStock, InvalidLock, RefusedError, ValidationError
from orderkit.model.time import Clock, SystemClock, checked_now, ensure_instant

__all__ = ["DEFAULT_RELEASE_LIMIT", "DEFAULT_SKEW_TOLERANCE", "MAX_TTL", "InventoryLedger"]

_MAX_TEXT: Final = 256
_NO_TIME: Final = timedelta(0)

#: How far ahead of the store's clock a process's clock may run before the store's clock
#: (plus this) is used instead: see "The lock clock rule" in the security guide.
DEFAULT_SKEW_TOLERANCE: Final = timedelta(seconds=5)

#: The longest time-to-live of a lock, and the longest ``release_window``.
MAX_TTL: Final = timedelta(days=3653)

#: Releases of one SKU decided within ``release_window`` (an hour) before the release
#: breaker parks the next: well above a shop's cancellations of its busiest SKU in an
#: hour, well below the thousands a runaway script releases (see "The release breaker"
#: in the inventory guide).
DEFAULT_RELEASE_LIMIT: Final = 200


def _new_id() -> str:
    """A fresh entry or lock id: 128 random bits in hex, unique across processes."""
    return secrets.token_hex(16)


def _ref_id(ref: str, sku: str) -> str:
    """The entry id of ``sku``'s movement for the call identified by ``ref``: the same on
    every retry, so a second call finds the first one's entries."""
    return f"{ref}:{sku}"


def _unlocked_ref_id(ref: str, sku: str) -> str:
    """The entry id of ``sku``'s ``SHIP_UNLOCKED`` entry for the call identified by ``ref``
    (a commit may write it beside a ``COMMIT`` of the same SKU)."""
    return f"{ref}:{sku}:unlocked"


def _lockless_ref_id(ref: str, sku: str) -> str:
    """The entry id of ``sku``'s ``UNSHIP_UNLOCKED`` entry, naming no lock, for the call
    identified by ``ref``: units an ``uncommit`` takes back that the order shipped
    without its lock (beside those its lock shipped unlocked, under
    :func:`_unlocked_ref_id`)."""
    return f"{ref}:{sku}:lockless"


def _oversell_ref_id(ref: str, sku: str) -> str:
    """The entry id of the ``OVERSELL`` record of ``sku`` for the call identified by
    ``ref``: a retried call reads back what the first one found."""
    return f"{ref}:{sku}:oversold"


def _lapsed_ref_id(ref: str, sku: str) -> str:
    """The entry id of the ``LAPSE`` record of ``sku`` for the confirm identified by
    ``ref``: a retried confirm reads back what the first one could not hold."""
    return f"{ref}:{sku}:lapsed"


def _let_go_ref_id(ref: str, sku: str) -> str:
    """The entry id of ``sku``'s ``RELEASE_EXPIRED`` entry for the release identified by
    ``ref`` (it may write one beside a ``RELEASE`` of the same SKU)."""
    return f"{ref}:{sku}:expired"


def _counted_ref_id(ref: str, sku: str) -> str:
    """The entry id of the ``RECEIVE`` that books ``sku``'s units of a
    :meth:`InventoryLedger.record_shipped` call (identified by ``ref``) into the stock
    they left before it was counted, or of the ``UNRECORD_SHIPPED`` that takes such
    units back for an :meth:`InventoryLedger.unrecord_shipped` call: the entry each
    always writes, last for an ``unrecord_shipped``."""
    return f"{ref}:{sku}:counted"


#: The reason each lock call writes into its entries unless the caller names one.
_DEFAULT_REASONS: Final = {
    "release": "release", "commit": "ship", "uncommit": "not shipped", "confirm": "",
    "record_shipped": "shipped before the stock count",
    "unrecord_shipped": "not shipped before the stock count",
}

#: The calls that name an order's units without a lock, with their default reasons
#: (those of ``_LOCK_OPTIONAL`` may also name the order's lock).
_ORDER_REASONS: Final = {
    "restock": "return", "ship": "ship", "record_shipped": "shipped before the stock count",
    "unship": "not shipped", "unrecord_shipped": "not shipped before the stock count",
}
#: The order calls that may name the order's lock.
_LOCK_OPTIONAL: Final = frozenset({"record_shipped", "unrecord_shipped"})
#: The order calls bounded by what their order shipped and got back.
_RETURNING_CALLS: Final = frozenset({"restock", "unship", "uncommit", "unrecord_shipped"})
#: The lock calls that name their lines, which may hold units the lock never held
#: (shipped before it was taken, or by the order without it): booked, or taken back,
#: without it.
_BEYOND_LOCK: Final = _LOCK_OPTIONAL | {"uncommit"}
#: The calls that may report an oversell (``OVERSELL`` records under
#: ``_oversell_ref_id``, read back by a retry).
_OVERSELLING: Final = frozenset({"commit", "ship", "record_shipped", "unrecord_shipped"})

#: The calls that take units out of ``on_hand`` as shipped (their entries count as
#: shipped for the order, which bounds its restocks).
_SHIPPING_CALLS: Final = frozenset({"commit", "ship", "record_shipped"})

#: The calls that may write a ``SHIP_UNLOCKED`` (or, for an ``uncommit``, an
#: ``UNSHIP_UNLOCKED``) entry of a SKU under ``_unlocked_ref_id`` beside its main one.
_UNLOCKED_CALLS: Final = _SHIPPING_CALLS | {"uncommit"}


@attrs.frozen
class _Call:
    """One checked call of :meth:`InventoryLedger.apply_many` (``skus``: the SKUs of
    its lock, or of its lines for a restock, once known)."""

    operation: str
    lock_id: str
    lock_key: str
    order_id: str
    wanted: dict[str, int] | None
    ref: str | None
    reason: str
    skus: frozenset[str] = frozenset()
    #: For a ``record_shipped`` with a lock: the units (by SKU) the lock keeps holding
    #: for the order's units still to ship (``None``: none kept back).
    keep: dict[str, int] | None = None
    #: For a ``confirm``: when the payment was decided; for a ``release``: when the
    #: release (the cancel) was decided (``None``: the batch's instant).
    at: datetime | None = None

    def decided(self, now: datetime) -> datetime:
        """The instant the call was decided: its ``at``, never later than ``now``."""
        return now if self.at is None or self.at > now else self.at


#: A place in ``_apply``'s results not decided yet (every one is, before it returns).
_UNDECIDED: Final = ReleaseResult("already_applied", "", "")


def _ids_of(call: _Call, sku: str) -> tuple[str, ...]:
    """The entry ids ``call`` (with a ``ref``) writes or reads back for ``sku``."""
    ref = call.ref or ""
    if call.operation == "record_shipped":
        return (_counted_ref_id(ref, sku), _ref_id(ref, sku), _unlocked_ref_id(ref, sku))
    if call.operation == "unrecord_shipped":
        return (_counted_ref_id(ref, sku), _oversell_ref_id(ref, sku))
    if call.operation in _SHIPPING_CALLS:
        return (_ref_id(ref, sku), _unlocked_ref_id(ref, sku), _oversell_ref_id(ref, sku))
    if call.operation == "uncommit":
        return (_ref_id(ref, sku), _unlocked_ref_id(ref, sku), _lockless_ref_id(ref, sku))
    if call.operation == "confirm":
        return (_ref_id(ref, sku), _lapsed_ref_id(ref, sku))
    if call.operation == "release":
        return (_ref_id(ref, sku), _let_go_ref_id(ref, sku))
    return (_ref_id(ref, sku),)


def _replayed(tx: InventoryTransaction, call: _Call, stored: Collection[str]) -> ReleaseResult:
    """The answer to a call whose ``ref`` was applied before: ``already_applied``; for a
    commit with what the first call found oversold, for a confirm with what it could
    not hold (both kept in the ledger, so a retry after a crash still reports them)."""
    found: dict[str, int] = {}
    record_id = (
        _oversell_ref_id if call.operation in _OVERSELLING
        else _lapsed_ref_id if call.operation == "confirm" else None
    )
    if record_id is not None and call.ref is not None:
        for sku in sorted(call.skus):
            entry_id = record_id(call.ref, sku)
            if entry_id in stored and (record := tx.entry(entry_id)) is not None:
                found[sku] = record.qty
    if call.operation == "confirm":
        return ReleaseResult("already_applied", call.lock_id, call.order_id, lapsed=found)
    if call.operation == "release":
        return ReleaseResult(
            "already_applied", call.lock_id, call.order_id, parked=_parked_before(tx, call)
        )
    return ReleaseResult("already_applied", call.lock_id, call.order_id, oversold=found)


def _parked_before(tx: InventoryTransaction, call: _Call) -> tuple[ParkedRelease, ...]:
    """What the breaker parked of a release applied before (its ``PARK`` entries) and
    nobody approved since: a retry after a crash reports the parked lines again."""
    parked: list[ParkedRelease] = []
    for sku in sorted(call.skus):
        park = tx.entry(_ref_id(call.ref or "", sku))
        if park is not None and park.kind is EntryKind.PARK and (
            tx.approval_of(park.entry_id) is None
        ):
            parked.append(
                ParkedRelease(park.entry_id, sku, park.qty, call.order_id, call.lock_id, park.at)
            )
    return tuple(parked)


def _order_call(
    operation: str, lines: object, order_id: object, ref: object, reason: object,
    prefix: str = "",
) -> _Call:
    """The arguments of a call that names an order's units without a lock (a restock,
    a shipment without a lock, a shipment before the count) checked, each named under
    ``prefix``."""
    wanted = _demand(lines, f"{prefix}lines")
    order = _text(f"{prefix}order_id", order_id)
    checked_ref = _text(f"{prefix}ref", ref)
    checked_reason = _text(f"{prefix}reason", reason)
    return _Call(operation, "", "", order, wanted, checked_ref, checked_reason)


def _applied(stored: Collection[str], call: _Call) -> bool:
    """Whether a call with this ``ref`` already wrote entries (``stored``: the ids of
    the transaction's calls found in the ledger, read under the lock); for a shipping
    call the ``SHIP_UNLOCKED`` entries it may write alone count too (for an uncommit
    its ``UNSHIP_UNLOCKED`` entries, naming its lock or none), for a confirm the
    ``LAPSE`` records and for a release the ``RELEASE_EXPIRED`` entries it may write
    alone, and for a ``record_shipped`` the ``RECEIVE`` it always writes first (for an
    ``unrecord_shipped`` the ``UNRECORD_SHIPPED`` it always writes)."""
    ref = call.ref
    if ref is None:
        return False
    if call.operation in _LOCK_OPTIONAL:
        return any(_counted_ref_id(ref, sku) in stored for sku in call.skus)
    return any(
        _ref_id(ref, sku) in stored
        or (call.operation in _UNLOCKED_CALLS and _unlocked_ref_id(ref, sku) in stored)
        or (call.operation == "uncommit" and _lockless_ref_id(ref, sku) in stored)
        or (call.operation == "confirm" and _lapsed_ref_id(ref, sku) in stored)
        or (call.operation == "release" and _let_go_ref_id(ref, sku) in stored)
        for sku in call.skus
    )


@attrs.define
class _Window:
    """At most ``count`` releases of a SKU (or more, never fewer) were decided at or
    after ``since``: what the breaker knows of the SKU while a batch is decided."""

    since: datetime
    count: int


@attrs.define
class _Batch:
    """What the calls of one batch share while they are decided in its transaction:
    the instant and actor they are booked with, the ids of the entries applied so far
    (``stored``), and each released SKU's releases within the breaker's window."""

    tx: InventoryTransaction
    now: datetime
    actor: str
    stored: set[str]
    windows: dict[str, _Window]
    #: (order id, SKU) -> [units shipped, units restocked], for the orders restocked in
    #: this batch: read once, then kept current by the batch's commits and restocks.
    returns: dict[tuple[str, str], list[int]] = attrs.Factory(dict)
    restocking: frozenset[str] = frozenset()
    #: (order id, SKU) -> units recorded as shipped before the stock count, for the
    #: orders whose records this batch takes back: read once, then kept current.
    records: dict[tuple[str, str], int] = attrs.Factory(dict)
    unrecording: frozenset[str] = frozenset()

    def append(self, entry: LedgerEntry) -> None:
        """Append ``entry`` and count its id as applied for the rest of the batch."""
        self.tx.append(entry)
        self.stored.add(entry.entry_id)
        if entry.order_id in self.restocking:
            count_return(self.returns, entry)
        if entry.order_id in self.unrecording:
            count_record(self.records, entry)


#: The refusals of units asked back beyond what an order shipped.
_BeyondShipment = RestockExceedsShipment | UnshipExceedsShipment


def _beyond_shipments(
    batch: _Batch, call: _Call, refusal: type[_BeyondShipment]
) -> _BeyondShipment | None:
    """``refusal`` for the first SKU of ``call`` with more units than its order shipped
    and did not get back (as the batch counts them so far), else ``None``."""
    for sku, qty in sorted((call.wanted or {}).items()):
        shipped, restocked = batch.returns.get((call.order_id, sku), (0, 0))
        if qty > shipped - restocked:
            return refusal(call.order_id, sku, qty, shipped, restocked)
    return None


def _unshipped(line: LockLine) -> int:
    """Units the lock took for its order that were neither released nor shipped yet."""
    return max(0, line.qty - line.released - line.committed - line.shipped_unlocked)


def _still_wanted(line: LockLine) -> int:
    """Units of ``line`` whose lock expired and that its order still wants: not shipped
    since without the lock (a release lets go of them: ``RELEASE_EXPIRED``)."""
    return max(0, line.expired - line.shipped_unlocked)


def _text(path: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(path, value, "expected a non-empty string")
    if len(value) > _MAX_TEXT:
        raise ValidationError(path, value, f"longer than {_MAX_TEXT} characters")
    return check.storable(path, value)


def _quantity(path: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(path, value, "expected a positive integer")
    return check.quantity(path, value)


def _ttl(path: str, value: object) -> timedelta:
    if not isinstance(value, timedelta) or not _NO_TIME < value <= MAX_TTL:
        raise ValidationError(path, value, "expected a positive timedelta of at most 10 years")
    return value


def _kept(value: object, path: str) -> dict[str, int] | None:
    """A ``record_shipped``'s ``keep``: ``None``, or SKU to units (0 or more)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError(path, value, "expected a mapping of SKU to units")
    kept: dict[str, int] = {}
    for sku, units in value.items():
        _text(f"{path}[{sku!r}]", sku)
        if isinstance(units, bool) or not isinstance(units, int) or units < 0:
            raise ValidationError(f"{path}[{sku!r}]", units, "expected an integer >= 0")
        kept[sku] = check.quantity(f"{path}[{sku!r}]", units)
    return kept


def _demand(lines: object, path: str = "lines") -> dict[str, int]:
    """``{sku: qty}`` or ``[(sku, qty), ...]`` -> summed, SKU-sorted demand."""
    if isinstance(lines, Mapping):
        pairs: Iterable[object] = lines.items()
    elif isinstance(lines, str | bytes) or not isinstance(lines, Iterable):
        raise ValidationError(path, lines, "expected a mapping of SKU to quantity")
    else:
        pairs = lines
    total: dict[str, int] = {}
    for index, pair in enumerate(pairs):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValidationError(f"{path}[{index}]", pair, "expected a (sku, qty) pair")
        sku = _text(f"{path}[{index}].sku", pair[0])
        qty = _quantity(f"{path}[{sku!r}]", pair[1])
        total[sku] = check.quantity(f"{path}[{sku!r}]", total.get(sku, 0) + qty)
    if not total:
        raise ValidationError(path, lines, "expected at least one line")
    return dict(sorted(total.items()))


def _nothing_moved(lines: Iterable[LockLine], *, commit: bool) -> LedgerOutcome:
    """Why a release/commit/confirm moved nothing: what happened to those units before.

    A commit (or confirm) that moved nothing found no expired unit left to ship, so its
    answer is whether the units were released or shipped.
    """
    released = committed = expired = 0
    for line in lines:
        released += line.released
        committed += line.committed
        expired += line.expired
    if expired and not commit:
        return "expired"
    # Report the surprising fact first: a cancel of shipped units, a shipment of
    # released units.
    if commit:
        return "already_released" if released else "already_committed"
    return "already_committed" if committed else "already_released"


class InventoryLedger:
    """Locks, releases, commits and counts stock over an :class:`InventoryStore`.

    ``secret`` signs lock ids (at least 16 bytes; keep it in the host's secret store,
    never in the database). ``clock`` dates every entry and decides expiry, but never
    later than the store's clock (:meth:`InventoryStore.now`) plus ``skew_tolerance``:
    a process whose clock runs fast cannot expire the locks of the others early (see
    "The lock clock rule" in the security guide). The release breaker parks a release
    of a SKU when ``release_limit`` releases of it were decided within
    ``release_window`` before it (each release is judged by when it was decided: its
    ``at``); :meth:`pending_review` lists the parked ones, :meth:`verify` is not ``ok``
    while any waits, and :meth:`approve_release` applies one.
    """

    def __init__(
        self,
        store: InventoryStore,
        *,
        secret: bytes | str,
        clock: Clock | None = None,
        release_limit: int = DEFAULT_RELEASE_LIMIT,
        release_window: timedelta = timedelta(hours=1),
        expiry_batch: int = 100,
        skew_tolerance: timedelta = DEFAULT_SKEW_TOLERANCE,
    ) -> None:
        for name, number in (("release_limit", release_limit), ("expiry_batch", expiry_batch)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise ValidationError(name, number, "expected a positive integer")
        _ttl("release_window", release_window)
        if not isinstance(skew_tolerance, timedelta) or not (
            _NO_TIME <= skew_tolerance <= timedelta(hours=1)
        ):
            raise ValidationError(
                "skew_tolerance", skew_tolerance, "expected a timedelta from 0 to 1 hour"
            )
        self._store = store
        self._skew_tolerance = skew_tolerance
        self._tokens = LockTokens(secret)
        self._clock: Clock = SystemClock() if clock is None else clock
        self._release_limit = release_limit
        self._release_window = release_window
        self._expiry_batch = expiry_batch

    @property
    def store(self) -> InventoryStore:
        """The store the ledger writes to."""
        return self._store

    @property
    def skew_tolerance(self) -> timedelta:
        """How far past the store's clock this ledger's clock may decide expiry."""
        return self._skew_tolerance

    def _now(self, now: object = None) -> datetime:
        """The instant this call decides by: ``now`` (or the ledger's clock), checked,
        and never later than the store's clock plus the skew tolerance."""
        own = checked_now(self._clock) if now is None else ensure_instant(now, path="now")
        ceiling = ensure_instant(self._store.now(), path="store.now()") + self._skew_tolerance
        return own if own <= ceiling else ceiling

    # --- stock in ------------------------------------------------------------------------

    def receive(self, sku: str, qty: int, *, reference: str, actor: str = "system") -> StockLevel:
        """Book ``qty`` units of ``sku`` received (a purchase receipt, a return to stock)."""
        _text("sku", sku)
        _quantity("qty", qty)
        _text("reference", reference)
        _text("actor", actor)
        return self._move(sku, EntryKind.RECEIVE, qty, actor=actor, reason="receive", ref=reference)

    def restock(
        self,
        lines: Mapping[str, int],
        *,
        order_id: str,
        ref: str,
        reason: str = "return",
        actor: str = "system",
    ) -> ReleaseResult:
        """Put returned units (``lines``, SKU to units) back in stock for ``order_id``.

        ``ref`` identifies the call (the outbox message of the return): a second call
        with the same ``ref`` changes nothing (outcome ``"already_applied"``); the first
        answers ``"restocked"``. Restocked units count as ``restocked`` in the balance
        rule ``on_hand == received - shipped + restocked - adjusted``.

        Only what the order shipped may come back: a SKU of ``lines`` with more units
        than the ledger booked leaving for ``order_id`` (its commits, including units
        shipped unlocked) minus what was restocked for it already is refused with
        :class:`~orderkit.inventory.refusals.RestockExceedsShipment` naming the SKU and
        the units, and nothing of the call is written.
        """
        call = _order_call("restock", lines, order_id, ref, reason)
        _text("actor", actor)
        return self._one(call, actor)

    def ship(
        self,
        lines: Mapping[str, int],
        *,
        order_id: str,
        ref: str,
        reason: str = "ship",
        actor: str = "system",
    ) -> ReleaseResult:
        """Units of ``order_id`` (``lines``, SKU to units) left the building with no
        lock to commit: an order that was already shipped when it was placed (a sale
        handed over at a shop's counter), or one stored without a lock. They leave
        ``on_hand`` as ``SHIP_UNLOCKED`` entries for the order, so a later return of
        them may be restocked; a shipment that takes ``available`` below zero is booked
        anyway and its shortfall listed in :attr:`ReleaseResult.oversold`, as for
        :meth:`commit`. ``ref`` identifies the call: a second call with the same
        ``ref`` changes nothing (``"already_applied"``); the first answers
        ``"committed"``.
        """
        call = _order_call("ship", lines, order_id, ref, reason)
        _text("actor", actor)
        return self._one(call, actor)

    def unship(
        self,
        lines: Mapping[str, int],
        *,
        order_id: str,
        ref: str,
        reason: str = "not shipped",
        actor: str = "system",
    ) -> ReleaseResult:
        """Units of ``order_id`` (``lines``, SKU to units) that a :meth:`ship` booked as
        gone and that never left (added in 0.3): an order with no lock that a carrier
        scan shipped whole, and whose parcel the warehouse's ``ship`` then reported with
        fewer units. They come back on hand (``UNSHIP_UNLOCKED`` entries for the order,
        the reverse of ``SHIP_UNLOCKED``) and count off what the order shipped, so a
        later shipment of them takes them once. More units of a SKU than the order
        shipped and did not get back is refused with
        :class:`~orderkit.inventory.refusals.UnshipExceedsShipment` and nothing of the
        call is written. ``ref`` as for :meth:`ship` (a second call answers
        ``"already_applied"``; the first ``"unshipped"``).
        """
        call = _order_call("unship", lines, order_id, ref, reason)
        _text("actor", actor)
        return self._one(call, actor)

    def record_shipped(
        self,
        lines: Mapping[str, int],
        *,
        order_id: str,
        ref: str,
        lock_id: str | None = None,
        keep: Mapping[str, int] | None = None,
        reason: str = "shipped before the stock count",
        actor: str = "system",
    ) -> ReleaseResult:
        """Units of ``order_id`` (``lines``, SKU to units) that had left before the
        stock was counted, so the count that opened the ledger did not include them:
        they are booked for the order as received into the opening stock (``RECEIVE``)
        and shipped out of it (``COMMIT`` of what ``lock_id``, the order's lock, still
        holds of them, ``SHIP_UNLOCKED`` for the rest). ``on_hand`` and ``available``
        do not change, the balance rule holds, the order's lock lets go of those units,
        and a later return of them may be restocked (:meth:`restock`). ``keep`` (SKU to
        units) is what the lock must go on holding for the order's units still to ship:
        only what it holds beyond that is committed for these units (a lock taken after
        they had left never held them); a SKU the lock does not hold is shipped without
        it. ``ref`` as for :meth:`ship`; the first call answers ``"recorded"``.
        """
        return self._one(self._held_call(
            "record_shipped", lock_id, lines, order_id, ref, reason, actor, keep=keep), actor)

    def unrecord_shipped(
        self,
        lines: Mapping[str, int],
        *,
        order_id: str,
        ref: str,
        lock_id: str | None = None,
        reason: str = "not shipped before the stock count",
        actor: str = "system",
    ) -> ReleaseResult:
        """Units of ``order_id`` (``lines``, SKU to units) that a :meth:`record_shipped`
        booked as gone before the stock count and that never left (added in 0.3): a
        carrier scan dated before the count shipped every open unit, and the
        warehouse's ``ship`` of that parcel named fewer, so the others were on the shelf
        when the stock was counted. The reverse of the record: the shipment is taken
        back as :meth:`uncommit` takes it back (what ``lock_id``, the order's lock, had
        committed of them is locked again for the order, ``UNCOMMIT``; the rest comes
        back on hand, ``UNSHIP_UNLOCKED``, listed in :attr:`ReleaseResult.unlocked`),
        then the opening receipt of them (``UNRECORD_SHIPPED``, ``on_hand -= qty``), so
        ``on_hand`` does not move and the order's shipments count them no longer. Units
        locked again that another order locked meanwhile (the record had let them go)
        are held for the order all the same: ``available`` goes below zero by them,
        listed per SKU in :attr:`ReleaseResult.oversold` and reported by
        :meth:`verify` until stock covers it.

        More units of a SKU than the order's records booked and no call took back yet
        is refused with :class:`~orderkit.inventory.refusals.UnrecordExceedsRecord`,
        more than it shipped and did not get back with
        :class:`~orderkit.inventory.refusals.UnshipExceedsShipment`; nothing of the
        call is written. ``ref`` as for :meth:`ship` (a second call answers
        ``"already_applied"``, with what the first found oversold; the first
        ``"unrecorded"``).
        """
        return self._one(self._held_call(
            "unrecord_shipped", lock_id, lines, order_id, ref, reason, actor), actor)

    def _held_call(
        self, operation: str, lock_id: str | None, lines: object, order_id: object,
        ref: object, reason: str, actor: str, *, keep: object = None,
    ) -> _Call:
        """The checked arguments of a call of the order's units that may name its lock
        (one of ``_LOCK_OPTIONAL``)."""
        _text("actor", actor)
        _text("reason", reason)
        if lock_id is None:
            return _order_call(operation, lines, order_id, ref, reason)
        return self._checked(operation, lock_id, lines, order_id, ref, reason, keep=keep)

    def adjust(self, sku: str, delta: int, *, reason: str, actor: str = "system") -> StockLevel:
        """Correct ``on_hand`` by ``delta`` after a count; never below what is locked.

        A positive correction is always booked, even while the SKU is oversold.
        """
        _text("sku", sku)
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise ValidationError("delta", delta, "expected a non-zero integer")
        check.quantity("delta", abs(delta))
        _text("reason", reason)
        _text("actor", actor)
        return self._move(sku, EntryKind.ADJUST, delta, actor=actor, reason=reason, ref=None)

    def _move(
        self, sku: str, kind: EntryKind, qty: int, *, actor: str, reason: str, ref: str | None
    ) -> StockLevel:
        now = self._now()
        short: InsufficientStock | None = None
        with self._store.transaction((sku,)) as tx:
            self._expire_lines(tx, (sku,), now, actor)
            balance = tx.balance(sku)
            if qty < 0 and balance.available + qty < 0:
                short = InsufficientStock({sku: (-qty, balance.available)})
            else:
                tx.append(
                    LedgerEntry(_new_id(), kind, sku, qty, now, actor, reason, ref=ref)
                )
                balance = tx.balance(sku)
        if short is not None:
            raise short
        return StockLevel(sku, balance.on_hand, balance.locked, balance.available)

    # --- locks -----------------------------------------------------------------------------

    def lock(
        self,
        order_id: str,
        lines: Mapping[str, int] | Iterable[tuple[str, int]],
        *,
        ttl: timedelta,
        actor: str = "system",
    ) -> InventoryLock:
        """Lock every line for ``order_id``, or nothing.

        Demand for a SKU named twice is summed first. When any SKU is short,
        :class:`InsufficientStock` names every short SKU with (wanted, available) and
        nothing is locked.
        """
        _text("order_id", order_id)
        demand = _demand(lines)
        _ttl("ttl", ttl)
        _text("actor", actor)
        (result,) = self._lock_checked([(order_id, demand)], ttl, actor)
        if isinstance(result, InsufficientStock):
            raise result
        return result

    def lock_many(
        self,
        requests: Iterable[tuple[str, Mapping[str, int] | Iterable[tuple[str, int]]]],
        *,
        ttl: timedelta,
        actor: str = "system",
    ) -> list[InventoryLock | InsufficientStock]:
        """Lock several orders in one store transaction (one commit, one disk sync).

        Each ``(order_id, lines)`` request is all-or-nothing on its own and is decided in
        order, seeing the locks taken before it in the batch; a refused request gets its
        :class:`InsufficientStock` in the returned list instead of a lock. Invalid input
        anywhere refuses the whole batch before anything is written.
        """
        _ttl("ttl", ttl)
        _text("actor", actor)
        if isinstance(requests, str | bytes | Mapping) or not isinstance(requests, Iterable):
            raise ValidationError("requests", requests, "expected (order_id, lines) pairs")
        checked: list[tuple[str, dict[str, int]]] = []
        for index, request in enumerate(requests):
            if not isinstance(request, tuple) or len(request) != 2:
                raise ValidationError(
                    f"requests[{index}]", request, "expected an (order_id, lines) pair"
                )
            checked.append(
                (
                    _text(f"requests[{index}].order_id", request[0]),
                    _demand(request[1], f"requests[{index}].lines"),
                )
            )
        return self._lock_checked(checked, ttl, actor)

    def _lock_checked(
        self, checked: list[tuple[str, dict[str, int]]], ttl: timedelta, actor: str
    ) -> list[InventoryLock | InsufficientStock]:
        """Decide validated ``(order_id, demand)`` requests in order, in one transaction."""
        now = self._now()
        expires_at = now + ttl
        skus = {sku for _order, demand in checked for sku in demand}
        results: list[InventoryLock | InsufficientStock] = []
        with self._store.transaction(skus) as tx:
            self._expire_lines(tx, skus, now, actor)
            for order_id, demand in checked:
                shortages = {}
                for sku, qty in demand.items():
                    available = tx.balance(sku).available
                    if qty > available:
                        shortages[sku] = (qty, available)
                if shortages:
                    results.append(InsufficientStock(shortages, order_id=order_id))
                    continue
                lock_key = _new_id()
                for sku, qty in demand.items():
                    tx.append(
                        LedgerEntry(
                            _new_id(), EntryKind.LOCK, sku, qty, now, actor, "lock",
                            order_id=order_id, lock_key=lock_key, expires_at=expires_at,
                        )
                    )
                results.append(
                    InventoryLock(
                        self._tokens.issue(lock_key, order_id), order_id, demand, now, expires_at
                    )
                )
        return results

    def release(
        self,
        lock_id: str,
        lines: Mapping[str, int] | Iterable[tuple[str, int]] | None = None,
        *,
        order_id: str | None = None,
        actor: str = "system",
        reason: str = "release",
        ref: str | None = None,
        at: datetime | None = None,
    ) -> ReleaseResult:
        """Return locked units to available: ``lines`` only (up to what is still locked on
        them), or everything still locked when ``lines`` is ``None``.

        Units of the lock whose lock had expired are let go of first (``lines=None``:
        all of them): they move no stock (they were free already), but they count as
        released, so a confirm applied late (see :meth:`confirm`) does not lock them
        again for an order that no longer wants them (``RELEASE_EXPIRED`` entries).

        Pass ``order_id`` to refuse a lock id that belongs to another order, and ``ref``
        (a message or request id) to make the call idempotent: a second call with the
        same ``ref`` changes nothing and answers ``"already_applied"`` (with the lines
        the first call parked that nobody approved since, in ``parked``). ``at``
        (aware; the ledger's clock when ``None``, and never later than it) is when the
        release was decided (a cancel relayed later): the release breaker counts the
        releases of each SKU decided within ``release_window`` before it, and its
        entries are dated by it. Outcomes: ``"released"``, ``"already_released"`` /
        ``"already_committed"`` / ``"expired"`` (nothing changed), or ``"parked"`` when
        the breaker held lines back for review (see :attr:`ReleaseResult.suspension`).
        """
        _text("actor", actor)
        _text("reason", reason)
        return self._one(
            self._checked("release", lock_id, lines, order_id, ref, reason, at=at), actor
        )

    def commit(
        self,
        lock_id: str,
        lines: Mapping[str, int] | Iterable[tuple[str, int]] | None = None,
        *,
        order_id: str | None = None,
        actor: str = "system",
        reason: str = "ship",
        ref: str | None = None,
    ) -> ReleaseResult:
        """On shipment: the units of ``lines`` leave ``on_hand``; a shipment is a fact.

        Units still locked on the lock are committed (``COMMIT``: ``on_hand`` and
        ``locked`` go down). Units named in ``lines`` beyond what is still locked
        (their lock expired, they were released, or more than was locked) are shipped
        anyway (``SHIP_UNLOCKED``: ``on_hand`` goes down) and listed in
        :attr:`ReleaseResult.unlocked`; if that takes ``available`` below zero, the units
        promised to other orders that are gone are listed per SKU in
        :attr:`ReleaseResult.oversold`, and the commit is still booked. Every call ships
        what it names: pass ``ref`` to make a retry safe.

        ``lines=None`` ships everything the lock took for its order that was neither
        released nor shipped yet (units still locked, and units whose lock expired).
        Committing part of a lock leaves the rest locked until released or expired.
        ``order_id`` and ``ref`` as for :meth:`release`. Outcomes: ``"committed"``,
        ``"already_committed"`` / ``"already_released"`` (``lines=None`` and nothing
        left to ship; nothing changed), ``"already_applied"`` (this ``ref`` was applied
        before).
        """
        _text("actor", actor)
        _text("reason", reason)
        return self._one(self._checked("commit", lock_id, lines, order_id, ref, reason), actor)

    def uncommit(
        self,
        lock_id: str,
        lines: Mapping[str, int] | Iterable[tuple[str, int]],
        *,
        order_id: str | None = None,
        actor: str = "system",
        reason: str = "not shipped",
        ref: str | None = None,
    ) -> ReleaseResult:
        """Units a :meth:`commit` booked as shipped that never left (added in 0.3): a
        carrier scan assumed every open unit went with its parcel, and the warehouse's
        ``ship`` of that parcel named fewer. The reverse of the commit: the units of
        ``lines`` (SKU to units) that the lock committed come back on hand and are
        locked again for the order on that lock (``UNCOMMIT``: ``on_hand`` and
        ``locked`` go up, ``available`` does not move), with the line's expiry (never,
        once paid), until they ship or are released. Units the commit shipped no longer
        locked (its lock had expired, or held fewer), and units of a SKU the order
        shipped without the lock, come back on hand only (``UNSHIP_UNLOCKED``, as for
        :meth:`unship`) and are listed in :attr:`ReleaseResult.unlocked`.

        A SKU with more units than the order shipped and did not get back is refused
        with :class:`~orderkit.inventory.refusals.UnshipExceedsShipment` and nothing of
        the call is written. ``order_id`` and ``ref`` as for :meth:`release`: a second
        call with the same ``ref`` changes nothing (``"already_applied"``); the first
        answers ``"uncommitted"``.
        """
        _text("actor", actor)
        _text("reason", reason)
        return self._one(
            self._checked("uncommit", lock_id, lines, order_id, ref, reason), actor
        )

    def confirm(
        self,
        lock_id: str,
        *,
        order_id: str | None = None,
        ref: str | None = None,
        at: datetime | None = None,
        actor: str = "system",
    ) -> ReleaseResult:
        """On payment: the lock's units still locked never expire (their expiry becomes
        :data:`~orderkit.inventory.entries.NEVER`), so a paid order keeps its stock until
        it is shipped (:meth:`commit`) or cancelled (:meth:`release`).

        ``at`` (aware; the ledger's clock when ``None``) is when the payment was
        decided: the confirm is judged at that instant, not when it reaches the ledger.
        A line that expired *after* ``at`` (the payment came while the lock held, and
        was applied later, or an expiry sweep ran in between) is locked again for the
        order (a ``RELOCK`` entry), as far as its units are still available. Units that
        cannot be held (the lock had expired before ``at``, or the units were given to
        another order meanwhile) are not taken from anyone; they are listed per SKU in
        :attr:`ReleaseResult.lapsed` (and recorded as ``LAPSE`` entries). Only expired
        units the order still wants count: units it shipped or released since (a
        confirm applied after the order's later messages) are neither locked again nor
        reported lapsed. ``lines`` lists the units this call confirmed
        (locked again included). ``order_id`` and ``ref`` as for :meth:`release`.
        Outcomes: ``"confirmed"`` (every line with units still locked is confirmed and
        none lapsed), ``"lapsed"`` (some units could not be held; the rest are
        confirmed), ``"already_confirmed"`` (nothing left to confirm),
        ``"already_committed"`` / ``"already_released"`` (no units left on the lock:
        nothing changed), ``"already_applied"`` (this ``ref`` was applied before; its
        ``lapsed`` is what the first call could not hold, recorded as ``LAPSE`` entries,
        so a retry reports it again and does not decide anew on today's stock).
        """
        _text("actor", actor)
        return self._one(
            self._checked("confirm", lock_id, None, order_id, ref, "", at=at), actor
        )

    # --- many calls in one transaction -------------------------------------------------------

    def apply_many(
        self, calls: Sequence[StockCall], *, actor: str = "system"
    ) -> list[ReleaseResult | RefusedError]:
        """Apply several release/commit/uncommit/confirm/restock/ship/unship/record_shipped/
        unrecord_shipped calls in one store transaction (added in 0.3): what the outbox
        relay does with a batch of stock messages.

        Each call is decided in order, seeing the calls before it, exactly as the method
        of its ``operation`` would decide it alone (:class:`StockCall` names the
        arguments). A call refused for its lock id (:class:`InvalidLock`: forged,
        unknown, of another order) or a restock, unship, uncommit or unrecord_shipped of
        more than its order shipped
        (:class:`~orderkit.inventory.refusals.RestockExceedsShipment`,
        :class:`~orderkit.inventory.refusals.UnshipExceedsShipment`), or an
        unrecord_shipped of more than it recorded
        (:class:`~orderkit.inventory.refusals.UnrecordExceedsRecord`) gets the error in
        the returned list and writes nothing; the others are applied. Any other error
        (invalid arguments, the store) refuses the whole batch: nothing of it is written.
        The store is asked once which of the calls' ``ref`` were applied before, once
        for the lines of every lock named, once for what the restocked orders shipped
        and got back, and once for what the orders whose records it takes back
        recorded, so a batch costs a few reads however many calls it holds.
        """
        _text("actor", actor)
        if isinstance(calls, str | bytes | Mapping) or not isinstance(calls, Sequence):
            raise ValidationError("calls", calls, "expected a sequence of stock calls")
        checked: list[_Call | RefusedError] = []
        for index, call in enumerate(calls):
            operation = getattr(call, "operation", None)
            path = f"calls[{index}]"
            reason = getattr(call, "reason", None)
            lines = getattr(call, "lines", None)
            order_id = getattr(call, "order_id", None)
            ref = getattr(call, "ref", None)
            lock_id = getattr(call, "lock_id", None)
            if operation in _ORDER_REASONS and (
                operation not in _LOCK_OPTIONAL or lock_id is None
            ):
                reason = _ORDER_REASONS[operation] if reason is None else reason
                checked.append(_order_call(operation, lines, order_id, ref, reason, f"{path}."))
                continue
            if operation not in _DEFAULT_REASONS:
                raise ValidationError(
                    f"{path}.operation", operation,
                    "expected 'release', 'commit', 'uncommit', 'confirm', 'restock', 'ship',"
                    " 'unship', 'record_shipped' or 'unrecord_shipped'",
                )
            if not isinstance(lock_id, str):
                raise ValidationError(f"{path}.lock_id", lock_id, "expected a lock id")
            if reason is None:
                reason = _DEFAULT_REASONS[operation]
            elif operation != "confirm":
                _text(f"{path}.reason", reason)
            try:
                checked.append(self._checked(operation, lock_id, lines, order_id, ref, reason,
                                             path, keep=getattr(call, "keep", None),
                                             at=getattr(call, "at", None)))
            except InvalidLock as refusal:
                checked.append(refusal)
        return self._apply(checked, actor)

    def _checked(
        self,
        operation: str,
        lock_id: str,
        lines: object,
        order_id: object,
        ref: object,
        reason: str,
        path: str = "",
        *,
        keep: object = None,
        at: object = None,
    ) -> _Call:
        """A lock call's arguments checked (the lock itself is looked up by ``_apply``);
        a ``record_shipped`` or ``unrecord_shipped`` names its lines and ``ref`` (a
        ``record_shipped`` may give ``keep``); a
        ``confirm`` may give ``at``, when its payment was decided."""
        prefix = f"{path}." if path else ""
        paid_at = None if at is None else ensure_instant(at, path=f"{prefix}at")
        kept = None
        if operation in _BEYOND_LOCK and lines is None:
            raise ValidationError(f"{prefix}lines", lines, "expected a mapping of SKU to quantity")
        if operation == "record_shipped":
            kept = _kept(keep, f"{prefix}keep")
        if ref is not None or operation in _LOCK_OPTIONAL:  # these name theirs
            _text(f"{prefix}ref", ref)
        lock_key, token_order = self._tokens.open(lock_id)
        if order_id is not None and order_id != token_order:
            raise InvalidLock(lock_id, f"belongs to another order, not {order_id}")
        wanted = None if lines is None else _demand(lines, f"{prefix}lines")
        return _Call(
            operation, lock_id, lock_key, token_order, wanted,
            None if ref is None else str(ref), reason, keep=kept, at=paid_at,
        )

    def _one(self, call: _Call, actor: str) -> ReleaseResult:
        (result,) = self._apply([call], actor)
        if isinstance(result, RefusedError):
            raise result
        return result

    def _apply(
        self, checked: Sequence[_Call | RefusedError], actor: str
    ) -> list[ReleaseResult | RefusedError]:
        """Decide checked calls in order, in one transaction (see :meth:`apply_many`)."""
        # Refusals stand as they are; every call's place is filled below.
        results: list[ReleaseResult | RefusedError] = [
            call if isinstance(call, RefusedError) else _UNDECIDED for call in checked
        ]
        keys = sorted({c.lock_key for c in checked if isinstance(c, _Call) and c.lock_key})
        known = self._store.lines_of_locks(keys) if keys else {}
        live: list[tuple[int, _Call]] = []
        for index, call in enumerate(checked):
            if isinstance(call, RefusedError):
                continue
            if call.lock_key:
                lines = known.get(call.lock_key, ())
                if not lines or lines[0].order_id != call.order_id:
                    results[index] = InvalidLock(call.lock_id, "unknown lock")
                    continue
                skus = frozenset(line.sku for line in lines)
                if call.operation in _BEYOND_LOCK:
                    skus |= frozenset(call.wanted or ())
                for sku, qty in (call.wanted or {}).items():
                    if sku not in skus:
                        raise ValidationError(f"lines[{sku!r}]", qty, "this lock holds no such SKU")
                call = attrs.evolve(call, skus=skus)
            else:
                call = attrs.evolve(call, skus=frozenset(call.wanted or ()))
            live.append((index, call))
        if not live:
            return results
        now = self._now()
        with self._store.transaction({sku for _i, c in live for sku in c.skus}) as tx:
            ids = [
                entry_id
                for _index, call in live
                if call.ref is not None
                for sku in call.skus
                for entry_id in _ids_of(call, sku)
            ]
            stored = set(tx.stored(ids)) if ids else set()
            todo = [(i, c) for i, c in live if not _applied(stored, c)]
            locks = sorted({c.lock_key for _i, c in todo if c.lock_key})
            if locks:
                tx.lines_of_locks(locks)  # every lock of the batch in one read
            # Each released SKU's releases from the earliest window a release of the
            # batch is judged in: one read per SKU, an upper bound for every release of
            # it in the batch (see ``_tripped``).
            starts: dict[str, datetime] = {}
            for _i, c in todo:
                if c.operation == "release":
                    start = c.decided(now) - self._release_window
                    for sku in c.skus if c.wanted is None else c.wanted:
                        starts[sku] = min(start, starts.get(sku, start))
            windows = {
                sku: _Window(since, tx.release_count(sku, since, self._release_limit))
                for sku, since in sorted(starts.items())
            }
            expiring = {sku for _i, c in todo if c.lock_key for sku in c.skus}
            if expiring:
                self._expire_lines(tx, expiring, now, actor, only=locks)
            restocking = frozenset(
                c.order_id for _i, c in todo if c.operation in _RETURNING_CALLS)
            returns = {
                key: list(tally)
                for key, tally in (
                    tx.shipped_and_restocked(restocking) if restocking else {}
                ).items()
            }
            unrecording = frozenset(
                c.order_id for _i, c in todo if c.operation == "unrecord_shipped")
            records = dict(tx.recorded_shipped(unrecording)) if unrecording else {}
            batch = _Batch(tx, now, actor, stored, windows, returns, restocking,
                           records, unrecording)
            for index, call in live:
                # Asked at its turn: an earlier call of the batch may have applied its ref.
                if _applied(stored, call):
                    results[index] = _replayed(tx, call, stored)
                    continue
                results[index] = self._DECIDERS[call.operation](self, batch, call)
        return results

    def _restock_in(self, batch: _Batch, call: _Call) -> ReleaseResult | RefusedError:
        """A ``restock``: returned units of the order back in stock."""
        return self._returning_in(batch, call, EntryKind.RESTOCK, RestockExceedsShipment,
                                  "restocked")

    def _unship_in(self, batch: _Batch, call: _Call) -> ReleaseResult | RefusedError:
        """An ``unship``: units a lockless shipment of the order booked that never left,
        back on hand."""
        return self._returning_in(batch, call, EntryKind.UNSHIP_UNLOCKED,
                                  UnshipExceedsShipment, "unshipped")

    @staticmethod
    def _returning_in(
        batch: _Batch, call: _Call, kind: EntryKind, refusal: type[_BeyondShipment],
        outcome: LedgerOutcome,
    ) -> ReleaseResult | RefusedError:
        """Units of the order's shipments back on hand, one ``kind`` entry per SKU: at
        most what the order shipped and did not get back, else ``refusal`` for the
        first SKU beyond it and nothing of the call is written."""
        wanted = call.wanted or {}
        refused = _beyond_shipments(batch, call, refusal)
        if refused is not None:
            return refused
        for sku, qty in sorted(wanted.items()):
            batch.append(LedgerEntry(
                _ref_id(call.ref or "", sku), kind, sku, qty, batch.now, batch.actor,
                call.reason, order_id=call.order_id, ref=call.ref,
            ))
        return ReleaseResult(outcome, "", call.order_id, dict(wanted))

    def _tripped(self, batch: _Batch, sku: str, decided: datetime) -> bool:
        """Whether ``release_limit`` releases of ``sku`` were decided within
        ``release_window`` before ``decided``: the batch's count when it is a bound
        below the limit or exact (counted for this very window), else counted again from
        the store for this window (the batch's own releases included), which stays the
        bound for the releases after it. A runaway batch of one SKU, all decided at one
        instant, is counted once, not once per release."""
        since = decided - self._release_window
        window = batch.windows[sku]
        if since < window.since or (since > window.since
                                    and window.count >= self._release_limit):
            window.since = since
            window.count = batch.tx.release_count(sku, since, self._release_limit)
        return window.count >= self._release_limit

    def _release_in(self, batch: _Batch, call: _Call) -> ReleaseResult:
        """A ``release``, judged and dated when it was decided (``call.at``)."""
        tx, actor = batch.tx, batch.actor
        now = call.decided(batch.now)
        lock_id, lock_key, token_order, ref = call.lock_id, call.lock_key, call.order_id, call.ref
        moved: dict[str, int] = {}
        parked: list[ParkedRelease] = []
        current = {line.sku: line for line in tx.lock_lines(lock_key)}
        wanted = call.wanted
        targets = wanted if wanted is not None else {
            s: line.remaining + _still_wanted(line) for s, line in current.items()
        }
        for sku in sorted(targets):
            # The order lets go first of units it still wanted whose lock had expired (not
            # held: no stock moves), so that a late confirm does not lock them again and
            # the units still locked stay with what the order keeps.
            let_go = min(targets[sku], _still_wanted(current[sku]))
            if let_go:
                batch.append(LedgerEntry(
                    _new_id() if ref is None else _let_go_ref_id(ref, sku),
                    EntryKind.RELEASE_EXPIRED, sku, let_go, now, actor,
                    f"{call.reason}: {let_go} whose lock had expired",
                    order_id=token_order, lock_key=lock_key,
                ))
            qty = min(targets[sku] - let_go, current[sku].remaining)
            if qty <= 0:
                continue
            entry = LedgerEntry(
                _new_id() if ref is None else _ref_id(ref, sku), EntryKind.RELEASE, sku,
                qty, now, actor, call.reason, order_id=token_order, lock_key=lock_key,
            )
            if self._tripped(batch, sku, now):
                entry = LedgerEntry(
                    entry.entry_id, EntryKind.PARK, sku, qty, now, actor,
                    f"release breaker: more than {self._release_limit} releases of {sku}"
                    f" within {self._release_window}; {call.reason}",
                    order_id=token_order, lock_key=lock_key,
                )
                parked.append(ParkedRelease(entry.entry_id, sku, qty, token_order, lock_id, now))
            else:
                moved[sku] = qty
                batch.windows[sku].count += 1
            batch.append(entry)
        outcome: LedgerOutcome
        if parked:
            outcome = "parked"
        elif moved:
            outcome = "released"
        else:  # no stock moved: say why, from the lines as they were before the call
            outcome = _nothing_moved([current[sku] for sku in targets], commit=False)
        return ReleaseResult(outcome, lock_id, token_order, moved, tuple(parked))

    def _commit_in(self, batch: _Batch, call: _Call) -> ReleaseResult:
        """A ``commit`` of a lock, a ``ship`` without one, or a ``record_shipped`` (with
        the order's lock or without), which first receives the units it ships."""
        tx, now, actor = batch.tx, batch.now, batch.actor
        lock_id, token_order, ref = call.lock_id, call.order_id, call.ref
        lock_key = call.lock_key or None  # a call of the order's units names no lock
        reason = call.reason
        moved: dict[str, int] = {}
        unlocked: dict[str, int] = {}
        oversold: dict[str, int] = {}
        current = {line.sku: line for line in tx.lock_lines(lock_key)} if lock_key else {}
        targets = call.wanted if call.wanted is not None else {
            sku: _unshipped(line) for sku, line in current.items()
        }
        counted = call.operation == "record_shipped"
        for sku in sorted(targets):
            qty = targets[sku]
            if qty <= 0:
                continue
            before = tx.balance(sku).available
            line = current.get(sku)
            held = 0 if line is None else min(qty, line.remaining)
            if counted and call.keep is not None and line is not None:
                # The lock goes on holding the order's units still to ship.
                held = min(qty, max(0, line.remaining - call.keep.get(sku, 0)))
            if counted:  # into the opening stock first: on_hand ends where it was
                batch.append(LedgerEntry(
                    _counted_ref_id(ref or "", sku), EntryKind.RECEIVE, sku, qty, now, actor,
                    f"{reason}: order {token_order}", order_id=token_order, ref=ref,
                ))
            if held:
                batch.append(LedgerEntry(
                    _new_id() if ref is None else _ref_id(ref, sku), EntryKind.COMMIT,
                    sku, held, now, actor, reason, order_id=token_order, lock_key=lock_key,
                ))
            if qty > held:
                batch.append(LedgerEntry(
                    _new_id() if ref is None else _unlocked_ref_id(ref, sku),
                    EntryKind.SHIP_UNLOCKED, sku, qty - held, now, actor,
                    f"{reason}: {qty - held} no longer locked" if line else reason,
                    order_id=token_order, lock_key=lock_key if line else None,
                ))
                unlocked[sku] = qty - held
            moved[sku] = qty
            below = max(0, -tx.balance(sku).available) - max(0, -before)
            if below > 0:
                oversold[sku] = below
                batch.append(LedgerEntry(
                    _new_id() if ref is None else _oversell_ref_id(ref, sku),
                    EntryKind.OVERSELL, sku, below, now, actor,
                    f"{reason}: available went {below} below zero",
                    order_id=token_order, lock_key=lock_key if line else None,
                ))
        if not moved:  # nothing changed in the loop, so ``current`` is the stored state
            outcome = _nothing_moved([current[sku] for sku in targets], commit=True)
            return ReleaseResult(outcome, lock_id, token_order)
        return ReleaseResult(
            "recorded" if counted else "committed", lock_id, token_order, moved,
            unlocked=unlocked, oversold=oversold,
        )

    def _confirm_in(self, batch: _Batch, call: _Call) -> ReleaseResult:
        """A payment's ``confirm``, judged at the payment's instant (``call.at``): units
        that expired only after it are locked again while they are still available."""
        tx, now, actor = batch.tx, batch.now, batch.actor
        lock_id, lock_key, token_order, ref = call.lock_id, call.lock_key, call.order_id, call.ref
        paid_at = now if call.at is None else call.at
        confirmed: dict[str, int] = {}
        lapsed: dict[str, int] = {}
        held = False
        current = tuple(tx.lock_lines(lock_key))
        for line in current:
            back = 0
            wanted = _still_wanted(line)
            if wanted and paid_at < line.expires_at:
                # Paid while the lock held: hold again what nobody took meanwhile, of the
                # units the order still wants.
                back = min(wanted, max(0, tx.balance(line.sku).available))
                if back:
                    batch.append(LedgerEntry(
                        _new_id() if ref is None else _ref_id(ref, line.sku),
                        EntryKind.RELOCK, line.sku, back, now, actor,
                        f"confirm: paid at {paid_at.isoformat()}, before the lock expired"
                        f" at {line.expires_at.isoformat()}; locked again, now never",
                        order_id=token_order, lock_key=lock_key, expires_at=NEVER,
                    ))
                    confirmed[line.sku] = back
            if wanted > back:
                lapsed[line.sku] = wanted - back
                batch.append(LedgerEntry(
                    _new_id() if ref is None else _lapsed_ref_id(ref, line.sku),
                    EntryKind.LAPSE, line.sku, lapsed[line.sku], now, actor,
                    f"confirm: paid at {paid_at.isoformat()}; {lapsed[line.sku]} whose lock"
                    " had expired not held for the order",
                    order_id=token_order, lock_key=lock_key,
                ))
            if back or line.remaining <= 0:
                continue
            if line.expires_at >= NEVER:
                held = True
                continue
            batch.append(LedgerEntry(
                _new_id() if ref is None else _ref_id(ref, line.sku),
                EntryKind.CONFIRM, line.sku, line.remaining, now, actor,
                f"confirm: expired at {line.expires_at.isoformat()}, now never",
                order_id=token_order, lock_key=lock_key, expires_at=NEVER,
            ))
            confirmed[line.sku] = line.remaining
        outcome: LedgerOutcome
        if lapsed:
            outcome = "lapsed"
        elif confirmed:
            outcome = "confirmed"
        elif held:
            outcome = "already_confirmed"
        else:
            outcome = _nothing_moved(current, commit=True)
        return ReleaseResult(outcome, lock_id, token_order, confirmed, lapsed=lapsed)

    def _uncommit_in(self, batch: _Batch, call: _Call) -> ReleaseResult | RefusedError:
        """An ``uncommit``: the reverse of the commit that shipped units that never left
        (see :meth:`_take_back`); at most what the order shipped and did not get back."""
        lines = {line.sku: line for line in batch.tx.lock_lines(call.lock_key)}
        wanted = call.wanted or {}
        refused = _beyond_shipments(batch, call, UnshipExceedsShipment)
        if refused is not None:
            return refused
        unlocked: dict[str, int] = {}
        for sku, qty in sorted(wanted.items()):
            back = self._take_back(batch, call, sku, qty, lines.get(sku))
            if back:
                unlocked[sku] = back
        return ReleaseResult(
            "uncommitted", call.lock_id, call.order_id, dict(wanted), unlocked=unlocked
        )

    def _unrecord_in(self, batch: _Batch, call: _Call) -> ReleaseResult | RefusedError:
        """An ``unrecord_shipped``: the reverse of the ``record_shipped`` that booked
        units as gone before the stock count that never left. The shipment is taken
        back as an ``uncommit`` takes it back (:meth:`_take_back`: what the order's lock,
        if named, committed is locked again), then the opening receipt of the units
        (``UNRECORD_SHIPPED``), so ``on_hand`` ends where it was; units locked again that
        another order holds meanwhile take ``available`` below zero, reported as
        ``oversold`` (and kept as an ``OVERSELL`` record). At most what the order
        recorded and what it shipped and did not get back, else a refusal for the first
        SKU beyond it and nothing of the call is written."""
        lines = (
            {line.sku: line for line in batch.tx.lock_lines(call.lock_key)}
            if call.lock_key else {}
        )
        wanted = call.wanted or {}
        for sku, qty in sorted(wanted.items()):
            recorded = batch.records.get((call.order_id, sku), 0)
            if qty > recorded:
                return UnrecordExceedsRecord(call.order_id, sku, qty, recorded)
        refused = _beyond_shipments(batch, call, UnshipExceedsShipment)
        if refused is not None:
            return refused
        ref = call.ref or ""
        unlocked: dict[str, int] = {}
        oversold: dict[str, int] = {}
        for sku, qty in sorted(wanted.items()):
            before = batch.tx.balance(sku).available
            back = self._take_back(batch, call, sku, qty, lines.get(sku))
            if back:
                unlocked[sku] = back
            batch.append(LedgerEntry(
                _counted_ref_id(ref, sku), EntryKind.UNRECORD_SHIPPED, sku, qty, batch.now,
                batch.actor, f"{call.reason}: order {call.order_id}",
                order_id=call.order_id, ref=call.ref,
            ))
            below = max(0, -batch.tx.balance(sku).available) - max(0, -before)
            if below > 0:
                oversold[sku] = below
                batch.append(LedgerEntry(
                    _oversell_ref_id(ref, sku), EntryKind.OVERSELL, sku, below, batch.now,
                    batch.actor, f"{call.reason}: available went {below} below zero",
                    order_id=call.order_id, lock_key=call.lock_key or None,
                ))
        return ReleaseResult("unrecorded", call.lock_id, call.order_id, dict(wanted),
                             unlocked=unlocked, oversold=oversold)

    @staticmethod
    def _take_back(
        batch: _Batch, call: _Call, sku: str, qty: int, line: LockLine | None
    ) -> int:
        """Book ``qty`` units of ``sku`` the order's shipments took out as never gone,
        each off the count it was shipped in: what ``line`` (the call's lock line of
        ``sku``, if any) committed is locked again on it (``UNCOMMIT``); then what it
        counts as shipped unlocked comes back on hand off that count (``UNSHIP_UNLOCKED``
        naming the lock); the rest, shipped by the order without the lock, comes back on
        hand (``UNSHIP_UNLOCKED`` naming no lock). Returns the units not locked again."""
        ref, now, actor = call.ref, batch.now, batch.actor
        relocked = 0 if line is None else min(qty, line.committed)
        on_line = 0 if line is None else min(qty - relocked, line.shipped_unlocked)
        lockless = qty - relocked - on_line
        if relocked:
            batch.append(LedgerEntry(
                _new_id() if ref is None else _ref_id(ref, sku), EntryKind.UNCOMMIT, sku,
                relocked, now, actor, call.reason,
                order_id=call.order_id, lock_key=call.lock_key,
            ))
        if on_line:
            batch.append(LedgerEntry(
                _new_id() if ref is None else _unlocked_ref_id(ref, sku),
                EntryKind.UNSHIP_UNLOCKED, sku, on_line, now, actor,
                f"{call.reason}: {on_line} shipped no longer locked",
                order_id=call.order_id, lock_key=call.lock_key, ref=ref,
            ))
        if lockless:
            batch.append(LedgerEntry(
                _new_id() if ref is None else _lockless_ref_id(ref, sku),
                EntryKind.UNSHIP_UNLOCKED, sku, lockless, now, actor,
                f"{call.reason}: {lockless} not shipped by the lock",
                order_id=call.order_id, ref=ref,
            ))
        return on_line + lockless

    #: How each operation of a checked call is decided inside the batch's transaction.
    _DECIDERS: Final = {
        "restock": _restock_in,
        "release": _release_in,
        "commit": _commit_in,
        "uncommit": _uncommit_in,
        "unship": _unship_in,
        "ship": _commit_in,
        "record_shipped": _commit_in,
        "unrecord_shipped": _unrecord_in,
        "confirm": _confirm_in,
    }

    # --- the release breaker ---------------------------------------------------------------

    def approve_release(self, entry_id: str, *, actor: str) -> ReleaseResult:
        """Apply a release the breaker parked (``ReleaseSuspended.entry_id``).

        Releases the parked units still locked (a parked line that was committed or
        expired meanwhile moves nothing and reports so). Approving twice changes nothing
        the second time: it reports ``"already_released"`` after an approval that
        released units, and the first answer again (``"already_committed"``,
        ``"expired"``) after one that found them gone.
        """
        _text("entry_id", entry_id)
        _text("actor", actor)
        park = self._store.entry(entry_id)
        if park is None or park.kind is not EntryKind.PARK or park.lock_key is None:
            raise ValidationError("entry_id", entry_id, "no parked release has this id")
        lock_key = park.lock_key
        order_id = park.order_id or ""
        lock_id = self._tokens.issue(lock_key, order_id)
        now = self._now()
        with self._store.transaction((park.sku,)) as tx:
            approval = tx.approval_of(entry_id)
            if approval is not None and approval.qty:
                return ReleaseResult("already_released", lock_id, order_id)
            if approval is not None:
                # The first approval found the units gone and moved nothing; they stay
                # gone (a line with nothing remaining never changes), so say it again.
                line = next(ln for ln in tx.lock_lines(lock_key) if ln.sku == park.sku)
                return ReleaseResult(_nothing_moved([line], commit=False), lock_id, order_id)
            self._expire_lines(tx, (park.sku,), now, actor, only=(lock_key,))
            line = next(ln for ln in tx.lock_lines(lock_key) if ln.sku == park.sku)
            qty = min(park.qty, line.remaining)
            tx.append(
                LedgerEntry(
                    _new_id(), EntryKind.APPROVE, park.sku, qty, now, actor,
                    f"approved parked release {entry_id}",
                    order_id=order_id, lock_key=lock_key, ref=entry_id,
                )
            )
        if qty:
            return ReleaseResult("released", lock_id, order_id, {park.sku: qty})
        return ReleaseResult(_nothing_moved([line], commit=False), lock_id, order_id)

    def pending_review(self) -> tuple[ParkedRelease, ...]:
        """Releases the breaker parked that nobody approved yet, oldest first."""
        return tuple(
            ParkedRelease(
                entry.entry_id, entry.sku, entry.qty, entry.order_id or "",
                self._tokens.issue(entry.lock_key or "", entry.order_id or ""), entry.at,
            )
            for entry in self._store.pending_parks()
        )

    # --- expiry ------------------------------------------------------------------------------

    def _expire_lines(
        self,
        tx: InventoryTransaction,
        skus: Iterable[str],
        now: datetime,
        actor: str,
        *,
        only: Collection[str] = (),
    ) -> int:
        """Expire the due lines of ``skus`` (lazy expiry on every write touching them)."""
        count = 0
        for sku in sorted(skus):
            for line in tx.due_lines(sku, now):
                if count >= self._expiry_batch and line.lock_key not in only:
                    continue
                tx.append(
                    LedgerEntry(
                        _new_id(), EntryKind.EXPIRE, sku, line.remaining, now, actor,
                        f"lock expired at {line.expires_at.isoformat()}",
                        order_id=line.order_id, lock_key=line.lock_key,
                    )
                )
                count += 1
        return count

    def expire_due(self, now: datetime | None = None, *, limit: int | None = None) -> int:
        """Return the stock of up to ``limit`` expired lock lines; returns how many.

        Hosts call this from a periodic job; reads and writes of a SKU also expire its
        due lines lazily, so a missed run never keeps stock locked from a buyer. ``now``
        (the ledger's clock by default) is aware and in the supported range, and is
        used only up to the store's clock plus ``skew_tolerance``.
        """
        at = self._now(now)
        batch = self._expiry_batch if limit is None else limit
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValidationError("limit", limit, "expected a positive integer or None")
        check.quantity("limit", batch)
        due = self._store.due_lines(at, batch)
        if not due:
            return 0
        skus = {line.sku for line in due}
        wanted = {(line.lock_key, line.sku) for line in due}
        count = 0
        with self._store.transaction(skus) as tx:
            for sku in sorted(skus):
                for line in tx.due_lines(sku, at):
                    if (line.lock_key, sku) in wanted:
                        tx.append(
                            LedgerEntry(
                                _new_id(), EntryKind.EXPIRE, sku, line.remaining, at,
                                "system", f"lock expired at {line.expires_at.isoformat()}",
                                order_id=line.order_id, lock_key=line.lock_key,
                            )
                        )
                        count += 1
        return count

    # --- reads -------------------------------------------------------------------------------

    def stock(self, sku: str) -> StockLevel:
        """``on_hand``, ``locked`` and ``available`` of ``sku``, after lazy expiry."""
        _text("sku", sku)
        now = self._now()
        with self._store.transaction((sku,)) as tx:
            self._expire_lines(tx, (sku,), now, "system")
            balance = tx.balance(sku)
        return StockLevel(sku, balance.on_hand, balance.locked, balance.available)

    def occupancy(self, order_id: str) -> tuple[LineOccupancy, ...]:
        """Each line still locked for ``order_id``: what the order page shows the buyer."""
        _text("order_id", order_id)
        now = self._now()
        return tuple(
            LineOccupancy(
                line.sku, line.remaining, line.locked_at, line.expires_at,
                self._tokens.issue(line.lock_key, order_id),
            )
            for line in live_lines(self._store, order_id, now)
        )

    def available(self) -> dict[str, int]:
        """Units that may still be locked, per SKU (see
        :func:`~orderkit.inventory.views.available_units`): a wave plan's ``stock``."""
        return available_units(self._store)

    def held(self, order_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """Per order id, the units its live locks hold now, by SKU: a wave plan's
        ``held``, so an order whose lock lapsed waits for stock instead of being
        trusted to hold its units."""
        if isinstance(order_ids, str):
            raise ValidationError("order_ids", order_ids, "expected a collection of order ids")
        ids = list(order_ids)
        for index, order_id in enumerate(ids):
            _text(f"order_ids[{index}]", order_id)
        return held_units(self._store, ids, self._now())

    def entries(self) -> tuple[LedgerEntry, ...]:
        """The whole ledger, in order (for audits and exports)."""
        return tuple(self._store.entries())

    def verify(self, shipped: Mapping[str, Mapping[str, int]] | None = None) -> VerifyReport:
        """Recompute every balance and lock line from the entries and report any drift,
        every oversold SKU, and (given ``shipped``: order id -> SKU -> units the orders
        say shipped) every order whose shipments the ledger books differently."""
        return verify_store(self._store, shipped=shipped)
