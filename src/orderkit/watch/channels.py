"""Payment channel health: callbacks that should have arrived, counted per channel.

A payment channel tells the merchant that a buyer paid with an asynchronous notification
(a *callback*), sent at once and then again on the channel's published schedule until
the merchant acknowledges it:

* WeChat Pay: again after 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h, 24 h 4 min
  in total; after the last one the merchant should call the query-order API.
* Alipay: again after 4m/10m/10m/1h/2h/6h/15h (8 notifications within 25 hours), and
  no more after 24 h 22 min.

The host tells :class:`ChannelHealth` when a payment should bring a callback
(:meth:`ChannelHealth.expect`: the buyer's side reported the payment done) and when the
callback arrived (:meth:`ChannelHealth.callback`), in either order. A callback still
missing once the channel has sent its first ``notifications`` (4 by default: WeChat Pay
1 min, Alipay 24 min) is a *miss*. ``misses`` misses in a row (3 by default) mark the channel
degraded: one alert naming the fallback channel, :meth:`ChannelHealth.channel_for`
answers the fallback, and the missed orders are queried through the channel's
:class:`~orderkit.watch.ports.PaymentGateway`. The first callback that arrives after
the alert fired resolves it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import Final

import attrs

from orderkit.model.errors import DefinitionError, ValidationError
from orderkit.model.orders import Order
from orderkit.model.time import Clock, SystemClock, checked_now, ensure_instant
from orderkit.reconcile.ports import Notifier
from orderkit.watch.memory import MemoryWatchState
from orderkit.watch.ports import (
    Episode,
    PaymentGateway,
    PaymentStatus,
    WatchState,
    keyed_cycle,
)
from orderkit.watch.watcher import Alert, AlertState, checked_notifier

__all__ = [
    "ALIPAY",
    "DEGRADED_RULE",
    "EARLY_CALLBACKS",
    "SCHEDULES",
    "WECHAT_PAY",
    "ChannelHealth",
    "ChannelReport",
    "ChannelStatus",
    "NotifySchedule",
]

#: The rule name of a degraded channel's alert (key ``payment_channel_degraded:<channel>``).
DEGRADED_RULE: Final = "payment_channel_degraded"

#: How many callbacks that arrived before their :meth:`ChannelHealth.expect` one
#: :class:`ChannelHealth` remembers at most (the oldest is forgotten first).
EARLY_CALLBACKS: Final = 10_000


def _intervals(value: object) -> tuple[timedelta, ...]:
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise DefinitionError("expected a sequence of timedeltas", path="intervals", value=value)
    items = tuple(value)
    if any(not isinstance(i, timedelta) or i <= timedelta(0) for i in items):
        raise DefinitionError("expected positive timedeltas", path="intervals", value=value)
    return items


@attrs.frozen
class NotifySchedule:
    """When a payment channel sends its payment callback again while the merchant does
    not acknowledge it: ``intervals`` between successive notifications (the first is
    sent at once), and ``gives_up_after``, after which it sends no more."""

    channel: str
    intervals: tuple[timedelta, ...] = attrs.field(converter=_intervals)
    gives_up_after: timedelta

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.channel, str) or not self.channel.strip():
            raise DefinitionError("expected a channel name", path="channel", value=self.channel)
        # Not checked against the intervals: Alipay's "usual" intervals add up to 24 h
        # 24 min, two minutes past the 24 h 22 min it publishes as its limit.
        if not isinstance(self.gives_up_after, timedelta) or self.gives_up_after <= timedelta(0):
            raise DefinitionError("expected a positive timedelta", path="gives_up_after",
                                  value=self.gives_up_after)

    def notified_by(self, count: int) -> timedelta:
        """How long after the payment the channel has sent its first ``count``
        notifications (``1``: at once)."""
        if isinstance(count, bool) or not isinstance(count, int) or not (
            1 <= count <= len(self.intervals) + 1
        ):
            raise DefinitionError(f"expected 1 to {len(self.intervals) + 1} notifications",
                                  path="notifications", value=count)
        return sum(self.intervals[: count - 1], timedelta(0))


def _s(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


_M, _H = 60, 3600

#: WeChat Pay's payment notification (API v3 "支付通知"): 15s/15s/30s/3m/10m/20m/30m/30m/
#: 30m/60m/3h/3h/3h/6h/6h, 24 h 4 min in total.
WECHAT_PAY: Final = NotifySchedule(
    "wechat_pay",
    tuple(_s(n) for n in (15, 15, 30, 3 * _M, 10 * _M, 20 * _M, 30 * _M, 30 * _M, 30 * _M,
                          60 * _M, 3 * _H, 3 * _H, 3 * _H, 6 * _H, 6 * _H)),
    timedelta(hours=24, minutes=4),
)
#: Alipay's asynchronous notification (notify_url): "usually" 4m/10m/10m/1h/2h/6h/15h, 8
#: notifications within 25 hours, none after 24 h 22 min.
ALIPAY: Final = NotifySchedule(
    "alipay",
    tuple(_s(n) for n in (4 * _M, 10 * _M, 10 * _M, _H, 2 * _H, 6 * _H, 15 * _H)),
    timedelta(hours=24, minutes=22),
)
#: The published schedules by channel name.
SCHEDULES: Final[Mapping[str, NotifySchedule]] = {"wechat_pay": WECHAT_PAY, "alipay": ALIPAY}


@attrs.frozen
class _Expected:
    order: Order
    channel: str
    at: datetime
    callback_at: datetime | None = None
    answer: PaymentStatus | None = None


@attrs.frozen
class ChannelStatus:
    """One channel after a check: ``degraded`` (its alert is firing), the ``fallback``
    to use meanwhile, the misses in a row now (``misses_in_row``, with their order ids
    in ``missed``) and how many callbacks are still within their time (``waiting``)."""

    channel: str
    degraded: bool
    fallback: str | None
    misses_in_row: int
    missed: tuple[str, ...]
    waiting: int


@attrs.frozen
class ChannelReport:
    """What one :meth:`ChannelHealth.check` found and did: each channel's status, the
    alerts ``raised``, ``repeated`` and ``resolved``, the active queries made
    (``queried``: order id, channel, answer; a ``paid`` answer is for the host to apply)
    and what failed (``failed``: what, error), retried at the next check."""

    channels: tuple[ChannelStatus, ...] = ()
    raised: tuple[Alert, ...] = ()
    repeated: tuple[Alert, ...] = ()
    resolved: tuple[Alert, ...] = ()
    queried: tuple[tuple[str, str, PaymentStatus], ...] = ()
    failed: tuple[tuple[str, str], ...] = ()

    def status(self, channel: str) -> ChannelStatus:
        """The status of ``channel``; :class:`ValidationError` when it was not checked."""
        for found in self.channels:
            if found.channel == channel:
                return found
        raise ValidationError("channel", channel, "not a checked channel")


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DefinitionError("expected an integer >= 1", path=name, value=value)
    return value


class ChannelHealth:
    """Counts missing payment callbacks per channel and degrades a channel after
    ``misses`` misses in a row (see the module's description).

    ``gateways`` query a channel's orders when its callbacks fail (by channel name);
    ``fallbacks`` name each channel's backup (``{"wechat_pay": "alipay"}``);
    ``schedules`` are the channels' notification schedules (default
    :data:`SCHEDULES`); ``notifications`` is how many of them must have been sent
    before a missing callback counts as a miss. The degraded alert's episode is kept in
    ``state`` (share the watcher's, so a restart or a second process does not send it
    again); it is routed to ``route_to`` and sent again after ``repeat``. The log of
    expected callbacks is kept in memory.
    """

    def __init__(
        self,
        notifier: Notifier,
        *,
        gateways: Mapping[str, PaymentGateway] | None = None,
        fallbacks: Mapping[str, str] | None = None,
        schedules: Mapping[str, NotifySchedule] = SCHEDULES,
        misses: int = 3,
        notifications: int = 4,
        clock: Clock | None = None,
        state: WatchState | None = None,
        route_to: str = "tech",
        repeat: timedelta = timedelta(hours=4),
    ) -> None:
        self.misses = _count("misses", misses)
        self.notifications = _count("notifications", notifications)
        self.schedules = dict(schedules)
        for name, schedule in self.schedules.items():
            if not isinstance(schedule, NotifySchedule) or schedule.channel != name:
                raise DefinitionError("expected the NotifySchedule of this channel",
                                      path=f"schedules[{name!r}]", value=schedule)
            schedule.notified_by(self.notifications)
        self.gateways = dict(gateways or {})
        for name, gateway in self.gateways.items():
            if not isinstance(gateway, PaymentGateway):
                raise DefinitionError("expected a PaymentGateway", path=f"gateways[{name!r}]",
                                      value=gateway)
        self.fallbacks = dict(fallbacks or {})
        for name, backup in self.fallbacks.items():
            if not isinstance(backup, str) or not backup or backup == name:
                raise DefinitionError("expected another channel's name",
                                      path=f"fallbacks[{name!r}]", value=backup)
        if not isinstance(route_to, str) or not route_to:
            raise DefinitionError("expected a queue name", path="route_to", value=route_to)
        if not isinstance(repeat, timedelta) or repeat <= timedelta(0):
            raise DefinitionError("expected a positive timedelta", path="repeat", value=repeat)
        if state is None:
            state = MemoryWatchState()
        if not isinstance(state, WatchState):
            raise ValidationError("state", state, "expected a WatchState")
        self.notifier = checked_notifier(notifier)
        self.clock: Clock = clock or SystemClock()
        self.state = state
        self.route_to = route_to
        self.repeat = repeat
        self._log: dict[str, _Expected] = {}
        # Callbacks that came before their expect(), by order id, oldest first; kept for
        # the longest window a channel notifies in (its callback cannot be later).
        self._early: dict[str, datetime] = {}
        self._early_for = max((s.gives_up_after for s in self.schedules.values()),
                              default=timedelta(0))
        self._degraded: set[str] = set()
        self._lock = threading.Lock()

    # --- what the host tells ---------------------------------------------------------------

    def expect(self, order: Order, channel: str, at: datetime | None = None) -> None:
        """``order``'s payment on ``channel`` was made at ``at`` (default now; the
        buyer's side reported it done): its callback is now expected. A callback that
        arrived first (:meth:`callback`), no longer before ``at`` than the channel
        notifies for, is the one expected: it came."""
        if not isinstance(order, Order):
            raise ValidationError("order", order, "expected an Order")
        if channel not in self.schedules:
            raise ValidationError("channel", channel,
                                  f"no notify schedule (known: {', '.join(self.schedules)})")
        when = checked_now(self.clock) if at is None else ensure_instant(at, path="at")
        window = self.schedules[channel].gives_up_after
        with self._lock:
            known = self._log.get(order.order_id)
            early = self._early.pop(order.order_id, None)
            if early is not None and early < when - window:
                early = None  # too long before this payment to be its callback
            if known is None or known.callback_at is None:
                self._log[order.order_id] = _Expected(order, channel, when, early)

    def callback(self, order_id: str, at: datetime | None = None) -> bool:
        """The channel's payment callback for ``order_id`` arrived at ``at`` (default
        now). ``False`` when no callback was expected for it (yet): it is remembered,
        for the :meth:`expect` that may follow (a channel's notification often beats
        the buyer's side), as long as a channel notifies (24 h 22 min with the
        published schedules), :data:`EARLY_CALLBACKS` at most."""
        if not isinstance(order_id, str) or not order_id:
            raise ValidationError("order_id", order_id, "expected an order id")
        when = checked_now(self.clock) if at is None else ensure_instant(at, path="at")
        with self._lock:
            known = self._log.get(order_id)
            if known is None:
                self._early.setdefault(order_id, when)
                self._forget_early(when)
                return False
            if known.callback_at is None:
                self._log[order_id] = attrs.evolve(known, callback_at=when)
            return True

    def channel_for(self, channel: str) -> str:
        """The channel to offer instead of ``channel``: its fallback while it is
        degraded (as of the last check), else ``channel`` itself."""
        with self._lock:
            if channel in self._degraded:
                return self.fallbacks.get(channel, channel)
        return channel

    # --- the check ---------------------------------------------------------------------

    def check(self) -> ChannelReport:
        """Count the misses, query what the channels no longer tell, raise, repeat or
        resolve each channel's alert. Every alert decision is stored before it is sent."""
        now = checked_now(self.clock)
        queried: list[tuple[str, str, PaymentStatus]] = []
        failed: list[tuple[str, str]] = []
        with self._lock:
            log = dict(self._log)
            degraded = set(self._degraded)
        dropped = self._query(log, now, degraded, queried, failed)
        statuses: list[ChannelStatus] = []
        due: list[tuple[Alert, Episode | None]] = []
        channels = sorted(self.schedules)
        with keyed_cycle(self.state, [f"{DEGRADED_RULE}:{c}" for c in channels]) as episodes:
            for channel in channels:
                status, alert, before = self._decide(channel, log, now, episodes)
                statuses.append(status)
                if alert is not None:
                    due.append((alert, before))
        sent: dict[AlertState, list[Alert]] = {"raised": [], "repeated": [], "resolved": []}
        for alert, before in due:
            try:
                self.notifier.notify(alert.notice())
            except Exception as error:  # any notifier failure: sent again next check
                failed.append((alert.key, f"{type(error).__name__}: {error}"))
                with keyed_cycle(self.state, [alert.key]) as episodes:
                    if alert.state == "resolved":
                        # A "recovered" not sent: the episode is open again, resolved
                        # but not told (unless another process raised a new one since).
                        assert before is not None
                        episodes.setdefault(alert.key, attrs.evolve(before, state="firing"))
                    elif before is None:
                        episodes.pop(alert.key, None)
                    else:
                        episodes[alert.key] = before
                continue
            sent[alert.state].append(alert)
        with self._lock:
            merged: dict[str, _Expected] = {}
            for order_id, current in self._log.items():  # callbacks may have come meanwhile
                if order_id in dropped:
                    continue
                mine = log.get(order_id, current)
                merged[order_id] = attrs.evolve(
                    mine, callback_at=current.callback_at or mine.callback_at)
            self._log = self._pruned(merged, now)
            self._forget_early(now)
            self._degraded = {s.channel for s in statuses if s.degraded}
        return ChannelReport(tuple(statuses), tuple(sent["raised"]), tuple(sent["repeated"]),
                             tuple(sent["resolved"]), tuple(queried), tuple(failed))

    # --- the check's parts ---------------------------------------------------------------

    def _outcomes(
        self, channel: str, log: Mapping[str, _Expected], now: datetime
    ) -> tuple[list[tuple[datetime, bool, _Expected]], int]:
        """The decided expectations of ``channel`` by when they were decided (a callback
        when it came: ``True``; a miss at its deadline: ``False``), and how many wait."""
        grace = self.schedules[channel].notified_by(self.notifications)
        decided: list[tuple[datetime, bool, _Expected]] = []
        waiting = 0
        for expected in log.values():
            if expected.channel != channel:
                continue
            deadline = expected.at + grace
            if expected.callback_at is not None:
                decided.append((expected.callback_at, True, expected))
            elif now >= deadline:
                decided.append((deadline, False, expected))
            else:
                waiting += 1
        decided.sort(key=lambda item: (item[0], item[2].order.order_id))
        return decided, waiting

    @staticmethod
    def _run(decided: list[tuple[datetime, bool, _Expected]]) -> list[_Expected]:
        """The misses in a row at the end (oldest first)."""
        run: list[_Expected] = []
        for _at, ok, expected in reversed(decided):
            if ok:
                break
            run.append(expected)
        return run[::-1]

    def _query(
        self,
        log: dict[str, _Expected],
        now: datetime,
        degraded: set[str],
        queried: list[tuple[str, str, PaymentStatus]],
        failed: list[tuple[str, str]],
    ) -> set[str]:
        """Ask the gateways about the misses of degraded channels and about payments the
        channel stopped notifying; returns the order ids whose callback was not owed."""
        dropped: set[str] = set()
        for channel, schedule in sorted(self.schedules.items()):
            decided, _waiting = self._outcomes(channel, log, now)
            run = self._run(decided)
            targets = {e.order.order_id: e for e in run} if (
                len(run) >= self.misses or channel in degraded) else {}
            for expected in log.values():
                if (expected.channel == channel and expected.callback_at is None
                        and now >= expected.at + schedule.gives_up_after):
                    targets.setdefault(expected.order.order_id, expected)
            for order_id, expected in sorted(targets.items()):
                if expected.answer is not None:
                    continue
                gateway = self.gateways.get(channel)
                if gateway is None:
                    failed.append((f"query {order_id}", f"no PaymentGateway for {channel}"))
                    continue
                try:
                    answer = PaymentStatus(gateway.query(expected.order))
                except Exception as error:  # any gateway failure: asked again next check
                    failed.append((f"query {order_id}", f"{type(error).__name__}: {error}"))
                    continue
                queried.append((order_id, channel, answer))
                if answer is PaymentStatus.PAID:
                    log[order_id] = attrs.evolve(expected, answer=answer)
                elif answer is not PaymentStatus.UNKNOWN:
                    del log[order_id]  # not paid: no callback was owed
                    dropped.add(order_id)
        return dropped

    def _decide(
        self,
        channel: str,
        log: Mapping[str, _Expected],
        now: datetime,
        episodes: MutableMapping[str, Episode],
    ) -> tuple[ChannelStatus, Alert | None, Episode | None]:
        decided, waiting = self._outcomes(channel, log, now)
        run = self._run(decided)
        ids = tuple(e.order.order_id for e in run)
        key = f"{DEGRADED_RULE}:{channel}"
        episode = episodes.get(key)
        firing = episode is not None and episode.state == "firing"
        fallback = self.fallbacks.get(channel)
        alert: Alert | None = None
        degraded = True
        before = episode
        if len(run) >= self.misses:
            if episode is None or not firing:
                episodes[key] = Episode(key, DEGRADED_RULE, channel, "firing",
                                        ids, now, now, now, 1, route_to=self.route_to)
                alert = self._alert(channel, ids, "raised", now)
            else:
                # Down again before its "recovered" reached anyone: the alert is still up.
                episode = attrs.evolve(episode, resolved_at=None)
                assert episode.last_sent is not None
                if now - episode.last_sent >= self.repeat:
                    episodes[key] = attrs.evolve(
                        episode, orders=ids, last_sent=now, sent=episode.sent + 1)
                    alert = self._alert(channel, ids, "repeated", now)
                else:
                    episodes[key] = attrs.evolve(episode, orders=ids)
        elif episode is not None and firing:
            assert episode.fired_at is not None
            came = [e for at, ok, e in decided if ok and at >= episode.fired_at]
            by = came[-1].order.order_id if came else ""
            if came or episode.resolved_at is not None:
                if episode.resolved_at is None:
                    before = attrs.evolve(episode, state="resolved", resolved_at=now)
                    episodes[key] = before
                else:
                    # Its "recovered" failed before and it is in the history already:
                    # sent again, closed without a second history entry.
                    del episodes[key]
                alert = self._alert(channel, episode.orders, "resolved", now, by)
                degraded = False
        else:
            degraded = False
        status = ChannelStatus(channel, degraded, fallback, len(run), ids, waiting)
        return status, alert, (before if alert is not None else None)

    def _alert(
        self, channel: str, ids: tuple[str, ...], state: AlertState, now: datetime, by: str = ""
    ) -> Alert:
        fallback = self.fallbacks.get(channel)
        if state == "resolved":
            message = (f"payment channel {channel} recovered: the callback for {by} arrived"
                       if by else f"payment channel {channel} recovered")
        else:
            backup = (f"switch to fallback channel {fallback}" if fallback
                      else "no fallback channel configured")
            shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            message = (f"payment channel {channel} degraded: {len(ids)} payments in a row"
                       f" without a callback ({shown}); {backup}; their orders are queried"
                       " actively")
        return Alert(f"{DEGRADED_RULE}:{channel}", DEGRADED_RULE, ids, "critical",
                     self.route_to, message, state, now, channel)

    def _forget_early(self, now: datetime) -> None:
        """Forget the early callbacks past every channel's window, and the oldest beyond
        :data:`EARLY_CALLBACKS` (the lock is held)."""
        since = now - self._early_for
        while self._early and (len(self._early) > EARLY_CALLBACKS
                               or next(iter(self._early.values())) < since):
            del self._early[next(iter(self._early))]

    def _pruned(self, log: dict[str, _Expected], now: datetime) -> dict[str, _Expected]:
        """Keep what a later check needs: the waiting expectations, the last ``misses``
        decided ones and the misses in a row of each channel, and misses not settled by
        a query yet (until a day after the channel gave up notifying)."""
        keep: dict[str, _Expected] = {}
        for channel, schedule in self.schedules.items():
            decided, _waiting = self._outcomes(channel, log, now)
            decided_ids = {e.order.order_id for _at, _ok, e in decided}
            tail = {e.order.order_id for _at, _ok, e in decided[-self.misses:]}
            tail |= {e.order.order_id for e in self._run(decided)}
            horizon = now - schedule.gives_up_after - timedelta(days=1)
            for order_id, expected in log.items():
                if expected.channel != channel:
                    continue
                if (order_id not in decided_ids or order_id in tail
                        or (expected.callback_at is None and expected.answer is None
                            and expected.at >= horizon)):
                    keep[order_id] = expected
        return keep
