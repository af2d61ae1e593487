"""The ``orderkit`` command: version and the end-to-end demo on SQLite."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from orderkit import __version__
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.cli import main
from orderkit.demo import run_demo


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"orderkit {__version__}"


def test_module_entry_point_runs_the_demo(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = subprocess.run(
        [sys.executable, "-m", "orderkit", "demo", "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "SO20260216000001" in result.stdout
    assert result.stdout.rstrip().endswith("No order was left in a grey state.")
    # The demo really used the file: its orders can be read back.
    assert SQLiteOrderRepository(db).get("ORD-1001").channel == "tmall"


def test_demo_refuses_to_reuse_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    db.write_text("")
    assert main(["demo", "--db", str(db)]) == 2
    assert "exists" in capsys.readouterr().err


def test_demo_refuses_a_file_in_a_missing_directory_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "missing" / "demo.db"
    assert main(["demo", "--db", str(db)]) == 3
    out, err = capsys.readouterr()
    assert out == ""  # not a word of the story before the refusal
    assert err.strip() == (f"orderkit: StoreError: open {db} failed: no such directory"
                           f" {db.parent}: the demo creates its database files, not their"
                           " directory")


def test_demo_is_deterministic(tmp_path: Path) -> None:
    first, second = io.StringIO(), io.StringIO()
    run_demo(first, tmp_path / "a.db")
    run_demo(second, tmp_path / "b.db")
    strip = lambda text: text.split("\n", 1)[1]  # noqa: E731 - the first line names the file
    assert strip(first.getvalue()) == strip(second.getvalue())


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out
