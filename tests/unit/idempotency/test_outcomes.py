"""What the guard stores per key: records, claim tokens and encoded outcomes."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from orderkit.adapters.memory import MemoryIdempotencyStore
from orderkit.idempotency import Idempotency, IdempotencyRecord, PickleCodec, StoredResult
from orderkit.idempotency.payloads import payload_digests
from orderkit.model.errors import InsufficientStock, StoreError, ValidationError
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))


# --- records --------------------------------------------------------------------------------


def test_records_are_frozen_and_their_field_hashes_read_only() -> None:
    fields = {"order_id": "aa"}
    record = IdempotencyRecord(
        key="k", request_hash="h", token="t", created_at=T0, lease_expires_at=T0,
        field_hashes=fields,
    )
    fields["order_id"] = "changed"  # the record keeps its own copy
    assert record.field_hashes == {"order_id": "aa"}
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.token = "mine"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.field_hashes["order_id"] = "bb"  # type: ignore[index]


def test_record_instants_are_stored_in_utc_and_naive_ones_refused() -> None:
    record = IdempotencyRecord(
        key="k", request_hash="h", token="t", created_at=T0.astimezone(SHANGHAI),
        lease_expires_at=T0,
    )
    assert record.created_at == T0 and record.created_at.tzinfo is UTC
    with pytest.raises(ValidationError) as caught:
        IdempotencyRecord(
            key="k", request_hash="h", token="t", created_at=T0,
            lease_expires_at=datetime(2026, 2, 16),
        )
    assert caught.value.path == "lease_expires_at"


def test_a_completion_handed_odd_instants_is_validated_like_any_record() -> None:
    store = MemoryIdempotencyStore()
    claim = IdempotencyRecord(
        key="k", request_hash="h", token="t", created_at=T0, lease_expires_at=T0
    )
    store.claim(claim)
    assert store.complete("k", "t", b"outcome", T0.astimezone(SHANGHAI)) is True
    stored = store.get("k")
    assert stored is not None and stored.completed_at == T0
    assert stored.completed_at is not None and stored.completed_at.tzinfo is UTC
    store.claim(attrs.evolve(claim, key="n"))
    with pytest.raises(ValidationError) as caught:
        store.complete("n", "t", b"outcome", datetime(2026, 2, 16))
    assert caught.value.path == "completed_at"


# --- claim tokens ---------------------------------------------------------------------------


def test_claims_get_tokens_unique_across_threads() -> None:
    store = MemoryIdempotencyStore()
    guard = Idempotency(store, clock=ManualClock(T0))
    tokens: list[str] = []
    lock = threading.Lock()

    def claim_many(worker: int) -> None:
        for n in range(500):
            key = f"k-{worker}-{n}"
            guard.run(key, {"n": n}, lambda: None)
            record = store.get(key)
            assert record is not None
            with lock:
                tokens.append(record.token)

    workers = [threading.Thread(target=claim_many, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(tokens)) == len(tokens) == 2_000


_TOKENS_IN_A_PROCESS = """
from datetime import UTC, datetime
from orderkit.adapters.memory import MemoryIdempotencyStore
from orderkit.idempotency import Idempotency
store = MemoryIdempotencyStore()
guard = Idempotency(store)
for n in range(3):
    guard.run(f"k{n}", {"n": n}, lambda: None)
    print(store.get(f"k{n}").token)
"""


def test_two_processes_never_draw_the_same_tokens() -> None:
    drawn = [
        subprocess.run(
            [sys.executable, "-c", _TOKENS_IN_A_PROCESS],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.split()
        for _ in range(2)
    ]
    assert len(drawn[0]) == len(drawn[1]) == 3
    assert not set(drawn[0]) & set(drawn[1])


# --- outcomes -------------------------------------------------------------------------------


class RecordingCodec(PickleCodec):
    """A codec of the host's own (here: pickle, counting its calls)."""

    __slots__ = ("decoded", "encoded")

    def __init__(self) -> None:
        self.encoded: list[StoredResult] = []
        self.decoded = 0

    def encode(self, outcome: StoredResult) -> bytes:
        self.encoded.append(outcome)
        return super().encode(outcome)

    def decode(self, data: bytes) -> StoredResult:
        self.decoded += 1
        return super().decode(data)


def refuse() -> None:
    raise InsufficientStock({"TEA-250G": (3, 1)}, order_id="T1001")


def test_stored_outcomes_are_what_the_codec_encodes() -> None:
    store = MemoryIdempotencyStore()
    guard = Idempotency(store, clock=ManualClock(T0), final_errors=(InsufficientStock,))
    result = {"order_id": "T1001", "version": 7}
    guard.run("ok", {"order_id": "T1001"}, lambda: result)
    with pytest.raises(InsufficientStock):
        guard.run("refused", {"order_id": "T1001"}, refuse)
    ok, refused = store.get("ok"), store.get("refused")
    assert ok is not None and refused is not None
    assert PickleCodec().decode(ok.outcome or b"") == StoredResult(value=result)
    stored = PickleCodec().decode(refused.outcome or b"")
    assert isinstance(stored.error, InsufficientStock)
    assert stored.error.shortages == {"TEA-250G": (3, 1)}


def test_a_replayed_result_is_equal_but_independent_of_the_stored_one() -> None:
    guard = Idempotency(MemoryIdempotencyStore())
    first = guard.run("k", {"order_id": "T1001"}, lambda: {"lines": ["TEA"]})
    first["lines"].append("tampered")
    again = guard.run("k", {"order_id": "T1001"}, lambda: {"lines": ["other"]})
    assert again == {"lines": ["TEA"]}
    again["lines"].clear()
    assert guard.run("k", {"order_id": "T1001"}, dict) == {"lines": ["TEA"]}


def test_a_codec_of_the_hosts_own_is_used_both_ways() -> None:
    codec = RecordingCodec()
    guard = Idempotency(MemoryIdempotencyStore(), codec=codec, final_errors=(InsufficientStock,))
    assert guard.run("k", {"order_id": "T1001"}, lambda: 42) == 42
    assert guard.run("k", {"order_id": "T1001"}, lambda: 0) == 42
    for _ in range(2):
        with pytest.raises(InsufficientStock):
            guard.run("refused", {"order_id": "T1001"}, refuse)
    assert [(o.value, type(o.error)) for o in codec.encoded] == [
        (42, type(None)),
        (None, InsufficientStock),
    ]
    assert codec.decoded == 2


def test_an_unreadable_stored_outcome_is_a_store_error() -> None:
    store = MemoryIdempotencyStore()
    guard = Idempotency(store, clock=ManualClock(T0))
    record = IdempotencyRecord(
        key="k",
        request_hash=payload_digests({"order_id": "T1001"})[0],
        token="t",
        created_at=T0,
        lease_expires_at=T0 + timedelta(seconds=30),
    )
    store.claim(record)
    store.complete("k", "t", b"not a pickle", T0)
    with pytest.raises(StoreError):
        guard.run("k", {"order_id": "T1001"}, lambda: 1)
    store.claim(attrs.evolve(record, key="pair"))
    store.complete("pair", "t", pickle.dumps("no pair"), T0)
    with pytest.raises(StoreError):
        guard.run("pair", {"order_id": "T1001"}, lambda: 1)


# --- the clock ------------------------------------------------------------------------------


def test_records_from_the_system_clock_are_aware_and_in_utc() -> None:
    store = MemoryIdempotencyStore()
    Idempotency(store).run("k", {"order_id": "T1001"}, lambda: 1)
    record = store.get("k")
    assert record is not None and record.completed_at is not None
    for instant in (record.created_at, record.lease_expires_at, record.completed_at):
        assert instant.tzinfo is UTC
    assert record.lease_expires_at - record.created_at == timedelta(seconds=30)


class ShanghaiClock:
    """A clock that breaks the port's promise of UTC (it still gives aware instants)."""

    def now(self) -> datetime:
        return T0.astimezone(SHANGHAI)


class NaiveClock:
    def now(self) -> datetime:
        return datetime(2026, 2, 16, 2, 0)


def test_a_clock_of_the_hosts_own_is_checked() -> None:
    store = MemoryIdempotencyStore()
    Idempotency(store, clock=ShanghaiClock()).run("k", {"order_id": "T1001"}, lambda: 1)
    record = store.get("k")
    assert record is not None and record.created_at == T0
    assert record.created_at.tzinfo is UTC and record.completed_at is not None
    assert record.completed_at.tzinfo is UTC
    with pytest.raises(ValidationError) as caught:
        Idempotency(store, clock=NaiveClock()).run("n", {"order_id": "T1001"}, lambda: 1)
    assert caught.value.path == "clock.now()"


@pytest.mark.parametrize("instant", [datetime(1899, 12, 31, 23, 0, tzinfo=UTC),
                                     datetime(9995, 1, 1, tzinfo=UTC)])
def test_a_clock_beyond_the_supported_range_is_refused_before_anything_is_claimed(
    instant: datetime,
) -> None:
    """A clock past the range with a ten-year lease overflowed (``OverflowError``)
    instead of naming the clock, as the ledger and the watch do."""
    store = MemoryIdempotencyStore()
    guard = Idempotency(store, clock=ManualClock(instant))
    with pytest.raises(ValidationError) as caught:
        guard.run("k", {"order_id": "T1001"}, lambda: 1, lease=timedelta(days=3650))
    assert (caught.value.path, caught.value.value) == ("clock.now()", instant)
    assert store.get("k") is None
