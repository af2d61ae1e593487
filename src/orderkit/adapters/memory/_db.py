"""One in-memory database: the lock, the undo log and the after-commit callbacks that the
memory adapters built on it share, as SQLite adapters on one file share its transaction.

A :class:`~orderkit.adapters.memory.MemoryOrderRepository` owns one (its ``database``);
a :class:`~orderkit.adapters.memory.MemoryInventoryStore` built on it joins the
repository's :meth:`Database.atomic` blocks, so an order and the stock it locked are kept
or undone together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from orderkit.adapters._commit import checked_callback, run_committed

__all__ = ["Database"]


class Database:
    """A reentrant lock every write and read of its stores holds, and, while a block is
    open, the undo log of their writes (oldest first)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        #: While an atomic block is open: how to undo each write, oldest first.
        self._undo: list[Callable[[], None]] | None = None
        #: Per thread: the callbacks owed when its outermost block commits (``None``
        #: while it has no block open).
        self._local = threading.local()

    @property
    def recording(self) -> bool:
        """Whether a block is open, so a write must :meth:`remember` its undo (asked
        with :attr:`lock` held)."""
        return self._undo is not None

    def remember(self, undo: Callable[[], None]) -> None:
        """Keep ``undo`` to run if the open block raises (with :attr:`lock` held; nothing
        to do outside a block)."""
        if self._undo is not None:
            self._undo.append(undo)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A block whose writes, on every store of this database, are kept together or
        undone together when it raises. Blocks nest; the outermost one's end commits and
        then runs what :meth:`after_commit` registered."""
        with self.lock:
            outer = self._undo is None
            undo = self._undo = [] if outer else self._undo
            assert undo is not None
            mark = len(undo)
            if outer:
                self._local.owed = []
            owed: list[Callable[[], None]] = self._local.owed
            owed_mark = len(owed)
            try:
                yield
            except BaseException:
                while len(undo) > mark:
                    undo.pop()()
                del owed[owed_mark:]
                raise
            finally:
                if outer:
                    self._undo = None
                    self._local.owed = None
        if outer:
            run_committed(owed)  # committed, the lock released

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this thread's outermost :meth:`atomic` block ends
        without raising (at once when it has none open); dropped if the block it was
        registered in raises. Registered again in one block, it runs once. Something
        that cannot be called is refused with a ``ValidationError`` naming
        ``callback``."""
        checked_callback(callback)
        owed: list[Callable[[], None]] | None = getattr(self._local, "owed", None)
        if owed is None:
            callback()
        elif callback not in owed:
            owed.append(callback)
