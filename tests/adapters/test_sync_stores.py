"""The memory and SQLite sync stores keep the sync store contract; a file of the
previous sync schema is upgraded."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderkit.adapters.memory import MemorySyncStore
from orderkit.adapters.sqlite import SQLiteSyncStore
from orderkit.sync import Seen, SyncStore
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


def test_a_file_of_the_previous_sync_schema_gets_the_lag_index_and_keeps_its_lags(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shop.db"
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    SQLiteSyncStore(path).mark_seen(Seen("jd", "J-1", t0, "d1", t0 + timedelta(seconds=40)))
    with sqlite3.connect(path) as conn:  # as the previous release left it
        conn.execute("DROP INDEX sync_seen_by_received")
        conn.execute("UPDATE schema_version SET version = 2 WHERE component = 'sync'")
    conn.close()
    store = SQLiteSyncStore(path)
    assert store.database.schema_version("sync") == 3
    assert store.lags(t0, t0 + timedelta(minutes=1)) == [timedelta(seconds=40)]
    with sqlite3.connect(path) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT received_us - modified_us AS lag FROM sync_seen"
            " WHERE received_us >= 0 AND received_us < 1 ORDER BY lag"
        ).fetchall()
    conn.close()
    assert any("sync_seen_by_received" in str(step) for step in plan)
