"""One path in: first sightings are placed, later ones become events; duplicates, stale
payloads and bad payloads are told apart; lookups by channel id and waybill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.mapping import Field, Registry, StatusRule, get_map, modified_at, normalize
from orderkit.model.orders import LineStatus, OrderStatus
from orderkit.sync import SyncReport

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"
CASES = sorted((p.parent.name, p.stem) for p in FIXTURES.glob("*/*.json"))
DAY = timedelta(days=1)
NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)  # the shop fixture's clock
Shop = Any


def _buckets(order: Any) -> list[dict[str, int]]:
    return [{k.value: v for k, v in line.quantities.items() if v} for line in order.lines]


@pytest.mark.parametrize(("platform", "name"), CASES)
def test_every_fixture_is_placed_and_brought_to_its_mapped_state(
    shop: Shop, payloads: Any, platform: str, name: str
) -> None:
    payload = payloads(platform, name)
    mapped = normalize(platform, payload)
    shop.stock(*{line.sku for line in mapped.lines})
    report = shop.sync.receive(platform, payload, received_at=NOW)
    if modified_at(platform, payload) is None:
        # A shape without the platform's modified time cannot be ordered against later
        # versions: it waits as a dead letter instead of being applied blind.
        assert report == SyncReport(dead_lettered=1)
        return
    assert report == SyncReport(new=1)
    stored = shop.repository.find_by_channel(mapped.channel, mapped.channel_order_id)
    assert stored is not None
    assert (stored.status, _buckets(stored)) == (mapped.status, _buckets(mapped))
    assert stored.totals.paid - stored.totals.refunded - stored.totals.refund_due \
        + stored.totals.due == stored.totals.sold
    for sku in {line.sku for line in mapped.lines}:
        level = shop.ledger.stock(sku)
        assert level.on_hand == level.available + level.locked
        open_units = sum(line.quantities[LineStatus.OPEN] for line in stored.lines
                         if line.sku == sku)
        if stored.status in (OrderStatus.CANCELLED, OrderStatus.CLOSED):
            assert level.locked == 0
        else:
            assert level.locked == open_units


def test_a_later_version_becomes_events_and_a_repeat_is_a_no_op(
    shop: Shop, versions: Any
) -> None:
    shop.stock("TEA-OOLONG-250G", "100012345681")
    t = NOW - DAY
    assert shop.sync.receive("jd", versions("9001", "unpaid", t), received_at=NOW) \
        == SyncReport(new=1)
    shipped = versions("9001", "shipped", t + timedelta(hours=2))
    assert shop.sync.receive("jd", shipped, received_at=NOW) == SyncReport(updated=1)
    assert shop.sync.receive("jd", shipped, received_at=NOW) == SyncReport(unchanged=1)
    stored = shop.repository.get("jd:9001")
    assert stored.status == OrderStatus.SHIPPED
    assert list(stored.applied_event_ids) == [
        "jd:9001:pay:358.00", "jd:9001:ship:JDVA21738465902:1=1,2=1",
    ]
    assert shop.repository.find_by_waybill("JDVA21738465902") == [stored]
    assert shop.ledger.stock("TEA-OOLONG-250G").on_hand == 999  # shipped: out of stock
    seen = shop.store.seen("jd", "9001")
    assert seen is not None
    assert seen.lag == NOW - (t + timedelta(hours=2))


def test_an_older_payload_is_stale_and_changes_nothing(shop: Shop, versions: Any) -> None:
    shop.stock("TEA-OOLONG-250G", "100012345681")
    t = NOW - DAY
    shop.sync.receive("jd", versions("9001", "shipped", t + timedelta(hours=2)), received_at=NOW)
    before = shop.repository.get("jd:9001")
    report = shop.sync.receive("jd", versions("9001", "paid", t), received_at=NOW)
    assert report == SyncReport(stale=1)
    assert shop.repository.get("jd:9001") == before
    seen = shop.store.seen("jd", "9001")
    assert seen is not None
    assert seen.stale == 1


def test_a_payload_the_map_refuses_is_a_dead_letter_until_the_map_is_fixed(
    shop: Shop, payloads: Any
) -> None:
    registry = Registry()
    shop.sync.maps = registry
    trade = dict(payloads("tmall", "wait_seller_send_goods"), status="WAIT_PRE_AUTH_CONFIRM")
    shop.stock(*{line.sku for line in normalize("tmall", payloads("tmall",
                                                                   "wait_seller_send_goods")).lines})
    assert shop.sync.receive("tmall", trade, received_at=NOW) == SyncReport(dead_lettered=1)
    assert shop.sync.receive("tmall", trade, received_at=NOW) == SyncReport(dead_lettered=1)
    (letter,) = shop.store.dead_letters()
    assert letter.attempts == 2
    assert "status" in letter.error
    assert "WAIT_PRE_AUTH_CONFIRM" in letter.error
    assert shop.repository.find_by_channel("tmall", trade["tid_str"]) is None
    fixed = get_map("tmall").extended(
        "tmall",
        status_values={"trade": ("WAIT_PRE_AUTH_CONFIRM",)},
        status_rules=(StatusRule({"trade": "WAIT_PRE_AUTH_CONFIRM"},
                                 OrderStatus.PENDING_PAYMENT),),
    )
    registry.register(fixed, replace=True)
    assert shop.sync.replay_dead_letters() == SyncReport(new=1)
    assert shop.store.dead_letters() == []
    stored = shop.repository.find_by_channel("tmall", trade["tid_str"])
    assert stored is not None
    assert stored.status == OrderStatus.PENDING_PAYMENT


def test_a_payload_without_the_platforms_modified_time_is_a_dead_letter(
    shop: Shop, versions: Any
) -> None:
    payload = versions("9001", "paid", NOW)
    del payload["modified"]
    assert shop.sync.receive("jd", payload, received_at=NOW) == SyncReport(dead_lettered=1)
    (letter,) = shop.store.dead_letters("jd")
    assert "modified" in letter.error


def test_sync_reads_the_modified_time_through_its_maps(shop: Shop, versions: Any) -> None:
    # A host whose JD integration puts the modified time elsewhere changes the map, not
    # sync: the map's own ``modified_at`` field decides new against stale.
    registry = Registry()
    registry.register(
        attrs.evolve(get_map("jd"), modified_at=Field("changed", "timestamp", required=False)),
        replace=True,
    )
    shop.sync.maps = registry
    shop.stock("TEA-OOLONG-250G", "100012345681")
    newer = versions("9001", "paid", NOW - DAY)
    newer["changed"] = newer.pop("modified")
    older = versions("9001", "unpaid", NOW - 2 * DAY)
    older["changed"] = older.pop("modified")
    assert shop.sync.receive("jd", newer, received_at=NOW) == SyncReport(new=1)
    assert shop.sync.receive("jd", older, received_at=NOW) == SyncReport(stale=1)
    seen = shop.store.seen("jd", "9001")
    assert seen is not None
    assert seen.modified_at == NOW - DAY
    # Without the field the map reads, the payload waits as a dead letter naming it.
    del older["changed"]
    assert shop.sync.receive("jd", older, received_at=NOW) == SyncReport(dead_lettered=1)
    (letter,) = shop.store.dead_letters("jd")
    assert "changed" in letter.error
    assert "modified time is missing" in letter.error


def test_a_trade_read_as_taobao_and_as_tmall_is_one_order_and_its_older_version_is_stale(
    shop: Shop, payloads: Any
) -> None:
    newer = payloads("tmall", "wait_seller_send_goods")
    older = {**newer, "modified": "2026-02-16 00:10:00"}
    mapped = normalize("tmall", newer)
    shop.stock(*{line.sku for line in mapped.lines})
    assert shop.sync.receive("tmall", newer, received_at=NOW) == SyncReport(new=1)
    # The same trade from a Taobao integration, an older version: seen, never applied.
    assert shop.sync.receive("taobao", older, received_at=NOW) == SyncReport(stale=1)
    assert shop.sync.receive("taobao", newer, received_at=NOW) == SyncReport(unchanged=1)


@pytest.mark.parametrize("platform", ["JD", "jd ", "tmal", ""])
def test_a_platform_without_a_map_is_refused_before_anything_is_stored(
    shop: Shop, payloads: Any, platform: str
) -> None:
    from orderkit.model.errors import ValidationError
    from orderkit.sync import MemoryChannelClient

    payload = payloads("jd", "wait_seller_stock_out")
    client = MemoryChannelClient([payload], platform="jd")
    since, until = NOW - DAY, NOW
    calls = [
        lambda: shop.sync.receive(platform, payload, received_at=NOW),
        lambda: shop.sync.receive_many(platform, [payload, payload], received_at=NOW),
        lambda: shop.sync.poll(platform, client),
        lambda: shop.sync.backfill(platform, client, since, until),
        lambda: shop.sync.sweep(platform, client, since, until),
    ]
    for call in calls:
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.path == "platform"
        assert caught.value.value == platform
        assert f"(known: {', '.join(shop.sync.maps.platforms())})" in str(caught.value)
        assert " jd, pdd, " in str(caught.value)
    assert shop.store.dead_letters() == []
    assert shop.store.cursor(platform, client.shop) is None
    assert shop.repository.find_by_channel("jd", payload["orderId"]) is None


def test_woocommerce_refunds_become_refund_events_once(shop: Shop, payloads: Any) -> None:
    from decimal import Decimal

    payload = payloads("woocommerce", "completed_with_refunds_from_docs")
    shop.stock(*{line.sku for line in normalize("woocommerce", payload).lines})
    assert shop.sync.receive("woocommerce", payload, received_at=NOW) == SyncReport(new=1)
    stored = shop.repository.find_by_channel("woocommerce", "723")
    assert stored is not None
    totals = stored.totals
    assert (stored.status, totals.paid.amount, totals.refunded.amount, totals.sold.amount) \
        == (OrderStatus.COMPLETED, Decimal("39.00"), Decimal("19.00"), Decimal("20.00"))
    assert totals.paid - totals.refunded - totals.refund_due + totals.due == totals.sold
    assert [e for e in stored.applied_event_ids if ":refund:" in e] \
        == ["woocommerce:723:refund:19.00"]
    later = dict(payload, date_modified_gmt="2017-03-22T10:00:00",
                 refunds=[{"id": 730, "reason": "late", "total": "-5.00"},
                          *payload["refunds"]])
    assert shop.sync.receive("woocommerce", later, received_at=NOW) == SyncReport(updated=1)
    assert shop.sync.receive("woocommerce", payload, received_at=NOW) == SyncReport(stale=1)
    stored = shop.repository.get(stored.order_id)
    assert stored.totals.refunded.amount == Decimal("24.00")
    assert [e for e in stored.applied_event_ids if ":refund:" in e] \
        == ["woocommerce:723:refund:19.00", "woocommerce:723:refund:24.00"]


def test_a_shopify_fulfillment_is_replayed_with_its_carrier_and_tracking_number(
    shop: Shop, payloads: Any
) -> None:
    # A cancelled USPS fulfillment, then a FedEx one that went out.
    payload = payloads("shopify", "fulfilled_after_cancelled_fulfillment")
    shop.stock("TEA-OOLONG-250G", "TRAY-BAMBOO")
    assert shop.sync.receive("shopify", payload, received_at=NOW) == SyncReport(new=1)
    stored = shop.repository.get("shopify:5723894808748")
    assert list(stored.applied_event_ids) == [
        "shopify:5723894808748:pay:72.62",
        "shopify:5723894808748:ship:771234104702:14083919347884=1,14083919380652=1",
    ]
    [shipment] = stored.shipments
    assert (shipment.carrier, shipment.waybill, shipment.shipped_at) == (
        "FedEx", "771234104702", datetime(2026, 2, 19, 20, 10, tzinfo=UTC))
    assert shop.repository.find_by_waybill("771234104702") == [stored]
    assert shop.repository.find_by_waybill("9400111899561000104703") == []


def test_a_platform_hold_is_placed_and_released_by_sync_with_the_channels_words(
    shop: Shop, versions: Any
) -> None:
    """The mapped order's hold names the channel (``Hold.by == "jd"``); the hold sync
    places on the stored order is sync's (``SYNC_ACTOR``), with the channel's kind and
    reason, so sync lifts only the holds it placed, never a person's."""
    from orderkit.lifecycle import Actor, Event
    from orderkit.sync import SYNC_ACTOR

    paid = versions("9101", "paid", NOW - 2 * DAY)
    locked = {**versions("9101", "paid", NOW - DAY), "orderState": "LOCKED"}
    unlocked = versions("9101", "paid", NOW)
    shop.stock(*{line.sku for line in normalize("jd", paid).lines})
    shop.sync.receive("jd", paid, received_at=NOW)
    stored = shop.repository.find_by_channel("jd", "9101")
    assert stored is not None
    shop.service.handle(stored.order_id, Event(
        "hold", event_id="ops:9101:hold", at=NOW - DAY, actor=Actor("ops"),
        data={"kind": "address_check", "reason": "the buyer asked to check the address"}))

    assert [h.by for h in normalize("jd", locked).holds] == ["jd"]
    assert shop.sync.receive("jd", locked, received_at=NOW) == SyncReport(updated=1)
    held = shop.repository.find_by_channel("jd", "9101")
    assert held is not None
    assert [(h.kind, h.by) for h in held.holds] == [
        ("address_check", "ops"), ("platform_locked", SYNC_ACTOR.id)]
    platform_hold = held.hold("platform_locked")
    assert platform_hold is not None
    assert platform_hold.reason == normalize("jd", locked).holds[0].reason

    assert shop.sync.receive("jd", unlocked, received_at=NOW) == SyncReport(updated=1)
    released = shop.repository.find_by_channel("jd", "9101")
    assert released is not None
    assert [(h.kind, h.by) for h in released.holds] == [("address_check", "ops")]


def test_a_synced_payment_keeps_the_gateway_reference_the_map_reads(
    shop: Shop, payloads: Any
) -> None:
    from orderkit.model.orders import PaymentKind
    from orderkit.reconcile import records_from_orders

    payload = payloads("tmall", "wait_seller_send_goods")
    mapped = normalize("tmall", payload)
    (wanted,) = [p for p in mapped.payments if p.kind is PaymentKind.PAYMENT]
    assert wanted.reference == payload["alipay_no"]
    shop.stock(*{line.sku for line in mapped.lines})
    assert shop.sync.receive("tmall", payload, received_at=NOW) == SyncReport(new=1)
    stored = shop.repository.find_by_channel("tmall", payload["tid_str"])
    assert stored is not None
    (paid,) = [p for p in stored.payments if p.kind is PaymentKind.PAYMENT]
    assert (paid.reference, paid.method) == (wanted.reference, wanted.method)
    (record,) = records_from_orders([stored])
    assert payload["alipay_no"] in record.links


@pytest.mark.parametrize("first", ["completed", "processing"])
def test_a_woocommerce_order_refunded_in_full_by_the_erp_then_refunded_on_the_shop_is_unchanged(
    shop: Shop, payloads: Any, first: str
) -> None:
    from orderkit.lifecycle import Event
    from orderkit.model.money import Money

    base = payloads("woocommerce", "completed_with_refunds_from_docs")

    def version(status: str, refunds: list[dict[str, Any]], modified: str) -> dict[str, Any]:
        payload = dict(base, status=status, refunds=refunds, date_modified_gmt=modified,
                       date_paid_gmt="2017-03-21T19:20:00", date_paid="2017-03-21T16:20:00")
        if status == "processing":
            payload.update(date_completed_gmt=None, date_completed=None)
        return payload

    shop.stock(*{line.sku for line in normalize("woocommerce", base).lines})
    assert shop.sync.receive("woocommerce", version(first, [], "2017-03-21T19:40:00"),
                             received_at=NOW) == SyncReport(new=1)
    stored = shop.repository.find_by_channel("woocommerce", "723")
    assert stored is not None
    refund = Event("refund", event_id="erp-r1", at=NOW, data={"amount": Money("39.00", "USD")})
    ended = shop.service.handle(stored.order_id, refund).order
    refunded = version("refunded", [{"id": 800, "refund": "", "total": "-39.00"}],
                       "2017-03-21T19:54:51")
    assert shop.sync.receive("woocommerce", refunded, received_at=NOW) == SyncReport(unchanged=1)
    assert shop.store.dead_letters() == []
    assert shop.repository.get(stored.order_id).status == ended.status
