"""The memory and SQLite idempotency stores keep the store contract."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit.adapters.memory import MemoryIdempotencyStore
from orderkit.adapters.sqlite import Database, SQLiteIdempotencyStore, SQLiteOrderRepository
from orderkit.idempotency import Idempotency, IdempotencyRecord
from orderkit.idempotency.ports import IdempotencyStore
from orderkit.model.errors import StoreError
from orderkit.testing.contracts import IdempotencyStoreContract
from orderkit.testing.samples import sample_order


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


_WRITES = ("INSERT", "UPDATE", "DELETE")


def _commit_levels(db: Database, action: Callable[[], object]) -> list[tuple[str, str]]:
    """Each write statement ``action`` ran on this thread's connection, with the
    ``PRAGMA synchronous`` level in force when it ran (``NORMAL`` or ``FULL``)."""
    conn = db.connection()
    level = {1: "NORMAL", 2: "FULL"}[conn.execute("PRAGMA synchronous").fetchone()[0]]
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    levels: list[tuple[str, str]] = []
    for statement in statements:
        words = statement.split()
        if words[:2] == ["PRAGMA", "synchronous"]:
            level = words[-1]
        elif words[0] in _WRITES:
            levels.append((words[0], level))
    return levels


def _record(key: str, token: str) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=key, request_hash="h", token=token, created_at=T0,
        lease_expires_at=T0 + timedelta(seconds=30), field_hashes={"order_id": "aa"},
    )


def test_a_durable_sqlite_store_commits_completions_and_purges_in_full(
    tmp_path: Path,
) -> None:
    store = SQLiteIdempotencyStore(tmp_path / "durable.db", durable=True)

    def first_call() -> None:
        assert store.claim(_record("k", "t")) is None
        assert store.complete("k", "t", b"outcome", T0) is True
        store.claim(_record("gone", "t"))
        store.release("gone", "t")
        store.purge(T0)

    # A claim and a release need atomicity, not a disk flush; the completion is the
    # promise to later callers, and a purge is the host's: both on disk.
    assert _commit_levels(store.database, first_call) == [
        ("INSERT", "NORMAL"), ("UPDATE", "FULL"), ("INSERT", "NORMAL"),
        ("DELETE", "NORMAL"), ("DELETE", "FULL"),
    ]
    relaxed = SQLiteIdempotencyStore(tmp_path / "relaxed.db", durable=False)

    def relaxed_call() -> None:
        relaxed.claim(_record("k", "t"))
        relaxed.complete("k", "t", b"outcome", T0)

    assert _commit_levels(relaxed.database, relaxed_call) == [
        ("INSERT", "NORMAL"), ("UPDATE", "NORMAL"),
    ]


def _save_level(repository: SQLiteOrderRepository, order_id: str) -> str:
    """The ``synchronous`` level an order save of ``repository`` commits with."""
    order = sample_order(order_id)
    levels = _commit_levels(
        repository.database, lambda: repository.save(order, expected_version=None)
    )
    assert levels, "the save wrote nothing"
    assert len({level for _statement, level in levels}) == 1, levels
    return levels[-1][1]


def test_a_guarded_call_leaves_the_files_other_commits_durable(tmp_path: Path) -> None:
    """The claim's relaxed commit is the claim's only: an order saved on the same file
    after a guarded call, its replay or a release still commits with a disk flush."""
    path = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(path)  # durable by default
    guard = Idempotency(SQLiteIdempotencyStore(path))
    assert guard.run("checkout-1", {"cart": 1}, lambda: "ok") == "ok"
    assert _save_level(repository, "ORD-1") == "FULL"
    assert guard.run("checkout-1", {"cart": 1}, lambda: "ok") == "ok"  # a replay
    assert _save_level(repository, "ORD-2") == "FULL"

    def fail() -> str:
        raise StoreError("pay", "the gateway is down")

    with pytest.raises(StoreError):
        guard.run("checkout-2", {"cart": 2}, fail)  # released for a retry
    assert _save_level(repository, "ORD-3") == "FULL"


def test_a_claim_inside_an_atomic_block_commits_with_the_block(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(path)
    store = SQLiteIdempotencyStore(path)

    def block() -> None:
        with repository.atomic():
            store.claim(_record("k", "t"))
            repository.save(sample_order("ORD-1"), expected_version=None)

    levels = _commit_levels(repository.database, block)
    assert {level for _statement, level in levels} == {"FULL"}, levels


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
