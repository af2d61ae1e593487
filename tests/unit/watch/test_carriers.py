"""The carrier report: first parcels with no scan after 24 hours, by carrier and
outlet, top 5 of the month, and each carrier's first-scan delay percentiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from orderkit import OrderStatus, Shipment
from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.errors import ValidationError
from orderkit.lifecycle.ports import FirstScan, OrderRepository
from orderkit.model.time import accounting_period
from orderkit.testing.samples import sample_order
from orderkit.watch import carrier_report
from orderkit.watch.carriers import percentile

MARCH = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def shipped(repo: OrderRepository, order_id: str, carrier: str, outlet: str,
            at: datetime, scan_after: timedelta | None) -> None:
    parcel = Shipment("S1", carrier, f"{carrier}{order_id}", {"1": 1}, shipped_at=at,
                      first_scan_at=None if scan_after is None else at + scan_after)
    order = attrs.evolve(sample_order(order_id, channel_order_id=order_id),
                         status=OrderStatus.SHIPPED, shipments=(parcel,),
                         tags=frozenset({f"outlet:{outlet}"}))
    repo.save(order, None)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_late_first_scans_by_carrier_and_outlet_top_5_and_percentiles(
    store: str, tmp_path: Path
) -> None:
    repo: OrderRepository = (MemoryOrderRepository() if store == "memory"
                             else SQLiteOrderRepository(tmp_path / "orders.db"))
    hour = timedelta(hours=1)
    n = 0

    def ship(carrier: str, outlet: str, scan_after: timedelta | None, count: int = 1,
             at: datetime = MARCH) -> None:
        nonlocal n
        for _ in range(count):
            n += 1
            shipped(repo, f"O-{n:03}", carrier, outlet, at, scan_after)

    ship("SF", "West Lake", 2 * hour, count=8)       # on time
    ship("SF", "West Lake", 30 * hour, count=2)      # late
    ship("YTO", "Xixi", 25 * hour, count=4)          # late
    ship("YTO", "Binjiang", None, count=3)           # no scan yet, 48 h later: late
    ship("ZTO", "Xixi", 24 * hour)                   # exactly 24 h: not late
    ship("ZTO", "Binjiang", None, at=MARCH + timedelta(hours=40))  # 8 h unscanned: not yet
    for index, outlet in enumerate(("A", "B", "C")):
        ship("JT", outlet, 26 * hour, count=1 + (index == 0))
    ship("SF", "West Lake", 99 * hour, at=datetime(2026, 2, 27, tzinfo=UTC))  # February
    report = carrier_report(repo, accounting_period(MARCH, granularity="month"),
                            now=MARCH + timedelta(hours=48))

    assert (report.parcels, report.late) == (23, 13)
    assert [(g.carrier, g.outlet, g.late) for g in report.top] == [
        ("YTO", "Xixi", 4), ("YTO", "Binjiang", 3), ("JT", "A", 2), ("SF", "West Lake", 2),
        ("JT", "B", 1),
    ]
    assert report.top[1].order_ids == ("O-015", "O-016", "O-017")
    sf = next(c for c in report.carriers if c.carrier == "SF")
    assert (sf.parcels, sf.scanned, sf.unscanned, sf.late) == (10, 10, 0, 2)
    assert (sf.p50, sf.p90, sf.p99, sf.worst) == (2 * hour, 30 * hour, 30 * hour, 30 * hour)
    yto = next(c for c in report.carriers if c.carrier == "YTO")
    assert (yto.scanned, yto.unscanned, yto.late, yto.p50) == (4, 3, 7, 25 * hour)
    assert [c.carrier for c in report.carriers] == ["JT", "SF", "YTO", "ZTO"]


def test_a_host_names_the_outlet_and_bad_arguments_are_named() -> None:
    repo = MemoryOrderRepository()
    shipped(repo, "O-1", "SF", "ignored", MARCH, None)
    month = accounting_period(MARCH, granularity="month")

    def by_channel(scan: FirstScan) -> str:
        return f"shop {scan.channel}"

    report = carrier_report(repo, month, now=MARCH + timedelta(days=2), outlet=by_channel)
    assert [(g.outlet, g.late) for g in report.top] == [("shop tmall", 1)]
    with pytest.raises(ValidationError, match="top"):
        carrier_report(repo, month, now=MARCH, top=0)
    with pytest.raises(ValidationError, match="now"):
        carrier_report(repo, month, now=datetime(2026, 3, 2))
    with pytest.raises(ValidationError, match="period"):
        carrier_report(repo, "2026-03", now=MARCH)  # type: ignore[arg-type]


def test_percentiles_are_nearest_rank() -> None:
    values = [timedelta(minutes=m) for m in range(1, 101)]
    assert percentile(values, 50) == timedelta(minutes=50)
    assert percentile(values, 99) == timedelta(minutes=99)
    assert percentile(values[:1], 90) == timedelta(minutes=1)
    assert percentile([], 50) is None
    with pytest.raises(ValidationError, match="p"):
        percentile(values, 0)
