"""``ReconIdSequence`` on SQLite: one counter row per (prefix, day)."""

from __future__ import annotations

import os
from datetime import date
from typing import Final

from orderkit.adapters.sqlite._db import Database
from orderkit.model.errors import ValidationError
from orderkit.model.ids import MAX_SEQUENCE, recon_id

__all__ = ["SQLiteReconIdSequence"]

_MIGRATIONS: Final = (
    """
    CREATE TABLE recon_sequences (
        prefix TEXT NOT NULL,
        day TEXT NOT NULL,
        last_value INTEGER NOT NULL,
        PRIMARY KEY (prefix, day)
    )
    """,
)


class SQLiteReconIdSequence:
    """Gap-free reconciliation numbers shared by every process using the file.

    Each draw is one ``BEGIN IMMEDIATE`` upsert that returns the incremented counter, so
    two processes can never read the same value.
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self._db = Database(path, durable=durable)
        self._db.ensure_schema("recon_sequences", _MIGRATIONS)

    def next_value(self, prefix: str, on: date) -> int:
        """Draw the next number for ``prefix`` on ``on`` (1, 2, 3, ...)."""
        recon_id(prefix, on, 1)  # validates prefix and date with the usual errors
        with self._db.write("draw recon sequence") as conn:
            row = conn.execute(
                "INSERT INTO recon_sequences (prefix, day, last_value) VALUES (?, ?, 1)"
                " ON CONFLICT (prefix, day) DO UPDATE SET last_value = last_value + 1"
                " RETURNING last_value",
                (prefix, on.isoformat()),
            ).fetchone()
            value = int(row[0])
            if value > MAX_SEQUENCE:
                raise ValidationError(
                    "seq", value, f"{prefix} has used all {MAX_SEQUENCE} numbers for {on}"
                )
        return value
