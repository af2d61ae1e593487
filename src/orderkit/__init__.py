"""orderkit: no order left in a grey state.

The public API is re-exported here; subsystems live in their own modules
(``orderkit.lifecycle``, ``orderkit.inventory``, ``orderkit.mapping``, ...).
Internal modules never import from this package root.
"""

from orderkit.model.errors import OrderkitError
from orderkit.model.ids import fingerprint, parse_recon_id, recon_id
from orderkit.model.money import Money
from orderkit.model.orders import (
    Address,
    Adjustment,
    AdjustmentKind,
    AfterSale,
    Bearer,
    CarrierScan,
    Hold,
    HoldKind,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    OrderTotals,
    Payment,
    PaymentKind,
    PaymentTerms,
    RefundValue,
    Return,
    Shipment,
    SoldValue,
    TrackingEvent,
    TrackingStatus,
)
from orderkit.model.serialization import from_dict, to_dict
from orderkit.model.time import accounting_date, accounting_period, parse_timestamp

__version__ = "0.1.0"

__all__ = [
    "Address",
    "Adjustment",
    "AdjustmentKind",
    "AfterSale",
    "Bearer",
    "CarrierScan",
    "Hold",
    "HoldKind",
    "LineStatus",
    "Money",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OrderTotals",
    "OrderkitError",
    "Payment",
    "PaymentKind",
    "PaymentTerms",
    "RefundValue",
    "Return",
    "Shipment",
    "SoldValue",
    "TrackingEvent",
    "TrackingStatus",
    "__version__",
    "accounting_date",
    "accounting_period",
    "fingerprint",
    "from_dict",
    "parse_recon_id",
    "parse_timestamp",
    "recon_id",
    "to_dict",
]
