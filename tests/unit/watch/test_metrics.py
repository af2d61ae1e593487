"""Rules on rates and lags, driven by an injected clock: retry rate above 3% for 5
minutes fires, a 4-minute spike does not, and the alert resolves; sync lag p95."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.adapters.memory import MemoryOrderRepository, MemorySyncStore
from orderkit.adapters.sqlite import SQLiteSyncStore, SQLiteWatchState
from orderkit.errors import DefinitionError, ValidationError
from orderkit.model.alerts import Alert as Notice
from orderkit.sync import Seen
from orderkit.testing import ManualClock
from orderkit.watch import (
    DEFAULT_METRIC_RULES,
    DEFAULT_RULES,
    MetricRule,
    RetryRate,
    Route,
    Rule,
    SyncLagMetric,
    Watcher,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def notify(self, alert: Notice) -> None:
        self.notices.append(alert)

    def said(self) -> list[str]:
        return [f"{n.detail('state')} {n.subject}" for n in self.notices]


@attrs.frozen
class Lag:
    received_at: datetime
    lag: timedelta


def calls(rate: RetryRate, at: datetime, *, retried: int, of: int) -> None:
    for index in range(of):
        rate.record(at, retried=index < retried)


def minute_by_minute(watcher: Watcher, clock: ManualClock, rate: RetryRate,
                     percent_by_minute: list[int]) -> list[str]:
    """Each minute, 100 calls of which ``percent`` were retries, then one watch cycle."""
    out: list[str] = []
    for minute, percent in enumerate(percent_by_minute, start=1):
        clock.set(T0 + timedelta(minutes=minute))
        calls(rate, clock.now() - timedelta(seconds=30), retried=percent, of=100)
        report = watcher.run_once()
        out += [f"{minute} {a.state} {a.key}" for a in
                (*report.raised, *report.repeated, *report.resolved)]
    return out


def test_retry_rate_above_3_percent_for_5_minutes_fires_and_resolves() -> None:
    clock = ManualClock(T0)
    inbox = Inbox()
    rate = RetryRate()
    watcher = Watcher(MemoryOrderRepository(), inbox, rules=DEFAULT_METRIC_RULES, clock=clock,
                      metrics=[rate])
    # 4% from minute 1: first seen at 1, held 5 minutes at 6; back to 1% at minute 9.
    said = minute_by_minute(watcher, clock, rate, [4, 4, 4, 4, 4, 4, 4, 4, 1, 1])
    assert said == ["6 raised retry_rate_high:retry_rate",
                    "9 resolved retry_rate_high:retry_rate"]
    raised = inbox.notices[0]
    assert raised.detail("route_to") == "tech"
    assert "retry_rate is 0.04 (threshold 0.03)" in raised.message


def test_a_4_minute_retry_spike_raises_nothing() -> None:
    clock = ManualClock(T0)
    inbox = Inbox()
    rate = RetryRate()
    watcher = Watcher(MemoryOrderRepository(), inbox, rules=DEFAULT_METRIC_RULES, clock=clock,
                      metrics=[rate])
    # Above 3% at minutes 1 to 4 (a 4-minute spike), then 3% exactly (not above), twice.
    assert minute_by_minute(watcher, clock, rate, [9, 9, 9, 9, 3, 0, 9, 9, 9, 9, 0]) == []
    assert inbox.notices == []


def test_a_firing_metric_alert_repeats_and_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    inbox = Inbox()
    rate = RetryRate(window=timedelta(hours=2))
    rule = MetricRule("retries", "retry_rate", Decimal("0.03"), timedelta(minutes=5),
                      severity="critical", route_to="finance", repeat=timedelta(hours=1),
                      labels={"team": "payments"})
    calls(rate, T0, retried=10, of=100)
    state = SQLiteWatchState(tmp_path / "shop.db")
    routes = [Route("customer_service", channels={"tmall"}), Route("tech", labels={"team":
                                                                                  "payments"})]
    first = Watcher(MemoryOrderRepository(), inbox, rules=[rule], clock=clock, state=state,
                    metrics=[rate], routes=routes)
    second = Watcher(MemoryOrderRepository(), inbox, rules=[rule], clock=clock,
                     state=SQLiteWatchState(tmp_path / "shop.db"), metrics=[rate],
                     routes=routes)
    for minutes, watcher in ((1, first), (6, first), (7, second), (66, second), (67, first)):
        clock.set(T0 + timedelta(minutes=minutes))
        watcher.run_once()
    assert inbox.said() == ["raised retries:retry_rate", "repeated retries:retry_rate"]
    assert {n.detail("route_to") for n in inbox.notices} == {"tech"}  # by label only


def test_sync_lag_p95_above_5_minutes_for_5_minutes() -> None:
    clock = ManualClock(T0)
    inbox = Inbox()
    lags: list[Lag] = []
    metric = SyncLagMetric(lags)
    watcher = Watcher(MemoryOrderRepository(), inbox, rules=[*DEFAULT_RULES,
                                                             *DEFAULT_METRIC_RULES],
                      clock=clock, metrics=[RetryRate(), metric])
    for minute in range(1, 13):
        clock.set(T0 + timedelta(minutes=minute))
        # 19 quick orders and one slow one a minute: p95 is the slow one while it lasts.
        slow = timedelta(minutes=7) if minute <= 6 else timedelta(seconds=20)
        lags += [Lag(clock.now(), timedelta(seconds=2)) for _ in range(18)]
        lags += [Lag(clock.now(), slow), Lag(clock.now(), slow)]
        watcher.run_once()
        if minute == 1:
            assert metric.value("sync_lag_p95", clock.now()) == Decimal("420.0")
    # Slow from minute 1 to 6: raised at 6; the 5-minute window keeps p95 slow until 8.
    assert inbox.said() == ["raised sync_lag_high:sync_lag_p95",
                            "resolved sync_lag_high:sync_lag_p95"]
    assert metric.value("retry_rate", clock.now()) is None
    assert SyncLagMetric([]).value("sync_lag_p95", clock.now()) is None


def test_metric_rules_are_checked_when_built() -> None:
    with pytest.raises(DefinitionError) as bad:
        MetricRule("x", "retry_rate", "three percent", timedelta(minutes=5))
    assert bad.value.path == "threshold"
    with pytest.raises(DefinitionError) as negative:
        MetricRule("x", "retry_rate", Decimal("0.03"), timedelta(minutes=-1))
    assert negative.value.path == "rules['x'].for_"
    inhibiting = Rule("down", {10}, "status_since", timedelta(minutes=1), "tech",
                      group_by="channel", inhibits=("retry_rate_high",))
    with pytest.raises(DefinitionError) as inhibits:
        Watcher(MemoryOrderRepository(), Inbox(),
                rules=[inhibiting, *DEFAULT_METRIC_RULES])
    assert inhibits.value.value == "retry_rate_high"


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_sync_lag_p95_is_read_from_the_sync_store(store: str, tmp_path: Path) -> None:
    sync_store = MemorySyncStore() if store == "memory" else SQLiteSyncStore(tmp_path / "s.db")
    clock = ManualClock(T0)
    inbox = Inbox()
    metric = SyncLagMetric(sync_store)
    watcher = Watcher(MemoryOrderRepository(), inbox, rules=DEFAULT_METRIC_RULES, clock=clock,
                      metrics=[metric])
    for minute in range(1, 13):
        clock.set(T0 + timedelta(minutes=minute))
        slow = timedelta(minutes=7) if minute <= 6 else timedelta(seconds=20)
        for n in range(20):  # 18 quick orders and 2 slow ones a minute, as sync stores them
            lag = slow if n >= 18 else timedelta(seconds=2)
            now = clock.now()
            sync_store.mark_seen(Seen("jd", f"J-{minute}-{n}", now - lag, f"d{minute}-{n}", now))
        watcher.run_once()
        if minute == 1:  # received at "now" exactly: inside the window (now - 5 min, now]
            assert metric.value("sync_lag_p95", clock.now()) == Decimal("420.0")
    assert inbox.said() == ["raised sync_lag_high:sync_lag_p95",
                            "resolved sync_lag_high:sync_lag_p95"]
    # The window's far end is left out: 5 minutes after the last receipt nothing is.
    assert metric.value("sync_lag_p95", clock.now() + timedelta(minutes=5)) is None
    with pytest.raises(ValidationError) as bad:
        SyncLagMetric("not lags")  # type: ignore[arg-type]
    assert bad.value.path == "source"


@pytest.mark.parametrize(("make", "path", "value"), [
    (lambda: MetricRule("x", "retry_rate", -1, timedelta(minutes=5)), "threshold", -1),
    (lambda: MetricRule("x", "retry_rate", 1, timedelta(minutes=5), labels="x"),
     "labels", "x"),
    (lambda: MetricRule("x", "retry_rate", 1, timedelta(minutes=5), summary=5),
     "summary", 5),
])
def test_bad_metric_rule_fields_are_refused_naming_them(make: Any, path: str,
                                                        value: object) -> None:
    with pytest.raises(DefinitionError) as caught:
        make()
    assert (caught.value.path, caught.value.value) == (path, value)


def test_bad_metric_source_arguments_are_refused_naming_them() -> None:
    naive = datetime(2026, 3, 2, 1, 0)
    for call, path, value in [
        (lambda: RetryRate(window=60), "window", 60),  # type: ignore[arg-type]
        (lambda: RetryRate().value("retry_rate", naive), "now", naive),
        (lambda: SyncLagMetric([], window=300), "window", 300),  # type: ignore[arg-type]
        (lambda: SyncLagMetric([], percentile=0.95), "percentile", 0.95),  # type: ignore[arg-type]
        (lambda: SyncLagMetric([]).value("sync_lag_p95", naive), "now", naive),
    ]:
        with pytest.raises(ValidationError) as caught:
            call()
        assert (caught.value.path, caught.value.value) == (path, value)
