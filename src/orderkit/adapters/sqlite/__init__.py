"""SQLite adapters: the embedded default, safe for several processes on one machine.

Every adapter takes a file path, creates and versions its tables on first use, runs in
WAL mode and writes inside ``BEGIN IMMEDIATE`` transactions. Several adapters may share
one file. Uses the standard library's ``sqlite3`` only.
"""

from orderkit.adapters.sqlite._db import Database
from orderkit.adapters.sqlite.idempotency import SQLiteIdempotencyStore
from orderkit.adapters.sqlite.inventory import SQLiteInventoryStore
from orderkit.adapters.sqlite.orders import SQLiteOrderRepository
from orderkit.adapters.sqlite.sequences import SQLiteReconIdSequence

__all__ = [
    "Database",
    "SQLiteIdempotencyStore",
    "SQLiteInventoryStore",
    "SQLiteOrderRepository",
    "SQLiteReconIdSequence",
]
