"""Kill processes at random points and restart them, to prove that nothing they owe is
lost or done twice.

A crash test runs the host's own loops in real processes against one store and sends
them ``SIGKILL`` (no ``finally``, no ``atexit``, a transaction cut off wherever it was):

* **workers** replay a deterministic plan from its start every time they are started;
  every step has a fixed id, so what a killed run already saved is a no-op the next
  time. :func:`run_plan` runs a plan of :class:`PlanStep` through an
  :class:`~orderkit.lifecycle.OrderService`, and :func:`shop_plan` makes one (orders
  placed, paid, partly cancelled, shipped whole or in part, cancelled);
* **daemons** loop until they are killed: :func:`relay_forever` drains an
  :class:`~orderkit.outbox.OutboxRelay`.

:func:`supervise` starts them, kills one at a random moment every fraction of a second,
restarts it, and returns once every worker ran its plan to the end (a
:class:`CrashReport` counts the kills). The caller then drains what is left and checks
the store: each :class:`StockMove` of the plan names the outbox message a step owes and
the units it moves, so the ledger can be checked entry by entry.

Processes are started with the ``fork`` method by default (a restart costs a fork, not
a new interpreter). The caller must then hold no open database connection while
:func:`supervise` runs (SQLite forbids carrying one across ``fork``): close it first
(``repository.database.close()``) and open adapters again afterwards. Targets given for
``spawn`` must be picklable (module-level functions or ``functools.partial`` of them).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from orderkit.lifecycle.events import Event
from orderkit.lifecycle.service import OrderService
from orderkit.model.errors import DuplicateOrder, ValidationError
from orderkit.model.frozen import FrozenMap
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine
from orderkit.outbox.messages import STOCK_COMMIT, STOCK_RELEASE, message_id
from orderkit.outbox.relay import OutboxRelay

__all__ = [
    "CrashReport",
    "CrashTestError",
    "PlanStep",
    "StockMove",
    "relay_forever",
    "run_plan",
    "shop_plan",
    "supervise",
]

_JOIN_SECONDS: Final = 10.0


# --- plans ---------------------------------------------------------------------------------


def _unit_map(units: Mapping[str, int]) -> FrozenMap[str, int]:
    return FrozenMap(units)


@attrs.frozen
class StockMove:
    """What a step owes the inventory ledger: the outbox message ``message_id`` of
    ``topic`` (``stock.release`` or ``stock.commit``) moving ``units`` per SKU. Applied
    exactly once, it leaves one ledger entry ``f"{message_id}:{sku}"`` per SKU."""

    message_id: str
    topic: str
    units: FrozenMap[str, int] = attrs.field(converter=_unit_map)

    def entry_ids(self) -> dict[str, int]:
        """The ledger entry id of each SKU this move touches, with its units."""
        return {f"{self.message_id}:{sku}": qty for sku, qty in self.units.items()}


@attrs.frozen
class PlanStep:
    """One step of a worker's plan: place ``order``, or apply ``event`` to the stored
    order ``order_id``; ``moves`` is the stock the step owes (what its outbox message
    moves)."""

    order_id: str
    order: Order | None = None
    event: Event | None = None
    moves: tuple[StockMove, ...] = ()

    def __attrs_post_init__(self) -> None:
        if (self.order is None) == (self.event is None):
            raise ValidationError(
                "event", self.event, "a plan step places an order or applies an event"
            )


def run_plan(service: OrderService, steps: Sequence[PlanStep]) -> int:
    """Run ``steps`` in turn from the first; returns how many changed something.

    A placement of an order that is stored already (:class:`DuplicateOrder`) and an
    event the order applied before are what a replay after a crash meets: both count
    as done."""
    changed = 0
    for step in steps:
        if step.order is not None:
            try:
                service.place(step.order)
            except DuplicateOrder:
                continue
            changed += 1
        elif step.event is not None:
            changed += int(service.handle(step.order_id, step.event).changed)
    return changed


def shop_plan(
    *,
    seed: int,
    prefix: str,
    orders: int,
    skus: Sequence[str],
    start: datetime,
    currency: str = "CNY",
) -> tuple[PlanStep, ...]:
    """A deterministic plan of ``orders`` orders (ids ``f"{prefix}-{n:04d}"``, channel
    ``"crash"``), each with one to three lines of ``skus``, through the default
    lifecycle: placed (locking stock), mostly paid, some lines partly cancelled,
    shipped whole or in part, some orders or their unshipped rest cancelled, some left
    open. Event times step from ``start``. The same arguments give the same plan.

    Every step that moves stock carries its :class:`StockMove`: what the service's
    outbox message for it (the first of its decision: no event sink) must move."""
    if not skus:
        raise ValidationError("skus", skus, "expected at least one SKU")
    rng = random.Random(f"{seed}:{prefix}")
    steps: list[PlanStep] = []
    for number in range(orders):
        order_id = f"{prefix}-{number:04d}"
        steps += _order_story(rng, order_id, start + timedelta(minutes=number), skus, currency)
    return tuple(steps)


def _order_story(
    rng: random.Random, order_id: str, at: datetime, skus: Sequence[str], currency: str
) -> list[PlanStep]:
    """The steps of one order of :func:`shop_plan`."""
    line_skus = {str(n): rng.choice(list(skus)) for n in range(1, rng.randint(1, 3) + 1)}
    open_units = {line_id: rng.randint(1, 4) for line_id in line_skus}
    price = Money(Decimal(rng.randint(100, 9999)) / 100, currency)
    order = Order(
        order_id=order_id,
        channel="crash",
        channel_order_id=order_id,
        lines=[
            OrderLine(line_id, sku, open_units[line_id], price)
            for line_id, sku in line_skus.items()
        ],
        created_at=at,
    )
    steps = [PlanStep(order_id, order=order)]
    ticks = iter(range(1, 100))

    def add(
        name: str,
        data: Mapping[str, Any] | None = None,
        *,
        topic: str = "",
        lines: Mapping[str, int] | None = None,
    ) -> None:
        tick = next(ticks)
        event = Event(
            name, event_id=f"{order_id}/{tick}-{name}", at=at + timedelta(seconds=tick),
            data=data,
        )
        moves: tuple[StockMove, ...] = ()
        if lines:
            units: dict[str, int] = {}
            for line_id, qty in lines.items():
                units[line_skus[line_id]] = units.get(line_skus[line_id], 0) + qty
                open_units[line_id] -= qty
            moves = (StockMove(message_id(order_id, event.event_id, 0), topic, units),)
        steps.append(PlanStep(order_id, event=event, moves=moves))

    def still_open() -> list[str]:
        return sorted(line_id for line_id, units in open_units.items() if units)

    def cancel_some() -> None:
        line_id = rng.choice(still_open())
        wanted = {line_id: rng.randint(1, open_units[line_id])}
        add("cancel_lines", {"lines": wanted}, topic=STOCK_RELEASE, lines=wanted)

    def cancel_rest() -> None:
        add("cancel", topic=STOCK_RELEASE, lines={k: open_units[k] for k in still_open()})

    if rng.random() < 0.2:  # never paid: cancelled, or left waiting with its lock
        if rng.random() < 0.5:
            cancel_rest()
        return steps
    add("pay", {"amount": order.totals.payable})
    if rng.random() < 0.4:
        cancel_some()
        if not still_open():
            return steps  # the cut took every unit: the order is cancelled
    roll = rng.random()
    if roll < 0.3:
        cancel_rest()
    elif roll < 0.85:
        if rng.random() < 0.4:  # a partial shipment: one line, maybe not all of it
            line_id = rng.choice(still_open())
            shipped = {line_id: rng.randint(1, open_units[line_id])}
        else:
            shipped = {line_id: open_units[line_id] for line_id in still_open()}
        data = {"carrier": "SF", "waybill": f"SF-{order_id}", "lines": shipped}
        add("ship", data, topic=STOCK_COMMIT, lines=shipped)
        if still_open() and rng.random() < 0.5:
            cancel_some()  # the unshipped rest is cut, in part or whole
    # else: paid and left waiting for the warehouse, its units locked
    return steps


# --- process loops -------------------------------------------------------------------------


def relay_forever(relay: OutboxRelay, *, limit: int = 20, idle: float = 0.01) -> None:
    """Drain ``relay`` in batches of ``limit`` until the process is killed, pausing
    ``idle`` seconds whenever a run delivered nothing."""
    while True:
        if not relay.run_until_idle(limit).delivered:
            time.sleep(idle)


# --- the supervisor ------------------------------------------------------------------------


class CrashTestError(AssertionError):
    """A crash test could not finish: a process failed on its own (``.name``,
    ``.exitcode``), or the workers did not finish within the timeout. A test failure,
    like :func:`orderkit.testing.processes.race`'s, not an orderkit refusal."""

    def __init__(self, message: str, *, name: str | None = None, exitcode: int | None = None):
        super().__init__(message)
        self.name = name
        self.exitcode = exitcode


@attrs.frozen
class CrashReport:
    """What :func:`supervise` did: ``kills`` (``SIGKILL`` sent to a running process,
    per target name in ``by_target``), ``replays`` (workers restarted after finishing,
    to reach ``min_kills``), when each worker first finished its plan (``first_done``,
    seconds from the start) and the ``seconds`` it took in all."""

    kills: int
    by_target: Mapping[str, int]
    replays: int
    first_done: Mapping[str, float]
    seconds: float


def supervise(
    workers: Mapping[str, Callable[[], object]],
    *,
    daemons: Mapping[str, Callable[[], object]] | None = None,
    seed: int,
    concurrency: int | None = None,
    pause: tuple[float, float] = (0.1, 0.2),
    weights: Mapping[str, float] | None = None,
    min_kills: int = 0,
    timeout: float = 120.0,
    start_method: Literal["fork", "forkserver", "spawn"] = "fork",
) -> CrashReport:
    """Run the workers (at most ``concurrency`` at a time, in the order given; all at
    once by default) and every daemon, each in its own process, and after every pause of
    ``pause`` seconds (uniform between the bounds) kill one running process with
    ``SIGKILL``, restarting it at once. The victim is drawn with
    ``random.Random(seed)``, each running target with its weight in ``weights``
    (default 1).

    A worker that exits with code 0 has finished its plan and the next waiting worker
    starts. When every worker has finished but fewer than ``min_kills`` kills were sent,
    the workers run again, in the same way, until the kills reach ``min_kills`` (each
    replays its plan, which must change nothing; counted in
    :attr:`CrashReport.replays`). Returns once every worker has finished and the kills
    reached ``min_kills``; the daemons are then killed (not counted). A process that
    exits non-zero on its own, or workers still running after ``timeout`` seconds,
    raise :class:`CrashTestError`; every process is killed and reaped on the way out.
    """
    if not workers:
        raise ValidationError("workers", workers, "expected at least one worker")
    daemons = dict(daemons or {})
    targets: dict[str, Callable[[], object]] = {**daemons, **workers}
    if len(targets) != len(workers) + len(daemons):
        raise ValidationError("daemons", daemons, "a daemon has a worker's name")
    slots = len(workers) if concurrency is None else concurrency
    if slots < 1:
        raise ValidationError("concurrency", concurrency, "expected at least 1")
    weight = dict.fromkeys(targets, 1.0) | dict(weights or {})
    rng = random.Random(seed)
    # Typed loosely: typeshed gives the Process class to each concrete context only.
    context: Any = multiprocessing.get_context(start_method)
    running: dict[str, Any] = {}
    waiting = list(workers)
    kills: dict[str, int] = dict.fromkeys(targets, 0)
    replays = 0
    first_done: dict[str, float] = {}
    started = time.monotonic()

    def start(name: str) -> None:
        process = context.Process(target=targets[name], name=f"crash-{name}", daemon=True)
        process.start()
        running[name] = process

    def fill() -> int:
        """Start waiting workers into free slots; returns how many were replays."""
        again = 0
        while waiting and sum(name in workers for name in running) < slots:
            name = waiting.pop(0)
            again += name in first_done
            start(name)
        return again

    try:
        for name in daemons:
            start(name)
        fill()
        while True:
            time.sleep(rng.uniform(*pause))
            for name, process in list(running.items()):
                if process.is_alive():
                    continue
                process.join()
                if process.exitcode != 0 or name not in workers:
                    raise CrashTestError(
                        f"{name} exited with code {process.exitcode} on its own",
                        name=name, exitcode=process.exitcode,
                    )
                del running[name]
                first_done.setdefault(name, round(time.monotonic() - started, 3))
            if len(first_done) == len(workers) and sum(kills.values()) >= min_kills:
                waiting.clear()  # enough kills: the replays still running finish
            replays += fill()
            if not waiting and not any(name in workers for name in running):
                if sum(kills.values()) >= min_kills:
                    break
                waiting = list(workers)
                replays += fill()
            if time.monotonic() - started > timeout:
                left = sorted({*waiting, *(n for n in running if n in workers)})
                raise CrashTestError(
                    f"workers {left} not finished after {timeout} s"
                    f" ({sum(kills.values())} kills)"
                )
            names = sorted(running)
            victim = rng.choices(names, [weight[name] for name in names])[0]
            process = running[victim]
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGKILL)
            process.join(_JOIN_SECONDS)
            if process.exitcode == -signal.SIGKILL:
                kills[victim] += 1
                start(victim)
            # else it ended on its own just before the signal: the next round sees it
    finally:
        for process in running.values():
            if process.exitcode is None and process.pid is not None:
                os.kill(process.pid, signal.SIGKILL)
        for process in running.values():
            process.join(_JOIN_SECONDS)
    return CrashReport(
        sum(kills.values()), kills, replays, first_done, round(time.monotonic() - started, 3)
    )
