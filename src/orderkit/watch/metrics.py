"""Rules on rates and lags: a :class:`MetricRule` fires when a host-fed metric stays
above its threshold for ``for_`` ("retry rate above 3% for 5 minutes")."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final, Protocol, runtime_checkable

import attrs

from orderkit.model.errors import DefinitionError, ValidationError
from orderkit.model.time import ensure_aware
from orderkit.watch.ports import (
    DeadLetterSource,
    OutboxBacklogSource,
    ParkedReleaseSource,
    SyncLagSource,
)
from orderkit.watch.rules import Severity, _labels, _summary

__all__ = [
    "DEFAULT_METRIC_RULES",
    "Backlog",
    "LagRecord",
    "MetricRule",
    "Metrics",
    "NamedMetrics",
    "RetryRate",
    "SyncLagMetric",
]


@runtime_checkable
class Metrics(Protocol):
    """A host-fed source of metric values (a port)."""

    def value(self, metric: str, now: datetime) -> Decimal | None:
        """``metric``'s value at ``now`` (aware), or ``None`` when this source does not
        know the metric or has nothing to measure (no condition then)."""
        ...


@runtime_checkable
class NamedMetrics(Protocol):
    """A :class:`Metrics` source that says which metrics it measures. A watcher asks a
    metric only of the sources that provide it, and leaves the alert of a metric none
    of its sources provides as it is (another watcher sharing the same state, with
    other sources, may measure it); a source without :meth:`provides` is asked every
    metric. Every source orderkit ships is one."""

    def provides(self, metric: str) -> bool:
        """Whether this source measures ``metric``."""
        ...


def provides(source: Metrics, metric: str) -> bool:
    """Whether ``source`` measures ``metric`` (see :class:`NamedMetrics`)."""
    return source.provides(metric) if isinstance(source, NamedMetrics) else True


def _threshold(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise DefinitionError("expected a Decimal threshold", path="threshold", value=value)
    try:
        number = Decimal(value)
    except ArithmeticError as error:
        raise DefinitionError("expected a Decimal threshold", path="threshold",
                              value=value) from error
    if not number.is_finite():
        raise DefinitionError("expected a finite threshold", path="threshold", value=value)
    if number < 0:  # a share or a lag: a negative threshold would always hold
        raise DefinitionError("expected a threshold >= 0", path="threshold", value=value)
    return number


@attrs.frozen
class MetricRule:
    """A rule on a metric, not on orders: the condition holds while ``metric`` (as the
    watcher's :class:`Metrics` answer it) is above ``threshold``; it must hold for
    ``for_`` before the alert is raised. The alert's key is ``<name>:<metric>``; it is
    repeated after ``repeat`` and resolved when the value is back at or under the
    threshold, through the same stored episodes as :class:`~orderkit.watch.Rule`.
    A metric nobody measures (``None``) is no condition."""

    name: str
    metric: str
    threshold: Decimal = attrs.field(converter=_threshold)
    for_: timedelta
    severity: Severity = "warning"
    route_to: str = "tech"
    repeat: timedelta = timedelta(hours=4)
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)
    summary: str = attrs.field(default="", validator=_summary)

    def __attrs_post_init__(self) -> None:
        path = f"rules[{self.name!r}]"
        if not isinstance(self.name, str) or not self.name.strip():
            raise DefinitionError("a rule needs a name", path="name", value=self.name)
        if not isinstance(self.metric, str) or not self.metric:
            raise DefinitionError("expected a metric name", path=f"{path}.metric",
                                  value=self.metric)
        if not isinstance(self.for_, timedelta) or self.for_ < timedelta(0):
            raise DefinitionError("expected a non-negative timedelta", path=f"{path}.for_",
                                  value=self.for_)
        if not isinstance(self.repeat, timedelta) or self.repeat <= timedelta(0):
            raise DefinitionError("expected a positive timedelta", path=f"{path}.repeat",
                                  value=self.repeat)
        if self.severity not in ("info", "warning", "critical"):
            raise DefinitionError("expected info, warning or critical",
                                  path=f"{path}.severity", value=self.severity)
        if not isinstance(self.route_to, str) or not self.route_to:
            raise DefinitionError("expected a queue name", path=f"{path}.route_to",
                                  value=self.route_to)


def _window(window: object) -> None:
    if not isinstance(window, timedelta) or window <= timedelta(0):
        raise ValidationError("window", window, "expected a positive timedelta")


class RetryRate:
    """The share of calls that were retries, over the last ``window``: the host calls
    :meth:`record` for each outgoing call (a platform API call, a relay delivery).
    Answers metric ``name`` (``retry_rate``, a fraction: 0.03 is 3%); ``None`` when no
    call was recorded in the window. Kept in memory, for one process."""

    def __init__(self, *, window: timedelta = timedelta(minutes=1),
                 name: str = "retry_rate") -> None:
        _window(window)
        self.window = window
        self.name = name
        self._calls: deque[tuple[datetime, bool]] = deque()
        self._lock = threading.Lock()

    def provides(self, metric: str) -> bool:
        """Whether ``metric`` is this rate's name."""
        return metric == self.name

    def record(self, at: datetime, *, retried: bool) -> None:
        """One call made at ``at`` (aware); ``retried`` when it was a retry."""
        at = ensure_aware(at, path="at")
        with self._lock:
            self._calls.append((at, retried))

    def value(self, metric: str, now: datetime) -> Decimal | None:
        """The retried share of the calls in ``(now - window, now]``."""
        now = ensure_aware(now, path="now")
        if metric != self.name:
            return None
        since = now - self.window
        with self._lock:
            while self._calls and self._calls[0][0] <= since:
                self._calls.popleft()  # out of the window (the clock only moves on)
            calls = [retried for at, retried in self._calls if since < at <= now]
        if not calls:
            return None
        return Decimal(sum(calls)) / Decimal(len(calls))


class LagRecord(Protocol):
    """What :class:`SyncLagMetric` reads: ``orderkit.sync.Seen`` has both."""

    @property
    def received_at(self) -> datetime: ...

    @property
    def lag(self) -> timedelta: ...


_TICK: Final = timedelta(microseconds=1)


class SyncLagMetric:
    """A percentile (95 by default) of the sync lags received in the last ``window``, in
    seconds, as metric ``name`` (``sync_lag_p95``).

    ``source`` is where the lags are read, at every check:

    * a :class:`~orderkit.watch.ports.SyncLagSource`, such as the ``SyncStore`` sync
      runs on (``SQLiteSyncStore``, ``PostgresSyncStore``, ``MemorySyncStore``): the lag
      sync stored with each order version it applied, read from the store, so every
      process that syncs is counted;
    * or host-fed records: a collection the host appends to (a list or a bounded
      ``deque``) of records with ``received_at`` and ``lag``, such as the ``Seen`` that
      sync returns for each applied order.

    The window is ``(now - window, now]``. ``None`` when no lag was received in it.
    Percentiles are nearest rank."""

    def __init__(self, source: SyncLagSource | Iterable[LagRecord], *,
                 window: timedelta = timedelta(minutes=5), percentile: int = 95,
                 name: str = "sync_lag_p95") -> None:
        _window(window)
        if isinstance(percentile, bool) or not isinstance(percentile, int) or not (
            0 < percentile <= 100
        ):
            raise ValidationError("percentile", percentile,
                                  "expected an integer from 1 to 100 (95 is the 95th)")
        if not isinstance(source, SyncLagSource | Iterable) or isinstance(source, str | bytes):
            raise ValidationError("source", source,
                                  "expected a SyncLagSource or a collection of lag records")
        self.source = source
        self.window = window
        self.percentile = percentile
        self.name = name

    def provides(self, metric: str) -> bool:
        """Whether ``metric`` is this percentile's name."""
        return metric == self.name

    def value(self, metric: str, now: datetime) -> Decimal | None:
        """The percentile of the lags received in ``(now - window, now]``, in seconds."""
        now = ensure_aware(now, path="now")
        if metric != self.name:
            return None
        since = now - self.window
        if isinstance(self.source, SyncLagSource):
            # Instants are whole microseconds: [since + 1 us, now + 1 us) is (since, now].
            lags = sorted(self.source.lags(since + _TICK, now + _TICK))
        else:
            lags = sorted(r.lag for r in list(self.source) if since < r.received_at <= now)
        if not lags:
            return None
        rank = math.ceil(self.percentile * len(lags) / 100)
        return Decimal(str(lags[rank - 1].total_seconds()))


class Backlog:
    """What waits and what failed for good, read from the stores at every check:

    * ``outbox_lag``: how long the oldest undelivered outbox message has waited, in
      whole seconds (0 when no message waits: all delivered, or the last ones dead),
      from ``outbox`` (an order repository);
    * ``outbox_dead_letters``: outbox messages that used up their attempts (a stock
      release or a domain event that will not happen until someone replays it);
    * ``sync_dead_letters``: payloads sync could not map or store (orders the platform
      has and the shop does not), from ``sync`` (a ``SyncStore``);
    * ``inventory_parked_releases``: stock releases the ledger's breaker parked that
      nobody approved yet (cancelled orders still holding their units), from
      ``inventory`` (an ``InventoryStore``).

    A metric whose store was not given is not measured (``None``)."""

    def __init__(self, *, outbox: OutboxBacklogSource | None = None,
                 sync: DeadLetterSource | None = None,
                 inventory: ParkedReleaseSource | None = None) -> None:
        if outbox is None and sync is None and inventory is None:
            raise ValidationError("outbox", None,
                                  "give an outbox store, a sync store, an inventory store"
                                  " or several")
        for name, given in (("outbox", outbox), ("sync", sync), ("inventory", inventory)):
            if isinstance(given, type):
                raise ValidationError(name, given, "expected a store, not its class")
        if outbox is not None and not isinstance(outbox, OutboxBacklogSource):
            raise ValidationError("outbox", outbox,
                                  "expected an outbox store (oldest_pending, dead_letter_count)")
        if sync is not None and not isinstance(sync, DeadLetterSource):
            raise ValidationError("sync", sync, "expected a sync store (dead_letter_count)")
        if inventory is not None and not isinstance(inventory, ParkedReleaseSource):
            raise ValidationError("inventory", inventory,
                                  "expected an inventory store (pending_park_count)")
        self.outbox = outbox
        self.sync = sync
        self.inventory = inventory

    def provides(self, metric: str) -> bool:
        """Whether this backlog measures ``metric``: the outbox's with an outbox store,
        the sync dead letters with a sync store, the parked releases with an inventory
        store."""
        if metric in ("outbox_lag", "outbox_dead_letters"):
            return self.outbox is not None
        if metric == "inventory_parked_releases":
            return self.inventory is not None
        return metric == "sync_dead_letters" and self.sync is not None

    def value(self, metric: str, now: datetime) -> Decimal | None:
        """``metric``'s value at ``now``, read from its store."""
        now = ensure_aware(now, path="now")
        if self.outbox is not None and metric == "outbox_lag":
            oldest = self.outbox.oldest_pending()
            if oldest is None:
                return Decimal(0)
            return Decimal(max(0, int((now - oldest).total_seconds())))
        if self.outbox is not None and metric == "outbox_dead_letters":
            return Decimal(self.outbox.dead_letter_count())
        if self.sync is not None and metric == "sync_dead_letters":
            return Decimal(self.sync.dead_letter_count())
        if self.inventory is not None and metric == "inventory_parked_releases":
            return Decimal(self.inventory.pending_park_count())
        return None


#: Rules on the retry rate, the sync lag and the backlogs, for hosts that feed
#: :class:`RetryRate`, :class:`SyncLagMetric` and :class:`Backlog`: retries above 3% of
#: calls for 5 minutes (the shops' numbers); the 95th percentile of sync lag above 5
#: minutes for 5 minutes (orderkit's default, the same 5 minutes as the health page's
#: status-sync rate); outbox messages waiting over 5 minutes for 5 minutes (past the
#: relay's longest back-off, 5 minutes); any outbox or sync dead letter, or any stock
#: release the ledger's breaker parked, at once, and again every hour with the count
#: then, while any waits.
DEFAULT_METRIC_RULES: Final[tuple[MetricRule, ...]] = (
    MetricRule("retry_rate_high", "retry_rate", Decimal("0.03"), timedelta(minutes=5),
               summary="retry rate above 3% for 5 minutes"),
    MetricRule("sync_lag_high", "sync_lag_p95", Decimal(300), timedelta(minutes=5),
               summary="sync lag p95 above 5 minutes for 5 minutes"),
    MetricRule("outbox_lagging", "outbox_lag", Decimal(300), timedelta(minutes=5),
               summary="outbox messages undelivered for over 5 minutes"),
    MetricRule("outbox_dead_letters", "outbox_dead_letters", Decimal(0), timedelta(0),
               severity="critical", repeat=timedelta(hours=1),
               summary="outbox messages that gave up (orderkit dead-letters lists them)"),
    MetricRule("sync_dead_letters", "sync_dead_letters", Decimal(0), timedelta(0),
               severity="critical", repeat=timedelta(hours=1),
               summary="platform orders sync could not store (orderkit dead-letters lists"
               " them)"),
    MetricRule("inventory_parked_releases", "inventory_parked_releases", Decimal(0),
               timedelta(0), severity="critical", route_to="warehouse",
               repeat=timedelta(hours=1),
               summary="cancelled orders' stock releases parked by the release breaker,"
               " still locked until approved (InventoryLedger.pending_review lists them)"),
)
