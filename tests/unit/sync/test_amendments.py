"""A stored order whose lines or amounts the channel changes later: before payment a
repriced line is ``change_price`` and a line gone is ``cancel_lines``; what the
lifecycle has no event for (a line added, an adjustment changed) holds the order with
the difference as the reason, never passes for ``unchanged``."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from orderkit.lifecycle import Event
from orderkit.model.money import Money
from orderkit.model.orders import LineStatus, OrderStatus
from orderkit.sync import MISMATCH_HOLD, SyncReport

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
Shop = Any
SKUS = ("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO", "KETTLE-CAST-IRON")


def _jd(payloads: Any, modified: str, **fields: Any) -> dict[str, Any]:
    """The JD fixture ``wait_seller_stock_out`` unpaid at ``modified``, with ``fields``."""
    payload = copy.deepcopy(payloads("jd", "wait_seller_stock_out"))
    payload.update(paymentConfirmTime="0001-01-01 00:00:00", modified=modified)
    payload.update(fields)
    return payload


def _paid(payload: dict[str, Any], modified: str) -> dict[str, Any]:
    """``payload`` paid (its ``orderPayment``) at ``modified``."""
    return dict(payload, paymentConfirmTime=modified, modified=modified)


def _stored(shop: Shop, platform: str = "jd", order_id: str = "281736459102") -> Any:
    return shop.repository.find_by_channel(platform, order_id)


def test_a_price_changed_before_payment_is_a_change_price_and_the_payment_settles_it(
    shop: Shop, payloads: Any
) -> None:
    shop.stock(*SKUS)
    unpaid = _jd(payloads, "2026-02-16 10:20:31")
    cheaper = copy.deepcopy(unpaid)
    cheaper["modified"] = "2026-02-16 10:25:00"
    cheaper["itemInfoList"][1]["jdPrice"] = "40.50"   # the seller took 5.00 off the cup
    cheaper["orderPayment"] = "308.00"
    assert shop.sync.receive("jd", unpaid, received_at=NOW) == SyncReport(new=1)

    assert shop.sync.receive("jd", cheaper, received_at=NOW) == SyncReport(updated=1)
    order = _stored(shop)
    assert str(order.line("2").unit_price.amount) == "40.50"
    assert str(order.totals.payable.amount) == "308.00"
    assert any(":change_price:2:40.50:" in i for i in order.applied_event_ids)

    assert shop.sync.receive("jd", _paid(cheaper, "2026-02-16 10:26:00"),
                             received_at=NOW) == SyncReport(updated=1)
    order = _stored(shop)
    assert order.status == OrderStatus.PAID
    assert order.due.amount == 0 and not order.holds


def _tmall_unpaid(payloads: Any) -> dict[str, Any]:
    """The Tmall fixture ``wait_seller_send_goods`` before payment."""
    unpaid = copy.deepcopy(payloads("tmall", "wait_seller_send_goods"))
    unpaid.pop("pay_time")
    unpaid.update(status="WAIT_BUYER_PAY", modified="2026-02-16 00:30:00")
    for sub in unpaid["orders"]["order"]:
        sub["status"] = "WAIT_BUYER_PAY"
    return unpaid


def _tmall_paid(trade: dict[str, Any], modified: str) -> dict[str, Any]:
    paid = copy.deepcopy(trade)
    paid.update(status="WAIT_SELLER_SEND_GOODS", modified=modified, pay_time=modified)
    for sub in paid["orders"]["order"]:
        sub["status"] = "WAIT_SELLER_SEND_GOODS"
    return paid


def _tmall_shipped(trade: dict[str, Any], modified: str) -> dict[str, Any]:
    """``trade`` with every sub-order shipped by SF at ``modified``."""
    shipped = copy.deepcopy(trade)
    shipped.update(status="WAIT_BUYER_CONFIRM_GOODS", modified=modified, consign_time=modified)
    for sub in shipped["orders"]["order"]:
        sub.update(status="WAIT_BUYER_CONFIRM_GOODS", invoice_no="SF1400000001",
                   logistics_company="顺丰速运", consign_time=modified)
    return shipped


def test_a_line_gone_before_payment_is_cancelled(shop: Shop, payloads: Any) -> None:
    shop.stock(*SKUS)
    unpaid = _tmall_unpaid(payloads)
    fewer = copy.deepcopy(unpaid)
    fewer["modified"] = "2026-02-16 00:35:00"
    cup = fewer["orders"]["order"].pop(1)              # the cup is taken off the trade
    fewer.update(total_fee="306.00", payment="284.80")
    shop.sync.receive("tmall", unpaid, received_at=NOW)

    assert shop.sync.receive("tmall", fewer, received_at=NOW) == SyncReport(updated=1)
    order = _stored(shop, "tmall", unpaid["tid_str"])
    assert order.line(cup["oid_str"]).quantities[LineStatus.CANCELLED] == 1
    assert shop.ledger.stock("CUP-CELADON").locked == 0

    shop.sync.receive("tmall", _tmall_paid(fewer, "2026-02-16 00:40:00"), received_at=NOW)
    order = _stored(shop, "tmall", unpaid["tid_str"])
    assert order.status == OrderStatus.PAID
    assert order.due.amount == 0 and not order.holds


def test_a_line_added_is_held_with_the_line_named_until_the_channel_drops_it(
    shop: Shop, payloads: Any
) -> None:
    shop.stock(*SKUS)
    unpaid = _jd(payloads, "2026-02-16 10:20:31")
    more = copy.deepcopy(unpaid)
    more["modified"] = "2026-02-16 10:25:00"
    more["itemInfoList"].append(dict(more["itemInfoList"][1], skuId="100012345699",
                                     outerSkuId="KETTLE-CAST-IRON", jdPrice="100.00"))
    more["orderPayment"] = "413.00"
    shop.sync.receive("jd", unpaid, received_at=NOW)

    assert shop.sync.receive("jd", more, received_at=NOW) == SyncReport(updated=1)
    hold = _stored(shop).hold(MISMATCH_HOLD)
    assert hold is not None and hold.by == "orderkit-sync"
    assert "KETTLE-CAST-IRON" in hold.reason and "not stored" in hold.reason
    shop.sync.receive("jd", _paid(more, "2026-02-16 10:26:00"), received_at=NOW)
    assert _stored(shop).hold(MISMATCH_HOLD) is not None   # it cannot ship like this

    back = dict(_paid(unpaid, "2026-02-16 10:30:00"))
    assert shop.sync.receive("jd", back, received_at=NOW) == SyncReport(updated=1)
    assert _stored(shop).hold(MISMATCH_HOLD) is None


def test_a_seller_adjustment_before_payment_is_held_with_the_adjustment_named(
    shop: Shop, payloads: Any
) -> None:
    shop.stock(*SKUS)
    unpaid = _tmall_unpaid(payloads)
    adjusted = copy.deepcopy(unpaid)
    adjusted["modified"] = "2026-02-16 00:35:00"
    adjusted["orders"]["order"][0].update(adjust_fee="-10.00", total_fee="158.00",
                                          payment="152.80", divide_order_fee="152.80")
    adjusted.update(total_fee="341.50", payment="318.50")
    shop.sync.receive("tmall", unpaid, received_at=NOW)

    assert shop.sync.receive("tmall", adjusted, received_at=NOW) == SyncReport(updated=1)
    hold = _stored(shop, "tmall", unpaid["tid_str"]).hold(MISMATCH_HOLD)
    assert hold is not None
    assert "adjustment rounding -10.00" in hold.reason


def test_a_trade_refunded_in_full_after_shipping_closes_and_is_not_held_for_its_refund(
    shop: Shop, payloads: Any
) -> None:
    """A shipped trade the buyer got everything back for, its shipping fee too: the
    refund's own record of the fee given back (and of any rounding taken back) is the
    lifecycle's, not a difference with the channel, so the closed order is not held and
    seeing the trade again changes nothing."""
    shop.stock(*SKUS)
    paid = copy.deepcopy(payloads("tmall", "wait_seller_send_goods"))
    assert shop.sync.receive("tmall", paid, received_at=NOW) == SyncReport(new=1)
    shipped = _tmall_shipped(paid, "2026-02-17 09:00:00")
    assert shop.sync.receive("tmall", shipped, received_at=NOW) == SyncReport(updated=1)
    closed = copy.deepcopy(shipped)
    closed.update(status="TRADE_CLOSED", modified="2026-02-20 10:00:00")
    for sub in closed["orders"]["order"]:
        sub.update(status="TRADE_CLOSED", refund_status="SUCCESS")
    assert shop.sync.receive("tmall", closed, received_at=NOW) == SyncReport(updated=1)
    order = _stored(shop, "tmall", str(paid["tid"]))
    assert order.status == OrderStatus.CLOSED
    assert order.totals.refunded == order.totals.paid
    assert order.refund_due.amount == 0 and order.due.amount == 0
    assert not order.holds
    again = dict(closed, modified="2026-02-21 10:00:00")
    assert shop.sync.receive("tmall", again, received_at=NOW) == SyncReport(unchanged=1)
    assert not _stored(shop, "tmall", str(paid["tid"])).holds


def test_money_the_merchant_gave_back_is_not_a_difference_with_the_channel(
    shop: Shop, payloads: Any
) -> None:
    """Customer service refunds a shipped trade's goods and part of its shipping from
    the ERP: the order stays SHIPPED with the concessions the refund recorded, and the
    channel's next version of the trade (which knows nothing of them) holds nothing."""
    shop.stock(*SKUS)
    paid = copy.deepcopy(payloads("tmall", "wait_seller_send_goods"))
    shop.sync.receive("tmall", paid, received_at=NOW)
    shipped = _tmall_shipped(paid, "2026-02-17 09:00:00")
    shop.sync.receive("tmall", shipped, received_at=NOW)
    order = _stored(shop, "tmall", str(paid["tid"]))
    short_of_all = order.totals.paid - Money("3.00", "CNY")  # 5.00 of the 8.00 shipping
    shop.service.handle(order.order_id, Event("refund", event_id="cs-refund-1", at=NOW,
                                              data={"amount": short_of_all}))
    order = _stored(shop, "tmall", str(paid["tid"]))
    assert order.status == OrderStatus.SHIPPED
    assert order.shipping_standing == Money("3.00", "CNY")
    later = dict(shipped, modified="2026-02-18 09:00:00")
    assert shop.sync.receive("tmall", later, received_at=NOW) == SyncReport(unchanged=1)
    assert _stored(shop, "tmall", str(paid["tid"])).holds == ()
