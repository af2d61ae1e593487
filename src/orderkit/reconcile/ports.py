"""Where reconciliation hands alerts for people to act on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from orderkit.model.alerts import Alert

__all__ = [
    "Notifier",
]


@runtime_checkable
class Notifier(Protocol):
    """Delivers alerts (SLA breaches, reconciliation differences) to people."""

    def notify(self, alert: Alert) -> None:
        """Deliver one :class:`~orderkit.model.alerts.Alert`."""
        ...
