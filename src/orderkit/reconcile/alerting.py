"""Daily difference alerts: tell finance the day the breaks pile up, not at month end.

For each accounting day (in the reconciliation's zone) the absolute amounts of the
outcomes that are real breaks are added up; a day whose total is above the threshold
(``CNY 500.00`` by default) yields one :class:`~orderkit.model.alerts.Alert`. Fees and coupons
that the records themselves explain, pending records and suggestions do not count:
they are expected, or not yet a difference.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from orderkit.model.alerts import Alert
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.time import SystemClock, accounting_date
from orderkit.reconcile.outcomes import Reconciliation
from orderkit.reconcile.rules import DEFAULT_ALERT_THRESHOLD

if TYPE_CHECKING:
    from orderkit.model.time import Clock
    from orderkit.reconcile.ports import Notifier

__all__ = ["ALERT_KINDS", "alert_differences", "check_threshold", "daily_difference_alerts"]

#: The difference kinds that count towards the daily total.
ALERT_KINDS: Final = frozenset(
    {
        "rounding",
        "amount_mismatch",
        "missing_left",
        "missing_right",
        "duplicate",
        "partial_refund",
        "delayed_refund",
        "cross_period",
        "unpaired_exchange",
    }
)


def check_threshold(threshold: object, path: str = "threshold") -> Money:
    """``threshold`` if it is a threshold: Money, zero or more, in whole minor units.

    A negative threshold would alert every day, a sub-fen one is no amount a bill holds;
    either is refused with a :class:`ValidationError` on ``path``.
    """
    if not isinstance(threshold, Money):
        raise ValidationError(path, threshold, "expected Money, like Money('500.00', 'CNY')")
    if threshold.amount < 0 or not threshold.is_whole_minor():
        raise ValidationError(
            path,
            f"{threshold.amount} {threshold.currency}",
            f"expected an amount of 0 or more in whole {threshold.currency} minor units",
        )
    return threshold


def daily_difference_alerts(
    reconciliation: Reconciliation,
    *,
    threshold: Money = DEFAULT_ALERT_THRESHOLD,
    kinds: frozenset[str] = ALERT_KINDS,
    clock: Clock | None = None,
) -> list[Alert]:
    """One alert per accounting day whose break total exceeds ``threshold``
    (:func:`check_threshold`: zero or more, in whole minor units)."""
    check_threshold(threshold)
    now = (clock if clock is not None else SystemClock()).now()
    tz = reconciliation.rules.tz
    totals: dict[date, Decimal] = defaultdict(Decimal)
    counts: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for outcome in reconciliation.outcomes:
        if outcome.kind not in kinds or not outcome.records:
            continue
        difference = outcome.difference.get(threshold.currency)
        if difference is None:
            continue
        day = accounting_date(min(r.at for r in outcome.records), tz)
        totals[day] += abs(difference)
        counts[day][outcome.kind] += 1
    alerts = []
    for day in sorted(totals):
        total = totals[day]
        if total <= threshold.amount:
            continue
        by_kind = ", ".join(f"{kind}={n}" for kind, n in sorted(counts[day].items()))
        alerts.append(
            Alert(
                "reconciliation.difference",
                "warning",
                f"{reconciliation.left_source} vs {reconciliation.right_source} {day}",
                f"differences on {day} total {threshold.currency} {total}"
                f" (threshold {threshold.currency} {threshold.amount}): {by_kind}",
                now,
                {
                    "day": day.isoformat(),
                    "total": str(total),
                    "threshold": str(threshold.amount),
                    "currency": threshold.currency,
                    "kinds": by_kind,
                },
            )
        )
    return alerts


def alert_differences(
    reconciliation: Reconciliation,
    notifier: Notifier,
    *,
    threshold: Money = DEFAULT_ALERT_THRESHOLD,
    clock: Clock | None = None,
) -> list[Alert]:
    """Send :func:`daily_difference_alerts` through ``notifier``; returns what was sent."""
    alerts = daily_difference_alerts(reconciliation, threshold=threshold, clock=clock)
    for alert in alerts:
        notifier.notify(alert)
    return alerts
