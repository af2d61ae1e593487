"""Releasing a wave: its orders are packed through the lifecycle, once."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from orderkit.fulfilment.waves import Wave
from orderkit.lifecycle.events import Event
from orderkit.lifecycle.service import OrderService
from orderkit.model.errors import OrderkitError, ValidationError
from orderkit.model.time import ensure_aware

__all__ = ["SECOND_CHECK", "release_wave"]


#: The hold that keeps a packed order from shipping until a second check.
SECOND_CHECK = "second_check"


def release_wave(
    wave: Wave,
    service: OrderService,
    *,
    at: datetime,
    wave_id: str,
    second_check: Collection[str] = (),
) -> dict[str, OrderkitError]:
    """Apply ``pack`` to every selected order of ``wave`` through ``service`` (event id
    ``<wave_id>:<order_id>``, so releasing the same wave again packs nothing twice).

    An order with a line whose SKU is in ``second_check`` (high-value or easily
    confused items) and units still to ship is also put on a ``second_check`` hold
    naming those SKUs (a partly shipped order too): its units cannot ship until
    someone releases the hold after checking the parcel (list ``second_check`` in the
    policy's ``sensitive_holds`` to make that a second person).

    Stock: with an inventory ledger on ``service``, selected orders that hold no lock
    yet (imported, or synced without a ledger) are reserved first in one
    :meth:`~orderkit.lifecycle.OrderService.reserve` call (``lock_many``); an order
    placed through the service holds its units already (its lock is confirmed at
    payment). Returns the orders not packed, by id, with why (short of stock, or a
    hold placed since the wave was planned, say); the others are packed.
    """
    if not isinstance(wave, Wave):
        raise ValidationError("wave", wave, "expected a Wave")
    if not isinstance(service, OrderService):
        raise ValidationError("service", service, "expected an OrderService")
    at = ensure_aware(at, path="at")
    if isinstance(second_check, str) or not isinstance(second_check, Collection):
        raise ValidationError("second_check", second_check, "expected a collection of SKUs")
    checked = frozenset(second_check)
    refused: dict[str, OrderkitError] = {}
    if service.inventory is not None:
        # Orders that came in without a lock take their stock now, in one ledger call;
        # one that cannot is not packed.
        refused.update(service.reserve(wave.selected, at=at))
    for order_id in wave.selected:
        if order_id in refused:
            continue
        try:
            packed = service.handle(
                order_id, Event("pack", event_id=f"{wave_id}:{order_id}", at=at)
            ).order
            # Only the SKUs still to ship: not a line shipped already (a partly shipped
            # order) or cancelled in full.
            skus = sorted(checked & packed.open_units_by_sku.keys())
            if skus and packed.hold(SECOND_CHECK) is None:
                service.handle(order_id, Event(
                    "hold", event_id=f"{wave_id}:{order_id}:check", at=at,
                    data={"kind": SECOND_CHECK,
                          "reason": "check before shipping: " + ", ".join(skus)},
                ))
        except OrderkitError as error:
            refused[order_id] = error
    return refused
