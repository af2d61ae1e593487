"""``orderkit watch purge``: the watch history's retention from cron, on a SQLite file
(``--db``) or a PostgreSQL schema (``--dsn``, against the suite's server). What it
shares with ``orderkit outbox purge`` (``--now``, a file that is no order database,
the console script) is tested for both commands in test_outbox_cli.py."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from orderkit.adapters.postgres import PostgresOrderRepository, PostgresWatchState
from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteWatchState
from orderkit.cli import EXIT_FILE, EXIT_OK, EXIT_USAGE, main
from orderkit.testing.postgres import fresh_schema
from orderkit.testing.samples import sample_order
from orderkit.watch import WatchState
from orderkit.watch.ports import Episode, WatchHistory

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SAID = ("watch purge: 5 resolved episode(s) deleted, resolved before"
        " 2025-12-02T02:00:00+00:00 (older than 90d); open episodes kept\n")


def _alerts(state: WatchState) -> None:
    """5 episodes resolved 100 days before ``T0``, 2 resolved 10 days before, and one
    raised 400 days before that is still open."""
    resolved = {f"pending_payment_stale:OLD-{n}": 100 for n in range(5)}
    resolved |= {f"pending_payment_stale:NEW-{n}": 10 for n in range(2)}
    year_ago = T0 - timedelta(days=400)
    with state.cycle() as episodes:
        for key in [*resolved, "paid_not_shipped:OPEN"]:
            episodes[key] = Episode(key, key.split(":")[0], "", "firing",
                                    (key.split(":")[1],), year_ago, fired_at=year_ago)
    with state.cycle() as episodes:
        for key, days in resolved.items():
            episodes[key] = Episode(key, "pending_payment_stale", "", "resolved",
                                    (key.split(":")[1],), year_ago, fired_at=year_ago,
                                    resolved_at=T0 - timedelta(days=days))


def _shop(path: Path) -> None:
    """A SQLite order database whose watch history holds :func:`_alerts`."""
    SQLiteOrderRepository(path).save(sample_order("ORD-1"), None)
    _alerts(SQLiteWatchState(path))


def _left(state: WatchState) -> tuple[list[str], list[str]]:
    """The keys of the history (newest first) and of the open episodes."""
    assert isinstance(state, WatchHistory)
    with state.cycle() as episodes:
        open_keys = sorted(episodes)
    return [e.key for e in state.history(limit=100)], open_keys


def test_purge_deletes_what_was_resolved_before_the_span_and_keeps_open_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shop.db"
    _shop(path)
    argv = ["watch", "purge", "--db", str(path), "--older-than", "90d", "--batch", "2",
            "--now", T0.isoformat()]
    assert main(argv) == EXIT_OK
    assert capsys.readouterr().out == SAID
    assert _left(SQLiteWatchState(path)) == (
        ["pending_payment_stale:NEW-1", "pending_payment_stale:NEW-0"],
        ["paid_not_shipped:OPEN"])
    assert main(argv) == EXIT_OK  # again: nothing more to delete
    assert "watch purge: 0 resolved episode(s)" in capsys.readouterr().out
    assert main([*argv[:5], "216h", *argv[6:]]) == EXIT_OK  # 9 days: the recent ones go
    assert "2 resolved episode(s) deleted" in capsys.readouterr().out
    assert _left(SQLiteWatchState(path)) == ([], ["paid_not_shipped:OPEN"])


def test_purge_on_a_postgres_schema(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    schema = fresh_schema()
    PostgresOrderRepository(pg_dsn, schema=schema).save(sample_order("ORD-1"), None)
    _alerts(PostgresWatchState(pg_dsn, schema=schema))
    argv = ["watch", "purge", "--dsn", pg_dsn, "--schema", schema, "--older-than", "90d",
            "--batch", "2", "--now", T0.isoformat()]
    assert main(argv) == EXIT_OK
    assert capsys.readouterr().out == SAID
    assert _left(PostgresWatchState(pg_dsn, schema=schema)) == (
        ["pending_payment_stale:NEW-1", "pending_payment_stale:NEW-0"],
        ["paid_not_shipped:OPEN"])


def test_a_postgres_schema_whose_watch_never_ran_is_not_given_a_history(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = fresh_schema()
    PostgresOrderRepository(pg_dsn, schema=schema).save(sample_order("ORD-1"), None)
    argv = ["watch", "purge", "--dsn", pg_dsn, "--schema", schema, "--older-than", "90d"]
    assert main(argv) == EXIT_OK
    assert "watch purge: 0 resolved episode(s) deleted" in capsys.readouterr().out
    with psycopg.connect(pg_dsn) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f"{schema}.watch_history",)).fetchone()
    assert found == (None,)
    assert main(["watch", "purge", "--dsn", pg_dsn, "--schema", fresh_schema(),
                 "--older-than", "90d"]) == EXIT_FILE
    assert "not an orderkit order database" in capsys.readouterr().err


def test_a_file_whose_watch_never_ran_is_left_without_watch_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shop.db"
    SQLiteOrderRepository(path).save(sample_order("ORD-1"), None)
    assert main(["watch", "purge", "--db", str(path), "--older-than", "90d"]) == EXIT_OK
    assert "watch purge: 0 resolved episode(s) deleted" in capsys.readouterr().out
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert not {"watch_episodes", "watch_history"} & tables


@pytest.mark.parametrize(
    ("args", "said"),
    [(["--older-than", "0d"], "argument --older-than:"),
     (["--older-than", "90d", "--batch", "0"], "argument --batch:"),
     (["--older-than", "90d", "--dsn", "dbname=shop"], "argument --dsn: not allowed with"
      " argument --db")],
)
def test_a_bad_option_is_a_usage_error_and_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    path = tmp_path / "shop.db"
    _shop(path)
    with pytest.raises(SystemExit) as caught:
        main(["watch", "purge", "--db", str(path), *args])
    assert caught.value.code == EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("orderkit watch purge: ") and said in line, line
    assert len(_left(SQLiteWatchState(path))[0]) == 7


def test_neither_db_nor_dsn_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["watch", "purge", "--older-than", "90d"])
    assert caught.value.code == EXIT_USAGE
    assert "one of the arguments --db --dsn is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:  # the watch itself still needs its file
        main(["watch", "--once"])
    assert caught.value.code == EXIT_USAGE
    assert "the following arguments are required: --db" in capsys.readouterr().err


@pytest.mark.parametrize("where", [["--dsn", "dbname=elsewhere"], ["--db", "other.db"]],
                         ids=["dsn", "db"])
def test_the_watch_db_before_purge_is_refused_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: list[str]
) -> None:
    """``watch --db X purge --dsn Y``: the purge names its own database, so the watch's
    ``--db`` would be silently ignored. It is a usage error naming both, and nothing is
    deleted from either file."""
    path = tmp_path / "shop.db"
    _shop(path)
    if where[0] == "--db":
        where = ["--db", str(tmp_path / where[1])]
        _shop(Path(where[1]))
    with pytest.raises(SystemExit) as caught:
        main(["watch", "--db", str(path), "purge", *where, "--older-than", "90d",
              "--now", T0.isoformat()])
    assert caught.value.code == EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("orderkit watch purge: "), line
    assert f"watch --db {path}" in line and f"purge {where[0]}" in line, line
    assert len(_left(SQLiteWatchState(path))[0]) == 7
    if where[0] == "--db":
        assert len(_left(SQLiteWatchState(Path(where[1])))[0]) == 7
@pytest.mark.parametrize("command", ["watch", "outbox"])
@pytest.mark.parametrize("watched", [True, False], ids=["watch-ran", "watch-never-ran"])
def test_a_cut_off_before_1900_is_a_usage_error_before_the_database_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, watched: bool
) -> None:
    path = tmp_path / "shop.db"
    if watched:
        _shop(path)
    else:
        SQLiteOrderRepository(path).save(sample_order("ORD-1"), None)
    with pytest.raises(SystemExit) as caught:
        main([command, "purge", "--db", str(path), "--older-than", "36500d",
              "--now", "1901-01-01T00:00:00Z"])
    assert caught.value.code == EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"orderkit {command} purge: argument --older-than: 36500d before"
                           " --now 1901-01-01T00:00:00+00:00 reaches back before 1900"), line
    if watched:
        assert len(_left(SQLiteWatchState(path))[0]) == 7
    else:
        with sqlite3.connect(path) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        conn.close()
        assert not {"watch_episodes", "watch_history"} & tables
