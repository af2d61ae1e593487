"""A refund sync records carries the platform's refund id (Tmall's sub-order
``refund_id``) as its payment's ``reference``, so the refund links to the platform's
refund record; refunds with different ids are recorded apart."""

from __future__ import annotations

import copy
from typing import Any

from orderkit.mapping import normalize
from orderkit.model.orders import Order, PaymentKind

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
