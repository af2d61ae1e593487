"""PostgreSQL adapters: many application servers on one shared database.

Every adapter takes a DSN, a ``psycopg_pool.ConnectionPool`` or the host's open
``psycopg.Connection`` (then orderkit's writes join the host's transaction), keeps its
tables in one PostgreSQL schema (``orderkit`` by default), and creates and versions them
on first use (``orderkit db upgrade --dsn ...`` does it ahead of time). Adapters built
on the same source share this thread's transaction. Needs the ``postgres`` extra
(``pip install "orderkit[postgres]"``: psycopg 3 and psycopg_pool); using an adapter
without it raises :class:`MissingExtra`, which is also an ``ImportError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orderkit.adapters._extras import MissingExtra
from orderkit.adapters._lazy import lazy_names

if TYPE_CHECKING:
    from orderkit.adapters.postgres._db import Database
    from orderkit.adapters.postgres.idempotency import PostgresIdempotencyStore
    from orderkit.adapters.postgres.inventory import PostgresInventoryStore
    from orderkit.adapters.postgres.migrate import upgrade
    from orderkit.adapters.postgres.orders import PostgresOrderRepository
    from orderkit.adapters.postgres.sequences import PostgresReconIdSequence
    from orderkit.adapters.postgres.sync import PostgresSyncStore
    from orderkit.adapters.postgres.watch import PostgresWatchState

__all__ = [
    "Database",
    "MissingExtra",
    "PostgresIdempotencyStore",
    "PostgresInventoryStore",
    "PostgresOrderRepository",
    "PostgresReconIdSequence",
    "PostgresSyncStore",
    "PostgresWatchState",
    "upgrade",
]

#: Each name and its module: a module (and psycopg) is imported when its name is first
#: used, so importing this package needs no driver.
_MODULES = {
    "Database": "orderkit.adapters.postgres._db",
    "PostgresIdempotencyStore": "orderkit.adapters.postgres.idempotency",
    "PostgresInventoryStore": "orderkit.adapters.postgres.inventory",
    "PostgresOrderRepository": "orderkit.adapters.postgres.orders",
    "PostgresReconIdSequence": "orderkit.adapters.postgres.sequences",
    "PostgresSyncStore": "orderkit.adapters.postgres.sync",
    "PostgresWatchState": "orderkit.adapters.postgres.watch",
    "upgrade": "orderkit.adapters.postgres.migrate",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULES, globals())
