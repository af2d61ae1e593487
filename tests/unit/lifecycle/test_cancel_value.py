"""A cancel tells finance the value of what it took out of the sale, part by part.

``LinesCancelled`` carried ``goods``, ``discounts``, ``shipping`` and ``tax`` but no
``rounding``, and ``OrderCancelled`` only its ``amount``: for an order with a till's
rounding (spread over the lines when it rounds down, the order's own charge when it
rounds up, leaving with the last unit) the parts did not add up to the amount, and a
booker posting them lost the rounding. Both now carry every part (``rounding`` zero in
a payload written before it was added; ``OrderCancelled``'s other parts ``None`` then),
and the parts add up to the amount exactly, as ``LinesShipped``'s do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orderkit import Adjustment, AdjustmentKind, Money, Order, OrderLine
from orderkit.lifecycle import Event, Lifecycle, LinesCancelled, OrderCancelled, read_event
from orderkit.outbox.messages import event_content
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
PARTS = ("goods", "discounts", "shipping", "tax", "rounding")


def cny(amount: str | int) -> Money:
    return Money.from_minor(amount, "CNY") if isinstance(amount, int) else Money(amount, "CNY")


def till_receipt(rounding: str) -> Order:
    """Tea x3 and a cup, 10.00 off the receipt, 6.00 shipping and 3.21 tax, rounded by
    the till by ``rounding`` (down: spread over the lines; up: a charge of the order),
    paid in full."""
    order = Order("POS-R", "pos", "R", [OrderLine("1", "TEA", 3, cny("49.99")),
                                        OrderLine("2", "CUP", 1, cny("19.99"))], T0,
                  adjustments=[Adjustment(AdjustmentKind.DISCOUNT, cny("10.00")),
                               Adjustment(AdjustmentKind.SHIPPING, cny("6.00")),
                               Adjustment(AdjustmentKind.TAX, cny("3.21")),
                               Adjustment(AdjustmentKind.ROUNDING, cny(rounding))])
    return apply(order, "pay", "p", amount=order.totals.payable)[0]


def apply(order: Order, name: str, event_id: str, **data: Any) -> tuple[Order, list[Any]]:
    moved = Lifecycle(clock=ManualClock(T0)).apply(
        order, Event(name, event_id=event_id, at=T0, data=data))
    return moved.order, list(moved.events)


def only(events: list[Any], cls: type[Any]) -> Any:
    (fact,) = [e for e in events if isinstance(e, cls)]
    return fact


def adds_up(fact: Any) -> bool:
    return bool(fact.amount == (fact.goods - fact.discounts + fact.shipping + fact.tax
                                + fact.rounding))


def test_a_cancelled_unit_of_a_receipt_rounded_down_takes_its_share_of_the_rounding() -> None:
    order, events = apply(till_receipt("-0.08"), "cancel_lines", "c", lines={"2": 1})
    cancelled = only(events, LinesCancelled)
    assert cancelled.rounding.amount < 0
    assert adds_up(cancelled)
    assert cancelled.amount == order.totals.payable - order.totals.sold


@pytest.mark.parametrize("rounding", ["-0.08", "0.05"])
def test_the_last_units_cancelled_take_the_orders_own_charges_and_rounding(
    rounding: str,
) -> None:
    order = till_receipt(rounding)
    order, first = apply(order, "cancel_lines", "c1", lines={"1": 3})
    order, last = apply(order, "cancel_lines", "c2", lines={"2": 1})
    facts = [only(first, LinesCancelled), only(last, LinesCancelled)]
    for fact in facts:
        assert adds_up(fact)
    # the two cancels carry the whole receipt, part by part
    totals = order.totals
    for part in PARTS:
        assert sum((getattr(f, part) for f in facts), cny(0)) == getattr(totals, part), part
    if rounding == "0.05":  # a rounding up is the order's own charge: it goes last
        assert [f.rounding for f in facts] == [cny(0), cny("0.05")]
    else:  # a rounding down is spread: each unit takes its share
        assert all(f.rounding.amount < 0 for f in facts)
    assert sum((f.amount for f in facts), cny(0)) == totals.payable


@pytest.mark.parametrize("rounding", ["-0.08", "0.05"])
def test_a_whole_cancel_says_its_value_part_by_part(rounding: str) -> None:
    order = till_receipt(rounding)
    order, events = apply(order, "cancel", "c")
    cancelled = only(events, OrderCancelled)
    assert adds_up(cancelled)
    totals = order.totals
    for part in PARTS:
        assert getattr(cancelled, part) == getattr(totals, part), part
    assert cancelled.amount == totals.payable


def test_a_cancel_after_part_was_cancelled_carries_only_what_was_left() -> None:
    order, _events = apply(till_receipt("-0.08"), "cancel_lines", "c1", lines={"1": 1})
    before = order.sold_value
    order, events = apply(order, "cancel", "c2")
    cancelled = only(events, OrderCancelled)
    assert adds_up(cancelled)
    for part in PARTS:
        assert getattr(cancelled, part) == getattr(before, part), part


def test_payloads_carry_the_cancels_parts_and_read_them_back() -> None:
    order, events = apply(till_receipt("-0.08"), "cancel_lines", "c1", lines={"2": 1})
    events += apply(order, "cancel", "c2")[1]
    facts = [e for e in events if isinstance(e, LinesCancelled | OrderCancelled)]
    assert len(facts) == 2
    for fact in facts:
        _topic, payload = event_content(fact)
        assert payload["rounding"]["currency"] == "CNY"
        assert read_event(payload) == fact


def test_payloads_written_before_the_rounding_part_read_back_with_it_zero() -> None:
    money = {part: {"amount": "1.00", "currency": "CNY"}
             for part in ("goods", "discounts", "shipping", "tax", "amount")}
    base = {"order_id": "O", "event_id": "c", "at": T0.isoformat(), "lines": {"1": 1},
            "skus": {"TEA": 1}}
    lines = read_event({"type": "LinesCancelled", **base, **money})
    assert isinstance(lines, LinesCancelled)
    assert lines.rounding == cny("0.00") and lines.amount == cny("1.00")
    whole = read_event({"type": "OrderCancelled", **base, "amount": money["amount"]})
    assert isinstance(whole, OrderCancelled)
    assert whole.rounding == cny("0.00") and whole.amount == cny("1.00")
    assert (whole.goods, whole.discounts, whole.shipping, whole.tax) == (None,) * 4
