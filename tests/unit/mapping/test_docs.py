"""The status tables in the docs are the maps themselves, rendered."""

from __future__ import annotations

from pathlib import Path

from orderkit.mapping import render_status_tables
from orderkit.mapping.doc import BEGIN_MARKER, END_MARKER

DOC = Path(__file__).parents[3] / "docs" / "mapping.md"


def test_docs_status_tables_are_exactly_what_the_maps_render() -> None:
    text = DOC.read_text("utf-8")
    start = text.index(BEGIN_MARKER)
    end = text.index(END_MARKER) + len(END_MARKER) + 1
    assert text[start:end] == render_status_tables(), (
        "docs/mapping.md is out of date: regenerate its tables with render_status_tables()"
    )
    assert text.count(BEGIN_MARKER) == 1


def test_rendered_tables_cover_every_platform_and_its_rules() -> None:
    rendered = render_status_tables()
    for title in ("### tmall (also `taobao`)", "### jd", "### pdd", "### douyin", "### shopify",
                  "### woocommerce"):
        assert title in rendered
    assert "| trade in `TRADE_CLOSED`; paid in `set` | CLOSED |" in rendered
    assert "| refund in `4` | CLOSED | refunded in full |" in rendered
