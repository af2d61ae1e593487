"""``ReconIdSequence`` on PostgreSQL: one counter row per (prefix, day)."""

from __future__ import annotations

from datetime import date
from typing import Final

from orderkit.adapters.postgres._db import Database
from orderkit.model.errors import ValidationError
from orderkit.model.ids import MAX_SEQUENCE, recon_id

__all__ = ["PostgresReconIdSequence"]

MIGRATIONS: Final = (
    """
    CREATE TABLE {s}.recon_sequences (
        prefix text NOT NULL,
        day date NOT NULL,
        last_value bigint NOT NULL,
        PRIMARY KEY (prefix, day)
    )
    """,
)


class PostgresReconIdSequence:
    """Gap-free reconciliation numbers shared by every process on the database.

    Each draw is one upsert returning the incremented counter: the row lock it takes
    makes concurrent draws wait for each other, so no two read the same value, and a
    draw rolled back with its transaction (inside an ``atomic`` block) leaves no gap.
    """

    def __init__(self, source: object, *, schema: str | None = None) -> None:
        self._db = Database(source, schema=schema)
        self._db.ensure_schema("recon_sequences", MIGRATIONS)

    @property
    def database(self) -> Database:
        """The source and schema (shared with the other PostgreSQL adapters)."""
        return self._db

    def next_value(self, prefix: str, on: date) -> int:
        """Draw the next number for ``prefix`` on ``on`` (1, 2, 3, ...)."""
        recon_id(prefix, on, 1)  # validates prefix and date with the usual errors
        sql = self._db.sql(
            "INSERT INTO {s}.recon_sequences AS r (prefix, day, last_value)"
            " VALUES (%s, %s, 1) ON CONFLICT (prefix, day)"
            " DO UPDATE SET last_value = r.last_value + 1"
            " WHERE r.last_value < %s RETURNING last_value"
        )
        row = self._db.run(
            "draw recon sequence",
            lambda conn: conn.execute(sql, (prefix, on, MAX_SEQUENCE)).fetchone(),
            single=True,
        )
        if row is None:  # the counter is at its end: nothing was written
            raise ValidationError(
                "seq", MAX_SEQUENCE + 1, f"{prefix} has used all {MAX_SEQUENCE} numbers for {on}"
            )
        return int(row[0])
