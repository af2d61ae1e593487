"""The SQLite plumbing: WAL, versioned schema, driver errors translated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orderkit.adapters.sqlite import Database, SQLiteOrderRepository
from orderkit.errors import StoreError, ValidationError
from orderkit.testing.samples import sample_order


def test_file_runs_in_wal_mode_with_versioned_schema(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    SQLiteOrderRepository(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        (version,) = conn.execute(
            "SELECT version FROM schema_version WHERE component = 'orders'"
        ).fetchone()
        assert version >= 1
    finally:
        conn.close()


def test_schema_is_created_once_and_upgraded_in_order(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    db.ensure_schema("widgets", ["CREATE TABLE widgets (id INTEGER)"])
    assert db.schema_version("widgets") == 1
    later = Database(tmp_path / "x.db")
    later.ensure_schema(
        "widgets",
        ["CREATE TABLE widgets (id INTEGER)", "ALTER TABLE widgets ADD COLUMN name TEXT"],
    )
    assert later.schema_version("widgets") == 2
    with later.write("insert") as conn:
        conn.execute("INSERT INTO widgets (id, name) VALUES (1, 'a')")


def test_a_file_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    Database(tmp_path / "x.db").ensure_schema(
        "widgets", ["CREATE TABLE w (id INTEGER)", "SELECT 1"]
    )
    with pytest.raises(StoreError) as caught:
        Database(tmp_path / "x.db").ensure_schema("widgets", ["CREATE TABLE w (id INTEGER)"])
    assert "upgrade orderkit" in str(caught.value)


def test_driver_errors_become_store_errors_and_roll_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    db.ensure_schema("t", ["CREATE TABLE t (id INTEGER PRIMARY KEY)"])

    def insert_twice() -> None:
        with db.write("insert twice") as conn:
            conn.execute("INSERT INTO t (id) VALUES (1)")
            conn.execute("INSERT INTO t (id) VALUES (1)")

    with pytest.raises(StoreError) as caught:
        insert_twice()
    assert caught.value.operation == "insert twice"
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
    with db.read("count") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_unopenable_file_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        SQLiteOrderRepository(tmp_path / "missing-dir" / "orders.db")
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_locked_database_is_a_store_error_not_a_driver_error(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    repository = SQLiteOrderRepository(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    repository.database.connection().execute("PRAGMA busy_timeout = 50")
    try:
        with pytest.raises(StoreError) as caught:
            repository.save(sample_order(), expected_version=None)
        assert "locked" in str(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    repository.save(sample_order(), expected_version=None)


def test_path_must_be_a_path() -> None:
    with pytest.raises(ValidationError) as caught:
        Database(42)  # type: ignore[arg-type]
    assert caught.value.path == "path"
