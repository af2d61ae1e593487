"""JD cash on delivery (货到付款): accepted unpaid, shipped unpaid, paid when delivered.

The story runs through the public API on SQLite (orders, stock and sync in one file):
the platform's payload sequence placed unpaid -> shipped -> finished becomes the events
ship, deliver, pay (the collected amount) and complete; the stock lock of the accepted
order does not lapse while it waits unpaid; the order's money and invariants hold.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit import Money, Order, OrderLine, OrderStatus, PaymentTerms
from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository, SQLiteSyncStore
from orderkit.lifecycle import DEFAULT_TABLE, Event, Lifecycle, OrderService
from orderkit.mapping import PaymentSpec, get_map, normalize
from orderkit.mapping.compile import compile_map
from orderkit.model.errors import DefinitionError, TransitionNotAllowed, ValidationError
from orderkit.sync import SyncReport
from orderkit.testing.invariants import order_problems

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)  # the shop fixture's clock
T0 = datetime(2026, 2, 16, 3, 0, tzinfo=UTC)
SKU = "CUP-CELADON"
COD = ("cash_on_delivery_not_yet_paid", "cash_on_delivery_shipped", "cash_on_delivery_finished")


@pytest.fixture
def sqlite_shop(new_shop: Any, tmp_path: Path) -> Any:
    path = tmp_path / "shop.db"
    shop = new_shop(repository=SQLiteOrderRepository(path), store=SQLiteSyncStore(path),
                    inventory=SQLiteInventoryStore(path))
    shop.ledger.receive(SKU, 10, reference="PO-1")
    return shop


# --- the map ---------------------------------------------------------------------------


def test_the_jd_map_marks_cash_on_delivery_and_records_the_collected_payment(
    payloads: Any,
) -> None:
    accepted, shipped, finished = (normalize("jd", payloads("jd", name)) for name in COD)
    assert {o.payment_terms for o in (accepted, shipped, finished)} == {
        PaymentTerms.ON_DELIVERY}
    assert (accepted.status, accepted.payments, accepted.paid_at) == (
        OrderStatus.PENDING_PAYMENT, (), None)
    # Shipped, still unpaid: the status says nothing about the money.
    assert (shipped.status, shipped.payments) == (OrderStatus.SHIPPED, ())
    assert shipped.totals.due == Money("97.00", "CNY")
    assert shipped.shipments[0].waybill == "JDV009876543210"
    # Finished: orderPayment collected at orderEndTime (16:04:12 Beijing).
    assert finished.status == OrderStatus.COMPLETED
    (payment,) = finished.payments
    collected = datetime(2026, 2, 18, 8, 4, 12, tzinfo=UTC)
    assert (payment.amount, payment.at, finished.paid_at) == (
        Money("97.00", "CNY"), collected, collected)
    assert finished.totals.due == Money("0.00", "CNY")


def test_a_finished_cod_order_without_optional_fields_is_collected_when_placed(
    payloads: Any,
) -> None:
    order = normalize("jd", payloads("jd", "cash_on_delivery_finished_only_required_fields"))
    assert order.payment_terms is PaymentTerms.ON_DELIVERY
    (payment,) = order.payments
    # No orderEndTime and no modified: the created time is all the payload says.
    assert payment.at == order.created_at
    assert payment.amount == Money("91.00", "CNY")


def test_prepaid_jd_orders_keep_prepaid_terms(payloads: Any) -> None:
    for name in ("wait_seller_stock_out", "wait_seller_stock_out_only_required_fields",
                 "shipped_with_waybill"):
        assert normalize("jd", payloads("jd", name)).payment_terms is PaymentTerms.PREPAID


def test_a_payment_spec_refuses_on_delivery_values_without_a_path() -> None:
    bad = attrs.evolve(get_map("jd"), name="jd_bad",
                       payment=PaymentSpec(on_delivery_values=("1-货到付款",)))
    with pytest.raises(DefinitionError) as caught:
        compile_map(bad)
    assert caught.value.path == "jd_bad.payment"


# --- the lifecycle ---------------------------------------------------------------------


def _order(terms: PaymentTerms, **changes: Any) -> Order:
    order = Order("o-1", "jd", "1", (OrderLine("l1", SKU, 2, Money("45.50", "CNY")),), T0,
                  payment_terms=terms)
    return attrs.evolve(order, **changes)


def _event(name: str, n: int, **data: Any) -> Event:
    return Event(name, event_id=f"e{n}", at=T0 + timedelta(hours=n), data=data)


def test_the_table_lets_only_cod_orders_go_out_unpaid() -> None:
    rows = DEFAULT_TABLE.candidates(OrderStatus.PENDING_PAYMENT, "ship")
    assert [(r.target, r.guard) for r in rows] == [(OrderStatus.SHIPPED, "on_delivery_no_holds")]
    life = Lifecycle()
    ship = _event("ship", 1, carrier="jd", waybill="JDV1")
    with pytest.raises(TransitionNotAllowed):
        life.apply(_order(PaymentTerms.PREPAID), ship)
    with pytest.raises(TransitionNotAllowed):
        life.apply(_order(PaymentTerms.PREPAID), _event("pack", 1))
    cod = _order(PaymentTerms.ON_DELIVERY)
    packed = life.apply(cod, _event("pack", 1)).order
    assert packed.status == OrderStatus.PACKED
    shipped = life.apply(packed, _event("ship", 2, carrier="jd", waybill="JDV1")).order
    assert shipped.status == OrderStatus.SHIPPED
    assert shipped.totals.due == Money("91.00", "CNY")


def test_a_held_cod_order_does_not_ship() -> None:
    life = Lifecycle()
    held = life.apply(_order(PaymentTerms.ON_DELIVERY),
                      _event("hold", 1, kind="address_review", reason="check")).order
    with pytest.raises(TransitionNotAllowed):
        life.apply(held, _event("ship", 2, carrier="jd", waybill="JDV1"))


def test_a_cod_payment_after_shipment_is_recorded_and_a_prepaid_one_is_stale() -> None:
    life = Lifecycle()
    cod = life.apply(_order(PaymentTerms.ON_DELIVERY),
                     _event("ship", 1, carrier="jd", waybill="JDV1")).order
    delivered = life.apply(cod, _event("deliver", 2)).order
    paid = life.apply(delivered, _event("pay", 3, amount=Money("91.00", "CNY"))).order
    assert (paid.status, paid.totals.due, paid.paid_at) == (
        OrderStatus.DELIVERED, Money("0.00", "CNY"), T0 + timedelta(hours=3))
    assert paid.totals.paid == paid.totals.sold
    prepaid = _order(PaymentTerms.PREPAID, status=OrderStatus.SHIPPED)
    ignored = life.apply(prepaid, _event("pay", 1, amount=Money("91.00", "CNY")))
    assert ignored.ignored == "order is already SHIPPED"
    assert ignored.order.payments == ()


def test_payment_terms_are_validated() -> None:
    with pytest.raises(ValidationError) as caught:
        _order("cod")  # type: ignore[arg-type]
    assert caught.value.path == "payment_terms"
    assert _order("on_delivery").payment_terms is PaymentTerms.ON_DELIVERY  # type: ignore[arg-type]


# --- stock -----------------------------------------------------------------------------


def test_an_accepted_cod_orders_lock_does_not_lapse_unpaid(new_shop: Any) -> None:
    shop = new_shop()
    shop.ledger.receive(SKU, 5, reference="PO-1")
    service = OrderService(shop.repository, inventory=shop.ledger, clock=shop.clock,
                           payment_timeout=timedelta(minutes=30))
    cod = service.place(_order(PaymentTerms.ON_DELIVERY, order_id="cod"))
    service.place(_order(PaymentTerms.PREPAID, order_id="prepaid", channel_order_id="2"))
    assert shop.ledger.stock(SKU).locked == 4
    shop.clock.advance(timedelta(hours=2))
    shop.ledger.expire_due()
    # The unpaid prepaid order's lock lapsed; the accepted COD order keeps its units.
    assert shop.ledger.stock(SKU).locked == 2
    assert cod.lock_id is not None
    assert {o.sku: o.qty for o in shop.ledger.occupancy("cod")} == {SKU: 2}


# --- the story -------------------------------------------------------------------------


def test_story_jd_cod_placed_unpaid_shipped_then_delivered_and_paid(
    sqlite_shop: Any, payloads: Any
) -> None:
    shop = sqlite_shop
    accepted, shipped, finished = (payloads("jd", name) for name in COD)
    assert shop.sync.receive("jd", accepted, received_at=NOW) == SyncReport(new=1)
    order = shop.repository.find_by_channel("jd", "281736459377")
    assert (order.status, order.payment_terms) == (OrderStatus.PENDING_PAYMENT,
                                                  PaymentTerms.ON_DELIVERY)
    # Days pass unpaid (the service's payment timeout is 24 hours): the stock stays.
    shop.clock.advance(timedelta(days=3))
    shop.ledger.expire_due()
    assert shop.ledger.stock(SKU).locked == 2

    assert shop.sync.receive("jd", shipped, received_at=NOW) == SyncReport(updated=1)
    order = shop.repository.find_by_channel("jd", "281736459377")
    assert order.status == OrderStatus.SHIPPED
    assert order.totals.paid == Money("0.00", "CNY")
    assert order.totals.due == Money("97.00", "CNY")
    assert [s.waybill for s in order.shipments] == ["JDV009876543210"]
    shop.service.relay.run_once()
    level = shop.ledger.stock(SKU)
    assert (level.on_hand, level.locked) == (8, 0)  # the shipment took the stock out

    # A repeat and the older payload change nothing.
    assert shop.sync.receive("jd", shipped, received_at=NOW) == SyncReport(unchanged=1)
    assert shop.sync.receive("jd", accepted, received_at=NOW) == SyncReport(stale=1)

    assert shop.sync.receive("jd", finished, received_at=NOW) == SyncReport(updated=1)
    order = shop.repository.find_by_channel("jd", "281736459377")
    trail = [(e.event, e.from_status, e.to_status)
             for e in shop.repository.audit_trail(order.order_id) if e.outcome == "applied"]
    assert trail == [
        ("ship", OrderStatus.PENDING_PAYMENT, OrderStatus.SHIPPED),
        ("deliver", OrderStatus.SHIPPED, OrderStatus.DELIVERED),
        ("pay", OrderStatus.DELIVERED, OrderStatus.DELIVERED),
        ("complete", OrderStatus.DELIVERED, OrderStatus.COMPLETED),
    ]
    totals = order.totals
    assert order.status == OrderStatus.COMPLETED
    assert (totals.paid, totals.due, totals.refund_due) == (
        Money("97.00", "CNY"), Money("0.00", "CNY"), Money("0.00", "CNY"))
    assert totals.paid - totals.refunded - totals.refund_due + totals.due == totals.sold
    (payment,) = order.payments
    assert payment.at == datetime(2026, 2, 18, 8, 4, 12, tzinfo=UTC)  # collected
    assert order.delivered_at == datetime(2026, 2, 18, 8, 5, tzinfo=UTC)
    assert order_problems(shop.repository, [order]) == []
    shop.service.relay.run_once()
    level = shop.ledger.stock(SKU)
    assert level.on_hand == level.available + level.locked == 8
    assert shop.ledger.verify().ok


def test_a_cod_order_first_seen_finished_is_placed_and_collected(
    new_shop: Any, payloads: Any
) -> None:
    shop = new_shop(repository=MemoryOrderRepository())
    shop.ledger.receive(SKU, 5, reference="PO-1")
    finished = copy.deepcopy(payloads("jd", "cash_on_delivery_finished"))
    assert shop.sync.receive("jd", finished, received_at=NOW) == SyncReport(new=1)
    order = shop.repository.find_by_channel("jd", "281736459377")
    assert order.status == OrderStatus.COMPLETED
    assert order.totals.paid == order.totals.sold == Money(Decimal("97.00"), "CNY")
    assert [e.event for e in shop.repository.audit_trail(order.order_id)
            if e.outcome == "applied"] == ["ship", "deliver", "pay", "complete"]
    assert order_problems(shop.repository, [order]) == []
