"""Health: the KPIs of a day against their thresholds, counted in the store, and the
health index by its documented formula."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from orderkit import Money, OrderStatus, Payment
from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.errors import ValidationError
from orderkit.lifecycle.ports import OrderRepository
from orderkit.model.time import accounting_period
from orderkit.testing.samples import sample_order
from orderkit.watch import Thresholds, health
from orderkit.watch.page import health_page

DAY = accounting_period(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # 2026-03-02 in Shanghai
START = DAY.bounds()[0]
S = OrderStatus
_US = timedelta(microseconds=1)


def a_day_of_orders(repo: OrderRepository) -> None:
    """20 orders placed: 16 shipped, 1 paid and never shipped, 1 pending, 2 cancelled."""
    plan = [(S.SHIPPED, 5)] * 16 + [(S.PAID, 2), (S.PENDING_PAYMENT, 1)] + [(S.CANCELLED, 3)] * 2
    for index, (status, hours) in enumerate(plan):
        order_id = f"H-{index:02}"
        paid = status in (S.SHIPPED, S.PAID)
        order = attrs.evolve(sample_order(order_id, channel_order_id=order_id), status=status,
                             created_at=START + timedelta(hours=1), shipments=(),
                             paid_at=START + timedelta(hours=2) if paid else None,
                             status_since=START + timedelta(hours=hours))
        repo.save(order, None)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_days_kpis_against_their_thresholds_and_the_index(store: str, tmp_path: Path) -> None:
    repo: OrderRepository = (MemoryOrderRepository() if store == "memory"
                             else SQLiteOrderRepository(tmp_path / "orders.db"))
    a_day_of_orders(repo)
    lags = [timedelta(seconds=30)] * 99 + [timedelta(minutes=10)]
    report = health(repo, DAY, Money("812.00", "CNY"), now=START + timedelta(hours=30),
                    lags=lags, retries=(1, 100))

    unshipped = report.kpi("unshipped_24h")
    assert (unshipped.value, unshipped.breached) == (Decimal(1) / 17, True)
    assert unshipped.detail == "1 of 17 orders due to ship in the period over 24 h ago"
    assert report.kpi("cancellation_rate").value == Decimal("0.1")  # above 8%
    assert report.kpi("cancellation_rate").breached
    assert report.stuck == {S.PENDING_PAYMENT: 1, S.PAID: 1}
    assert (report.kpi("stuck").value, report.kpi("stuck").breached) == (Decimal(2) / 18, True)
    difference = report.kpi("reconciliation_difference")
    assert (difference.value, difference.unit, difference.breached) == (
        Decimal("812.00"), "CNY", True)
    sync = report.kpi("status_sync_rate")
    assert (sync.value, sync.breached, sync.score) == (Decimal("0.99"), False, Decimal("0.5"))
    assert report.lag == {"p50": timedelta(seconds=30), "p90": timedelta(seconds=30),
                          "p99": timedelta(seconds=30)}
    assert (report.kpi("retry_rate").value, report.kpi("retry_rate").breached) == (
        Decimal("0.01"), False)
    assert [k.name for k in report.alerts] == [
        "unshipped_24h", "stuck", "cancellation_rate", "reconciliation_difference"]
    assert report.orders_by_status == {S.PENDING_PAYMENT: 1, S.PAID: 1, S.SHIPPED: 16,
                                       S.CANCELLED: 2}
    # 100 x (25 x 0.0196 + 20 x 0 + 15 x 0.375 + 15 x 0.188 + 15 x 0.5 + 10 x 0.833) / 100
    assert (report.index, report.index_text) == (Decimal("24.8"), "24.8")


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_unshipped_24h_counts_only_the_orders_whose_24_hours_have_run_out(
    store: str, tmp_path: Path
) -> None:
    """24 orders paid through the day, one an hour, none shipped: the share is over the
    orders paid more than 24 h before ``now``, in both counts; on the day itself none
    is, and the KPI is not measured (not a perfect 0% lifting the index)."""
    repo: OrderRepository = (MemoryOrderRepository() if store == "memory"
                             else SQLiteOrderRepository(tmp_path / "orders.db"))
    for hour in range(24):
        at = START + timedelta(hours=hour, minutes=1)
        repo.save(attrs.evolve(sample_order(f"U-{hour:02}", channel_order_id=str(hour)),
                               status=S.PAID, created_at=at, paid_at=at, status_since=at,
                               shipments=()), None)
    next_morning = health(repo, DAY, now=START + timedelta(hours=30, minutes=30))
    unshipped = next_morning.kpi("unshipped_24h")
    assert (unshipped.value, unshipped.breached, unshipped.score) == (
        Decimal(1), True, Decimal(0))
    assert unshipped.detail == "7 of 7 orders due to ship in the period over 24 h ago"

    same_day = health(repo, DAY, now=START + timedelta(hours=23, minutes=30))
    unshipped = same_day.kpi("unshipped_24h")
    assert (unshipped.value, unshipped.breached, unshipped.score) == (None, False, None)
    assert unshipped.detail == "no order due to ship in the period over 24 h ago"
    # Left out of the index: only what was measured (none of the 24 stuck yet) counts.
    assert [k.name for k in same_day.kpis if k.score is not None] == [
        "stuck", "cancellation_rate"]


def _repository(store: str, request: pytest.FixtureRequest, tmp_path: Path) -> OrderRepository:
    if store == "memory":
        return MemoryOrderRepository()
    if store == "sqlite":
        return SQLiteOrderRepository(tmp_path / "orders.db")
    from orderkit.adapters.postgres import PostgresOrderRepository
    from orderkit.testing.postgres import fresh_schema

    return PostgresOrderRepository(request.getfixturevalue("pg_dsn"),
                                   schema=fresh_schema("health"))


@pytest.mark.parametrize("store", ["memory", "sqlite", "postgres"])
def test_a_presale_is_unshipped_or_stuck_only_once_it_is_due_to_ship(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Presales of a day, as an operations lead counts them the next morning: one that
    took its deposit waits for its balance, and one paid in full (or packed early)
    waits for the day it ships from; neither is unshipped nor stuck, nor counted among
    the orders that could be. One whose ship-from day began in the period, paid long
    before, is due from that day; one whose balance came after its day, from the
    balance."""
    repo = _repository(store, request, tmp_path)
    deposit = Payment("DEP", Money("20.00", "CNY"), START + timedelta(hours=1))
    for order_id, status, since, paid_at, tags, payments in [
        ("DEP-1", S.PENDING_PAYMENT, 1, None, "2026-03-10", (deposit,)),
        ("DEP-2", S.PENDING_PAYMENT, 1, None, "2026-03-10", (deposit,)),
        ("DEP-3", S.PENDING_PAYMENT, 1, None, "2026-03-10", (deposit,)),
        ("PRE", S.PAID, 2, 2, "2026-03-10", ()),
        ("PRE-PACKED", S.PACKED, 3, 2, "2026-03-10", ()),  # packed early, to go on day 1
        ("PRE-DUE", S.PAID, -240, -240, "2026-03-02", ()),  # paid in February
        ("BALANCE", S.PAID, 10, 10, "2026-03-01", ()),  # its balance came after its day
        ("REGULAR", S.PAID, 2, 2, None, ()),
        ("SENT", S.SHIPPED, 5, 2, None, ()),
        ("PENDING", S.PENDING_PAYMENT, 1, None, None, ()),
    ]:
        at = START + timedelta(hours=since)
        order = attrs.evolve(
            sample_order(order_id, channel_order_id=order_id), status=status, shipments=(),
            created_at=min(at, START + timedelta(hours=1)), status_since=at,
            paid_at=None if paid_at is None else START + timedelta(hours=paid_at),
            payments=payments,
            tags=frozenset() if tags is None else frozenset({"presale", f"ship_from:{tags}"}))
        repo.save(order, None)

    report = health(repo, DAY, now=START + timedelta(hours=30))

    unshipped = report.kpi("unshipped_24h")
    # Due to ship in the period over 24 h ago: PRE-DUE (from March 2 00:00), REGULAR,
    # SENT; BALANCE is due from its balance, 20 h ago.
    assert (unshipped.value, unshipped.breached) == (Decimal(2) / 3, True)
    assert unshipped.detail == "2 of 3 orders due to ship in the period over 24 h ago"
    assert report.stuck == {S.PENDING_PAYMENT: 1, S.PAID: 2}  # PENDING; PRE-DUE, REGULAR
    stuck = report.kpi("stuck")
    # The open orders measured: PENDING, PRE-DUE, BALANCE, REGULAR, SENT.
    assert (stuck.value, stuck.detail) == (Decimal(3) / 5, "3 of 5 open orders")


def test_the_stuck_counts_read_the_time_in_status_index_alone_on_sqlite(
    tmp_path: Path,
) -> None:
    """The open orders are counted by their time in status, leaving out the presales
    waiting for their balance and those not due to ship: the index the counts walk
    carries both instants, so no stored order is read (a row each before)."""
    repo = SQLiteOrderRepository(tmp_path / "orders.db")
    with repo.database.read("index") as conn:
        columns = [row[2] for row in conn.execute(
            "PRAGMA index_xinfo('orders_by_time_in_status')") if row[5]]
        expression = ("coalesce(json_extract(body, '$.status_since'),"
                      " json_extract(body, '$.created_at'))")
        plan = " ".join(row[-1] for row in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT count(*) FROM orders WHERE status = 20"
            f" AND {expression} >= '' AND {expression} < '2026'"
            " AND balance_due_since IS NULL AND (ship_due_at IS NULL OR ship_due_at < '2026')"))
    assert columns == ["status", None, "ship_due_at", "balance_due_since"]
    assert "USING INDEX orders_by_time_in_status" in plan


def test_the_stuck_counts_read_the_time_in_status_index_alone_on_postgres(
    pg_dsn: str,
) -> None:
    import psycopg

    from orderkit.adapters.postgres import PostgresOrderRepository
    from orderkit.testing.postgres import fresh_schema

    schema = fresh_schema("health")
    PostgresOrderRepository(pg_dsn, schema=schema)
    with psycopg.connect(pg_dsn) as conn:
        (definition,) = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s"
            " AND indexname = 'orders_by_time_in_status'", (schema,)).fetchone() or ("",)
    assert definition.endswith(
        "(status, COALESCE(status_since, created_at)) INCLUDE (ship_due_at, balance_due_since)")


def test_what_is_not_given_is_not_measured_and_left_out_of_the_index() -> None:
    repo = MemoryOrderRepository()
    report = health(repo, DAY, now=START + timedelta(hours=30))
    assert [k.name for k in report.kpis if k.value is None] == [
        "unshipped_24h", "stuck", "cancellation_rate", "reconciliation_difference",
        "status_sync_rate", "retry_rate"]
    assert report.alerts == () and report.lag == {}
    assert (report.index, report.index_text) == (None, "not measured")  # not a perfect 100
    page = health_page(report)
    assert "health index not measured" in page and "health index 100" not in page
    a_day_of_orders(repo)
    strict = health(repo, DAY, now=START + timedelta(hours=30),
                    thresholds=Thresholds(cancellation_rate=Decimal("0.2")))
    assert not strict.kpi("cancellation_rate").breached


def test_bad_input_is_named() -> None:
    repo = MemoryOrderRepository()
    now = START + timedelta(hours=30)
    with pytest.raises(ValidationError, match="retries"):
        health(repo, DAY, now=now, retries=(5, 1))
    with pytest.raises(ValidationError, match=r"lags\[1\]"):
        health(repo, DAY, now=now, lags=[timedelta(0), 3])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="reconciliation"):
        health(repo, DAY, "812.00", now=now)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cancellation_rate"):
        Thresholds(cancellation_rate=Decimal("8"))
    with pytest.raises(ValidationError, match="name"):
        health(repo, DAY, now=now).kpi("happiness")


def test_the_reconciliation_difference_is_the_book_total_against_the_money_total() -> None:
    from orderkit.reconcile import Record, reconcile

    at = START + timedelta(hours=3)
    book = [Record("erp", "SO-1", "SO-1", Money("170.00", "CNY"), at),
            Record("erp", "SO-2", "SO-2", Money("420.50", "CNY"), at)]
    bank = [Record("bank", "B-1", "SO-1", Money("170.00", "CNY"), at)]
    report = health(MemoryOrderRepository(), DAY, reconcile(book, bank),
                    now=START + timedelta(hours=30))
    difference = report.kpi("reconciliation_difference")
    assert (difference.value, difference.unit, difference.breached) == (
        Decimal("420.50"), "CNY", False)


def test_the_sync_lag_percentiles_are_read_from_a_sync_store(tmp_path: Path) -> None:
    from orderkit.adapters.sqlite import SQLiteSyncStore
    from orderkit.sync import Seen

    store = SQLiteSyncStore(tmp_path / "shop.db")
    at = START + timedelta(hours=2)
    seconds = [10, 20, 30, 40, 50, 60, 70, 80, 90, 600]  # one 10 minutes late
    for n, lag in enumerate(seconds):
        store.mark_seen(Seen("jd", f"J-{n}", at - timedelta(seconds=lag), f"d{n}", at))
    store.mark_seen(Seen("jd", "before", START - timedelta(hours=1), "b", START - _US))
    store.mark_seen(Seen("jd", "after-now", at, "a", START + timedelta(hours=5)))
    report = health(MemoryOrderRepository(), DAY, now=START + timedelta(hours=4), lags=store)
    assert report.lag == {"p50": timedelta(seconds=50), "p90": timedelta(seconds=90),
                          "p99": timedelta(seconds=600)}
    sync = report.kpi("status_sync_rate")
    assert (sync.value, sync.breached) == (Decimal("0.9"), True)
    assert sync.detail == "9 of 10 within 0:05:00"
    # As of the period's start nothing was received yet.
    assert health(MemoryOrderRepository(), DAY, now=START, lags=store).lag == {}
