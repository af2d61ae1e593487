"""Many orders per commit: a page of payloads is one transaction, one payload that is
refused is a dead letter without undoing the page, versions of one order inside a page
apply in order, and the sweep fetches only what is newer than stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from orderkit.lifecycle import OrderService
from orderkit.model.errors import ValidationError
from orderkit.sync import Listing, Page, Sync, SyncReport
from orderkit.testing import MemoryChannelClient

SKUS = ("TEA-OOLONG-250G", "100012345681")
NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)  # the shop fixture's clock
HOUR = timedelta(hours=1)


def test_a_backfill_commits_once_per_page(
    sqlite_shop: Any, versions: Any, transactions: Any
) -> None:
    shop = sqlite_shop
    shop.stock(*SKUS)
    feed = [versions(str(5000 + n), "shipped", NOW - 3 * HOUR + n * timedelta(seconds=20))
            for n in range(250)]
    client = MemoryChannelClient(feed, platform="jd", page_size=100)
    begun = transactions(shop)
    report = shop.sync.backfill("jd", client, NOW - 4 * HOUR, NOW)
    assert report == SyncReport(new=250)
    # 100 + 100 + 50: one transaction (one fsync) per page, then one relay run after
    # each page's commit (the stock its decisions owe; a sink hears only what committed)
    assert len(begun) == 6
    assert len(shop.store.seen_many("jd", [p["orderId"] for p in feed])) == 250
    begun.clear()
    assert shop.sync.backfill("jd", client, NOW - 4 * HOUR, NOW) == SyncReport(unchanged=250)
    assert begun == []  # unchanged pages are settled by one read each, with no write


def test_a_refused_payload_is_a_dead_letter_and_the_rest_of_its_page_commits(
    sqlite_shop: Any, versions: Any, transactions: Any
) -> None:
    shop = sqlite_shop
    for sku in SKUS:
        shop.ledger.receive(sku, 7, reference=f"PO-{sku}")  # stock for the 7 paid orders
    # Three shipped versions dated before their orders were created: the lifecycle
    # refuses goods that move before the order exists.
    too_early = datetime(2026, 2, 10, tzinfo=UTC)
    feed = [versions(str(6000 + n), "paid", NOW - HOUR + n * timedelta(minutes=1))
            if n < 7 else versions(str(6000 + n), "shipped", too_early) for n in range(10)]
    begun = transactions(shop)
    report = shop.sync.receive_many("jd", feed, received_at=NOW)
    assert report == SyncReport(new=7, dead_lettered=3)
    assert len(begun) == 2  # the page, then the relay run after its commit
    letters = shop.store.dead_letters("jd")
    assert len(letters) == 3
    assert all(letter.error.startswith("ValidationError: at: before the order was created")
               for letter in letters)
    for n in range(10):
        stored = shop.repository.find_by_channel("jd", str(6000 + n))
        assert (stored is not None) == (n < 7)
        assert (shop.store.seen("jd", str(6000 + n)) is not None) == (n < 7)
    for sku in SKUS:
        level = shop.ledger.stock(sku)
        assert (level.on_hand, level.locked, level.available) == (7, 7, 0)


class KeptSink:
    """An event sink that keeps the topics it is told."""

    def __init__(self) -> None:
        self.topics: list[str] = []

    def publish(self, events: Sequence[Any]) -> None:
        self.topics += [event.topic for event in events]


def test_a_page_received_inside_the_hosts_block_is_delivered_once_the_host_commits(
    sqlite_shop: Any, versions: Any
) -> None:
    shop = sqlite_shop
    shop.stock(*SKUS)
    sink = KeptSink()
    service = OrderService(shop.repository, inventory=shop.ledger, sink=sink,
                           clock=shop.clock)
    sync = Sync(shop.repository, service, store=shop.store, clock=shop.clock)
    on_hand = {sku: shop.ledger.stock(sku).on_hand for sku in SKUS}

    def host_receives(payload: dict[str, Any], fail: bool) -> None:
        with shop.repository.atomic():  # the host's own block, with its own writes
            assert sync.receive("jd", payload, received_at=NOW) == SyncReport(new=1)
            assert sink.topics == []  # nothing told before the host commits
            if fail:
                raise RuntimeError("the host's own write failed")

    with pytest.raises(RuntimeError):
        host_receives(versions("8001", "shipped", NOW - HOUR), fail=True)
    assert sink.topics == []  # rolled back: the order, its stock and its events
    assert shop.repository.find_by_channel("jd", "8001") is None
    assert shop.store.seen("jd", "8001") is None
    assert {sku: shop.ledger.stock(sku).on_hand for sku in SKUS} == on_hand
    host_receives(versions("8002", "shipped", NOW - HOUR), fail=False)
    assert "event.LinesShipped" in sink.topics  # told once the host committed
    assert all(shop.ledger.stock(sku).on_hand < on_hand[sku] for sku in SKUS)
    assert shop.ledger.verify().ok


def test_versions_of_one_order_inside_a_page_apply_in_order(
    new_shop: Any, versions: Any
) -> None:
    t = NOW - 2 * HOUR
    feed = [versions("7001", "unpaid", t), versions("7001", "shipped", t + HOUR),
            versions("7001", "paid", t + HOUR / 2), versions("7001", "shipped", t + HOUR),
            versions("7002", "paid", t), versions("7002", "paid", t - HOUR)]
    batched, single = new_shop(), new_shop()
    for shop in (batched, single):
        shop.stock(*SKUS)
    report = batched.sync.receive_many("jd", feed, received_at=NOW)
    one_by_one = SyncReport()
    for payload in feed:
        one_by_one += single.sync.receive("jd", payload, received_at=NOW)
    assert report == one_by_one == SyncReport(new=2, updated=1, unchanged=1, stale=2)
    for order_id in ("jd:7001", "jd:7002"):  # the same but for the random lock ids
        ours, theirs = batched.repository.get(order_id), single.repository.get(order_id)
        assert attrs.evolve(ours, lock_id=None) == attrs.evolve(theirs, lock_id=None)
    for key in ("7001", "7002"):
        assert batched.store.seen("jd", key) == single.store.seen("jd", key)
    stale = batched.store.seen("jd", "7002")
    assert stale is not None
    assert stale.stale == 1  # the late version of an order first seen in the same page


def test_receive_many_reports_progress_and_refuses_bad_arguments(
    shop: Any, versions: Any
) -> None:
    shop.stock(*SKUS)
    feed = [versions(str(8000 + n), "paid", NOW - HOUR) for n in range(25)]
    seen: list[tuple[int, float]] = []
    report = shop.sync.receive_many("jd", feed, received_at=NOW, batch=10,
                                    progress=lambda r, f: seen.append((r.total, f)))
    assert report == SyncReport(new=25)
    assert seen == [(10, 0.4), (20, 0.8), (25, 1.0)]
    with pytest.raises(ValidationError) as caught:
        shop.sync.receive_many("jd", feed, received_at=NOW, batch=0)
    assert caught.value.path == "batch"
    with pytest.raises(ValidationError) as caught:
        shop.sync.receive_many("jd", [*feed, ["not", "an", "object"]], received_at=NOW)
    assert caught.value.path == "payloads[25]"


class CountingClient:
    """A listing client over payloads in memory that counts the orders it fetched."""

    def __init__(self, payloads: list[dict[str, Any]]) -> None:
        self.inner = MemoryChannelClient(payloads, platform="jd", page_size=10)
        self.fetched: list[str] = []

    @property
    def shop(self) -> str:
        return self.inner.shop

    def changed(self, since: datetime, until: datetime, cursor: str | None) -> Page:
        return self.inner.changed(since, until, cursor)

    def listed(self, since: datetime, until: datetime, cursor: str | None) -> Listing:
        return self.inner.listed(since, until, cursor)

    def get(self, channel_order_id: str) -> Mapping[str, Any] | None:
        self.fetched.append(channel_order_id)
        return self.inner.get(channel_order_id)


def test_the_sweep_fetches_only_orders_newer_than_stored(shop: Any, versions: Any) -> None:
    shop.stock(*SKUS)
    t = NOW - 5 * HOUR
    old = [versions(str(9100 + n), "paid", t + n * timedelta(minutes=1)) for n in range(20)]
    shop.sync.backfill("jd", MemoryChannelClient(old, platform="jd"), NOW - 6 * HOUR, NOW)
    moved = [versions(str(9100 + n), "shipped", t + HOUR + n * timedelta(minutes=1))
             for n in range(5)]
    fresh = [versions(str(9200 + n), "paid", t + 2 * HOUR) for n in range(10)]
    client = CountingClient(old + moved + fresh)
    report = shop.sync.sweep("jd", client, NOW - 6 * HOUR, NOW)
    assert report == SyncReport(new=10, updated=5, unchanged=15)
    assert sorted(client.fetched) == sorted([p["orderId"] for p in moved + fresh])
    assert shop.repository.get("jd:9100").status.name == "SHIPPED"
    client.fetched.clear()
    assert shop.sync.sweep("jd", client, NOW - 6 * HOUR, NOW) == SyncReport(unchanged=30)
    assert client.fetched == []
    with pytest.raises(ValidationError) as caught:
        shop.sync.sweep("jd", object(), NOW - HOUR, NOW)
    assert caught.value.path == "client"
