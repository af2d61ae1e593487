"""Story: a warehouse system (WMS) that picks from orderkit's outbox alone, on memory,
SQLite and PostgreSQL.

The WMS knows nothing of orderkit's rules. Its sink keeps a pick list from three domain
events: ``ReadyToShip`` puts an order on it (or replaces its entry), ``NotReadyToShip``
takes it off, and ``LinesShipped`` takes the units that left. Over a day with a hold
and its release, a partial cancel, a split order shipped in two parcels, an address
change, a cancel, an overpayment held for review, a cash on delivery order and a
presale, its pick list always equals what orderkit's stored orders say may ship
(:func:`~orderkit.lifecycle.may_ship`), and what the shipping waves select as due; a
message delivered twice changes nothing. At the end the architecture's invariants hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orderkit import Address, Money, Order, OrderLine, PaymentTerms
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.fulfilment import WavePolicy, plan_wave
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import (
    Event,
    LinesShipped,
    NotReadyToShip,
    OrderService,
    ReadyToShip,
    may_ship,
    read_event,
)
from orderkit.outbox import OutboxMessage
from orderkit.testing import ManualClock
from orderkit.testing.invariants import order_problems

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
SECRET = b"wms-story-secret-0123456789abcdef"
HOME = Address(name="张*", province="浙江省", city="杭州市")
OFFICE = Address(name="张*", province="浙江省", city="宁波市", street="中山路1号")
STOCK = {"TEA": 50, "CUP": 20}


class Wms:
    """The warehouse system's sink: it applies each message once, by its id, and keeps
    its pick list from the events alone."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.picks: dict[str, ReadyToShip] = {}  # the last word on each order
        self.received: Counter[str] = Counter()
        self.log: list[OutboxMessage] = []

    def publish(self, events: Sequence[object]) -> None:
        for message in events:
            assert isinstance(message, OutboxMessage)
            self.received[message.message_id] += 1
            self.log.append(message)
            if message.message_id in self.seen:
                continue
            self.seen.add(message.message_id)
            fact = read_event(message.payload)
            if isinstance(fact, ReadyToShip):
                self.picks[fact.order_id] = fact
            elif isinstance(fact, NotReadyToShip):
                del self.picks[fact.order_id]  # it was on the list
            elif isinstance(fact, LinesShipped) and fact.order_id in self.picks:
                pick = self.picks[fact.order_id]
                left = {line: units - fact.lines.get(line, 0)
                        for line, units in pick.lines.items()}
                if any(left.values()):
                    # The parcel's ReadyToShip, which follows, says what is left.
                    continue
                del self.picks[fact.order_id]

    def due(self, now: datetime) -> set[str]:
        """The orders it may pick now."""
        return {oid for oid, pick in self.picks.items() if pick.ship_due_at <= now}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    if request.param == "memory":
        repository = MemoryOrderRepository()
        yield repository, MemoryInventoryStore(repository.database)
    elif request.param == "sqlite":
        path = tmp_path / "shop.db"
        yield SQLiteOrderRepository(path), SQLiteInventoryStore(path)
    else:
        from psycopg_pool import ConnectionPool

        from orderkit.adapters.postgres import PostgresInventoryStore, PostgresOrderRepository
        from orderkit.testing.postgres import fresh_schema

        dsn = request.getfixturevalue("pg_dsn")
        schema = fresh_schema("wms")
        with ConnectionPool(dsn, min_size=1, max_size=2, open=True) as pool:
            yield (PostgresOrderRepository(pool, schema=schema),
                   PostgresInventoryStore(pool, schema=schema))


class Shop:
    def __init__(self, stores: tuple[Any, Any]) -> None:
        self.repository, store = stores
        self.clock = ManualClock(T0)
        self.ledger = InventoryLedger(store, secret=SECRET, clock=self.clock)
        for sku, units in STOCK.items():
            self.ledger.receive(sku, units, reference="PO-1")
        self.wms = Wms()
        self.service = OrderService(self.repository, inventory=self.ledger, sink=self.wms,
                                    clock=self.clock)
        self.ids: list[str] = []
        self.count = 0

    def place(self, order_id: str, *, tea: int = 2, cup: int = 1, **fields: Any) -> Order:
        self.ids.append(order_id)
        return self.service.place(Order(
            order_id=order_id, channel="tmall", channel_order_id=f"T-{order_id}",
            lines=[OrderLine("1", "TEA", tea, Money("10.00", "CNY")),
                   OrderLine("2", "CUP", cup, Money("20.00", "CNY"))],
            created_at=self.clock.now(), ship_to=HOME, **fields))

    def tell(self, order_id: str, name: str, **data: Any) -> Order:
        self.count += 1
        self.clock.advance(timedelta(minutes=10))
        return self.service.handle(order_id, Event(
            name, event_id=f"{name}-{order_id}-{self.count}", at=self.clock.now(),
            data=data)).order

    def pay(self, order_id: str, amount: str | None = None) -> Order:
        due = self.repository.get(order_id).due
        return self.tell(order_id, "pay",
                         amount=due if amount is None else Money(amount, "CNY"))

    def ship(self, order_id: str, waybill: str, lines: dict[str, int] | None = None) -> Order:
        data: dict[str, Any] = {"carrier": "SF", "waybill": waybill}
        if lines is not None:
            data["lines"] = lines
        return self.tell(order_id, "ship", **data)

    def agrees(self) -> None:
        """The WMS's pick list is what the stored orders say may ship, and what the
        waves select now."""
        now = self.clock.now()
        orders = [self.repository.get(oid) for oid in self.ids]
        shippable = {o.order_id: o for o in orders if may_ship(o, now)}
        assert set(self.wms.picks) == set(shippable)
        for oid, order in shippable.items():
            pick = self.wms.picks[oid]
            assert (pick.lines, pick.skus, pick.ship_to) == (
                order.open_units, order.open_units_by_sku, order.ship_to), oid
        selected = {oid for stream in ("in_stock", "presale")
                    for oid in plan_wave(orders, WavePolicy(stream=stream), now).selected}
        assert self.wms.due(now) == selected


def test_a_wms_fed_by_the_outbox_alone_picks_what_orderkit_says_may_ship(
    stores: tuple[Any, Any],
) -> None:
    shop = Shop(stores)

    # Placed, unpaid: nothing to pick. Cash on delivery ships unpaid: on the list at once.
    for oid in ("HELD", "CUT", "SPLIT", "MOVED", "GONE", "OVER"):
        shop.place(oid)
    shop.place("COD", payment_terms=PaymentTerms.ON_DELIVERY)
    shop.place("PRE", tags={"presale", "ship_from:2026-03-04"})
    shop.agrees()
    assert set(shop.wms.picks) == {"COD"} and shop.wms.picks["COD"].ship_due_at == T0

    for oid in ("HELD", "CUT", "SPLIT", "MOVED", "GONE"):
        shop.pay(oid)
    shop.pay("OVER", "50.00")  # 10.00 over: held for payment review, not on the list
    shop.pay("PRE", "10.00")  # the presale's deposit
    shop.agrees()
    assert set(shop.wms.picks) == {"HELD", "CUT", "SPLIT", "MOVED", "GONE", "COD"}

    # A hold takes HELD off; its address is corrected meanwhile; the release puts it
    # back with the new address.
    shop.tell("HELD", "hold", kind="address_review", reason="buyer called")
    shop.agrees()
    shop.tell("HELD", "change_address", address=OFFICE)
    shop.agrees()
    shop.tell("HELD", "release_hold", kind="address_review")
    shop.agrees()
    assert shop.wms.picks["HELD"].ship_to == OFFICE

    # A partial cancel: one tea fewer to pick.
    shop.tell("CUT", "cancel_lines", lines={"1": 1})
    shop.agrees()
    assert shop.wms.picks["CUT"].skus == {"TEA": 1, "CUP": 1}

    # A split order: the tea goes first, the cup later; held in between.
    shop.ship("SPLIT", "SF1", {"1": 2})
    shop.agrees()
    assert shop.wms.picks["SPLIT"].skus == {"CUP": 1}
    shop.tell("SPLIT", "hold", kind="second_check")
    shop.agrees()
    shop.tell("SPLIT", "release_hold", kind="second_check")
    shop.agrees()
    shop.ship("SPLIT", "SF2")
    shop.agrees()
    assert "SPLIT" not in shop.wms.picks

    # An address change while on the list; then a cancel takes GONE off.
    shop.tell("MOVED", "change_address", address=OFFICE)
    shop.agrees()
    assert shop.wms.picks["MOVED"].ship_to == OFFICE
    shop.tell("GONE", "cancel")
    shop.agrees()

    # Payment review done; the presale's balance comes: due from its ship-from day.
    shop.tell("OVER", "release_hold", kind="payment_review")
    shop.tell("OVER", "refund", amount=Money("10.00", "CNY"))
    shop.pay("PRE")
    shop.agrees()
    assert "PRE" in shop.wms.picks and "PRE" not in shop.wms.due(shop.clock.now())
    shop.clock.advance(timedelta(days=2))  # 2026-03-04 in Shanghai
    shop.agrees()
    assert "PRE" in shop.wms.due(shop.clock.now())

    # The warehouse ships what it picked; a carrier scan ships MOVED before any ship.
    shop.ship("HELD", "SF3")
    shop.ship("CUT", "SF4")
    shop.ship("COD", "JD1")
    shop.tell("MOVED", "track", status="in_transit", carrier_time=shop.clock.now())
    shop.agrees()
    assert set(shop.wms.picks) == {"OVER", "PRE"}

    # Every message delivered again (a sink crash before the relay marked them): the
    # list does not change.
    before = dict(shop.wms.picks)
    delivered = list(shop.wms.log)
    shop.wms.publish(delivered)
    assert shop.wms.picks == before
    shop.agrees()

    # The architecture's invariants, on what the store holds.
    orders = [shop.repository.get(oid) for oid in shop.ids]
    assert order_problems(shop.repository, orders) == []
    for order in orders:
        totals = order.totals
        assert totals.paid - totals.refunded - totals.refund_due + totals.due == totals.sold
    report = shop.ledger.verify()
    assert report.ok, report.problems
    for sku in STOCK:
        level = shop.ledger.stock(sku)
        assert level.on_hand == level.available + level.locked
    assert list(shop.repository.pending(100)) == []
    assert list(shop.repository.dead_letters()) == []
    assert all(count == 2 for count in shop.wms.received.values())  # once, then again
    assert {read_event(m.payload).order_id for m in delivered
            if m.topic == "event.ReadyToShip"} == {
        "HELD", "CUT", "SPLIT", "MOVED", "OVER", "PRE", "COD", "GONE"}

