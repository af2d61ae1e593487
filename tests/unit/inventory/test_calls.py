"""How the ledger reads its input, where the breaker's window ends, and threads racing."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.inventory import EntryKind, InventoryLedger, LockTokens
from orderkit.model.errors import InsufficientStock, ValidationError
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)
SECRET = b"calls-test-secret-0123456789"


def _ledger(**options: Any) -> tuple[InventoryLedger, ManualClock]:
    clock = ManualClock(T0)
    ledger = InventoryLedger(MemoryInventoryStore(), secret=SECRET, clock=clock, **options)
    for sku in ("TEA", "CUP", "POT"):
        ledger.receive(sku, 100, reference="PO-1")
    return ledger, clock


# --- demand ------------------------------------------------------------------------------

_skus = st.text(alphabet="ABC -é", min_size=0, max_size=4)
_qtys = st.one_of(st.integers(-2, 5), st.booleans(), st.floats(0, 3), st.just("1"))


def _locked(ledger: InventoryLedger, lines: object) -> dict[str, int] | str:
    try:
        return ledger.lock("ORD-1", lines, ttl=TTL).lines  # type: ignore[arg-type]
    except ValidationError as error:
        return error.path
    except InsufficientStock:
        return "short"


@given(st.dictionaries(_skus, _qtys, max_size=4))
def test_a_dict_and_the_same_pairs_lock_alike(lines: dict[Any, Any]) -> None:
    as_dict = _locked(_ledger()[0], lines)
    as_pairs = _locked(_ledger()[0], list(lines.items()))
    if isinstance(as_dict, dict):
        assert as_pairs == as_dict
        assert list(as_dict) == sorted(as_dict)
    else:
        assert isinstance(as_pairs, str)


def test_a_str_subclass_sku_is_a_sku_and_bad_lines_are_refused() -> None:
    class Sku(str):
        pass

    ledger, _clock = _ledger()
    assert ledger.lock("ORD-1", {Sku("TEA"): 2, "CUP": 1}, ttl=TTL).lines == {"CUP": 1, "TEA": 2}
    before = ledger.entries()
    for bad, path in (({"TEA": True}, "lines['TEA']"), ({}, "lines"), ({"": 1}, "lines[0].sku")):
        with pytest.raises(ValidationError) as caught:
            ledger.lock("ORD-1", bad, ttl=TTL)
        assert caught.value.path == path
    assert ledger.entries() == before


def test_lines_given_as_a_one_shot_iterator_are_read_once() -> None:
    ledger, _clock = _ledger(release_limit=2)
    locks = [ledger.lock(f"ORD-{n}", {"TEA": 2}, ttl=TTL) for n in range(3)]
    for lock in locks:  # the third release trips the breaker
        result = ledger.release(lock.lock_id, iter([("TEA", 1)]))
    assert (result.outcome, [p.qty for p in result.parked]) == ("parked", [1])
    with pytest.raises(ValidationError):
        ledger.release(locks[0].lock_id, iter([("TEA", 0)]))
    assert ledger.verify().ok


def test_entry_and_lock_ids_are_unique() -> None:
    ledger, _clock = _ledger()
    locks = [ledger.lock("ORD-1", {"TEA": 1, "CUP": 1}, ttl=TTL) for _ in range(50)]
    entry_ids = [entry.entry_id for entry in ledger.entries()]
    assert len(set(entry_ids)) == len(entry_ids)
    tokens = LockTokens(SECRET)
    keys = {tokens.open(lock.lock_id)[0] for lock in locks}
    assert len(keys) == 50


# --- the breaker's window ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(29, ["parked", "parked"]), (30, ["released", "parked"]), (31, ["released", "released"])],
)
def test_a_release_exactly_one_window_ago_still_counts(minutes: int, expected: list[str]) -> None:
    # release_limit 2 within 30 minutes: the edge is a release exactly 30 minutes ago.
    ledger, clock = _ledger(release_limit=2, release_window=timedelta(minutes=30))
    locks = [ledger.lock(f"ORD-{n}", {"TEA": 1}, ttl=timedelta(hours=2)) for n in range(4)]
    assert ledger.release(locks[0].lock_id).outcome == "released"
    clock.advance(timedelta(minutes=1))
    assert ledger.release(locks[1].lock_id).outcome == "released"
    clock.advance(timedelta(minutes=minutes))
    outcomes = [ledger.release(lock.lock_id).outcome for lock in locks[2:]]
    assert outcomes == expected
    assert ledger.verify().ok


def test_a_due_lock_is_expired_before_the_next_lock_of_its_sku() -> None:
    ledger, clock = _ledger()
    first = ledger.lock("ORD-1", {"TEA": 1}, ttl=TTL)
    clock.advance(TTL)
    ledger.lock("ORD-9", {"TEA": 1}, ttl=TTL)
    assert [e.kind for e in ledger.entries()][-2:] == [EntryKind.EXPIRE, EntryKind.LOCK]
    assert ledger.release(first.lock_id).outcome == "expired"
    assert ledger.verify().ok


# --- threads ------------------------------------------------------------------------------


def test_threads_racing_on_one_store_never_oversell() -> None:
    store = MemoryInventoryStore()
    ledger = InventoryLedger(store, secret=SECRET, release_limit=10**6)
    ledger.receive("TEA", 50, reference="PO-1")
    ledger.receive("CUP", 20, reference="PO-1")
    held: list[list[str]] = [[] for _ in range(4)]

    def worker(n: int) -> None:
        rng = random.Random(n)
        for _ in range(300):
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
        assert level.on_hand == level.available + level.locked
        still_held = sum(line.remaining for line in store.all_lock_lines() if line.sku == sku)
        assert level.locked == still_held
