"""The transactional outbox: what a saved decision owes, delivered exactly once in effect.

* :class:`OutboxMessage`: one domain event for the host's sink, or one stock movement for
  the inventory ledger, saved in the same transaction as its order
  (``OrderRepository.save(..., outbox=...)``).
* :class:`OutboxRelay`: ``run_once(limit)`` delivers pending messages in batches, in
  order per order, and reports what it did (:class:`RelayReport`, with the lag);
  failed messages are retried, then kept as dead letters until replayed.
* :class:`OutboxStore` and :class:`StockEffects`: the ports (every order repository
  adapter is an outbox store); :class:`OutboxRetention`, the optional one behind
  ``OutboxRelay.purge`` (delivered messages deleted after a retention).
"""

from orderkit.outbox.findings import OversellDetected, ReleaseParked, ReservationLapsed
from orderkit.outbox.messages import (
    STOCK_COMMIT,
    STOCK_CONFIRM,
    STOCK_RECORD_SHIPPED,
    STOCK_RELEASE,
    STOCK_RESTOCK,
    STOCK_SHIP,
    STOCK_UNCOMMIT,
    STOCK_UNRECORD_SHIPPED,
    STOCK_UNSHIP,
    DeliveryStatus,
    OutboxMessage,
    StoredMessage,
    message_id,
)
from orderkit.outbox.ports import (
    OutboxRetention,
    OutboxStore,
    StockCall,
    StockEffects,
    StockResult,
)
from orderkit.outbox.relay import OutboxRelay, RelayReport

__all__ = [
    "STOCK_COMMIT",
    "STOCK_CONFIRM",
    "STOCK_RECORD_SHIPPED",
    "STOCK_RELEASE",
    "STOCK_RESTOCK",
    "STOCK_SHIP",
    "STOCK_UNCOMMIT",
    "STOCK_UNRECORD_SHIPPED",
    "STOCK_UNSHIP",
    "DeliveryStatus",
    "OutboxMessage",
    "OutboxRelay",
    "OutboxRetention",
    "OutboxStore",
    "OversellDetected",
    "RelayReport",
    "ReleaseParked",
    "ReservationLapsed",
    "StockCall",
    "StockEffects",
    "StockResult",
    "StoredMessage",
    "message_id",
]
