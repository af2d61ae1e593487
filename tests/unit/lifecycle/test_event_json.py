"""An Event survives JSON: ``from_dict(Event, to_dict(event))`` is the same event, so a
host that queues incoming events as JSON (an inbox table) can replay them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderkit import Address, from_dict, to_dict
from orderkit.lifecycle import Actor, Event, Lifecycle
from orderkit.lifecycle.events import EVENT_DATA
from orderkit.lifecycle.validation import CHECKS
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine, OrderStatus

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def order(status: int = OrderStatus.PENDING_PAYMENT) -> Order:
    return Order("O1", "shop", "1", [OrderLine("1", "TEA", 2, cny("10.00"))], T0,
                 status=status)


def through_json(event: Event) -> Event:
    back = from_dict(Event, json.loads(json.dumps(to_dict(event))))
    assert isinstance(back, Event)
    return back


EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("pay", {"amount": cny("20.00"), "method": "alipay", "reference": "T1"}),
    ("refund", {"amount": cny("10.00"), "lines": {"1": 1}}),
    ("change_price", {"line_id": "1", "unit_price": cny("9.50")}),
    ("track", {"status": "in_transit", "carrier_time": T0 + timedelta(hours=5),
               "waybill": "SF1"}),
    ("change_address", {"address": Address(name="张三", city="杭州市")}),
    ("ship", {"carrier": "SF", "waybill": "SF1", "lines": {"1": 2}}),
    ("hold", {"kind": "manual", "reason": "check", "approved_by": "lead"}),
    ("cancel", {}),
]


@pytest.mark.parametrize(("name", "data"), EVENTS, ids=[name for name, _ in EVENTS])
def test_a_built_in_event_comes_back_from_json_as_it_was(name: str, data: dict[str, Any]) -> None:
    event = Event(name, event_id="e1", at=T0, data=data, actor=Actor("cs-1", roles={"cs"}))
    back = through_json(event)
    assert back == event
    CHECKS[name](order(OrderStatus.PAID), back.data)  # its data passes the event's check


def test_every_typed_key_of_a_built_in_event_is_replayed_above() -> None:
    typed = {(name, key, kind) for name, keys in EVENT_DATA.items()
             for key, kind in keys.items() if kind is not None}
    replayed = {(name, key, type(value)) for name, data in EVENTS
                for key, value in data.items()}
    assert typed <= replayed


def test_a_payment_replayed_from_json_pays_the_order() -> None:
    event = Event("pay", event_id="p1", at=T0, data={"amount": cny("20.00")})
    paid = Lifecycle().apply(order(), through_json(event)).order
    assert paid.status is OrderStatus.PAID
    assert paid.totals.paid == cny("20.00")


def test_bad_json_forms_are_named_under_data() -> None:
    with pytest.raises(ValidationError) as caught:
        from_dict(Event, {"name": "pay", "event_id": "p", "at": T0.isoformat(),
                          "data": {"amount": {"amount": 20.0, "currency": "CNY"}},
                          "actor": None})
    assert caught.value.path == "data.amount.amount"
    with pytest.raises(ValidationError) as caught:
        Event("track", event_id="t", at=T0,
              data={"status": "signed", "carrier_time": "2026-02-16 10:00"})
    assert caught.value.path == "data.carrier_time"


def test_a_hosts_own_event_keeps_its_data_as_given() -> None:
    data = {"amount": {"amount": "1.00", "currency": "CNY"}, "at": "2026-02-16T00:00:00+00:00"}
    assert Event("audit_note", event_id="n", at=T0, data=data).data == data


def test_reading_json_forms_leaves_the_callers_data_as_it_was() -> None:
    given = {"amount": {"amount": "20.00", "currency": "CNY"}, "method": "alipay"}
    event = Event("pay", event_id="p", at=T0, data=given)
    assert event.data == {"amount": cny("20.00"), "method": "alipay"}
    assert given == {"amount": {"amount": "20.00", "currency": "CNY"}, "method": "alipay"}
