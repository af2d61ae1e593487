"""What every order repository shares for the watch's ``stale`` query."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import attrs

from orderkit.model import ship_dates
from orderkit.model._checks import quantity
from orderkit.model.errors import ValidationError
from orderkit.model.orders import (
    ANCHORS,
    PAID_TO_SHIP,
    Anchor,
    Order,
    OrderStatus,
    PaymentKind,
    PaymentTerms,
)
from orderkit.model.ship_dates import PRESALE_TAG, paid_since, ship_due_at
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, ensure_aware

if TYPE_CHECKING:
    from orderkit.lifecycle.ports import GroupBy

__all__ = ["CountQuery", "anchor_of", "balance_due_since", "checked_count", "checked_group",
           "checked_group_by", "checked_leave_out", "checked_query", "checked_ship_from_tz",
           "checked_terms", "paid_since", "paid_statuses_sql", "required_group_by",
           "ship_due_at"]

#: The anchors the model derives from the order (properties of :class:`Order` of the
#: same names), which the SQL stores keep in columns of their own.
_DERIVED: Final = frozenset({"return_requested_since", "refund_due_since",
                             "partly_shipped_since"})


def checked_query(
    statuses: Collection[int], anchor: object, before: object, limit: object = 1
) -> tuple[tuple[int, ...], Anchor, datetime, int]:
    """The ``stale`` arguments, checked: status codes, a known anchor, an aware
    ``before`` (in UTC) and a ``limit`` a store can count to (a count has none)."""
    codes = _checked_statuses(statuses)
    moment = ensure_aware(before, path="before").astimezone(UTC)
    return codes, _checked_anchor(anchor), moment, quantity("limit", limit)


def _checked_statuses(statuses: object) -> tuple[int, ...]:
    """Status codes: a collection of integers (not a lone string), sorted, once each."""
    if isinstance(statuses, str | bytes) or not isinstance(statuses, Collection):
        raise ValidationError("statuses", statuses, "expected a collection of status codes")
    codes = []
    for code in statuses:
        if isinstance(code, bool) or not isinstance(code, int):
            raise ValidationError("statuses", code, "expected integer status codes")
        codes.append(int(code))
    return tuple(sorted(set(codes)))


def _checked_anchor(anchor: object) -> Anchor:
    """One of :data:`~orderkit.model.orders.ANCHORS`."""
    for known in ANCHORS:
        if anchor == known:
            return known
    raise ValidationError("anchor", anchor, f"expected one of {', '.join(ANCHORS)}")


@attrs.frozen
class CountQuery:
    """``count_by_status``'s arguments as :func:`checked_count` returns them: a known
    ``anchor``, the bounds (aware, in UTC; ``since`` ``None`` for none), the status
    codes (sorted; ``None``: every status), the anchors whose orders are left out
    (sorted) and ``due_by`` (in UTC, or ``None``). Each store keeps only its query."""

    anchor: Anchor
    since: datetime | None
    until: datetime
    statuses: tuple[int, ...] | None
    leave_out: tuple[Anchor, ...] = ()
    due_by: datetime | None = None


def checked_count(
    anchor: object, since: object, until: object, statuses: object = None,
    leave_out: object = (), due_by: object = None,
) -> CountQuery:
    """:meth:`~orderkit.lifecycle.ports.OrderRepository.count_by_status`'s arguments,
    checked for every store alike, in this order: the anchor, ``until``, the statuses,
    ``since``, ``leave_out`` (anchors of :data:`~orderkit.lifecycle.ports.LEAVE_OUT`),
    then ``due_by``; the first bad one raises :class:`ValidationError` naming it."""
    known = _checked_anchor(anchor)
    end = ensure_aware(until, path="until").astimezone(UTC)
    codes = None if statuses is None else _checked_statuses(statuses)
    start = None if since is None else ensure_aware(since, path="since").astimezone(UTC)
    left_out = checked_leave_out(leave_out)
    due = None if due_by is None else ensure_aware(due_by, path="due_by").astimezone(UTC)
    return CountQuery(known, start, end, codes, left_out, due)


def checked_terms(terms: object) -> PaymentTerms | None:
    """The ``stale`` query's ``terms``: ``None`` (any) or a :class:`PaymentTerms`."""
    if terms is None or isinstance(terms, PaymentTerms):
        return terms
    raise ValidationError("terms", terms,
                          f"expected None or one of {', '.join(t.value for t in PaymentTerms)}")


def checked_leave_out(leave_out: object) -> tuple[Anchor, ...]:
    """The ``stale`` query's ``leave_out``: anchors of :data:`LEAVE_OUT` (an order that
    has any of those instants is left out), sorted."""
    if isinstance(leave_out, str | bytes) or not isinstance(leave_out, Collection):
        raise ValidationError("leave_out", leave_out, "expected a collection of anchors")
    from orderkit.lifecycle.ports import LEAVE_OUT

    for anchor in leave_out:
        if anchor not in LEAVE_OUT:
            raise ValidationError("leave_out", anchor, f"expected one of {', '.join(LEAVE_OUT)}")
    return tuple(sorted(set(leave_out)))


def checked_group_by(group_by: object) -> GroupBy | None:
    """``stale_count``'s ``group_by``: ``None`` or one of :data:`GROUP_BY`."""
    from orderkit.lifecycle.ports import GROUP_BY

    if group_by is None:
        return None
    for known in GROUP_BY:
        if group_by == known:
            return known
    raise ValidationError("group_by", group_by, f"expected None or one of {', '.join(GROUP_BY)}")


def required_group_by(group_by: object) -> GroupBy:
    """``stale_groups``'s ``group_by``: one of :data:`GROUP_BY` (not ``None``)."""
    by = checked_group_by(group_by)
    if by is None:
        from orderkit.lifecycle.ports import GROUP_BY

        raise ValidationError("group_by", group_by, f"expected one of {', '.join(GROUP_BY)}")
    return by


def checked_group(group: object) -> tuple[GroupBy, str] | None:
    """``stale``'s ``group``: ``None`` or a :data:`GroupBy` and a non-empty value."""
    if group is None:
        return None
    if (not isinstance(group, tuple) or len(group) != 2 or group[0] is None
            or not isinstance(group[1], str) or not group[1]):
        raise ValidationError("group", group, "expected None or (group_by, value)")
    try:
        by = checked_group_by(group[0])
    except ValidationError:
        raise ValidationError("group", group, "expected None or (group_by, value)") from None
    assert by is not None
    return by, group[1]


def checked_ship_from_tz(ship_from_tz: object) -> str | None:
    """An order repository's ``ship_from_tz``: ``None`` (the store's zone, else the
    default accounting zone) or an IANA zone name, else :class:`ValidationError` naming
    ``ship_from_tz``."""
    if ship_from_tz is None:
        return None
    return ship_dates.checked_ship_from_tz(ship_from_tz)


def balance_due_since(order: Order) -> datetime | None:
    """The ``balance_due_since`` anchor: for a presale (its ``presale`` tag) still
    PENDING_PAYMENT that took a payment toward what it owes (its deposit: the lifecycle
    keeps a short payment and its order unpaid, with a ``PaymentShort``), when the
    first payment came; ``None`` for any other order."""
    if (order.status != OrderStatus.PENDING_PAYMENT or PRESALE_TAG not in order.tags
            or order.paid_at is not None or order.totals.paid.amount <= 0):
        return None
    return min((p.at for p in order.payments if p.kind is PaymentKind.PAYMENT), default=None)


def anchor_of(
    order: Order, anchor: Anchor, *, tz: str = DEFAULT_ACCOUNTING_TZ
) -> datetime | None:
    """The instant ``anchor`` names on ``order`` (``None`` when it has none).
    ``status_since`` is ``created_at`` for an order that has never changed status; the
    anchors the model derives are the order's properties of those names;
    ``ship_due_at`` begins a presale's ship-from day in ``tz``."""
    if anchor == "status_since":
        return order.status_since or order.created_at
    if anchor == "paid_at":
        return paid_since(order)
    if anchor == "ship_due_at":
        return ship_due_at(order, tz=tz)
    if anchor == "balance_due_since":
        return balance_due_since(order)
    if anchor == "created_at":
        return order.created_at
    if anchor in _DERIVED:
        derived: datetime | None = getattr(order, anchor)
        return derived
    if not order.shipments:
        return None
    latest = order.shipments[-1]
    return latest.shipped_at if latest.first_scan_at is None else None



def paid_statuses_sql() -> str:
    """The statuses that say an order was paid whatever its payments say
    (:data:`~orderkit.model.orders.PAID_TO_SHIP`, as :func:`paid_since` reads them), as
    a list of codes for SQL's ``IN (...)``."""
    return ", ".join(str(int(code)) for code in sorted(PAID_TO_SHIP))
