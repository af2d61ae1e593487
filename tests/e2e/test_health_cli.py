"""``orderkit health`` reads what the database records: the sync lag from the sync
tables (written by sync as it applies each version), the retry rate from the outbox's
delivery attempts (or ``--retries``), and the reconciliation difference from a JSON
report of ``orderkit reconcile`` (or ``--reconciliation-difference``). Bad values are
refused naming the option, before anything is written."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteSyncStore
from orderkit.cli import EXIT_FILE, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from orderkit.lifecycle import OrderService
from orderkit.mapping import modified_at
from orderkit.outbox.messages import OutboxMessage, message_id
from orderkit.sync import Sync
from orderkit.testing.samples import sample_order
from orderkit.watch.carriers import percentile

ROOT = Path(__file__).parents[2]
JD = ROOT / "tests" / "fixtures" / "mapping" / "jd"
RECONCILE = ROOT / "tests" / "fixtures" / "reconcile"
DAY = "2026-02-16"
RECEIVED = datetime(2026, 2, 16, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
NOW = datetime(2026, 2, 16, 12, 0, tzinfo=UTC)


def health(db: Path, out: Path, *extra: str) -> int:
    return main(["health", "--db", str(db), "--out", str(out), "--period", DAY,
                 "--now", NOW.isoformat(), *extra])


def summary_line(capsys: pytest.CaptureFixture[str]) -> str:
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2, out
    return out[1]


def test_the_sync_lag_comes_from_the_sync_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(db)
    sync = Sync(repository, OrderService(repository), store=SQLiteSyncStore(db))
    payloads = [json.loads(p.read_text("utf-8")) for p in sorted(JD.glob("*.json"))]
    # One version per order (the cash-on-delivery fixtures are versions of one order).
    newest: dict[str, dict[str, object]] = {}
    for payload in payloads:
        at = modified_at("jd", payload)
        held = newest.get(str(payload["orderId"]))
        if at is not None and (held is None or at > (modified_at("jd", held) or at)):
            newest[str(payload["orderId"])] = payload
    payloads = list(newest.values())
    report = sync.receive_many("jd", payloads, received_at=RECEIVED)
    assert report.new == len(payloads) >= 5
    # What sync stored: each order's lag, received minus the platform's modified time.
    lags = sorted(RECEIVED - modified_at("jd", p) for p in payloads)  # type: ignore[operator]
    expected = {f"p{p}": percentile(lags, p) for p in (50, 90, 99)}

    out = tmp_path / "health.html"
    assert health(db, out) == EXIT_OK
    line = summary_line(capsys)
    assert line.startswith("sync lag: " + ", ".join(f"{k} {v}" for k, v in expected.items()))
    page = out.read_text("utf-8")
    assert f"sync lag: p50 {expected['p50']}" in page
    in_time = sum(1 for lag in lags if lag <= timedelta(minutes=5))
    assert in_time < len(lags)  # most fixtures were received days after they changed
    assert f"{in_time} of {len(lags)} within 0:05:00" in page

    # Received after --now: not yet part of the day's lags.
    later = attrs.evolve(SQLiteSyncStore(db).seen("jd", "281736112233"),  # type: ignore[arg-type]
                         modified_at=NOW, received_at=NOW + timedelta(seconds=1), digest="x")
    SQLiteSyncStore(db).mark_seen(later)
    assert health(db, out) == EXIT_OK
    moved = RECEIVED - modified_at("jd", newest["281736112233"])  # type: ignore[operator]
    still_in_time = in_time - (moved <= timedelta(minutes=5))
    assert f"{still_in_time} of {len(lags) - 1} within" in out.read_text("utf-8")
    capsys.readouterr()


def test_a_file_without_sync_tables_says_not_measured_and_gets_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db)
    assert health(db, tmp_path / "health.html") == EXIT_OK
    assert summary_line(capsys).startswith("sync lag: not measured; retry rate: no calls")
    with sqlite3.connect(db) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "sync_seen" not in tables


def _message(order_id: str, at: datetime) -> OutboxMessage:
    return OutboxMessage(message_id=message_id(order_id, "E1", 0), order_id=order_id,
                         topic="event.PaymentReceived", payload={}, created_at=at)


def test_retries_are_counted_from_the_outbox_or_taken_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(db)
    in_day, day_before = RECEIVED, RECEIVED - timedelta(days=1)
    failures = {"A": (in_day, 0, True), "B": (in_day, 2, True), "C": (in_day, 1, False),
                "D": (day_before, 5, False)}
    for order_id, (at, failed, delivered) in failures.items():
        order = attrs.evolve(sample_order(order_id, channel_order_id=order_id), created_at=at)
        repository.save(order, None, outbox=(_message(order_id, at),))
        for _ in range(failed):
            repository.mark_failed(message_id(order_id, "E1", 0), "timeout", dead=False)
        if delivered:
            repository.mark_delivered([message_id(order_id, "E1", 0)], at)
    # A: 1 call; B: 2 failed, then delivered (3 calls, 2 retries); C: 1 failed call;
    # D: created the day before, not counted.
    assert repository.delivery_counts(*_bounds()) == (2, 5)
    out = tmp_path / "health.html"
    assert health(db, out) == EXIT_OK
    assert "retry rate: 2 of 5 calls retried" in summary_line(capsys)
    assert health(db, out, "--retries", " 1/400 ") == EXIT_OK
    assert "retry rate: 1 of 400 calls retried" in summary_line(capsys)
    assert "1 of 400 calls retried" in out.read_text("utf-8")


def _bounds() -> tuple[datetime, datetime]:
    from orderkit.model.time import AccountingPeriod

    return AccountingPeriod("day", datetime(2026, 2, 16).date(), "Asia/Shanghai").bounds()


def test_the_reconciliation_difference_comes_from_a_reconcile_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "reconcile.json"
    assert main(["reconcile", "--left", str(RECONCILE / "erp_2026-02-16.csv"), "--right",
                 str(RECONCILE / "wechatpay_20260216.csv"), "--right-format", "wechatpay",
                 "--out", str(report)]) in (EXIT_OK, EXIT_REFUSED)
    # Independently: every record of every outcome, book side minus money side.
    full: Any = json.loads(report.read_text("utf-8"))
    difference = abs(sum(
        (sign * Decimal(r["amount"]) for o in full["outcomes"]
         for side, sign in (("left", 1), ("right", -1)) for r in o[side]), Decimal(0)))
    assert difference > 0
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db)
    out = tmp_path / "health.html"
    capsys.readouterr()
    assert health(db, out, "--reconciliation", str(report)) == EXIT_OK
    line = summary_line(capsys)
    assert line.endswith(f"reconciliation difference: {difference} CNY")
    assert health(db, out, "--reconciliation-difference", "812.50") == EXIT_OK
    said = capsys.readouterr().out
    assert "1 KPI(s) past" in said and said.endswith("reconciliation difference: 812.50 CNY\n")


@pytest.mark.parametrize(("args", "code", "named"), [
    (["--retries", "5/3"], EXIT_REFUSED, "--retries"),
    (["--retries", "five"], EXIT_REFUSED, "--retries"),
    (["--retries=-1/3"], EXIT_REFUSED, "--retries"),
    (["--reconciliation-difference", "lots"], EXIT_REFUSED, "--reconciliation-difference"),
    (["--reconciliation-difference", "12.5 XYZ"], EXIT_REFUSED, "--reconciliation-difference"),
    (["--reconciliation", "{not-json}"], EXIT_REFUSED, "--reconciliation"),
    (["--reconciliation", "{settle}"], EXIT_REFUSED, "--reconciliation"),
    (["--reconciliation", "{missing}"], EXIT_FILE, "missing.json"),
    (["--reconciliation", "{settle}", "--reconciliation-difference", "1"], EXIT_USAGE,
     "not allowed with"),
])
def test_bad_values_are_refused_naming_the_option_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int,
    named: str,
) -> None:
    (tmp_path / "not-json.json").write_text("amount,currency\n12,CNY\n", "utf-8")
    (tmp_path / "settle.json").write_text(  # a settle report: one summary per pair
        '{"summary": {"anchor": "erp", "sources": {"bank": {"by_status": {}}}}, "pairs": {}}',
        "utf-8")
    files = {"{not-json}": "not-json.json", "{settle}": "settle.json",
             "{missing}": "missing.json"}
    args = [str(tmp_path / files[a]) if a in files else a for a in args]
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db)
    out = tmp_path / "health.html"
    if code == EXIT_USAGE:
        with pytest.raises(SystemExit) as caught:
            health(db, out, *args)
        assert caught.value.code == EXIT_USAGE
    else:
        assert health(db, out, *args) == code
    err = capsys.readouterr().err
    assert named in err, err
    assert not out.exists()


@pytest.mark.parametrize(("args", "named"), [
    (["--period", "9999-12"], "--period: expected a period from 1900 to 8999"),
    (["--period", "0001-01-01"], "--period: expected a period from 1900 to 8999"),
    (["--period", "1899-12"], "--period: expected a period from 1900 to 8999"),
    (["--now", "9999-12-31T23:00:00+00:00"], "--now: expected an instant from 1900"),
    (["--now", "0001-01-01T10:00:00+00:00"], "--now: expected an instant from 1900"),
    (["--now", "0001-01-01T00:00:00+08:00"], "--now: instant out of range"),
])
def test_a_date_at_the_edge_of_the_calendar_is_refused_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], named: str
) -> None:
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db)
    out = tmp_path / "health.html"
    assert main(["health", "--db", str(db), "--out", str(out), *args]) == EXIT_REFUSED
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"orderkit: ValidationError: {named}"), line
    assert not out.exists()


@pytest.mark.parametrize("args", [
    ["--period", "8999-12", "--now", "8999-12-31T23:59:59+00:00"],
    ["--period", "1900-01", "--now", "1900-01-01T00:00:00+00:00"],
    ["--now", "8999-12-31T23:59:59+00:00"],
])
def test_the_first_and_last_periods_orderkit_stores_are_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db)
    out = tmp_path / "health.html"
    assert main(["health", "--db", str(db), "--out", str(out), *args]) == EXIT_OK
    assert out.exists()
