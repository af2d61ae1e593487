"""The inventory fast paths give exactly what the slow ways gave.

Each fast path (precomputed HMAC states, the plain-dict demand, fork detection for ids,
the memory store's undo log, the SQLite transaction's read caches) is checked here
against the straightforward computation it replaced.
"""

from __future__ import annotations

import copy
import hmac
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.adapters.sqlite import SQLiteInventoryStore
from orderkit.errors import InsufficientStock, ValidationError
from orderkit.inventory import EntryKind, InventoryLedger, InventoryLock, LedgerEntry
from orderkit.inventory.ledger import _demand, _Ids
from orderkit.inventory.tokens import _DOMAIN, _TAG_BYTES, LockTokens
from orderkit.ports import InventoryStore, InventoryTransaction
from orderkit.testing import ManualClock

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
    for lock_key, order_part in [("abc", "6f7264"), ("k" * 40, ""), ("x", "00" * 100)]:
        message = _DOMAIN + lock_key.encode("ascii") + b"." + order_part.encode("ascii")
        expected = hmac.digest(key, message, "sha256")[:_TAG_BYTES].hex()
        assert tokens._tag(lock_key, order_part) == expected


def test_a_lock_id_issued_before_still_opens() -> None:
    # Issued by the earlier implementation, which called ``hmac.digest`` per tag.
    lock_id = "k1.4f52442d31.34f515a0aad3c31fa744e24c74ce155f"
    tokens = LockTokens(b"ledger-test-secret-0123456789")
    assert tokens.issue("k1", "ORD-1") == lock_id
    assert tokens.open(lock_id) == ("k1", "ORD-1")


# --- ids --------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_ids_get_a_new_prefix_in_a_forked_child() -> None:
    ids = _Ids()
    first = ids()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, ids().encode("ascii"))
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode("ascii")
    parent = ids()
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
