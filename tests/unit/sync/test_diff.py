"""``next_event`` and ``Wanted``: the events that bring a stored order to a mapped one,
with the mapped order's facts read once per payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.lifecycle import OrderService
from orderkit.mapping import normalize
from orderkit.model.errors import MappingError
from orderkit.model.orders import LineStatus, Order
from orderkit.sync import Wanted, initial, next_event
from orderkit.testing import ManualClock

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"
AT = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)


def _maps(path: Path) -> bool:
    try:
        _target(path)
    except MappingError:
        return False  # a sample that waits as a dead letter
    return True


def _target(path: Path) -> Order:
    return normalize(path.parent.name, json.loads(path.read_text("utf-8")))


SAMPLES = [path for path in sorted(FIXTURES.glob("*/*.json")) if _maps(path)]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_wanted_read_once_picks_every_event_next_event_picks(path: Path) -> None:
    target = _target(path)
    service = OrderService(MemoryOrderRepository(), clock=ManualClock(AT))
    want = Wanted(target, AT)
    assert len(SAMPLES) > 40
    moved = service.decide(initial(target), want.next_event)
    each = service.decide(initial(target), lambda stored: next_event(stored, target, at=AT))
    assert [e.event_id for t in moved for e in t.events] == [
        e.event_id for t in each for e in t.events]
    final = moved[-1].order if moved else initial(target)
    assert want.next_event(final) is None
    assert next_event(final, target, at=AT) is None


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_initial_form_has_every_unit_open_and_keeps_lines_that_are(path: Path) -> None:
    target = _target(path)
    placed = initial(target)
    for before, line in zip(target.lines, placed.lines, strict=True):
        assert line.quantities[LineStatus.OPEN] == line.quantity == before.quantity
        assert (line.line_id, line.sku, line.unit_price, line.title, line.channel_line_id) == (
            before.line_id, before.sku, before.unit_price, before.title,
            before.channel_line_id)
        assert line.refund_id == ""  # nothing refunded yet
        assert (line is before) == (before.quantities[LineStatus.OPEN] == before.quantity
                                    and not before.refund_id)
    assert (placed.payments, placed.shipments, placed.holds) == ((), (), ())
