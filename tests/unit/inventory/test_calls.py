"""How the ledger reads its input, where the breaker's window ends, and threads racing."""

from __future__ import annotations

import random
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit.adapters.memory import MemoryInventoryStore
from orderkit.inventory import (
    DEFAULT_RELEASE_LIMIT,
    EntryKind,
    InventoryLedger,
    LockTokens,
    ParkedUnits,
)
from orderkit.model.errors import InsufficientStock, ValidationError
from orderkit.outbox import StockCall
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
    report = ledger.verify()
    assert (report.drifts, report.problems, len(report.parked)) == ((), (), 1)


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
    report = ledger.verify()
    assert (report.drifts, report.problems) == ((), ())
    assert len(report.parked) == expected.count("parked")


def test_the_window_is_judged_by_when_each_release_was_decided() -> None:
    """Releases decided 25 minutes apart and applied in one go (a relay catching up):
    no window of 30 minutes held more than 2 of them, so none is parked; their
    entries are dated when they were decided."""
    ledger, clock = _ledger(release_limit=2, release_window=timedelta(minutes=30))
    locks = [ledger.lock(f"ORD-{n}", {"TEA": 1}, ttl=timedelta(hours=9)) for n in range(8)]
    decided = [T0 + timedelta(minutes=25 * n) for n in range(8)]
    clock.advance(timedelta(hours=4))
    outcomes = [
        ledger.release(lock.lock_id, at=at).outcome
        for lock, at in zip(locks, decided, strict=True)
    ]
    assert outcomes == ["released"] * 8
    releases = [e.at for e in ledger.entries() if e.kind is EntryKind.RELEASE]
    assert releases == [min(at, clock.now()) for at in decided]
    assert ledger.verify().ok


def test_a_batch_judges_each_release_by_its_own_time() -> None:
    """In one batch: three releases within the window trip the breaker; one decided a
    window later does not, even after an older one was parked; one decided before it
    and applied last is judged by its own time too."""
    ledger, _clock = _ledger(release_limit=2, release_window=timedelta(minutes=30))
    locks = [ledger.lock(f"ORD-{n}", {"TEA": 1}, ttl=timedelta(hours=9)) for n in range(5)]
    times = [0, 1, 2, 40, 3]
    results = ledger.apply_many([
        StockCall("release", lock.lock_id, ref=f"m{n}", at=T0 - timedelta(hours=1)
                  + timedelta(minutes=minutes))
        for n, (lock, minutes) in enumerate(zip(locks, times, strict=True))
    ])
    assert [getattr(r, "outcome", r) for r in results] == [
        "released", "released", "parked", "released", "parked"
    ]


class CountingStore(MemoryInventoryStore):
    """A memory store that counts the breaker's store reads (``release_count``)."""

    counted = 0

    @contextmanager
    def transaction(self, skus: Collection[str]) -> Iterator[Any]:
        with super().transaction(skus) as tx:
            yield _Counting(tx, self)


class _Counting:
    def __init__(self, tx: Any, store: CountingStore) -> None:
        self._tx, self._store = tx, store

    def release_count(self, *args: Any) -> int:
        self._store.counted += 1
        return int(self._tx.release_count(*args))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


def test_a_runaway_batch_of_one_sku_is_counted_once_not_once_per_release() -> None:
    store = CountingStore()
    ledger = InventoryLedger(store, secret=SECRET, clock=ManualClock(T0), release_limit=20)
    ledger.receive("TEA", 200, reference="PO-1")
    locks = ledger.lock_many([(f"ORD-{n}", {"TEA": 1}) for n in range(200)], ttl=TTL)
    results = ledger.apply_many([StockCall("release", lock.lock_id, ref=f"m{n}")
                                 for n, lock in enumerate(locks)])
    assert [r.outcome for r in results].count("parked") == 180  # type: ignore[union-attr]
    assert store.counted <= 2  # not one read per release past the limit


def test_a_release_dated_after_the_ledger_s_clock_is_dated_by_the_clock() -> None:
    ledger, clock = _ledger()
    lock = ledger.lock("ORD-1", {"TEA": 1}, ttl=TTL)
    ledger.release(lock.lock_id, at=clock.now() + timedelta(hours=1))
    (release,) = [e for e in ledger.entries() if e.kind is EntryKind.RELEASE]
    assert release.at == clock.now()
    with pytest.raises(ValidationError) as caught:
        ledger.release(lock.lock_id, at=datetime(2026, 2, 16, 2, 0))  # naive
    assert caught.value.path == "at"


def test_verify_names_every_parked_release_until_it_is_approved() -> None:
    ledger, clock = _ledger(release_limit=1)
    first, second = (ledger.lock(f"ORD-{n}", {"TEA": 1}, ttl=TTL) for n in range(2))
    ledger.release(first.lock_id)
    parked = ledger.release(second.lock_id, ref="msg-2")
    (held,) = parked.parked
    report = ledger.verify()
    assert not report.ok
    assert report.parked == (ParkedUnits(held.entry_id, "ORD-1", "TEA", 1, clock.now()),)
    assert (report.drifts, report.problems, report.oversold) == ((), (), ())
    # Delivered again (a crash before the relay marked it): the park is reported again.
    again = ledger.release(second.lock_id, ref="msg-2")
    assert (again.outcome, again.parked) == ("already_applied", (held,))
    ledger.approve_release(held.entry_id, actor="ops-lead")
    assert ledger.verify().ok
    assert ledger.release(second.lock_id, ref="msg-2").parked == ()  # approved since


def test_the_default_breaker_leaves_a_busy_hour_of_cancels_alone() -> None:
    ledger, _clock = _ledger()
    outcomes = {
        ledger.release(ledger.lock(f"ORD-{n}", {"TEA": 1}, ttl=TTL).lock_id).outcome
        for n in range(DEFAULT_RELEASE_LIMIT)
    }
    assert outcomes == {"released"}
    extra = ledger.lock("ORD-X", {"TEA": 1}, ttl=TTL)
    assert ledger.release(extra.lock_id).outcome == "parked"


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
