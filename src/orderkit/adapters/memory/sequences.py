"""``ReconIdSequence`` in memory."""

from __future__ import annotations

import threading
from datetime import date

from orderkit.model.errors import ValidationError
from orderkit.model.ids import MAX_SEQUENCE, recon_id

__all__ = ["MemoryReconIdSequence"]


class MemoryReconIdSequence:
    """Gap-free numbers per (prefix, day) for one process."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, date], int] = {}
        self._lock = threading.Lock()

    def next_value(self, prefix: str, on: date) -> int:
        """Draw the next number for ``prefix`` on ``on`` (1, 2, 3, ...)."""
        recon_id(prefix, on, 1)  # validates prefix and date with the usual errors
        with self._lock:
            value = self._last.get((prefix, on), 0) + 1
            if value > MAX_SEQUENCE:
                raise ValidationError(
                    "seq", value, f"{prefix} has used all {MAX_SEQUENCE} numbers for {on}"
                )
            self._last[(prefix, on)] = value
            return value
