"""``orderkit health``: a self-contained page with the KPIs, stuck orders, first-scan
delays and alert history as inline SVG, built from escaped fragments only, checked as a
browser sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from orderkit import OrderStatus, Shipment
from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteWatchState
from orderkit.cli import EXIT_FILE, EXIT_OK, EXIT_REFUSED, main
from orderkit.testing import ManualClock
from orderkit.testing.browser import PageParts, browser_dom
from orderkit.testing.samples import sample_order
from orderkit.watch import Watcher

NOW = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, the day after
HOSTILE = "<script>alert(1)</script>"

PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "div",
             "table", "tr", "th", "td", "svg", "g", "rect", "line", "text"}


def _shop(path: Path) -> None:
    """A day of orders: shipped parcels (one carrier named with a script), one paid
    order never shipped, one pending, one cancelled; and a watcher's open alerts."""
    repo = SQLiteOrderRepository(path)
    placed = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    for index in range(12):
        carrier = HOSTILE if index < 3 else ("SF" if index % 2 else "YTO")
        scan = None if index < 3 else placed + timedelta(hours=2 + index * 3)
        parcel = Shipment("S1", carrier, f"W{index}", {"1": 1}, shipped_at=placed,
                          first_scan_at=scan)
        order = attrs.evolve(sample_order(f"S-{index:02}", channel_order_id=f"S-{index:02}"),
                             status=OrderStatus.SHIPPED, shipments=(parcel,),
                             created_at=placed, paid_at=placed, status_since=placed,
                             tags=frozenset({f"outlet:{HOSTILE}" if index < 3 else "outlet:A"}))
        repo.save(order, None)
    for order_id, status in (("P-1", OrderStatus.PAID), ("Q-1", OrderStatus.PENDING_PAYMENT),
                             ("C-1", OrderStatus.CANCELLED)):
        order = attrs.evolve(sample_order(order_id, channel_order_id=order_id), status=status,
                             shipments=(), created_at=placed, status_since=placed,
                             paid_at=placed if status == OrderStatus.PAID else None)
        repo.save(order, None)

    class Quiet:
        def notify(self, _alert: object) -> None:
            return None

    Watcher(repo, Quiet(), clock=ManualClock(NOW), state=SQLiteWatchState(path)).run_once()


def test_the_health_page_shows_kpis_stuck_orders_delays_and_alerts_as_svg(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], chromium: str
) -> None:
    db = tmp_path / "shop.db"
    _shop(db)
    out = tmp_path / "health.html"
    code = main(["health", "--db", str(db), "--out", str(out), "--period", "2026-03-02",
                 "--now", NOW.isoformat()])
    assert code == EXIT_OK
    said = capsys.readouterr().out
    assert said.startswith("health 2026-03-02: index ")
    html = out.read_text(encoding="utf-8")

    # Self-contained and inert: no script, no link out, input only as escaped text.
    assert "<script" not in html and "src=" not in html and "href=" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    parsed = PageParts(html)
    assert set(parsed.tags) <= PAGE_TAGS, set(parsed.tags) - PAGE_TAGS
    assert parsed.tags.count("svg") == 4
    for words in ("orderkit health: 2026-03-02", "unshipped 24 h after payment",
                  "cancellation rate", "Orders stuck by state", "PENDING_PAYMENT",
                  "First-scan delay by carrier", "Alert history", "no_first_scan:",
                  f"outlet {HOSTILE}"[7:], "pending_payment_stale:Q-1"):
        assert words in parsed.text, words

    dom = browser_dom(chromium, out, tmp_path / "profile")
    shown = PageParts(dom)
    assert "script" not in shown.tags
    assert shown.tags.count("svg") == 4 and shown.tags.count("rect") >= 10
    assert HOSTILE in shown.text  # the carrier's name, shown as text
    assert "health index" in shown.text


def test_health_refuses_a_missing_file_and_a_bad_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "health.html"
    assert main(["health", "--db", str(tmp_path / "none.db"), "--out", str(out)]) == EXIT_FILE
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db)
    assert main(["health", "--db", str(db), "--out", str(out), "--period", "March"]) == (
        EXIT_REFUSED)
    err = capsys.readouterr().err
    assert "--period" in err and "March" in err
    assert not out.exists()


def test_a_day_with_nothing_measured_says_so_instead_of_a_perfect_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], chromium: str
) -> None:
    db = tmp_path / "quiet.db"
    SQLiteOrderRepository(db)  # no order, no sync, no reconciliation, no retries
    out = tmp_path / "health.html"
    assert main(["health", "--db", str(db), "--out", str(out), "--period", "2026-03-02",
                 "--now", NOW.isoformat()]) == EXIT_OK
    assert capsys.readouterr().out.startswith("health 2026-03-02: index not measured, 0 KPI")
    shown = PageParts(browser_dom(chromium, out, tmp_path / "profile"))
    assert "health index not measured" in shown.text
    assert "health index 100" not in shown.text


def test_the_health_page_shows_its_times_in_the_accounting_zone_of_its_day(
    tmp_path: Path, chromium: str
) -> None:
    # The page's day is the accounting zone's day (Asia/Shanghai); so are its times: as
    # of, the alerts' since and the alert chart's axis, with the zone named once.
    db = tmp_path / "shop.db"
    _shop(db)
    out = tmp_path / "health.html"
    assert main(["health", "--db", str(db), "--out", str(out), "--period", "2026-03-03",
                 "--now", "2026-03-03T12:00:00+08:00"]) == EXIT_OK
    dom = browser_dom(chromium, out, tmp_path / "profile")
    shown = PageParts(dom).text
    assert "orderkit health: 2026-03-03" in shown
    assert "as of 2026-03-03T12:00:00+08:00 (Asia/Shanghai)" in shown
    # the watcher first saw the alerts at NOW, 12:00 in Shanghai
    assert "2026-03-03T12:00:00+08:00" in shown.split("Alert history", 1)[1]
    assert "2026-03-03T12:00+08:00" in shown  # the chart's axis
    assert "+00:00" not in shown
