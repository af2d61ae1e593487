"""``InventoryStore`` on PostgreSQL: correct with many processes on many machines.

A transaction first takes one transaction-level advisory lock per declared SKU, in the
sorted order of the lock keys (a hash of the schema and the SKU), so two transactions
touching the same SKUs wait for each other instead of both reading "1 available", and
can never deadlock. The lock is taken *before* the balances are read, and each statement
of a ``READ COMMITTED`` transaction reads what committed before it started, so the reads
after the lock see every earlier transaction on those SKUs. The opening of the
transaction, the lock, the balances and the SKUs' open lock lines due within a few
seconds of the server's clock (what the ledger's lazy expiry asks for next) go to the
server as one query string of several statements: one round trip, and less work for
the client than a pipeline of the same statements. A lock on a SKU that has no row yet works the
same, which a row lock (``SELECT ... FOR UPDATE``) could not do. Inside another block
(``OrderService.place`` locks stock inside the repository's ``atomic()``) the
transaction is a savepoint, sent with its first write: a refused lock wrote nothing and
needs none.

The ledger's entries are checked with :func:`orderkit.inventory.rules.apply_entry`
against what the transaction read, and written set-wise when the transaction ends (or
before a read that needs them): the entries, the final balance of each SKU and the final
state of each lock line, one statement per table in one pipeline. ``CHECK`` constraints
guard the counters a second time.

Lock expiry: the ledger decides which locks have expired and passes that instant in
(``due_lines(sku, now)``), from its own :class:`~orderkit.model.time.Clock`, never later
than the store's clock (:meth:`PostgresInventoryStore.now`, the database server's) plus
its skew tolerance; this store compares with the instant it is given. Hosts that want
the database's clock alone give the ledger a clock that reads it.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from psycopg import sql as pgsql

from orderkit.adapters._lines import by_lock
from orderkit.adapters.postgres._db import Database, utc
from orderkit.inventory.entries import Balance, EntryKind, LedgerEntry, LockLine
from orderkit.inventory.rules import apply_entry
from orderkit.model._checks import quantity
from orderkit.model.errors import ValidationError

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresInventoryStore"]

MIGRATIONS: Final = (
    """
    CREATE TABLE {s}.inventory_entries (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        entry_id text NOT NULL UNIQUE,
        kind text NOT NULL,
        sku text NOT NULL,
        qty bigint NOT NULL,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        reason text NOT NULL,
        order_id text,
        lock_key text,
        expires_at timestamptz,
        ref text
    );
    CREATE INDEX inventory_entries_by_kind ON {s}.inventory_entries (sku, kind, at);
    CREATE UNIQUE INDEX inventory_entries_approvals ON {s}.inventory_entries (ref)
        WHERE kind = 'approve';
    CREATE TABLE {s}.inventory_balances (
        sku text PRIMARY KEY,
        on_hand bigint NOT NULL,
        locked bigint NOT NULL CHECK (locked >= 0)
    );
    CREATE TABLE {s}.inventory_lock_lines (
        lock_key text NOT NULL,
        sku text NOT NULL,
        order_id text NOT NULL,
        qty bigint NOT NULL,
        locked_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        released bigint NOT NULL DEFAULT 0,
        committed bigint NOT NULL DEFAULT 0,
        expired bigint NOT NULL DEFAULT 0,
        shipped_unlocked bigint NOT NULL DEFAULT 0 CHECK (shipped_unlocked >= 0),
        open boolean NOT NULL DEFAULT true,
        PRIMARY KEY (lock_key, sku),
        CHECK (released + committed + expired <= qty)
    );
    CREATE INDEX inventory_lines_by_order ON {s}.inventory_lock_lines (order_id, locked_at);
    CREATE INDEX inventory_lines_due_by_sku ON {s}.inventory_lock_lines (sku, expires_at)
        WHERE open;
    CREATE INDEX inventory_lines_due ON {s}.inventory_lock_lines (expires_at) WHERE open
    """,
    # 2: a restock is bounded by what its order shipped, read by order from the entries
    # that ship or restock (only those are indexed).
    """
    CREATE INDEX inventory_entries_returns ON {s}.inventory_entries (order_id, sku, kind, qty)
        WHERE kind IN ('commit', 'ship_unlocked', 'restock')
    """,
    # 3: the parked releases waiting for review are counted (by the watch, at every
    # cycle) through the few ``park`` entries, not a scan of the whole ledger.
    """
    CREATE INDEX inventory_entries_parks ON {s}.inventory_entries (entry_id)
        WHERE kind = 'park'
    """,
    # 4: an ``uncommit`` or an ``unship_unlocked`` takes back units its order shipped (a
    # parcel the warehouse reported with fewer units than a carrier scan assumed), so it
    # counts against what the order shipped: the returns index covers both.
    """
    DROP INDEX {s}.inventory_entries_returns;
    CREATE INDEX inventory_entries_returns ON {s}.inventory_entries (order_id, sku, kind, qty)
        WHERE kind IN ('commit', 'ship_unlocked', 'restock', 'uncommit', 'unship_unlocked')
    """,
    # 5: an ``unrecord_shipped`` takes back units a ``record_shipped`` booked for its
    # order, at most what the order recorded: read by order from the few receipts that
    # name one and the entries that take them back (only those are indexed).
    """
    CREATE INDEX inventory_entries_records ON {s}.inventory_entries (order_id, sku, kind, qty)
        WHERE kind IN ('receive', 'unrecord_shipped') AND order_id IS NOT NULL
    """,
)

#: The first key of every SKU advisory lock ("ok"), apart from the host's own locks.
_LOCK_CLASS: Final = 0x6F6B
_ENTRY_COLUMNS: Final = (
    "entry_id, kind, sku, qty, at, actor, reason, order_id, lock_key, expires_at, ref"
)
_ENTRY_SELECT: Final = (
    "entry_id, kind, sku, qty, at AT TIME ZONE 'UTC', actor, reason, order_id, lock_key,"
    " expires_at AT TIME ZONE 'UTC', ref"
)
_LINE_SELECT: Final = (
    "lock_key, order_id, sku, qty, locked_at AT TIME ZONE 'UTC',"
    " expires_at AT TIME ZONE 'UTC', released, committed, expired, shipped_unlocked"
)
#: A ``park`` entry ``p`` that no ``approve`` entry resolved.
_PENDING_PARK: Final = (
    "p.kind = 'park' AND NOT EXISTS (SELECT 1 FROM {s}.inventory_entries AS a"
    " WHERE a.kind = 'approve' AND a.ref = p.entry_id)"
)
_ZERO: Final = Balance(0, 0)
#: The open lines of a transaction's SKUs due within ``_DUE_HORIZON`` seconds of the
#: server's clock, read with its balances: the ledger asks for the lines due by its own
#: ``now``, which is at most a few seconds (its skew tolerance) past the server's clock,
#: so this read usually answers it without a round trip of its own.
_DUE_HORIZON: Final = 10.0
_DUE_PREFETCH: Final = 32


#: What opens a transaction, after the block's own opening statements: the SKUs'
#: advisory locks in sorted key order, then (each statement with a snapshot of its own,
#: taken after the locks) their balances and their lines due soon. Literal values, as
#: one query string of several statements may carry no parameters.
_OPEN: Final = (
    "SELECT pg_advisory_xact_lock({}, k) FROM (SELECT DISTINCT"
    " hashtext({} || x) AS k FROM unnest({}::text[]) AS x ORDER BY k) AS keys;"
    " SELECT sku, on_hand, locked FROM {s}.inventory_balances WHERE sku = ANY({}::text[]);"
    " SELECT b.due_by AT TIME ZONE 'UTC', l.* FROM"
    " (SELECT clock_timestamp() + make_interval(secs => {}) AS due_by) AS b"
    f" LEFT JOIN LATERAL (SELECT {_LINE_SELECT} FROM {{s}}.inventory_lock_lines"
    "  WHERE sku = ANY({}::text[]) AND open AND expires_at <= b.due_by"
    "  ORDER BY expires_at, lock_key, sku LIMIT {}) AS l ON true"
)


def _entry(row: Sequence[Any]) -> LedgerEntry:
    entry_id, kind, sku, qty, at, actor, reason, order_id, lock_key, expires_at, ref = row
    return LedgerEntry(
        entry_id=entry_id,
        kind=EntryKind(kind),
        sku=sku,
        qty=int(qty),
        at=utc(at),
        actor=actor,
        reason=reason,
        order_id=order_id,
        lock_key=lock_key,
        expires_at=None if expires_at is None else utc(expires_at),
        ref=ref,
    )


def _line(row: Sequence[Any]) -> LockLine:
    (
        lock_key, order_id, sku, qty, locked_at, expires_at, released, committed, expired,
        shipped_unlocked,
    ) = row
    return LockLine(
        lock_key=lock_key,
        order_id=order_id,
        sku=sku,
        qty=int(qty),
        locked_at=utc(locked_at),
        expires_at=utc(expires_at),
        released=int(released),
        committed=int(committed),
        expired=int(expired),
        shipped_unlocked=int(shipped_unlocked),
    )


#: The lines of the locks of an array of lock keys, by lock key then SKU.
_LINES_OF_LOCKS: Final = (
    f"SELECT {_LINE_SELECT} FROM {{s}}.inventory_lock_lines"
    " WHERE lock_key = ANY(%s) ORDER BY lock_key, sku"
)




class PostgresInventoryStore:
    """The inventory ledger in PostgreSQL, shared by every process and machine.

    ``source`` is a DSN, a pool, the host's connection or another adapter's
    ``database``; adapters on one source share this thread's transaction, so an order
    saved in a repository's ``atomic()`` block commits with the stock it locked.
    """

    def __init__(self, source: object, *, schema: str | None = None) -> None:
        self._db = Database(source, schema=schema)
        self._db.ensure_schema("inventory", MIGRATIONS)
        #: How long a reading of the server's clock is advanced locally (see :meth:`now`).
        self.clock_refresh = timedelta(seconds=1)
        self._clock_sample: tuple[float, datetime] | None = None
        self._clock_last = datetime.min.replace(tzinfo=UTC)

    @property
    def database(self) -> Database:
        """The source and schema (shared with the other PostgreSQL adapters)."""
        return self._db

    def close(self) -> None:
        """Close this thread's own connection (DSN sources only)."""
        self._db.close()

    @contextmanager
    def transaction(self, skus: Collection[str]) -> Iterator[_PostgresTransaction]:
        """Lock the SKUs (sorted), read their balances, commit on a clean exit."""
        for sku in skus:
            if not isinstance(sku, str):
                raise ValidationError("skus", sku, "expected SKU strings")
        ordered = sorted(set(skus))
        with self._db.transaction("inventory transaction", deferred=True) as conn:
            transaction = _PostgresTransaction(self._db, conn, ordered)
            yield transaction
            transaction.flush()

    # --- reads -------------------------------------------------------------------------

    def _all(self, operation: str, sql: str, params: Sequence[object] = ()) -> list[Any]:
        text = self._db.sql(sql)
        return self._db.run(
            operation, lambda conn: conn.execute(text, params).fetchall(), single=True
        )

    def now(self) -> datetime:
        """The store's clock: the database server's, in UTC.

        The server's ``clock_timestamp()`` is read at most once every
        :attr:`clock_refresh` (one second) and advanced in between by this process's
        monotonic clock, so that a ledger call costs no round trip for it; the reading
        is taken halfway through its round trip, and the clock never goes back."""
        moment = time.monotonic()
        sample = self._clock_sample
        if sample is None or moment - sample[0] >= self.clock_refresh.total_seconds():
            rows = self._all("read the database clock", "SELECT clock_timestamp()")
            after = time.monotonic()
            server: datetime = rows[0][0]
            sample = self._clock_sample = ((moment + after) / 2, server.astimezone(UTC))
            moment = after
        reading = max(sample[1] + timedelta(seconds=moment - sample[0]), self._clock_last)
        self._clock_last = reading
        return reading

    def balance(self, sku: str) -> Balance:
        """The counters of ``sku`` (zeros when never seen)."""
        rows = self._all(
            "read inventory balance",
            "SELECT on_hand, locked FROM {s}.inventory_balances WHERE sku = %s",
            (sku,),
        )
        return _ZERO if not rows else Balance(int(rows[0][0]), int(rows[0][1]))

    def balances(self) -> Mapping[str, Balance]:
        """The counters of every SKU seen."""
        rows = self._all(
            "read inventory balances", "SELECT sku, on_hand, locked FROM {s}.inventory_balances"
        )
        return {sku: Balance(int(on_hand), int(locked)) for sku, on_hand, locked in rows}

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        """The lines of one lock, by SKU (empty when unknown)."""
        rows = self._all(
            "read lock",
            f"SELECT {_LINE_SELECT} FROM {{s}}.inventory_lock_lines WHERE lock_key = %s"
            " ORDER BY sku",
            (lock_key,),
        )
        return tuple(_line(row) for row in rows)

    def lines_of_locks(self, lock_keys: Collection[str]) -> Mapping[str, Sequence[LockLine]]:
        """The lines of several locks, by lock key then SKU (unknown locks left out):
        one statement."""
        rows = self._all("read locks", _LINES_OF_LOCKS, (sorted(set(lock_keys)),))
        return by_lock(map(_line, rows))

    def lines_of_order(self, order_id: str) -> Sequence[LockLine]:
        """Every lock line taken for ``order_id``, oldest first."""
        rows = self._all(
            "read order locks",
            f"SELECT {_LINE_SELECT} FROM {{s}}.inventory_lock_lines WHERE order_id = %s"
            " ORDER BY locked_at, lock_key, sku",
            (order_id,),
        )
        return tuple(_line(row) for row in rows)

    def all_lock_lines(self) -> Iterator[LockLine]:
        """Every lock line."""
        rows = self._all(
            "read lock lines", f"SELECT {_LINE_SELECT} FROM {{s}}.inventory_lock_lines"
        )
        return (_line(row) for row in rows)

    def due_lines(self, now: datetime, limit: int) -> Sequence[LockLine]:
        """Up to ``limit`` open lines whose lock expired by ``now``, oldest expiry first."""
        limit = quantity("limit", limit)
        rows = self._all(
            "read due locks",
            f"SELECT {_LINE_SELECT} FROM {{s}}.inventory_lock_lines"
            " WHERE open AND expires_at <= %s ORDER BY expires_at, lock_key, sku LIMIT %s",
            (now, limit),
        )
        return tuple(_line(row) for row in rows)

    def entries(self) -> Iterator[LedgerEntry]:
        """Every entry in append order."""
        rows = self._all(
            "read inventory ledger",
            f"SELECT {_ENTRY_SELECT} FROM {{s}}.inventory_entries ORDER BY seq",
        )
        return (_entry(row) for row in rows)

    def entry(self, entry_id: str) -> LedgerEntry | None:
        """One entry by id, or ``None``."""
        rows = self._all(
            "read inventory entry",
            f"SELECT {_ENTRY_SELECT} FROM {{s}}.inventory_entries WHERE entry_id = %s",
            (entry_id,),
        )
        return None if not rows else _entry(rows[0])

    def pending_parks(self) -> Sequence[LedgerEntry]:
        """``PARK`` entries not yet approved, oldest first."""
        rows = self._all(
            "read parked releases",
            f"SELECT {_ENTRY_SELECT} FROM {{s}}.inventory_entries AS p WHERE {_PENDING_PARK}"
            " ORDER BY p.seq",
        )
        return tuple(_entry(row) for row in rows)

    def pending_park_count(self) -> int:
        """How many ``PARK`` entries are not yet approved (through
        ``inventory_entries_parks`` and the approvals' index)."""
        (row,) = self._all(
            "count parked releases",
            f"SELECT count(*) FROM {{s}}.inventory_entries AS p WHERE {_PENDING_PARK}",
        )
        return int(row[0])


class _PostgresTransaction:
    """Reads and appends inside one transaction holding the declared SKUs' locks.

    What it read stays valid until it writes it (the SKU locks are held), so it keeps
    the balances of the declared SKUs (read with the locks) and the lines of each lock
    it read (a lock's lines are all on SKUs the ledger declared), updated by its own
    appends, and answers later reads of those locks without a round trip; appends are
    checked at once and written set-wise by :meth:`flush`.
    """

    __slots__ = (
        "_balances",
        "_conn",
        "_db",
        "_due",
        "_due_by",
        "_locks",
        "_new_lines",
        "_pending_balances",
        "_pending_entries",
        "_pending_ids",
        "_pending_lines",
        "_skus",
    )

    def __init__(self, db: Database, conn: psycopg.Connection[Any], skus: list[str]) -> None:
        self._db = db
        self._conn = conn
        self._skus = frozenset(skus)
        self._balances: dict[str, Balance] = {}
        #: The lines of each lock read in this transaction, by SKU, kept current.
        self._locks: dict[str, dict[str, LockLine]] = {}
        self._pending_entries: list[LedgerEntry] = []
        #: The ids of the pending entries, for the check of a reused id.
        self._pending_ids: set[str] = set()
        self._pending_balances: dict[str, Balance] = {}
        self._pending_lines: dict[tuple[str, str], LockLine] = {}
        self._new_lines: set[tuple[str, str]] = set()
        #: The open lines of the SKUs due by ``_due_by`` (a little after the server's
        #: clock), read with the balances; valid until this transaction appends.
        self._due: list[LockLine] | None = None
        self._due_by = datetime.min.replace(tzinfo=UTC)
        # The block's opening statements first (see Database.transaction); its
        # savepoint waits for the first write.
        opening = [pgsql.SQL(statement) for statement in db.take_pending(reads=True)]
        if not skus:
            if opening:
                conn.execute(pgsql.SQL("; ").join(opening))
            return
        # One query string of several statements (the simple protocol): one round trip
        # and one result to read per statement, without a pipeline's client-side work.
        # Each statement takes its own snapshot, so the reads after the locks see every
        # transaction that held them before.
        cursor = conn.cursor()
        cursor.execute(
            pgsql.SQL("; ").join([*opening, pgsql.SQL(db.sql(_OPEN)).format(
                pgsql.Literal(_LOCK_CLASS), pgsql.Literal(f"{db.schema}:"),
                pgsql.Literal(skus), pgsql.Literal(skus), pgsql.Literal(_DUE_HORIZON),
                pgsql.Literal(skus), pgsql.Literal(_DUE_PREFETCH),
            )])
        )
        for _statement in range(len(opening) + 1):  # to the balances
            cursor.nextset()
        found = cursor.fetchall()
        cursor.nextset()
        soon = cursor.fetchall()
        rows = {sku: Balance(int(h), int(lk)) for sku, h, lk in found}
        for sku in skus:
            self._balances[sku] = rows.get(sku, _ZERO)
        lines = [_line(row[1:]) for row in soon if row[1] is not None]
        if len(lines) < _DUE_PREFETCH:  # else maybe cut short: due_lines asks again
            self._due_by = utc(soon[0][0])
            self._due = lines

    def _query(self, sql: str, params: Sequence[object]) -> list[Any]:
        """Rows of ``sql`` after writing what is pending, so the database answers for it."""
        self.flush()
        return self._conn.execute(self._db.sql(sql), params).fetchall()

    def balance(self, sku: str) -> Balance:
        found = self._balances.get(sku)
        if found is not None:
            return found
        rows = self._query(
            "SELECT on_hand, locked FROM {s}.inventory_balances WHERE sku = %s", (sku,)
        )
        return _ZERO if not rows else Balance(int(rows[0][0]), int(rows[0][1]))

    def _read(self, lock_keys: Collection[str]) -> None:
        """Keep the lines of every lock of ``lock_keys`` not read yet (one statement)."""
        unread = sorted(set(lock_keys) - self._locks.keys())
        if unread:
            found = by_lock(map(_line, self._query(_LINES_OF_LOCKS, (unread,))))
            for key in unread:
                self._locks[key] = {line.sku: line for line in found.get(key, ())}

    def lock_lines(self, lock_key: str) -> Sequence[LockLine]:
        self._read((lock_key,))
        by_sku = self._locks[lock_key]
        return tuple(by_sku[sku] for sku in sorted(by_sku))

    def lines_of_locks(self, lock_keys: Collection[str]) -> Mapping[str, Sequence[LockLine]]:
        self._read(lock_keys)
        answer: dict[str, Sequence[LockLine]] = {}
        for key in set(lock_keys):
            by_sku = self._locks[key]
            if by_sku:
                answer[key] = tuple(by_sku[sku] for sku in sorted(by_sku))
        return answer

    def _lock_line(self, lock_key: str, sku: str) -> LockLine | None:
        self._read((lock_key,))  # every line of the lock at once
        return self._locks[lock_key].get(sku)

    def due_lines(self, sku: str, now: datetime) -> Sequence[LockLine]:
        if self._due is not None and now <= self._due_by:  # read with the balances
            return tuple(line for line in self._due if line.sku == sku and line.expires_at <= now)
        rows = self._query(
            f"SELECT {_LINE_SELECT} FROM {{s}}.inventory_lock_lines"
            " WHERE sku = %s AND open AND expires_at <= %s ORDER BY expires_at, lock_key",
            (sku, now),
        )
        return tuple(_line(row) for row in rows)

    def release_count(self, sku: str, since: datetime, cap: int) -> int:
        rows = self._query(
            "SELECT count(*) FROM (SELECT 1 FROM {s}.inventory_entries WHERE sku = %s"
            " AND kind = 'release' AND at >= %s LIMIT %s) AS found",
            (sku, since, cap),
        )
        return int(rows[0][0])

    def entry(self, entry_id: str) -> LedgerEntry | None:
        rows = self._query(
            f"SELECT {_ENTRY_SELECT} FROM {{s}}.inventory_entries WHERE entry_id = %s",
            (entry_id,),
        )
        return None if not rows else _entry(rows[0])

    def stored(self, entry_ids: Collection[str]) -> AbstractSet[str]:
        wanted = set(entry_ids)
        found = wanted & self._pending_ids
        # What is pending is known here; the database answers for the rest (no flush).
        rows = self._conn.execute(
            self._db.sql("SELECT entry_id FROM {s}.inventory_entries WHERE entry_id = ANY(%s)"),
            (sorted(wanted - found),),
        ).fetchall()
        return found | {str(row[0]) for row in rows}

    def shipped_and_restocked(
        self, order_ids: Collection[str]
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        rows = self._query(
            "SELECT order_id, sku,"
            " sum(CASE WHEN kind = 'restock' THEN 0"
            " WHEN kind IN ('uncommit', 'unship_unlocked') THEN -qty ELSE qty END),"
            " sum(CASE WHEN kind = 'restock' THEN qty ELSE 0 END)"
            " FROM {s}.inventory_entries"
            " WHERE kind IN ('commit', 'ship_unlocked', 'restock', 'uncommit', 'unship_unlocked')"
            " AND order_id = ANY(%s) GROUP BY order_id, sku",
            (sorted(set(order_ids)),),
        )
        return {
            (str(order_id), str(sku)): (int(shipped), int(restocked))
            for order_id, sku, shipped, restocked in rows
        }

    def recorded_shipped(self, order_ids: Collection[str]) -> Mapping[tuple[str, str], int]:
        rows = self._query(
            "SELECT order_id, sku, sum(CASE WHEN kind = 'receive' THEN qty ELSE -qty END)"
            " FROM {s}.inventory_entries"
            " WHERE kind IN ('receive', 'unrecord_shipped') AND order_id IS NOT NULL"
            " AND order_id = ANY(%s) GROUP BY order_id, sku",
            (sorted(set(order_ids)),),
        )
        return {(str(order_id), str(sku)): int(units) for order_id, sku, units in rows}

    def approval_of(self, park_entry_id: str) -> LedgerEntry | None:
        rows = self._query(
            f"SELECT {_ENTRY_SELECT} FROM {{s}}.inventory_entries"
            " WHERE kind = 'approve' AND ref = %s",
            (park_entry_id,),
        )
        return None if not rows else _entry(rows[0])

    def append(self, entry: LedgerEntry) -> None:
        self._due = None  # what was due may change now: ask the database again
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
        self._pending_entries.append(entry)
        self._pending_ids.add(entry.entry_id)
        if entry.on_hand_delta or entry.locked_delta:
            self._pending_balances[sku] = balance
        self._balances[sku] = balance
        if line is None or line is before:
            return
        key = (line.lock_key, sku)
        if before is None:
            self._new_lines.add(key)
        self._pending_lines[key] = line
        self._locks.setdefault(line.lock_key, {})[sku] = line

    def flush(self) -> None:
        """Write the pending entries, balances and lock lines: one statement per table,
        all in one pipeline (one round trip)."""
        if not self._pending_entries:
            return
        conn, db = self._conn, self._db
        entries, self._pending_entries = self._pending_entries, []
        self._pending_ids = set()
        balances, self._pending_balances = self._pending_balances, {}
        lines, self._pending_lines = self._pending_lines, {}
        new, self._new_lines = self._new_lines, set()
        inserted = [line for key, line in lines.items() if key in new]
        updated = [line for key, line in lines.items() if key not in new]
        ids = [e.entry_id for e in entries]
        with conn.pipeline():
            for statement in db.take_pending():  # the block's savepoint, if not sent
                conn.execute(statement)
            taken = conn.execute(
                db.sql("SELECT entry_id FROM {s}.inventory_entries WHERE entry_id = ANY(%s)"),
                (ids,),
            )
            added = conn.cursor()
            added.executemany(
                db.sql(
                    f"INSERT INTO {{s}}.inventory_entries ({_ENTRY_COLUMNS})"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (entry_id) DO NOTHING"
                ),
                [
                    (
                        e.entry_id, e.kind.value, e.sku, e.qty, e.at, e.actor, e.reason,
                        e.order_id, e.lock_key, e.expires_at, e.ref,
                    )
                    for e in entries
                ],
            )
            if balances:
                conn.cursor().executemany(
                    db.sql(
                        "INSERT INTO {s}.inventory_balances (sku, on_hand, locked)"
                        " VALUES (%s, %s, %s) ON CONFLICT (sku) DO UPDATE"
                        " SET on_hand = excluded.on_hand, locked = excluded.locked"
                    ),
                    [(sku, b.on_hand, b.locked) for sku, b in balances.items()],
                )
            if inserted:
                conn.cursor().executemany(
                    db.sql(
                        "INSERT INTO {s}.inventory_lock_lines (lock_key, order_id, sku, qty,"
                        " locked_at, expires_at, released, committed, expired,"
                        " shipped_unlocked, open)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    ),
                    [
                        (
                            line.lock_key, line.order_id, line.sku, line.qty, line.locked_at,
                            line.expires_at, line.released, line.committed, line.expired,
                            line.shipped_unlocked, line.remaining > 0,
                        )
                        for line in inserted
                    ],
                )
            if updated:
                conn.cursor().executemany(
                    db.sql(
                        "UPDATE {s}.inventory_lock_lines SET released = %s, committed = %s,"
                        " expired = %s, shipped_unlocked = %s, expires_at = %s, open = %s"
                        " WHERE lock_key = %s AND sku = %s"
                    ),
                    [
                        (
                            line.released, line.committed, line.expired, line.shipped_unlocked,
                            line.expires_at, line.remaining > 0, line.lock_key, line.sku,
                        )
                        for line in updated
                    ],
                )
        if added.rowcount != len(entries):
            # An entry id already stored: refuse (the transaction's exit rolls back all).
            stored = {row[0] for row in taken.fetchall()}
            refused = next((e.entry_id for e in entries if e.entry_id in stored),
                           entries[0].entry_id)
            raise ValidationError("entry.entry_id", refused, "already in the ledger")
