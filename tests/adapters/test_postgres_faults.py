"""Faults on PostgreSQL: a worker killed with SIGKILL in the middle of
``OrderService.place`` leaves no partial effect, and the placement can simply be retried."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from orderkit import Money, Order, OrderLine
from orderkit.adapters.postgres import PostgresInventoryStore, PostgresOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import OrderService
from orderkit.testing.postgres import fresh_schema

SECRET = b"postgres-faults-secret-0123456789ab"
T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
ORDER = Order(
    order_id="ORD-KILL", channel="tmall", channel_order_id="T-KILL",
    lines=[OrderLine("1", "CUP", 3, Money("45.50", "CNY")),
           OrderLine("2", "TEA", 2, Money("89.00", "CNY"))],
    created_at=T0,
)


class PausingRepository:
    """The PostgreSQL repository, except that ``save`` tells the parent the backend's
    pid and then waits to be killed: before writing the order (the stock is locked
    already) or after (both are written), inside ``place``'s open transaction."""

    def __init__(self, inner: PostgresOrderRepository, when: str, told: Any) -> None:
        self.inner = inner
        self.when = when
        self.told = told

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def save(self, order: Order, expected_version: int | None) -> None:
        if self.when == "after the order is written":
            self.inner.save(order, expected_version)
        pid = self.inner.database.run(
            "backend pid", lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone()
        )
        self.told.send(pid[0])
        time.sleep(600)  # the parent kills this process long before


def _services(dsn: str, schema: str) -> tuple[PostgresOrderRepository, InventoryLedger]:
    repository = PostgresOrderRepository(dsn, schema=schema)
    ledger = InventoryLedger(PostgresInventoryStore(repository.database), secret=SECRET)
    return repository, ledger


def _place_and_hang(dsn: str, schema: str, when: str, told: Any) -> None:
    """The killed worker: its own adapters, a placement that never finishes."""
    repository, ledger = _services(dsn, schema)
    service = OrderService(PausingRepository(repository, when, told),  # type: ignore[arg-type]
                           inventory=ledger)
    service.place(ORDER)


def _effects(dsn: str, schema: str) -> tuple[int, int, int, int]:
    """Orders, lock lines, stock entries past the receipts and pending outbox messages."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        def count(sql: str) -> int:
            row = conn.execute(sql.replace("{s}", f'"{schema}"')).fetchone()
            assert row is not None
            return int(row[0])

        return (
            count("SELECT count(*) FROM {s}.orders"),
            count("SELECT count(*) FROM {s}.inventory_lock_lines"),
            count("SELECT count(*) FROM {s}.inventory_entries WHERE kind <> 'receive'"),
            count("SELECT count(*) FROM {s}.order_outbox"),
        )


def _backend(dsn: str, pid: int) -> tuple[str, bool] | None:
    """The backend's state and whether it holds a transaction id, or ``None`` once gone."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT state, backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = %s",
            (pid,),
        ).fetchone()
    return None if row is None else (str(row[0]), bool(row[1]))


@pytest.mark.parametrize("when", ["before the order is written", "after the order is written"])
def test_a_worker_killed_mid_place_leaves_nothing_and_a_retry_succeeds(
    pg_dsn: str, when: str
) -> None:
    schema = fresh_schema("kill")
    repository, ledger = _services(pg_dsn, schema)
    ledger.receive("CUP", 10, reference="PO-CUP")
    ledger.receive("TEA", 2, reference="PO-TEA")
    repository.close()  # no connection may cross the fork

    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe(duplex=False)
    worker = context.Process(target=_place_and_hang, args=(pg_dsn, schema, when, child_end),
                             daemon=True)
    worker.start()
    assert parent_end.poll(60), "the worker never reached the save"
    backend = parent_end.recv()
    # The kill lands inside the transaction: it is open and has written.
    assert _backend(pg_dsn, backend) == ("idle in transaction", True)
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(10)
    assert worker.exitcode == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while _backend(pg_dsn, backend) is not None:  # the server ends the dead session
        assert time.monotonic() < deadline, "the killed session's backend never ended"
        time.sleep(0.05)

    # Nothing of the placement: no order, no lock line, no stock entry, no message.
    assert _effects(pg_dsn, schema) == (0, 0, 0, 0)
    assert (ledger.stock("CUP").locked, ledger.stock("TEA").locked) == (0, 0)
    assert ledger.verify().ok

    # The retry takes the SKUs' locks the dead session held, and succeeds whole.
    placed = OrderService(repository, inventory=ledger).place(ORDER)
    assert placed.lock_id is not None
    assert repository.get("ORD-KILL").lock_id == placed.lock_id
    assert (ledger.stock("CUP").locked, ledger.stock("TEA").locked) == (3, 2)
    orders, lines, entries, _ = _effects(pg_dsn, schema)
    assert (orders, lines, entries) == (1, 2, 2)
    assert ledger.verify().ok
