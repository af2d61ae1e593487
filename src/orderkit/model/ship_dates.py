"""When an order is due to ship, and by when its platform promised it would: read from
the order itself (its payment and its ``presale``, ``ship_from:`` and ``promise:``
tags), the one reading the shipping wave, the watch and the lifecycle's
:class:`~orderkit.lifecycle.ReadyToShip` share (moved here in 0.3 from the wave and the
watch's stores, so that the lifecycle reads them too).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.model.orders import Order, paid_by_status
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, ensure_aware, zone

__all__ = [
    "PRESALE_TAG", "checked_ship_from_tz", "due_from", "paid_since", "promised_at",
    "ship_due_at", "ship_from", "tag_value",
]

#: The tag that makes an order a presale (``WavePolicy.presale_tag``'s default).
PRESALE_TAG: Final = "presale"


def tag_value(order: Order, prefix: str) -> str | None:
    """What follows ``prefix`` in one of ``order``'s tags (``"ship_from:"`` gives the
    date of ``ship_from:2026-03-20``), or ``None`` when no tag starts with it."""
    for tag in order.tags:
        if tag.startswith(prefix):
            return tag[len(prefix):]
    return None


def ship_from(order: Order, *, presale_tag: str = PRESALE_TAG) -> date | None:
    """A presale order's ship-from date, from its ``ship_from:YYYY-MM-DD`` tag: the day
    the presale wave may first take it (and the watch's ``ship_due_at`` counts from).
    ``None`` for an order without ``presale_tag`` (an in-stock order's ``ship_from:``
    tag says nothing) or without the tag; a tag that is no date is a
    :class:`~orderkit.model.errors.ValidationError` on ``tags`` naming it."""
    if presale_tag not in order.tags:
        return None
    value = tag_value(order, "ship_from:")
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            "tags", f"ship_from:{value}", "expected ship_from:YYYY-MM-DD"
        ) from None


def promised_at(order: Order) -> datetime | None:
    """When the platform promised ``order`` would ship, from its ``promise:<ISO
    datetime with offset>`` tag; ``None`` when it has none. A tag that is no ISO
    datetime with its offset is a :class:`~orderkit.model.errors.ValidationError` on
    ``tags`` naming it (the wave leaves its order out as ``bad_tag``)."""
    value = tag_value(order, "promise:")
    if value is None:
        return None
    try:
        return ensure_aware(datetime.fromisoformat(value), path="tags")
    except (ValueError, ValidationError):
        raise ValidationError("tags", f"promise:{value}",
                              "expected promise:<ISO datetime with offset>") from None


def paid_since(order: Order) -> datetime | None:
    """The ``paid_at`` anchor: when ``order`` became fully paid. ``OrderService.place``
    stamps ``paid_at`` on an order placed in a paid status without one, so the anchor
    stays put when the order moves on; for such an order stored before that (its status
    says it was paid, it carries no ``paid_at``) it falls back to
    :func:`~orderkit.model.orders.paid_by_status`: when it entered its status (its
    ``created_at`` while it never changed status), which moves with its next status.
    A cash-on-delivery order is unpaid until the door, whatever its status."""
    return order.paid_at if order.paid_at is not None else paid_by_status(order)


def ship_due_at(order: Order, *, tz: str = DEFAULT_ACCOUNTING_TZ) -> datetime | None:
    """The ``ship_due_at`` anchor: when ``order`` became due to ship. Its ``paid_at``
    anchor (:func:`paid_since`), or, for a presale whose ship-from day begins later,
    the start of that day in ``tz`` (:func:`due_from`); ``None`` while it is unpaid
    (cash on delivery included: the watch's ``cod_not_shipped`` measures those)."""
    paid = paid_since(order)
    return None if paid is None else due_from(order, paid, tz=tz)


def due_from(order: Order, paid: datetime, *, tz: str = DEFAULT_ACCOUNTING_TZ) -> datetime:
    """When ``order``, paid (or, cash on delivery, placed) at ``paid``, is due to ship:
    then, or, for a presale whose ship-from day (:func:`ship_from`, the wave's own
    reading) begins later, the start of that day in ``tz``: an order repository's
    ship-from zone (``ship_from_tz``, the default accounting zone unless the host gave
    the zone of its waves, ``WavePolicy.tz``). The wave leaves the presale out until
    that day, and so does the watch. A ``ship_from:`` tag that is no date counts from
    ``paid`` (the wave leaves the order out as ``bad_tag`` until the tag is mended)."""
    try:
        day = ship_from(order)
    except ValidationError:
        return paid
    if day is None:
        return paid
    return max(paid, datetime.combine(day, time(0), tzinfo=zone(tz)))


def checked_ship_from_tz(value: object, *, path: str = "ship_from_tz") -> str:
    """``value`` as the zone a presale's ship-from day begins in: an IANA zone name
    (added in 0.3); anything else is a :class:`~orderkit.model.errors.ValidationError`
    naming ``path`` and the value."""
    if not isinstance(value, str):
        raise ValidationError(path, value, "expected an IANA time zone name")
    zone(value, path=path)
    return value
