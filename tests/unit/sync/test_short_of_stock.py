"""A platform order first seen after it shipped, on a ledger short of what it shipped:
stored as the platform shows it, the shipped units taken out of stock and the shortfall
reported as an oversell, exactly as placing the mapped order does; never a dead letter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from orderkit.lifecycle import Event
from orderkit.mapping import normalize
from orderkit.model.orders import OrderStatus
from orderkit.sync import SyncReport, initial

from .conftest import NOW, Shop

TEA = "TEA-OOLONG-250G"
POT = "100012345681"  # the JD fixture's second line has no outer SKU id


@pytest.fixture(params=["memory", "sqlite"])
def any_shop(request: pytest.FixtureRequest, shop: Shop, sqlite_shop: Shop) -> Shop:
    return shop if request.param == "memory" else sqlite_shop


def _levels(shop: Shop, sku: str) -> tuple[int, int, int]:
    level = shop.ledger.stock(sku)
    return level.on_hand, level.locked, level.available


def test_an_order_first_seen_shipped_short_of_stock_is_stored_and_the_oversell_reported(
    any_shop: Shop, new_shop: Callable[..., Shop], versions: Any
) -> None:
    shop = any_shop
    shop.ledger.receive(TEA, 5, reference="PO-TEA")  # the pot was never received
    shipped = versions("9301", "shipped", NOW - timedelta(hours=1))
    assert shop.sync.receive("jd", shipped, received_at=NOW) == SyncReport(new=1)
    assert shop.store.dead_letters() == []
    stored = shop.repository.find_by_channel("jd", "9301")
    assert stored is not None and stored.status == OrderStatus.SHIPPED
    shop.service.relay.run_until_idle()
    assert _levels(shop, TEA) == (4, 0, 4)  # the tin that left is out of on_hand
    assert _levels(shop, POT) == (-1, 0, -1)
    assert [(o.sku, o.units) for o in shop.ledger.verify().oversold] == [(POT, 1)]
    assert shop.ledger.verify(shipped={stored.order_id: {TEA: 1, POT: 1}}).mismatches == ()

    # The same mapped order placed by the service: the same stock.
    placing = new_shop()
    placing.ledger.receive(TEA, 5, reference="PO-TEA")
    placing.service.place(normalize("jd", shipped))
    placing.service.relay.run_until_idle()
    assert [_levels(placing, sku) for sku in (TEA, POT)] == [(4, 0, 4), (-1, 0, -1)]


def test_a_paid_order_short_of_stock_is_still_refused(shop: Shop, versions: Any) -> None:
    # Units still waiting need the shelf: without them the order is short of stock, as
    # OrderService.place refuses it (a dead letter, which the watch reports).
    shop.ledger.receive(TEA, 5, reference="PO-TEA")
    paid = versions("9302", "paid", NOW - timedelta(hours=1))
    assert shop.sync.receive("jd", paid, received_at=NOW) == SyncReport(dead_lettered=1)
    assert shop.store.dead_letters()[0].error.startswith("InsufficientStock")
    assert shop.repository.find_by_channel("jd", "9302") is None


def test_a_first_placement_shipped_in_part_keeps_its_waiting_units_locked(
    shop: Shop, versions: Any
) -> None:
    # Two lines of the same tea: one shipped before orderkit heard of the order, one
    # still waiting. The lock holds the waiting units; the shipment does not eat them.
    shop.ledger.receive(TEA, 10, reference="PO-TEA")
    shop.ledger.receive(POT, 10, reference="PO-POT")
    payload = versions("9303", "paid", NOW - timedelta(hours=1))
    payload["itemInfoList"] = [dict(item, skuId="100012345678", outerSkuId=TEA)
                               for item in payload["itemInfoList"]]
    target = normalize("jd", payload)
    first, second = (line.line_id for line in target.lines)
    begun = initial(target)
    steps = iter([
        Event("pay", event_id="p-9303", at=NOW, data={"amount": target.totals.payable}),
        Event("ship", event_id="s-9303", at=NOW,
              data={"carrier": "SF", "waybill": "SF9303", "lines": {first: 1}}),
    ])
    moved = shop.service.decide(begun, lambda _order: next(steps, None))
    (placed,) = shop.service.place_many([(begun, moved)])
    assert not isinstance(placed, Exception) and placed.lock_id is not None
    assert placed.line(second).quantities["open"] == 1
    shop.service.relay.run_until_idle()
    assert _levels(shop, TEA) == (9, 1, 8)  # one tin shipped, one held for the order
    assert shop.ledger.verify(shipped={placed.order_id: {TEA: 1}}).ok
