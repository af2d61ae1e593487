"""Bad input never half-writes: the ledger refuses it, names the field, and every store
holds exactly what it held before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from orderkit.inventory import InventoryLedger
from orderkit.inventory.ports import InventoryStore
from orderkit.model.errors import ValidationError
from orderkit.model.limits import MAX_QUANTITY
from orderkit.testing import ManualClock

TTL = timedelta(minutes=30)
SECRET = b"bad-input-test-secret-0123456789"


@pytest.fixture
def ledger(store: InventoryStore, clock: ManualClock) -> InventoryLedger:
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)
    ledger.receive("TEA", 10, reference="PO-1")
    return ledger


def held(store: InventoryStore) -> tuple[object, ...]:
    """A full read of the store: entries, counters and lock lines."""
    lines = sorted(store.all_lock_lines(), key=lambda line: (line.lock_key, line.sku))
    return tuple(store.entries()), dict(store.balances()), tuple(lines)


def refused(action: Callable[[], object]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        action()
    return caught.value


def test_an_order_id_with_a_lone_surrogate_locks_nothing(
    ledger: InventoryLedger, store: InventoryStore
) -> None:
    before = held(store)
    error = refused(lambda: ledger.lock("\udc80", {"TEA": 3}, ttl=TTL))
    assert (error.path, error.value) == ("order_id", "\udc80")
    assert "UTF-8" in error.reason
    assert held(store) == before
    assert ledger.stock("TEA").locked == 0


def test_a_sku_with_a_lone_surrogate_is_named_by_every_store(
    ledger: InventoryLedger, store: InventoryStore
) -> None:
    before = held(store)
    assert refused(lambda: ledger.lock("ORD-1", {"TEA\udc80": 1}, ttl=TTL)).path == "lines[0].sku"
    assert refused(lambda: ledger.receive("\ud800", 1, reference="PO-2")).path == "sku"
    assert refused(lambda: ledger.receive("TEA", 1, reference="PO\udfff")).path == "reference"
    # NUL, which PostgreSQL text refuses, is refused alike by every store.
    assert refused(lambda: ledger.receive("TEA\x00250G", 1, reference="PO-2")).path == "sku"
    assert refused(lambda: ledger.lock("ORD-1", {"TEA\x00": 1}, ttl=TTL)).path == "lines[0].sku"
    lock = ledger.lock("ORD-1", {"TEA": 1}, ttl=TTL)
    during = held(store)
    assert refused(lambda: ledger.release(lock.lock_id, actor="cs\udc80")).path == "actor"
    assert refused(lambda: ledger.commit(lock.lock_id, reason="ship\udc80")).path == "reason"
    assert refused(lambda: ledger.confirm(lock.lock_id, ref="pay\udc80")).path == "ref"
    assert held(store) == during
    ledger.release(lock.lock_id)
    assert before != held(store)


def test_a_quantity_beyond_the_store_range_is_refused_by_every_store(
    ledger: InventoryLedger, store: InventoryStore
) -> None:
    before = held(store)
    error = refused(lambda: ledger.receive("TEA", 2**63, reference="PO-2"))
    assert (error.path, error.value) == ("qty", 2**63)
    assert refused(lambda: ledger.adjust("TEA", -(2**63), reason="count")).path == "delta"
    assert refused(lambda: ledger.lock("ORD-1", {"TEA": 2**64}, ttl=TTL)).path == "lines['TEA']"
    # Two receipts that each fit but whose sum would not are refused the same way.
    ledger.receive("BIG", MAX_QUANTITY, reference="PO-3")
    grown = held(store)
    error = refused(lambda: ledger.receive("BIG", 1, reference="PO-4"))
    assert (error.path, error.value) == ("entry.qty", 1)
    assert held(store) == grown
    assert before != grown


def test_demand_summed_beyond_the_range_is_refused(
    ledger: InventoryLedger, store: InventoryStore
) -> None:
    before = held(store)
    error = refused(
        lambda: ledger.lock("ORD-1", [("TEA", MAX_QUANTITY), ("TEA", MAX_QUANTITY)], ttl=TTL)
    )
    assert error.path == "lines['TEA']"
    assert held(store) == before


def test_expire_due_with_a_naive_time_names_the_field(
    ledger: InventoryLedger, store: InventoryStore
) -> None:
    ledger.lock("ORD-1", {"TEA": 2}, ttl=TTL)
    before = held(store)
    naive = datetime(2026, 2, 16, 3, 0)
    error = refused(lambda: ledger.expire_due(naive))
    assert (error.path, error.value) == ("now", naive)
    assert held(store) == before


def test_extreme_times_are_refused_before_anything_moves(
    ledger: InventoryLedger, store: InventoryStore, clock: ManualClock
) -> None:
    ledger.lock("ORD-1", {"TEA": 2}, ttl=TTL)
    before = held(store)
    far = datetime.max.replace(tzinfo=UTC)
    assert refused(lambda: ledger.expire_due(far)).path == "now"
    assert refused(lambda: ledger.expire_due(datetime.min.replace(tzinfo=UTC))).path == "now"
    error = refused(lambda: ledger.lock("ORD-2", {"TEA": 1}, ttl=timedelta(days=999_999_999)))
    assert error.path == "ttl"
    assert refused(lambda: ledger.expire_due(clock.now(), limit=0)).path == "limit"
    assert held(store) == before


def test_a_clock_beyond_the_supported_range_is_refused(store: InventoryStore) -> None:
    ledger = InventoryLedger(
        store, secret=SECRET, clock=ManualClock(datetime(1899, 12, 31, 23, 0, tzinfo=UTC))
    )
    before = held(store)
    error = refused(lambda: ledger.receive("TEA", 1, reference="PO-1"))
    assert error.path == "clock.now()"
    assert held(store) == before
