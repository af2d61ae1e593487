"""What fulfilment asks of the host: which lot a line would ship from."""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["Lot", "LotCatalog"]


@attrs.frozen
class Lot:
    """A batch of one SKU with its expiry date."""

    lot_id: str
    sku: str
    expires_on: date


@runtime_checkable
class LotCatalog(Protocol):
    """The warehouse's lots: the one ``qty`` units of ``sku`` would ship from on ``on``
    (by the warehouse's own rule, first-expiring-first-out usually)."""

    def lot_for(self, sku: str, qty: int, on: date) -> Lot | None:
        """The lot, or ``None`` when the warehouse cannot say."""
        ...
