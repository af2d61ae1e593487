"""RetryPolicy: deterministic back-off, and locks that outlive the retry holding them."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.idempotency import RetryPolicy
from orderkit.model.errors import ValidationError

S = timedelta(seconds=1)


def test_delays_grow_by_the_factor_and_stop_at_the_cap() -> None:
    policy = RetryPolicy(base=2 * S, factor=3, max_attempts=6, max_delay=60 * S, jitter=0)
    assert policy.delays() == [2 * S, 6 * S, 18 * S, 54 * S, 60 * S]


def test_attempts_list_every_attempt_with_the_wait_before_it() -> None:
    policy = RetryPolicy(base=S, factor=2, max_attempts=4, max_delay=10 * S, jitter=0)
    assert list(policy.attempts()) == [(1, timedelta(0)), (2, S), (3, 2 * S), (4, 4 * S)]


def test_the_same_seed_gives_the_same_jittered_schedule() -> None:
    policy = RetryPolicy(base=S, factor=2, max_attempts=8, max_delay=30 * S, jitter=0.5)
    first = policy.delays(random.Random(2026))
    again = policy.delays(random.Random(2026))
    other = policy.delays(random.Random(7))
    assert first == again
    assert first != other


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    jitter=st.floats(0, 1),
    factor=st.floats(1, 4),
    attempts=st.integers(1, 12),
)
def test_jitter_only_shortens_a_delay_and_never_below_its_share(
    seed: int, jitter: float, factor: float, attempts: int
) -> None:
    policy = RetryPolicy(base=S, factor=factor, max_attempts=attempts, max_delay=20 * S,
                         jitter=jitter)
    plain = policy.delays()
    jittered = policy.delays(random.Random(seed))
    assert len(jittered) == attempts - 1
    for full, spread in zip(plain, jittered, strict=True):
        assert full * (1 - jitter) - timedelta(microseconds=1) <= spread <= full
        assert full <= 20 * S


def test_lock_ttl_is_attempt_times_base_so_the_lock_outlives_the_retry() -> None:
    # The incident: a 5 s status lock, retries at growing intervals; from attempt 3 on the
    # lock expired mid-retry and another worker started over (17 tries per order).
    policy = RetryPolicy(base=5 * S, factor=2, max_attempts=5, max_delay=60 * S, jitter=0)
    assert [policy.lock_ttl(n) for n in range(1, 6)] == [5 * S, 10 * S, 15 * S, 20 * S, 25 * S]


def test_there_is_no_delay_after_the_last_attempt() -> None:
    policy = RetryPolicy(base=S, factor=2, max_attempts=3, max_delay=10 * S, jitter=0)
    with pytest.raises(ValidationError) as caught:
        policy.delay(3)
    assert caught.value.path == "attempt"


def test_huge_factors_do_not_overflow_the_cap() -> None:
    policy = RetryPolicy(base=S, factor=100, max_attempts=1000, max_delay=3600 * S, jitter=0)
    assert policy.delay(999) == 3600 * S


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("base", {"base": timedelta(0)}),
        ("factor", {"factor": 0.5}),
        ("factor", {"factor": True}),
        ("max_attempts", {"max_attempts": 0}),
        ("max_delay", {"max_delay": timedelta(milliseconds=10)}),
        ("jitter", {"jitter": 1.5}),
    ],
)
def test_bad_settings_are_refused_naming_the_field(field: str, kwargs: dict[str, object]) -> None:
    settings_: dict[str, object] = {
        "base": S, "factor": 2, "max_attempts": 3, "max_delay": 10 * S, "jitter": 0,
    }
    settings_.update(kwargs)
    with pytest.raises(ValidationError) as caught:
        RetryPolicy(**settings_)  # type: ignore[arg-type]
    assert caught.value.path == field


@pytest.mark.parametrize("attempt", [0, -1, True, "2"])
def test_bad_attempt_numbers_are_refused(attempt: object) -> None:
    policy = RetryPolicy(base=S)
    with pytest.raises(ValidationError):
        policy.lock_ttl(attempt)  # type: ignore[arg-type]
