"""Idempotency and retries: run work once per key, retry safely, spot duplicate orders.

* :class:`Idempotency`: the guard (``run(key, payload, fn)`` and the
  ``@guard.idempotent(...)`` decorator) over an
  :class:`~orderkit.idempotency.ports.IdempotencyStore`.
* :class:`RetryPolicy`: back-off schedules and ``lock_ttl(attempt)``.
* :class:`DuplicateDetector`: the double-clicked "submit", across processes.
* :class:`IdempotencyRecord`: what a store keeps per key (for adapter authors).

Keys come from business identity through :func:`orderkit.model.ids.fingerprint`.
"""

from orderkit.idempotency.codec import Codec, PickleCodec, StoredResult
from orderkit.idempotency.duplicates import DuplicateDetector
from orderkit.idempotency.guard import DEFAULT_RETRYABLE, FinalErrors, Idempotency
from orderkit.idempotency.records import MAX_DURATION, IdempotencyRecord, RecordState
from orderkit.idempotency.retry import RetryPolicy
from orderkit.model.ids import fingerprint

__all__ = [
    "DEFAULT_RETRYABLE",
    "MAX_DURATION",
    "Codec",
    "DuplicateDetector",
    "FinalErrors",
    "Idempotency",
    "IdempotencyRecord",
    "PickleCodec",
    "RecordState",
    "RetryPolicy",
    "StoredResult",
    "fingerprint",
]
