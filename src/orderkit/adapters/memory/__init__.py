"""In-memory adapters: for unit tests and single-process tools. Nothing to start."""

from orderkit.adapters.memory.idempotency import MemoryIdempotencyStore
from orderkit.adapters.memory.inventory import MemoryInventoryStore
from orderkit.adapters.memory.orders import MemoryOrderRepository
from orderkit.adapters.memory.sequences import MemoryReconIdSequence

__all__ = [
    "MemoryIdempotencyStore",
    "MemoryInventoryStore",
    "MemoryOrderRepository",
    "MemoryReconIdSequence",
]
