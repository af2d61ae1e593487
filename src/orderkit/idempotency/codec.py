"""How an outcome (a result, or a business error) is turned into bytes and back.

The store keeps outcomes as opaque bytes so that every adapter stores the same thing.
The default :class:`PickleCodec` round-trips any picklable result and every orderkit
error (they are built to survive pickling). Pickle runs code when it loads, so the
store must be as trusted as the host's own database: never point a guard at a store
that other parties can write to. A host that wants JSON passes its own :class:`Codec`.
"""

from __future__ import annotations

import pickle
from typing import Protocol, runtime_checkable

import attrs

from orderkit.model.errors import StoreError, ValidationError

__all__ = ["Codec", "PickleCodec", "StoredResult"]


@attrs.frozen
class StoredResult:
    """What ``fn`` produced: a ``value``, or an ``error`` to raise again on replay."""

    value: object = None
    error: BaseException | None = None

    def replay(self) -> object:
        """Return the stored value, or raise the stored error."""
        if self.error is not None:
            raise self.error
        return self.value


@runtime_checkable
class Codec(Protocol):
    """Turns outcomes into bytes and back; both directions are deterministic."""

    def encode(self, outcome: StoredResult) -> bytes:
        """Bytes for ``outcome``; :class:`ValidationError` when it cannot be stored."""
        ...

    def decode(self, data: bytes) -> StoredResult:
        """The outcome ``data`` was made from; :class:`StoreError` when unreadable."""
        ...


class PickleCodec:
    """The default codec: pickle, highest protocol (see the module docstring)."""

    __slots__ = ()

    def encode(self, outcome: StoredResult) -> bytes:
        """Pickle ``(value, error)``; :class:`ValidationError` when it cannot be pickled."""
        try:
            return pickle.dumps((outcome.value, outcome.error), pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as failure:
            stored = outcome.error if outcome.error is not None else outcome.value
            raise ValidationError(
                "result", stored, f"cannot be stored for replay: {failure}"
            ) from failure

    def decode(self, data: bytes) -> StoredResult:
        """Unpickle what :meth:`encode` wrote; :class:`StoreError` when unreadable."""
        try:
            value, error = pickle.loads(data)
        except Exception as failure:  # any unpickling failure means an unreadable record
            raise StoreError("replay idempotent outcome", str(failure)) from failure
        return StoredResult(value=value, error=error)
