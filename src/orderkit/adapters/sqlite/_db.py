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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from orderkit.model.errors import StoreError, ValidationError

__all__ = ["Database", "Migration"]

#: A component's migrations: index i upgrades the schema from version i to i + 1.
Migration = Sequence[str]

_BUSY_TIMEOUT_MS: Final = 30_000
#: SQLite result codes of a lock held by another connection.
_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class Database:
    """Connections, transactions and schema versions for one SQLite file.

    ``durable=True`` (the default) uses ``synchronous=FULL``: a commit that returned is on
    disk even after a power cut. ``durable=False`` uses ``NORMAL``, which in WAL mode can
    lose the last commits on power loss but never corrupts the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        if not isinstance(path, str | os.PathLike) or not str(path):
            raise ValidationError("path", path, "expected a file path")
        self.path = Path(path)
        self._durable = durable
        self._local = threading.local()
        self._ready: set[str] = set()
        self._ready_lock = threading.Lock()

    # --- connections -------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, reopened after a fork)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=True,
            )
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            _enable_wal(conn)
            conn.execute(f"PRAGMA synchronous = {'FULL' if self._durable else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise StoreError(f"open {self.path.name}", str(error)) from error
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def write(self, operation: str) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error.

        orderkit errors raised inside pass through unchanged (after the rollback);
        ``sqlite3`` errors become :class:`StoreError` naming ``operation``.
        """
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise StoreError(operation, str(error)) from error
        try:
            yield conn
        except BaseException as error:
            conn.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise StoreError(operation, str(error)) from error
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            conn.execute("ROLLBACK")
            raise StoreError(operation, str(error)) from error

    @contextmanager
    def statement(self, operation: str) -> Iterator[sqlite3.Connection]:
        """One statement in autocommit mode (its own snapshot); ``sqlite3`` errors become
        :class:`StoreError` naming ``operation``."""
        conn = self.connection()
        try:
            yield conn
        except sqlite3.Error as error:
            raise StoreError(operation, str(error)) from error

    @contextmanager
    def read(self, operation: str) -> Iterator[sqlite3.Connection]:
        """A read (deferred transaction, consistent snapshot for its duration)."""
        conn = self.connection()
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as error:
            raise StoreError(operation, str(error)) from error
        try:
            yield conn
        except sqlite3.Error as error:
            conn.execute("ROLLBACK")
            raise StoreError(operation, str(error)) from error
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --- schema ------------------------------------------------------------------------

    def ensure_schema(self, component: str, migrations: Migration) -> None:
        """Bring ``component``'s tables up to ``len(migrations)``, once per process."""
        if component in self._ready:
            return
        with self._ready_lock:
            if component in self._ready:
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
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'schema_version'"
            ).fetchone()
            if not exists:
                return 0
            row = conn.execute(
                "SELECT version FROM schema_version WHERE component = ?", (component,)
            ).fetchone()
            return int(row[0]) if row else 0


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
