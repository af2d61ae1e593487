"""The watch cycle: query stale orders per rule, keep alert episodes, notify once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, TypeVar

import attrs

from orderkit.lifecycle.ports import OrderRepository
from orderkit.model.alerts import Alert as Notice
from orderkit.model.errors import DefinitionError, StoreError, ValidationError
from orderkit.model.orders import Order
from orderkit.model.time import Clock, SystemClock, checked_now
from orderkit.reconcile.ports import Notifier
from orderkit.watch.memory import MemoryWatchState
from orderkit.watch.metrics import MetricRule, Metrics, provides
from orderkit.watch.ports import Episode, WatchState, keyed_cycle
from orderkit.watch.retention import purge_resolved
from orderkit.watch.rules import DEFAULT_RULES, Route, Rule, group_key

__all__ = ["BEYOND_LIMIT", "LEASE", "Alert", "WatchReport", "Watcher"]

AlertState = Literal["raised", "repeated", "resolved"]
_T = TypeVar("_T")


@attrs.frozen
class Alert:
    """One notification of an alert episode: its stable ``key`` (rule and order, or rule
    and group), the ``rule``, the ``order_ids``, ``severity``, the queue it is routed to
    (``route_to``), the ``message`` and its ``state`` (raised, repeated, resolved).
    ``count`` is how many orders the alert is about, counted in the store: more than
    the ``order_ids`` listed when the rule's ``limit`` cut the list (``None``: as many as
    listed)."""

    key: str
    rule: str
    order_ids: tuple[str, ...]
    severity: str
    route_to: str
    message: str
    state: AlertState
    at: datetime
    group: str = ""
    #: A metric alert's value when it was raised or repeated (``None``: an order alert).
    value: Decimal | None = None
    count: int | None = None

    def notice(self) -> Notice:
        """The alert as the :class:`~orderkit.reconcile.ports.Notifier` port takes it
        (kind ``watch.<rule>``, subject the key, the facts as details)."""
        shown = ", ".join(self.order_ids[:50]) + (" ..." if len(self.order_ids) > 50 else "")
        details = {"state": self.state, "route_to": self.route_to, "orders": shown,
                   "count": str(len(self.order_ids) if self.count is None else self.count),
                   "group": self.group}
        if self.value is not None:
            details["value"] = str(self.value)
        return Notice(f"watch.{self.rule}", self.severity, self.key, self.message, self.at,
                      details)


@attrs.frozen
class WatchReport:
    """What one cycle sent (``raised``, ``repeated``, ``resolved``), how many episodes
    wait out their ``for`` (``pending``), which are silenced by another alert
    (``inhibited``), the notifications that failed (retried next cycle), and the
    metrics that could not be read (``unread``: metric name and why; their alerts were
    left as they were), and where a rule's ``limit`` cut the orders listed (``cut``:
    rule name, group value (``""`` for a rule without ``group_by``), orders listed,
    orders counted)."""

    raised: tuple[Alert, ...] = ()
    repeated: tuple[Alert, ...] = ()
    resolved: tuple[Alert, ...] = ()
    pending: int = 0
    inhibited: tuple[str, ...] = ()
    failed: tuple[tuple[Alert, str], ...] = ()
    unread: tuple[tuple[str, str], ...] = ()
    cut: tuple[tuple[str, str, int, int], ...] = ()


#: How long a watcher run's claim on the notifications it decided holds by default.
LEASE = timedelta(minutes=5)

#: The group of the alert that counts a rule's orders beyond its ``limit`` (a rule
#: without ``group_by`` alerts each order it lists on its own, and these in one alert).
BEYOND_LIMIT = "beyond_limit"


@attrs.frozen
class _Condition:
    rule: Rule | MetricRule
    group: str
    orders: tuple[Order, ...]
    value: Decimal | None = None
    #: The orders counted (``None``: those listed); for the orders beyond a rule's
    #: limit, how many they are, with the orders the rule listed in ``listed``.
    count: int | None = None
    listed: tuple[Order, ...] = ()


def checked_notifier(notifier: object) -> Notifier:
    """A watcher's (or channel health's) ``notifier``: anything with ``notify(alert)``;
    else :class:`ValidationError` naming ``notifier``, before anything is stored."""
    if not isinstance(notifier, Notifier):
        raise ValidationError("notifier", notifier,
                              "expected a Notifier (an object with notify(alert))")
    return notifier


def _collection(path: str, value: Iterable[_T]) -> tuple[_T, ...]:
    """A watcher argument given as a collection (a single rule, route or string is
    refused, not iterated)."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise DefinitionError("expected a collection", path=path, value=value)
    return tuple(value)


class Watcher:
    """Runs watch cycles over ``repository`` and tells ``notifier``.

    ``rules`` (default :data:`DEFAULT_RULES`) are checked when the watcher is built
    (unique names, inhibited rules known); they may include
    :class:`~orderkit.watch.MetricRule` rules, whose values come from ``metrics`` (each
    source asked in turn, the first answer wins). ``state`` keeps the episodes (default: in
    memory; give the SQLite state on the orders' file so restarts and other watcher
    processes share them). ``routes`` send alerts to queues by channel, amount, region
    and labels; the first that matches wins, else the rule's ``route_to``. ``lease``
    (default :data:`LEASE`, 5 minutes) is how long a run's claim on the notifications
    it decided holds: longer than a cycle takes to send them, so another watcher never
    sends them too, and short, as a run killed while sending leaves them unsent until
    it runs out.
    """

    def __init__(
        self,
        repository: OrderRepository,
        notifier: Notifier,
        *,
        rules: Iterable[Rule | MetricRule] = DEFAULT_RULES,
        clock: Clock | None = None,
        state: WatchState | None = None,
        routes: Sequence[Route] = (),
        metrics: Sequence[Metrics] = (),
        lease: timedelta = LEASE,
    ) -> None:
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise ValidationError("lease", lease, "expected a positive timedelta")
        self.lease = lease
        self.rules = _collection("rules", rules)
        for index, rule in enumerate(self.rules):
            if not isinstance(rule, Rule | MetricRule):
                raise DefinitionError("expected a Rule or a MetricRule", path=f"rules[{index}]",
                                      value=rule)
        names = [rule.name for rule in self.rules]
        order_rules = [rule.name for rule in self.rules if isinstance(rule, Rule)]
        for index, rule in enumerate(self.rules):
            if names.count(rule.name) > 1:
                raise DefinitionError("two rules share a name", path=f"rules[{index}]",
                                      value=rule.name)
            for target in rule.inhibits if isinstance(rule, Rule) else ():
                if target not in order_rules:
                    raise DefinitionError("inhibits an unknown rule (or a metric rule)",
                                          path=f"rules[{index}].inhibits", value=target)
        metrics = _collection("metrics", metrics)
        routes = _collection("routes", routes)
        for index, source in enumerate(metrics):
            if not isinstance(source, Metrics):
                raise ValidationError(f"metrics[{index}]", source, "expected a Metrics")
        for index, route in enumerate(routes):
            if not isinstance(route, Route):
                raise DefinitionError("expected a Route", path=f"routes[{index}]", value=route)
        if state is None:
            state = MemoryWatchState()
        if not isinstance(state, WatchState):
            raise ValidationError("state", state, "expected a WatchState")
        self.repository = repository
        self.notifier = checked_notifier(notifier)
        self.clock: Clock = clock or SystemClock()
        self.state = state
        self.routes = tuple(routes)
        self.metrics = tuple(metrics)

    def purge(self, older_than: timedelta, *, batch: int = 1000) -> int:
        """Delete the episodes the watcher's state resolved more than ``older_than`` ago
        (by the watcher's clock; added in 0.3), ``batch`` at a time, and return how many:
        :func:`~orderkit.watch.purge_resolved` on :attr:`state`. Open episodes stay."""
        return purge_resolved(self.state, older_than, batch=batch, clock=self.clock)

    def run_once(self) -> WatchReport:
        """One cycle: find every rule's stale orders, update the episodes (raise after
        ``for``, repeat after ``repeat``, resolve when the condition clears), then send
        what is due. Every decision of the cycle is stored, its notifications claimed
        for ``lease``, before anything is sent; a notification counts as sent once the
        notifier returned (at least once: a run killed while it sends leaves its claims
        to run out, and the next run sends what they held again)."""
        now = checked_now(self.clock)
        conditions, unknown, unread, cut = self._conditions(now)
        silenced = self._silenced(conditions)
        names = {rule.name for rule in self.rules}
        claim = uuid.uuid4().hex
        until = now + self.lease
        due: list[tuple[Alert, Episode]] = []  # what to send, and the episode once sent
        pending = 0
        inhibited: list[str] = []

        def claimed(episode: Episode) -> Episode:
            """``episode`` as it was, claimed by this run until its notification is sent
            (then stored as decided)."""
            return attrs.evolve(episode, claim=claim, claimed_until=until)

        with self.state.cycle() as episodes:
            for key, found in conditions.items():
                rule = found.rule
                ids = tuple(order.order_id for order in found.orders)
                episode = episodes.get(key)
                if episode is not None and episode.claimed(now):
                    continue  # another run is sending its notification
                if episode is None or episode.state == "resolved":  # a new episode
                    episode = Episode(key, rule.name, found.group, "pending", ids, now)
                elif episode.resolved_at is not None:
                    # Back before its "resolved" reached anyone: the alert is still up.
                    episode = attrs.evolve(episode, resolved_at=None)
                # A claim run out: what it held was not sent (or not known to be).
                episode = attrs.evolve(episode, claim=None, claimed_until=None)
                if self._is_silenced(rule, found, silenced, now):
                    # Silenced, not forgotten: an alert already raised stays raised.
                    inhibited.append(key)
                    episodes[key] = attrs.evolve(episode, state="inhibited", orders=ids)
                    continue
                if episode.fired_at is None:  # not raised yet: pending, or inhibited so far
                    if now - episode.first_seen < rule.for_:
                        pending += 1
                        episodes[key] = attrs.evolve(episode, state="pending", orders=ids)
                        continue
                    alert = self._alert(found, "raised", now)
                    final = attrs.evolve(episode, state="firing", orders=ids, fired_at=now,
                                         last_sent=now, sent=episode.sent + 1,
                                         route_to=alert.route_to)
                    episodes[key] = claimed(attrs.evolve(episode, orders=ids))
                    due.append((alert, final))
                    continue
                # Raised already (firing, or inhibited since): repeated when it is due.
                assert episode.last_sent is not None
                joined = bool(set(ids) - set(episode.orders))
                since = now - episode.last_sent
                regroup = (joined and isinstance(rule, Rule) and rule.group_by is not None
                           and since >= rule.regroup)
                if since >= rule.repeat or regroup:
                    alert = self._alert(found, "repeated", now)
                    final = attrs.evolve(episode, state="firing", orders=ids, last_sent=now,
                                         sent=episode.sent + 1, route_to=alert.route_to)
                    episodes[key] = claimed(episode)
                    due.append((alert, final))
                else:
                    episodes[key] = attrs.evolve(episode, state="firing", orders=ids)
            for key, episode in list(episodes.items()):
                if key in conditions or episode.rule not in names or episode.rule in unknown:
                    continue  # a metric this watcher cannot read now: left as it is
                if episode.claimed(now):
                    continue  # another run is sending its notification
                if episode.fired_at is None or episode.state == "resolved":
                    del episodes[key]  # never raised: nobody to tell
                else:  # raised (firing or inhibited): closed once told, kept as history
                    # Resolved when the condition was first seen cleared, even when its
                    # "resolved" is told only by a later cycle.
                    cleared = attrs.evolve(episode, resolved_at=episode.resolved_at or now)
                    episodes[key] = claimed(cleared)
                    due.append((self._resolved(episode, now),
                                attrs.evolve(cleared, state="resolved", claim=None,
                                             claimed_until=None)))
        return self._send(due, claim, pending, tuple(inhibited), unread, cut)

    # --- the cycle's parts ---------------------------------------------------------------

    def _conditions(self, now: datetime) -> tuple[
        dict[str, _Condition], set[str], tuple[tuple[str, str], ...],
        tuple[tuple[str, str, int, int], ...],
    ]:
        """The conditions that hold now, by episode key; the metric rules whose state is
        unknown this cycle (no source of this watcher provides the metric, as when a
        second watcher with other sources shares the state; its store failed; or it had
        nothing to measure), the metrics that failed, with why; and where a rule's
        ``limit`` cut the orders listed."""
        found: dict[str, _Condition] = {}
        unknown: set[str] = set()
        unread: list[tuple[str, str]] = []
        cut: list[tuple[str, str, int, int]] = []
        # Rules that inhibit others go first, so their state is known when the others run.
        for rule in sorted(self.rules, key=lambda r: not isinstance(r, Rule) or not r.inhibits):
            if isinstance(rule, MetricRule):
                value: Decimal | None = None
                try:
                    value = self._metric(rule.metric, now)
                except StoreError as error:
                    unread.append((rule.metric, str(error)))
                if value is None:
                    # Nobody here measures it, its store failed, or it had nothing to
                    # measure (a retry rate with no calls): not known to be fine.
                    unknown.add(rule.name)
                elif value > rule.threshold:
                    found[f"{rule.name}:{rule.metric}"] = _Condition(rule, rule.metric, (),
                                                                     value)
                continue
            before = now - rule.older_than
            groups: dict[str, tuple[int, list[Order]]]
            if rule.group_by is None:
                # Listed one beyond the limit; counted only when that one is there.
                listed = self.repository.stale(rule.statuses, rule.anchor, before,
                                               rule.limit + 1, terms=rule.payment_terms,
                                               leave_out=rule.leave_out)
                count = len(listed)
                if count > rule.limit:  # at least that many, whoever left meanwhile
                    count = max(count, self.repository.stale_count(
                        rule.statuses, rule.anchor, before, terms=rule.payment_terms,
                        leave_out=rule.leave_out).get("", 0))
                groups = {"": (count, listed[:rule.limit])} if listed else {}
            else:
                # Every group counted and its oldest listed in one query, so one
                # group's flood takes no slot of another's.
                groups = self.repository.stale_groups(
                    rule.statuses, rule.anchor, before, rule.limit, group_by=rule.group_by,
                    terms=rule.payment_terms, leave_out=rule.leave_out)
            for group, (count, listing) in groups.items():
                if rule.group_by is not None and count < rule.min_orders:
                    continue
                orders = tuple(listing)
                count = max(count, len(orders))  # orders may have joined in between
                if count > len(orders):
                    cut.append((rule.name, group, len(orders), count))
                if rule.group_by is not None:
                    if orders:
                        found[f"{rule.name}:{group}"] = _Condition(rule, group, orders,
                                                                   count=count)
                    continue
                for order in orders:
                    found[f"{rule.name}:{order.order_id}"] = _Condition(rule, order.order_id,
                                                                        (order,))
                if count > len(orders):
                    found[f"{rule.name}:{BEYOND_LIMIT}"] = _Condition(
                        rule, BEYOND_LIMIT, (), count=count - len(orders), listed=orders)
        return found, unknown, tuple(unread), tuple(sorted(cut))

    @staticmethod
    def _silenced(conditions: dict[str, _Condition]) -> dict[str, list[tuple[Rule, str]]]:
        """Inhibited rule name -> the (inhibiting rule, group value) pairs silencing it."""
        out: dict[str, list[tuple[Rule, str]]] = {}
        for found in conditions.values():
            if not isinstance(found.rule, Rule):
                continue
            for target in found.rule.inhibits:
                out.setdefault(target, []).append((found.rule, found.group))
        return out

    def _is_silenced(
        self, rule: Rule | MetricRule, found: _Condition,
        silenced: dict[str, list[tuple[Rule, str]]], now: datetime,
    ) -> bool:
        pairs = silenced.get(rule.name, ())
        if not isinstance(rule, Rule) or not pairs:
            return False
        if found.group == BEYOND_LIMIT and not found.orders:
            # The orders beyond the limit are not loaded: silenced when each group they
            # are in (counted in the store, less the orders listed) is silenced.
            for by in {source.group_by for source, _group in pairs}:
                assert by is not None
                quiet = {group for source, group in pairs if source.group_by == by}
                counts = self.repository.stale_count(rule.statuses, rule.anchor,
                                                     now - rule.older_than,
                                                     terms=rule.payment_terms,
                                                     leave_out=rule.leave_out, group_by=by)
                listed = Counter(group_key(order, by) for order in found.listed)
                if all(group in quiet for group, count in counts.items()
                       if count > listed[group]):
                    return True
            return False
        for source, group in pairs:
            assert source.group_by is not None
            if all(group_key(order, source.group_by) == group for order in found.orders):
                return True
        return False

    def _metric(self, metric: str, now: datetime) -> Decimal | None:
        """``metric``'s value from the first of this watcher's sources that provides it
        and has a value (``None``: none)."""
        for source in (s for s in self.metrics if provides(s, metric)):
            value = source.value(metric, now)
            if value is not None:
                return value
        return None

    def _route(self, rule: Rule | MetricRule, orders: Sequence[Order]) -> str:
        for route in self.routes:
            if isinstance(rule, MetricRule):
                # No orders to match on: only a route on labels alone applies.
                plain = (route.channels is None and route.regions is None
                         and route.min_amount is None)
                if plain and all(rule.labels.get(k) == v for k, v in route.labels.items()):
                    return route.to
            elif route.matches(rule, orders):
                return route.to
        return rule.route_to

    def _alert(self, found: _Condition, state: AlertState, now: datetime) -> Alert:
        rule = found.rule
        ids = tuple(order.order_id for order in found.orders)
        what = rule.summary or rule.name
        if isinstance(rule, MetricRule):
            message = f"{what}: {rule.metric} is {found.value} (threshold {rule.threshold})"
            return Alert(f"{rule.name}:{found.group}", rule.name, ids, rule.severity,
                         self._route(rule, ()), message, state, now, found.group, found.value)
        where = f" ({rule.group_by} {found.group})" if rule.group_by else ""
        count = len(ids) if found.count is None else found.count
        if found.group == BEYOND_LIMIT and not found.orders:
            listed = len(found.listed)
            message = (f"{what}: {listed + count:,} order(s) in all, {count:,} beyond the"
                       f" {listed:,} alerted one by one (the rule's limit)")
        else:
            shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            listed_note = f", first {len(ids):,} listed" if count > len(ids) else ""
            message = f"{what}{where}: {count:,} order(s){listed_note}: {shown}"
        return Alert(f"{rule.name}:{found.group}", rule.name, ids, rule.severity,
                     self._route(rule, found.orders), message, state, now, found.group,
                     count=found.count)

    def _resolved(self, episode: Episode, now: datetime) -> Alert:
        """The ``resolved`` of ``episode``, to the queue it was last sent to (its orders
        may match no route any more); the rule's own queue for an episode stored
        without one."""
        rule = next(r for r in self.rules if r.name == episode.rule)
        message = f"resolved: {rule.summary or rule.name} ({episode.group})"
        return Alert(episode.key, rule.name, episode.orders, rule.severity,
                     episode.route_to or rule.route_to, message, "resolved", now,
                     episode.group)

    def _send(
        self, due: list[tuple[Alert, Episode]], claim: str, pending: int,
        inhibited: tuple[str, ...], unread: tuple[tuple[str, str], ...],
        cut: tuple[tuple[str, str, int, int], ...],
    ) -> WatchReport:
        sent: dict[AlertState, list[Alert]] = {"raised": [], "repeated": [], "resolved": []}
        failed: list[tuple[Alert, str]] = []
        told: set[str] = set()
        for alert, _final in due:
            try:
                self.notifier.notify(alert.notice())
            except Exception as error:  # any notifier failure: retried next cycle
                failed.append((alert, f"{type(error).__name__}: {error}"))
                continue
            told.add(alert.key)
            sent[alert.state].append(alert)
        if due:
            # What was sent is stored as sent; what failed is released, so the next cycle
            # decides it again. An episode whose claim ran out meanwhile and was taken by
            # another run is that run's now. Only these episodes are read and written.
            with keyed_cycle(self.state, [alert.key for alert, _final in due]) as episodes:
                for alert, final in due:
                    current = episodes.get(alert.key)
                    if current is None or current.claim != claim:
                        continue
                    if alert.key in told:
                        episodes[alert.key] = final
                    else:
                        episodes[alert.key] = attrs.evolve(current, claim=None,
                                                           claimed_until=None)
        return WatchReport(tuple(sent["raised"]), tuple(sent["repeated"]),
                           tuple(sent["resolved"]), pending, inhibited, tuple(failed), unread,
                           cut)
