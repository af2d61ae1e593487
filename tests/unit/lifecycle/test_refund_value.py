"""Refunds tell finance what they give back: goods, discounts, shipping, tax, rounding,
or money paid beyond the order's price.

A general-ledger booker fed by the outbox alone got one total on ``RefundDue``,
``Refunded`` and ``RefundLinesAssigned``, so a sales return could not be booked against
revenue, the shipping refunded against shipping income, and an overpayment given back
against no revenue at all. Each now carries the split ``LinesShipped`` carries (and
``rounding`` and ``overpaid``), adding up to its amount exactly, and the order keeps
each refund's split (``Payment.value``) so that, over an order's life, what the
``Refunded`` events say part by part is what left the buyer's bill.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit import (
    Adjustment,
    AdjustmentKind,
    LineStatus,
    Money,
    Order,
    OrderLine,
    Payment,
    PaymentKind,
    RefundValue,
    from_dict,
    to_dict,
)
from orderkit.errors import OrderkitError, ValidationError
from orderkit.lifecycle import (
    DomainEvent,
    Event,
    Lifecycle,
    LinesCancelled,
    OrderService,
    RefundDue,
    Refunded,
    RefundLinesAssigned,
    RefundSplit,
    read_event,
)
from orderkit.lifecycle.refunds import given_back, owed_value, refunds_value
from orderkit.outbox.messages import event_content
from orderkit.testing import ManualClock
from orderkit.testing.strategies import PRICED_LINE_IDS, priced_orders

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
PARTS = tuple(attrs.fields_dict(RefundValue))


def cny(amount: str | int) -> Money:
    return Money.from_minor(amount, "CNY") if isinstance(amount, int) else Money(amount, "CNY")


def parts(fact: Any) -> tuple[str, ...]:
    """A fact's split as text, in :data:`PARTS` order."""
    return tuple(str(getattr(fact, part).amount) for part in PARTS)


def life() -> Lifecycle:
    return Lifecycle(clock=ManualClock(T0))


def apply(order: Order, name: str, event_id: str, **data: Any) -> tuple[Order, list[Any]]:
    moved = life().apply(order, Event(name, event_id=event_id, at=T0, data=data))
    return moved.order, list(moved.events)


def only(events: list[Any], cls: type[Any]) -> Any:
    (fact,) = [e for e in events if isinstance(e, cls)]
    return fact


def tea_order() -> Order:
    """Tea x2 and a cup, a 20.00 coupon and 8.00 shipping, paid in full (211.50)."""
    order = Order("ORD-3", "tmall", "T-3",
                  [OrderLine("1", "TEA", 2, cny("89.00")), OrderLine("2", "CUP", 1, cny("45.50"))],
                  T0, adjustments=[Adjustment(AdjustmentKind.COUPON, cny("20.00")),
                                   Adjustment(AdjustmentKind.SHIPPING, cny("8.00"))])
    return apply(order, "pay", "p", amount=cny("211.50"))[0]


# --- units owed and refunded ------------------------------------------------------------------


def test_a_cancelled_unit_is_owed_and_refunded_as_goods_less_its_discount() -> None:
    order, events = apply(tea_order(), "cancel_lines", "c", lines={"2": 1})
    owed = only(events, RefundDue)
    assert parts(owed) == ("45.50", "4.07", "0.00", "0.00", "0.00", "0.00")
    assert owed.amount == cny("41.43")
    order, events = apply(order, "refund", "r", amount=cny("41.43"))
    refunded = only(events, Refunded)
    assert parts(refunded) == parts(owed) and refunded.amount == cny("41.43")
    assert order.payments[-1].value is not None
    assert parts(order.payments[-1].value) == parts(owed)


def test_a_refund_paid_in_two_parts_splits_in_proportion_and_adds_up() -> None:
    order, _events = apply(tea_order(), "cancel_lines", "c", lines={"2": 1})
    order, events = apply(order, "refund", "r1", amount=cny("20.00"))
    first = only(events, Refunded)
    assert parts(first) == ("21.96", "1.96", "0.00", "0.00", "0.00", "0.00")
    order, events = apply(order, "refund", "r2", amount=cny("21.43"))
    second = only(events, Refunded)
    assert parts(second) == ("23.54", "2.11", "0.00", "0.00", "0.00", "0.00")
    assert not order.refund_due


def test_a_refund_naming_units_gives_back_their_value() -> None:
    order = apply(tea_order(), "ship", "s", carrier="SF", waybill="SF1")[0]
    order, events = apply(order, "refund", "r", amount=cny("81.04"), lines={"1": 1})
    # one tea: 89.00 less its part of the teas' 15.93 of the coupon: the tea still sold
    # carries 7.97 (half of it, rounded once), the one refunded the other 7.96
    assert parts(only(events, Refunded)) == ("89.00", "7.96", "0.00", "0.00", "0.00", "0.00")
    assert not [e for e in events if isinstance(e, RefundDue)]


def test_a_refund_below_its_units_value_leaves_the_rest_owed_in_the_same_parts() -> None:
    order = Order("O", "shop", "1", [OrderLine("1", "CUP", 2, cny("45.50"))], T0)
    order = apply(order, "pay", "p", amount=cny("91.00"))[0]
    order, events = apply(order, "refund", "r", amount=cny("30.00"), lines={"1": 1})
    assert parts(only(events, Refunded)) == ("30.00", "0.00", "0.00", "0.00", "0.00", "0.00")
    assert parts(only(events, RefundDue)) == ("15.50", "0.00", "0.00", "0.00", "0.00", "0.00")


def test_a_returned_till_item_takes_its_share_of_the_rounding_down() -> None:
    receipt = Order("POS-9", "pos", "9", [OrderLine("1", "TEA", 1, cny("49.99")),
                                          OrderLine("2", "CUP", 1, cny("49.99"))], T0,
                    adjustments=[Adjustment(AdjustmentKind.DISCOUNT, cny("10.00")),
                                 Adjustment(AdjustmentKind.ROUNDING, cny("-0.08"))])
    receipt = apply(receipt, "pay", "p", amount=cny("89.90"))[0]
    receipt = apply(receipt, "ship", "s", carrier="counter", waybill="POS-9")[0]
    receipt = apply(receipt, "deliver", "d")[0]
    receipt, events = apply(receipt, "return_received", "x", lines={"2": 1})
    owed = only(events, RefundDue)
    assert parts(owed) == ("49.99", "5.00", "0.00", "0.00", "-0.04", "0.00")
    assert owed.amount == cny("44.95")


# --- money not tied to units ------------------------------------------------------------------


def test_an_overpayment_is_owed_and_refunded_as_overpaid() -> None:
    order = Order("O", "shop", "1", [OrderLine("1", "CUP", 1, cny("45.50"))], T0)
    order, events = apply(order, "pay", "p", amount=cny("50.00"))
    assert parts(only(events, RefundDue)) == ("0.00", "0.00", "0.00", "0.00", "0.00", "4.50")
    order, events = apply(order, "refund", "r", amount=cny("4.50"))
    assert parts(only(events, Refunded)) == ("0.00", "0.00", "0.00", "0.00", "0.00", "4.50")


def test_a_price_lowered_after_payment_is_overpaid_not_goods() -> None:
    # Nothing shipped yet (the price changes only before the parcel leaves): the goods
    # are booked at the new price when they ship; the difference was never revenue.
    order = Order("O", "shop", "1", [OrderLine("1", "TEA", 2, cny("89.00"))], T0)
    order = apply(order, "pay", "p", amount=cny("178.00"))[0]
    order, events = apply(order, "change_price", "cp", line_id="1", unit_price=cny("80.00"))
    assert parts(only(events, RefundDue)) == ("0.00", "0.00", "0.00", "0.00", "0.00", "18.00")
    order, events = apply(order, "refund", "r", amount=cny("18.00"))
    assert parts(only(events, Refunded)) == ("0.00", "0.00", "0.00", "0.00", "0.00", "18.00")


# --- a price cut and the concessions given on its units ---------------------------------------


def conceded_tea() -> Order:
    """Tea x2 at 10.00, paid; one cancelled and refunded, then 5.00 given back on the tea
    the buyer keeps (a concession on its one unit still sold): it is worth 5.00."""
    order = Order("O", "shop", "1", [OrderLine("1", "TEA", 2, cny("10.00"))], T0)
    order = apply(order, "pay", "p", amount=cny("20.00"))[0]
    order = apply(order, "cancel_lines", "c", lines={"1": 1})[0]
    order = apply(order, "refund", "r1", amount=cny("10.00"))[0]
    order = apply(order, "refund", "r2", amount=cny("5.00"))[0]
    assert order.sold_by_line() == {"1": cny("5.00")} and not order.refund_due
    return order


def test_a_price_cut_below_a_concession_is_refused() -> None:
    # 4.99 less the 5.00 given back on the unit would leave it worth -0.01: the buyer
    # would be owed 5.01 of the 5.00 still paid, a refund nobody could make.
    order = conceded_tea()
    with pytest.raises(ValidationError) as refused:
        apply(order, "change_price", "cp", line_id="1", unit_price=cny("4.99"))
    assert refused.value.path == "data.unit_price"
    assert refused.value.value == cny("4.99")
    assert "CNY -0.01" in refused.value.reason and "line 1" in refused.value.reason


def test_a_price_cut_leaving_every_unit_worth_nothing_or_more_is_taken() -> None:
    order, events = apply(conceded_tea(), "change_price", "cp", line_id="1",
                          unit_price=cny("5.00"))
    assert order.sold_by_line() == {"1": cny("0.00")}
    assert only(events, RefundDue).amount == cny("5.00")
    order, events = apply(order, "refund", "r3", amount=order.refund_due)
    assert only(events, Refunded).amount == cny("5.00")
    assert not order.refund_due and order.totals.sold == cny("0.00")


def test_a_price_cut_moving_a_coupon_onto_a_conceded_line_is_refused() -> None:
    # The coupon is spread by line value: cutting the cancelled cup's price moves its
    # share onto the tea, whose worth a concession already took to 0.01.
    order = Order("O", "shop", "1", [OrderLine("1", "CUP", 1, cny("50.00")),
                                     OrderLine("2", "TEA", 1, cny("50.00"))], T0,
                  adjustments=[Adjustment(AdjustmentKind.COUPON, cny("20.00"))])
    order = apply(order, "pay", "p", amount=cny("80.00"))[0]
    order = apply(order, "cancel_lines", "c", lines={"1": 1})[0]
    order = apply(order, "refund", "r1", amount=cny("40.00"))[0]
    order = apply(order, "refund", "r2", amount=cny("39.99"))[0]
    assert order.sold_by_line() == {"2": cny("0.01")}
    with pytest.raises(ValidationError) as refused:
        apply(order, "change_price", "cp", line_id="1", unit_price=cny("10.00"))
    assert refused.value.path == "data.unit_price" and "line 2" in refused.value.reason
    # a cut moving no more than the tea's 0.01 onto it is taken
    cut = apply(order, "change_price", "cp", line_id="1", unit_price=cny("49.90"))[0]
    assert cut.sold_by_line() == {"2": cny("0.00")}


def test_a_refused_price_cut_stores_nothing(stores: tuple[Any, Any]) -> None:
    repository, _inventory = stores
    sink: list[Any] = []
    service = OrderService(repository, clock=ManualClock(T0), sink=_Sink(sink))
    service.place(conceded_tea())
    before = repository.get("O")
    trail = len(repository.audit_trail("O"))
    published = len(sink)
    with pytest.raises(ValidationError) as refused:
        service.handle("O", Event("change_price", event_id="cp", at=T0,
                                  data={"line_id": "1", "unit_price": cny("4.99")}))
    assert refused.value.path == "data.unit_price"
    assert repository.get("O") == before
    assert len(repository.audit_trail("O")) == trail and len(sink) == published
    # the final refund of what is owed is still what it was: nothing
    assert not repository.get("O").refund_due


class _Sink:
    """An event sink that keeps what it was given."""

    def __init__(self, kept: list[Any]) -> None:
        self.kept = kept

    def publish(self, events: Any) -> None:
        self.kept.extend(events)


def fee_order() -> Order:
    """Tea x2 at 10.00 and 8.00 shipping, paid and shipped."""
    order = Order("ORD-4", "tmall", "T-4", [OrderLine("1", "TEA", 2, cny("10.00"))], T0,
                  adjustments=[Adjustment(AdjustmentKind.SHIPPING, cny("8.00"))])
    order = apply(order, "pay", "p", amount=cny("28.00"))[0]
    return apply(order, "ship", "s", carrier="SF", waybill="SF4")[0]


def test_money_given_on_goods_kept_is_a_discount_granted() -> None:
    order, events = apply(fee_order(), "refund", "r1", amount=cny("5.00"))
    assert parts(only(events, Refunded)) == ("0.00", "-5.00", "0.00", "0.00", "0.00", "0.00")
    # the rest of everything: the goods, the concession taken back with them, the fee
    order, events = apply(order, "refund", "r2", amount=cny("23.00"))
    assert parts(only(events, Refunded)) == ("20.00", "5.00", "8.00", "0.00", "0.00", "0.00")
    assert order.status.name == "CLOSED"


def test_shipping_refunded_alone_is_shipping() -> None:
    order, events = apply(fee_order(), "refund", "r1", amount=cny("20.00"), lines={"1": 2})
    assert parts(only(events, Refunded)) == ("20.00", "0.00", "0.00", "0.00", "0.00", "0.00")
    order, events = apply(order, "refund", "r2", amount=cny("8.00"))
    assert parts(only(events, Refunded)) == ("0.00", "0.00", "8.00", "0.00", "0.00", "0.00")


# --- a refund told first as money only --------------------------------------------------------


def test_units_told_later_re_class_the_refund_by_the_same_rules() -> None:
    heard = {"amount": cny("41.43"), "reference": "RF-2215"}
    order, events = apply(tea_order(), "refund", "webhook", **heard)
    assert parts(only(events, Refunded)) == ("0.00", "-41.43", "0.00", "0.00", "0.00", "0.00")
    order, events = apply(order, "refund", "import", **heard, lines={"2": 1})
    assigned = only(events, RefundLinesAssigned)
    assert parts(assigned) == ("45.50", "4.07", "0.00", "0.00", "0.00", "0.00")
    assert assigned.amount == cny("41.43")
    value = order.payments[-1].value
    assert value is not None and parts(value) == parts(assigned)
    # as if the refund had named the cup from the start
    direct = apply(tea_order(), "refund", "webhook", **heard, lines={"2": 1})[0]
    assert order.payments == direct.payments


# --- payloads, and the value the order keeps --------------------------------------------------


def test_payloads_written_before_read_back_without_the_split() -> None:
    base = {"order_id": "O", "event_id": "e", "at": T0.isoformat(),
            "amount": {"amount": "10.00", "currency": "CNY"}, "lines": {}}
    due = read_event({"type": "RefundDue", **base})
    refunded = read_event({"type": "Refunded", **base, "released": {}})
    assigned = read_event({"type": "RefundLinesAssigned", "order_id": "O", "event_id": "e",
                           "at": T0.isoformat(), "refund_id": "r", "reference": "RF",
                           "lines": {"1": 1}, "released": {}})
    for fact in (due, refunded, assigned):
        assert all(getattr(fact, part) is None for part in PARTS)
    assert isinstance(assigned, RefundLinesAssigned) and assigned.amount is None


def test_payloads_carry_the_split_and_read_it_back() -> None:
    order, events = apply(tea_order(), "cancel_lines", "c", lines={"2": 1})
    events += apply(order, "refund", "r", amount=cny("41.43"))[1]
    facts: list[DomainEvent] = [e for e in events if isinstance(e, RefundDue | Refunded)]
    assert len(facts) == 2
    for fact in facts:
        _topic, payload = event_content(fact)
        assert payload["goods"] == {"amount": "45.50", "currency": "CNY"}
        assert read_event(payload) == fact


def test_a_refunds_value_round_trips_and_must_add_up_to_the_refund() -> None:
    value = RefundValue(cny("45.50"), cny("4.07"), cny(0), cny(0), cny(0), cny(0))
    refund = Payment("r", cny("41.43"), T0, kind=PaymentKind.REFUND, value=value)
    assert from_dict(Payment, to_dict(refund)) == refund
    assert from_dict(Payment, {k: v for k, v in to_dict(refund).items() if k != "value"}
                     ).value is None
    with pytest.raises(ValidationError) as wrong:
        Payment("r", cny("40.00"), T0, kind=PaymentKind.REFUND, value=value)
    assert wrong.value.path == "value"
    with pytest.raises(ValidationError) as paid:
        Payment("p", cny("41.43"), T0, value=value)
    assert paid.value.path == "value"
    with pytest.raises(ValidationError) as currency:
        RefundValue(cny("1.00"), Money("0.00", "USD"), cny(0), cny(0), cny(0), cny(0))
    assert currency.value.path == "discounts.currency"
    with pytest.raises(ValidationError) as kind:
        RefundValue(cny("1.00"), "0.00", cny(0), cny(0), cny(0), cny(0))  # type: ignore[arg-type]
    assert kind.value.path == "discounts"


# --- over an order's life ---------------------------------------------------------------------


def _booked(events: list[Any]) -> dict[str, Any]:
    """Each refund's split as a booker holds it: its ``Refunded``'s, replaced by a later
    ``RefundLinesAssigned``'s, by refund id."""
    book: dict[str, Any] = {}
    for fact in events:
        if isinstance(fact, Refunded):
            book[fact.event_id] = fact
        elif isinstance(fact, RefundLinesAssigned):
            book[fact.refund_id] = fact
    return book


def _sum(facts: list[Any], part: str) -> Money:
    return sum((getattr(fact, part) for fact in facts), cny(0))


units = st.dictionaries(st.sampled_from(PRICED_LINE_IDS), st.integers(1, 3), min_size=1, max_size=2)
fraction = st.integers(0, 100)  # percent of what a refund step is based on
steps = st.lists(st.one_of(
    st.tuples(st.just("ship"), st.one_of(st.none(), units), fraction),
    st.tuples(st.just("cancel_lines"), units, fraction),
    st.tuples(st.just("deliver"), st.none(), fraction),
    st.tuples(st.just("return_received"), units, fraction),
    st.tuples(st.just("refund_owed"), st.none(), fraction),  # part or all of refund_due
    st.tuples(st.just("refund_lines"), units, fraction),  # units, for part of their worth
    st.tuples(st.just("concession"), st.none(), fraction),  # money on goods kept
    st.tuples(st.just("money_then_lines"), units, fraction),  # a webhook, then its units
    st.tuples(st.just("change_price"), units, fraction),
    # a cut to the least price leaving every line's units still sold worth nothing or
    # more, within 2 fen either way (_cut_off): below what was given back on them, or not
    st.tuples(st.just("cut_to_nothing"), units, fraction),
    # units cancelled, money given on those kept, then such a cut (_STORIES)
    st.tuples(st.just("conceded_then_cut"), units, fraction),
), max_size=10)

#: The steps a step of several stands for.
_STORIES = {"conceded_then_cut": ("cancel_lines", "concession", "cut_to_nothing")}


def _percent(amount: Money, percent: int) -> Money:
    return cny(amount.minor * percent // 100)


def _events(order: Order, n: int, step: tuple[str, dict[str, int] | None, int]) -> list[Event]:
    name, lines, percent = step
    at = T0 + timedelta(hours=n)

    def event(name: str, suffix: str = "", **data: Any) -> Event:
        return Event(name, event_id=f"e{n}{suffix}", at=at, data=data)

    if name == "ship":
        return [event("ship", carrier="SF", waybill=f"SF{n}",
                      **({} if lines is None else {"lines": lines}))]
    if name in ("cancel_lines", "return_received"):
        assert lines is not None
        bucket = LineStatus.OPEN if name == "cancel_lines" else LineStatus.SHIPPED
        held = {line.line_id: line.quantities[bucket] for line in order.lines}
        named = {k: min(v, held.get(k, 0)) for k, v in lines.items()}
        return [event(name, lines={k: v for k, v in named.items() if v} or lines)]
    if name == "deliver":
        return [event("deliver")]
    if name == "refund_owed":
        return [event("refund", amount=_percent(order.refund_due, percent) or order.refund_due)]
    if name == "refund_lines":
        assert lines is not None
        taken = {k: min(v, order.sold_units.get(k, 0)) for k, v in lines.items()}
        worth = order.refund_due + order.units_value(taken, charged=False).amount
        return [event("refund", amount=_percent(worth, percent), lines=lines)]
    if name == "concession":
        given = _percent(order.totals.sold, percent // 4)
        return [event("refund", amount=order.refund_due + given)]
    if name == "money_then_lines":
        assert lines is not None
        taken = {k: min(v, order.sold_units.get(k, 0)) for k, v in lines.items()}
        taken = {k: v for k, v in taken.items() if v}
        amount = order.refund_due + order.units_value(taken, charged=False).amount
        data = {"amount": amount, "reference": f"RF-{n}"}
        return [event("refund", **data), event("refund", "-lines", **data, lines=taken)]
    assert name in ("change_price", "cut_to_nothing") and lines is not None
    line_id = next(iter(lines))
    if name == "change_price" or line_id not in order.sold_units:
        return [event("change_price", line_id=line_id,
                      unit_price=cny(percent * 50 + lines[line_id]))]
    conceded = [a.line_id for a in order.adjustments
                if a.kind is AdjustmentKind.CONCESSION and order.sold_units.get(a.line_id or "")]
    line_id = conceded[0] if conceded else line_id  # a line something was given back on
    price = _cut_off(order, line_id) + percent % 5 - 2
    return [event("change_price", line_id=line_id, unit_price=cny(max(price, 0)))]


def _cut_off(order: Order, line_id: str) -> int:
    """The least unit price of ``line_id`` (in fen, up to its price) at which every line's
    units still sold are still worth nothing or more."""

    def holds(price: int) -> bool:
        lines = tuple(attrs.evolve(line, unit_price=cny(price)) if line.line_id == line_id
                      else line for line in order.lines)
        try:
            worth = attrs.evolve(order, lines=lines).sold_by_line()
        except ValidationError:  # the order's discounts beyond its goods and charges
            return False
        return all(money.amount >= 0 for money in worth.values())

    low, high = 0, order.line(line_id).unit_price.minor
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if holds(middle) else (middle + 1, high)
    return low


@settings(max_examples=200, deadline=None)
@given(priced_orders(rounding=True), st.one_of(st.just(0), st.integers(1, 2_000)),
       st.booleans(), steps)
def test_over_an_orders_life_the_refunds_split_is_what_left_the_bill(
    order: Order, over: int, delivered: bool,
    story: list[tuple[str, dict[str, int] | None, int]],
) -> None:
    lifecycle = life()
    events: list[Any] = []
    order = _apply_all(lifecycle, order, events, Event("pay", event_id="p", at=T0, data={
        "amount": order.totals.payable + cny(over)}))
    if order.holds:  # finance keeps the overpayment to refund: the goods may ship
        order = lifecycle.apply(order, Event("release_hold", event_id="rh", at=T0, data={
            "kind": "payment_review"})).order
    if delivered:  # returns come back from here on
        story = [("ship", None, 0), ("deliver", None, 0), *story]
    story = [(name, lines, percent) for step, lines, percent in story
             for name in _STORIES.get(step, (step,))]
    repriced = raised = False
    for n, step in enumerate(story, start=1):
        for event in _events(order, n, step):
            was, was_order = order.sold_by_line(), order
            try:
                moved = lifecycle.apply(order, event)
            except OrderkitError as error:
                # A refusal the story may meet (a move the status does not take, data
                # that does not fit the order) is skipped; a refund whose parts do not
                # add up is refused on ``value``: that is a failure, never skipped.
                if getattr(error, "path", "") in ("value", "amount"):
                    raise
                continue
            order = moved.order
            events.extend(moved.events)
            if event.name == "change_price" and moved.changed:
                repriced = True
                line_id = event.data["line_id"]
                raised = raised or (order.line(line_id).unit_price
                                    > was_order.line(line_id).unit_price)
                # Only the units still sold are re-valued: what they were paid beyond
                # their new price is overpaid; the units that left keep their value.
                # (A raise may take what was owed back for units that left: a cut
                # after it owes some of their value back again, part by part.)
                for fact in moved.events:
                    if isinstance(fact, RefundDue) and not raised:
                        assert all(not getattr(fact, part) for part in PARTS[:-1]), fact
                        assert fact.overpaid == fact.amount, fact
                # A price is not cut below what was given back on its units: none still
                # sold goes below nothing (a line placed so, its discounts covering the
                # order's shipping too, may stay so), and what is owed can be refunded.
                for line_id, worth in order.sold_by_line().items():
                    assert worth >= min(was[line_id], cny(0)), line_id
    # the rest of what is owed is paid back at the end
    if order.refund_due:
        order = _apply_all(lifecycle, order, events, Event(
            "refund", event_id="last", at=T0 + timedelta(days=1),
            data={"amount": order.refund_due}))
    for fact in events:
        if isinstance(fact, RefundDue | Refunded | RefundLinesAssigned):
            values = [getattr(fact, part) for part in PARTS]
            assert all(value is not None for value in values)
            assert fact.amount == (fact.goods - fact.discounts + fact.shipping + fact.tax
                                   + fact.rounding + fact.overpaid)
    booked = list(_booked(events).values())
    kept = refunds_value(order)
    assert _sum(booked, "amount") == order.totals.refunded == kept.amount
    for part in PARTS:
        assert _sum(booked, part) == getattr(kept, part), part
    left, owed = given_back(order), owed_value(order)
    assert not order.refund_due and not owed.amount
    assert left.amount == order.totals.refunded
    for part in PARTS:
        assert _sum(booked, part) + getattr(owed, part) == getattr(left, part), part
    # No refund gives back goods, shipping or overpaid below nothing (a price cut does
    # not re-value the units that left before it).
    for fact in booked:
        assert all(getattr(fact, part).amount >= 0
                   for part in ("goods", "shipping", "overpaid")), fact
    # What the refunds gave back is what left the bill, part by part, but for units
    # worth nothing (priced, and discounted by all of it): no money carries their parts.
    assert not any(getattr(owed, part) for part in PARTS) or _worthless(order)
    if not repriced:  # a price changed: units left at the price of their time
        # Every unit that left the sale left with its goods value.
        gone = sum((line.unit_price * (line.quantity - order.sold_units[line.line_id])
                    for line in order.lines), cny(0))
        assert left.goods == gone


def _worthless(order: Order) -> bool:
    """Whether some priced units of a line of ``order`` are worth nothing (less the
    order's own charges, which ``units_value`` counts with any unit)."""
    charges = order.units_value({}, charged=True).amount
    return any(order.units_value({line.line_id: units}, charged=True).amount == charges
               for line in order.lines if line.unit_price.amount
               for units in range(1, line.quantity + 1))


def _apply_all(lifecycle: Lifecycle, order: Order, events: list[Any], event: Event) -> Order:
    moved = lifecycle.apply(order, event)
    events.extend(moved.events)
    return moved.order


def test_an_order_placed_with_refunds_of_unknown_split_still_adds_up() -> None:
    # A mapping places a refund the platform reported (no split known): the order's
    # refunds are taken to have given back what left its bill, in proportion.
    order = tea_order()
    legacy = Payment("platform-refund", cny("41.43"), T0, kind=PaymentKind.REFUND)
    cup = order.lines[1]
    order = attrs.evolve(order, payments=(*order.payments, legacy), lines=(
        order.lines[0], attrs.evolve(cup, quantities={"refunded": 1})))
    assert parts(refunds_value(order)) == ("45.50", "4.07", "0.00", "0.00", "0.00", "0.00")
    assert not owed_value(order).amount


# --- a price cut after units left: they keep the value they left at ---------------------
#
# A change_price lowering a line some of whose units were already cancelled or refunded
# re-valued those units at the new price too, so the cut's RefundDue (and the refunds
# after it) said negative goods beside a larger overpaid. The order now keeps what the
# units that left were worth when they left (Order.repriced_left): the cut re-values
# only the units still sold, its RefundDue all overpaid, no part negative.

ZERO_PARTS = ("0.00", "0.00", "0.00", "0.00", "0.00")


class Story:
    """An order's life, keeping every fact the engine emitted."""

    def __init__(self, order: Order) -> None:
        self.order = order
        self.facts: list[Any] = []

    def apply(self, name: str, event_id: str, **data: Any) -> list[Any]:
        moved = Lifecycle(clock=ManualClock(T0)).apply(
            self.order, Event(name, event_id=event_id, at=T0, data=data))
        self.order = moved.order
        self.facts.extend(moved.events)
        return list(moved.events)

    def owed(self, events: list[Any]) -> Any:
        (fact,) = [e for e in events if isinstance(e, RefundDue)]
        return fact

    def refunded(self, events: list[Any]) -> Any:
        (fact,) = [e for e in events if isinstance(e, Refunded)]
        return fact

    def check_books(self) -> None:
        """Every fact's parts add up to its amount, none negative; the refunds add up,
        part by part, to what the order's refunds gave back, and (nothing owed back)
        to what left the buyer's bill."""
        splits = [f for f in self.facts if isinstance(f, RefundSplit)]
        for fact in splits:
            assert fact.amount == (fact.goods - fact.discounts + fact.shipping + fact.tax
                                   + fact.rounding + fact.overpaid), fact
            assert all(getattr(fact, part).amount >= 0 for part in PARTS), fact
        booked = [f for f in splits if isinstance(f, Refunded)]
        kept, left = refunds_value(self.order), given_back(self.order)
        assert not self.order.refund_due and not owed_value(self.order).amount
        for part in PARTS:
            paid = sum((getattr(f, part) for f in booked), cny(0))
            assert paid == getattr(kept, part) == getattr(left, part), part


def tea(*lines: OrderLine, coupon: str | None = None) -> Story:
    """Tea x3 at 30.00 (and ``lines``), a ``coupon`` spread over the lines, paid."""
    adjustments = [] if coupon is None else [Adjustment(AdjustmentKind.COUPON, cny(coupon))]
    story = Story(Order("O", "shop", "1", [OrderLine("1", "TEA", 3, cny("30.00")), *lines],
                        T0, adjustments=adjustments))
    story.apply("pay", "p", amount=story.order.totals.payable)
    return story


def test_a_cut_after_a_refund_naming_a_unit_owes_the_units_still_sold_only() -> None:
    story = tea()
    refunded = story.refunded(story.apply("refund", "r1", amount=cny("30.00"), lines={"1": 1}))
    assert parts(refunded) == ("30.00", *ZERO_PARTS)
    owed = story.owed(story.apply("change_price", "cp", line_id="1", unit_price=cny("25.00")))
    # 2 units still sold, 5.00 cheaper each: money paid beyond the order's price, as for
    # a cut on an order with nothing given back; the refunded unit left at 30.00
    assert owed.amount == cny("10.00")
    assert parts(owed) == (*ZERO_PARTS, "10.00")
    assert given_back(story.order).goods == cny("30.00")
    story.apply("refund", "r2", amount=story.order.refund_due)
    story.check_books()
    assert parts(given_back(story.order)) == ("30.00", "0.00", "0.00", "0.00", "0.00", "10.00")


def test_a_cut_after_a_cancel_keeps_the_cancelled_units_value() -> None:
    story = tea()
    events = story.apply("cancel_lines", "c", lines={"1": 1})
    (cancelled,) = [e for e in events if isinstance(e, LinesCancelled)]
    assert parts(story.owed(events)) == ("30.00", *ZERO_PARTS)
    owed = story.owed(story.apply("change_price", "cp", line_id="1", unit_price=cny("25.00")))
    assert parts(owed) == (*ZERO_PARTS, "10.00")
    refunded = story.refunded(story.apply("refund", "r", amount=story.order.refund_due))
    assert parts(refunded) == ("30.00", "0.00", "0.00", "0.00", "0.00", "10.00")
    story.check_books()
    # the cancel's value, as LinesCancelled said it, is what left the bill for it
    assert given_back(story.order).goods == cancelled.goods


def test_a_cut_spreading_an_order_discount_again_keeps_what_the_units_left_with() -> None:
    story = tea(OrderLine("2", "CUP", 1, cny("20.00")), coupon="11.00")
    events = story.apply("cancel_lines", "c", lines={"1": 1})
    (cancelled,) = [e for e in events if isinstance(e, LinesCancelled)]
    assert (cancelled.goods, cancelled.discounts) == (cny("30.00"), cny("3.00"))
    # the cut moves part of the coupon off the teas and onto the cup: the tea that
    # left keeps its 3.00 of it, the units still sold carry the rest
    owed = story.owed(story.apply("change_price", "cp", line_id="1", unit_price=cny("25.00")))
    assert owed.amount == story.order.refund_due - cny("27.00")
    assert all(getattr(owed, part) == cny(0) for part in PARTS[:-1])
    assert owed.overpaid == owed.amount
    story.apply("refund", "r", amount=story.order.refund_due)
    story.check_books()
    left = given_back(story.order)
    assert (left.goods, left.discounts) == (cancelled.goods, cancelled.discounts)


def test_two_cuts_and_a_cancel_between_them_each_value_their_units_once() -> None:
    story = tea()
    story.apply("cancel_lines", "c1", lines={"1": 1})
    first = story.owed(story.apply("change_price", "cp1", line_id="1", unit_price=cny("25.00")))
    assert parts(first) == (*ZERO_PARTS, "10.00")
    events = story.apply("cancel_lines", "c2", lines={"1": 1})  # leaves at the new price
    assert parts(story.owed(events)) == ("25.00", *ZERO_PARTS)
    second = story.owed(story.apply("change_price", "cp2", line_id="1", unit_price=cny("20.00")))
    assert parts(second) == (*ZERO_PARTS, "5.00")
    story.apply("refund", "r", amount=story.order.refund_due)
    story.check_books()
    assert parts(given_back(story.order)) == ("55.00", "0.00", "0.00", "0.00", "0.00", "15.00")


def test_a_cut_with_nothing_given_back_keeps_nothing() -> None:
    story = tea()
    story.apply("change_price", "cp", line_id="1", unit_price=cny("25.00"))
    assert story.order.repriced_left is None


def test_the_value_kept_must_be_of_the_orders_currency_and_owe_nothing() -> None:
    order = tea().order
    usd = Money("0.00", "USD")
    foreign = RefundValue(Money("5.00", "USD"), usd, usd, usd, usd, usd)
    with pytest.raises(ValidationError) as wrong:
        attrs.evolve(order, repriced_left=foreign)
    assert wrong.value.path == "repriced_left.goods.currency"
    overpaid = RefundValue(cny(0), cny(0), cny(0), cny(0), cny(0), cny("1.00"))
    with pytest.raises(ValidationError) as beyond:
        attrs.evolve(order, repriced_left=overpaid)
    assert beyond.value.path == "repriced_left.overpaid"
    with pytest.raises(ValidationError) as kind:
        attrs.evolve(order, repriced_left="5.00")
    assert kind.value.path == "repriced_left"


def test_an_order_reads_back_with_the_value_its_units_left_at(
    stores: tuple[Any, Any],
) -> None:
    repository, _inventory = stores
    story = tea()
    service = OrderService(repository, clock=ManualClock(T0))
    service.place(story.order)
    service.handle("O", Event("cancel_lines", event_id="c", at=T0, data={"lines": {"1": 1}}))
    cut = service.handle("O", Event("change_price", event_id="cp", at=T0,
                                    data={"line_id": "1", "unit_price": cny("25.00")}))
    stored = repository.get("O")
    assert stored.repriced_left is not None and stored == cut.order
    assert given_back(stored).goods == cny("30.00")
    assert from_dict(Order, to_dict(stored)) == stored
    # an order stored before it was added reads back without it
    body = {k: v for k, v in to_dict(story.order).items() if k != "repriced_left"}
    assert from_dict(Order, body).repriced_left is None
