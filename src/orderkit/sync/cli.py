"""``orderkit sync`` and ``orderkit backfill``: a JSON-lines file of platform payloads
onto a SQLite order database, with a progress bar on stderr and a one-line summary.

Registered by :mod:`orderkit.cli` (the only layer allowed to pick the adapters), which
passes in the function that builds a :class:`~orderkit.sync.Sync` on a database file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Protocol, TextIO

import attrs

from orderkit.mapping.registry import default_registry
from orderkit.model.errors import ValidationError
from orderkit.model.time import checked_now, parse_timestamp
from orderkit.sync.feed import MemoryChannelClient, read_lines
from orderkit.sync.limits import PlatformLimits, limits_for
from orderkit.sync.sync import Sync, SyncReport, check_batch, check_platform

__all__ = ["ProgressBar", "add_sync_commands"]

class Opener(Protocol):
    """Builds the Sync of a database file (the adapters are the command line's choice),
    with ``limits`` overriding the platforms' API limits."""

    def __call__(self, db: str, *, limits: Mapping[str, PlatformLimits] | None) -> Sync: ...

_WIDTH: Final = 30


class ProgressBar:
    """A plain-text progress bar: redrawn in place on a terminal, one line per tenth
    otherwise (a log keeps a few lines, not hundreds)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self._tenth = -1

    def __call__(self, report: SyncReport, fraction: float) -> None:
        filled = round(fraction * _WIDTH)
        line = (f"{self.label} [{'#' * filled}{'.' * (_WIDTH - filled)}] {fraction:4.0%}"
                f"  {report.total} payloads")
        if self.tty:
            self.stream.write("\r" + line)
        elif int(fraction * 10) > self._tenth:
            self._tenth = int(fraction * 10)
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _instant(text: str) -> datetime:
    try:
        return parse_timestamp(text, source_tz="UTC", path="time")
    except ValidationError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error.reason}") from error


def _finish(report: SyncReport, bar: ProgressBar) -> int:
    bar.close()
    print(report.summary())
    return 1 if report.dead_lettered else 0


def _check(args: argparse.Namespace) -> None:
    """Refuse a bad option value (the platform, ``--batch``, a window that ends before
    it starts) before any file is read or the database created: the checks ``Sync``
    makes, run before it is opened (its maps are the built-in ones)."""
    check_platform(default_registry(), args.platform)
    check_batch(args.batch)
    if getattr(args, "since", None) is not None and args.until < args.since:
        raise ValidationError("--until", args.until.isoformat(),
                              f"is before --since ({args.since.isoformat()})")


def _file_limits(platform: str) -> dict[str, PlatformLimits]:
    """The platform's limits for a file of its payloads: its windows, without the
    lookback of its API (an export kept from last year is read like one from today;
    only the platform's API stops answering after it)."""
    return {platform: attrs.evolve(limits_for(platform), lookback=None)}


def add_sync_commands(commands: Any, opener: Opener) -> None:
    """Add ``sync`` and ``backfill`` to the ``orderkit`` subcommands."""

    def run_sync(args: argparse.Namespace) -> int:
        _check(args)
        # Each payload with its line: a repeat is known by a hash of the line.
        lines = read_lines(args.from_file)
        sync = opener(args.db, limits=None)
        bar = ProgressBar("sync")
        report = sync.receive_many(args.platform, [payload for payload, _text in lines],
                                   texts=[text for _payload, text in lines],
                                   received_at=checked_now(sync.clock), batch=args.batch,
                                   progress=bar)
        return _finish(report, bar)

    def run_backfill(args: argparse.Namespace) -> int:
        _check(args)
        lines = read_lines(args.from_file)
        client = MemoryChannelClient([payload for payload, _text in lines],
                                     texts=[text for _payload, text in lines],
                                     platform=args.platform, page_size=args.batch)
        sync = opener(args.db, limits=_file_limits(args.platform))
        bar = ProgressBar("backfill")
        report = sync.backfill(args.platform, client, args.since, args.until, progress=bar)
        return _finish(report, bar)

    for name, handler, summary in (
        ("sync", run_sync, "apply every payload of a JSON-lines file (webhooks, an export)"),
        ("backfill", run_backfill,
         "apply the payloads of a JSON-lines file modified in [--since, --until]"),
    ):
        command = commands.add_parser(
            name, help=f"{summary} to a SQLite order database",
            description=f"{summary[0].upper()}{summary[1:]} to a SQLite order database,"
            f" {_BATCH_WORDS} Prints a progress bar on stderr and a summary (new, updated,"
            " unchanged, stale, dead letters); exits 1 when a payload became a dead letter.")
        command.add_argument("--platform", required=True, help="jd, tmall, taobao, pdd,"
                             " douyin, shopify or woocommerce")
        command.add_argument("--from-file", required=True, metavar="FILE",
                             help="one platform payload (JSON object) per line")
        command.add_argument("--db", required=True, metavar="PATH",
                             help="the orders' SQLite file (created when missing)")
        command.add_argument("--batch", type=int, default=100, metavar="N",
                             help="payloads per transaction (default 100)")
        if name == "backfill":
            command.add_argument("--since", required=True, type=_instant, metavar="ISO",
                                 help="window start, ISO 8601 (UTC without an offset)")
            command.add_argument("--until", required=True, type=_instant, metavar="ISO",
                                 help="window end, ISO 8601 (UTC without an offset)")
        command.set_defaults(handler=handler)


_BATCH_WORDS: Final = "--batch payloads per transaction."
