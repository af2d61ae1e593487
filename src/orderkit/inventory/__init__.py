"""The inventory lock ledger: no oversell, no stranded stock.

>>> from datetime import timedelta
>>> from orderkit.adapters.memory import MemoryInventoryStore
>>> ledger = InventoryLedger(MemoryInventoryStore(), secret=b"sixteen+ bytes of secret")
>>> _ = ledger.receive("TEA", 10, reference="PO-1")
>>> lock = ledger.lock("ORD-1", {"TEA": 4}, ttl=timedelta(minutes=30))
>>> ledger.release(lock.lock_id, {"TEA": 1}).outcome
'released'
>>> ledger.stock("TEA")
StockLevel(sku='TEA', on_hand=10, locked=3, available=7)
"""

from orderkit.inventory.entries import (
    NEVER,
    Balance,
    EntryKind,
    InventoryLock,
    LedgerEntry,
    LedgerOutcome,
    LineOccupancy,
    LockLine,
    ParkedRelease,
    ReleaseResult,
    StockCall,
    StockLevel,
)
from orderkit.inventory.ledger import (
    DEFAULT_RELEASE_LIMIT,
    DEFAULT_SKEW_TOLERANCE,
    MAX_TTL,
    InventoryLedger,
)
from orderkit.inventory.refusals import (
    RestockExceedsShipment,
    UnrecordExceedsRecord,
    UnshipExceedsShipment,
)
from orderkit.inventory.rules import apply_entry
from orderkit.inventory.tokens import LockTokens
from orderkit.inventory.verify import (
    Drift,
    Oversell,
    ParkedUnits,
    ShipmentMismatch,
    VerifyReport,
    verify_store,
)
from orderkit.inventory.views import available_units, held_units

__all__ = [
    "DEFAULT_RELEASE_LIMIT",
    "DEFAULT_SKEW_TOLERANCE",
    "MAX_TTL",
    "NEVER",
    "Balance",
    "Drift",
    "EntryKind",
    "InventoryLedger",
    "InventoryLock",
    "LedgerEntry",
    "LedgerOutcome",
    "LineOccupancy",
    "LockLine",
    "LockTokens",
    "Oversell",
    "ParkedRelease",
    "ParkedUnits",
    "ReleaseResult",
    "RestockExceedsShipment",
    "ShipmentMismatch",
    "StockCall",
    "StockLevel",
    "UnrecordExceedsRecord",
    "UnshipExceedsShipment",
    "VerifyReport",
    "apply_entry",
    "available_units",
    "held_units",
    "verify_store",
]
