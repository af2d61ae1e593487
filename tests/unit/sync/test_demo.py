"""The demo's sync chapter: a mixed feed with a duplicate, a stale update and a
malformed payload, its report and the dead letter it keeps."""

from __future__ import annotations

import io
from pathlib import Path

from orderkit.demo import CHAPTERS, chapter_orders, chapter_sync, run_demo


def test_the_sync_chapter_follows_the_orders_chapter() -> None:
    assert CHAPTERS.index(chapter_sync) == CHAPTERS.index(chapter_orders) + 1


def test_the_sync_chapter_tells_new_duplicate_stale_and_malformed_apart(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    run_demo(out, tmp_path / "demo.db")
    text = out.getvalue()
    start = text.index("2. Sync: webhooks, polls and backfills converge on one stored order")
    chapter = text[start:text.index("\n3. ", start)]
    lines = [line.split("->")[-1].strip() for line in chapter.splitlines() if "->" in line]
    assert lines[:6] == ["new", "new", "unchanged", "updated", "stale", "dead_lettered"]
    assert "SyncReport: new 2, updated 1, unchanged 1, stale 1, dead letters 1" in chapter
    assert "stored tmall:3698512204871532841: PAID, waybill -" in chapter
    assert "stored jd:281736459102: SHIPPED, waybill JDVA21738465902" in chapter
    assert "dead letter tmall:" in chapter
    assert "add 'WAIT_PRE_AUTH_CONFIRM' to the tmall status table" in chapter
    # A Pinduoduo order the shelf cannot cover is stored waiting for stock, not a dead
    # letter, and reserved once the trays come in.
    assert lines[6] == "new 1, updated 0, unchanged 0, stale 0, dead letters 0, waiting for stock 1"
    assert ("PAID, lock none (waiting for stock: TRAY-MINI wanted 3, available 1)"
            in chapter)
    assert "event.StockShort" in chapter
    assert "reserve() -> locked: lock held, TRAY-MINI locked 3, available 4" in chapter
    # The chapter's orders live in a shop of their own beside the demo's database, named
    # on the first line, where the dead letter the chapter tells of can be found.
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == [
        "demo-sync.db", "demo-watch.db", "demo.db"]
    assert "demo-sync.db" in out.getvalue().splitlines()[0]
    from orderkit.adapters.sqlite import SQLiteSyncStore

    [letter] = SQLiteSyncStore(tmp_path / "demo-sync.db").dead_letters()
    assert "WAIT_PRE_AUTH_CONFIRM" in letter.error
