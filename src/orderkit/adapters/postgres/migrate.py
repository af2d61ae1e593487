"""Bring every PostgreSQL adapter's tables up to this orderkit's schema versions.

``orderkit db upgrade --dsn ...`` calls :func:`upgrade` at deploy time, so that the
application servers find their tables ready; the adapters also migrate on first use.
"""

from __future__ import annotations

from typing import Final

from orderkit.adapters.postgres import idempotency, inventory, orders, sequences, sync, watch
from orderkit.adapters.postgres._db import Database, Migration

__all__ = ["COMPONENTS", "upgrade"]

#: Each component's name (as ``schema_version`` keeps it) and its migrations.
COMPONENTS: Final[tuple[tuple[str, Migration], ...]] = (
    ("orders", orders.MIGRATIONS),
    ("inventory", inventory.MIGRATIONS),
    ("idempotency", idempotency.MIGRATIONS),
    ("recon_sequences", sequences.MIGRATIONS),
    ("sync", sync.MIGRATIONS),
    ("watch", watch.MIGRATIONS),
)


def upgrade(source: object, *, schema: str | None = None) -> dict[str, tuple[int, int]]:
    """Migrate every component in ``schema``, each in a transaction of its own; returns
    each component's ``(version before, version after)``, the version before as read
    under the migration lock (of several upgrades run at once, one reports the
    migration and the others find the tables up to date). A schema newer than this
    orderkit knows raises :class:`~orderkit.model.errors.StoreError` and changes nothing
    of that component."""
    db = Database(source, schema=schema)
    done: dict[str, tuple[int, int]] = {}
    try:
        for component, migrations in COMPONENTS:
            done[component] = (db.ensure_schema(component, migrations), len(migrations))
    finally:
        db.close()
    return done
