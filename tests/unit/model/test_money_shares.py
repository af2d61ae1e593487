"""What is still sold, by component, and the totals derived from it."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime

import attrs

from orderkit import Adjustment, AdjustmentKind, LineStatus, Money, Order, OrderLine

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _order() -> Order:
    return Order(order_id="O", channel="pos", channel_order_id="1", created_at=T0,
                 lines=[OrderLine("1", "TEA", 3, Money("10.00", "CNY")),
                        OrderLine("2", "CUP", 1, Money("5.00", "CNY"))],
                 adjustments=[Adjustment(AdjustmentKind.COUPON, Money("3.50", "CNY"))])


def test_totals_are_derived_once_per_order_and_afresh_for_a_changed_one() -> None:
    order = _order()
    assert order.totals is order.totals  # an immutable order's totals never change
    cut = attrs.evolve(order, lines=[attrs.evolve(order.lines[0],
                                                  quantities={LineStatus.OPEN: 2,
                                                              LineStatus.CANCELLED: 1}),
                                     order.lines[1]])
    assert cut.totals is not order.totals
    assert (order.totals.sold, cut.totals.sold) == (Money("31.50", "CNY"), Money("22.50", "CNY"))
    # 3.50 spread over 30.00 and 5.00 of goods: 3.00 and 0.50; one tea unit carries 1.00.
    gone = weakref.ref(order)
    del order
    gc.collect()
    assert gone() is None  # the derived values do not keep an order alive


def test_a_partly_sold_line_carries_its_share_rounded_once() -> None:
    order = _order()
    two = attrs.evolve(order, lines=[attrs.evolve(order.lines[0],
                                                  quantities={LineStatus.OPEN: 1,
                                                              LineStatus.CANCELLED: 2}),
                                     order.lines[1]])
    assert two.sold_value.discounts == Money("1.50", "CNY")  # 1.00 of the tea's, 0.50 cup
