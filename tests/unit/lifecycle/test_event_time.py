"""Domain events carry the time of the fact (``occurred_at``) beside the decision clock.

A payment, shipment and refund made on 28 February at 23:50 in Beijing but processed at
00:20 on 1 March reached the sink dated only by the clock (``at``): a booker put
February's money in March while ``order.paid_at`` said February. Every domain event now
also carries ``occurred_at``, the input event's own time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orderkit import Money, Order, OrderLine, accounting_date, from_dict, to_dict
from orderkit.lifecycle import DomainEvent, Event, Lifecycle, PaymentReceived
from orderkit.testing import ManualClock

FACT = datetime(2026, 2, 28, 15, 50, tzinfo=UTC)  # 23:50 on 28 Feb in Beijing
LATER = datetime(2026, 2, 28, 16, 20, tzinfo=UTC)  # 00:20 on 1 Mar in Beijing


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def test_every_event_carries_the_time_of_its_fact_not_of_the_decision() -> None:
    life = Lifecycle(clock=ManualClock(LATER))
    order = Order("O", "shop", "O", [OrderLine("1", "TEA", 2, cny("50.00"))],
                  datetime(2026, 2, 28, 15, 0, tzinfo=UTC))
    story = [
        Event("pay", event_id="p", at=FACT, data={"amount": cny("100.00")}),
        Event("ship", event_id="s", at=FACT + timedelta(minutes=5),
              data={"carrier": "SF", "waybill": "SF1"}),
        Event("refund", event_id="r", at=FACT + timedelta(minutes=8),
              data={"amount": cny("10.00")}),
    ]
    facts: list[DomainEvent] = []
    for event in story:
        moved = life.apply(order, event)
        order = moved.order
        assert moved.events
        for fact in moved.events:
            assert (fact.at, fact.occurred_at) == (LATER, event.at)
        facts.extend(moved.events)
    assert {accounting_date(fact.occurred_at) for fact in facts} == {accounting_date(FACT)}
    assert accounting_date(order.paid_at) == accounting_date(FACT)


def test_a_payload_without_occurred_at_reads_back_at_its_decision_time() -> None:
    old = {"order_id": "O", "event_id": "p", "at": LATER.isoformat(),
           "amount": {"amount": "100.00", "currency": "CNY"}}
    assert from_dict(PaymentReceived, old).occurred_at == LATER
    fact = PaymentReceived("O", "p", LATER, cny("1.00"), occurred_at=FACT)
    assert to_dict(fact)["occurred_at"] == FACT.isoformat()
    assert from_dict(PaymentReceived, to_dict(fact)) == fact
