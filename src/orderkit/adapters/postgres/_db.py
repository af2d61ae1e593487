"""The PostgreSQL plumbing every PostgreSQL adapter shares.

A :class:`Database` wraps what the host gives: a DSN (orderkit opens one connection per
thread and process), a ``psycopg_pool.ConnectionPool`` (a connection is borrowed for
each transaction) or the host's own open ``psycopg.Connection`` (orderkit joins the
host's transaction and never commits it; only the schema check an adapter runs when it
is built, on a connection with no transaction open, is a transaction of its own).
Every adapter built on the same source object in one thread shares one open
transaction: a block opened inside another one, by this adapter or another adapter on
the same source, is a savepoint of the outer transaction.

Tables live in one PostgreSQL schema (``orderkit`` unless the host names another), and
each component's tables are versioned in ``<schema>.schema_version``, migrated on first
use (or by ``orderkit db upgrade``) under an advisory lock, so that processes starting
together migrate once. A schema newer than this orderkit knows is refused.

Driver errors become :class:`~orderkit.model.errors.StoreError` naming the operation,
with the ``psycopg`` error chained. Work that orderkit runs in a transaction of its own
(not inside a block the caller opened) is retried when PostgreSQL reports a
serialization failure or a deadlock (SQLSTATE 40001, 40P01): the transaction was rolled
back whole, so running it again is safe. A connection that broke is dropped; the call
that met it raises ``StoreError`` and the next call opens a fresh one.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

from orderkit.adapters._commit import checked_callback, run_committed
from orderkit.adapters._extras import MissingExtra
from orderkit.model.errors import StoreError, ValidationError
from orderkit.model.retention import checked_purge

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.pq import TransactionStatus
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtra("postgres", "psycopg") from _missing

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

__all__ = ["DEFAULT_SCHEMA", "Database", "Migration", "Source", "unique_violation", "utc"]

#: One step of a migration: SQL (``{s}`` for the schema), or a function given the
#: database and the migration's connection, for what SQL cannot compute (filling a
#: column the library derives).
Step: TypeAlias = "str | Callable[[Database, psycopg.Connection[Any]], None]"
#: A component's migrations: index i upgrades the schema from version i to i + 1.
Migration = Sequence[Step]
#: What an adapter accepts: a DSN, a pool, the host's connection, or a Database.
Source = "str | ConnectionPool[Any] | psycopg.Connection[Any] | Database"

DEFAULT_SCHEMA: Final = "orderkit"
_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: SQLSTATEs after which the whole transaction may simply run again.
_RETRYABLE: Final = frozenset({"40001", "40P01"})
_ATTEMPTS: Final = 5

T = TypeVar("T")


def utc(value: datetime) -> datetime:
    """A ``timestamp`` read as ``col AT TIME ZONE 'UTC'``, as an aware UTC datetime."""
    return value.replace(tzinfo=UTC)


class _Shared:
    """What every :class:`Database` on one source shares in this process: the thread's
    open transaction (its connection and depth) and the schemas already migrated."""

    def __init__(self, source: object) -> None:
        self.source = source
        self.local = threading.local()
        #: The (schema, component) pairs whose tables are committed at their version.
        self.ready: set[tuple[str, str]] = set()
        #: Those created in a transaction orderkit does not end (the host's, or a block
        #: the caller opened), by the id of that transaction: ready once it committed,
        #: created again if it rolled back.
        self.unsettled: dict[tuple[str, str], str] = {}
        self.ready_lock = threading.Lock()
        #: The connections this process opened for a DSN, closed when no Database uses
        #: this source any more (psycopg warns about a connection collected open).
        self.connections: list[tuple[int, psycopg.Connection[Any]]] = []
        self.__weakref__: object
        weakref.finalize(self, _close_all, self.connections)


def _close_all(connections: list[tuple[int, psycopg.Connection[Any]]]) -> None:
    for pid, conn in connections:
        if pid != os.getpid():
            continue  # inherited through a fork: the parent's session, not ours to end
        with contextlib.suppress(psycopg.Error):  # closing a dead socket
            conn.close()
    connections.clear()


_SHARED: weakref.WeakValueDictionary[object, _Shared] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def _shared(source: object) -> _Shared:
    # A DSN is its own key; a pool or a connection is keyed by identity (the _Shared
    # holds it, so its id cannot be reused while the entry lives).
    key: object = source if isinstance(source, str) else ("id", id(source))
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = _SHARED[key] = _Shared(source)
        return found


def _is_pool(source: object) -> bool:
    try:
        from psycopg_pool import ConnectionPool
    except ImportError:
        return False
    return isinstance(source, ConnectionPool)


class Database:
    """Connections, transactions and schema versions for one PostgreSQL source.

    ``source`` is a DSN (``"postgresql://..."`` or ``"host=... dbname=..."``), a
    ``psycopg_pool.ConnectionPool`` or an open ``psycopg.Connection`` of the host.
    ``schema`` names the PostgreSQL schema holding orderkit's tables (default:
    ``orderkit``, or the schema of a ``Database`` given as the source).
    """

    source: object
    schema: str
    kind: str

    def __init__(self, source: object, *, schema: str | None = None) -> None:
        if isinstance(source, Database):
            schema = source.schema if schema is None else schema
            source = source.source
        if schema is None:
            schema = DEFAULT_SCHEMA
        if isinstance(source, str):
            if not source.strip():
                raise ValidationError("source", source, "expected a DSN")
            self.kind = "dsn"
        elif isinstance(source, psycopg.Connection):
            self.kind = "connection"
        elif _is_pool(source):
            self.kind = "pool"
        else:
            raise ValidationError(
                "source", source, "expected a DSN, a psycopg_pool.ConnectionPool or a"
                " psycopg.Connection"
            )
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise ValidationError(
                "schema", schema, "expected a lower-case SQL name ([a-z_][a-z0-9_]*)"
            )
        self.source = source
        self.schema = schema
        self._shared = _shared(source)
        self._texts: dict[str, str] = {}
        #: The components whose tables this database's adapter uses, ensured again
        #: before its next call while their creation is not known to be committed.
        self._components: dict[str, Migration] = {}

    # --- SQL text ---------------------------------------------------------------------

    def sql(self, text: str) -> str:
        """``text`` with every ``{s}`` replaced by this database's schema name."""
        found = self._texts.get(text)
        if found is None:
            found = self._texts[text] = text.replace("{s}", f'"{self.schema}"')
        return found

    # --- connections ------------------------------------------------------------------

    def _own_connection(self) -> psycopg.Connection[Any]:
        """This thread's connection to the DSN (opened on first use, reopened after a
        fork or once it broke)."""
        local = self._shared.local
        conn: psycopg.Connection[Any] | None = getattr(local, "own", None)
        if conn is not None and getattr(local, "pid", None) == os.getpid() and not conn.closed:
            return conn
        dsn = str(self.source)
        try:
            fresh = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as error:
            reason, safe = _connect_reason(dsn, error)
            if not safe:  # the password may be in libpq's text: not even in the chain
                raise StoreError("connect to PostgreSQL", reason) from None
            raise StoreError("connect to PostgreSQL", reason) from error
        if conn is not None and getattr(local, "pid", None) == os.getpid():
            self._forget(conn)  # closed: drop it
        # (after a fork the parent's connection is left alone: closing it here would
        # close the parent's session)
        local.own = conn = fresh
        local.pid = os.getpid()
        self._shared.connections.append((os.getpid(), conn))
        return conn

    @contextmanager
    def _borrow(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one outermost unit of work."""
        if self.kind == "connection":
            host: psycopg.Connection[Any] = self.source  # type: ignore[assignment]
            yield host
        elif self.kind == "dsn":
            yield self._own_connection()
        else:
            pool: ConnectionPool[Any] = self.source  # type: ignore[assignment]
            try:
                handle = pool.connection()
                conn = handle.__enter__()
            except psycopg.Error as error:
                raise StoreError("borrow a pooled connection", _reason(error)) from error
            try:
                yield conn
            except BaseException as error:
                handle.__exit__(type(error), error, error.__traceback__)
                raise
            handle.__exit__(None, None, None)

    def close(self) -> None:
        """Close this thread's own connection (DSN sources only)."""
        conn: psycopg.Connection[Any] | None = getattr(self._shared.local, "own", None)
        if conn is not None:
            self._forget(conn)

    # --- transactions -----------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether this thread has a block open on this source."""
        return bool(getattr(self._shared.local, "depth", 0))

    @contextmanager
    def transaction(
        self, operation: str, *, savepoint: bool = True, deferred: bool = False,
        own: bool = False,
    ) -> Iterator[psycopg.Connection[Any]]:
        """A transaction: committed on success, rolled back on error.

        Inside another block of this thread on the same source it is a savepoint of
        that transaction (``savepoint=False``: it simply joins it, for work that runs
        every check able to refuse it before its first write). On the host's connection
        the outermost block is a savepoint of the host's transaction, which the host
        commits; only a connection in autocommit mode outside any transaction gets a
        transaction of orderkit's own (``own=True``: also one outside autocommit mode with
        no transaction open, which orderkit then commits: the host finds its connection
        as it left it).

        The statements that open and close blocks (``BEGIN``, ``SAVEPOINT``,
        ``RELEASE``) are not sent on their own: an opening goes to the server with the
        first statement run in the block, and a release with the next one or not at all
        (``COMMIT`` and ``ROLLBACK`` end every savepoint); a block in which nothing ran
        costs no round trip. With ``deferred=False`` the openings are sent before the
        connection is handed out; ``deferred=True`` promises that the caller sends
        :meth:`take_pending` as the first statements of its first pipeline.

        orderkit errors raised inside pass through unchanged (after the rollback);
        ``psycopg`` errors become :class:`StoreError` naming ``operation``.
        """
        local = self._shared.local
        depth = getattr(local, "depth", 0)
        if depth:
            conn = local.conn
            if not savepoint:
                with _translated(operation, self):
                    if not deferred:
                        self._send_openings(conn)
                    yield conn
                return
            with self._savepoint(conn, operation, depth, deferred):
                yield conn
            return
        if self._shared.unsettled:
            self._settle()
        committed: list[Callable[[], None]] = []
        with self._borrow() as conn:
            host = self._joins_host(own=own)
            local.conn = conn
            local.pending = []
            # What after_commit() registers: run after orderkit's commit; on the host's
            # transaction (None) dropped, since orderkit cannot see it end.
            local.owed = None if host else []
            try:
                if host:
                    if conn.info.transaction_status == TransactionStatus.INERROR:
                        # A savepoint would be refused too (25P02), and its rollback
                        # then fail with a message about orderkit's own savepoint.
                        raise StoreError(operation, _HOST_ABORTED)
                    local.depth = 1
                    with self._savepoint(conn, operation, 0, deferred):
                        yield conn
                else:
                    if conn.autocommit:
                        local.pending.append("BEGIN")
                    local.depth = 1
                    try:
                        if not deferred:
                            with _translated(operation, self):
                                self._send_openings(conn)
                        yield conn
                    except BaseException as error:
                        local.depth = 0
                        if "BEGIN" not in local.pending:  # else nothing reached the server
                            self._rollback(conn)
                        if isinstance(error, psycopg.Error):
                            raise _store_error(operation, error, self) from error
                        raise
                    local.depth = 0
                    if "BEGIN" not in local.pending:
                        with _translated(operation, self):
                            conn.commit()  # ends the savepoints whose release waits
                    committed = local.owed
            finally:
                local.depth = 0
                local.conn = None
                local.pending = []
                local.owed = None
        run_committed(committed)  # committed, and the connection handed back

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this thread's outermost block on this source has
        committed (at once when none is open); dropped if the block, or an inner block
        it was registered in, rolls back. A callback registered again (an equal one: the
        same bound method) before the commit runs once.

        On the host's connection orderkit cannot see the host's transaction end: a
        callback registered in it (in a block joining it, or after a call that opened
        it) is dropped. Only a transaction of orderkit's own (a connection in
        autocommit mode) runs it after its commit. Something that cannot be called is
        refused with a ``ValidationError`` naming ``callback``, wherever it is
        registered."""
        checked_callback(callback)
        local = self._shared.local
        if getattr(local, "depth", 0):
            owed: list[Callable[[], None]] | None = local.owed
            if owed is not None and callback not in owed:
                owed.append(callback)
        elif not self._joins_host():
            callback()

    def take_pending(self, *, reads: bool = False) -> list[str]:
        """The opening and closing statements not sent yet, in order, for a caller that
        runs them as the first statements of its pipeline (see :meth:`transaction`).

        ``reads=True``, for a pipeline that only reads: the savepoint of the innermost
        block stays pending, to be sent with the block's first write (a block that
        only read then needs none)."""
        local = self._shared.local
        pending: list[str] = getattr(local, "pending", [])
        innermost = f"SAVEPOINT orderkit_{getattr(local, 'depth', 0) - 1}"
        if reads and pending and pending[-1] == innermost:
            local.pending = [innermost]
            return pending[:-1]
        local.pending = []
        return pending

    def _send_openings(self, conn: psycopg.Connection[Any]) -> None:
        """Send what is pending when it opens a block (a release alone may wait)."""
        pending: list[str] = getattr(self._shared.local, "pending", [])
        if any(not statement.startswith("RELEASE") for statement in pending):
            statements = self.take_pending()
            with conn.pipeline():
                for statement in statements:
                    conn.execute(statement)

    @contextmanager
    def _savepoint(
        self, conn: psycopg.Connection[Any], operation: str, depth: int, deferred: bool
    ) -> Iterator[None]:
        local = self._shared.local
        name = f"orderkit_{depth}"  # savepoints nest by depth: one name per level
        opening = f"SAVEPOINT {name}"
        local.pending.append(opening)
        if not deferred:
            with _translated(operation, self):
                self._send_openings(conn)
        local.depth = depth + 1
        owed: list[Callable[[], None]] | None = local.owed
        owed_mark = 0 if owed is None else len(owed)

        def unsent() -> bool:
            """Whether the savepoint never reached the server (then drop it and what
            came after it, and there is nothing to undo)."""
            pending: list[str] = local.pending
            if opening not in pending:
                return False
            del pending[len(pending) - 1 - pending[::-1].index(opening):]
            return True

        try:
            yield
        except BaseException as error:
            local.depth = depth
            if owed is not None:
                del owed[owed_mark:]  # what was registered in it rolls back with it
            if not unsent() and not conn.broken and not conn.closed:
                local.pending = []  # rolling back to it ends the savepoints inside it
                try:
                    with _translated(operation, self):
                        conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                        conn.execute(f"RELEASE SAVEPOINT {name}")
                except StoreError as undo:
                    # The block's own error says what went wrong (the rollback fails
                    # when the savepoint itself was refused): keep it.
                    error.add_note(f"rolling back to savepoint {name} failed: {undo}")
            if isinstance(error, psycopg.Error):
                raise _store_error(operation, error, self) from error
            raise
        local.depth = depth
        if not unsent():
            # Releasing it releases the savepoints inside it; sent with the next
            # statement, or never when the transaction ends first.
            local.pending = [f"RELEASE SAVEPOINT {name}"]

    def _rollback(self, conn: psycopg.Connection[Any]) -> None:
        if conn.closed or conn.broken:
            self._forget(conn)
            return
        try:
            conn.rollback()
        except psycopg.Error:
            self._forget(conn)

    def _forget(self, conn: psycopg.Connection[Any]) -> None:
        """Drop a connection that broke, so that the next call opens a fresh one."""
        local = self._shared.local
        if getattr(local, "own", None) is conn:
            local.own = None
        with contextlib.suppress(psycopg.Error):  # closing a dead socket
            conn.close()
        connections = self._shared.connections
        connections[:] = [(pid, c) for pid, c in connections if c is not conn]

    def purge(self, operation: str, statement: str, before: object, limit: object) -> int:
        """A retention store's delete (``purge_delivered``, ``purge_history``):
        ``before`` and ``limit`` checked, then ``statement`` (its schema placeholder
        filled, parameters the cut-off and the limit, ``NULL`` for all) run as one
        statement in a transaction of its own (or the open block's); how many rows it
        deleted."""
        cutoff, count = checked_purge(before, limit)
        sql = self.sql(statement)
        deleted: int = self.run(
            operation, lambda conn: conn.execute(sql, (cutoff, count)).rowcount, single=True
        )
        return deleted

    def run(
        self,
        operation: str,
        work: Callable[[psycopg.Connection[Any]], T],
        *,
        savepoint: bool = False,
        single: bool = False,
        deferred: bool = False,
        own: bool = False,
    ) -> T:
        """Run ``work`` in a transaction and return what it returns.

        Inside an open block it joins that block (as a savepoint with ``savepoint=True``)
        and is not retried: the caller's block decides. Outside, it gets a transaction
        of its own that is run again after a serialization failure or a deadlock.
        ``single=True`` marks work of one statement, which on a connection in autocommit
        mode needs no ``BEGIN``/``COMMIT`` around it. ``deferred=True``: ``work`` sends
        :meth:`take_pending` first in its first pipeline (see :meth:`transaction`).
        ``own=True``: on the host's connection with no transaction open, the transaction
        is orderkit's own (see :meth:`transaction`).
        """
        if self.in_transaction:
            with self.transaction(operation, savepoint=savepoint, deferred=deferred) as conn:
                return work(conn)
        for attempt in range(_ATTEMPTS):
            try:
                if single and self.kind == "dsn":
                    if self._shared.unsettled:
                        self._settle()
                    conn = self._own_connection()
                    with _translated(operation, self):
                        return work(conn)
                with self.transaction(operation, deferred=deferred, own=own) as conn:
                    return work(conn)
            except StoreError as error:
                if not _retryable(error) or attempt == _ATTEMPTS - 1:
                    raise
            time.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    # --- schema -----------------------------------------------------------------------

    def ensure_schema(self, component: str, migrations: Migration) -> int:
        """Bring ``component``'s tables up to ``len(migrations)``, once per process, and
        return the version they had before (read under the migration lock when they
        were behind, so that of processes migrating together only one reports the old
        version).

        Tables created in a transaction orderkit does not end (the host's, or a block
        the caller opened) are known ready only once it committed: until then each
        outermost call of this database checks again first, and creates them again
        when that transaction rolled back.

        On the host's connection with no transaction open the check is a transaction of
        orderkit's own, committed before this returns: building an adapter (which calls
        this) leaves the host's connection as it found it, so a host on ``REPEATABLE
        READ`` does not get a snapshot fixed when it built the adapter."""
        before = self._ensure(component, migrations)
        self._components[component] = migrations  # checked again by _settle
        return before

    def _ensure(self, component: str, migrations: Migration) -> int:
        """:meth:`ensure_schema`'s work: the version before, migrating when behind."""
        key = (self.schema, component)
        shared = self._shared
        if key in shared.ready:
            return len(migrations)
        with shared.ready_lock:
            if key in shared.ready:
                return len(migrations)
            joins = self.in_transaction or self._joins_host(own=True)
            before, created_in = self.run(
                f"migrate {component}",
                lambda conn: self._migrate(
                    conn, component, migrations, joins, shared.unsettled.get(key)
                ),
                own=True,
            )
            if created_in is None:
                shared.unsettled.pop(key, None)
                shared.ready.add(key)
            else:
                shared.unsettled[key] = created_in
            return before

    def _joins_host(self, *, own: bool = False) -> bool:
        """Whether an outermost block now would join the host's transaction: one is open,
        or the connection is outside autocommit mode, where a statement opens one that
        the host ends (``own=True``: orderkit opens it and ends it itself)."""
        if self.kind != "connection":
            return False
        conn: psycopg.Connection[Any] = self.source  # type: ignore[assignment]
        if conn.info.transaction_status != TransactionStatus.IDLE:
            return True
        return not conn.autocommit and not own

    def _settle(self) -> None:
        """Before an outermost call: ensure again this database's components whose
        tables were created in a transaction not known to have committed (once it
        committed they are ready; if it rolled back they are created again)."""
        local = self._shared.local
        if getattr(local, "settling", False):
            return  # the migration's own transaction
        local.settling = True
        try:
            for component, migrations in list(self._components.items()):
                self.ensure_schema(component, migrations)
        finally:
            local.settling = False

    def _migrate(
        self,
        conn: psycopg.Connection[Any],
        component: str,
        migrations: Migration,
        joins: bool,
        created_in: str | None,
    ) -> tuple[int, str | None]:
        """The version before, and the id of the transaction that created the tables
        when it is not known to have committed yet (``joins``: this one is not
        orderkit's to end; ``created_in``: the one that created them earlier)."""
        # Up to date (the usual case): a read, and no lock that the host's transaction
        # would hold until it ends.
        current = self._stored_version(conn, component)
        if current < len(migrations):
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"orderkit-migrate:{self.schema}",),
            )
            conn.execute(self.sql("CREATE SCHEMA IF NOT EXISTS {s}"))
            conn.execute(
                self.sql(
                    "CREATE TABLE IF NOT EXISTS {s}.schema_version ("
                    " component text PRIMARY KEY, version integer NOT NULL)"
                )
            )
            current = self._stored_version(conn, component)  # another process may have
        if current > len(migrations):
            raise StoreError(
                f"migrate {component}",
                f"schema {self.schema!r} has {component} version {current}, this orderkit"
                f" knows {len(migrations)}: upgrade orderkit",
            )
        for script in migrations[current:]:
            if callable(script):
                script(self, conn)
            else:
                conn.execute(self.sql(script))
        if current < len(migrations):
            conn.execute(
                self.sql(
                    "INSERT INTO {s}.schema_version (component, version) VALUES (%s, %s)"
                    " ON CONFLICT (component) DO UPDATE SET version = excluded.version"
                ),
                (component, len(migrations)),
            )
            if joins:
                row = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
                return current, None if row is None else str(row[0])
        elif created_in is not None:
            # Found up to date: by the transaction that created them, still open (then
            # still unsettled), or by one that committed.
            row = conn.execute("SELECT pg_xact_status(%s::xid8)", (created_in,)).fetchone()
            if row is not None and row[0] == "in progress":
                return current, created_in
        return current, None

    def _stored_version(self, conn: psycopg.Connection[Any], component: str) -> int:
        exists = conn.execute(
            "SELECT to_regclass(%s)", (f'"{self.schema}".schema_version',)
        ).fetchone()
        if exists is None or exists[0] is None:
            return 0
        row = conn.execute(
            self.sql("SELECT version FROM {s}.schema_version WHERE component = %s"),
            (component,),
        ).fetchone()
        return int(row[0]) if row else 0

    def schema_version(self, component: str) -> int:
        """The stored schema version of ``component`` (0 when never created)."""
        return self.run(
            "read schema version", lambda conn: self._stored_version(conn, component)
        )


#: Why a call on the host's connection is refused while the host's transaction is
#: aborted (a statement of the host failed): the server refuses every statement but a
#: rollback until the host ends it.
_HOST_ABORTED: Final = (
    "the host's transaction is aborted (a statement in it failed; PostgreSQL refuses"
    " every further statement, SQLSTATE 25P02): roll it back first; nothing was written"
)


def unique_violation(error: StoreError) -> str | None:
    """The unique index or constraint whose violation ``error`` reports, else ``None``."""
    cause = error.__cause__
    if isinstance(cause, pg_errors.UniqueViolation):
        return cause.diag.constraint_name
    return None


def _retryable(error: StoreError) -> bool:
    cause = error.__cause__
    return isinstance(cause, psycopg.Error) and cause.sqlstate in _RETRYABLE


#: Why a DSN that libpq cannot parse is not shown.
_UNPARSED_DSN: Final = (
    "the DSN could not be parsed (not shown: it may hold a password);"
    " percent-encode special characters"
)


def _connect_reason(dsn: str, error: psycopg.Error) -> tuple[str, bool]:
    """Why connecting to ``dsn`` failed, without its password, and whether libpq's
    ``error`` is safe to chain: the DSN's host, port, dbname and user, then libpq's
    reason unless the password shows in it. A DSN that does not parse, or parses only
    by taking pieces of an unencoded password (a ``/`` or ``@`` in a URI's password)
    for the host, port or database name, is not shown at all."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return _UNPARSED_DSN, False
    if dsn.startswith(("postgresql://", "postgres://")):
        authority, _, path = dsn.split("://", 1)[1].partition("/")
        if authority.count("@") > 1 or "@" in path:
            return _UNPARSED_DSN, False
    port = str(params.get("port", ""))
    if port and not all(part.isdigit() for part in port.split(",")):
        return _UNPARSED_DSN, False
    named = " ".join(f"{key}={params[key]}" for key in ("host", "port", "dbname", "user")
                     if params.get(key) not in (None, ""))
    where = f"to {named}: " if named else ""
    password = str(params.get("password") or "")
    reason = _reason(error)
    if password and password in reason:
        return f"{where}(libpq's reason not shown: it quotes the password)", False
    return f"{where}{reason}", True


def _reason(error: psycopg.Error) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    if error.sqlstate:
        return f"{first} (SQLSTATE {error.sqlstate})"
    return first


def _store_error(operation: str, error: psycopg.Error, db: Database) -> StoreError:
    if isinstance(error, pg_errors.SerializationFailure | pg_errors.DeadlockDetected):
        return StoreError(operation, f"{_reason(error)}; the transaction may be run again")
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        local = db._shared.local
        # The thread's own connection, or the one its open block runs on (which a
        # first failure in the block may have dropped already).
        for conn in (getattr(local, "own", None), getattr(local, "conn", None)):
            if conn is not None and (conn.closed or conn.broken):
                db._forget(conn)
                return StoreError(
                    operation, f"connection to PostgreSQL lost: {_reason(error)}; not"
                    " retried, the next call opens a new connection"
                )
    return StoreError(operation, _reason(error))


@contextmanager
def _translated(operation: str, db: Database) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as error:
        raise _store_error(operation, error, db) from error

