"""The sync tests' shop: memory stores, a ledger with stock, JD payload versions."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository, MemorySyncStore
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository, SQLiteSyncStore
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import OrderService
from orderkit.sync import Sync
from orderkit.testing import ManualClock

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"
NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
BEIJING = timedelta(hours=8)


def fixture(platform: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text("utf-8"))
    return data


def beijing(instant: datetime) -> str:
    return (instant + BEIJING).strftime("%Y-%m-%d %H:%M:%S")


#: A JD order's life, as the platform shows it: each stage changes these fields.
JD_STAGES: dict[str, dict[str, str]] = {
    "unpaid": {"orderState": "WAIT_SELLER_STOCK_OUT",
               "paymentConfirmTime": "0001-01-01 00:00:00", "waybill": ""},
    "paid": {"orderState": "WAIT_SELLER_STOCK_OUT", "waybill": ""},
    "shipped": {"orderState": "WAIT_GOODS_RECEIVE_CONFIRM"},
    "finished": {"orderState": "FINISHED_L"},
    "cancelled": {"orderState": "TRADE_CANCELED", "waybill": ""},
}


def transactions_begun(shop: Any) -> list[str]:
    """Every transaction the shop's file begins from now on (on this thread)."""
    begun: list[str] = []
    shop.repository.database.connection().set_trace_callback(
        lambda sql: begun.append(sql) if sql.startswith("BEGIN IMMEDIATE") else None)
    return begun


def jd_version(order_id: str, stage: str, modified: datetime) -> dict[str, Any]:
    """The ``shipped_with_waybill`` fixture as order ``order_id`` at ``stage``, last
    modified at ``modified``."""
    payload = copy.deepcopy(fixture("jd", "shipped_with_waybill"))
    payload.update(JD_STAGES[stage])
    payload["orderId"] = order_id
    payload["modified"] = beijing(modified)
    return payload


class Shop:
    """Memory repository, ledger (plenty of every SKU), service, sync store and sync."""

    def __init__(self, repository: Any = None, store: Any = None, inventory: Any = None) -> None:
        self.clock = ManualClock(NOW)
        self.repository = repository if repository is not None else MemoryOrderRepository()
        self.ledger = InventoryLedger(
            inventory if inventory is not None else MemoryInventoryStore(),
            secret=b"0123456789abcdef", clock=self.clock,
        )
        self.service = OrderService(self.repository, inventory=self.ledger, clock=self.clock)
        self.store = store if store is not None else MemorySyncStore()
        self.sync = Sync(self.repository, self.service, store=self.store, clock=self.clock)

    def stock(self, *skus: str) -> None:
        for sku in skus:
            self.ledger.receive(sku, 1000, reference=f"PO-{sku}")


@pytest.fixture
def shop() -> Shop:
    """A fresh memory shop with its sync."""
    return Shop()


@pytest.fixture
def versions() -> Callable[[str, str, datetime], dict[str, Any]]:
    """``jd_version``: a JD order's payload at a stage of its life."""
    return jd_version


@pytest.fixture
def payloads() -> Callable[[str, str], dict[str, Any]]:
    """``fixture``: a platform payload from tests/fixtures/mapping."""
    return fixture


@pytest.fixture
def new_shop() -> Callable[..., Shop]:
    """Makes fresh shops (for tests that compare two, or use other stores)."""
    return Shop


@pytest.fixture
def sqlite_shop(new_shop: Callable[..., Shop], tmp_path: Path) -> Shop:
    """A fresh shop on one SQLite file (orders, sync store and ledger)."""
    path = tmp_path / "shop.db"
    return new_shop(repository=SQLiteOrderRepository(path), store=SQLiteSyncStore(path),
                    inventory=SQLiteInventoryStore(path))


@pytest.fixture
def transactions() -> Callable[[Any], list[str]]:
    """``transactions_begun``: the list of every transaction a SQLite shop's file begins
    from now on (on this thread)."""
    return transactions_begun
