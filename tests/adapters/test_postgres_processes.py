"""Contention on PostgreSQL from many processes: a flash sale of one SKU (10,000
attempts), and locks, partial releases, cancels and ships on five SKUs, with no oversell
and no deadlock reaching a caller."""

from __future__ import annotations

import functools
import itertools
import multiprocessing
from datetime import UTC, datetime

import pytest

from orderkit import Money, Order, OrderLine, OrderStatus
from orderkit.adapters.postgres import (
    PostgresInventoryStore,
    PostgresOrderRepository,
    PostgresReconIdSequence,
)
from orderkit.inventory import EntryKind, InventoryLedger
from orderkit.lifecycle import OrderService
from orderkit.model.errors import InsufficientStock, OrderNotFound
from orderkit.outbox import OutboxRelay
from orderkit.testing.flash_sale import SaleReport, flash_sale_worker
from orderkit.testing.inventory_load import LoadReport, load_problems, lock_worker
from orderkit.testing.postgres import fresh_schema
from orderkit.testing.processes import draw_numbers, race

SECRET = b"flash-sale-secret-0123456789abcd"
T0 = datetime(2026, 2, 16, 12, 0, tzinfo=UTC)
SKU = "MILK-POWDER-800G"
STOCK = 100
PROCESSES = 8
ATTEMPTS = 10_000
SKUS = ("TEA-250G", "CUP", "POT", "TRAY", "CADDY")
SKU_STOCK = 60
LOAD_ATTEMPTS = 4_000


@pytest.mark.slow
def test_eight_processes_in_a_flash_sale_of_10_000_attempts_never_oversell(pg_dsn: str) -> None:
    schema = fresh_schema("flash")
    repositories = functools.partial(PostgresOrderRepository, pg_dsn, schema=schema)
    stores = functools.partial(PostgresInventoryStore, pg_dsn, schema=schema)
    ledger = InventoryLedger(stores(), secret=SECRET)
    ledger.receive(SKU, STOCK, reference="PO-FLASH")
    repositories()  # tables ready before the race

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=flash_sale_worker,
            args=(repositories, stores, SECRET, SKU, ATTEMPTS // PROCESSES, 7000 + n, n,
                  barrier, results),
        )
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=400) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    for report in reports:
        if isinstance(report, BaseException):
            raise report
    assert all(isinstance(report, SaleReport) for report in reports)
    assert sum(r.attempts for r in reports) == ATTEMPTS
    placed = {order_id: units for r in reports for order_id, units in r.placed}
    cancelled = {order_id for r in reports for order_id in r.cancelled}
    assert sum(r.sold_out for r in reports) > 0  # the SKU really sold out, again and again
    assert len(placed) > STOCK // 3  # and cancelled units were sold again

    # Each worker's relay delivers only messages below every open transaction (commit
    # order on PostgreSQL): a release saved while another worker's transaction was open
    # waits for the next run, as it would for the host's relay. Drain it once.
    outbox = repositories()
    OutboxRelay(outbox, inventory=InventoryLedger(stores(), secret=SECRET,
                                                  release_limit=10**9)).run_until_idle()
    assert outbox.pending(10) == []

    # The ledger in commit order (one SKU: its entries are written under its lock):
    # never more units locked than received, at any point.
    on_hand = locked = 0
    owners = []
    for entry in ledger.entries():
        on_hand += entry.on_hand_delta
        locked += entry.locked_delta
        assert 0 <= locked <= on_hand <= STOCK, entry
        if entry.kind is EntryKind.LOCK:
            owners.append(entry.order_id.split("-")[0] if entry.order_id else "")
    switches = sum(1 for a, b in itertools.pairwise(owners) if a != b)
    assert len(set(owners)) >= 2 and switches > 2 * len(set(owners))  # they interleaved

    # At the end: every placed order holds its units unless it was cancelled.
    level = ledger.stock(SKU)
    held = sum(units for order_id, units in placed.items() if order_id not in cancelled)
    assert level.on_hand == STOCK == level.available + level.locked
    assert level.locked == held <= STOCK
    assert ledger.verify().ok
    # No release was lost: what the cancels gave back sells to the last unit, and then
    # the units sold equal the stock received.
    last = OrderService(repositories(), inventory=InventoryLedger(stores(), secret=SECRET))
    sweep = 0
    while True:
        order = Order(order_id=f"LAST-{sweep}", channel="flash",
                      channel_order_id=f"LAST-{sweep}", created_at=T0,
                      lines=[OrderLine("1", SKU, 1, Money("99.00", "CNY"))])
        try:
            last.place(order)
        except InsufficientStock:
            break
        sweep += 1
    assert sweep == level.available
    assert held + sweep == ledger.stock(SKU).locked == STOCK
    repository = repositories()
    for order_id in placed:
        order = repository.get(order_id)
        expected = OrderStatus.CANCELLED if order_id in cancelled else OrderStatus.PENDING_PAYMENT
        assert order.status == expected and order.lock_id is not None
    with pytest.raises(OrderNotFound):  # a sold-out attempt left no order behind
        repository.get(next(f"W{r.worker}-{i}" for r in reports for i in range(r.attempts)
                            if f"W{r.worker}-{i}" not in placed))
    assert list(repository.pending(10)) == []  # every release was delivered


@pytest.mark.slow
def test_eight_processes_locking_five_skus_in_any_order_never_oversell_nor_deadlock(
    pg_dsn: str,
) -> None:
    """Each attempt locks one to three of five SKUs, named in a random order, and then
    releases one unit, releases all (a cancel) or commits (a ship): orderkit takes the
    SKUs' locks in sorted order, so no deadlock reaches a worker (a worker's error
    fails the test), and nothing is oversold."""
    schema = fresh_schema("five")
    stores = functools.partial(PostgresInventoryStore, pg_dsn, schema=schema)
    ledger = InventoryLedger(stores(), secret=SECRET)
    for sku in SKUS:
        ledger.receive(sku, SKU_STOCK, reference="PO-1")

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=lock_worker,
            args=(stores, SECRET, SKUS, LOAD_ATTEMPTS // PROCESSES, 3000 + n, n, barrier,
                  results),
        )
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=400) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    for report in reports:
        if isinstance(report, BaseException):
            raise report  # a deadlock or any store error a worker met
    assert all(isinstance(report, LoadReport) for report in reports)
    assert sum(r.attempts for r in reports) == LOAD_ATTEMPTS
    assert sum(len(r.locks) + r.refused for r in reports) == LOAD_ATTEMPTS
    assert sum(r.refused for r in reports) > 0  # stock really ran out
    assert sum(r.released for r in reports) > 0 and sum(r.committed for r in reports) > 0
    # They ran at the same time: the workers' entries interleave in the ledger.
    owners = [entry.order_id for entry in ledger.entries() if entry.order_id]
    switches = sum(1 for a, b in itertools.pairwise(owners) if a != b)
    assert len(set(owners)) >= 2 and switches > 2 * len(set(owners))
    assert load_problems(stores(), reports, secret=SECRET, skus=SKUS) == []


def test_four_processes_drawing_recon_ids_get_distinct_gap_free_numbers(pg_dsn: str) -> None:
    schema = fresh_schema("seq")
    sequences = functools.partial(PostgresReconIdSequence, pg_dsn, schema=schema)
    sequences()  # the table ready before the race
    day = T0.date()
    draw_250 = functools.partial(draw_numbers, "SO", day, 250)
    results = race(sequences, [draw_250] * 4)
    drawn = [n for numbers in results for n in numbers]
    assert sorted(drawn) == list(range(1, 1001))
    for numbers in results:
        assert numbers == sorted(numbers)
    assert sequences().next_value("SO", day) == 1001


def test_webhooks_received_by_four_processes_on_shared_skus_never_deadlock(pg_dsn: str) -> None:
    """Four processes each receive their own JD orders, first seen paid, on the same
    four SKUs: each page places (locking its SKUs) and its payment's stock confirm is
    relayed. The relay runs after the page's commit, so no lock of one waits on the
    other's: no caller meets a deadlock, and the stock adds up."""
    import json
    from pathlib import Path

    from orderkit.testing.processes import postgres_sync, receive_all

    seed = json.loads((Path(__file__).parents[1] / "fixtures" / "mapping" / "jd"
                       / "wait_seller_stock_out.json").read_text(encoding="utf-8"))
    skus = ("SKU-A", "SKU-B", "SKU-C", "SKU-D")

    def payload(n: int) -> dict[str, object]:
        item = dict(seed["itemInfoList"][0], outerSkuId=skus[n * 7 % 11 % 4], jdPrice="10.00",
                    itemTotal="1")
        return dict(seed, orderId=str(900_000_000 + n), itemInfoList=[item],
                    couponDetailList=[], orderTotalPrice="10.00", orderSellerPrice="10.00",
                    orderPayment="10.00", sellerDiscount="0.00", freightPrice="0.00")

    ORDERS = 40  # noqa: N806 - the test's one knob
    schema = fresh_schema("syncrace")
    sync = postgres_sync(pg_dsn, schema, SECRET)
    ledger = sync.service.inventory
    for sku in skus:
        ledger.receive(sku, 1_000, reference="PO")
    at = datetime(2026, 2, 21, tzinfo=UTC)
    jobs = [
        functools.partial(receive_all, "jd", [payload(w * 1000 + i) for i in range(ORDERS)], at)
        for w in range(4)
    ]
    outcomes = race(functools.partial(postgres_sync, pg_dsn, schema, SECRET), jobs)
    assert outcomes == [["new"] * ORDERS] * 4, outcomes
    OutboxRelay(sync.repository, inventory=ledger).run_until_idle(limit=1000)
    assert ledger.verify().ok
    assert sum(ledger.stock(sku).locked for sku in skus) == 4 * ORDERS
