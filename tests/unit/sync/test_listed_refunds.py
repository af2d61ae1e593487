"""A refunded line whose payload also lists the refund with its amount (Youzan
``refund_order[].refund_fee``, read with ``RefundPaymentSpec``): sync records what the
platform paid back, with its id, not the line's value as orderkit allocates it; what
the line is worth beyond that stays owed (``refund_due``), as the mapped order says.
A listed amount the stored order cannot take without refunding twice holds the order."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from itertools import combinations
from typing import Any

from orderkit import AdjustmentKind, Bearer, LineStatus, OrderStatus
from orderkit.adapters.memory import MemoryOrderRepository, MemorySyncStore
from orderkit.lifecycle import Event, OrderService
from orderkit.mapping import (
    AdjustmentSpec,
    Field,
    LinesSpec,
    PaymentSpec,
    PlatformMap,
    RefundPaymentSpec,
    Registry,
    StatusAxis,
    StatusRule,
    StatusTable,
)
from orderkit.model.money import Money
from orderkit.model.orders import Order, PaymentKind
from orderkit.sync import MISMATCH_HOLD, Sync

from .conftest import fixture

RECEIVED = datetime(2026, 3, 1, tzinfo=UTC)
TID = "E20260216003000012345678"
TEA, CUP = "1500001", "1500002"

#: A Youzan-like map (youzan.trade.get ``full_order_info``, trimmed): the lines'
#: ``refund_state`` 12 is refunded, the order's ``refund_order[]`` the refunds paid.
SHOP = PlatformMap(
    name="shop", source_zone="Asia/Shanghai",
    order_id=Field("tid", "id"),
    created_at=Field("created", "timestamp"),
    paid_at=Field("pay_time", "timestamp", required=False, null=(None, "")),
    modified_at=Field("update_time", "timestamp"),
    payable=Field("payment", "yuan"),
    lines=LinesSpec(
        path="orders", sku=Field("outer_sku_id", "id"), quantity=Field("num", "count"),
        unit_price=Field("price", "yuan"), line_id=Field("oid", "id"),
        refund_id=Field("refund_id", "id", required=False, null=(None, "")),
        status=StatusTable(
            axes={"refund": StatusAxis("refund_state", values=(0, 12), default=0)},
            rules=(StatusRule({"refund": (12,)}, LineStatus.REFUNDED),
                   StatusRule({}, LineStatus.OPEN)))),
    adjustments=(
        AdjustmentSpec("post_fee", AdjustmentKind.SHIPPING, Bearer.BUYER, unit="yuan"),
        AdjustmentSpec("discount_fee", AdjustmentKind.DISCOUNT, Bearer.MERCHANT, unit="yuan"),
    ),
    payment=PaymentSpec(refunds=RefundPaymentSpec(
        "refund_order", refund_id=Field("refund_id", "id"), amount="refund_fee",
        unit="yuan")),
    status=StatusTable(
        axes={"trade": StatusAxis("status", values=(
            "WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS", "TRADE_CLOSE"))},
        rules=(StatusRule({"trade": ("WAIT_BUYER_PAY",)}, OrderStatus.PENDING_PAYMENT),
               StatusRule({"trade": ("WAIT_SELLER_SEND_GOODS",)}, OrderStatus.PAID),
               StatusRule({"trade": ("TRADE_CLOSE",)}, OrderStatus.CLOSED))),
)

PAID: dict[str, Any] = {
    "tid": TID, "status": "WAIT_SELLER_SEND_GOODS", "created": "2026-02-16 00:30:00",
    "pay_time": "2026-02-16 00:31:02", "update_time": "2026-02-16 00:31:05",
    "payment": "195.50", "post_fee": "6.50", "discount_fee": "10.00",
    "orders": [
        {"oid": TEA, "outer_sku_id": "TEA", "num": 2, "price": "69.50", "refund_state": 0},
        {"oid": CUP, "outer_sku_id": "CUP", "num": 1, "price": "60.00", "refund_state": 0},
    ],
    "refund_order": [],
}


def _version(update: str, *refunds: tuple[str, str, str], status: str = "") -> dict[str, Any]:
    """The paid order modified at ``update`` with these lines refunded, each as
    ``(line id, refund id, amount listed)``; ``status`` the trade's, when given."""
    payload = copy.deepcopy(PAID)
    payload["update_time"] = update
    if status:
        payload["status"] = status
    for line_id, refund_id, fee in refunds:
        line = next(line for line in payload["orders"] if line["oid"] == line_id)
        line.update(refund_state=12, refund_id=refund_id)
        payload["refund_order"].append({"oids": [{"oid": line_id}], "refund_id": refund_id,
                                        "refund_fee": fee})
    return payload


def _maps() -> Registry:
    registry = Registry(builtins=False)
    registry.register(SHOP)
    return registry


def _received(*versions: dict[str, Any], desk: Event | None = None) -> Order:
    """The stored order once sync received each version in turn (``desk``: an event a
    person applied after the first), checking the money identity."""
    repository = MemoryOrderRepository()
    service = OrderService(repository)
    sync = Sync(repository, service, store=MemorySyncStore(), maps=_maps())
    for n, version in enumerate(versions):
        report = sync.receive("shop", version, received_at=RECEIVED)
        assert not report.dead_lettered, sync.store.dead_letters()
        if desk is not None and n == 0:
            service.handle(repository.get(f"shop:{TID}").order_id, desk)
    stored = repository.find_by_channel("shop", TID)
    assert stored is not None
    totals = stored.totals
    assert totals.paid - totals.refunded - totals.refund_due + totals.due == totals.sold
    return stored


def _refunds(order: Order) -> list[tuple[str, str, dict[str, int]]]:
    return [(str(p.amount.amount), p.reference, dict(p.lines)) for p in order.payments
            if p.kind is PaymentKind.REFUND]


def _money(order: Order) -> tuple[Decimal, ...]:
    totals = order.totals
    return tuple(m.amount for m in (totals.paid, totals.refunded, totals.refund_due,
                                    totals.sold))


def test_a_refunded_line_records_the_amount_the_platform_lists() -> None:
    refunded = _version("2026-02-16 06:00:00", (CUP, "R1", "55.00"))
    stored = _received(PAID, refunded)
    # Not the 56.98 the cup is worth with 3.02 of the 10.00 discount: what was paid back.
    assert _refunds(stored) == [("55.00", "R1", {CUP: 1})]
    assert stored.line(CUP).quantities[LineStatus.REFUNDED] == 1
    mapped = _maps().normalize("shop", refunded)
    assert _money(stored) == _money(mapped) == (
        Decimal("195.50"), Decimal("55.00"), Decimal("1.98"), Decimal("138.52"))
    assert not stored.holds


def test_listed_refunds_converge_in_any_order_and_any_repeats() -> None:
    versions = [PAID,
                _version("2026-02-16 06:00:00", (CUP, "R1", "55.00")),
                _version("2026-02-16 07:00:00", (CUP, "R1", "55.00"), (TEA, "R2", "134.00")),
                _version("2026-02-16 08:00:00", (CUP, "R1", "55.00"), (TEA, "R2", "134.00"),
                         status="TRADE_CLOSE")]
    last = versions[-1]
    expected = [("55.00", "R1", {CUP: 1}), ("134.00", "R2", {TEA: 2})]
    reference = _received(*versions)
    assert _refunds(reference) == expected
    assert reference.status is OrderStatus.CLOSED
    for size in range(len(versions)):
        for earlier in combinations(versions[:-1], size):
            for seen in ([*earlier, last], [last, *earlier, last], [*earlier, last, *earlier]):
                stored = _received(*seen)
                # Refunds seen at once are recorded in the order of the lines.
                assert sorted(_refunds(stored), key=str) == sorted(expected, key=str)
                assert _money(stored) == _money(reference)
                assert stored.status is OrderStatus.CLOSED


def test_a_closed_trade_records_the_refunds_it_lists_not_everything_paid() -> None:
    closed = _version("2026-02-16 06:00:00", (CUP, "R1", "55.00"), (TEA, "R2", "130.00"),
                      status="TRADE_CLOSE")
    stored = _received(PAID, closed)
    assert stored.status is OrderStatus.CLOSED
    assert sum(Decimal(amount) for amount, _, _ in _refunds(stored)) == Decimal("185.00")
    assert _money(stored) == _money(_maps().normalize("shop", closed))


def test_a_listed_refund_below_what_the_order_refunded_holds_it() -> None:
    desk = Event("refund", event_id="desk-1", at=datetime(2026, 2, 16, 1, tzinfo=UTC),
                 data={"amount": Money("60.00", "CNY"), "lines": {CUP: 1}})
    stored = _received(PAID, _version("2026-02-16 06:00:00", (CUP, "R1", "55.00")),
                             desk=desk)
    assert _refunds(stored) == [("60.00", "", {CUP: 1})]  # never a second refund
    hold = stored.hold(MISMATCH_HOLD)
    assert hold is not None
    assert "refunds of CNY 55.00 listed on the channel, CNY 60.00 refunded stored" in (
        hold.reason)


def test_a_listed_refund_beyond_what_was_paid_is_a_dead_letter() -> None:
    repository = MemoryOrderRepository()
    sync = Sync(repository, OrderService(repository), store=MemorySyncStore(), maps=_maps())
    sync.receive("shop", PAID, received_at=RECEIVED)
    report = sync.receive("shop", _version("2026-02-16 06:00:00", (CUP, "R1", "300.00")),
                          received_at=RECEIVED)
    assert report.dead_lettered
    stored = repository.find_by_channel("shop", TID)
    assert stored is not None and not stored.totals.refunded


def test_a_woocommerce_trade_refunded_in_full_records_its_listed_refund() -> None:
    repository = MemoryOrderRepository()
    sync = Sync(repository, OrderService(repository), store=MemorySyncStore())
    payload = fixture("woocommerce", "refunded_eur")
    sync.receive("woocommerce", payload, received_at=RECEIVED)
    stored = repository.find_by_channel("woocommerce", str(payload["id"]))
    assert stored is not None and stored.status is OrderStatus.CLOSED
    assert [(str(p.amount.amount), p.reference) for p in stored.payments
            if p.kind is PaymentKind.REFUND] == [("27.80", "741")]
