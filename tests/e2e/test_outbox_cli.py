"""``orderkit outbox purge``: the outbox's retention from cron, on a SQLite file
(``--db``) or a PostgreSQL schema (``--dsn``, against the suite's server); what
``orderkit watch purge`` shares with it (``--db``/``--dsn``, ``--now``, a file that is
no order database, the console script) is tested for both commands here."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from orderkit.adapters.postgres import PostgresOrderRepository
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.cli import EXIT_FILE, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from orderkit.outbox import OutboxMessage, message_id
from orderkit.testing.postgres import fresh_schema
from orderkit.testing.samples import sample_order

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _shop(where: Path | SQLiteOrderRepository | PostgresOrderRepository
          ) -> dict[str, list[str]]:
    """A file (or a repository's database) with 5 messages delivered 40 days before
    ``T0``, 2 delivered 10 days before, one pending and one dead (both written a year
    before): their ids by kind."""
    repository = SQLiteOrderRepository(where) if isinstance(where, Path) else where
    ids: dict[str, list[str]] = {}
    year_ago = T0 - timedelta(days=365)
    for kind, count in (("old", 5), ("recent", 2), ("pending", 1), ("dead", 1)):
        order_id = f"ORD-{kind}"
        sent = [OutboxMessage(message_id(order_id, "E", k), order_id, "event.StatusChanged",
                              {"k": k}, year_ago) for k in range(count)]
        repository.save(sample_order(order_id), None, outbox=sent)
        ids[kind] = [m.message_id for m in sent]
    repository.mark_delivered(ids["old"], T0 - timedelta(days=40))
    repository.mark_delivered(ids["recent"], T0 - timedelta(days=10))
    repository.mark_failed(ids["dead"][0], "gave up", dead=True)
    repository.database.close()
    return ids


def _statuses(dsn: str, schema: str, ids: dict[str, list[str]]) -> dict[str, int]:
    """How many of ``ids`` the outbox of ``schema`` still holds, by status."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT status, count(*) FROM {schema}.order_outbox"
            " WHERE message_id = ANY(%s) GROUP BY status",
            ([i for group in ids.values() for i in group],),
        ).fetchall()
    return dict(rows)


def _left(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT status, count(*) FROM order_outbox GROUP BY status")
        left = dict(rows.fetchall())
    conn.close()
    return left


def test_purge_deletes_what_was_delivered_before_the_span_and_keeps_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shop.db"
    _shop(path)
    argv = ["outbox", "purge", "--db", str(path), "--older-than", "30d", "--batch", "2",
            "--now", T0.isoformat()]
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out
    assert out == ("outbox purge: 5 delivered message(s) deleted, delivered before"
                   " 2026-01-31T02:00:00+00:00 (older than 30d); 1 dead letter(s) kept\n")
    assert _left(path) == {"delivered": 2, "pending": 1, "dead": 1}
    assert main(argv) == EXIT_OK  # again: nothing more to delete
    assert "outbox purge: 0 delivered message(s)" in capsys.readouterr().out
    assert main([*argv[:5], "216h", *argv[6:]]) == EXIT_OK  # 9 days: the recent ones go
    assert "(older than 9d)" in capsys.readouterr().out
    assert _left(path) == {"pending": 1, "dead": 1}


def test_the_console_script_purges_from_cron(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    _shop(path)
    done = subprocess.run(
        [sys.executable, "-m", "orderkit", "outbox", "purge", "--db", str(path),
         "--older-than", "20d"],
        capture_output=True, text=True, encoding="utf-8", timeout=120, check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert (done.returncode, done.stderr) == (EXIT_OK, "")
    # Measured from now: the messages delivered 10 days before T0 are more than 20 days
    # old once now is more than 10 days past T0.
    gone = 7 if datetime.now(UTC) - T0 > timedelta(days=10) else 5
    assert done.stdout.startswith(f"outbox purge: {gone} delivered message(s) deleted")
    assert _left(path)["pending"] == 1 and _left(path)["dead"] == 1
    done = subprocess.run(  # the watch history's, on a file whose watch never ran
        [sys.executable, "-m", "orderkit", "watch", "purge", "--db", str(path),
         "--older-than", "90d"],
        capture_output=True, text=True, encoding="utf-8", timeout=120, check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert (done.returncode, done.stderr) == (EXIT_OK, "")
    assert done.stdout.startswith("watch purge: 0 resolved episode(s) deleted")


@pytest.mark.parametrize(
    ("option", "value"),
    [*(("--older-than", span) for span in
       ("30", "0d", "-5d", "30x", "", "1.5d", "30 days", "99999999d")),
     *(("--batch", batch) for batch in ("0", "-1", "ten", "1.5", str(2**63)))],
)
def test_a_span_or_batch_that_is_not_one_is_a_usage_error_and_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    path = tmp_path / "shop.db"
    _shop(path)
    with pytest.raises(SystemExit) as caught:
        main(["outbox", "purge", "--db", str(path), "--older-than=1d", f"{option}={value}"])
    assert caught.value.code == EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"orderkit outbox purge: argument {option}:"), line
    assert _left(path) == {"delivered": 7, "pending": 1, "dead": 1}


@pytest.mark.parametrize("command", ["outbox", "watch"])
def test_an_instant_without_its_offset_is_refused_naming_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = tmp_path / "shop.db"
    _shop(path)
    argv = [command, "purge", "--db", str(path), "--older-than", "1d",
            "--now", "2026-03-02T10:00:00"]
    assert main(argv) == EXIT_REFUSED
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("orderkit: ValidationError: --now:")
    assert _left(path)["delivered"] == 7


@pytest.mark.parametrize("command", ["outbox", "watch"])
def test_a_file_that_is_no_order_database_is_left_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    missing = tmp_path / "missing.db"
    assert main([command, "purge", "--db", str(missing), "--older-than", "30d"]) == EXIT_FILE
    assert "no such database file" in capsys.readouterr().err
    assert not missing.exists()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    assert main([command, "purge", "--db", str(other), "--older-than", "30d"]) == EXIT_FILE
    assert "not an orderkit order database" in capsys.readouterr().err
    with sqlite3.connect(other) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert tables == {"notes"}


# --- PostgreSQL ----------------------------------------------------------------------------


def test_purge_on_a_postgres_schema_deletes_what_was_delivered_before_the_span(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--dsn`` (with ``--schema``) purges the outbox of a PostgreSQL schema as ``--db``
    does a SQLite file's, against the suite's real server."""
    schema = fresh_schema()
    ids = _shop(PostgresOrderRepository(pg_dsn, schema=schema))
    argv = ["outbox", "purge", "--dsn", pg_dsn, "--schema", schema, "--older-than", "30d",
            "--batch", "2", "--now", T0.isoformat()]
    assert main(argv) == EXIT_OK
    assert capsys.readouterr().out == (
        "outbox purge: 5 delivered message(s) deleted, delivered before"
        " 2026-01-31T02:00:00+00:00 (older than 30d); 1 dead letter(s) kept\n")
    assert _statuses(pg_dsn, schema, ids) == {"delivered": 2, "pending": 1, "dead": 1}
    assert main([*argv[:7], "9d", *argv[8:]]) == EXIT_OK
    assert "2 delivered message(s) deleted" in capsys.readouterr().out
    assert _statuses(pg_dsn, schema, ids) == {"pending": 1, "dead": 1}


def test_a_postgres_schema_without_orders_is_left_untouched(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = fresh_schema()
    argv = ["outbox", "purge", "--dsn", pg_dsn, "--schema", schema, "--older-than", "30d"]
    assert main(argv) == EXIT_FILE
    err = capsys.readouterr().err
    assert err == (f"orderkit: cannot use schema {schema}: not an orderkit order database"
                   " (no orders were ever written to it)\n")
    assert pg_dsn not in err  # a DSN may carry a password: never printed
    with psycopg.connect(pg_dsn) as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                             (schema,)).fetchone()
    assert found is None  # nothing created


@pytest.mark.parametrize(
    ("where", "said"),
    [([], "one of the arguments --db --dsn is required"),
     (["--db", "shop.db", "--dsn", "dbname=shop"], "argument --dsn: not allowed with"
      " argument --db"),
     (["--db", "shop.db", "--schema", "orderkit"], "--schema goes with --dsn")],
)
@pytest.mark.parametrize("command", ["outbox", "watch"])
def test_exactly_one_of_db_and_dsn_or_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: list[str], said: str,
    command: str,
) -> None:
    path = tmp_path / "shop.db"
    _shop(SQLiteOrderRepository(path))
    argv = [command, "purge", *[str(path) if w == "shop.db" else w for w in where],
            "--older-than", "1d"]
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"orderkit {command} purge: ") and said in line, line
    assert _left(path) == {"delivered": 7, "pending": 1, "dead": 1}


@pytest.mark.parametrize("command", ["outbox", "watch"])
def test_a_postgres_server_that_cannot_be_reached_exits_3_without_the_dsn(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dsn = f"postgresql://shop:s3cret-pw@127.0.0.1:{port}/shop?connect_timeout=5"
    assert main([command, "purge", "--dsn", dsn, "--older-than", "30d"]) == EXIT_FILE
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("orderkit: StoreError: "), line
    assert "s3cret-pw" not in line


@pytest.mark.parametrize("command", ["outbox", "watch"])
@pytest.mark.parametrize("dsn", [
    "postgresql://orderkit:my secret@127.0.0.1:5432/postgres",
    "host=127.0.0.1 port=5432 user=orderkit password=my secret dbname=postgres",
    "postgresql://orderkit:s3cr/etpw@127.0.0.1:5432/postgres",
])
def test_a_dsn_that_does_not_parse_is_not_printed(
    capsys: pytest.CaptureFixture[str], command: str, dsn: str
) -> None:
    assert main([command, "purge", "--dsn", dsn, "--older-than", "30d"]) == EXIT_FILE
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line == ("orderkit: StoreError: connect to PostgreSQL failed: the DSN could not"
                    " be parsed (not shown: it may hold a password); percent-encode special"
                    " characters")
