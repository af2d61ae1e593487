"""Waves that explain every order they leave out; near-expiry holds; releasing a wave."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import attrs
import pytest

from orderkit import Address, Hold, Money, Order, OrderLine, OrderStatus, PaymentTerms
from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.errors import TransitionNotAllowed, ValidationError
from orderkit.fulfilment import (
    Exclusion,
    ExclusionLog,
    Lot,
    Reason,
    WavePolicy,
    near_expiry_hold,
    plan_wave,
    release_wave,
)
from orderkit.lifecycle import Event, Lifecycle, OrderService
from orderkit.testing import ManualClock

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def order(order_id: str, *, minutes: int = 0, tags: set[str] | None = None,
          status: int = OrderStatus.PAID, qty: int = 1, sku: str = "TEA",
          province: str = "浙江省") -> Order:
    paid_at = T0 + timedelta(minutes=minutes)
    return Order(order_id=order_id, channel="tmall", channel_order_id=order_id,
                 lines=[OrderLine("1", sku, qty, Money("99.00", "CNY"))], created_at=paid_at,
                 paid_at=paid_at if status != OrderStatus.PENDING_PAYMENT else None,
                 status=status, tags=tags or set(), ship_to=Address(province=province))


def day_of_orders() -> list[Order]:
    return [
        order("IN-1", minutes=5),
        order("IN-2", minutes=10, tags={"promise:2026-03-02T03:00:00+00:00"}),  # due soonest
        order("PRE-READY", minutes=1, tags={"presale", "ship_from:2026-03-02"}),
        order("PRE-LATER", minutes=2, tags={"presale", "ship_from:2026-03-20"}),
        attrs.evolve(order("HELD", minutes=3),
                     holds=[Hold("loss_making", "costing", T0, "margin -7.07%")]),
        attrs.evolve(order("ADDR", minutes=4), holds=[Hold("address_review", "risk", T0)]),
        order("UNPAID", status=OrderStatus.PENDING_PAYMENT),
        order("LATE", minutes=9 * 60),  # paid 18:00 Shanghai, after a 16:00 cut-off
    ]


def test_no_candidate_is_ever_left_out_without_a_reason_and_presale_has_its_own_wave() -> None:
    orders = day_of_orders()
    now = T0 + timedelta(hours=10)
    in_stock = plan_wave(orders, WavePolicy(cutoff=time(16, 0)), now)
    assert in_stock.selected == ("IN-2", "IN-1")  # the earlier promise first
    assert set(in_stock.selected) | set(in_stock.excluded) == {o.order_id for o in orders}
    assert not set(in_stock.selected) & set(in_stock.excluded)
    codes = {order_id: e.code for order_id, e in in_stock.excluded.items()}
    assert codes == {
        "PRE-READY": Reason.OTHER_STREAM, "PRE-LATER": Reason.OTHER_STREAM,
        "HELD": Reason.ON_HOLD, "ADDR": Reason.ADDRESS_REVIEW, "UNPAID": Reason.NOT_READY,
        "LATE": Reason.AFTER_CUTOFF,
    }
    assert "loss_making (margin -7.07%)" in in_stock.excluded["HELD"].words
    assert in_stock.excluded["PRE-READY"].words == "presale: planned in the presale wave"
    assert in_stock.summary()[Reason.OTHER_STREAM] == 2
    presale = plan_wave(orders, WavePolicy(stream="presale"), now)
    assert presale.selected == ("PRE-READY",)
    assert presale.excluded["PRE-LATER"].code is Reason.PRESALE_NOT_SHIPPABLE
    assert presale.excluded["PRE-LATER"].words == "presale ships from 2026-03-20"
    assert set(presale.selected) | set(presale.excluded) == {o.order_id for o in orders}


def test_an_order_left_out_too_long_raises_one_alert() -> None:
    log = ExclusionLog(threshold=timedelta(hours=24))
    waiting = order("WAIT", qty=5)
    policy = WavePolicy()
    alerts = []
    for hours in (0, 12, 23, 25, 30):
        wave = plan_wave([waiting], policy, T0 + timedelta(hours=hours), stock={"TEA": 2})
        assert wave.excluded["WAIT"].code is Reason.AWAITING_STOCK
        alerts.append(log.update(wave))
    assert [len(a) for a in alerts] == [0, 0, 0, 1, 0]  # once, after 24 hours
    (alert,) = alerts[3]
    assert (alert.kind, alert.subject, alert.detail("reason")) == (
        "fulfilment.excluded_too_long", "WAIT", "awaiting_stock")
    assert "TEA needs 5, 2 available" in alert.message
    # Stock arrives: it ships, and the log forgets it.
    shipped = plan_wave([waiting], policy, T0 + timedelta(hours=31), stock={"TEA": 9})
    assert shipped.selected == ("WAIT",) and log.update(shipped) == []


def test_stock_caps_carriers_and_regions_explain_themselves() -> None:
    orders = [order(f"O-{n}", minutes=n, qty=2,
                    tags={"carrier:SF" if n % 2 else "carrier:YTO"},
                    province="浙江省" if n < 5 else "广东省") for n in range(8)]
    wave = plan_wave(orders, WavePolicy(carriers={"SF"}, regions={"浙江省"}, max_orders=1),
                     T0 + timedelta(hours=1), stock={"TEA": 10})
    assert wave.selected == ("O-1",)
    codes = {k: v.code for k, v in wave.excluded.items()}
    assert codes["O-0"] is Reason.CARRIER and codes["O-5"] is Reason.REGION
    assert codes["O-3"] is Reason.OVER_CAP
    short = plan_wave(orders[:3], WavePolicy(), T0 + timedelta(hours=1), stock={"TEA": 3})
    assert short.selected == ("O-0",) and short.excluded["O-1"].code is Reason.AWAITING_STOCK
    locked = [attrs.evolve(o, lock_id="lock-held") for o in orders[:3]]  # reserved already
    assert len(plan_wave(locked, WavePolicy(), T0, stock={"TEA": 0}).selected) == 3
    lines = plan_wave(orders[:3], WavePolicy(max_lines=2), T0 + timedelta(hours=1))
    assert lines.selected == ("O-0", "O-1") and lines.excluded["O-2"].code is Reason.OVER_CAP
    with pytest.raises(ValidationError):
        WavePolicy(stream="tomorrow")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        WavePolicy(max_orders=0)


class Lots:
    def __init__(self, expires: dict[str, date]) -> None:
        self.expires = expires

    def lot_for(self, sku: str, qty: int, on: date) -> Lot | None:
        when = self.expires.get(sku)
        return None if when is None else Lot(f"LOT-{sku}", sku, when)


def test_a_lot_at_89_days_holds_the_order_at_91_it_does_not_and_categories_differ() -> None:
    today = date(2026, 3, 2)
    near = near_expiry_hold(order("A", sku="GLOVES"), Lots({"GLOVES": today + timedelta(days=89)}),
                            at=T0)
    assert near is not None and near.data["kind"] == "near_expiry"
    assert near.data["reason"] == "line 1 (GLOVES) from lot LOT-GLOVES: 89 days left, under 90"
    assert near_expiry_hold(order("A", sku="GLOVES"),
                            Lots({"GLOVES": today + timedelta(days=91)}), at=T0) is None
    medical = {"STENT": "medical"}
    stent = Lots({"STENT": today + timedelta(days=120)})
    held = near_expiry_hold(order("B", sku="STENT"), stent, at=T0,
                            by_category={"medical": timedelta(days=180)},
                            category_of=medical.get)
    assert held is not None and "under 180" in held.data["reason"]
    assert near_expiry_hold(order("B", sku="STENT"), stent, at=T0,
                            by_sku={"STENT": timedelta(days=100)},
                            by_category={"medical": timedelta(days=180)},
                            category_of=medical.get) is None  # the SKU's own threshold wins
    assert near_expiry_hold(order("C", sku="TEA"), Lots({}), at=T0) is None


def test_releasing_a_wave_packs_its_orders_once() -> None:
    repository = MemoryOrderRepository()
    service = OrderService(repository, lifecycle=Lifecycle(clock=ManualClock(T0)))
    for o in (order("IN-1"), order("IN-2", minutes=1)):
        service.place(attrs.evolve(o, status=OrderStatus.PENDING_PAYMENT, paid_at=None))
        service.handle(o.order_id, Event("pay", event_id=f"pay-{o.order_id}", at=T0,
                                         data={"amount": Money("99.00", "CNY")}))
    wave = plan_wave([repository.get("IN-1"), repository.get("IN-2")], WavePolicy(), T0)
    assert release_wave(wave, service, at=T0, wave_id="W-0302-1") == {}
    assert {repository.get(i).status for i in ("IN-1", "IN-2")} == {OrderStatus.PACKED}
    assert release_wave(wave, service, at=T0, wave_id="W-0302-1") == {}  # nothing twice
    assert repository.get("IN-1").version == 2


def test_high_value_items_wait_for_a_second_check_before_they_ship() -> None:
    repository = MemoryOrderRepository()
    service = OrderService(repository, lifecycle=Lifecycle(clock=ManualClock(T0)))
    for o in (order("JADE", sku="JADE-BANGLE"), order("TEA-1", minutes=1)):
        service.place(attrs.evolve(o, status=OrderStatus.PENDING_PAYMENT, paid_at=None))
        service.handle(o.order_id, Event("pay", event_id=f"pay-{o.order_id}", at=T0,
                                         data={"amount": Money("99.00", "CNY")}))
    wave = plan_wave([repository.get("JADE"), repository.get("TEA-1")], WavePolicy(), T0)
    assert release_wave(wave, service, at=T0, wave_id="W-1",
                        second_check={"JADE-BANGLE"}) == {}
    jade = repository.get("JADE")
    assert jade.status is OrderStatus.PACKED
    assert jade.hold("second_check").reason == "check before shipping: JADE-BANGLE"  # type: ignore[union-attr]
    assert repository.get("TEA-1").holds == ()
    ship = Event("ship", event_id="ship-jade", at=T0, data={"carrier": "SF", "waybill": "SF9"})
    with pytest.raises(TransitionNotAllowed):
        service.handle("JADE", ship)
    service.handle("JADE", Event("release_hold", event_id="checked", at=T0,
                                 data={"kind": "second_check"}))
    assert service.handle("JADE", ship).order.status is OrderStatus.SHIPPED
    with pytest.raises(ValidationError):
        release_wave(wave, service, at=T0, wave_id="W-2", second_check="JADE-BANGLE")


def test_releasing_a_wave_reserves_the_stock_of_orders_that_came_in_without_a_lock() -> None:
    from orderkit.adapters.memory import MemoryInventoryStore
    from orderkit.errors import InsufficientStock
    from orderkit.inventory import InventoryLedger

    clock = ManualClock(T0)
    repository = MemoryOrderRepository()
    ledger = InventoryLedger(MemoryInventoryStore(), secret=b"wave-secret-0123456789abcd",
                             clock=clock)
    ledger.receive("TEA", 3, reference="PO-1")
    # Imported paid orders, stored without a ledger: no lock, no stock taken yet.
    for o in (order("IMP-1", qty=2), order("IMP-2", minutes=1, qty=2)):
        repository.save(o, None)
    service = OrderService(repository, lifecycle=Lifecycle(clock=clock), inventory=ledger,
                           clock=clock)
    wave = plan_wave([repository.get("IMP-1"), repository.get("IMP-2")], WavePolicy(), T0)
    released = T0 + timedelta(minutes=1)  # once both orders came in
    refused = release_wave(wave, service, at=released, wave_id="W-9")
    assert list(refused) == ["IMP-2"] and isinstance(refused["IMP-2"], InsufficientStock)
    packed = repository.get("IMP-1")
    assert packed.status is OrderStatus.PACKED and packed.lock_id is not None
    assert repository.get("IMP-2").status is OrderStatus.PAID  # not packed: no stock
    trail = repository.audit_trail("IMP-1")
    assert [(e.event, e.outcome) for e in trail] == [("reserve", "applied"),
                                                    ("pack", "applied")]
    # The reserve is remembered like an event: one applied entry, one id, each version.
    from orderkit.testing.invariants import order_problems
    assert order_problems(repository, [packed]) == []
    level = ledger.stock("TEA")
    assert (level.on_hand, level.locked, level.available) == (3, 2, 1)
    # The paid order's lock was confirmed with it: it never lapses.
    clock.advance(timedelta(days=30))
    ledger.expire_due()
    assert ledger.stock("TEA").locked == 2
    assert release_wave(wave, service, at=released, wave_id="W-9").keys() == {"IMP-2"}  # once


def test_a_paid_order_whose_lock_lapsed_is_not_packed_without_stock() -> None:
    """G paid an hour late: its lock had lapsed (it keeps a lock id that holds nothing)
    and H took the last two units. The plan, told what each lock holds, waits G for
    stock; releasing the wave reserves G again and refuses it; once stock comes, G takes
    a new lock and the old one is let go."""
    from orderkit.adapters.memory import MemoryInventoryStore
    from orderkit.errors import InsufficientStock
    from orderkit.inventory import InventoryLedger

    clock = ManualClock(T0)
    repository = MemoryOrderRepository()
    ledger = InventoryLedger(MemoryInventoryStore(), secret=b"wave-secret-0123456789abcd",
                             clock=clock)
    ledger.receive("RARE", 2, reference="PO-1")
    service = OrderService(repository, lifecycle=Lifecycle(clock=clock), inventory=ledger,
                           clock=clock, payment_timeout=timedelta(minutes=30))
    amount = {"amount": Money("198.00", "CNY")}
    service.place(order("G", sku="RARE", qty=2, status=OrderStatus.PENDING_PAYMENT))
    clock.advance(timedelta(hours=1))
    service.handle("G", Event("pay", event_id="g-pay", at=clock.now(), data=amount))
    service.place(attrs.evolve(order("H", sku="RARE", qty=2, status=OrderStatus.PENDING_PAYMENT),
                               created_at=clock.now()))
    service.handle("H", Event("pay", event_id="h-pay", at=clock.now(), data=amount))
    stale_lock = repository.get("G").lock_id
    assert stale_lock is not None and ledger.occupancy("G") == ()
    orders = [repository.get("G"), repository.get("H")]
    held = {o.order_id: {line.sku: line.qty for line in ledger.occupancy(o.order_id)}
            for o in orders}
    now = clock.now() + timedelta(hours=1)
    wave = plan_wave(orders, WavePolicy(), now, stock={"RARE": 0}, held=held)
    assert wave.selected == ("H",)
    assert wave.excluded["G"] == Exclusion(Reason.AWAITING_STOCK, "RARE needs 2, 0 available")
    # A plan that trusted G's lock id: the release reserves it again and refuses it.
    trusting = plan_wave(orders, WavePolicy(), now, stock={"RARE": 0})
    assert trusting.selected == ("G", "H")
    refused = release_wave(trusting, service, at=now, wave_id="W-1")
    assert list(refused) == ["G"] and isinstance(refused["G"], InsufficientStock)
    assert repository.get("G").status is OrderStatus.PAID
    assert repository.get("H").status is OrderStatus.PACKED
    assert ledger.stock("RARE").available == 0
    ledger.receive("RARE", 2, reference="PO-2")
    assert release_wave(trusting, service, at=now, wave_id="W-2") == {}
    packed = repository.get("G")
    assert packed.status is OrderStatus.PACKED and packed.lock_id not in (None, stale_lock)
    assert [(line.sku, line.qty) for line in ledger.occupancy("G")] == [("RARE", 2)]
    clock.advance(timedelta(days=3))
    assert ledger.stock("RARE").locked == 4  # the new lock was confirmed: it never lapses
    assert ledger.verify().ok


def test_a_partly_shipped_order_is_planned_for_its_open_units() -> None:
    """Tea went out first, the cups were back-ordered: the order is SHIPPED with two
    cups still open, and a wave picks them (its lines and stock count only them)."""
    repository = MemoryOrderRepository()
    clock = ManualClock(T0)
    service = OrderService(repository, lifecycle=Lifecycle(clock=clock))
    lines = [OrderLine("1", "TEA", 1, Money("10.00", "CNY")),
             OrderLine("2", "CUP", 2, Money("5.00", "CNY"))]
    service.place(Order(order_id="D", channel="tmall", channel_order_id="D", lines=lines,
                        created_at=T0, status=OrderStatus.PAID, paid_at=T0))
    service.handle("D", Event("ship", event_id="s1", at=T0,
                              data={"carrier": "SF", "waybill": "D1", "lines": {"1": 1}}))
    partly = repository.get("D")
    assert partly.status is OrderStatus.SHIPPED and partly.open_units_by_sku == {"CUP": 2}
    now = T0 + timedelta(days=1)
    assert plan_wave([partly], WavePolicy(), now, stock={"CUP": 2}).selected == ("D",)
    short = plan_wave([partly], WavePolicy(), now, stock={"CUP": 1, "TEA": 0})
    assert short.excluded["D"] == Exclusion(Reason.AWAITING_STOCK, "CUP needs 2, 1 available")
    assert plan_wave([partly], WavePolicy(max_lines=1), now).selected == ("D",)
    # Left out too long for a reason of its own, it raises an alert like any candidate.
    held = attrs.evolve(partly, holds=[Hold("manual", "cs-1", T0, "buyer called")])
    log = ExclusionLog(threshold=timedelta(hours=24))
    alerts = [alert for day in range(3)
              for alert in log.update(plan_wave([held], WavePolicy(), now + timedelta(days=day)))]
    assert [alert.subject for alert in alerts] == ["D"]
    # Released, it is past packing: the pack is ignored, the order waits for its ship.
    wave = plan_wave([partly], WavePolicy(), now)
    assert release_wave(wave, service, at=now, wave_id="W-D") == {}
    assert repository.get("D").status is OrderStatus.SHIPPED
    # Shipped in full: not ready.
    service.handle("D", Event("ship", event_id="s2", at=now,
                              data={"carrier": "SF", "waybill": "D2"}))
    done = plan_wave([repository.get("D")], WavePolicy(), now)
    assert done.excluded["D"] == Exclusion(Reason.NOT_READY, "status SHIPPED")


def test_an_order_given_twice_is_refused_naming_it() -> None:
    a, b = order("A", qty=2), order("B", minutes=5, qty=2)
    with pytest.raises(ValidationError) as caught:
        plan_wave([a, a, b], WavePolicy(), T0 + timedelta(hours=1), stock={"TEA": 4})
    assert (caught.value.path, caught.value.value) == ("orders", "A")
    assert plan_wave([a, b], WavePolicy(), T0 + timedelta(hours=1),
                     stock={"TEA": 4}).selected == ("A", "B")


def test_cash_on_delivery_waiting_to_ship_is_planned_and_packed_unpaid() -> None:
    """The lifecycle packs and ships cash on delivery unpaid (the buyer pays the
    courier), so such an order is a wave candidate; an unpaid online order is not."""
    repository = MemoryOrderRepository()
    service = OrderService(repository, lifecycle=Lifecycle(clock=ManualClock(T0)))
    cod = attrs.evolve(order("COD-1", status=OrderStatus.PENDING_PAYMENT),
                       payment_terms=PaymentTerms.ON_DELIVERY)
    unpaid = order("UNPAID", status=OrderStatus.PENDING_PAYMENT)
    for o in (cod, unpaid):
        service.place(o)
    wave = plan_wave([repository.get("COD-1"), repository.get("UNPAID")], WavePolicy(),
                     T0 + timedelta(hours=1))
    assert wave.selected == ("COD-1",)
    assert wave.excluded["UNPAID"].code is Reason.NOT_READY
    assert release_wave(wave, service, at=T0, wave_id="W-COD") == {}
    packed = repository.get("COD-1")
    assert packed.status is OrderStatus.PACKED and packed.totals.paid.amount == 0


def test_bad_fulfilment_input_is_refused_naming_the_field() -> None:
    now = T0 + timedelta(hours=1)
    one = [order("IN-1")]
    repo = MemoryOrderRepository()
    noon = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    for call, path, value in [
        (lambda: WavePolicy(cutoff="16:00"), "cutoff", "16:00"),
        (lambda: WavePolicy(promise=48), "promise", 48),
        (lambda: plan_wave(one, WavePolicy(), now, stock={"TEA": "5"}), "stock['TEA']", "5"),
        (lambda: plan_wave(one, WavePolicy(), now, stock={"TEA": 1.5}), "stock['TEA']", 1.5),
        (lambda: plan_wave(one, WavePolicy(), now, stock={"TEA": -3}), "stock['TEA']", -3),
        (lambda: plan_wave(one, WavePolicy(), now, stock=[1]), "stock", [1]),
        (lambda: plan_wave(one, WavePolicy(), now, held=[1]), "held", [1]),
        (lambda: plan_wave(one, WavePolicy(), now, held={"IN-1": {"TEA": -1}}),
         "held['IN-1']['TEA']", -1),
        (lambda: Lot("L1", "TEA", "2026-05-01"), "expires_on", "2026-05-01"),
        (lambda: Lot("L1", "TEA", noon), "expires_on", noon),
        (lambda: near_expiry_hold(one[0], None, at=now), "lots", None),
        (lambda: release_wave(plan_wave(one, WavePolicy(), now), None, at=now, wave_id="W1"),
         "service", None),
        (lambda: release_wave(None, OrderService(repo), at=now, wave_id="W1"), "wave", None),
    ]:
        with pytest.raises(ValidationError) as caught:
            call()
        assert (caught.value.path, caught.value.value) == (path, value)
    assert plan_wave(one, WavePolicy(), now, stock={"TEA": 1}).selected == ("IN-1",)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [("carriers", "SF", "SF"), ("regions", "浙江省", "浙江省"), ("carriers", ["SF", 7], 7)],
)
def test_a_bad_carrier_or_region_list_is_refused_naming_its_field(
    field: str, value: object, named: object
) -> None:
    with pytest.raises(ValidationError) as refused:
        WavePolicy(**{field: value})  # type: ignore[arg-type]
    assert refused.value.path == field
    assert refused.value.value == named


def test_an_order_with_a_bad_tag_is_left_out_naming_it_and_the_rest_is_planned() -> None:
    """A platform sent a naive promise time for one order of many, and a presale order
    came in with a ship-from date that is no date: each is left out as ``bad_tag`` with
    the tag in the words, and every other order is planned."""
    now = T0 + timedelta(hours=10)
    orders = [order(f"ORD-{n}", minutes=n) for n in range(5)]
    orders.append(order("NAIVE", tags={"promise:2026-03-03T18:00:00"}))
    orders.append(order("PRE-BAD", tags={"presale", "ship_from:2026-3-10"}))
    orders.append(order("PRE-OK", tags={"presale", "ship_from:2026-03-02"}))
    in_stock = plan_wave(orders, WavePolicy(), now)
    assert in_stock.selected == tuple(f"ORD-{n}" for n in range(5))
    assert in_stock.excluded["NAIVE"] == Exclusion(
        Reason.BAD_TAG, "bad tag promise:2026-03-03T18:00:00: expected"
        " promise:<ISO datetime with offset>")
    presale = plan_wave(orders, WavePolicy(stream="presale"), now)
    assert presale.selected == ("PRE-OK",)
    assert presale.excluded["PRE-BAD"] == Exclusion(
        Reason.BAD_TAG, "bad tag ship_from:2026-3-10: expected ship_from:YYYY-MM-DD")
    # The tag is what the warehouse lead must fix: left out that long, it is alerted.
    log = ExclusionLog(threshold=timedelta(hours=1))
    assert log.update(in_stock) == []
    later = plan_wave(orders, WavePolicy(), now + timedelta(hours=2))
    assert [alert.subject for alert in log.update(later)] == ["NAIVE"]


def test_a_lot_catalog_answer_that_is_no_lot_of_the_sku_asked_is_refused_naming_it() -> None:
    """A WMS client that answers a dict, or the lot of another SKU (whose expiry says
    nothing of this line), is a ValidationError naming ``lots.lot_for``, not an
    AttributeError or a hold naming the wrong lot."""
    expires = date(2026, 4, 1)

    class DictLots:
        def lot_for(self, sku: str, qty: int, on: date) -> object:
            return {"lot_id": "L1", "expires_on": expires}

    class OtherSkuLots:
        def lot_for(self, sku: str, qty: int, on: date) -> Lot | None:
            return Lot("L-OTHER", "CUP", expires)

    gloves = order("A", sku="GLOVES")
    with pytest.raises(ValidationError) as caught:
        near_expiry_hold(gloves, DictLots(), at=T0)  # type: ignore[arg-type]
    assert (caught.value.path, caught.value.value) == (
        "lots.lot_for('GLOVES')", {"lot_id": "L1", "expires_on": expires})
    with pytest.raises(ValidationError) as caught:
        near_expiry_hold(gloves, OtherSkuLots(), at=T0)
    assert (caught.value.path, caught.value.value) == ("lots.lot_for('GLOVES').sku", "CUP")
    assert "another SKU" in caught.value.reason


@pytest.mark.parametrize(("fields", "path", "value"), [
    ((5, "TEA"), "lot_id", 5),
    (("", "TEA"), "lot_id", ""),
    (("L1", ""), "sku", ""),
    (("L1", None), "sku", None),
])
def test_a_lot_without_its_id_or_sku_is_refused_naming_the_field(
    fields: tuple[object, object], path: str, value: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        Lot(*fields, date(2026, 4, 1))  # type: ignore[arg-type]
    assert (caught.value.path, caught.value.value) == (path, value)


def test_the_cut_off_is_worded_with_its_date_and_zone_and_cash_on_delivery_as_placed() -> None:
    """A cut-off in words says which day and zone; a cash-on-delivery order waiting to
    ship was placed after it (the courier collects), not paid."""
    late = order("LATE", minutes=9 * 60)  # 18:00 in Shanghai
    cod = attrs.evolve(order("COD", minutes=9 * 60, status=OrderStatus.PENDING_PAYMENT),
                       payment_terms=PaymentTerms.ON_DELIVERY)
    wave = plan_wave([late, cod], WavePolicy(cutoff=time(16, 0)), T0 + timedelta(hours=11))
    assert wave.excluded == {
        "LATE": Exclusion(Reason.AFTER_CUTOFF, "paid after the cut-off 2026-03-02 16:00"
                          " (Asia/Shanghai): next wave"),
        "COD": Exclusion(Reason.AFTER_CUTOFF, "placed after the cut-off 2026-03-02 16:00"
                         " (Asia/Shanghai), cash on delivery: next wave"),
    }


def test_ship_from_is_the_one_public_reading_of_a_presale_tag() -> None:
    from orderkit.fulfilment import ship_from

    assert ship_from(order("PRE", tags={"presale", "ship_from:2026-04-01"})) == date(2026, 4, 1)
    # the date belongs to a presale: an in-stock order's tag, or none, says nothing
    assert ship_from(order("STOCK", tags={"ship_from:2026-04-01"})) is None
    assert ship_from(order("PRE-OPEN", tags={"presale"})) is None
    assert ship_from(order("MINE", tags={"yushou", "ship_from:2026-04-01"}),
                     presale_tag="yushou") == date(2026, 4, 1)
    with pytest.raises(ValidationError) as error:
        ship_from(order("BAD", tags={"presale", "ship_from:April"}))
    assert (error.value.path, error.value.value) == ("tags", "ship_from:April")
