"""Near-expiry holds: no unit ships from a lot about to expire without a quality review."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from orderkit.fulfilment.ports import Lot, LotCatalog
from orderkit.lifecycle.events import Event
from orderkit.lifecycle.policy import Actor
from orderkit.model.errors import ValidationError
from orderkit.model.orders import HoldKind, LineStatus, Order
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, accounting_date, ensure_aware

__all__ = ["near_expiry_hold"]


def _days(value: object, path: str) -> timedelta:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ValidationError(path, value, "expected a non-negative timedelta")
    return value


def _lot(answer: object, sku: str) -> Lot | None:
    """The catalog's ``answer`` for ``sku``, checked: ``None`` or a :class:`Lot` of that
    SKU (another SKU's expiry says nothing of this line's units)."""
    path = f"lots.lot_for({sku!r})"
    if answer is None:
        return None
    if not isinstance(answer, Lot):
        raise ValidationError(path, answer, "expected a Lot or None")
    if answer.sku != sku:
        raise ValidationError(f"{path}.sku", answer.sku,
                              f"a lot of another SKU than {sku} (lot {answer.lot_id})")
    return answer


def near_expiry_hold(
    order: Order,
    lots: LotCatalog,
    *,
    at: datetime,
    threshold: timedelta = timedelta(days=90),
    by_sku: Mapping[str, timedelta] | None = None,
    by_category: Mapping[str, timedelta] | None = None,
    category_of: Callable[[str], str | None] | None = None,
    tz: str = DEFAULT_ACCOUNTING_TZ,
    actor: Actor | None = None,
) -> Event | None:
    """The ``hold`` event (kind ``near_expiry``) when a line of ``order`` would ship from
    a lot with less than its threshold left before expiry, naming the lines, lots and
    days left; ``None`` otherwise.

    The threshold of a line is ``by_sku[sku]``, else ``by_category[category_of(sku)]``,
    else ``threshold`` (90 days). Days left count calendar days in ``tz`` from ``at``
    (when the check ran); ``actor`` holds (``None``: a system event). Lines the catalog
    has no lot for are not held here.
    """
    if not isinstance(order, Order):
        raise ValidationError("order", order, "expected an Order")
    if not isinstance(lots, LotCatalog):
        raise ValidationError("lots", lots, "expected a LotCatalog (with lot_for)")
    at = ensure_aware(at, path="at")
    _days(threshold, "threshold")
    skus = dict(by_sku or {})
    categories = dict(by_category or {})
    for name, value in skus.items():
        _days(value, f"by_sku[{name!r}]")
    for name, value in categories.items():
        _days(value, f"by_category[{name!r}]")
    if order.hold(HoldKind.NEAR_EXPIRY) is not None:
        return None
    today = accounting_date(at, tz)
    findings: list[str] = []
    for line in order.lines:
        open_units = line.quantities[LineStatus.OPEN]  # units still to ship
        if not open_units:
            continue
        lot = _lot(lots.lot_for(line.sku, open_units, today), line.sku)
        if lot is None:
            continue
        limit = skus.get(line.sku)
        if limit is None and category_of is not None:
            category = category_of(line.sku)
            limit = categories.get(category) if category is not None else None
        limit = threshold if limit is None else limit
        left = (lot.expires_on - today).days
        if left < limit.days:
            findings.append(
                f"line {line.line_id} ({line.sku}) from lot {lot.lot_id}: {left} days left,"
                f" under {limit.days}"
            )
    if not findings:
        return None
    return Event(
        "hold",
        event_id=f"expiry:{order.order_id}:{today.isoformat()}",
        at=at,
        data={"kind": HoldKind.NEAR_EXPIRY.value, "reason": "; ".join(findings)[:4000]},
        actor=actor,
    )
