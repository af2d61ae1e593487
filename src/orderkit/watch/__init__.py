"""Watch: no order sits in a grey state unnoticed, and no alert storms.

* :class:`Rule` (data, checked when built) and :data:`DEFAULT_RULES`: the shops' rules
  with their numbers (pending 15 minutes; paid and unshipped 24 hours; no first carrier
  scan 5 minutes after the waybill, per carrier; a payment channel down).
* :class:`Watcher`: ``run_once()`` queries each rule's stale orders through the order
  repository's indexed ``stale`` query, keeps one alert episode per dedup key (raised
  once after ``for``, repeated after ``repeat``, resolved when the condition clears),
  stored in a :class:`WatchState` so restarts and other watcher processes never send
  an alert twice; grouping, inhibition and :class:`Route` routing to queues.
"""

from orderkit.watch.ports import Episode, WatchState
from orderkit.watch.rules import DEFAULT_RULES, QUEUES, Route, Rule, group_key
from orderkit.watch.watcher import Alert, Watcher, WatchReport

__all__ = [
    "DEFAULT_RULES",
    "QUEUES",
    "Alert",
    "Episode",
    "Route",
    "Rule",
    "WatchReport",
    "WatchState",
    "Watcher",
    "group_key",
]
