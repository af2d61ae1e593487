"""Claim tokens: unique per claim across every process sharing a store, and cheap.

A token only has to differ from every other claim's token on the same key: it is the
compare-and-set tag that stops a caller whose lease was taken over from completing or
releasing the new holder's claim. It is not a secret (whoever can write the store can
rewrite the record anyway). So instead of 16 fresh random bytes per claim (a system
call), a token is a random 96-bit per-process prefix (24 hex digits) and a counter. The
prefix is drawn again in a forked child (``os.register_at_fork``), so a parent and its
children never share a sequence; ``itertools.count`` hands out each number once,
whatever the thread.
"""

from __future__ import annotations

import itertools
import os

__all__ = ["new_token"]

_prefix = os.urandom(12).hex()
_numbers = itertools.count(1)


def _redraw() -> None:
    global _prefix, _numbers
    _prefix = os.urandom(12).hex()
    _numbers = itertools.count(1)


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork() either
    os.register_at_fork(after_in_child=_redraw)


def new_token() -> str:
    """A claim token no other claim, in this process or another, has been given."""
    return f"{_prefix}{next(_numbers)}"  # the prefix has a fixed length
