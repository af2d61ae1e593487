"""``orderkit db upgrade``: create or migrate orderkit's PostgreSQL tables.

Registering the command imports nothing of psycopg; running it needs the ``postgres``
extra (without it the command says which extra to install).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["add_db_command"]


def add_db_command(commands: Any) -> None:
    """Register ``db upgrade`` on the ``orderkit`` command's subparsers."""
    db = commands.add_parser("db", help="manage orderkit's PostgreSQL tables")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade",
        help="create or migrate every orderkit table to this version's schema",
        description="Create or migrate every orderkit table in SCHEMA to this orderkit's"
        " schema versions (each component in its own transaction). A database whose"
        " schema is newer than this orderkit is refused (exit code 3).",
    )
    upgrade.add_argument(
        "--dsn",
        default=os.environ.get("ORDERKIT_DSN"),
        help="PostgreSQL DSN (default: $ORDERKIT_DSN)",
    )
    upgrade.add_argument("--schema", default="orderkit", help="schema (default: orderkit)")
    upgrade.set_defaults(handler=_upgrade, parser=upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    if not args.dsn:
        args.parser.error("--dsn is required (or set ORDERKIT_DSN)")
    from orderkit.adapters.postgres.migrate import upgrade

    done = upgrade(args.dsn, schema=args.schema)
    for component, (before, after) in done.items():
        change = "up to date" if before == after else f"migrated from {before}"
        print(f"{args.schema}.{component}: version {after} ({change})", file=sys.stdout)
    return 0
