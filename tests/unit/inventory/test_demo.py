"""The demo's inventory chapter tells the oversell story the same way every time."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from orderkit.demo import CHAPTERS, Story, chapter_inventory
from orderkit.testing import ManualClock


def _run(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    story = Story(out=out, db_path=directory / "demo.db",
                  clock=ManualClock(datetime(2026, 2, 16, 2, 0, tzinfo=UTC)))
    chapter_inventory(story)
    return out.getvalue()


def test_inventory_chapter_replays_the_oversell_incident(tmp_path: Path) -> None:
    text = _run(tmp_path)
    assert chapter_inventory in CHAPTERS
    assert "exactly 3 return -> on hand 10, locked 7, available 3" in text
    assert "locks 3 and succeeds -> on hand 10, locked 10, available 0" in text
    assert "B asks for 1 more: refused (wanted 1, available 0)" in text
    assert "forged lock id: refused" in text
    assert "20 released, the 21st parked for review (1 pending)" in text
    assert "ledger verified clean: True" in text


def test_inventory_chapter_is_deterministic(tmp_path: Path) -> None:
    assert _run(tmp_path / "a") == _run(tmp_path / "b")


def test_inventory_chapter_goes_live_with_orders_in_flight(tmp_path: Path) -> None:
    text = _run(tmp_path)
    assert "JAR-PUER counted at 12" in text
    assert "-> on hand 12, locked 0, available 12; ledger agrees with the orders: True" in text
