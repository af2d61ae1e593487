"""The idempotency guard's storage port (see :mod:`orderkit.idempotency`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from orderkit.idempotency.records import IdempotencyRecord

__all__ = [
    "IdempotencyStore",
]


@runtime_checkable
class IdempotencyStore(Protocol):
    """Persists idempotency records (see :mod:`orderkit.idempotency`).

    The contract is put-if-absent with expiry: claiming a key succeeds for exactly one
    caller until the claim completes, is released, or its lease expires.

    Every write is atomic across the threads and processes sharing the store, and every
    change to an existing record is a compare-and-set on the record's claim ``token``:
    a caller whose lease expired and was taken over can no longer complete, release or
    replace the record (its token no longer matches). The store keeps policy out: it
    never looks at the clock; the guard decides when a lease has expired and passes the
    instants in.
    """

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert ``record`` if no record exists under ``record.key``.

        Returns ``None`` when the record was inserted (the caller holds the claim), or the
        record already stored (unchanged) when the key is taken.
        """
        ...

    def take_over(self, expected_token: str, record: IdempotencyRecord) -> bool:
        """Replace the in-progress record under ``record.key`` if it holds ``expected_token``.

        Used when a lease expired: ``False`` (nothing written) when the stored record has
        another token, is completed, or is gone.
        """
        ...

    def complete(self, key: str, token: str, outcome: bytes, completed_at: datetime) -> bool:
        """Store ``outcome`` and mark the record completed, if it is in progress under
        ``token``. ``False`` (nothing written) when the claim was lost."""
        ...

    def release(self, key: str, token: str) -> bool:
        """Delete the in-progress record if it holds ``token`` (so a retry runs again)."""
        ...

    def get(self, key: str) -> IdempotencyRecord | None:
        """The stored record, or ``None``."""
        ...

    def purge(self, before: datetime) -> int:
        """Delete records created before ``before`` (completed ones, and in-progress ones
        whose lease also ended before it); returns how many were deleted."""
        ...
