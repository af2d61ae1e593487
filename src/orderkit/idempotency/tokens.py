"""Claim tokens: unique per claim across every process sharing a store.

A token only has to differ from every other claim's token on the same key: it is the
compare-and-set tag that stops a caller whose lease was taken over from completing or
releasing the new holder's claim. It is not a secret (whoever can write the store can
rewrite the record anyway), but it is drawn from :mod:`secrets` so that no two
processes, forked or not, can ever draw the same sequence.
"""

from __future__ import annotations

import secrets

__all__ = ["new_token"]


def new_token() -> str:
    """A claim token no other claim, in this process or another, has been given."""
    return secrets.token_hex(16)
