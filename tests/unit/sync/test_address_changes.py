"""A newer channel version whose only change is the ship-to address: while the order can
still take it the address is brought with a ``change_address`` (dated by the payload's
modified time, idempotent); once the lifecycle refuses it (packed, past the edit
window) the order is held ``channel_mismatch`` naming the address. An address the
channel encrypts or empties is never a change, nor any address once goods have left."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from orderkit.lifecycle import Event
from orderkit.mapping import normalize
from orderkit.model.orders import Address, OrderStatus
from orderkit.sync import MISMATCH_HOLD, SyncReport
from orderkit.sync.diff import SYNC_ACTOR, next_event

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
SKUS = ("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")
TID = "3698512204871532841"
#: The receiver the buyer moved the parcel to (Tmall masks it as it masks the first).
NINGBO = {"receiver_name": "王*", "receiver_city": "宁波市", "receiver_district": "鄞州区",
          "receiver_address": "天童南路***号"}
Shop = Any


@pytest.fixture(params=["memory", "sqlite"])
def any_shop(request: pytest.FixtureRequest, shop: Shop, sqlite_shop: Shop) -> Shop:
    chosen = shop if request.param == "memory" else sqlite_shop
    chosen.stock(*SKUS)
    return chosen


def _tmall(payloads: Callable[[str, str], dict[str, Any]], modified: str,
           **fields: Any) -> dict[str, Any]:
    """The Tmall fixture ``wait_seller_send_goods`` (paid 00:31:12) at ``modified``."""
    trade = copy.deepcopy(payloads("tmall", "wait_seller_send_goods"))
    trade.update(modified=modified, **fields)
    return trade


def _stored(shop: Shop) -> Any:
    return shop.repository.find_by_channel("tmall", TID)


def test_a_new_address_within_the_edit_window_is_a_change_address(
    any_shop: Shop, payloads: Any
) -> None:
    any_shop.sync.receive("tmall", _tmall(payloads, "2026-02-16 00:35:00"), received_at=NOW)
    moved = _tmall(payloads, "2026-02-16 01:00:00", **NINGBO)
    assert any_shop.sync.receive("tmall", moved, received_at=NOW) == SyncReport(updated=1)
    order = _stored(any_shop)
    assert order.ship_to == Address(name="王*", phone="138****5678", province="浙江省",
                                    city="宁波市", district="鄞州区", street="天童南路***号",
                                    postcode="310000")
    assert order.holds == ()
    (version,) = any_shop.repository.address_history(order.order_id)
    assert version.previous.city == "杭州市" and version.address == order.ship_to
    assert version.event_id.endswith(":2026-02-15T17:00:00+00:00")  # 01:00 Beijing
    entry = next(e for e in any_shop.repository.audit_trail(order.order_id)
                 if e.event == "change_address")
    assert entry.actor == SYNC_ACTOR.id
    # The same payload again, and the same version read again, change nothing.
    assert any_shop.sync.receive("tmall", moved, received_at=NOW) == SyncReport(unchanged=1)
    assert any_shop.sync.receive("tmall", dict(moved, buyer_message="请尽快发货"),
                                 received_at=NOW).updated == 0
    assert _stored(any_shop).version == order.version


def test_the_change_address_event_id_comes_from_the_order_and_the_address(
    shop: Shop, payloads: Any
) -> None:
    stored = normalize("tmall", _tmall(payloads, "2026-02-16 00:35:00"))
    at = datetime(2026, 2, 15, 17, 0, tzinfo=UTC)
    target = normalize("tmall", _tmall(payloads, "2026-02-16 01:00:00", **NINGBO))
    event = next_event(stored, target, at=at)
    assert isinstance(event, Event) and event.name == "change_address"
    assert event.data == {"address": target.ship_to} and event.at == at
    assert event.actor == SYNC_ACTOR
    assert event.event_id.startswith(f"tmall:{TID}:change_address:")
    assert next_event(stored, target, at=at) == event  # the same id every time
    other = normalize("tmall", _tmall(payloads, "2026-02-16 01:00:00",
                                      **dict(NINGBO, receiver_address="天童北路***号")))
    assert next_event(stored, other, at=at).event_id != event.event_id  # type: ignore[union-attr]


def test_a_new_address_past_the_edit_window_holds_the_order_naming_it(
    any_shop: Shop, payloads: Any
) -> None:
    any_shop.sync.receive("tmall", _tmall(payloads, "2026-02-16 00:35:00"), received_at=NOW)
    late = _tmall(payloads, "2026-02-16 09:00:00", **NINGBO)
    assert any_shop.sync.receive("tmall", late, received_at=NOW) == SyncReport(updated=1)
    order = _stored(any_shop)
    assert order.ship_to.city == "杭州市"  # not changed without a second person
    hold = order.hold(MISMATCH_HOLD)
    assert hold is not None and "ship-to address" in hold.reason and "宁波市" in hold.reason
    assert any_shop.repository.address_history(order.order_id) == []
    assert any_shop.store.dead_letters() == []
    # The channel going back to the stored address releases the hold.
    back = _tmall(payloads, "2026-02-16 09:30:00")
    any_shop.sync.receive("tmall", back, received_at=NOW)
    assert _stored(any_shop).hold(MISMATCH_HOLD) is None


def test_a_new_address_on_a_packed_order_holds_it(any_shop: Shop, payloads: Any) -> None:
    any_shop.sync.receive("tmall", _tmall(payloads, "2026-02-16 00:35:00"), received_at=NOW)
    order = _stored(any_shop)
    any_shop.service.handle(order.order_id, Event("pack", event_id="pack-1",
                                                  at=datetime(2026, 2, 15, 16, 40, tzinfo=UTC)))
    moved = _tmall(payloads, "2026-02-16 01:00:00", **NINGBO)
    assert any_shop.sync.receive("tmall", moved, received_at=NOW) == SyncReport(updated=1)
    order = _stored(any_shop)
    assert order.status == OrderStatus.PACKED and order.ship_to.city == "杭州市"
    hold = order.hold(MISMATCH_HOLD)
    assert hold is not None and "宁波市" in hold.reason


def test_an_address_is_not_compared_once_the_goods_left(any_shop: Shop, payloads: Any) -> None:
    shipped = _tmall(payloads, "2026-02-16 00:35:00")
    any_shop.sync.receive("tmall", shipped, received_at=NOW)
    order = _stored(any_shop)
    any_shop.service.handle(order.order_id, Event(
        "ship", event_id="ship-1", at=datetime(2026, 2, 15, 16, 40, tzinfo=UTC),
        data={"carrier": "SF", "waybill": "SF100"}))
    moved = _tmall(payloads, "2026-02-16 01:00:00", **NINGBO)
    assert any_shop.sync.receive("tmall", moved, received_at=NOW) == SyncReport(unchanged=1)
    order = _stored(any_shop)
    assert order.ship_to.city == "杭州市" and order.holds == ()


@pytest.mark.parametrize("receiver", [
    pytest.param({"receiver_name": "", "receiver_mobile": "", "receiver_address": ""},
                 id="emptied"),
    pytest.param({"receiver_name": "~AgAAAAGdXhLQ7y8XrwB5xyz0TfIU~0~",
                  "receiver_mobile": "$1380013$AgAAAAGdXhLR9y0XrwD8+kR2~0~$",
                  "receiver_address": "~AgAAAAGdXhLS0y4X4g8qLZ6jWmI5~0~"}, id="encrypted"),
])
def test_an_emptied_or_encrypted_receiver_is_not_a_change(
    any_shop: Shop, payloads: Any, receiver: dict[str, str]
) -> None:
    any_shop.sync.receive("tmall", _tmall(payloads, "2026-02-16 00:35:00"), received_at=NOW)
    before = _stored(any_shop)
    later = _tmall(payloads, "2026-02-16 09:00:00", **receiver)
    assert any_shop.sync.receive("tmall", later, received_at=NOW) == SyncReport(unchanged=1)
    after = _stored(any_shop)
    assert after.ship_to == before.ship_to and after.holds == ()


def test_pinduoduo_emptying_an_encrypted_receiver_after_shipping_changes_nothing(
    any_shop: Shop, payloads: Any
) -> None:
    shipped = payloads("pdd", "shipped_encrypted_receiver")
    any_shop.stock(*(line.sku for line in normalize("pdd", shipped).lines))
    any_shop.sync.receive("pdd", shipped, received_at=NOW)
    before = any_shop.repository.find_by_channel("pdd", shipped["order_sn"])
    # Signed for, the shipping window closed: the receiver fields come back empty.
    signed = dict(shipped, order_status=3, updated_at="2026-02-20 08:00:00",
                  receiver_name="", receiver_phone="", receiver_address="", address="")
    assert any_shop.sync.receive("pdd", signed, received_at=NOW).updated == 1
    after = any_shop.repository.find_by_channel("pdd", shipped["order_sn"])
    assert after.status == OrderStatus.DELIVERED
    assert after.ship_to == before.ship_to and after.hold(MISMATCH_HOLD) is None


def test_a_more_masked_receiver_is_not_a_change(shop: Shop, payloads: Any) -> None:
    shop.stock(*SKUS)
    plain = {"receiver_name": "张三", "receiver_mobile": "13812345678"}
    shop.sync.receive("tmall", _tmall(payloads, "2026-02-16 00:35:00", **plain),
                      received_at=NOW)
    masked = _tmall(payloads, "2026-02-16 09:00:00")  # 张*, 138****5678
    assert shop.sync.receive("tmall", masked, received_at=NOW) == SyncReport(unchanged=1)
    assert _stored(shop).ship_to.name == "张三" and _stored(shop).holds == ()


def _shipped(trade: dict[str, Any]) -> dict[str, Any]:
    """``trade`` with every sub-order shipped by SF at its modified time."""
    shipped = copy.deepcopy(trade)
    modified = trade["modified"]
    shipped.update(status="WAIT_BUYER_CONFIRM_GOODS", consign_time=modified)
    for sub in shipped["orders"]["order"]:
        sub.update(status="WAIT_BUYER_CONFIRM_GOODS", invoice_no="SF1400000001",
                   logistics_company="顺丰速运", consign_time=modified)
    return shipped


@pytest.mark.parametrize(("modified", "city"), [("2026-02-16 01:00:00", "宁波市"),
                                                ("2026-02-16 09:00:00", "杭州市")])
def test_a_paid_order_first_seen_again_shipped_to_a_new_address_ships(
    shop: Shop, payloads: Any, modified: str, city: str
) -> None:
    """Within the window the address changes before the shipment; past it the order
    still ships (it cannot be held once shipped): never a dead letter."""
    shop.stock(*SKUS)
    shop.sync.receive("tmall", _tmall(payloads, "2026-02-16 00:35:00"), received_at=NOW)
    moved = _shipped(_tmall(payloads, modified, **NINGBO))
    assert shop.sync.receive("tmall", moved, received_at=NOW) == SyncReport(updated=1)
    order = _stored(shop)
    assert order.status == OrderStatus.SHIPPED and order.ship_to.city == city
    assert order.holds == ()


def test_a_receiver_with_only_its_phone_emptied_is_not_a_change(
    shop: Shop, payloads: Any
) -> None:
    shop.stock(*SKUS)
    shop.sync.receive("tmall", _tmall(payloads, "2026-02-16 00:35:00"), received_at=NOW)
    no_phone = _tmall(payloads, "2026-02-16 01:00:00", receiver_mobile="", receiver_zip="")
    assert shop.sync.receive("tmall", no_phone, received_at=NOW) == SyncReport(unchanged=1)
    assert _stored(shop).ship_to.phone == "138****5678"
