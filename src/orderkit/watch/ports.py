"""Where the watch keeps its alert episodes, so a restart or a second watcher process
never sends an alert twice."""

from __future__ import annotations

import inspect
from collections.abc import Collection, MutableMapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol, TypeGuard, runtime_checkable

import attrs

from orderkit.model.errors import ValidationError
from orderkit.model.retention import checked_purge
from orderkit.model.time import ensure_aware

if TYPE_CHECKING:
    from orderkit.model.orders import Order

__all__ = [
    "DeadLetterSource",
    "Episode",
    "EpisodeState",
    "KeyedWatchState",
    "OutboxBacklogSource",
    "ParkedReleaseSource",
    "PaymentGateway",
    "PaymentStatus",
    "SyncLagSource",
    "WatchHistory",
    "WatchRetention",
    "WatchState",
    "checked_history",
    "checked_keys",
    "checked_purge",
    "checked_window",
    "keyed_cycle",
    "takes_keys",
]

EpisodeState = Literal["pending", "firing", "inhibited", "resolved"]


@attrs.frozen
class Episode:
    """One alert's life: its dedup ``key`` (rule and order, or rule and group), the
    ``orders`` it is about, when the condition was first seen, when it fired and was last
    sent, how many times it was sent, when it was resolved (``resolved_at``, with
    state ``resolved``), and the queue it was last sent to (``route_to``; its
    ``resolved`` goes there too, wherever its orders would be routed by then; ``None``
    before it is sent, or in an episode stored before orderkit kept it).

    ``claim`` and ``claimed_until``: a watcher run that decided to send this episode's
    notification claims it until then (its lease) and stores what it sent only once the
    notifier returned; other runs leave a claimed episode alone until the claim runs out,
    so a run killed while it sends leaves its notifications to be sent again."""

    key: str
    rule: str
    group: str
    state: EpisodeState
    orders: tuple[str, ...]
    first_seen: datetime
    fired_at: datetime | None = None
    last_sent: datetime | None = None
    sent: int = 0
    resolved_at: datetime | None = None
    route_to: str | None = None
    claim: str | None = None
    claimed_until: datetime | None = None

    def claimed(self, now: datetime) -> bool:
        """Whether a watcher run's claim on the episode holds at ``now``."""
        return self.claimed_until is not None and now < self.claimed_until


@runtime_checkable
class WatchState(Protocol):
    """The open episodes. ``cycle()`` is a block that sees every open episode by key and
    writes back what the block changed, atomically and exclusively: two watcher
    processes run their cycles one after the other.

    An episode the block leaves in state ``resolved`` is closed: the states orderkit
    ships move it out of the open episodes into their :class:`WatchHistory`. (A state
    that keeps it open is tolerated: the watch treats a resolved episode as absent.)

    A state whose ``cycle`` also takes ``keys`` (:class:`KeyedWatchState`, as the
    states orderkit ships do) lets a cycle read only the episodes it names."""

    def cycle(self) -> AbstractContextManager[MutableMapping[str, Episode]]:
        """The open episodes by key, to read and change; written back on exit."""
        ...


@runtime_checkable
class KeyedWatchState(WatchState, Protocol):
    """A :class:`WatchState` whose ``cycle`` can be limited to the episodes it names:
    the memory, SQLite and PostgreSQL states orderkit ships are ones. The watcher stores
    what it sent, and :class:`~orderkit.watch.ChannelHealth` decides its channels'
    alerts, through ``cycle(keys=...)``, reading and writing those episodes only, not
    every open one (:func:`keyed_cycle`). A state without the keyword (written for the
    port before it had one) is read whole, as before: :func:`takes_keys` tells them
    apart by the method's signature, so a wrapper of a state that takes ``keys`` must
    name the keyword too to pass it on."""

    def cycle(
        self, *, keys: Collection[str] | None = None
    ) -> AbstractContextManager[MutableMapping[str, Episode]]:
        """The open episodes by key, to read and change; written back on exit, in one
        exclusive transaction as :meth:`WatchState.cycle`. With ``keys`` (episode keys),
        only the open episodes among them are read (a key with no open episode is
        simply not there) and only what the block changed is written: it may change,
        delete or resolve those episodes and add new ones; the other open episodes are
        neither read nor touched. ``keys`` that are not a collection of strings (a lone
        string included) raise :class:`~orderkit.model.errors.ValidationError` naming
        ``keys``, before anything is read."""
        ...


def takes_keys(state: object) -> TypeGuard[KeyedWatchState]:
    """Whether ``state.cycle`` takes the keyword ``keys`` (a :class:`KeyedWatchState`),
    read from its signature: a ``runtime_checkable`` check sees only that it has a
    ``cycle``."""
    cycle = getattr(state, "cycle", None)
    if cycle is None:
        return False
    try:
        parameter = inspect.signature(cycle).parameters.get("keys")
    except (TypeError, ValueError):  # no signature to read: called as the port was
        return False
    return parameter is not None and parameter.kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def keyed_cycle(
    state: WatchState, keys: Collection[str]
) -> AbstractContextManager[MutableMapping[str, Episode]]:
    """A cycle over the open episodes named by ``keys``: ``state.cycle(keys=keys)`` when
    the state takes them (:func:`takes_keys`), else ``state.cycle()``, every open
    episode, of which the block reads and writes the ones it names."""
    if takes_keys(state):
        return state.cycle(keys=keys)
    return state.cycle()


def checked_keys(keys: object) -> tuple[str, ...] | None:
    """:meth:`KeyedWatchState.cycle`'s ``keys``, checked: ``None`` (every open
    episode) or a collection of strings, returned sorted and without repeats."""
    if keys is None:
        return None
    if isinstance(keys, str | bytes) or not isinstance(keys, Collection):
        raise ValidationError("keys", keys, "expected None or a collection of episode keys")
    for key in keys:
        if not isinstance(key, str):
            raise ValidationError("keys", key, "expected episode keys as strings")
    return tuple(sorted(set(keys)))


@runtime_checkable
class WatchHistory(Protocol):
    """The resolved episodes a :class:`WatchState` kept (optional for a host's own state;
    the memory, SQLite and PostgreSQL states have it), for the health page's alert
    history."""

    def history(self, *, since: datetime | None = None, limit: int = 100) -> list[Episode]:
        """Resolved episodes, newest resolution first (ties by key, last first),
        resolved at or after ``since`` (aware) when given, at most ``limit`` (>= 1).
        A naive ``since`` or a bad ``limit`` raises
        :class:`~orderkit.model.errors.ValidationError` naming it."""
        ...


@runtime_checkable
class WatchRetention(Protocol):
    """A watch history that can forget the episodes resolved long ago (added in 0.3):
    the memory, SQLite and PostgreSQL states are one. Optional for a host's own state:
    :func:`~orderkit.watch.purge_resolved` refuses a state without it.

    The history keeps every resolved episode until purged, so it grows with the alerts
    (not the orders). Only resolved episodes go: the open ones (pending, firing,
    inhibited) live apart from the history and are never touched, so a purge never
    makes the watch raise or resolve an alert again. What reads the history is the
    health page's alert history (:meth:`WatchHistory.history`), which then shows the
    retained span at most; no KPI of :func:`~orderkit.watch.health` reads it.
    """

    def purge_history(self, before: datetime, *, limit: int | None = None) -> int:
        """Delete the resolved episodes whose resolution is before ``before`` (aware;
        one resolved at ``before`` is kept), earliest resolved first, at most ``limit``
        of them (all when ``None``), in one transaction of its own; returns how many
        were deleted. Open episodes are never deleted. A naive ``before`` or a ``limit``
        that is not an integer >= 1 raises a
        :class:`~orderkit.model.errors.ValidationError` naming it, before anything is
        deleted."""
        ...


def checked_window(since: object, until: object) -> tuple[datetime, datetime]:
    """:meth:`SyncLagSource.lags`'s bounds, checked: both aware."""
    return ensure_aware(since, path="since"), ensure_aware(until, path="until")


def checked_history(since: object, limit: object) -> tuple[datetime | None, int]:
    """:meth:`WatchHistory.history`'s arguments, checked: ``since`` aware (or ``None``),
    ``limit`` an integer >= 1."""
    if since is not None:
        since = ensure_aware(since, path="since")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit", limit, "expected an integer >= 1")
    return since, limit


@runtime_checkable
class DeadLetterSource(Protocol):
    """Where the watch counts what failed for good and waits for a person: every
    ``SyncStore`` orderkit ships (payloads that did not map or were refused) and every
    order repository (outbox messages that used up their attempts)."""

    def dead_letter_count(self) -> int:
        """How many dead letters wait for a replay, counted in the store."""
        ...


@runtime_checkable
class OutboxBacklogSource(DeadLetterSource, Protocol):
    """An outbox the watch measures: every order repository orderkit ships is one."""

    def oldest_pending(self) -> datetime | None:
        """When the oldest undelivered message was created (``None``: none waits)."""
        ...


@runtime_checkable
class ParkedReleaseSource(Protocol):
    """Where the watch counts the stock releases the ledger's breaker parked for a
    person to approve (a cancelled order still holding its units): every
    ``InventoryStore`` orderkit ships is one."""

    def pending_park_count(self) -> int:
        """How many parked releases nobody approved yet, counted in the store."""
        ...


@runtime_checkable
class SyncLagSource(Protocol):
    """Where the watch reads sync lags: how long after a platform changed an order
    orderkit received the change. Every ``SyncStore`` orderkit ships is one (sync keeps
    each applied version's platform modified time and receipt time), so the watch reads
    the lag from what sync stored, not from records the host collects."""

    def lags(self, since: datetime, until: datetime) -> list[timedelta]:
        """The lag (``received_at - modified_at``) of every order version received in
        ``[since, until)`` (aware) and still the newest applied of its order, smallest
        first. An order changed twice in the window counts once, with its newer
        version's lag. A lag may be negative when the two clocks disagree. A naive bound
        raises :class:`~orderkit.model.errors.ValidationError` naming it."""
        ...


class PaymentStatus(StrEnum):
    """What a payment channel's order query answers (WeChat Pay ``trade_state``,
    Alipay ``trade_status``, mapped by the host's gateway)."""

    PAID = "paid"
    """The buyer paid (WeChat Pay ``SUCCESS``; Alipay ``TRADE_SUCCESS``/``TRADE_FINISHED``)."""
    NOT_PAID = "not_paid"
    """Not paid yet (``NOTPAY``, ``USERPAYING``; ``WAIT_BUYER_PAY``)."""
    CLOSED = "closed"
    """Closed or revoked without payment (``CLOSED``, ``REVOKED``; ``TRADE_CLOSED``)."""
    UNKNOWN = "unknown"
    """The channel could not say (a system error): asked again next check."""


@runtime_checkable
class PaymentGateway(Protocol):
    """One payment channel's order query (WeChat Pay's query-order API, Alipay's
    ``alipay.trade.query``), used when the channel's callbacks stop arriving."""

    def query(self, order: Order) -> PaymentStatus:
        """Where ``order``'s payment on this channel stands. A failure raises (any
        exception); the order is asked again at the next check."""
        ...
