"""Issuing reconciliation ids from a shared, gap-free sequence store."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from orderkit.model.ids import check_prefix, recon_id
from orderkit.model.time import (
    DEFAULT_ACCOUNTING_TZ,
    Clock,
    SystemClock,
    accounting_date,
    checked_now,
)

if TYPE_CHECKING:
    from orderkit.numbering.ports import ReconIdSequence

__all__ = ["ReconIdIssuer"]


class ReconIdIssuer:
    """Issues new reconciliation ids from a shared, gap-free sequence store.

    The date is the *accounting* date of the instant (``Asia/Shanghai`` by default), so
    an order created at 00:30 Beijing time gets that day's id.
    """

    def __init__(
        self,
        sequence: ReconIdSequence,
        *,
        clock: Clock | None = None,
        tz: str | tzinfo = DEFAULT_ACCOUNTING_TZ,
    ) -> None:
        self._sequence = sequence
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._tz = tz

    def issue(self, prefix: str, *, at: datetime | None = None) -> str:
        """Draw the next id for ``prefix`` on the accounting date of ``at`` (default now)."""
        check_prefix(prefix)
        on = accounting_date(at if at is not None else checked_now(self._clock), self._tz)
        return recon_id(prefix, on, self._sequence.next_value(prefix, on))

