"""Escaping for the reports: HTML built from escaped parts, CSV cells a spreadsheet reads as text.

Report values come from the input files (record ids, memos, rejected cells), so a bank
memo is attacker-controlled text. Two rules keep it inert:

* **HTML** is built only from :class:`Html` fragments. :func:`text` escapes any value
  (``& < > " '``) and :func:`tag` escapes every ``str`` child it is given, so input
  text can only ever reach the page as text; tag names and class names are checked
  against a fixed pattern, never taken from input.
* **CSV** cells go through :func:`spreadsheet_safe`: a text cell that a spreadsheet
  would evaluate (it starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return
  or NUL) gets a single quote (``'``) in front and is otherwise kept intact, as OWASP
  recommends. A cell that is a plain decimal number (``-12.50``, ``+3``, ``1E+3``) is a
  number, not a formula, and is written as it is.
* **Ids in CSV** (record ids, refs) go through :func:`spreadsheet_text`: an id a
  spreadsheet would read as a number (a 19-digit Tmall tid, a 28-digit WeChat Pay
  transaction id, ``00123``) gets the same leading ``'`` so it stays text instead of
  becoming ``4.2E+27`` or losing its zeros. An id that already starts with ``'`` gets one
  more, so a loader strips exactly one leading ``'`` from every id cell.

>>> str(tag("td", "<script>alert(1)</script>", cls="num"))
'<td class="num">&lt;script&gt;alert(1)&lt;/script&gt;</td>'
>>> spreadsheet_safe("=HYPERLINK(\\"http://x\\")"), spreadsheet_safe("-12.50")
('\\'=HYPERLINK("http://x")', '-12.50')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape
from typing import Final

import attrs

from orderkit.model.errors import ValidationError

__all__ = [
    "FORMULA_PREFIXES",
    "Html",
    "join",
    "spreadsheet_safe",
    "spreadsheet_text",
    "tag",
    "text",
]


@attrs.frozen
class Html:
    """A fragment of HTML that is safe to insert as it is.

    Made by :func:`text`, :func:`tag` and :func:`join` from escaped input; the report
    writers create one directly only for fixed literals of their own (the page head).
    """

    markup: str

    def __str__(self) -> str:
        return self.markup


_TAG: Final = re.compile(r"[a-z][a-z0-9]*\Z")
_CLASS: Final = re.compile(r"[a-z][a-z0-9_ -]*\Z")


def text(value: object) -> Html:
    """``value`` as text: ``str(value)`` with ``& < > " '`` escaped."""
    return Html(escape(str(value), quote=True))


def join(parts: Iterable[Html | str]) -> Html:
    """The parts one after another; each ``str`` is escaped as :func:`text`."""
    return Html("".join(p.markup if isinstance(p, Html) else escape(p, quote=True) for p in parts))


def tag(name: str, *children: Html | str, cls: str | None = None) -> Html:
    """``<name class="cls">children</name>``; ``str`` children are escaped as :func:`text`.

    ``name`` and ``cls`` are the writer's own constants: anything but a lower-case tag
    name or class list is refused with a :class:`ValidationError`.
    """
    if not _TAG.match(name):
        raise ValidationError("tag", name, "expected a lower-case HTML tag name")
    if cls is not None and not _CLASS.match(cls):
        raise ValidationError("cls", cls, "expected lower-case class names")
    attribute = f' class="{cls}"' if cls else ""
    return Html(f"<{name}{attribute}>{join(children).markup}</{name}>")


#: First characters that make a spreadsheet read a cell as a formula (OWASP, ASVS 1.2.10).
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r", "\0")

_NUMBER: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


def spreadsheet_safe(cell: str) -> str:
    """``cell`` as a spreadsheet shows it as text: ``'`` before a formula prefix.

    A plain decimal number (optional sign, digits, optional fraction and exponent) is
    left as it is, so negative amounts stay numbers.

    >>> [spreadsheet_safe(c) for c in ("@SUM(A1)", "\\t=1", "-20.00", "-1+2", "乌龙茶")]
    ["'@SUM(A1)", "'\\t=1", '-20.00', "'-1+2", '乌龙茶']
    """
    if cell.startswith(FORMULA_PREFIXES) and not _NUMBER.match(cell):
        return "'" + cell
    return cell


#: A cell a spreadsheet reads as a number (or a date-like figure) when it opens a CSV.
_NUMERIC: Final = re.compile(r"[+-]?[0-9][0-9.,/:eE+-]*\Z")


def spreadsheet_text(cell: str) -> str:
    """An id cell as a spreadsheet keeps it: text, never a number.

    An id that a spreadsheet would turn into a number (digits, perhaps with a sign, a
    point, an exponent or separators) is written with the same leading ``'`` that
    :func:`spreadsheet_safe` puts before a formula, as is an id that already starts with
    ``'``; any other id goes through :func:`spreadsheet_safe`. Reading the file back,
    strip one leading ``'`` from an id cell.

    >>> [spreadsheet_text(c) for c in ("4200001234202603011234567890", "00123", "T200P1", "=1")]
    ["'4200001234202603011234567890", "'00123", 'T200P1', "'=1"]
    """
    if _NUMERIC.match(cell) or cell.startswith("'"):
        return "'" + cell
    return spreadsheet_safe(cell)
