"""The SQLite default is safe for several processes sharing one file."""

from __future__ import annotations

import time
from datetime import date
from functools import partial
from pathlib import Path

import attrs

from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteReconIdSequence
from orderkit.model.orders import OrderStatus
from orderkit.testing.processes import Failure, draw_numbers, race, save_order
from orderkit.testing.samples import sample_order


def test_two_processes_saving_the_same_version_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    repository = SQLiteOrderRepository(path)
    repository.save(sample_order(), expected_version=None)
    for round_ in range(3):
        current = repository.get("ORD-1")
        proposals = {
            status: attrs.evolve(current, status=status, version=current.version + 1)
            for status in (OrderStatus.DELIVERED, OrderStatus.CLOSED)
        }
        outcomes = race(
            partial(SQLiteOrderRepository, path),
            [partial(save_order, p, current.version) for p in proposals.values()],
        )
        assert sorted(map(str, outcomes)).count("saved") == 1, (round_, outcomes)
        [refused] = [o for o in outcomes if isinstance(o, Failure)]
        assert refused.error == "ConcurrencyError"
        stored = repository.get("ORD-1")
        assert stored.version == current.version + 1
        winner = list(proposals)[outcomes.index("saved")]
        assert stored.status is winner


def test_two_processes_drawing_recon_ids_get_distinct_gap_free_numbers(tmp_path: Path) -> None:
    path = tmp_path / "sequences.db"
    day = date(2026, 2, 16)
    draw_1000 = partial(draw_numbers, "SO", day, 1000)
    results = race(partial(SQLiteReconIdSequence, path), [draw_1000, draw_1000])
    drawn = [n for numbers in results for n in numbers]
    assert len(drawn) == 2000
    assert sorted(drawn) == list(range(1, 2001))
    for numbers in results:
        assert numbers == sorted(numbers)
    assert SQLiteReconIdSequence(path).next_value("SO", day) == 2001


def test_a_store_that_cannot_open_is_reported_not_waited_for() -> None:
    started = time.monotonic()
    save = partial(save_order, sample_order(), None)
    [outcome] = race(partial(SQLiteOrderRepository, ""), [save])
    assert isinstance(outcome, Failure)
    assert outcome.error == "ValidationError"
    assert time.monotonic() - started < 60  # the race's own timeout is 120 s


def test_a_process_that_dies_before_reporting_fails_the_race_at_once() -> None:
    import os

    started = time.monotonic()
    try:
        race(partial(int, "3"), [os._exit, partial(draw_numbers, "SO", date(2026, 2, 16), 1)])
    except AssertionError as error:
        assert "process 0 died (exit code 3)" in str(error)
        assert "__main__" in str(error)
    else:
        raise AssertionError("a dead process went unnoticed")
    assert time.monotonic() - started < 30  # not the 120 s timeout, nor the barrier's 60
