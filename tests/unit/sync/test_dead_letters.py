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

from orderkit.model.errors import ValidationError
from orderkit.sync import MemoryChannelClient, SyncReport, parse_json, read_lines
from orderkit.sync.records import PAYLOAD_MAX_LENGTH

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
