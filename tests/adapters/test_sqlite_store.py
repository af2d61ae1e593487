"""The SQLite plumbing: WAL, versioned schema, driver errors translated."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from orderkit.adapters.sqlite import Database, SQLiteOrderRepository, schema_versions
from orderkit.model.errors import StoreError, ValidationError
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


def _nearly_full(tmp_path: Path) -> Database:
    """A file that cannot grow past a few pages: SQLite answers "database or disk is
    full" (``SQLITE_FULL``) as on a full disk, and rolls the transaction back itself."""
    db = Database(tmp_path / "full.db")
    db.ensure_schema("t", ["CREATE TABLE t (body BLOB)"])
    db.connection().execute("PRAGMA max_page_count = 10")
    return db


def _rows(db: Database) -> int:
    with db.read("count") as conn:
        count: int = conn.execute("SELECT count(*) FROM t").fetchone()[0]
    return count


def test_a_full_disk_is_a_store_error_saying_so(tmp_path: Path) -> None:
    db = _nearly_full(tmp_path)
    with pytest.raises(StoreError) as caught, db.write("store a body") as conn:
        conn.execute("INSERT INTO t (body) VALUES (zeroblob(100000))")
    assert caught.value.operation == "store a body"
    assert "database or disk is full" in caught.value.reason
    assert caught.value.__cause__ is not None
    assert caught.value.__cause__.sqlite_errorcode == sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    assert not db.connection().in_transaction
    with db.write("store a small body") as conn:  # space enough for this: it works
        conn.execute("INSERT INTO t (body) VALUES (zeroblob(10))")
    assert _rows(db) == 1


def test_a_full_disk_inside_an_outer_block_rolls_the_whole_block_back(
    tmp_path: Path,
) -> None:
    db = _nearly_full(tmp_path)

    def order_then_body() -> None:
        with db.write("outer") as outer:
            outer.execute("INSERT INTO t (body) VALUES (zeroblob(10))")
            with db.write("store a body") as inner:  # a savepoint of the outer block
                inner.execute("INSERT INTO t (body) VALUES (zeroblob(100000))")

    with pytest.raises(StoreError) as caught:
        order_then_body()
    assert caught.value.operation == "store a body"
    assert "database or disk is full" in caught.value.reason
    assert not db.connection().in_transaction
    assert _rows(db) == 0


def test_reads_inside_one_read_block_see_one_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = Database(path)
    db.ensure_schema("t", ["CREATE TABLE t (body BLOB)"])

    def another_process_writes() -> None:  # a thread has its own connection
        with Database(path).write("insert") as conn:
            conn.execute("INSERT INTO t (body) VALUES (1)")

    with db.read("plan") as outer:
        before = outer.execute("SELECT count(*) FROM t").fetchone()
        writer = threading.Thread(target=another_process_writes)
        writer.start()
        writer.join()  # never waits for the reader (WAL)
        with db.read("count") as inner:  # by another adapter, say: the same snapshot
            assert inner.execute("SELECT count(*) FROM t").fetchone() == before == (0,)
        assert outer.in_transaction
    assert _rows(db) == 1


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



def test_an_up_to_date_file_is_opened_without_writing_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.db"
    SQLiteOrderRepository(path).save(sample_order("A"), expected_version=None)
    monkeypatch.setattr("orderkit.adapters.sqlite._db._BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing: a write would wait
    try:
        repository = SQLiteOrderRepository(path)  # a new process's adapter on the file
        assert repository.get("A") is not None
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_file_that_refuses_writes_is_read_and_says_read_only_when_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.db"
    SQLiteOrderRepository(path).save(sample_order("A"), expected_version=None)
    db = Database(path)
    db.connection().execute("PRAGMA query_only = ON")  # as a read-only file answers
    try:
        db.ensure_schema("orders_probe", [])  # at its version (0): nothing to write
        with pytest.raises(StoreError) as caught:
            db.ensure_schema("widgets", ["CREATE TABLE widgets (id INTEGER)"])
        assert caught.value.operation == "migrate widgets"
        assert caught.value.reason.startswith("read-only: this user may not write orders.db")
    finally:
        db.connection().execute("PRAGMA query_only = OFF")


def test_a_locked_file_says_it_is_locked_not_migrate_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.db"
    writer = SQLiteOrderRepository(path)
    writer.save(sample_order("A"), expected_version=None)
    writer.database.close()
    monkeypatch.setattr("orderkit.adapters.sqlite._db._BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # even readers are kept out
    try:
        with pytest.raises(StoreError) as caught:
            schema_versions(path)
        assert caught.value.reason.startswith("locked by another process")
        with pytest.raises(StoreError) as caught:
            Database(path).ensure_schema("widgets", ["CREATE TABLE widgets (id INTEGER)"])
        assert caught.value.reason.startswith("locked by another process")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_schema_versions_says_why_a_file_cannot_be_read(tmp_path: Path) -> None:
    assert schema_versions(tmp_path / "missing.db") == {}
    (tmp_path / "text.db").write_text("not a database at all", encoding="utf-8")
    assert schema_versions(tmp_path / "text.db") == {}
    (tmp_path / "adir.db").mkdir()
    with pytest.raises(StoreError) as caught:
        schema_versions(tmp_path / "adir.db")
    assert caught.value.reason == "is a directory"
    with pytest.raises(StoreError) as caught:
        Database(tmp_path / "adir.db").connection()
    assert caught.value.reason.startswith("is a directory")

def test_path_must_be_a_path() -> None:
    with pytest.raises(ValidationError) as caught:
        Database(42)  # type: ignore[arg-type]
    assert caught.value.path == "path"


_OPEN_TOGETHER = """
import os, sys
from datetime import date
from orderkit.adapters.sqlite import SQLiteReconIdSequence
from orderkit.model.errors import StoreError
rounds, processes = int(sys.argv[1]), int(sys.argv[2])
failures = []
for round_ in range(rounds):
    path = f"fresh-{round_}.db"  # in the working directory the test gives
    go_read, go_write = os.pipe()
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            os.close(go_write)
            os.read(go_read, 1)  # all children wait here, then open the file together
            try:
                SQLiteReconIdSequence(path).next_value("SO", date(2026, 2, 16))
            except StoreError as error:
                print(round_, error, flush=True)
                os._exit(1)
            os._exit(0)
        children.append(pid)
    os.close(go_read)
    os.write(go_write, b"g" * processes)
    for pid in children:
        if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
            failures.append(round_)
print("failed rounds:", len(failures))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_processes_opening_a_fresh_file_together_all_get_in(tmp_path: Path) -> None:
    # Turning WAL on answers "database is locked" at once (no busy handler) when several
    # processes open a new file together; the adapter must wait its turn, not fail.
    # Forked from a fresh single-threaded interpreter, never from the test process.
    result = subprocess.run(
        [sys.executable, "-c", _OPEN_TOGETHER, "40", "4"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
        cwd=tmp_path,
    )
    assert result.stdout.strip().endswith("failed rounds: 0"), result.stdout


def test_an_order_without_a_repricing_is_stored_without_the_key(tmp_path: Path) -> None:
    # An orderkit from before Order.repriced_left refuses a stored order naming it, so
    # an order that has none (nearly every order) is stored without the key.
    path = tmp_path / "orders.db"
    repository = SQLiteOrderRepository(path)
    order = sample_order()
    repository.save(order, expected_version=None)
    conn = sqlite3.connect(path)
    try:
        (body,) = conn.execute("SELECT body FROM orders WHERE order_id = ?",
                               (order.order_id,)).fetchone()
    finally:
        conn.close()
    assert "repriced_left" not in json.loads(body)
    assert SQLiteOrderRepository(path).get(order.order_id) == order
