"""Paid orders, late shipments and oversells, told as the stories they were built for.

The incident: a paid order shipped more than 24 hours after it was placed. Its lock had
expired, the commit answered ``expired`` and moved nothing, another order locked and
shipped the same cup, and ``verify()`` still said all was well: two cups shipped against
one received.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from orderkit.inventory import (
    NEVER,
    Balance,
    EntryKind,
    InventoryLedger,
    LedgerEntry,
    LockLine,
    Oversell,
    ShipmentMismatch,
    apply_entry,
)
from orderkit.inventory.ports import InventoryStore
from orderkit.model.errors import InsufficientStock, InvalidLock, ValidationError
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)
DAY = timedelta(hours=24)
SECRET = b"paid-orders-test-secret-0123456789"


@pytest.fixture
def ledger(store: InventoryStore, clock: ManualClock) -> InventoryLedger:
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)
    ledger.receive("CUP", 1, reference="PO-1")
    ledger.receive("TEA", 10, reference="PO-1")
    return ledger


def level(ledger: InventoryLedger, sku: str) -> tuple[int, int, int]:
    stock = ledger.stock(sku)
    return stock.on_hand, stock.locked, stock.available


# --- confirm ---------------------------------------------------------------------------------


def test_a_confirmed_lock_never_expires(ledger: InventoryLedger, clock: ManualClock) -> None:
    lock = ledger.lock("ORD-A", {"CUP": 1, "TEA": 2}, ttl=TTL)
    result = ledger.confirm(lock.lock_id, order_id="ORD-A")
    assert (result.outcome, result.lines, result.lapsed) == (
        "confirmed", {"CUP": 1, "TEA": 2}, {}
    )
    assert (result.lock_id, result.order_id) == (lock.lock_id, "ORD-A")
    clock.advance(DAY + TTL)
    assert ledger.expire_due() == 0
    assert level(ledger, "CUP") == (1, 1, 0)
    assert [(line.sku, line.expires_at) for line in ledger.occupancy("ORD-A")] == [
        ("CUP", NEVER), ("TEA", NEVER)
    ]
    with pytest.raises(InsufficientStock):
        ledger.lock("ORD-B", {"CUP": 1}, ttl=TTL)
    shipped = ledger.commit(lock.lock_id, order_id="ORD-A")
    assert (shipped.outcome, shipped.lines, shipped.unlocked, shipped.oversold) == (
        "committed", {"CUP": 1, "TEA": 2}, {}, {}
    )
    confirms = [entry for entry in ledger.entries() if entry.kind is EntryKind.CONFIRM]
    assert [(e.sku, e.qty, e.expires_at, e.order_id) for e in confirms] == [
        ("CUP", 1, NEVER, "ORD-A"), ("TEA", 2, NEVER, "ORD-A")
    ]
    assert all(e.on_hand_delta == e.locked_delta == 0 for e in confirms)
    assert ledger.verify({"ORD-A": {"CUP": 1, "TEA": 2}}).ok


def test_a_confirm_after_expiry_reports_the_lapsed_units(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    lock = ledger.lock("ORD-A", {"CUP": 1, "TEA": 3}, ttl=TTL)
    ledger.commit(lock.lock_id, {"TEA": 1})
    clock.advance(DAY)
    result = ledger.confirm(lock.lock_id)
    assert (result.outcome, result.lines, result.lapsed) == (
        "lapsed", {}, {"CUP": 1, "TEA": 2}
    )
    assert level(ledger, "TEA") == (9, 0, 9)
    assert not any(entry.kind is EntryKind.CONFIRM for entry in ledger.entries())
    assert ledger.verify().ok


def test_a_payment_made_while_the_lock_held_keeps_its_units_when_applied_late(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    """The relay ran two minutes after the payment: the lock had fallen due and a sweep
    had freed its units; judged at the payment's time they are locked again."""
    lock = ledger.lock("ORD-A", {"TEA": 2}, ttl=TTL)
    clock.advance(TTL - timedelta(minutes=1))
    paid_at = clock.now()
    clock.advance(timedelta(minutes=2))
    assert ledger.expire_due() == 1
    assert level(ledger, "TEA") == (10, 0, 10)
    result = ledger.confirm(lock.lock_id, order_id="ORD-A", ref="msg-pay-1", at=paid_at)
    assert (result.outcome, result.lines, result.lapsed) == ("confirmed", {"TEA": 2}, {})
    assert level(ledger, "TEA") == (10, 2, 8)
    assert [(line.sku, line.qty, line.expires_at) for line in ledger.occupancy("ORD-A")] == [
        ("TEA", 2, NEVER)
    ]
    clock.advance(DAY)
    assert ledger.expire_due() == 0
    again = ledger.confirm(lock.lock_id, order_id="ORD-A", ref="msg-pay-1", at=paid_at)
    assert again.outcome == "already_applied"
    assert ledger.commit(lock.lock_id, order_id="ORD-A").lines == {"TEA": 2}
    assert ledger.verify({"ORD-A": {"TEA": 2}}).ok


def test_a_late_confirm_holds_what_is_left_and_reports_the_rest_as_lapsed(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    lock = ledger.lock("ORD-A", {"CUP": 1, "TEA": 3}, ttl=TTL)
    paid_at = clock.now() + timedelta(minutes=10)
    clock.advance(TTL + timedelta(minutes=1))
    ledger.lock("ORD-B", {"CUP": 1, "TEA": 8}, ttl=TTL)  # the freed units went to B
    result = ledger.confirm(lock.lock_id, at=paid_at)
    assert (result.outcome, result.lines, result.lapsed) == (
        "lapsed", {"TEA": 2}, {"CUP": 1, "TEA": 1}
    )
    assert level(ledger, "CUP") == (1, 1, 0)  # B keeps its cup: nobody oversold
    assert level(ledger, "TEA") == (10, 10, 0)
    assert ledger.verify().ok


def test_a_payment_after_the_lock_lapsed_locks_nothing_again(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    lock = ledger.lock("ORD-A", {"TEA": 2}, ttl=TTL)
    clock.advance(TTL + timedelta(minutes=1))
    result = ledger.confirm(lock.lock_id, at=clock.now())
    assert (result.outcome, result.lines, result.lapsed) == ("lapsed", {}, {"TEA": 2})
    assert level(ledger, "TEA") == (10, 0, 10)
    with pytest.raises(ValidationError) as caught:
        ledger.confirm(lock.lock_id, at=datetime(2026, 2, 16, 2, 0))
    assert caught.value.path == "at"


def test_a_late_confirm_holds_nothing_for_an_order_cancelled_meanwhile(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    """The confirm was dead-lettered and replayed after the order's cancel: the cancel
    found the lock expired, and the order no longer wants its units."""
    cancelled = ledger.lock("ORD-A", {"TEA": 2}, ttl=TTL)
    paid_at = clock.now() + timedelta(minutes=10)
    clock.advance(TTL)
    assert ledger.release(cancelled.lock_id, order_id="ORD-A", ref="msg-cancel-A").outcome == (
        "expired"
    )
    result = ledger.confirm(cancelled.lock_id, order_id="ORD-A", ref="msg-pay-A", at=paid_at)
    assert (result.outcome, result.lines, result.lapsed) == ("already_released", {}, {})
    assert level(ledger, "TEA") == (10, 0, 10)
    # A partial cancel lets go of what it names: the rest is held again.
    partly = ledger.lock("ORD-B", {"TEA": 3}, ttl=TTL)
    paid_at = clock.now() + timedelta(minutes=10)
    clock.advance(TTL)
    assert ledger.release(partly.lock_id, {"TEA": 1}).outcome == "expired"
    assert ledger.release(partly.lock_id, {"TEA": 1}).outcome == "expired"
    result = ledger.confirm(partly.lock_id, at=paid_at)
    assert (result.outcome, result.lines, result.lapsed) == ("confirmed", {"TEA": 1}, {})
    assert level(ledger, "TEA") == (10, 1, 9)
    # A cancel of everything lets go of the units still locked and of those that expired.
    assert ledger.release(partly.lock_id).lines == {"TEA": 1}
    assert ledger.commit(partly.lock_id).outcome == "already_released"
    assert ledger.verify({"ORD-A": {}, "ORD-B": {}}).ok


def test_a_late_confirm_reports_as_lapsed_only_units_the_order_still_wants(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    lock = ledger.lock("ORD-A", {"TEA": 4}, ttl=TTL)
    clock.advance(TTL)
    ledger.commit(lock.lock_id, {"TEA": 1})  # shipped without the lock
    ledger.release(lock.lock_id, {"TEA": 1})  # cancelled after the lock expired
    result = ledger.confirm(lock.lock_id, ref="msg-pay-A")  # paid after the lock lapsed
    assert (result.outcome, result.lines, result.lapsed) == ("lapsed", {}, {"TEA": 2})
    assert ledger.confirm(lock.lock_id, ref="msg-pay-A").lapsed == {"TEA": 2}
    assert ledger.commit(lock.lock_id).lines == {"TEA": 2}  # the 2 it still wants
    assert ledger.verify({"ORD-A": {"TEA": 3}}).ok


def test_a_confirm_replayed_with_its_ref_changes_nothing(ledger: InventoryLedger) -> None:
    lock = ledger.lock("ORD-A", {"TEA": 2}, ttl=TTL)
    assert ledger.confirm(lock.lock_id, ref="msg-pay-1").outcome == "confirmed"
    before = ledger.entries()
    again = ledger.confirm(lock.lock_id, ref="msg-pay-1", order_id="ORD-A")
    assert (again.outcome, again.lines, again.lapsed) == ("already_applied", {}, {})
    assert ledger.confirm(lock.lock_id).outcome == "already_confirmed"
    assert ledger.entries() == before


def test_a_confirm_retried_with_its_ref_reports_its_lapsed_units_again(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    """The relay crashed after the ledger booked the confirm: its retry (same ref) must
    report the units that could not be held, and not decide again on today's stock."""
    lock = ledger.lock("ORD-A", {"CUP": 1, "TEA": 3}, ttl=TTL)
    paid_at = clock.now() + timedelta(minutes=10)
    clock.advance(TTL + timedelta(minutes=1))
    ledger.lock("ORD-B", {"CUP": 1, "TEA": 8}, ttl=TTL)  # the freed units went to B
    first = ledger.confirm(lock.lock_id, ref="msg-pay-A", at=paid_at)
    assert (first.outcome, first.lines, first.lapsed) == (
        "lapsed", {"TEA": 2}, {"CUP": 1, "TEA": 1}
    )
    ledger.receive("CUP", 1, reference="PO-2")  # stock comes back before the retry
    ledger.receive("TEA", 1, reference="PO-2")
    before = ledger.entries()
    again = ledger.confirm(lock.lock_id, ref="msg-pay-A", at=paid_at)
    assert (again.outcome, again.lines, again.lapsed) == (
        "already_applied", {}, {"CUP": 1, "TEA": 1}
    )
    assert ledger.entries() == before
    assert level(ledger, "CUP") == (2, 1, 1)
    # A confirm that held nothing at all is answered the same way on its retry, though
    # the order that had taken the tea let it go since.
    unpaid = ledger.lock("ORD-C", {"TEA": 1}, ttl=TTL)
    paid_at = clock.now() + timedelta(minutes=1)
    clock.advance(TTL)
    taker = ledger.lock("ORD-D", {"TEA": 9}, ttl=TTL)
    assert ledger.confirm(unpaid.lock_id, ref="msg-pay-C", at=paid_at).lapsed == {"TEA": 1}
    ledger.release(taker.lock_id)
    retried = ledger.confirm(unpaid.lock_id, ref="msg-pay-C", at=paid_at)
    assert (retried.outcome, retried.lapsed) == ("already_applied", {"TEA": 1})
    assert level(ledger, "TEA") == (11, 2, 9)
    assert ledger.verify().ok


def test_a_confirm_of_a_lock_with_nothing_left_says_what_happened(
    ledger: InventoryLedger,
) -> None:
    cancelled = ledger.lock("ORD-A", {"TEA": 2}, ttl=TTL)
    ledger.release(cancelled.lock_id)
    assert ledger.confirm(cancelled.lock_id).outcome == "already_released"
    shipped = ledger.lock("ORD-B", {"TEA": 2}, ttl=TTL)
    ledger.commit(shipped.lock_id)
    assert ledger.confirm(shipped.lock_id).outcome == "already_committed"


def test_a_confirm_for_another_order_or_with_bad_input_writes_nothing(
    ledger: InventoryLedger,
) -> None:
    theirs = ledger.lock("ORD-B", {"TEA": 2}, ttl=TTL)
    before = ledger.entries()
    with pytest.raises(InvalidLock, match="another order"):
        ledger.confirm(theirs.lock_id, order_id="ORD-A")
    # An id no lock has: its last two characters changed (never to themselves).
    tail = "00" if theirs.lock_id[-2:] != "00" else "11"
    with pytest.raises(InvalidLock):
        ledger.confirm(theirs.lock_id[:-2] + tail)
    with pytest.raises(ValidationError) as caught:
        ledger.confirm(theirs.lock_id, ref="")
    assert caught.value.path == "ref"
    with pytest.raises(ValidationError) as caught:
        ledger.confirm(theirs.lock_id, actor=" ")
    assert caught.value.path == "actor"
    assert ledger.entries() == before


# --- late shipments ---------------------------------------------------------------------------


def test_the_incident_a_late_shipment_is_booked_and_reported_as_an_oversell(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    paid = ledger.lock("ORD-A", {"CUP": 1}, ttl=TTL)
    clock.advance(DAY + timedelta(hours=1))
    other = ledger.lock("ORD-B", {"CUP": 1}, ttl=TTL)  # A's lock lapsed: B gets the cup
    assert ledger.commit(other.lock_id, order_id="ORD-B").oversold == {}
    late = ledger.commit(paid.lock_id, {"CUP": 1}, order_id="ORD-A")
    assert (late.outcome, late.lines) == ("committed", {"CUP": 1})
    assert (late.unlocked, late.oversold) == ({"CUP": 1}, {"CUP": 1})
    assert level(ledger, "CUP") == (-1, 0, -1)
    kinds = [entry.kind for entry in ledger.entries() if entry.sku == "CUP"]
    assert kinds[-2:] == [EntryKind.SHIP_UNLOCKED, EntryKind.OVERSELL]  # the record stays
    report = ledger.verify()
    assert not report.ok
    assert report.oversold == (Oversell("CUP", 1, -1, 0),)
    assert (report.drifts, report.problems) == ((), ())
    ledger.receive("CUP", 1, reference="PO-2")  # the shortfall is covered
    assert ledger.verify().ok


def test_a_redelivered_late_shipment_still_reports_its_oversell_and_moves_nothing(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    paid = ledger.lock("ORD-A", {"CUP": 1}, ttl=TTL)
    clock.advance(DAY + timedelta(hours=1))
    other = ledger.lock("ORD-B", {"CUP": 1}, ttl=TTL)
    ledger.commit(other.lock_id, order_id="ORD-B")
    first = ledger.commit(paid.lock_id, {"CUP": 1}, order_id="ORD-A", ref="ship-A")
    assert (first.outcome, first.oversold) == ("committed", {"CUP": 1})
    again = ledger.commit(paid.lock_id, {"CUP": 1}, order_id="ORD-A", ref="ship-A")
    assert (again.outcome, again.lines, again.oversold) == ("already_applied", {}, {"CUP": 1})
    assert level(ledger, "CUP") == (-1, 0, -1)  # nothing moved twice


def test_a_shipment_before_the_other_order_ships_oversells_it_and_both_ship(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    paid = ledger.lock("ORD-A", {"CUP": 1}, ttl=TTL)
    clock.advance(DAY)
    other = ledger.lock("ORD-B", {"CUP": 1}, ttl=TTL)
    late = ledger.commit(paid.lock_id, {"CUP": 1})
    assert late.oversold == {"CUP": 1}
    assert level(ledger, "CUP") == (0, 1, -1)  # B's cup is promised but gone
    with pytest.raises(InsufficientStock) as caught:
        ledger.lock("ORD-C", {"CUP": 1}, ttl=TTL)
    assert caught.value.shortages == {"CUP": (1, -1)}
    with pytest.raises(InsufficientStock):
        ledger.adjust("CUP", -1, reason="count")
    shipped = ledger.commit(other.lock_id)  # B ships too (a unit found on a shelf)
    assert (shipped.lines, shipped.unlocked, shipped.oversold) == ({"CUP": 1}, {}, {})
    assert level(ledger, "CUP") == (-1, 0, -1)
    assert ledger.verify({"ORD-A": {"CUP": 1}, "ORD-B": {"CUP": 1}}).oversold == (
        Oversell("CUP", 1, -1, 0),
    )
    assert ledger.adjust("CUP", 2, reason="count").available == 1


def test_an_oversell_ends_when_a_lock_is_released(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    early = ledger.lock("ORD-A", {"CUP": 1}, ttl=TTL)
    clock.advance(TTL)
    ledger.lock("ORD-B", {"CUP": 1}, ttl=TTL)
    assert ledger.commit(early.lock_id, {"CUP": 1}).oversold == {"CUP": 1}
    assert not ledger.verify().ok
    clock.advance(TTL)  # B's lock lapses: nobody is owed a unit any more
    assert level(ledger, "CUP") == (0, 0, 0)
    assert ledger.verify().ok


def test_a_commit_after_release_or_beyond_the_lock_ships_every_unit_it_names(
    ledger: InventoryLedger,
) -> None:
    lock = ledger.lock("ORD-A", {"TEA": 3}, ttl=TTL)
    ledger.release(lock.lock_id, {"TEA": 1})
    result = ledger.commit(lock.lock_id, {"TEA": 4})
    assert (result.lines, result.unlocked, result.oversold) == ({"TEA": 4}, {"TEA": 2}, {})
    assert level(ledger, "TEA") == (6, 0, 6)
    ledger.commit(lock.lock_id, {"TEA": 1}, ref="ship-2")
    assert ledger.commit(lock.lock_id, {"TEA": 1}, ref="ship-2").outcome == "already_applied"
    assert level(ledger, "TEA") == (5, 0, 5)
    assert ledger.commit(lock.lock_id).outcome == "already_released"
    report = ledger.verify({"ORD-A": {"TEA": 5}})
    assert report.ok
    (line,) = [line for line in ledger.store.all_lock_lines() if line.order_id == "ORD-A"]
    assert (line.committed, line.released, line.shipped_unlocked) == (2, 1, 3)


def test_a_whole_lock_commit_after_expiry_ships_the_expired_units_once(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    lock = ledger.lock("ORD-A", {"TEA": 3, "CUP": 1}, ttl=TTL)
    ledger.release(lock.lock_id, {"TEA": 1})
    ledger.commit(lock.lock_id, {"TEA": 1})
    clock.advance(TTL)
    result = ledger.commit(lock.lock_id, ref="ship-all")
    assert (result.outcome, result.lines, result.unlocked) == (
        "committed", {"CUP": 1, "TEA": 1}, {"CUP": 1, "TEA": 1}
    )
    assert ledger.commit(lock.lock_id).outcome == "already_released"
    assert level(ledger, "TEA") == (8, 0, 8)
    assert ledger.verify({"ORD-A": {"TEA": 2, "CUP": 1}}).ok


# --- verify ------------------------------------------------------------------------------------


def test_verify_names_every_order_whose_shipments_disagree(ledger: InventoryLedger) -> None:
    a = ledger.lock("ORD-A", {"TEA": 2}, ttl=TTL)
    ledger.commit(a.lock_id)
    b = ledger.lock("ORD-B", {"TEA": 1}, ttl=TTL)
    ledger.commit(b.lock_id)
    report = ledger.verify({"ORD-A": {"TEA": 3}, "ORD-B": {"TEA": 1}, "ORD-C": {"CUP": 1}})
    assert not report.ok
    assert report.mismatches == (
        ShipmentMismatch("ORD-A", "TEA", 3, 2),
        ShipmentMismatch("ORD-C", "CUP", 1, 0),
    )
    assert report.problems == (
        "order ORD-A: TEA shipped 3 by the order, 2 in the ledger",
        "order ORD-C: CUP shipped 1 by the order, 0 in the ledger",
    )
    assert ledger.verify({"ORD-A": {}}).mismatches == (ShipmentMismatch("ORD-A", "TEA", 0, 2),)
    assert ledger.verify({"ORD-A": {"TEA": 2}}).ok
    assert ledger.verify({}).ok


@pytest.mark.parametrize(
    ("shipped", "path"),
    [
        (["ORD-A"], "shipped"),
        ({"": {"TEA": 1}}, "shipped"),
        ({"ORD-A": [("TEA", 1)]}, "shipped['ORD-A']"),
        ({"ORD-A": {"": 1}}, "shipped['ORD-A']"),
        ({"ORD-A": {"TEA": -1}}, "shipped['ORD-A']['TEA']"),
        ({"ORD-A": {"TEA": True}}, "shipped['ORD-A']['TEA']"),
        ({"ORD-A": {"TEA": 1.0}}, "shipped['ORD-A']['TEA']"),
    ],
)
def test_verify_refuses_a_malformed_shipped_mapping(
    ledger: InventoryLedger, shipped: object, path: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ledger.verify(shipped)  # type: ignore[arg-type]
    assert caught.value.path == path


# --- the store's rule -----------------------------------------------------------------------------


def _entry(kind: EntryKind, qty: int, **fields: object) -> LedgerEntry:
    return LedgerEntry("e1", kind, "CUP", qty, T0, **fields)  # type: ignore[arg-type]


def test_only_a_shipment_of_unlocked_units_takes_available_below_zero() -> None:
    short = Balance(on_hand=1, locked=1)
    shipped, line = apply_entry(_entry(EntryKind.SHIP_UNLOCKED, 2, order_id="A"), short, None)
    assert (shipped, line) == (Balance(-1, 1), None)
    assert apply_entry(_entry(EntryKind.RECEIVE, 1), shipped, None)[0] == Balance(0, 1)
    assert apply_entry(_entry(EntryKind.ADJUST, 1), shipped, None)[0] == Balance(0, 1)
    for entry in (
        _entry(EntryKind.ADJUST, -1),
        _entry(EntryKind.LOCK, 1, order_id="B", lock_key="k2", expires_at=T0 + TTL),
    ):
        with pytest.raises(InsufficientStock):
            apply_entry(entry, shipped, None)
    with pytest.raises(InsufficientStock):
        apply_entry(_entry(EntryKind.ADJUST, -2), short, None)
    with pytest.raises(ValidationError, match="names the order"):
        apply_entry(_entry(EntryKind.SHIP_UNLOCKED, 1), short, None)


def test_a_committed_unit_of_an_oversold_sku_may_take_on_hand_below_zero() -> None:
    line = LockLine("k1", "B", "CUP", 1, T0, T0 + TTL)
    commit = _entry(EntryKind.COMMIT, 1, order_id="B", lock_key="k1")
    balance, after = apply_entry(commit, Balance(0, 1), line)
    assert balance == Balance(-1, 0)
    assert after is not None and after.committed == 1


def test_a_relock_entry_takes_back_only_expired_units_that_are_available() -> None:
    line = LockLine("k1", "A", "CUP", 2, T0, T0 + TTL, expired=2)
    relock = LedgerEntry("e2", EntryKind.RELOCK, "CUP", 2, T0 + DAY, order_id="A",
                         lock_key="k1", expires_at=NEVER)
    balance, after = apply_entry(relock, Balance(2, 0), line)
    assert balance == Balance(2, 2)
    assert after is not None and (after.expired, after.remaining, after.expires_at) == (
        0, 2, NEVER
    )
    with pytest.raises(InsufficientStock):
        apply_entry(relock, Balance(2, 1), line)
    with pytest.raises(InvalidLock, match="1 expired"):
        apply_entry(relock, Balance(2, 0), attrs.evolve(line, expired=1, released=1))
    with pytest.raises(ValidationError):
        apply_entry(attrs.evolve(relock, expires_at=None), Balance(2, 0), line)


def test_a_release_of_expired_units_moves_no_stock_and_counts_them_released() -> None:
    line = LockLine("k1", "A", "CUP", 3, T0, T0 + TTL, committed=1, expired=2)
    let_go = LedgerEntry("e2", EntryKind.RELEASE_EXPIRED, "CUP", 2, T0 + DAY,
                         order_id="A", lock_key="k1")
    balance, after = apply_entry(let_go, Balance(2, 0), line)
    assert balance == Balance(2, 0)
    assert after is not None and (after.expired, after.released, after.remaining) == (0, 2, 0)
    with pytest.raises(InvalidLock, match="1 expired"):
        apply_entry(let_go, Balance(2, 0), attrs.evolve(line, expired=1, released=1))
    with pytest.raises(InvalidLock, match="unknown lock"):
        apply_entry(let_go, Balance(2, 0), None)


def test_a_confirm_entry_only_extends_a_line_that_is_not_due() -> None:
    line = LockLine("k1", "A", "CUP", 2, T0, T0 + TTL, released=1)
    confirm = _entry(EntryKind.CONFIRM, 1, order_id="A", lock_key="k1", expires_at=NEVER)
    balance, after = apply_entry(confirm, Balance(2, 1), line)
    assert balance == Balance(2, 1)
    assert after is not None and (after.expires_at, after.remaining) == (NEVER, 1)
    due = LedgerEntry(
        "e2", EntryKind.CONFIRM, "CUP", 1, T0 + TTL, order_id="A", lock_key="k1",
        expires_at=NEVER,
    )
    with pytest.raises(InvalidLock, match="fell due"):
        apply_entry(due, Balance(2, 1), line)
