"""The ``orderkit`` command fails with one line on stderr and a documented exit code."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orderkit import cli
from orderkit.cli import (
    EXIT_CODES,
    EXIT_FILE,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
)

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "reconcile"
ERP = FIXTURES / "erp_2026-02-16.csv"
WECHAT = FIXTURES / "wechatpay_20260216.csv"


def orderkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real console script, as a host's shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "orderkit", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
        check=False,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def reconcile_args(*extra: str, left: Path = ERP, out: str = "report.json") -> list[str]:
    return [
        "reconcile",
        "--left",
        str(left),
        "--right",
        str(WECHAT),
        "--right-format",
        "wechatpay",
        "--out",
        out,
        *extra,
    ]


@pytest.mark.parametrize("command", ["normalize", "check-mapping"])
def test_a_missing_orders_file_is_one_line_and_exit_3(tmp_path: Path, command: str) -> None:
    done = orderkit(command, "--platform", "tmall", "trades.json", cwd=tmp_path)
    assert_one_line(done, EXIT_FILE, "orderkit:", "trades.json", "No such file")


@pytest.mark.parametrize("command", ["normalize", "check-mapping"])
def test_a_custom_map_file_that_is_missing_is_one_line_and_exit_1(
    tmp_path: Path, command: str
) -> None:
    (tmp_path / "orders.json").write_text("{}", encoding="utf-8")
    done = orderkit(command, "--map", "youzan_map.py:YOUZAN", "orders.json", cwd=tmp_path)
    assert_one_line(done, EXIT_REFUSED, "DefinitionError", "--map", "no such file",
                    "'youzan_map.py:YOUZAN'")


def test_a_directory_given_as_a_file_is_one_line_and_exit_3(tmp_path: Path) -> None:
    done = orderkit("normalize", "--platform", "tmall", str(tmp_path), cwd=tmp_path)
    assert_one_line(done, EXIT_FILE, str(tmp_path), "Is a directory")


def test_an_orders_file_that_is_not_utf8_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "trades.json").write_bytes(b'\xff\xfe{"tid": 1}')
    done = orderkit("normalize", "--platform", "tmall", "trades.json", cwd=tmp_path)
    assert_one_line(done, EXIT_REFUSED, "ValidationError", "trades.json", "not UTF-8")


def test_malformed_orders_are_reported_per_record_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "trades.jsonl").write_text('{"tid": \n[1]\n', encoding="utf-8")
    done = orderkit("normalize", "--platform", "tmall", "trades.jsonl", cwd=tmp_path)
    assert done.returncode == EXIT_REFUSED
    assert "Traceback" not in done.stderr
    assert [line.split(": ")[:2] for line in done.stderr.splitlines()] == [
        ["orderkit", "record 1"], ["orderkit", "record 2"]]


def test_an_unknown_platform_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "trades.json").write_text("{}", encoding="utf-8")
    done = orderkit("normalize", "--platform", "ebay", "trades.json", cwd=tmp_path)
    assert_one_line(done, EXIT_REFUSED, "MappingError", "unknown platform", "'ebay'")


def test_a_missing_bank_statement_fails_before_anything_is_read(tmp_path: Path) -> None:
    done = orderkit(*reconcile_args(left=tmp_path / "erp.csv"), cwd=tmp_path)
    assert_one_line(done, EXIT_FILE, "erp.csv", "No such file")
    assert not (tmp_path / "report.json").exists()


def test_a_report_that_cannot_be_written_is_exit_3(tmp_path: Path) -> None:
    done = orderkit(*reconcile_args(out=str(tmp_path / "missing" / "r.json")), cwd=tmp_path)
    assert done.returncode == EXIT_FILE
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("orderkit: cannot use ")


@pytest.mark.parametrize(
    ("extra", "field", "value"),
    [
        (("--tz", "Mars/Olympus"), "tz", "Mars/Olympus"),
        (("--cutoff", "yesterday"), "--cutoff", "yesterday"),
        (("--cutoff", "1775001600"), "--cutoff", "1775001600"),
        (("--cutoff", "20260231"), "--cutoff", "20260231"),
        (("--alert-threshold", "lots"), "--alert-threshold", "lots"),
        (("--alert-threshold", "5 ZZZZ"), "currency", "ZZZZ"),
        (("--alert-threshold", "-5"), "--alert-threshold", "'-5'"),
        (("--alert-threshold", "0.001"), "--alert-threshold", "'0.001'"),
        (("--left-encoding", "klingon"), "--left-encoding", "klingon"),
        (("--right-encoding", "base64"), "--right-encoding", "base64"),
        (("--source-tz", "Nope/Nope"), "--source-tz", "Nope/Nope"),
    ],
)
def test_a_bad_option_value_is_one_line_naming_it_before_any_file_is_read(
    tmp_path: Path, extra: tuple[str, ...], field: str, value: str
) -> None:
    done = orderkit(*reconcile_args(*extra), cwd=tmp_path)
    assert_one_line(done, EXIT_REFUSED, f"{field}:", value)
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["reconcile", "--left", "erp.csv"],
        ["reconcile", "--left", "a", "--right", "b", "--out", "x", "--left-format", "sap"],
        ["frobnicate"],
        ["--frobnicate"],
        ["normalize", "trades.json"],
    ],
)
def test_a_bad_command_line_is_one_line_and_exit_2(tmp_path: Path, args: list[str]) -> None:
    done = orderkit(*args, cwd=tmp_path)
    line = assert_one_line(done, EXIT_USAGE, "orderkit", "--help")
    assert "usage:" not in line


def test_a_database_that_cannot_be_opened_is_exit_3(tmp_path: Path) -> None:
    done = orderkit("demo", "--db", str(tmp_path / "missing" / "demo.db"), cwd=tmp_path)
    assert done.returncode == EXIT_FILE
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("orderkit: StoreError:")


def test_help_lists_every_exit_code(tmp_path: Path) -> None:
    for args in (["--help"], ["reconcile", "--help"]):
        done = orderkit(*args, cwd=tmp_path)
        assert done.returncode == EXIT_OK
        assert "exit codes:" in done.stdout
        for code in EXIT_CODES:
            assert f"\n  {code} " in done.stdout, code


def test_the_docs_list_the_same_exit_codes() -> None:
    page = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for code in EXIT_CODES:
        assert f"| {code} |" in page, code


def test_an_unexpected_error_is_one_line_unless_the_traceback_is_asked_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = cli.build_parser

    def broken(_args: argparse.Namespace) -> int:
        raise RuntimeError("a bug\nover two lines")

    def parser_with_a_broken_command() -> argparse.ArgumentParser:
        parser = real()
        parser.set_defaults(handler=broken)
        return parser

    monkeypatch.setattr(cli, "build_parser", parser_with_a_broken_command)
    assert cli.main([]) == EXIT_INTERNAL
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("orderkit: internal error: RuntimeError: a bug over two lines")
    with pytest.raises(RuntimeError):
        cli.main(["--traceback"])


@pytest.mark.parametrize("every", ["-5", "nan", "inf", "1e300", "0", "0.5", "86401", "soon"])
def test_a_bad_watch_interval_is_refused_before_any_cycle(tmp_path: Path, every: str) -> None:
    db = tmp_path / "shop.db"
    assert orderkit("demo", "--db", str(db), cwd=tmp_path).returncode == EXIT_OK
    before = db.read_bytes()
    done = orderkit("watch", "--db", str(db), f"--every={every}", cwd=tmp_path)
    assert_one_line(done, EXIT_USAGE, "--every", every)
    assert done.stdout == ""  # no cycle ran, no alert was sent
    assert db.read_bytes() == before



@pytest.mark.parametrize(
    "url", ["", "notaurl", "http://[::1", "http://", "https:// hooks.example/x", "http://h:x/"])
def test_a_bad_webhook_is_refused_naming_the_option_before_any_cycle(
    tmp_path: Path, url: str
) -> None:
    db = tmp_path / "shop.db"
    assert orderkit("demo", "--db", str(db), cwd=tmp_path).returncode == EXIT_OK
    before = db.read_bytes()
    done = orderkit("watch", "--db", str(db), "--once", "--webhook", url, cwd=tmp_path)
    assert_one_line(done, EXIT_REFUSED, "ValidationError: --webhook:", repr(url))
    assert done.stdout == ""  # no cycle ran: no alert stored, none printed instead
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["health", "--out", "h.html", "--retries", "9/3"], "--retries"),
        (["health", "--out", "h.html", "--now", "yesterday"], "--now"),
        (["health", "--out", "h.html", "--period", "2026-13"], "--period"),
        (["health", "--out", "h.html", "--reconciliation-difference", "lots"],
         "--reconciliation-difference"),
        (["wave", "--at", "garbage"], "--at"),
        (["watch", "--webhook", "notaurl"], "--webhook"),
    ],
)
def test_a_bad_option_is_named_before_the_database_file_is_looked_at(
    tmp_path: Path, args: list[str], option: str
) -> None:
    done = orderkit(args[0], "--db", "missing.db", *args[1:], cwd=tmp_path)
    assert_one_line(done, EXIT_REFUSED, f"{option}:")
    assert list(tmp_path.iterdir()) == []

def _slug(heading: str) -> str:
    """The anchor mkdocs gives a heading (lower case, words joined by hyphens)."""
    words = re.sub(r"[^\w\s-]", "", heading.lower()).split()
    return "-".join(words)


def test_the_docs_list_every_command_with_a_link_to_its_page() -> None:
    (commands,) = (
        action.choices
        for action in cli.build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    page = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| .* \| \[[^]]+\]\(([^)]+)\) \|$", page, re.M))
    assert sorted(rows) == sorted(commands)
    for command, link in rows.items():
        target, _, anchor = link.partition("#")
        text = (ROOT / "docs" / target).read_text(encoding="utf-8")
        headings = {_slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}
        assert anchor in headings, (command, link)


@pytest.mark.parametrize(
    "command",
    [["wave"], ["health", "--out", "health.html"], ["watch"], ["dead-letters"]],
)
def test_another_applications_database_is_refused_and_left_untouched(
    tmp_path: Path, command: list[str]
) -> None:
    import sqlite3

    db = tmp_path / "erp.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.close()
    done = orderkit(command[0], "--db", str(db), *command[1:], cwd=tmp_path)
    assert_one_line(done, EXIT_FILE, "not an orderkit order database")
    with sqlite3.connect(db) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
    conn.close()
    assert tables == ["invoices"]
    assert not (tmp_path / "health.html").exists()



@pytest.mark.parametrize(
    "command",
    [["wave"], ["health", "--out", "health.html"], ["watch"], ["dead-letters"]],
)
def test_a_directory_given_as_the_database_is_said_to_be_one(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "shop.db").mkdir()
    done = orderkit(command[0], "--db", "shop.db", *command[1:], cwd=tmp_path)
    assert_one_line(done, EXIT_FILE, "orderkit: cannot use shop.db: is a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.db"]

@pytest.mark.parametrize("taken", ["shop.db", "shop-sync.db", "shop-watch.db"])
def test_the_demo_writes_no_file_over_one_that_exists(tmp_path: Path, taken: str) -> None:
    (tmp_path / taken).write_text("a host's own file", encoding="utf-8")
    done = orderkit("demo", "--db", str(tmp_path / "shop.db"), cwd=tmp_path)
    assert_one_line(done, EXIT_USAGE, taken, "exists")
    assert (tmp_path / taken).read_text(encoding="utf-8") == "a host's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [taken]
