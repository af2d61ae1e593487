"""The ledger's own refusals that name more than a lock: units asked back beyond what
an order shipped, or beyond what it recorded as shipped before the stock count."""

from __future__ import annotations

from typing import ClassVar

from orderkit.model.errors import RefusedError

__all__ = ["RestockExceedsShipment", "UnrecordExceedsRecord", "UnshipExceedsShipment"]


class _ExceedsShipment(RefusedError):
    """More units of ``sku`` asked back than ``order_id`` has out of the building:
    ``units`` were asked; the ledger booked ``shipped`` units of ``sku`` leaving for the
    order (its ``COMMIT`` and ``SHIP_UNLOCKED`` entries, less what ``UNCOMMIT`` and
    ``UNSHIP_UNLOCKED`` took back) and ``restocked`` already back (its ``RESTOCK``
    entries), so at most ``shipped - restocked`` may come back."""

    #: The message, formatted with the fields and ``left`` (``shipped - restocked``).
    _message: ClassVar[str]

    def __init__(self, order_id: str, sku: str, units: int, shipped: int, restocked: int) -> None:
        left = max(0, shipped - restocked)
        super().__init__(self._message.format(
            order_id=order_id, sku=sku, units=units, shipped=shipped, restocked=restocked,
            left=left,
        ))
        self.order_id = order_id
        self.sku = sku
        self.units = units
        self.shipped = shipped
        self.restocked = restocked


class RestockExceedsShipment(_ExceedsShipment):
    """A restock of more units of ``sku`` than ``order_id`` has out of the building
    (the fields as for every refusal of units beyond a shipment: ``units`` asked,
    ``shipped`` and ``restocked`` booked for the order)."""

    _message = (
        "order {order_id}: cannot restock {units} units of {sku}: it shipped {shipped}"
        " and {restocked} were restocked already, so at most {left} may come back"
    )


class UnshipExceedsShipment(_ExceedsShipment):
    """An ``unship`` (or the part of an ``uncommit`` beyond its lock) of more units of
    ``sku`` than ``order_id`` has out of the building (added in 0.3): at most ``shipped
    - restocked`` units can be taken back from its shipments (the fields as for
    :class:`RestockExceedsShipment`)."""

    _message = (
        "order {order_id}: cannot take back {units} units of {sku} from its shipments:"
        " it shipped {shipped} and {restocked} were restocked, so at most {left}"
    )


class UnrecordExceedsRecord(RefusedError):
    """An ``unrecord_shipped`` of more units of ``sku`` than ``order_id`` has recorded as
    shipped before the stock count (added in 0.3): ``units`` were asked; ``recorded``
    is what its ``record_shipped`` calls booked for it (their ``RECEIVE`` entries) less
    what ``UNRECORD_SHIPPED`` entries took back already."""

    def __init__(self, order_id: str, sku: str, units: int, recorded: int) -> None:
        super().__init__(
            f"order {order_id}: cannot take back {units} units of {sku} recorded as shipped"
            f" before the stock count: {max(0, recorded)} are recorded for it"
        )
        self.order_id = order_id
        self.sku = sku
        self.units = units
        self.recorded = recorded
