"""The ``orderkit`` command (also ``python -m orderkit``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from orderkit import __version__
from orderkit.model.errors import OrderkitError

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], int]


def _demo(args: argparse.Namespace) -> int:
    from orderkit.demo import run_demo

    db = Path(args.db) if args.db else None
    if db is not None and db.exists():
        print(f"orderkit: {db} exists; the demo writes a new database file", file=sys.stderr)
        return 2
    run_demo(sys.stdout, db)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; subcommands register themselves here."""
    parser = argparse.ArgumentParser(prog="orderkit", description="Keep orders out of grey states.")
    parser.add_argument("--version", action="version", version=f"orderkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the end-to-end story on SQLite")
    demo.add_argument("--db", metavar="PATH", help="SQLite file to use (default: a temp file)")
    demo.set_defaults(handler=_demo)
    from orderkit.mapping.cli import add_commands as add_mapping_commands

    add_mapping_commands(commands)  # normalize, check-mapping
    from orderkit.reconcile.cli import add_reconcile_command

    add_reconcile_command(commands)  # reconcile
    from orderkit.lifecycle.cli import add_lifecycle_command

    add_lifecycle_command(commands)  # lifecycle-table
    # (commands are registered above this line)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Command | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except OrderkitError as error:
        print(f"orderkit: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
