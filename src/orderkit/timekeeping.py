"""Alias of :mod:`orderkit.model.time`, kept so that code written against 0.1 keeps importing.

New code imports from :mod:`orderkit` (the public API) or :mod:`orderkit.model.time`;
orderkit's own modules never import this one.
"""

from orderkit.model.time import (
    DEFAULT_ACCOUNTING_TZ,
    MILLIS_THRESHOLD,
    UTC,
    AccountingPeriod,
    Clock,
    SystemClock,
    accounting_date,
    accounting_period,
    ensure_aware,
    parse_timestamp,
    zone,
)

__all__ = [
    "DEFAULT_ACCOUNTING_TZ",
    "MILLIS_THRESHOLD",
    "UTC",
    "AccountingPeriod",
    "Clock",
    "SystemClock",
    "accounting_date",
    "accounting_period",
    "ensure_aware",
    "parse_timestamp",
    "zone",
]
