"""Every Protocol a host may implement, on one page.

Each capability keeps its own ports in its ``ports.py``; this module only re-exports
them so that the integration points can be read in one place. orderkit's core never
touches a database, a clock, a queue or a carrier API directly: it talks to these ports.
``orderkit.adapters`` ships memory and SQLite implementations; a host can write its own
and prove it with the matching contract suite in :mod:`orderkit.testing`.

Every port method that can fail for infrastructure reasons raises
:class:`~orderkit.model.errors.StoreError` (with the driver error chained), never the
driver's own exception type.
"""

from orderkit.costing.ports import CostCatalog
from orderkit.fulfilment.ports import LotCatalog
from orderkit.idempotency.ports import IdempotencyStore
from orderkit.inventory.ports import InventoryStore, InventoryTransaction
from orderkit.lifecycle.ports import CarrierGateway, EventSink, OrderRepository
from orderkit.model.time import Clock
from orderkit.numbering.ports import ReconIdSequence
from orderkit.outbox.ports import OutboxRetention, OutboxStore, StockEffects
from orderkit.reconcile.ports import Notifier
from orderkit.sync.ports import ChannelClient, OrderLookup, SyncStore
from orderkit.watch.ports import KeyedWatchState, SyncLagSource, WatchRetention, WatchState

__all__ = [
    "CarrierGateway",
    "ChannelClient",
    "Clock",
    "CostCatalog",
    "EventSink",
    "IdempotencyStore",
    "InventoryStore",
    "InventoryTransaction",
    "KeyedWatchState",
    "LotCatalog",
    "Notifier",
    "OrderLookup",
    "OrderRepository",
    "OutboxRetention",
    "OutboxStore",
    "ReconIdSequence",
    "StockEffects",
    "SyncLagSource",
    "SyncStore",
    "WatchRetention",
    "WatchState",
]
