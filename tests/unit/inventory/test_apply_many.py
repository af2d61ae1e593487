"""``InventoryLedger.apply_many``: a batch of stock calls decided in order in one
transaction, each as its method would decide it alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.inventory import InventoryLedger
from orderkit.model.errors import InvalidLock, ValidationError
from orderkit.outbox import StockCall
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
SECRET = b"ledger-test-secret-0123456789"


class CountingStore(MemoryInventoryStore):
    """A memory store that counts the write transactions begun on it."""

    def __init__(self) -> None:
        super().__init__(clock=ManualClock(T0))
        self.transactions = 0

    def transaction(self, skus):  # type: ignore[no-untyped-def]
        self.transactions += 1
        return super().transaction(skus)


def _ledger(**kwargs: Any) -> tuple[InventoryLedger, CountingStore]:
    """A ledger (``kwargs`` for :class:`InventoryLedger`) on a counting store, with 10
    of TEA and 10 of CUP received."""
    store = CountingStore()
    ledger = InventoryLedger(store, secret=SECRET, clock=ManualClock(T0), **kwargs)
    ledger.receive("TEA", 10, reference="PO-1")
    ledger.receive("CUP", 10, reference="PO-1")
    return ledger, store


def test_a_batch_is_decided_in_order_in_one_transaction() -> None:
    ledger, store = _ledger()
    a = ledger.lock("A", {"TEA": 2, "CUP": 1}, ttl=timedelta(hours=1))
    b = ledger.lock("B", {"TEA": 3}, ttl=timedelta(hours=1))
    before = store.transactions
    results = ledger.apply_many([
        StockCall("confirm", a.lock_id, None, "A", "m1"),
        StockCall("commit", a.lock_id, None, "A", "m2"),  # sees the confirm before it
        StockCall("release", b.lock_id, {"TEA": 1}, "B", "m3"),
        StockCall("restock", None, {"CUP": 1}, "A", "m4", "return R-1"),
        StockCall("release", b.lock_id, {"TEA": 1}, "B", "m3"),  # the same ref again
    ])
    assert store.transactions == before + 1
    outcomes = [getattr(r, "outcome", r) for r in results]
    assert outcomes == ["confirmed", "committed", "released", "restocked", "already_applied"]
    assert ledger.stock("TEA").locked == 2 and ledger.stock("TEA").on_hand == 8
    assert ledger.stock("CUP").on_hand == 10  # shipped one, one came back
    # A redelivery of the whole batch changes nothing.
    again = ledger.apply_many([
        StockCall("confirm", a.lock_id, None, "A", "m1"),
        StockCall("commit", a.lock_id, None, "A", "m2"),
        StockCall("release", b.lock_id, {"TEA": 1}, "B", "m3"),
        StockCall("restock", None, {"CUP": 1}, "A", "m4"),
    ])
    assert [getattr(r, "outcome", r) for r in again] == ["already_applied"] * 4
    assert ledger.verify().ok


def test_a_forged_or_foreign_lock_is_refused_alone() -> None:
    ledger, _store = _ledger()
    a = ledger.lock("A", {"TEA": 2}, ttl=timedelta(hours=1))
    forged = a.lock_id[:-1] + ("0" if a.lock_id[-1] != "0" else "1")
    results = ledger.apply_many([
        StockCall("release", forged, None, "A", "m1"),
        StockCall("release", a.lock_id, None, "B", "m2"),  # another order's lock
        StockCall("release", a.lock_id, None, "A", "m3"),
    ])
    assert isinstance(results[0], InvalidLock) and isinstance(results[1], InvalidLock)
    assert getattr(results[2], "outcome", None) == "released"
    assert ledger.stock("TEA").locked == 0


def test_bad_input_refuses_the_whole_batch_before_anything_is_written() -> None:
    ledger, _store = _ledger()
    a = ledger.lock("A", {"TEA": 2}, ttl=timedelta(hours=1))
    entries = len(ledger.entries())
    cases = [
        ([StockCall("release", a.lock_id, None, "A", "m1"), StockCall("explode", a.lock_id)],
         "calls[1].operation"),
        ([StockCall("release", a.lock_id, None, "A", "m1"), StockCall("commit", None)],
         "calls[1].lock_id"),
        ([StockCall("release", a.lock_id, None, "A", "m1"),
          StockCall("release", a.lock_id, {"TEA": 0}, "A", "m2")], "calls[1].lines"),
        ([StockCall("restock", None, {"CUP": 1}, "A", None)], "calls[0].ref"),
        ([StockCall("release", a.lock_id, {"POT": 1}, "A", "m1")], "lines['POT']"),
    ]
    for calls, path in cases:
        with pytest.raises(ValidationError) as refused:
            ledger.apply_many(calls)
        assert refused.value.path.startswith(path), (refused.value.path, path)
    with pytest.raises(ValidationError):
        ledger.apply_many("release")  # type: ignore[arg-type]
    assert len(ledger.entries()) == entries
    assert ledger.stock("TEA").locked == 2


def test_the_release_breaker_counts_the_batch_s_own_releases() -> None:
    ledger, _store = _ledger(release_limit=2)  # CUP's stock too: the breaker counts per SKU
    locks = [ledger.lock(f"O{n}", {"TEA": 1}, ttl=timedelta(hours=1)) for n in range(4)]
    results = ledger.apply_many(
        [StockCall("release", lk.lock_id, None, lk.order_id, f"m{n}") for n, lk in
         enumerate(locks)]
    )
    assert [getattr(r, "outcome", r) for r in results] == [
        "released", "released", "parked", "parked"
    ]
    assert len(ledger.pending_review()) == 2
