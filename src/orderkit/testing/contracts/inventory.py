"""The contract every ``InventoryStore`` keeps.

The ledger trusts its store for three things: a transaction commits all of its entries
or none, every entry is checked against the balances *inside* the transaction (so no
lock oversells a SKU and no lock line resolves a unit twice), and the reads return what
was written, to the microsecond, including a confirmed line's new expiry. Only a
shipment of units that were no longer locked (``SHIP_UNLOCKED``) may take ``available``
below zero: the store books it and ``verify()`` reports the oversell.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs

from orderkit.inventory.entries import NEVER, Balance, EntryKind, InventoryLock, LedgerEntry
from orderkit.inventory.ledger import InventoryLedger
from orderkit.inventory.ports import InventoryStore
from orderkit.inventory.refusals import (
    RestockExceedsShipment,
    UnrecordExceedsRecord,
    UnshipExceedsShipment,
)
from orderkit.model.errors import InsufficientStock, InvalidLock, OrderkitError, ValidationError
from orderkit.model.limits import MAX_QUANTITY
from orderkit.outbox.ports import StockCall
from orderkit.testing.clock import ManualClock

__all__ = ["InventoryStoreContract"]


_T0 = datetime(2026, 2, 16, 2, 0, 0, 123456, tzinfo=UTC)
_TTL = timedelta(minutes=30)


def _id() -> str:
    return os.urandom(8).hex()


def _receive(sku: str, qty: int, at: datetime = _T0) -> LedgerEntry:
    return LedgerEntry(_id(), EntryKind.RECEIVE, sku, qty, at, "clerk", "receive", ref="PO-1")


def _lock(sku: str, qty: int, lock_key: str, at: datetime = _T0) -> LedgerEntry:
    return LedgerEntry(
        _id(), EntryKind.LOCK, sku, qty, at, "shop", "lock",
        order_id="ORD-1", lock_key=lock_key, expires_at=at + _TTL,
    )


def _resolve(kind: EntryKind, sku: str, qty: int, lock_key: str, at: datetime = _T0) -> LedgerEntry:
    return LedgerEntry(
        _id(), kind, sku, qty, at, "shop", kind.value, order_id="ORD-1", lock_key=lock_key
    )


def _confirm(
    sku: str, qty: int, lock_key: str, at: datetime = _T0, expires_at: datetime | None = NEVER
) -> LedgerEntry:
    return LedgerEntry(
        _id(), EntryKind.CONFIRM, sku, qty, at, "shop", "paid",
        order_id="ORD-1", lock_key=lock_key, expires_at=expires_at,
    )


def _ship(
    sku: str, qty: int, lock_key: str | None = None, order_id: str | None = "ORD-2"
) -> LedgerEntry:
    return LedgerEntry(
        _id(), EntryKind.SHIP_UNLOCKED, sku, qty, _T0, "warehouse", "shipped",
        order_id=order_id, lock_key=lock_key,
    )


def _append(store: InventoryStore, entry: LedgerEntry) -> None:
    with store.transaction({entry.sku}) as tx:
        tx.append(entry)


_E = TypeVar("_E", bound=OrderkitError)


def _refused(kind: type[_E], action: Callable[[], object]) -> _E:
    try:
        action()
    except kind as error:
        return error
    raise AssertionError(f"expected {kind.__name__}")


class InventoryStoreContract:
    """Subclass as ``Test...`` and implement :meth:`create_store`."""

    def create_store(self) -> InventoryStore:
        """Return a new, empty store."""
        raise NotImplementedError

    def _seeded(self, **stock: int) -> InventoryStore:
        store = self.create_store()
        with store.transaction(stock) as tx:
            for sku, qty in stock.items():
                tx.append(_receive(sku, qty))
        return store

    def test_a_new_store_is_empty(self) -> None:
        store = self.create_store()
        assert store.balance("TEA") == Balance(0, 0)
        assert dict(store.balances()) == {}
        assert list(store.entries()) == []
        assert list(store.all_lock_lines()) == []
        assert store.pending_parks() == ()
        assert store.pending_park_count() == 0

    def test_the_store_clock_is_aware_utc_and_never_runs_backwards(self) -> None:
        store = self.create_store()
        first = store.now()
        second = store.now()
        assert first.utcoffset() == timedelta(0)
        assert second >= first

    def test_counters_beyond_the_store_range_are_refused_and_nothing_is_written(
        self,
    ) -> None:
        store = self._seeded(TEA=MAX_QUANTITY)
        before = list(store.entries())
        for entry in (_receive("TEA", 1), _receive("CUP", MAX_QUANTITY + 1)):
            error = _refused(ValidationError, functools.partial(_append, store, entry))
            assert isinstance(error, ValidationError)
            assert (error.path, error.value) == ("entry.qty", entry.qty)
        assert list(store.entries()) == before
        assert store.balance("TEA") == Balance(MAX_QUANTITY, 0)
        assert store.balance("CUP") == Balance(0, 0)

    def test_entries_round_trip_exactly_and_in_order(self) -> None:
        store = self.create_store()
        entries = [
            _receive("TEA", 5),
            LedgerEntry(_id(), EntryKind.ADJUST, "TEA", -2, _T0 + timedelta(seconds=1), "counter",
                        "stock count"),
            _lock("TEA", 3, "k1", _T0 + timedelta(seconds=2)),
        ]
        with store.transaction({"TEA"}) as tx:
            for entry in entries:
                tx.append(entry)
        assert list(store.entries()) == entries
        assert store.entry(entries[2].entry_id) == entries[2]
        assert store.entry("nope") is None
        assert store.balance("TEA") == Balance(3, 3)

    def test_reads_inside_a_transaction_see_its_own_entries(self) -> None:
        store = self._seeded(TEA=5)
        with store.transaction({"TEA"}) as tx:
            tx.append(_lock("TEA", 2, "k1"))
            assert tx.balance("TEA") == Balance(5, 2)
            (line,) = tx.lock_lines("k1")
            assert (line.sku, line.qty, line.remaining) == ("TEA", 2, 2)
            tx.append(_resolve(EntryKind.RELEASE, "TEA", 1, "k1"))
            assert tx.lock_lines("k1")[0].released == 1
            assert tx.release_count("TEA", _T0, 100) == 1

    def test_stored_names_the_entry_ids_already_in_the_ledger(self) -> None:
        store = self._seeded(TEA=5, CUP=2)
        first = _lock("TEA", 2, "k1")
        with store.transaction({"TEA"}) as tx:
            tx.append(first)
        second = _resolve(EntryKind.RELEASE, "TEA", 1, "k1")
        with store.transaction({"TEA", "CUP"}) as tx:
            assert set(tx.stored([first.entry_id, "nope"])) == {first.entry_id}
            assert set(tx.stored([])) == set()
            tx.append(second)  # this transaction's own entries count too
            assert set(tx.stored([first.entry_id, second.entry_id, "nope"])) == {
                first.entry_id, second.entry_id,
            }
        lost = _resolve(EntryKind.RELEASE, "TEA", 1, "k1")

        def crash() -> None:
            with store.transaction({"TEA"}) as tx:
                tx.append(lost)
                raise RuntimeError("crash")

        with contextlib.suppress(RuntimeError):
            crash()
        with store.transaction({"TEA"}) as tx:
            assert set(tx.stored([first.entry_id, second.entry_id, lost.entry_id])) == {
                first.entry_id, second.entry_id,
            }

    def test_a_transaction_reads_its_own_entries_and_lock_lines(self) -> None:
        store = self._seeded(TEA=5, CUP=3)
        first = _lock("TEA", 2, "k1")
        with store.transaction({"TEA", "CUP"}) as tx:
            tx.append(first)
            assert tx.entry(first.entry_id) == first  # written in this transaction
            assert tx.entry("nope") is None
            assert [(line.sku, line.qty) for line in tx.lock_lines("k1")] == [("TEA", 2)]
            other = _lock("CUP", 1, "k2")
            tx.append(other)
            assert tx.entry(other.entry_id) == other
            assert tx.lock_lines("k9") == ()
            both = tx.lines_of_locks(["k1", "k2", "k9"])
            assert {key: [(x.sku, x.qty) for x in lines] for key, lines in both.items()} == {
                "k1": [("TEA", 2)], "k2": [("CUP", 1)],
            }
        with store.transaction({"TEA"}) as tx:
            assert tx.entry(first.entry_id) == first  # and after the commit

    def test_lines_of_locks_reads_several_locks_at_once(self) -> None:
        store = self._seeded(TEA=5, CUP=3)
        with store.transaction({"TEA", "CUP"}) as tx:
            tx.append(_lock("TEA", 2, "k1"))
            tx.append(_lock("CUP", 1, "k1"))
            tx.append(_lock("TEA", 1, "k2"))
        found = store.lines_of_locks(["k2", "k1", "nope"])
        assert set(found) == {"k1", "k2"}
        assert tuple(found["k1"]) == tuple(store.lock_lines("k1"))
        assert [line.sku for line in found["k1"]] == ["CUP", "TEA"]
        assert tuple(found["k2"]) == tuple(store.lock_lines("k2"))
        assert store.lines_of_locks([]) == {}
        with store.transaction({"TEA", "CUP"}) as tx:
            inside = tx.lines_of_locks(["k1", "k2", "nope"])
            assert {k: tuple(v) for k, v in inside.items()} == {
                k: tuple(v) for k, v in found.items()
            }
            tx.append(_resolve(EntryKind.RELEASE, "TEA", 1, "k1"))
            (cup, tea) = tx.lines_of_locks(["k1"])["k1"]
            assert (cup.released, tea.released) == (0, 1)
            assert tuple(tx.lock_lines("k1")) == (cup, tea)
        assert store.lines_of_locks(["k1"])["k1"][1].released == 1

    def test_an_exception_inside_a_transaction_writes_nothing(self) -> None:
        store = self._seeded(TEA=5)

        def crash() -> None:
            with store.transaction({"TEA"}) as tx:
                tx.append(_lock("TEA", 2, "k1"))
                raise ValidationError("test", None, "crash in the middle of a batch")

        _refused(ValidationError, crash)
        assert store.balance("TEA") == Balance(5, 0)
        assert store.lock_lines("k1") == ()
        assert [entry.kind for entry in store.entries()] == [EntryKind.RECEIVE]

    def test_a_lock_beyond_available_is_refused_and_the_batch_rolls_back(self) -> None:
        store = self._seeded(TEA=5, CUP=1)

        def oversell() -> None:
            with store.transaction({"CUP", "TEA"}) as tx:
                tx.append(_lock("TEA", 5, "k1"))
                tx.append(_lock("CUP", 2, "k1"))

        error = _refused(InsufficientStock, oversell)
        assert isinstance(error, InsufficientStock)
        assert error.shortages == {"CUP": (2, 1)}
        assert store.balance("TEA") == Balance(5, 0)
        assert store.lock_lines("k1") == ()

    def test_an_adjustment_below_what_is_locked_is_refused(self) -> None:
        store = self._seeded(TEA=5)
        with store.transaction({"TEA"}) as tx:
            tx.append(_lock("TEA", 4, "k1"))

        def shrink() -> None:
            with store.transaction({"TEA"}) as tx:
                tx.append(LedgerEntry(_id(), EntryKind.ADJUST, "TEA", -2, _T0, "c", "count"))

        _refused(InsufficientStock, shrink)
        assert store.balance("TEA") == Balance(5, 4)

    def test_a_lock_line_never_resolves_more_than_it_holds(self) -> None:
        store = self._seeded(TEA=5)
        with store.transaction({"TEA"}) as tx:
            tx.append(_lock("TEA", 3, "k1"))
            tx.append(_resolve(EntryKind.COMMIT, "TEA", 2, "k1"))

        def over() -> None:
            with store.transaction({"TEA"}) as tx:
                tx.append(_resolve(EntryKind.RELEASE, "TEA", 2, "k1"))

        _refused(InvalidLock, over)

        def unknown() -> None:
            with store.transaction({"TEA"}) as tx:
                tx.append(_resolve(EntryKind.RELEASE, "TEA", 1, "nope"))

        _refused(InvalidLock, unknown)
        (line,) = store.lock_lines("k1")
        assert (line.committed, line.released, line.remaining) == (2, 0, 1)
        assert store.balance("TEA") == Balance(3, 1)

    def test_entries_for_undeclared_skus_or_reused_ids_are_refused(self) -> None:
        store = self._seeded(TEA=5)

        def undeclared() -> None:
            with store.transaction({"TEA"}) as tx:
                tx.append(_receive("CUP", 1))

        error = _refused(ValidationError, undeclared)
        assert isinstance(error, ValidationError)
        assert error.path == "entry.sku"
        first = next(iter(store.entries()))

        def reused() -> None:
            with store.transaction({"TEA"}) as tx:
                tx.append(first)

        _refused(ValidationError, reused)
        assert store.balance("TEA") == Balance(5, 0)
        assert store.balance("CUP") == Balance(0, 0)

    def test_lock_lines_are_found_by_lock_and_by_order(self) -> None:
        store = self._seeded(TEA=5, CUP=5)
        with store.transaction({"TEA", "CUP"}) as tx:
            tx.append(_lock("TEA", 2, "k1"))
            tx.append(_lock("CUP", 1, "k1"))
        assert [line.sku for line in store.lock_lines("k1")] == ["CUP", "TEA"]
        assert sorted(line.sku for line in store.lines_of_order("ORD-1")) == ["CUP", "TEA"]
        assert store.lines_of_order("ORD-2") == ()
        assert len(list(store.all_lock_lines())) == 2
        line = store.lock_lines("k1")[1]
        assert line.locked_at == _T0
        assert line.expires_at == _T0 + _TTL

    def test_due_lines_are_open_lines_past_their_expiry(self) -> None:
        store = self._seeded(TEA=9)
        with store.transaction({"TEA"}) as tx:
            for key in ("k1", "k2", "k3"):
                tx.append(_lock("TEA", 1, key))
            tx.append(_resolve(EntryKind.RELEASE, "TEA", 1, "k2"))
        later = _T0 + _TTL
        assert store.due_lines(_T0 + _TTL - timedelta(microseconds=1), 10) == ()
        assert sorted(line.lock_key for line in store.due_lines(later, 10)) == ["k1", "k3"]
        assert len(store.due_lines(later, 1)) == 1
        with store.transaction({"TEA"}) as tx:
            assert sorted(line.lock_key for line in tx.due_lines("TEA", later)) == ["k1", "k3"]
            tx.append(_resolve(EntryKind.EXPIRE, "TEA", 1, "k1", later))
            assert [line.lock_key for line in tx.due_lines("TEA", later)] == ["k3"]
        assert [line.lock_key for line in store.due_lines(later, 10)] == ["k3"]

    def test_a_due_lines_limit_not_a_count_is_refused_naming_it(self) -> None:
        store = self._seeded(TEA=9)
        bads: tuple[Any, ...] = (0, -1, True, "5", 1.5, 2**63)
        for bad in bads:
            error = _refused(ValidationError, functools.partial(store.due_lines, _T0, bad))
            assert (error.path, error.value) == ("limit", bad)

    def test_release_count_counts_releases_since_an_instant(self) -> None:
        store = self._seeded(TEA=9)
        with store.transaction({"TEA"}) as tx:
            tx.append(_lock("TEA", 3, "k1"))
            for minute in range(3):
                at = _T0 + timedelta(minutes=minute)
                tx.append(_resolve(EntryKind.RELEASE, "TEA", 1, "k1", at))
        with store.transaction({"TEA"}) as tx:
            assert tx.release_count("TEA", _T0, 100) == 3
            assert tx.release_count("TEA", _T0 + timedelta(minutes=1), 100) == 2
            assert tx.release_count("TEA", _T0 + timedelta(minutes=3), 100) == 0
            assert tx.release_count("CUP", _T0, 100) == 0
            assert tx.release_count("TEA", _T0, 2) == 2

    def test_a_parked_release_is_pending_until_approved_once(self) -> None:
        store = self._seeded(TEA=9)
        with store.transaction({"TEA"}) as tx:
            tx.append(_lock("TEA", 3, "k1"))
            park = _resolve(EntryKind.PARK, "TEA", 2, "k1")
            tx.append(park)
        assert store.pending_parks() == (park,)
        assert store.pending_park_count() == 1
        assert store.balance("TEA") == Balance(9, 3)
        approve = LedgerEntry(
            _id(), EntryKind.APPROVE, "TEA", 2, _T0, "lead", "approved",
            order_id="ORD-1", lock_key="k1", ref=park.entry_id,
        )
        with store.transaction({"TEA"}) as tx:
            assert tx.approval_of(park.entry_id) is None
            tx.append(approve)
            assert tx.approval_of(park.entry_id) == approve
        assert store.pending_parks() == ()
        assert store.pending_park_count() == 0
        assert store.balance("TEA") == Balance(9, 1)

        def again() -> None:
            with store.transaction({"TEA"}) as tx:
                tx.append(attrs.evolve(approve, entry_id=_id()))

        _refused(ValidationError, again)
        assert store.balance("TEA") == Balance(9, 1)

    def test_a_ledger_over_the_store_tells_the_oversell_story(self) -> None:
        clock = ManualClock(_T0)
        ledger = InventoryLedger(self.create_store(), secret=b"contract-secret-0123", clock=clock)
        ledger.receive("TEA", 10, reference="PO-1")
        first = ledger.lock("A", {"TEA": 10}, ttl=_TTL)
        assert ledger.release(first.lock_id, {"TEA": 3}).outcome == "released"
        ledger.lock("B", {"TEA": 3}, ttl=_TTL)
        _refused(InsufficientStock, lambda: ledger.lock("B", {"TEA": 1}, ttl=_TTL))
        assert ledger.commit(first.lock_id).lines == {"TEA": 7}
        clock.advance(_TTL)
        level = ledger.stock("TEA")
        assert (level.on_hand, level.locked, level.available) == (3, 0, 3)
        assert ledger.verify().ok

    def test_a_crash_after_every_kind_of_entry_leaves_every_read_as_it_was(self) -> None:
        store = self._seeded(TEA=9, CUP=9)
        with store.transaction({"TEA", "CUP"}) as tx:
            tx.append(_lock("TEA", 3, "k1"))
            tx.append(_lock("CUP", 1, "k2", _T0 - _TTL))  # due by _T0
            park = _resolve(EntryKind.PARK, "TEA", 1, "k1")
            tx.append(park)
            tx.append(_resolve(EntryKind.RELEASE, "TEA", 1, "k1"))
        before = _reads(store)

        def crash() -> None:
            with store.transaction({"TEA", "CUP"}) as tx:
                tx.append(_resolve(EntryKind.EXPIRE, "CUP", 1, "k2"))
                tx.append(_lock("TEA", 2, "k3"))
                tx.append(_resolve(EntryKind.RELEASE, "TEA", 1, "k1"))
                tx.append(_resolve(EntryKind.COMMIT, "TEA", 1, "k3"))
                tx.append(
                    LedgerEntry(
                        _id(), EntryKind.APPROVE, "TEA", 1, _T0, "lead", "approved",
                        order_id="ORD-1", lock_key="k1", ref=park.entry_id,
                    )
                )
                tx.append(_receive("CUP", 4))
                assert tx.balance("TEA") == Balance(8, 1)
                raise ValidationError("test", None, "crash after every kind of entry")

        _refused(ValidationError, crash)
        assert _reads(store) == before
        with store.transaction({"TEA"}) as tx:
            assert tx.approval_of(park.entry_id) is None
            assert tx.release_count("TEA", _T0, 100) == 1
        with store.transaction({"CUP"}) as tx:
            assert [line.lock_key for line in tx.due_lines("CUP", _T0)] == ["k2"]

    def test_a_confirm_moves_the_line_expiry_and_the_store_keeps_it(self) -> None:
        store = self._seeded(TEA=5, CUP=5)
        with store.transaction({"TEA", "CUP"}) as tx:
            tx.append(_lock("TEA", 2, "k1"))
            tx.append(_lock("CUP", 1, "k1"))
        with store.transaction({"TEA"}) as tx:
            tx.append(_confirm("TEA", 2, "k1"))
            assert [line.expires_at for line in tx.lock_lines("k1")] == [_T0 + _TTL, NEVER]
            assert tx.due_lines("TEA", _T0 + 2 * _TTL) == ()
            assert tx.balance("TEA") == Balance(5, 2)
        later = _T0 + timedelta(days=400)
        assert [line.expires_at for line in store.lock_lines("k1")] == [_T0 + _TTL, NEVER]
        assert {line.sku: line.expires_at for line in store.lines_of_order("ORD-1")} == {
            "CUP": _T0 + _TTL, "TEA": NEVER
        }
        assert {line.sku: line.expires_at for line in store.all_lock_lines()}["TEA"] == NEVER
        assert [(line.lock_key, line.sku) for line in store.due_lines(later, 10)] == [
            ("k1", "CUP")
        ]
        with store.transaction({"TEA"}) as tx:
            assert tx.due_lines("TEA", later) == ()
        assert store.balance("TEA") == Balance(5, 2)
        assert [entry.kind for entry in store.entries()][-1] is EntryKind.CONFIRM
        assert list(store.entries())[-1].expires_at == NEVER

    def test_a_confirm_of_a_due_partial_or_unknown_line_is_refused(self) -> None:
        store = self._seeded(TEA=5)
        with store.transaction({"TEA"}) as tx:
            tx.append(_lock("TEA", 3, "k1"))
            tx.append(_resolve(EntryKind.RELEASE, "TEA", 1, "k1"))
        before = _reads(store)
        for kind, entry in (
            (InvalidLock, _confirm("TEA", 2, "k1", at=_T0 + _TTL)),  # due: expire it first
            (InvalidLock, _confirm("TEA", 1, "k1")),  # 2 still locked
            (InvalidLock, _confirm("TEA", 2, "nope")),
            (ValidationError, _confirm("TEA", 2, "k1", expires_at=None)),
            (ValidationError, _confirm("TEA", 2, "k1", expires_at=_T0 + timedelta(minutes=1))),
            (ValidationError, _confirm("TEA", 0, "k1")),
        ):

            def append(entry: LedgerEntry = entry) -> None:
                with store.transaction({"TEA"}) as tx:
                    tx.append(entry)

            _refused(kind, append)
        assert _reads(store) == before

    def test_only_a_shipment_of_unlocked_units_may_oversell(self) -> None:
        store = self._seeded(CUP=1)
        with store.transaction({"CUP"}) as tx:
            tx.append(_lock("CUP", 1, "k1"))
        with store.transaction({"CUP"}) as tx:
            tx.append(_ship("CUP", 1))  # another order's expired lock shipped anyway
            assert tx.balance("CUP") == Balance(0, 1)
        assert store.balance("CUP").available == -1
        for entry in (
            _lock("CUP", 1, "k2"),
            LedgerEntry(_id(), EntryKind.ADJUST, "CUP", -1, _T0, "counter", "count"),
        ):

            def append(entry: LedgerEntry = entry) -> None:
                with store.transaction({"CUP"}) as tx:
                    tx.append(entry)

            _refused(InsufficientStock, append)

        def nameless() -> None:
            with store.transaction({"CUP"}) as tx:
                tx.append(_ship("CUP", 1, order_id=None))

        error = _refused(ValidationError, nameless)
        assert isinstance(error, ValidationError)
        assert error.path == "entry.order_id"
        assert store.balance("CUP") == Balance(0, 1)
        with store.transaction({"CUP"}) as tx:
            tx.append(_resolve(EntryKind.COMMIT, "CUP", 1, "k1"))  # the locked unit ships
            assert tx.balance("CUP") == Balance(-1, 0)  # two shipped, one ever received
        assert store.balance("CUP") == Balance(-1, 0)
        assert dict(store.balances()) == {"CUP": Balance(-1, 0)}
        with store.transaction({"CUP"}) as tx:
            tx.append(_receive("CUP", 1))  # still short by nothing: back to zero
        assert store.balance("CUP") == Balance(0, 0)
        assert [entry.kind for entry in store.entries()] == [
            EntryKind.RECEIVE, EntryKind.LOCK, EntryKind.SHIP_UNLOCKED, EntryKind.COMMIT,
            EntryKind.RECEIVE,
        ]

    def test_units_shipped_beyond_a_lock_line_are_counted_on_the_line(self) -> None:
        store = self._seeded(TEA=9)
        with store.transaction({"TEA"}) as tx:
            tx.append(_lock("TEA", 2, "k1"))
            tx.append(_resolve(EntryKind.COMMIT, "TEA", 2, "k1"))
            tx.append(_ship("TEA", 3, lock_key="k1", order_id="ORD-1"))
            (line,) = tx.lock_lines("k1")
            assert (line.committed, line.shipped_unlocked, line.remaining) == (2, 3, 0)
        (line,) = store.lock_lines("k1")
        assert (line.committed, line.shipped_unlocked, line.remaining) == (2, 3, 0)
        assert store.balance("TEA") == Balance(4, 0)

        def unknown() -> None:
            with store.transaction({"TEA"}) as tx:
                tx.append(_ship("TEA", 1, lock_key="nope"))

        _refused(InvalidLock, unknown)

        # Units taken back from those (``UNSHIP_UNLOCKED`` naming the lock) come off
        # the line's count, never more than it counts.
        def back(qty: int, lock_key: str = "k1") -> None:
            with store.transaction({"TEA"}) as tx:
                tx.append(LedgerEntry(
                    _id(), EntryKind.UNSHIP_UNLOCKED, "TEA", qty, _T0, "warehouse",
                    "not shipped", order_id="ORD-1", lock_key=lock_key,
                ))

        back(2)
        (line,) = store.lock_lines("k1")
        assert (line.committed, line.shipped_unlocked, line.remaining) == (2, 1, 0)
        assert store.balance("TEA") == Balance(6, 0)
        _refused(InvalidLock, lambda: back(2))
        _refused(InvalidLock, lambda: back(1, "nope"))
        assert store.balance("TEA") == Balance(6, 0)

    def test_shipped_and_restocked_is_read_per_order_and_sku_with_the_transaction(
        self,
    ) -> None:
        store = self._seeded(TEA=9, CUP=9)
        with store.transaction({"TEA", "CUP"}) as tx:
            tx.append(_lock("TEA", 3, "k1"))
            tx.append(_resolve(EntryKind.COMMIT, "TEA", 2, "k1"))
            tx.append(_ship("TEA", 1, lock_key="k1", order_id="ORD-1"))
            tx.append(_ship("CUP", 2, lock_key=None, order_id="ORD-2"))
            assert dict(tx.shipped_and_restocked(["ORD-1", "ORD-9"])) == {("ORD-1", "TEA"): (3, 0)}
            tx.append(LedgerEntry(
                _id(), EntryKind.RESTOCK, "TEA", 2, _T0, "shop", "return", order_id="ORD-1",
            ))
            assert dict(tx.shipped_and_restocked(["ORD-1", "ORD-2"])) == {
                ("ORD-1", "TEA"): (3, 2), ("ORD-2", "CUP"): (2, 0),
            }
        with store.transaction({"TEA"}) as tx:
            assert dict(tx.shipped_and_restocked(["ORD-1"])) == {("ORD-1", "TEA"): (3, 2)}
            assert dict(tx.shipped_and_restocked(["ORD-3"])) == {}

    def test_an_uncommit_locks_committed_units_again_and_the_order_shipped_fewer(
        self,
    ) -> None:
        store = self.create_store()
        ledger = InventoryLedger(store, secret=b"contract-secret-0123", clock=ManualClock(_T0))
        ledger.receive("TEA", 5, reference="PO-1")
        lock = ledger.lock("ORD-1", {"TEA": 3}, ttl=_TTL)
        ledger.confirm(lock.lock_id)
        ledger.commit(lock.lock_id, ref="scan-1")  # a scan assumed all three left

        def level() -> tuple[int, int, int]:
            stock = ledger.stock("TEA")
            return stock.on_hand, stock.locked, stock.available

        result = ledger.uncommit(lock.lock_id, {"TEA": 1}, order_id="ORD-1", ref="ship-1")
        assert (result.outcome, result.lines) == ("uncommitted", {"TEA": 1})
        assert level() == (3, 1, 2)
        assert ledger.uncommit(lock.lock_id, {"TEA": 1}, ref="ship-1").outcome == (
            "already_applied")
        (line,) = store.lines_of_order("ORD-1")
        assert (line.committed, line.remaining, line.expires_at) == (2, 1, NEVER)
        with store.transaction({"TEA"}) as tx:
            assert dict(tx.shipped_and_restocked(["ORD-1"])) == {("ORD-1", "TEA"): (2, 0)}
        before = ledger.entries()
        refusal = _refused(UnshipExceedsShipment,
                           lambda: ledger.uncommit(lock.lock_id, {"TEA": 3}, ref="ship-2"))
        assert (refusal.shipped, refusal.units) == (2, 3) and ledger.entries() == before
        assert ledger.verify({"ORD-1": {"TEA": 2}}).ok
        (applied,) = ledger.apply_many([StockCall("uncommit", lock.lock_id, {"TEA": 1},
                                                  "ORD-1", "ship-3")])
        assert not isinstance(applied, OrderkitError) and level() == (4, 2, 2)
        ledger.commit(lock.lock_id, {"TEA": 2}, ref="ship-4")  # the second parcel
        assert level() == (2, 0, 2)
        assert ledger.verify({"ORD-1": {"TEA": 3}}).ok

    def test_an_uncommit_takes_back_units_its_lock_shipped_unlocked_or_never_held(
        self,
    ) -> None:
        """The reverse of the commit: units the lock committed are locked again, units
        it shipped after its lock expired (or beyond what it held) and units of a SKU
        shipped without the lock come back on hand, bounded by what the order shipped."""
        store = self.create_store()
        clock = ManualClock(_T0)
        ledger = InventoryLedger(store, secret=b"contract-secret-0123", clock=clock)
        ledger.receive("TEA", 5, reference="PO-1")
        ledger.receive("CUP", 5, reference="PO-2")
        expired = ledger.lock("ORD-1", {"TEA": 3}, ttl=_TTL)
        clock.advance(_TTL + timedelta(minutes=1))  # the scan came after the lock lapsed
        assert ledger.commit(expired.lock_id, {"TEA": 3}, ref="scan-1").unlocked == {"TEA": 3}
        result = ledger.uncommit(expired.lock_id, {"TEA": 3}, order_id="ORD-1", ref="ship-1")
        assert (result.outcome, result.lines, result.unlocked) == (
            "uncommitted", {"TEA": 3}, {"TEA": 3})
        stock = ledger.stock("TEA")
        assert (stock.on_hand, stock.locked, stock.available) == (5, 0, 5)
        assert ledger.uncommit(expired.lock_id, {"TEA": 3}, ref="ship-1").outcome == (
            "already_applied")
        assert ledger.stock("TEA").on_hand == 5

        # Two held, three shipped: two locked again, one back on hand; and a SKU the
        # order shipped without its lock (a placement that shipped it) comes back too.
        lock = ledger.lock("ORD-2", {"TEA": 2}, ttl=_TTL)
        ledger.confirm(lock.lock_id)
        ledger.commit(lock.lock_id, {"TEA": 3}, ref="scan-2")
        ledger.ship({"CUP": 2}, order_id="ORD-2", ref="sale-2")
        before = ledger.entries()
        refusal = _refused(UnshipExceedsShipment, lambda: ledger.uncommit(
            lock.lock_id, {"TEA": 4}, ref="ship-2"))
        assert (refusal.sku, refusal.shipped, refusal.units) == ("TEA", 3, 4)
        assert ledger.entries() == before
        (applied,) = ledger.apply_many([StockCall(
            "uncommit", lock.lock_id, {"TEA": 3, "CUP": 1}, "ORD-2", "ship-3")])
        assert not isinstance(applied, OrderkitError)
        assert (applied.lines, applied.unlocked) == ({"CUP": 1, "TEA": 3}, {"CUP": 1, "TEA": 1})
        tea, cup = ledger.stock("TEA"), ledger.stock("CUP")
        assert (tea.on_hand, tea.locked, tea.available) == (5, 2, 3)
        assert (cup.on_hand, cup.locked, cup.available) == (4, 0, 4)
        assert ledger.verify({"ORD-1": {"TEA": 0}, "ORD-2": {"CUP": 1}}).ok

    def _scanned_after_its_lock_lapsed(self) -> tuple[InventoryStore, InventoryLedger, str]:
        """A paid order whose lock lapsed before its payment's confirm reached the
        ledger: a carrier scan shipped its three open units (none locked any more), and
        the warehouse's ``ship`` of that parcel named one, so two are open again."""
        store = self.create_store()
        clock = ManualClock(_T0)
        ledger = InventoryLedger(store, secret=b"contract-secret-0123", clock=clock)
        ledger.receive("TEA", 5, reference="PO-1")
        lock = ledger.lock("ORD-1", {"TEA": 3}, ttl=_TTL)
        clock.advance(_TTL + timedelta(minutes=10))  # lapsed; the confirm is late
        scan = ledger.commit(lock.lock_id, order_id="ORD-1", ref="scan-1")
        assert (scan.lines, scan.unlocked) == ({"TEA": 3}, {"TEA": 3})
        back = ledger.uncommit(lock.lock_id, {"TEA": 2}, order_id="ORD-1", ref="ship-1")
        assert back.unlocked == {"TEA": 2}
        (line,) = store.lines_of_order("ORD-1")
        # Taken back from the count they were shipped in: one unit left unlocked.
        assert (line.committed, line.shipped_unlocked, line.expired) == (0, 1, 3)
        return store, ledger, lock.lock_id

    def test_a_late_payment_holds_the_units_an_uncommit_gave_back_and_the_rest_ships(
        self,
    ) -> None:
        """The payment was made while the lock held: applied late, it locks the two
        units open again (not the one that left), and the second parcel ships them."""
        store, ledger, lock_id = self._scanned_after_its_lock_lapsed()
        paid = ledger.confirm(lock_id, ref="pay-1", at=_T0 + timedelta(minutes=10))
        assert (paid.outcome, paid.lines, paid.lapsed) == ("confirmed", {"TEA": 2}, {})
        stock = ledger.stock("TEA")
        assert (stock.on_hand, stock.locked, stock.available) == (4, 2, 2)
        assert ledger.verify({"ORD-1": {"TEA": 1}}).ok
        rest = ledger.commit(lock_id, ref="ship-2")  # what the order has open
        assert (rest.outcome, rest.lines, rest.unlocked) == ("committed", {"TEA": 2}, {})
        stock = ledger.stock("TEA")
        assert (stock.on_hand, stock.locked, stock.available) == (5 - 3, 0, 2)
        (line,) = store.lines_of_order("ORD-1")
        assert (line.committed, line.shipped_unlocked, line.remaining) == (2, 1, 0)
        assert ledger.verify({"ORD-1": {"TEA": 3}}).ok

    def test_a_cancel_of_the_units_an_uncommit_gave_back_lets_go_of_them(self) -> None:
        """Unpaid, the two units open again are cancelled: the lock lets go of them (no
        stock moves: they were not locked), so a payment replayed later holds nothing;
        or, paid late first, the cancel releases what the payment held again."""
        store, ledger, lock_id = self._scanned_after_its_lock_lapsed()
        ledger.commit(lock_id, ref="ship-2")  # nothing left to ship but the two
        stock = ledger.stock("TEA")
        assert (stock.on_hand, stock.locked) == (2, 0)
        assert ledger.verify({"ORD-1": {"TEA": 3}}).ok

        store, ledger, lock_id = self._scanned_after_its_lock_lapsed()
        cancel = ledger.release(lock_id, ref="cancel-1")
        assert cancel.outcome == "expired"
        (line,) = store.lines_of_order("ORD-1")
        assert (line.released, line.expired, line.shipped_unlocked) == (2, 1, 1)
        late = ledger.confirm(lock_id, ref="pay-1", at=_T0 + timedelta(minutes=10))
        assert (late.lines, late.lapsed) == ({}, {})
        stock = ledger.stock("TEA")
        assert (stock.on_hand, stock.locked, stock.available) == (4, 0, 4)
        assert ledger.verify({"ORD-1": {"TEA": 1}}).ok

        store, ledger, lock_id = self._scanned_after_its_lock_lapsed()
        ledger.confirm(lock_id, ref="pay-1", at=_T0 + timedelta(minutes=10))
        cancel = ledger.release(lock_id, ref="cancel-1")
        assert (cancel.outcome, cancel.lines) == ("released", {"TEA": 2})
        stock = ledger.stock("TEA")
        assert (stock.on_hand, stock.locked, stock.available) == (4, 0, 4)
        assert ledger.verify({"ORD-1": {"TEA": 1}}).ok

    def test_an_unship_puts_units_a_lockless_ship_booked_back_on_hand(self) -> None:
        store = self.create_store()
        ledger = InventoryLedger(store, secret=b"contract-secret-0123", clock=ManualClock(_T0))
        ledger.receive("TEA", 5, reference="PO-1")
        ledger.ship({"TEA": 3}, order_id="ORD-1", ref="scan-1")  # a scan assumed all three

        result = ledger.unship({"TEA": 1}, order_id="ORD-1", ref="ship-1")
        assert (result.outcome, result.lines) == ("unshipped", {"TEA": 1})
        stock = ledger.stock("TEA")
        assert (stock.on_hand, stock.locked, stock.available) == (3, 0, 3)
        assert ledger.unship({"TEA": 1}, order_id="ORD-1", ref="ship-1").outcome == (
            "already_applied")
        with store.transaction({"TEA"}) as tx:
            assert dict(tx.shipped_and_restocked(["ORD-1"])) == {("ORD-1", "TEA"): (2, 0)}
        before = ledger.entries()
        refusal = _refused(UnshipExceedsShipment, lambda: ledger.unship(
            {"TEA": 3}, order_id="ORD-1", ref="ship-2"))
        assert (refusal.shipped, refusal.units) == (2, 3) and ledger.entries() == before
        (applied,) = ledger.apply_many([StockCall("unship", None, {"TEA": 1}, "ORD-1",
                                                  "ship-3")])
        assert not isinstance(applied, OrderkitError) and ledger.stock("TEA").on_hand == 4
        ledger.ship({"TEA": 2}, order_id="ORD-1", ref="ship-4")  # the second parcel
        assert ledger.stock("TEA").on_hand == 2
        assert ledger.verify({"ORD-1": {"TEA": 3}}).ok

    def test_verify_reports_an_order_restocked_beyond_what_it_shipped(self) -> None:
        store = self._seeded(CUP=5)
        _append(store, _ship("CUP", 1, order_id="ORD-2"))
        _append(store, LedgerEntry(  # written before restocks were bounded
            _id(), EntryKind.RESTOCK, "CUP", 2, _T0, "shop", "return", order_id="ORD-2",
        ))
        ledger = InventoryLedger(store, secret=b"contract-secret-0123", clock=ManualClock(_T0))
        report = ledger.verify()
        assert report.problems == ("order ORD-2: CUP restocked 2, more than the 1 it shipped",)
        assert not report.ok and report.drifts == ()
        # The unit had left before the ledger knew of it: booking that shipment mends it.
        ledger.record_shipped({"CUP": 1}, order_id="ORD-2", ref="before-the-ledger")
        assert ledger.verify().ok and ledger.stock("CUP").on_hand == 6

    def test_verify_reports_an_order_unrecorded_beyond_what_it_recorded(self) -> None:
        store = self._seeded(CUP=5)
        _append(store, LedgerEntry(  # appended by hand: the ledger would refuse it
            _id(), EntryKind.UNRECORD_SHIPPED, "CUP", 2, _T0, "shop", "not shipped",
            order_id="ORD-2",
        ))
        assert store.balance("CUP") == Balance(3, 0)
        report = InventoryLedger(
            store, secret=b"contract-secret-0123", clock=ManualClock(_T0)
        ).verify()
        assert report.problems == (
            "order ORD-2: CUP taken back from its records 2 more than they recorded as"
            " shipped before the stock count",
        )
        assert not report.ok and report.drifts == ()

        def locked() -> None:  # the receipt it takes back names the order, never a lock
            with store.transaction({"CUP"}) as tx:
                tx.append(LedgerEntry(
                    _id(), EntryKind.UNRECORD_SHIPPED, "CUP", 1, _T0, "shop", "x",
                    order_id="ORD-2", lock_key="k1",
                ))

        assert _refused(ValidationError, locked).path == "entry.order_id"

    def test_a_restock_for_an_order_that_never_shipped_is_refused_and_writes_nothing(
        self,
    ) -> None:
        ledger = InventoryLedger(
            self.create_store(), secret=b"contract-secret-0123", clock=ManualClock(_T0)
        )
        ledger.receive("CUP", 1, reference="PO-1")
        before = ledger.entries()
        refusal = _refused(
            RestockExceedsShipment,
            lambda: ledger.restock({"CUP": 500}, order_id="NEVER-SHIPPED", ref="ret-1"),
        )
        assert isinstance(refusal, RestockExceedsShipment)
        assert (refusal.order_id, refusal.sku, refusal.units) == ("NEVER-SHIPPED", "CUP", 500)
        assert (refusal.shipped, refusal.restocked) == (0, 0)
        assert "CUP" in str(refusal) and "500" in str(refusal)
        assert ledger.entries() == before
        assert ledger.stock("CUP").on_hand == 1
        assert ledger.verify().ok

    def test_an_order_restocks_at_most_what_it_shipped_less_what_came_back(self) -> None:
        ledger = InventoryLedger(
            self.create_store(), secret=b"contract-secret-0123", clock=ManualClock(_T0)
        )
        ledger.receive("CUP", 5, reference="PO-1")
        ledger.receive("TEA", 5, reference="PO-1")
        lock = ledger.lock("A", {"CUP": 2, "TEA": 1}, ttl=_TTL)
        ledger.commit(lock.lock_id, {"CUP": 3, "TEA": 1})  # one CUP shipped unlocked
        other = ledger.lock("B", {"CUP": 1}, ttl=_TTL)
        ledger.commit(other.lock_id)
        assert ledger.restock({"CUP": 2}, order_id="A", ref="r1").outcome == "restocked"
        # Another order's shipment is not this order's: 1 CUP is left for A.
        refusal = _refused(
            RestockExceedsShipment,
            lambda: ledger.restock({"CUP": 2, "TEA": 1}, order_id="A", ref="r2"),
        )
        assert isinstance(refusal, RestockExceedsShipment)
        assert (refusal.sku, refusal.units, refusal.shipped, refusal.restocked) == (
            "CUP", 2, 3, 2,
        )
        assert ledger.stock("TEA").on_hand == 4  # nothing of the refused call was written
        assert ledger.restock({"CUP": 1, "TEA": 1}, order_id="A", ref="r2").outcome == (
            "restocked"
        )
        assert ledger.restock({"CUP": 1, "TEA": 1}, order_id="A", ref="r2").outcome == (
            "already_applied"
        )
        _refused(
            RestockExceedsShipment, lambda: ledger.restock({"TEA": 1}, order_id="A", ref="r3")
        )
        assert ledger.stock("CUP").on_hand == 5 - 3 - 1 + 3
        assert ledger.verify().ok

    def test_a_batch_restocks_what_its_own_commits_shipped_and_refuses_the_rest(self) -> None:
        ledger = InventoryLedger(
            self.create_store(), secret=b"contract-secret-0123", clock=ManualClock(_T0)
        )
        ledger.receive("CUP", 5, reference="PO-1")
        lock = ledger.lock("A", {"CUP": 2}, ttl=_TTL)
        results = ledger.apply_many([
            StockCall("restock", None, {"CUP": 1}, "A", "m1"),  # nothing shipped yet
            StockCall("commit", lock.lock_id, None, "A", "m2"),
            StockCall("restock", None, {"CUP": 1}, "A", "m3"),
            StockCall("restock", None, {"CUP": 2}, "A", "m4"),  # only 1 more was shipped
            StockCall("restock", None, {"CUP": 1}, "A", "m5"),
        ])
        assert isinstance(results[0], RestockExceedsShipment)
        assert isinstance(results[3], RestockExceedsShipment)
        assert (results[3].units, results[3].shipped, results[3].restocked) == (2, 2, 1)
        assert [getattr(r, "outcome", None) for r in results] == [
            None, "committed", "restocked", None, "restocked",
        ]
        assert ledger.stock("CUP").on_hand == 5
        assert ledger.verify().ok

    def test_units_shipped_without_a_lock_leave_stock_once_and_may_come_back(self) -> None:
        ledger = InventoryLedger(
            self.create_store(), secret=b"contract-secret-0123", clock=ManualClock(_T0)
        )
        ledger.receive("CUP", 3, reference="PO-1")
        shipped = ledger.ship({"CUP": 2}, order_id="POS-1", ref="pos-1:ship")
        assert (shipped.outcome, dict(shipped.lines), dict(shipped.oversold)) == (
            "committed", {"CUP": 2}, {},
        )
        assert ledger.ship({"CUP": 2}, order_id="POS-1", ref="pos-1:ship").outcome == (
            "already_applied"
        )
        assert ledger.stock("CUP").on_hand == 1
        # Short of stock: the shipment is a fact, booked and reported as oversold.
        short = ledger.ship({"CUP": 3}, order_id="POS-2", ref="pos-2:ship")
        assert dict(short.oversold) == {"CUP": 2}
        assert ledger.ship({"CUP": 3}, order_id="POS-2", ref="pos-2:ship").oversold == {
            "CUP": 2
        }
        assert [o.units for o in ledger.verify().oversold] == [2]
        assert ledger.restock({"CUP": 2}, order_id="POS-1", ref="r1").outcome == "restocked"
        _refused(
            RestockExceedsShipment, lambda: ledger.restock({"CUP": 1}, order_id="POS-1", ref="r2")
        )
        assert ledger.stock("CUP").on_hand == 3 - 2 - 3 + 2
        report = ledger.verify(shipped={"POS-1": {"CUP": 2}, "POS-2": {"CUP": 3}})
        assert (report.drifts, report.problems, report.mismatches) == ((), (), ())

    def test_units_shipped_before_the_count_are_recorded_without_leaving_stock_again(
        self,
    ) -> None:
        ledger = InventoryLedger(
            self.create_store(), secret=b"contract-secret-0123", clock=ManualClock(_T0)
        )
        ledger.receive("CUP", 5, reference="opening count")
        history = ledger.record_shipped({"CUP": 4}, order_id="OLD-1", ref="old-1:ship")
        assert (history.outcome, dict(history.lines)) == ("recorded", {"CUP": 4})
        assert ledger.record_shipped(
            {"CUP": 4}, order_id="OLD-1", ref="old-1:ship"
        ).outcome == "already_applied"
        assert ledger.stock("CUP").on_hand == 5
        # An order locked at go-live whose shipment turns out to predate the count:
        # its lock lets go of the units, and on_hand still does not move.
        lock = ledger.lock("OLD-2", {"CUP": 2}, ttl=_TTL)
        with_lock = ledger.record_shipped(
            {"CUP": 3}, order_id="OLD-2", ref="old-2:ship", lock_id=lock.lock_id
        )
        assert (with_lock.outcome, dict(with_lock.unlocked)) == ("recorded", {"CUP": 1})
        level = ledger.stock("CUP")
        assert (level.on_hand, level.locked, level.available) == (5, 0, 5)
        assert ledger.restock({"CUP": 4}, order_id="OLD-1", ref="r1").outcome == "restocked"
        assert ledger.restock({"CUP": 3}, order_id="OLD-2", ref="r2").outcome == "restocked"
        _refused(
            RestockExceedsShipment, lambda: ledger.restock({"CUP": 1}, order_id="OLD-1", ref="r3")
        )
        assert ledger.stock("CUP").on_hand == 12
        # On a SKU oversold already, a shipment before the count changes nothing and
        # reports no oversell of its own.
        ledger.ship({"CUP": 14}, order_id="NEW-1", ref="new-1:ship")
        assert ledger.record_shipped(
            {"CUP": 1}, order_id="OLD-3", ref="old-3:ship"
        ).oversold == {}
        assert (ledger.stock("CUP").available, ledger.verify().oversold[0].units) == (-2, 2)
        report = ledger.verify(shipped={"OLD-1": {"CUP": 4}, "OLD-2": {"CUP": 3}})
        assert report.mismatches == () and report.problems == ()
        before = ledger.entries()
        for bad in (
            lambda: ledger.record_shipped({}, order_id="OLD-3", ref="x"),
            lambda: ledger.record_shipped({"CUP": 1}, order_id="", ref="x"),
            lambda: ledger.ship({"CUP": 0}, order_id="OLD-3", ref="x"),
            lambda: ledger.ship({"CUP": 1}, order_id="OLD-3", ref=""),
        ):
            _refused(ValidationError, bad)
        assert ledger.entries() == before  # a refused call writes nothing

    def test_units_recorded_before_the_count_that_never_left_are_taken_back(self) -> None:
        """A carrier scan dated before the stock count recorded every open unit as
        shipped; the warehouse's ``ship`` of the parcel named fewer. The others were on
        the shelf when it was counted: the record of them is taken back (without a
        lock, on_hand does not move; with the order's lock, it holds them again), at
        most what the order recorded, once per ``ref``."""
        store = self.create_store()
        ledger = InventoryLedger(store, secret=b"contract-secret-0123", clock=ManualClock(_T0))
        ledger.receive("TEA", 10, reference="opening count")

        def level() -> tuple[int, int, int]:
            stock = ledger.stock("TEA")
            return stock.on_hand, stock.locked, stock.available

        ledger.record_shipped({"TEA": 3}, order_id="OLD-1", ref="scan-1")
        back = ledger.unrecord_shipped({"TEA": 2}, order_id="OLD-1", ref="ship-1")
        assert (back.outcome, back.lines, back.unlocked, back.oversold) == (
            "unrecorded", {"TEA": 2}, {"TEA": 2}, {})
        assert level() == (10, 0, 10)  # counted once: on the shelf at the count
        assert ledger.unrecord_shipped({"TEA": 2}, order_id="OLD-1", ref="ship-1").outcome == (
            "already_applied")
        with store.transaction({"TEA"}) as tx:
            assert dict(tx.recorded_shipped(["OLD-1", "OLD-9"])) == {("OLD-1", "TEA"): 1}
            assert dict(tx.shipped_and_restocked(["OLD-1"])) == {("OLD-1", "TEA"): (1, 0)}
        before = ledger.entries()
        refusal = _refused(UnrecordExceedsRecord, lambda: ledger.unrecord_shipped(
            {"TEA": 2}, order_id="OLD-1", ref="ship-2"))
        assert (refusal.order_id, refusal.sku, refusal.units, refusal.recorded) == (
            "OLD-1", "TEA", 2, 1)
        assert "TEA" in str(refusal) and ledger.entries() == before
        assert ledger.verify({"OLD-1": {"TEA": 1}}).ok
        ledger.ship({"TEA": 2}, order_id="OLD-1", ref="ship-3")  # they leave now
        assert level() == (8, 0, 8)
        assert ledger.verify({"OLD-1": {"TEA": 3}}).ok

        # The order's lock let go of them when they were recorded: it holds them again.
        lock = ledger.lock("OLD-2", {"TEA": 3}, ttl=_TTL)
        ledger.confirm(lock.lock_id)
        ledger.record_shipped({"TEA": 3}, order_id="OLD-2", ref="scan-4", lock_id=lock.lock_id)
        assert level() == (8, 0, 8)
        (applied,) = ledger.apply_many([StockCall(
            "unrecord_shipped", lock.lock_id, {"TEA": 2}, "OLD-2", "ship-4")])
        assert not isinstance(applied, OrderkitError)
        assert (applied.outcome, applied.lines, applied.unlocked) == (
            "unrecorded", {"TEA": 2}, {})
        assert level() == (8, 2, 6)
        (line,) = store.lines_of_order("OLD-2")
        assert (line.committed, line.remaining, line.expires_at) == (1, 2, NEVER)
        assert ledger.verify({"OLD-2": {"TEA": 1}}).ok
        ledger.commit(lock.lock_id, {"TEA": 2}, ref="ship-5")  # the second parcel
        assert level() == (6, 0, 6)
        assert ledger.verify({"OLD-1": {"TEA": 3}, "OLD-2": {"TEA": 3}}).ok

        # Only units recorded before the count: a shipment after it is no record.
        ledger.ship({"TEA": 1}, order_id="NEW-1", ref="ship-6")
        before = ledger.entries()
        refusal = _refused(UnrecordExceedsRecord, lambda: ledger.unrecord_shipped(
            {"TEA": 1}, order_id="NEW-1", ref="ship-7"))
        assert refusal.recorded == 0 and ledger.entries() == before
        for bad in (
            lambda: ledger.unrecord_shipped({}, order_id="OLD-1", ref="x"),
            lambda: ledger.unrecord_shipped({"TEA": 1}, order_id="", ref="x"),
            lambda: ledger.unrecord_shipped({"TEA": 1}, order_id="OLD-1", ref=""),
        ):
            _refused(ValidationError, bad)
        _refused(InvalidLock, lambda: ledger.unrecord_shipped(
            {"TEA": 1}, order_id="OLD-1", ref="x", lock_id=lock.lock_id))
        assert ledger.entries() == before and ledger.verify().ok

    def test_units_taken_back_from_a_record_that_another_order_holds_now_oversell(
        self,
    ) -> None:
        """The record let the lock go, and another order locked the units meanwhile: the
        units go back to their order all the same (they were sold to it first), and the
        shortfall is reported as an oversell, kept for a retry to report again."""
        ledger = InventoryLedger(
            self.create_store(), secret=b"contract-secret-0123", clock=ManualClock(_T0)
        )
        ledger.receive("TEA", 3, reference="opening count")
        first = ledger.lock("A", {"TEA": 3}, ttl=_TTL)
        ledger.record_shipped({"TEA": 3}, order_id="A", ref="scan-1", lock_id=first.lock_id)
        ledger.lock("B", {"TEA": 3}, ttl=_TTL)
        back = ledger.unrecord_shipped({"TEA": 2}, order_id="A", ref="ship-1",
                                       lock_id=first.lock_id)
        assert (back.outcome, back.oversold) == ("unrecorded", {"TEA": 2})
        stock = ledger.stock("TEA")
        assert (stock.on_hand, stock.locked, stock.available) == (3, 5, -2)
        again = ledger.unrecord_shipped({"TEA": 2}, order_id="A", ref="ship-1",
                                        lock_id=first.lock_id)
        assert (again.outcome, again.oversold) == ("already_applied", {"TEA": 2})
        report = ledger.verify({"A": {"TEA": 1}})
        assert (report.drifts, report.problems, report.mismatches) == ((), (), ())
        assert [(o.sku, o.units) for o in report.oversold] == [("TEA", 2)]

    def test_a_ledger_over_the_store_tells_the_late_shipment_story(self) -> None:
        clock = ManualClock(_T0)
        ledger = InventoryLedger(self.create_store(), secret=b"contract-secret-0123", clock=clock)
        ledger.receive("CUP", 1, reference="PO-1")
        late = ledger.lock("A", {"CUP": 1}, ttl=_TTL)
        clock.advance(timedelta(hours=25))
        other = ledger.lock("B", {"CUP": 1}, ttl=_TTL)  # A's lock expired: B gets the cup
        assert ledger.commit(other.lock_id, order_id="B").oversold == {}
        shipped = ledger.commit(late.lock_id, {"CUP": 1}, order_id="A", ref="ship-A")
        assert (shipped.outcome, shipped.lines) == ("committed", {"CUP": 1})
        assert (shipped.unlocked, shipped.oversold) == ({"CUP": 1}, {"CUP": 1})
        again = ledger.commit(late.lock_id, {"CUP": 1}, order_id="A", ref="ship-A")
        assert (again.outcome, again.lines) == ("already_applied", {})
        level = ledger.stock("CUP")
        assert (level.on_hand, level.locked, level.available) == (-1, 0, -1)
        report = ledger.verify()
        assert not report.ok
        assert (report.drifts, report.problems) == ((), ())
        assert [(o.sku, o.units, o.on_hand) for o in report.oversold] == [("CUP", 1, -1)]
        assert ledger.verify({"A": {"CUP": 1}, "B": {"CUP": 1}}).mismatches == ()
        (mismatch,) = ledger.verify({"A": {"CUP": 2}, "B": {"CUP": 1}}).mismatches
        assert (mismatch.order_id, mismatch.sku, mismatch.shipped, mismatch.committed) == (
            "A", "CUP", 2, 1
        )
        ledger.receive("CUP", 1, reference="PO-2")
        assert ledger.verify({"A": {"CUP": 1}, "B": {"CUP": 1}}).ok

    def test_a_confirmed_lock_outlives_its_ttl_and_a_lapsed_one_is_reported(self) -> None:
        clock = ManualClock(_T0)
        ledger = InventoryLedger(self.create_store(), secret=b"contract-secret-0123", clock=clock)
        ledger.receive("TEA", 5, reference="PO-1")
        ledger.receive("CUP", 5, reference="PO-1")
        paid = ledger.lock("A", {"TEA": 2, "CUP": 1}, ttl=_TTL)
        result = ledger.confirm(paid.lock_id, order_id="A", ref="pay-A")
        assert (result.outcome, result.lines, result.lapsed) == (
            "confirmed", {"CUP": 1, "TEA": 2}, {}
        )
        assert ledger.confirm(paid.lock_id, ref="pay-A").outcome == "already_applied"
        assert ledger.confirm(paid.lock_id).outcome == "already_confirmed"
        _refused(InvalidLock, lambda: ledger.confirm(paid.lock_id, order_id="B"))
        clock.advance(timedelta(days=3))
        assert ledger.expire_due() == 0
        assert ledger.stock("TEA").locked == 2
        assert [line.expires_at for line in ledger.occupancy("A")] == [NEVER, NEVER]
        unpaid = ledger.lock("B", {"TEA": 3}, ttl=_TTL)
        clock.advance(_TTL)
        lapsed = ledger.confirm(unpaid.lock_id)
        assert (lapsed.outcome, lapsed.lines, lapsed.lapsed) == ("lapsed", {}, {"TEA": 3})
        assert ledger.commit(paid.lock_id).lines == {"CUP": 1, "TEA": 2}
        assert ledger.verify().ok

    def test_random_ledger_operations_keep_every_balance_invariant(self) -> None:
        """Seeded random stories through the ledger: the invariants hold after each step.

        The stories lock, release, confirm (also late: applied after the lock expired,
        judged at a payment made while it held, so units are locked again or lapse),
        commit (also after expiry or release, and more than was locked, so SKUs get
        oversold), uncommit, ship and unship without a lock, record and unrecord
        shipments before the count, adjust, expire, restock and approve.
        """
        kinds: set[EntryKind] = set()
        oversold = False
        for seed in range(3):
            rng = random.Random(seed)
            clock = ManualClock(_T0)
            ledger = InventoryLedger(
                self.create_store(), secret=b"contract-secret-0123", clock=clock,
                release_limit=2, release_window=timedelta(minutes=30), expiry_batch=2,
            )
            locks: list[InventoryLock] = []
            for step in range(120):
                _random_step(ledger, clock, rng, locks)
                oversold |= _assert_invariants(ledger, f"seed {seed}, step {step}")
            kinds.update(entry.kind for entry in ledger.entries())
        assert kinds == set(EntryKind), f"the stories never wrote {set(EntryKind) - kinds}"
        assert oversold, "the stories never oversold a SKU"


_SKUS = ("CUP", "POT", "TEA")


def _reads(store: InventoryStore) -> tuple[object, ...]:
    """Everything a reader outside a transaction can see of ``store``."""
    return (
        tuple(store.entries()),
        tuple(sorted(store.balances().items())),
        tuple(sorted(store.all_lock_lines(), key=lambda line: (line.lock_key, line.sku))),
        tuple(store.pending_parks()),
        store.pending_park_count(),
        tuple(store.due_lines(_T0 + _TTL, 100)),
        tuple(store.lines_of_order("ORD-1")),
    )


def _random_step(
    ledger: InventoryLedger, clock: ManualClock, rng: random.Random,
    locks: list[InventoryLock],
) -> None:
    roll = rng.random()
    try:
        if roll < 0.15:
            sku, qty = rng.choice(_SKUS), rng.randint(1, 6)
            order = f"ORD-{qty % 3 + 1}"
            if roll < 0.02:  # a return: a retried message (same ref) restocks once; an
                # order returns at most what it shipped, so some are refused
                ledger.restock({sku: 1}, order_id=order, ref=f"return-{order}-{sku}-{qty}")
            elif roll < 0.03:  # a sale handed over with no lock (retried: shipped once)
                ledger.ship({sku: qty}, order_id=order, ref=f"pos-{order}-{sku}-{qty}")
                if qty % 2:  # a scan assumed a unit that never left: taken back once
                    # (retried: same ref), or refused when the order has none out
                    ledger.unship({sku: 1}, order_id=order, ref=f"unship-{order}-{sku}-{qty}")
            elif roll < 0.04:  # a shipment that predates the stock count
                held = rng.choice(locks).lock_id if locks and roll < 0.035 else None
                with contextlib.suppress(InvalidLock):  # the lock is another order's
                    ledger.record_shipped({sku: 1}, order_id=order, lock_id=held,
                                          ref=f"old-{order}-{sku}-{qty}")
                    if qty % 2:  # a scan before the count assumed a unit that never
                        # left: taken back once (retried: same ref), or refused when
                        # the order has none recorded (another order held them: oversold)
                        ledger.unrecord_shipped({sku: 1}, order_id=order, lock_id=held,
                                                ref=f"unrecord-{order}-{sku}-{qty}")
            else:
                ledger.receive(sku, qty, reference="PO")
        elif roll < 0.40 or (roll < 0.70 and not locks):
            lines = [(rng.choice(_SKUS), rng.randint(1, 4)) for _ in range(rng.randint(1, 3))]
            locks.append(ledger.lock(f"ORD-{rng.randint(1, 3)}", lines, ttl=_TTL))
        elif roll < 0.45:
            batch = [(f"ORD-{n}", {rng.choice(_SKUS): rng.randint(1, 3)}) for n in range(3)]
            results = ledger.lock_many(batch, ttl=_TTL)
            locks.extend(r for r in results if isinstance(r, InventoryLock))
        elif roll < 0.64:
            wanted = None if rng.random() < 0.5 else {rng.choice(_SKUS): rng.randint(1, 4)}
            if rng.random() < 0.3:
                lock = rng.choice(locks)
                ledger.commit(lock.lock_id, wanted)
                if len(locks) % 2:  # a scan assumed a unit that never left: taken
                    # back once (retried: same ref), or refused when not committed
                    with contextlib.suppress(InvalidLock):
                        ledger.uncommit(lock.lock_id, {min(lock.lines): 1},
                                        ref=f"unship-{len(locks)}")
            else:  # some releases were decided a while before they are applied
                ago = timedelta(minutes=20 * (len(locks) % 3))
                ledger.release(rng.choice(locks).lock_id, wanted, at=clock.now() - ago)
        elif roll < 0.70:
            # Half the payments of locks that fell due were made while the lock held and
            # reach the ledger only now: their units are locked again, or lapse.
            due = [lock for lock in locks if lock.expires_at <= clock.now()]
            late = bool(due) and rng.random() < 0.5
            lock = rng.choice(due if late else locks)
            paid_at = lock.expires_at - timedelta(minutes=rng.choice([1, 10])) if late else None
            ledger.confirm(lock.lock_id, ref=f"pay-{rng.randint(1, 30)}", at=paid_at)
        elif roll < 0.78:
            ledger.adjust(rng.choice(_SKUS), rng.choice([-3, -1, 1, 2]), reason="count")
        elif roll < 0.85:
            clock.advance(timedelta(minutes=rng.choice([1, 10, 31])))
        elif roll < 0.90:
            ledger.expire_due(limit=rng.randint(1, 3))
        else:
            for parked in ledger.pending_review()[:1]:
                ledger.approve_release(parked.entry_id, actor="ops")
    except (InsufficientStock, RestockExceedsShipment, UnshipExceedsShipment,
            UnrecordExceedsRecord, ValidationError):
        pass  # a refusal is an answer; the invariants must hold after it too


def _assert_invariants(ledger: InventoryLedger, where: str) -> bool:
    """Check every balance invariant; whether some SKU is oversold (and reported so)."""
    report = ledger.verify()
    assert (report.drifts, report.problems) == ((), ()), (where, report)
    moved: dict[str, int] = dict.fromkeys(_SKUS, 0)
    for entry in ledger.entries():
        if entry.kind in (EntryKind.RECEIVE, EntryKind.RESTOCK, EntryKind.ADJUST):
            moved[entry.sku] += entry.qty  # received, restocked, adjusted (signed)
        elif entry.kind in (EntryKind.COMMIT, EntryKind.SHIP_UNLOCKED):
            moved[entry.sku] -= entry.qty  # shipped
        elif entry.kind in (EntryKind.UNCOMMIT, EntryKind.UNSHIP_UNLOCKED):
            moved[entry.sku] += entry.qty  # shipped, then taken back: it never left
        elif entry.kind is EntryKind.UNRECORD_SHIPPED:
            moved[entry.sku] -= entry.qty  # received for a record, then taken back
    short: dict[str, int] = {}
    for sku in _SKUS:
        balance = ledger.store.balance(sku)
        assert balance.on_hand == balance.available + balance.locked, where
        assert balance.locked >= 0, where
        assert balance.on_hand == moved[sku], where
        if balance.available < 0:
            short[sku] = -balance.available
    assert {o.sku: o.units for o in report.oversold} == short, where
    parked = [park.entry_id for park in ledger.pending_review()]
    assert [park.entry_id for park in report.parked] == parked, where
    assert report.ok == (not short and not parked), where
    return bool(short)
