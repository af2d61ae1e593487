"""Roles, regions and the two-person rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.lifecycle import Actor, Directory, Event, Lifecycle, OrderService, Policy
from orderkit.model.errors import NotPermitted, ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import Address, HoldKind, Order, OrderLine
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
AGENT = Actor("cs-1", roles=["support"], regions=["浙江省"])
LEAD = Actor("lead-2", roles=["support", "pricing"], regions=["浙江省"])
CFO = Actor("cfo-1", roles=["admin"])
PEOPLE = Directory([AGENT, LEAD, CFO, Actor("intern-9", roles=["viewer"], regions=["浙江省"]),
                    Actor("lead-gd", roles=["support", "pricing"], regions=["广东省"])])
POLICY = Policy(
    {"support": {"cancel", "cancel_lines", "hold", "release_hold", "change_address", "refund"},
     "pricing": {"change_price"}, "admin": {"*"}, "viewer": set()},
    refund_threshold=Money("200.00", "CNY"),
    directory=PEOPLE,
)


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


@pytest.mark.parametrize("spelling", ["cs-1 ", "CS-1", "ＣＳ-1", "\u3000cs-1"])
def test_same_person_with_different_spelling_cannot_approve_own_refund(spelling: str) -> None:
    with pytest.raises(NotPermitted, match="different person"):
        apply(paid(), "refund", AGENT, amount=Money("250.00", "CNY"), approved_by=spelling)
    with pytest.raises(NotPermitted, match="different person"):  # also passed as an Actor
        apply(paid(), "refund", AGENT, amount=Money("250.00", "CNY"),
              approved_by=Actor(spelling.strip() or "x", roles=["admin"]))


def test_a_made_up_approver_approves_nothing() -> None:
    with pytest.raises(NotPermitted, match="not a known actor"):
        apply(paid(), "refund", AGENT, amount=Money("250.00", "CNY"), approved_by="my-friend")
    no_directory = Policy({"support": {"refund"}}, refund_threshold=Money("200.00", "CNY"))
    lifecycle = Lifecycle(clock=ManualClock(T0), policy=no_directory)
    with pytest.raises(NotPermitted, match="no actor directory"):
        lifecycle.apply(paid(), Event("refund", event_id="r", at=T0, actor=AGENT,
                                      data={"amount": Money("250.00", "CNY"),
                                            "approved_by": "lead-2"}))


def test_an_approver_needs_a_role_that_may_approve_and_the_order_s_region() -> None:
    with pytest.raises(NotPermitted, match="no role that may approve"):
        apply(order(), "change_price", LEAD, line_id="L1", unit_price=Money("9.00", "CNY"),
              approved_by="intern-9")
    with pytest.raises(NotPermitted, match="region"):
        apply(order(), "change_price", LEAD, line_id="L1", unit_price=Money("9.00", "CNY"),
              approved_by="lead-gd")
    finance_only = Policy({"support": {"refund"}, "finance": set()},
                          refund_threshold=Money("200.00", "CNY"), directory=PEOPLE,
                          approvers={"refund": {"admin"}})
    lifecycle = Lifecycle(clock=ManualClock(T0), policy=finance_only)
    refund = {"amount": Money("250.00", "CNY")}
    with pytest.raises(NotPermitted, match="no role that may approve"):
        lifecycle.apply(paid(), Event("refund", event_id="r1", at=T0, actor=AGENT,
                                      data={**refund, "approved_by": "lead-2"}))
    done = lifecycle.apply(paid(), Event("refund", event_id="r2", at=T0, actor=AGENT,
                                         data={**refund, "approved_by": "CFO-1"}))
    assert done.audit[0].approved_by == "cfo-1"  # the directory's id, not the spelling
    with pytest.raises(ValidationError, match="approved_by"):
        lifecycle.apply(paid(), Event("refund", event_id="r3", at=T0, actor=AGENT,
                                      data={**refund, "approved_by": 42}))


def test_replay_by_an_outsider_reveals_nothing_and_is_audited() -> None:
    repository = MemoryOrderRepository()
    service = OrderService(repository, lifecycle=Lifecycle(clock=ManualClock(T0), policy=POLICY))
    service.place(order())
    cancel = Event("cancel", event_id="cs-cancel-1", at=T0, actor=AGENT)
    service.handle("ORD-1", cancel)
    outsider = Actor("cs-gd", roles=[], regions=["广东省"])
    replay = Event("cancel", event_id="cs-cancel-1", at=T0, actor=outsider)
    with pytest.raises(NotPermitted, match="regions"):
        service.handle("ORD-1", replay)
    trail = repository.audit_trail("ORD-1")
    refused = [entry for entry in trail if entry.outcome == "refused"]
    assert [(e.actor, e.event, e.event_id) for e in refused] == [
        ("cs-gd", "cancel", "cs-cancel-1")
    ]
    assert "regions" in refused[0].reason
    # The actor who may apply it gets the replay as before: nothing changes.
    assert service.handle("ORD-1", cancel).changed is False


@pytest.mark.parametrize("bad", ["fin\x00-1", "fin-\udc80", "f" * 5000, 12345])
@pytest.mark.parametrize("amount", ["250.00", "10.00"])  # sensitive, and not
def test_an_approver_no_store_holds_is_refused_as_bad_input_and_nothing_is_written(
    stores: tuple[Any, Any], bad: object, amount: str,
) -> None:
    repository, _inventory = stores
    service = OrderService(repository, lifecycle=Lifecycle(clock=ManualClock(T0), policy=POLICY))
    service.place(paid())
    before, trail = repository.get("ORD-1"), repository.audit_trail("ORD-1")
    refund = Event("refund", event_id="r1", at=T0, actor=AGENT,
                   data={"amount": Money(amount, "CNY"), "approved_by": bad})
    with pytest.raises(ValidationError) as refused:
        service.handle("ORD-1", refund)
    assert refused.value.path == "data.approved_by"
    assert repository.get("ORD-1") == before
    assert repository.audit_trail("ORD-1") == trail


def test_an_approver_named_where_none_is_needed_is_checked_as_for_a_sensitive_action(
    stores: tuple[Any, Any],
) -> None:
    repository, _inventory = stores
    service = OrderService(repository, lifecycle=Lifecycle(clock=ManualClock(T0), policy=POLICY))
    service.place(paid())
    small = {"amount": Money("10.00", "CNY")}  # below the threshold: needs nobody
    refused = [
        (Event("refund", event_id="r1", at=T0, actor=AGENT,
               data={**small, "approved_by": "the-ceo"}), "not a known actor"),
        (Event("change_address", event_id="a1", at=T0, actor=AGENT,  # inside the window
               data={"address": Address(province="浙江省", street="5 Fake Rd"),
                     "approved_by": "CS-1"}), "different person"),
        (Event("refund", event_id="r2", at=T0, actor=AGENT,
               data={**small, "approved_by": "lead-gd"}), "region"),
        (Event("refund", event_id="r3", at=T0, actor=AGENT,
               data={**small, "approved_by": "intern-9"}), "no role"),
    ]
    for event, why in refused:
        with pytest.raises(NotPermitted, match=why):
            service.handle("ORD-1", event)
    assert repository.get("ORD-1").totals.refunded == Money("0.00", "CNY")
    assert not repository.address_history("ORD-1")[1:]
    done = service.handle("ORD-1", Event("refund", event_id="r4", at=T0, actor=AGENT,
                                         data={**small, "approved_by": "CFO-1"}))
    assert done.audit[0].approved_by == "cfo-1"  # as the directory knows it
    # A restrictive policy with no directory cannot verify an id, needed or not.
    blind = Policy({"support": {"refund"}})
    with pytest.raises(NotPermitted, match="cannot verify"):
        Lifecycle(clock=ManualClock(T0), policy=blind).apply(
            paid(), Event("refund", event_id="r5", at=T0, actor=AGENT,
                          data={**small, "approved_by": "cfo-1"}))


def test_a_refund_split_under_the_threshold_still_needs_an_approver_once_they_add_up() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0), policy=POLICY)
    order = paid()  # 300.00 paid; the threshold is 200.00
    first = Event("refund", event_id="r1", at=T0, actor=AGENT,
                  data={"amount": Money("150.00", "CNY"), "reference": "RF-1"})
    order = lifecycle.apply(order, first).order
    # the same refund replayed, or told again by its reference, is not counted twice
    assert lifecycle.apply(order, first).changed is False
    again = Event("refund", event_id="r1-again", at=T0, actor=AGENT,
                  data={"amount": Money("150.00", "CNY"), "reference": "RF-1"})
    assert lifecycle.apply(order, again).ignored is not None
    second = Event("refund", event_id="r2", at=T0, actor=AGENT,
                   data={"amount": Money("60.00", "CNY")})
    with pytest.raises(NotPermitted, match="two-person"):
        lifecycle.apply(order, second)  # 150.00 + 60.00 > 200.00
    done = lifecycle.apply(order, attrs.evolve(second, data={**second.data,
                                                             "approved_by": "lead-2"}))
    assert done.audit[0].approved_by == "lead-2"
    assert lifecycle.apply(order, attrs.evolve(second, data={
        "amount": Money("50.00", "CNY")})).changed  # 150.00 + 50.00 is not above it
