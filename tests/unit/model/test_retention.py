"""The purge loop the outbox's and the watch history's retention share: the cut-off is
read once, a batch at a time is deleted until a batch finds fewer, and a bad argument
is refused before anything is deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderkit.model.errors import ValidationError
from orderkit.model.retention import checked_purge, purge_in_batches
from orderkit.testing import ManualClock

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Rows:
    """``count`` rows, all older than any cut-off; records each call."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.calls: list[tuple[datetime, int]] = []

    def delete(self, before: datetime, limit: int) -> int:
        self.calls.append((before, limit))
        deleted = min(limit, self.count)
        self.count -= deleted
        return deleted


@pytest.mark.parametrize(("count", "calls"), [(0, 1), (2, 1), (3, 2), (7, 3)])
def test_batches_run_until_one_finds_fewer(count: int, calls: int) -> None:
    rows = Rows(count)
    purged = purge_in_batches(rows.delete, timedelta(days=30), 3, ManualClock(NOW),
                              example="timedelta(days=30)")
    assert purged == count
    assert rows.calls == [(NOW - timedelta(days=30), 3)] * calls


@pytest.mark.parametrize(("older_than", "batch", "path"), [
    (timedelta(0), 3, "older_than"),
    (30, 3, "older_than"),
    (NOW - datetime(1900, 1, 1, tzinfo=UTC) + timedelta(seconds=1), 3, "older_than"),
    (timedelta(days=30), 0, "batch"),
    (timedelta(days=30), True, "batch"),
])
def test_a_bad_argument_is_refused_before_anything_is_deleted(
    older_than: object, batch: object, path: str
) -> None:
    rows = Rows(5)
    with pytest.raises(ValidationError) as caught:
        purge_in_batches(rows.delete, older_than, batch, ManualClock(NOW),
                         example="timedelta(days=30)")
    assert caught.value.path == path
    assert rows.calls == []


def test_a_store_checks_before_and_limit() -> None:
    assert checked_purge(NOW, None) == (NOW, None)
    assert checked_purge(NOW, 5) == (NOW, 5)
    with pytest.raises(ValidationError, match="before"):
        checked_purge(datetime(2026, 3, 2), 5)  # naive on purpose
    with pytest.raises(ValidationError, match="limit"):
        checked_purge(NOW, 0)
