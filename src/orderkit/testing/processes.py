"""Run the same job in several processes at once, to prove an adapter is process-safe.

Adapters that claim "safe across processes" (SQLite, PostgreSQL, your own) are tested by
racing real processes against one store, not threads: threads share a connection pool
and a GIL and hide the bugs that matter. :func:`race` starts the processes with the
``spawn`` method, lines them up on a barrier so they really start together, and returns
what each job returned (or the name and text of the exception it, or the store factory,
raised: an ``OrderkitError`` the job meant, or anything else that went wrong).

Factories and jobs must be picklable: module-level functions or ``functools.partial``
of them, for example ``partial(SQLiteOrderRepository, path)``.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import attrs

from orderkit.lifecycle.ports import OrderRepository
from orderkit.model.orders import Order
from orderkit.numbering.ports import ReconIdSequence

__all__ = [
    "Failure", "draw_numbers", "postgres_sync", "race", "receive_all", "save_order",
    "watch_cycle",
]

S = TypeVar("S")


@attrs.frozen
class Failure:
    """An exception a job (or its store factory) raised, by class name and message."""

    error: str
    message: str


def _worker(
    factory: Callable[[], Any],
    job: Callable[[Any], Any],
    index: int,
    barrier: Any,
    results: Any,
) -> None:
    # Any exception is reported, not left to kill the process silently: the caller then
    # sees what went wrong at once instead of waiting out its timeout.
    failure: Failure | None = None
    try:
        store = factory()
    except Exception as error:
        failure = Failure(type(error).__name__, str(error))
    barrier.wait(timeout=60)
    if failure is not None:
        results.put((index, failure))
        return
    try:
        results.put((index, job(store)))
    except Exception as error:
        results.put((index, Failure(type(error).__name__, str(error))))


def race(
    factory: Callable[[], S],
    jobs: Sequence[Callable[[S], Any]],
    *,
    timeout: float = 120,
) -> list[Any]:
    """Run each of ``jobs`` as ``job(factory())`` in its own spawned process, all
    started together; returns their results in the order of ``jobs``."""
    processes = len(jobs)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(factory, job, i, barrier, results))
        for i, job in enumerate(jobs)
    ]
    for worker in workers:
        worker.start()
    collected: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(collected) < processes:
            try:
                index, value = results.get(timeout=_POLL)
            except queue_module.Empty:
                _check_alive(workers, collected, processes, deadline)
                continue
            collected[index] = value
    except BaseException:
        for worker in workers:  # the others would wait out the barrier for nothing
            worker.terminate()
        raise
    finally:
        for worker in workers:
            worker.join(timeout=timeout)
            if worker.is_alive():  # pragma: no cover - only on a hung store
                worker.terminate()
    return [collected[i] for i in range(processes)]


#: How often :func:`race` looks whether a process died without reporting, in seconds.
_POLL = 0.2


def _check_alive(
    workers: Sequence[Any], collected: dict[int, Any], processes: int, deadline: float
) -> None:
    """Fail at once when a process ended without reporting (it could not even start
    the job), or when the time is up."""
    for index, worker in enumerate(workers):
        if index not in collected and worker.exitcode not in (None, 0):
            raise AssertionError(
                f"process {index} died (exit code {worker.exitcode}) before reporting:"
                " its output says why. In a script, call race() under"
                " `if __name__ == \"__main__\":`, since spawned processes import the"
                " main module again"
            )
    if time.monotonic() > deadline:
        raise AssertionError(f"only {len(collected)} of {processes} processes reported")


def save_order(order: Order, expected_version: int | None, repository: OrderRepository) -> str:
    """Job: save ``order``; returns ``"saved"`` (conflicts come back as :class:`Failure`)."""
    repository.save(order, expected_version)
    return "saved"


def draw_numbers(prefix: str, on: date, count: int, sequence: ReconIdSequence) -> list[int]:
    """Job: draw ``count`` numbers from ``sequence``."""
    return [sequence.next_value(prefix, on) for _ in range(count)]


def postgres_sync(dsn: str, schema: str, secret: bytes) -> Any:
    """Factory: a :class:`~orderkit.sync.Sync` on the PostgreSQL adapters of ``schema``
    (orders, sync store and an inventory ledger sharing one database handle)."""
    from orderkit.adapters.postgres import (
        PostgresInventoryStore,
        PostgresOrderRepository,
        PostgresSyncStore,
    )
    from orderkit.inventory import InventoryLedger
    from orderkit.lifecycle import OrderService
    from orderkit.sync import Sync

    repository = PostgresOrderRepository(dsn, schema=schema)
    ledger = InventoryLedger(PostgresInventoryStore(repository.database), secret=secret)
    return Sync(repository, OrderService(repository, inventory=ledger),
                store=PostgresSyncStore(repository.database))


def receive_all(
    platform: str, payloads: Sequence[Any], received_at: datetime, sync: Any
) -> list[str]:
    """Job: ``sync.receive`` each payload (a webhook's deliveries, one at a time);
    returns each one's outcome (an exception fails the job: the race reports it)."""
    outcomes: list[str] = []
    for payload in payloads:
        report = sync.receive(platform, payload, received_at=received_at)
        outcomes.extend(name for name, count in attrs.asdict(report).items() if count)
    return outcomes


class _Kept:
    """A notifier that keeps what it was told."""

    def __init__(self) -> None:
        self.told: list[str] = []

    def notify(self, alert: Any) -> None:
        self.told.append(f"{alert.detail('state')} {alert.subject}")


def watch_cycle(path: str, now: datetime, repository: OrderRepository) -> list[str]:
    """Job: one watch cycle with the default rules over ``repository``, its episodes in
    SQLite at ``path``, at ``now``; returns what it notified (``"raised <key>"``)."""
    from orderkit.adapters.sqlite.watch import SQLiteWatchState
    from orderkit.testing.clock import ManualClock
    from orderkit.watch import Watcher

    kept = _Kept()
    watcher = Watcher(repository, kept, state=SQLiteWatchState(path), clock=ManualClock(now))
    watcher.run_once()
    return kept.told
