"""The idempotency guard: once per key, replay, conflicts, leases, purge, crashes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.adapters.memory import MemoryIdempotencyStore
from orderkit.adapters.sqlite import SQLiteIdempotencyStore
from orderkit.idempotency import (
    MAX_DURATION,
    DuplicateDetector,
    Idempotency,
    RecordState,
    fingerprint,
)
from orderkit.idempotency.payloads import legacy_request_hash
from orderkit.idempotency.ports import IdempotencyStore
from orderkit.model.errors import (
    AlreadyInProgress,
    IdempotencyConflict,
    IdempotencyError,
    InsufficientStock,
    StoreError,
    TransitionNotAllowed,
    ValidationError,
)
from orderkit.model.money import Money
from orderkit.model.orders import OrderStatus
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IdempotencyStore]:
    if request.param == "memory":
        yield MemoryIdempotencyStore()
    else:
        yield SQLiteIdempotencyStore(tmp_path / "guard.db")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def guard(store: IdempotencyStore, clock: ManualClock) -> Idempotency:
    return Idempotency(store, clock=clock)


class Counter:
    """Counts how often the guarded work really ran."""

    def __init__(self, result: object = "confirmed") -> None:
        self.calls = 0
        self.result = result

    def __call__(self) -> object:
        self.calls += 1
        return self.result


CONFIRM = {"order_id": "T1001", "status": 50, "by": "buyer"}


# --- once per key ----------------------------------------------------------------------


def test_confirmation_runs_once_and_later_calls_get_the_stored_result(
    guard: Idempotency,
) -> None:
    work = Counter({"order_id": "T1001", "version": 7})
    key = fingerprint("order.confirm", "T1001")
    first = guard.run(key, CONFIRM, work)
    again = guard.run(key, dict(CONFIRM), work)
    assert first == again == {"order_id": "T1001", "version": 7}
    assert work.calls == 1


def test_different_keys_run_separately(guard: Idempotency) -> None:
    work = Counter()
    guard.run("a", CONFIRM, work)
    guard.run("b", CONFIRM, work)
    assert work.calls == 2


def test_equal_amounts_written_differently_are_the_same_payload(guard: Idempotency) -> None:
    work = Counter()
    guard.run("pay", {"amount": Money("12.5", "CNY")}, work)
    guard.run("pay", {"amount": Money("12.50", "CNY")}, work)
    guard.run("pay", {"amount": Money(Decimal("12.500"), "CNY")}, work)
    assert work.calls == 1


# --- payload mismatch ------------------------------------------------------------------


def test_same_key_with_another_payload_names_the_differing_fields(guard: Idempotency) -> None:
    work = Counter()
    guard.run("k", CONFIRM, work)
    with pytest.raises(IdempotencyConflict) as caught:
        guard.run("k", {"order_id": "T1001", "status": 90, "reason": "x"}, work)
    assert caught.value.fields == ("by", "reason", "status")
    assert caught.value.key == "k"
    assert work.calls == 1


def test_a_conflicting_call_does_not_disturb_the_stored_result(guard: Idempotency) -> None:
    guard.run("k", CONFIRM, Counter("first"))
    with pytest.raises(IdempotencyConflict):
        guard.run("k", {**CONFIRM, "by": "ops"}, Counter("second"))
    assert guard.run("k", CONFIRM, Counter("third")) == "first"


def test_a_conflict_is_reported_even_while_the_first_call_runs(guard: Idempotency) -> None:
    def first() -> str:
        with pytest.raises(IdempotencyConflict) as caught:
            guard.run("k", {**CONFIRM, "status": 40}, Counter())
        assert caught.value.fields == ("status",)
        return "done"

    assert guard.run("k", CONFIRM, first) == "done"


# --- in progress, lease expiry and takeover --------------------------------------------


def test_a_call_arriving_while_the_first_runs_is_told_when_the_lease_ends(
    guard: Idempotency,
) -> None:
    seen: list[AlreadyInProgress] = []

    def first() -> str:
        try:
            guard.run("k", CONFIRM, Counter())
        except AlreadyInProgress as error:
            seen.append(error)
        return "done"

    guard.run("k", CONFIRM, first)
    assert len(seen) == 1
    assert seen[0].lease_expires_at == T0 + timedelta(seconds=30)
    assert seen[0].key == "k"


def test_after_the_lease_expires_the_next_caller_takes_over_and_the_late_finisher_loses(
    guard: Idempotency, clock: ManualClock
) -> None:
    second = Counter("second result")

    def slow_first() -> str:
        # The first holder stalls past its lease; a retry takes over and finishes.
        clock.advance(timedelta(seconds=31))
        assert guard.run("k", CONFIRM, second) == "second result"
        return "late first result"

    # The late finisher gets what its own work returned ...
    assert guard.run("k", CONFIRM, slow_first) == "late first result"
    # ... but the stored outcome is the new holder's (compare-and-set on the token).
    assert guard.run("k", CONFIRM, Counter("third")) == "second result"
    assert second.calls == 1
    record = guard.record("k")
    assert record is not None and record.state is RecordState.COMPLETED


def test_a_lease_that_has_not_expired_is_respected_to_the_microsecond(
    guard: Idempotency, clock: ManualClock
) -> None:
    def first() -> str:
        clock.advance(timedelta(seconds=30) - timedelta(microseconds=1))
        with pytest.raises(AlreadyInProgress):
            guard.run("k", CONFIRM, Counter())
        clock.advance(timedelta(microseconds=1))
        assert guard.run("k", CONFIRM, Counter("taken over")) == "taken over"
        return "first"

    guard.run("k", CONFIRM, first)


def test_a_per_call_lease_overrides_the_default(guard: Idempotency) -> None:
    def first() -> None:
        with pytest.raises(AlreadyInProgress) as caught:
            guard.run("k", CONFIRM, Counter())
        assert caught.value.lease_expires_at == T0 + timedelta(minutes=2)

    guard.run("k", CONFIRM, first, lease=timedelta(minutes=2))


# --- crash of fn: business outcome vs transient fault ----------------------------------


def test_a_refusal_marked_final_is_stored_and_replayed_without_running_again(
    store: IdempotencyStore, clock: ManualClock
) -> None:
    guard = Idempotency(store, clock=clock, final_errors=(InsufficientStock,))
    calls = 0

    def lock_stock() -> None:
        nonlocal calls
        calls += 1
        raise InsufficientStock({"TEA-250G": (3, 1)}, order_id="T1001")

    for _ in range(3):
        with pytest.raises(InsufficientStock) as caught:
            guard.run("lock", {"order_id": "T1001"}, lock_stock)
        assert caught.value.shortages == {"TEA-250G": (3, 1)}
        assert caught.value.order_id == "T1001"
    assert calls == 1


def test_a_refusal_not_marked_final_releases_the_key(guard: Idempotency) -> None:
    def refuse() -> None:
        raise InsufficientStock({"TEA-250G": (3, 1)}, order_id="T1001")

    with pytest.raises(InsufficientStock):
        guard.run("lock", {"order_id": "T1001"}, refuse)
    assert guard.record("lock") is None
    assert guard.run("lock", {"order_id": "T1001"}, Counter("locked")) == "locked"


def test_final_errors_per_call_override_the_guards(store: IdempotencyStore) -> None:
    guard = Idempotency(store, final_errors=(InsufficientStock,))
    work = Counter()
    refusals = 0

    def refuse_stock() -> None:
        raise InsufficientStock({"TEA-250G": (3, 1)})

    def refuse_confirmation() -> None:
        nonlocal refusals
        refusals += 1
        raise TransitionNotAllowed("T1001", "SHIPPED", "confirm", "not delivered yet")

    with pytest.raises(InsufficientStock):
        guard.run("a", CONFIRM, refuse_stock, final_errors=())
    assert guard.run("a", CONFIRM, work) == "confirmed"  # not remembered: the retry ran

    def final(error: BaseException) -> bool:
        return isinstance(error, TransitionNotAllowed)

    for _ in range(2):
        with pytest.raises(TransitionNotAllowed):
            guard.run("b", CONFIRM, refuse_confirmation, final_errors=final)
    with pytest.raises(TransitionNotAllowed):  # a stored answer stands for every caller
        guard.run("b", CONFIRM, work)
    assert refusals == 1
    assert work.calls == 1


def test_a_transient_fault_releases_the_claim_so_the_retry_runs(guard: Idempotency) -> None:
    attempts = 0

    def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise TimeoutError("carrier API timed out")
        return "waybill SF123"

    for _ in range(2):
        with pytest.raises(TimeoutError):
            guard.run("ship", CONFIRM, flaky)
        assert guard.record("ship") is None
    assert guard.run("ship", CONFIRM, flaky) == "waybill SF123"
    assert guard.run("ship", CONFIRM, flaky) == "waybill SF123"
    assert attempts == 3


def test_store_errors_from_inside_fn_count_as_transient(guard: Idempotency) -> None:
    work = Counter()

    def broken() -> None:
        raise StoreError("save order", "database is locked")

    with pytest.raises(StoreError):
        guard.run("k", CONFIRM, broken)
    assert guard.run("k", CONFIRM, work) == "confirmed"


def test_retryable_errors_are_never_final(store: IdempotencyStore) -> None:
    guard = Idempotency(
        store,
        final_errors=(TransitionNotAllowed, InsufficientStock, StoreError),
        retryable=lambda e: isinstance(e, TransitionNotAllowed | StoreError),
    )

    def refuse() -> None:
        raise TransitionNotAllowed("T1001", "PAID", "confirm", "not shipped yet")

    with pytest.raises(TransitionNotAllowed):
        guard.run("k", CONFIRM, refuse)
    assert guard.run("k", CONFIRM, Counter("now allowed")) == "now allowed"
    assert guard.is_transient(TransitionNotAllowed("T", "PAID", "x")) is True
    assert guard.is_transient(StoreError("save", "locked")) is True
    assert guard.is_transient(InsufficientStock({})) is False
    assert guard.is_transient(KeyError("x")) is True


def test_a_result_that_cannot_be_stored_is_returned_once_and_never_run_again(
    guard: Idempotency,
) -> None:
    made: list[threading.Lock] = []

    def charge() -> threading.Lock:
        made.append(threading.Lock())  # does not pickle
        return made[-1]

    assert guard.run("k", CONFIRM, charge) is made[0]
    record = guard.record("k")
    assert record is not None and record.state is RecordState.COMPLETED
    with pytest.raises(IdempotencyError) as caught:
        guard.run("k", CONFIRM, charge)
    assert caught.value.key == "k"
    assert "could not be stored" in str(caught.value)
    assert len(made) == 1


def test_a_final_refusal_that_cannot_be_stored_is_raised_as_itself_and_never_run_again(
    store: IdempotencyStore,
) -> None:
    guard = Idempotency(store, final_errors=(InsufficientStock,))
    calls = 0

    class Unstorable(InsufficientStock):
        def __init__(self) -> None:
            super().__init__({"TEA": (2, 0)})
            self.lock = threading.Lock()

    def refuse() -> None:
        nonlocal calls
        calls += 1
        raise Unstorable()

    with pytest.raises(Unstorable) as caught:
        guard.run("k", CONFIRM, refuse)
    assert any("not stored for replay" in note for note in caught.value.__notes__)
    with pytest.raises(IdempotencyError):
        guard.run("k", CONFIRM, refuse)
    assert calls == 1


@pytest.mark.parametrize("final_errors", [(KeyError, "x"), "KeyError", 3])
def test_final_errors_must_be_exception_types_or_a_predicate(
    store: IdempotencyStore, final_errors: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        Idempotency(store, final_errors=final_errors)  # type: ignore[arg-type]
    assert caught.value.path == "final_errors"
    with pytest.raises(ValidationError) as caught:
        Idempotency(store).run("k", CONFIRM, Counter(), final_errors=final_errors)  # type: ignore[arg-type]
    assert caught.value.path == "final_errors"


def test_fn_must_be_callable(guard: Idempotency) -> None:
    with pytest.raises(ValidationError) as caught:
        guard.run("k", CONFIRM, "confirm")  # type: ignore[arg-type]
    assert caught.value.path == "fn"
    assert guard.record("k") is None


# --- retention and purge ---------------------------------------------------------------


def test_purge_forgets_old_keys_so_a_reused_key_is_a_new_request(
    store: IdempotencyStore, clock: ManualClock
) -> None:
    guard = Idempotency(store, clock=clock, retention=timedelta(hours=24))
    work = Counter()
    guard.run("k", CONFIRM, work)
    clock.advance(timedelta(hours=23))
    guard.run("fresh", CONFIRM, work)
    assert guard.purge() == 0
    clock.advance(timedelta(hours=1, seconds=1))
    assert guard.purge() == 1
    assert guard.record("fresh") is not None
    guard.run("k", {**CONFIRM, "by": "another request"}, work)
    assert work.calls == 3


def test_purge_accepts_an_explicit_instant(guard: Idempotency) -> None:
    guard.run("k", CONFIRM, Counter())
    assert guard.purge(T0 + timedelta(days=2)) == 1


# --- decorator -------------------------------------------------------------------------


def test_the_decorator_guards_a_function_by_its_business_key(guard: Idempotency) -> None:
    applied: list[str] = []

    @guard.idempotent(key=lambda order_id, **_: fingerprint("confirm", order_id))
    def confirm_receipt(order_id: str, *, by: str = "buyer") -> str:
        """Confirm that the buyer received the parcel."""
        applied.append(order_id)
        return f"{order_id} completed by {by}"

    assert confirm_receipt("T1001") == "T1001 completed by buyer"
    assert confirm_receipt("T1001", by="buyer") == "T1001 completed by buyer"
    assert confirm_receipt("T1002") == "T1002 completed by buyer"
    assert applied == ["T1001", "T1002"]
    assert confirm_receipt.__name__ == "confirm_receipt"
    assert confirm_receipt.__doc__ == "Confirm that the buyer received the parcel."
    with pytest.raises(IdempotencyConflict) as caught:
        confirm_receipt("T1001", by="ops")
    assert caught.value.fields == ("by",)


def test_the_decorator_can_take_an_explicit_payload(guard: Idempotency) -> None:
    @guard.idempotent(
        key=lambda order_id, note: f"confirm:{order_id}",
        payload=lambda order_id, note: {"order_id": order_id},
    )
    def confirm(order_id: str, note: str) -> str:
        return note

    assert confirm("T1", "first") == "first"
    assert confirm("T1", "notes are not part of the request") == "first"


def test_a_decorated_method_leaves_the_object_out_of_the_payload(guard: Idempotency) -> None:
    class Confirmations:
        def __init__(self) -> None:
            self.sent: list[str] = []

        @guard.idempotent(key=lambda self, order_id: f"confirm:{order_id}")
        def send(self, order_id: str) -> int:
            self.sent.append(order_id)
            return len(self.sent)

    worker, other_worker = Confirmations(), Confirmations()
    assert worker.send("T1") == 1
    assert other_worker.send("T1") == 1  # the stored result; the work did not run again
    assert worker.sent == ["T1"]
    assert other_worker.sent == []


def test_a_retry_rebuilt_from_json_replays_a_call_made_with_an_enum(
    guard: Idempotency,
) -> None:
    work = Counter()
    assert guard.run("k", {"order_id": "T1", "status": OrderStatus.PAID}, work) == "confirmed"
    assert guard.run("k", {"order_id": "T1", "status": 20}, work) == "confirmed"
    assert guard.run("k", {"order_id": "T1", "status": OrderStatus.PAID}, work) == "confirmed"
    assert work.calls == 1
    with pytest.raises(IdempotencyConflict) as caught:
        guard.run("k", {"order_id": "T1", "status": OrderStatus.SHIPPED}, work)
    assert caught.value.fields == ("status",)


def test_a_record_stored_with_an_enum_by_an_earlier_release_still_replays(
    store: IdempotencyStore, clock: ManualClock
) -> None:
    payload = {"order_id": "T1", "status": OrderStatus.PAID}
    guard = Idempotency(store, clock=clock)
    guard.run("k", payload, Counter())
    record = store.get("k")
    assert record is not None
    # As an earlier release wrote it: the enum digested by its canonical JSON.
    old = attrs.evolve(
        record, key="old", request_hash=legacy_request_hash(payload), token="t-old",
        state=RecordState.IN_PROGRESS, outcome=None, completed_at=None,
    )
    assert store.claim(old) is None
    assert store.complete("old", "t-old", record.outcome or b"", T0)
    work = Counter()
    assert guard.run("old", payload, work) == "confirmed"
    assert work.calls == 0
    with pytest.raises(IdempotencyConflict):  # the old form of another status differs
        guard.run("old", {"order_id": "T1", "status": OrderStatus.SHIPPED}, work)


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", 42, None, "x" * 513])
def test_a_bad_key_is_refused_naming_the_field(guard: Idempotency, key: object) -> None:
    with pytest.raises(ValidationError) as caught:
        guard.run(key, CONFIRM, Counter())  # type: ignore[arg-type]
    assert caught.value.path == "key"


def test_a_payload_that_is_not_a_mapping_is_refused(guard: Idempotency) -> None:
    with pytest.raises(ValidationError) as caught:
        guard.run("k", ["T1001"], Counter())  # type: ignore[arg-type]
    assert caught.value.path == "payload"


@pytest.mark.parametrize("payload", [{1: "x"}, {"order_id": "T1", 2: "x"}])
def test_payload_field_names_must_be_strings(guard: Idempotency, payload: object) -> None:
    with pytest.raises(ValidationError) as caught:
        guard.run("k", payload, Counter())  # type: ignore[arg-type]
    assert caught.value.path == "payload"


def test_a_naive_datetime_in_the_payload_is_refused_with_its_path(guard: Idempotency) -> None:
    work = Counter()
    with pytest.raises(ValidationError) as caught:
        guard.run("k", {"lines": [{"at": datetime(2026, 2, 16)}]}, work)
    assert caught.value.path == "payload.lines[0].at"
    assert work.calls == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [("lease", timedelta(0)), ("retention", timedelta(seconds=-1)), ("lease", 30)],
)
def test_bad_durations_are_refused(store: IdempotencyStore, name: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Idempotency(store, **{name: value})  # type: ignore[arg-type]
    assert caught.value.path == name


@pytest.mark.parametrize("name", ["lease", "retention"])
@pytest.mark.parametrize(
    "value", [MAX_DURATION + timedelta(microseconds=1), timedelta(days=365 * 8000), timedelta.max]
)
def test_a_lease_or_retention_over_ten_years_is_refused_when_the_guard_is_built(
    store: IdempotencyStore, name: str, value: timedelta
) -> None:
    with pytest.raises(ValidationError) as caught:
        Idempotency(store, **{name: value})  # type: ignore[arg-type]
    assert (caught.value.path, caught.value.value) == (name, value)
    assert "10 years" in caught.value.reason


@pytest.mark.parametrize("years", [7000, 8000])
def test_a_per_call_lease_over_ten_years_is_refused_before_the_key_is_claimed(
    guard: Idempotency, store: IdempotencyStore, years: int
) -> None:
    work = Counter()
    with pytest.raises(ValidationError) as caught:
        guard.run("k", CONFIRM, work, lease=timedelta(days=365 * years))
    assert caught.value.path == "lease"
    assert work.calls == 0
    assert store.get("k") is None


def test_the_longest_lease_and_retention_are_kept(store: IdempotencyStore) -> None:
    guard = Idempotency(
        store, clock=ManualClock(T0), lease=MAX_DURATION, retention=MAX_DURATION
    )
    assert guard.run("k", CONFIRM, Counter()) == "confirmed"
    record = store.get("k")
    assert record is not None
    assert record.lease_expires_at == T0 + MAX_DURATION
    assert guard.purge() == 0


def test_a_purge_instant_outside_the_stored_range_is_refused(guard: Idempotency) -> None:
    with pytest.raises(ValidationError) as caught:
        guard.purge(datetime(1, 1, 1, tzinfo=UTC))
    assert caught.value.path == "now"


def test_a_duplicate_window_over_ten_years_is_refused(store: IdempotencyStore) -> None:
    with pytest.raises(ValidationError) as caught:
        DuplicateDetector(store, window=timedelta.max)
    assert caught.value.path == "window"


# --- the general rule ------------------------------------------------------------------

Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("call"), st.integers(0, 1)),  # payload variant 0 or 1
        st.tuples(st.just("fail"), st.integers(0, 0)),  # a transient fault inside fn
        st.tuples(st.just("wait"), st.integers(0, 40)),  # seconds; the lease is 30
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(steps)
def test_any_sequence_of_calls_with_one_key_runs_the_work_at_most_once(
    sequence: list[Step],
) -> None:
    clock = ManualClock(T0)
    guard = Idempotency(MemoryIdempotencyStore(), clock=clock)
    successes = 0
    first_payload: int | None = None

    def work() -> int:
        nonlocal successes
        successes += 1
        return 7

    def failing() -> int:
        raise ConnectionError("dropped")

    for action, value in sequence:
        if action == "wait":
            clock.advance(timedelta(seconds=value))
            continue
        variant = value
        payload = {"order_id": "T1001", "variant": variant}
        fn: Callable[[], int] = work if action == "call" else failing
        try:
            result = guard.run("k", payload, fn)
        except IdempotencyConflict as conflict:
            assert first_payload is not None and variant != first_payload
            assert conflict.fields == ("variant",)
            continue
        except ConnectionError:
            assert successes == 0
            continue
        assert result == 7
        if first_payload is None:
            first_payload = variant
        assert variant == first_payload
    assert successes <= 1
    assert successes == (1 if first_payload is not None else 0)
