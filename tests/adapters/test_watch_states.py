"""The memory and SQLite watch states keep the watch state contract, history included
(PostgreSQL's is in test_postgres_contracts.py)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from orderkit.adapters.memory import MemoryWatchState
from orderkit.adapters.sqlite import SQLiteWatchState
from orderkit.testing.contracts import WatchStateContract
from orderkit.watch import WatchState
from orderkit.watch.ports import Episode

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


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


def test_a_keyed_cycle_reads_no_other_episode_on_sqlite(tmp_path: Path) -> None:
    """An open episode the cycle does not name is not read: one whose stored text is
    no episode at all (written by hand) is never decoded by a keyed cycle, while a
    cycle over every open episode trips on it."""
    path = tmp_path / "shop.db"
    state = SQLiteWatchState(path)
    first = Episode("pending_payment_stale:P-1", "pending_payment_stale", "", "firing",
                    ("P-1",), T0, T0, T0, 1)
    with state.cycle() as episodes:
        episodes[first.key] = first
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO watch_episodes (key, body) VALUES (?, ?)",
                      ("other_rule:O-1", "not an episode"))
    with state.cycle(keys=[first.key, "pending_payment_stale:P-2"]) as episodes:
        assert dict(episodes) == {first.key: first}
        episodes[first.key] = attrs.evolve(first, sent=2)
    with pytest.raises(json.JSONDecodeError), state.cycle():  # the text is no JSON
        raise AssertionError("every open episode was read without the stored text")
    with closing(sqlite3.connect(path)) as conn:
        (body,) = conn.execute("SELECT body FROM watch_episodes WHERE key = ?",
                               (first.key,)).fetchone()
    assert '"sent": 2' in body


def test_a_history_purge_reads_through_the_index_on_resolved_at(tmp_path: Path) -> None:
    """The retention's batch deletes by when episodes were resolved: the statement the
    SQLite state really runs (traced) reads ``watch_history`` through its index on
    ``resolved_at``, not the whole table, and leaves the lock free between batches."""
    path = tmp_path / "shop.db"
    state = SQLiteWatchState(path)
    with state.cycle() as episodes:
        for n in range(5):
            key = f"stale:O-{n}"
            episodes[key] = Episode(key, "stale", "", "firing", (f"O-{n}",), T0)
    with state.cycle() as episodes:
        for key, episode in list(episodes.items()):
            episodes[key] = attrs.evolve(episode, state="resolved", resolved_at=T0)
    statements: list[str] = []
    state._db.connection().set_trace_callback(statements.append)
    try:
        assert state.purge_history(T0 + timedelta(days=1), limit=2) == 2
    finally:
        state._db.connection().set_trace_callback(None)
    (delete,) = [s for s in statements if s.startswith("DELETE")]
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("BEGIN IMMEDIATE")  # the batch's transaction is over
        plan = conn.execute(f"EXPLAIN QUERY PLAN {delete}").fetchall()
        conn.execute("ROLLBACK")
    assert any("watch_history_by_resolved_at" in str(step) for step in plan), plan
    assert len(state.history()) == 3
