"""A booker keeps the general ledger from the outbox alone: revenue per shipment from
``LinesShipped``, and what refunds give back from ``Refunded`` (re-classed by
``RefundLinesAssigned``), part by part.

A tea order on SQLite loses its cup before shipment, is overpaid, ships, has a tea
returned, a refund heard first as money only and told later with its units, and a
concession on what the buyer keeps. At the end, from the events alone, the booker's
refunds add up per part to what left the buyer's bill, and its revenue less what it
gave back is what the buyer paid less what was given back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orderkit import Adjustment, AdjustmentKind, Money, Order, OrderLine
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.lifecycle import (
    Event,
    LinesShipped,
    OrderService,
    Overpaid,
    Refunded,
    RefundLinesAssigned,
    read_event,
)
from orderkit.lifecycle.refunds import given_back, owed_value
from orderkit.outbox import OutboxMessage
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
PARTS = ("goods", "discounts", "shipping", "tax", "rounding", "overpaid")


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


class Booker:
    """A host's event sink that books each refund's parts by refund id (a
    ``RefundLinesAssigned`` replaces what its refund's ``Refunded`` said) and revenue
    per shipment; it reads nothing but the messages."""

    def __init__(self) -> None:
        self.refunds: dict[str, dict[str, Money]] = {}
        self.revenue = cny("0.00")
        self.overpaid = cny("0.00")
        self.topics: list[str] = []

    def publish(self, messages: Any) -> None:
        for message in messages:
            assert isinstance(message, OutboxMessage)
            self.topics.append(message.topic)
            if not message.topic.startswith("event."):
                continue
            fact = read_event(message.payload)
            if isinstance(fact, LinesShipped):
                assert fact.amount is not None
                self.revenue += fact.amount
            elif isinstance(fact, Overpaid):
                self.overpaid += fact.excess
            elif isinstance(fact, Refunded | RefundLinesAssigned):
                refund = fact.event_id if isinstance(fact, Refunded) else fact.refund_id
                split = {part: getattr(fact, part) for part in PARTS}
                assert all(isinstance(value, Money) for value in split.values())
                self.refunds[refund] = split

    def given_back(self, part: str) -> Money:
        return sum((split[part] for split in self.refunds.values()), cny("0.00"))


def test_a_booker_reverses_each_part_from_the_events_alone(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    repository = SQLiteOrderRepository(tmp_path / "shop.db")
    booker = Booker()
    service = OrderService(repository, clock=clock, sink=booker)
    service.place(Order(
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
