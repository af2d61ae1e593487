"""The idempotency guard: run a piece of work once per key, replay it afterwards.

A caller names the work with a key derived from business identity
(``fingerprint("order.confirm", order_id)``) and passes the request payload. The first
caller *claims* the key in the store (put-if-absent, with a lease and a unique claim
token), runs ``fn`` and stores its outcome; every later caller with the same key and an
equal payload gets that outcome back without running ``fn``.

The rule for errors raised by ``fn``:

* **Business outcomes are stored and replayed.** An :class:`~orderkit.model.errors.OrderkitError`
  (``InsufficientStock``, ``TransitionNotAllowed``, a ``ValidationError``) is the answer
  to the request; asking again with the same payload must give the same answer, not run
  the work again.
* **Transient faults release the claim**, so a retry runs ``fn`` again: any exception
  that is not an ``OrderkitError`` (a timeout, a dropped connection, a bug) and every
  error the guard's ``retryable`` marks as retryable. By default that is
  :class:`~orderkit.model.errors.StoreError`, :class:`~orderkit.model.errors.ConcurrencyError` and
  :class:`~orderkit.model.errors.AlreadyInProgress`: faults that a retry can clear.
* **A crash** (the process dies inside ``fn``) leaves the claim in place until its lease
  expires; then the next caller takes the key over. If the first caller was only slow
  and finishes late, its token no longer matches and the store refuses its write, so
  the new holder's outcome stands.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, ParamSpec, TypeVar, cast

from orderkit.idempotency.codec import Codec, PickleCodec, StoredResult
from orderkit.idempotency.payloads import payload_digests
from orderkit.idempotency.records import IdempotencyRecord, RecordState
from orderkit.idempotency.tokens import new_token
from orderkit.model.errors import (
    AlreadyInProgress,
    ConcurrencyError,
    IdempotencyConflict,
    OrderkitError,
    StoreError,
    ValidationError,
)
from orderkit.model.time import SystemClock, ensure_aware

if TYPE_CHECKING:
    from orderkit.idempotency.ports import IdempotencyStore
    from orderkit.model.time import Clock

__all__ = ["DEFAULT_RETRYABLE", "Idempotency"]

P = ParamSpec("P")
T = TypeVar("T")

#: Errors that release the claim instead of being stored (a retry may succeed).
DEFAULT_RETRYABLE: Final[tuple[type[BaseException], ...]] = (
    StoreError,
    ConcurrencyError,
    AlreadyInProgress,
)

_COMPLETED: Final = RecordState.COMPLETED

#: How many times a caller re-reads a key that changed under it before giving up.
_MAX_ROUNDS: Final = 8

#: Parameters left out of a decorated method's default payload (the object itself).
_RECEIVERS: Final = frozenset({"self", "cls"})

Retryable = tuple[type[BaseException], ...] | Callable[[BaseException], bool]


def _positive(name: str, value: object) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValidationError(name, value, "expected a positive timedelta")
    return value


class Idempotency:
    """Runs ``fn`` once per key over an :class:`~orderkit.idempotency.ports.IdempotencyStore`.

    ``lease`` is how long a claim protects a running call before another caller may
    take the key over: it must outlive the slowest honest run (see
    :meth:`RetryPolicy.lock_ttl <orderkit.idempotency.RetryPolicy.lock_ttl>`).
    ``retention`` is how long outcomes are kept before :meth:`purge` may drop them.
    """

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        clock: Clock | None = None,
        retention: timedelta = timedelta(hours=24),
        lease: timedelta = timedelta(seconds=30),
        retryable: Retryable = DEFAULT_RETRYABLE,
        codec: Codec | None = None,
    ) -> None:
        self._store = store
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.retention = _positive("retention", retention)
        self.lease = _positive("lease", lease)
        if isinstance(retryable, tuple):
            kinds = retryable
            self._retryable: Callable[[BaseException], bool] = lambda e: isinstance(e, kinds)
        elif callable(retryable):
            self._retryable = retryable
        else:
            raise ValidationError(
                "retryable", retryable, "expected a tuple of exception types or a predicate"
            )
        self._codec: Codec = codec if codec is not None else PickleCodec()

    # --- the rule ----------------------------------------------------------------------

    def is_transient(self, error: BaseException) -> bool:
        """True when ``error`` releases the claim rather than being stored (module doc)."""
        return not isinstance(error, OrderkitError) or self._retryable(error)

    # --- running -----------------------------------------------------------------------

    def run(
        self,
        key: str,
        payload: Mapping[str, object],
        fn: Callable[[], T],
        *,
        lease: timedelta | None = None,
    ) -> T:
        """Run ``fn()`` once for ``key``; return (or raise) its stored outcome afterwards.

        Raises :class:`~orderkit.model.errors.IdempotencyConflict` naming the differing fields
        when ``key`` was used with another payload, and
        :class:`~orderkit.model.errors.AlreadyInProgress` while another caller holds the key.
        """
        if not isinstance(key, str) or not key or len(key) > 512:
            raise ValidationError("key", key, "expected a non-empty string of at most 512 chars")
        if not callable(fn):
            raise ValidationError("fn", fn, "expected a function taking no arguments")
        hold = self.lease if lease is None else _positive("lease", lease)
        request_hash, field_hashes = payload_digests(payload)
        now = self._now()
        mine = IdempotencyRecord(
            key=key,
            request_hash=request_hash,
            token=new_token(),
            created_at=now,
            lease_expires_at=now + hold,
            field_hashes=field_hashes,
        )
        store = self._store
        for _ in range(_MAX_ROUNDS):
            stored = store.claim(mine)
            if stored is None:
                return self._execute(mine, fn)
            if stored.request_hash != request_hash:
                raise IdempotencyConflict(key, stored.differing_fields(field_hashes))
            if stored.state is _COMPLETED:
                return cast(T, self._replay(stored))
            if not stored.lease_expired(now):
                raise AlreadyInProgress(key, stored.lease_expires_at)
            if store.take_over(stored.token, mine):
                return self._execute(mine, fn)
            # Someone else completed, released or took over meanwhile: look again.
        raise AlreadyInProgress(key, now + hold)

    def _now(self) -> datetime:
        return ensure_aware(self._clock.now(), path="clock.now()")

    def _replay(self, record: IdempotencyRecord) -> object:
        data = record.outcome
        if data is None:
            raise StoreError("replay idempotent outcome", f"record {record.key} has no outcome")
        return self._codec.decode(data).replay()

    def _execute(self, mine: IdempotencyRecord, fn: Callable[[], T]) -> T:
        try:
            result = fn()
        except BaseException as error:
            if self.is_transient(error):
                self._release(mine, error)
                raise
            try:
                data = self._codec.encode(StoredResult(error=error))
            except OrderkitError as failure:
                # The refusal cannot be replayed, so it must not be remembered either.
                error.add_note(f"not stored for replay: {failure}")
                self._release(mine, error)
                raise error from None
            self._complete(mine, data)
            raise
        try:
            data = self._codec.encode(StoredResult(value=result))
        except OrderkitError as failure:
            self._release(mine, failure)
            raise
        self._complete(mine, data)
        return result

    def _complete(self, mine: IdempotencyRecord, data: bytes) -> None:
        # False means our lease expired and another caller took over: its outcome stands
        # (compare-and-set on the token), and this caller still gets what its own fn did.
        self._store.complete(mine.key, mine.token, data, self._now())

    def _release(self, mine: IdempotencyRecord, error: BaseException) -> None:
        try:
            self._store.release(mine.key, mine.token)
        except OrderkitError as failure:
            error.add_note(f"releasing idempotency key {mine.key} also failed: {failure}")

    # --- housekeeping ------------------------------------------------------------------

    def purge(self, now: datetime | None = None) -> int:
        """Drop records older than ``retention`` (as of ``now``, default the clock's now).

        A key used again after its record was purged is a new request.
        """
        instant = self._now() if now is None else ensure_aware(now, path="now")
        return self._store.purge(instant - self.retention)

    def record(self, key: str) -> IdempotencyRecord | None:
        """The stored record for ``key`` (for operators and tests)."""
        return self._store.get(key)

    # --- decorator ---------------------------------------------------------------------

    def idempotent(
        self,
        *,
        key: Callable[..., str],
        payload: Callable[..., Mapping[str, object]] | None = None,
        lease: timedelta | None = None,
    ) -> Callable[[Callable[P, T]], Callable[P, T]]:
        """Guard a function: ``key`` (and ``payload``) get the call's arguments.

        Without ``payload`` the payload is the call's bound arguments, defaults applied
        (``self`` and ``cls`` left out), so calling again with other arguments under the
        same key is a conflict::

            @guard.idempotent(key=lambda order_id, **_: fingerprint("confirm", order_id))
            def confirm_receipt(order_id: str, *, by: str) -> int: ...
        """
        if not callable(key):
            raise ValidationError("key", key, "expected a function of the call's arguments")

        def decorate(fn: Callable[P, T]) -> Callable[P, T]:
            signature = inspect.signature(fn)

            @functools.wraps(fn)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
                if payload is None:
                    bound = signature.bind(*args, **kwargs)
                    bound.apply_defaults()
                    body: Mapping[str, object] = {
                        name: value
                        for name, value in bound.arguments.items()
                        if name not in _RECEIVERS
                    }
                else:
                    body = payload(*args, **kwargs)
                return self.run(
                    key(*args, **kwargs), body, lambda: fn(*args, **kwargs), lease=lease
                )

            return guarded

        return decorate
