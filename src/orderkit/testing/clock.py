"""A clock that moves only when the test says so."""

from __future__ import annotations

from datetime import datetime, timedelta

from orderkit.model.errors import ValidationError
from orderkit.model.time import ensure_aware

__all__ = ["ManualClock"]


class ManualClock:
    """A :class:`~orderkit.model.time.Clock` for tests: fixed until advanced.

    >>> from datetime import datetime, timedelta, UTC
    >>> clock = ManualClock(datetime(2026, 2, 16, tzinfo=UTC))
    >>> clock.advance(timedelta(minutes=5)).isoformat()
    '2026-02-16T00:05:00+00:00'
    """

    def __init__(self, start: datetime) -> None:
        self._now = ensure_aware(start, path="start")

    def now(self) -> datetime:
        """The current (manual) instant, in UTC."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (never backwards) and return the new instant."""
        if not isinstance(delta, timedelta) or delta < timedelta(0):
            raise ValidationError("delta", delta, "expected a non-negative timedelta")
        self._now += delta
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (may go backwards, to simulate a skewed host clock)."""
        self._now = ensure_aware(instant, path="instant")
