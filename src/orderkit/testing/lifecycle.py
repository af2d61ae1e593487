"""Process-race jobs for the lifecycle, for use with :func:`orderkit.testing.processes.race`.

Integrators who write their own ``OrderRepository`` prove it under real concurrency by
racing several processes that push events through :class:`~orderkit.lifecycle.OrderService`
onto one order, then checking every event was applied exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence

from orderkit.lifecycle import Event, OrderService
from orderkit.lifecycle.ports import OrderRepository

__all__ = ["handle_events"]


def handle_events(
    order_id: str, events: Sequence[Event], repository: OrderRepository
) -> tuple[list[bool], int]:
    """Job: handle ``events`` in turn; returns each one's ``changed`` and the number of
    concurrency conflicts the service re-read after."""
    service = OrderService(repository, max_attempts=1000)
    changed = [service.handle(order_id, event).changed for event in events]
    return changed, service.conflicts
