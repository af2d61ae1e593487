"""Claim tokens: unique per claim across every process sharing a store, and cheap.

A token only has to differ from every other claim's token on the same key: it is the
compare-and-set tag that stops a caller whose lease was taken over from completing or
releasing the new holder's claim. It is not a secret (whoever can write the store can
rewrite the record anyway). So instead of 16 fresh random bytes per claim (a system
call), a token is a random 96-bit per-process prefix (24 hex digits) and a counter, from
:class:`orderkit._unique.UniqueIds` (redrawn in a forked child).
"""

from __future__ import annotations

from orderkit._unique import UniqueIds

__all__ = ["new_token"]

_TOKENS = UniqueIds(12, "%d")


def new_token() -> str:
    """A claim token no other claim, in this process or another, has been given."""
    return _TOKENS.next()
