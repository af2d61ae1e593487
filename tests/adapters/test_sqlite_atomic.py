"""SQLite adapters on one file share one transaction: an order and its stock commit
together, or neither does."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderkit import Money, Order, OrderLine
from orderkit.adapters.sqlite import Database, SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.errors import DuplicateOrder, InsufficientStock, StoreError
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.outbox import OutboxRelay
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
SECRET = b"atomic-secret-0123456789"


def _order(order_id: str, channel_order_id: str, cups: int = 2) -> Order:
    return Order(
        order_id=order_id, channel="tmall", channel_order_id=channel_order_id,
        lines=[OrderLine("1", "CUP", cups, Money("45.50", "CNY"))], created_at=T0,
    )


def _shop(path: Path) -> tuple[SQLiteOrderRepository, InventoryLedger, OrderService]:
    clock = ManualClock(T0)
    repository = SQLiteOrderRepository(path)
    ledger = InventoryLedger(SQLiteInventoryStore(path), secret=SECRET, clock=clock)
    return repository, ledger, OrderService(repository, inventory=ledger, clock=clock)


def test_a_placement_refused_by_the_repository_leaves_no_lock(tmp_path: Path) -> None:
    _repository, ledger, service = _shop(tmp_path / "shop.db")
    ledger.receive("CUP", 5, reference="PO-1")
    service.place(_order("ORD-1", "T1"))
    with pytest.raises(DuplicateOrder):
        service.place(_order("ORD-2", "T1"))  # the same marketplace order again
    level = ledger.stock("CUP")
    assert (level.on_hand, level.locked, level.available) == (5, 2, 3)
    assert ledger.occupancy("ORD-2") == ()
    assert [entry.kind.value for entry in ledger.entries()] == ["receive", "lock"]


def test_a_block_that_raises_undoes_the_order_and_its_stock(tmp_path: Path) -> None:
    repository, ledger, _service = _shop(tmp_path / "shop.db")
    ledger.receive("CUP", 5, reference="PO-1")

    def place_then_die() -> None:
        with repository.atomic():
            ledger.lock("ORD-1", {"CUP": 2}, ttl=timedelta(hours=1))
            repository.save(_order("ORD-1", "T1"), expected_version=None)
            raise RuntimeError("the process dies before the commit")

    with pytest.raises(RuntimeError):
        place_then_die()
    assert ledger.stock("CUP").available == 5
    assert repository.find_by_channel("tmall", "T1") is None
    assert ledger.verify().ok


def test_a_refused_stock_call_inside_the_block_keeps_the_order(tmp_path: Path) -> None:
    repository, ledger, _service = _shop(tmp_path / "shop.db")
    ledger.receive("CUP", 1, reference="PO-1")
    with repository.atomic():
        repository.save(_order("ORD-1", "T1"), expected_version=None)
        with pytest.raises(InsufficientStock):
            ledger.lock("ORD-1", {"CUP": 2}, ttl=timedelta(hours=1))
    assert repository.get("ORD-1").order_id == "ORD-1"
    assert ledger.stock("CUP").available == 1
    assert ledger.verify().ok


def test_a_relay_batch_applies_its_stock_and_marks_it_in_one_commit(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    clock = ManualClock(T0)
    repository = SQLiteOrderRepository(path)
    ledger = InventoryLedger(SQLiteInventoryStore(path), secret=SECRET, clock=clock)
    service = OrderService(repository, inventory=ledger, clock=clock, deliver=False)
    ledger.receive("CUP", 20, reference="PO-1")
    at = T0 + timedelta(minutes=5)
    for n in range(4):
        order_id = f"ORD-{n}"
        service.place(_order(order_id, f"T{n}"))
        paid = {"amount": Money("91.00", "CNY")}
        service.handle(order_id, Event("pay", event_id=f"p{n}", at=at, data=paid))
        shipped = {"carrier": "SF", "waybill": f"SF{n}"}
        service.handle(order_id, Event("ship", event_id=f"s{n}", at=at, data=shipped))
    assert ledger.stock("CUP").on_hand == 20  # owed, not yet applied
    commits: list[str] = []
    repository.database.connection().set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
    )
    report = OutboxRelay(repository, inventory=ledger, clock=clock).run_once(limit=100)
    assert (report.delivered, report.failed) == (8, 0)  # 4 confirmations, 4 shipments
    assert commits == ["COMMIT"]
    assert ledger.stock("CUP").on_hand == 12
    assert repository.pending(10) == []


def test_two_adapter_objects_on_one_file_never_wait_for_each_other(tmp_path: Path) -> None:
    # Separate objects, one thread: the inner write joins the outer transaction instead
    # of waiting for the write lock the outer one holds.
    path = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(path)
    other = SQLiteOrderRepository(path)
    done = threading.Event()

    def nested() -> None:
        with repository.atomic():
            other.save(_order("ORD-1", "T1"), expected_version=None)
        done.set()

    worker = threading.Thread(target=nested, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert done.is_set()
    assert repository.get("ORD-1").order_id == "ORD-1"


def test_the_strongest_durability_asked_for_a_file_wins(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    fast = Database(path, durable=False)
    assert fast.connection().execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    SQLiteOrderRepository(path)  # durable by default
    assert fast.connection().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_driver_error_inside_a_savepoint_is_a_store_error(tmp_path: Path) -> None:
    database = Database(tmp_path / "x.db")

    def insert_twice() -> None:
        with database.write("inner") as inner:
            inner.execute("INSERT INTO t VALUES (1)")
            inner.execute("INSERT INTO t VALUES (1)")

    with database.write("outer") as conn:
        conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
        with pytest.raises(StoreError) as caught:
            insert_twice()
        assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    assert database.connection().execute("SELECT count(*) FROM t").fetchone()[0] == 0
