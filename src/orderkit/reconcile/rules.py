"""The options of a reconciliation, validated once, before any record is touched.

Every threshold that decides between "matched" and "difference" lives here, so a report
can print the exact rules it was produced with and two runs with the same rules give the
same outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from orderkit.model import _checks
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money, minor_digits
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, zone

__all__ = ["DEFAULT_ALERT_THRESHOLD", "Rules"]

DEFAULT_ALERT_THRESHOLD: Final = Money("500.00", "CNY")


def _positive_delta(path: str) -> _checks.Validator:
    def check(_instance: object, _attribute: object, value: object) -> None:
        if not isinstance(value, timedelta) or value < timedelta(0):
            raise ValidationError(path, value, "expected a timedelta >= 0")

    return check


def _check_tz(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, str):
        raise ValidationError("tz", value, "expected an IANA time zone name")
    zone(value, path="tz")


def _check_tolerance(_instance: object, _attribute: object, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Money) or value.amount < 0:
        raise ValidationError("amount_tolerance", value, "expected a Money >= 0 or None")


def _to_cutoff(value: object) -> datetime | None:
    return _checks.optional_aware("cutoff")(value)


def _check_period(_instance: object, _attribute: object, value: object) -> None:
    if value not in ("day", "month"):
        raise ValidationError("period", value, "expected 'day' or 'month'")


@attrs.frozen
class Rules:
    """How records are matched and differences classified.

    * ``amount_tolerance``: a pair whose amounts differ by at most this is a ``rounding``
      difference (and the amount-and-time pass may pair within it). ``None`` means one
      minor unit (0.01 for CNY) of the records' currency; a ``Money`` applies to records
      of its currency, others are compared exactly.
    * ``time_window``: how far apart in time two records may be for the amount-and-time
      and subset-sum passes (default 2 days: banks settle T+1). Against the bank,
      :func:`~orderkit.reconcile.settle` takes no credit from before a payout's day.
    * ``tz`` and ``period``: the accounting zone and period (``"day"`` or ``"month"``)
      used to decide ``cross_period``.
    * ``cutoff``: unmatched records at or after this instant are ``pending`` (not yet
      due), not breaks.
    * ``refund_delay``: a refund pair further apart than this is a ``delayed_refund``.
    * ``max_group`` and ``max_candidates``: bounds of the subset-sum search (at most
      ``max_group`` records chosen among the ``max_candidates`` nearest in time).
    """

    amount_tolerance: Money | None = attrs.field(default=None, validator=_check_tolerance)
    time_window: timedelta = attrs.field(
        default=timedelta(days=2), validator=_positive_delta("time_window")
    )
    tz: str = attrs.field(default=DEFAULT_ACCOUNTING_TZ, validator=_check_tz)
    period: Literal["day", "month"] = attrs.field(default="month", validator=_check_period)
    cutoff: datetime | None = attrs.field(default=None, converter=_to_cutoff)
    refund_delay: timedelta = attrs.field(
        default=timedelta(days=7), validator=_positive_delta("refund_delay")
    )
    max_group: int = attrs.field(default=3, validator=_checks.count(minimum=2))
    max_candidates: int = attrs.field(default=10, validator=_checks.count(minimum=2))

    @classmethod
    def build(cls, rules: Rules | None, options: Mapping[str, object]) -> Rules:
        """``rules`` (or the defaults) with ``options`` applied on top."""
        base = rules if rules is not None else cls()
        if rules is not None and not isinstance(rules, Rules):
            raise ValidationError("rules", rules, "expected a Rules or None")
        names = {field.name for field in attrs.fields(cls)}
        for name in options:
            if name not in names:
                raise ValidationError(
                    name, options[name], f"unknown option; expected {sorted(names)}"
                )
        return attrs.evolve(base, **options)  # type: ignore[arg-type]

    def tolerance(self, currency: str) -> Decimal:
        """The rounding tolerance for amounts in ``currency``."""
        if self.amount_tolerance is None:
            return Decimal(1).scaleb(-minor_digits(currency))
        if self.amount_tolerance.currency == currency:
            return self.amount_tolerance.amount
        return Decimal(0)
