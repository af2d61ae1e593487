"""Retention: deleting what aged past a span, in short batches.

The outbox's purge (:meth:`~orderkit.outbox.OutboxRelay.purge`) and the watch
history's (:func:`~orderkit.watch.purge_resolved`) check their arguments and loop the
same way, and every store that implements their ports checks the same ``before`` and
``limit``; both live here once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from orderkit.model._checks import quantity
from orderkit.model.errors import ValidationError
from orderkit.model.time import EARLIEST, Clock, checked_now, ensure_aware

__all__ = ["checked_purge", "purge_in_batches"]

_ZERO: Final = timedelta(0)


def checked_purge(before: object, limit: object) -> tuple[datetime, int | None]:
    """A store's purge arguments, checked (``purge_delivered``, ``purge_history``):
    ``before`` aware, ``limit`` an integer from 1 or ``None``."""
    cutoff = ensure_aware(before, path="before")
    return cutoff, None if limit is None else quantity("limit", limit)


def purge_in_batches(
    delete: Callable[[datetime, int], int], older_than: object, batch: object, clock: Clock,
    *, example: str,
) -> int:
    """Delete what aged more than ``older_than`` by ``clock``, ``batch`` at a time, and
    return how many: ``delete(before, limit)`` deletes at most ``limit`` rows older than
    ``before`` (each call a transaction of its own) and returns how many it deleted; it
    is called until a call deletes fewer than ``batch``. The cut-off is read once.

    ``older_than`` must be a positive ``timedelta`` reaching back no earlier than 1900
    (``example`` shows one in the refusal, ``timedelta(days=30)``) and ``batch`` an
    integer from 1, or a :class:`~orderkit.model.errors.ValidationError` names it,
    before anything is deleted."""
    if not isinstance(older_than, timedelta) or older_than <= _ZERO:
        raise ValidationError(
            "older_than", older_than, f"expected a positive timedelta (like {example})"
        )
    limit = quantity("batch", batch)
    now = checked_now(clock)
    if now - EARLIEST < older_than:
        raise ValidationError("older_than", older_than, f"reaches back before {EARLIEST.year}")
    before, purged = now - older_than, 0
    while (deleted := delete(before, limit)) == limit:
        purged += deleted
    return purged + deleted
