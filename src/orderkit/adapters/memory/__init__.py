"""In-memory adapters: for unit tests and single-process tools. Nothing to start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orderkit.adapters._lazy import lazy_names

if TYPE_CHECKING:
    from orderkit.adapters.memory.idempotency import MemoryIdempotencyStore
    from orderkit.adapters.memory.inventory import MemoryInventoryStore
    from orderkit.adapters.memory.orders import MemoryOrderRepository
    from orderkit.adapters.memory.sequences import MemoryReconIdSequence
    from orderkit.adapters.memory.sync import MemorySyncStore
    from orderkit.adapters.memory.watch import MemoryWatchState

__all__ = [
    "MemoryIdempotencyStore",
    "MemoryInventoryStore",
    "MemoryOrderRepository",
    "MemoryReconIdSequence",
    "MemorySyncStore",
    "MemoryWatchState",
]

#: Each name and its module: a module is imported when its name is first used, so
#: importing one adapter (``...orders``) loads neither the others nor their capabilities.
_MODULES = {
    "MemoryIdempotencyStore": "orderkit.adapters.memory.idempotency",
    "MemoryInventoryStore": "orderkit.adapters.memory.inventory",
    "MemoryOrderRepository": "orderkit.adapters.memory.orders",
    "MemoryReconIdSequence": "orderkit.adapters.memory.sequences",
    "MemoryWatchState": "orderkit.adapters.memory.watch",
    "MemorySyncStore": "orderkit.adapters.memory.sync",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULES, globals())
