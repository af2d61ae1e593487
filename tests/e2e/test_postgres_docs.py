"""The host-transaction example of docs/deploy.md runs as written, on a real server."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def _example(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"no python example under {heading!r}"
    return found.group(1)


def test_the_host_transaction_example_commits_and_rolls_back_as_it_says(pg_dsn: str) -> None:
    code = _example("Joining the host's transaction")
    assert 'dsn = "postgresql://app@localhost/shop"' in code
    code = code.replace('dsn = "postgresql://app@localhost/shop"', f"dsn = {pg_dsn!r}")
    with psycopg.connect(pg_dsn, autocommit=True) as admin:  # the example's own names
        admin.execute("DROP SCHEMA IF EXISTS orderkit CASCADE")
        admin.execute("DROP TABLE IF EXISTS invoices")
    exec(compile(code, str(DOC), "exec"), {})  # its asserts are the test
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT order_id FROM invoices").fetchall() == [("ORD-1001",)]
        assert conn.execute(
            "SELECT order_id, status FROM orderkit.orders"
        ).fetchall() == [("ORD-1001", 10)]
