"""The gap-free sequence behind reconciliation ids.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

__all__ = [
    "ReconIdSequence",
]


@runtime_checkable
class ReconIdSequence(Protocol):
    """Hands out reconciliation sequence numbers.

    Per ``(prefix, day)``, numbers start at 1 and increase by exactly 1 on each call:
    gap-free and never repeated, across threads and processes sharing the store.
    """

    def next_value(self, prefix: str, on: date) -> int:
        """Draw the next number for ``prefix`` on ``on``."""
        ...
