"""Story: a warehouse day where holds meet the warehouse's events, on memory and SQLite,
through the public API (service, ledger, waves).

A partly shipped order (the tea went first, the jade was back-ordered) is held for a
second check and for near-expiry gloves before its last units go; a hold placed
between planning a wave and releasing it stops the pack; a WMS that retries its ship
callback with a fresh id moves the stock once; a parcel that left before a hold was
placed is booked the same whichever event arrives first. At the end the stock balances.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from orderkit import Address, Money, Order, OrderLine, OrderStatus
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
from orderkit.errors import TransitionNotAllowed
from orderkit.fulfilment import Lot, WavePolicy, near_expiry_hold, plan_wave, release_wave
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.testing import ManualClock

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
SECRET = b"hold-story-secret-0123456789abcdef"


class Shop:
    def __init__(self, kind: str, tmp_path: Path, stock: dict[str, int]) -> None:
        self.clock = ManualClock(T0)
        if kind == "memory":
            self.repository = MemoryOrderRepository()
            store = MemoryInventoryStore(self.repository.database)
        else:
            tmp_path.mkdir(parents=True, exist_ok=True)
            self.repository = SQLiteOrderRepository(tmp_path / "shop.db")  # type: ignore[assignment]
            store = SQLiteInventoryStore(tmp_path / "shop.db")  # type: ignore[assignment]
        self.ledger = InventoryLedger(store, secret=SECRET, clock=self.clock)
        for sku, units in stock.items():
            self.ledger.receive(sku, units, reference="PO-1")
        self.service = OrderService(self.repository, inventory=self.ledger, clock=self.clock)

    def paid(self, order_id: str, lines: list[tuple[str, int, str]]) -> Order:
        placed = self.service.place(Order(
            order_id=order_id, channel="tmall", channel_order_id=f"T-{order_id}",
            lines=[OrderLine(str(i), sku, qty, Money(price, "CNY"))
                   for i, (sku, qty, price) in enumerate(lines, 1)],
            created_at=T0, ship_to=Address(name="张三", province="浙江省", city="杭州市"),
        ))
        return self.service.handle(order_id, Event(
            "pay", event_id=f"pay-{order_id}", at=T0, data={"amount": placed.totals.due},
        )).order

    def ship(self, order_id: str, event_id: str, at: datetime, waybill: str,
             lines: dict[str, int] | None = None) -> Order:
        data: dict[str, object] = {"carrier": "SF", "waybill": waybill}
        if lines is not None:
            data["lines"] = lines
        return self.service.handle(order_id, Event("ship", event_id=event_id, at=at,
                                                   data=data)).order

    def wave(self, order_ids: list[str], now: datetime) -> object:
        orders = [self.repository.get(i) for i in order_ids]
        return plan_wave(orders, WavePolicy(), now, stock=self.ledger.available(),
                         held=self.ledger.held(order_ids))

    def balanced(self) -> None:
        report = self.ledger.verify()
        assert report.ok, report.problems


KINDS = ["memory", "sqlite"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_partly_shipped_order_waits_for_its_second_check(kind: str, tmp_path: Path) -> None:
    shop = Shop(kind, tmp_path, {"TEA": 2, "JADE": 2})
    shop.paid("A", [("TEA", 1, "10.00"), ("JADE", 1, "999.00")])
    shop.ship("A", "s1", T0 + timedelta(hours=1), "SF1", {"1": 1})  # the tea went first
    now = T0 + timedelta(days=1)
    wave = shop.wave(["A"], now)
    assert release_wave(wave, shop.service, at=now, wave_id="W2",  # type: ignore[arg-type]
                        second_check={"JADE"}) == {}
    held = shop.repository.get("A")
    assert held.status is OrderStatus.SHIPPED
    assert held.hold("second_check").reason == "check before shipping: JADE"  # type: ignore[union-attr]
    with pytest.raises(TransitionNotAllowed):
        shop.ship("A", "s2", now, "SF2")
    assert shop.ledger.stock("JADE").locked == 1
    shop.service.handle("A", Event("release_hold", event_id="checked", at=now,
                                   data={"kind": "second_check"}))
    assert shop.ship("A", "s2", now, "SF2").open_units_by_sku == {}
    assert shop.ledger.stock("JADE").on_hand == 1
    # The jade line cancelled in full: nothing of it is left to check, the order is not held.
    shop.paid("B", [("TEA", 1, "10.00"), ("JADE", 1, "999.00")])
    shop.service.handle("B", Event("cancel_lines", event_id="cB", at=T0,
                                   data={"lines": {"2": 1}}))
    wave = shop.wave(["B"], now)
    assert release_wave(wave, shop.service, at=now, wave_id="W3",  # type: ignore[arg-type]
                        second_check={"JADE"}) == {}
    assert shop.repository.get("B").holds == ()
    shop.balanced()


class FortyDaysLeft:
    def lot_for(self, sku: str, qty: int, on: date) -> Lot | None:
        return Lot("L-40", sku, on + timedelta(days=40)) if sku == "GLOVE" else None


@pytest.mark.parametrize("kind", KINDS)
def test_near_expiry_gloves_of_a_partly_shipped_order_wait_for_review(
    kind: str, tmp_path: Path
) -> None:
    shop = Shop(kind, tmp_path, {"MASK": 10, "GLOVE": 100})
    shop.paid("HOSP", [("MASK", 10, "2.00"), ("GLOVE", 100, "1.00")])
    shop.ship("HOSP", "s1", T0 + timedelta(hours=1), "SF1", {"1": 10})  # masks first
    now = T0 + timedelta(days=2)
    hold = near_expiry_hold(shop.repository.get("HOSP"), FortyDaysLeft(), at=now)
    assert hold is not None
    shop.service.handle("HOSP", hold)
    wave = shop.wave(["HOSP"], now)
    assert "HOSP" in wave.excluded  # type: ignore[attr-defined]
    with pytest.raises(TransitionNotAllowed) as refused:
        shop.ship("HOSP", "s2", now, "SF2")
    assert "near_expiry" in refused.value.reason
    assert shop.ledger.stock("GLOVE").locked == 100
    shop.balanced()


@pytest.mark.parametrize("kind", KINDS)
def test_a_hold_placed_after_the_plan_stops_the_pack(kind: str, tmp_path: Path) -> None:
    shop = Shop(kind, tmp_path, {"TEA": 10})
    shop.paid("A", [("TEA", 1, "89.00")])
    now = T0 + timedelta(hours=1)
    wave = shop.wave(["A"], now)
    shop.service.handle("A", Event("hold", event_id="hA", at=now, data={
        "kind": "address_review", "reason": "buyer asked to change address"}))
    refused = release_wave(wave, shop.service, at=now + timedelta(minutes=1),  # type: ignore[arg-type]
                           wave_id="W1")
    assert set(refused) == {"A"} and isinstance(refused["A"], TransitionNotAllowed)
    assert "address_review" in refused["A"].reason
    assert shop.repository.get("A").status is OrderStatus.PAID
    assert [e.outcome for e in shop.repository.audit_trail("A")][-1] == "refused"
    corrected = Address(name="张三", province="浙江省", city="宁波市", street="中山路1号")
    shop.service.handle("A", Event("change_address", event_id="adr",
                                   at=now + timedelta(minutes=2), data={"address": corrected}))
    assert shop.repository.get("A").ship_to == corrected
    shop.balanced()


@pytest.mark.parametrize("kind", KINDS)
def test_a_ship_callback_retried_with_a_fresh_id_moves_the_stock_once(
    kind: str, tmp_path: Path
) -> None:
    shop = Shop(kind, tmp_path, {"TEA": 5})
    shop.paid("A", [("TEA", 2, "89.00")])
    for attempt in (1, 2):
        shop.ship("A", f"wms-ship-{attempt}", T0 + timedelta(hours=1), "SF1", {"1": 1})
    stored = shop.repository.get("A")
    assert stored.open_units_by_sku == {"TEA": 1}
    assert [s.waybill for s in stored.shipments] == ["SF1"]
    assert [e.outcome for e in shop.repository.audit_trail("A")][-1] == "ignored"
    stock = shop.ledger.stock("TEA")
    assert (stock.on_hand, stock.locked) == (4, 1)
    shop.ship("A", "wms-ship-3", T0 + timedelta(hours=2), "SF2", {"1": 1})  # the second tin
    assert shop.ledger.stock("TEA").on_hand == 3
    shop.balanced()


@pytest.mark.parametrize("kind", KINDS)
def test_a_parcel_that_left_before_the_hold_is_booked_whichever_arrives_first(
    kind: str, tmp_path: Path
) -> None:
    """Packed at 10:00, the parcel left at 10:30, customer service held the order at
    11:00, and the WMS reported the ship late: the stock and the shipment are the same
    whichever event arrives first."""
    seen = []
    for first in ("ship", "hold"):
        shop = Shop(kind, tmp_path / first, {"TEA": 5})
        shop.paid("A", [("TEA", 1, "89.00")])
        shop.service.handle("A", Event("pack", event_id="kA", at=T0 + timedelta(hours=1)))
        hold = Event("hold", event_id="hA", at=T0 + timedelta(hours=2),
                     data={"kind": "manual", "reason": "buyer called"})
        ship = Event("ship", event_id="sA", at=T0 + timedelta(hours=1, minutes=30),
                     data={"carrier": "SF", "waybill": "SF1"})
        if first == "ship":
            shop.service.handle("A", ship)
            with pytest.raises(TransitionNotAllowed):  # nothing is left to hold
                shop.service.handle("A", hold)
        else:
            shop.service.handle("A", hold)
            shop.service.handle("A", ship)
        stored = shop.repository.get("A")
        stock = shop.ledger.stock("TEA")
        seen.append((stored.status, stored.lines, stored.shipments,
                     (stock.on_hand, stock.locked)))
        shop.balanced()
    assert seen[0] == seen[1]
    assert seen[0][0] is OrderStatus.SHIPPED and seen[0][3] == (4, 0)
