"""PostgreSQL adapters beyond the contracts: the host's transaction, pools, dropped
connections, deadlocks, schema versions and the relay's reading order, on a real server."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import attrs
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from orderkit import Money, Order, OrderLine, OrderStatus, Shipment
from orderkit.adapters.postgres import (
    Database,
    PostgresIdempotencyStore,
    PostgresInventoryStore,
    PostgresOrderRepository,
    PostgresReconIdSequence,
    upgrade,
)
from orderkit.cli import EXIT_FILE, EXIT_OK, main
from orderkit.errors import (
    ConcurrencyError,
    DuplicateOrder,
    OrderNotFound,
    StoreError,
    ValidationError,
)
from orderkit.inventory import Balance, EntryKind, InventoryLedger, LedgerEntry
from orderkit.lifecycle import OrderService
from orderkit.model.audit import AuditEntry
from orderkit.model.orders import Address
from orderkit.outbox import OutboxMessage, OutboxRelay, message_id
from orderkit.testing import ManualClock
from orderkit.testing.contracts.orders import after_sale_order, split_order
from orderkit.testing.postgres import fresh_schema

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
SECRET = b"postgres-adapters-secret-0123456789"


def _order(order_id: str, cups: int = 2) -> Order:
    return Order(
        order_id=order_id, channel="tmall", channel_order_id=f"T-{order_id}",
        lines=[OrderLine("1", "CUP", cups, Money("45.50", "CNY"))], created_at=T0,
    )


def _message(order_id: str, event: str) -> OutboxMessage:
    return OutboxMessage(
        message_id=message_id(order_id, event, 0), order_id=order_id,
        topic="event.Test", payload={"event": event}, created_at=T0,
    )


@pytest.fixture
def schema() -> str:
    return fresh_schema()


@pytest.fixture
def host(pg_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """The host application's own connection, as an ERP would hold it (no autocommit)."""
    with psycopg.connect(pg_dsn) as conn:
        yield conn


def _others(dsn: str) -> int:
    """Terminate every other client session on the server; how many there were."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
    return len(rows)


# --- the host's transaction ----------------------------------------------------------------


def test_orderkit_writes_commit_and_roll_back_with_the_hosts_transaction(
    pg_dsn: str, schema: str, host: psycopg.Connection[tuple[object, ...]]
) -> None:
    host.execute(f"CREATE TABLE {schema}_invoices (order_id text PRIMARY KEY, total numeric)")
    host.commit()
    repository = PostgresOrderRepository(host, schema=schema)
    ledger = InventoryLedger(
        PostgresInventoryStore(repository.database), secret=SECRET, clock=ManualClock(T0)
    )
    ledger.receive("CUP", 5, reference="PO-1")
    host.commit()  # the host decides when the receipt commits
    service = OrderService(repository, inventory=ledger, clock=ManualClock(T0), deliver=False)

    # The host writes its own table, orderkit places an order in the same transaction,
    # and the host rolls back: nothing of either is left.
    host.execute(f"INSERT INTO {schema}_invoices VALUES ('ORD-1', 91.00)")
    service.place(_order("ORD-1"))
    assert repository.get("ORD-1").lock_id is not None  # visible inside the transaction
    host.rollback()
    observer = PostgresOrderRepository(pg_dsn, schema=schema)
    with pytest.raises(OrderNotFound):
        observer.get("ORD-1")
    assert list(observer.pending(10)) == []
    assert host.execute(f"SELECT count(*) FROM {schema}_invoices").fetchone() == (0,)
    store = PostgresInventoryStore(pg_dsn, schema=schema)
    assert (store.balance("CUP").on_hand, store.balance("CUP").locked) == (5, 0)

    # The same again, committed: both are there, with the order's audit and outbox.
    host.execute(f"INSERT INTO {schema}_invoices VALUES ('ORD-1', 91.00)")
    service.place(_order("ORD-1"))
    assert observer.pending(10) == []  # not committed yet: no other session sees it
    host.commit()
    assert observer.get("ORD-1").lock_id is not None
    assert host.execute(f"SELECT total FROM {schema}_invoices").fetchone() == (
        pytest.approx(91),
    )
    assert (store.balance("CUP").on_hand, store.balance("CUP").locked) == (5, 2)
    assert ledger.verify().ok


def test_a_refused_call_inside_the_hosts_transaction_keeps_it_usable(
    pg_dsn: str, schema: str, host: psycopg.Connection[tuple[object, ...]]
) -> None:
    repository = PostgresOrderRepository(host, schema=schema)
    host.commit()
    host.execute("SELECT 1")  # the host's transaction is open
    repository.save(_order("ORD-1"), expected_version=None)

    def refused() -> None:
        with repository.atomic():
            repository.database.run("break", lambda conn: conn.execute("SELECT 1/0"))

    with pytest.raises(StoreError):  # a refused statement, undone to orderkit's savepoint
        refused()
    repository.save(_order("ORD-2"), expected_version=None)
    host.commit()
    observer = PostgresOrderRepository(pg_dsn, schema=schema)
    assert [observer.get(o).order_id for o in ("ORD-1", "ORD-2")] == ["ORD-1", "ORD-2"]


def test_a_call_on_the_hosts_aborted_transaction_says_to_roll_it_back_first(
    pg_dsn: str, schema: str, host: psycopg.Connection[tuple[object, ...]]
) -> None:
    repository = PostgresOrderRepository(host, schema=schema)
    ledger = InventoryLedger(
        PostgresInventoryStore(repository.database), secret=SECRET, clock=ManualClock(T0)
    )
    ledger.receive("CUP", 5, reference="PO-1")
    host.commit()
    service = OrderService(repository, inventory=ledger, clock=ManualClock(T0), deliver=False)
    with pytest.raises(psycopg.errors.DivisionByZero):
        host.execute("SELECT 1/0")  # a host statement failed: its transaction is aborted
    for call in (lambda: service.place(_order("ORD-1")),
                 lambda: repository.find_by_channel("tmall", "T-ORD-1")):
        with pytest.raises(StoreError) as refused:
            call()
        text = str(refused.value)
        assert "transaction is aborted" in text and "roll it back" in text, text
        assert "does not exist" not in text
    host.rollback()
    assert repository.find_by_channel("tmall", "T-ORD-1") is None  # nothing was written
    assert service.place(_order("ORD-1")).lock_id is not None  # rolled back: it works
    host.commit()
    assert (ledger.stock("CUP").on_hand, ledger.stock("CUP").locked) == (5, 2)


def test_tables_created_in_a_hosts_transaction_it_rolls_back_are_created_again(
    pg_dsn: str, schema: str, host: psycopg.Connection[tuple[object, ...]]
) -> None:
    # The host's first orderkit call creates the tables inside its open transaction, then
    # the host rolls back for its own reasons: the tables are gone with it.
    host.execute("SELECT 1")  # the host's transaction is open
    repository = PostgresOrderRepository(host, schema=schema)
    ledger = InventoryLedger(
        PostgresInventoryStore(repository.database), secret=SECRET, clock=ManualClock(T0)
    )
    ledger.receive("CUP", 5, reference="PO-1")
    host.rollback()
    tables = f"SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}'"
    assert host.execute(tables).fetchone() == (0,)
    host.rollback()

    # The next call of each adapter creates its tables again, and so does a new adapter.
    assert ledger.receive("CUP", 5, reference="PO-2").on_hand == 5
    with pytest.raises(OrderNotFound):
        repository.get("ORD-1")
    repository.save(_order("ORD-1"), expected_version=None)
    host.rollback()
    again = PostgresOrderRepository(host, schema=schema)
    again.save(_order("ORD-1"), expected_version=None)
    assert ledger.receive("CUP", 3, reference="PO-3").on_hand == 3
    host.commit()  # this time the host commits: the tables and the rows stay

    assert repository.get("ORD-1").order_id == "ORD-1"
    host.commit()
    later = f"{pg_dsn} application_name=another-process"
    assert PostgresOrderRepository(later, schema=schema).get("ORD-1").order_id == "ORD-1"
    assert PostgresInventoryStore(later, schema=schema).balance("CUP") == Balance(3, 0)


def test_building_adapters_on_the_hosts_idle_connection_leaves_it_idle(
    pg_dsn: str, schema: str, host: psycopg.Connection[tuple[object, ...]]
) -> None:
    # A host on REPEATABLE READ builds its adapters at start-up, with no transaction
    # open. The schema check (which creates the tables here) is orderkit's own
    # transaction, committed: the host's snapshot is not fixed when it built them.
    host.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    host.commit()
    idle = psycopg.pq.TransactionStatus.IDLE
    repository = PostgresOrderRepository(host, schema=schema)
    assert host.info.transaction_status == idle
    PostgresInventoryStore(repository.database)
    PostgresIdempotencyStore(repository.database)
    assert host.info.transaction_status == idle
    again = PostgresOrderRepository(host, schema=schema)  # tables there: a read only
    assert host.info.transaction_status == idle
    assert Database(pg_dsn, schema=schema).schema_version("orders") > 0  # committed

    # Another server places an order after the host built its adapters: the host's
    # next transaction sees it.
    OrderService(PostgresOrderRepository(pg_dsn, schema=schema), clock=ManualClock(T0)).place(
        _order("ORD-1")
    )
    assert again.get("ORD-1").order_id == "ORD-1"
    assert host.info.transaction_status != idle  # a call joins (opens) the host's own
    host.rollback()


# --- pools ---------------------------------------------------------------------------------


def test_a_failed_inventory_transaction_inside_a_block_leaves_none_of_its_writes(
    pg_dsn: str, schema: str
) -> None:
    """The inventory transaction's savepoint is sent with its first write, not before:
    when it fails after writing, inside a block that goes on, its writes are undone and
    the block's own writes commit."""
    repository = PostgresOrderRepository(pg_dsn, schema=schema)
    store = PostgresInventoryStore(repository.database)
    receipt = LedgerEntry("E-1", EntryKind.RECEIVE, "CUP", 5, T0, "system", "receive",
                          ref="PO-1")

    def write_then_fail() -> None:
        with store.transaction(["CUP"]) as tx:
            tx.append(receipt)
            assert tx.lock_lines("no-such-lock") == ()  # a read: the receipt is written
            assert store.database.run("seen", lambda conn: conn.execute(
                f"SELECT count(*) FROM {schema}.inventory_entries").fetchone()) == (1,)
            raise RuntimeError("the host's check fails after the write")

    with repository.atomic():
        with pytest.raises(RuntimeError):
            write_then_fail()
        with store.transaction(["TEA"]) as tx:  # a read only: no savepoint at all
            assert tx.balance("TEA") == Balance(0, 0)
        repository.save(_order("ORD-1"), None)
    assert repository.get("ORD-1").order_id == "ORD-1"  # the block committed
    assert store.balance("CUP") == Balance(0, 0) and store.entry("E-1") is None


def test_adapters_on_one_pool_share_a_transaction(pg_dsn: str, schema: str) -> None:
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, open=True) as pool:
        repository = PostgresOrderRepository(pool, schema=schema)
        ledger = InventoryLedger(
            PostgresInventoryStore(pool, schema=schema), secret=SECRET, clock=ManualClock(T0)
        )
        ledger.receive("CUP", 3, reference="PO-1")

        def give_up() -> None:
            with repository.atomic():
                ledger.lock("ORD-1", {"CUP": 2}, ttl=timedelta(hours=1))
                repository.save(_order("ORD-1"), expected_version=None)
                raise RuntimeError("the host gives up before the commit")

        with pytest.raises(RuntimeError):
            give_up()
        assert (ledger.stock("CUP").locked, ledger.stock("CUP").available) == (0, 3)
        with pytest.raises(OrderNotFound):
            repository.get("ORD-1")
        service = OrderService(repository, inventory=ledger, clock=ManualClock(T0))
        service.place(_order("ORD-1"))
        assert ledger.stock("CUP").locked == 2
        assert ledger.verify().ok


# --- failures ------------------------------------------------------------------------------


def test_a_dropped_connection_is_a_store_error_and_the_next_call_works(
    pg_dsn: str, schema: str
) -> None:
    dsn = f"{pg_dsn} application_name=dropped"  # a source of its own: a fresh connection
    repository = PostgresOrderRepository(dsn, schema=schema)
    repository.save(_order("ORD-1"), expected_version=None)
    assert _others(pg_dsn) >= 1  # the server ends the session between two calls
    with pytest.raises(StoreError) as caught:
        repository.get("ORD-1")
    assert "connection" in str(caught.value)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    assert repository.get("ORD-1").order_id == "ORD-1"  # a retry succeeds

    # Mid-transaction: the block fails whole, nothing of it is kept, a retry succeeds.
    def dropped_mid_block() -> None:
        with repository.atomic():
            repository.save(_order("ORD-2"), expected_version=None)
            _others(pg_dsn)
            repository.save(_order("ORD-3"), expected_version=None)

    with pytest.raises(StoreError):
        dropped_mid_block()
    with pytest.raises(OrderNotFound):
        repository.get("ORD-2")
    repository.save(_order("ORD-2"), expected_version=None)
    assert repository.get("ORD-2").order_id == "ORD-2"


def test_a_deadlock_is_run_again_when_orderkit_owns_the_transaction(
    pg_dsn: str, schema: str
) -> None:
    """Two transactions update rows 1 and 2 in opposite orders. The steps are ordered by
    the test, not by timing: each first updates its own row; then the first asks for the
    other's row, and only once the server shows it waiting for that lock does the second
    ask for the first's row, closing the cycle. The server kills one of them (40P01) and
    ``Database.run`` runs it again, which then simply waits its turn."""
    db = Database(pg_dsn, schema=schema)
    db.run("setup", lambda conn: conn.execute(
        f"CREATE TABLE {schema}_pair (id int PRIMARY KEY, n int);"
        f" INSERT INTO {schema}_pair VALUES (1, 0), (2, 0)"
    ))
    holding = {1: threading.Event(), 2: threading.Event()}
    go = {1: threading.Event(), 2: threading.Event()}
    backends: dict[int, int] = {}
    runs: list[int] = []
    errors: list[BaseException] = []

    def work(first: int, second: int) -> None:
        def body(conn: psycopg.Connection[tuple[object, ...]]) -> None:
            runs.append(first)
            conn.execute(f"UPDATE {schema}_pair SET n = n + 1 WHERE id = %s", (first,))
            if not holding[first].is_set():  # the first attempt: wait for the test's turn
                row = conn.execute("SELECT pg_backend_pid()").fetchone()
                assert row is not None
                backends[first] = int(row[0])
                holding[first].set()
                assert go[first].wait(timeout=120)
            conn.execute(f"UPDATE {schema}_pair SET n = n + 1 WHERE id = %s", (second,))

        try:
            Database(pg_dsn, schema=schema).run("cross update", body)
        except BaseException as error:  # reported by the test's own thread
            errors.append(error)

    def waiting_for_a_lock(pid: int) -> bool:
        row = db.run("watch", lambda conn: conn.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone())
        return row is not None and row[0] == "Lock"

    threads = [threading.Thread(target=work, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    assert holding[1].wait(timeout=120) and holding[2].wait(timeout=120)
    go[1].set()  # the first asks for row 2, held by the second, and waits
    deadline = time.monotonic() + 120
    while not waiting_for_a_lock(backends[1]):
        assert time.monotonic() < deadline, "the first transaction never waited for row 2"
        time.sleep(0.01)
    go[2].set()  # the second asks for row 1: a cycle the server must break
    for thread in threads:
        thread.join(timeout=180)
        assert not thread.is_alive()
    assert errors == []
    # One of the two was chosen as the deadlock victim and run again (at least once: on
    # a loaded machine a run again can be chosen once more); each run's writes count
    # once, as the rows show.
    assert len(runs) >= 3
    rows = db.run("read", lambda conn: conn.execute(
        f"SELECT n FROM {schema}_pair ORDER BY id").fetchall())
    assert rows == [(2,), (2,)]


def test_a_deadlock_inside_the_callers_block_is_not_run_again(pg_dsn: str, schema: str) -> None:
    db = Database(pg_dsn, schema=schema)
    with pytest.raises(StoreError) as caught, db.transaction("host block") as conn:
        db.run("inner", lambda c: c.execute(
            "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END $$"))
    assert conn is not None
    assert "may be run again" in str(caught.value)


# --- schema versions -----------------------------------------------------------------------


def test_orders_stored_by_the_previous_schema_are_found_by_the_watch_and_by_waybill(
    pg_dsn: str, schema: str
) -> None:
    repository = PostgresOrderRepository(pg_dsn, schema=schema)
    parcel = Shipment("S1", "SF", "SF77", {"1": 2}, shipped_at=T0)
    shipped = attrs.evolve(_order("ORD-1"), status=OrderStatus.SHIPPED, status_since=T0,
                           shipments=(parcel,))
    repository.save(shipped, None)
    for order_id, steps in [("ASKED", 1), ("OWED", 2)]:
        repository.save(after_sale_order(order_id, T0, steps), None)
    for order_id, rest in [("SPLIT", ""), ("SENT", "ship")]:
        repository.save(split_order(order_id, T0 + timedelta(days=2), rest), None)
    # placed already PAID by an importer, without a paid_at: paid since it was placed
    imported = attrs.evolve(_order("IMPORTED"), status=OrderStatus.PAID, paid_at=None,
                            status_since=None, shipments=())
    repository.save(imported, None)
    with psycopg.connect(pg_dsn, autocommit=True) as admin:  # the previous release's file
        admin.execute(f"DROP TABLE {schema}.order_waybills")
        admin.execute(f"DROP TABLE {schema}.order_settings")
        admin.execute(f"DROP INDEX {schema}.order_outbox_delivered")
        admin.execute(f"ALTER TABLE {schema}.order_outbox DROP COLUMN consumer,"
                      " DROP COLUMN occurred_at, DROP COLUMN order_version,"
                      " DROP COLUMN message_index")
        admin.execute(
            f"ALTER TABLE {schema}.orders DROP COLUMN status_since, DROP COLUMN paid_at,"
            " DROP COLUMN created_at, DROP COLUMN unscanned_since,"
            " DROP COLUMN first_shipped_at, DROP COLUMN return_requested_since,"
            " DROP COLUMN refund_due_since, DROP COLUMN partly_shipped_since,"
            " DROP COLUMN ship_due_at, DROP COLUMN balance_due_since"
        )
        admin.execute(
            f"UPDATE {schema}.schema_version SET version = 1 WHERE component = 'orders'"
        )
    later = PostgresOrderRepository(f"{pg_dsn} application_name=after-upgrade", schema=schema)
    assert later.find_by_waybill("SF77") == [shipped]
    assert later.stale([OrderStatus.SHIPPED], "unscanned_since", T0 + timedelta(minutes=6),
                       5) == [shipped]
    assert [s.order_id for s in later.first_scans(T0, T0 + timedelta(days=1))] == [
        "ASKED", "ORD-1", "OWED"]
    done = [OrderStatus.COMPLETED]
    assert [o.order_id for o in later.stale(done, "return_requested_since",
                                            T0 + timedelta(days=9), 5)] == ["ASKED"]
    assert [o.order_id for o in later.stale(done, "refund_due_since",
                                            T0 + timedelta(days=9), 5)] == ["OWED"]
    # SPLIT's cup still waits; SENT's left too (ORD-1 was stored as SHIPPED by hand, its
    # line still open: partly shipped since its parcel left)
    assert [o.order_id for o in later.stale([OrderStatus.SHIPPED], "partly_shipped_since",
                                            T0 + timedelta(days=9), 5)] == ["ORD-1", "SPLIT"]
    assert [o.order_id for o in later.stale([OrderStatus.PAID], "paid_at",
                                            imported.created_at + timedelta(hours=25),
                                            5)] == ["IMPORTED"]


def test_a_schema_newer_than_this_orderkit_is_refused(pg_dsn: str, schema: str) -> None:
    PostgresOrderRepository(pg_dsn, schema=schema)
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(
            f"UPDATE {schema}.schema_version SET version = 99 WHERE component = 'orders'"
        )
    later = f"{pg_dsn} application_name=another-process"  # no memory of the first check
    with pytest.raises(StoreError) as caught:
        PostgresOrderRepository(later, schema=schema)
    assert "version 99" in str(caught.value) and "upgrade orderkit" in str(caught.value)
    assert main(["db", "upgrade", "--dsn", later, "--schema", schema]) == EXIT_FILE


def test_db_upgrade_creates_every_table_once(
    pg_dsn: str, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade", "--dsn", pg_dsn, "--schema", schema]) == EXIT_OK
    first = capsys.readouterr().out
    assert f"{schema}.orders: version 16 (migrated from 0)" in first
    assert upgrade(pg_dsn, schema=schema) == {
        "orders": (16, 16), "inventory": (5, 5), "idempotency": (1, 1), "recon_sequences": (1, 1),
        "sync": (2, 2), "watch": (2, 2),
    }
    # The adapters find their tables ready.
    PostgresIdempotencyStore(pg_dsn, schema=schema)
    assert PostgresReconIdSequence(pg_dsn, schema=schema).next_value("SO", T0.date()) == 1


def test_upgrades_run_together_report_one_migration_per_component(
    pg_dsn: str, schema: str
) -> None:
    # Six deploy scripts upgrading a fresh schema at once, each as its own process would
    # (its own connection, no memory of the others): exactly one of them migrated each
    # component, and the others found it up to date.
    start = threading.Barrier(6)
    reports: list[dict[str, tuple[int, int]]] = []

    def deploy(n: int) -> None:
        start.wait()
        reports.append(upgrade(f"{pg_dsn} application_name=deploy-{n}", schema=schema))

    threads = [threading.Thread(target=deploy, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reports) == 6
    for component, (_before, after) in reports[0].items():
        befores = sorted(report[component][0] for report in reports)
        assert befores == [0] + [after] * 5, component


def test_bad_sources_and_schema_names_are_refused_naming_the_field(pg_dsn: str) -> None:
    from orderkit.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        PostgresOrderRepository(42)
    assert caught.value.path == "source"
    with pytest.raises(ValidationError) as caught:
        PostgresOrderRepository(pg_dsn, schema="Robert'); DROP TABLE orders;--")
    assert caught.value.path == "schema"
    store = PostgresInventoryStore(pg_dsn, schema=fresh_schema())
    with pytest.raises(ValidationError) as caught, store.transaction({"TEA", 7}):  # type: ignore[arg-type]
        pass
    assert (caught.value.path, caught.value.value) == ("skus", 7)


def test_without_psycopg_the_error_names_the_extra() -> None:
    code = (
        "import sys, json\n"
        "sys.modules['psycopg'] = None\n"
        "import orderkit.adapters.postgres as pg\n"
        "try:\n"
        "    pg.PostgresOrderRepository\n"
        "except ImportError as error:\n"
        "    from orderkit.errors import OrderkitError\n"
        "    print(json.dumps([isinstance(error, OrderkitError), str(error)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    is_orderkit, text = json.loads(out.stdout)
    assert is_orderkit
    assert 'pip install "orderkit[postgres]"' in text


# --- the relay reads in commit order -------------------------------------------------------


def test_the_relay_never_passes_over_a_message_that_commits_late(
    pg_dsn: str, schema: str
) -> None:
    relay_store = PostgresOrderRepository(pg_dsn, schema=schema)
    delivered: list[str] = []

    class Sink:
        def publish(self, events: object) -> None:
            delivered.extend(m.message_id for m in events)  # type: ignore[attr-defined]

    relay = OutboxRelay(relay_store, sink=Sink(), clock=ManualClock(T0))
    with psycopg.connect(pg_dsn) as a, psycopg.connect(pg_dsn) as b:
        writer_a = PostgresOrderRepository(a, schema=schema)
        writer_b = PostgresOrderRepository(b, schema=schema)
        a.commit()
        b.commit()
        # A saves first (its message gets the lower number) but commits last.
        writer_a.save(_order("ORD-A"), None, outbox=[_message("ORD-A", "E1")])
        writer_b.save(_order("ORD-B"), None, outbox=[_message("ORD-B", "E1")])
        b.commit()
        assert relay_store.get("ORD-B").order_id == "ORD-B"  # B is committed and visible
        # B's message waits behind A's open transaction instead of overtaking it.
        assert relay_store.pending(10) == []
        assert relay.run_once().delivered == 0
        # Meanwhile a third writer commits; A is still open.
        writer_b.save(_order("ORD-C"), None, outbox=[_message("ORD-C", "E1")])
        b.commit()
        assert relay.run_once().delivered == 0
        a.commit()
    report = relay.run_until_idle()
    expected = [message_id(o, "E1", 0) for o in ("ORD-A", "ORD-B", "ORD-C")]
    assert delivered == expected  # each once, none passed over
    assert report.delivered == 3
    assert relay_store.pending(10) == []
    assert relay.run_until_idle().delivered == 0


def test_one_orders_messages_keep_the_order_of_its_saves(pg_dsn: str, schema: str) -> None:
    """A transaction that got its id early but saves on top of a later one's commit
    still comes after it."""
    store = PostgresOrderRepository(pg_dsn, schema=schema)
    store.save(_order("ORD-1"), None)
    with psycopg.connect(pg_dsn) as early, psycopg.connect(pg_dsn) as late:
        early.execute("SELECT pg_current_xact_id()")  # the older transaction id
        first = PostgresOrderRepository(late, schema=schema)
        order = first.get("ORD-1")
        v2 = attrs.evolve(order, version=order.version + 1)
        first.save(v2, order.version, outbox=[_message("ORD-1", "v2")])
        late.commit()
        second = PostgresOrderRepository(early, schema=schema)
        v3 = attrs.evolve(v2, version=v2.version + 1)
        second.save(v3, v2.version, outbox=[_message("ORD-1", "v3")])
        early.commit()
    assert [s.message.payload["event"] for s in store.pending(10)] == ["v2", "v3"]



# --- one statement per save ------------------------------------------------------------------


def _entry(order_id: str, event_id: str, event: str = "pay") -> AuditEntry:
    return AuditEntry(order_id, event_id, event, "cs-1", T0, T0, 10, 20, "applied", (), "",
                      None)


def test_a_save_that_changes_the_channel_order_writes_all_or_nothing(
    pg_dsn: str, schema: str
) -> None:
    """The save's one statement expects the stored channel order; a changed one is
    checked for another holder first, and a refused save writes no row beside it."""
    repository = PostgresOrderRepository(pg_dsn, schema=schema)
    first, other = _order("ORD-1"), _order("ORD-2")
    repository.save(first, None)
    repository.save(other, None)
    renamed = attrs.evolve(first, channel_order_id="T-NEW", version=first.version + 1)
    repository.save(renamed, first.version, audit=[_entry("ORD-1", "E1")],
                    outbox=[_message("ORD-1", "E1")])
    assert repository.find_by_channel("tmall", "T-NEW") == renamed
    assert repository.find_by_channel("tmall", first.channel_order_id) is None

    taken = attrs.evolve(renamed, channel_order_id=other.channel_order_id,
                         version=renamed.version + 1)
    with repository.atomic():
        with pytest.raises(DuplicateOrder):
            repository.save(taken, renamed.version, audit=[_entry("ORD-1", "E2")],
                            outbox=[_message("ORD-1", "E2")])
        later = attrs.evolve(renamed, version=renamed.version + 1)
        repository.save(later, renamed.version, audit=[_entry("ORD-1", "E3")])
    assert repository.get("ORD-1") == later
    assert [e.event_id for e in repository.audit_trail("ORD-1")] == ["E1", "E3"]
    assert [s.message.payload["event"] for s in repository.pending(10)] == ["E1"]
    assert repository.find_by_channel("tmall", other.channel_order_id) == other


def test_an_address_change_inside_a_block_writes_each_row_once(
    pg_dsn: str, schema: str
) -> None:
    """The statement first expects the address unchanged; told otherwise, it runs again
    with the address version, and the audit entries and messages are written once, in
    their order."""
    repository = PostgresOrderRepository(pg_dsn, schema=schema)
    order = attrs.evolve(_order("ORD-1"), ship_to=Address(name="王*", province="浙江省",
                                                             city="杭州市"))
    repository.save(order, None)
    moved = Address(name="李*", province="江苏省", city="南京市")
    changed = attrs.evolve(order, ship_to=moved, version=order.version + 1)
    entries = [_entry("ORD-1", "E1", "change_address"), _entry("ORD-1", "E2")]
    with repository.atomic():
        repository.save(changed, order.version, audit=entries,
                        outbox=[_message("ORD-1", "E1"), _message("ORD-1", "E2")])
        again = attrs.evolve(changed, version=changed.version + 1)
        repository.save(again, changed.version, outbox=[_message("ORD-1", "E3")])
    (version,) = repository.address_history("ORD-1")
    assert (version.previous, version.address, version.event_id) == (order.ship_to, moved, "E1")
    assert repository.audit_trail("ORD-1") == entries
    assert [s.message.payload["event"] for s in repository.pending(10)] == ["E1", "E2", "E3"]
    assert repository.get("ORD-1") == again


def test_a_taken_message_id_is_refused_after_a_stale_version_and_writes_nothing(
    pg_dsn: str, schema: str
) -> None:
    """The unique index refuses a stored message id; the save then says what a save that
    checked first would: a stale version before a taken id, and nothing is written."""
    repository = PostgresOrderRepository(pg_dsn, schema=schema)
    order = _order("ORD-1")
    repository.save(order, None, outbox=[_message("ORD-1", "E1")])
    nxt = attrs.evolve(order, version=order.version + 1)
    reused = [_message("ORD-1", "E2"), _message("ORD-1", "E1")]
    stale = attrs.evolve(order, version=order.version + 6)
    with pytest.raises(ConcurrencyError):
        repository.save(stale, order.version + 5, audit=[_entry("ORD-1", "E2")], outbox=reused)
    with repository.atomic():
        with pytest.raises(ValidationError) as refused:
            repository.save(nxt, order.version, audit=[_entry("ORD-1", "E2")], outbox=reused)
        repository.save(nxt, order.version, outbox=[_message("ORD-1", "E3")])
    assert (refused.value.path, refused.value.value) == ("outbox[1].message_id",
                                                          reused[1].message_id)
    assert repository.get("ORD-1") == nxt
    assert repository.audit_trail("ORD-1") == []
    assert [s.message.payload["event"] for s in repository.pending(10)] == ["E1", "E3"]


# --- the decoded orders the repository keeps ------------------------------------------------


class _Abort(Exception):
    pass


def test_a_version_rolled_back_with_its_block_is_never_served_from_the_cache(
    pg_dsn: str, schema: str
) -> None:
    """Only committed versions are kept: a block's save and its reads may roll back, and
    another process may then commit different content under the same version."""
    repository = PostgresOrderRepository(pg_dsn, schema=schema)
    peer = PostgresOrderRepository(Database(pg_dsn + " application_name=peer"),
                                   schema=schema, cache_size=0)
    order = _order("ORD-1")
    repository.save(order, None)
    undone = attrs.evolve(order, status=OrderStatus.PAID, version=order.version + 1)
    with contextlib.suppress(_Abort), repository.atomic():
        repository.save(undone, order.version)
        assert repository.get("ORD-1") == undone
        raise _Abort
    assert peer.get("ORD-1") == order
    other = attrs.evolve(order, status=OrderStatus.CANCELLED, version=order.version + 1)
    peer.save(other, order.version)
    assert repository.get("ORD-1") == other  # the version moved: read, not the cache
    again = attrs.evolve(other, tags=frozenset({"vip"}), version=other.version + 1)
    peer.save(again, other.version)
    assert repository.get("ORD-1") == again
    assert peer.get("ORD-1") == again


def test_the_cache_size_is_checked() -> None:
    for bad in (-1, True, "10"):
        with pytest.raises(ValidationError) as refused:
            PostgresOrderRepository("host=nowhere", cache_size=bad)  # type: ignore[arg-type]
        assert refused.value.path == "cache_size"


def test_on_the_hosts_connection_nothing_is_kept_the_host_may_roll_back(
    pg_dsn: str, schema: str, host: psycopg.Connection[tuple[object, ...]]
) -> None:
    repository = PostgresOrderRepository(host, schema=schema)
    host.commit()  # the tables
    peer = PostgresOrderRepository(pg_dsn, schema=schema, cache_size=0)
    order = _order("ORD-1")
    repository.save(order, None)
    host.commit()
    undone = attrs.evolve(order, status=OrderStatus.PAID, version=order.version + 1)
    repository.save(undone, order.version)
    assert repository.get("ORD-1") == undone
    host.rollback()
    other = attrs.evolve(order, status=OrderStatus.CANCELLED, version=order.version + 1)
    peer.save(other, order.version)
    assert repository.get("ORD-1") == other
    host.rollback()


def test_skus_with_quotes_braces_and_commas_lock_the_right_rows(pg_dsn: str, schema: str) -> None:
    # The transaction's opening statements carry the SKUs as quoted literals (one query
    # string of several statements takes no parameters): any SKU text must round-trip.
    store = PostgresInventoryStore(pg_dsn, schema=schema)
    ledger = InventoryLedger(store, secret=SECRET)
    odd = ["it's", 'say "hi"', "{a,b}", "back\\slash", "茶叶;DROP TABLE x", "NULL"]
    for sku in odd:
        ledger.receive(sku, 5, reference="PO-1")
    lock = ledger.lock("ORD-ODD", dict.fromkeys(odd, 2), ttl=timedelta(hours=1))
    assert all(ledger.stock(sku).available == 3 for sku in odd)
    ledger.release(lock.lock_id, {odd[0]: 2}, order_id="ORD-ODD")
    assert ledger.stock(odd[0]).available == 5 and ledger.stock(odd[1]).available == 3
    assert ledger.verify().ok
    store.close()


def test_a_page_that_loses_a_race_is_placed_again_once(
    pg_dsn: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another poller stored every other order of the page first: the loser finds them
    in one read and places the rest in one more attempt, releasing nothing one lock at
    a time (its ledger shares the repository's transaction: the rollback undid them)."""
    repository = PostgresOrderRepository(pg_dsn, schema=schema)
    ledger = InventoryLedger(PostgresInventoryStore(repository.database), secret=SECRET,
                             clock=ManualClock(T0))
    ledger.receive("CUP", 100, reference="PO-1")
    page = [_order(f"RACE-{n}", cups=1) for n in range(30)]
    winner = OrderService(PostgresOrderRepository(pg_dsn, schema=schema), inventory=ledger,
                          clock=ManualClock(T0), deliver=False)
    winner.place_many([(order, ()) for order in page[::2]])
    loser = OrderService(repository, inventory=ledger, clock=ManualClock(T0), deliver=False)
    calls = {"insert_many": 0, "release": 0, "apply_many": 0}
    for target, name in ((repository, "insert_many"), (ledger, "release"),
                         (ledger, "apply_many")):
        real = getattr(target, name)

        def call(*args: object, __real: object = real, __name: str = name,
                 **kwargs: object) -> object:
            calls[__name] += 1
            return __real(*args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(target, name, call)
    results = loser.place_many([(order, ()) for order in page])
    assert calls["insert_many"] == 2 and calls["release"] == 0, calls
    assert calls["apply_many"] <= 1, calls
    assert [isinstance(result, DuplicateOrder) for result in results] == [
        n % 2 == 0 for n in range(30)]
    assert (ledger.stock("CUP").on_hand, ledger.stock("CUP").locked) == (100, 30)
    assert ledger.verify().ok


def test_the_unscanned_index_holds_the_orders_by_status_first(pg_dsn: str,
                                                             schema: str) -> None:
    # Every order whose last parcel never got a scan stays in the index whatever its
    # status: led by the status, the no-first-scan query reads the SHIPPED ones only.
    PostgresOrderRepository(pg_dsn, schema=schema)
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        (definition,) = admin.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s"
            " AND indexname = 'orders_unscanned'", (schema,)).fetchone() or ("",)
    assert "(status, unscanned_since)" in definition
