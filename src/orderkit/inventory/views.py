"""What the ledger's store says about stock, read without a lock id's secret: units
available per SKU and units each order's live locks hold (what a wave plan spends and
trusts, see :func:`orderkit.fulfilment.plan_wave`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from orderkit.inventory.entries import LockLine
from orderkit.inventory.ports import InventoryStore

__all__ = ["available_units", "held_units", "live_lines"]


def live_lines(store: InventoryStore, order_id: str, now: datetime) -> Iterator[LockLine]:
    """The lock lines of ``order_id`` that still hold units at ``now`` (not expired)."""
    return (line for line in store.lines_of_order(order_id)
            if line.remaining > 0 and line.expires_at > now)


def available_units(store: InventoryStore) -> dict[str, int]:
    """Units that may still be locked, per SKU, as the counters stand (an oversold SKU
    counts 0; units of locks past their expiry that no sweep let go yet still count as
    locked, so this never overstates what is there)."""
    return {sku: max(balance.available, 0) for sku, balance in store.balances().items()}


def held_units(
    store: InventoryStore, order_ids: Iterable[str], now: datetime
) -> dict[str, dict[str, int]]:
    """Per order id, the units its live locks hold at ``now``, by SKU (an order whose
    locks lapsed, or that holds none, maps to an empty mapping)."""
    held: dict[str, dict[str, int]] = {}
    for order_id in order_ids:
        units = held.setdefault(order_id, {})
        for line in live_lines(store, order_id, now):
            units[line.sku] = units.get(line.sku, 0) + line.remaining
    return held
