"""A throw-away PostgreSQL server for tests (the PostgreSQL adapters' own suite uses it).

:func:`server_for_tests` returns the DSN of ``ORDERKIT_TEST_PG_DSN`` when that is set, and
otherwise starts a :class:`TemporaryCluster`: ``initdb`` in a temporary directory and a
``postgres`` listening on a free loopback port, stopped and deleted again by
:meth:`TemporaryCluster.stop`. The server binaries are found on the ``PATH``, in
``ORDERKIT_PG_BIN`` or under ``/usr/lib/postgresql/<version>/bin``. ``initdb`` refuses
to run as root, so as root the cluster belongs to an unprivileged user
(``ORDERKIT_PG_USER``, default ``postgres``), and its commands run through ``runuser``.

The cluster is built for tests: ``fsync`` is off, so it is fast and loses everything in a
power cut, which a throw-away cluster does anyway.

:func:`fresh_schema` names a new, empty PostgreSQL schema, so that each test's adapters
start from nothing on one shared server.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

__all__ = ["ServerUnavailable", "TemporaryCluster", "fresh_schema", "query_plan",
           "server_for_tests"]

_ENV_DSN: Final = "ORDERKIT_TEST_PG_DSN"
_SCHEMAS = itertools.count(1)


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server could be found or started (the reason says why)."""


def fresh_schema(prefix: str = "t") -> str:
    """A schema name not used before in this process (``t_<pid>_<n>``)."""
    return f"{prefix}_{os.getpid()}_{next(_SCHEMAS)}"


def query_plan(dsn: str, query: str) -> str:
    """The plan PostgreSQL makes for ``query`` (its ``EXPLAIN``, one line a step) with
    sequential scans discouraged, as on a table too large to read whole: a test that
    an index serves a query looks for the index's name in it. Needs the ``postgres``
    extra."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        return "\n".join(str(row[0]) for row in conn.execute(f"EXPLAIN {query}"))


def _binaries() -> Path:
    named = os.environ.get("ORDERKIT_PG_BIN")
    if named:
        return Path(named)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if versions:
        return versions[0].parent
    raise ServerUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) on the PATH, in ORDERKIT_PG_BIN or"
        f" under /usr/lib/postgresql; install them or set {_ENV_DSN}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TemporaryCluster:
    """A PostgreSQL cluster in a temporary directory, on a free loopback port."""

    def __init__(self, *, settings: Sequence[str] = ()) -> None:
        self.bin = _binaries()
        self.port = _free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="orderkit-pg-"))
        self.data = self.directory / "data"
        self.settings = (
            "fsync=off", "full_page_writes=off", "max_connections=100",
            "unix_socket_directories=''", "listen_addresses='127.0.0.1'",
            f"port={self.port}", *settings,
        )
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = os.environ.get("ORDERKIT_PG_USER", "postgres")
            try:
                entry = pwd.getpwnam(self.user)
            except KeyError:
                raise ServerUnavailable(
                    f"running as root, and there is no user {self.user!r} to run initdb as"
                    " (create one, or set ORDERKIT_PG_USER)"
                ) from None
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        self.dsn = f"host=127.0.0.1 port={self.port} user=orderkit dbname=postgres"

    def _run(self, *command: str) -> None:
        argv = [str(self.bin / command[0]), *command[1:]]
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode:
            raise ServerUnavailable(
                f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
            )

    def start(self) -> str:
        """Create and start the cluster; returns its DSN."""
        self._run(
            "initdb", "-D", str(self.data), "-U", "orderkit", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )
        options = " ".join(f"-c {setting}" for setting in self.settings)
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.directory / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )
        self._watch()
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self.dsn
            except OSError:
                if time.monotonic() > deadline:
                    raise ServerUnavailable(
                        f"the server did not listen on port {self.port}"
                    ) from None
                time.sleep(0.05)

    def _watch(self) -> None:
        """Stop the server and delete its directory once this process is gone, even
        when it is killed before :meth:`stop` runs (a test run cut short)."""
        stop = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
        if self.user is not None:
            stop = ["runuser", "-u", self.user, "--", *stop]
        script = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done;"
            f" {shlex.join(stop)} >/dev/null 2>&1; rm -rf {shlex.quote(str(self.directory))}"
        )
        self._watcher = subprocess.Popen(
            ["sh", "-c", script], start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        """Stop the server (immediately) and delete its directory."""
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.kill()
            watcher.wait()
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def server_for_tests() -> tuple[str, TemporaryCluster | None]:
    """A DSN for tests and the cluster started for it (``None`` for a given DSN)."""
    given = os.environ.get(_ENV_DSN)
    if given:
        return given, None
    cluster = TemporaryCluster()
    try:
        return cluster.start(), cluster
    except BaseException:
        cluster.stop()
        raise

