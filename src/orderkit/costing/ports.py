"""What costing asks of the host: the product cost of a SKU on a date."""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

from orderkit.model.money import Money

__all__ = ["CostCatalog"]


@runtime_checkable
class CostCatalog(Protocol):
    """Product costs by SKU, as of a date (purchase prices change)."""

    def unit_cost(self, sku: str, on: date) -> Money | None:
        """What one unit of ``sku`` cost the merchant on ``on``; ``None`` when unknown."""
        ...
