"""The inventory fast paths give exactly what the slow ways gave.

Each fast path (precomputed HMAC states, the plain-dict demand, fork detection for ids,
the memory store's undo log, the SQLite transaction's read caches, the memory store's
one-call lock and release, trusted result values) is checked here against the
straightforward computation it replaced.
"""

from __future__ import annotations

import copy
import hmac
import os
import pickle
import random
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.adapters.sqlite import SQLiteInventoryStore
from orderkit.inventory import (
    EntryKind,
    InventoryLedger,
    InventoryLock,
    LedgerEntry,
    ReleaseResult,
)
from orderkit.inventory.entries import LockLine, trusted_line, trusted_lock, trusted_result
from orderkit.inventory.fastpath import FastInventoryStore, FastPathDeclined
from orderkit.inventory.ledger import _demand
from orderkit.inventory.ports import InventoryStore, InventoryTransaction
from orderkit.inventory.tokens import _DOMAIN, _TAG_BYTES, LockTokens
from orderkit.model.errors import InsufficientStock, InvalidLock, ValidationError
from orderkit.testing import ManualClock
from orderkit.testing.inventory_paths import (
    Operation,
    PortOnlyStore,
    random_operations,
    transcript,
)

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)
SECRET = b"fastpath-test-secret-0123456789"


# --- lock tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret", [b"s" * 16, b"k" * 63, b"k" * 64, b"k" * 65, os.urandom(200), "text secret ok!!"]
)
def test_tags_match_the_stdlib_hmac(secret: bytes | str) -> None:
    tokens = LockTokens(secret)
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    for lock_key, order_id in [("abc", "ord"), ("k" * 40, ""), ("x", "\x00" * 100)]:
        order_part = order_id.encode("utf-8").hex()
        message = _DOMAIN + lock_key.encode("ascii") + b"." + order_part.encode("ascii")
        expected = hmac.digest(key, message, "sha256")[:_TAG_BYTES].hex()
        lock_id = tokens.issue(lock_key, order_id)
        assert lock_id == f"{lock_key}.{order_part}.{expected}"
        if order_id:
            assert tokens.open(lock_id) == (lock_key, order_id)


def test_a_lock_id_issued_before_still_opens() -> None:
    # Issued by the earlier implementation, which called ``hmac.digest`` per tag.
    lock_id = "k1.4f52442d31.34f515a0aad3c31fa744e24c74ce155f"
    tokens = LockTokens(b"ledger-test-secret-0123456789")
    assert tokens.issue("k1", "ORD-1") == lock_id
    assert tokens.open(lock_id) == ("k1", "ORD-1")


def _full_check(lock_id: object) -> tuple[str, str] | InvalidLock:
    """What a fresh ``LockTokens`` (nothing remembered) makes of ``lock_id``."""
    try:
        return LockTokens(SECRET).open(lock_id)
    except InvalidLock as error:
        return error


_KEY_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12)


@settings(max_examples=300, deadline=None)
@given(lock_key=_KEY_TEXT, order_id=st.text(max_size=40), edit=st.integers(0, 200))
def test_remembered_ids_open_as_the_full_check_does(
    lock_key: str, order_id: str, edit: int
) -> None:
    tokens = LockTokens(SECRET)
    try:
        lock_id = tokens.issue(lock_key, order_id)
    except UnicodeEncodeError:  # a lock key the ledger never makes
        return
    # The issued id itself, and an altered copy (one character changed, or cut short).
    altered = lock_id[: edit % (len(lock_id) + 1)]
    if edit % 3 == 0 and altered:
        altered = altered[:-1] + ("0" if altered[-1] != "0" else "1") + lock_id[len(altered) :]
    for candidate in (lock_id, altered):
        expected = _full_check(candidate)
        try:
            got: tuple[str, str] | InvalidLock = tokens.open(candidate)
        except InvalidLock as error:
            got = error
        if isinstance(expected, InvalidLock):
            assert isinstance(got, InvalidLock)
            assert str(got) == str(expected)
        else:
            assert got == expected


def test_only_the_last_issued_ids_are_remembered_and_the_rest_still_open() -> None:
    from orderkit.inventory.tokens import REMEMBERED

    tokens = LockTokens(SECRET)
    ids = [tokens.issue(f"k{n}", "ORD-1") for n in range(REMEMBERED + 10)]
    assert len(tokens._issued) <= REMEMBERED
    assert ids[0] not in tokens._issued and ids[-1] in tokens._issued
    for n in (0, REMEMBERED + 9):  # forgotten and remembered open alike
        assert tokens.open(ids[n]) == (f"k{n}", "ORD-1")
    with pytest.raises(InvalidLock):
        tokens.open(ids[-1][:-1] + ("0" if ids[-1][-1] != "0" else "1"))


def test_unhashable_lock_ids_are_refused_not_crashed_on() -> None:
    with pytest.raises(InvalidLock):
        LockTokens(SECRET).open(["k1", "ORD-1"])


# --- ids --------------------------------------------------------------------------------------


_FORK_IDS = """
import os
from orderkit.inventory.ledger import _entry_ids
ids = _entry_ids()
first = ids()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, ids().encode("ascii"))
    os._exit(0)
os.waitpid(pid, 0)
print(first, ids(), os.read(read, 100).decode("ascii"))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_ids_get_a_new_prefix_in_a_forked_child() -> None:
    # Forked from a fresh single-threaded interpreter: forking the test process itself
    # could copy a lock another thread holds and hang the child.
    result = subprocess.run(
        [sys.executable, "-c", _FORK_IDS], capture_output=True, text=True, timeout=60, check=True
    )
    first, parent, child = result.stdout.split()
    assert parent[:16] == first[:16]
    assert child[:16] != parent[:16]
    assert len({first, parent, child}) == 3


# --- demand ------------------------------------------------------------------------------------

_skus = st.text(alphabet="ABC -é", min_size=0, max_size=4)
_qtys = st.one_of(st.integers(-2, 5), st.booleans(), st.floats(0, 3), st.just("1"))


def _slow_demand(lines: dict[Any, Any]) -> dict[str, int] | type[Exception]:
    try:
        return _demand(list(lines.items()))
    except ValidationError:
        return ValidationError


@given(st.dictionaries(_skus, _qtys, max_size=4))
def test_the_plain_dict_fast_path_equals_the_pairs_path(lines: dict[Any, Any]) -> None:
    try:
        fast: dict[str, int] | type[Exception] = _demand(lines)
    except ValidationError:
        fast = ValidationError
    assert fast == _slow_demand(lines)
    if isinstance(fast, dict):
        assert list(fast) == sorted(fast)


def test_a_str_subclass_sku_still_takes_the_checked_path() -> None:
    class Sku(str):
        pass

    assert _demand({Sku("TEA"): 2, "CUP": 1}) == {"CUP": 1, "TEA": 2}
    with pytest.raises(ValidationError):
        _demand({"TEA": True})
    with pytest.raises(ValidationError):
        _demand({})


# --- the memory store's undo log -----------------------------------------------------------------


def _internals(store: MemoryInventoryStore) -> dict[str, Any]:
    return {
        name: copy.deepcopy(getattr(store, name))
        for name in (
            "_balances",
            "_lines",
            "_orders",
            "_entries",
            "_by_id",
            "_approvals",
            "_parks",
            "_releases",
        )
    } | {"_due": {k: sorted(v) for k, v in store._due.items()}, "_all": sorted(store._all_due)}


class _Crash(Exception):
    pass


def test_a_rolled_back_memory_transaction_leaves_every_index_as_it_was() -> None:
    store = MemoryInventoryStore()
    clock = ManualClock(T0)
    ledger = InventoryLedger(store, secret=SECRET, clock=clock, release_limit=1)
    ledger.receive("TEA", 10, reference="PO-1")
    ledger.receive("CUP", 10, reference="PO-1")
    first = ledger.lock("ORD-1", {"TEA": 2, "CUP": 2}, ttl=TTL)
    ledger.release(first.lock_id, {"TEA": 1})
    parked = ledger.release(first.lock_id, {"TEA": 1})  # the breaker parks this one
    assert parked.outcome == "parked"
    (park,) = store.pending_parks()
    old_lock = ledger.lock("ORD-2", {"CUP": 1}, ttl=timedelta(minutes=1))
    clock.advance(timedelta(minutes=5))  # ORD-2's lock is now due
    before = _internals(store)

    def crash_after_every_kind_of_append() -> None:
        with store.transaction({"TEA", "CUP"}) as tx:
            _append_one_of_each(tx)
            assert tx.balance("TEA").locked == 3 + 1 - 1
            raise _Crash

    def _append_one_of_each(tx: InventoryTransaction) -> None:
        old_key = old_lock.lock_id.split(".")[0]
        tx.append(
            LedgerEntry("e-expire", EntryKind.EXPIRE, "CUP", 1, clock.now(), lock_key=old_key)
        )
        tx.append(
            LedgerEntry(
                "e-lock",
                EntryKind.LOCK,
                "TEA",
                3,
                clock.now(),
                order_id="ORD-3",
                lock_key="fresh",
                expires_at=clock.now() + TTL,
            )
        )
        tx.append(
            LedgerEntry(
                "e-rel",
                EntryKind.RELEASE,
                "CUP",
                1,
                T0,
                order_id="ORD-1",
                lock_key=first.lock_id.split(".")[0],
            )
        )
        tx.append(
            LedgerEntry(
                "e-approve",
                EntryKind.APPROVE,
                "TEA",
                1,
                clock.now(),
                actor="ops",
                order_id="ORD-1",
                lock_key=first.lock_id.split(".")[0],
                ref=park.entry_id,
            )
        )
        tx.append(LedgerEntry("e-recv", EntryKind.RECEIVE, "CUP", 4, clock.now(), ref="PO"))

    with pytest.raises(_Crash):
        crash_after_every_kind_of_append()
    assert _internals(store) == before
    assert ledger.verify().ok
    # And the store still works normally afterwards.
    assert ledger.approve_release(park.entry_id, actor="ops").outcome == "released"
    assert ledger.expire_due() == 1
    assert ledger.verify().ok


# --- the SQLite transaction's caches -------------------------------------------------------------


def _story(store: InventoryStore) -> tuple[Any, ...]:
    """Batches over several SKUs with lazy expiry in between, on any store."""
    clock = ManualClock(T0)
    ledger = InventoryLedger(store, secret=SECRET, clock=clock, release_limit=3)
    skus = [f"SKU-{n}" for n in range(7)]
    for sku in skus:
        ledger.receive(sku, 6, reference="PO-1")
    outcomes: list[Any] = []
    for round_ in range(6):
        requests = [
            (f"ORD-{round_}-{n}", {skus[(round_ + n) % 7]: 1 + n % 2, skus[n % 7]: 1})
            for n in range(5)
        ]
        results = ledger.lock_many(requests, ttl=timedelta(minutes=10 + round_))
        for result in results:
            if isinstance(result, InsufficientStock):
                outcomes.append(("short", result.shortages))
            else:
                assert isinstance(result, InventoryLock)
                outcomes.append(("locked", result.order_id, result.lines))
                if round_ % 2:
                    outcomes.append(ledger.release(result.lock_id).outcome)
        clock.advance(timedelta(minutes=7))
    kinds = [(entry.kind, entry.sku, entry.qty, entry.at) for entry in ledger.entries()]
    stock = [ledger.stock(sku) for sku in skus]
    assert ledger.verify().ok
    return tuple(outcomes), tuple(kinds), tuple(stock)


def test_sqlite_batches_with_cached_reads_match_the_memory_store(tmp_path: Path) -> None:
    memory = _story(MemoryInventoryStore())
    sqlite = _story(SQLiteInventoryStore(tmp_path / "inventory.db", durable=False))
    assert sqlite == memory
    assert any(kind is EntryKind.EXPIRE for kind, *_ in memory[1])


def test_sqlite_due_lines_are_fresh_after_an_append_in_a_batch(tmp_path: Path) -> None:
    store = SQLiteInventoryStore(tmp_path / "inventory.db", durable=False)
    later = T0 + TTL
    with store.transaction({"TEA", "CUP"}) as tx:
        for sku in ("TEA", "CUP"):
            tx.append(LedgerEntry(f"r-{sku}", EntryKind.RECEIVE, sku, 5, T0, ref="PO"))
        for key in ("k1", "k2"):
            tx.append(
                LedgerEntry(
                    f"l-{key}",
                    EntryKind.LOCK,
                    "TEA",
                    1,
                    T0,
                    order_id="O",
                    lock_key=key,
                    expires_at=later,
                )
            )
    with store.transaction({"TEA", "CUP"}) as tx:
        assert [line.lock_key for line in tx.due_lines("TEA", later)] == ["k1", "k2"]
        assert tx.due_lines("CUP", later) == ()
        tx.append(LedgerEntry("x1", EntryKind.EXPIRE, "TEA", 1, later, lock_key="k1"))
        assert [line.lock_key for line in tx.due_lines("TEA", later)] == ["k2"]
        assert tx.lock_lines("k1")[0].expired == 1
        tx.append(LedgerEntry("x2", EntryKind.RELEASE, "TEA", 1, later, lock_key="k2"))
        assert tx.due_lines("TEA", later) == ()
        assert tx.balance("TEA").locked == 0


# --- the memory store's one-call lock and release ------------------------------------------------


class CountingStore(MemoryInventoryStore):
    """The memory store, counting how often its fast methods decided or declined."""

    def __init__(self) -> None:
        super().__init__()
        self.decided = 0
        self.declined = 0

    def fast_lock(self, *args: Any) -> dict[str, tuple[int, int]]:
        return self._counted(super().fast_lock, args)

    def fast_lock_many(self, *args: Any) -> Any:
        return self._counted(super().fast_lock_many, args)

    def fast_resolve(self, *args: Any) -> Any:
        return self._counted(super().fast_resolve, args)

    def _counted(self, method: Any, args: tuple[Any, ...]) -> Any:
        try:
            result = method(*args)
        except FastPathDeclined:
            self.declined += 1
            raise
        self.decided += 1
        return result


def test_the_memory_store_offers_the_fast_methods_and_the_port_only_view_hides_them() -> None:
    assert isinstance(MemoryInventoryStore(), FastInventoryStore)
    assert not isinstance(PortOnlyStore(MemoryInventoryStore()), FastInventoryStore)
    assert not isinstance(SQLiteInventoryStore(":memory:", durable=False), FastInventoryStore)


@pytest.mark.parametrize("seed", range(8))
def test_seeded_stories_give_the_same_transcript_on_both_paths(seed: int) -> None:
    operations = random_operations(random.Random(seed), 300)
    fast_store = CountingStore()
    fast = transcript(fast_store, operations)
    assert fast == transcript(PortOnlyStore(MemoryInventoryStore()), operations)
    assert fast[-1].ok  # verify() is clean
    assert fast_store.decided > 30 and fast_store.declined > 0


@pytest.mark.parametrize("minutes", [29, 30, 31])
def test_the_breaker_window_edge_is_the_same_on_both_paths(minutes: int) -> None:
    # release_limit 2 within 30 minutes: the edge is a release exactly 30 minutes ago.
    story: list[Operation] = [("receive", "TEA", 9)]
    story += [("lock", f"ORD-{n}", {"TEA": 1}, 120) for n in range(5)]
    story += [("release", 0, None, None), ("advance", 1), ("release", 1, None, None)]
    story += [("advance", minutes), ("release", 2, None, None), ("release", 3, None, None)]
    fast = transcript(MemoryInventoryStore(), story, release_limit=2)
    assert fast == transcript(PortOnlyStore(MemoryInventoryStore()), story, release_limit=2)
    outcomes = [outcome.outcome for name, outcome in fast[0] if name == "release"]
    # 29: both earlier releases are inside the window (one exactly on its edge).
    expected = {29: ["parked", "parked"], 30: ["released", "parked"], 31: ["released"] * 2}
    assert outcomes == ["released", "released", *expected[minutes]]


_sku = st.sampled_from(["CUP", "POT", "TEA"])
_lines = st.dictionaries(_sku, st.integers(1, 4), min_size=1, max_size=3) | st.lists(
    st.tuples(_sku, st.integers(1, 4)), min_size=1, max_size=3
)
_resolve_lines = st.none() | st.dictionaries(
    st.sampled_from(["CUP", "POT", "TEA", "KETTLE"]), st.integers(-1, 5), min_size=1, max_size=2
)
_order = st.sampled_from(["ORD-1", "ORD-2"])
_operation = st.one_of(
    st.tuples(st.just("receive"), _sku, st.integers(1, 6)),
    st.tuples(st.just("adjust"), _sku, st.sampled_from([-2, -1, 1, 3])),
    st.tuples(st.just("lock"), _order, _lines, st.integers(1, 60)),
    st.tuples(st.just("lock"), _order, _lines, st.integers(1, 60)),
    st.tuples(
        st.just("lock_many"),
        st.lists(st.tuples(_order, _lines), min_size=1, max_size=3),
        st.integers(1, 60),
    ),
    st.tuples(
        st.sampled_from(["release", "release", "commit"]),
        st.integers(0, 20),
        _resolve_lines,
        st.none() | _order,
        st.booleans(),  # the lines as a one-shot iterator of pairs
    ),
    st.tuples(st.just("forge"), st.integers(0, 20), st.integers(0, 80)),
    st.tuples(st.just("advance"), st.sampled_from([1, 10, 30, 61])),
    st.tuples(st.just("expire_due"), st.integers(1, 3)),
    st.tuples(st.just("approve"), st.integers(0, 5)),
    st.tuples(st.just("stock"), _sku),
    st.tuples(st.just("occupancy"), _order),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.just("receive"), _sku, st.integers(0, 10)), min_size=3, max_size=3),
    st.lists(_operation, max_size=60),
    st.integers(1, 4),
)
def test_random_operations_give_the_same_transcript_on_both_paths(
    stock: list[Operation], operations: list[Operation], release_limit: int
) -> None:
    story = [op for op in stock if op[2] > 0] + operations
    fast = transcript(MemoryInventoryStore(), story, release_limit=release_limit)
    port = transcript(
        PortOnlyStore(MemoryInventoryStore()), story, release_limit=release_limit
    )
    assert fast == port
    assert fast[-1].ok


def _fast_story() -> tuple[InventoryLedger, CountingStore, ManualClock]:
    store = CountingStore()
    clock = ManualClock(T0)
    ledger = InventoryLedger(store, secret=SECRET, clock=clock, release_limit=2)
    for sku in ("TEA", "CUP"):
        ledger.receive(sku, 10, reference="PO-1")
    return ledger, store, clock


def test_the_fast_path_refuses_bad_releases_like_the_port_and_changes_nothing() -> None:
    ledger, store, _clock = _fast_story()
    lock = ledger.lock("ORD-1", {"TEA": 2}, ttl=TTL)
    other = ledger.lock("ORD-2", {"TEA": 1, "CUP": 1}, ttl=TTL)
    before = ledger.entries()
    stranger = InventoryLedger(MemoryInventoryStore(), secret=SECRET)
    stranger.receive("TEA", 1, reference="PO")
    unknown = stranger.lock("ORD-1", {"TEA": 1}, ttl=TTL).lock_id
    refusals: list[tuple[type[Exception], Any]] = [
        (InvalidLock, lambda: ledger.release(lock.lock_id[:-1] + "x")),
        (InvalidLock, lambda: ledger.commit(lock.lock_id, order_id="ORD-2")),
        (InvalidLock, lambda: ledger.release(unknown)),
        (InvalidLock, lambda: ledger.release(unknown, {"TEA": 0})),  # unknown comes first
        (ValidationError, lambda: ledger.release(lock.lock_id, {"CUP": 1})),
        (ValidationError, lambda: ledger.release(lock.lock_id, {"TEA": 0})),
        (ValidationError, lambda: ledger.commit(other.lock_id, {"POT": 1})),
        (ValidationError, lambda: ledger.release(other.lock_id, [("TEA", True)])),
    ]
    for kind, call in refusals:
        with pytest.raises(kind):
            call()
    assert ledger.entries() == before
    assert ledger.verify().ok
    assert store.decided == 2  # the two locks; no refused call got past the checks


def test_the_fast_path_declines_the_breaker_and_expiry_and_the_port_handles_them() -> None:
    ledger, store, clock = _fast_story()
    locks = [ledger.lock(f"ORD-{n}", {"TEA": 1}, ttl=TTL) for n in range(4)]
    outcomes = [ledger.release(lock.lock_id).outcome for lock in locks[:3]]
    assert outcomes == ["released", "released", "parked"]  # the third was declined, then parked
    declined = store.declined
    clock.advance(TTL)  # the last lock is now due: the next lock of TEA expires it first
    ledger.lock("ORD-9", {"TEA": 1}, ttl=TTL)
    assert store.declined == declined + 1
    assert [e.kind for e in ledger.entries()][-2:] == [EntryKind.EXPIRE, EntryKind.LOCK]
    assert ledger.release(locks[3].lock_id).outcome == "expired"
    assert ledger.verify().ok


def test_lines_given_as_an_iterator_survive_a_declined_fast_path() -> None:
    ledger, store, _clock = _fast_story()
    locks = [ledger.lock(f"ORD-{n}", {"TEA": 2}, ttl=TTL) for n in range(3)]
    for lock in locks:  # the third release trips the breaker: declined, then parked
        result = ledger.release(lock.lock_id, iter([("TEA", 1)]))
    assert (result.outcome, [p.qty for p in result.parked]) == ("parked", [1])
    assert store.declined == 1
    unknown = ledger._tokens.issue("no-such-lock", "ORD-0")  # well signed, never taken
    with pytest.raises(InvalidLock, match="unknown lock"):  # the lock is checked first
        ledger.release(unknown, iter([("TEA", 0)]))
    with pytest.raises(ValidationError):
        ledger.release(locks[0].lock_id, iter([("TEA", 0)]))
    assert ledger.verify().ok


def test_fast_methods_refuse_a_reused_entry_id_before_writing() -> None:
    ledger, store, clock = _fast_story()
    lock = ledger.lock("ORD-1", {"TEA": 2, "CUP": 1}, ttl=TTL)
    taken = ledger.entries()[-1].entry_id
    before = _internals(store)
    now = clock.now()
    with pytest.raises(ValidationError, match="already in the ledger"):
        store.fast_lock("ORD-2", {"TEA": 1}, "k-new", now, now + TTL, "shop", lambda: taken)
    with pytest.raises(ValidationError, match="already in the ledger"):
        store.fast_lock(
            "ORD-2", {"CUP": 1, "TEA": 1}, "k-new", now, now + TTL, "shop", lambda: "same"
        )
    ids = iter(["k-new", taken]).__next__
    with pytest.raises(ValidationError, match="already in the ledger"):
        store.fast_lock_many([("ORD-2", {"TEA": 1})], now, now + TTL, "shop", ids)
    lock_key = lock.lock_id.split(".")[0]
    for wanted in (None, {"TEA": 1}):
        with pytest.raises(ValidationError, match="already in the ledger"):
            store.fast_resolve(
                lock_key, "ORD-1", wanted, False, now, now - TTL, 20, "shop", "cancel",
                lambda: taken,
            )
    assert _internals(store) == before
    assert ledger.verify().ok


def test_fast_methods_decline_what_the_port_must_decide() -> None:
    ledger, store, clock = _fast_story()
    lock = ledger.lock("ORD-1", {"TEA": 2}, ttl=TTL)
    lock_key = lock.lock_id.split(".")[0]
    now = clock.now()
    before = _internals(store)

    def ids() -> str:
        raise AssertionError("no id may be drawn by a declined call")

    declined = [
        lambda: store.fast_lock("ORD-2", {"TEA": 1}, lock_key, now, now + TTL, "shop", ids),
        lambda: store.fast_resolve("nope", "ORD-1", None, False, now, now, 20, "a", "r", ids),
        lambda: store.fast_resolve(lock_key, "ORD-2", None, False, now, now, 20, "a", "r", ids),
        lambda: store.fast_resolve(
            lock_key, "ORD-1", {"CUP": 1}, False, now, now, 20, "a", "r", ids
        ),
        # a breaker with a limit of 0 parks every release
        lambda: store.fast_resolve(lock_key, "ORD-1", None, False, now, now, 0, "a", "r", ids),
        # the lock is due at its expiry: it must be expired first
        lambda: store.fast_resolve(
            lock_key, "ORD-1", None, True, now + TTL, now, 20, "a", "r", ids
        ),
        lambda: store.fast_lock("ORD-2", {"TEA": 1}, "k2", now + TTL, now + TTL, "a", ids),
        lambda: store.fast_lock_many([("ORD-2", {"CUP": 1, "TEA": 1})], now + TTL, now, "a", ids),
    ]
    for call in declined:
        with pytest.raises(FastPathDeclined):
            call()
    assert _internals(store) == before
    # A lock key the id source repeats is declined too (ids were drawn, nothing written).
    with pytest.raises(FastPathDeclined):
        store.fast_lock_many([("ORD-2", {"CUP": 1})], now, now + TTL, "a", lambda: lock_key)
    assert _internals(store) == before


def test_trusted_values_equal_constructed_ones() -> None:
    line = trusted_line("k", "ORD-1", "TEA", 5, T0, T0 + TTL, 1, 2, 0)
    assert type(line) is LockLine
    assert line == LockLine("k", "ORD-1", "TEA", 5, T0, T0 + TTL, 1, 2, 0)
    assert hash(line) == hash(LockLine("k", "ORD-1", "TEA", 5, T0, T0 + TTL, 1, 2, 0))
    assert line.remaining == 2 and pickle.loads(pickle.dumps(line)) == line
    lock = trusted_lock("k.6f.aa", "ORD-1", {"TEA": 2}, T0, T0 + TTL)
    assert type(lock) is InventoryLock
    assert lock == InventoryLock("k.6f.aa", "ORD-1", {"TEA": 2}, T0, T0 + TTL)
    assert repr(lock) == repr(InventoryLock("k.6f.aa", "ORD-1", {"TEA": 2}, T0, T0 + TTL))
    assert pickle.loads(pickle.dumps(lock)) == lock
    result = trusted_result("released", "k.6f.aa", "ORD-1", {"TEA": 2})
    assert type(result) is ReleaseResult
    assert result == ReleaseResult("released", "k.6f.aa", "ORD-1", {"TEA": 2})
    assert result.suspension is None and result.raise_if_parked() is result
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        lock.order_id = "ORD-2"  # type: ignore[misc]


def test_threads_racing_on_the_fast_path_never_oversell() -> None:
    store = CountingStore()
    ledger = InventoryLedger(store, secret=SECRET, release_limit=10**6)
    ledger.receive("TEA", 50, reference="PO-1")
    ledger.receive("CUP", 20, reference="PO-1")
    held: list[list[str]] = [[] for _ in range(4)]

    def worker(n: int) -> None:
        rng = random.Random(n)
        for _ in range(400):
            if held[n] and rng.random() < 0.45:
                lock_id = held[n].pop(rng.randrange(len(held[n])))
                (ledger.commit if rng.random() < 0.2 else ledger.release)(lock_id)
                continue
            try:
                lines = {"TEA": rng.randint(1, 4)} if rng.random() < 0.6 else {"TEA": 1, "CUP": 2}
                held[n].append(ledger.lock(f"ORD-{n}", lines, ttl=TTL).lock_id)
            except InsufficientStock:
                pass

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.verify().ok
    for sku in ("TEA", "CUP"):
        level = ledger.stock(sku)
        assert level.available >= 0 and level.locked >= 0
        still_held = sum(
            line.remaining for line in store.all_lock_lines() if line.sku == sku
        )
        assert level.locked == still_held
    assert store.decided > 1000
