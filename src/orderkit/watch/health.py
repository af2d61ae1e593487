"""Health: the few numbers a manager reads, each against its threshold, and one index.

See ``docs/watch.md`` ("Health") for every KPI, where its number comes from and the
index formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

import attrs

from orderkit.lifecycle.ports import OrderRepository
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import Anchor, OrderStatus
from orderkit.model.time import AccountingPeriod, ensure_aware
from orderkit.reconcile.outcomes import Reconciliation
from orderkit.watch.carriers import percentile
from orderkit.watch.ports import SyncLagSource

__all__ = [
    "STUCK_AFTER",
    "WEIGHTS",
    "HealthReport",
    "Kpi",
    "Thresholds",
    "health",
    "kpi_score",
    "summary_difference",
]

_S = OrderStatus

#: How long an order may stay in a status before the health page counts it as stuck
#: (from when it entered the status; a presale not before it is due to ship, its
#: ``ship_due_at``, and never while it waits for its balance). The first three are the
#: seeds' watch rules.
STUCK_AFTER: Final[Mapping[int, timedelta]] = {
    _S.PENDING_PAYMENT: timedelta(minutes=15),
    _S.PAID: timedelta(hours=24),
    _S.PACKED: timedelta(hours=24),
    _S.SHIPPED: timedelta(days=7),
    _S.DELIVERED: timedelta(days=15),
}

#: The instants that leave an order out of the stuck count: a presale that took its
#: deposit waits for its balance by design.
_WAITING: Final[tuple[Anchor, ...]] = ("balance_due_since",)

#: The statuses a paid order waits to ship in (the ``unshipped_24h`` share, and where a
#: presale is not stuck before it is due to ship).
_TO_SHIP: Final = frozenset({_S.PAID, _S.PACKED})

#: Each KPI's weight in the health index.
WEIGHTS: Final[Mapping[str, Decimal]] = {
    "unshipped_24h": Decimal(25),
    "stuck": Decimal(20),
    "cancellation_rate": Decimal(15),
    "reconciliation_difference": Decimal(15),
    "status_sync_rate": Decimal(15),
    "retry_rate": Decimal(10),
}


def _rate(_instance: object, attribute: attrs.Attribute[Decimal], value: object) -> None:
    if not isinstance(value, Decimal) or not Decimal(0) <= value <= Decimal(1):
        raise ValidationError(attribute.name, value, "expected a Decimal rate from 0 to 1")


def _amount(_instance: object, attribute: attrs.Attribute[Decimal], value: object) -> None:
    if not isinstance(value, Decimal) or value < 0:
        raise ValidationError(attribute.name, value, "expected a Decimal amount >= 0")


@attrs.frozen
class Thresholds:
    """When a KPI alerts: the share of orders still unshipped 24 hours after they were
    due to ship (paid; a presale, its ship-from day) (above 3%), the cancellation rate
    (above 8%), the day's reconciliation difference (above 500.00), the retry rate
    (above 3%), the share of open orders stuck (above 2%), and the status-sync rate
    (below 99% of status changes received within ``sync_within``, 5 minutes)."""

    unshipped_24h: Decimal = attrs.field(default=Decimal("0.03"), validator=_rate)
    cancellation_rate: Decimal = attrs.field(default=Decimal("0.08"), validator=_rate)
    reconciliation_difference: Decimal = attrs.field(default=Decimal("500.00"),
                                                     validator=_amount)
    retry_rate: Decimal = attrs.field(default=Decimal("0.03"), validator=_rate)
    stuck: Decimal = attrs.field(default=Decimal("0.02"), validator=_rate)
    status_sync_rate: Decimal = attrs.field(default=Decimal("0.99"), validator=_rate)
    sync_within: timedelta = timedelta(minutes=5)


@attrs.frozen
class Kpi:
    """One number against its threshold. ``value`` is ``None`` when it was not measured
    (no input, or nothing to divide by); rates are fractions (``0.031``), the
    reconciliation difference an amount in ``unit``. ``breached`` says whether it is on
    the wrong side of ``threshold`` (``higher_is_better`` says which side that is);
    ``score`` is its part of the health index (0 to 1, ``None`` when not measured)."""

    name: str
    label: str
    value: Decimal | None
    threshold: Decimal
    unit: str
    higher_is_better: bool
    breached: bool
    score: Decimal | None
    detail: str = ""


def kpi_score(value: Decimal, threshold: Decimal, *, higher_is_better: bool) -> Decimal:
    """A KPI's score from 0 to 1: 1 when perfect, 0.5 at its threshold, 0 at twice the
    threshold's distance from perfect (and beyond). Perfect is 0 for a lower-is-better
    KPI and 1 (100%) for a higher-is-better rate.

    >>> kpi_score(Decimal("0.03"), Decimal("0.03"), higher_is_better=False)
    Decimal('0.5')
    >>> kpi_score(Decimal("0.985"), Decimal("0.99"), higher_is_better=True)
    Decimal('0.25')
    """
    gap = (Decimal(1) - value) if higher_is_better else value
    allowed = (Decimal(1) - threshold) if higher_is_better else threshold
    if allowed <= 0:
        return Decimal(1) if gap <= 0 else Decimal(0)
    return min(Decimal(1), max(Decimal(0), Decimal(1) - gap / (2 * allowed)))


@attrs.frozen
class HealthReport:
    """The health of ``period`` as of ``as_of``: the KPIs (``kpis``), the orders created
    in the period by status (``orders_by_status``), the open orders stuck by status
    (``stuck``, against :data:`STUCK_AFTER`), the sync lag percentiles (``lag``: p50,
    p90, p99, empty when no lag was given) and the health ``index`` (0 to 100; ``None``,
    "not measured", when no KPI was measured: a quiet day is not a perfect one)."""

    period: AccountingPeriod
    as_of: datetime
    kpis: tuple[Kpi, ...]
    orders_by_status: Mapping[int, int]
    stuck: Mapping[int, int]
    stuck_after: Mapping[int, timedelta]
    lag: Mapping[str, timedelta]
    index: Decimal | None

    def kpi(self, name: str) -> Kpi:
        """The KPI named ``name``; :class:`ValidationError` when there is none."""
        for found in self.kpis:
            if found.name == name:
                return found
        raise ValidationError("name", name, f"expected one of {', '.join(WEIGHTS)}")

    @property
    def index_text(self) -> str:
        """The index as shown on the page and by ``orderkit health``: ``"24.8"``, or
        ``"not measured"``."""
        return "not measured" if self.index is None else str(self.index)

    @property
    def alerts(self) -> tuple[Kpi, ...]:
        """The KPIs past their threshold."""
        return tuple(k for k in self.kpis if k.breached)


def _share(part: int, whole: int) -> Decimal | None:
    return None if whole == 0 else Decimal(part) / Decimal(whole)


def _kpi(name: str, label: str, value: Decimal | None, threshold: Decimal, unit: str,
         detail: str, *, higher_is_better: bool = False) -> Kpi:
    if value is None:
        return Kpi(name, label, None, threshold, unit, higher_is_better, False, None, detail)
    breached = value < threshold if higher_is_better else value > threshold
    score = kpi_score(value, threshold, higher_is_better=higher_is_better)
    return Kpi(name, label, value, threshold, unit, higher_is_better, breached, score, detail)


def summary_difference(summary: Mapping[str, object]) -> Money:
    """The book total against the money total of a reconciliation's summary
    (:meth:`~orderkit.reconcile.Reconciliation.summary`, or the ``summary`` of the JSON
    report ``orderkit reconcile --out report.json`` writes): left minus right over every
    status, per currency, as a positive amount in the currency with the largest
    difference (``0.00 CNY`` when there is none). A summary that is not one
    reconciliation's (a settle report's has one per pair) raises
    :class:`ValidationError` naming the part."""
    if not isinstance(summary, Mapping):
        raise ValidationError("reconciliation", summary, "expected a reconciliation summary")
    by_status = summary.get("by_status")
    if not isinstance(by_status, Mapping):
        raise ValidationError("reconciliation.by_status", by_status,
                              "expected the summary of one reconciliation (orderkit"
                              " reconcile), with amounts by status")
    sums: dict[str, Decimal] = {}
    for status, entry in sorted(by_status.items()):
        for side, sign in (("left_amount", 1), ("right_amount", -1)):
            path = f"reconciliation.by_status.{status}.{side}"
            amounts = entry.get(side, {}) if isinstance(entry, Mapping) else None
            if not isinstance(amounts, Mapping):
                raise ValidationError(path, amounts, "expected amounts by currency")
            for currency, text in amounts.items():
                try:
                    if not isinstance(text, str):
                        raise TypeError(text)  # a JSON number would be a float
                    amount = Money(text, currency).amount
                except (TypeError, ValidationError) as error:
                    raise ValidationError(f"{path}.{currency}", text,
                                          "expected a decimal amount as text in an ISO 4217"
                                          " currency") from error
                sums[currency] = sums.get(currency, Decimal(0)) + sign * amount
    if not sums:
        return Money.zero("CNY")
    currency = max(sorted(sums), key=lambda c: abs(sums[c]))
    return Money(abs(sums[currency]), currency)


def _difference(reconciliation: Reconciliation | Money | Mapping[str, object]) -> Money:
    if isinstance(reconciliation, Money):
        return abs(reconciliation)
    if isinstance(reconciliation, Reconciliation):
        return summary_difference(reconciliation.summary())
    if isinstance(reconciliation, Mapping):
        return summary_difference(reconciliation)
    raise ValidationError("reconciliation", reconciliation,
                          "expected a Reconciliation, its summary or a Money difference")


def health(
    repository: OrderRepository,
    period: AccountingPeriod,
    reconciliation: Reconciliation | Money | Mapping[str, object] | None = None,
    *,
    now: datetime,
    lags: Iterable[timedelta] | SyncLagSource = (),
    retries: tuple[int, int] | None = None,
    thresholds: Thresholds | None = None,
    stuck_after: Mapping[int, timedelta] = STUCK_AFTER,
) -> HealthReport:
    """The health of ``period`` (a day or a month) as of ``now``.

    Orders are counted in the repository (:meth:`~orderkit.lifecycle.ports.
    OrderRepository.count_by_status`, a few indexed counts), never loaded: an order is
    unshipped or stuck counted from when it was due to ship (``ship_due_at``: its
    payment; a presale's ship-from day, or its balance when that came later), a presale
    waiting for its balance never.
    ``reconciliation`` is the day's :class:`~orderkit.reconcile.Reconciliation`, its
    summary (read back from a JSON report with
    :func:`orderkit.reconcile.report.json_report.read_summary`) or its difference as
    :class:`Money` (see :func:`summary_difference`); ``lags`` the sync lags of the period: a
    :class:`~orderkit.watch.ports.SyncLagSource` (the ``SyncStore`` sync runs on: the
    lags it stored for the versions received in the period, up to ``now``), or the lags
    themselves (each ``Seen.lag``); ``retries`` ``(retried, attempted)`` calls of the
    period. What is not given is shown as not measured and left out of the index.
    """
    if not isinstance(period, AccountingPeriod):
        raise ValidationError("period", period, "expected an AccountingPeriod")
    as_of = ensure_aware(now, path="now")
    limits = thresholds or Thresholds()
    if not isinstance(limits, Thresholds):
        raise ValidationError("thresholds", thresholds, "expected Thresholds")
    start, end = period.bounds()
    count = repository.count_by_status

    created = count("created_at", start, end)
    total = sum(created.values())
    cancelled = created.get(_S.CANCELLED, 0)

    # Only the orders whose 24 hours have run out are measured, in both counts: one due
    # to ship an hour ago and not shipped yet is neither late nor on time. An order is
    # due to ship when it was paid, a presale from the day it ships from (or from its
    # balance, when that came later); one still waiting for its balance is not due.
    cutoff = min(end, as_of - timedelta(hours=24))
    due = count("ship_due_at", start, cutoff) if cutoff > start else {}
    unshipped = sum(due.get(code, 0) for code in _TO_SHIP)
    ship_due = sum(due.values())

    for code, after in sorted(stuck_after.items()):
        if not isinstance(after, timedelta) or after <= timedelta(0):
            raise ValidationError(f"stuck_after[{code}]", after, "expected a positive timedelta")
    stuck: dict[int, int] = {}
    watched = 0
    for code, after in sorted(stuck_after.items()):
        watched += _open_since(repository, code, as_of)
        found = _open_since(repository, code, as_of - after)
        if found:
            stuck[code] = found

    if isinstance(lags, SyncLagSource):
        until = min(end, as_of)
        lags = lags.lags(start, until) if until > start else []
    measured = sorted(_checked_lags(lags))
    lag = {} if not measured else {
        f"p{p}": value for p in (50, 90, 99)
        if (value := percentile(measured, p)) is not None
    }
    within = sum(1 for value in measured if value <= limits.sync_within)

    kpis = [
        _kpi("unshipped_24h", "unshipped 24 h after payment", _share(unshipped, ship_due),
             limits.unshipped_24h, "%",
             f"{unshipped} of {ship_due} orders due to ship in the period over 24 h ago"
             if ship_due else "no order due to ship in the period over 24 h ago"),
        _kpi("stuck", "open orders stuck", _share(sum(stuck.values()), watched), limits.stuck, "%",
             f"{sum(stuck.values())} of {watched} open orders"),
        _kpi("cancellation_rate", "cancellation rate", _share(cancelled, total),
             limits.cancellation_rate, "%", f"{cancelled} of {total} orders placed"),
    ]
    if reconciliation is None:
        kpis.append(_kpi("reconciliation_difference", "reconciliation difference", None,
                         limits.reconciliation_difference, "", "no reconciliation given"))
    else:
        difference = _difference(reconciliation)
        kpis.append(_kpi("reconciliation_difference", "reconciliation difference",
                         difference.amount, limits.reconciliation_difference,
                         difference.currency, "book total against money total"))
    kpis.append(_kpi("status_sync_rate", "status changes synced in time",
                     _share(within, len(measured)), limits.status_sync_rate, "%",
                     f"{within} of {len(measured)} within {limits.sync_within}",
                     higher_is_better=True))
    retried, attempted = _checked_retries(retries)
    kpis.append(_kpi("retry_rate", "retry rate", _share(retried, attempted), limits.retry_rate,
                     "%", f"{retried} of {attempted} calls retried" if attempted
                     else "no calls counted"))
    return HealthReport(period, as_of, tuple(kpis), created, stuck, dict(stuck_after), lag,
                        _index(kpis))


def _open_since(repository: OrderRepository, code: int, until: datetime) -> int:
    """How many orders in status ``code`` have been in it since before ``until``, as the
    stuck KPI measures them: an order waiting to ship (PAID, PACKED) not before it was
    due to ship (a presale, from its ship-from day or its later balance), and a presale
    waiting for its balance (PENDING_PAYMENT) not at all. Only those statuses filter
    their rows; the others are counted from the index alone."""
    leave_out = _WAITING if code == _S.PENDING_PAYMENT else ()
    due_by = until if code in _TO_SHIP else None
    return repository.count_by_status("status_since", None, until, (code,),
                                      leave_out=leave_out, due_by=due_by).get(code, 0)


def _index(kpis: Iterable[Kpi]) -> Decimal | None:
    """100 x the weighted mean of the measured KPIs' scores (``None`` when none is)."""
    weight = Decimal(0)
    total = Decimal(0)
    for kpi in kpis:
        if kpi.score is not None:
            weight += WEIGHTS[kpi.name]
            total += WEIGHTS[kpi.name] * kpi.score
    if not weight:
        return None
    return (Decimal(100) * total / weight).quantize(Decimal("0.1"))


def _checked_lags(lags: Iterable[timedelta]) -> list[timedelta]:
    if isinstance(lags, str | bytes) or not isinstance(lags, Iterable):
        raise ValidationError("lags", lags, "expected timedeltas")
    out = []
    for index, value in enumerate(lags):
        if not isinstance(value, timedelta):
            raise ValidationError(f"lags[{index}]", value, "expected a timedelta")
        out.append(max(value, timedelta(0)))  # a negative lag is two clocks disagreeing
    return out


def _checked_retries(retries: tuple[int, int] | None) -> tuple[int, int]:
    if retries is None:
        return 0, 0
    if (not isinstance(retries, tuple) or len(retries) != 2
            or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in retries)
            or retries[0] > retries[1]):
        raise ValidationError("retries", retries,
                              "expected (retried, attempted) counts, retried <= attempted")
    return retries
