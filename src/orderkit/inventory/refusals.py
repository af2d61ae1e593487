"""The ledger's own refusals that name more than a lock: a restock beyond a shipment."""

from __future__ import annotations

from orderkit.model.errors import RefusedError

__all__ = ["RestockExceedsShipment", "UnshipExceedsShipment"]


class RestockExceedsShipment(RefusedError):
    """A restock of more units of ``sku`` than ``order_id`` has out of the building.

    ``units`` were asked back; the ledger booked ``shipped`` units of ``sku`` leaving for
    the order (its ``COMMIT`` and ``SHIP_UNLOCKED`` entries) and ``restocked`` already
    back (its ``RESTOCK`` entries), so at most ``shipped - restocked`` may return.
    """

    def __init__(self, order_id: str, sku: str, units: int, shipped: int, restocked: int) -> None:
        left = max(0, shipped - restocked)
        super().__init__(
            f"order {order_id}: cannot restock {units} units of {sku}: it shipped {shipped}"
            f" and {restocked} were restocked already, so at most {left} may come back"
        )
        self.order_id = order_id
        self.sku = sku
        self.units = units
        self.shipped = shipped
        self.restocked = restocked


class UnshipExceedsShipment(RefusedError):
    """An ``unship`` of more units of ``sku`` than ``order_id`` has out of the building
    (added in 0.3): at most ``shipped - restocked`` units can be taken back from its
    shipments (the fields as for :class:`RestockExceedsShipment`)."""

    def __init__(self, order_id: str, sku: str, units: int, shipped: int, restocked: int) -> None:
        left = max(0, shipped - restocked)
        super().__init__(
            f"order {order_id}: cannot take back {units} units of {sku} from its shipments:"
            f" it shipped {shipped} and {restocked} were restocked, so at most {left}"
        )
        self.order_id = order_id
        self.sku = sku
        self.units = units
        self.shipped = shipped
        self.restocked = restocked
