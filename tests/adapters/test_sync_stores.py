"""The memory and SQLite sync stores keep the sync store contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderkit.adapters.memory import MemorySyncStore
from orderkit.adapters.sqlite import SQLiteSyncStore
from orderkit.sync import SyncStore
from orderkit.testing.contracts import SyncStoreContract


class TestMemorySyncStore(SyncStoreContract):
    def create_store(self) -> SyncStore:
        return MemorySyncStore()


class TestSQLiteSyncStore(SyncStoreContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.path = tmp_path / "shop.db"

    def create_store(self) -> SyncStore:
        return SQLiteSyncStore(self.path)
