"""Keeping a dead letter never fails the batch it came in: a payload too long for a
letter, or holding a value JSON has not (NaN, Infinity), is one letter naming it, and
the rest of the batch (and the poll's cursor) goes on."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orderkit.mapping import Registry, StatusRule, get_map, normalize
from orderkit.model.errors import ValidationError
from orderkit.orders import OrderStatus
from orderkit.sync import MemoryChannelClient, Sync, SyncReport, parse_json, read_lines
from orderkit.sync.modified import payload_digest, payload_text
from orderkit.sync.records import PAYLOAD_MAX_LENGTH, DeadLetter

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
Shop = Any


def _good_and_bad(payloads: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    good = payloads("jd", "wait_seller_stock_out")
    bad = copy.deepcopy(good)
    bad.update(orderId="999", orderState="NEW_STATE")  # a status the map refuses
    return good, bad


def test_a_letter_too_long_to_keep_is_kept_cut_short_naming_the_payload(
    shop: Shop, payloads: Any
) -> None:
    good, bad = _good_and_bad(payloads)
    bad["orderRemark"] = "备注" * (PAYLOAD_MAX_LENGTH // 2 + 1000)
    shop.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")

    report = shop.sync.receive_many("jd", [good, bad], received_at=NOW)

    assert report == SyncReport(new=1, dead_lettered=1)
    assert shop.repository.find_by_channel("jd", good["orderId"]) is not None
    (letter,) = shop.store.dead_letters("jd")
    assert len(letter.payload) < PAYLOAD_MAX_LENGTH
    assert "jd payloads[1]" in letter.error and "longer than a dead letter keeps" in letter.error
    assert "NEW_STATE" in letter.error  # why the map refused it is kept too
    # Cut short, it cannot be replayed: it stays, and the replay goes on.
    assert shop.sync.replay_dead_letters() == SyncReport(dead_lettered=1)
    assert len(shop.store.dead_letters()) == 1


def test_a_poll_moves_past_a_payload_too_long_for_a_letter(shop: Shop, payloads: Any) -> None:
    good, bad = _good_and_bad(payloads)
    bad["orderRemark"] = "x" * PAYLOAD_MAX_LENGTH
    client = MemoryChannelClient([good, bad], platform="jd")
    shop.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")

    report = shop.sync.poll("jd", client, start=datetime(2026, 2, 16, tzinfo=UTC))

    assert (report.new, report.dead_lettered) == (1, 1)
    cursor = shop.store.cursor("jd", "")
    assert cursor is not None and cursor.modified_at > NOW - timedelta(minutes=10)


def test_a_payload_with_nan_is_its_own_dead_letter(shop: Shop, payloads: Any) -> None:
    good, bad = _good_and_bad(payloads)
    bad.update(orderState=good["orderState"], orderPayment=float("nan"))
    shop.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")

    report = shop.sync.receive_many("jd", [bad, good], received_at=NOW)

    assert report == SyncReport(new=1, dead_lettered=1)
    (letter,) = shop.store.dead_letters("jd")
    assert "NaN" in letter.payload and "Out of range float" in letter.error
    assert shop.sync.replay_dead_letters() == SyncReport(dead_lettered=1)


def test_json_text_with_nan_or_infinity_is_refused_where_it_is_read(tmp_path: Path) -> None:
    for constant in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(ValueError, match=f"{constant} is not a JSON number"):
            parse_json('{"orderPayment": ' + constant + "}")
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"orderId": "1"}) + "\n" + '{"orderPayment": NaN}\n', "utf-8")
    with pytest.raises(ValidationError) as caught:
        read_lines(feed)
    assert caught.value.path == "feed.jsonl:2"
    assert "NaN is not a JSON number" in str(caught.value)



def test_a_file_not_in_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    feed = tmp_path / "export.jsonl"
    feed.write_bytes(json.dumps({"orderId": "1", "buyer": "张三"}, ensure_ascii=False)
                     .encode("gbk") + b"\n")
    with pytest.raises(ValidationError) as caught:
        read_lines(feed)
    assert caught.value.path == "export.jsonl"
    assert "is not UTF-8 text" in caught.value.reason
    assert "at byte 27" in caught.value.reason  # the first byte of 张

# --- one trade, one letter, whichever name of its channel delivered it ------------------


def _pre_auth(payloads: Any) -> dict[str, Any]:
    """A Tmall trade in a status the built-in map does not know."""
    trade: dict[str, Any] = dict(payloads("tmall", "wait_seller_send_goods"),
                                 status="WAIT_PRE_AUTH_CONFIRM")
    trade.pop("pay_time")
    return trade


def _fixed_tmall() -> Registry:
    """The Tmall map extended to read the status, registered under ``tmall`` (the
    ``taobao`` name reads with it too)."""
    fixed = get_map("tmall").extended(
        "tmall", status_values={"trade": ("WAIT_PRE_AUTH_CONFIRM",)},
        status_rules=(StatusRule({"trade": "WAIT_PRE_AUTH_CONFIRM"},
                                 OrderStatus.PENDING_PAYMENT),),
    )
    maps = Registry()
    maps.register(fixed, replace=True)
    return maps


@pytest.fixture(params=["memory", "sqlite"])
def either_shop(request: pytest.FixtureRequest, shop: Shop, sqlite_shop: Shop) -> Shop:
    """The shop on memory stores, then on one SQLite file."""
    return sqlite_shop if request.param == "sqlite" else shop


def _stocked(shop: Shop, trade: dict[str, Any]) -> None:
    shop.stock(*{line.sku for line in normalize("tmall", dict(
        trade, status="WAIT_SELLER_SEND_GOODS", pay_time="2026-02-16 10:00:00")).lines})


def test_a_bad_trade_received_as_taobao_and_as_tmall_is_one_letter_naming_the_tmall_map(
    either_shop: Shop, payloads: Any
) -> None:
    shop = either_shop
    trade = _pre_auth(payloads)

    assert shop.sync.receive("taobao", trade, received_at=NOW) == SyncReport(dead_lettered=1)
    assert shop.sync.receive("tmall", trade, received_at=NOW) == SyncReport(dead_lettered=1)

    (letter,) = shop.store.dead_letters()
    assert letter.letter_id == "tmall:" + payload_digest(payload_text(trade))
    assert (letter.platform, letter.attempts) == ("taobao", 2)
    # taobao reads with the Tmall map: the value goes in the tmall status table.
    assert "add 'WAIT_PRE_AUTH_CONFIRM' to the tmall status table" in letter.error
    assert "taobao" not in letter.error


@pytest.mark.parametrize("received_as", ["taobao", "tmall"])
def test_a_letter_of_either_name_replays_through_a_fixed_tmall_map(
    shop: Shop, payloads: Any, received_as: str
) -> None:
    trade = _pre_auth(payloads)
    _stocked(shop, trade)
    shop.sync.receive(received_as, trade, received_at=NOW)
    shop.sync.receive("taobao", trade, received_at=NOW)
    fixed = Sync(shop.repository, shop.service, store=shop.store, maps=_fixed_tmall(),
                 clock=shop.clock)

    # Replaying the tmall channel's letters takes those received as taobao too.
    assert fixed.replay_dead_letters("tmall") == SyncReport(new=1)

    assert shop.store.dead_letters() == []
    stored = shop.repository.find_by_channel("tmall", str(trade["tid_str"]))
    assert stored is not None and stored.status is OrderStatus.PENDING_PAYMENT


def test_letters_kept_under_the_platform_name_are_listed_replayed_and_merged(
    either_shop: Shop, payloads: Any
) -> None:
    shop = either_shop
    trade = _pre_auth(payloads)
    _stocked(shop, trade)
    text = payload_text(trade)
    digest = payload_digest(text)
    # As letters were keyed before: by the name each copy arrived under.
    for name, attempts in (("taobao", 3), ("tmall", 1)):
        shop.store.add_dead_letter(DeadLetter(f"{name}:{digest}", name, text,
                                              "MappingError: old", NOW, attempts))
    assert {letter.letter_id for letter in shop.store.dead_letters()} == {
        f"taobao:{digest}", f"tmall:{digest}"}

    # Still refused: one letter, under the channel's key.
    assert shop.sync.replay_dead_letters() == SyncReport(dead_lettered=1)
    (letter,) = shop.store.dead_letters()
    assert letter.letter_id == f"tmall:{digest}"
    assert letter.attempts > 1 and "tmall status table" in letter.error

    fixed = Sync(shop.repository, shop.service, store=shop.store, maps=_fixed_tmall(),
                 clock=shop.clock)
    assert fixed.replay_dead_letters("taobao") == SyncReport(new=1)
    assert shop.store.dead_letters() == []


def test_a_legacy_letter_replayed_after_its_trade_is_stored_is_dropped(
    shop: Shop, payloads: Any
) -> None:
    trade = _pre_auth(payloads)
    _stocked(shop, trade)
    text = payload_text(trade)
    shop.store.add_dead_letter(DeadLetter(f"taobao:{payload_digest(text)}", "taobao", text,
                                          "MappingError: old", NOW))
    fixed = Sync(shop.repository, shop.service, store=shop.store, maps=_fixed_tmall(),
                 clock=shop.clock)
    assert fixed.receive("tmall", trade, received_at=NOW) == SyncReport(new=1)

    assert fixed.replay_dead_letters() == SyncReport(unchanged=1)
    assert shop.store.dead_letters() == []


def test_replaying_the_letters_of_a_platform_with_no_map_is_refused(
    shop: Shop, versions: Any
) -> None:
    broken = dict(versions("9401", "paid", NOW), orderState="WAIT_FOR_MARS")
    assert shop.sync.receive("jd", broken, received_at=NOW) == SyncReport(dead_lettered=1)
    with pytest.raises(ValidationError) as refused:
        shop.sync.replay_dead_letters("JD")  # a typo for "jd" found nothing, said nothing
    assert (refused.value.path, refused.value.value) == ("platform", "JD")
    assert "known: " in refused.value.reason
    assert shop.sync.replay_dead_letters("jd") == SyncReport(dead_lettered=1)
