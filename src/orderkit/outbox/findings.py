"""What the relay finds out while it moves stock, and owes the host in turn.

A shipment is a physical fact: the ledger takes shipped units out of ``on_hand`` even
when their lock had lapsed or was released. When that leaves a SKU short (units
promised to other orders are gone) the relay does not hide it: it enqueues an
:class:`OversellDetected` for the host's sink. When a payment's confirmation finds units
whose lock had already lapsed, it enqueues a :class:`ReservationLapsed`: a paid order
never loses its reservation without an event that says so. When the ledger's release
breaker parks a cancel's release for review, it enqueues a :class:`ReleaseParked`: a
cancelled order never keeps its stock locked without an event that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

__all__ = ["OversellDetected", "ReleaseParked", "ReservationLapsed"]


@attrs.frozen
class OversellDetected:
    """``units`` of ``sku`` shipped for ``order_ids`` that the ledger no longer had
    available: ``available`` went below zero. ``cause`` is the stock message applied."""

    sku: str
    units: int
    order_ids: tuple[str, ...]
    at: datetime
    cause: str


@attrs.frozen
class ReservationLapsed:
    """A payment confirmed ``order_id``'s lock after some of its units had expired:
    ``lines`` (SKU -> units) are no longer reserved for it. ``cause`` is the message."""

    order_id: str
    lines: Mapping[str, int]
    at: datetime
    cause: str


@attrs.frozen
class ReleaseParked:
    """The ledger's release breaker held back the release of ``units`` of ``sku`` that
    ``order_id`` let go of (a cancel): they stay locked until a person approves it,
    with ``InventoryLedger.approve_release(entry_id, actor=...)`` (``pending_review()``
    lists every release waiting). ``cause`` is the stock message applied. The lock id
    is not given: it releases stock, and the event goes out to the host's sink."""

    order_id: str
    sku: str
    units: int
    entry_id: str
    at: datetime
    cause: str
