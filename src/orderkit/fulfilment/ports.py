"""What fulfilment asks of the host: which lot a line would ship from."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol, runtime_checkable

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import ValidationError

__all__ = ["Lot", "LotCatalog"]


@attrs.frozen
class Lot:
    """A batch of one SKU with its expiry date (``lot_id`` and ``sku`` non-empty)."""

    lot_id: str = attrs.field(validator=check.text(allow_empty=False))
    sku: str = attrs.field(validator=check.text(allow_empty=False))
    expires_on: date = attrs.field()

    @expires_on.validator
    def _expires_on(self, _attribute: object, value: object) -> None:
        # A datetime is a date too, but days left are counted between dates.
        if not isinstance(value, date) or isinstance(value, datetime):
            raise ValidationError("expires_on", value, "expected a date")


@runtime_checkable
class LotCatalog(Protocol):
    """The warehouse's lots: the one ``qty`` units of ``sku`` would ship from on ``on``
    (by the warehouse's own rule, first-expiring-first-out usually): a :class:`Lot` of
    that ``sku``, or ``None``; any other answer is a ``ValidationError`` naming
    ``lots.lot_for``."""

    def lot_for(self, sku: str, qty: int, on: date) -> Lot | None:
        """The lot, or ``None`` when the warehouse cannot say."""
        ...
