"""The idempotency guard: run a piece of work once per key, replay it afterwards.

A caller names the work with a key derived from business identity
(``fingerprint("order.confirm", order_id)``) and passes the request payload. The first
caller *claims* the key in the store (put-if-absent, with a lease and a unique claim
token), runs ``fn`` and stores its outcome; every later caller with the same key and an
equal payload gets that outcome back without running ``fn``.

The rule for what ``fn`` did:

* **A result is stored and replayed.** Every later caller with the same key and payload
  gets it back; ``fn`` never runs again under that key (until :meth:`purge`).
* **A result that cannot be stored never runs twice.** When the codec cannot encode it
  (it does not pickle, say), the guard stores a *not-stored marker* instead of releasing
  the claim: the first caller still gets its result, and every retry gets an
  :class:`~orderkit.model.errors.IdempotencyError` naming the key, never a second run of
  work that may already have charged a card.
* **A refusal is retried unless the caller says it is final.** An exception raised by
  ``fn`` releases the claim, so a later retry runs ``fn`` again: a "confirm receipt"
  refused while the order was still SHIPPED goes through once it is DELIVERED. Only an
  error the caller marks as final with ``final_errors=`` (on the guard, or per call on
  :meth:`~Idempotency.run` and :meth:`~Idempotency.idempotent`) is stored and raised
  again to every retry without running ``fn``; ``DuplicateOrder`` or a
  ``ValidationError`` of the payload are typical final answers. An error that
  ``retryable`` marks (by default :class:`~orderkit.model.errors.StoreError`,
  :class:`~orderkit.model.errors.ConcurrencyError` and
  :class:`~orderkit.model.errors.AlreadyInProgress`) is never final. A final error that
  cannot be encoded is remembered as the not-stored marker.
* **A crash** (the process dies inside ``fn``) leaves the claim in place until its lease
  expires; then the next caller takes the key over. If the first caller was only slow
  and finishes late, its token no longer matches and the store refuses its write, so
  the new holder's outcome stands.

The not-stored marker is a completed record whose outcome is empty (``b""``); a codec
must therefore never encode an outcome as empty bytes (the guard treats that as "cannot
be stored").
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, ParamSpec, TypeVar, cast

from orderkit.idempotency.codec import Codec, PickleCodec, StoredResult
from orderkit.idempotency.payloads import legacy_request_hash, payload_digests
from orderkit.idempotency.records import IdempotencyRecord, RecordState, positive_duration
from orderkit.idempotency.tokens import new_token
from orderkit.model.errors import (
    AlreadyInProgress,
    ConcurrencyError,
    IdempotencyConflict,
    IdempotencyError,
    OrderkitError,
    StoreError,
    ValidationError,
)
from orderkit.model.time import SystemClock, checked_now, ensure_instant

if TYPE_CHECKING:
    from orderkit.idempotency.ports import IdempotencyStore
    from orderkit.model.time import Clock

__all__ = ["DEFAULT_RETRYABLE", "FinalErrors", "Idempotency"]

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

#: Which errors raised by the work are final answers: exception types or a predicate.
FinalErrors = tuple[type[BaseException], ...] | Callable[[BaseException], bool]

#: The stored outcome of a run whose result (or final error) could not be encoded.
_NOT_STORED: Final = b""


def _predicate(name: str, value: object) -> Callable[[BaseException], bool]:
    if isinstance(value, tuple):
        if not all(isinstance(kind, type) and issubclass(kind, BaseException) for kind in value):
            raise ValidationError(name, value, "expected exception types")
        kinds = value
        return lambda error: isinstance(error, kinds)
    if callable(value):
        return cast(Callable[[BaseException], bool], value)
    raise ValidationError(name, value, "expected a tuple of exception types or a predicate")


class Idempotency:
    """Runs ``fn`` once per key over an :class:`~orderkit.idempotency.ports.IdempotencyStore`.

    ``lease`` is how long a claim protects a running call before another caller may
    take the key over: it must outlive the slowest honest run (see
    :meth:`RetryPolicy.lock_ttl <orderkit.idempotency.RetryPolicy.lock_ttl>`).
    ``retention`` is how long outcomes are kept before :meth:`purge` may drop them.
    Both are positive and at most :data:`~orderkit.idempotency.records.MAX_DURATION`
    (10 years), as is a per-call ``lease``.
    ``final_errors`` names the errors raised by the work that are final answers, stored
    and raised again to every retry (default: none; see the module docstring);
    ``retryable`` the errors that are never final.
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
        final_errors: FinalErrors = (),
    ) -> None:
        self._store = store
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.retention = positive_duration("retention", retention)
        self.lease = positive_duration("lease", lease)
        self._retryable = _predicate("retryable", retryable)
        self._final = _predicate("final_errors", final_errors)
        self._codec: Codec = codec if codec is not None else PickleCodec()

    # --- the rule ----------------------------------------------------------------------

    def is_transient(self, error: BaseException) -> bool:
        """True when ``error`` releases the claim rather than being stored (module doc):
        every error but those ``final_errors`` marks final and ``retryable`` does not."""
        return not self._is_final(error, self._final)

    def _is_final(self, error: BaseException, final: Callable[[BaseException], bool]) -> bool:
        return final(error) and not self._retryable(error)

    # --- running -----------------------------------------------------------------------

    def run(
        self,
        key: str,
        payload: Mapping[str, object],
        fn: Callable[[], T],
        *,
        lease: timedelta | None = None,
        final_errors: FinalErrors | None = None,
    ) -> T:
        """Run ``fn()`` once for ``key``; return (or raise) its stored outcome afterwards.

        ``final_errors`` (default: the guard's) names the errors of ``fn`` that are final
        answers, stored and raised again; any other error releases the key for a retry.

        Raises :class:`~orderkit.model.errors.IdempotencyConflict` naming the differing fields
        when ``key`` was used with another payload,
        :class:`~orderkit.model.errors.AlreadyInProgress` while another caller holds the key,
        and :class:`~orderkit.model.errors.IdempotencyError` when the work already ran under
        ``key`` but its outcome could not be stored.
        """
        if not isinstance(key, str) or not key or len(key) > 512:
            raise ValidationError("key", key, "expected a non-empty string of at most 512 chars")
        if not callable(fn):
            raise ValidationError("fn", fn, "expected a function taking no arguments")
        hold = self.lease if lease is None else positive_duration("lease", lease)
        final = self._final if final_errors is None else _predicate("final_errors", final_errors)
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
                return self._execute(mine, fn, final)
            if stored.request_hash != request_hash and (
                stored.request_hash != legacy_request_hash(payload)
            ):
                raise IdempotencyConflict(key, stored.differing_fields(field_hashes))
            if stored.state is _COMPLETED:
                return cast(T, self._replay(stored))
            if not stored.lease_expired(now):
                raise AlreadyInProgress(key, stored.lease_expires_at)
            if store.take_over(stored.token, mine):
                return self._execute(mine, fn, final)
            # Someone else completed, released or took over meanwhile: look again.
        raise AlreadyInProgress(key, now + hold)

    def _now(self) -> datetime:
        return checked_now(self._clock)

    def _replay(self, record: IdempotencyRecord) -> object:
        data = record.outcome
        if data is None:
            raise StoreError("replay idempotent outcome", f"record {record.key} has no outcome")
        if data == _NOT_STORED:
            raise IdempotencyError(
                record.key,
                "the work already ran under this key but its outcome could not be stored for"
                " replay; it will not run again (check its effect, then use a new key)",
            )
        return self._codec.decode(data).replay()

    def _encode(self, outcome: StoredResult) -> tuple[bytes, Exception | None]:
        """The stored bytes for ``outcome``: its encoding, or the not-stored marker and why."""
        try:
            data = self._codec.encode(outcome)
        except Exception as failure:  # any codec failure: the outcome cannot be stored
            return _NOT_STORED, failure
        if not isinstance(data, bytes) or data == _NOT_STORED:
            return _NOT_STORED, ValidationError("result", data, "the codec returned no bytes")
        return data, None

    def _execute(
        self, mine: IdempotencyRecord, fn: Callable[[], T], final: Callable[[BaseException], bool]
    ) -> T:
        try:
            result = fn()
        except BaseException as error:
            if not self._is_final(error, final):
                self._release(mine, error)
                raise
            data, failure = self._encode(StoredResult(error=error))
            if failure is not None:
                error.add_note(f"not stored for replay ({failure}); retries get IdempotencyError")
            self._complete(mine, data)
            raise
        # The work ran: from here on the key is never released, whatever the codec says.
        data, _ = self._encode(StoredResult(value=result))
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
        instant = self._now() if now is None else ensure_instant(now, path="now")
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
        final_errors: FinalErrors | None = None,
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
                    key(*args, **kwargs),
                    body,
                    lambda: fn(*args, **kwargs),
                    lease=lease,
                    final_errors=final_errors,
                )

            return guarded

        return decorate
