"""``OrderService.reserve``: stored orders that hold no lock take their stock, each lock
kept on its order, and nothing of a call that fails is left half done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import OrderService
from orderkit.model.errors import StoreError, ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=3)
SECRET = b"a secret of sixteen bytes or more"


@pytest.fixture
def shop(stores: tuple[Any, Any]) -> tuple[OrderService, Any]:
    """A service with a ledger of 10 TEA, over a repository of orders stored without a
    lock (``store``): placed by a service with no ledger, as an import does."""
    repository, store = stores
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


def test_an_order_named_twice_is_read_once_and_reserved(shop: Any) -> None:
    service, ledger = shop
    ledger.adjust("TEA", -8, reason="shelf of exactly one order")
    order_id = store(service, "ORD-1")
    assert service.reserve([order_id, order_id], at=T0) == {}
    assert service.repository.get(order_id).lock_id is not None
    assert locked(ledger) == 2
    assert [e.event for e in service.repository.audit_trail(order_id)].count("reserve") == 1


@pytest.mark.parametrize(
    ("order_ids", "path"), [("ORD-1", "order_ids"), (["ORD-1", 7], "order_ids[1]")]
)
def test_order_ids_that_are_not_a_collection_of_ids_are_refused(
    shop: Any, order_ids: Any, path: str
) -> None:
    service, ledger = shop
    store(service, "ORD-1")
    with pytest.raises(ValidationError) as refused:
        service.reserve(order_ids, at=T0)
    assert (refused.value.path, refused.value.value) == (path, order_ids if path ==
                                                         "order_ids" else 7)
    assert service.repository.get("ORD-1").lock_id is None
    assert locked(ledger) == 0


def test_a_reserve_dated_before_an_order_was_created_refuses_that_order(shop: Any) -> None:
    service, ledger = shop
    early = store(service, "ORD-EARLY", created_at=T0)
    late = store(service, "ORD-LATE", created_at=T0 + timedelta(hours=2))
    at = T0 + timedelta(hours=1)
    refused = service.reserve([late, early], at=at)
    assert list(refused) == [late]
    error = refused[late]
    assert isinstance(error, ValidationError)
    assert (error.path, error.value) == ("at", at)
    assert "before the order was created" in str(error)
    assert service.repository.get(late).lock_id is None
    assert service.repository.get(early).lock_id is not None
    assert locked(ledger) == 2
