"""Process-unique ids: a random per-process prefix and a counter.

Claim tokens (idempotency) and ledger entry and lock ids (inventory) must differ from
every other id any process sharing the store draws, but they are not secrets (a lock id's
unforgeability comes from its signature). Fresh randomness per id costs a system call;
a random prefix per process plus a counter costs none. The prefix is drawn again in a
forked child (an ``os.register_at_fork`` hook restarts every live source), so a parent
and its children never share a sequence.
"""

from __future__ import annotations

import itertools
import os
import weakref
from collections.abc import Callable

__all__ = ["UniqueIds"]


class UniqueIds:
    """``ids()`` -> the next id: ``prefix_bytes`` random bytes in hex, then the counter
    (from 1) formatted with ``counter`` (``"%08x"``, ``"%d"``).

    :attr:`next` is a C-level iterator step (formatting the next counter value), so
    drawing an id runs no Python code and is safe across threads; read it afresh for
    each call, since a fork replaces it.
    """

    __slots__ = ("__weakref__", "_counter", "_prefix_bytes", "next")

    next: Callable[[], str]

    def __init__(self, prefix_bytes: int, counter: str) -> None:
        self._prefix_bytes = prefix_bytes
        self._counter = counter
        self._restart()
        _LIVE.add(self)

    def _restart(self) -> None:
        pattern = os.urandom(self._prefix_bytes).hex() + self._counter
        self.next = map(pattern.__mod__, itertools.count(1)).__next__

    def __call__(self) -> str:
        return self.next()


_LIVE: weakref.WeakSet[UniqueIds] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for ids in list(_LIVE):
        ids._restart()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork() either
    os.register_at_fork(after_in_child=_after_fork_in_child)
