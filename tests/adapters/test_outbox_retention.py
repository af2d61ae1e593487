"""The outbox's retention on SQLite and PostgreSQL beyond the contract: each batch of a
purge is a short transaction of its own, a purge killed at random beside a working
relay loses no message still owed, and PostgreSQL's delete reads through its index
(SQLite's: ``test_outbox_stores.py``)."""

from __future__ import annotations

import functools
import os
import random
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orderkit.adapters.postgres import PostgresOrderRepository
from orderkit.adapters.postgres.orders import PURGE_DELIVERED
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.model.errors import ConcurrencyError, DuplicateOrder
from orderkit.outbox import OutboxMessage, OutboxRelay, message_id
from orderkit.testing.clock import ManualClock
from orderkit.testing.crash import relay_forever, supervise
from orderkit.testing.postgres import fresh_schema, query_plan
from orderkit.testing.samples import sample_order

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def _messages(order_id: str, count: int = 2) -> list[OutboxMessage]:
    return [
        OutboxMessage(message_id(order_id, "E", k), order_id, "event.StatusChanged",
                      {"k": k}, T0)
        for k in range(count)
    ]


def _save(repository: SQLiteOrderRepository | PostgresOrderRepository, order_id: str,
          count: int = 2) -> list[OutboxMessage]:
    sent = _messages(order_id, count)
    repository.save(sample_order(order_id, channel_order_id=f"T-{order_id}"), None,
                    outbox=sent)
    return sent


# --- SQLite --------------------------------------------------------------------------------


class _LockWatch:
    """The SQLite repository, checking after each batch of a purge that the file's write
    lock is free again: another process could write at once."""

    def __init__(self, repository: SQLiteOrderRepository, path: Path) -> None:
        self.repository = repository
        self.path = path
        self.batches: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repository, name)

    def purge_delivered(self, before: datetime, *, limit: int | None = None) -> int:
        deleted = self.repository.purge_delivered(before, limit=limit)
        other = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if a batch held it
            other.execute("ROLLBACK")
        finally:
            other.close()
        self.batches.append(deleted)
        return deleted


def test_each_batch_of_a_purge_is_a_transaction_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    repository = SQLiteOrderRepository(path)
    ids: list[str] = []
    for n in range(25):
        ids += [m.message_id for m in _save(repository, f"ORD-{n}")]
    repository.mark_delivered(ids, T0)
    watched = _LockWatch(repository, path)
    relay = OutboxRelay(watched, clock=ManualClock(T0 + timedelta(days=31)))  # type: ignore[arg-type]
    assert relay.purge(timedelta(days=30), batch=20) == 50
    assert watched.batches == [20, 20, 10]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM order_outbox").fetchone() == (0,)
    conn.close()


class _FileSink:
    """An event sink that records, in a SQLite file of its own, each delivery and the
    process that made it (committed before the relay marks the message delivered)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS seen (message_id TEXT, pid INTEGER)")

    def publish(self, events: Sequence[OutboxMessage]) -> None:
        for message in events:
            self.conn.execute("INSERT INTO seen VALUES (?, ?)", (message.message_id, os.getpid()))


def _writer(path: Path, name: str, orders: int) -> None:
    """Save ``orders`` orders with two messages each; a restart skips those saved."""
    repository = SQLiteOrderRepository(path)
    for n in range(orders):
        try:
            _save(repository, f"{name}-{n}")
        except (ConcurrencyError, DuplicateOrder):  # saved before the kill
            continue


def _relay(path: Path, sink_path: Path) -> None:
    relay_forever(OutboxRelay(SQLiteOrderRepository(path), sink=_FileSink(sink_path)),
                  limit=10, idle=0.005)


def _purger(path: Path, seed: int) -> None:
    """Purge everything delivered (a retention of a microsecond), in small batches."""
    relay = OutboxRelay(SQLiteOrderRepository(path))
    rng = random.Random(seed)
    while True:
        relay.purge(timedelta(microseconds=1), batch=rng.choice((1, 3, 7)))
        time.sleep(rng.uniform(0, 0.003))


@pytest.mark.slow
def test_a_purge_killed_at_random_beside_a_relay_loses_no_owed_message(
    tmp_path: Path,
) -> None:
    """Writers save orders with their messages, a relay delivers them to a sink, and a
    purger process deletes what was delivered as fast as it can; writers and purger are
    SIGKILLed at random and restarted. Every message reaches the sink, none twice from
    the relay (never killed while the writers run), none is left pending or dead, and
    nothing delivered is left once the purge has run."""
    path, sink_path = tmp_path / "orders.db", tmp_path / "sink.db"
    SQLiteOrderRepository(path).database.close()  # no connection may cross a fork
    _FileSink(sink_path).conn.close()
    seed = int(os.environ.get("ORDERKIT_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash test seed: {seed} (rerun with ORDERKIT_CRASH_SEED={seed})")
    writers, orders = 3, 60
    report = supervise(
        {f"W{w}": functools.partial(_writer, path, f"W{w}", orders) for w in range(writers)},
        daemons={"relay": functools.partial(_relay, path, sink_path),
                 "purger": functools.partial(_purger, path, seed)},
        seed=seed,
        pause=(0.02, 0.06),
        weights={"relay": 0, "purger": 3},
        min_kills=30,
    )
    assert report.by_target["relay"] == 0, seed
    assert report.by_target["purger"] > 0, (seed, report)
    with sqlite3.connect(path) as conn:
        (left,) = conn.execute("SELECT count(*) FROM order_outbox").fetchone()
    conn.close()
    assert left < writers * orders * 2, seed  # the purger deleted while the relay ran
    repository = SQLiteOrderRepository(path)
    OutboxRelay(repository, sink=_FileSink(sink_path)).run_until_idle(limit=1000)
    assert list(repository.pending(10)) == [] and list(repository.dead_letters()) == [], seed
    with sqlite3.connect(sink_path) as conn:
        seen = conn.execute("SELECT message_id, pid FROM seen").fetchall()
    conn.close()
    expected = {m.message_id for w in range(writers) for n in range(orders)
                for m in _messages(f"W{w}-{n}")}
    assert {message for message, _pid in seen} == expected, seed
    assert len(set(seen)) == len(seen), seed  # no process was given a message twice
    # Only the relay's last batch, delivered when the run ended and the relay was
    # killed, before it marked it delivered, may have been delivered again by the drain.
    assert len(seen) - len(expected) <= 10, seed
    OutboxRelay(repository).purge(timedelta(microseconds=1))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM order_outbox").fetchone() == (0,), seed
    conn.close()


# --- PostgreSQL ----------------------------------------------------------------------------


def test_postgres_purge_reads_through_its_index_and_keeps_what_is_owed(pg_dsn: str) -> None:
    schema = fresh_schema()
    repository = PostgresOrderRepository(pg_dsn, schema=schema)
    delivered: list[str] = []
    for n in range(30):
        sent = _save(repository, f"ORD-{n}")
        delivered.append(sent[0].message_id)  # the second of each order stays pending
    repository.mark_delivered(delivered, T0)
    # the very statement purge_delivered runs, for a cut-off of now and a batch of 1000
    statement = PURGE_DELIVERED.replace("{s}", f'"{schema}"') % ("now()", "1000")
    plan = query_plan(pg_dsn, statement)
    assert "order_outbox_delivered" in plan, plan
    relay = OutboxRelay(repository, clock=ManualClock(T0 + timedelta(days=30)))
    assert relay.purge(timedelta(days=29), batch=7) == 30
    assert len(repository.pending(100)) == 30
