"""Random money stories keep the money identity after every step.

Orders with per-line and order-level discounts, shipping and tax take random payments
(short, exact, over), partial and full cancels, shipments, carrier scans, refunds (with
and without lines), returns and price changes. After every step, exactly:

    paid - refunded - refund_due + due == the value of the units still sold

where the right-hand side is computed here from the adjustments themselves (each
line's share in proportion to its units still sold, rounded once), independently of
how ``Order.totals`` computes it. No amount is a float, no
amount the type says is a magnitude goes negative, a ``RefundDue`` is emitted exactly
when the buyer becomes owed more, and replaying the accepted events with a clock years
later gives equal orders.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit import (
    Adjustment,
    AdjustmentKind,
    LineStatus,
    Money,
    Order,
    OrderLine,
)
from orderkit.errors import OrderkitError
from orderkit.lifecycle import (
    DomainEvent,
    Event,
    Lifecycle,
    LinesCancelled,
    LinesShipped,
    LinesUnshipped,
    OrderCancelled,
    RefundDue,
    RefundSplit,
)
from orderkit.testing import ManualClock

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
LINE_IDS = ("1", "2", "3")
_ORDER_CHARGES = (AdjustmentKind.SHIPPING, AdjustmentKind.ROUNDING,
                  AdjustmentKind.SHIPPING_CONCESSION)
_SUBTRACTS = (
    AdjustmentKind.DISCOUNT,
    AdjustmentKind.COUPON,
    AdjustmentKind.SUBSIDY,
    AdjustmentKind.CONCESSION,
)
_SLOTS = {**dict.fromkeys(_SUBTRACTS, "discounts"), AdjustmentKind.SHIPPING: "shipping",
          AdjustmentKind.TAX: "tax", AdjustmentKind.ROUNDING: "rounding",
          AdjustmentKind.SHIPPING_CONCESSION: "shipping"}


def cny(minor: int) -> Money:
    return Money.from_minor(minor, "CNY")


@st.composite
def orders(draw: st.DrawFn) -> Order:
    count = draw(st.integers(1, 3))
    lines = [
        OrderLine(LINE_IDS[i], f"SKU-{i}", draw(st.integers(1, 4)),
                  cny(draw(st.integers(0, 9_999))))
        for i in range(count)
    ]
    goods = sum(line.amount.minor for line in lines)
    adjustments = []
    if draw(st.booleans()):
        line = draw(st.sampled_from(lines))
        if line.amount.minor:  # a line discount up to the line's value
            off = draw(st.integers(1, line.amount.minor))
            goods -= off
            adjustments.append(Adjustment(AdjustmentKind.DISCOUNT, cny(off), line_id=line.line_id))
    if goods and draw(st.booleans()):  # an order-level coupon up to what is left
        adjustments.append(Adjustment(AdjustmentKind.COUPON, cny(draw(st.integers(1, goods)))))
    if draw(st.booleans()):
        adjustments.append(Adjustment(AdjustmentKind.SHIPPING, cny(draw(st.integers(0, 1_500)))))
    if draw(st.booleans()):
        adjustments.append(Adjustment(AdjustmentKind.TAX, cny(draw(st.integers(0, 999)))))
    return Order(order_id="ORD-M", channel="pos", channel_order_id="M-1", lines=lines,
                 adjustments=adjustments, created_at=T0)


units = st.dictionaries(st.sampled_from(LINE_IDS), st.integers(1, 3), min_size=1, max_size=2)
#: An amount, or one named after the order's state when the event is applied: exactly
#: what is due or owed back, or a fen either side of it.
amounts = st.one_of(
    st.integers(0, 60_000).map(cny),
    st.tuples(st.sampled_from(["due", "refund_due", "paid_left"]), st.integers(-1, 1)),
)
steps: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "pay": st.fixed_dictionaries({"amount": amounts}),
    "cancel_lines": st.fixed_dictionaries({"lines": units}),
    "cancel": st.just({}),
    "ship": st.fixed_dictionaries({"carrier": st.just("SF"), "waybill": st.just("SF1")},
                                  optional={"lines": units}),
    "track": st.fixed_dictionaries({
        "status": st.sampled_from(["in_transit", "signed"]),
        # event n is at T0 + n hours: a scan timed after its event is refused
        "carrier_time": st.integers(0, 2).map(lambda h: T0 + timedelta(hours=h)),
    }),
    "deliver": st.just({}),
    "complete": st.just({}),
    "refund": st.fixed_dictionaries({"amount": amounts}, optional={"lines": units}),
    "return_requested": st.fixed_dictionaries({"lines": units}),
    "return_received": st.fixed_dictionaries({"lines": units}, optional={"sellable": units}),
    "return_cancelled": st.fixed_dictionaries({}, optional={"lines": units}),
    "change_price": st.fixed_dictionaries({"line_id": st.sampled_from(LINE_IDS),
                                           "unit_price": st.integers(0, 9_999).map(cny)}),
}
#: How often each step is drawn: a whole cancel ends most stories, so it is rare.
WEIGHTS = {"pay": 3, "ship": 2, "track": 2, "deliver": 2, "refund": 4, "cancel_lines": 2,
           "return_requested": 2, "return_received": 3, "return_cancelled": 1,
           "change_price": 1, "complete": 1, "cancel": 1}
stories = st.lists(
    st.sampled_from([name for name in sorted(steps) for _ in range(WEIGHTS[name])]).flatmap(
        lambda name: steps[name].map(lambda d: (name, d))
    ),
    min_size=1,
    max_size=20,
)


def sold_oracle(order: Order) -> Decimal:
    """Goods still sold + their shipping and tax - their discounts: each line's share of
    every kind in proportion to the units it covers that are still sold. The order's own
    rounding, net, is its charge when it rounds up and spread over the lines when it
    rounds down."""
    sold = {line.line_id: line.quantities[LineStatus.OPEN] + line.quantities[LineStatus.SHIPPED]
            for line in order.lines}
    value = sum((line.unit_price.amount * sold[line.line_id] for line in order.lines),
                Decimal(0))
    by_id = {line.line_id: line for line in order.lines}
    zero = Money.zero("CNY")
    shares: dict[tuple[str, str, int], Money] = {}  # (line, slot, units covered) -> amount
    spread: dict[str, Money] = {}
    rounding = zero  # the order's own, net
    for adjustment in order.adjustments:
        slot = _SLOTS.get(adjustment.kind)
        if slot is None:
            continue
        line = by_id.get(adjustment.line_id) if adjustment.line_id is not None else None
        # shipping given back lowers the shipping
        given = -adjustment.amount if adjustment.kind is AdjustmentKind.SHIPPING_CONCESSION \
            else adjustment.amount
        if line is not None:
            key = (line.line_id, slot, adjustment.units or line.quantity)
            shares[key] = shares.get(key, zero) + given
        elif adjustment.kind is AdjustmentKind.ROUNDING:
            rounding += adjustment.amount
        elif adjustment.kind in _ORDER_CHARGES:
            if order.shipments or any(sold.values()):
                value += given.amount
        else:
            spread[slot] = spread.get(slot, zero) + adjustment.amount
    if rounding.amount < 0:  # rounding down (抹零): a discount spread over the lines
        spread["rounding"] = rounding
    elif order.shipments or any(sold.values()):  # rounding up: the order's own charge
        value += rounding.amount
    own = {line.line_id: sum((a.amount.amount for a in order.adjustments
                              if a.line_id == line.line_id and _SLOTS.get(a.kind) == "discounts"
                              and a.kind is not AdjustmentKind.CONCESSION), Decimal(0))
           for line in order.lines}  # a line's own discounts at sale weigh the spread
    weights: list[int | Decimal] = [max(Decimal(0), line.amount.amount - own[line.line_id])
                                    for line in order.lines]
    if not any(weights):
        weights = [line.amount.amount for line in order.lines]
    if not any(weights):
        weights = [line.quantity for line in order.lines]
    for slot, total in spread.items():
        for line, part in zip(order.lines, total.allocate(weights), strict=True):
            key = (line.line_id, slot, line.quantity)
            shares[key] = shares.get(key, zero) + part
    exact: dict[tuple[str, str], Fraction] = {}
    for (line_id, slot, covered), total in shares.items():
        part = Fraction(total.amount) * min(sold[line_id], covered) / covered
        exact[(line_id, slot)] = exact.get((line_id, slot), Fraction(0)) + part
    for (_line_id, slot), share in exact.items():
        sign = -1 if slot == "discounts" else 1
        value += sign * Decimal(math.floor(share * 100 + Fraction(1, 2))).scaleb(-2)  # half up
    return value


def check_step(
    before: Order, after: Order, emitted: tuple[DomainEvent, ...], name: str = ""
) -> None:
    totals = after.totals
    for field in ("goods", "payable", "paid", "refunded", "sold", "due", "refund_due"):
        value = getattr(totals, field)
        assert isinstance(value.amount, Decimal), field
        assert value.amount >= 0, (field, value)
    assert totals.paid - totals.refunded - totals.refund_due + totals.due == totals.sold
    # the order's own due and refund_due, read without the whole report, are the same
    assert (after.due, after.refund_due) == (totals.due, totals.refund_due)
    assert totals.sold.amount == sold_oracle(after)
    for line in after.lines:
        assert sum(line.quantities.values()) == line.quantity
    for event in emitted:
        split = isinstance(event, RefundSplit)
        parcel = isinstance(event, LinesShipped | LinesUnshipped | LinesCancelled
                            | OrderCancelled)
        for attribute in event.__attrs_attrs__:
            value = getattr(event, attribute.name)
            if isinstance(value, Money):
                assert isinstance(value.amount, Decimal)
                # A refund's parts may be below zero (money given on goods kept is a
                # discount granted, a till's rounding down goes with its units), and so
                # may the rounding of a parcel or a cancel; they add up to the amount,
                # which never is.
                assert value.amount >= 0 or (split and attribute.name in _PARTS) or (
                    parcel and attribute.name == "rounding"), (event, attribute.name)
        if split:
            assert event.amount == (event.goods - event.discounts + event.shipping
                                    + event.tax + event.rounding + event.overpaid)
        if parcel:
            assert event.goods is not None and event.discounts is not None
            assert event.shipping is not None and event.tax is not None
            assert event.rounding is not None
            assert event.amount == (event.goods - event.discounts + event.shipping
                                    + event.tax + event.rounding)
    if name != "change_price":  # only a higher price makes the buyer owe more
        assert totals.due <= before.totals.due, (name, totals.due, before.totals.due)
    more = totals.refund_due - before.totals.refund_due
    owed = [event.amount for event in emitted if isinstance(event, RefundDue)]
    assert owed == ([more] if more.amount > 0 else [])


#: The parts of a refund's split (see :class:`~orderkit.model.orders.RefundValue`).
_PARTS = frozenset({"goods", "discounts", "shipping", "tax", "rounding", "overpaid"})


def resolved(order: Order, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a named amount (``("due", -1)``) turned into money of ``order``."""
    amount = data.get("amount")
    if not isinstance(amount, tuple):
        return data
    name, fen = amount
    totals = order.totals
    base = totals.paid - totals.refunded if name == "paid_left" else getattr(totals, name)
    return {**data, "amount": Money.from_minor(max(0, base.minor + fen), "CNY")}


@settings(max_examples=150, deadline=None)
@given(orders(), st.booleans(), stories)
def test_every_money_story_keeps_the_identity_and_replays_the_same(
    order: Order, paid_first: bool, story: list[tuple[str, dict[str, Any]]]
) -> None:
    if paid_first:  # most orders are paid in full before anything else happens
        story = [("pay", {"amount": ("due", 0)}), *story]
    lifecycle = Lifecycle(clock=ManualClock(T0))
    accepted: list[Event] = []
    current = order
    check_step(current, current, ())
    for n, (name, data) in enumerate(story):
        event = Event(name, event_id=f"e{n}", at=T0 + timedelta(hours=n),
                      data=resolved(current, data))
        try:
            transition = lifecycle.apply(current, event)
        except OrderkitError:
            continue  # a refusal changes nothing; the identity still holds
        check_step(current, transition.order, transition.events, name)
        current = transition.order
        accepted.append(event)
    years_later = Lifecycle(clock=ManualClock(T0 + timedelta(days=3 * 365)))
    replayed = order
    for event in accepted:
        replayed = years_later.apply(replayed, event).order
    assert replayed == current


@settings(max_examples=100, deadline=None)
@given(orders(), st.booleans())
def test_a_refund_of_everything_paid_after_shipment_closes_the_order(
    order: Order, name_lines: bool
) -> None:
    """Whatever the order's discounts, tax and shipping: paid in full and shipped, a
    refund of everything paid gives every fen back (the shipping too) and closes it."""
    lifecycle = Lifecycle(clock=ManualClock(T0))
    if not order.due:
        return  # free: nothing to pay or refund
    order = lifecycle.apply(order, Event("pay", event_id="p", at=T0,
                                         data={"amount": order.due})).order
    order = lifecycle.apply(order, Event("ship", event_id="s", at=T0,
                                         data={"carrier": "SF", "waybill": "SF1"})).order
    paid = order.totals.paid
    data: dict[str, Any] = {"amount": paid}
    if name_lines:
        data["lines"] = {line.line_id: line.quantity for line in order.lines}
    refunded = lifecycle.apply(order, Event("refund", event_id="r", at=T0, data=data))
    check_step(order, refunded.order, refunded.events, "refund")
    totals = refunded.order.totals
    assert refunded.order.status.name == "CLOSED"
    assert (totals.sold, totals.due, totals.refund_due) == (cny(0), cny(0), cny(0))
    assert totals.refunded == paid


@settings(max_examples=100, deadline=None)
@given(orders(), st.integers(1, 99), st.randoms(use_true_random=False), st.data())
def test_returning_every_unit_of_an_order_rounded_down_pays_back_what_was_paid(
    order: Order, down: int, rng: Any, data: st.DataObject
) -> None:
    """An order rounded down (抹零) at the till, paid, shipped and delivered; its units
    come back in random batches, refunds of what is owed in between or not: at the end
    nothing is sold but the order's own shipping (a fee the parcel earned), what is
    still owed back is what was paid less what was refunded, and the ``RefundDue``
    amounts add up to what was paid for the goods."""
    worth = order.totals.payable - order.shipping_standing  # what the lines are worth
    if worth.minor <= down:  # 抹零 takes off less than the goods cost, as a coupon does
        return
    order = attrs.evolve(order, adjustments=(
        *order.adjustments, Adjustment(AdjustmentKind.ROUNDING, cny(-down), label="抹零")))
    lifecycle = Lifecycle(clock=ManualClock(T0))
    story = [Event("pay", event_id="p", at=T0, data={"amount": order.totals.payable}),
             Event("ship", event_id="s", at=T0, data={"carrier": "SF", "waybill": "SF1"}),
             Event("deliver", event_id="d", at=T0)]
    for event in story:
        transition = lifecycle.apply(order, event)
        check_step(order, transition.order, transition.events, event.name)
        order = transition.order
    paid = order.totals.paid
    units = [line.line_id for line in order.lines for _ in range(line.quantity)]
    rng.shuffle(units)
    owed = cny(0)
    n = 0
    while units:
        size = data.draw(st.integers(1, len(units)))
        batch, units = units[:size], units[size:]
        lines = {line_id: batch.count(line_id) for line_id in set(batch)}
        n += 1
        event = Event("return_received", event_id=f"rx{n}", at=T0 + timedelta(hours=n),
                      data={"lines": lines, "sellable": lines})
        transition = lifecycle.apply(order, event)
        check_step(order, transition.order, transition.events, event.name)
        owed += sum((e.amount for e in transition.events if isinstance(e, RefundDue)), cny(0))
        order = transition.order
        if order.totals.refund_due.amount and data.draw(st.booleans()):
            event = Event("refund", event_id=f"rf{n}", at=T0 + timedelta(hours=n),
                          data={"amount": order.totals.refund_due})
            transition = lifecycle.apply(order, event)
            check_step(order, transition.order, transition.events, event.name)
            order = transition.order
    totals = order.totals
    assert totals.sold == order.shipping_standing
    assert totals.refund_due == totals.paid - totals.refunded - order.shipping_standing
    assert owed == paid - order.shipping_standing
    if not order.shipping_standing:
        assert totals.sold == cny(0)
        assert owed == paid
