"""Watch: no order sits in a grey state unnoticed, and no alert storms.

* :class:`Rule` (data, checked when built) and :data:`DEFAULT_RULES`: the shops' rules
  with their numbers (pending 15 minutes; paid and unshipped 24 hours; no first carrier
  scan 5 minutes after the waybill, per carrier; a payment channel down).
* :class:`Watcher`: ``run_once()`` queries each rule's stale orders through the order
  repository's indexed ``stale`` query, keeps one alert episode per dedup key (raised
  once after ``for``, repeated after ``repeat``, resolved when the condition clears),
  stored in a :class:`WatchState` so restarts and other watcher processes never send
  an alert twice; grouping, inhibition and :class:`Route` routing to queues.
* :class:`MetricRule` and :data:`DEFAULT_METRIC_RULES`: rules on host-fed rates and lags
  (:class:`Metrics`, :class:`RetryRate`, :class:`SyncLagMetric`, :class:`Backlog`: the
  outbox's lag, its and sync's dead letters, and the stock releases parked for review),
  with the same episodes.
* :class:`ChannelHealth`: payment callbacks missing past the channels' published
  notification schedules; a channel with 3 misses in a row is degraded (an alert naming
  its fallback, active queries through a :class:`PaymentGateway`) until a callback
  arrives again.
* :func:`carrier_report`: first parcels with no carrier scan after 24 hours, top 5 by
  carrier and outlet, and each carrier's first-scan delay percentiles.
* :func:`health`: the KPIs against their thresholds and the health index.
* :func:`purge_resolved` (and :meth:`Watcher.purge`): the history's retention, resolved
  episodes deleted after a span in short batches, through :class:`WatchRetention`.
* :class:`StdoutNotifier` and :class:`WebhookNotifier`: the notifiers that ship with
  orderkit (a line per alert on a stream; each alert POSTed as JSON).
"""

from orderkit.watch.carriers import (
    CarrierDelay,
    CarrierReport,
    LateGroup,
    carrier_report,
    outlet_from_tag,
)
from orderkit.watch.channels import (
    ALIPAY,
    EARLY_CALLBACKS,
    SCHEDULES,
    WECHAT_PAY,
    ChannelHealth,
    ChannelReport,
    ChannelStatus,
    NotifySchedule,
)
from orderkit.watch.health import STUCK_AFTER, HealthReport, Kpi, Thresholds, health
from orderkit.watch.metrics import (
    DEFAULT_METRIC_RULES,
    Backlog,
    LagRecord,
    MetricRule,
    Metrics,
    NamedMetrics,
    RetryRate,
    SyncLagMetric,
)
from orderkit.watch.notifiers import StdoutNotifier, WebhookNotifier
from orderkit.watch.ports import (
    DeadLetterSource,
    Episode,
    KeyedWatchState,
    OutboxBacklogSource,
    ParkedReleaseSource,
    PaymentGateway,
    PaymentStatus,
    SyncLagSource,
    WatchHistory,
    WatchRetention,
    WatchState,
)
from orderkit.watch.retention import purge_resolved
from orderkit.watch.rules import DEFAULT_RULES, QUEUES, Route, Rule, group_key
from orderkit.watch.watcher import Alert, Watcher, WatchReport

__all__ = [
    "ALIPAY",
    "DEFAULT_METRIC_RULES",
    "DEFAULT_RULES",
    "EARLY_CALLBACKS",
    "QUEUES",
    "SCHEDULES",
    "STUCK_AFTER",
    "WECHAT_PAY",
    "Alert",
    "Backlog",
    "CarrierDelay",
    "CarrierReport",
    "ChannelHealth",
    "ChannelReport",
    "ChannelStatus",
    "DeadLetterSource",
    "Episode",
    "HealthReport",
    "KeyedWatchState",
    "Kpi",
    "LagRecord",
    "LateGroup",
    "MetricRule",
    "Metrics",
    "NamedMetrics",
    "NotifySchedule",
    "OutboxBacklogSource",
    "ParkedReleaseSource",
    "PaymentGateway",
    "PaymentStatus",
    "RetryRate",
    "Route",
    "Rule",
    "StdoutNotifier",
    "SyncLagMetric",
    "SyncLagSource",
    "Thresholds",
    "WatchHistory",
    "WatchReport",
    "WatchRetention",
    "WatchState",
    "Watcher",
    "WebhookNotifier",
    "carrier_report",
    "group_key",
    "health",
    "outlet_from_tag",
    "purge_resolved",
]
