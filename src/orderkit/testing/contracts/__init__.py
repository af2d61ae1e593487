"""Contract suites: abstract test classes, one per port, for pytest to run.

Each class is named ``...Contract`` (so pytest does not collect it by itself) and has a
``create_...()`` hook. Subclass it as ``Test...`` in a test module::

    class TestMyRepository(OrderRepositoryContract):
        def create_repository(self) -> OrderRepository:
            return MyRepository(...)
"""

from orderkit.testing.contracts.idempotency import IdempotencyStoreContract
from orderkit.testing.contracts.inventory import InventoryStoreContract
from orderkit.testing.contracts.orders import OrderRepositoryContract
from orderkit.testing.contracts.outbox import OutboxRetentionContract, OutboxStoreContract
from orderkit.testing.contracts.sequences import ReconIdSequenceContract
from orderkit.testing.contracts.sync import SyncStoreContract
from orderkit.testing.contracts.watch import WatchStateContract

__all__ = [
    "IdempotencyStoreContract",
    "InventoryStoreContract",
    "OrderRepositoryContract",
    "OutboxRetentionContract",
    "OutboxStoreContract",
    "ReconIdSequenceContract",
    "SyncStoreContract",
    "WatchStateContract",
]
