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


def test_a_page_of_digests_is_read_through_the_digest_index_however_many_orders_are_stored(
    tmp_path: Path,
) -> None:
    """The unchanged path's one read per page costs the same with ten times the rows:
    counted in SQLite virtual-machine steps, not timed (a scan of the platform's rows,
    what the planner chose on its own, grows with them)."""
    store = SQLiteSyncStore(tmp_path / "shop.db", durable=False)
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

    def fill(start: int, stop: int) -> None:
        with store.database.write("fill") as conn:
            for n in range(start, stop):
                assert store.mark_seen(Seen("jd", f"J-{n}", t0, f"d{n}", t0))
            assert conn.in_transaction  # one commit for the lot

    def steps() -> tuple[int, dict[str, Seen]]:
        count = 0

        def tick() -> int:
            nonlocal count
            count += 1
            return 0

        with store.database.statement("count steps") as conn:
            conn.set_progress_handler(tick, 1)
            try:
                found = store.seen_digests("jd", [f"d{n}" for n in range(0, 200, 20)] + ["nope"])
            finally:
                conn.set_progress_handler(None, 1)
        return count, found

    fill(0, 300)
    small, found = steps()
    assert sorted(seen.channel_order_id for seen in found.values()) == sorted(
        f"J-{n}" for n in range(0, 200, 20)
    )
    fill(300, 3000)
    large, found_again = steps()
    assert found_again == found
    assert large < 2 * small, (small, large)
