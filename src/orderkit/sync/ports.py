"""Sync's ports: the marketplace's API, where sync keeps its own state, and the order
lookups it (and a carrier callback) needs.

Every method that can fail for infrastructure reasons raises
:class:`~orderkit.model.errors.StoreError` (with the driver error chained).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from orderkit.lifecycle.ports import OrderRepository
from orderkit.sync.records import Cursor, DeadLetter, Listing, Page, Seen

__all__ = ["ChannelClient", "ListingClient", "OrderLookup", "SyncStore"]


#: What sync needs of the order repository: ``find_by_channel`` and ``find_by_waybill``,
#: which every :class:`~orderkit.lifecycle.ports.OrderRepository` offers.
OrderLookup = OrderRepository


@runtime_checkable
class ChannelClient(Protocol):
    """One shop's marketplace API, as sync reads it.

    ``changed(since, until, cursor)`` returns one page of the orders whose platform
    modified time lies in ``[since, until]`` (both aware), oldest first where the
    platform allows; ``cursor`` is ``None`` for the first page and then the previous
    page's ``next``. ``get`` reads one order (``None`` when the platform has none).
    Failures raise :class:`~orderkit.model.errors.StoreError`.
    """

    @property
    def shop(self) -> str:
        """The shop this client reads (cursors are kept per platform and shop)."""
        ...

    def changed(self, since: datetime, until: datetime, cursor: str | None) -> Page:
        """One page of orders changed in ``[since, until]``."""
        ...

    def get(self, channel_order_id: str) -> Mapping[str, Any] | None:
        """The order's current payload, or ``None``."""
        ...


@runtime_checkable
class ListingClient(ChannelClient, Protocol):
    """A :class:`ChannelClient` that also offers a cheap listing of the orders changed
    in a window as ``(channel order id, modified time)`` only (most marketplaces have
    one: an increment call without the order details), which
    :meth:`~orderkit.sync.Sync.sweep` reads to fetch only what is newer than stored.
    """

    def listed(self, since: datetime, until: datetime, cursor: str | None) -> Listing:
        """One page of the ids and modified times of the orders changed in ``[since,
        until]``; ``cursor`` as for :meth:`ChannelClient.changed`."""
        ...


@runtime_checkable
class SyncStore(Protocol):
    """What sync remembers: the newest version seen of each order, one cursor per
    platform and shop, and the dead letters.

    ``mark_seen`` and ``save_cursor`` never move backwards: an older version, or an
    earlier cursor, written after a newer one (two processes racing) is ignored, so no
    update is lost. A store that can share the order repository's transaction
    (SQLite on the same file) joins its ``atomic()`` blocks, so an order and what sync
    saw of it commit together.
    """

    def seen(self, platform: str, channel_order_id: str) -> Seen | None:
        """The newest version applied of this order, or ``None``."""
        ...

    def seen_many(self, platform: str, channel_order_ids: Collection[str]) -> dict[str, Seen]:
        """The newest version applied of each of these orders that has one, by channel
        order id, in one read (a page of payloads is checked at once)."""
        ...

    def seen_digests(self, platform: str, digests: Collection[str]) -> dict[str, Seen]:
        """The newest versions applied of this platform's orders whose digest is one of
        ``digests``, by digest, in one read: a payload identical to one of them is
        unchanged, and needs no mapping to tell."""
        ...

    def mark_seen(self, seen: Seen) -> bool:
        """Keep ``seen`` unless a version with a later ``modified_at`` is stored;
        ``True`` when it was kept."""
        ...

    def mark_seen_many(self, seen: Sequence[Seen]) -> int:
        """:meth:`mark_seen` for several versions in one write (a page's orders):
        what calling it on each in turn would keep, kept; the number of orders whose
        version was kept. A non-``Seen`` item is refused before anything is written."""
        ...

    def mark_stale(self, platform: str, channel_order_id: str) -> None:
        """Count one older version of this order that arrived late and was ignored."""
        ...

    def cursor(self, platform: str, shop: str) -> Cursor | None:
        """The polling cursor of this platform and shop, or ``None`` before the first."""
        ...

    def save_cursor(self, cursor: Cursor) -> Cursor:
        """Move the stored cursor forward to ``cursor`` (ids at an equal time are
        merged; an earlier one changes nothing) and return what is stored."""
        ...

    def add_dead_letter(self, letter: DeadLetter) -> DeadLetter:
        """Keep ``letter``; if its id is stored already, count one more attempt and
        keep the newer error. Returns what is stored."""
        ...

    def dead_letters(self, platform: str | None = None) -> list[DeadLetter]:
        """The dead letters (of ``platform``, when given), oldest first."""
        ...

    def dead_letter_count(self, platform: str | None = None) -> int:
        """How many dead letters (of ``platform``, when given) wait: what
        :meth:`dead_letters` would list, counted in the store."""
        ...

    def resolve_dead_letter(self, letter_id: str) -> bool:
        """Drop a letter whose replay succeeded; ``False`` when no such letter."""
        ...

    def lags(self, since: datetime, until: datetime) -> list[timedelta]:
        """The lag (``received_at - modified_at``) of every version stored by
        :meth:`mark_seen` that was received in ``[since, until)`` and is still the
        newest of its order, smallest first: what the watch reads as the sync lag
        (every ``SyncStore`` is an :class:`orderkit.watch.ports.SyncLagSource`).
        Read through an index on the receipt time; a naive bound raises
        :class:`~orderkit.model.errors.ValidationError` naming it."""
        ...
