"""One watch cycle over 1,000,000 stored orders in SQLite, 1% of them stale.

Run: ``python bench/bench_watch.py [--orders 1000000] [--stale-share 0.01]``.

The file is filled the fast way, as a benchmark may: a few template orders are saved
through :class:`SQLiteOrderRepository` (so their JSON is exactly what orderkit stores),
then their rows are copied with ``executemany``, each with its own ids and instants
(and the paid and due-to-ship instants a save writes beside the order). The
mix: most orders are COMPLETED; the rest are recent pending, paid and shipped orders
that no rule reports; the stale share is spread over pending orders past 15 minutes
(some channels with more than 20 of them: the channel-down rule), paid orders unshipped
past 24 hours and parcels without a first scan past 5 minutes.

Timed, against the targets of the watch issue:

* ``stale``: one rule's indexed query, at the rule's limit (1,000) and for every stale
  order of that status (target: under 1 s);
* one watch cycle with the default rules and the SQLite episode store: the first cycle
  (it raises and stores every alert) and a second one (steady state; target: under 5 s);
* a third cycle in which one order goes stale while the first cycle's episodes are
  open: it stores its one alert by key;
* ``count_by_status``, ``health()`` and ``first_scans`` (the health page's and the
  carrier report's queries), for reference.

The floor, in the same run: bare ``sqlite3`` reading the same rows through the same
index (the stale query's SQL without decoding an order).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from orderkit import OrderStatus, Shipment
from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteWatchState
from orderkit.model.alerts import Alert as Notice
from orderkit.model.time import accounting_period
from orderkit.testing import ManualClock
from orderkit.testing.samples import sample_order
from orderkit.watch import Watcher, health

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CHANNELS = ("tmall", "jd", "pdd", "douyin", "shopify")
CARRIERS = ("SF", "YTO", "ZTO", "JT", "EMS")
CYCLE_TARGET = 5.0
STALE_TARGET = 1.0


class _Count:
    """A notifier that only counts (the bench times the watch, not a webhook)."""

    def __init__(self) -> None:
        self.sent = 0

    def notify(self, _alert: Notice) -> None:
        self.sent += 1


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _templates(path: Path) -> dict[str, str]:
    """Each kind of row as the JSON orderkit stores, with placeholders for what varies."""
    repo = SQLiteOrderRepository(path, durable=False)
    mark = datetime(2001, 1, 1, tzinfo=UTC)  # stands for "the row's instant"
    scan = datetime(2001, 1, 1, 0, 7, tzinfo=UTC)  # stands for "the row's first scan"
    parcel = Shipment("S1", "SF", "WAYBILL", {"1": 1}, shipped_at=mark)
    kinds = {
        "completed": {"status": OrderStatus.COMPLETED, "paid_at": mark,
                          "shipments": (attrs.evolve(parcel, first_scan_at=scan),)},
        "pending": {"status": OrderStatus.PENDING_PAYMENT, "shipments": ()},
        "paid": {"status": OrderStatus.PAID, "paid_at": mark, "shipments": ()},
        "scanned": {"status": OrderStatus.SHIPPED, "paid_at": mark,
                        "shipments": (attrs.evolve(parcel, first_scan_at=scan),)},
        "unscanned": {"status": OrderStatus.SHIPPED, "paid_at": mark, "shipments": (parcel,)},
    }
    for kind, fields in kinds.items():
        order = attrs.evolve(sample_order(f"T-{kind}", channel_order_id=f"T-{kind}"),
                             created_at=mark, status_since=mark, **fields)  # type: ignore[arg-type]
        repo.save(order, None)
    with sqlite3.connect(path) as conn:
        rows = dict(conn.execute("SELECT order_id, body FROM orders").fetchall())
        conn.execute("DELETE FROM orders")
        conn.execute("DELETE FROM order_waybills")
    conn.close()
    out = {}
    for kind in kinds:
        body = json.loads(rows[f"T-{kind}"])
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        text = text.replace(_iso(mark), "@AT@").replace(_iso(scan), "@SCAN@")
        text = text.replace(f"T-{kind}", "@ID@").replace('"WAYBILL"', '"@WB@"')
        text = text.replace('"carrier":"SF"', '"carrier":"@CARRIER@"')
        text = text.replace('"channel":"tmall"', '"channel":"@CHANNEL@"')
        out[kind] = text
    return out


_INSERT = ("INSERT INTO orders (order_id, channel, channel_order_id, status, version, body,"
           " paid_at, ship_due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def _fill(path: Path, orders: int, stale_share: float) -> dict[str, int]:
    templates = _templates(path)
    stale = int(orders * stale_share)
    fresh_open = orders // 20  # 5% open and recent
    plan = (
        [("pending", True)] * (stale // 3) + [("paid", True)] * (stale // 3)
        + [("unscanned", True)] * (stale - 2 * (stale // 3))
        + [("pending", False), ("paid", False), ("scanned", False)] * (fresh_open // 3)
    )
    counts: dict[str, int] = {}
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    batch: list[tuple[object, ...]] = []
    status = {"completed": 50, "pending": 10, "paid": 20, "scanned": 30, "unscanned": 30}
    for n in range(orders):
        kind, is_stale = plan[n] if n < len(plan) else ("completed", False)
        key = f"{kind}{'-stale' if is_stale else ''}"
        counts[key] = counts.get(key, 0) + 1
        if is_stale:  # 20 minutes to 3 days ago: past every rule's threshold
            at = NOW - timedelta(days=1, minutes=20 + n % 2880) if kind == "paid" \
                else NOW - timedelta(minutes=20 + n % 2880)
        elif kind == "completed":
            at = NOW - timedelta(days=2 + n % 300, seconds=n % 86_400)
        else:  # recent: under every threshold
            at = NOW - timedelta(seconds=1 + n % 240)
        order_id = f"B{n:08}"
        channel = CHANNELS[n % len(CHANNELS)] if not is_stale or kind != "pending" \
            else CHANNELS[n % 2]
        body = (templates[kind].replace("@ID@", order_id).replace("@AT@", _iso(at))
                .replace("@SCAN@", _iso(at + timedelta(hours=2)))
                .replace("@WB@", f"WB{n:09}").replace("@CARRIER@", CARRIERS[n % 5])
                .replace("@CHANNEL@", channel))
        # The instants a save writes beside the order: paid (and so due to ship) at the
        # row's instant for every kind but the pending one.
        paid = None if kind == "pending" else _iso(at)
        batch.append((order_id, channel, order_id, status[kind], 1, body, paid, paid))
        if len(batch) == 50_000:
            conn.executemany(_INSERT, batch)
            conn.commit()
            batch.clear()
    if batch:
        conn.executemany(_INSERT, batch)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return counts


def _timed(what: str, call: object, target: float | None = None) -> object:
    start = time.perf_counter()
    result = call()  # type: ignore[operator]
    took = time.perf_counter() - start
    verdict = "" if target is None else (
        f" (target < {target:.0f} s: {'met' if took < target else 'MISSED'})")
    print(f"{what:<62} {took * 1000:9.1f} ms{verdict}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--stale-share", type=float, default=0.01)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    path = folder / "orders.db"
    try:
        start = time.perf_counter()
        counts = _fill(path, args.orders, args.stale_share)
        print(f"filled {args.orders:,} orders in {time.perf_counter() - start:.1f} s"
              f" ({path.stat().st_size / 2**20:.0f} MiB): "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())), flush=True)
        repo = SQLiteOrderRepository(path)
        pending = [OrderStatus.PENDING_PAYMENT]
        before = NOW - timedelta(minutes=15)
        found = _timed("stale(PENDING_PAYMENT, status_since, limit 1,000)",
                       lambda: repo.stale(pending, "status_since", before, 1000), STALE_TARGET)
        assert len(found) == min(1000, counts.get("pending-stale", 0))  # type: ignore[arg-type]
        every = counts.get("pending-stale", 0)
        found = _timed(f"stale(PENDING_PAYMENT, status_since, all {every:,})",
                       lambda: repo.stale(pending, "status_since", before, every),
                       STALE_TARGET)
        assert len(found) == every  # type: ignore[arg-type]
        _timed("stale(SHIPPED, unscanned_since, limit 1,000)",
               lambda: repo.stale([OrderStatus.SHIPPED], "unscanned_since",
                                  NOW - timedelta(minutes=5), 1000), STALE_TARGET)
        with sqlite3.connect(path) as conn:
            expression = "json_extract(body, '$.status_since')"
            _timed("floor: bare sqlite3, same index, rows not decoded (1,000)",
                   lambda: conn.execute(
                       f"SELECT order_id, body FROM orders WHERE {expression} < ?"
                       f" AND status = 10 ORDER BY {expression} LIMIT 1000",
                       (_iso(before),)).fetchall())
        conn.close()
        notifier = _Count()
        watcher = Watcher(repo, notifier, state=SQLiteWatchState(path),
                          clock=ManualClock(NOW))
        report = _timed("watch cycle 1 (default rules; raises and stores every alert)",
                        watcher.run_once, CYCLE_TARGET)
        print(f"  raised {len(report.raised):,}, inhibited {len(report.inhibited):,},"  # type: ignore[attr-defined]
              f" pending {report.pending:,}; {notifier.sent:,} sent", flush=True)  # type: ignore[attr-defined]
        watcher.clock = ManualClock(NOW + timedelta(minutes=1))
        report = _timed("watch cycle 2 (steady state, a minute later)", watcher.run_once,
                        CYCLE_TARGET)
        print(f"  raised {len(report.raised):,}, repeated {len(report.repeated):,},"  # type: ignore[attr-defined]
              f" resolved {len(report.resolved):,}", flush=True)  # type: ignore[attr-defined]
        # One order goes stale among the open episodes: the cycle stores the one alert
        # it sent by key (cycle(keys=...)), not every open episode again.
        late = NOW + timedelta(minutes=2) - timedelta(minutes=16)
        repo.save(attrs.evolve(sample_order("LATE", channel_order_id="LATE"), shipments=(),
                               channel="shop", status=OrderStatus.PENDING_PAYMENT,
                               created_at=late, status_since=late), None)
        with SQLiteWatchState(path).cycle() as episodes:
            opened = len(episodes)
        watcher.clock = ManualClock(NOW + timedelta(minutes=2))
        report = _timed(f"watch cycle 3 (1 new alert among {opened:,} open episodes)",
                        watcher.run_once, CYCLE_TARGET)
        print(f"  raised {len(report.raised):,}", flush=True)  # type: ignore[attr-defined]
        day = (NOW - timedelta(days=1), NOW)
        _timed("count_by_status(created_at, one day)",
               lambda: repo.count_by_status("created_at", *day))
        _timed("count_by_status(status_since, open statuses, all time)",
               lambda: repo.count_by_status("status_since", None, NOW, (10, 20, 25, 30, 40)))
        period = accounting_period(NOW - timedelta(days=1))
        _timed("health(): one day's KPIs (counts in the store)",
               lambda: health(repo, period, now=NOW))
        month = (NOW - timedelta(days=30), NOW)
        scans = _timed("first_scans(30 days)", lambda: repo.first_scans(*month))
        print(f"  {len(scans):,} first parcels", flush=True)  # type: ignore[arg-type]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
