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

__all__ = ["extract_refs"]

#: A reconciliation id: 1-8 letters, a yyyymmdd date and a 6-digit sequence.
_RECON_ID: Final = re.compile(r"[A-Z]{1,8}\d{14}(?!\d)")
#: Any run of 8 or more digits (a platform order number, a bank reference).
_DIGITS: Final = re.compile(r"\d{8,}")
_SEPARATORS: Final = re.compile(r"[^0-9A-Z]+")


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
    spaced = _SEPARATORS.sub(" ", text)
    ids = _RECON_ID.findall(spaced)
    digits = _DIGITS.findall(spaced)
    if " " in spaced:
        # Without separators the compact form is the same text: nothing new to find.
        compact = spaced.replace(" ", "")
        ids += _RECON_ID.findall(compact)
        digits += _DIGITS.findall(compact)
    candidates: list[str] = []
    for found in ids:
        # "ORDERSO20260216000892": the id may start anywhere in a run of letters.
        letters = len(found) - 14
        if letters <= 2:
            candidates.append(found)
        else:
            candidates.extend(found[start:] for start in range(letters - 1))
    # dict.fromkeys keeps the first occurrence of each candidate, in order.
    return list(dict.fromkeys(candidates + digits))
