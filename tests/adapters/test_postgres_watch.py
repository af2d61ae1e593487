"""Two watcher processes on PostgreSQL take turns: each alert is sent once."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from orderkit import OrderStatus
from orderkit.adapters.postgres import PostgresOrderRepository, PostgresWatchState
from orderkit.adapters.postgres.watch import PURGE_HISTORY
from orderkit.model.alerts import Alert
from orderkit.testing import ManualClock
from orderkit.testing.postgres import fresh_schema, query_plan
from orderkit.testing.samples import sample_order
from orderkit.watch import Watcher, purge_resolved
from orderkit.watch.ports import Episode

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=20)
ORDERS = 5


class Inbox:
    def __init__(self) -> None:
        self.told: list[str] = []

    def notify(self, alert: Alert) -> None:
        self.told.append(f"{alert.detail('state')} {alert.subject}")


class SlowCycles:
    """The PostgreSQL state with a pause inside each cycle, after its episodes were read:
    two cycles not kept apart would both read no episode and both send every alert."""

    def __init__(self, state: PostgresWatchState) -> None:
        self.state = state

    @contextmanager
    def cycle(self) -> Iterator[MutableMapping[str, Episode]]:
        with self.state.cycle() as episodes:
            time.sleep(0.5)
            yield episodes


def _watch_once(dsn: str, schema: str, barrier: Any, results: Any) -> None:
    """The forked watcher process: its own adapters, one cycle, what it sent."""
    inbox = Inbox()
    watcher = Watcher(PostgresOrderRepository(dsn, schema=schema), inbox, clock=ManualClock(NOW),
                      state=SlowCycles(PostgresWatchState(dsn, schema=schema)))
    barrier.wait(timeout=60)
    watcher.run_once()
    results.put(inbox.told)


def test_two_watcher_processes_on_postgres_send_each_alert_once(pg_dsn: str) -> None:
    schema = fresh_schema("watch")
    repository = PostgresOrderRepository(pg_dsn, schema=schema)
    for n in range(ORDERS):
        order = attrs.evolve(sample_order(f"P-{n}", channel_order_id=f"P-{n}"),
                             status=OrderStatus.PENDING_PAYMENT, status_since=T0, shipments=())
        repository.save(order, None)
    state = PostgresWatchState(pg_dsn, schema=schema)  # tables ready before the race
    repository.close()
    state.database.close()  # no connection may cross the fork

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [context.Process(target=_watch_once, args=(pg_dsn, schema, barrier, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    told = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    expected = [f"raised pending_payment_stale:P-{n}" for n in range(ORDERS)]
    assert sorted(line for lines in told for line in lines) == expected
    assert sorted(len(lines) for lines in told) == [0, ORDERS]  # one cycle after the other
    restarted = Watcher(PostgresOrderRepository(pg_dsn, schema=schema), Inbox(),
                        clock=ManualClock(NOW), state=PostgresWatchState(pg_dsn, schema=schema))
    assert restarted.run_once().raised == ()


def test_a_schema_of_version_1_gets_the_history_and_keeps_its_open_episodes(
    pg_dsn: str,
) -> None:
    import psycopg

    schema = fresh_schema("watch")
    PostgresWatchState(pg_dsn, schema=schema)
    first = Episode("pending_payment_stale:P-1", "pending_payment_stale", "", "firing",
                    ("P-1",), T0, T0, T0, 1)
    with psycopg.connect(pg_dsn, autocommit=True) as admin:  # as the first release left it
        admin.execute(f"DROP TABLE {schema}.watch_history")
        admin.execute(f"UPDATE {schema}.schema_version SET version = 1"
                      " WHERE component = 'watch'")
        admin.execute(  # its text had no resolved_at
            f"INSERT INTO {schema}.watch_episodes (key, body) VALUES (%s, %s)",
            (first.key, '{"fired_at": "2026-03-02T01:00:00+00:00", "first_seen":'
             ' "2026-03-02T01:00:00+00:00", "group": "", "key": "pending_payment_stale:P-1",'
             ' "last_sent": "2026-03-02T01:00:00+00:00", "orders": ["P-1"], "rule":'
             ' "pending_payment_stale", "sent": 1, "state": "firing"}'))
    later = f"{pg_dsn} application_name=after-the-upgrade"  # no memory of the first check
    state = PostgresWatchState(later, schema=schema)
    assert state.database.schema_version("watch") == 2
    with state.cycle() as episodes:
        assert dict(episodes) == {first.key: first}
        episodes[first.key] = attrs.evolve(first, state="resolved", resolved_at=NOW)
    assert state.history() == [attrs.evolve(first, state="resolved", resolved_at=NOW)]


def test_the_sync_lag_is_read_from_a_postgres_sync_store_of_the_previous_schema(
    pg_dsn: str,
) -> None:
    import psycopg

    from orderkit.adapters.postgres import PostgresSyncStore
    from orderkit.sync import Seen
    from orderkit.watch import SyncLagMetric

    schema = fresh_schema("sync")
    PostgresSyncStore(pg_dsn, schema=schema).mark_seen(
        Seen("jd", "J-1", T0, "d1", T0 + timedelta(seconds=40)))
    with psycopg.connect(pg_dsn, autocommit=True) as admin:  # as version 1 left it
        admin.execute(f"DROP INDEX {schema}.sync_seen_by_received")
        admin.execute(f"UPDATE {schema}.schema_version SET version = 1"
                      " WHERE component = 'sync'")
    store = PostgresSyncStore(f"{pg_dsn} application_name=after-the-upgrade", schema=schema)
    assert store.database.schema_version("sync") == 2
    metric = SyncLagMetric(store)
    assert metric.value("sync_lag_p95", T0 + timedelta(seconds=40)) == Decimal("40.0")
    assert metric.value("sync_lag_p95", T0 + timedelta(minutes=5, seconds=40)) is None


def test_a_keyed_cycle_reads_no_other_episode_on_postgres(pg_dsn: str) -> None:
    """An open episode the cycle does not name is not read: one whose stored text is
    no episode at all (written by hand) is never decoded by a keyed cycle, while a
    cycle over every open episode trips on it."""
    import psycopg

    schema = fresh_schema("watch")
    state = PostgresWatchState(pg_dsn, schema=schema)
    first = Episode("pending_payment_stale:P-1", "pending_payment_stale", "", "firing",
                    ("P-1",), T0, T0, T0, 1)
    with state.cycle() as episodes:
        episodes[first.key] = first
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"INSERT INTO {schema}.watch_episodes (key, body) VALUES (%s, %s)",
                      ("other_rule:O-1", "not an episode"))
    with state.cycle(keys=[first.key, "pending_payment_stale:P-2"]) as episodes:
        assert dict(episodes) == {first.key: first}
        episodes[first.key] = attrs.evolve(first, sent=2)
    try:
        with state.cycle():
            raise AssertionError("every open episode was read without the stored text")
    except json.JSONDecodeError:  # the hand-written text is no JSON
        pass
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        (body,) = admin.execute(f"SELECT body FROM {schema}.watch_episodes WHERE key = %s",
                                (first.key,)).fetchone() or ("",)
    assert '"sent": 2' in body


def test_a_history_purge_on_postgres_reads_through_the_index_on_resolved_at(
    pg_dsn: str,
) -> None:
    """The retention's batch deletes by when episodes were resolved, through the index
    on ``resolved_at``; a purge in batches takes what was resolved before the cut-off
    only and leaves the open episodes."""
    schema = fresh_schema()
    state = PostgresWatchState(pg_dsn, schema=schema)
    with state.cycle() as episodes:
        for n in range(12):
            key = f"stale:O-{n}"
            episodes[key] = Episode(key, "stale", "", "firing", (f"O-{n}",), T0)
    with state.cycle() as episodes:
        for n in range(10):
            key = f"stale:O-{n}"
            episodes[key] = attrs.evolve(episodes[key], state="resolved",
                                         resolved_at=T0 + timedelta(minutes=n))
    # the very statement purge_history runs, for a cut-off of now and a batch of 1000
    statement = PURGE_HISTORY.replace("{s}", f'"{schema}"') % ("now()", "1000")
    plan = query_plan(pg_dsn, statement)
    assert "watch_history_by_resolved_at" in plan, plan
    clock = ManualClock(T0 + timedelta(days=90, minutes=7))
    assert purge_resolved(state, timedelta(days=90), batch=3, clock=clock) == 7
    peer = PostgresWatchState(pg_dsn, schema=schema)
    assert [e.key for e in peer.history()] == ["stale:O-9", "stale:O-8", "stale:O-7"]
    with peer.cycle() as episodes:
        assert sorted(episodes) == ["stale:O-10", "stale:O-11"]
