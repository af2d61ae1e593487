"""Platform orders on a ledger short of stock are never dead letters. One first seen
after it shipped is stored as the platform shows it, the shipped units taken out of
stock and the shortfall reported as an oversell, exactly as placing the mapped order
does. One still waiting for its goods is stored waiting for stock: no lock, the
shortfall in its audit and told to the host, until it is reserved."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest

from orderkit import Money, Order, OrderLine, to_dict
from orderkit.lifecycle import Event, OrderService, StockShort, StockShortage
from orderkit.mapping import normalize
from orderkit.model.errors import InsufficientStock, ValidationError
from orderkit.model.orders import OrderStatus
from orderkit.sync import Sync, SyncReport, initial
from orderkit.testing.invariants import order_problems

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


class Sink:
    """The host's event sink: the messages it was given."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def publish(self, events: Sequence[Any]) -> None:
        self.events.extend(events)


def test_a_paid_order_short_of_stock_is_stored_waiting_for_stock_until_it_is_reserved(
    any_shop: Shop, versions: Any
) -> None:
    # The marketplace took the buyer's order and money: refusing to store it would hide
    # a paid order. It is stored PAID with no lock, the shortfall told to the host.
    shop = any_shop
    sink = Sink()
    service = OrderService(shop.repository, inventory=shop.ledger, clock=shop.clock,
                           sink=sink)
    sync = Sync(shop.repository, service, store=shop.store, clock=shop.clock)
    shop.ledger.receive(TEA, 5, reference="PO-TEA")  # the pot was never received
    paid = versions("9302", "paid", NOW - timedelta(hours=1))
    report = sync.receive("jd", paid, received_at=NOW)
    assert report == SyncReport(new=1, waiting_for_stock=1)
    assert shop.store.dead_letters() == []
    order = shop.repository.find_by_channel("jd", "9302")
    assert order is not None
    assert (order.status, order.lock_id) == (OrderStatus.PAID, None)
    assert _levels(shop, TEA) == (5, 0, 5)  # nothing locked, not even the tea there is
    assert service.waits_for_stock(order)
    trail = shop.repository.audit_trail(order.order_id)
    (pay,) = [e for e in trail if e.event == "pay"]
    (refused,) = [e for e in trail if e.outcome == "refused"]
    # Dated by the payment, when a lock would have been taken and confirmed.
    assert (refused.event, refused.event_at) == ("lock", pay.event_at)
    assert refused.changes == (("stock", POT, "wanted 1, available 0"),)
    (short,) = [m for m in sink.events if m.topic == "event.StockShort"]
    assert short.payload["type"] == "StockShort"
    assert short.payload["order_id"] == order.order_id
    assert short.payload["shortages"] == {POT: {"wanted": 1, "available": 0}}
    fact = StockShort(order.order_id, "e", NOW, {POT: StockShortage(wanted=1, available=0)})
    assert to_dict(fact)["shortages"] == short.payload["shortages"]

    # The same payload again changes nothing and tells the host nothing again.
    assert sync.receive("jd", copy.deepcopy(paid), received_at=NOW) == SyncReport(unchanged=1)
    assert len([m for m in sink.events if m.topic == "event.StockShort"]) == 1

    # Still short: reserving refuses and changes nothing. The pot comes in: reserved, the
    # lock confirmed (paid), and the order ships from its lock like any other.
    assert isinstance(service.reserve([order.order_id], at=NOW)[order.order_id],
                      InsufficientStock)
    shop.ledger.receive(POT, 2, reference="PO-POT")
    assert service.reserve([order.order_id], at=NOW) == {}
    service.relay.run_until_idle()
    assert not service.waits_for_stock(shop.repository.get(order.order_id))
    assert (_levels(shop, TEA), _levels(shop, POT)) == ((5, 1, 4), (2, 1, 1))
    shipped = versions("9302", "shipped", NOW)
    assert sync.receive("jd", shipped, received_at=NOW) == SyncReport(updated=1)
    service.relay.run_until_idle()
    stored = shop.repository.get(order.order_id)
    assert stored.status == OrderStatus.SHIPPED
    assert (_levels(shop, TEA), _levels(shop, POT)) == ((4, 0, 4), (1, 0, 1))
    assert shop.ledger.verify(shipped={order.order_id: {TEA: 1, POT: 1}}).ok
    assert order_problems(shop.repository, [stored]) == []


def test_an_order_waiting_for_stock_that_ships_anyway_takes_its_units_out(
    any_shop: Shop, versions: Any
) -> None:
    # The merchant shipped it from stock the ledger did not know of: the units leave
    # on_hand and the shortfall is an oversell, reported, never hidden.
    shop = any_shop
    shop.ledger.receive(TEA, 5, reference="PO-TEA")
    paid = versions("9304", "paid", NOW - timedelta(hours=2))
    assert shop.sync.receive("jd", paid, received_at=NOW) == SyncReport(
        new=1, waiting_for_stock=1)
    shipped = versions("9304", "shipped", NOW - timedelta(hours=1))
    assert shop.sync.receive("jd", shipped, received_at=NOW) == SyncReport(updated=1)
    shop.service.relay.run_until_idle()
    assert (_levels(shop, TEA), _levels(shop, POT)) == ((4, 0, 4), (-1, 0, -1))
    assert [(o.sku, o.units) for o in shop.ledger.verify().oversold] == [(POT, 1)]
    stored = shop.repository.find_by_channel("jd", "9304")
    assert stored is not None
    assert order_problems(shop.repository, [stored]) == []


def test_an_order_the_service_places_itself_is_still_refused_when_short(
    shop: Shop,
) -> None:
    # An own-shop checkout is a sale not made yet: short of stock, it is refused and
    # nothing is written (only orders sold already are stored waiting).
    shop.ledger.receive(TEA, 1, reference="PO-TEA")
    order = Order("OWN-1", "own", "OWN-1", [OrderLine("1", TEA, 2, Money("89.00", "CNY"))],
                  NOW)
    with pytest.raises(InsufficientStock) as refused:
        shop.service.place(order)
    assert refused.value.shortages == {TEA: (2, 1)}
    assert shop.repository.find_by_channel("own", "OWN-1") is None
    with pytest.raises(ValidationError) as bad:
        shop.service.place_many([(order, ())], wait_for_stock="yes")  # type: ignore[arg-type]
    assert bad.value.path == "wait_for_stock"


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
