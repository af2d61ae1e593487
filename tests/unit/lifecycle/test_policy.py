"""Roles, regions and the two-person rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orderkit.lifecycle import Actor, Event, Lifecycle, Policy
from orderkit.model.errors import NotPermitted, ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import Address, HoldKind, Order, OrderLine
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
POLICY = Policy(
    {"support": {"cancel", "cancel_lines", "hold", "release_hold", "change_address", "refund"},
     "pricing": {"change_price"}, "admin": {"*"}},
    refund_threshold=Money("200.00", "CNY"),
)
AGENT = Actor("cs-1", roles=["support"], regions=["浙江省"])
LEAD = Actor("lead-2", roles=["support", "pricing"], regions=["浙江省"])


def order(province: str = "浙江省") -> Order:
    return Order(order_id="ORD-1", channel="jd", channel_order_id="J-1",
                 lines=[OrderLine("L1", "TEA", 30, Money("10.00", "CNY"))], created_at=T0,
                 ship_to=Address(province=province))


def apply(target: Order, name: str, actor: Actor | None, **data: Any) -> Order:
    lifecycle = Lifecycle(clock=ManualClock(T0), policy=POLICY)
    return lifecycle.apply(target, Event(name, event_id=f"{name}-{len(data)}", at=T0,
                                         data=data, actor=actor)).order


def paid() -> Order:
    return apply(order(), "pay", None, amount=Money("300.00", "CNY"))


def test_price_changed_by_one_person_is_refused() -> None:
    with pytest.raises(NotPermitted) as info:
        apply(order(), "change_price", LEAD, line_id="L1", unit_price=Money("1.00", "CNY"))
    assert "two-person" in info.value.reason
    with pytest.raises(NotPermitted, match="different person"):
        apply(order(), "change_price", LEAD, line_id="L1", unit_price=Money("1.00", "CNY"),
              approved_by="lead-2")
    changed = apply(order(), "change_price", LEAD, line_id="L1",
                    unit_price=Money("9.00", "CNY"), approved_by="cfo-1")
    assert changed.line("L1").unit_price == Money("9.00", "CNY")


def test_role_without_the_event_is_refused() -> None:
    with pytest.raises(NotPermitted) as info:
        apply(order(), "change_price", AGENT, line_id="L1", unit_price=Money("1.00", "CNY"),
              approved_by="lead-2")
    assert (info.value.actor_id, info.value.action) == ("cs-1", "change_price")


def test_actor_cannot_act_outside_their_regions() -> None:
    assert not POLICY.can_view(AGENT, order("广东省"))
    assert POLICY.can_view(AGENT, order())
    with pytest.raises(NotPermitted, match="regions"):
        apply(order("广东省"), "cancel", AGENT)
    assert apply(order("广东省"), "cancel", Actor("root", roles=["admin"])).status == 90


def test_refund_above_threshold_needs_an_approver() -> None:
    small = apply(paid(), "refund", AGENT, amount=Money("200.00", "CNY"))
    assert small.totals.refunded == Money("200.00", "CNY")
    with pytest.raises(NotPermitted):
        apply(paid(), "refund", AGENT, amount=Money("200.01", "CNY"))
    assert apply(paid(), "refund", AGENT, amount=Money("250.00", "CNY"),
                 approved_by="lead-2").totals.refunded == Money("250.00", "CNY")


def test_releasing_a_loss_making_hold_needs_a_second_person() -> None:
    held = apply(paid(), "hold", AGENT, kind=HoldKind.LOSS_MAKING, reason="price below cost")
    with pytest.raises(NotPermitted):
        apply(held, "release_hold", AGENT, kind="loss_making")
    assert apply(held, "release_hold", AGENT, kind="loss_making", approved_by="lead-2").holds == ()
    manual = apply(paid(), "hold", AGENT, kind="manual")
    assert apply(manual, "release_hold", AGENT, kind="manual").holds == ()


def test_system_events_need_no_actor_but_others_do() -> None:
    assert paid().status == 20
    with pytest.raises(NotPermitted, match="no role"):
        apply(order(), "cancel", None)


def test_default_policy_allows_everything() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    changed = lifecycle.apply(order(), Event(
        "change_price", event_id="p", at=T0, actor=Actor("anyone"),
        data={"line_id": "L1", "unit_price": Money("1.00", "CNY")},
    ))
    assert changed.order.line("L1").unit_price == Money("1.00", "CNY")
    assert Policy.allow_all().can_act(None, order(), "refund")


def test_bad_policy_definitions_are_refused() -> None:
    with pytest.raises(ValidationError):
        Policy({"support": "cancel"})
    with pytest.raises(ValidationError):
        Actor("x", roles="admin")
