"""Order references hidden in free-text memos.

People type order numbers into bank transfer memos by hand: with spaces
(``"SO 2026 0216 000892"``), in full-width characters from a Chinese input method
(``"ＳＯ２０２６０２１６０００８９２"``), after a word (``"货款SO20260216000892"``) or with a
dash in the middle. :func:`extract_refs` turns such a memo into candidate references; the
engine then accepts a candidate only when it points at exactly one open record with the
same amount (anything else is a suggestion for a person to confirm).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["extract_refs", "linked_ids"]

#: A run of 8 or more digits (a platform order number, a bank reference) with the up to
#: 8 letters right before it. With letters and exactly 14 digits the two together are a
#: reconciliation id (1-8 letters, a yyyymmdd date and a 6-digit sequence), so one scan
#: finds both kinds of candidate. ``[0-9]``, not ``\d``: any other character, a digit
#: of another script included, separates candidates. Both quantifiers are possessive
#: (``{0,8}+``): giving back a letter can never let a match start, since a digit must
#: follow the letters, so the engine need not try (which made long words slow to scan).
_RUN: Final = re.compile(r"([A-Z]{0,8}+)([0-9]{8,}+)")
#: Every ASCII byte but the digits and capital letters: what the compact form of a memo
#: drops (encoding it to ASCII with errors ignored has already dropped the rest).
_SYMBOLS: Final = bytes(b for b in range(128) if not (48 <= b <= 57 or 65 <= b <= 90))
_ID_DIGITS: Final = 14
#: Tmall and Taobao orders paid through Alipay carry ``T200P`` and the Taobao order
#: number (tid) as their merchant order number in the Alipay bills.
_PLATFORM_PREFIXES: Final = ("T200P",)


def _normalise(memo: str) -> str:
    # NFKC folds full-width letters and digits to ASCII; upper() makes "so" == "SO".
    return unicodedata.normalize("NFKC", memo).upper()


def extract_refs(memo: str) -> list[str]:
    """Candidate references in ``memo``, most specific first, without duplicates.

    Recon-id shaped candidates come first, then digit runs of 8 or more. Each is looked
    for both in the memo as typed (split at spaces and symbols) and in the memo with
    every space and symbol removed, so ``"SO 2026-0216 000892"`` still yields the id.

    >>> extract_refs("货款 SO 2026 0216 000892，谢谢")
    ['SO20260216000892', '20260216000892']
    >>> extract_refs("ＳＯ２０２６０２１６０００８９２")
    ['SO20260216000892', '20260216000892']
    >>> extract_refs("order 3698512204871532841 paid")
    ['3698512204871532841']
    >>> extract_refs("lunch")
    []
    """
    if not memo:
        return []
    text = memo.upper() if memo.isascii() else _normalise(memo)
    found = _RUN.findall(text)
    # The memo with every space and symbol removed: only ASCII digits and capitals.
    compact = text.encode("ascii", "ignore").translate(None, _SYMBOLS).decode("ascii")
    if compact not in text:
        # Otherwise every digit and capital is in one unbroken stretch of the memo (or
        # there are none), which the scan above has read as the compact form would be.
        found += _RUN.findall(compact)
    if not found:
        return []
    ids: list[str] = []
    digits: list[str] = []
    for letters, run in found:
        digits.append(run)
        if letters and len(run) == _ID_DIGITS:
            if len(letters) <= 2:
                ids.append(letters + run)
            else:
                # "ORDERSO20260216000892": the id may start anywhere in a run of letters
                # (keeping at least two of them).
                ids.extend(letters[start:] + run for start in range(len(letters) - 1))
    # dict.fromkeys keeps the first occurrence of each candidate, in order.
    return list(dict.fromkeys(ids + digits))


def linked_ids(ref: str | None, links: tuple[str, ...]) -> list[str]:
    """The ids a record shares with records of other systems: its ``ref``, its ``links``
    and the platform order numbers they embed (``"T200P3698512204871532841"``, the
    merchant order number Alipay shows for a Tmall order, embeds the Tmall order number
    ``"3698512204871532841"``), without duplicates.

    >>> linked_ids("T200P3698512204871532841", ("2026021622001400001",))
    ['T200P3698512204871532841', '2026021622001400001', '3698512204871532841']
    >>> linked_ids(None, ())
    []
    """
    names = [ref, *links] if ref else list(links)
    for name in tuple(names):
        for prefix in _PLATFORM_PREFIXES:
            if name.startswith(prefix) and name[len(prefix) :].isdigit():
                names.append(name[len(prefix) :])
    return list(dict.fromkeys(names))
