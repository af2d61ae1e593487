"""The watch history's retention: resolved alert episodes deleted after a span, in
short batches (the outbox's retention is :meth:`~orderkit.outbox.OutboxRelay.purge`)."""

from __future__ import annotations

from datetime import timedelta

from orderkit.model.errors import ValidationError
from orderkit.model.retention import purge_in_batches
from orderkit.model.time import Clock, SystemClock
from orderkit.watch.ports import WatchRetention

__all__ = ["purge_resolved"]


def purge_resolved(
    state: object, older_than: timedelta, *, batch: int = 1000, clock: Clock | None = None
) -> int:
    """Delete the alert episodes ``state`` resolved more than ``older_than`` ago (by
    ``clock``, the system clock by default; added in 0.3) and return how many: the
    watch history's retention, for a cron job (``orderkit watch purge``;
    :meth:`~orderkit.watch.Watcher.purge` with the watcher's state and clock). Open
    episodes are kept, however old.

    The cut-off is read once; the state then deletes ``batch`` episodes at a time
    (:meth:`~orderkit.watch.ports.WatchRetention.purge_history`), each batch in a
    transaction of its own, until a batch finds fewer: a first purge of a year of
    history never holds the write lock for long, and watcher cycles run between its
    batches. ``older_than`` must be a positive ``timedelta`` (reaching back no earlier
    than 1900) and ``batch`` an integer from 1, or a
    :class:`~orderkit.model.errors.ValidationError` names it; so does a state without
    ``purge_history`` (a host's own state), naming ``state``. The health page then
    shows at most the retained span of resolved alerts.
    """
    if not isinstance(state, WatchRetention):
        raise ValidationError("state", state, "this watch state cannot purge its history"
                              " (no purge_history, see WatchRetention)")
    return purge_in_batches(
        lambda before, limit: state.purge_history(before, limit=limit), older_than, batch,
        SystemClock() if clock is None else clock, example="timedelta(days=90)",
    )
