"""What the lifecycle tests share: an order repository and an inventory store on one
adapter, memory or one SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, Any]:
    """``(repository, inventory store)``: both in memory, or both on one SQLite file."""
    if request.param == "memory":
        return MemoryOrderRepository(), MemoryInventoryStore()
    path = tmp_path / "shop.db"
    return SQLiteOrderRepository(path), SQLiteInventoryStore(path)
