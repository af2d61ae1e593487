"""``verify()``: recompute every counter from the ledger and report any drift.

The counters a store caches beside the ledger are what every lock decision reads; if a
half-applied write or a hand edit ever made them disagree with the entries, stock would
be oversold or stranded silently. This replays every entry and compares. It also reports
what the counters may legitimately show but nobody may ignore: a SKU whose ``available``
is below zero (oversold by a shipment of units that were no longer locked), every release
the breaker parked that nobody approved yet (units a cancel let go of, still locked), and,
when the caller says what each order shipped, every order whose shipments the ledger
books differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from orderkit.inventory.entries import (
    LINE_MOVES,
    Balance,
    EntryKind,
    count_record,
    count_return,
)
from orderkit.inventory.ports import InventoryStore
from orderkit.model.errors import ValidationError

__all__ = ["Drift", "Oversell", "ParkedUnits", "ShipmentMismatch", "VerifyReport", "verify_store"]

_LINE_COUNTERS = ("qty", "released", "committed", "expired", "shipped_unlocked")


@attrs.frozen
class Drift:
    """One disagreement: ``subject`` (a SKU or ``lock_key/sku``) and its ``field``."""

    subject: str
    field: str
    stored: int
    from_ledger: int


@attrs.frozen
class Oversell:
    """A SKU whose ``available`` is below zero: ``units`` promised to orders are gone.

    ``on_hand`` below zero as well means more units shipped than were ever booked in.
    """

    sku: str
    units: int
    on_hand: int
    locked: int


@attrs.frozen
class ParkedUnits:
    """A release the breaker parked and nobody approved yet: ``units`` of ``sku`` that
    ``order_id`` let go of (a cancel) stay locked until a person approves the release
    (``InventoryLedger.approve_release(entry_id, actor=...)``). ``at``: when the release
    was decided."""

    entry_id: str
    order_id: str
    sku: str
    units: int
    at: datetime


@attrs.frozen
class ShipmentMismatch:
    """An order whose shipped units (as the caller says) differ from the ledger's.

    ``committed`` counts the order's ``COMMIT`` and ``SHIP_UNLOCKED`` entries of ``sku``.
    """

    order_id: str
    sku: str
    shipped: int
    committed: int


@attrs.frozen
class VerifyReport:
    """The result of :func:`verify_store`; ``ok`` is true when nothing needs a person.

    ``drifts`` are cached counters that disagree with the ledger; ``problems`` are broken
    rules, as text (including one line per :class:`ShipmentMismatch`); ``oversold``
    lists every SKU below zero available; ``parked`` every release the breaker parked
    that nobody approved yet, oldest first; ``mismatches`` the orders whose shipments
    disagree with the ledger (only when :func:`verify_store` was given ``shipped``).
    """

    skus: int
    lock_lines: int
    entries: int
    drifts: tuple[Drift, ...] = ()
    problems: tuple[str, ...] = ()
    oversold: tuple[Oversell, ...] = ()
    mismatches: tuple[ShipmentMismatch, ...] = ()
    parked: tuple[ParkedUnits, ...] = ()

    @property
    def ok(self) -> bool:
        """True when counters match the ledger, every rule holds, nothing is oversold
        and no parked release waits for a person."""
        return not self.drifts and not self.problems and not self.oversold and (
            not self.mismatches and not self.parked
        )


def _shipped_units(shipped: object) -> dict[str, dict[str, int]]:
    """Check ``{order_id: {sku: units}}`` and copy it; :class:`ValidationError` if not."""
    if not isinstance(shipped, Mapping):
        raise ValidationError("shipped", shipped, "expected a mapping of order id to lines")
    checked: dict[str, dict[str, int]] = {}
    for order_id, lines in shipped.items():
        if not isinstance(order_id, str) or not order_id.strip():
            raise ValidationError("shipped", order_id, "expected an order id (a non-empty string)")
        if not isinstance(lines, Mapping):
            raise ValidationError(
                f"shipped[{order_id!r}]", lines, "expected a mapping of SKU to units"
            )
        units: dict[str, int] = {}
        for sku, qty in lines.items():
            if not isinstance(sku, str) or not sku.strip():
                raise ValidationError(f"shipped[{order_id!r}]", sku, "expected a SKU")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
                raise ValidationError(
                    f"shipped[{order_id!r}][{sku!r}]", qty, "expected an integer >= 0"
                )
            units[sku] = qty
        checked[order_id] = units
    return checked


def verify_store(
    store: InventoryStore, *, shipped: Mapping[str, Mapping[str, int]] | None = None
) -> VerifyReport:
    """Replay ``store``'s entries and compare with its cached counters and lock lines.

    Every order's restocks of a SKU are checked against what the ledger shipped for it
    (a ledger written before restocks were bounded may hold more: a return of units
    that left before the ledger knew of them, which ``record_shipped`` books), and the
    units its ``unrecord_shipped`` calls took back against what its ``record_shipped``
    calls recorded.

    ``shipped`` (order id -> SKU -> units the orders say shipped) adds a check per order:
    the units the ledger shipped for it (``COMMIT`` + ``SHIP_UNLOCKED``) equal those.
    Orders not named in ``shipped`` are not checked.
    """
    wanted = None if shipped is None else _shipped_units(shipped)
    totals: dict[str, list[int]] = {}
    lines: dict[tuple[str, str], dict[str, int]] = {}
    expiries: dict[tuple[str, str], datetime] = {}
    approved: set[str] = set()
    parks: list[ParkedUnits] = []
    problems: list[str] = []
    #: (order id, SKU) -> [units shipped, units restocked]: a restock never exceeds it.
    returns: dict[tuple[str, str], list[int]] = {}
    #: (order id, SKU) -> units recorded as shipped before the count: never below zero.
    records: dict[tuple[str, str], int] = {}
    count = 0
    for entry in store.entries():
        count += 1
        total = totals.setdefault(entry.sku, [0, 0])
        total[0] += entry.on_hand_delta
        total[1] += entry.locked_delta
        count_return(returns, entry)
        count_record(records, entry)
        if entry.kind is EntryKind.APPROVE:
            if entry.ref in approved:
                problems.append(f"parked release {entry.ref} approved twice")
            approved.add(entry.ref or "")
        if entry.kind is EntryKind.PARK:
            parks.append(
                ParkedUnits(entry.entry_id, entry.order_id or "", entry.sku, entry.qty, entry.at)
            )
        if entry.lock_key is None or entry.kind is EntryKind.PARK:
            continue
        key = (entry.lock_key, entry.sku)
        if entry.kind is EntryKind.LOCK:
            if key in lines:
                problems.append(f"lock line {entry.lock_key}/{entry.sku} locked twice")
            lines[key] = dict.fromkeys(_LINE_COUNTERS, 0)
            lines[key]["qty"] = entry.qty
            if entry.expires_at is not None:
                expiries[key] = entry.expires_at
            continue
        move = LINE_MOVES.get(entry.kind)
        if entry.kind in (EntryKind.CONFIRM, EntryKind.RELOCK):
            if entry.expires_at is not None:
                expiries[key] = entry.expires_at
        elif move is None:
            continue
        line = lines.get(key)
        if line is None:
            problems.append(f"{entry.kind.value} {entry.entry_id} on unknown lock line")
            continue
        if move is not None:
            field, sign = move
            line[field] += sign * entry.qty
        if entry.kind in (EntryKind.RELOCK, EntryKind.RELEASE_EXPIRED):
            line["expired"] -= entry.qty

    drifts: list[Drift] = []
    oversold: list[Oversell] = []
    stored = dict(store.balances())
    for sku in sorted(set(stored) | set(totals)):
        balance = stored.get(sku, Balance())
        on_hand, locked = totals.get(sku, [0, 0])
        if balance.on_hand != on_hand:
            drifts.append(Drift(sku, "on_hand", balance.on_hand, on_hand))
        if balance.locked != locked:
            drifts.append(Drift(sku, "locked", balance.locked, locked))
        if locked < 0:
            problems.append(f"{sku}: ledger gives on_hand {on_hand}, locked {locked}")
        elif on_hand - locked < 0:
            oversold.append(Oversell(sku, locked - on_hand, on_hand, locked))

    seen: set[tuple[str, str]] = set()
    for stored_line in store.all_lock_lines():
        key = (stored_line.lock_key, stored_line.sku)
        seen.add(key)
        subject = f"{stored_line.lock_key}/{stored_line.sku}"
        expected = lines.get(key)
        if expected is None:
            problems.append(f"lock line {subject} has no lock entry")
            continue
        for field in _LINE_COUNTERS:
            value = int(getattr(stored_line, field))
            if value != expected[field]:
                drifts.append(Drift(subject, field, value, expected[field]))
        expires_at = expiries.get(key)
        if expires_at is not None and stored_line.expires_at != expires_at:
            problems.append(
                f"lock line {subject} expires at {stored_line.expires_at.isoformat()},"
                f" the ledger says {expires_at.isoformat()}"
            )
        if stored_line.remaining < 0:
            problems.append(f"lock line {subject} resolved more units than it locked")
    for key in sorted(set(lines) - seen):
        problems.append(f"lock line {key[0]}/{key[1]} is in the ledger but not stored")
    for (order_id, sku), (out, back) in sorted(returns.items()):
        if back > out:
            problems.append(
                f"order {order_id}: {sku} restocked {back}, more than the {out} it shipped"
            )

    for (order_id, sku), recorded in sorted(records.items()):
        if recorded < 0:
            problems.append(
                f"order {order_id}: {sku} taken back from its records {-recorded} more"
                " than they recorded as shipped before the stock count"
            )

    booked: dict[str, dict[str, int]] = {}  # what the ledger shipped, per order named
    for (order_id, sku), (out, _back) in returns.items():
        if wanted is not None and order_id in wanted and out:
            booked.setdefault(order_id, {})[sku] = out
    mismatches: list[ShipmentMismatch] = []
    for order_id, units in sorted((wanted or {}).items()):
        found = booked.get(order_id, {})
        for sku in sorted(set(units) | set(found)):
            said, ledger = units.get(sku, 0), found.get(sku, 0)
            if said != ledger:
                mismatches.append(ShipmentMismatch(order_id, sku, said, ledger))
                problems.append(
                    f"order {order_id}: {sku} shipped {said} by the order,"
                    f" {ledger} in the ledger"
                )
    return VerifyReport(
        skus=len(set(stored) | set(totals)),
        lock_lines=len(lines),
        entries=count,
        drifts=tuple(drifts),
        problems=tuple(problems),
        oversold=tuple(oversold),
        mismatches=tuple(mismatches),
        parked=tuple(park for park in parks if park.entry_id not in approved),
    )
