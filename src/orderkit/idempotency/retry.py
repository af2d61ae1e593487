"""Retry schedules, and how long a lock must live while a retry holds it.

The incident behind this module: a "confirm receipt" status change took a status lock
with a fixed 5-second lifetime, then retried with growing back-off. From the third
attempt on, the lock expired while the retry was still running, a second worker saw the
order free and started its own confirmation, and the two kept tripping each other: 17
attempts per order and 25 times the expected traffic. :meth:`RetryPolicy.lock_ttl` ties
the lock's lifetime to the attempt (``attempt x base``), so the lock outlives the retry
that holds it.

Delays are deterministic under a seeded :class:`random.Random`, so a schedule can be
printed, tested and compared.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import attrs

from orderkit.model.errors import ValidationError

__all__ = ["RetryPolicy"]


def _positive_delta(name: str) -> Callable[[Any, Any, Any], None]:
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if not isinstance(value, timedelta) or value <= timedelta(0):
            raise ValidationError(name, value, "expected a positive timedelta")

    return check


def _check_factor(_instance: Any, _attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 100:
        raise ValidationError("factor", value, "expected a number from 1 to 100")


def _check_attempts(_instance: Any, _attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ValidationError("max_attempts", value, "expected an integer from 1 to 1000")


def _check_jitter(_instance: Any, _attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValidationError("jitter", value, "expected a fraction from 0 to 1")


@attrs.frozen
class RetryPolicy:
    """Exponential back-off: ``base, base*factor, base*factor**2, ...`` capped at ``max_delay``.

    ``max_attempts`` counts every attempt, the first included, so there are
    ``max_attempts - 1`` delays. ``jitter`` spreads each delay uniformly over
    ``delay * (1 - jitter) .. delay`` so that a fleet does not retry in step.

    >>> policy = RetryPolicy(timedelta(seconds=1), 2, 5, timedelta(seconds=6), 0)
    >>> [d.total_seconds() for d in policy.delays()]
    [1.0, 2.0, 4.0, 6.0]
    >>> policy.lock_ttl(3)
    datetime.timedelta(seconds=3)
    """

    base: timedelta = attrs.field(validator=_positive_delta("base"))
    factor: float = attrs.field(default=2.0, validator=_check_factor)
    max_attempts: int = attrs.field(default=5, validator=_check_attempts)
    max_delay: timedelta = attrs.field(
        default=timedelta(minutes=5), validator=_positive_delta("max_delay")
    )
    jitter: float = attrs.field(default=0.0, validator=_check_jitter)

    def __attrs_post_init__(self) -> None:
        if self.max_delay < self.base:
            raise ValidationError("max_delay", self.max_delay, "must be at least base")

    def _check_attempt(self, attempt: object) -> int:
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValidationError("attempt", attempt, "expected an attempt number from 1")
        return attempt

    def delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        """How long to wait after failed attempt ``attempt`` (1-based) before the next.

        Without ``rng`` the delay has no jitter (the upper bound of the spread).
        """
        self._check_attempt(attempt)
        if attempt >= self.max_attempts:
            raise ValidationError(
                "attempt", attempt, f"there is no retry after attempt {self.max_attempts}"
            )
        cap = self.max_delay.total_seconds()
        # Compare exponents first: factor ** attempt overflows a float long before 1000.
        growth = (attempt - 1) * math.log(float(self.factor))
        if growth >= math.log(cap / self.base.total_seconds()):
            delay = self.max_delay
        else:
            delay = min(self.max_delay, self.base * math.exp(growth))
        if rng is not None and self.jitter:
            delay = delay * (1 - self.jitter * rng.random())
        return delay

    def delays(self, rng: random.Random | None = None) -> list[timedelta]:
        """The whole schedule: one delay after each attempt but the last."""
        return [self.delay(attempt, rng) for attempt in range(1, self.max_attempts)]

    def attempts(self, rng: random.Random | None = None) -> Iterator[tuple[int, timedelta]]:
        """``(attempt, delay before it)`` for every attempt; the first waits zero."""
        yield 1, timedelta(0)
        for attempt in range(2, self.max_attempts + 1):
            yield attempt, self.delay(attempt - 1, rng)

    def lock_ttl(self, attempt: int) -> timedelta:
        """How long a lock taken by attempt ``attempt`` must live: ``attempt x base``.

        Use it as the guard's ``lease`` for that attempt, so a slower retry never finds
        its lock already handed to someone else.
        """
        return self.base * self._check_attempt(attempt)
