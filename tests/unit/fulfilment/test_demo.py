"""The demo's profit chapter holds the flash sale with its numbers and explains its wave."""

from __future__ import annotations

import io
from pathlib import Path

from orderkit.demo import run_demo


def test_the_profit_chapter_holds_the_loss_and_names_every_order_left_out(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    run_demo(out, tmp_path / "demo.db")
    text = out.getvalue()
    chapter = text[text.index("Profit and waves"):]
    assert "ORD-502 pdd at 79.00: margin -11.37%: revenue 54.00, profit -6.14" in chapter
    assert "-> held loss_making" in chapter
    assert "Today's in-stock wave takes ORD-500; left out:" in chapter
    assert "ORD-501: other_stream: presale: planned in the presale wave" in chapter
    assert "ORD-502: on_hold: on hold: loss_making (predicted margin -11.37%" in chapter
