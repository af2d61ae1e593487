"""The contract every ``OrderRepository`` keeps."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import attrs

from orderkit.lifecycle.ports import OrderRepository
from orderkit.model.audit import AuditEntry
from orderkit.model.errors import (
    ConcurrencyError,
    DuplicateOrder,
    OrderkitError,
    OrderNotFound,
    ValidationError,
)
from orderkit.model.money import Money
from orderkit.model.orders import (
    Address,
    Anchor,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentKind,
    PaymentTerms,
    RefundValue,
    Shipment,
)
from orderkit.testing.samples import sample_order

__all__ = ["OrderRepositoryContract"]


_E = TypeVar("_E", bound=BaseException)


def _raises(kind: type[_E], call: Callable[..., object], *args: object) -> _E:
    try:
        call(*args)
    except kind as error:
        return error
    raise AssertionError(f"expected {kind.__name__}")


def after_sale_order(order_id: str, t0: datetime, steps: int, *,
                     base: Order | None = None) -> Order:
    """A tea order delivered and completed whose buyer returns one of two tins: a return
    asked for at ``t0`` + 2 days (``steps`` >= 1), received at ``t0`` + 3 days (>= 2),
    refunded then (>= 3); ``steps`` 0 is a tin refunded and kept (no return). ``base``
    is the stored order to go on from (its version raised)."""
    from orderkit.lifecycle import Event, Lifecycle

    day = timedelta(days=1)
    events = [
        Event("return_requested", event_id="rq", at=t0 + 2 * day, data={"lines": {"1": 1}}),
        Event("return_received", event_id="rx", at=t0 + 3 * day,
              data={"lines": {"1": 1}, "sellable": {"1": 1}}),
        Event("refund", event_id="r", at=t0 + 3 * day, data={"amount": Money("79.00", "CNY")}),
    ][:steps]
    if base is None:
        tins = [OrderLine("1", "TEA", 2, Money("79.00", "CNY"))]
        base = Order(order_id, "tmall", order_id, tins, t0)
        events = [
            Event("pay", event_id="p", at=t0, data={"amount": Money("158.00", "CNY")}),
            Event("ship", event_id="s", at=t0, data={"carrier": "SF", "waybill": order_id}),
            Event("deliver", event_id="d", at=t0 + day),
            *(events or [Event("refund", event_id="r", at=t0 + 2 * day,
                               data={"amount": Money("79.00", "CNY"), "lines": {"1": 1}})]),
            Event("complete", event_id="c", at=t0 + 9 * day),
        ]
    order = base
    life = Lifecycle()
    for event in events:
        if event.event_id not in order.applied_event_ids:
            order = life.apply(order, event).order
    return order


def split_order(order_id: str, t0: datetime, rest: str = "", *,
                base: Order | None = None) -> Order:
    """A tea and cup order paid at ``t0`` whose tea left at ``t0`` + 1 hour (scanned at
    + 3 hours) while its back-ordered cup waits: partly shipped since ``t0`` + 1 hour.
    ``rest`` is what became of the cup at ``t0`` + 4 days: ``"ship"`` (it left too),
    ``"cancel"`` (cut from the order), ``""`` (still waiting); ``"whole"`` is an order
    whose tea and cup left together at ``t0`` + 1 hour. ``base`` is the stored order to
    go on from (its version raised)."""
    from orderkit.lifecycle import Event, Lifecycle

    hour = timedelta(hours=1)
    later = {
        "ship": [Event("ship", event_id="s2", at=t0 + 96 * hour,
                       data={"carrier": "SF", "waybill": f"{order_id}-2", "lines": {"2": 1}})],
        "cancel": [Event("cancel_lines", event_id="c2", at=t0 + 96 * hour,
                         data={"lines": {"2": 1}})],
    }.get(rest, [])
    if base is None:
        base = Order(order_id, "tmall", order_id, [
            OrderLine("1", "TEA", 1, Money("10.00", "CNY")),
            OrderLine("2", "CUP", 1, Money("10.00", "CNY")),
        ], t0)
        first = {"1": 1, "2": 1} if rest == "whole" else {"1": 1}
        later = [
            Event("pay", event_id="p", at=t0, data={"amount": Money("20.00", "CNY")}),
            Event("ship", event_id="s1", at=t0 + hour,
                  data={"carrier": "SF", "waybill": f"{order_id}-1", "lines": first}),
            Event("track", event_id="t1", at=t0 + 3 * hour,
                  data={"status": "in_transit", "carrier_time": t0 + 3 * hour,
                        "waybill": f"{order_id}-1"}),
            *later,
        ]
    order = base
    life = Lifecycle()
    for event in later:
        if event.event_id not in order.applied_event_ids:
            order = life.apply(order, event).order
    return order


class OrderRepositoryContract:
    """Subclass as ``Test...`` and implement :meth:`create_repository`."""

    def create_repository(self) -> OrderRepository:
        """Return a new, empty repository."""
        raise NotImplementedError

    def test_stale_finds_the_orders_past_their_anchor_oldest_first(self) -> None:
        repo = self.create_repository()
        t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

        def stored(order_id: str, status: int, minutes: int, **fields: Any) -> None:
            changes: dict[str, Any] = {"shipments": (), **fields}
            order = attrs.evolve(
                sample_order(order_id, channel_order_id=order_id), status=status,
                status_since=t0 + timedelta(minutes=minutes), **changes,
            )
            repo.save(order, None)

        stored("P-1", OrderStatus.PENDING_PAYMENT, 0)
        stored("P-2", OrderStatus.PENDING_PAYMENT, 20)
        stored("P-3", OrderStatus.PENDING_PAYMENT, -30)
        stored("PAID-1", OrderStatus.PAID, -60, paid_at=t0 - timedelta(minutes=61))
        parcel = Shipment("S1", "SF", "SF1", {"1": 1}, shipped_at=t0 + timedelta(minutes=1))
        scanned = attrs.evolve(parcel, shipment_id="S2", first_scan_at=t0 + timedelta(minutes=2))
        stored("SHIP-1", OrderStatus.SHIPPED, 1, shipments=(parcel,))
        stored("SHIP-2", OrderStatus.SHIPPED, 1, shipments=(scanned,))
        pending = repo.stale([OrderStatus.PENDING_PAYMENT], "status_since",
                             t0 + timedelta(minutes=15), 10)
        assert [o.order_id for o in pending] == ["P-3", "P-1"]  # oldest first; P-2 is fresh
        assert [o.order_id for o in repo.stale([OrderStatus.PENDING_PAYMENT], "status_since",
                                               t0 + timedelta(minutes=15), 1)] == ["P-3"]
        both = repo.stale([OrderStatus.PENDING_PAYMENT, OrderStatus.PAID], "status_since",
                          t0 + timedelta(minutes=15), 10)
        assert [o.order_id for o in both] == ["PAID-1", "P-3", "P-1"]
        assert [o.order_id for o in repo.stale([OrderStatus.PAID], "paid_at", t0, 5)] == [
            "PAID-1"
        ]
        unscanned = repo.stale([OrderStatus.SHIPPED], "unscanned_since",
                               t0 + timedelta(minutes=6), 10)
        assert [o.order_id for o in unscanned] == ["SHIP-1"]  # SHIP-2 has its first scan
        assert repo.stale([OrderStatus.SHIPPED], "unscanned_since", t0, 10) == []
        assert repo.stale([OrderStatus.COMPLETED], "created_at", t0 + timedelta(days=9), 5) == []
        stale = repo.stale
        _raises(ValidationError, stale, [10], "eta", t0, 5)
        for limit in (0, True, "5", 2**63):  # 2**63: more than any store counts
            error = _raises(ValidationError, stale, [10], "status_since", t0, limit)
            assert (error.path, error.value) == ("limit", limit)
        _raises(ValidationError, stale, [10], "status_since", datetime(2026, 3, 2), 5)
        unknown_terms: Any = "cod"
        error = _raises(ValidationError, partial(stale, terms=unknown_terms), [10],
                        "status_since", t0, 5)
        assert getattr(error, "path", None) == "terms"

    def test_stale_keeps_the_payment_terms_asked_for(self) -> None:
        repo = self.create_repository()
        t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        for order_id, terms, minutes in [("PRE-1", PaymentTerms.PREPAID, -40),
                                         ("COD-1", PaymentTerms.ON_DELIVERY, -50),
                                         ("PRE-2", PaymentTerms.PREPAID, -20),
                                         ("COD-2", PaymentTerms.ON_DELIVERY, -10)]:
            repo.save(attrs.evolve(sample_order(order_id, channel_order_id=order_id),
                                   status=OrderStatus.PENDING_PAYMENT, shipments=(),
                                   payment_terms=terms,
                                   status_since=t0 + timedelta(minutes=minutes)), None)
        pending = [OrderStatus.PENDING_PAYMENT]
        assert [o.order_id for o in repo.stale(pending, "status_since", t0, 10)] == [
            "COD-1", "PRE-1", "PRE-2", "COD-2"]
        assert [o.order_id for o in repo.stale(pending, "status_since", t0, 10,
                                               terms=PaymentTerms.PREPAID)] == ["PRE-1", "PRE-2"]
        # The limit counts the kept orders only: the older cash-on-delivery one takes no slot.
        assert [o.order_id for o in repo.stale(pending, "status_since", t0, 1,
                                               terms=PaymentTerms.PREPAID)] == ["PRE-1"]
        assert [o.order_id for o in repo.stale(pending, "status_since", t0, 10,
                                               terms=PaymentTerms.ON_DELIVERY)] == [
            "COD-1", "COD-2"]

    def test_an_order_paid_without_paid_at_is_paid_since_it_entered_its_status(self) -> None:
        # An order imported already PAID carries no paid_at: its paid_at anchor falls back
        # to status_since, then created_at (not for a cash-on-delivery order, unpaid
        # until the door, nor for one whose status does not say it was paid).
        repo = self.create_repository()
        t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        for order_id, status, since, terms in [
            ("IMPORTED", OrderStatus.PAID, None, PaymentTerms.PREPAID),
            ("PACKED", OrderStatus.PACKED, t0 + timedelta(hours=1), PaymentTerms.PREPAID),
            ("COD", OrderStatus.PACKED, t0, PaymentTerms.ON_DELIVERY),
            ("UNPAID", OrderStatus.PENDING_PAYMENT, t0, PaymentTerms.PREPAID),
        ]:
            repo.save(attrs.evolve(sample_order(order_id, channel_order_id=order_id),
                                   status=status, shipments=(), created_at=t0, paid_at=None,
                                   status_since=since, payment_terms=terms), None)
        anyhow = [OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.PACKED]
        later = t0 + timedelta(days=1)
        assert [o.order_id for o in repo.stale(anyhow, "paid_at", later, 10)] == [
            "IMPORTED", "PACKED"]
        assert repo.stale(anyhow, "paid_at", t0 + timedelta(minutes=30), 10)[0].order_id == (
            "IMPORTED")
        assert repo.stale_count(anyhow, "paid_at", later) == {"": 2}
        assert repo.count_by_status("paid_at", None, later) == {
            OrderStatus.PAID: 1, OrderStatus.PACKED: 1}

    def test_a_presale_is_due_to_ship_from_its_ship_from_day_and_waits_for_its_balance(
        self,
    ) -> None:
        # ship_due_at: the paid instant, or a presale's ship-from day (its start in the
        # accounting zone, Asia/Shanghai) when later; balance_due_since: a presale that
        # took its deposit, while it waits for the balance. leave_out drops those orders.
        repo = self.create_repository()
        t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        presale = frozenset({"presale", "ship_from:2026-03-10"})
        deposit = Payment("DEP", Money("20.00", "CNY"), t0)
        for order_id, status, tags, paid_at, payments in [
            ("PRE", OrderStatus.PAID, presale, t0, ()),
            ("PAID", OrderStatus.PAID, frozenset(), t0 + timedelta(hours=1), ()),
            ("DEP", OrderStatus.PENDING_PAYMENT, presale, None, (deposit,)),
            ("SHORT", OrderStatus.PENDING_PAYMENT, frozenset(), None, (deposit,)),
            ("PACK", OrderStatus.PACKED, presale, t0, ()),  # packed early, for day 1
            ("COD", OrderStatus.PACKED, frozenset(), None, ()),  # paid at the door
        ]:
            terms = PaymentTerms.ON_DELIVERY if order_id == "COD" else PaymentTerms.PREPAID
            repo.save(attrs.evolve(sample_order(order_id, channel_order_id=order_id),
                                   status=status, shipments=(), created_at=t0,
                                   status_since=t0, paid_at=paid_at, tags=tags,
                                   payments=payments, payment_terms=terms), None)
        paid = [OrderStatus.PAID]
        march_10 = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
        assert [o.order_id for o in repo.stale(paid, "ship_due_at", march_10, 10)] == ["PAID"]
        assert [o.order_id for o in repo.stale(
            paid, "ship_due_at", march_10 + timedelta(seconds=1), 10)] == ["PAID", "PRE"]
        assert repo.stale_count(paid, "ship_due_at", march_10) == {"": 1}
        pending = [OrderStatus.PENDING_PAYMENT]
        later = t0 + timedelta(days=1)
        assert [o.order_id for o in repo.stale(pending, "status_since", later, 10,
                                               leave_out={"balance_due_since"})] == ["SHORT"]
        assert repo.stale_count(pending, "status_since", later,
                                leave_out={"balance_due_since"}) == {"": 1}
        assert [o.order_id for o in repo.stale(pending, "balance_due_since", later, 10)] == [
            "DEP"]
        _raises(ValidationError, partial(repo.stale, pending, "status_since", later, 10,
                                         leave_out={"created_at"}))

        # The health page's counts: leave_out drops the presale waiting for its balance,
        # and due_by the presales not due to ship before it (packed early included); an
        # order with no ship_due_at (unpaid, cash on delivery) is kept.
        packed = OrderStatus.PACKED
        assert repo.count_by_status("status_since", None, later) == {
            pending[0]: 2, paid[0]: 2, packed: 2}
        waiting: set[Anchor] = {"balance_due_since"}
        assert repo.count_by_status("status_since", None, later, leave_out=waiting) == {
            pending[0]: 1, paid[0]: 2, packed: 2}
        assert repo.count_by_status("status_since", None, later, leave_out=waiting,
                                    due_by=later) == {pending[0]: 1, paid[0]: 1, packed: 1}
        assert repo.count_by_status("status_since", None, later, [*paid, packed],
                                    due_by=march_10) == {paid[0]: 1, packed: 1}
        assert repo.count_by_status("status_since", None, later, [*paid, packed],
                                    due_by=march_10 + timedelta(seconds=1)) == {
            paid[0]: 2, packed: 2}
        # Due to ship: a presale counted from the day it ships from, not its payment.
        assert repo.count_by_status("ship_due_at", t0, later) == {paid[0]: 1}
        assert repo.count_by_status("ship_due_at", t0, march_10 + timedelta(seconds=1)) == {
            paid[0]: 2, packed: 1}
        count = partial(repo.count_by_status, "status_since", None, later)
        for error, path in [
            (_raises(ValidationError, partial(count, leave_out={"created_at"})), "leave_out"),
            (_raises(ValidationError, partial(count, leave_out="balance_due_since")),
             "leave_out"),
            (_raises(ValidationError, partial(count, due_by=datetime(2026, 3, 2))), "due_by"),
        ]:
            assert getattr(error, "path", None) == path

    def test_stale_lists_one_group_and_counts_every_group_in_the_store(self) -> None:
        repo = self.create_repository()
        t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        parcel = Shipment("S1", "SF", "SF1", {"1": 1}, shipped_at=t0)
        rows: list[tuple[str, str, int, dict[str, Any]]] = [
            ("TM-1", "tmall", -90, {}), ("TM-2", "tmall", -80, {}),
            ("TM-3", "tmall", -70, {"payment_terms": PaymentTerms.ON_DELIVERY}),
            ("JD-1", "jd", -40, {"ship_to": Address(province="广东省")}),
            ("JD-2", "jd", 10, {}),  # not stale yet
            ("YZ-1", "youzan", -60, {"ship_to": None}),
        ]
        for order_id, channel, minutes, fields in rows:
            repo.save(attrs.evolve(sample_order(order_id, channel_order_id=order_id),
                                   channel=channel, status=OrderStatus.PENDING_PAYMENT,
                                   shipments=(parcel,) if channel == "youzan" else (),
                                   status_since=t0 + timedelta(minutes=minutes),
                                   **fields), None)
        pending = [OrderStatus.PENDING_PAYMENT]
        assert repo.stale_count(pending, "status_since", t0) == {"": 5}
        assert repo.stale_count(pending, "status_since", t0, group_by="channel") == {
            "jd": 1, "tmall": 3, "youzan": 1}
        assert repo.stale_count(pending, "status_since", t0, group_by="channel",
                                terms=PaymentTerms.PREPAID) == {"jd": 1, "tmall": 2,
                                                                "youzan": 1}
        province = sample_order("x").ship_to
        assert province is not None
        assert repo.stale_count(pending, "status_since", t0, group_by="region") == {
            "unknown": 1, "广东省": 1, province.province: 3}
        assert repo.stale_count(pending, "status_since", t0, group_by="carrier") == {
            "SF": 1, "unknown": 4}
        assert repo.stale_count([OrderStatus.PAID], "status_since", t0) == {}
        # The oldest orders were tmall's: a group's listing is not crowded out by them.
        assert [o.order_id for o in repo.stale(pending, "status_since", t0, 1,
                                               group=("channel", "jd"))] == ["JD-1"]
        assert [o.order_id for o in repo.stale(pending, "status_since", t0, 5,
                                               group=("carrier", "unknown"))] == [
            "TM-1", "TM-2", "TM-3", "JD-1"]
        assert [o.order_id for o in repo.stale(pending, "status_since", t0, 5,
                                               group=("region", "广东省"))] == ["JD-1"]
        bad: Any
        for bad in [("shop", "jd"), ("channel", ""), "jd", ("channel",)]:
            error = _raises(ValidationError, partial(repo.stale, group=bad), pending,
                            "status_since", t0, 5)
            assert (error.path, error.value) == ("group", bad)
        bad = "shop"
        error = _raises(ValidationError, partial(repo.stale_count, group_by=bad), pending,
                        "status_since", t0)
        assert (error.path, error.value) == ("group_by", bad)

        def listed(groups: dict[str, tuple[int, list[Order]]]) -> dict[str, tuple[int, list[str]]]:
            return {g: (n, [o.order_id for o in orders]) for g, (n, orders) in groups.items()}

        # Every group counted and its oldest listed, in one call.
        assert listed(repo.stale_groups(pending, "status_since", t0, 2, group_by="channel")) == {
            "jd": (1, ["JD-1"]), "tmall": (3, ["TM-1", "TM-2"]), "youzan": (1, ["YZ-1"])}
        assert listed(repo.stale_groups(pending, "status_since", t0, 1, group_by="carrier",
                                        terms=PaymentTerms.PREPAID)) == {
            "SF": (1, ["YZ-1"]), "unknown": (3, ["TM-1"])}
        assert listed(repo.stale_groups(pending, "status_since", t0, 5, group_by="region")) == {
            "unknown": (1, ["YZ-1"]), "广东省": (1, ["JD-1"]),
            province.province: (3, ["TM-1", "TM-2", "TM-3"])}
        assert repo.stale_groups([OrderStatus.PAID], "status_since", t0, 5,
                                 group_by="channel") == {}
        for bad in ("shop", None):
            error = _raises(ValidationError, partial(repo.stale_groups, group_by=bad), pending,
                            "status_since", t0, 5)
            assert (error.path, error.value) == ("group_by", bad)

    def test_stale_finds_returns_never_received_and_refunds_never_paid(self) -> None:
        repo = self.create_repository()
        t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        day = timedelta(days=1)
        for order_id, steps in [("ASKED", 1), ("OWED", 2), ("DONE", 3), ("KEPT", 0)]:
            repo.save(after_sale_order(order_id, t0, steps), None)
        after = [OrderStatus.DELIVERED, OrderStatus.COMPLETED]
        # asked for at t0 + 2 days, received (OWED, DONE) at t0 + 3 days, DONE refunded
        asked = repo.stale(after, "return_requested_since", t0 + 2 * day + timedelta(seconds=1), 10)
        assert [o.order_id for o in asked] == ["ASKED"]
        assert repo.stale(after, "return_requested_since", t0 + 2 * day, 10) == []
        owed = repo.stale(after, "refund_due_since", t0 + 4 * day, 10)
        assert [o.order_id for o in owed] == ["OWED"]
        assert repo.stale(after, "refund_due_since", t0 + 3 * day, 10) == []
        assert repo.stale([OrderStatus.SHIPPED], "refund_due_since", t0 + 9 * day, 10) == []
        assert repo.count_by_status("refund_due_since", None, t0 + 9 * day) == {
            OrderStatus.COMPLETED: 1}
        # the refund paid: no longer owed; the return received: now owed, since then
        owed_order = repo.get("OWED")
        repo.save(after_sale_order("OWED", t0, 3, base=owed_order), owed_order.version)
        asked_order = repo.get("ASKED")
        repo.save(after_sale_order("ASKED", t0, 2, base=asked_order), asked_order.version)
        assert repo.stale(after, "return_requested_since", t0 + 9 * day, 10) == []
        assert [o.order_id for o in repo.stale(after, "refund_due_since", t0 + 9 * day, 10)] == [
            "ASKED"]

    def test_stale_finds_partly_shipped_orders_by_when_their_first_parcel_left(self) -> None:
        repo = self.create_repository()
        t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        hour = timedelta(hours=1)
        for order_id, rest in [("WAITS", ""), ("SENT", "ship"), ("CUT", "cancel"),
                               ("WHOLE", "whole")]:
            repo.save(split_order(order_id, t0, rest), None)
        repo.save(split_order("LATER", t0 + 2 * hour), None)
        shipped = [OrderStatus.SHIPPED]
        assert [o.order_id for o in repo.stale(shipped, "partly_shipped_since",
                                               t0 + 10 * hour, 10)] == ["WAITS", "LATER"]
        assert [o.order_id for o in repo.stale(shipped, "partly_shipped_since",
                                               t0 + 3 * hour, 10)] == ["WAITS"]
        assert [o.order_id for o in repo.stale(shipped, "partly_shipped_since",
                                               t0 + 10 * hour, 1)] == ["WAITS"]
        assert repo.stale(shipped, "partly_shipped_since", t0 + hour, 10) == []
        assert repo.stale([OrderStatus.PAID], "partly_shipped_since", t0 + 10 * hour, 10) == []
        assert repo.count_by_status("partly_shipped_since", None, t0 + 10 * hour) == {
            OrderStatus.SHIPPED: 2}
        assert repo.count_by_status("partly_shipped_since", t0 + 2 * hour,
                                    t0 + 10 * hour) == {OrderStatus.SHIPPED: 1}
        # the cup leaves, or is cut: no longer partly shipped
        waits = repo.get("WAITS")
        repo.save(split_order("WAITS", t0, "ship", base=waits), waits.version)
        later = repo.get("LATER")
        repo.save(split_order("LATER", t0, "cancel", base=later), later.version)
        assert repo.stale(shipped, "partly_shipped_since", t0 + 9 * hour * 24, 10) == []

    def test_an_order_that_never_changed_status_is_in_it_since_it_was_placed(self) -> None:
        repo = self.create_repository()
        t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        for order_id, placed, since in [("NEW-1", -40, None), ("MOVED", -90, -20),
                                        ("NEW-2", -10, None), ("NEW-3", 30, None)]:
            repo.save(attrs.evolve(
                sample_order(order_id, channel_order_id=order_id), shipments=(),
                status=OrderStatus.PENDING_PAYMENT, created_at=t0 + timedelta(minutes=placed),
                status_since=None if since is None else t0 + timedelta(minutes=since),
            ), None)
        pending = [OrderStatus.PENDING_PAYMENT]
        # status_since, or created_at while it is None; NEW-3 was placed after t0.
        assert [o.order_id for o in repo.stale(pending, "status_since", t0, 10)] == [
            "NEW-1", "MOVED", "NEW-2"]
        assert [o.order_id for o in repo.stale(pending, "status_since", t0, 1)] == ["NEW-1"]
        assert [o.order_id for o in repo.stale(pending, "status_since",
                                               t0 - timedelta(minutes=15), 10)] == [
            "NEW-1", "MOVED"]
        assert repo.count_by_status("status_since", None, t0) == {
            OrderStatus.PENDING_PAYMENT: 3}
        assert repo.count_by_status("status_since", t0 - timedelta(minutes=30), t0) == {
            OrderStatus.PENDING_PAYMENT: 2}

    def test_orders_are_counted_by_status_over_an_anchor_range(self) -> None:
        repo = self.create_repository()
        t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        for index, (status, minutes) in enumerate(
            [(OrderStatus.PENDING_PAYMENT, 0), (OrderStatus.PENDING_PAYMENT, 30),
             (OrderStatus.CANCELLED, 10), (OrderStatus.PAID, -10)]
        ):
            order_id = f"C-{index}"
            order = attrs.evolve(sample_order(order_id, channel_order_id=order_id),
                                 status=status, shipments=(),
                                 status_since=t0 + timedelta(minutes=minutes))
            repo.save(order, None)
        until = t0 + timedelta(minutes=20)
        assert repo.count_by_status("status_since", t0, until) == {
            OrderStatus.PENDING_PAYMENT: 1, OrderStatus.CANCELLED: 1}
        assert repo.count_by_status("status_since", None, until) == {
            OrderStatus.PENDING_PAYMENT: 1, OrderStatus.PAID: 1, OrderStatus.CANCELLED: 1}
        assert repo.count_by_status("status_since", None, until, [OrderStatus.PAID, 40]) == {
            OrderStatus.PAID: 1}
        assert repo.count_by_status("status_since", until, until) == {}
        assert repo.count_by_status("unscanned_since", None, until) == {}
        for args, path, value in [
            (("eta", None, until), "anchor", "eta"),
            (("status_since", None, until, ["10"]), "statuses", "10"),
            (("status_since", None, until, [True]), "statuses", True),
            (("status_since", None, until, "20"), "statuses", "20"),  # a lone string
            (("status_since", None, datetime(2026, 3, 2)), "until", datetime(2026, 3, 2)),
            (("status_since", datetime(2026, 3, 2), until), "since", datetime(2026, 3, 2)),
        ]:
            error = _raises(ValidationError, repo.count_by_status, *args)
            assert (getattr(error, "path", None), getattr(error, "value", None)) == (
                path, value), args

    def test_first_scans_read_each_orders_first_parcel_by_when_it_left(self) -> None:
        repo = self.create_repository()
        t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        first = Shipment("S1", "SF", "SF1", {"1": 1}, shipped_at=t0,
                         first_scan_at=t0 + timedelta(hours=30))
        later = Shipment("S2", "YTO", "YT2", {"1": 1}, shipped_at=t0 + timedelta(days=3))
        unscanned = Shipment("S3", "ZTO", "ZT3", {"1": 1}, shipped_at=t0 + timedelta(hours=1))
        for order_id, shipments, tags in [
            ("F-1", (first, later), {"outlet:Hangzhou"}),
            ("F-2", (unscanned,), set()),
            ("F-3", (), set()),
            ("F-4", (attrs.evolve(first, shipped_at=t0 + timedelta(days=40)),), set()),
        ]:
            order = attrs.evolve(sample_order(order_id, channel_order_id=order_id),
                                 status=OrderStatus.SHIPPED, shipments=shipments,
                                 tags=frozenset(tags))
            repo.save(order, None)
        scans = repo.first_scans(t0, t0 + timedelta(days=31))
        assert [(s.order_id, s.carrier, s.waybill) for s in scans] == [
            ("F-1", "SF", "SF1"), ("F-2", "ZTO", "ZT3")]
        assert (scans[0].shipped_at, scans[0].first_scan_at) == (t0, t0 + timedelta(hours=30))
        assert scans[0].tags == frozenset({"outlet:Hangzhou"})
        assert scans[1].first_scan_at is None and scans[1].channel == "tmall"
        assert repo.first_scans(t0 + timedelta(seconds=1), t0 + timedelta(hours=1)) == []
        _raises(ValidationError, repo.first_scans, datetime(2026, 3, 2), t0)

    def test_saved_order_reads_back_equal_with_every_field(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        repository.save(order, expected_version=None)
        assert repository.get(order.order_id) == order

    def test_a_refund_reads_back_with_what_it_gave_back(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        cny = partial(Money, currency="CNY")
        # the cancelled unit of line 2: 5.00 less its 0.44 of the coupon
        value = RefundValue(cny("5.00"), cny("0.44"), cny("0.00"), cny("0.00"), cny("0.00"),
                            cny("0.00"))
        refund = Payment("R1", cny("4.56"), order.created_at + timedelta(hours=7),
                         kind=PaymentKind.REFUND, lines={"2": 1}, value=value)
        # and the order what that unit was worth when it left, its line's price cut by
        # 1.00 since (Order.repriced_left)
        kept = RefundValue(cny("1.00"), cny("0.09"), cny("0.00"), cny("0.00"), cny("0.00"),
                           cny("0.00"))
        order = attrs.evolve(order, payments=(*order.payments, refund), repriced_left=kept)
        repository.save(order, expected_version=None)
        stored = repository.get(order.order_id)
        assert stored == order and stored.payments[-1].value == value
        assert stored.repriced_left == kept

    def test_unknown_order_is_not_found(self) -> None:
        repository = self.create_repository()
        error = _raises(OrderNotFound, repository.get, "nope")
        assert isinstance(error, OrderkitError)
        assert error.order_id == "nope"

    def test_an_id_no_store_can_hold_is_refused_naming_it(self) -> None:
        # Text with a lone surrogate encodes in no store, and an id is a string: every
        # read that takes one refuses it as bad input, as the canonical types do, on
        # every adapter alike (not a driver error, not "not found" on some only).
        repository = self.lookups()
        repository.save(sample_order("ORD-1"), expected_version=None)
        for bad in ("\udc80", "ORD-\ud800", 5, None, b"ORD-1"):
            for read in (repository.get, repository.audit_trail,
                         repository.address_history):
                error = _raises(ValidationError, read, bad)
                assert (error.path, error.value) == ("order_id", bad), read
            error = _raises(ValidationError, repository.find_by_channel, "tmall", bad)
            assert (error.path, error.value) == ("channel_order_id", bad)
            error = _raises(ValidationError, repository.find_by_channel, bad, "T-1")
            assert (error.path, error.value) == ("channel", bad)
            error = _raises(ValidationError, repository.find_many_by_channel,
                            [("tmall", "T-1"), ("tmall", bad)])
            assert error.path == "keys[1]"
            error = _raises(ValidationError, repository.find_by_waybill, bad)
            assert (error.path, error.value) == ("waybill", bad)
        # NUL: PostgreSQL text holds none, so no store is asked for it.
        reads: tuple[tuple[Callable[[str], object], str], ...] = (
            (repository.get, "order_id"), (repository.audit_trail, "order_id"),
            (repository.address_history, "order_id"), (repository.find_by_waybill, "waybill"),
        )
        for lookup, field in reads:
            error = _raises(ValidationError, lookup, "ORD\x001")
            assert (error.path, error.value) == (field, "ORD\x001"), lookup
        error = _raises(ValidationError, repository.find_many_by_channel,
                        [("tmall", "T-1"), ("tmall", "T\x002")])
        assert error.path == "keys[1]"
        error = _raises(ValidationError, repository.find_by_channel, "tmall", "T\x001")
        assert error.path == "channel_order_id"
        assert repository.get("ORD-1").order_id == "ORD-1"  # still usable

    def test_save_on_top_of_the_version_read_wins(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        repository.save(order, expected_version=None)
        changed = attrs.evolve(order, status=OrderStatus.DELIVERED, version=order.version + 1)
        repository.save(changed, expected_version=order.version)
        assert repository.get(order.order_id) == changed

    def test_stale_version_is_refused_and_nothing_changes(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        repository.save(order, expected_version=None)
        winner = attrs.evolve(order, status=OrderStatus.DELIVERED, version=order.version + 1)
        repository.save(winner, expected_version=order.version)
        loser = attrs.evolve(order, status=OrderStatus.CLOSED, version=order.version + 1)
        error = _raises(ConcurrencyError, repository.save, loser, order.version)
        assert error.expected == order.version
        assert error.actual == winner.version
        assert repository.get(order.order_id) == winner

    def test_inserting_an_existing_order_is_a_conflict(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        repository.save(order, expected_version=None)
        _raises(ConcurrencyError, repository.save, order, None)

    def test_updating_a_missing_order_is_a_conflict(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        _raises(ConcurrencyError, repository.save, order, order.version - 1)
        _raises(OrderNotFound, repository.get, "ORD-1")

    def test_a_save_that_does_not_raise_the_version_is_refused(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        repository.save(order, expected_version=None)
        same = attrs.evolve(order, status=OrderStatus.DELIVERED)
        error = _raises(ValidationError, repository.save, same, order.version)
        assert error.path == "order.version"
        assert repository.get(order.order_id) == order

    def test_an_expected_version_not_a_version_is_refused_and_nothing_changes(self) -> None:
        # A version read back as text from a form, a bool, a negative or a number no
        # store holds: bad input on every adapter alike (not a bare TypeError, not a
        # driver error, not True taken for 1), refused before anything is written.
        repository = self.create_repository()
        order = sample_order()
        repository.save(order, expected_version=None)
        changed = attrs.evolve(order, status=OrderStatus.DELIVERED, version=order.version + 1)
        for bad in (str(order.version), True, False, -1, 1.0, 2**63):
            error = _raises(ValidationError, repository.save, changed, bad)
            assert (error.path, error.value) == ("expected_version", bad)
        assert repository.get(order.order_id) == order
        assert repository.audit_trail(order.order_id) == []

    def test_order_is_found_by_channel_order_id(self) -> None:
        repository = self.create_repository()
        order = sample_order("ORD-7", channel_order_id="3698512204871532841")
        repository.save(order, expected_version=None)
        assert repository.find_by_channel("tmall", "3698512204871532841") == order
        assert repository.find_by_channel("jd", "3698512204871532841") is None

    def test_orders_are_found_by_many_channel_keys_in_one_read(self) -> None:
        repository = self.create_repository()
        first = sample_order("ORD-1", channel_order_id="T-1")
        second = sample_order("ORD-2", channel_order_id="T-2")
        repository.save(first, expected_version=None)
        repository.save(second, expected_version=None)
        changed = attrs.evolve(second, version=second.version + 1, tags={"later"})
        repository.save(changed, expected_version=second.version)
        found = repository.find_many_by_channel(
            [("tmall", "T-1"), ("tmall", "T-2"), ("jd", "T-1"), ("tmall", "T-404"),
             ("tmall", "T-1")]
        )
        assert found == {("tmall", "T-1"): first, ("tmall", "T-2"): changed}
        assert repository.find_many_by_channel([]) == {}
        assert repository.find_many_by_channel({("tmall", "T-2")}) == {("tmall", "T-2"): changed}
        error = _raises(ValidationError, repository.find_many_by_channel,
                        [("tmall", "T-1"), ("tmall", 7)])
        assert error.path == "keys[1]"
        error = _raises(ValidationError, repository.find_many_by_channel, "tmall")
        assert error.path == "keys"

    def test_many_new_orders_are_inserted_in_one_write_or_not_at_all(self) -> None:
        repository = self.create_repository()
        first = sample_order("ORD-1", channel_order_id="T-1")
        second = sample_order("ORD-2", channel_order_id="T-2")
        entry = _audit("ORD-2", "ev-1")
        repository.insert_many([(first, (), ()), (second, (entry,), ())])
        assert repository.get("ORD-1") == first
        assert repository.get("ORD-2") == second
        assert repository.audit_trail("ORD-2") == [entry]
        repository.insert_many([])
        # One order that is not new refuses the whole call: nothing of it is written.
        third = sample_order("ORD-3", channel_order_id="T-3")
        conflict = _raises(ConcurrencyError, repository.insert_many,
                           [(third, (), ()), (first, (), ())])
        assert conflict.order_id == "ORD-1"
        _raises(OrderNotFound, repository.get, "ORD-3")
        duplicate = _raises(
            DuplicateOrder, repository.insert_many,
            [(third, (), ()), (sample_order("ORD-4", channel_order_id="T-2"), (), ())],
        )
        assert duplicate.existing_order_id == "ORD-2"
        _raises(OrderNotFound, repository.get, "ORD-3")
        twins = [(third, (), ()), (sample_order("ORD-5", channel_order_id="T-3"), (), ())]
        _raises(DuplicateOrder, repository.insert_many, twins)
        _raises(OrderNotFound, repository.get, "ORD-3")
        assert repository.find_many_by_channel([("tmall", "T-3")]) == {}

    def test_second_order_for_the_same_channel_order_is_refused(self) -> None:
        repository = self.create_repository()
        repository.save(sample_order("ORD-1", channel_order_id="T-9"), expected_version=None)
        error = _raises(
            DuplicateOrder, repository.save, sample_order("ORD-2", channel_order_id="T-9"), None
        )
        assert error.existing_order_id == "ORD-1"
        _raises(OrderNotFound, repository.get, "ORD-2")

    # --- lookups a host needs (sync, carrier callbacks) -----------------------------------

    def lookups(self) -> OrderRepository:
        """The repository, proven to offer ``find_by_waybill`` (part of the port)."""
        repository = self.create_repository()
        assert isinstance(repository, OrderRepository), (
            f"{type(repository).__name__} is not an OrderRepository (find_by_waybill?)"
        )
        return repository

    def test_order_is_found_by_waybill(self) -> None:
        repository = self.lookups()
        order = sample_order("ORD-7")
        repository.save(order, expected_version=None)
        assert repository.find_by_waybill("SF1234567890") == [order]
        assert repository.find_by_waybill("SF0000000000") == []

    def test_orders_sharing_a_waybill_are_all_found_and_later_waybills_too(self) -> None:
        repository = self.lookups()
        first, second = sample_order("ORD-1"), sample_order("ORD-2")
        repository.save(first, expected_version=None)
        repository.save(second, expected_version=None)
        parcel = Shipment("S2", "YTO", "YT7528461903572", {"1": 5})
        moved = attrs.evolve(second, shipments=(*second.shipments, parcel),
                             version=second.version + 1)
        repository.save(moved, expected_version=second.version)
        assert repository.find_by_waybill("SF1234567890") == [first, moved]
        assert repository.find_by_waybill("YT7528461903572") == [moved]

    def test_a_waybill_saved_in_a_block_that_raises_is_not_found(self) -> None:
        repository = self.lookups()
        order = sample_order("ORD-1")
        with contextlib.suppress(_Abort), repository.atomic():
            repository.save(order, expected_version=None)
            raise _Abort
        assert repository.find_by_waybill("SF1234567890") == []

    def test_a_blank_waybill_is_refused_naming_it(self) -> None:
        repository = self.lookups()
        error = _raises(ValidationError, repository.find_by_waybill, " ")
        assert error.path == "waybill"

    # --- audit trail and address versions (lifecycle) -----------------------------------

    def test_audit_entries_are_saved_with_the_order_in_order(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        first, second = _audit(order.order_id, "E1"), _audit(order.order_id, "E2")
        repository.save(order, expected_version=None, audit=(first,))
        changed = attrs.evolve(order, version=order.version + 1)
        repository.save(changed, expected_version=order.version, audit=(second,))
        assert repository.audit_trail(order.order_id) == [first, second]
        assert repository.audit_trail("other") == []

    def test_refused_save_stores_no_audit_entry(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        repository.save(order, expected_version=None)
        stale = attrs.evolve(order, version=order.version + 6)
        _raises(ConcurrencyError, lambda: repository.save(
            stale, order.version + 5, audit=(_audit(order.order_id, "E1"),)
        ))
        assert repository.audit_trail(order.order_id) == []

    def test_audit_can_be_recorded_without_changing_the_order(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        repository.save(order, expected_version=None)
        refused = attrs.evolve(_audit(order.order_id, "E9"), outcome="refused", reason="no")
        repository.record_audit(order.order_id, (refused,))
        assert repository.audit_trail(order.order_id) == [refused]
        assert repository.get(order.order_id) == order

    def test_address_change_keeps_the_previous_address(self) -> None:
        repository = self.create_repository()
        order = sample_order()
        repository.save(order, expected_version=None)
        assert repository.address_history(order.order_id) == []
        moved = Address(name="李*", province="江苏省", city="南京市")
        entry = attrs.evolve(_audit(order.order_id, "E1"), event="change_address",
                             approved_by="lead-2")
        changed = attrs.evolve(order, ship_to=moved, version=order.version + 1)
        repository.save(changed, expected_version=order.version, audit=(entry,))
        same = attrs.evolve(changed, version=changed.version + 1)
        repository.save(same, expected_version=changed.version)
        (version,) = repository.address_history(order.order_id)
        assert (version.previous, version.address) == (order.ship_to, moved)
        assert (version.version, version.event_id) == (changed.version, "E1")
        assert (version.actor, version.approved_by, version.at) == ("cs-1", "lead-2", entry.at)


    def test_an_atomic_block_that_raises_keeps_none_of_its_writes(self) -> None:
        repository = self.create_repository()
        kept = sample_order("ORD-1")
        repository.save(kept, expected_version=None)
        moved = attrs.evolve(kept, status=OrderStatus.DELIVERED, version=kept.version + 1)
        with contextlib.suppress(_Abort), repository.atomic():
            repository.save(moved, expected_version=kept.version, audit=(_audit("ORD-1", "E1"),))
            repository.save(sample_order("ORD-2", channel_order_id="T-2"), expected_version=None)
            repository.record_audit("ORD-1", (_audit("ORD-1", "E2"),))
            raise _Abort
        assert repository.get("ORD-1") == kept
        _raises(OrderNotFound, repository.get, "ORD-2")
        assert repository.find_by_channel("tmall", "T-2") is None
        assert repository.audit_trail("ORD-1") == []

    def test_an_inner_block_that_raises_undoes_only_its_own_writes(self) -> None:
        repository = self.create_repository()
        with repository.atomic():
            repository.save(sample_order("ORD-1"), expected_version=None)
            with contextlib.suppress(_Abort), repository.atomic():
                repository.save(sample_order("ORD-2", channel_order_id="T-2"), None)
                raise _Abort
        assert repository.get("ORD-1") == sample_order("ORD-1")
        _raises(OrderNotFound, repository.get, "ORD-2")

    def test_a_refused_save_inside_a_block_leaves_the_block_usable(self) -> None:
        repository = self.create_repository()
        first = sample_order("ORD-1", channel_order_id="T-1")
        with repository.atomic():
            repository.save(first, expected_version=None)
            twin = sample_order("ORD-2", channel_order_id="T-1")
            _raises(DuplicateOrder, repository.save, twin, None)
            repository.save(sample_order("ORD-3", channel_order_id="T-3"), None)
        assert repository.get("ORD-3").channel_order_id == "T-3"
        _raises(OrderNotFound, repository.get, "ORD-2")

    # --- after commit ------------------------------------------------------------------

    def test_after_commit_runs_at_once_when_no_block_is_open(self) -> None:
        repository = self.create_repository()
        ran: list[str] = []
        repository.after_commit(lambda: ran.append("now"))
        assert ran == ["now"]

    def test_after_commit_waits_for_the_outermost_block_to_commit(self) -> None:
        repository = self.create_repository()
        ran: list[str] = []
        with repository.atomic():
            repository.save(sample_order("ORD-1"), expected_version=None)
            with repository.atomic():
                repository.after_commit(lambda: ran.append("inner"))
            assert ran == []  # the inner block's end is no commit
            repository.after_commit(lambda: ran.append("outer"))
            assert ran == []
        assert ran == ["inner", "outer"]  # once each, in the order registered

    def test_after_commit_runs_after_the_commit_and_may_write(self) -> None:
        repository = self.create_repository()
        first = sample_order("ORD-1")

        def write_on() -> None:
            # The block is over: this write is a transaction of its own.
            with repository.atomic():
                repository.save(sample_order("ORD-2", channel_order_id="T-2"), None)

        with repository.atomic():
            repository.save(first, expected_version=None)
            repository.after_commit(write_on)
        assert repository.get("ORD-1") == first
        assert repository.get("ORD-2").channel_order_id == "T-2"
        ran: list[str] = []
        repository.after_commit(lambda: ran.append("idle again"))  # no block left open
        assert ran == ["idle again"]

    def test_after_commit_is_dropped_when_its_block_rolls_back(self) -> None:
        repository = self.create_repository()
        ran: list[str] = []
        with contextlib.suppress(_Abort), repository.atomic():
            repository.save(sample_order("ORD-1"), expected_version=None)
            repository.after_commit(lambda: ran.append("outer"))
            raise _Abort
        assert ran == []
        with repository.atomic():
            repository.after_commit(lambda: ran.append("kept"))
            with contextlib.suppress(_Abort), repository.atomic():
                repository.after_commit(lambda: ran.append("rolled back"))
                raise _Abort
        assert ran == ["kept"]  # an inner block that raises drops only its own

    def test_after_commit_runs_a_callback_registered_twice_in_a_block_once(self) -> None:
        repository = self.create_repository()
        ran: list[str] = []

        def deliver() -> None:
            ran.append("delivered")

        with repository.atomic():
            repository.after_commit(deliver)
            with repository.atomic():
                repository.after_commit(deliver)
            repository.after_commit(deliver)
        assert ran == ["delivered"]
        with repository.atomic():
            with contextlib.suppress(_Abort), repository.atomic():
                repository.after_commit(deliver)  # dropped with the inner block ...
                raise _Abort
            repository.after_commit(deliver)  # ... so this one is kept
        assert ran == ["delivered", "delivered"]

    def test_after_commit_runs_every_callback_of_a_committed_block_then_raises(
        self,
    ) -> None:
        """A callback that raises after the commit neither stops the callbacks after it
        nor undoes the block: its error reaches the caller once every one has run."""
        repository = self.create_repository()
        ran: list[str] = []

        def failing() -> None:
            ran.append("failing")
            raise _Abort("the host's cache refresh failed")

        def also_failing() -> None:
            ran.append("also failing")
            raise KeyError("second")

        try:
            with repository.atomic():
                repository.save(sample_order("ORD-1"), expected_version=None)
                repository.after_commit(failing)
                repository.after_commit(lambda: ran.append("after it"))
                repository.after_commit(also_failing)
                repository.after_commit(lambda: ran.append("last"))
        except _Abort as error:
            notes = getattr(error, "__notes__", [])
            assert any("committed" in note for note in notes), notes
            assert any("KeyError" in note for note in notes), notes
        else:
            raise AssertionError("expected the first callback's error")
        assert ran == ["failing", "after it", "also failing", "last"]
        assert repository.get("ORD-1") == sample_order("ORD-1")  # committed
        with repository.atomic():  # and the repository is usable again
            repository.save(sample_order("ORD-2", channel_order_id="T-2"), None)
        assert repository.get("ORD-2").channel_order_id == "T-2"

    def test_after_commit_refuses_what_cannot_be_called_when_registered(self) -> None:
        repository = self.create_repository()
        for index, callback in enumerate((None, 42, "deliver")):
            error = _raises(ValidationError, repository.after_commit, callback)
            assert (error.path, error.value) == ("callback", callback)
            order = sample_order(f"ORD-{index}", channel_order_id=f"T-{index}")
            with repository.atomic():
                repository.save(order, expected_version=None)
                refused = _raises(ValidationError, repository.after_commit, callback)
                assert (refused.path, refused.value) == ("callback", callback)
            assert repository.get(order.order_id) == order  # the block committed

    def test_after_commit_waits_only_for_a_block_of_its_own_thread(self) -> None:
        repository = self.create_repository()
        ran: list[str] = []
        opened, done = threading.Event(), threading.Event()

        def other_thread() -> None:
            with repository.atomic():
                opened.set()
                done.wait(10)

        worker = threading.Thread(target=other_thread)
        worker.start()
        try:
            assert opened.wait(10)
            repository.after_commit(lambda: ran.append("here"))  # no block open here
            assert ran == ["here"]
        finally:
            done.set()
            worker.join(10)


class _Abort(Exception):
    """Raised by the tests to leave an atomic block."""


def _audit(order_id: str, event_id: str) -> AuditEntry:
    at = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
    return AuditEntry(
        order_id, event_id, "pay", "cs-1", at, at, 10, 20, "applied",
        (("paid", "", "112.50 CNY"),), "", None,
    )
