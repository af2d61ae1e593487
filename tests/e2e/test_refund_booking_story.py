"""A booker keeps the general ledger from the outbox alone: revenue per shipment from
``LinesShipped``, and what refunds give back from ``Refunded`` (re-classed by
``RefundLinesAssigned``), part by part.

A tea order on SQLite loses its cup before shipment, is overpaid, ships, has a tea
returned, a refund heard first as money only and told later with its units, and a
concession on what the buyer keeps. At the end, from the events alone, the booker's
refunds add up per part to what left the buyer's bill, and its revenue less what it
gave back is what the buyer paid less what was given back. A till receipt with a
rounding, on SQLite and on PostgreSQL, ships in parcels: the booker's revenue per
shipment adds up, part by part, to the order's totals.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orderkit import Adjustment, AdjustmentKind, Money, Order, OrderLine
from orderkit.adapters.postgres import PostgresOrderRepository
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.lifecycle import (
    Event,
    LinesShipped,
    LinesUnshipped,
    OrderService,
    Overpaid,
    Refunded,
    RefundLinesAssigned,
    read_event,
)
from orderkit.lifecycle.refunds import given_back, owed_value
from orderkit.outbox import OutboxMessage
from orderkit.testing import ManualClock
from orderkit.testing.postgres import fresh_schema

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
PARTS = ("goods", "discounts", "shipping", "tax", "rounding", "overpaid")
SHIPPED_PARTS = ("goods", "discounts", "shipping", "tax", "rounding")


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


class Booker:
    """A host's event sink that books each refund's parts by refund id (a
    ``RefundLinesAssigned`` replaces what its refund's ``Refunded`` said) and revenue
    per shipment; it reads nothing but the messages."""

    def __init__(self) -> None:
        self.refunds: dict[str, dict[str, Money]] = {}
        self.revenue = cny("0.00")
        self.shipped: dict[str, Money] = {}  # revenue per shipment, by part
        self.overpaid = cny("0.00")
        self.topics: list[str] = []

    def publish(self, messages: Any) -> None:
        for message in messages:
            assert isinstance(message, OutboxMessage)
            self.topics.append(message.topic)
            if not message.topic.startswith("event."):
                continue
            fact = read_event(message.payload)
            if isinstance(fact, LinesShipped | LinesUnshipped):
                sign = 1 if isinstance(fact, LinesShipped) else -1
                assert fact.amount is not None
                self.revenue += fact.amount * sign
                for part in SHIPPED_PARTS:
                    value = getattr(fact, part)
                    assert isinstance(value, Money)
                    self.shipped[part] = self.shipped.get(part, cny("0.00")) + value * sign
            elif isinstance(fact, Overpaid):
                self.overpaid += fact.excess
            elif isinstance(fact, Refunded | RefundLinesAssigned):
                refund = fact.event_id if isinstance(fact, Refunded) else fact.refund_id
                split = {part: getattr(fact, part) for part in PARTS}
                assert all(isinstance(value, Money) for value in split.values())
                self.refunds[refund] = split

    def given_back(self, part: str) -> Money:
        return sum((split[part] for split in self.refunds.values()), cny("0.00"))


def placed(repository: Any, order: Order) -> tuple[ManualClock, Booker, OrderService]:
    """``order`` placed through a service on ``repository`` whose sink is a booker."""
    clock = ManualClock(T0)
    booker = Booker()
    service = OrderService(repository, clock=clock, sink=booker)
    service.place(order)
    return clock, booker, service


def test_a_booker_reverses_each_part_from_the_events_alone(tmp_path: Path) -> None:
    repository = SQLiteOrderRepository(tmp_path / "shop.db")
    clock, booker, service = placed(repository, Order(
        "ORD-B", "tmall", "T-B",
        [OrderLine("1", "TEA", 2, cny("89.00")), OrderLine("2", "CUP", 1, cny("45.50"))],
        T0, adjustments=[Adjustment(AdjustmentKind.COUPON, cny("20.00")),
                         Adjustment(AdjustmentKind.SHIPPING, cny("8.00")),
                         Adjustment(AdjustmentKind.TAX, cny("11.13"))]))
    steps: list[tuple[str, dict[str, Any]]] = [
        ("pay", {"amount": cny("230.00")}),  # 7.37 over what was due
        ("release_hold", {"kind": "payment_review"}),  # finance keeps it to refund
        ("cancel_lines", {"lines": {"2": 1}}),  # the cup, before shipment
        ("refund", {"amount": None}),  # what is owed: the cup and the overpayment
        ("ship", {"carrier": "SF", "waybill": "SF1"}),
        ("deliver", {}),
        ("return_received", {"lines": {"1": 1}, "sellable": {"1": 1}}),
        ("refund", {"amount": None, "reference": "RF-1"}),  # heard as money only
        ("refund", {"amount": "told", "reference": "RF-1", "lines": {"1": 1}}),  # its unit
        ("refund", {"amount": cny("5.00")}),  # on the tea the buyer keeps
    ]
    told = cny("0.00")
    for n, (name, data) in enumerate(steps):
        order = repository.get("ORD-B")
        if data.get("amount") is None and name == "refund":
            data = {**data, "amount": order.refund_due}
            told = order.refund_due
        elif data.get("amount") == "told":
            data = {**data, "amount": told}
        clock.advance(timedelta(hours=1))
        service.handle("ORD-B", Event(name, event_id=f"e{n}", at=clock.now(), data=data))
    order = repository.get("ORD-B")
    assert booker.topics.count("event.RefundLinesAssigned") == 1
    assert len(booker.refunds) == 3  # three refunds, one re-classed by its unit
    # What left the buyer's bill, part by part, is what the booker gave back.
    left = given_back(order)
    assert not order.refund_due and not owed_value(order).amount
    for part in PARTS:
        assert booker.given_back(part) == getattr(left, part), part
    assert booker.given_back("overpaid") == booker.overpaid == cny("7.37")
    assert booker.refunds["e9"]["discounts"] == cny("-5.00")  # a discount granted
    # Revenue booked on shipment, less what went back after it, is what the buyer keeps.
    kept = order.totals.paid - order.totals.refunded
    after_shipment = sum((booker.refunds[f"e{n}"][part] * (-1 if part == "discounts" else 1)
                          for n in (7, 9) for part in PARTS if part != "overpaid"),
                         cny("0.00"))
    assert booker.revenue - after_shipment == kept == order.totals.sold


@pytest.fixture(params=["sqlite", "postgres"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An order repository (its outbox beside it) on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        yield SQLiteOrderRepository(tmp_path / "till.db")
        return
    dsn = request.getfixturevalue("pg_dsn")
    store = PostgresOrderRepository(dsn, schema=fresh_schema("booker"))
    yield store
    store.close()


def test_a_booker_books_a_rounded_orders_shipments_part_by_part(repository: Any) -> None:
    # A till receipt rounded down by 0.08 (抹零), with a discount, shipping and tax, goes
    # out in parcels: a carrier scan first ships everything, the warehouse says its
    # parcel held one tea, the rest follows. Each part the booker books adds up.
    clock, booker, service = placed(repository, Order(
        "POS-R", "pos", "R",
        [OrderLine("1", "TEA", 3, cny("49.99")), OrderLine("2", "CUP", 1, cny("19.99"))],
        T0, adjustments=[Adjustment(AdjustmentKind.DISCOUNT, cny("10.00")),
                         Adjustment(AdjustmentKind.SHIPPING, cny("6.00")),
                         Adjustment(AdjustmentKind.TAX, cny("3.21")),
                         Adjustment(AdjustmentKind.ROUNDING, cny("-0.08"))]))
    steps: list[tuple[str, dict[str, Any]]] = [
        ("pay", {"amount": cny("169.09")}),
        ("track", {"status": "in_transit", "carrier_time": T0, "waybill": "YT1"}),
        ("ship", {"carrier": "YT", "waybill": "YT1", "lines": {"1": 1}}),
        ("ship", {"carrier": "SF", "waybill": "SF2", "lines": {"1": 1}}),
        ("ship", {"carrier": "SF", "waybill": "SF3"}),
    ]
    for n, (name, data) in enumerate(steps):
        clock.advance(timedelta(hours=1))
        service.handle("POS-R", Event(name, event_id=f"e{n}", at=clock.now(), data=data))
    order = repository.get("POS-R")
    assert booker.topics.count("event.LinesUnshipped") == 1 and not order.open_units
    totals = order.totals
    assert totals.paid == totals.payable == totals.sold == booker.revenue
    for part in SHIPPED_PARTS:
        assert booker.shipped[part] == getattr(totals, part), part
    assert booker.shipped["rounding"] == cny("-0.08")
