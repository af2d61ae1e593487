"""Story: the tea shop's day on PostgreSQL, with the relay run apart from the service.

The web servers place and change orders through one pool (``deliver=False``: the
service only commits the order, its audit entries and its outbox messages); a relay
worker with a connection of its own delivers the stock effects to the ledger and the
domain events to the host's sink, twice over, as a cron job would. At the end the
architecture's invariants are checked on what the database holds, read back by fresh
adapters: stock balances, the ledger replaying to its counters, every change versioned
and audited through the transition table, each event applied once, every outbox message
delivered exactly once and the outbox drained.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from orderkit import Money, Order, OrderLine, OrderStatus
from orderkit.adapters.postgres import PostgresInventoryStore, PostgresOrderRepository
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.outbox import OutboxMessage, OutboxRelay
from orderkit.testing import ManualClock
from orderkit.testing.invariants import order_problems
from orderkit.testing.postgres import fresh_schema

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
SECRET = b"pg-story-secret-0123456789abcdef"
RECEIVED = {"TEA-250G": 10, "CUP": 4}


def _order(order_id: str, channel_order_id: str) -> Order:
    return Order(
        order_id=order_id, channel="tmall", channel_order_id=channel_order_id,
        lines=[
            OrderLine("1", "TEA-250G", 2, Money("89.00", "CNY")),
            OrderLine("2", "CUP", 1, Money("45.50", "CNY")),
        ],
        created_at=T0,
    )


def _event(name: str, event_id: str, minutes: int, **data: object) -> Event:
    return Event(name, event_id=event_id, at=T0 + timedelta(minutes=minutes), data=data)


class Sink:
    """The host's message broker: keeps every event it accepted."""

    def __init__(self) -> None:
        self.accepted: list[OutboxMessage] = []

    def publish(self, events: Sequence[object]) -> None:
        for message in events:
            assert isinstance(message, OutboxMessage)
            self.accepted.append(message)


def test_a_day_of_orders_on_postgres_keeps_every_invariant(pg_dsn: str) -> None:
    schema = fresh_schema("story")
    clock = ManualClock(T0)
    sink = Sink()
    with ConnectionPool(pg_dsn, min_size=1, max_size=4, open=True) as pool:
        repository = PostgresOrderRepository(pool, schema=schema)
        ledger = InventoryLedger(
            PostgresInventoryStore(pool, schema=schema), secret=SECRET, clock=clock
        )
        for sku, units in RECEIVED.items():
            ledger.receive(sku, units, reference="PO-20260216")
        service = OrderService(
            repository, inventory=ledger, sink=sink, clock=clock, deliver=False
        )
        # The relay worker: its own adapters on its own connection.
        relay_repository = PostgresOrderRepository(f"{pg_dsn} application_name=relay",
                                                   schema=schema)
        relay_ledger = InventoryLedger(
            PostgresInventoryStore(relay_repository.database), secret=SECRET, clock=clock
        )
        relay = OutboxRelay(relay_repository, sink=sink, inventory=relay_ledger, clock=clock)

        shipped = service.place(_order("ORD-1", "T1001"))
        kept = service.place(_order("ORD-2", "T1002"))
        assert shipped.lock_id is not None and kept.lock_id is not None
        assert ledger.stock("CUP").available == RECEIVED["CUP"] - 2

        paid = _event("pay", "alipay-notify-1", 5, amount=Money("223.50", "CNY"))
        service.handle("ORD-1", paid)
        assert not service.handle("ORD-1", paid).changed  # the gateway's retry
        service.handle(
            "ORD-2", _event("pay", "alipay-notify-2", 6, amount=Money("223.50", "CNY"))
        )
        relay.run_until_idle()
        service.handle("ORD-1", _event("pack", "wms-pack-1", 30))
        service.handle("ORD-1", _event("ship", "wms-ship-1", 40, carrier="SF", waybill="SF1"))
        service.handle("ORD-1", _event("deliver", "sf-signed-1", 2000))
        service.handle("ORD-2", _event("cancel_lines", "cs-cut-2", 50, lines={"2": 1}))
        relay.run_until_idle()
        assert ledger.stock("CUP").locked == 0  # only the cancelled cup went back
        assert ledger.stock("TEA-250G").locked == 2
        service.handle("ORD-2", _event("cancel", "cs-cancel-2", 60))
        relay.run_until_idle()
        assert relay.run_until_idle().delivered == 0  # drained: a second run finds nothing

    # Read back as another process would: new adapters on a new connection.
    repository = PostgresOrderRepository(f"{pg_dsn} application_name=auditor", schema=schema)
    reader = InventoryLedger(
        PostgresInventoryStore(repository.database), secret=SECRET, clock=clock
    )
    first, second = repository.get("ORD-1"), repository.get("ORD-2")
    assert first.status == OrderStatus.DELIVERED
    assert second.status == OrderStatus.CANCELLED

    shipped_units = {"TEA-250G": 2, "CUP": 1}
    for sku, units in RECEIVED.items():
        level = reader.stock(sku)
        assert level.on_hand == level.available + level.locked
        assert level.on_hand == units - shipped_units[sku]
        assert level.locked == 0
    assert reader.verify().ok

    # Versions and audit, table rows, each event applied once, buckets.
    assert order_problems(repository, (first, second)) == []
    for order in (first, second):
        totals = order.totals
        assert totals.paid - totals.refunded - totals.refund_due == totals.sold

    # The outbox: drained, and every message reached its consumer exactly once.
    assert list(repository.pending(100)) == []
    assert list(repository.dead_letters()) == []
    stored = repository.database.run(
        "read the outbox",
        lambda conn: conn.execute(
            f"SELECT message_id, topic, status FROM {schema}.order_outbox"
        ).fetchall(),
    )
    assert stored and {status for _id, _topic, status in stored} == {"delivered"}
    events = {message_id for message_id, topic, _status in stored if topic.startswith("event.")}
    published = Counter(m.message_id for m in sink.accepted)
    assert set(published) == events and max(published.values()) == 1
    stock = {message_id for message_id, topic, _status in stored if topic.startswith("stock.")}
    # A stock message's ledger entries are named "<message id>:<sku>[...]".
    applied = Counter(
        e.entry_id for e in reader.entries() if e.entry_id.split(":")[0] in stock
    )
    assert {entry_id.split(":")[0] for entry_id in applied} == stock  # every one applied
    assert max(applied.values()) == 1  # and each once
