"""The memory and SQLite idempotency stores keep the store contract."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit.adapters.memory import MemoryIdempotencyStore
from orderkit.adapters.sqlite import SQLiteIdempotencyStore
from orderkit.idempotency import IdempotencyRecord
from orderkit.idempotency.ports import IdempotencyStore
from orderkit.model.errors import StoreError
from orderkit.testing.contracts import IdempotencyStoreContract


class TestMemoryIdempotencyStore(IdempotencyStoreContract):
    def create_store(self) -> IdempotencyStore:
        return MemoryIdempotencyStore()


class TestSQLiteIdempotencyStore(IdempotencyStoreContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.path = tmp_path / "idempotency.db"

    def create_store(self) -> IdempotencyStore:
        return SQLiteIdempotencyStore(self.path)

    def create_peer(self, store: IdempotencyStore) -> IdempotencyStore:
        return SQLiteIdempotencyStore(self.path)


def test_both_stores_satisfy_the_port_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryIdempotencyStore(), IdempotencyStore)
    assert isinstance(SQLiteIdempotencyStore(tmp_path / "p.db"), IdempotencyStore)


def test_sqlite_driver_errors_become_store_errors_naming_the_operation(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    store = SQLiteIdempotencyStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE idempotency_records")
    at = datetime(2026, 2, 16, tzinfo=UTC)
    record = IdempotencyRecord(
        key="k", request_hash="h", token="t", created_at=at, lease_expires_at=at + timedelta(1)
    )
    with pytest.raises(StoreError) as caught:
        store.claim(record)
    assert caught.value.operation == "claim idempotency key"
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_a_sqlite_store_locked_too_long_says_so_like_every_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locked.db"
    store = SQLiteIdempotencyStore(path)
    monkeypatch.setattr("orderkit.adapters.sqlite._db._BUSY_TIMEOUT_MS", 50)
    store.database.connection().execute("PRAGMA busy_timeout = 50")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with pytest.raises(StoreError) as caught:
            store.claim(_record("k", "t"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert caught.value.operation == "claim idempotency key"
    assert caught.value.reason.startswith(
        "locked by another process for longer than the busy timeout"
    )
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


def test_sqlite_schema_is_versioned(tmp_path: Path) -> None:
    from orderkit.adapters.sqlite import Database

    SQLiteIdempotencyStore(tmp_path / "v.db")
    assert Database(tmp_path / "v.db").schema_version("idempotency") == 1


# --- the two adapters agree on any sequence of operations ------------------------------

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
KEYS = st.sampled_from(["k1", "k2"])
TOKENS = st.sampled_from(["t1", "t2", "t3"])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), KEYS, TOKENS, st.integers(0, 100)),
        st.tuples(st.just("take_over"), KEYS, TOKENS, st.integers(0, 100)),
        st.tuples(st.just("complete"), KEYS, TOKENS, st.integers(0, 100)),
        st.tuples(st.just("release"), KEYS, TOKENS, st.integers(0, 100)),
        st.tuples(st.just("purge"), KEYS, TOKENS, st.integers(0, 100)),
    ),
    max_size=20,
)


def _apply(store: IdempotencyStore, operation: tuple[str, str, str, int]) -> object:
    action, key, token, minute = operation
    at = T0 + timedelta(minutes=minute)
    record = IdempotencyRecord(
        key=key, request_hash=f"h-{token}", token=token, created_at=at,
        lease_expires_at=at + timedelta(minutes=30), field_hashes={"f": token},
    )
    if action == "claim":
        return store.claim(record)
    if action == "take_over":
        return store.take_over("t1", record)
    if action == "complete":
        return store.complete(key, token, f"outcome {minute}".encode(), at)
    if action == "release":
        return store.release(key, token)
    return store.purge(at)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=operations)
def test_memory_and_sqlite_stores_answer_every_sequence_alike(
    tmp_path: Path, sequence: list[tuple[str, str, str, int]]
) -> None:
    memory = MemoryIdempotencyStore()
    sqlite = SQLiteIdempotencyStore(tmp_path / f"diff-{uuid.uuid4().hex}.db")
    for operation in sequence:
        assert _apply(memory, operation) == _apply(sqlite, operation), operation
    for key in ("k1", "k2"):
        assert memory.get(key) == sqlite.get(key)


# --- SQLite: what reaches the disk, and a key released mid-claim ----------------------


def _synchronous(store: SQLiteIdempotencyStore) -> int:
    """The synchronous level of this thread's connection: 1 NORMAL, 2 FULL."""
    level: int = store.database.connection().execute("PRAGMA synchronous").fetchone()[0]
    return level


def _record(key: str, token: str) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=key, request_hash="h", token=token, created_at=T0,
        lease_expires_at=T0 + timedelta(seconds=30), field_hashes={"order_id": "aa"},
    )


def test_a_durable_sqlite_store_commits_completions_and_purges_in_full(
    tmp_path: Path,
) -> None:
    store = SQLiteIdempotencyStore(tmp_path / "durable.db", durable=True)
    assert store.claim(_record("k", "t")) is None
    assert _synchronous(store) == 1  # a claim needs atomicity, not a disk flush
    assert store.complete("k", "t", b"outcome", T0) is True
    assert _synchronous(store) == 2  # the completion is the promise: on disk
    store.claim(_record("gone", "t"))
    store.release("gone", "t")
    assert _synchronous(store) == 1
    store.purge(T0)
    assert _synchronous(store) == 2
    relaxed = SQLiteIdempotencyStore(tmp_path / "relaxed.db", durable=False)
    relaxed.claim(_record("k", "t"))
    relaxed.complete("k", "t", b"outcome", T0)
    assert _synchronous(relaxed) == 1


def test_claims_racing_releases_on_one_file_always_get_an_answer(tmp_path: Path) -> None:
    """A key released between a claim's insert and its read is claimed on the next round."""
    path = tmp_path / "race.db"
    SQLiteIdempotencyStore(path)  # create the file before the race
    errors: list[BaseException] = []
    answers: list[str | None] = []

    def churn() -> None:  # another process claiming and releasing the key all the time
        store = SQLiteIdempotencyStore(path)
        for _ in range(300):
            if store.claim(_record("k", "theirs")) is None:
                store.release("k", "theirs")

    def claim() -> None:
        store = SQLiteIdempotencyStore(path)
        try:
            for _ in range(300):
                stored = store.claim(_record("k", "mine"))
                answers.append(None if stored is None else stored.token)
                if stored is None:
                    assert store.release("k", "mine") is True
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=churn), threading.Thread(target=claim)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(answers) == 300
    assert set(answers) <= {None, "theirs"}
