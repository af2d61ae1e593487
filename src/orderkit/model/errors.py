"""One exception tree, rooted at :class:`OrderkitError`.

Hosts catch ``OrderkitError`` to know that orderkit refused something on purpose, and
catch the narrower classes to react to one business case. The tree keeps three families
apart because hosts treat them differently:

* :class:`DefinitionError`: a programming or configuration mistake found when something
  is *defined* (a transition table, a field map). Fix the code; retrying never helps.
* :class:`ValidationError`: bad input data (a float where money belongs, a naive
  timestamp, an unknown status in a payload). It names the field ``path`` and the
  offending ``value``. Fix or reject the record.
* :class:`RefusedError`: a valid request the domain refuses right now (not enough
  stock, a transition not allowed from this status, a stale version). The caller decides
  whether to retry, re-read or give up.
* :class:`StoreError`: an adapter could not reach or use its storage; the driver's
  exception is chained as ``__cause__``. Usually transient.

Every exception carries its facts as attributes, not only as text, and survives pickling
(so errors raised in worker processes reach the parent intact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = [
    "AddressLocked",
    "AlreadyInProgress",
    "ConcurrencyError",
    "CurrencyMismatch",
    "DefinitionError",
    "DuplicateOrder",
    "IdempotencyConflict",
    "IdempotencyError",
    "InsufficientStock",
    "InvalidLock",
    "InvalidSignature",
    "MappingError",
    "NotFoundError",
    "NotPermitted",
    "OrderNotFound",
    "OrderkitError",
    "RefusedError",
    "ReleaseSuspended",
    "StoreError",
    "TransitionNotAllowed",
    "ValidationError",
]


def _rebuild(cls: type[OrderkitError], message: str, state: dict[str, Any]) -> OrderkitError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class OrderkitError(Exception):
    """Root of every exception orderkit raises on purpose."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive the default pickling of exceptions.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


# --- definition time -------------------------------------------------------------------


class DefinitionError(OrderkitError):
    """A table, map or configuration is wrong where it is defined.

    ``path`` names the bad entry (for example ``"transitions[(20, 'ship')]"``).
    """

    def __init__(self, message: str, *, path: str = "", value: object = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.value = value


# --- bad input ---------------------------------------------------------------------------


class ValidationError(OrderkitError, ValueError):
    """Input data is not acceptable.

    ``path`` is the dotted/indexed path of the field (``"lines[2].unit_price.amount"``),
    ``value`` the offending value as received, ``reason`` what was expected.
    It also subclasses :class:`ValueError` so generic host code that catches
    ``ValueError`` keeps working.
    """

    def __init__(self, path: str, value: object, reason: str) -> None:
        super().__init__(f"{path}: {reason} (got {_short_repr(value)})")
        self.path = path
        self.value = value
        self.reason = reason

    def at(self, prefix: str) -> ValidationError:
        """Return the same error with ``prefix`` prepended to its path.

        Used when a nested value is validated on its own and then reported from the
        enclosing object (``"amount"`` becomes ``"lines[0].unit_price.amount"``).
        """
        path = (
            f"{prefix}.{self.path}"
            if self.path and not self.path.startswith("[")
            else (f"{prefix}{self.path}")
        )
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.path = path
        clone.message = f"{path}: {self.reason} (got {_short_repr(self.value)})"
        clone.args = (clone.message,)
        return clone


class CurrencyMismatch(ValidationError):
    """Two amounts in different currencies were combined or compared."""

    def __init__(self, path: str, left: str, right: str) -> None:
        super().__init__(path, right, f"currency {right} cannot be combined with {left}")
        self.left = left
        self.right = right


class MappingError(ValidationError):
    """A platform payload could not be mapped onto the canonical order.

    ``platform`` names the source (``"tmall"``), ``path`` the field inside the payload
    (``"orders.order[2].price"``).
    """

    def __init__(self, platform: str, path: str, value: object, reason: str) -> None:
        super().__init__(path, value, reason)
        self.platform = platform
        self.message = f"{platform}: {self.message}"
        self.args = (self.message,)


# --- refused at run time -----------------------------------------------------------------


class RefusedError(OrderkitError):
    """A well-formed request that the domain refuses in the current state."""


class TransitionNotAllowed(RefusedError):
    """The transition table has no move for this event from the order's status."""

    def __init__(self, order_id: str, status: object, event: str, reason: str = "") -> None:
        text = f"order {order_id}: event {event!r} is not allowed in status {status!s}"
        super().__init__(f"{text}: {reason}" if reason else text)
        self.order_id = order_id
        self.status = status
        self.event = event
        self.reason = reason


class AddressLocked(RefusedError):
    """The shipping address can no longer change (packed, or outside the edit window)."""

    def __init__(self, order_id: str, status: object, reason: str) -> None:
        super().__init__(f"order {order_id}: address is locked in status {status!s}: {reason}")
        self.order_id = order_id
        self.status = status
        self.reason = reason


class NotPermitted(RefusedError):
    """The actor may not perform this action (role, region or two-person rule)."""

    def __init__(self, actor_id: str, action: str, reason: str, *, order_id: str = "") -> None:
        where = f" on order {order_id}" if order_id else ""
        super().__init__(f"actor {actor_id!r} may not {action}{where}: {reason}")
        self.actor_id = actor_id
        self.action = action
        self.reason = reason
        self.order_id = order_id


class ConcurrencyError(RefusedError):
    """Optimistic concurrency: the stored version is not the version the caller read."""

    def __init__(self, order_id: str, expected: int | None, actual: int | None) -> None:
        super().__init__(f"order {order_id}: expected stored version {expected}, found {actual}")
        self.order_id = order_id
        self.expected = expected
        self.actual = actual


class DuplicateOrder(RefusedError):
    """A second order claims a channel order id that another order already holds."""

    def __init__(self, channel: str, channel_order_id: str, existing_order_id: str) -> None:
        super().__init__(
            f"{channel} order {channel_order_id} is already stored as {existing_order_id}"
        )
        self.channel = channel
        self.channel_order_id = channel_order_id
        self.existing_order_id = existing_order_id


class InsufficientStock(RefusedError):
    """A lock could not be taken; ``shortages`` maps each short SKU to (wanted, available)."""

    def __init__(self, shortages: Mapping[str, tuple[int, int]], *, order_id: str = "") -> None:
        parts = ", ".join(
            f"{sku} wanted {wanted} available {available}"
            for sku, (wanted, available) in sorted(shortages.items())
        )
        super().__init__(
            f"insufficient stock{f' for order {order_id}' if order_id else ''}: {parts}"
        )
        self.shortages = dict(shortages)
        self.order_id = order_id


class InvalidLock(RefusedError):
    """A lock id is forged, altered, unknown or belongs to another order."""

    def __init__(self, lock_id: str, reason: str) -> None:
        super().__init__(f"invalid lock {_short_repr(lock_id)}: {reason}")
        self.lock_id = lock_id
        self.reason = reason


class ReleaseSuspended(RefusedError):
    """The release breaker parked a release of ``sku`` for review as ``entry_id``."""

    def __init__(self, sku: str, entry_id: str, reason: str = "") -> None:
        super().__init__(
            f"release of {sku} parked for review as {entry_id}" + (f": {reason}" if reason else "")
        )
        self.sku = sku
        self.entry_id = entry_id
        self.reason = reason


class IdempotencyConflict(RefusedError):
    """The same idempotency key arrived with a different payload; ``fields`` differ.

    ``detail`` (added in 0.3), when given, says what each side holds (a payment's
    ``data.reference`` already recorded with another amount names both amounts)."""

    def __init__(self, key: str, fields: Sequence[str], detail: str = "") -> None:
        super().__init__(
            f"idempotency key {key} was used with a different payload; differing fields: "
            + ", ".join(fields) + (f" ({detail})" if detail else "")
        )
        self.key = key
        self.fields = tuple(fields)
        self.detail = detail


class AlreadyInProgress(RefusedError):
    """Another caller holds the key; it may be taken over after ``lease_expires_at``."""

    def __init__(self, key: str, lease_expires_at: datetime) -> None:
        super().__init__(
            f"idempotency key {key} is in progress until {lease_expires_at.isoformat()}"
        )
        self.key = key
        self.lease_expires_at = lease_expires_at


class IdempotencyError(RefusedError):
    """The guard will not run the work under ``key`` again, and has no outcome to replay.

    Raised on a retry when the first run's outcome could not be stored (its result did
    not encode with the guard's codec): the work already ran once, so running it again
    could charge a card twice. ``reason`` says what happened.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"idempotency key {key}: {reason}")
        self.key = key
        self.reason = reason


# --- not found / storage -----------------------------------------------------------------


class InvalidSignature(OrderkitError):
    """A pushed message's signature is missing or does not match the platform's rule:
    the message may not come from the platform, or was changed on the way. Nothing of it
    may be applied or stored; a webhook answers 401.

    ``platform`` names the platform, ``field`` the parameter or header that carries the
    signature (``"sign"``, ``"event-sign"``), ``reason`` what is wrong with it.
    """

    def __init__(self, platform: str, field: str, reason: str) -> None:
        super().__init__(f"{platform} signature {field!r}: {reason}")
        self.platform = platform
        self.field = field
        self.reason = reason


class NotFoundError(OrderkitError):
    """Something the caller named does not exist."""


class OrderNotFound(NotFoundError, KeyError):
    """No order is stored under ``order_id``."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class StoreError(OrderkitError):
    """A storage adapter failed; the driver exception is chained as ``__cause__``."""

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(f"{operation} failed: {reason}")
        self.operation = operation
        self.reason = reason


def _short_repr(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
