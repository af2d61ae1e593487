"""``OrderService.reserve``: stored orders that hold no lock take their stock, each lock
kept on its order, and nothing of a call that fails is left half done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import OrderService
from orderkit.model.errors import StoreError
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=3)
SECRET = b"a secret of sixteen bytes or more"


@pytest.fixture(params=["memory", "sqlite"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[OrderService, Any]:
    """A service with a ledger of 10 TEA, over a repository of orders stored without a
    lock (``store``): placed by a service with no ledger, as an import does."""
    if request.param == "memory":
        store: Any = MemoryInventoryStore()
        repository: Any = MemoryOrderRepository()
    else:
        store = SQLiteInventoryStore(tmp_path / "shop.db")
        repository = SQLiteOrderRepository(tmp_path / "shop.db")
    ledger = InventoryLedger(store, secret=SECRET, clock=ManualClock(NOW))
    ledger.receive("TEA", 10, reference="PO-1")
    return OrderService(repository, inventory=ledger, clock=ManualClock(NOW)), ledger


def store(service: OrderService, order_id: str, created_at: datetime = T0) -> str:
    """Store an order of 2 TEA with no lock; its id."""
    order = Order(order_id, "tmall", f"T-{order_id}",
                  [OrderLine("L1", "TEA", 2, Money("10.00", "CNY"))], created_at)
    OrderService(service.repository, clock=ManualClock(NOW)).place(order)
    return order_id


def locked(ledger: Any) -> int:
    return int(ledger.stock("TEA").locked)


def test_a_save_that_fails_leaves_no_lock_taken_and_a_retry_reserves_them(
    shop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, ledger = shop
    ids = [store(service, f"ORD-{n}") for n in range(3)]
    real_save = service.repository.save
    saves = []

    def flaky_save(*args: Any, **kwargs: Any) -> None:
        saves.append(args[0].order_id)
        if len(saves) == 2:
            raise StoreError("save order", "connection lost")
        real_save(*args, **kwargs)

    monkeypatch.setattr(service.repository, "save", flaky_save)
    with pytest.raises(StoreError) as failed:
        service.reserve(ids, at=T0 + timedelta(hours=1))
    assert any("ORD-1" in note for note in failed.value.__notes__)
    monkeypatch.setattr(service.repository, "save", real_save)
    # All or nothing: the order saved before the failure is rolled back with the block,
    # and no lock of the call is left holding stock.
    assert [service.repository.get(i).lock_id for i in ids] == [None, None, None]
    assert locked(ledger) == 0
    assert ledger.held(ids) == {i: {} for i in ids}
    assert service.reserve(ids, at=T0 + timedelta(hours=1)) == {}
    assert locked(ledger) == 6
    assert all(service.repository.get(i).lock_id is not None for i in ids)
