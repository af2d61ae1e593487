"""A built-in event's data holds only the keys the engine reads: a misspelt optional key
is refused, never left unread (a ``ship`` meant for one unit sending every open unit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderkit.lifecycle import DEFAULT_TABLE, Event, Lifecycle
from orderkit.lifecycle.table import EVENT_NAMES
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import LineStatus, Order, OrderLine, OrderStatus
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def paid_order(lifecycle: Lifecycle) -> Order:
    order = Order(order_id="ORD-1", channel="shop", channel_order_id="S-1",
                  lines=[OrderLine("1", "TEA", 5, cny("10.00"))], created_at=T0)
    return lifecycle.apply(order, Event("pay", event_id="p", at=T0,
                                        data={"amount": cny("50.00")})).order


def refusal_of(name: str, data: dict[str, Any]) -> ValidationError:
    """What the lifecycle refuses ``name`` with ``data`` on a paid order for."""
    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = paid_order(lifecycle)
    with pytest.raises(ValidationError) as refused:
        lifecycle.apply(order, Event(name, event_id="e", at=T0 + timedelta(minutes=1),
                                     data=data))
    return refused.value


@pytest.mark.parametrize(
    ("name", "data", "key"),
    [
        ("ship", {"carrier": "SF", "waybill": "SF1", "line": {"1": 1}}, "line"),
        ("refund", {"amount": cny("10.00"), "line": {"1": 1}}, "line"),
        ("cancel_lines", {"lines": {"1": 1}, "reason": "buyer"}, "reason"),
        ("pay", {"amount": cny("1.00"), "methd": "alipay"}, "methd"),
        ("cancel", {"lines": {"1": 1}}, "lines"),
        ("pack", {"warehouse": "HZ"}, "warehouse"),
    ],
)
def test_a_key_the_event_does_not_read_is_refused_naming_it(
    name: str, data: dict[str, Any], key: str
) -> None:
    refused = refusal_of(name, data)
    assert refused.path == f"data.{key}"
    assert refused.value == data[key]
    assert "it reads:" in refused.message


def test_a_misspelt_lines_on_ship_sends_nothing_instead_of_every_unit() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = paid_order(lifecycle)
    with pytest.raises(ValidationError):
        lifecycle.apply(order, Event("ship", event_id="s", at=T0, data={
            "carrier": "SF", "waybill": "SF1", "line": {"1": 1}}))
    shipped = lifecycle.apply(order, Event("ship", event_id="s", at=T0, data={
        "carrier": "SF", "waybill": "SF1", "lines": {"1": 1}})).order
    assert shipped.line("1").quantities[LineStatus.SHIPPED] == 1
    assert shipped.line("1").quantities[LineStatus.OPEN] == 4


def test_approved_by_is_read_for_every_built_in_event() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = paid_order(lifecycle)
    packed = lifecycle.apply(order, Event("pack", event_id="k", at=T0,
                                          data={"approved_by": "lead-1"})).order
    assert packed.status is OrderStatus.PACKED
    assert "approved_by" not in EVENT_NAMES  # a key, not an event


def test_a_hosts_own_event_carries_what_the_host_likes() -> None:
    table = DEFAULT_TABLE.extend([(20, "flag_fraud_review", 20)], events={"flag_fraud_review"})
    lifecycle = Lifecycle(table, clock=ManualClock(T0))
    order = paid_order(lifecycle)
    lifecycle.apply(order, Event("flag_fraud_review", event_id="f", at=T0,
                                 data={"score": 97, "model": "v3"}))


def test_an_event_the_table_does_not_have_is_bad_input_listing_the_events() -> None:
    lifecycle = Lifecycle(clock=ManualClock(T0))
    order = paid_order(lifecycle)
    with pytest.raises(ValidationError) as refused:
        lifecycle.apply(order, Event("shipped", event_id="x", at=T0))
    assert refused.value.path == "event.name"
    assert refused.value.value == "shipped"
    assert "ship, track" in refused.value.message


@pytest.mark.parametrize(
    ("name", "data", "path"),
    [
        ("ship", {"carrier": "SF", "waybill": "SF\x001"}, "data.waybill"),
        ("ship", {"carrier": "S\x00F", "waybill": "SF1"}, "data.carrier"),
        ("pay", {"amount": cny("1.00"), "reference": "ALI\x007"}, "data.reference"),
        ("change_price", {"line_id": "1", "unit_price": cny("9.999")}, "data.unit_price"),
        ("change_price", {"line_id": "9", "unit_price": cny("9.00")}, "data.line_id"),
    ],
)
def test_event_data_no_store_or_payment_can_hold_is_refused_under_data(
    name: str, data: dict[str, Any], path: str
) -> None:
    # Text with NUL (no store holds it), a price that makes the line's amount finer
    # than the fen (no payment settles it) and a line the order does not have are
    # refused as the event's data, before anything changes.
    assert refusal_of(name, data).path == path
