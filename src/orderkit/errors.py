"""Alias of :mod:`orderkit.model.errors`, kept so that code written against 0.1 keeps importing.

New code imports from :mod:`orderkit` (the public API) or :mod:`orderkit.model.errors`;
orderkit's own modules never import this one.
"""

from orderkit.model.errors import (
    AddressLocked,
    AlreadyInProgress,
    ConcurrencyError,
    CurrencyMismatch,
    DefinitionError,
    DuplicateOrder,
    IdempotencyConflict,
    InsufficientStock,
    InvalidLock,
    MappingError,
    NotFoundError,
    NotPermitted,
    OrderkitError,
    OrderNotFound,
    RefusedError,
    ReleaseSuspended,
    StoreError,
    TransitionNotAllowed,
    ValidationError,
)

__all__ = [
    "AddressLocked",
    "AlreadyInProgress",
    "ConcurrencyError",
    "CurrencyMismatch",
    "DefinitionError",
    "DuplicateOrder",
    "IdempotencyConflict",
    "InsufficientStock",
    "InvalidLock",
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
