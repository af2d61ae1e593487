"""What a sync engine reads from a payload beside the order: the platform's modified time,
the channel identity, shop id, notes and a digest of the payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.mapping import (
    Field,
    Registry,
    channel_identity,
    get_map,
    modified_at,
    normalize,
    payload_digest,
    read_order,
)
from orderkit.model.errors import MappingError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"


def load(platform: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text("utf-8"))
    return payload


@pytest.mark.parametrize(
    ("platform", "name", "expected"),
    [
        # Naive Beijing text: 8 hours ahead of UTC.
        ("tmall", "wait_seller_send_goods", datetime(2026, 2, 15, 16, 30, tzinfo=UTC)),
        ("jd", "locked_cancellation_pending", datetime(2026, 2, 16, 1, 12, 40, tzinfo=UTC)),
        ("pdd", "awaiting_shipment_three_lines", datetime(2026, 2, 16, 4, 0, 5, tzinfo=UTC)),
        # Unix seconds.
        ("douyin", "paid_three_skus_with_influencer_promotion",
         datetime.fromtimestamp(1771216200, UTC)),
        # An offset in the text.
        ("shopify", "paid_unfulfilled_new_york", datetime(2026, 2, 16, 0, 30, tzinfo=UTC)),
        # The _gmt field, UTC without an offset.
        ("woocommerce", "processing_from_docs", datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)),
    ],
)
def test_modified_at_reads_the_platforms_own_modified_time(
    platform: str, name: str, expected: datetime
) -> None:
    payload = load(platform, name)
    found = modified_at(platform, payload)
    assert found == expected
    assert found is not None and found.tzinfo is UTC
    assert read_order(platform, payload).modified_at == expected


def test_modified_at_is_none_when_the_payload_has_none() -> None:
    payload = load("douyin", "search_list_item_without_goods_price")
    del payload["update_time"]
    assert modified_at("douyin", payload) is None
    assert read_order("douyin", payload).modified_at is None


def test_modified_at_reads_through_the_envelope_and_names_a_bad_value() -> None:
    trade = load("tmall", "wait_seller_send_goods")
    response = {"trade_fullinfo_get_response": {"trade": trade}}
    assert modified_at("tmall", response) == modified_at("tmall", trade)
    trade["modified"] = "yesterday"
    with pytest.raises(MappingError) as caught:
        modified_at("tmall", response)
    assert (caught.value.path, caught.value.value) == (
        "trade_fullinfo_get_response.trade.modified", "yesterday"
    )


def test_an_older_payload_is_told_from_a_newer_one() -> None:
    old = load("tmall", "wait_seller_send_goods")
    new = load("tmall", "wait_seller_send_goods")
    new["modified"] = "2026-02-16 00:30:01"
    older, newer = modified_at("tmall", old), modified_at("tmall", new)
    assert older is not None and newer is not None and older < newer


def test_read_order_keeps_shop_notes_and_a_digest_beside_the_order() -> None:
    payload = load("jd", "locked_cancellation_pending")
    mapped = read_order("jd", payload)
    assert mapped.order == normalize("jd", payload)
    assert (mapped.platform, mapped.shop_id) == ("jd", "10188866")
    assert (mapped.buyer_note, mapped.seller_note) == ("", "买家申请取消，待审核")
    assert mapped.raw is payload
    assert mapped.digest == payload_digest(payload)
    assert mapped.digest.startswith("sha256:") and len(mapped.digest) == 7 + 64
    assert mapped.payable == mapped.order.totals.payable
    assert not mapped.presale


def test_buyer_and_seller_notes_of_each_chinese_platform() -> None:
    assert read_order("tmall", load("tmall", "wait_seller_send_goods")).buyer_note == "请尽快发货"
    douyin = read_order("douyin", load("douyin", "multi_buy_three_for_100"))
    assert (douyin.buyer_note, douyin.seller_note, douyin.shop_id) == (
        "三包一起发", "多件装活动", "4463798"
    )


def test_the_digest_ignores_key_order_and_envelope_but_not_content() -> None:
    trade = load("tmall", "wait_seller_send_goods")
    shuffled = dict(reversed(list(trade.items())))
    response = {"trade_fullinfo_get_response": {"trade": shuffled}}
    digest = read_order("tmall", trade).digest
    assert read_order("tmall", response).digest == digest
    changed = dict(trade, seller_memo="加急")
    assert read_order("tmall", changed).digest != digest


def test_a_payload_with_a_value_json_cannot_hold_is_refused_by_read_order() -> None:
    trade = load("tmall", "wait_seller_send_goods")
    trade["flags"] = {1, 2}
    with pytest.raises(MappingError) as caught:
        read_order("tmall", trade)
    assert caught.value.value == "set"


def test_presale_is_read_from_the_tag() -> None:
    assert read_order("tmall", load("tmall", "presale_final_paid")).presale


def test_taobao_and_tmall_name_the_same_stored_order() -> None:
    trade = load("tmall", "wait_seller_send_goods")
    assert channel_identity("taobao", trade) == channel_identity("tmall", trade) == (
        "tmall", "3698512204871532841"
    )
    taobao = read_order("taobao", trade)
    assert (taobao.platform, taobao.order.channel) == ("taobao", "tmall")
    assert channel_identity("jd", load("jd", "finished"))[0] == "jd"


def test_channel_identity_names_a_missing_id() -> None:
    with pytest.raises(MappingError) as caught:
        channel_identity("douyin", {"data": {"shop_order_detail": {"order_status": 2}}})
    assert caught.value.path == "data.shop_order_detail.order_id"


def test_an_extended_map_under_a_new_name_keeps_the_channel_identity() -> None:
    credit = get_map("tmall").extended("tmall_credit")
    assert credit.channel_name == "tmall"
    other = get_map("tmall").extended("tmall_hk", channel="tmall_hk")
    registry = Registry(builtins=False)
    registry.register(credit)
    registry.register(other)
    trade = load("tmall", "wait_seller_send_goods")
    assert registry.normalize("tmall_credit", trade).order_id == "tmall:3698512204871532841"
    assert registry.normalize("tmall_hk", trade).channel == "tmall_hk"


def test_extended_can_change_how_lines_are_read() -> None:
    base = get_map("douyin")
    by_sku_id = base.extended(lines=attrs.evolve(base.lines, sku=Field("sku_id", "id")))
    registry = Registry()
    registry.register(by_sku_id, replace=True)
    payload = load("douyin", "search_list_item_without_goods_price")
    assert [line.sku for line in registry.normalize("douyin", payload).lines] == [
        "1780000000002", "1780000000003"
    ]
    assert [line.sku for line in normalize("douyin", payload).lines] == [
        "CUP-CELADON", "POT-XISHI-220"
    ]
