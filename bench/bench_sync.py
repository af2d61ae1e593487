"""A backfill of mixed-platform payloads into durable SQLite, many orders per commit,
next to the bare driver inserting the same rows.

**The payloads.** ``N`` (default 100,000) payloads built from orderkit's own samples
(``tests/fixtures/mapping/<platform>/*.json``, six platforms), each a copy of a sample
with a fresh channel order id and a platform modified time spread over the last 20 days,
and the JSON text it arrives as (what a client reads off the platform's API, handed to
sync with the payload: ``Page.texts``).

**orderkit.** One SQLite file (``synchronous=FULL``, the default) holding the orders,
the inventory ledger (every SKU received in plenty first) and the sync store;
:class:`~orderkit.sync.Sync` backfills each platform through a
:class:`~orderkit.testing.MemoryChannelClient` in pages of 100: one transaction per
page, each payload placed with its stock locked and brought to its mapped state through
the lifecycle, its audit, outbox and what sync saw in the same transaction. Then the
same backfill again: every payload is ``unchanged``.

**The floor.** Bare ``sqlite3`` on a file with the same settings inserting the same
order rows (the stored order's JSON, prepared beforehand) and one sync row per order,
100 per transaction; and hashing the same pages' texts and reading those digests, one
read per page.

Prints new orders/s and unchanged payloads/s with the floors and ratios; ``--profile``
prints the top functions of each orderkit phase (cProfile) and the share of each part
of it (mapping, deciding, placing, the relay, the sync store: :data:`PARTS`).

    python bench/bench_sync.py [--payloads 100000] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import pstats
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository, SQLiteSyncStore
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import OrderService
from orderkit.mapping import normalize
from orderkit.model.errors import MappingError
from orderkit.serialization import to_dict
from orderkit.sync import Sync, SyncReport, modified_at, raw_digest
from orderkit.testing import ManualClock, MemoryChannelClient

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "mapping"
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)  # the span starts after every sample is created
SPAN = timedelta(days=20)
PAGE = 100
BEIJING = ZoneInfo("Asia/Shanghai")


def _set_modified(payload: dict[str, Any], at: datetime) -> None:
    """Write ``at`` into the payload's modified-time field(s), in the sample's format."""
    for key in ("modified", "updated_at", "update_time", "date_modified_gmt", "date_modified"):
        old = payload.get(key)
        if isinstance(old, int):
            payload[key] = int(at.timestamp())
        elif isinstance(old, str) and "T" in old and old[-6] in "+-":
            payload[key] = at.astimezone(BEIJING if "+08" in old else UTC).isoformat()
            if old[-6:] != "+08:00":  # keep the sample's own offset
                offset = datetime.fromisoformat(old).utcoffset()
                assert offset is not None
                payload[key] = (at + offset).replace(tzinfo=None).isoformat() + old[-6:]
        elif isinstance(old, str) and "T" in old:
            shift = timedelta(0) if key.endswith("_gmt") else timedelta(hours=-3)
            payload[key] = (at + shift).replace(tzinfo=None).isoformat()
        elif isinstance(old, str):
            payload[key] = at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _templates() -> list[tuple[str, dict[str, Any], list[str]]]:
    """Every sample with the keys that hold its channel order id."""
    out = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        platform, payload = path.parent.name, json.loads(path.read_text("utf-8"))
        try:
            modified_at(platform, payload)
        except MappingError:
            continue  # a shape without a modified time waits as a dead letter: not a sample
        order_id = normalize(platform, payload).channel_order_id
        keys = [k for k, v in payload.items() if str(v) == order_id]
        out.append((platform, payload, keys))
    return out


def build(count: int) -> dict[str, list[dict[str, Any]]]:
    """``count`` payloads by platform, round-robin over the samples (see :func:`texts`
    for the JSON each arrives as)."""
    templates = _templates()
    feeds: dict[str, list[dict[str, Any]]] = {}
    step = SPAN / count
    for n in range(count):
        platform, sample, keys = templates[n % len(templates)]
        payload = copy.deepcopy(sample)
        for key in keys:
            payload[key] = 900_000_000 + n if isinstance(sample[key], int) else f"B{n:09d}"
        at = (NOW - SPAN + n * step).replace(microsecond=0)
        _set_modified(payload, at)
        if n < len(templates):  # each format written back reads back the same instant,
            assert modified_at(platform, payload) == at, (platform, payload)
            # and no payload is modified before it was created (its first use is its earliest)
            assert at >= normalize(platform, payload).created_at, (platform, payload)
        feeds.setdefault(platform, []).append(payload)
    return feeds


def texts(feeds: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Each payload as the JSON text the platform sends."""
    return {platform: [json.dumps(p, ensure_ascii=False) for p in payloads]
            for platform, payloads in feeds.items()}


def shop(path: Path, feeds: dict[str, list[dict[str, Any]]]) -> Sync:
    clock = ManualClock(NOW)
    repository = SQLiteOrderRepository(path)
    ledger = InventoryLedger(SQLiteInventoryStore(path), secret=b"bench-secret-0123456789",
                             clock=clock)
    skus = {line.sku for platform, payloads in feeds.items()
            for line in normalize(platform, payloads[0]).lines}
    skus |= {line.sku for _p, sample, _k in _templates()
             for line in normalize(_p, sample).lines}
    for sku in sorted(skus):
        ledger.receive(sku, 10_000_000, reference=f"PO-{sku}")
    service = OrderService(repository, inventory=ledger, clock=clock,
                           lock_ttl=timedelta(days=365))
    return Sync(repository, service, store=SQLiteSyncStore(path), clock=clock)


def backfill(sync: Sync, feeds: dict[str, list[dict[str, Any]]],
             clients: dict[str, MemoryChannelClient]) -> SyncReport:
    report = SyncReport()
    for platform in feeds:
        report += sync.backfill(platform, clients[platform], NOW - SPAN - timedelta(hours=1),
                                NOW)
    return report


#: The parts of a pass ``--profile`` reports as shares of the pass: (label, module,
#: function), each the cumulative time of that function (a part may hold the next).
PARTS = (
    ("mapping (Registry.normalize)", "orderkit/mapping/registry.py", "normalize"),
    ("modified time (sync.modified_at)", "orderkit/sync/modified.py", "modified_at"),
    ("initial form (sync.initial)", "orderkit/sync/diff.py", "initial"),
    ("deciding (OrderService.decide)", "orderkit/lifecycle/service.py", "decide"),
    ("  of which sync's next_event", "orderkit/sync/diff.py", "next_event"),
    ("  of which the engine's apply", "orderkit/lifecycle/engine.py", "apply"),
    ("placing (OrderService.place_many)", "orderkit/lifecycle/service.py", "place_many"),
    ("  of which lock_many", "orderkit/inventory/ledger.py", "lock_many"),
    ("  of which insert_many", "orderkit/adapters/sqlite/orders.py", "insert_many"),
    ("relay (OutboxRelay.run_once)", "orderkit/outbox/relay.py", "run_once"),
    ("sync store: digests read", "orderkit/adapters/sqlite/sync.py", "seen_digests"),
    ("sync store: seen read", "orderkit/adapters/sqlite/sync.py", "seen_many"),
    ("sync store: seen written", "orderkit/adapters/sqlite/sync.py", "mark_seen_many"),
    ("stored orders read", "orderkit/adapters/sqlite/orders.py", "find_many_by_channel"),
)


def parts(profiler: cProfile.Profile, count: int) -> None:
    """Each of :data:`PARTS` as its share of the profiled pass and its (inflated) time
    per payload."""
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    for label, module, function in PARTS:
        cumulative = sum(row[3] for (path, _line, name), row in entries.items()
                         if name == function and path.replace("\\", "/").endswith(module))
        if cumulative:
            print(f"  {label:36s} {100 * cumulative / total:5.1f}%"
                  f"  {1_000_000 * cumulative / max(count, 1):8.0f} us per payload")


def timed(label: str, work: Callable[[], Any], profile: bool) -> tuple[float, float, Any]:
    profiler = cProfile.Profile() if profile else None
    start, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    result = work()
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    print(f"{label}: {seconds:.1f} s wall, {cpu:.1f} s CPU of this process")
    if profiler is not None:
        print(f"--- profile: {label} (times inflated by the profiler)")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        print(f"--- parts of the pass: {label} (shares of the profiled time)")
        parts(profiler, result.total if isinstance(result, SyncReport) else 1)
    return seconds, cpu, result


def floor(
    path: Path, sync: Sync, feeds: dict[str, list[dict[str, Any]]], raw: dict[str, list[str]]
) -> tuple[float, float]:
    """Bare sqlite3: the same order rows and sync rows inserted 100 per transaction, and
    the same texts hashed and their digests read back one read per page. Returns
    (rows/s, payloads/s)."""
    repository = sync.repository
    rows, seen, digests = [], [], []
    for platform, payloads in feeds.items():
        for payload, text in zip(payloads, raw[platform], strict=True):
            digest = raw_digest(text)
            order = normalize(platform, payload)
            stored = repository.find_by_channel(order.channel, order.channel_order_id)
            if stored is None:  # a dead letter wrote no order row
                continue
            rows.append((stored.order_id, stored.channel, stored.channel_order_id,
                         int(stored.status), stored.version, json.dumps(to_dict(stored))))
            seen.append((platform, order.channel_order_id, 0, digest, 0, 0))
            digests.append((platform, text))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, channel TEXT, "
                 "channel_order_id TEXT, status INTEGER, version INTEGER, body TEXT)")
    conn.execute("CREATE UNIQUE INDEX by_channel ON orders (channel, channel_order_id)")
    conn.execute("CREATE TABLE sync_seen (platform TEXT, channel_order_id TEXT, "
                 "modified_us INTEGER, digest TEXT, received_us INTEGER, stale INTEGER, "
                 "PRIMARY KEY (platform, channel_order_id)) WITHOUT ROWID")
    conn.execute("CREATE INDEX by_digest ON sync_seen (platform, digest)")
    start = time.perf_counter()
    for k in range(0, len(rows), PAGE):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", rows[k:k + PAGE])
        conn.executemany("INSERT INTO sync_seen VALUES (?, ?, ?, ?, ?, ?)", seen[k:k + PAGE])
        conn.execute("COMMIT")
    inserts = len(rows) / (time.perf_counter() - start)
    start = time.perf_counter()
    for k in range(0, len(digests), PAGE):
        page = [raw_digest(text) for _platform, text in digests[k:k + PAGE]]
        conn.execute("SELECT channel_order_id FROM sync_seen WHERE platform = ? AND digest"
                     " IN (SELECT value FROM json_each(?))",
                     (digests[k][0], json.dumps(page))).fetchall()
    reads = len(digests) / (time.perf_counter() - start)
    conn.close()
    return inserts, reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payloads", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    feeds = build(args.payloads)
    raw = texts(feeds)
    clients = {p: MemoryChannelClient(f, platform=p, page_size=PAGE, texts=raw[p])
               for p, f in feeds.items()}
    with tempfile.TemporaryDirectory() as tmp:
        sync = shop(Path(tmp) / "shop.db", feeds)
        seconds, new_cpu, report = timed("new", lambda: backfill(sync, feeds, clients),
                                         args.profile)
        print(f"first backfill: {report.summary()} in {seconds:.1f} s")
        new_rate = report.new / seconds
        seconds, same_cpu, again = timed("unchanged",
                                         lambda: backfill(sync, feeds, clients), args.profile)
        print(f"second backfill: {again.summary()} in {seconds:.1f} s")
        unchanged_rate = again.unchanged / seconds
        inserts, reads = floor(Path(tmp) / "floor.db", sync, feeds, raw)
    print(f"new orders/s:         {new_rate:10,.0f}   (target 3,000)   bare sqlite3 inserting"
          f" the same rows: {inserts:10,.0f} rows/s   ratio {inserts / new_rate:6.1f}x")
    print(f"unchanged payloads/s: {unchanged_rate:10,.0f}   (target 10,000)  bare sqlite3"
          f" reading digests per page: {reads:10,.0f} /s   ratio {reads / unchanged_rate:6.1f}x")
    print(f"CPU of this process: {1000 * new_cpu / max(report.new, 1):.2f} ms per new order,"
          f" {1_000_000 * same_cpu / max(again.unchanged, 1):.0f} us per unchanged payload")


if __name__ == "__main__":
    main()
