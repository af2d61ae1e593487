"""``InventoryStore`` on SQLite: correct with many processes on one file.

Every transaction starts with ``BEGIN IMMEDIATE``, so the write lock is held *before* the
first balance is read: two processes can never both read "1 available" and both lock
it. The declared SKUs are read in sorted order, the ledger's entries are checked with
:func:`orderkit.inventory.rules.apply_entry` against the rows read inside the same
transaction, and the entries, counters and lock lines are written together or not at
all. ``CHECK`` constraints on the counter tables are a second guard (``locked`` never
below zero; ``available`` may be, after a shipment of units no longer locked, so the
first schema's ``CHECK (on_hand - locked >= 0)`` was dropped by migration 2).

Instants are stored as integer microseconds since the epoch (UTC), so they compare and
index correctly.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from orderkit.adapters._lines import by_lock
from orderkit.adapters.sqlite._db import Database
from orderkit.inventory.entries import Balance, EntryKind, LedgerEntry, LockLine
from orderkit.inventory.rules import apply_entry
from orderkit.model._checks import quantity
from orderkit.model.errors import StoreError, ValidationError
from orderkit.model.time import Clock, SystemClock

__all__ = ["SQLiteInventoryStore"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

_MIGRATIONS: Final = (
    """
    CREATE TABLE inventory_entries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        entry_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL,
        at_us INTEGER NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        order_id TEXT,
        lock_key TEXT,
        expires_us INTEGER,
        ref TEXT
    );
    CREATE INDEX inventory_entries_by_kind ON inventory_entries (sku, kind, at_us);
    CREATE UNIQUE INDEX inventory_entries_approvals ON inventory_entries (ref)
        WHERE kind = 'approve';
    CREATE TABLE inventory_balances (
        sku TEXT PRIMARY KEY,
        on_hand INTEGER NOT NULL,
        locked INTEGER NOT NULL,
        CHECK (locked >= 0),
        CHECK (on_hand - locked >= 0)
    ) WITHOUT ROWID;
    CREATE TABLE inventory_lock_lines (
        lock_key TEXT NOT NULL,
        sku TEXT NOT NULL,
        order_id TEXT NOT NULL,
        qty INTEGER NOT NULL,
        locked_us INTEGER NOT NULL,
        expires_us INTEGER NOT NULL,
        released INTEGER NOT NULL DEFAULT 0,
        committed INTEGER NOT NULL DEFAULT 0,
        expired INTEGER NOT NULL DEFAULT 0,
        open INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (lock_key, sku),
        CHECK (released + committed + expired <= qty)
    ) WITHOUT ROWID;
    CREATE INDEX inventory_lines_by_order ON inventory_lock_lines (order_id, locked_us);
    CREATE INDEX inventory_lines_due_by_sku ON inventory_lock_lines (sku, expires_us)
        WHERE open = 1;
    CREATE INDEX inventory_lines_due ON inventory_lock_lines (expires_us) WHERE open = 1
    """,
    # 2: a shipment of units no longer locked may take ``available`` (and ``on_hand``)
    # below zero, so the balance CHECK goes; SQLite cannot drop a CHECK, so the table is
    # rebuilt. Lock lines count the units shipped beyond what they still held.
    """
    CREATE TABLE inventory_balances_v2 (
        sku TEXT PRIMARY KEY,
        on_hand INTEGER NOT NULL,
        locked INTEGER NOT NULL,
        CHECK (locked >= 0)
    ) WITHOUT ROWID;
    INSERT INTO inventory_balances_v2 (sku, on_hand, locked)
        SELECT sku, on_hand, locked FROM inventory_balances;
    DROP TABLE inventory_balances;
    ALTER TABLE inventory_balances_v2 RENAME TO inventory_balances;
    ALTER TABLE inventory_lock_lines ADD COLUMN shipped_unlocked INTEGER NOT NULL DEFAULT 0
        CHECK (shipped_unlocked >= 0)
    """,
    # 3: a restock is bounded by what its order shipped, read by order from the entries
    # that ship or restock (only those are indexed).
    """
    CREATE INDEX inventory_entries_returns ON inventory_entries (order_id, sku, kind, qty)
        WHERE kind IN ('commit', 'ship_unlocked', 'restock')
    """,
    # 4: the parked releases waiting for review are counted (by the watch, at every
    # cycle) through the few ``park`` entries, not a scan of the whole ledger.
    """
    CREATE INDEX inventory_entries_parks ON inventory_entries (entry_id) WHERE kind = 'park'
    """,
    # 5: an ``uncommit`` or an ``unship_unlocked`` takes back units its order shipped (a
    # parcel the warehouse reported with fewer units than a carrier scan assumed), so it
    # counts against what the order shipped: the returns index covers both.
    """
    DROP INDEX inventory_entries_returns;
    CREATE INDEX inventory_entries_returns ON inventory_entries (order_id, sku, kind, qty)
        WHERE kind IN ('commit', 'ship_unlocked', 'restock', 'uncommit', 'unship_unlocked')
    """,
    # 6: an ``unrecord_shipped`` takes back units a ``record_shipped`` booked for its
    # order, at most what the order recorded: read by order from the few receipts that
    # name one and the entries that take them back (only those are indexed).
    """
    CREATE INDEX inventory_entries_records ON inventory_entries (order_id, sku, kind, qty)
        WHERE kind IN ('receive', 'unrecord_shipped') AND order_id IS NOT NULL
    """,
)

_ENTRY_COLUMNS: Final = (
    "entry_id, kind, sku, qty, at_us, actor, reason, order_id, lock_key, expires_us, ref"
)
_LINE_COLUMNS: Final = (
    "lock_key, order_id, sku, qty, locked_us, expires_us, released, committed, expired,"
    " shipped_unlocked"
)
#: A ``park`` entry ``p`` that no ``approve`` entry resolved.
_PENDING_PARK: Final = (
    "p.kind = 'park' AND NOT EXISTS (SELECT 1 FROM inventory_entries AS a"
    " WHERE a.kind = 'approve' AND a.ref = p.entry_id)"
)
#: Per (order, SKU) of a JSON array of order ids: units shipped (less those an
#: ``uncommit`` or ``unship_unlocked`` took back) and units restocked.
_RETURNS: Final = (
    "SELECT order_id, sku,"
    " sum(CASE WHEN kind = 'restock' THEN 0"
    " WHEN kind IN ('uncommit', 'unship_unlocked') THEN -qty ELSE qty END),"
    " sum(CASE WHEN kind = 'restock' THEN qty ELSE 0 END)"
    " FROM inventory_entries"
    " WHERE kind IN ('commit', 'ship_unlocked', 'restock', 'uncommit', 'unship_unlocked')"
    " AND order_id IN (SELECT value FROM json_each(?)) GROUP BY order_id, sku"
)
#: Per (order, SKU) of a JSON array of order ids: units recorded as shipped before the
#: stock count (receipts naming the order) less those ``unrecord_shipped`` took back.
_RECORDS: Final = (
    "SELECT order_id, sku, sum(CASE WHEN kind = 'receive' THEN qty ELSE -qty END)"
    " FROM inventory_entries"
    " WHERE kind IN ('receive', 'unrecord_shipped') AND order_id IS NOT NULL"
    " AND order_id IN (SELECT value FROM json_each(?)) GROUP BY order_id, sku"
)
#: The lines of the locks of a JSON array of lock keys, by lock key then SKU.
_LINES_OF_LOCKS: Final = (
    f"SELECT {_LINE_COLUMNS} FROM inventory_lock_lines WHERE lock_key IN"
    " (SELECT value FROM json_each(?)) ORDER BY lock_key, sku"
)


def _us(instant: datetime) -> int:
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dt(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


_ZERO: Final = Balance(0, 0)
#: SKUs per ``IN (...)`` query, well under SQLite's bound-parameter limit.
_CHUNK: Final = 500


def _chunks(skus: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(skus), _CHUNK):
        yield skus[start : start + _CHUNK]


def _entry(row: Sequence[Any]) -> LedgerEntry:
    entry_id, kind, sku, qty, at_us, actor, reason, order_id, lock_key, expires_us, ref = row
    return LedgerEntry(
        entry_id=str(entry_id),
        kind=EntryKind(kind),
        sku=str(sku),
        qty=int(qty),
        at=_dt(int(at_us)),
        actor=str(actor),
        reason=str(reason),
        order_id=None if order_id is None else str(order_id),
        lock_key=None if lock_key is None else str(lock_key),
        expires_at=None if expires_us is None else _dt(int(expires_us)),
        ref=None if ref is None else str(ref),
    )


def _line(row: Sequence[Any]) -> LockLine:
    (
        lock_key, order_id, sku, qty, locked_us, expires_us, released, committed, expired,
        shipped_unlocked,
    ) = row
    return LockLine(
        lock_key=str(lock_key),
        order_id=str(order_id),
        sku=str(sku),
        qty=int(qty),
        locked_at=_dt(int(locked_us)),
        expires_at=_dt(int(expires_us)),
        released=int(released),
        committed=int(committed),
        expired=int(expired),
        shipped_unlocked=int(shipped_unlocked),
    )


class SQLiteInventoryStore:
    """The inventory ledger in a SQLite file shared by every process on the machine.

    ``durable=True`` (the default) makes every committed lock survive a power cut.
    ``clock`` is the store's clock (:meth:`now`): by default the machine's clock, which
    is what SQLite's own ``'now'`` reads and what every process on the file shares.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, durable: bool = True, clock: Clock | None = None
    ) -> None:
        self._clock: Clock = SystemClock() if clock is None else clock
        self._db = Database(path, durable=durable)
        self._db.ensure_schema("inventory", _MIGRATIONS)

    @property
    def database(self) -> Database:
        """The underlying file handle (shared with other adapters on the same file)."""
        return self._db

    @contextmanager
    def transaction(self, skus: Collection[str]) -> Iterator[_SQLiteTransaction]:
        """``BEGIN IMMEDIATE``, read the SKUs in sorted order, commit on a clean exit."""
        with self._db.write("inventory transaction") as conn:
            transaction = _SQLiteTransaction(conn, skus)
            yield transaction
            transaction.flush()

    def now(self) -> datetime:
        """The store's clock: the machine's, read without a round trip to the file."""
        return self._clock.now()

    # --- reads -------------------------------------------------------------------------

    def balance(self, sku: str) -> Balance:
        """The counters of ``sku`` (zeros when never seen)."""
        with self._db.read("read inventory balance") as conn:
            row = conn.execute(
                "SELECT on_hand, locked FROM inventory_balances WHERE sku = ?", (sku,)
            ).fetchone()
        return Balance(0, 0) if row is None else Balance(int(row[0]), int(row[1]))

    def balances(self) -> Mapping[str, Balance]:
        """The counters of every SKU seen."""
        with self._db.read("read inventory balances") as conn:
            rows = conn.execute("SELECT sku, on_hand, locked FROM inventory_balances").fetchall()
        return {str(sku): Balance(int(on_hand), int(locked)) for sku, on_hand, locked in rows}

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        """The lines of one lock, by SKU (empty when unknown)."""
        # One statement is its own consistent snapshot in autocommit mode, so this read
        # (done by every release and commit before its write transaction) skips the
        # explicit BEGIN/COMMIT pair of ``Database.read``: two statements fewer.
        try:
            rows = (
                self._db.connection()
                .execute(
                    f"SELECT {_LINE_COLUMNS} FROM inventory_lock_lines WHERE lock_key = ?"
                    " ORDER BY sku",
                    (lock_key,),
                )
                .fetchall()
            )
        except sqlite3.Error as error:
            raise StoreError("read lock", str(error)) from error
        return tuple(_line(row) for row in rows)

    def lines_of_locks(self, lock_keys: Collection[str]) -> Mapping[str, Sequence[LockLine]]:
        """The lines of several locks, by lock key then SKU (unknown locks left out): one
        statement, its own snapshot (see :meth:`lock_lines`)."""
        try:
            rows = (
                self._db.connection()
                .execute(_LINES_OF_LOCKS, (json.dumps(sorted(set(lock_keys))),))
                .fetchall()
            )
        except sqlite3.Error as error:
            raise StoreError("read locks", str(error)) from error
        return by_lock(map(_line, rows))

    def lines_of_order(self, order_id: str) -> Sequence[LockLine]:
        """Every lock line taken for ``order_id``, oldest first."""
        with self._db.read("read order locks") as conn:
            rows = conn.execute(
                f"SELECT {_LINE_COLUMNS} FROM inventory_lock_lines WHERE order_id = ?"
                " ORDER BY locked_us, lock_key, sku",
                (order_id,),
            ).fetchall()
        return tuple(_line(row) for row in rows)

    def all_lock_lines(self) -> Iterator[LockLine]:
        """Every lock line."""
        with self._db.read("read lock lines") as conn:
            rows = conn.execute(f"SELECT {_LINE_COLUMNS} FROM inventory_lock_lines").fetchall()
        return (_line(row) for row in rows)

    def due_lines(self, now: datetime, limit: int) -> Sequence[LockLine]:
        """Up to ``limit`` open lines whose lock expired by ``now``, oldest expiry first."""
        limit = quantity("limit", limit)
        with self._db.read("read due locks") as conn:
            rows = conn.execute(
                f"SELECT {_LINE_COLUMNS} FROM inventory_lock_lines"
                " WHERE open = 1 AND expires_us <= ? ORDER BY expires_us LIMIT ?",
                (_us(now), limit),
            ).fetchall()
        return tuple(_line(row) for row in rows)

    def entries(self) -> Iterator[LedgerEntry]:
        """Every entry in append order."""
        with self._db.read("read inventory ledger") as conn:
            rows = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM inventory_entries ORDER BY seq"
            ).fetchall()
        return (_entry(row) for row in rows)

    def entry(self, entry_id: str) -> LedgerEntry | None:
        """One entry by id, or ``None``."""
        with self._db.read("read inventory entry") as conn:
            row = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM inventory_entries WHERE entry_id = ?",
                (entry_id,),
            ).fetchone()
        return None if row is None else _entry(row)

    def pending_parks(self) -> Sequence[LedgerEntry]:
        """``PARK`` entries not yet approved, oldest first."""
        with self._db.read("read parked releases") as conn:
            rows = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM inventory_entries AS p WHERE {_PENDING_PARK}"
                " ORDER BY p.seq"
            ).fetchall()
        return tuple(_entry(row) for row in rows)

    def pending_park_count(self) -> int:
        """How many ``PARK`` entries are not yet approved (through
        ``inventory_entries_parks`` and the approvals' index)."""
        with self._db.statement("count parked releases") as conn:
            row = conn.execute(
                f"SELECT count(*) FROM inventory_entries AS p WHERE {_PENDING_PARK}"
            ).fetchone()
        return int(row[0])


class _SQLiteTransaction:
    """Reads and appends inside one ``BEGIN IMMEDIATE`` transaction.

    Everything read here stays valid until this transaction writes it (the write lock
    is held), so it keeps what it read: the balances of the declared SKUs (one query
    for all of them), the lines of each lock it touches (one query per lock), and the
    due lines of every declared SKU (one query, the first time ``due_lines`` is asked).
    A cached SKU or line is refreshed by every append.

    Appends are checked at once (``apply_entry``) and written set-wise: the entries, the
    final balance of each SKU and the final state of each lock line go to the file in one
    ``executemany`` per table, before the next query that reads the file and when the
    transaction ends, so a lock of several SKUs costs three writes, not three per SKU.
    """

    __slots__ = (
        "_balances",
        "_conn",
        "_due",
        "_due_at",
        "_lines",
        "_new_lines",
        "_pending_balances",
        "_pending_entries",
        "_pending_ids",
        "_pending_lines",
        "_pending_locks",
        "_skus",
        "_whole",
    )

    def __init__(self, conn: sqlite3.Connection, skus: Collection[str]) -> None:
        self._conn = conn
        self._skus = frozenset(skus)
        self._balances: dict[str, Balance] = {}
        self._lines: dict[tuple[str, str], LockLine | None] = {}
        #: The SKUs of each lock read whole in this transaction: its lines are then all
        #: in ``_lines``, kept current by :meth:`append`, and read again from there.
        self._whole: dict[str, set[str]] = {}
        self._due: dict[str, list[LockLine]] = {}
        self._due_at: datetime | None = None
        self._pending_entries: list[LedgerEntry] = []
        #: The pending entries by id: the check of a reused id, and :meth:`entry`.
        self._pending_ids: dict[str, LedgerEntry] = {}
        #: The lock keys with a pending line: a read of another lock needs no flush.
        self._pending_locks: set[str] = set()
        self._pending_balances: dict[str, Balance] = {}
        self._pending_lines: dict[tuple[str, str], LockLine] = {}
        self._new_lines: set[tuple[str, str]] = set()
        ordered = sorted(self._skus)
        for chunk in _chunks(ordered):
            rows = conn.execute(
                "SELECT sku, on_hand, locked FROM inventory_balances"
                f" WHERE sku IN ({', '.join('?' * len(chunk))}) ORDER BY sku",
                chunk,
            ).fetchall()
            found = {str(sku): Balance(int(on_hand), int(locked)) for sku, on_hand, locked in rows}
            for sku in chunk:
                self._balances[sku] = found.get(sku, _ZERO)

    def _query(self, sql: str, parameters: Sequence[object]) -> list[Any]:
        """Rows of ``sql`` after writing what is pending, so the file answers for it."""
        self.flush()
        return self._conn.execute(sql, parameters).fetchall()

    def balance(self, sku: str) -> Balance:
        found = self._balances.get(sku)
        if found is not None:
            return found
        rows = self._query("SELECT on_hand, locked FROM inventory_balances WHERE sku = ?", (sku,))
        return _ZERO if not rows else Balance(int(rows[0][0]), int(rows[0][1]))

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        whole = self._whole.get(lock_key)
        if whole is not None:
            return tuple(
                line
                for sku in sorted(whole)
                if (line := self._lines[(lock_key, sku)]) is not None
            )
        # Only this lock's own pending lines change the answer (a new lock, the common
        # case in a batch of placements, has none on file): flush only for them.
        if lock_key in self._pending_locks:
            self.flush()
        rows = self._conn.execute(
            f"SELECT {_LINE_COLUMNS} FROM inventory_lock_lines WHERE lock_key = ? ORDER BY sku",
            (lock_key,),
        ).fetchall()
        lines = tuple(_line(row) for row in rows)
        self._keep((lock_key,), {lock_key: lines})
        return lines

    def lines_of_locks(self, lock_keys: Collection[str]) -> Mapping[str, Sequence[LockLine]]:
        keys = sorted(set(lock_keys))
        if not self._pending_locks.isdisjoint(keys):
            self.flush()
        rows = self._conn.execute(_LINES_OF_LOCKS, (json.dumps(keys),)).fetchall()
        found = by_lock(map(_line, rows))
        self._keep(keys, found)
        return found

    def _keep(self, keys: Sequence[str], found: Mapping[str, Sequence[LockLine]]) -> None:
        """Hold the lines just read of the locks ``keys`` (``found``: by lock key), each
        lock read whole."""
        for key in keys:
            for sku in self._skus:
                self._lines[(key, sku)] = None
            lines = found.get(key, ())
            for line in lines:
                self._lines[(key, line.sku)] = line
            self._whole[key] = {line.sku for line in lines}

    def _lock_line(self, lock_key: str, sku: str) -> LockLine | None:
        key = (lock_key, sku)
        if key not in self._lines:
            self.lock_lines(lock_key)  # every line of the lock at once
        return self._lines.get(key)

    def due_lines(self, sku: str, now: datetime) -> Sequence[LockLine]:
        if sku in self._skus and len(self._skus) > 1:
            # A batch: fetch the due lines of every declared SKU at once, then serve
            # each SKU from that until an append to it makes its share stale.
            if self._due_at != now:
                self._prefetch_due(now)
            found = self._due.get(sku)
            if found is not None:
                return tuple(found)
        rows = self._query(
            f"SELECT {_LINE_COLUMNS} FROM inventory_lock_lines"
            " WHERE sku = ? AND open = 1 AND expires_us <= ? ORDER BY expires_us, lock_key",
            (sku, _us(now)),
        )
        return tuple(_line(row) for row in rows)

    def _prefetch_due(self, now: datetime) -> None:
        self._due = {sku: [] for sku in self._skus}
        self._due_at = now
        for chunk in _chunks(sorted(self._skus)):
            rows = self._query(
                f"SELECT {_LINE_COLUMNS} FROM inventory_lock_lines WHERE open = 1"
                f" AND expires_us <= ? AND sku IN ({', '.join('?' * len(chunk))})"
                " ORDER BY expires_us, lock_key",
                (_us(now), *chunk),
            )
            for row in rows:
                line = _line(row)
                self._due[line.sku].append(line)

    def release_count(self, sku: str, since: datetime, cap: int) -> int:
        rows = self._query(
            "SELECT count(*) FROM (SELECT 1 FROM inventory_entries WHERE sku = ?"
            " AND kind = 'release' AND at_us >= ? LIMIT ?)",
            (sku, _us(since), cap),
        )
        return int(rows[0][0])

    def entry(self, entry_id: str) -> LedgerEntry | None:
        pending = self._pending_ids.get(entry_id)
        if pending is not None:
            return pending
        rows = self._conn.execute(  # no pending entry has this id: the file answers
            f"SELECT {_ENTRY_COLUMNS} FROM inventory_entries WHERE entry_id = ?", (entry_id,)
        ).fetchall()
        return None if not rows else _entry(rows[0])

    def stored(self, entry_ids: Collection[str]) -> AbstractSet[str]:
        wanted = set(entry_ids)
        found = wanted & self._pending_ids.keys()
        rows = self._conn.execute(
            "SELECT entry_id FROM inventory_entries WHERE entry_id IN"
            " (SELECT value FROM json_each(?))",
            (json.dumps(sorted(wanted - found)),),
        ).fetchall()
        return found | {str(row[0]) for row in rows}

    def shipped_and_restocked(
        self, order_ids: Collection[str]
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        rows = self._query(_RETURNS, (json.dumps(sorted(set(order_ids))),))
        return {
            (str(order_id), str(sku)): (int(shipped), int(restocked))
            for order_id, sku, shipped, restocked in rows
        }

    def recorded_shipped(self, order_ids: Collection[str]) -> Mapping[tuple[str, str], int]:
        rows = self._query(_RECORDS, (json.dumps(sorted(set(order_ids))),))
        return {(str(order_id), str(sku)): int(units) for order_id, sku, units in rows}

    def approval_of(self, park_entry_id: str) -> LedgerEntry | None:
        rows = self._query(
            f"SELECT {_ENTRY_COLUMNS} FROM inventory_entries"
            " WHERE kind = 'approve' AND ref = ?",
            (park_entry_id,),
        )
        return None if not rows else _entry(rows[0])

    def append(self, entry: LedgerEntry) -> None:
        sku = entry.sku
        if sku not in self._skus:
            raise ValidationError("entry.sku", sku, "not among the SKUs this transaction locked")
        if entry.kind is EntryKind.APPROVE:
            park = None if entry.ref is None else self.entry(entry.ref)
            if park is None or park.kind is not EntryKind.PARK or (
                self.approval_of(park.entry_id) is not None
            ):
                raise ValidationError("entry.ref", entry.ref, "no unapproved parked release")
        before = None if entry.lock_key is None else self._lock_line(entry.lock_key, sku)
        balance, line = apply_entry(entry, self.balance(sku), before)
        if entry.entry_id in self._pending_ids:
            raise ValidationError("entry.entry_id", entry.entry_id, "already in the ledger")
        self._due.pop(sku, None)  # its due lines may change now: ask the file next time
        self._pending_entries.append(entry)
        self._pending_ids[entry.entry_id] = entry
        if entry.on_hand_delta or entry.locked_delta:
            self._pending_balances[sku] = balance
        self._balances[sku] = balance
        if line is None or line is before:
            return
        key = (line.lock_key, sku)
        if before is None:
            self._new_lines.add(key)
            whole = self._whole.get(line.lock_key)
            if whole is not None:
                whole.add(sku)
        self._pending_lines[key] = line
        self._pending_locks.add(line.lock_key)
        self._lines[key] = line

    def flush(self) -> None:
        """Write the pending entries, balances and lock lines, one statement per table."""
        if not self._pending_entries:
            return
        conn = self._conn
        entries, self._pending_entries = self._pending_entries, []
        self._pending_ids = {}
        try:
            conn.executemany(
                f"INSERT INTO inventory_entries ({_ENTRY_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.entry_id, e.kind.value, e.sku, e.qty, _us(e.at), e.actor, e.reason,
                        e.order_id, e.lock_key,
                        None if e.expires_at is None else _us(e.expires_at), e.ref,
                    )
                    for e in entries
                ],
            )
        except sqlite3.IntegrityError as error:
            taken = conn.execute(
                "SELECT entry_id FROM inventory_entries WHERE entry_id IN"
                f" ({', '.join('?' * len(entries))}) LIMIT 1",
                [e.entry_id for e in entries],
            ).fetchone()
            raise ValidationError(
                "entry.entry_id", None if taken is None else taken[0], "already in the ledger"
            ) from error
        balances, self._pending_balances = self._pending_balances, {}
        if balances:
            conn.executemany(
                "INSERT INTO inventory_balances (sku, on_hand, locked) VALUES (?, ?, ?)"
                " ON CONFLICT (sku) DO UPDATE SET on_hand = excluded.on_hand,"
                " locked = excluded.locked",
                [(sku, b.on_hand, b.locked) for sku, b in balances.items()],
            )
        lines, self._pending_lines = self._pending_lines, {}
        self._pending_locks = set()
        new, self._new_lines = self._new_lines, set()
        inserted = [line for key, line in lines.items() if key in new]
        updated = [line for key, line in lines.items() if key not in new]
        if inserted:
            conn.executemany(
                f"INSERT INTO inventory_lock_lines ({_LINE_COLUMNS}, open)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        line.lock_key, line.order_id, line.sku, line.qty, _us(line.locked_at),
                        _us(line.expires_at), line.released, line.committed, line.expired,
                        line.shipped_unlocked, int(line.remaining > 0),
                    )
                    for line in inserted
                ],
            )
        if updated:
            conn.executemany(
                "UPDATE inventory_lock_lines SET released = ?, committed = ?, expired = ?,"
                " shipped_unlocked = ?, expires_us = ?, open = ? WHERE lock_key = ? AND sku = ?",
                [
                    (
                        line.released, line.committed, line.expired, line.shipped_unlocked,
                        _us(line.expires_at), int(line.remaining > 0), line.lock_key, line.sku,
                    )
                    for line in updated
                ],
            )
