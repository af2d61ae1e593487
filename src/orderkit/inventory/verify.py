"""``verify()``: recompute every counter from the ledger and report any drift.

The counters a store caches beside the ledger are what every lock decision reads; if a
half-applied write or a hand edit ever made them disagree with the entries, stock would
be oversold or stranded silently. This replays every entry and compares.
"""

from __future__ import annotations

import attrs

from orderkit.inventory.entries import RESOLVING, Balance, EntryKind
from orderkit.inventory.ports import InventoryStore

__all__ = ["Drift", "VerifyReport", "verify_store"]


@attrs.frozen
class Drift:
    """One disagreement: ``subject`` (a SKU or ``lock_key/sku``) and its ``field``."""

    subject: str
    field: str
    stored: int
    from_ledger: int


@attrs.frozen
class VerifyReport:
    """The result of :func:`verify_store`; ``ok`` is true when nothing drifted."""

    skus: int
    lock_lines: int
    entries: int
    drifts: tuple[Drift, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when counters match the ledger and every balance rule holds."""
        return not self.drifts and not self.problems


def verify_store(store: InventoryStore) -> VerifyReport:
    """Replay ``store``'s entries and compare with its cached counters and lock lines."""
    totals: dict[str, list[int]] = {}
    lines: dict[tuple[str, str], dict[str, int]] = {}
    approved: set[str] = set()
    problems: list[str] = []
    count = 0
    for entry in store.entries():
        count += 1
        total = totals.setdefault(entry.sku, [0, 0])
        total[0] += entry.on_hand_delta
        total[1] += entry.locked_delta
        if entry.kind is EntryKind.APPROVE:
            if entry.ref in approved:
                problems.append(f"parked release {entry.ref} approved twice")
            approved.add(entry.ref or "")
        if entry.lock_key is None or entry.kind in (EntryKind.PARK,):
            continue
        key = (entry.lock_key, entry.sku)
        if entry.kind is EntryKind.LOCK:
            if key in lines:
                problems.append(f"lock line {entry.lock_key}/{entry.sku} locked twice")
            lines[key] = {"qty": entry.qty, "released": 0, "committed": 0, "expired": 0}
            continue
        field = RESOLVING.get(entry.kind)
        if field is None:
            continue
        line = lines.get(key)
        if line is None:
            problems.append(f"{entry.kind.value} {entry.entry_id} on unknown lock line")
            continue
        line[field] += entry.qty

    drifts: list[Drift] = []
    stored = dict(store.balances())
    for sku in sorted(set(stored) | set(totals)):
        balance = stored.get(sku, Balance())
        on_hand, locked = totals.get(sku, [0, 0])
        if balance.on_hand != on_hand:
            drifts.append(Drift(sku, "on_hand", balance.on_hand, on_hand))
        if balance.locked != locked:
            drifts.append(Drift(sku, "locked", balance.locked, locked))
        if locked < 0 or on_hand - locked < 0:
            problems.append(f"{sku}: ledger gives on_hand {on_hand}, locked {locked}")

    seen: set[tuple[str, str]] = set()
    for stored_line in store.all_lock_lines():
        key = (stored_line.lock_key, stored_line.sku)
        seen.add(key)
        subject = f"{stored_line.lock_key}/{stored_line.sku}"
        expected = lines.get(key)
        if expected is None:
            problems.append(f"lock line {subject} has no lock entry")
            continue
        for field in ("qty", "released", "committed", "expired"):
            value = int(getattr(stored_line, field))
            if value != expected[field]:
                drifts.append(Drift(subject, field, value, expected[field]))
        if stored_line.remaining < 0:
            problems.append(f"lock line {subject} resolved more units than it locked")
    for key in sorted(set(lines) - seen):
        problems.append(f"lock line {key[0]}/{key[1]} is in the ledger but not stored")
    return VerifyReport(
        skus=len(set(stored) | set(totals)),
        lock_lines=len(lines),
        entries=count,
        drifts=tuple(drifts),
        problems=tuple(problems),
    )
