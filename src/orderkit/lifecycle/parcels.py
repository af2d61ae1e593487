"""Parcels a carrier scan recorded before the warehouse's ``ship`` did.

A carrier's scan may arrive before the warehouse's ``ship`` of the same parcel (the
carrier's push is faster than the warehouse system's callback), or instead of it (the
callback was lost). The scan records the parcel as a shipment with what the carrier
tells: its waybill (or none) and its scans; a scan that moves an order no ``ship``
reached assumes every open unit left with it (:attr:`Shipment.forced`). What is in the
parcel is the warehouse's to say: the ``ship`` that follows reports that parcel, and the
handler records its carrier, waybill and units on the scan's shipment instead of adding
a second one.
"""

from __future__ import annotations

from orderkit.model.orders import Order, Shipment

__all__ = ["scan_target", "scanned_parcel"]


def scanned_parcel(order: Order, waybill: object) -> int | None:
    """The index in ``order.shipments`` of the parcel a ``ship`` with ``waybill``
    reports, when a carrier scan recorded it before any ``ship`` did; ``None`` when the
    ``ship`` is a parcel of its own.

    That is the latest shipment with ``waybill`` whose contents no ``ship`` has told
    yet (a scan's parcel with no units, or with the units the scan assumed:
    :attr:`~orderkit.model.orders.Shipment.forced`), else the latest with no waybill at
    all (a scan that named none; a ``ship`` always names one, so only a scan records
    such a shipment)."""
    return _latest(order, waybill, unfilled=True)


def scan_target(order: Order, waybill: str | None) -> int | None:
    """The index of the shipment a carrier scan of ``waybill`` is written onto: the
    latest with that waybill, else the latest scanned without one (its number comes
    with this scan); with no waybill named, the latest. ``None``: a parcel not recorded
    yet."""
    if waybill is None:
        return len(order.shipments) - 1 if order.shipments else None
    return _latest(order, waybill, unfilled=False)


def _latest(order: Order, waybill: object, *, unfilled: bool) -> int | None:
    """The latest shipment with ``waybill`` (whose units no ``ship`` told yet, when
    ``unfilled``), else the latest with no waybill."""
    shipments = order.shipments
    for i in range(len(shipments) - 1, -1, -1):
        if shipments[i].waybill == waybill and not (unfilled and _told(shipments[i])):
            return i
    for i in range(len(shipments) - 1, -1, -1):
        if not shipments[i].waybill:
            return i
    return None


def _told(shipment: Shipment) -> bool:
    """Whether a ``ship`` told what ``shipment`` carries: it has units no scan assumed."""
    return bool(shipment.lines) and not shipment.forced
