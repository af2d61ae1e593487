"""A platform hold or a difference sync cannot bring arrives after the goods left: the
table takes holds only before shipping, so sync places none and the payload's other
updates apply. Before, the refused hold made the payload a dead letter, and every later
version of the order with it (its refund, its delivery) too: the order stayed grey."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from orderkit.model.orders import LineStatus, OrderStatus
from orderkit.sync import SyncReport

from .conftest import NOW, Shop, fixture


@pytest.fixture(params=["memory", "sqlite"])
def either_shop(request: pytest.FixtureRequest, shop: Shop, sqlite_shop: Shop) -> Shop:
    return shop if request.param == "memory" else sqlite_shop


def test_a_refund_requested_on_the_unshipped_part_of_a_shipped_order_is_no_dead_letter(
    either_shop: Shop,
) -> None:
    shop = either_shop
    shipped_part = fixture("tmall", "seller_consigned_part_with_waybill")
    shop.stock(*{line["outer_sku_id"] for line in shipped_part["orders"]["order"]
                 if line.get("outer_sku_id")})
    assert shop.sync.receive("tmall", shipped_part, received_at=NOW) == SyncReport(new=1)
    # The buyer asks for a refund of the sub-order still waiting (a Tmall
    # refund_requested hold on the mapped order).
    asked = copy.deepcopy(shipped_part)
    waiting = [s for s in asked["orders"]["order"] if s["status"] == "WAIT_SELLER_SEND_GOODS"]
    assert len(waiting) == 1
    waiting[0]["refund_status"] = "WAIT_SELLER_AGREE"
    asked["modified"] = "2026-02-18 10:00:00"
    assert shop.sync.receive("tmall", asked, received_at=NOW) == SyncReport(unchanged=1)
    assert shop.store.dead_letters() == []
    # The refund succeeds: the unit is refunded, its money goes back, and it is no
    # longer open; the order keeps syncing.
    refunded = copy.deepcopy(asked)
    sub = next(s for s in refunded["orders"]["order"] if s["oid"] == waiting[0]["oid"])
    sub.update(refund_status="SUCCESS", status="TRADE_CLOSED")
    refunded["modified"] = "2026-02-19 10:00:00"
    assert shop.sync.receive("tmall", refunded, received_at=NOW) == SyncReport(updated=1)
    assert shop.store.dead_letters() == []
    order = shop.repository.find_by_channel("tmall", str(shipped_part["tid"]))
    assert order is not None and order.status == OrderStatus.SHIPPED
    line = order.line(str(waiting[0]["oid"]))
    assert (line.quantities[LineStatus.OPEN], line.quantities[LineStatus.REFUNDED]) == (0, 1)
    totals = order.totals
    assert totals.paid - totals.refunded - totals.refund_due == totals.sold


def test_a_line_repriced_after_shipping_is_no_dead_letter(shop: Shop, versions: Any) -> None:
    shop.stock("TEA-OOLONG-250G", "100012345681")
    shipped = versions("8001", "shipped", NOW - timedelta(hours=2))
    assert shop.sync.receive("jd", shipped, received_at=NOW) == SyncReport(new=1)
    repriced = versions("8001", "shipped", NOW - timedelta(hours=1))
    repriced["itemInfoList"] = copy.deepcopy(repriced["itemInfoList"])
    item = repriced["itemInfoList"][0]
    item["jdPrice"] = str(Decimal(item["jdPrice"]) - 10)
    for key in ("orderTotalPrice", "orderSellerPrice", "orderPayment"):
        repriced[key] = str(Decimal(repriced[key]) - 10)
    assert shop.sync.receive("jd", repriced, received_at=NOW) == SyncReport(unchanged=1)
    assert shop.store.dead_letters() == []
    # The order's later versions still apply: it is finished.
    finished = versions("8001", "finished", NOW)
    finished.update({k: repriced[k] for k in ("orderTotalPrice", "orderSellerPrice",
                                              "orderPayment", "itemInfoList")})
    assert shop.sync.receive("jd", finished, received_at=NOW) == SyncReport(updated=1)
    stored = shop.repository.find_by_channel("jd", "8001")
    assert stored is not None and stored.status == OrderStatus.COMPLETED
