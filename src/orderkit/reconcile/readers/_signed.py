"""Helpers shared by the platform bill readers: signed amounts and local dates."""

from __future__ import annotations

import re
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money

__all__ = ["INCOME_WORDS", "OUTGO_WORDS", "plain_datetime", "signed"]

#: Direction cells that mean money in, and money out.
INCOME_WORDS: Final = frozenset({"收入", "入账", "收", "+", "1", "income", "credit"})
OUTGO_WORDS: Final = frozenset({"支出", "出账", "支", "-", "0", "expense", "debit"})

_COMPACT_DATE: Final = re.compile(r"(\d{4})(\d{2})(\d{2})(?:[ T]?(\d{2}):?(\d{2}):?(\d{2}))?\Z")
_CHINESE_DATE: Final = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日\s*(.*)\Z")


def signed(amount: Money, direction: str, column: str) -> Money:
    """``amount`` signed by a direction cell (``收入``/``入账`` in, ``支出``/``出账`` out)."""
    text = direction.strip()
    if text in INCOME_WORDS:
        return abs(amount)
    if text in OUTGO_WORDS:
        return -abs(amount)
    raise ValidationError(column, direction, "expected 收入/入账 or 支出/出账")


def plain_datetime(text: str) -> str:
    """``20260302``, ``20260302 101500`` and ``2026年3月2日 10:15`` as ISO-like text.

    Banks write dates without separators; read as they are, eight digits would be a
    unix time in 1970.
    """
    cell = text.strip()
    match = _COMPACT_DATE.match(cell)
    if match:
        year, month, day, hour, minute, second = match.groups()
        time = f" {hour}:{minute}:{second}" if hour else ""
        return f"{year}-{month}-{day}{time}"
    match = _CHINESE_DATE.match(cell)
    if match:
        year, month, day, rest = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}{' ' + rest if rest else ''}"
    return cell
