"""The balance rules every store applies to every entry, under its write lock.

One function, shared by all adapters (and by hosts writing their own), so that "never
oversell" does not depend on each store re-implementing the arithmetic. The ledger
already decides only valid entries; these checks are the store's last line of defence
when two writers raced or a caller appended by hand.
"""

from __future__ import annotations

import attrs

from orderkit.inventory.entries import RESOLVING, Balance, EntryKind, LedgerEntry, LockLine
from orderkit.model.errors import InsufficientStock, InvalidLock, ValidationError

__all__ = ["apply_entry"]


def apply_entry(
    entry: LedgerEntry, balance: Balance, line: LockLine | None
) -> tuple[Balance, LockLine | None]:
    """Return the SKU balance and lock line after ``entry``, or refuse it.

    ``line`` is the entry's lock line (``lock_key``, ``sku``) as stored, or ``None``.
    Refusals: :class:`InsufficientStock` when ``available`` would go below zero,
    :class:`InvalidLock` when a lock line would resolve more units than it holds (or
    does not exist), :class:`ValidationError` for a malformed entry.
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

    after_line = _line_after(entry, line)
    on_hand = balance.on_hand + entry.on_hand_delta
    locked = balance.locked + entry.locked_delta
    if on_hand - locked < 0 or locked < 0:
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
