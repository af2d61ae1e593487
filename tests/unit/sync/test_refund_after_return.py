"""A platform refund that follows goods the warehouse already received back: the units
are RETURNED (the buyer owed their value), and the refund pays that off once, whatever
the order and the repeats of the platform's versions."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.lifecycle import Event, OrderService
from orderkit.mapping import normalize
from orderkit.model.money import Money
from orderkit.model.orders import AfterSale, LineStatus, Order, PaymentKind
from orderkit.sync import Wanted, initial
from orderkit.testing import ManualClock

from .conftest import NOW, fixture

TRAY = "3698512207871537777"
CUP = "6932104587612350202"
TMALL_ID = "3698512204871537777"
SKUS = ("TEA-OOLONG-250G", "CUP-CELADON", "TRAY-BAMBOO")


def _tmall(stage: str) -> dict[str, Any]:
    """The Tmall trade shipped, then signed for, then with the tray's refund paid."""
    payload = copy.deepcopy(fixture("tmall", "sub_order_refund_requested"))
    subs = payload["orders"]["order"]
    subs[1]["refund_status"] = "NO_REFUND"
    for sub in subs:
        sub.update(status="WAIT_BUYER_CONFIRM_GOODS", invoice_no="SF100",
                   logistics_company="顺丰速运", consign_time="2026-02-16 12:00:00")
    payload.update(status="WAIT_BUYER_CONFIRM_GOODS", consign_time="2026-02-16 12:00:00",
                   modified="2026-02-16 12:00:00")
    if stage == "shipped":
        return payload
    payload.update(status="TRADE_BUYER_SIGNED", modified="2026-02-17 12:00:00")
    for sub in subs:
        sub["status"] = "TRADE_BUYER_SIGNED"
    if stage == "signed":
        return payload
    subs[2].update(refund_status="SUCCESS", status="TRADE_CLOSED", refund_id=777)
    payload["modified"] = "2026-02-21 10:00:00"
    return payload


def _douyin(stage: str) -> dict[str, Any]:
    """The Douyin order with both sku orders shipped, then the cups' refund paid."""
    payload = copy.deepcopy(fixture("douyin", "partial_refund_one_sku"))
    cup = payload["sku_order_list"][1]
    payload["logistics_info"][0]["product_info"].append(
        {"product_name": "青瓷品茗杯", "price": 4550, "outer_sku_id": "CUP-CELADON",
         "sku_id": 1780000000002, "product_count": 2, "product_id": 3612345678901234568,
         "sku_order_id": CUP, "product_id_str": "3612345678901234568"})
    if stage == "shipped":
        cup["order_status"] = 3
        cup["after_sale_info"] = {"after_sale_status": 0, "after_sale_type": 0,
                                  "refund_status": 0}
        payload["update_time"] = 1771210000
    else:
        payload["update_time"] = 1771900000
    return payload


def _receive(shop: Any, platform: str, payload: dict[str, Any]) -> None:
    report = shop.sync.receive(platform, payload, received_at=shop.clock.now())
    assert not report.dead_lettered, shop.store.dead_letters()


def _returned(shop: Any, order: Order, line_id: str) -> Order:
    """The warehouse received the line's shipped units back, sellable."""
    units = order.line(line_id).quantities[LineStatus.SHIPPED]
    at = shop.clock.now() - timedelta(hours=1)
    return shop.service.handle(order.order_id, Event(
        "return_received", event_id=f"rx-{line_id}", at=at,
        data={"lines": {line_id: units}, "sellable": {line_id: units}})).order


def _refunds(order: Order) -> list[Decimal]:
    return [p.amount.amount for p in order.payments if p.kind is PaymentKind.REFUND]


def test_a_tmall_refund_after_the_goods_came_back_pays_what_the_buyer_is_owed(
    new_shop: Any,
) -> None:
    shop = new_shop()
    shop.stock(*SKUS)
    for stage in ("shipped", "signed"):
        _receive(shop, "tmall", _tmall(stage))
    stored = shop.repository.find_by_channel("tmall", TMALL_ID)
    returned = _returned(shop, stored, TRAY)
    assert returned.totals.refund_due.amount == Decimal("114.00")

    _receive(shop, "tmall", _tmall("refunded"))
    order = shop.repository.get(stored.order_id)
    assert _refunds(order) == [Decimal("114.00")]
    assert order.totals.refund_due.amount == 0
    assert order.after_sale is AfterSale.RETURNED
    assert order.line(TRAY).quantities[LineStatus.RETURNED] == 1
    assert shop.ledger.stock("TRAY-BAMBOO").on_hand == 1000  # restocked once

    # Any version again, in any order: nothing more is paid back.
    for stage in ("refunded", "shipped", "signed", "refunded"):
        shop.sync.receive("tmall", dict(_tmall(stage), modified="2026-02-22 10:00:00"),
                          received_at=shop.clock.now())
    again = shop.repository.get(stored.order_id)
    assert _refunds(again) == [Decimal("114.00")]
    assert again.status == order.status
    assert not shop.store.dead_letters()


def test_a_douyin_refund_after_the_goods_came_back_pays_what_the_buyer_is_owed(
    new_shop: Any,
) -> None:
    shop = new_shop()
    shop.stock(*SKUS)
    _receive(shop, "douyin", _douyin("shipped"))
    stored = shop.repository.find_by_channel("douyin", "6932104587612350002")
    owed = _returned(shop, stored, CUP).totals.refund_due
    assert owed.amount > 0

    _receive(shop, "douyin", _douyin("refunded"))
    order = shop.repository.get(stored.order_id)
    assert _refunds(order) == [owed.amount]
    assert order.totals.refund_due.amount == 0
    assert order.after_sale is AfterSale.RETURNED


def test_a_refund_paid_before_the_goods_came_back_is_not_paid_again(new_shop: Any) -> None:
    shop = new_shop()
    shop.stock(*SKUS)
    for stage in ("shipped", "signed", "refunded"):
        _receive(shop, "tmall", _tmall(stage))
    stored = shop.repository.find_by_channel("tmall", TMALL_ID)
    assert _refunds(stored) == [Decimal("114.00")]
    # The buyer sends the tray back after its refund: REFUNDED units come back.
    at = shop.clock.now() - timedelta(hours=1)
    order = shop.service.handle(stored.order_id, Event(
        "return_received", event_id="rx-tray", at=at,
        data={"lines": {TRAY: 1}, "sellable": {TRAY: 1}})).order
    assert order.line(TRAY).quantities[LineStatus.RETURNED] == 1

    later = dict(_tmall("refunded"), modified="2026-02-25 10:00:00", status="TRADE_FINISHED")
    _receive(shop, "tmall", later)
    final = shop.repository.get(stored.order_id)
    assert _refunds(final) == [Decimal("114.00")]
    assert final.status.name == "COMPLETED"


def _state(shop: Any, order_id: str) -> Any:
    order = shop.repository.get(order_id)
    return (
        order.status, [dict(line.quantities) for line in order.lines],
        sorted(order.applied_event_ids), _refunds(order), str(order.totals.refund_due),
        order.after_sale, [shop.ledger.stock(sku) for sku in SKUS],
        sorted(m.message.topic for m in shop.repository.pending(10_000)
               if m.message.order_id == order_id),
    )


STAGES = ("shipped", "signed", "refunded")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_versions_after_a_return_converge_in_any_order_and_any_repeats(
    data: st.DataObject, new_shop: Any,
) -> None:
    reference, shuffled = new_shop(), new_shop()
    for shop in (reference, shuffled):
        shop.stock(*SKUS)
        _receive(shop, "tmall", _tmall("shipped"))
        stored = shop.repository.find_by_channel("tmall", TMALL_ID)
        _returned(shop, stored, TRAY)
    for stage in STAGES:
        reference.sync.receive("tmall", _tmall(stage), received_at=reference.clock.now())
    extra = data.draw(st.lists(st.sampled_from(STAGES), max_size=5))
    for stage in data.draw(st.permutations([*STAGES, *extra])):
        shuffled.sync.receive("tmall", _tmall(stage), received_at=shuffled.clock.now())
    assert _state(shuffled, stored.order_id) == _state(reference, stored.order_id)
    assert _refunds(shuffled.repository.get(stored.order_id)) == [Decimal("114.00")]


TEA = "3698512205871537777"


def _decided(service: Any, order: Order, *events: Event) -> Order:
    for event in events:
        order = service.lifecycle.apply(order, event).order
    return order


def _refunded_on_tmall(*lines: int) -> Order:
    """The signed-for Tmall trade with the sub-orders at ``lines`` refunded."""
    payload = _tmall("signed")
    payload["modified"] = "2026-02-21 10:00:00"
    for index in lines:
        payload["orders"]["order"][index].update(refund_status="SUCCESS",
                                                 status="TRADE_CLOSED")
    return normalize("tmall", payload)


def test_a_line_partly_back_and_partly_refunded_moves_only_the_units_still_out() -> None:
    service = OrderService(MemoryOrderRepository(), clock=ManualClock(NOW))
    signed = normalize("tmall", _tmall("signed"))
    stored = service.decide(initial(signed), Wanted(signed, NOW).next_event)[-1].order
    # One of the two teas came back; the platform refunds both (one without a return).
    stored = _decided(service, stored, Event(
        "return_received", event_id="rx-tea", at=NOW, data={"lines": {TEA: 1}}))
    owed = stored.totals.refund_due
    want = Wanted(_refunded_on_tmall(0), NOW)
    moved = service.decide(stored, want.next_event)
    assert len(moved) == 1
    final = moved[-1].order
    quantities = final.line(TEA).quantities
    assert (quantities[LineStatus.RETURNED], quantities[LineStatus.REFUNDED]) == (1, 1)
    assert final.totals.refunded == owed + stored.sold_by_line()[TEA]
    assert not final.totals.refund_due
    assert want.next_event(final) is None


def test_units_back_and_paid_for_are_not_a_reason_to_refund_another_line() -> None:
    service = OrderService(MemoryOrderRepository(), clock=ManualClock(NOW))
    signed = normalize("tmall", _tmall("signed"))
    stored = service.decide(initial(signed), Wanted(signed, NOW).next_event)[-1].order
    # The tray was refunded (by the desk) and came back; then the teas came back and
    # wait for their money: the platform, showing only the tray refunded, asks nothing.
    stored = _decided(
        service, stored,
        Event("refund", event_id="desk-tray", at=NOW,
              data={"lines": {TRAY: 1}, "amount": stored.sold_by_line()[TRAY]}),
        Event("return_received", event_id="rx-tray", at=NOW, data={"lines": {TRAY: 1}}),
        Event("return_received", event_id="rx-tea", at=NOW, data={"lines": {TEA: 2}}),
    )
    assert stored.totals.refund_due
    assert Wanted(_refunded_on_tmall(2), NOW).next_event(stored) is None


def test_a_line_with_units_back_and_paid_for_still_refunds_its_shipped_units() -> None:
    service = OrderService(MemoryOrderRepository(), clock=ManualClock(NOW))
    signed = normalize("tmall", _tmall("signed"))
    stored = service.decide(initial(signed), Wanted(signed, NOW).next_event)[-1].order
    unit = stored.sold_by_line()[TEA].amount / 2  # 81.40: 162.80 for two
    # One tea asked back, refunded by the desk and back; the tray back, still owed for.
    stored = _decided(
        service, stored,
        Event("return_requested", event_id="rma-tea", at=NOW, data={"lines": {TEA: 1}}),
        Event("refund", event_id="desk-tea", at=NOW,
              data={"lines": {TEA: 1}, "amount": Money(unit, "CNY")}),
        Event("return_received", event_id="rx-tea", at=NOW, data={"lines": {TEA: 1}}),
        Event("return_received", event_id="rx-tray", at=NOW, data={"lines": {TRAY: 1}}),
    )
    # The platform shows both teas refunded: the shipped one moves, once.
    want = Wanted(_refunded_on_tmall(0), NOW)
    moved = service.decide(stored, want.next_event)
    assert len(moved) == 1
    final = moved[-1].order
    quantities = final.line(TEA).quantities
    assert (quantities[LineStatus.RETURNED], quantities[LineStatus.REFUNDED]) == (1, 1)
    assert _refunds(final)[-1] == stored.totals.refund_due.amount + unit
    assert want.next_event(final) is None
