"""``orderkit lifecycle-table``: print the default transition table.

Operators and reviewers read the table without reading code: ``--format mermaid`` gives a
diagram to paste into a wiki, ``--format markdown`` the rows.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_lifecycle_command"]


def _table(args: argparse.Namespace) -> int:
    from orderkit.lifecycle.table import DEFAULT_TABLE

    text = DEFAULT_TABLE.to_mermaid() if args.format == "mermaid" else DEFAULT_TABLE.to_markdown()
    sys.stdout.write(text)
    return 0


def add_lifecycle_command(commands: Any) -> None:
    """Register ``lifecycle-table`` on the ``orderkit`` subcommand parser."""
    table = commands.add_parser("lifecycle-table", help="print the order lifecycle table")
    table.add_argument("--format", choices=("mermaid", "markdown"), default="mermaid")
    table.set_defaults(handler=_table)
