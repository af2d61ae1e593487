"""``InventoryStore`` in memory: one process, one lock, transactions with an undo log.

A transaction holds the store lock for its whole block and applies each entry to the
store's dicts at once (so reads inside it, and the ledger's next decision, see it with
plain dict lookups), recording how to undo every change. When the block raises, the undo
log is replayed backwards before the lock is released, so an exception anywhere leaves
the store exactly as it was and no other thread ever saw the half-written state.

The state is kept as plain rows rather than the public value objects: a SKU's counters
are a ``[on_hand, locked]`` list, a lock line a list in :class:`LockLine` field order,
an entry a tuple in :class:`LedgerEntry` field order. Building a frozen attrs object
costs a few microseconds, which was most of a lock+release; reads build the public
values from the rows (an entry once: it then replaces its row). The store also offers
the ledger's one-call lock and release (:mod:`orderkit.inventory.fastpath`), which
check the rules of :func:`~orderkit.inventory.rules.apply_entry` on the rows before
writing anything and decline whatever is out of the ordinary.

(An earlier version staged entries in an overlay and merged it on exit; every read had
to look in two places and every commit copied the overlay. Same contract, about twice
the cost per lock+release.)
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, Final

from orderkit.inventory.entries import Balance, EntryKind, LedgerEntry, LockLine, trusted_line
from orderkit.inventory.fastpath import FastPathDeclined
from orderkit.inventory.rules import apply_entry
from orderkit.model.errors import ValidationError

__all__ = ["MemoryInventoryStore"]

_ZERO = Balance(0, 0)
_MISSING: Any = object()  # "the key was absent" in the undo log

#: An entry not yet built into a :class:`LedgerEntry`: its fields, in order (the kind
#: as its value).
_EntryRow = tuple[Any, ...]
#: A lock line: ``[lock_key, order_id, sku, qty, locked_at, expires_at, released,
#: committed, expired]``, the :class:`LockLine` fields in order.
_LineRow = list[Any]

_QTY: Final = 3
_RELEASED: Final = 6
_COMMITTED: Final = 7
_EXPIRED: Final = 8
#: The release instants of a SKU never released; read only (written lists are non-empty).
_NO_TIMES: Final[list[datetime]] = []
_heappush: Final = heapq.heappush
_heappop: Final = heapq.heappop
# Rows name their kind by its value: a tuple of strings, ints, datetimes and ``None`` is
# one the garbage collector stops tracking, and a ledger is mostly old entries.
_LOCK: Final = EntryKind.LOCK.value
_RELEASE: Final = EntryKind.RELEASE.value
_COMMIT: Final = EntryKind.COMMIT.value
_KINDS: Final = {kind.value: kind for kind in EntryKind}


def _built(row: _EntryRow) -> LedgerEntry:
    """The :class:`LedgerEntry` a row stands for."""
    return LedgerEntry(row[0], _KINDS[row[1]], *row[2:])


def _remaining(row: _LineRow) -> int:
    return int(row[_QTY] - row[_RELEASED] - row[_COMMITTED] - row[_EXPIRED])


def _breaker_would_park(times: Sequence[datetime], limit: int, since: datetime) -> bool:
    """The ledger's breaker rule (``release_count(sku, since, limit) >= limit``) on the
    SKU's sorted release instants: at least ``limit`` of them are at or after ``since``
    iff the ``limit``-th newest is."""
    return len(times) >= limit and (limit < 1 or times[-limit] >= since)


def _breaks_balance(counters: list[int], qty: int, commit: bool) -> bool:
    """Whether resolving ``qty`` locked units would break :func:`apply_entry`'s rules
    (``locked`` and ``available`` stay >= 0) on ``[on_hand, locked]``."""
    on_hand, locked = counters
    return locked < qty or (on_hand < locked if commit else on_hand < locked - qty)


def _add_sorted(times: list[datetime], at: datetime) -> None:
    """Insert ``at`` into sorted ``times`` (usually at the end: time moves forward)."""
    if times and at < times[-1]:
        bisect.insort(times, at)
    else:
        times.append(at)


def _stamp_release(releases: dict[str, list[datetime]], sku: str, at: datetime) -> None:
    times = releases.get(sku)
    if times is None:
        releases[sku] = [at]
    else:
        _add_sorted(times, at)


def _line_row(line: LockLine) -> _LineRow:
    return [
        line.lock_key, line.order_id, line.sku, line.qty, line.locked_at, line.expires_at,
        line.released, line.committed, line.expired,
    ]


def _draw(new_id: Callable[[], str], count: int, by_id: Mapping[str, int]) -> list[str]:
    """``count`` new entry ids, refused as the port's ``append`` would if one is reused."""
    drawn = [new_id()] if count == 1 else [new_id() for _ in range(count)]
    for entry_id in drawn:
        if entry_id in by_id or (count > 1 and drawn.count(entry_id) > 1):
            raise ValidationError("entry.entry_id", entry_id, "already in the ledger")
    return drawn


def _entry_id(item: LedgerEntry | _EntryRow) -> str:
    return str(item[0]) if isinstance(item, tuple) else item.entry_id


class MemoryInventoryStore:
    """The inventory ledger in dicts, guarded by one lock; same contract as SQLite."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._balances: dict[str, list[int]] = {}
        self._lines: dict[str, dict[str, _LineRow]] = {}
        self._orders: dict[str, list[str]] = {}
        self._entries: list[LedgerEntry | _EntryRow] = []
        self._by_id: dict[str, int] = {}  # entry id -> index in ``_entries``
        self._approvals: dict[str, int] = {}  # park entry id -> index of its APPROVE
        self._parks: dict[str, int] = {}  # unapproved park entry id -> its index
        self._releases: dict[str, list[datetime]] = {}
        self._due: dict[str, list[tuple[datetime, str]]] = {}
        self._all_due: list[tuple[datetime, str, str]] = []

    # --- transactions ------------------------------------------------------------------

    def transaction(self, skus: Collection[str]) -> _MemoryTransaction:
        """Apply entries under the store lock; undo them all if the block raises."""
        return _MemoryTransaction(self, skus)

    def _line(self, lock_key: str | None, sku: str) -> _LineRow | None:
        if lock_key is None:
            return None
        by_sku = self._lines.get(lock_key)
        return None if by_sku is None else by_sku.get(sku)

    def _entry_at(self, index: int) -> LedgerEntry:
        """The entry at ``index``, built from its row the first time (store lock held)."""
        item = self._entries[index]
        if isinstance(item, tuple):
            item = self._entries[index] = _built(item)
        return item

    # --- the one-call lock and release (orderkit.inventory.fastpath) --------------------

    def fast_lock(
        self,
        order_id: str,
        demand: Mapping[str, int],
        lock_key: str,
        now: datetime,
        expires_at: datetime,
        actor: str,
        new_id: Callable[[], str],
    ) -> dict[str, tuple[int, int]]:
        """Lock all of ``demand`` as ``lock_key`` or nothing; ``{}`` or the shortages.

        Declines (:class:`FastPathDeclined`, nothing written) when ``lock_key`` is
        already known or a SKU has a due line to expire first.
        """
        with self._lock:
            if lock_key in self._lines:
                raise FastPathDeclined
            if len(demand) != 1:
                return self._lock_lines(order_id, demand, lock_key, now, expires_at, actor, new_id)
            # One line, the common lock, straight through.
            ((sku, qty),) = demand.items()
            heap = self._due.get(sku)
            if heap and heap[0][0] <= now:
                self._drop_resolved_due(sku, heap, now)
            counters = self._balances.get(sku)
            if counters is None:
                return {sku: (qty, 0)}
            on_hand, locked = counters
            if qty > on_hand - locked:
                return {sku: (qty, on_hand - locked)}
            if locked + qty < 0:  # apply_entry's other rule; never in a sound store
                raise FastPathDeclined
            entry_id = new_id()
            by_id = self._by_id
            if entry_id in by_id:
                raise ValidationError("entry.entry_id", entry_id, "already in the ledger")
            # Every check passed: write.
            entries = self._entries
            by_id[entry_id] = len(entries)
            entries.append(
                (entry_id, _LOCK, sku, qty, now, actor, "lock", order_id, lock_key, expires_at,
                 None)
            )
            counters[1] = locked + qty
            self._lines[lock_key] = {
                sku: [lock_key, order_id, sku, qty, now, expires_at, 0, 0, 0]
            }
            if heap is None:
                self._due[sku] = [(expires_at, lock_key)]
            else:
                _heappush(heap, (expires_at, lock_key))
            _heappush(self._all_due, (expires_at, lock_key, sku))
            keys = self._orders.get(order_id)
            if keys is None:
                self._orders[order_id] = [lock_key]
            else:
                keys.append(lock_key)
            return {}

    def _lock_lines(
        self,
        order_id: str,
        demand: Mapping[str, int],
        lock_key: str,
        now: datetime,
        expires_at: datetime,
        actor: str,
        new_id: Callable[[], str],
    ) -> dict[str, tuple[int, int]]:
        """:meth:`fast_lock` of several lines (store lock held)."""
        balances = self._balances
        due = self._due
        shortages: dict[str, tuple[int, int]] = {}
        for sku, qty in demand.items():
            heap = due.get(sku)
            if heap and heap[0][0] <= now:
                self._drop_resolved_due(sku, heap, now)
            counters = balances.get(sku)
            if counters is None:
                shortages[sku] = (qty, 0)
            elif qty > counters[0] - counters[1]:
                shortages[sku] = (qty, counters[0] - counters[1])
            elif counters[1] + qty < 0:  # apply_entry's other rule; never in a sound store
                raise FastPathDeclined
        if shortages:
            return shortages
        self._write_lock(
            order_id, demand, lock_key, _draw(new_id, len(demand), self._by_id), now,
            expires_at, actor,
        )
        return shortages

    def _write_lock(
        self,
        order_id: str,
        demand: Mapping[str, int],
        lock_key: str,
        entry_ids: Sequence[str],
        now: datetime,
        expires_at: datetime,
        actor: str,
    ) -> None:
        """Write a decided lock: its entries, counters, lines and due items."""
        balances = self._balances
        by_id = self._by_id
        entries = self._entries
        due = self._due
        all_due = self._all_due
        new_lines: dict[str, _LineRow] = {}
        for index, (sku, qty) in enumerate(demand.items()):
            entry_id = entry_ids[index]
            by_id[entry_id] = len(entries)
            entries.append(
                (entry_id, _LOCK, sku, qty, now, actor, "lock", order_id, lock_key, expires_at,
                 None)
            )
            balances[sku][1] += qty
            new_lines[sku] = [lock_key, order_id, sku, qty, now, expires_at, 0, 0, 0]
            heap = due.get(sku)
            if heap is None:
                due[sku] = [(expires_at, lock_key)]
            else:
                _heappush(heap, (expires_at, lock_key))
            _heappush(all_due, (expires_at, lock_key, sku))
        self._lines[lock_key] = new_lines
        keys = self._orders.get(order_id)
        if keys is None:
            self._orders[order_id] = [lock_key]
        else:
            keys.append(lock_key)

    def fast_lock_many(
        self,
        requests: Sequence[tuple[str, Mapping[str, int]]],
        now: datetime,
        expires_at: datetime,
        actor: str,
        new_id: Callable[[], str],
    ) -> list[str | dict[str, tuple[int, int]]]:
        """Decide ``requests`` in order, as one batch; each gets its lock key or shortages.

        Every decision is made (against the counters plus the locks planned before it in
        the batch) and every id drawn before anything is written. Declines when a SKU
        has a due line to expire first, and when the id source repeats a lock key.
        """
        with self._lock:
            balances = self._balances
            due = self._due
            for _order_id, demand in requests:
                for sku in demand:
                    heap = due.get(sku)
                    if heap and heap[0][0] <= now:
                        self._drop_resolved_due(sku, heap, now)
                    counters = balances.get(sku)
                    if counters is not None and counters[1] < 0:
                        raise FastPathDeclined  # never in a sound store; the port refuses it
            planned: list[tuple[str, Mapping[str, int], str, list[str]]] = []
            decided: list[str | dict[str, tuple[int, int]]] = []
            extra: dict[str, int] = {}  # units locked by the planned locks, per SKU
            keys: set[str] = set()
            drawn: set[str] = set()
            by_id = self._by_id
            for order_id, demand in requests:
                shortages: dict[str, tuple[int, int]] = {}
                for sku, qty in demand.items():
                    counters = balances.get(sku)
                    available = 0 if counters is None else (
                        counters[0] - counters[1] - extra.get(sku, 0)
                    )
                    if qty > available:
                        shortages[sku] = (qty, available)
                if shortages:
                    decided.append(shortages)
                    continue
                lock_key = new_id()
                if lock_key in self._lines or lock_key in keys:
                    raise FastPathDeclined
                keys.add(lock_key)
                entry_ids: list[str] = []
                for _sku in demand:
                    entry_id = new_id()
                    if entry_id in by_id or entry_id in drawn:
                        raise ValidationError("entry.entry_id", entry_id, "already in the ledger")
                    drawn.add(entry_id)
                    entry_ids.append(entry_id)
                for sku, qty in demand.items():
                    extra[sku] = extra.get(sku, 0) + qty
                planned.append((order_id, demand, lock_key, entry_ids))
                decided.append(lock_key)
            # Every decision made and every check passed: write.
            for order_id, demand, lock_key, entry_ids in planned:
                self._write_lock(order_id, demand, lock_key, entry_ids, now, expires_at, actor)
            return decided

    def fast_resolve(
        self,
        lock_key: str,
        order_id: str,
        wanted: Mapping[str, int] | None,
        commit: bool,
        now: datetime,
        since: datetime,
        release_limit: int,
        actor: str,
        reason: str,
        new_id: Callable[[], str],
    ) -> tuple[dict[str, int], Sequence[LockLine]]:
        """Release or commit ``wanted`` (all when ``None``) of one lock; see the module.

        Declines (nothing written) an unknown lock or one of another order, a SKU the
        lock does not hold, a due line of the lock's SKUs, a release the breaker would
        park, and anything apply_entry would refuse.
        """
        with self._lock:
            by_sku = self._lines.get(lock_key)
            if not by_sku:
                raise FastPathDeclined
            if len(by_sku) != 1:
                return self._resolve_lines(
                    by_sku, lock_key, order_id, wanted, commit, now, since, release_limit,
                    actor, reason, new_id,
                )
            # A lock of one line, the common case, straight through.
            ((sku, row),) = by_sku.items()
            if row[1] != order_id:
                raise FastPathDeclined
            if wanted is not None and (len(wanted) != 1 or sku not in wanted):
                raise FastPathDeclined
            heap = self._due.get(sku)
            if heap and heap[0][0] <= now:
                self._drop_resolved_due(sku, heap, now)
            qty = _remaining(row)
            if wanted is not None and wanted[sku] < qty:
                qty = wanted[sku]
            if qty <= 0:
                return {}, (trusted_line(*row),)
            if not commit and _breaker_would_park(
                self._releases.get(sku, _NO_TIMES), release_limit, since
            ):
                raise FastPathDeclined
            counters = self._balances.get(sku)
            if counters is None or _breaks_balance(counters, qty, commit):
                raise FastPathDeclined
            on_hand, locked = counters
            entry_id = new_id()
            by_id = self._by_id
            if entry_id in by_id:
                raise ValidationError("entry.entry_id", entry_id, "already in the ledger")
            # Every check passed: write.
            entries = self._entries
            by_id[entry_id] = len(entries)
            counters[1] = locked - qty
            if heap and locked == qty:
                heap.clear()  # nothing of the SKU is locked: every line in it is resolved
            if commit:
                entries.append(
                    (entry_id, _COMMIT, sku, qty, now, actor, reason, order_id, lock_key, None,
                     None)
                )
                counters[0] = on_hand - qty
                row[_COMMITTED] += qty
            else:
                entries.append(
                    (entry_id, _RELEASE, sku, qty, now, actor, reason, order_id, lock_key, None,
                     None)
                )
                row[_RELEASED] += qty
                _stamp_release(self._releases, sku, now)
            return {sku: qty}, ()

    def _resolve_lines(
        self,
        by_sku: dict[str, _LineRow],
        lock_key: str,
        order_id: str,
        wanted: Mapping[str, int] | None,
        commit: bool,
        now: datetime,
        since: datetime,
        release_limit: int,
        actor: str,
        reason: str,
        new_id: Callable[[], str],
    ) -> tuple[dict[str, int], Sequence[LockLine]]:
        """:meth:`fast_resolve` of a lock of several lines (store lock held)."""
        due = self._due
        for sku, row in by_sku.items():
            if row[1] != order_id:
                raise FastPathDeclined
            heap = due.get(sku)
            if heap and heap[0][0] <= now:
                self._drop_resolved_due(sku, heap, now)
        if wanted is None:
            targets: Collection[str] = by_sku
        else:
            for sku in wanted:
                if sku not in by_sku:
                    raise FastPathDeclined
            targets = wanted
        balances = self._balances
        releases = self._releases
        moved: dict[str, int] = {}
        for sku in sorted(targets):
            row = by_sku[sku]
            qty = _remaining(row)
            if wanted is not None and wanted[sku] < qty:
                qty = wanted[sku]
            if qty <= 0:
                continue
            if not commit and _breaker_would_park(
                releases.get(sku, _NO_TIMES), release_limit, since
            ):
                raise FastPathDeclined
            counters = balances.get(sku)
            if counters is None or _breaks_balance(counters, qty, commit):
                raise FastPathDeclined
            moved[sku] = qty
        if not moved:
            return moved, tuple(trusted_line(*by_sku[sku]) for sku in targets)
        entry_ids = _draw(new_id, len(moved), self._by_id)
        # Every check passed: write.
        by_id = self._by_id
        entries = self._entries
        kind = _COMMIT if commit else _RELEASE
        for index, (sku, qty) in enumerate(moved.items()):
            entry_id = entry_ids[index]
            by_id[entry_id] = len(entries)
            entries.append(
                (entry_id, kind, sku, qty, now, actor, reason, order_id, lock_key, None, None)
            )
            counters = balances[sku]
            counters[1] -= qty
            if not counters[1]:
                heap = due.get(sku)
                if heap:
                    heap.clear()  # nothing of the SKU is locked: every line in it is resolved
            if commit:
                counters[0] -= qty
                by_sku[sku][_COMMITTED] += qty
            else:
                by_sku[sku][_RELEASED] += qty
                _stamp_release(releases, sku, now)
        return moved, ()

    def _drop_resolved_due(
        self, sku: str, heap: list[tuple[datetime, str]], now: datetime
    ) -> None:
        """Pop the due items of lines already resolved; decline at an open due line.

        Popping a resolved line's item is what ``due_lines`` does too, so it changes
        nothing anyone can observe; an open one has to be expired first, by the port.
        """
        lines = self._lines
        while heap:
            expires_at, lock_key = heap[0]
            if expires_at > now:
                return
            by_sku = lines.get(lock_key)
            row = None if by_sku is None else by_sku.get(sku)
            if row is not None and _remaining(row) > 0:
                raise FastPathDeclined
            _heappop(heap)

    # --- reads -------------------------------------------------------------------------

    def balance(self, sku: str) -> Balance:
        """The counters of ``sku`` (zeros when never seen)."""
        with self._lock:
            counters = self._balances.get(sku)
            return _ZERO if counters is None else Balance(*counters)

    def balances(self) -> Mapping[str, Balance]:
        """The counters of every SKU seen."""
        with self._lock:
            return {sku: Balance(*counters) for sku, counters in self._balances.items()}

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        """The lines of one lock (empty when unknown)."""
        with self._lock:
            return _lines_of(self._lines.get(lock_key))

    def lines_of_order(self, order_id: str) -> Sequence[LockLine]:
        """Every lock line taken for ``order_id``, oldest lock first."""
        with self._lock:
            return tuple(
                trusted_line(*row)
                for lock_key in self._orders.get(order_id, ())
                for row in self._lines[lock_key].values()
            )

    def all_lock_lines(self) -> Iterator[LockLine]:
        """Every lock line."""
        with self._lock:
            lines = [
                trusted_line(*row) for by_sku in self._lines.values() for row in by_sku.values()
            ]
        return iter(lines)

    def due_lines(self, now: datetime, limit: int) -> Sequence[LockLine]:
        """Up to ``limit`` open lines whose lock expired by ``now``."""
        with self._lock:
            heap = self._all_due
            found: list[LockLine] = []
            keep: list[tuple[datetime, str, str]] = []
            while heap and heap[0][0] <= now and len(found) < limit:
                item = heapq.heappop(heap)
                row = self._line(item[1], item[2])
                if row is not None and _remaining(row) > 0:
                    found.append(trusted_line(*row))
                    keep.append(item)
            for item in keep:
                heapq.heappush(heap, item)
            return tuple(found)

    def entries(self) -> Iterator[LedgerEntry]:
        """Every entry in append order."""
        with self._lock:
            entries = self._entries
            built: list[LedgerEntry] = []
            for index, item in enumerate(entries):
                if isinstance(item, tuple):
                    item = entries[index] = _built(item)
                built.append(item)
            return iter(built)

    def entry(self, entry_id: str) -> LedgerEntry | None:
        """One entry by id, or ``None``."""
        with self._lock:
            index = self._by_id.get(entry_id)
            return None if index is None else self._entry_at(index)

    def pending_parks(self) -> Sequence[LedgerEntry]:
        """``PARK`` entries not yet approved, oldest first."""
        with self._lock:
            return tuple(self._entry_at(index) for index in self._parks.values())


def _lines_of(by_sku: dict[str, _LineRow] | None) -> Sequence[LockLine]:
    if not by_sku:
        return ()
    if len(by_sku) == 1:  # every release reads its lock first: skip the sort
        return tuple(trusted_line(*row) for row in by_sku.values())
    return tuple(trusted_line(*by_sku[sku]) for sku in sorted(by_sku))


class _MemoryTransaction:
    """One write transaction: entries go straight into the store, with an undo log."""

    __slots__ = ("entries_at", "skus", "store", "undo")

    def __init__(self, store: MemoryInventoryStore, skus: Collection[str]) -> None:
        self.store = store
        self.skus = frozenset(skus)
        # How to undo each change, newest last: ``(dict, key, value before)`` (the common
        # case, a cheap tuple; ``_MISSING`` when the key was absent) or a callable.
        self.undo: list[Callable[[], object] | tuple[dict[Any, Any], Any, object]] = []
        self.entries_at = 0

    def __enter__(self) -> _MemoryTransaction:
        self.store._lock.acquire()
        self.entries_at = len(self.store._entries)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if kind is not None:
                self._rollback()
        finally:
            self.store._lock.release()

    def _rollback(self) -> None:
        store = self.store
        for item in store._entries[self.entries_at :]:
            store._by_id.pop(_entry_id(item), None)
        del store._entries[self.entries_at :]
        for action in reversed(self.undo):
            if callable(action):
                action()
                continue
            mapping, key, old = action
            if old is _MISSING:
                mapping.pop(key, None)
            else:
                mapping[key] = old
        self.undo.clear()

    def balance(self, sku: str) -> Balance:
        counters = self.store._balances.get(sku)
        return _ZERO if counters is None else Balance(*counters)

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        return _lines_of(self.store._lines.get(lock_key))

    def due_lines(self, sku: str, now: datetime) -> Sequence[LockLine]:
        heap = self.store._due.get(sku)
        if not heap or heap[0][0] > now:  # the common case: nothing of this SKU is due
            return ()
        found: dict[str, LockLine] = {}
        popped: list[tuple[datetime, str]] = []
        while heap and heap[0][0] <= now:
            item = heapq.heappop(heap)
            row = self.store._line(item[1], sku)
            if row is not None and _remaining(row) > 0:
                popped.append(item)  # still open: it stays due until resolved
                found[item[1]] = trusted_line(*row)
        for item in popped:
            heapq.heappush(heap, item)
        return tuple(found.values())

    def release_count(self, sku: str, since: datetime, cap: int) -> int:
        # A sorted list of the SKU's release instants: one bisect, never a scan.
        times = self.store._releases.get(sku)
        if not times:
            return 0
        return min(len(times) - bisect.bisect_left(times, since), cap)

    def entry(self, entry_id: str) -> LedgerEntry | None:
        index = self.store._by_id.get(entry_id)
        return None if index is None else self.store._entry_at(index)

    def approval_of(self, park_entry_id: str) -> LedgerEntry | None:
        index = self.store._approvals.get(park_entry_id)
        return None if index is None else self.store._entry_at(index)

    def append(self, entry: LedgerEntry) -> None:
        store = self.store
        sku = entry.sku
        if sku not in self.skus:
            raise ValidationError("entry.sku", sku, "not among the SKUs this transaction locked")
        entry_id = entry.entry_id
        if entry_id in store._by_id:
            raise ValidationError("entry.entry_id", entry_id, "already in the ledger")
        kind = entry.kind
        if kind is EntryKind.APPROVE:
            index = None if entry.ref is None else store._by_id.get(entry.ref)
            park = None if index is None else store._entry_at(index)
            if park is None or park.kind is not EntryKind.PARK or (
                park.entry_id in store._approvals
            ):
                raise ValidationError("entry.ref", entry.ref, "no unapproved parked release")
        lock_key = entry.lock_key
        row = store._line(lock_key, sku)
        before = None if row is None else trusted_line(*row)
        balances = store._balances
        counters = balances.get(sku)
        balance, line = apply_entry(
            entry, _ZERO if counters is None else Balance(*counters), before
        )
        # Every check passed: write, recording the undo of each change.
        undo = self.undo
        if counters is None:
            balances[sku] = [balance.on_hand, balance.locked]
            undo.append((balances, sku, _MISSING))
        else:
            undo.append(partial(counters.__setitem__, slice(None), list(counters)))
            counters[:] = [balance.on_hand, balance.locked]
        if line is not None and line is not before and lock_key is not None:
            if row is not None:
                undo.append(partial(row.__setitem__, slice(None), list(row)))
                row[:] = _line_row(line)
            else:
                self._new_line(lock_key, sku, line)
        index = len(store._entries)
        store._entries.append(entry)
        store._by_id[entry_id] = index
        if kind is EntryKind.RELEASE:
            times = store._releases.get(sku)
            if times is None:
                times = store._releases[sku] = []
                undo.append((store._releases, sku, _MISSING))
            _add_sorted(times, entry.at)
            undo.append(partial(times.remove, entry.at))
        elif kind is EntryKind.PARK:
            store._parks[entry_id] = index
            undo.append((store._parks, entry_id, _MISSING))
        elif kind is EntryKind.APPROVE and entry.ref is not None:
            ref = entry.ref
            pending = list(store._parks.items())  # approvals are rare: keep the order exactly
            store._parks.pop(ref, None)
            store._approvals[ref] = index
            undo.append((store._approvals, ref, _MISSING))
            undo.append(partial(_restore_parks, store._parks, pending))

    def _new_line(self, lock_key: str, sku: str, line: LockLine) -> None:
        store = self.store
        undo = self.undo
        new_lines = store._lines.get(lock_key)
        if new_lines is None:
            new_lines = store._lines[lock_key] = {}
            store._orders.setdefault(line.order_id, []).append(lock_key)
            undo.append(partial(_forget_lock, store, lock_key, line.order_id))
        new_lines[sku] = _line_row(line)
        undo.append((new_lines, sku, _MISSING))
        due = store._due.get(sku)
        if due is None:
            due = store._due[sku] = []
            undo.append((store._due, sku, _MISSING))
        item = (line.expires_at, lock_key)
        heapq.heappush(due, item)
        all_item = (line.expires_at, lock_key, sku)
        heapq.heappush(store._all_due, all_item)
        undo.append(partial(_unpush, due, item, store._all_due, all_item))


def _unpush(
    due: list[tuple[datetime, str]],
    item: tuple[datetime, str],
    all_due: list[tuple[datetime, str, str]],
    all_item: tuple[datetime, str, str],
) -> None:
    """Undo the two ``heappush`` of a new lock line (rollbacks only, so O(n) is fine)."""
    due.remove(item)
    heapq.heapify(due)
    all_due.remove(all_item)
    heapq.heapify(all_due)


def _forget_lock(store: MemoryInventoryStore, lock_key: str, order_id: str) -> None:
    store._lines.pop(lock_key, None)
    keys = store._orders.get(order_id)
    if keys is not None:
        keys.remove(lock_key)
        if not keys:
            del store._orders[order_id]


def _restore_parks(parks: dict[str, int], pending: list[tuple[str, int]]) -> None:
    parks.clear()
    parks.update(pending)
