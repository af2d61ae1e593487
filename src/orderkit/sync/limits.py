"""Per-platform limits of the "orders changed between" APIs, and the windows a poll or
a backfill asks for.

Each :class:`PlatformLimits` names the API it describes; ``docs/sync.md`` gives the
source of every number and says which are orderkit's own choice where the platform
states none.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import ValidationError
from orderkit.model.time import ensure_aware

__all__ = ["LIMITS", "PlatformLimits", "check_window", "limits_for", "windows"]


def _positive(_instance: object, attribute: Any, value: Any) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValidationError(attribute.name, value, "expected a positive timedelta")


def _optional_positive(instance: object, attribute: Any, value: Any) -> None:
    if value is not None:
        _positive(instance, attribute, value)


@attrs.frozen
class PlatformLimits:
    """What one platform's incremental order API allows.

    ``api`` names it; ``max_window`` is the longest ``[since, until]`` one call may ask
    for; ``lookback`` how far back it answers at all (``None``: no stated bound);
    ``page_size`` the most orders one page may hold; ``settle`` how far each poll
    starts before the cursor, on the platform's clock, for changes the platform
    commits late.
    """

    api: str = attrs.field(validator=check.text(allow_empty=False))
    max_window: timedelta = attrs.field(validator=_positive)
    page_size: int = attrs.field(validator=check.count(minimum=1))
    settle: timedelta = attrs.field(validator=_positive)
    lookback: timedelta | None = attrs.field(default=None, validator=_optional_positive)


_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)

#: The built-in platforms' limits (see docs/sync.md for the source of each number).
LIMITS: Final[dict[str, PlatformLimits]] = {
    "tmall": PlatformLimits("taobao.trades.sold.increment.get", _DAY, 100, 5 * _MINUTE,
                            lookback=90 * _DAY),
    "taobao": PlatformLimits("taobao.trades.sold.increment.get", _DAY, 100, 5 * _MINUTE,
                             lookback=90 * _DAY),
    "pdd": PlatformLimits("pdd.order.number.list.increment.get", 30 * _MINUTE, 100,
                          3 * _MINUTE),
    "douyin": PlatformLimits("order.searchList (update_time_start/update_time_end)", _DAY,
                             100, 5 * _MINUTE),
    "jd": PlatformLimits("jingdong.pop.order.search (dateType modified)", _DAY, 100,
                         5 * _MINUTE),
    "shopify": PlatformLimits("GET /admin/api/orders.json (updated_at_min/updated_at_max)",
                              _DAY, 250, 5 * _MINUTE),
    "woocommerce": PlatformLimits("GET /wp-json/wc/v3/orders (modified_after/modified_before)",
                                  _DAY, 100, 5 * _MINUTE),
}


def limits_for(platform: str, table: dict[str, PlatformLimits] | None = None) -> PlatformLimits:
    """The limits of ``platform`` in ``table`` (default :data:`LIMITS`);
    :class:`ValidationError` naming it when it has none."""
    table = LIMITS if table is None else table
    try:
        return table[platform]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ValidationError("platform", platform, f"no limits (known: {known})") from None


def check_window(
    limits: PlatformLimits, since: datetime, until: datetime, *, now: datetime
) -> tuple[datetime, datetime]:
    """``since`` and ``until`` checked: aware, in order, and ``since`` within the
    platform's ``lookback`` from ``now`` (refused with :class:`ValidationError` naming
    ``since``: the API would answer with nothing, and an empty answer must not pass for
    "nothing changed")."""
    since = ensure_aware(since, path="since")
    until = ensure_aware(until, path="until")
    now = ensure_aware(now, path="now")
    if until < since:
        raise ValidationError("until", until, f"is before since ({since.isoformat()})")
    if limits.lookback is not None and since < now - limits.lookback:
        raise ValidationError(
            "since", since,
            f"{limits.api} answers only the last {limits.lookback.days} days "
            f"(from {(now - limits.lookback).isoformat()})",
        )
    return since, until


def windows(
    limits: PlatformLimits, since: datetime, until: datetime, *, now: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """``[since, until]`` cut into consecutive windows of at most ``limits.max_window``,
    oldest first (each starts where the previous ended); the window is checked first
    (:func:`check_window`), when this is called."""
    since, until = check_window(limits, since, until, now=now)
    return _cut(limits, since, until)


def _cut(
    limits: PlatformLimits, since: datetime, until: datetime
) -> Iterator[tuple[datetime, datetime]]:
    start = since
    while True:
        end = min(start + limits.max_window, until)
        yield start, end
        if end >= until:
            return
        start = end
