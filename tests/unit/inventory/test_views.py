"""What a wave plan reads of the ledger: units available per SKU and what each order's
live locks hold (a lapsed lock holds nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.errors import ValidationError
from orderkit.inventory import InventoryLedger, available_units, held_units
from orderkit.testing import ManualClock

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_held_counts_live_locks_only_and_available_never_goes_below_zero() -> None:
    clock = ManualClock(T0)
    store = MemoryInventoryStore()
    ledger = InventoryLedger(store, secret=b"views-secret-0123456789", clock=clock)
    ledger.receive("TEA", 3, reference="PO-1")
    kept = ledger.lock("KEPT", {"TEA": 1}, ttl=timedelta(hours=1))
    ledger.confirm(kept.lock_id)
    ledger.lock("LAPSES", {"TEA": 2}, ttl=timedelta(hours=1))
    assert ledger.held(["KEPT", "LAPSES", "NONE"]) == {
        "KEPT": {"TEA": 1}, "LAPSES": {"TEA": 2}, "NONE": {}}
    assert ledger.available() == {"TEA": 0}
    clock.advance(timedelta(hours=2))
    # Past its expiry the lock holds nothing, swept or not.
    assert ledger.held(["KEPT", "LAPSES"]) == {"KEPT": {"TEA": 1}, "LAPSES": {}}
    assert held_units(store, ["LAPSES"], clock.now()) == {"LAPSES": {}}
    ledger.expire_due()
    assert ledger.available() == available_units(store) == {"TEA": 2}
    # A shipment the ledger did not cover oversells: nothing is available, not -1.
    ledger.ship({"TEA": 3}, order_id="WALK-IN", ref="pos-1")
    assert ledger.available() == {"TEA": 0}
    with pytest.raises(ValidationError) as bad:
        ledger.held("KEPT")
    assert bad.value.path == "order_ids"
    with pytest.raises(ValidationError) as bad:
        ledger.held(["KEPT", 7])  # type: ignore[list-item]
    assert bad.value.path == "order_ids[1]"
