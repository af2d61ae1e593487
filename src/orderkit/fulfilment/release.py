"""Releasing a wave: its orders are packed through the lifecycle, once."""

from __future__ import annotations

from datetime import datetime

from orderkit.fulfilment.waves import Wave
from orderkit.lifecycle.events import Event
from orderkit.lifecycle.service import OrderService
from orderkit.model.errors import OrderkitError
from orderkit.model.time import ensure_aware

__all__ = ["release_wave"]


def release_wave(
    wave: Wave, service: OrderService, *, at: datetime, wave_id: str
) -> dict[str, OrderkitError]:
    """Apply ``pack`` to every selected order of ``wave`` through ``service`` (event id
    ``<wave_id>:<order_id>``, so releasing the same wave again packs nothing twice).

    Stock: an order placed with an inventory ledger already holds its units (its lock
    is confirmed at payment). Returns the orders the lifecycle refused (a hold placed
    since the wave was planned, say), by id, with the refusal; the others are packed.
    """
    at = ensure_aware(at, path="at")
    refused: dict[str, OrderkitError] = {}
    for order_id in wave.selected:
        try:
            service.handle(order_id, Event("pack", event_id=f"{wave_id}:{order_id}", at=at))
        except OrderkitError as error:
            refused[order_id] = error
    return refused
