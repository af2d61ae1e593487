"""The memory and SQLite inventory stores keep the ``InventoryStore`` contract."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore
from orderkit.inventory import (
    NEVER,
    Balance,
    EntryKind,
    InventoryLedger,
    LedgerEntry,
    LockTokens,
    RestockExceedsShipment,
    StockLevel,
)
from orderkit.inventory.ports import InventoryStore
from orderkit.model.errors import StoreError, ValidationError
from orderkit.testing import ManualClock
from orderkit.testing.contracts import InventoryStoreContract


class TestMemoryInventoryStore(InventoryStoreContract):
    def create_store(self) -> InventoryStore:
        return MemoryInventoryStore()


class TestJoinedMemoryInventoryStore(InventoryStoreContract):
    """A memory store built on an order repository's ``database`` keeps the contract."""

    def create_store(self) -> InventoryStore:
        return MemoryInventoryStore(MemoryOrderRepository().database)


class TestSQLiteInventoryStore(InventoryStoreContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.folder = tmp_path
        self.made = 0

    def create_store(self) -> InventoryStore:
        self.made += 1  # the contract asks for a new, empty store on every call
        return SQLiteInventoryStore(self.folder / f"inventory-{self.made}.db")


def test_both_stores_are_inventory_stores(tmp_path: Path) -> None:
    assert isinstance(MemoryInventoryStore(), InventoryStore)
    assert isinstance(SQLiteInventoryStore(tmp_path / "a.db"), InventoryStore)


def _state(store: MemoryInventoryStore) -> object:
    return (
        dict(store.balances()),
        sorted(store.all_lock_lines(), key=lambda line: (line.lock_key, line.sku)),
        list(store.entries()),
        store.pending_parks(),
        store.due_lines(datetime(2100, 1, 1, tzinfo=UTC), 100),
    )


def test_a_joined_memory_store_rolls_back_with_the_repositorys_block() -> None:
    """Every kind of write a ledger makes on a memory store built on a repository's
    ``database`` is undone when the repository's block raises, as on one SQLite file;
    what was committed before the block stays."""
    repository = MemoryOrderRepository()
    store = MemoryInventoryStore(repository.database)
    ledger = InventoryLedger(store, secret=b"joined-memory-store-0123456789ab",
                             clock=ManualClock(datetime(2026, 2, 16, tzinfo=UTC)))
    ledger.receive("TEA", 5, reference="PO-1")
    kept = ledger.lock("ORD-1", {"TEA": 2}, ttl=timedelta(minutes=30))
    before = _state(store)

    class Abort(Exception):
        pass

    with contextlib.suppress(Abort), repository.atomic():
        ledger.receive("TEA", 3, reference="PO-2")
        ledger.receive("POT", 1, reference="PO-2")
        ledger.release(kept.lock_id, {"TEA": 1}, order_id="ORD-1")
        ledger.lock("ORD-2", {"TEA": 4, "POT": 1}, ttl=timedelta(minutes=30))
        ledger.ship({"TEA": 1}, order_id="ORD-3", ref="ship-3")
        ledger.restock({"TEA": 1}, order_id="ORD-3", ref="back-3")
        assert store.balance("POT") == Balance(1, 1)  # the block reads its own writes
        raise Abort
    assert _state(store) == before
    assert store.entry("ship-3") is None and store.lines_of_order("ORD-2") == ()
    assert ledger.verify().ok
    ledger.ship({"TEA": 1}, order_id="ORD-3", ref="ship-3")  # nothing of it is left
    with pytest.raises(RestockExceedsShipment):  # its first shipment was undone too
        ledger.restock({"TEA": 2}, order_id="ORD-3", ref="back-3")


def test_a_standalone_memory_store_commits_on_its_own() -> None:
    repository = MemoryOrderRepository()
    store = MemoryInventoryStore()  # not built on the repository's database
    ledger = InventoryLedger(store, secret=b"joined-memory-store-0123456789ab",
                             clock=ManualClock(datetime(2026, 2, 16, tzinfo=UTC)))
    with contextlib.suppress(KeyError), repository.atomic():
        ledger.receive("TEA", 5, reference="PO-1")
        raise KeyError
    assert store.balance("TEA") == Balance(5, 0)


def test_a_memory_store_refuses_a_database_it_cannot_join() -> None:
    with pytest.raises(ValidationError) as refused:
        MemoryInventoryStore(MemoryOrderRepository())  # type: ignore[arg-type]
    assert refused.value.path == "database"


def test_sqlite_ledger_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "inventory.db"
    store = SQLiteInventoryStore(path)
    with store.transaction({"TEA"}) as tx:
        tx.append(
            LedgerEntry("e1", EntryKind.RECEIVE, "TEA", 4, datetime(2026, 2, 16, tzinfo=UTC))
        )
    again = SQLiteInventoryStore(path)
    assert again.balance("TEA") == Balance(4, 0)
    assert [entry.entry_id for entry in again.entries()] == ["e1"]


def test_sqlite_driver_errors_become_store_errors(tmp_path: Path) -> None:
    path = tmp_path / "inventory.db"
    store = SQLiteInventoryStore(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE inventory_balances")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as caught:
        store.balance("TEA")
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_sqlite_due_lines_are_fresh_after_an_append_in_a_batch(tmp_path: Path) -> None:
    store = SQLiteInventoryStore(tmp_path / "inventory.db", durable=False)
    t0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
    later = t0 + timedelta(minutes=30)
    with store.transaction({"TEA", "CUP"}) as tx:
        for sku in ("TEA", "CUP"):
            tx.append(LedgerEntry(f"r-{sku}", EntryKind.RECEIVE, sku, 5, t0, ref="PO"))
        for key in ("k1", "k2"):
            tx.append(
                LedgerEntry(
                    f"l-{key}", EntryKind.LOCK, "TEA", 1, t0,
                    order_id="O", lock_key=key, expires_at=later,
                )
            )
    with store.transaction({"TEA", "CUP"}) as tx:
        assert [line.lock_key for line in tx.due_lines("TEA", later)] == ["k1", "k2"]
        assert tx.due_lines("CUP", later) == ()
        tx.append(LedgerEntry("x1", EntryKind.EXPIRE, "TEA", 1, later, lock_key="k1"))
        assert [line.lock_key for line in tx.due_lines("TEA", later)] == ["k2"]
        assert tx.lock_lines("k1")[0].expired == 1
        tx.append(LedgerEntry("x2", EntryKind.RELEASE, "TEA", 1, later, lock_key="k2"))
        assert tx.due_lines("TEA", later) == ()
        assert tx.balance("TEA").locked == 0


# --- paid orders, late shipments and the schema that allows an oversell --------------------

SECRET = b"stores-test-secret-0123456789"

#: The inventory schema as the previous release wrote it (schema version 1).
_SCHEMA_1 = """
CREATE TABLE inventory_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    sku TEXT NOT NULL,
    qty INTEGER NOT NULL,
    at_us INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    order_id TEXT,
    lock_key TEXT,
    expires_us INTEGER,
    ref TEXT
);
CREATE INDEX inventory_entries_by_kind ON inventory_entries (sku, kind, at_us);
CREATE UNIQUE INDEX inventory_entries_approvals ON inventory_entries (ref)
    WHERE kind = 'approve';
CREATE TABLE inventory_balances (
    sku TEXT PRIMARY KEY,
    on_hand INTEGER NOT NULL,
    locked INTEGER NOT NULL,
    CHECK (locked >= 0),
    CHECK (on_hand - locked >= 0)
) WITHOUT ROWID;
CREATE TABLE inventory_lock_lines (
    lock_key TEXT NOT NULL,
    sku TEXT NOT NULL,
    order_id TEXT NOT NULL,
    qty INTEGER NOT NULL,
    locked_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    released INTEGER NOT NULL DEFAULT 0,
    committed INTEGER NOT NULL DEFAULT 0,
    expired INTEGER NOT NULL DEFAULT 0,
    open INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (lock_key, sku),
    CHECK (released + committed + expired <= qty)
) WITHOUT ROWID;
CREATE INDEX inventory_lines_by_order ON inventory_lock_lines (order_id, locked_us);
CREATE INDEX inventory_lines_due_by_sku ON inventory_lock_lines (sku, expires_us)
    WHERE open = 1;
CREATE INDEX inventory_lines_due ON inventory_lock_lines (expires_us) WHERE open = 1;
CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL);
INSERT INTO schema_version (component, version) VALUES ('inventory', 1);
"""

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def _micros(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _file_of_schema_1(path: Path) -> None:
    """A file the previous release left: CUP received 1 and locked 1 by order A (k1)."""
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA_1)
    expires = _micros(T0 + timedelta(minutes=30))
    conn.executemany(
        "INSERT INTO inventory_entries (entry_id, kind, sku, qty, at_us, actor, reason,"
        " order_id, lock_key, expires_us, ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ("e1", "receive", "CUP", 1, _micros(T0), "clerk", "receive", None, None, None, "PO"),
            ("e2", "lock", "CUP", 1, _micros(T0), "shop", "lock", "A", "k1", expires, None),
            ("e3", "receive", "TEA", 4, _micros(T0), "clerk", "receive", None, None, None, "PO"),
        ],
    )
    conn.executemany(
        "INSERT INTO inventory_balances (sku, on_hand, locked) VALUES (?, ?, ?)",
        [("CUP", 1, 1), ("TEA", 4, 0)],
    )
    conn.execute(
        "INSERT INTO inventory_lock_lines (lock_key, sku, order_id, qty, locked_us, expires_us)"
        " VALUES ('k1', 'CUP', 'A', 1, ?, ?)",
        (_micros(T0), expires),
    )
    conn.commit()
    try:  # the old schema refuses a negative available outright
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE inventory_balances SET on_hand = 0 WHERE sku = 'CUP'")
    finally:
        conn.close()


def test_a_file_of_the_previous_schema_migrates_and_may_then_record_an_oversell(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inventory.db"
    _file_of_schema_1(path)
    store = SQLiteInventoryStore(path)
    assert store.database.schema_version("inventory") == 6
    assert dict(store.balances()) == {"CUP": Balance(1, 1), "TEA": Balance(4, 0)}
    (line,) = store.lock_lines("k1")
    assert (line.order_id, line.qty, line.remaining, line.shipped_unlocked) == ("A", 1, 1, 0)
    assert line.expires_at == T0 + timedelta(minutes=30)
    clock = ManualClock(T0 + timedelta(hours=25))
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)
    assert ledger.verify().ok
    other = ledger.lock("B", {"CUP": 1}, ttl=timedelta(minutes=30))  # A's lock expired
    ledger.commit(other.lock_id)
    late = ledger.commit(LockTokens(SECRET).issue("k1", "A"), {"CUP": 1}, order_id="A")
    assert (late.outcome, late.unlocked, late.oversold) == ("committed", {"CUP": 1}, {"CUP": 1})
    again = SQLiteInventoryStore(path)
    assert again.balance("CUP") == Balance(-1, 0)
    assert again.lock_lines("k1")[0].shipped_unlocked == 1
    report = InventoryLedger(again, secret=SECRET, clock=clock).verify({"A": {"CUP": 1}})
    assert (report.drifts, report.problems, report.mismatches) == ((), (), ())
    assert [(o.sku, o.units) for o in report.oversold] == [("CUP", 1)]
    conn = sqlite3.connect(path)
    try:
        (ddl,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'inventory_balances'"
        ).fetchone()
        with pytest.raises(sqlite3.IntegrityError):  # locked >= 0 still holds
            conn.execute("UPDATE inventory_balances SET locked = -1 WHERE sku = 'TEA'")
    finally:
        conn.close()
    assert "on_hand - locked" not in ddl


def test_what_orders_recorded_is_read_through_its_partial_index(tmp_path: Path) -> None:
    """An ``unrecord_shipped`` reads what its orders recorded from the few receipts that
    name an order, not from every receipt of the ledger: the query the store runs (as
    the connection traces it) is planned through ``inventory_entries_records``."""
    store = SQLiteInventoryStore(tmp_path / "inventory.db")
    ledger = InventoryLedger(store, secret=SECRET, clock=ManualClock(T0))
    ledger.record_shipped({"TEA": 2}, order_id="OLD-1", ref="count")
    traced: list[str] = []
    conn = store.database.connection()
    conn.set_trace_callback(traced.append)
    try:
        ledger.unrecord_shipped({"TEA": 1}, order_id="OLD-1", ref="back")
    finally:
        conn.set_trace_callback(None)
    reads = [sql for sql in traced
             if sql.startswith("SELECT") and "'unrecord_shipped'" in sql and "sum(" in sql]
    assert len(reads) == 1, traced
    plan = conn.execute(f"EXPLAIN QUERY PLAN {reads[0]}").fetchall()
    assert any("inventory_entries_records" in str(step) for step in plan), plan


def test_sqlite_keeps_a_confirmed_line_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "inventory.db"
    clock = ManualClock(T0)
    ledger = InventoryLedger(SQLiteInventoryStore(path), secret=SECRET, clock=clock)
    ledger.receive("TEA", 3, reference="PO-1")
    lock = ledger.lock("A", {"TEA": 2}, ttl=timedelta(minutes=30))
    assert ledger.confirm(lock.lock_id, order_id="A").outcome == "confirmed"
    clock.advance(timedelta(days=30))
    reopened = InventoryLedger(SQLiteInventoryStore(path), secret=SECRET, clock=clock)
    assert reopened.expire_due() == 0
    assert reopened.stock("TEA") == StockLevel("TEA", 3, 2, 1)
    (line,) = reopened.store.lock_lines(LockTokens(SECRET).open(lock.lock_id)[0])
    assert line.expires_at == NEVER
    assert reopened.verify().ok


class _Unscannable(list[LedgerEntry]):
    """A ledger's entries that refuse to be read one by one: an answer that scans
    every entry fails, one from the running tallies does not."""

    def __iter__(self) -> Iterator[LedgerEntry]:
        raise AssertionError("the whole ledger was scanned")


def test_what_an_order_recorded_comes_from_its_tally_not_a_scan_of_the_ledger() -> None:
    """The memory store answers ``recorded_shipped`` from a running tally per order,
    kept where entries are appended (and put back by a block that raises): the answer
    follows record and unrecord without reading every entry of the ledger."""
    repository = MemoryOrderRepository()
    store = MemoryInventoryStore(repository.database)
    ledger = InventoryLedger(store, secret=b"joined-memory-store-0123456789ab",
                             clock=ManualClock(datetime(2026, 2, 16, tzinfo=UTC)))
    ledger.receive("TEA", 10, reference="opening count")
    ledger.receive("POT", 10, reference="opening count")
    store._entries = _Unscannable(store._entries)

    def recorded(*order_ids: str) -> dict[tuple[str, str], int]:
        with store.transaction({"TEA"}) as tx:
            return dict(tx.recorded_shipped(order_ids))

    assert recorded("OLD-1") == {}
    ledger.record_shipped({"TEA": 3, "POT": 1}, order_id="OLD-1", ref="scan-1")
    ledger.record_shipped({"TEA": 2}, order_id="OLD-2", ref="scan-2")
    ledger.ship({"TEA": 1}, order_id="OLD-2", ref="ship-0")  # a shipment records nothing
    assert recorded("OLD-1", "OLD-9") == {("OLD-1", "TEA"): 3, ("OLD-1", "POT"): 1}
    ledger.unrecord_shipped({"TEA": 2}, order_id="OLD-1", ref="ship-1")
    assert recorded("OLD-1", "OLD-2") == {
        ("OLD-1", "TEA"): 1, ("OLD-1", "POT"): 1, ("OLD-2", "TEA"): 2}

    class Abort(Exception):
        pass

    with contextlib.suppress(Abort), repository.atomic():
        ledger.record_shipped({"TEA": 4}, order_id="OLD-3", ref="scan-3")
        ledger.unrecord_shipped({"POT": 1}, order_id="OLD-1", ref="ship-2")
        assert recorded("OLD-1", "OLD-3") == {
            ("OLD-1", "TEA"): 1, ("OLD-1", "POT"): 0, ("OLD-3", "TEA"): 4}
        raise Abort
    assert recorded("OLD-1", "OLD-3") == {("OLD-1", "TEA"): 1, ("OLD-1", "POT"): 1}
    with store.transaction({"TEA"}) as tx:  # the transaction's own entries count too
        tx.append(LedgerEntry("probe-1", EntryKind.UNRECORD_SHIPPED, "TEA", 1,
                              datetime(2026, 2, 16, tzinfo=UTC), order_id="OLD-1"))
        assert dict(tx.recorded_shipped(["OLD-1"])) == {
            ("OLD-1", "TEA"): 0, ("OLD-1", "POT"): 1}
