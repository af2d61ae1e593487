"""Watermarks that never skip: the boundary story, the outage story, window planning,
and a webhook and a poller in two processes on one SQLite file."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository, SQLiteSyncStore
from orderkit.errors import StoreError, ValidationError
from orderkit.sync import LIMITS, SyncReport, windows
from orderkit.testing import FileChannelClient

SKUS = ("TEA-OOLONG-250G", "100012345681")
NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)  # the shop fixture's clock


def _write(path: Path, payloads: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in payloads)
    path.write_text(text, "utf-8")


def test_sixty_orders_sharing_one_modified_time_across_two_pages_and_two_polls(
    shop: Any, versions: Any, tmp_path: Path
) -> None:
    shop.stock(*SKUS)
    boundary = NOW - timedelta(minutes=2)  # inside the settle margin (5 minutes on JD)
    first = [versions(str(1000 + n), "paid", boundary) for n in range(30)]
    late = [versions(str(1100 + n), "paid", boundary) for n in range(30)]
    path = tmp_path / "jd.jsonl"
    _write(path, first)
    client = FileChannelClient(path, platform="jd", page_size=20)
    assert shop.sync.poll("jd", client, start=NOW - timedelta(hours=1)) == SyncReport(new=30)
    cursor = shop.store.cursor("jd", "")
    assert cursor is not None
    assert cursor.modified_at == boundary
    assert len(cursor.ids_at) == 30
    _write(path, first + late)  # the platform commits 30 more at the same second
    shop.clock.advance(timedelta(minutes=5))
    assert shop.sync.poll("jd", client) == SyncReport(new=30, unchanged=30)
    assert [c[2] for c in client.calls].count("20") == 2  # each poll read a second page
    stored = [shop.repository.find_by_channel("jd", p["orderId"]) for p in first + late]
    assert all(order is not None for order in stored)
    assert len({order.order_id for order in stored}) == 60
    cursor = shop.store.cursor("jd", "")
    assert cursor is not None  # past the boundary: a settle margin before this poll
    assert (cursor.modified_at, cursor.ids_at) == (NOW, frozenset())


def test_an_outage_then_a_backfill_stores_every_order_once_and_the_cursor_skips_none(
    shop: Any, versions: Any, tmp_path: Path
) -> None:
    shop.stock(*SKUS)
    shop.sync.limits = {"jd": LIMITS["pdd"]}  # 30-minute windows: several per poll
    path = tmp_path / "jd.jsonl"
    orders = [versions(str(2000 + n), "paid", NOW - timedelta(minutes=170 - 3 * n))
              for n in range(50)]
    _write(path, orders)
    client = FileChannelClient(path, platform="jd")
    client.fail(None)
    with pytest.raises(StoreError):
        shop.sync.poll("jd", client, start=NOW - timedelta(hours=3))
    assert shop.store.cursor("jd", "") is None  # nothing stored: the cursor did not move
    client.recover()
    client.fail(1)  # a backfill meets the last failing call, and is run again
    with pytest.raises(StoreError):
        shop.sync.backfill("jd", client, NOW - timedelta(hours=3), NOW)
    report = shop.sync.backfill("jd", client, NOW - timedelta(hours=3), NOW)
    assert report == SyncReport(new=50)
    assert shop.store.cursor("jd", "") is None  # a backfill never moves the cursor
    shop.clock.advance(timedelta(minutes=1))
    again = shop.sync.poll("jd", client, start=NOW - timedelta(hours=3))
    assert again == SyncReport(unchanged=50)
    cursor = shop.store.cursor("jd", "")
    assert cursor is not None
    assert cursor.modified_at >= max(NOW - timedelta(minutes=170 - 3 * 49),
                                     NOW - LIMITS["pdd"].settle)
    ids = {o["orderId"] for o in orders}
    found = [shop.repository.find_by_channel("jd", i) for i in ids]
    assert len({o.order_id for o in found if o is not None}) == 50


def test_windows_follow_the_platforms_limits() -> None:
    pdd = LIMITS["pdd"]
    spans = list(windows(pdd, NOW - timedelta(hours=2), NOW, now=NOW))
    assert len(spans) == 4
    assert all(b - a <= timedelta(minutes=30) for a, b in spans)
    assert spans[0][0] == NOW - timedelta(hours=2)
    assert spans[-1][1] == NOW
    taobao = LIMITS["taobao"]
    with pytest.raises(ValidationError) as caught:
        list(windows(taobao, NOW - timedelta(days=91), NOW, now=NOW))
    assert caught.value.path == "since"
    assert len(list(windows(taobao, NOW - timedelta(days=89), NOW, now=NOW))) == 89


def _worker(path: str, how: str, payloads: list[dict[str, Any]], start: float) -> None:
    from orderkit.inventory import InventoryLedger
    from orderkit.lifecycle import OrderService
    from orderkit.sync import Sync
    from orderkit.testing import ManualClock

    clock = ManualClock(NOW)
    repository = SQLiteOrderRepository(path)
    ledger = InventoryLedger(SQLiteInventoryStore(path), secret=b"0123456789abcdef",
                             clock=clock)
    service = OrderService(repository, inventory=ledger, clock=clock)
    sync = Sync(repository, service, store=SQLiteSyncStore(path), clock=clock)
    if how == "webhook":
        for payload in payloads:
            sync.receive("jd", payload, received_at=NOW)
    else:
        feed = Path(path).with_suffix(".jsonl")
        _write(feed, payloads)
        sync.poll("jd", FileChannelClient(feed, platform="jd"),
                  start=NOW - timedelta(hours=start))


@pytest.mark.slow
def test_a_webhook_and_a_poller_in_two_processes_lose_and_duplicate_nothing(
    versions: Any, tmp_path: Path
) -> None:
    path = tmp_path / "shop.db"
    from orderkit.inventory import InventoryLedger
    from orderkit.testing import ManualClock

    ledger = InventoryLedger(SQLiteInventoryStore(path), secret=b"0123456789abcdef",
                             clock=ManualClock(NOW))
    for sku in SKUS:
        ledger.receive(sku, 1000, reference=f"PO-{sku}")
    stages = ("unpaid", "paid", "shipped", "finished")
    chains = [[versions(str(3000 + n), stage, NOW - timedelta(minutes=60 - 5 * k))
               for k, stage in enumerate(stages)] for n in range(20)]
    webhook = [c[k] for k in range(4) for c in chains]  # in order
    poller = [c[k] for k in (3, 1, 2, 0) for c in chains]  # newest first, then the rest
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_worker, args=(str(path), how, feed, 2))
               for how, feed in (("webhook", webhook), ("poll", poller))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    repository = SQLiteOrderRepository(path)
    for n in range(20):
        order = repository.get(f"jd:{3000 + n}")
        assert order.status.name == "COMPLETED"
        assert len(order.applied_event_ids) == len(set(order.applied_event_ids)) == 4
        assert repository.find_by_channel("jd", str(3000 + n)) == order
    for sku in SKUS:
        level = ledger.stock(sku)
        assert (level.on_hand, level.locked) == (980, 0)
    seen = SQLiteSyncStore(path).seen("jd", "3000")
    assert seen is not None
    assert seen.modified_at == NOW - timedelta(minutes=45)


def _sync_with(shop: Any, **kwargs: Any) -> Any:
    from orderkit.sync import Sync

    return Sync(shop.repository, shop.service, store=shop.store, clock=shop.clock, **kwargs)


def test_limits_given_override_their_platform_and_keep_the_others_defaults(
    shop: Any, versions: Any, payloads: Any, tmp_path: Path
) -> None:
    from orderkit.sync import PlatformLimits

    shop.stock(*SKUS, "CUP-CELADON", "TRAY-BAMBOO")
    jd = PlatformLimits("jingdong.pop.order.search", timedelta(hours=6), 100,
                        timedelta(minutes=10))
    sync = _sync_with(shop, limits={"jd": jd})
    assert sync.limits["jd"] == jd
    assert sync.limits["tmall"] == LIMITS["tmall"]
    jd_path, tmall_path = tmp_path / "jd.jsonl", tmp_path / "tmall.jsonl"
    _write(jd_path, [versions("3001", "paid", NOW - timedelta(hours=1))])
    _write(tmall_path, [payloads("tmall", "wait_seller_send_goods")])
    jd_client = FileChannelClient(jd_path, platform="jd")
    tmall_client = FileChannelClient(tmall_path, platform="tmall")
    assert sync.backfill("jd", jd_client, NOW - timedelta(days=1), NOW) == SyncReport(new=1)
    assert len(jd_client.calls) == 4  # six-hour windows
    report = sync.backfill("tmall", tmall_client, NOW - timedelta(days=5), NOW)
    assert report == SyncReport(new=1)
    assert len(tmall_client.calls) == 5  # Tmall's one-day windows, as by default
    with pytest.raises(ValidationError) as caught:
        _sync_with(shop, limits={"jd": timedelta(days=1)})
    assert caught.value.path == "limits['jd']"


def test_a_map_extended_under_a_new_name_polls_within_its_base_platforms_limits(
    shop: Any, payloads: Any, tmp_path: Path
) -> None:
    from orderkit.mapping import Registry, StatusRule, get_map
    from orderkit.model.orders import OrderStatus
    from orderkit.sync import PlatformLimits

    shop.stock(*SKUS, "CUP-CELADON", "TRAY-BAMBOO")
    credit = get_map("tmall").extended(
        "tmall_credit", status_values={"trade": ("WAIT_PRE_AUTH_CONFIRM",)},
        status_rules=(StatusRule({"trade": "WAIT_PRE_AUTH_CONFIRM"},
                                 OrderStatus.PENDING_PAYMENT),))
    registry = Registry()
    registry.register(credit)
    sync = _sync_with(shop, maps=registry)
    path = tmp_path / "credit.jsonl"
    _write(path, [payloads("tmall", "wait_seller_send_goods")])
    client = FileChannelClient(path, platform="tmall_credit", maps=registry)
    assert sync.backfill("tmall_credit", client, NOW - timedelta(days=5), NOW) \
        == SyncReport(new=1)
    assert len(client.calls) == 5  # Tmall's one-day windows
    with pytest.raises(ValidationError) as caught:  # and Tmall's 90-day lookback
        sync.backfill("tmall_credit", client, NOW - timedelta(days=91), NOW)
    assert caught.value.path == "since"
    shop.clock.advance(timedelta(minutes=1))
    assert sync.poll("tmall_credit", client, start=NOW - timedelta(days=5)) \
        == SyncReport(unchanged=1)
    assert shop.store.cursor("tmall_credit", "") is not None
    own = PlatformLimits("taobao.trades.sold.increment.get", timedelta(hours=12), 100,
                         timedelta(minutes=5))
    client.calls.clear()
    sync = _sync_with(shop, maps=registry, limits={"tmall_credit": own})
    assert sync.backfill("tmall_credit", client, NOW - timedelta(days=5), NOW) \
        == SyncReport(unchanged=1)
    assert len(client.calls) == 10  # its own twelve-hour windows
