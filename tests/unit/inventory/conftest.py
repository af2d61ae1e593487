"""The stores every ledger test runs on, and the clock they share."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.adapters.sqlite import SQLiteInventoryStore
from orderkit.inventory.ports import InventoryStore
from orderkit.testing import ManualClock


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InventoryStore]:
    if request.param == "memory":
        yield MemoryInventoryStore()
    else:
        yield SQLiteInventoryStore(tmp_path / "inventory.db")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 2, 16, 2, 0, tzinfo=UTC))
