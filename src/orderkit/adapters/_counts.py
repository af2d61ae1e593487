"""The checks every adapter runs on the versions and counts its callers pass.

A version or a limit that is text (read back from a form), a bool, negative, or larger
than a store can hold is refused with a
:class:`~orderkit.model.errors.ValidationError` naming it, before anything is read or
written, by the memory, SQLite and PostgreSQL adapters alike (never a bare
``TypeError``, a driver error, or ``True`` taken for ``1`` on some stores only).
"""

from __future__ import annotations

from orderkit.model._checks import quantity
from orderkit.model.errors import ValidationError
from orderkit.model.orders import Order, check_version_raised

__all__ = ["checked_limit", "checked_save"]


def checked_limit(limit: object, path: str = "limit") -> int:
    """``limit`` as an ``int`` (bools refused) from 1 to
    :data:`~orderkit.model.limits.MAX_QUANTITY`."""
    return quantity(path, limit, minimum=1)


def checked_save(order: object, expected_version: object) -> tuple[Order, int | None]:
    """``OrderRepository.save``'s order and ``expected_version``, checked: an
    :class:`Order`, and ``None`` (a new order) or a stored version (an ``int`` from 0,
    bools refused) that the order's version raises."""
    if not isinstance(order, Order):
        raise ValidationError("order", order, "expected an Order")
    if expected_version is not None:
        expected_version = quantity("expected_version", expected_version, minimum=0)
    check_version_raised(order, expected_version)
    return order, expected_version
