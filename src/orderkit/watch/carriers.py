"""The carrier report: parcels handed over with no first carrier scan for too long, by
carrier and outlet, and each carrier's first-scan delay percentiles."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

import attrs

from orderkit.lifecycle.ports import FirstScan, OrderRepository
from orderkit.model.errors import ValidationError
from orderkit.model.time import AccountingPeriod, ensure_aware

__all__ = [
    "OUTLET_TAG",
    "CarrierDelay",
    "CarrierReport",
    "LateGroup",
    "carrier_report",
    "outlet_from_tag",
    "percentile",
]

#: The tag prefix that names an order's outlet by default (``outlet:Hangzhou West Lake``).
OUTLET_TAG: Final = "outlet:"


def outlet_from_tag(scan: FirstScan) -> str:
    """The order's outlet from its ``outlet:<name>`` tag (the first by name), else
    ``"unknown"``."""
    names = sorted(tag[len(OUTLET_TAG):] for tag in scan.tags if tag.startswith(OUTLET_TAG))
    return names[0] if names and names[0] else "unknown"


def percentile(values: Sequence[timedelta], p: int) -> timedelta | None:
    """The nearest-rank ``p``-th percentile of sorted ``values`` (``None`` when empty):
    the smallest value with at least ``p`` percent of the values at or below it."""
    if not 0 < p <= 100:
        raise ValidationError("p", p, "expected a percentile from 1 to 100")
    if not values:
        return None
    return values[max(math.ceil(p * len(values) / 100), 1) - 1]


@attrs.frozen
class LateGroup:
    """Parcels of one ``carrier`` from one ``outlet`` that waited more than the report's
    ``late_after`` for their first scan (``late``), with their order ids."""

    carrier: str
    outlet: str
    late: int
    order_ids: tuple[str, ...]


@attrs.frozen
class CarrierDelay:
    """One carrier's first parcels of the period: how many were handed over, scanned,
    still unscanned and late, and the delay from hand-over to first scan of the scanned
    ones at the 50th, 90th and 99th percentiles and at worst."""

    carrier: str
    parcels: int
    scanned: int
    unscanned: int
    late: int
    p50: timedelta | None
    p90: timedelta | None
    p99: timedelta | None
    worst: timedelta | None


@attrs.frozen
class CarrierReport:
    """Every order's first parcel handed over in ``period``, as of ``as_of``: the
    ``top`` carrier and outlet pairs by late parcels (most first) and each carrier's
    delays (``carriers``, by name)."""

    period: AccountingPeriod
    as_of: datetime
    late_after: timedelta
    parcels: int
    late: int
    top: tuple[LateGroup, ...]
    carriers: tuple[CarrierDelay, ...]


def carrier_report(
    repository: OrderRepository,
    period: AccountingPeriod,
    *,
    now: datetime,
    outlet: Callable[[FirstScan], str] = outlet_from_tag,
    late_after: timedelta = timedelta(hours=24),
    top: int = 5,
) -> CarrierReport:
    """The carrier report of ``period`` (usually a month) as of ``now``.

    A parcel is *late* when its first scan came more than ``late_after`` after it was
    handed over, or has not come and ``now`` is more than ``late_after`` past the
    hand-over. ``outlet`` names an order's outlet (default: its ``outlet:<name>`` tag).
    Reads one :meth:`~orderkit.lifecycle.ports.OrderRepository.first_scans` range.
    """
    if not isinstance(period, AccountingPeriod):
        raise ValidationError("period", period, "expected an AccountingPeriod")
    as_of = ensure_aware(now, path="now")
    if not isinstance(late_after, timedelta) or late_after <= timedelta(0):
        raise ValidationError("late_after", late_after, "expected a positive timedelta")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValidationError("top", top, "expected an integer >= 1")
    start, end = period.bounds()
    delays: dict[str, list[timedelta]] = {}
    counts: dict[str, list[int]] = {}  # carrier -> [parcels, unscanned, late]
    late_by: dict[tuple[str, str], list[str]] = {}
    for scan in repository.first_scans(start, end):
        carrier = scan.carrier or "unknown"
        count = counts.setdefault(carrier, [0, 0, 0])
        count[0] += 1
        if scan.first_scan_at is None:
            count[1] += 1
            waited = as_of - scan.shipped_at
        else:
            waited = scan.first_scan_at - scan.shipped_at
            delays.setdefault(carrier, []).append(waited)
        if waited > late_after:
            count[2] += 1
            name = outlet(scan)
            if not isinstance(name, str):
                raise ValidationError("outlet", name, "expected the outlet's name as text")
            late_by.setdefault((carrier, name or "unknown"), []).append(scan.order_id)
    carriers = []
    for carrier in sorted(counts):
        parcels, unscanned, late = counts[carrier]
        measured = sorted(delays.get(carrier, ()))
        carriers.append(CarrierDelay(
            carrier, parcels, parcels - unscanned, unscanned, late,
            percentile(measured, 50), percentile(measured, 90), percentile(measured, 99),
            measured[-1] if measured else None,
        ))
    ranked = sorted(late_by.items(), key=lambda item: (-len(item[1]), item[0]))
    groups = tuple(LateGroup(carrier, name, len(ids), tuple(ids))
                   for (carrier, name), ids in ranked[:top])
    return CarrierReport(period, as_of, late_after, sum(c.parcels for c in carriers),
                         sum(c.late for c in carriers), groups, tuple(carriers))
