"""Alerts: what orderkit hands a :class:`~orderkit.reconcile.ports.Notifier` when people must act.

An alert is a plain immutable value so that any notifier (e-mail, a chat webhook, a
ticket system, a list in a test) can deliver, store or compare it. ``kind`` is a dotted
machine name (``"reconciliation.difference"``), ``subject`` what it is about (a day, an
order), ``details`` the facts as ``(name, value)`` text pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from orderkit.model import _checks
from orderkit.model.errors import ValidationError
from orderkit.model.time import ensure_aware

__all__ = ["SEVERITIES", "Alert"]

SEVERITIES: Final = ("info", "warning", "critical")


def _check_severity(_instance: object, _attribute: object, value: Any) -> None:
    if value not in SEVERITIES:
        raise ValidationError("severity", value, f"expected one of {', '.join(SEVERITIES)}")


def _to_at(value: object) -> datetime:
    return ensure_aware(value, path="at")


def _to_details(value: object) -> tuple[tuple[str, str], ...]:
    items: Iterable[object] = value.items() if isinstance(value, Mapping) else value  # type: ignore[assignment]
    if isinstance(value, str) or not hasattr(items, "__iter__"):
        raise ValidationError("details", value, "expected a mapping or (name, value) pairs")
    pairs: list[tuple[str, str]] = []
    for item in items:
        if (
            not isinstance(item, tuple)
            or len(item) != 2
            or not all(isinstance(part, str) for part in item)
        ):
            raise ValidationError("details", item, "expected (name, value) text pairs")
        pairs.append((item[0], item[1]))
    return tuple(pairs)


@attrs.frozen
class Alert:
    """One alert, immutable.

    >>> from datetime import datetime, UTC
    >>> alert = Alert("reconciliation.difference", "warning", "2026-02-16",
    ...               "differences CNY 812.00 over CNY 500.00",
    ...               datetime(2026, 2, 17, 1, 0, tzinfo=UTC), {"total": "812.00"})
    >>> alert.detail("total")
    '812.00'
    """

    kind: str = attrs.field(validator=_checks.text(allow_empty=False))
    severity: str = attrs.field(validator=_check_severity)
    subject: str = attrs.field(validator=_checks.text())
    message: str = attrs.field(validator=_checks.text())
    at: datetime = attrs.field(converter=_to_at)
    details: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_to_details)

    def detail(self, name: str, default: str = "") -> str:
        """The value of detail ``name`` (``default`` when absent)."""
        for key, value in self.details:
            if key == name:
                return value
        return default
