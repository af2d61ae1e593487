"""A marketplace order the platform's coupon covers in full (Pinduoduo pay_amount 0.00):
the buyer pays nothing, the platform shows it paid, and sync stores it PAID, its stock
lock confirmed, so it ships and takes its stock out like any paid order."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from orderkit import Money, OrderStatus
from orderkit.mapping import normalize
from orderkit.testing.invariants import order_problems

from .conftest import NOW, Shop


@pytest.fixture(params=["memory", "sqlite"])
def any_shop(request: pytest.FixtureRequest, shop: Shop, sqlite_shop: Shop) -> Shop:
    return shop if request.param == "memory" else sqlite_shop


def _free(payloads: Any, **fields: Any) -> dict[str, Any]:
    """The Pinduoduo fixture ``awaiting_shipment_three_lines`` with a platform discount
    covering every line: the buyer paid 0.00."""
    order = copy.deepcopy(payloads("pdd", "awaiting_shipment_three_lines"))
    order.update(goods_amount=105.0, postage=0.0, platform_discount=105.0, seller_discount=0.0,
                 capital_free_discount=0.0, discount_amount=105.0, pay_amount=0.0, **fields)
    return order


def test_an_order_the_platform_paid_in_full_is_stored_paid_and_ships(
    any_shop: Shop, payloads: Any
) -> None:
    paid = _free(payloads)
    mapped = normalize("pdd", paid)
    assert (mapped.status, mapped.totals.payable) == (OrderStatus.PAID, Money("0.00", "CNY"))
    any_shop.stock(*(line.sku for line in mapped.lines))
    assert any_shop.sync.receive("pdd", paid, received_at=NOW).new == 1
    stored = any_shop.repository.find_by_channel("pdd", paid["order_sn"])
    assert stored is not None and stored.status is OrderStatus.PAID
    assert stored.paid_at is not None and stored.totals.due == Money("0.00", "CNY")
    sku = mapped.lines[0].sku
    any_shop.clock.advance(timedelta(hours=25))
    any_shop.ledger.expire_due()
    assert any_shop.ledger.stock(sku).locked == 2  # confirmed: the lock never lapses
    shipped = _free(payloads, order_status=2, tracking_number="YT1234567890",
                    shipping_time="2026-02-17 10:00:00", updated_at="2026-02-17 10:00:00")
    assert any_shop.sync.receive("pdd", shipped, received_at=NOW).updated == 1
    stored = any_shop.repository.find_by_channel("pdd", paid["order_sn"])
    assert stored is not None and stored.status is OrderStatus.SHIPPED
    level = any_shop.ledger.stock(sku)
    assert (level.on_hand, level.locked) == (998, 0)
    assert order_problems(any_shop.repository, [stored]) == [] and any_shop.ledger.verify().ok
