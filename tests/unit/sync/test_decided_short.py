"""A payload whose events stop short of the state it shows is never applied silently.

``OrderService.decide`` stops at the first event that changes nothing, or at its step
limit. Sync used to count such a payload ``updated`` (or ``new``), mark it seen and
leave the stored order short of the platform's state with nobody told: the same
payload again was ``unchanged``. Now the payload applies in full, or it is a dead
letter naming the order, the event that changed nothing (or the step limit) and what
the channel still shows, and nothing of it is written.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from orderkit.lifecycle import DEFAULT_TABLE, Event, Lifecycle, OrderService
from orderkit.mapping import normalize
from orderkit.model.orders import OrderStatus
from orderkit.sync import Sync, Wanted
from orderkit.sync import sync as sync_module

from .conftest import NOW, fixture

JD_ID = "281736112233"
SKUS = ("TEA-OOLONG-250G", "100012345681", "CUP-CELADON", "TRAY-BAMBOO")


def _jd(stage: str, minutes: int) -> dict[str, Any]:
    payload = copy.deepcopy(fixture("jd", "shipped_with_waybill"))
    if stage == "finished":
        payload["orderState"] = "FINISHED_L"
    payload["modified"] = (NOW + timedelta(hours=8, minutes=minutes - 600)).strftime(
        "%Y-%m-%d %H:%M:%S")
    return payload


def _stocked(shop: Any) -> Any:
    for sku in {line.sku for line in normalize("jd", _jd("shipped", 0)).lines} | set(SKUS):
        shop.ledger.receive(sku, 100, reference=f"PO-{sku}")
    return shop


def _trade(parcels: int) -> dict[str, Any]:
    """A Tmall trade of ``parcels`` sub-orders, each sent under its own waybill, first
    seen finished (a backfill at go-live)."""
    payload = copy.deepcopy(fixture("tmall", "seller_consigned_part_with_waybill"))
    first = payload["orders"]["order"][0]
    subs = []
    for n in range(parcels):
        sub = copy.deepcopy(first)
        sub.update(oid=3698512204872530000 + n, oid_str=str(3698512204872530000 + n),
                   sku_id=str(5012345678000 + n), outer_sku_id=f"TEA-{n:02d}", price="10.00",
                   num=1, total_fee="10.00", payment="10.00", discount_fee="0.00",
                   part_mjz_discount="0.00", divide_order_fee="10.00",
                   status="TRADE_FINISHED", invoice_no=f"SF14000{n:05d}")
        subs.append(sub)
    payload["orders"]["order"] = subs
    payload.update(status="TRADE_FINISHED", total_fee=f"{10 * parcels}.00", post_fee="0.00",
                   payment=f"{10 * parcels}.00", discount_fee="0.00")
    return payload


def test_a_trade_sent_in_more_parcels_than_the_old_step_bound_is_stored_in_full(
    shop: Any,
) -> None:
    payload = _trade(40)  # pay, 40 ships, deliver, complete: 43 events
    for n in range(40):
        shop.ledger.receive(f"TEA-{n:02d}", 5, reference="PO")
    report = shop.sync.receive("tmall", payload, received_at=shop.clock.now())
    assert (report.new, report.dead_lettered) == (1, 0), shop.store.dead_letters()
    order = shop.repository.find_by_channel("tmall", str(payload["tid"]))
    assert order.status is OrderStatus.COMPLETED
    assert len(order.shipments) == 40
    assert Wanted(normalize("tmall", payload), NOW).next_event(order) is None


def _carrier_delivers(new_shop: Any) -> Any:
    """A host whose lifecycle takes delivery from the carrier's scans only: a
    ``deliver`` on a SHIPPED order is stale there, recorded and ignored."""
    shop = new_shop()
    table = DEFAULT_TABLE.extend(remove=[(OrderStatus.SHIPPED, "deliver")]).extend(
        stale={(OrderStatus.SHIPPED, "deliver"): "delivery is the carrier's to report"})
    shop.service = OrderService(shop.repository, inventory=shop.ledger, clock=shop.clock,
                                lifecycle=Lifecycle(table, clock=shop.clock))
    shop.sync = Sync(shop.repository, shop.service, store=shop.store, clock=shop.clock)
    return _stocked(shop)


def test_an_event_the_lifecycle_ignores_while_the_channel_still_shows_it_is_a_dead_letter(
    new_shop: Any,
) -> None:
    shop = _carrier_delivers(new_shop)
    shop.sync.receive("jd", _jd("shipped", 0), received_at=shop.clock.now())
    stored = shop.repository.find_by_channel("jd", JD_ID)
    assert stored.status is OrderStatus.SHIPPED

    report = shop.sync.receive("jd", _jd("finished", 10), received_at=shop.clock.now())
    assert (report.updated, report.dead_lettered) == (0, 1)
    (letter,) = shop.store.dead_letters()
    assert "jd order 281736112233" in letter.error
    assert f"jd:{JD_ID}:deliver" in letter.error
    assert "changed nothing" in letter.error
    assert "delivery is the carrier's to report" in letter.error
    assert "COMPLETED" in letter.error
    # Nothing of it was written: the order, its events and what sync saw.
    after = shop.repository.get(stored.order_id)
    assert (after.version, after.applied_event_ids) == (stored.version,
                                                        stored.applied_event_ids)
    assert shop.store.seen("jd", JD_ID).modified_at < NOW
    # The same payload again is the same letter, not "unchanged".
    again = shop.sync.receive("jd", _jd("finished", 10), received_at=shop.clock.now())
    assert again.dead_lettered == 1
    assert [letter.attempts for letter in shop.store.dead_letters()] == [2]


def test_a_new_order_that_cannot_reach_the_channels_state_is_not_placed(
    new_shop: Any,
) -> None:
    shop = _carrier_delivers(new_shop)
    report = shop.sync.receive("jd", _jd("finished", 0), received_at=shop.clock.now())
    assert (report.new, report.dead_lettered) == (0, 1)
    assert shop.repository.find_by_channel("jd", JD_ID) is None
    assert f"jd:{JD_ID}:deliver" in shop.store.dead_letters()[0].error


def test_an_event_id_the_order_took_before_is_a_dead_letter_while_still_wanted(
    shop: Any,
) -> None:
    _stocked(shop)
    paid = dict(_jd("shipped", 0), orderState="WAIT_SELLER_STOCK_OUT", waybill="")
    shop.sync.receive("jd", paid, received_at=shop.clock.now())
    stored = shop.repository.find_by_channel("jd", JD_ID)
    # A desk tool shipped one line in a parcel of its own, under the id sync gives the
    # platform's parcel: the order holds that id, not the platform's parcel.
    shipped = _jd("shipped", 10)
    event = Wanted(normalize("jd", shipped), NOW).next_event(stored)
    assert event is not None and event.name == "ship"
    first = stored.lines[0].line_id
    shop.service.handle(stored.order_id, Event(
        "ship", event_id=event.event_id, at=event.at,
        data={**event.data, "waybill": "DESK-1", "lines": {first: stored.lines[0].quantity}}))

    report = shop.sync.receive("jd", shipped, received_at=shop.clock.now())
    assert report.dead_lettered == 1
    (letter,) = shop.store.dead_letters()
    assert event.event_id in letter.error
    assert "changed nothing (the order took an event of its id before)" in letter.error
    assert "SHIPPED" in letter.error


def test_a_payload_whose_events_outrun_the_step_bound_is_a_dead_letter(
    shop: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _stocked(shop)
    monkeypatch.setattr(sync_module, "_step_bound", lambda _order, _target: 2)
    report = shop.sync.receive("jd", _jd("finished", 0), received_at=shop.clock.now())
    assert (report.new, report.dead_lettered) == (0, 1)
    (letter,) = shop.store.dead_letters()
    assert "jd order 281736112233" in letter.error
    assert "2 events" in letter.error
    assert f"jd:{JD_ID}:deliver" in letter.error  # the next one still wanted
    assert shop.repository.find_by_channel("jd", JD_ID) is None
