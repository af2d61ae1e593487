"""The memory and SQLite inventory stores keep the ``InventoryStore`` contract."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.adapters.sqlite import SQLiteInventoryStore
from orderkit.inventory import Balance, EntryKind, LedgerEntry
from orderkit.inventory.ports import InventoryStore
from orderkit.model.errors import StoreError
from orderkit.testing.contracts import InventoryStoreContract


class TestMemoryInventoryStore(InventoryStoreContract):
    def create_store(self) -> InventoryStore:
        return MemoryInventoryStore()


class TestSQLiteInventoryStore(InventoryStoreContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.path = tmp_path / "inventory.db"

    def create_store(self) -> InventoryStore:
        return SQLiteInventoryStore(self.path)


def test_both_stores_are_inventory_stores(tmp_path: Path) -> None:
    assert isinstance(MemoryInventoryStore(), InventoryStore)
    assert isinstance(SQLiteInventoryStore(tmp_path / "a.db"), InventoryStore)


def test_sqlite_ledger_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "inventory.db"
    store = SQLiteInventoryStore(path)
    with store.transaction({"TEA"}) as tx:
        tx.append(
            LedgerEntry("e1", EntryKind.RECEIVE, "TEA", 4, datetime(2026, 2, 16, tzinfo=UTC))
        )
    again = SQLiteInventoryStore(path)
    assert again.balance("TEA") == Balance(4, 0)
    assert [entry.entry_id for entry in again.entries()] == ["e1"]


def test_sqlite_driver_errors_become_store_errors(tmp_path: Path) -> None:
    path = tmp_path / "inventory.db"
    store = SQLiteInventoryStore(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE inventory_balances")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as caught:
        store.balance("TEA")
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_sqlite_due_lines_are_fresh_after_an_append_in_a_batch(tmp_path: Path) -> None:
    store = SQLiteInventoryStore(tmp_path / "inventory.db", durable=False)
    t0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
    later = t0 + timedelta(minutes=30)
    with store.transaction({"TEA", "CUP"}) as tx:
        for sku in ("TEA", "CUP"):
            tx.append(LedgerEntry(f"r-{sku}", EntryKind.RECEIVE, sku, 5, t0, ref="PO"))
        for key in ("k1", "k2"):
            tx.append(
                LedgerEntry(
                    f"l-{key}", EntryKind.LOCK, "TEA", 1, t0,
                    order_id="O", lock_key=key, expires_at=later,
                )
            )
    with store.transaction({"TEA", "CUP"}) as tx:
        assert [line.lock_key for line in tx.due_lines("TEA", later)] == ["k1", "k2"]
        assert tx.due_lines("CUP", later) == ()
        tx.append(LedgerEntry("x1", EntryKind.EXPIRE, "TEA", 1, later, lock_key="k1"))
        assert [line.lock_key for line in tx.due_lines("TEA", later)] == ["k2"]
        assert tx.lock_lines("k1")[0].expired == 1
        tx.append(LedgerEntry("x2", EntryKind.RELEASE, "TEA", 1, later, lock_key="k2"))
        assert tx.due_lines("TEA", later) == ()
        assert tx.balance("TEA").locked == 0
