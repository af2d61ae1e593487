"""The guard's cheap paths give exactly what the checked paths give.

A guarded call digests its payload, builds a claim record, draws a claim token and
pickles the outcome on every call, so each of those has a fast path. Each test here
compares a fast path with the plain, checked way of doing the same thing, or pins what
earlier releases stored (a record written before an upgrade must still match).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import threading
import zlib
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.adapters.memory import MemoryIdempotencyStore
from orderkit.idempotency import (
    Idempotency,
    IdempotencyRecord,
    Outcome,
    PickleCodec,
    RecordState,
)
from orderkit.idempotency.payloads import payload_digests
from orderkit.idempotency.tokens import new_token
from orderkit.model.errors import InsufficientStock, StoreError, ValidationError
from orderkit.model.ids import canonical_json
from orderkit.model.money import Money
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))


# --- payload digests -------------------------------------------------------------------


def reference_digests(payload: Mapping[str, object]) -> tuple[str, dict[str, str]]:
    """The digest rule of orderkit.idempotency.payloads, written as plainly as possible."""
    chunks = []
    for name in sorted(payload):
        value = payload[name]
        if type(value) is str:
            tagged = "s" + value
        elif type(value) is int:
            tagged = "i" + str(value)
        elif value is None or type(value) is bool:
            tagged = "k" + str(value)
        else:
            tagged = "c" + canonical_json(value)
        text = name + "\x00" + tagged
        chunks.append((name, (str(len(text)) + ":" + text).encode("utf-8")))
    whole = hashlib.blake2b(b"".join(chunk for _, chunk in chunks), digest_size=16)
    return whole.hexdigest(), {name: f"{zlib.crc32(chunk):08x}" for name, chunk in chunks}


GOLDEN = [
    (
        {"order_id": "T1001", "status": 50, "by": "buyer"},
        "ad2caa08803aa7240c1653b7503dd2dd",
        {"by": "49ff22dc", "order_id": "b8268ab6", "status": "9953ab33"},
    ),
    ({}, "cae66941d9efbd404e4d88758ea67670", {}),
    (
        {"note": "", "flag": True, "off": False, "none": None, "neg": -7, "big": 10**30},
        "c2896dfca46d3badc6427aec5d0cc126",
        {
            "big": "7352821e",
            "flag": "ade1f98e",
            "neg": "cf67fb43",
            "none": "4b68ca78",
            "note": "6042efbf",
            "off": "5c7b16eb",
        },
    ),
    (
        {"收货人": "张三", "emoji": "🍵"},
        "81d0f217601e73b9e3641c03c09fae4e",
        {"emoji": "8e283a5f", "收货人": "f57bc4cb"},
    ),
    (
        {
            "amount": Decimal("12.50"),
            "zero": Decimal("-0.00"),
            "money": Money("178.00", "CNY"),
            "exp": Decimal("1E+3"),
        },
        "1ac5d3f11533e8498e7fd1eba129449d",
        {"amount": "859a8be8", "exp": "432721e2", "money": "cefd3b90", "zero": "5e4844c8"},
    ),
    (
        {
            "lines": [{"sku": "TEA-250G", "qty": 2}],
            "at": datetime(2026, 2, 16, 10, 0, tzinfo=SHANGHAI),
            "on": date(2026, 2, 16),
            "ratio": 0.25,
        },
        "b3b1c7af9f12bc76ae42b9996b6b3c05",
        {"at": "e1067645", "lines": "63545e48", "on": "e6278a71", "ratio": "33a37370"},
    ),
]


@pytest.mark.parametrize(("payload", "whole", "fields"), GOLDEN)
def test_payload_digests_are_the_ones_earlier_releases_stored(
    payload: dict[str, object], whole: str, fields: dict[str, str]
) -> None:
    assert payload_digests(payload) == (whole, fields)
    assert reference_digests(payload) == (whole, fields)


field_values = st.one_of(
    st.text(),
    st.integers(),
    st.booleans(),
    st.none(),
    st.decimals(),  # NaN and infinities included: both ways must refuse them alike
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([UTC, SHANGHAI])),
    st.datetimes(),  # naive: refused
)


def outcome_of(digest: object, payload: Mapping[str, object]) -> object:
    try:
        return digest(payload)  # type: ignore[operator]
    except ValidationError as error:  # the reference does not name the field
        return ValidationError, error.value, error.reason
    except UnicodeEncodeError as error:  # a lone surrogate cannot be UTF-8
        return UnicodeEncodeError, str(error)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), field_values, max_size=6))
def test_payload_digests_follow_the_plain_rule_for_any_payload(
    payload: dict[str, object],
) -> None:
    assert outcome_of(payload_digests, payload) == outcome_of(reference_digests, payload)


@settings(max_examples=300, deadline=None)
@given(st.decimals())
def test_the_decimal_shortcut_writes_what_canonical_json_writes(amount: Decimal) -> None:
    if amount.is_finite():
        expected = f"{len('amount') + 2 + len(canonical_json(amount))}:amount\x00c"
        chunk = (expected + canonical_json(amount)).encode()
        assert payload_digests({"amount": amount})[1] == {
            "amount": f"{zlib.crc32(chunk):08x}"
        }
    else:
        with pytest.raises(ValidationError) as caught:
            payload_digests({"amount": amount})
        assert caught.value.path == "payload.amount"


def test_equal_amounts_written_differently_digest_alike() -> None:
    assert payload_digests({"a": Decimal("1.5")}) == payload_digests({"a": Decimal("1.500")})
    assert payload_digests({"a": Decimal("0")}) == payload_digests({"a": Decimal("-0.00")})


def test_the_fast_path_tells_scalars_of_different_kinds_apart() -> None:
    # 1 == True == Decimal(1) in Python, but they are different request values.
    digests = {payload_digests({"v": v})[0] for v in (1, True, Decimal(1), "1", 1.0)}
    assert len(digests) == 5


class Tag(str):
    """A str subclass: not the plain scalar the fast path handles."""


def test_subclassed_scalars_take_the_checked_path() -> None:
    assert payload_digests({"v": Tag("x")}) == reference_digests({"v": Tag("x")})
    with pytest.raises(ValidationError) as caught:
        payload_digests({Tag("v"): "x"})
    assert caught.value.path == "payload"


def test_a_mapping_that_is_not_a_dict_digests_like_the_equal_dict() -> None:
    from types import MappingProxyType

    payload = {"order_id": "T1001", "status": 50}
    assert payload_digests(MappingProxyType(payload)) == payload_digests(payload)


def test_bad_payloads_are_still_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        payload_digests({"lines": [{"at": datetime(2026, 2, 16)}]})
    assert caught.value.path == "payload.lines[0].at"
    with pytest.raises(ValidationError) as caught:
        payload_digests({"amount": Decimal("NaN")})
    assert caught.value.path == "payload.amount"
    with pytest.raises(ValidationError) as caught:
        payload_digests({"a": 1, 2: "b"})  # type: ignore[dict-item]
    assert caught.value.path == "payload"
    with pytest.raises(ValidationError) as caught:
        payload_digests(["T1001"])  # type: ignore[arg-type]
    assert caught.value.path == "payload"


# --- records built without re-validation -----------------------------------------------

texts = st.text(alphabet="0123456789abcdef:.-_", min_size=1, max_size=40)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(
    texts, texts, texts, instants, st.dictionaries(st.text(max_size=5), st.text(max_size=8))
)
def test_a_trusted_claim_equals_the_validated_record(
    key: str, request_hash: str, token: str, at: datetime, fields: dict[str, str]
) -> None:
    lease = at + timedelta(seconds=30)
    trusted = IdempotencyRecord._trusted_claim(key, request_hash, token, at, lease, dict(fields))
    checked = IdempotencyRecord(
        key=key,
        request_hash=request_hash,
        token=token,
        created_at=at,
        lease_expires_at=lease,
        field_hashes=fields,
    )
    assert trusted == checked
    assert attrs.asdict(trusted, recurse=False) == attrs.asdict(checked, recurse=False)
    assert type(trusted.field_hashes) is type(checked.field_hashes)
    done_at = at + timedelta(seconds=2)
    assert trusted._trusted_completed(b"outcome", done_at) == attrs.evolve(
        checked, state=RecordState.COMPLETED, outcome=b"outcome", completed_at=done_at
    )


def test_trusted_records_stay_frozen_and_read_only() -> None:
    record = IdempotencyRecord._trusted_claim("k", "h", "t", T0, T0, {"order_id": "aa"})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.token = "mine"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.field_hashes["order_id"] = "bb"  # type: ignore[index]
    done = record._trusted_completed(b"x", T0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        done.outcome = b"y"  # type: ignore[misc]


# --- claim tokens ----------------------------------------------------------------------


def test_claim_tokens_are_unique_across_threads() -> None:
    seen: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(new_token() for _ in range(5_000))

    workers = [threading.Thread(target=draw, args=(tokens,)) for tokens in seen]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    every = [token for tokens in seen for token in tokens]
    assert len(set(every)) == len(every) == 20_000


_FORK_TOKENS = """
import os
from orderkit.idempotency.tokens import new_token
mine = new_token()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, new_token().encode("ascii"))
    os._exit(0)
os.waitpid(pid, 0)
print(mine, new_token(), os.read(read, 200).decode("ascii"))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_process_draws_tokens_from_a_fresh_sequence() -> None:
    # Forked from a fresh single-threaded interpreter: forking the test process itself
    # could copy a lock another thread holds and hang the child.
    result = subprocess.run(
        [sys.executable, "-c", _FORK_TOKENS], capture_output=True, text=True, timeout=60, check=True
    )
    mine, after, theirs = result.stdout.split()
    # Same counter position after the fork, but a prefix of its own.
    assert theirs[:24] != mine[:24]
    assert theirs != after


# --- outcomes: the default codec without an Outcome in between --------------------------


class RecordingCodec(PickleCodec):
    """A codec of the host's own (here: pickle, counting its calls)."""

    __slots__ = ("decoded", "encoded")

    def __init__(self) -> None:
        self.encoded: list[Outcome] = []
        self.decoded = 0

    def encode(self, outcome: Outcome) -> bytes:
        self.encoded.append(outcome)
        return super().encode(outcome)

    def decode(self, data: bytes) -> Outcome:
        self.decoded += 1
        return super().decode(data)


def refuse() -> None:
    raise InsufficientStock({"TEA-250G": (3, 1)}, order_id="T1001")


def test_the_default_codec_stores_what_pickle_codec_encodes() -> None:
    store = MemoryIdempotencyStore()
    guard = Idempotency(store, clock=ManualClock(T0))
    result = {"order_id": "T1001", "version": 7}
    guard.run("ok", {"order_id": "T1001"}, lambda: result)
    with pytest.raises(InsufficientStock):
        guard.run("refused", {"order_id": "T1001"}, refuse)
    ok, refused = store.get("ok"), store.get("refused")
    assert ok is not None and refused is not None
    assert ok.outcome == PickleCodec().encode(Outcome(value=result))
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


def test_a_codec_of_the_hosts_own_is_still_used_both_ways() -> None:
    codec = RecordingCodec()
    guard = Idempotency(MemoryIdempotencyStore(), codec=codec)
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


# --- the clock -------------------------------------------------------------------------


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


def test_a_clock_of_the_hosts_own_is_still_checked() -> None:
    store = MemoryIdempotencyStore()
    Idempotency(store, clock=ShanghaiClock()).run("k", {"order_id": "T1001"}, lambda: 1)
    record = store.get("k")
    assert record is not None and record.created_at == T0
    assert record.created_at.tzinfo is UTC and record.completed_at is not None
    assert record.completed_at.tzinfo is UTC
    with pytest.raises(ValidationError) as caught:
        Idempotency(store, clock=NaiveClock()).run("n", {"order_id": "T1001"}, lambda: 1)
    assert caught.value.path == "clock.now()"


# --- the memory store's deferred completion --------------------------------------------


def test_a_completion_is_folded_into_an_equal_record_once_read() -> None:
    store = MemoryIdempotencyStore()
    claim = IdempotencyRecord._trusted_claim("k", "h", "t", T0, T0, {"order_id": "aa"})
    store.claim(claim)
    done_at = T0 + timedelta(seconds=1)
    assert store.complete("k", "t", b"outcome", done_at) is True
    first, again = store.get("k"), store.claim(claim)
    assert first == again == attrs.evolve(
        claim, state=RecordState.COMPLETED, outcome=b"outcome", completed_at=done_at
    )
    assert first is again


def test_a_completion_handed_odd_values_is_validated_like_any_record() -> None:
    store = MemoryIdempotencyStore()
    store.claim(IdempotencyRecord._trusted_claim("k", "h", "t", T0, T0, {}))
    store.complete("k", "t", b"outcome", T0.astimezone(SHANGHAI))
    stored = store.get("k")
    assert stored is not None and stored.completed_at == T0
    assert stored.completed_at is not None and stored.completed_at.tzinfo is UTC
    store.claim(IdempotencyRecord._trusted_claim("n", "h", "t", T0, T0, {}))
    store.complete("n", "t", b"outcome", datetime(2026, 2, 16))
    with pytest.raises(ValidationError) as caught:
        store.get("n")
    assert caught.value.path == "completed_at"
