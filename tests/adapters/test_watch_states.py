"""The memory and SQLite watch states keep the watch state contract, history included
(PostgreSQL's is in test_postgres_contracts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderkit.adapters.memory import MemoryWatchState
from orderkit.adapters.sqlite import SQLiteWatchState
from orderkit.testing.contracts import WatchStateContract
from orderkit.watch import WatchState


class TestMemoryWatchState(WatchStateContract):
    def create_state(self) -> WatchState:
        return MemoryWatchState()


class TestSQLiteWatchState(WatchStateContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.path = tmp_path / "shop.db"

    def create_state(self) -> WatchState:
        return SQLiteWatchState(self.path)

    def create_peer(self, state: WatchState) -> WatchState:
        return SQLiteWatchState(self.path)
