"""One clock decides lock expiry: a process whose clock runs ahead of the store's cannot
expire (or date) anything later than the store's clock plus the skew tolerance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.adapters.sqlite import SQLiteInventoryStore
from orderkit.inventory import InventoryLedger
from orderkit.inventory.ports import InventoryStore
from orderkit.model.errors import InsufficientStock, ValidationError
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)
SKEW = timedelta(minutes=10)
SECRET = b"lock-clock-test-secret-0123456789"


class AheadClock:
    """Another process's clock: ``by`` ahead of ``base``."""

    def __init__(self, base: ManualClock, by: timedelta) -> None:
        self.base = base
        self.by = by

    def now(self) -> datetime:
        return self.base.now() + self.by


def test_a_process_with_a_fast_clock_cannot_expire_fresh_locks(tmp_path: Path) -> None:
    true_time = ManualClock(T0)
    path = tmp_path / "inventory.db"
    # Two processes on one file; the machine's clock (the store's) is ``true_time``.
    slow = InventoryLedger(
        SQLiteInventoryStore(path, clock=true_time), secret=SECRET, clock=true_time
    )
    fast = InventoryLedger(
        SQLiteInventoryStore(path, clock=true_time),
        secret=SECRET,
        clock=AheadClock(true_time, SKEW),
    )
    slow.receive("TEA", 3, reference="PO-1")
    lock = slow.lock("ORD-1", {"TEA": 2}, ttl=TTL)
    true_time.advance(timedelta(minutes=1))

    assert fast.expire_due() == 0
    assert fast.stock("TEA").locked == 2
    with pytest.raises(InsufficientStock):
        fast.lock("ORD-2", {"TEA": 2}, ttl=TTL)  # still only one unit free
    assert fast.expire_due(true_time.now() + SKEW) == 0  # an explicit "now" too
    # The fast process's own entries are dated by the store's clock (plus the tolerance).
    fast.receive("TEA", 1, reference="PO-2")
    latest = max(entry.at for entry in fast.entries())
    assert latest == true_time.now() + fast.skew_tolerance

    true_time.advance(TTL)  # now the lock really is due, for both processes
    assert fast.expire_due() == 1
    assert slow.release(lock.lock_id).outcome == "expired"
    assert fast.stock("TEA").locked == 0


def test_a_fast_clock_within_the_tolerance_is_trusted(store: InventoryStore) -> None:
    true_time = ManualClock(T0)
    shared = MemoryInventoryStore(clock=true_time)
    near = InventoryLedger(
        shared,
        secret=SECRET,
        clock=AheadClock(true_time, timedelta(seconds=3)),
        skew_tolerance=timedelta(seconds=5),
    )
    near.receive("TEA", 1, reference="PO-1")
    assert [entry.at for entry in near.entries()] == [T0 + timedelta(seconds=3)]
    assert store.now().utcoffset() == timedelta(0)


def test_a_slow_clock_never_expires_a_lock_early() -> None:
    true_time = ManualClock(T0)
    shared = MemoryInventoryStore(clock=true_time)
    on_time = InventoryLedger(shared, secret=SECRET, clock=true_time)
    slow = InventoryLedger(shared, secret=SECRET, clock=AheadClock(true_time, -SKEW))
    on_time.receive("TEA", 1, reference="PO-1")
    on_time.lock("ORD-1", {"TEA": 1}, ttl=TTL)
    true_time.advance(TTL + timedelta(minutes=1))
    assert slow.expire_due() == 0  # by its own clock the lock has 9 minutes left
    assert on_time.expire_due() == 1


@pytest.mark.parametrize("tolerance", [timedelta(seconds=-1), timedelta(hours=2), 5])
def test_a_skew_tolerance_out_of_range_is_refused(
    store: InventoryStore, tolerance: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        InventoryLedger(store, secret=SECRET, skew_tolerance=tolerance)  # type: ignore[arg-type]
    assert caught.value.path == "skew_tolerance"
