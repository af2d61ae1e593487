"""The engine's fast paths give the same answers as the plain algorithms they replace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.model.money import Money
from orderkit.reconcile import Record, reconcile
from orderkit.reconcile.engine import _in_time_order, _Lane

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)

entries = st.lists(
    st.tuples(
        st.integers(0, 40),  # time, coarse so that ties happen
        st.sampled_from([None, "A", "B"]),  # ref
        st.booleans(),  # open
    ),
    max_size=30,
)


def brute_nearest(
    rows: list[tuple[int, str | None, bool]], ts: float, window: float, limit: int, ref: str | None
) -> list[int]:
    """The plain rule: every open, ref-compatible entry in the window, sorted, first ``limit``."""
    found = []
    for q, (when, other_ref, is_open) in enumerate(rows):
        if not is_open or abs(when - ts) > window:
            continue
        if ref and other_ref and ref != other_ref:
            continue
        found.append((abs(when - ts), float(when), f"R{q:03d}", q))
    found.sort()
    return [q for *_rest, q in found[:limit]]


@settings(max_examples=300, deadline=None)
@given(
    rows=entries,
    ts=st.integers(0, 40),
    window=st.integers(0, 15),
    limit=st.integers(2, 6),
    ref=st.sampled_from([None, "A", "B"]),
)
def test_lane_walk_picks_the_same_nearest_records_as_a_full_sort(
    rows: list[tuple[int, str | None, bool]],
    ts: int,
    window: int,
    limit: int,
    ref: str | None,
) -> None:
    lane = _Lane()
    for q, (when, other_ref, _open) in enumerate(rows):
        lane.add((float(when), f"R{q:03d}", q), other_ref)
    lane.sort()
    flags = bytearray(is_open for _when, _ref, is_open in rows)
    expected = brute_nearest(rows, ts, window, limit, ref)
    assert lane.nearest(float(ts), float(window), limit, flags, ref) == expected


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from(["B", "A", "C", "A2"])),  # minute, id
        max_size=25,
    ),
    data=st.data(),
)
def test_time_order_sorts_ties_by_record_id_then_position_as_a_tuple_sort_does(
    rows: list[tuple[int, str]], data: st.DataObject
) -> None:
    records = [sale("bank", record_id, "R", "1.00", minute) for minute, record_id in rows]
    positions = data.draw(st.permutations(range(len(records))))
    expected = sorted(positions, key=lambda p: (records[p].at, records[p].record_id))
    assert _in_time_order(records, list(positions)) == expected


def sale(source: str, record_id: str, ref: str, amount: str, minutes: int = 0) -> Record:
    return Record(source, record_id, ref, Money(amount, "CNY"), T0 + timedelta(minutes=minutes))


def test_order_entered_twice_in_erp_is_a_duplicate_not_a_second_match() -> None:
    # The exact pass pairs in one visit per record and takes back a pair whose key
    # repeats on the left.
    erp = [
        sale("erp", "E1", "SO20260216000001", "10.00"),
        sale("erp", "E2", "SO20260216000002", "20.00"),
        sale("erp", "E3", "SO20260216000001", "10.00", minutes=5),
    ]
    bank = [
        sale("bank", "B2", "SO20260216000002", "20.00", minutes=60),
        sale("bank", "B1", "SO20260216000001", "10.00", minutes=60),
    ]
    result = reconcile(erp, bank)
    got = sorted(
        (o.status, o.kind, [r.record_id for r in o.left], [r.record_id for r in o.right])
        for o in result.outcomes
    )
    assert got == [
        ("difference", "duplicate", ["E3"], []),
        ("matched", None, ["E1"], ["B1"]),
        ("matched", None, ["E2"], ["B2"]),
    ]
    assert result.summary()["records_accounted"] == 5
    assert result.conservation()["balanced"] is True
