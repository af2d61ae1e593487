"""Lifecycle throughput next to pytransitions and python-statemachine, in one run.

Each library takes N orders through pay -> pack -> ship -> deliver -> complete (five
transitions per order) with one guard (``ship`` requires no holds) and an audit record
per transition:

* orderkit: ``Lifecycle.apply`` on immutable orders; every transition returns a new
  order (version bumped, event id remembered), domain events and an audit entry. The
  events are built before the clock starts (a host receives them from its channels);
  a second figure includes building them.
* pytransitions: one shared ``Machine`` with the orders added as models, a
  ``conditions`` guard on ``ship`` and an ``after_state_change`` callback appending an
  audit tuple.
* python-statemachine: one ``StateMachine`` per order (its model), a ``cond`` guard on
  ``ship`` and an ``after_transition`` callback appending an audit tuple.

Each round of each library runs in a fresh process (``--same-process`` runs them all in
this one). python-statemachine leaves about 150 objects per machine tracked by the cycle
collector after its round, even after ``gc.collect()``; in one process every later round
of every library then pays for collecting a heap grown by hundreds of thousands of
objects it never made. The rounds stay interleaved, so a busy moment on the machine
falls on every library alike.

``--collector-off`` pauses Python's cycle collector during every timed round, for every
library alike. It is a diagnostic, not the headline: the loop keeps every audit record
alive, as a host writing them out in batches would, and orderkit's audit entries are
objects the collector must walk while the peers' tuples of strings are untracked by
CPython. The difference between the two runs is what that walk costs.

Run: ``python bench/bench_lifecycle.py [--orders 100000] [--collector-off]``. Install the
peers with ``pip install orderkit[bench]``.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

from orderkit.lifecycle import Event, Lifecycle
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine
from orderkit.testing import ManualClock

PATH = ("pay", "pack", "ship", "deliver", "complete")
T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


class Meter:
    """Accumulates one library's rounds: total transitions and time, and the best round."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.transitions = 0
        self.seconds = 0.0
        self.best = 0.0

    def add(self, transitions: int, elapsed: float) -> None:
        self.transitions += transitions
        self.seconds += elapsed
        self.best = max(self.best, transitions / elapsed)

    @property
    def rate(self) -> float:
        return self.transitions / self.seconds

    def report(self) -> None:
        print(
            f"{self.label:<46} {self.transitions:>9,} transitions in {self.seconds:6.2f} s"
            f" = {self.rate:>9,.0f}/s (best round {self.best:>9,.0f}/s)"
        )


# --- orderkit ------------------------------------------------------------------------------


def orderkit_orders(n: int) -> list[Order]:
    line = OrderLine("L1", "TEA", 1, Money("10.00", "CNY"))
    first = Order(order_id="O0", channel="pos", channel_order_id="P0", lines=[line], created_at=T0)
    return [first] + [
        Order(
            order_id=f"O{i}", channel="pos", channel_order_id=f"P{i}", lines=[line], created_at=T0
        )
        for i in range(1, n)
    ]


def orderkit_events(n: int) -> list[tuple[Event, ...]]:
    amount = Money("10.00", "CNY")
    data: dict[str, dict[str, Any]] = {
        "pay": {"amount": amount},
        "ship": {"carrier": "SF", "waybill": "SF1"},
    }
    return [
        tuple(Event(name, event_id=f"{i}-{name}", at=T0, data=data.get(name)) for name in PATH)
        for i in range(n)
    ]


def run_orderkit(state: tuple[Lifecycle, list[Order], list[tuple[Event, ...]]]) -> int:
    lifecycle, orders, events = state
    apply = lifecycle.apply
    audit: list[Any] = []
    count = 0
    for order, steps in zip(orders, events, strict=True):
        for event in steps:
            transition = apply(order, event)
            order = transition.order
            audit.extend(transition.audit)
            count += 1
    assert order.status == 50 and len(audit) == count
    return count


def run_orderkit_with_events(state: tuple[Lifecycle, list[Order]]) -> int:
    lifecycle, orders = state
    apply = lifecycle.apply
    data: dict[str, dict[str, Any]] = {
        "pay": {"amount": Money("10.00", "CNY")},
        "ship": {"carrier": "SF", "waybill": "SF1"},
    }
    audit: list[Any] = []
    count = 0
    for i, order in enumerate(orders):
        for name in PATH:
            transition = apply(
                order, Event(name, event_id=f"{i}-{name}", at=T0, data=data.get(name))
            )
            order = transition.order
            audit.extend(transition.audit)
            count += 1
    assert order.status == 50 and len(audit) == count
    return count


# --- pytransitions -------------------------------------------------------------------------


def transitions_setup(n: int) -> tuple[Any, list[Any], list[Any]]:
    from transitions import Machine

    audit: list[Any] = []

    class Model:
        def __init__(self, order_id: str) -> None:
            self.order_id = order_id
            self.holds: tuple[str, ...] = ()

        def no_holds(self, _event: Any) -> bool:
            return not self.holds

        def record(self, event: Any) -> None:
            audit.append(
                (self.order_id, event.event.name, event.transition.source, event.transition.dest)
            )

    machine = Machine(
        model=None,
        states=["pending", "paid", "packed", "shipped", "delivered", "completed"],
        transitions=[
            {"trigger": "pay", "source": "pending", "dest": "paid"},
            {"trigger": "pack", "source": "paid", "dest": "packed"},
            {"trigger": "ship", "source": "packed", "dest": "shipped", "conditions": "no_holds"},
            {"trigger": "deliver", "source": "shipped", "dest": "delivered"},
            {"trigger": "complete", "source": "delivered", "dest": "completed"},
        ],
        initial="pending",
        after_state_change="record",
        send_event=True,
        auto_transitions=False,
    )
    models = [Model(f"O{i}") for i in range(n)]
    for model in models:
        machine.add_model(model)
    return machine, models, audit


def run_transitions(state: tuple[Any, list[Any], list[Any]]) -> int:
    _machine, models, audit = state
    for model in models:
        model.pay()
        model.pack()
        model.ship()
        model.deliver()
        model.complete()
    assert models[-1].state == "completed" and len(audit) == 5 * len(models)
    return len(audit)


# --- python-statemachine -------------------------------------------------------------------


def statemachine_setup(n: int) -> tuple[list[Any], list[Any]]:
    from statemachine import State, StateMachine

    audit: list[Any] = []

    class OrderMachine(StateMachine):
        pending = State(initial=True)
        paid = State()
        packed = State()
        shipped = State()
        delivered = State()
        completed = State(final=True)

        pay = pending.to(paid)
        pack = paid.to(packed)
        ship = packed.to(shipped, cond="no_holds")
        deliver = shipped.to(delivered)
        complete = delivered.to(completed)

        def __init__(self, order_id: str) -> None:
            self.order_id = order_id
            self.holds: tuple[str, ...] = ()
            super().__init__()

        def no_holds(self) -> bool:
            return not self.holds

        def after_transition(self, event: str, source: Any, target: Any) -> None:
            audit.append((self.order_id, event, source.id, target.id))

    return [OrderMachine(f"O{i}") for i in range(n)], audit


def run_statemachine(state: tuple[list[Any], list[Any]]) -> int:
    machines, audit = state
    for machine in machines:
        machine.pay()
        machine.pack()
        machine.ship()
        machine.deliver()
        machine.complete()
    assert len(audit) == 5 * len(machines)
    return len(audit)


SETUPS: dict[str, tuple[Callable[[int], Any], Callable[[Any], int]]] = {
    "orderkit": (
        lambda n: (Lifecycle(clock=ManualClock(T0)), orderkit_orders(n), orderkit_events(n)),
        run_orderkit,
    ),
    "orderkit+events": (
        lambda n: (Lifecycle(clock=ManualClock(T0)), orderkit_orders(n)),
        run_orderkit_with_events,
    ),
    "pytransitions": (transitions_setup, run_transitions),
    "statemachine": (statemachine_setup, run_statemachine),
}


def measure(library: str, n: int, collector: bool = True) -> tuple[int, float]:
    """One round of ``library`` over ``n`` orders: (transitions, seconds); setup untimed.

    ``collector=False`` pauses the cycle collector for the timed part only.
    """
    setup, run = SETUPS[library]
    state = setup(n)
    gc.collect()
    if not collector:
        gc.disable()
    try:
        start = time.perf_counter()
        transitions = run(state)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return transitions, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="split the orders into rounds, libraries interleaved per round",
    )
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="run every round in this process instead of a fresh one each",
    )
    parser.add_argument(
        "--collector-off",
        action="store_true",
        help="pause the cycle collector during every timed round (a diagnostic)",
    )
    args = parser.parse_args()
    n, rounds = args.orders, args.rounds
    collector = not args.collector_off
    per_round = max(1, n // rounds)
    print(
        f"{per_round * rounds:,} orders per library x pay -> pack -> ship -> deliver ->"
        f" complete, guard + audit on; {rounds} interleaved rounds,"
        f" {'all in this process' if args.same_process else 'each in a fresh process'}"
        f"{'' if collector else '; cycle collector paused while timing'}"
    )
    meters = {
        "orderkit": Meter("orderkit Lifecycle.apply"),
        "orderkit+events": Meter("orderkit Lifecycle.apply (+ building Events)"),
        "pytransitions": Meter("pytransitions (shared Machine, models added)"),
        "statemachine": Meter("python-statemachine"),
    }
    ours, ours_built = meters["orderkit"], meters["orderkit+events"]
    peer_t, peer_s = meters["pytransitions"], meters["statemachine"]
    for _ in range(rounds):
        for library, meter in meters.items():
            if args.same_process:
                meter.add(*measure(library, per_round, collector))
                continue
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
                meter.add(*fresh.submit(measure, library, per_round, collector).result())
    for meter in meters.values():
        meter.report()
    print()
    for peer, target in ((peer_t, 3), (peer_s, 30)):
        print(
            f"orderkit / {peer.label.split(' ')[0]:<20} {ours.rate / peer.rate:6.2f}x"
            f" (best rounds {ours.best / peer.best:5.2f}x; including Event construction"
            f" {ours_built.rate / peer.rate:5.2f}x); target >= {target}x"
        )


if __name__ == "__main__":
    main()
