"""The balance rules every store applies to every entry, under its write lock.

One function, shared by all adapters (and by hosts writing their own), so that "never
oversell" does not depend on each store re-implementing the arithmetic. The ledger
already decides only valid entries; these checks are the store's last line of defence
when two writers raced or a caller appended by hand.

Two kinds may take ``available`` below zero. ``SHIP_UNLOCKED``, a shipment of units
that were no longer locked: shipping is a physical fact, so it is booked, and the
shortfall is reported as an oversell rather than hidden. And ``UNRECORD_SHIPPED``, which
takes back the opening receipt of units a ``record_shipped`` booked as gone before the
stock count that never left: the ledger writes it after the entries that put those units
back on hand (and back in their order's lock), so it ends the call where ``on_hand``
was, and ``available`` lower by the units locked again, which another order may have
locked meanwhile (reported as an oversell too). ``on_hand`` may go below zero only
through shipments (``SHIP_UNLOCKED``, and ``COMMIT`` of a locked unit of a SKU already
oversold by one; and ``UNRECORD_SHIPPED``, which the ledger writes only after entries
of its call that raised ``on_hand`` by as much): more units left the building than were
ever booked in. Every other entry that lowers ``available`` is refused when ``available`` would end
below zero; entries that raise it (a receipt, a release) are accepted even while the
SKU is still oversold.
"""

from __future__ import annotations

from typing import Final

import attrs

from orderkit.inventory.entries import (
    RESOLVING,
    SHIPPING,
    Balance,
    EntryKind,
    LedgerEntry,
    LockLine,
)
from orderkit.model.errors import InsufficientStock, InvalidLock, ValidationError
from orderkit.model.limits import MAX_QUANTITY

__all__ = ["apply_entry"]

#: The kinds that may take ``available`` (and ``on_hand``) below zero (see above).
_MAY_OVERSELL: Final = frozenset({EntryKind.SHIP_UNLOCKED, EntryKind.UNRECORD_SHIPPED})


def apply_entry(
    entry: LedgerEntry, balance: Balance, line: LockLine | None
) -> tuple[Balance, LockLine | None]:
    """Return the SKU balance and lock line after ``entry``, or refuse it.

    ``line`` is the entry's lock line (``lock_key``, ``sku``) as stored, or ``None``.
    Refusals: :class:`InsufficientStock` when an entry other than ``SHIP_UNLOCKED`` or
    ``UNRECORD_SHIPPED`` would lower ``available`` below zero (or ``on_hand`` below
    zero, other than by a shipment or ``UNRECORD_SHIPPED``), :class:`InvalidLock` when a
    lock line would resolve more units than it holds (or does not exist, or a confirm
    finds it due, or a relock takes back, or a ``RELEASE_EXPIRED`` lets go of, more
    units than expired on it, or an ``UNCOMMIT`` takes back more units than it
    committed, or an ``UNSHIP_UNLOCKED`` naming it more than it shipped unlocked),
    :class:`ValidationError` for a malformed entry or one that would take a counter
    beyond ``MAX_QUANTITY`` either way (the range every store holds).
    """
    kind = entry.kind
    qty = entry.qty
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise ValidationError("entry.qty", qty, "expected an integer")
    if kind is EntryKind.ADJUST:
        if qty == 0:
            raise ValidationError("entry.qty", qty, "an adjustment must not be zero")
    elif kind is EntryKind.APPROVE:
        if qty < 0:
            raise ValidationError("entry.qty", qty, "expected an integer >= 0")
    elif qty <= 0:
        raise ValidationError("entry.qty", qty, "expected a positive integer")
    if abs(qty) > MAX_QUANTITY:
        raise ValidationError("entry.qty", qty, "beyond the range a store holds (2**63-1)")

    after_line = _line_after(entry, line)
    on_hand = balance.on_hand + entry.on_hand_delta
    locked = balance.locked + entry.locked_delta
    if abs(on_hand) > MAX_QUANTITY or abs(locked) > MAX_QUANTITY:
        raise ValidationError(
            "entry.qty", qty, f"would take the counters of {entry.sku} beyond 2**63-1"
        )
    available = on_hand - locked
    oversells = available < min(0, balance.available) and kind not in _MAY_OVERSELL
    overships = on_hand < min(0, balance.on_hand) and kind not in SHIPPING | _MAY_OVERSELL
    if locked < 0 or oversells or overships:
        wanted = qty if kind is EntryKind.LOCK else -qty
        raise InsufficientStock(
            {entry.sku: (wanted, balance.on_hand - balance.locked)},
            order_id=entry.order_id or "",
        )
    return Balance(on_hand, locked), after_line


def _line_after(entry: LedgerEntry, line: LockLine | None) -> LockLine | None:
    kind = entry.kind
    qty = entry.qty
    if kind is EntryKind.LOCK:
        if line is not None:
            raise InvalidLock(str(entry.lock_key), f"line {entry.sku} is already locked")
        if not entry.lock_key or not entry.order_id or entry.expires_at is None:
            raise ValidationError(
                "entry", entry, "a lock entry needs lock_key, order_id and expires_at"
            )
        return LockLine(
            entry.lock_key, entry.order_id, entry.sku, qty, entry.at, entry.expires_at
        )
    if kind is EntryKind.PARK:
        if line is None:
            raise InvalidLock(str(entry.lock_key), "unknown lock")
        return line
    if kind is EntryKind.CONFIRM:
        return _confirmed(entry, line)
    if kind is EntryKind.RELOCK:
        return _relocked(entry, line)
    if kind is EntryKind.RELEASE_EXPIRED:
        return _let_go(entry, line)
    if kind is EntryKind.UNCOMMIT:
        return _uncommitted(entry, line)
    if kind is EntryKind.UNRECORD_SHIPPED:
        if not entry.order_id or entry.lock_key is not None:
            raise ValidationError(
                "entry.order_id", entry.order_id,
                "units taken back from a record name the order, and no lock",
            )
        return line
    if kind is EntryKind.UNSHIP_UNLOCKED:
        if not entry.order_id:
            raise ValidationError(
                "entry.order_id", entry.order_id,
                "units taken back from a shipment name the order they shipped for",
            )
        return line if entry.lock_key is None else _shipped_back(entry, line)
    if kind is EntryKind.SHIP_UNLOCKED:
        if not entry.order_id:
            raise ValidationError(
                "entry.order_id", entry.order_id, "a shipment names the order it shipped"
            )
        if entry.lock_key is None:
            return line
        if line is None:
            raise InvalidLock(str(entry.lock_key), "unknown lock")
        return attrs.evolve(line, shipped_unlocked=line.shipped_unlocked + qty)
    field = RESOLVING.get(kind)
    if field is None:
        return line
    if line is None:
        raise InvalidLock(str(entry.lock_key), "unknown lock")
    if qty > line.remaining:
        raise InvalidLock(
            str(entry.lock_key),
            f"{kind.value} of {qty} {entry.sku} exceeds the {line.remaining} still locked",
        )
    if qty == 0:
        return line
    if field == "released":
        return attrs.evolve(line, released=line.released + qty)
    if field == "committed":
        return attrs.evolve(line, committed=line.committed + qty)
    return attrs.evolve(line, expired=line.expired + qty)


def _relocked(entry: LedgerEntry, line: LockLine | None) -> LockLine:
    """The line a ``RELOCK`` leaves: ``qty`` of its expired units locked again, and the
    line's units still locked expiring at the entry's ``expires_at``."""
    if line is None:
        raise InvalidLock(str(entry.lock_key), "unknown lock")
    expires_at = entry.expires_at
    if expires_at is None:
        raise ValidationError("entry.expires_at", None, "a relock entry carries the new expiry")
    if expires_at <= entry.at or expires_at < line.expires_at:
        raise ValidationError(
            "entry.expires_at", expires_at, "a relock holds the units beyond its own time"
        )
    if entry.qty > line.expired:
        raise InvalidLock(
            line.lock_key,
            f"relock of {entry.qty} {line.sku} but {line.expired} expired on the line",
        )
    return attrs.evolve(line, expired=line.expired - entry.qty, expires_at=expires_at)


def _let_go(entry: LedgerEntry, line: LockLine | None) -> LockLine:
    """The line a ``RELEASE_EXPIRED`` leaves: ``qty`` of its expired units released."""
    if line is None:
        raise InvalidLock(str(entry.lock_key), "unknown lock")
    if entry.qty > line.expired:
        raise InvalidLock(
            line.lock_key,
            f"release of {entry.qty} expired {line.sku} but {line.expired} expired on the line",
        )
    return attrs.evolve(line, expired=line.expired - entry.qty,
                        released=line.released + entry.qty)


def _uncommitted(entry: LedgerEntry, line: LockLine | None) -> LockLine:
    """The line an ``UNCOMMIT`` leaves: ``qty`` of its committed units locked again."""
    if line is None:
        raise InvalidLock(str(entry.lock_key), "unknown lock")
    if entry.qty > line.committed:
        raise InvalidLock(
            line.lock_key,
            f"uncommit of {entry.qty} {line.sku} but {line.committed} committed on the line",
        )
    return attrs.evolve(line, committed=line.committed - entry.qty)


def _shipped_back(entry: LedgerEntry, line: LockLine | None) -> LockLine:
    """The line an ``UNSHIP_UNLOCKED`` naming it leaves: ``qty`` of the units it counts
    as shipped unlocked never left."""
    if line is None:
        raise InvalidLock(str(entry.lock_key), "unknown lock")
    if entry.qty > line.shipped_unlocked:
        raise InvalidLock(
            line.lock_key,
            f"unship of {entry.qty} {line.sku} but {line.shipped_unlocked} shipped unlocked"
            " on the line",
        )
    return attrs.evolve(line, shipped_unlocked=line.shipped_unlocked - entry.qty)


def _confirmed(entry: LedgerEntry, line: LockLine | None) -> LockLine:
    """The line a ``CONFIRM`` leaves: every unit still locked now expires at the new time."""
    if line is None:
        raise InvalidLock(str(entry.lock_key), "unknown lock")
    expires_at = entry.expires_at
    if expires_at is None:
        raise ValidationError("entry.expires_at", None, "a confirm entry carries the new expiry")
    if line.expires_at <= entry.at:
        raise InvalidLock(
            line.lock_key,
            f"line {line.sku} fell due at {line.expires_at.isoformat()}; expire it first",
        )
    if expires_at < line.expires_at:
        raise ValidationError("entry.expires_at", expires_at, "a confirm never shortens a lock")
    if entry.qty != line.remaining:
        raise InvalidLock(
            line.lock_key,
            f"confirm of {entry.qty} {line.sku} but {line.remaining} still locked",
        )
    return attrs.evolve(line, expires_at=expires_at)
