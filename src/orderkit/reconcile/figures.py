"""How a reconciliation writes its figures, the same in the outcomes' evidence, the
chain, the memos of derived payouts and every report: an amount to its currency's
places, a span of time as ``[±][D d ]HH:MM`` (the style of the report's header).

>>> from datetime import timedelta
>>> in_places(Decimal("1272.32000"), "CNY"), in_places(Decimal("0.125"), "CNY")
(Decimal('1272.32'), Decimal('0.125'))
>>> duration_text(timedelta(hours=-9), signed=True), duration_text(timedelta(days=2))
('-09:00', '2 d 00:00')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from orderkit.model.money import minor_digits

__all__ = ["duration_text", "in_places", "totals_text"]


def in_places(amount: Decimal, currency: str) -> Decimal:
    """``amount`` to ``currency``'s minor unit when that loses nothing (a WeChat Pay fee
    of ``0.99000`` is ``0.99``, ``7`` is ``7.00``); an amount finer than the minor unit
    is kept in full, so the value never changes."""
    shown = amount.quantize(Decimal(1).scaleb(-minor_digits(currency)))
    return shown if shown == amount else amount


def totals_text(totals: Mapping[str, Decimal]) -> dict[str, str]:
    """Totals by currency as exact decimal text, each to its currency's places, in
    currency order (as summaries and JSON reports give them)."""
    return {currency: str(in_places(value, currency)) for currency, value in sorted(totals.items())}


def duration_text(span: timedelta, *, signed: bool = False) -> str:
    """``span`` as ``D d HH:MM`` (days only when there are any, seconds only when there
    are some: ``2 d 00:00``, ``09:00``, ``00:00:05``). ``signed`` writes the direction
    in front, ``+`` or ``-`` (a bank credit nine hours before the order: ``-09:00``),
    never Python's ``-1 day, 15:00:00``."""
    sign = "-" if span < timedelta(0) else "+"
    seconds = int(abs(span).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (f"{days} d " if days else "") + f"{hours:02d}:{minutes:02d}"
    if seconds:
        text += f":{seconds:02d}"
    return (sign if signed else "") + text
