"""SQLite adapters: the embedded default, safe for several processes on one machine.

Every adapter takes a file path, creates and versions its tables on first use, runs in
WAL mode and writes inside ``BEGIN IMMEDIATE`` transactions. Several adapters may share
one file. Uses the standard library's ``sqlite3`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orderkit.adapters._lazy import lazy_names

if TYPE_CHECKING:
    from orderkit.adapters.sqlite._db import Database, schema_versions
    from orderkit.adapters.sqlite.idempotency import SQLiteIdempotencyStore
    from orderkit.adapters.sqlite.inventory import SQLiteInventoryStore
    from orderkit.adapters.sqlite.orders import SQLiteOrderRepository
    from orderkit.adapters.sqlite.sequences import SQLiteReconIdSequence
    from orderkit.adapters.sqlite.sync import SQLiteSyncStore
    from orderkit.adapters.sqlite.watch import SQLiteWatchState

__all__ = [
    "Database",
    "SQLiteIdempotencyStore",
    "SQLiteInventoryStore",
    "SQLiteOrderRepository",
    "SQLiteReconIdSequence",
    "SQLiteSyncStore",
    "SQLiteWatchState",
    "schema_versions",
]

#: Each name and its module: a module is imported when its name is first used, so
#: importing one adapter (``...orders``) loads neither the others nor their capabilities.
_MODULES = {
    "Database": "orderkit.adapters.sqlite._db",
    "SQLiteIdempotencyStore": "orderkit.adapters.sqlite.idempotency",
    "SQLiteInventoryStore": "orderkit.adapters.sqlite.inventory",
    "SQLiteOrderRepository": "orderkit.adapters.sqlite.orders",
    "SQLiteReconIdSequence": "orderkit.adapters.sqlite.sequences",
    "SQLiteWatchState": "orderkit.adapters.sqlite.watch",
    "SQLiteSyncStore": "orderkit.adapters.sqlite.sync",
    "schema_versions": "orderkit.adapters.sqlite._db",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULES, globals())
