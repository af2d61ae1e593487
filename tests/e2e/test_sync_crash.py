"""Crash test: a backfill killed mid-page with SIGKILL and run again stores every order
once, each committed page whole (orders, what sync saw, stock, outbox), and never moves
the polling cursor.

A backfill process applies a feed of JD orders (each paid, then shipped) onto one
SQLite file in pages of 50, one transaction per page. The parent kills it a few
milliseconds after the store grew past a random mark (as :mod:`orderkit.testing.crash`
does: ``SIGKILL``, no cleanup) and, while it is dead, reads the file: the orders stored
and the orders sync recorded are the same set, no outbox message is left pending, and
the stock matches the stored orders. Then it restarts the backfill from the start,
until one run finishes.

Set ``ORDERKIT_CRASH_SEED`` to rerun a failed seed (it is printed with every run).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository, SQLiteSyncStore
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import OrderService
from orderkit.mapping import normalize
from orderkit.sync import Sync, SyncReport
from orderkit.testing import ManualClock, MemoryChannelClient

SECRET = b"0123456789abcdef"
NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
ORDERS = 300
RECEIVED = 10_000
SINCE, UNTIL = NOW - timedelta(days=3), NOW - timedelta(hours=1)
KILLS = 5


FIXTURE = Path(__file__).parents[1] / "fixtures" / "mapping" / "jd" / "shipped_with_waybill.json"
STAGES = {"paid": {"orderState": "WAIT_SELLER_STOCK_OUT", "waybill": ""},
          "shipped": {"orderState": "WAIT_GOODS_RECEIVE_CONFIRM"}}


def jd_version(order_id: str, stage: str, modified: datetime) -> dict[str, Any]:
    """orderkit's JD sample as order ``order_id`` at ``stage``, modified at ``modified``."""
    payload: dict[str, Any] = json.loads(FIXTURE.read_text("utf-8"))
    payload.update(STAGES[stage], orderId=order_id)
    payload["modified"] = (modified + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    return payload


def _feed() -> list[dict[str, Any]]:
    start = NOW - timedelta(days=2)
    paid = [jd_version(str(40_000 + n), "paid", start + n * timedelta(seconds=30))
            for n in range(ORDERS)]
    shipped = [jd_version(str(40_000 + n), "shipped", start + n * timedelta(seconds=30)
                          + timedelta(hours=3)) for n in range(0, ORDERS, 2)]
    return paid + shipped


def _sync(path: Path) -> Sync:
    clock = ManualClock(NOW)
    repository = SQLiteOrderRepository(path)
    ledger = InventoryLedger(SQLiteInventoryStore(path), secret=SECRET, clock=clock)
    service = OrderService(repository, inventory=ledger, clock=clock,
                           lock_ttl=timedelta(days=30))
    return Sync(repository, service, store=SQLiteSyncStore(path), clock=clock)


def _backfill(path: Path, client: MemoryChannelClient) -> None:
    """The killed process: its own adapters, the whole backfill from the start (the
    client, built by the parent, comes with the fork)."""
    _sync(path).backfill("jd", client, SINCE, UNTIL)


def _stored(path: Path) -> int:
    """The JD orders committed so far (read while the backfill writes)."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(
            "SELECT count(*) FROM orders WHERE channel = 'jd'").fetchone()[0])
    finally:
        conn.close()


def _check_committed(path: Path, units: dict[str, int]) -> int:
    """What a killed backfill left: whole pages only, whose stock is owed in the outbox
    until a relay runs (as one does when the shop restarts). Returns the orders stored."""
    restarted = _sync(path)
    assert restarted.service.relay is not None
    restarted.service.relay.run_until_idle()
    restarted.repository.database.close()  # no connection may cross the next fork
    conn = sqlite3.connect(path)
    try:
        orders = dict(conn.execute(
            "SELECT channel_order_id, status FROM orders WHERE channel = 'jd'"))
        seen = {row[0] for row in conn.execute(
            "SELECT channel_order_id FROM sync_seen WHERE platform = 'jd'")}
        pending = conn.execute(
            "SELECT count(*) FROM order_outbox WHERE status != 'delivered'").fetchone()[0]
        balances = {sku: (on_hand, locked) for sku, on_hand, locked in conn.execute(
            "SELECT sku, on_hand, locked FROM inventory_balances")}
    finally:
        conn.close()
    assert set(orders) == seen  # every stored order with its sync record, and no other
    assert pending == 0  # the relay applied the stock each committed decision owes
    paid = sum(status == 20 for status in orders.values())
    shipped = sum(status == 30 for status in orders.values())
    assert paid + shipped == len(orders)
    for sku, qty in units.items():
        assert balances[sku] == (RECEIVED - shipped * qty, paid * qty)
    return len(orders)


def test_a_backfill_killed_mid_page_and_run_again_stores_every_order_once(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("ORDERKIT_CRASH_SEED", random.randrange(10**6)))
    print(f"ORDERKIT_CRASH_SEED={seed}")
    rng = random.Random(seed)
    path = tmp_path / "shop.db"
    feed = _feed()
    units: dict[str, int] = {}
    for line in normalize("jd", feed[0]).lines:
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    sync = _sync(path)
    for sku in units:
        sync.service.inventory.receive(sku, RECEIVED, reference=f"PO-{sku}")  # type: ignore[union-attr]
    # A poll of the last hour sets the cursor; the backfill must leave it where it is.
    recent = [jd_version("49999", "paid", NOW - timedelta(minutes=30))]
    assert sync.poll("jd", MemoryChannelClient(recent, platform="jd"),
                     start=NOW - timedelta(hours=1)) == SyncReport(new=1)
    cursor = sync.store.cursor("jd", "")
    sync.repository.database.close()  # no connection may cross the fork
    client = MemoryChannelClient(feed, platform="jd", page_size=50)
    context = multiprocessing.get_context("fork")
    kills, counts = 0, []
    while True:
        # The kill lands a few milliseconds into a page after the store grew past a
        # random mark, wherever the backfill is, however fast the machine.
        mark = min(ORDERS, _stored(path) + rng.randint(1, 120))
        process = context.Process(target=_backfill, args=(path, client), daemon=True)
        process.start()
        while kills < KILLS and process.is_alive() and _stored(path) < mark:
            time.sleep(0.002)
        if kills < KILLS:
            time.sleep(rng.uniform(0.0, 0.01))
        if process.is_alive() and kills < KILLS:
            assert process.pid is not None
            os.kill(process.pid, signal.SIGKILL)
            process.join(10)
            assert process.exitcode == -signal.SIGKILL
            kills += 1
            counts.append(_check_committed(path, units) - 1)  # less the polled order
            continue
        process.join(120)
        assert process.exitcode == 0
        break
    print(f"orders stored at each kill: {counts}")
    assert _check_committed(path, units) == ORDERS + 1
    assert max(counts) > 0  # the kills landed while the backfill was storing orders
    after = _sync(path)
    assert after.store.cursor("jd", "") == cursor
    for n in range(ORDERS):
        order = after.repository.get(f"jd:{40_000 + n}")
        assert len(order.applied_event_ids) == len(set(order.applied_event_ids))
        assert order.status.name == ("SHIPPED" if n % 2 == 0 else "PAID")
        seen = after.store.seen("jd", str(40_000 + n))
        assert seen is not None
    again = after.backfill("jd", client, SINCE, UNTIL)
    # Nothing left to do (a payload on a window boundary is read by both windows).
    assert (again.new, again.updated, again.dead_lettered) == (0, 0, 0)
    assert again.unchanged >= ORDERS
