"""The inventory lock ledger, told as the stories it was built for."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.inventory import EntryKind, InventoryLedger, InventoryLock, StockLevel
from orderkit.inventory.ports import InventoryStore
from orderkit.model.errors import (
    InsufficientStock,
    InvalidLock,
    ReleaseSuspended,
    ValidationError,
)
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)
SECRET = b"ledger-test-secret-0123456789"


@pytest.fixture
def ledger(store: InventoryStore, clock: ManualClock) -> InventoryLedger:
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)
    ledger.receive("TEA", 10, reference="PO-1")
    ledger.receive("CUP", 5, reference="PO-1")
    ledger.receive("POT", 2, reference="PO-1")
    return ledger


def level(ledger: InventoryLedger, sku: str) -> tuple[int, int, int]:
    stock = ledger.stock(sku)
    return stock.on_hand, stock.locked, stock.available


def snapshot(ledger: InventoryLedger) -> tuple[object, ...]:
    return tuple(ledger.entries())


# --- locking --------------------------------------------------------------------------------


def test_a_lock_holds_stock_until_released(ledger: InventoryLedger, clock: ManualClock) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 4, "CUP": 1}, ttl=TTL)
    assert isinstance(lock, InventoryLock)
    assert (lock.order_id, lock.lines) == ("ORD-1", {"CUP": 1, "TEA": 4})
    assert lock.expires_at == T0 + TTL
    assert level(ledger, "TEA") == (10, 4, 6)
    assert ledger.stock("TEA") == StockLevel("TEA", 10, 4, 6)
    assert ledger.release(lock.lock_id).outcome == "released"
    assert level(ledger, "TEA") == (10, 0, 10)
    assert level(ledger, "CUP") == (5, 0, 5)


def test_lock_is_all_or_nothing_and_names_every_short_sku(ledger: InventoryLedger) -> None:
    before = snapshot(ledger)
    with pytest.raises(InsufficientStock) as caught:
        ledger.lock("ORD-1", {"TEA": 3, "CUP": 6, "POT": 3}, ttl=TTL)
    assert caught.value.shortages == {"CUP": (6, 5), "POT": (3, 2)}
    assert caught.value.order_id == "ORD-1"
    assert snapshot(ledger) == before
    assert level(ledger, "TEA") == (10, 0, 10)


def test_duplicate_sku_demand_is_summed_before_checking(ledger: InventoryLedger) -> None:
    with pytest.raises(InsufficientStock) as caught:
        ledger.lock("ORD-1", [("POT", 1), ("POT", 2)], ttl=TTL)
    assert caught.value.shortages == {"POT": (3, 2)}
    lock = ledger.lock("ORD-1", [("TEA", 2), ("CUP", 1), ("TEA", 3)], ttl=TTL)
    assert lock.lines == {"CUP": 1, "TEA": 5}
    assert level(ledger, "TEA") == (10, 5, 5)


def test_two_orders_cannot_both_take_the_last_units(ledger: InventoryLedger) -> None:
    ledger.lock("ORD-A", {"POT": 2}, ttl=TTL)
    with pytest.raises(InsufficientStock):
        ledger.lock("ORD-B", {"POT": 1}, ttl=TTL)
    assert level(ledger, "POT") == (2, 2, 0)


@pytest.mark.parametrize(
    ("lines", "path"),
    [
        ({}, "lines"),
        ({"TEA": 0}, "lines['TEA']"),
        ({"TEA": -1}, "lines['TEA']"),
        ({"TEA": 1.5}, "lines['TEA']"),
        ({"TEA": True}, "lines['TEA']"),
        ({"": 1}, "lines[0].sku"),
        ("TEA", "lines"),
        ([("TEA",)], "lines[0]"),
    ],
)
def test_bad_lock_requests_name_the_field(
    ledger: InventoryLedger, lines: object, path: str
) -> None:
    before = snapshot(ledger)
    with pytest.raises(ValidationError) as caught:
        ledger.lock("ORD-1", lines, ttl=TTL)  # type: ignore[arg-type]
    assert caught.value.path == path
    assert snapshot(ledger) == before


def test_bad_ttl_and_order_id_are_refused(ledger: InventoryLedger) -> None:
    with pytest.raises(ValidationError) as caught:
        ledger.lock("ORD-1", {"TEA": 1}, ttl=timedelta(0))
    assert caught.value.path == "ttl"
    with pytest.raises(ValidationError) as caught:
        ledger.lock("", {"TEA": 1}, ttl=TTL)
    assert caught.value.path == "order_id"


# --- partial cancel and release -------------------------------------------------------------


def test_partial_cancel_releases_only_cancelled_lines(ledger: InventoryLedger) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 5, "CUP": 2, "POT": 1}, ttl=TTL)
    result = ledger.release(lock.lock_id, {"TEA": 2, "POT": 1})
    assert result.outcome == "released"
    assert result.lines == {"POT": 1, "TEA": 2}
    assert level(ledger, "TEA") == (10, 3, 7)
    assert level(ledger, "CUP") == (5, 2, 3)
    assert level(ledger, "POT") == (2, 0, 2)
    occupancy = {line.sku: line.qty for line in ledger.occupancy("ORD-1")}
    assert occupancy == {"CUP": 2, "TEA": 3}


def test_a_line_release_never_returns_more_than_is_still_locked(ledger: InventoryLedger) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 3}, ttl=TTL)
    assert ledger.release(lock.lock_id, {"TEA": 5}).lines == {"TEA": 3}
    assert level(ledger, "TEA") == (10, 0, 10)


def test_double_release_is_a_no_op_that_reports_so(ledger: InventoryLedger) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 3}, ttl=TTL)
    ledger.release(lock.lock_id)
    before = snapshot(ledger)
    again = ledger.release(lock.lock_id)
    assert again.outcome == "already_released"
    assert again.lines == {}
    assert snapshot(ledger) == before
    assert level(ledger, "TEA") == (10, 0, 10)


def test_releasing_a_sku_the_lock_does_not_hold_is_refused(ledger: InventoryLedger) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 3}, ttl=TTL)
    before = snapshot(ledger)
    with pytest.raises(ValidationError) as caught:
        ledger.release(lock.lock_id, {"CUP": 1})
    assert caught.value.path == "lines['CUP']"
    assert snapshot(ledger) == before


# --- forged and foreign lock ids ------------------------------------------------------------


def _tamper(lock_id: str, index: int) -> str:
    char = lock_id[index]
    return lock_id[:index] + ("A" if char != "A" else "B") + lock_id[index + 1 :]


def test_forged_altered_and_other_order_lock_ids_are_refused(
    ledger: InventoryLedger, store: InventoryStore
) -> None:
    mine = ledger.lock("ORD-1", {"TEA": 3}, ttl=TTL)
    theirs = ledger.lock("ORD-2", {"TEA": 2}, ttl=TTL)
    other_secret = InventoryLedger(store, secret=b"another-host-secret-0000", clock=None)
    lock_key, _order_part, _tag = mine.lock_id.split(".")
    forged = [
        "",
        "not-a-lock",
        "a.b.c",
        _tamper(mine.lock_id, 0),  # altered lock key
        _tamper(mine.lock_id, len(mine.lock_id) - 1),  # altered tag
        f"{lock_key}.{theirs.lock_id.split('.')[1]}.{_tag}",  # swapped order
        "é" * 10,
    ]
    before = snapshot(ledger)
    for bad in forged:
        for action in (ledger.release, ledger.commit):
            with pytest.raises(InvalidLock):
                action(bad)
    with pytest.raises(InvalidLock):
        other_secret.release(mine.lock_id)
    with pytest.raises(InvalidLock, match="another order"):
        ledger.release(theirs.lock_id, order_id="ORD-1")
    with pytest.raises(InvalidLock, match="another order"):
        ledger.commit(theirs.lock_id, order_id="ORD-1")
    assert snapshot(ledger) == before
    assert level(ledger, "TEA") == (10, 5, 5)
    assert ledger.release(mine.lock_id, order_id="ORD-1").outcome == "released"


def test_a_well_signed_id_for_an_unknown_lock_is_refused(store: InventoryStore) -> None:
    issuer = InventoryLedger(MemoryInventoryStore(), secret=SECRET)
    issuer.receive("TEA", 1, reference="PO")
    elsewhere = issuer.lock("ORD-1", {"TEA": 1}, ttl=TTL)
    ledger = InventoryLedger(store, secret=SECRET)
    with pytest.raises(InvalidLock, match="unknown lock"):
        ledger.release(elsewhere.lock_id)


def test_errors_survive_pickling_to_a_parent_process() -> None:
    error = InsufficientStock({"TEA": (3, 1)}, order_id="ORD-1")
    clone = pickle.loads(pickle.dumps(error))
    assert clone.shortages == {"TEA": (3, 1)}


# --- commit, expiry ------------------------------------------------------------------------


def test_partial_commit_leaves_the_rest_locked(ledger: InventoryLedger) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 5, "CUP": 2}, ttl=TTL)
    result = ledger.commit(lock.lock_id, {"TEA": 3})
    assert (result.outcome, result.lines) == ("committed", {"TEA": 3})
    assert level(ledger, "TEA") == (7, 2, 5)
    assert level(ledger, "CUP") == (5, 2, 3)
    assert ledger.commit(lock.lock_id).lines == {"CUP": 2, "TEA": 2}
    assert level(ledger, "TEA") == (5, 0, 5)
    assert ledger.commit(lock.lock_id).outcome == "already_committed"


def test_release_after_commit_reports_it_and_changes_nothing(ledger: InventoryLedger) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 4}, ttl=TTL)
    ledger.commit(lock.lock_id)
    before = snapshot(ledger)
    assert ledger.release(lock.lock_id).outcome == "already_committed"
    assert ledger.release(lock.lock_id, {"TEA": 1}).outcome == "already_committed"
    assert snapshot(ledger) == before
    assert level(ledger, "TEA") == (6, 0, 6)


def test_commit_after_release_reports_it(ledger: InventoryLedger) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 4}, ttl=TTL)
    ledger.release(lock.lock_id)
    assert ledger.commit(lock.lock_id).outcome == "already_released"
    assert level(ledger, "TEA") == (10, 0, 10)


def test_expired_lock_returns_stock_on_next_read(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 4}, ttl=TTL)
    clock.advance(TTL - timedelta(seconds=1))
    assert level(ledger, "TEA") == (10, 4, 6)
    assert [line.sku for line in ledger.occupancy("ORD-1")] == ["TEA"]
    clock.advance(timedelta(seconds=1))
    assert ledger.occupancy("ORD-1") == ()
    assert level(ledger, "TEA") == (10, 0, 10)
    assert ledger.release(lock.lock_id).outcome == "expired"
    assert level(ledger, "TEA") == (10, 0, 10)
    assert ledger.verify().ok
    # The cancel let go of the expired units: a whole-lock commit has nothing to ship.
    assert ledger.commit(lock.lock_id).outcome == "already_released"
    # Shipping them anyway is a physical fact: the units named leave the building.
    shipped = ledger.commit(lock.lock_id, {"TEA": 4})
    assert (shipped.outcome, shipped.lines, shipped.unlocked) == (
        "committed", {"TEA": 4}, {"TEA": 4}
    )
    assert shipped.oversold == {}
    assert level(ledger, "TEA") == (6, 0, 6)
    assert ledger.commit(lock.lock_id).outcome == "already_released"
    assert ledger.verify().ok


def test_release_after_expiry_reports_expired_and_changes_nothing_more(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 4, "CUP": 1}, ttl=TTL)
    ledger.release(lock.lock_id, {"TEA": 1})
    clock.advance(TTL)
    result = ledger.release(lock.lock_id)
    assert (result.outcome, result.lines) == ("expired", {})
    kinds = [entry.kind for entry in ledger.entries()]
    assert kinds.count(EntryKind.EXPIRE) == 2
    assert level(ledger, "TEA") == (10, 0, 10)
    assert level(ledger, "CUP") == (5, 0, 5)


def test_an_expired_lock_frees_stock_for_the_next_lock(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    ledger.lock("ORD-1", {"POT": 2}, ttl=TTL)
    clock.advance(TTL)
    ledger.lock("ORD-2", {"POT": 2}, ttl=TTL)
    assert level(ledger, "POT") == (2, 2, 0)


def test_expire_due_returns_stock_in_bounded_batches(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    for number in range(5):
        ledger.lock(f"ORD-{number}", {"TEA": 1, "CUP": 1}, ttl=TTL)
    clock.advance(TTL)
    assert ledger.expire_due(limit=3) == 3
    assert ledger.expire_due(limit=100) == 7
    assert ledger.expire_due() == 0
    assert ledger.store.balance("TEA").locked == 0
    assert ledger.store.balance("CUP").locked == 0
    assert ledger.verify().ok


# --- receive, adjust ----------------------------------------------------------------------


def test_adjust_cannot_take_away_locked_stock(ledger: InventoryLedger) -> None:
    ledger.lock("ORD-1", {"POT": 2}, ttl=TTL)
    with pytest.raises(InsufficientStock) as caught:
        ledger.adjust("POT", -1, reason="broken in the warehouse")
    assert caught.value.shortages == {"POT": (1, 0)}
    assert ledger.adjust("TEA", -3, reason="count").on_hand == 7
    assert ledger.adjust("TEA", 1, reason="found one").available == 8
    with pytest.raises(ValidationError):
        ledger.adjust("TEA", 0, reason="nothing")
    with pytest.raises(ValidationError):
        ledger.receive("TEA", 0, reference="PO-2")


def test_every_movement_is_an_entry_with_who_when_and_why(
    ledger: InventoryLedger, clock: ManualClock
) -> None:
    lock = ledger.lock("ORD-1", {"TEA": 2}, ttl=TTL, actor="shop-api")
    clock.advance(timedelta(minutes=1))
    ledger.release(lock.lock_id, actor="cs-agent-7", reason="buyer cancelled")
    last = ledger.entries()[-1]
    assert (last.kind, last.actor, last.reason, last.at) == (
        EntryKind.RELEASE, "cs-agent-7", "buyer cancelled", T0 + timedelta(minutes=1)
    )
    assert last.order_id == "ORD-1"
    assert lock.lock_id not in repr(ledger.entries())  # the secret token is never stored


def test_a_restock_puts_returned_units_back_once_per_reference(ledger: InventoryLedger) -> None:
    lock = ledger.lock("ORD-1", {"CUP": 2}, ttl=TTL)
    ledger.commit(lock.lock_id)
    assert level(ledger, "CUP") == (3, 0, 3)
    first = ledger.restock({"CUP": 1}, order_id="ORD-1", ref="ORD-1:return-1")
    assert (first.outcome, first.lines) == ("restocked", {"CUP": 1})
    again = ledger.restock({"CUP": 1}, order_id="ORD-1", ref="ORD-1:return-1")
    assert again.outcome == "already_applied"  # a redelivered return message
    assert level(ledger, "CUP") == (4, 0, 4)
    last = ledger.entries()[-1]
    assert (last.kind, last.order_id, last.ref, last.reason) == (
        EntryKind.RESTOCK, "ORD-1", "ORD-1:return-1", "return"
    )
    assert ledger.verify().ok
    before = snapshot(ledger)
    for bad, path in (({"CUP": 0}, "lines['CUP']"), ({}, "lines")):
        with pytest.raises(ValidationError) as caught:
            ledger.restock(bad, order_id="ORD-1", ref="r")
        assert caught.value.path == path
    with pytest.raises(ValidationError):
        ledger.restock({"CUP": 1}, order_id="", ref="r")
    assert snapshot(ledger) == before


# --- release breaker ------------------------------------------------------------------------


def test_breaker_parks_the_21st_release_and_approve_applies_it(
    store: InventoryStore, clock: ManualClock
) -> None:
    ledger = InventoryLedger(store, secret=SECRET, clock=clock, release_limit=20)
    ledger.receive("TEA", 100, reference="PO-1")
    locks = [ledger.lock(f"ORD-{n}", {"TEA": 1}, ttl=timedelta(hours=3)) for n in range(22)]
    for lock in locks[:20]:
        assert ledger.release(lock.lock_id).outcome == "released"
    parked = ledger.release(locks[20].lock_id)
    assert parked.outcome == "parked"
    assert parked.lines == {}
    suspension = parked.suspension
    assert isinstance(suspension, ReleaseSuspended)
    assert suspension.sku == "TEA"
    with pytest.raises(ReleaseSuspended) as caught:
        parked.raise_if_parked()
    assert caught.value.entry_id == suspension.entry_id
    assert level(ledger, "TEA") == (100, 2, 98)  # the parked unit is still locked
    assert [p.entry_id for p in ledger.pending_review()] == [suspension.entry_id]
    assert ledger.pending_review()[0].lock_id == locks[20].lock_id

    approved = ledger.approve_release(suspension.entry_id, actor="ops-lead")
    assert (approved.outcome, approved.lines) == ("released", {"TEA": 1})
    assert level(ledger, "TEA") == (100, 1, 99)
    assert ledger.pending_review() == ()
    assert ledger.approve_release(suspension.entry_id, actor="ops-lead").outcome == (
        "already_released"
    )
    assert level(ledger, "TEA") == (100, 1, 99)
    approve = [entry for entry in ledger.entries() if entry.kind is EntryKind.APPROVE]
    assert [(entry.actor, entry.ref) for entry in approve] == [("ops-lead", suspension.entry_id)]

    clock.advance(timedelta(hours=1, seconds=1))  # the window has passed
    assert ledger.release(locks[21].lock_id).outcome == "released"
    assert ledger.verify().ok


def test_breaker_counts_per_sku(clock: ManualClock) -> None:
    ledger = InventoryLedger(MemoryInventoryStore(), secret=SECRET, clock=clock, release_limit=2)
    ledger.receive("TEA", 10, reference="PO")
    ledger.receive("CUP", 10, reference="PO")
    for _ in range(2):
        ledger.release(ledger.lock("O", {"TEA": 1}, ttl=TTL).lock_id)
    both = ledger.lock("O", {"TEA": 1, "CUP": 1}, ttl=TTL)
    result = ledger.release(both.lock_id)
    assert result.outcome == "parked"
    assert result.lines == {"CUP": 1}
    assert [p.sku for p in result.parked] == ["TEA"]


def test_a_parked_release_approved_after_commit_moves_nothing(clock: ManualClock) -> None:
    ledger = InventoryLedger(MemoryInventoryStore(), secret=SECRET, clock=clock, release_limit=1)
    ledger.receive("TEA", 10, reference="PO")
    ledger.release(ledger.lock("O", {"TEA": 1}, ttl=TTL).lock_id)
    lock = ledger.lock("O", {"TEA": 2}, ttl=TTL)
    parked = ledger.release(lock.lock_id)
    ledger.commit(lock.lock_id)
    assert parked.suspension is not None
    result = ledger.approve_release(parked.suspension.entry_id, actor="ops")
    assert (result.outcome, result.lines) == ("already_committed", {})
    assert ledger.pending_review() == ()
    assert level(ledger, "TEA") == (8, 0, 8)
    with pytest.raises(ValidationError):
        ledger.approve_release("no-such-entry", actor="ops")


@pytest.mark.parametrize("then", ["commit", "expire"])
def test_approving_a_parked_release_again_gives_the_first_answer_again(
    store: InventoryStore, clock: ManualClock, then: str
) -> None:
    ledger = InventoryLedger(store, secret=SECRET, clock=clock, release_limit=1)
    ledger.receive("TEA", 10, reference="PO")
    ledger.release(ledger.lock("O", {"TEA": 1}, ttl=TTL).lock_id)
    lock = ledger.lock("O", {"TEA": 2}, ttl=TTL)
    parked = ledger.release(lock.lock_id)
    assert parked.suspension is not None
    if then == "commit":
        ledger.commit(lock.lock_id)
    else:
        clock.advance(TTL)
        ledger.expire_due()
    expected = "already_committed" if then == "commit" else "expired"
    entry_id = parked.suspension.entry_id
    first = ledger.approve_release(entry_id, actor="ops")
    again = ledger.approve_release(entry_id, actor="ops")
    assert (first.outcome, first.lines) == (again.outcome, again.lines) == (expected, {})
    assert len([e for e in ledger.entries() if e.kind is EntryKind.APPROVE]) == 1
    assert ledger.verify().ok


def test_constructor_refuses_bad_settings(store: InventoryStore) -> None:
    with pytest.raises(ValidationError) as caught:
        InventoryLedger(store, secret=b"short")
    assert caught.value.path == "secret"
    assert "short" not in str(caught.value)
    with pytest.raises(ValidationError):
        InventoryLedger(store, secret=SECRET, release_limit=0)
    with pytest.raises(ValidationError):
        InventoryLedger(store, secret=SECRET, release_window=timedelta(0))


def test_lock_many_decides_each_order_in_turn_in_one_transaction(
    ledger: InventoryLedger,
) -> None:
    results = ledger.lock_many(
        [("ORD-1", {"POT": 1}), ("ORD-2", {"POT": 2, "TEA": 1}), ("ORD-3", [("POT", 1)])],
        ttl=TTL,
    )
    first, second, third = results
    assert isinstance(first, InventoryLock) and isinstance(third, InventoryLock)
    assert isinstance(second, InsufficientStock)
    assert second.shortages == {"POT": (2, 1)}
    assert second.order_id == "ORD-2"
    assert level(ledger, "POT") == (2, 2, 0)
    assert level(ledger, "TEA") == (10, 0, 10)
    assert ledger.release(first.lock_id).outcome == "released"


def test_lock_many_refuses_a_bad_batch_before_writing(ledger: InventoryLedger) -> None:
    before = snapshot(ledger)
    with pytest.raises(ValidationError) as caught:
        ledger.lock_many([("ORD-1", {"POT": 1}), ("ORD-2", {"POT": 0})], ttl=TTL)
    assert caught.value.path == "requests[1].lines['POT']"
    assert snapshot(ledger) == before
