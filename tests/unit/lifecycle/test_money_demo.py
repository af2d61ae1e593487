"""The demo's money chapter tells the partial cancel, the return and the exchange with
their numbers."""

from __future__ import annotations

import io
from pathlib import Path

from orderkit.demo import run_demo


def test_the_money_chapter_owes_exactly_the_share_and_restocks_one_tin(tmp_path: Path) -> None:
    out = io.StringIO()
    run_demo(out, tmp_path / "demo.db")
    text = out.getvalue()
    chapter = text[text.index("Money: a partial cancel"):]
    assert "45.50 of goods less 4.07 of coupon share = 41.43 owed back" in chapter
    assert "Owed back 162.07" in chapter
    assert "tea on hand 5 (only the sellable tin restocked)" in chapter
    assert "Paid 211.50 - refunded 203.50 - still owed 0.00 = 8.00 kept" in chapter
    assert "after-sale: returned; ledger clean: True." in chapter
    assert ("a pay of 0.00 makes it PAID (payable 0.00), its lock holding the cup (locked 1)"
            in chapter)
    assert ("the buyer asks to return it, then withdraws: after-sale none, refund due 0.00;"
            " ledger clean: True." in chapter)
    assert ("The cup comes back sellable (celadon on hand 1); the 45.50 it is owed is paid"
            " over to the replacement ORD-4003-X by exchange (EX-ORD-4003-1), which ships the"
            " blue cup (blue on hand 2)." in chapter)
    assert ("Across the two orders 45.50 stays sold and no money moved: the two exchange legs"
            " pair with each other (matched by exchange), never looked for in a bill; due 0.00"
            " and 0.00; ledger clean: True." in chapter)
