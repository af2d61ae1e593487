"""Lock lines grouped by lock, as the SQLite and PostgreSQL inventory stores answer
``lines_of_locks`` (each decodes its own rows first)."""

from __future__ import annotations

from collections.abc import Iterable

from orderkit.inventory.entries import LockLine

__all__ = ["by_lock"]


def by_lock(lines: Iterable[LockLine]) -> dict[str, tuple[LockLine, ...]]:
    """``lines`` by lock key, each lock's in the order given."""
    found: dict[str, list[LockLine]] = {}
    for line in lines:
        found.setdefault(line.lock_key, []).append(line)
    return {key: tuple(held) for key, held in found.items()}
