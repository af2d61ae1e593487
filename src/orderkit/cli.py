"""The ``orderkit`` command (also ``python -m orderkit``).

Every failure is reported as one line on stderr, ``orderkit: ...``, never a traceback,
with one of the exit codes in :data:`EXIT_CODES` (also printed by ``orderkit --help``).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, NoReturn

from orderkit import __version__
from orderkit.model.errors import OrderkitError, StoreError

__all__ = [
    "EXIT_CODES",
    "EXIT_FILE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

Command = Callable[[argparse.Namespace], int]

EXIT_OK: Final = 0
#: The input was refused: a record failed to map, a check found problems, or orderkit
#: refused a value in a file or an option (the line names the field and the value).
EXIT_REFUSED: Final = 1
#: The command line is wrong: an unknown command or option, a missing or invalid argument.
EXIT_USAGE: Final = 2
#: A file could not be opened, read or written (missing, a directory, no permission), or
#: a database file could not be used (a ``StoreError``).
EXIT_FILE: Final = 3
#: An unexpected error inside orderkit (a bug); ``--traceback`` shows where.
EXIT_INTERNAL: Final = 4
#: Interrupted (Ctrl-C).
EXIT_INTERRUPTED: Final = 130

#: Exit code -> what it means, as ``orderkit --help`` and the docs list them.
EXIT_CODES: Final = {
    EXIT_OK: "success",
    EXIT_REFUSED: "the input was refused: a record failed to map, a check found problems,"
    " or a value in a file or an option is not acceptable",
    EXIT_USAGE: "the command line is wrong: unknown command or option, missing or invalid"
    " argument, or a demo database that already exists",
    EXIT_FILE: "a file could not be opened, read or written (missing, a directory,"
    " permission denied), or a database file could not be used",
    EXIT_INTERNAL: "an unexpected error inside orderkit (a bug; --traceback shows where)",
    EXIT_INTERRUPTED: "interrupted",
}

_EPILOG: Final = (
    "Every failure is one line on stderr, starting with 'orderkit:'.\n\nexit codes:\n"
    + "\n".join(
        textwrap.fill(meaning, 79, initial_indent=f"  {code:<4}", subsequent_indent=" " * 6)
        for code, meaning in EXIT_CODES.items()
    )
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        _say(f"{self.prog}: {message} (see {self.prog} --help)")
        raise SystemExit(EXIT_USAGE)


def _say(text: str) -> None:
    """Print ``text`` to stderr as one line."""
    print(" ".join(text.split("\n")).rstrip(), file=sys.stderr)


def _file_problem(error: OSError) -> str:
    reason = error.strerror or type(error).__name__
    if error.filename is None:
        return f"orderkit: {reason}"
    return f"orderkit: cannot use {error.filename}: {reason}"


def _demo(args: argparse.Namespace) -> int:
    from orderkit.demo import run_demo

    db = Path(args.db) if args.db else None
    if db is not None and db.exists():
        _say(f"orderkit: {db} exists; the demo writes a new database file")
        return EXIT_USAGE
    run_demo(sys.stdout, db)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; subcommands register themselves here."""
    parser = _Parser(
        prog="orderkit",
        description="Keep orders out of grey states.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"orderkit {__version__}")
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an unexpected error, print the Python traceback instead of one line",
    )
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
    from orderkit.adapters.postgres.cli import add_db_command

    add_db_command(commands)  # db upgrade
    # (commands are registered above this line)
    for command in commands.choices.values():
        command.epilog = _EPILOG
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code (``EXIT_CODES``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Command | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(args)
    except StoreError as error:  # the command's database file
        _say(f"orderkit: {type(error).__name__}: {error}")
        return EXIT_FILE
    except OrderkitError as error:
        _say(f"orderkit: {type(error).__name__}: {error}")
        return EXIT_REFUSED
    except OSError as error:
        _say(_file_problem(error))
        return EXIT_FILE
    except KeyboardInterrupt:
        _say("orderkit: interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: one line, unless the caller asked for the trace
        if args.traceback:
            raise
        _say(
            f"orderkit: internal error: {type(error).__name__}: {error}"
            " (run again with --traceback to see where)"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
