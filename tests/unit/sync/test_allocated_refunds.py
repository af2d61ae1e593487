"""A refunded line gives back what the platform refunds for it: its own net amount, when
the platform allocates its promotions (Douyin sku orders' ``promotion_*_amount``) or its
discounts and tax (Shopify ``discount_allocations``, ``tax_lines``) to the lines."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from orderkit.adapters.memory import MemoryOrderRepository, MemorySyncStore
from orderkit.lifecycle import OrderService
from orderkit.model.money import Money
from orderkit.model.orders import Order
from orderkit.sync import Sync

from .conftest import fixture

RECEIVED = datetime(2026, 3, 1, tzinfo=UTC)


def _received(platform: str, *versions: dict[str, Any]) -> Order:
    """The stored order once sync received each version in turn."""
    repository = MemoryOrderRepository()
    sync = Sync(repository, OrderService(repository), store=MemorySyncStore())
    for version in versions:
        sync.receive(platform, version, received_at=RECEIVED)
    stored = repository.find_by_channel(platform, str(versions[0]["order_id" if platform
                                                                   == "douyin" else "id"]))
    assert stored is not None
    totals = stored.totals
    assert totals.paid - totals.refunded - totals.refund_due == totals.sold
    return stored


def _fen(amount: int) -> Money:
    return Money.from_minor(amount, "CNY")


def _versions(payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Douyin order as it was before its refunded sku order was refunded, and as
    the payload shows it, modified an hour later."""
    earlier = copy.deepcopy(payload)
    earlier["update_time"] = earlier["pay_time"]
    later = dict(payload, update_time=earlier["pay_time"] + 3600)
    for sku in earlier["sku_order_list"]:
        if sku["after_sale_info"]["refund_status"] == 3:
            sku["order_status"] = earlier["order_status"]
            sku["after_sale_info"] = {"after_sale_status": 0, "after_sale_type": 0,
                                      "refund_status": 0}
    return earlier, later


def _refunded_sku(payload: dict[str, Any]) -> dict[str, Any]:
    sku: dict[str, Any] = next(s for s in payload["sku_order_list"]
                               if s["after_sale_info"]["refund_status"] == 3)
    return sku


@pytest.mark.parametrize("name", ["refund_one_sku_with_allocated_coupon",
                                  "partial_refund_one_sku"])
def test_a_refunded_douyin_sku_order_gives_back_its_own_pay_amount(name: str) -> None:
    payload = fixture("douyin", name)
    stored = _received("douyin", *_versions(payload))
    refunded = _fen(_refunded_sku(payload)["pay_amount"])
    assert stored.totals.refunded + stored.totals.refund_due == refunded
    assert stored.totals.sold == _fen(payload["pay_amount"]) - refunded


def test_the_coupon_douyin_put_on_one_sku_order_stays_with_it() -> None:
    payload = fixture("douyin", "refund_one_sku_with_allocated_coupon")
    stored = _received("douyin", *_versions(payload))
    assert stored.totals.refunded == _fen(9000)
    assert stored.totals.sold == _fen(7000)  # the tea's pay_amount, its coupon kept
    assert stored.sold_by_line() == {"6932104587619990101": _fen(7000)}


def test_douyin_sku_orders_without_their_own_amounts_share_the_promotion_by_value() -> None:
    payload = fixture("douyin", "refund_one_sku_without_sku_amounts")
    stored = _received("douyin", *_versions(payload))
    # Nothing says where the coupon fell: both sku orders (90.00 each) carry half of it.
    assert stored.totals.refunded == _fen(8000)
    assert stored.totals.sold == _fen(8000)


def test_a_refunded_shopify_line_gives_back_its_subtotal_and_tax() -> None:
    payload = fixture("shopify", "partially_refunded_code_on_one_line")
    stored = _received("shopify", payload)
    refund = payload["refunds"][0]
    sent_back = sum(Decimal(t["amount"]) for t in refund["transactions"])
    item = refund["refund_line_items"][0]
    assert sent_back == Decimal(repr(item["subtotal"])) + Decimal(repr(item["total_tax"]))
    assert stored.totals.refunded == Money(sent_back, "USD") == Money("13.25", "USD")
    assert stored.totals.sold == Money(payload["total_price"], "USD") - stored.totals.refunded


def test_shopify_lines_without_allocations_share_the_discount_by_value() -> None:
    payload = fixture("shopify", "partially_refunded_code_without_line_allocations")
    stored = _received("shopify", payload)
    assert stored.totals.paid == Money("92.22", "USD")
    # The code spread over 97.00 of goods: the cup's unit carries 1.29 of it.
    assert stored.totals.refunded == Money("11.88", "USD")
