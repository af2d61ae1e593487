"""A refund sync records carries the platform's refund id (Tmall's sub-order
``refund_id``) as its payment's ``reference``, so the refund links to the platform's
refund record; refunds with different ids are recorded apart."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from orderkit.lifecycle import Event
from orderkit.mapping import normalize
from orderkit.model.money import Money
from orderkit.model.orders import LineStatus, Order, OrderStatus, PaymentKind

from .conftest import fixture

TID = "3698512204871537777"
CUP, TRAY = "3698512206871537777", "3698512207871537777"


def _trade(*refunded: tuple[int, int], modified: str = "2026-02-16 09:00:00") -> dict[str, Any]:
    """The paid Tmall trade with the sub-orders at the given places refunded, each with
    its refund id."""
    payload = copy.deepcopy(fixture("tmall", "sub_order_refund_requested"))
    subs = payload["orders"]["order"]
    subs[1]["refund_status"] = "NO_REFUND"
    for index, refund_id in refunded:
        subs[index].update(refund_status="SUCCESS", status="TRADE_CLOSED",
                           refund_id=refund_id)
    payload["modified"] = modified
    return payload


def _stored(shop: Any, *payloads: dict[str, Any]) -> Order:
    for payload in payloads:
        report = shop.sync.receive("tmall", payload, received_at=shop.clock.now())
        assert not report.dead_lettered, shop.store.dead_letters()
    order = shop.repository.find_by_channel("tmall", TID)
    assert order is not None
    return order


def _refunds(order: Order) -> list[tuple[str, str, dict[str, int]]]:
    return [(str(p.amount.amount), p.reference, dict(p.lines)) for p in order.payments
            if p.kind is PaymentKind.REFUND]


def test_a_synced_tmall_refund_carries_the_sub_orders_refund_id(new_shop: Any) -> None:
    shop = new_shop()
    shop.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")
    order = _stored(shop, _trade(), _trade((1, 221455667788990099)))
    assert _refunds(order) == [("43.70", "221455667788990099", {CUP: 1})]


def test_refunds_with_different_ids_seen_at_once_are_recorded_apart(new_shop: Any) -> None:
    apart, at_once = new_shop(), new_shop()
    for shop in (apart, at_once):
        shop.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")
    cup, both = (1, 5550001), [(1, 5550001), (2, 5550002)]
    one_by_one = _stored(apart, _trade(), _trade(cup),
                         _trade(*both, modified="2026-02-16 10:00:00"))
    together = _stored(at_once, _trade(), _trade(*both, modified="2026-02-16 10:00:00"))
    expected = [("43.70", "5550001", {CUP: 1}), ("114.00", "5550002", {TRAY: 1})]
    assert _refunds(one_by_one) == _refunds(together) == expected
    assert together.applied_event_ids == one_by_one.applied_event_ids
    assert sorted(e for e in together.applied_event_ids if ":refund:" in e) == [
        f"tmall:{TID}:refund:3698512205871537777=0,{CUP}=1,{TRAY}=0",
        f"tmall:{TID}:refund:3698512205871537777=0,{CUP}=1,{TRAY}=1",
    ]


def test_a_refund_without_an_id_has_no_reference(new_shop: Any) -> None:
    shop = new_shop()
    shop.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")
    refunded = _trade((1, 0))
    del refunded["orders"]["order"][1]["refund_id"]
    order = _stored(shop, _trade(), refunded)
    assert _refunds(order) == [("43.70", "", {CUP: 1})]


def test_a_woocommerce_refund_carries_the_id_of_the_listed_refund_it_is(
    new_shop: Any,
) -> None:
    shop = new_shop()
    payload = fixture("woocommerce", "completed_with_refunds_from_docs")
    shop.stock(*{line.sku for line in normalize("woocommerce", payload).lines})
    later = dict(payload, date_modified_gmt="2017-03-22T10:00:00",
                 refunds=[{"id": 730, "reason": "late", "total": "-5.00"},
                          *payload["refunds"]])
    for version in (payload, later):
        shop.sync.receive("woocommerce", version, received_at=shop.clock.now())
    stored = shop.repository.find_by_channel("woocommerce", "723")
    assert stored is not None
    # Two listed refunds seen at once are one refund of their total: no one id is its.
    assert [(str(p.amount.amount), p.reference) for p in stored.payments
            if p.kind is PaymentKind.REFUND] == [("19.00", ""), ("5.00", "730")]


def test_a_trade_closed_by_a_full_refund_carries_its_refund_id(new_shop: Any) -> None:
    shop = new_shop()
    payload = fixture("tmall", "closed_after_full_refund")
    shop.stock(*{line.sku for line in normalize("tmall", payload).lines})
    shop.sync.receive("tmall", payload, received_at=shop.clock.now())
    stored = shop.repository.find_by_channel("tmall", str(payload["tid"]))
    assert stored is not None
    assert [p.reference for p in stored.payments if p.kind is PaymentKind.REFUND] == [
        "221400001111222233"]


# --- the same money told by sync and by a webhook (by its reference) -------------------------

REFUND_ID = "221455667788990099"


def _refund(order: Order, event_id: str, **data: Any) -> Event:
    return Event("refund", event_id=event_id, at=order.created_at + timedelta(days=1),
                 data={"reference": REFUND_ID, **data})


def test_a_webhook_telling_a_synced_refund_again_is_a_duplicate(new_shop: Any) -> None:
    shop = new_shop()
    shop.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")
    synced = _stored(shop, _trade(), _trade((1, REFUND_ID)))
    told = shop.service.handle(synced.order_id, _refund(
        synced, "webhook-77", amount=Money("43.70", "CNY"), lines={CUP: 1}))
    assert told.events == () and told.ignored is not None
    # Polled again later, the trade still converges, with its one refund.
    order = _stored(shop, _trade((1, REFUND_ID), modified="2026-02-16 11:00:00"))
    assert _refunds(order) == [("43.70", REFUND_ID, {CUP: 1})]
    assert "webhook-77" in order.applied_event_ids


def test_a_refund_a_webhook_recorded_first_is_not_synced_again(new_shop: Any) -> None:
    shop = new_shop()
    shop.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")
    placed = _stored(shop, _trade())
    shop.service.handle(placed.order_id, _refund(
        placed, "webhook-77", amount=Money("43.70", "CNY"), lines={CUP: 1}))
    order = _stored(shop, _trade((1, REFUND_ID)))
    assert _refunds(order) == [("43.70", REFUND_ID, {CUP: 1})]
    assert order.totals.refunded == Money("43.70", "CNY")


def test_units_of_a_refund_a_webhook_recorded_as_money_only_are_synced(new_shop: Any) -> None:
    shop = new_shop()
    shop.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")
    placed = _stored(shop, _trade())
    shop.service.handle(placed.order_id, _refund(
        placed, "webhook-77", amount=Money("43.70", "CNY")))
    # The trade then shows which sub-order that refund was: sync gives its unit to the
    # refund recorded, with no new money, and the order ends as when sync alone
    # recorded that refund with its unit.
    order = _stored(shop, _trade((1, REFUND_ID)))
    assert _refunds(order) == [("43.70", REFUND_ID, {CUP: 1})]
    assert order.line(CUP).quantities[LineStatus.REFUNDED] == 1
    alone = new_shop()
    alone.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")
    synced = _stored(alone, _trade(), _trade((1, REFUND_ID)))
    assert order.totals == synced.totals
    assert (order.refund_due, order.due) == (synced.refund_due, synced.due)
    assert order.sold_by_line() == synced.sold_by_line()
    assert [line.quantities for line in order.lines] == [
        line.quantities for line in synced.lines]
    assert shop.ledger.stock("CUP-CELADON") == alone.ledger.stock("CUP-CELADON")
    # Polled again, nothing more happens.
    assert _stored(shop, _trade((1, REFUND_ID), modified="2026-02-16 11:00:00")) == order


def test_a_deposit_recorded_under_the_trades_alipay_no_is_completed_by_sync(
    new_shop: Any,
) -> None:
    shop = new_shop()
    shop.stock("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")
    paid = fixture("tmall", "wait_seller_send_goods")
    unpaid = {k: v for k, v in paid.items() if k not in ("pay_time", "alipay_no")}
    unpaid.update(status="WAIT_BUYER_PAY", modified=paid["created"])
    for sub in unpaid["orders"]["order"]:
        sub["status"] = "WAIT_BUYER_PAY"
    tid = str(paid["tid"])
    shop.sync.receive("tmall", unpaid, received_at=shop.clock.now())
    placed = shop.repository.find_by_channel("tmall", tid)
    assert placed is not None
    # The deposit, told by the host's payment callback under the trade's alipay_no.
    shop.service.handle(placed.order_id, Event(
        "pay", event_id="alipay-notify-1", at=placed.created_at + timedelta(minutes=1),
        data={"amount": Money("100.00", "CNY"), "reference": paid["alipay_no"]}))
    report = shop.sync.receive("tmall", paid, received_at=shop.clock.now())
    assert not report.dead_lettered, shop.store.dead_letters()
    order = shop.repository.find_by_channel("tmall", tid)
    assert order is not None
    assert order.status is OrderStatus.PAID
    assert order.totals.paid == Money(paid["payment"], "CNY")
