"""The memory and SQLite order repositories keep the outbox store contract, and the
retention's."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.lifecycle.ports import OrderRepository
from orderkit.model.errors import StoreError
from orderkit.outbox.messages import OutboxMessage, StoredMessage, message_id
from orderkit.testing.contracts import OutboxRetentionContract, OutboxStoreContract
from orderkit.testing.contracts.orders import split_order
from orderkit.testing.samples import sample_order

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


class _Abort(Exception):
    """Raised by the tests to leave an atomic block."""


class TestMemoryOutboxStore(OutboxStoreContract, OutboxRetentionContract):
    def create_store(self) -> OrderRepository:
        return MemoryOrderRepository()


class TestSQLiteOutboxStore(OutboxStoreContract, OutboxRetentionContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.path = tmp_path / "orders.db"

    def create_store(self) -> OrderRepository:
        return SQLiteOrderRepository(self.path)

    def create_peer(self, store: OrderRepository) -> OrderRepository:
        return SQLiteOrderRepository(self.path)


def _message(order_id: str, index: int = 0, **payload: object) -> OutboxMessage:
    return OutboxMessage(
        message_id=message_id(order_id, "E1", index),
        order_id=order_id,
        topic="event.PaymentReceived",
        payload=payload,
        created_at=T0,
    )


def test_committed_messages_are_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    sent = _message("ORD-1", title="绿茶", lines={"SKU-A": 2})
    SQLiteOrderRepository(path).save(sample_order(), expected_version=None, outbox=(sent,))
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT message_id, order_id, topic, payload, status, attempts FROM order_outbox"
        ).fetchall()
    conn.close()
    payload = '{"lines":{"SKU-A":2},"title":"绿茶"}'  # canonical: compact, keys sorted, UTF-8
    assert rows == [(sent.message_id, "ORD-1", "event.PaymentReceived", payload, "pending", 0)]
    assert SQLiteOrderRepository(path).pending(5) == [StoredMessage(sent)]


def test_a_file_of_the_previous_schema_is_migrated_and_keeps_its_orders(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.db"
    order = sample_order()
    SQLiteOrderRepository(path).save(order, expected_version=None)
    split = split_order("SPLIT", T0)
    SQLiteOrderRepository(path).save(split, expected_version=None)
    with sqlite3.connect(path) as conn:  # make it a file the previous release wrote
        conn.execute("DROP TABLE order_outbox")
        conn.execute("DROP TABLE order_waybills")
        conn.execute("DROP TABLE order_settings")
        for index in ("by_time_in_status", "by_paid_at", "by_created_at", "unscanned",
                      "by_first_shipped", "return_requested", "refund_due", "partly_shipped",
                      "by_ship_due_at", "balance_due"):
            conn.execute(f"DROP INDEX orders_{index}")
        for column in ("return_requested_since", "refund_due_since", "partly_shipped_since",
                       "paid_at", "ship_due_at", "balance_due_since"):
            conn.execute(f"ALTER TABLE orders DROP COLUMN {column}")
        conn.execute("UPDATE schema_version SET version = 2 WHERE component = 'orders'")
    conn.close()
    repository = SQLiteOrderRepository(path)
    assert repository.database.schema_version("orders") == 22
    assert repository.get(order.order_id) == order
    # the partly shipped order is found by when its first parcel left (the index filled)
    assert repository.stale([30], "partly_shipped_since", T0 + timedelta(hours=2), 5) == [split]
    assert repository.find_by_waybill("SF1234567890") == [order]  # the index is filled
    assert repository.pending(5) == []
    changed = attrs.evolve(order, version=order.version + 1)
    repository.save(changed, expected_version=order.version, outbox=(_message("ORD-1"),))
    assert [s.message for s in repository.pending(5)] == [_message("ORD-1")]


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("SELECT message_id FROM order_outbox WHERE status = 'pending' ORDER BY seq LIMIT 10",
         "order_outbox_pending"),
        # the retention's batch: the delivered rows by when they were delivered
        ("DELETE FROM order_outbox WHERE seq IN (SELECT seq FROM order_outbox"
         " WHERE status = 'delivered' AND delivered_us < 0 ORDER BY delivered_us LIMIT 1000)",
         "order_outbox_delivered"),
    ],
)
def test_pending_and_purge_read_through_their_partial_index(
    tmp_path: Path, query: str, index: str
) -> None:
    path = tmp_path / "orders.db"
    SQLiteOrderRepository(path)
    with sqlite3.connect(path) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {query}").fetchall()
    conn.close()
    assert any(index in str(step) for step in plan), plan


def test_driver_errors_become_store_errors_naming_the_operation(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    repository = SQLiteOrderRepository(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE order_outbox")
    conn.close()
    with pytest.raises(StoreError) as caught:
        repository.pending(5)
    assert caught.value.operation == "read pending outbox messages"
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    with pytest.raises(StoreError) as caught:
        repository.save(sample_order(), expected_version=None, outbox=(_message("ORD-1"),))
    assert caught.value.operation == "save order"
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    with pytest.raises(StoreError) as caught:
        repository.mark_delivered(["m"], T0)
    assert caught.value.operation == "mark outbox messages delivered"


def test_messages_join_an_atomic_block_of_another_adapter_on_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    one, two = SQLiteOrderRepository(path), SQLiteOrderRepository(path)
    m1, m2 = _message("ORD-1"), _message("ORD-2")
    with contextlib.suppress(_Abort), one.atomic():
        one.save(sample_order("ORD-1"), None, outbox=(m1,))
        two.save(sample_order("ORD-2"), None, outbox=(m2,))
        raise _Abort
    assert two.pending(5) == []
    with one.atomic():
        one.save(sample_order("ORD-1"), None, outbox=(m1,))
        two.save(sample_order("ORD-2"), None, outbox=(m2,))
        assert [s.message for s in two.pending(5)] == [m1, m2]
    assert [s.message for s in one.pending(5)] == [m1, m2]
