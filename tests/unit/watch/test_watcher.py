"""The watch, driven by an injected clock: thresholds, for, repeat, resolve, grouping,
inhibition, routing, and episodes shared by restarts and by two watcher processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit import (
    Address,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentTerms,
    Shipment,
)
from orderkit.adapters.memory import MemoryOrderRepository, MemoryWatchState
from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteWatchState
from orderkit.errors import DefinitionError, ValidationError
from orderkit.lifecycle import Event, OrderService
from orderkit.model.alerts import Alert as Notice
from orderkit.testing import ManualClock
from orderkit.testing.processes import race, watch_cycle
from orderkit.testing.samples import sample_order
from orderkit.watch import DEFAULT_RULES, Route, Rule, Watcher, WatchHistory, WatchState

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Inbox:
    def __init__(self, *, down: bool = False) -> None:
        self.notices: list[Notice] = []
        self.down = down

    def notify(self, alert: Notice) -> None:
        if self.down:
            raise ConnectionError("webhook unreachable")
        self.notices.append(alert)

    def said(self) -> list[str]:
        return [f"{n.detail('state')} {n.subject}" for n in self.notices]


def stored(repo: object, order_id: str, status: int, since: datetime, **fields: object) -> Order:
    changes: dict[str, object] = {"shipments": (), **fields}
    order = attrs.evolve(sample_order(order_id, channel_order_id=order_id), status=status,
                         status_since=since, **changes)  # type: ignore[arg-type]
    repo.save(order, None)  # type: ignore[attr-defined]
    return order


def test_each_default_rule_fires_at_its_threshold_and_not_before() -> None:
    repo = MemoryOrderRepository()
    clock = ManualClock(T0)
    inbox = Inbox()
    watcher = Watcher(repo, inbox, clock=clock)
    stored(repo, "PENDING", OrderStatus.PENDING_PAYMENT, T0)
    stored(repo, "PAID", OrderStatus.PAID, T0, paid_at=T0)
    parcel = Shipment("S1", "SF", "SF1", {"1": 1}, shipped_at=T0)
    stored(repo, "SHIPPED", OrderStatus.SHIPPED, T0, shipments=(parcel,))
    clock.set(T0 + timedelta(minutes=14, seconds=59))
    assert watcher.run_once().raised == ()
    clock.set(T0 + timedelta(minutes=15, seconds=1))
    report = watcher.run_once()
    # The missing first scan waits out its 30 s "for" since it was first seen at 14:59.
    assert [a.key for a in report.raised] == ["pending_payment_stale:PENDING"]
    clock.set(T0 + timedelta(minutes=15, seconds=30))
    assert [a.key for a in watcher.run_once().raised] == ["no_first_scan:SF"]
    clock.set(T0 + timedelta(hours=23, minutes=59))
    assert watcher.run_once().raised == ()
    clock.set(T0 + timedelta(hours=24, minutes=1))
    (paid,) = watcher.run_once().raised
    assert (paid.key, paid.route_to, paid.severity) == ("paid_not_shipped:PAID", "warehouse",
                                                        "warning")
    assert inbox.said() == [
        "raised pending_payment_stale:PENDING", "raised no_first_scan:SF",
        # still firing a day later: repeated once (every 4 hours, at most once a cycle)
        "repeated pending_payment_stale:PENDING", "repeated no_first_scan:SF",
        "raised paid_not_shipped:PAID",
    ]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_cash_on_delivery_order_is_late_unshipped_not_unpaid(backend: str,
                                                                tmp_path: Path) -> None:
    repo = (MemoryOrderRepository() if backend == "memory"
            else SQLiteOrderRepository(tmp_path / "orders.db"))
    clock = ManualClock(T0)
    watcher = Watcher(repo, Inbox(), clock=clock)
    # 25 JD orders waiting for their parcels to be paid at the door: no payment is
    # missing, so neither a pending alert nor a "payments down" outage for the channel.
    for n in range(25):
        stored(repo, f"COD-{n}", OrderStatus.PENDING_PAYMENT, T0, channel="jd",
               created_at=T0, payment_terms=PaymentTerms.ON_DELIVERY)
    stored(repo, "PREPAID", OrderStatus.PENDING_PAYMENT, T0, channel="jd")
    clock.set(T0 + timedelta(hours=1))
    assert [a.key for a in watcher.run_once().raised] == ["pending_payment_stale:PREPAID"]
    clock.set(T0 + timedelta(hours=23, minutes=59))
    assert watcher.run_once().raised == ()
    clock.set(T0 + timedelta(hours=24, minutes=1))
    late = watcher.run_once().raised
    assert sorted(a.key for a in late) == sorted(f"cod_not_shipped:COD-{n}" for n in range(25))
    assert {(a.route_to, a.severity) for a in late} == {("warehouse", "warning")}


PRESALE = frozenset({"presale", "ship_from:2026-03-10"})


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_presale_is_late_from_its_ship_from_day_and_its_deposit_waits_for_the_balance(
    backend: str, tmp_path: Path,
) -> None:
    repo = (MemoryOrderRepository() if backend == "memory"
            else SQLiteOrderRepository(tmp_path / "orders.db"))
    clock = ManualClock(T0)
    watcher = Watcher(repo, Inbox(), clock=clock)
    # Paid in full for a tin that ships from March 10: the wave leaves it out as
    # presale_not_shippable until then, and so does the watch.
    stored(repo, "PRE", OrderStatus.PAID, T0, paid_at=T0, tags=PRESALE)
    # Its ship-from day long past, or a tag nobody can read: due 24 h after payment.
    stored(repo, "PRE-PAST", OrderStatus.PAID, T0, paid_at=T0,
           tags={"presale", "ship_from:2026-03-01"})
    stored(repo, "PRE-BAD", OrderStatus.PACKED, T0, paid_at=T0,
           tags={"presale", "ship_from:soon"})
    # 25 presales of one channel that took their deposit wait for their balance by
    # design: neither a pending alert nor a "payments down" outage. An in-stock order
    # paid short is still owed its money.
    deposit = Payment("DEP", Money("20.00", "CNY"), T0)
    for n in range(25):
        stored(repo, f"DEP-{n}", OrderStatus.PENDING_PAYMENT, T0, channel="jd",
               tags=PRESALE, payments=(deposit,), paid_at=None)
    stored(repo, "SHORT", OrderStatus.PENDING_PAYMENT, T0, payments=(deposit,), paid_at=None)
    clock.set(T0 + timedelta(hours=1))
    assert [a.key for a in watcher.run_once().raised] == ["pending_payment_stale:SHORT"]
    clock.set(T0 + timedelta(hours=24, minutes=1))
    assert sorted(a.key for a in watcher.run_once().raised) == [
        "paid_not_shipped:PRE-BAD", "paid_not_shipped:PRE-PAST"]
    # March 10 begins at 2026-03-09T16:00Z in the accounting zone (Asia/Shanghai):
    # 24 hours later the presale is late.
    for hour in range(28, 8 * 24 + 15, 4):  # up to 2026-03-10T13:00Z
        clock.set(T0 + timedelta(hours=hour))
        assert watcher.run_once().raised == ()
    clock.set(datetime(2026, 3, 10, 15, 59, tzinfo=UTC))
    assert watcher.run_once().raised == ()
    clock.set(datetime(2026, 3, 10, 16, 1, tzinfo=UTC))
    assert [a.key for a in watcher.run_once().raised] == ["paid_not_shipped:PRE"]


def test_a_rule_leaves_out_the_orders_that_have_an_instant_it_names() -> None:
    rule = Rule("mine", {OrderStatus.PENDING_PAYMENT}, "status_since", timedelta(hours=1),
                "tech", leave_out={"balance_due_since"})
    assert rule.leave_out == frozenset({"balance_due_since"})
    with pytest.raises(DefinitionError) as error:
        Rule("mine", {OrderStatus.PENDING_PAYMENT}, "status_since", timedelta(hours=1),
             "tech", leave_out={"paid_yesterday"})
    assert error.value.path == "rules['mine'].leave_out"
    with pytest.raises(DefinitionError):
        Rule("mine", {OrderStatus.PENDING_PAYMENT}, "status_since", timedelta(hours=1),
             "tech", leave_out="balance_due_since")


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_orders_placed_and_never_paid_are_red_and_then_a_channel_outage(
    backend: str, tmp_path: Path
) -> None:
    repo = (MemoryOrderRepository() if backend == "memory"
            else SQLiteOrderRepository(tmp_path / "orders.db"))
    clock = ManualClock(T0)
    service = OrderService(repo, clock=clock)
    for n in range(20):  # placed, never paid: no status change, so no status_since
        placed = service.place(Order(order_id=f"P-{n:02}", channel="tmall",
                                     channel_order_id=str(n), created_at=T0,
                                     lines=[OrderLine("1", "TEA", 1, Money("10.00", "CNY"))]))
        assert placed.status == OrderStatus.PENDING_PAYMENT and placed.status_since is None
    watcher = Watcher(repo, Inbox(), clock=clock)
    clock.set(T0 + timedelta(minutes=14))
    assert watcher.run_once().raised == ()
    clock.set(T0 + timedelta(minutes=16))
    assert sorted(a.key for a in watcher.run_once().raised) == [
        f"pending_payment_stale:P-{n:02}" for n in range(20)]
    clock.set(T0 + timedelta(minutes=31))
    report = watcher.run_once()
    assert [a.key for a in report.raised] == ["payment_channel_down:tmall"]
    assert len(report.inhibited) == 20


def test_for_suppresses_flapping_then_repeat_and_resolve() -> None:
    repo = MemoryOrderRepository()
    clock = ManualClock(T0)
    inbox = Inbox()
    rule = Rule("pending", {OrderStatus.PENDING_PAYMENT}, "status_since", timedelta(minutes=5),
                "customer_service", for_=timedelta(minutes=10), repeat=timedelta(hours=1))
    watcher = Watcher(repo, inbox, rules=[rule], clock=clock)
    order = stored(repo, "A", OrderStatus.PENDING_PAYMENT, T0)
    clock.set(T0 + timedelta(minutes=6))
    assert watcher.run_once().pending == 1
    paid = attrs.evolve(order, status=OrderStatus.PAID, version=order.version + 1,
                        status_since=T0 + timedelta(minutes=8))
    repo.save(paid, order.version)  # it cleared before "for" was over: nothing was ever sent
    clock.set(T0 + timedelta(minutes=20))
    assert watcher.run_once() == watcher.run_once() and inbox.notices == []
    stuck = stored(repo, "B", OrderStatus.PENDING_PAYMENT, T0 + timedelta(minutes=20))
    for minutes in (26, 30, 36, 50, 95, 100):
        clock.set(T0 + timedelta(minutes=minutes))
        watcher.run_once()
    assert inbox.said() == ["raised pending:B", "repeated pending:B"]  # at 36, then 1 h later
    repo.save(attrs.evolve(stuck, status=OrderStatus.CANCELLED, version=stuck.version + 1),
              stuck.version)
    clock.set(T0 + timedelta(minutes=101))
    report = watcher.run_once()
    assert [a.key for a in report.resolved] == ["pending:B"]
    assert inbox.said()[-1] == "resolved pending:B"
    assert watcher.run_once().resolved == ()  # once


def test_a_group_is_one_message_and_a_channel_outage_silences_its_orders(tmp_path: Path) -> None:
    repo = SQLiteOrderRepository(tmp_path / "shop.db")
    clock = ManualClock(T0)
    inbox = Inbox()
    for n in range(40):
        parcel = Shipment(f"S{n}", "YTO", f"YT{n}", {"1": 1}, shipped_at=T0)
        stored(repo, f"Y-{n:02}", OrderStatus.SHIPPED, T0, shipments=(parcel,))
    for n in range(25):
        stored(repo, f"DY-{n:02}", OrderStatus.PENDING_PAYMENT, T0)
    odd = stored(repo, "TM-1", OrderStatus.PENDING_PAYMENT, T0)
    repo.save(attrs.evolve(odd, channel_order_id="TM-1b", channel="pos",
                           version=odd.version + 1), odd.version)
    watcher = Watcher(repo, inbox, clock=clock, state=SQLiteWatchState(tmp_path / "shop.db"))
    clock.set(T0 + timedelta(minutes=31))
    watcher.run_once()
    clock.set(T0 + timedelta(minutes=32))
    report = watcher.run_once()
    keys = sorted(inbox.said())
    # 40 parcels without a scan: one message for the carrier; the 26 pending orders of
    # the sample's channel are one outage, which silences their per-order alerts; the
    # pos order pending alone is alerted on its own.
    channel = sample_order("x").channel
    assert keys == sorted(["raised no_first_scan:YTO", f"raised payment_channel_down:{channel}",
                           "raised pending_payment_stale:TM-1"])
    carrier = next(n for n in inbox.notices if n.subject == "no_first_scan:YTO")
    assert carrier.detail("count") == "40"
    assert len(report.inhibited) == 25


def test_alerts_are_routed_by_channel_amount_and_region() -> None:
    repo = MemoryOrderRepository()
    clock = ManualClock(T0)
    inbox = Inbox()
    big = stored(repo, "BIG", OrderStatus.PENDING_PAYMENT, T0)
    east = stored(repo, "EAST", OrderStatus.PENDING_PAYMENT, T0,
                  ship_to=Address(province="广东省"))
    routes = [Route("finance", min_amount=big.totals.payable),
              Route("customer_service_south", regions={"广东省"})]
    rule = Rule("pending", {OrderStatus.PENDING_PAYMENT}, "status_since", timedelta(minutes=5),
                "customer_service")
    cheap = attrs.evolve(east, lines=[attrs.evolve(east.lines[0],
                                                   unit_price=Money("1.00", "CNY"))],
                         adjustments=(), version=east.version + 1)
    repo.save(cheap, east.version)
    watcher = Watcher(repo, inbox, rules=[rule], clock=clock, routes=routes)
    clock.set(T0 + timedelta(minutes=6))
    routed = {a.key: a.route_to for a in watcher.run_once().raised}
    assert routed == {"pending:BIG": "finance", "pending:EAST": "customer_service_south"}


def test_a_failed_notification_is_sent_again_next_cycle() -> None:
    repo = MemoryOrderRepository()
    clock = ManualClock(T0 + timedelta(minutes=20))
    inbox = Inbox(down=True)
    stored(repo, "A", OrderStatus.PENDING_PAYMENT, T0)
    watcher = Watcher(repo, inbox, clock=clock)
    report = watcher.run_once()
    assert [a.key for a, _ in report.failed] == ["pending_payment_stale:A"]
    inbox.down = False
    assert [a.key for a in watcher.run_once().raised] == ["pending_payment_stale:A"]
    assert watcher.run_once().raised == ()


def test_a_restart_and_a_second_watcher_process_send_each_alert_once(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    repo = SQLiteOrderRepository(path)
    for n in range(5):
        stored(repo, f"P-{n}", OrderStatus.PENDING_PAYMENT, T0)
    now = T0 + timedelta(minutes=20)
    told = race(partial(SQLiteOrderRepository, str(path)),
                [partial(watch_cycle, str(path), now)] * 2)
    sent = [line for lines in told for line in lines]
    assert sorted(sent) == [f"raised pending_payment_stale:P-{n}" for n in range(5)]
    restarted = Watcher(SQLiteOrderRepository(path), Inbox(), clock=ManualClock(now),
                        state=SQLiteWatchState(path))
    assert restarted.run_once().raised == ()


def test_rules_are_checked_when_built() -> None:
    with pytest.raises(DefinitionError):
        Rule("x", {10}, "eta", timedelta(minutes=5), "tech")  # type: ignore[arg-type]
    with pytest.raises(DefinitionError):
        Rule("x", {10}, "status_since", timedelta(0), "tech")
    with pytest.raises(DefinitionError):
        Rule("x", {10}, "status_since", timedelta(minutes=1), "tech", min_orders=3)
    with pytest.raises(DefinitionError):
        Watcher(MemoryOrderRepository(), Inbox(), rules=[*DEFAULT_RULES, DEFAULT_RULES[0]])
    with pytest.raises(DefinitionError):
        Rule("x", {10}, "status_since", timedelta(minutes=1), "tech", payment_terms="cod")
    assert Rule("x", {10}, "status_since", timedelta(minutes=1), "tech",
                payment_terms="on_delivery").payment_terms is PaymentTerms.ON_DELIVERY
    lonely = Rule("y", {10}, "status_since", timedelta(minutes=1), "tech", group_by="channel",
                  inhibits=("nobody",))
    with pytest.raises(DefinitionError):
        Watcher(MemoryOrderRepository(), Inbox(), rules=[lonely])


def test_the_stale_query_reads_through_an_index_on_sqlite(tmp_path: Path) -> None:
    repo = SQLiteOrderRepository(tmp_path / "shop.db")
    with repo.database.read("plan") as conn:
        plans = {
            anchor: " ".join(row[-1] for row in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT body FROM orders WHERE status = 10"
                f" AND {expression} < '2026' ORDER BY {expression} LIMIT 5"))
            for anchor, expression in (
                ("status_since", "coalesce(json_extract(body, '$.status_since'),"
                                 " json_extract(body, '$.created_at'))"),
                ("paid_at", "paid_at"),
            )
        }
        unscanned = " ".join(row[-1] for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT body FROM orders INDEXED BY orders_unscanned"
            " WHERE json_extract(body, '$.shipments[#-1].shipped_at') < '2026'"
            " AND json_extract(body, '$.shipments[#-1].first_scan_at') IS NULL"
            " AND status = 30"))
    assert "USING INDEX orders_by_time_in_status" in plans["status_since"]
    assert "USING INDEX orders_by_paid_at" in plans["paid_at"]
    # The orders that can still get a first scan lead the index (their status first), not
    # every order ever delivered without one.
    assert "USING INDEX orders_unscanned (status=?" in unscanned
    with repo.database.read("plan") as conn:
        for index, column in (("orders_return_requested", "return_requested_since"),
                              ("orders_refund_due", "refund_due_since"),
                              ("orders_partly_shipped", "partly_shipped_since")):
            plan = " ".join(row[-1] for row in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT body FROM orders INDEXED BY {index}"
                f" WHERE {column} < '2026' AND status = 50 ORDER BY {column} LIMIT 5"))
            assert f"USING INDEX {index}" in plan and "TEMP B-TREE" not in plan


def test_orders_stored_before_the_after_sale_columns_are_watched_after_the_upgrade(
    tmp_path: Path,
) -> None:
    from orderkit.testing.contracts.orders import after_sale_order, split_order

    path = tmp_path / "shop.db"
    repo = SQLiteOrderRepository(path)
    for order_id, steps in [("ASKED", 1), ("OWED", 2), ("DONE", 3)]:
        repo.save(after_sale_order(order_id, T0, steps), None)
    for order_id, rest in [("SPLIT", ""), ("SENT", "ship"), ("CUT", "cancel")]:
        repo.save(split_order(order_id, T0, rest), None)
    with repo.database.write("the previous release's file") as conn:
        _drop_paid_at_column(conn)
        for index in ("return_requested", "refund_due", "partly_shipped"):
            conn.execute(f"DROP INDEX orders_{index}")
        for column in ("return_requested_since", "refund_due_since", "partly_shipped_since"):
            conn.execute(f"ALTER TABLE orders DROP COLUMN {column}")
        # each set of columns is two steps: the columns and indexes, then their filling
        conn.execute("UPDATE schema_version SET version = version - 4 WHERE component = 'orders'")
    repo.database.close()
    later = SQLiteOrderRepository(path)
    after = [OrderStatus.COMPLETED]
    day = timedelta(days=1)
    assert [o.order_id for o in later.stale(after, "return_requested_since", T0 + 9 * day,
                                            5)] == ["ASKED"]
    assert [o.order_id for o in later.stale(after, "refund_due_since", T0 + 9 * day, 5)] == [
        "OWED"]
    assert [o.order_id for o in later.stale([OrderStatus.SHIPPED], "partly_shipped_since",
                                            T0 + 9 * day, 5)] == ["SPLIT"]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def shop_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, WatchState]:
    """An order repository and the watch state beside it, on each store."""
    if request.param == "memory":
        return MemoryOrderRepository(), MemoryWatchState()
    if request.param == "sqlite":
        path = tmp_path / "shop.db"
        return SQLiteOrderRepository(path), SQLiteWatchState(path)
    from orderkit.adapters.postgres import PostgresOrderRepository, PostgresWatchState
    from orderkit.testing.postgres import fresh_schema

    dsn = request.getfixturevalue("pg_dsn")
    schema = fresh_schema("watch")
    return (PostgresOrderRepository(dsn, schema=schema),
            PostgresWatchState(dsn, schema=schema))


def test_an_inhibited_alert_stays_raised_and_is_resolved_once(
    shop_store: tuple[Any, WatchState],
) -> None:
    repo, state = shop_store
    clock = ManualClock(T0)
    inbox = Inbox()
    service = OrderService(repo, clock=clock)
    for n in range(22):
        service.place(Order(order_id=f"P-{n:02}", channel="tmall", channel_order_id=str(n),
                            created_at=T0,
                            lines=[OrderLine("1", "TEA", 1, Money("10.00", "CNY"))]))
    watcher = Watcher(repo, inbox, clock=clock, state=state)
    per_order = [f"pending_payment_stale:P-{n:02}" for n in range(22)]
    clock.set(T0 + timedelta(minutes=16))
    assert sorted(a.key for a in watcher.run_once().raised) == per_order
    clock.set(T0 + timedelta(minutes=31))  # the outage silences the 22 raised alerts
    report = watcher.run_once()
    assert [a.key for a in report.raised] == ["payment_channel_down:tmall"]
    assert sorted(report.inhibited) == per_order and report.resolved == ()
    for n in range(5):  # 5 buyers pay: 17 pending, under 20, so the outage clears
        service.handle(f"P-{n:02}", Event("pay", event_id=f"pay-{n}", at=clock.now(),
                                          data={"amount": Money("10.00", "CNY")}))
    clock.set(T0 + timedelta(minutes=32))
    report = watcher.run_once()
    assert sorted(a.key for a in report.resolved) == [
        "payment_channel_down:tmall", *per_order[:5]]
    assert report.raised == () and report.repeated == ()  # the 17 still up were sent
    clock.set(T0 + timedelta(minutes=33))
    report = watcher.run_once()
    assert (report.raised, report.repeated, report.resolved) == ((), (), ())
    clock.set(T0 + timedelta(hours=4, minutes=16))  # their repeat is due
    assert sorted(a.key for a in watcher.run_once().repeated) == per_order[5:]
    said = inbox.said()
    assert all(said.count(f"raised {key}") == 1 for key in per_order)
    assert sorted(line for line in said if line.startswith("resolved")) == sorted(
        ["resolved payment_channel_down:tmall", *(f"resolved {k}" for k in per_order[:5])])


def test_an_alert_silenced_before_it_was_raised_is_raised_when_the_silence_ends() -> None:
    repo = MemoryOrderRepository()
    clock = ManualClock(T0)
    inbox = Inbox()
    for n in range(21):
        stored(repo, f"P-{n:02}", OrderStatus.PENDING_PAYMENT, T0 - timedelta(minutes=40))
    pending_rules = [r for r in DEFAULT_RULES if r.statuses == {OrderStatus.PENDING_PAYMENT}
                     and r.payment_terms is PaymentTerms.PREPAID]
    watcher = Watcher(repo, inbox, rules=pending_rules, clock=clock)
    assert [a.key for a in watcher.run_once().raised] == ["payment_channel_down:tmall"]
    paid = repo.get("P-00")
    repo.save(attrs.evolve(paid, status=OrderStatus.PAID, version=paid.version + 1,
                           status_since=clock.now()), paid.version)
    paid = repo.get("P-01")
    repo.save(attrs.evolve(paid, status=OrderStatus.PAID, version=paid.version + 1,
                           status_since=clock.now()), paid.version)
    clock.set(T0 + timedelta(minutes=1))
    report = watcher.run_once()
    # P-00 and P-01 were never raised: nothing to resolve; the 19 others are raised now.
    assert [a.key for a in report.resolved] == ["payment_channel_down:tmall"]
    assert sorted(a.key for a in report.raised) == [
        f"pending_payment_stale:P-{n:02}" for n in range(2, 21)]


def test_a_failed_resolved_notification_is_sent_again_next_cycle(
    shop_store: tuple[Any, WatchState],
) -> None:
    repo, state = shop_store
    clock = ManualClock(T0 + timedelta(minutes=20))
    inbox = Inbox()
    order = stored(repo, "A", OrderStatus.PENDING_PAYMENT, T0)
    watcher = Watcher(repo, inbox, rules=DEFAULT_RULES[:1], clock=clock, state=state)
    assert [a.key for a in watcher.run_once().raised] == ["pending_payment_stale:A"]
    repo.save(attrs.evolve(order, status=OrderStatus.PAID, version=order.version + 1,
                           status_since=clock.now()), order.version)
    inbox.down = True
    clock.set(T0 + timedelta(minutes=21))
    report = watcher.run_once()
    assert [(a.key, a.state) for a, _ in report.failed] == [
        ("pending_payment_stale:A", "resolved")]
    clock.set(T0 + timedelta(minutes=22))
    assert [a.key for a, _ in watcher.run_once().failed] == ["pending_payment_stale:A"]
    inbox.down = False
    clock.set(T0 + timedelta(minutes=23))
    assert [a.key for a in watcher.run_once().resolved] == ["pending_payment_stale:A"]
    clock.set(T0 + timedelta(minutes=24))
    assert watcher.run_once() == type(watcher.run_once())()  # nothing left to send
    assert inbox.said() == ["raised pending_payment_stale:A",
                            "resolved pending_payment_stale:A"]
    assert isinstance(state, WatchHistory)
    (closed,) = state.history()  # one episode, resolved when the condition cleared
    assert (closed.key, closed.resolved_at) == ("pending_payment_stale:A",
                                                 T0 + timedelta(minutes=21))


def test_a_routed_alert_is_resolved_to_the_queue_it_was_raised_to(
    shop_store: tuple[Any, WatchState],
) -> None:
    """The queue paged is the queue told it is over, even when the order no longer
    matches the route by then, the "resolved" first failed, and the watcher restarted:
    the episode keeps the queue it was sent to."""
    repo, state = shop_store
    clock = ManualClock(T0)
    inbox = Inbox()
    big = stored(repo, "BIG", OrderStatus.PENDING_PAYMENT, T0)
    rule = Rule("pending", {OrderStatus.PENDING_PAYMENT}, "status_since", timedelta(minutes=5),
                "customer_service")
    routes = [Route("finance", min_amount=big.totals.payable)]
    watcher = Watcher(repo, inbox, rules=[rule], clock=clock, state=state, routes=routes)
    clock.set(T0 + timedelta(minutes=6))
    assert [(a.key, a.route_to) for a in watcher.run_once().raised] == [("pending:BIG", "finance")]
    # The price is cut under the route's amount, then the buyer pays.
    cheap = attrs.evolve(big, lines=[attrs.evolve(big.lines[0], unit_price=Money("1.00", "CNY"))],
                         adjustments=(), version=big.version + 1)
    repo.save(cheap, big.version)
    repo.save(attrs.evolve(cheap, status=OrderStatus.PAID, status_since=clock.now(),
                           version=cheap.version + 1), cheap.version)
    inbox.down = True
    clock.set(T0 + timedelta(minutes=7))
    assert [(a.state, a.route_to) for a, _ in watcher.run_once().failed] == [
        ("resolved", "finance")]
    inbox.down = False
    restarted = Watcher(repo, inbox, rules=[rule], clock=clock, state=state, routes=routes)
    clock.set(T0 + timedelta(minutes=8))
    assert [(a.key, a.route_to) for a in restarted.run_once().resolved] == [
        ("pending:BIG", "finance")]
    assert [(n.detail("state"), n.detail("route_to")) for n in inbox.notices] == [
        ("raised", "finance"), ("resolved", "finance")]
    assert isinstance(state, WatchHistory)
    assert [e.route_to for e in state.history()] == ["finance"]


def test_a_condition_back_before_its_resolved_got_through_is_still_up() -> None:
    repo = MemoryOrderRepository()
    clock = ManualClock(T0 + timedelta(minutes=20))
    inbox = Inbox()
    rule = Rule("pending", {OrderStatus.PENDING_PAYMENT, OrderStatus.PAID}, "created_at",
                timedelta(minutes=5), "customer_service")
    order = stored(repo, "A", OrderStatus.PENDING_PAYMENT, T0, created_at=T0)
    watcher = Watcher(repo, inbox, rules=[rule], clock=clock)
    watcher.run_once()
    moved = attrs.evolve(order, status=OrderStatus.PACKED, version=order.version + 1)
    repo.save(moved, order.version)
    inbox.down = True
    clock.set(T0 + timedelta(minutes=21))
    assert len(watcher.run_once().failed) == 1
    repo.save(attrs.evolve(moved, status=OrderStatus.PAID, version=moved.version + 1),
              moved.version)
    inbox.down = False
    clock.set(T0 + timedelta(minutes=22))
    report = watcher.run_once()
    assert (report.raised, report.repeated, report.resolved) == ((), (), ())
    assert inbox.said() == ["raised pending:A"]


def test_a_clock_without_a_time_zone_is_refused_naming_it() -> None:
    class NaiveClock:
        def now(self) -> datetime:
            return datetime(2026, 3, 2, 10, 0)

    watcher = Watcher(MemoryOrderRepository(), Inbox(), clock=NaiveClock())
    with pytest.raises(ValidationError) as error:
        watcher.run_once()
    assert (error.value.path, error.value.value) == ("clock.now()", datetime(2026, 3, 2, 10, 0))


def test_bad_rule_route_and_watcher_arguments_are_refused_naming_them() -> None:
    rule = partial(Rule, "x", {10}, "status_since", timedelta(minutes=1), "tech")
    repo = MemoryOrderRepository()
    bad: list[tuple[Any, str, object]] = [
        (lambda: rule(labels="team"), "labels", "team"),
        (lambda: rule(labels={"team": 5}), "labels", {"team": 5}),
        (lambda: rule(summary=5), "summary", 5),
        (lambda: Route(5), "to", 5),
        (lambda: Route("finance", channels=5), "channels", 5),
        # one channel given as a string is not the set of its letters
        (lambda: Route("finance", channels="tmall"), "channels", "tmall"),
        (lambda: Route("finance", regions="广东省"), "regions", "广东省"),
        (lambda: Route("finance", labels="x"), "labels", "x"),
        (lambda: Watcher(repo, Inbox(), rules=[5]), "rules[0]", 5),
        (lambda: Watcher(repo, Inbox(), rules="pending_payment_stale"), "rules",
         "pending_payment_stale"),
        (lambda: Watcher(repo, Inbox(), routes=Route("finance")), "routes", Route("finance")),
    ]
    for make, path, value in bad:
        with pytest.raises(DefinitionError) as caught:
            make()
        assert (caught.value.path, caught.value.value) == (path, value)
    assert Route("finance", channels=["tmall"]).channels == {"tmall"}


def test_a_return_never_received_and_a_refund_never_paid_are_watched(
    shop_store: tuple[Any, WatchState],
) -> None:
    """A COMPLETED order whose requested return never arrived, and one whose return
    arrived and was never refunded, raise the default after-sale rules on every store;
    each resolves when its after-sale state moves on."""
    repo, state = shop_store
    clock = ManualClock(T0)
    service = OrderService(repo, clock=clock)
    day = timedelta(days=1)
    for order_id in ("R-REQ", "R-DUE", "R-OK"):
        service.place(Order(order_id, "tmall", order_id,
                            [OrderLine("1", "TEA", 2, Money("79.00", "CNY"))], T0))
        service.handle(order_id, Event("pay", event_id="p", at=T0,
                                       data={"amount": Money("158.00", "CNY")}))
        service.handle(order_id, Event("ship", event_id="s", at=T0,
                                       data={"carrier": "SF", "waybill": f"W-{order_id}"}))
        service.handle(order_id, Event("deliver", event_id="d", at=T0 + day))
        service.handle(order_id, Event("return_requested", event_id="rq", at=T0 + 2 * day,
                                       data={"lines": {"1": 1}}))
    for order_id in ("R-DUE", "R-OK"):
        service.handle(order_id, Event("return_received", event_id="rx", at=T0 + 3 * day,
                                       data={"lines": {"1": 1}, "sellable": {"1": 1}}))
    service.handle("R-OK", Event("refund", event_id="r", at=T0 + 3 * day,
                                 data={"amount": Money("79.00", "CNY")}))
    for order_id in ("R-REQ", "R-DUE", "R-OK"):
        service.handle(order_id, Event("complete", event_id="c", at=T0 + 9 * day))
    assert repo.get("R-DUE").totals.refund_due == Money("79.00", "CNY")
    inbox = Inbox()
    watcher = Watcher(repo, inbox, clock=clock, state=state)
    clock.set(T0 + 5 * day - timedelta(minutes=1))  # 47:59 since the return came back
    assert watcher.run_once().raised == ()
    clock.set(T0 + 5 * day + timedelta(minutes=1))
    (due,) = watcher.run_once().raised
    assert (due.key, due.route_to) == ("refund_not_paid:R-DUE", "finance")
    clock.set(T0 + 16 * day + timedelta(minutes=1))  # 14 days since the request
    (waiting,) = watcher.run_once().raised
    assert (waiting.key, waiting.route_to) == ("return_not_received:R-REQ", "customer_service")
    service.handle("R-DUE", Event("refund", event_id="r", at=clock.now(),
                                  data={"amount": Money("79.00", "CNY")}))
    service.handle("R-REQ", Event("return_received", event_id="rx", at=clock.now(),
                                  data={"lines": {"1": 1}}))
    clock.set(clock.now() + timedelta(minutes=1))
    report = watcher.run_once()
    assert sorted(a.key for a in report.resolved) == [
        "refund_not_paid:R-DUE", "return_not_received:R-REQ"]
    # R-REQ's return is back now and owed: a refund due since its receipt, not raised yet
    assert report.raised == ()


def test_a_partly_shipped_order_whose_rest_never_left_is_watched(
    shop_store: tuple[Any, WatchState],
) -> None:
    """A tea and cup order whose tea left while the back-ordered cup waits raises the
    default ``partly_shipped_waiting`` 3 days after the tea left, on every store, like
    the paid order that never left raises ``paid_not_shipped``; it resolves when the cup
    leaves. An order shipped whole raises nothing."""
    repo, state = shop_store
    clock = ManualClock(T0)
    service = OrderService(repo, clock=clock)
    hour = timedelta(hours=1)
    two = [OrderLine("1", "TEA", 1, Money("10.00", "CNY")),
           OrderLine("2", "CUP", 1, Money("10.00", "CNY"))]
    for order_id, first in (("PART", {"1": 1}), ("WHOLE", {"1": 1, "2": 1})):
        service.place(Order(order_id, "tmall", order_id, two, T0))
        service.handle(order_id, Event("pay", event_id="p", at=T0,
                                       data={"amount": Money("20.00", "CNY")}))
        service.handle(order_id, Event("ship", event_id="s1", at=T0 + hour,
                                       data={"carrier": "SF", "waybill": f"W-{order_id}",
                                             "lines": first}))
        service.handle(order_id, Event("track", event_id="t1", at=T0 + 3 * hour,
                                       data={"status": "in_transit", "waybill": f"W-{order_id}",
                                             "carrier_time": T0 + 3 * hour}))
    inbox = Inbox()
    watcher = Watcher(repo, inbox, clock=clock, state=state)
    clock.set(T0 + hour + timedelta(days=3) - timedelta(minutes=1))
    assert watcher.run_once().raised == ()
    clock.set(T0 + hour + timedelta(days=3, minutes=1))
    (waiting,) = watcher.run_once().raised
    assert (waiting.key, waiting.route_to) == ("partly_shipped_waiting:PART", "warehouse")
    service.handle("PART", Event("ship", event_id="s2", at=clock.now(),
                                 data={"carrier": "SF", "waybill": "W-PART-2",
                                       "lines": {"2": 1}}))
    clock.set(clock.now() + timedelta(minutes=1))
    report = watcher.run_once()
    assert [a.key for a in report.resolved] == ["partly_shipped_waiting:PART"]


def test_partly_shipped_since_is_when_the_first_parcel_left_while_units_wait() -> None:
    """The earliest parcel time while a unit is still to ship; for units moved to
    SHIPPED by hand (no parcel), when the order entered its status; nothing once every
    unit left or before any did."""
    from orderkit.model.orders import LineStatus
    from orderkit.testing.contracts.orders import split_order

    hour = timedelta(hours=1)
    assert split_order("A", T0).partly_shipped_since == T0 + hour
    assert split_order("B", T0, "ship").partly_shipped_since is None
    assert split_order("C", T0, "cancel").partly_shipped_since is None
    assert split_order("D", T0, "whole").partly_shipped_since is None
    placed = Order("E", "tmall", "E", [OrderLine("1", "TEA", 2, Money("10.00", "CNY"))], T0)
    assert placed.partly_shipped_since is None
    (tea,) = placed.lines
    by_hand = attrs.evolve(placed, status=OrderStatus.SHIPPED, status_since=T0 + 5 * hour,
                           lines=[attrs.evolve(tea, quantities={LineStatus.OPEN: 1,
                                                                LineStatus.SHIPPED: 1})])
    assert by_hand.partly_shipped_since == T0 + 5 * hour


def test_a_channel_flood_hides_no_other_channel_and_alerts_count_every_order(
    shop_store: tuple[Any, WatchState],
) -> None:
    # 8 tmall orders pending for 3 hours (an old backlog), 3 jd orders pending for 40
    # minutes (jd's payments down now), rules listing at most 5 orders: the oldest 5
    # were tmall's, so jd's outage went untold and tmall's alert said "5 order(s)".
    repo, state = shop_store
    prepaid = PaymentTerms.PREPAID
    rules = [
        Rule("pending_payment_stale", {OrderStatus.PENDING_PAYMENT}, "status_since",
             timedelta(minutes=15), "customer_service", limit=5, payment_terms=prepaid),
        Rule("payment_channel_down", {OrderStatus.PENDING_PAYMENT}, "status_since",
             timedelta(minutes=30), "tech", group_by="channel", min_orders=3, limit=5,
             inhibits=("pending_payment_stale",), payment_terms=prepaid),
    ]
    for n in range(8):
        stored(repo, f"TM-{n}", OrderStatus.PENDING_PAYMENT,
               T0 - timedelta(hours=3) + timedelta(seconds=n), channel="tmall")
    for n in range(3):
        stored(repo, f"JD-{n}", OrderStatus.PENDING_PAYMENT, T0 - timedelta(minutes=40),
               channel="jd")
    inbox = Inbox()
    report = Watcher(repo, inbox, rules=rules, clock=ManualClock(T0), state=state).run_once()
    down = {alert.key: alert for alert in report.raised}
    assert sorted(down) == ["payment_channel_down:jd", "payment_channel_down:tmall"]
    tmall, jd = down["payment_channel_down:tmall"], down["payment_channel_down:jd"]
    assert (tmall.count, tmall.order_ids) == (8, tuple(f"TM-{n}" for n in range(5)))
    assert "8 order(s), first 5 listed: TM-0," in tmall.message
    assert tmall.notice().detail("count") == "8"
    assert (jd.count, "3 order(s): JD-" in jd.message) == (3, True)
    # What was not listed is said: the channel's and the per-order rule's (whose orders
    # beyond its limit are all of channels that are down: silenced, like the listed ones).
    assert report.cut == (("payment_channel_down", "tmall", 5, 8),
                          ("pending_payment_stale", "", 5, 11))
    assert sorted(report.inhibited) == sorted(
        [f"pending_payment_stale:TM-{n}" for n in range(5)]
        + ["pending_payment_stale:beyond_limit"])


def test_orders_beyond_a_rules_limit_are_one_alert_with_their_count() -> None:
    repo = MemoryOrderRepository()
    clock = ManualClock(T0)
    inbox = Inbox()
    rule = Rule("pending", {OrderStatus.PENDING_PAYMENT}, "status_since", timedelta(minutes=5),
                "customer_service", limit=2)
    orders = [stored(repo, f"P-{n}", OrderStatus.PENDING_PAYMENT, T0 + timedelta(seconds=n))
              for n in range(5)]
    watcher = Watcher(repo, inbox, rules=[rule], clock=clock)
    clock.set(T0 + timedelta(minutes=6))
    report = watcher.run_once()
    assert sorted(a.key for a in report.raised) == ["pending:P-0", "pending:P-1",
                                                    "pending:beyond_limit"]
    beyond = next(a for a in report.raised if a.key == "pending:beyond_limit")
    assert (beyond.count, beyond.order_ids, beyond.notice().detail("count")) == (3, (), "3")
    assert "5 order(s) in all, 3 beyond the 2 alerted one by one" in beyond.message
    assert report.cut == (("pending", "", 2, 5),)
    for order in orders[2:]:
        repo.save(attrs.evolve(order, status=OrderStatus.CANCELLED,
                               version=order.version + 1), order.version)
    clock.set(T0 + timedelta(minutes=7))
    report = watcher.run_once()
    assert [a.key for a in report.resolved] == ["pending:beyond_limit"]
    assert report.cut == ()


def test_an_order_placed_already_paid_without_paid_at_is_late_unshipped(
    shop_store: tuple[Any, WatchState],
) -> None:
    repo, state = shop_store
    clock = ManualClock(T0)
    service = OrderService(repo, clock=clock)
    imported = service.place(Order(order_id="IMP-1", channel="erp", channel_order_id="IMP-1",
                                   lines=[OrderLine("1", "TEA", 1, Money("89.00", "CNY"))],
                                   created_at=T0, status=OrderStatus.PAID))
    assert (imported.paid_at, imported.status_since) == (T0, None)  # stamped at placement
    watcher = Watcher(repo, Inbox(), clock=clock, state=state)
    clock.set(T0 + timedelta(hours=23))
    assert watcher.run_once().raised == ()
    clock.set(T0 + timedelta(hours=25))
    assert [a.key for a in watcher.run_once().raised] == ["paid_not_shipped:IMP-1"]


def _drop_outbox_lane_columns(conn: Any) -> None:
    """The outbox as it was before its lanes (one step: the consumer column and its two
    indexes) and what caused each message (one step: three columns), and the orders
    before the ship-from zone was kept beside them (one step: a table), before the
    index on the time in status carried the instants the health page filters on (one
    step, which builds it again) and before the index of the outbox's delivered
    messages (one step)."""
    conn.execute("DROP INDEX order_outbox_delivered")
    conn.execute("UPDATE schema_version SET version = version - 1 WHERE component = 'orders'")
    conn.execute("DROP TABLE order_settings")
    conn.execute("DROP INDEX orders_by_time_in_status")
    conn.execute("CREATE INDEX orders_by_time_in_status ON orders (status, coalesce("
                 "json_extract(body, '$.status_since'), json_extract(body, '$.created_at')))")
    conn.execute("DROP INDEX order_outbox_lane")
    conn.execute("DROP INDEX order_outbox_waiting")
    for column in ("consumer", "occurred_us", "order_version", "message_index"):
        conn.execute(f"ALTER TABLE order_outbox DROP COLUMN {column}")
    conn.execute("UPDATE schema_version SET version = version - 4 WHERE component = 'orders'")


def _drop_ship_due_columns(conn: Any) -> None:
    """The orders table as it was before the ship_due_at and balance_due_since columns
    (two steps: the columns, indexes and copy of paid_at, then the presales' filling),
    and before the outbox columns that came after them."""
    _drop_outbox_lane_columns(conn)
    conn.execute("DROP INDEX orders_by_ship_due_at")
    conn.execute("DROP INDEX orders_balance_due")
    conn.execute("ALTER TABLE orders DROP COLUMN ship_due_at")
    conn.execute("ALTER TABLE orders DROP COLUMN balance_due_since")
    conn.execute("UPDATE schema_version SET version = version - 2 WHERE component = 'orders'")


def test_presales_stored_before_the_ship_due_column_are_watched_after_the_upgrade(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shop.db"
    repo = SQLiteOrderRepository(path)
    stored(repo, "PRE", OrderStatus.PAID, T0, paid_at=T0, tags=PRESALE)
    stored(repo, "PAID", OrderStatus.PAID, T0, paid_at=T0 + timedelta(hours=1))
    deposit = Payment("DEP", Money("20.00", "CNY"), T0)
    stored(repo, "DEP", OrderStatus.PENDING_PAYMENT, T0, tags=PRESALE, payments=(deposit,),
           paid_at=None)
    stored(repo, "NEW", OrderStatus.PENDING_PAYMENT, T0, paid_at=None)
    with repo.database.write("the previous release's file") as conn:
        _drop_ship_due_columns(conn)
    repo.database.close()
    later = SQLiteOrderRepository(path)
    paid = [OrderStatus.PAID, OrderStatus.PACKED]
    week = T0 + timedelta(days=7)
    assert [o.order_id for o in later.stale(paid, "ship_due_at", week, 5)] == ["PAID"]
    assert [o.order_id for o in later.stale(paid, "ship_due_at", week + timedelta(days=7), 5)] == [
        "PAID", "PRE"]
    pending = [OrderStatus.PENDING_PAYMENT]
    assert [o.order_id for o in later.stale(pending, "status_since", week, 5,
                                            leave_out={"balance_due_since"})] == ["NEW"]
    assert [o.order_id for o in later.stale(pending, "balance_due_since", week, 5)] == ["DEP"]
    with later.database.read("plan") as conn:
        plan = " ".join(row[-1] for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT body FROM orders WHERE status = 20"
            " AND ship_due_at < '2026' ORDER BY ship_due_at LIMIT 5"))
    assert "USING INDEX orders_by_ship_due_at" in plan and "TEMP B-TREE" not in plan


def _drop_paid_at_column(conn: Any) -> None:
    """The orders table as it was before the paid_at column (two steps: the column and
    its index, then its filling) and the status-led unscanned index (one step), and
    before the columns that came after them."""
    _drop_ship_due_columns(conn)
    conn.execute("DROP INDEX orders_unscanned")
    conn.execute("CREATE INDEX orders_unscanned"
                 " ON orders (json_extract(body, '$.shipments[#-1].shipped_at'))"
                 " WHERE json_extract(body, '$.shipments[#-1].first_scan_at') IS NULL")
    conn.execute("DROP INDEX orders_by_paid_at")
    conn.execute("ALTER TABLE orders DROP COLUMN paid_at")
    conn.execute("CREATE INDEX orders_by_paid_at"
                 " ON orders (status, json_extract(body, '$.paid_at'))")
    conn.execute("UPDATE schema_version SET version = version - 3 WHERE component = 'orders'")


def test_orders_stored_before_the_paid_at_column_are_watched_after_the_upgrade(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shop.db"
    repo = SQLiteOrderRepository(path)
    stored(repo, "IMPORTED", OrderStatus.PAID, None, created_at=T0,  # type: ignore[arg-type]
           paid_at=None)
    stored(repo, "PAID", OrderStatus.PAID, T0, paid_at=T0 + timedelta(hours=1))
    stored(repo, "COD", OrderStatus.PACKED, T0, payment_terms=PaymentTerms.ON_DELIVERY,
           paid_at=None)
    with repo.database.write("the previous release's file") as conn:
        _drop_paid_at_column(conn)
    repo.database.close()
    later = SQLiteOrderRepository(path)
    paid = [OrderStatus.PAID, OrderStatus.PACKED]
    assert [o.order_id for o in later.stale(paid, "paid_at", T0 + timedelta(days=1), 5)] == [
        "IMPORTED", "PAID"]
    with later.database.read("plan") as conn:
        plan = " ".join(row[-1] for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT body FROM orders WHERE status = 20"
            " AND paid_at < '2026' ORDER BY paid_at LIMIT 5"))
    assert "USING INDEX orders_by_paid_at" in plan and "TEMP B-TREE" not in plan


class Killed(BaseException):
    """The watch process killed while it sends (cron's timeout, a deploy's restart)."""


class KilledInbox(Inbox):
    """An inbox whose process is killed at its ``kill_at``-th notice (nothing after it
    is sent, and the run never gets to say what it sent)."""

    def __init__(self, kill_at: int) -> None:
        super().__init__()
        self.kill_at = kill_at

    def notify(self, alert: Notice) -> None:
        if len(self.notices) + 1 == self.kill_at:
            raise Killed
        super().notify(alert)


def test_alerts_of_a_run_killed_while_sending_are_sent_by_a_later_run(
    shop_store: tuple[Any, WatchState],
) -> None:
    repo, state = shop_store
    orders = [stored(repo, f"P-{n}", OrderStatus.PENDING_PAYMENT, T0) for n in range(3)]
    clock = ManualClock(T0 + timedelta(minutes=20))
    killed = KilledInbox(kill_at=2)
    with pytest.raises(Killed):
        Watcher(repo, killed, clock=clock, state=state).run_once()
    assert killed.said() == ["raised pending_payment_stale:P-0"]
    # Another watcher while the first may still be sending: it claimed them, nothing twice.
    inbox = Inbox()
    watcher = Watcher(repo, inbox, clock=clock, state=state)
    assert watcher.run_once().raised == () and inbox.notices == []
    # Once its claim ran out (the lease, 5 minutes by default), whatever it did not say
    # it sent is sent again: at least once (P-0, sent before the kill, a second time).
    clock.set(T0 + timedelta(minutes=26))
    assert sorted(a.key for a in watcher.run_once().raised) == [
        f"pending_payment_stale:P-{n}" for n in range(3)]
    clock.set(T0 + timedelta(minutes=27))
    assert watcher.run_once() == Watcher(repo, inbox, clock=clock, state=state).run_once()
    assert len(inbox.notices) == 3
    # A "resolved" lost the same way comes back too.
    for order in orders:
        repo.save(attrs.evolve(order, status=OrderStatus.CANCELLED,
                               version=order.version + 1), order.version)
    clock.set(T0 + timedelta(minutes=28))
    with pytest.raises(Killed):
        Watcher(repo, KilledInbox(kill_at=1), clock=clock, state=state).run_once()
    assert watcher.run_once().resolved == ()  # claimed by the killed run
    clock.set(T0 + timedelta(minutes=34))
    assert sorted(a.key for a in watcher.run_once().resolved) == [
        f"pending_payment_stale:P-{n}" for n in range(3)]
    assert watcher.run_once().resolved == ()
    if isinstance(state, WatchHistory):
        assert sorted(e.key for e in state.history()) == [
            f"pending_payment_stale:P-{n}" for n in range(3)]


def test_a_watchers_lease_is_checked_when_built() -> None:
    for lease in (timedelta(0), 5, None):
        with pytest.raises(ValidationError) as caught:
            Watcher(MemoryOrderRepository(), Inbox(), lease=lease)  # type: ignore[arg-type]
        assert (caught.value.path, caught.value.value) == ("lease", lease)


def test_a_watcher_or_channel_health_without_a_notifier_is_refused_naming_it() -> None:
    from orderkit.watch import ChannelHealth

    for build in (partial(Watcher, MemoryOrderRepository()), ChannelHealth):
        for notifier in (None, "https://hooks.example/orders"):
            with pytest.raises(ValidationError) as caught:
                build(notifier)
            assert (caught.value.path, caught.value.value) == ("notifier", notifier)


def test_a_grouped_rule_lists_all_its_groups_in_one_query_on_sqlite(tmp_path: Path) -> None:
    repo = SQLiteOrderRepository(tmp_path / "shop.db")
    for channel in ("tmall", "jd", "pdd"):
        for n in range(3):
            stored(repo, f"{channel}-{n}", OrderStatus.PENDING_PAYMENT,
                   T0 - timedelta(hours=1) + timedelta(seconds=n), channel=channel)
    rule = Rule("payment_channel_down", {OrderStatus.PENDING_PAYMENT}, "status_since",
                timedelta(minutes=30), "tech", group_by="channel", min_orders=3, limit=2)
    watcher = Watcher(repo, Inbox(), rules=[rule], clock=ManualClock(T0),
                      state=MemoryWatchState())
    statements: list[str] = []
    repo.database.connection().set_trace_callback(statements.append)
    try:
        report = watcher.run_once()
    finally:
        repo.database.connection().set_trace_callback(None)
    reads = [s for s in statements if "FROM orders" in s]
    assert len(reads) == 1, reads
    assert sorted((a.key, a.count, a.order_ids) for a in report.raised) == [
        (f"payment_channel_down:{channel}", 3, (f"{channel}-0", f"{channel}-1"))
        for channel in ("jd", "pdd", "tmall")
    ]
    assert report.cut == tuple((rule.name, channel, 2, 3) for channel in ("jd", "pdd", "tmall"))
