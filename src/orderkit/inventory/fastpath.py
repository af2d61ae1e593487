"""An optional store capability: decide and apply a whole lock or release in one call.

The port (:class:`~orderkit.inventory.ports.InventoryStore`) is a conversation: open a
transaction, read each balance, append each entry, let the store re-check it, commit.
Over SQLite the disk sync dwarfs that; over a store that lives in the process, the
conversation *is* the cost (about fifty Python calls per lock+release). A store may
therefore also offer the methods of :class:`FastInventoryStore` (lock, a batch of locks,
release or commit); the ledger uses them when present and talks over the port otherwise.

A fast method handles only the ordinary case and checks the same rules as
:func:`~orderkit.inventory.rules.apply_entry`, all of them before writing anything.
Whenever the call is out of the ordinary (a due lock line to expire first, a release
the breaker would park, an unknown lock, a line the lock does not hold, counters that
would break a balance) it raises :class:`FastPathDeclined` having written nothing, and
the ledger makes the same call over the port, which decides, records and reports it
exactly as it always did. The entries a fast method writes are the entries the port
path would have written, with the same ids drawn in the same order
(``tests/test_inventory_fastpaths.py`` runs both on random operation sequences).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from orderkit.inventory.entries import LockLine

__all__ = ["FastInventoryStore", "FastPathDeclined"]


class FastPathDeclined(Exception):
    """A fast method declined the call and wrote nothing; use the port instead."""


@runtime_checkable
class FastInventoryStore(Protocol):
    """What a store offers for the ledger's one-call lock and release."""

    def fast_lock(
        self,
        order_id: str,
        demand: Mapping[str, int],
        lock_key: str,
        now: datetime,
        expires_at: datetime,
        actor: str,
        new_id: Callable[[], str],
    ) -> dict[str, tuple[int, int]]:
        """Lock all of ``demand`` (validated, SKU-sorted) as lock ``lock_key``, or nothing.

        Returns ``{}`` when locked, otherwise every short SKU as ``(wanted, available)``
        with nothing written. Entry ids come from ``new_id``, one per line in order,
        drawn only once the lock is certain.
        """
        ...

    def fast_lock_many(
        self,
        requests: Sequence[tuple[str, Mapping[str, int]]],
        now: datetime,
        expires_at: datetime,
        actor: str,
        new_id: Callable[[], str],
    ) -> list[str | dict[str, tuple[int, int]]]:
        """``lock_many``: decide each ``(order_id, demand)`` in order, in one batch.

        Returns, per request, the lock key it got or its shortages; a lock key is drawn
        from ``new_id`` only for a request that locks, then one id per line.
        """
        ...

    def fast_resolve(
        self,
        lock_key: str,
        order_id: str,
        wanted: Mapping[str, int] | None,
        commit: bool,
        now: datetime,
        since: datetime,
        release_limit: int,
        actor: str,
        reason: str,
        new_id: Callable[[], str],
    ) -> tuple[dict[str, int], Sequence[LockLine]]:
        """Release (or commit) ``wanted`` (or all that remains) of lock ``lock_key``.

        Returns the units moved per SKU and, when nothing moved, the targeted lines as
        stored (the ledger reports why from them). Declines a release that would meet
        ``release_limit`` releases of a SKU since ``since`` (the breaker's case).
        """
        ...
