"""The SQLite plumbing every SQLite adapter shares.

One :class:`Database` per adapter object and file. It opens one connection per thread
(and reopens after ``fork``), turns on WAL so readers never block the writer, waits for
the write lock instead of failing (``busy_timeout``), and runs every write inside
``BEGIN IMMEDIATE`` so the write lock is taken *before* balances are read: the
read-check-write of a lock or a version check is atomic across processes.

Schemas are versioned per component in a ``schema_version`` table so that a later
release can migrate a file written by an earlier one. Driver exceptions are translated
to :class:`~orderkit.model.errors.StoreError` here, with the ``sqlite3`` error chained.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from orderkit.adapters._commit import checked_callback, run_committed
from orderkit.model.errors import StoreError, ValidationError

__all__ = ["Database", "Migration", "Step", "schema_versions"]

#: One step of a migration: SQL statements, or a function given the migration's
#: connection, for what SQL cannot compute (filling a column the library derives).
Step = str | Callable[[sqlite3.Connection], None]
#: A component's migrations: index i upgrades the schema from version i to i + 1.
Migration = Sequence[Step]

_BUSY_TIMEOUT_MS: Final = 30_000
#: SQLite result codes of a lock held by another connection.
_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class _File:
    """What every :class:`Database` on one file shares in this process: one connection
    per thread, and the strongest durability any of them asked for."""

    def __init__(self, durable: bool) -> None:
        self.local = threading.local()
        self.durable = durable
        # A weak-value registry keeps this object alive only as long as a Database uses it.
        self.__weakref__: object


_FILES: weakref.WeakValueDictionary[Path, _File] = weakref.WeakValueDictionary()
_FILES_LOCK = threading.Lock()


def _file(path: Path, durable: bool) -> _File:
    key = path.resolve()
    with _FILES_LOCK:
        shared = _FILES.get(key)
        if shared is None:
            shared = _FILES[key] = _File(durable)
        shared.durable = shared.durable or durable
        return shared


class Database:
    """Connections, transactions and schema versions for one SQLite file.

    ``durable=True`` (the default) uses ``synchronous=FULL``: a commit that returned is on
    disk even after a power cut. ``durable=False`` uses ``NORMAL``, which in WAL mode can
    lose the last commits on power loss but never corrupts the file. Adapters on one file
    share one durability, the strongest any of them asked for.

    Every ``Database`` of this process on the same file shares one connection per thread,
    so a :meth:`write` opened inside another one, by this adapter or by another adapter on
    the same file, joins the outer transaction (as a savepoint) instead of waiting for the
    write lock the outer one holds: an order, its audit entries and the stock it moves
    can commit together, with one ``fsync``.
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        if not isinstance(path, str | os.PathLike) or not str(path):
            raise ValidationError("path", path, "expected a file path")
        self.path = Path(path)
        self._file = _file(self.path, durable)
        self._ready: set[str] = set()
        self._ready_lock = threading.Lock()

    # --- connections -------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, reopened after a fork), its
        commits as durable as the file."""
        return self._connection(durable=True)

    def _connection(self, *, durable: bool) -> sqlite3.Connection:
        """This thread's connection, its next commit durable if ``durable`` and the file
        is. The ``PRAGMA synchronous`` level is set here only, when it differs from the
        one wanted, and never inside a transaction (SQLite refuses that; the level was
        set before the transaction began)."""
        local = self._file.local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None or getattr(local, "pid", None) != os.getpid():
            conn = self._open()
        wanted = durable and self._file.durable
        if local.durable != wanted and not conn.in_transaction:
            try:
                conn.execute(f"PRAGMA synchronous = {'FULL' if wanted else 'NORMAL'}")
            except sqlite3.Error as error:
                raise StoreError(f"open {self.path.name}", _reason(error, self.path)) from error
            local.durable = wanted
        return conn

    def _open(self) -> sqlite3.Connection:
        """Open this thread's connection to the file, as durable as the file."""
        local = self._file.local
        durable = self._file.durable
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=True,
            )
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            _enable_wal(conn)
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise StoreError(f"open {self.path.name}", _reason(error, self.path)) from error
        local.conn = conn
        local.pid = os.getpid()
        local.durable = durable
        local.depth = 0
        local.reading = False
        local.after_commit = []
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        local = self._file.local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None:
            conn.close()
            local.conn = None

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def write(
        self, operation: str, *, savepoint: bool = True, durable: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error.

        Inside another ``write`` of this thread on the same file it is a savepoint of that
        transaction instead: an error rolls back this block's writes only and propagates;
        success leaves them to the outer transaction's commit. A block that runs every
        check able to refuse it before its first write passes ``savepoint=False`` and
        simply joins the outer transaction (an error after a write is then the storage's,
        and the outer transaction's rollback undoes it).

        orderkit errors raised inside pass through unchanged (after the rollback);
        ``sqlite3`` errors become :class:`StoreError` naming ``operation``.
        ``durable=False`` lets the commit of a transaction this block opens skip the disk
        flush, as :meth:`statement` does for one statement.
        """
        conn = self._connection(durable=durable)
        local = self._file.local
        if local.depth and not savepoint:
            with self.statement(operation):
                yield conn
            return
        if local.depth:
            with self._savepoint(conn, operation):
                yield conn
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise StoreError(operation, _reason(error, self.path)) from error
        local.depth = 1
        local.after_commit = []
        try:
            yield conn
        except BaseException as error:
            local.depth = 0
            local.after_commit = []
            _rollback(conn, operation, self.path)
            if isinstance(error, sqlite3.Error):
                raise StoreError(operation, _reason(error, self.path)) from error
            raise
        local.depth = 0
        callbacks, local.after_commit = local.after_commit, []
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            _rollback(conn, operation, self.path)
            raise StoreError(operation, _reason(error, self.path)) from error
        run_committed(callbacks)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this thread's transaction has committed (at once when
        none is open); forgotten if the transaction, or the savepoint it was registered
        in, rolls back. A callback registered again (an equal one: the same bound
        method) before the commit runs once. Something that cannot be called is
        refused with a ``ValidationError`` naming ``callback``."""
        checked_callback(callback)
        local = self._file.local
        if not getattr(local, "depth", 0):
            callback()
        elif callback not in local.after_commit:
            local.after_commit.append(callback)

    @contextmanager
    def _savepoint(self, conn: sqlite3.Connection, operation: str) -> Iterator[None]:
        local = self._file.local
        name = f"orderkit_{local.depth}"  # savepoints nest by depth: one name per level
        conn.execute(f"SAVEPOINT {name}")
        local.depth += 1
        pending = len(local.after_commit)
        try:
            yield
        except BaseException as error:
            local.depth -= 1
            del local.after_commit[pending:]
            if conn.in_transaction:  # else SQLite rolled the whole transaction back
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            if isinstance(error, sqlite3.Error):
                raise StoreError(operation, _reason(error, self.path)) from error
            raise
        local.depth -= 1
        conn.execute(f"RELEASE {name}")

    @contextmanager
    def statement(
        self, operation: str, *, durable: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """One statement in autocommit mode (its own snapshot), or inside this thread's
        open transaction; ``sqlite3`` errors become :class:`StoreError`.

        ``durable=False`` lets a write that this statement commits on its own skip the
        disk flush (``synchronous=NORMAL``: atomic and visible to every process at once,
        but possibly lost on power loss). That level is this statement's only: the next
        use of the connection, by any adapter on the file, sets the file's durability
        back first. Inside an open transaction it changes nothing: the transaction's
        commit is as durable as the file.
        """
        conn = self._connection(durable=durable)
        try:
            yield conn
        except sqlite3.Error as error:
            raise StoreError(operation, _reason(error, self.path)) from error

    @contextmanager
    def read(self, operation: str) -> Iterator[sqlite3.Connection]:
        """A read (deferred transaction, consistent snapshot for its duration); inside
        this thread's open write it reads that transaction's state, and inside another
        ``read`` of this thread on the same file (by any adapter) it reads that read's
        snapshot: several reads in one ``read`` block see the file as of one moment,
        whatever other processes commit meanwhile. A write may not be opened inside a
        ``read`` block."""
        conn = self.connection()
        local = self._file.local
        if local.depth or getattr(local, "reading", False):
            with self.statement(operation):
                yield conn
            return
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as error:
            raise StoreError(operation, _reason(error, self.path)) from error
        local.reading = True
        try:
            yield conn
        except sqlite3.Error as error:
            _rollback(conn, operation, self.path)
            raise StoreError(operation, _reason(error, self.path)) from error
        except BaseException:
            _rollback(conn, operation, self.path)
            raise
        finally:
            local.reading = False
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            _rollback(conn, operation, self.path)
            raise StoreError(operation, _reason(error, self.path)) from error

    # --- schema ------------------------------------------------------------------------

    def ensure_schema(self, component: str, migrations: Migration) -> None:
        """Bring ``component``'s tables up to ``len(migrations)``, once per process."""
        if component in self._ready:
            return
        with self._ready_lock:
            if component in self._ready:
                return
            with self.read(f"open {self.path.name}") as conn:
                if _version(conn, component) == len(migrations):
                    # Up to date: nothing to write, so a read-only file can still be read.
                    self._ready.add(component)
                    return
            with self.write(f"migrate {component}") as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
                )
                row = conn.execute(
                    "SELECT version FROM schema_version WHERE component = ?", (component,)
                ).fetchone()
                current = row[0] if row else 0
                if current > len(migrations):
                    raise StoreError(
                        f"migrate {component}",
                        f"file has schema version {current}, this orderkit knows "
                        f"{len(migrations)}: upgrade orderkit",
                    )
                for script in migrations[current:]:
                    if callable(script):
                        script(conn)
                        continue
                    for statement in _statements(script):
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (component, version) VALUES (?, ?)"
                    " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                    (component, len(migrations)),
                )
            self._ready.add(component)

    def schema_version(self, component: str) -> int:
        """The stored schema version of ``component`` (0 when never created)."""
        with self.read("schema version") as conn:
            return _version(conn, component)


def _version(conn: sqlite3.Connection, component: str) -> int:
    """``component``'s stored schema version on ``conn`` (0 when never created)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone():
        return 0
    row = conn.execute(
        "SELECT version FROM schema_version WHERE component = ?", (component,)
    ).fetchone()
    return int(row[0]) if row else 0


def schema_versions(path: str | os.PathLike[str]) -> dict[str, int]:
    """The version of each orderkit component whose tables the SQLite file at ``path``
    holds (``{"orders": 4, "sync": 3}``), read without changing the file: opened read
    only, its journal mode left as it is. ``{}`` for a missing file, a file orderkit
    never wrote to, another application's database or a file that is not SQLite at all;
    a tool that must not create orderkit's tables in a file it was pointed at asks this
    first. A file that cannot be read raises :class:`StoreError` saying why: a
    directory, permission denied, a read-only directory (SQLite must create the file's
    ``-shm`` beside it), or locked by another process for longer than the busy timeout."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ValidationError("path", path, "expected a file path")
    file = Path(path)
    if not file.exists():
        return {}
    operation = f"read {file.name}"
    if not file.is_file():
        raise StoreError(operation, "is a directory" if file.is_dir() else "not a regular file")
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True,
                               timeout=_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as error:
        raise StoreError(operation, _reason(error, file)) from error
    try:
        if not conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'schema_version'"
        ).fetchone():
            return {}
        return {str(c): int(v) for c, v in conn.execute(
            "SELECT component, version FROM schema_version")}
    except sqlite3.Error as error:
        if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            return {}  # not a SQLite file
        raise StoreError(operation, _reason(error, file)) from error
    finally:
        conn.close()


def _rollback(conn: sqlite3.Connection, operation: str, path: Path) -> None:
    """Roll back ``conn``'s open transaction, unless SQLite already did: it rolls the
    whole transaction back itself after some errors (a full disk, an I/O error), and
    a ``ROLLBACK`` then would only hide the error that did it."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as error:
        raise StoreError(operation, _reason(error, path)) from error


def _reason(error: sqlite3.Error, path: Path) -> str:
    """Why the driver could not use the file at ``path``, in words that say what to fix
    (the driver's own words in parentheses)."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF  # extended -> primary
    name = path.name
    if primary in _BUSY_CODES:
        why = (f"locked by another process for longer than the busy timeout"
               f" ({_BUSY_TIMEOUT_MS // 1000} s)")
    elif primary == sqlite3.SQLITE_FULL:
        why = f"no room to grow {name}: its disk is full, or the file reached its size limit"
    elif code == sqlite3.SQLITE_READONLY_DIRECTORY:
        why = (f"read-only: this user may not create files in the directory of {name}"
               f" (SQLite keeps {name}-wal and {name}-shm beside it)")
    elif primary == sqlite3.SQLITE_READONLY:
        why = f"read-only: this user may not write {name}"
    elif primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        if path.is_dir():
            why = "is a directory"
        elif not path.parent.is_dir():
            why = f"no such directory {path.parent}"
        elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
            why = f"permission denied on {name}"
        elif not os.access(path.parent, os.W_OK):
            why = f"permission denied on the directory of {name}"
        else:
            return str(error)
    else:
        return str(error)
    return f"{why} ({error})"


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch ``conn``'s file to WAL, waiting out other connections like a write does.

    Turning WAL on needs a moment of exclusive access, and SQLite answers "database is
    locked" at once instead of calling the busy handler when several processes open a
    fresh file together. So this retries with a short backoff until the busy timeout.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            code = getattr(error, "sqlite_errorcode", None)
            busy = code is not None and code & 0xFF in _BUSY_CODES  # extended -> primary
            if not busy or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
