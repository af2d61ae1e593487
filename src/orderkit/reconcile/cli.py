"""``orderkit reconcile``: reconcile two exports from the command line.

    orderkit reconcile --left erp.csv --right bank.csv --right-format bank-csv \\
        --bank-columns record_id=交易流水号,at=交易时间,credit=贷方金额,debit=借方金额,memo=摘要 \\
        --date-format "%Y/%m/%d %H:%M" --out report.html --out report.json

Progress (rows read, passes run, files written) goes to stderr so stdout stays clean;
daily difference alerts above ``--alert-threshold`` are printed to stderr as well. The
command exits with 1 (``EXIT_REFUSED``: a check found problems) when any outcome needs a
person (unmatched, a suggestion, a rejected line, an unexplained difference), 0 when
the reports hold only matches and explained differences (fees, coupons, pending).
"""

from __future__ import annotations

import argparse
import codecs
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from orderkit.model.alerts import Alert
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, parse_timestamp
from orderkit.reconcile.alerting import alert_differences
from orderkit.reconcile.chain import needs_a_person
from orderkit.reconcile.engine import reconcile
from orderkit.reconcile.readers import FORMATS, BankColumns
from orderkit.reconcile.records import Record, Rejected
from orderkit.reconcile.report import LANGS, write_report
from orderkit.reconcile.rules import Rules

__all__ = ["add_reconcile_command", "run_reconcile"]


class _StderrNotifier:
    """A :class:`~orderkit.reconcile.ports.Notifier` that prints alerts to a text stream."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def notify(self, alert: Alert) -> None:
        print(f"ALERT [{alert.severity}] {alert.subject}: {alert.message}", file=self._out)


def _bank_columns(text: str) -> BankColumns:
    values: dict[str, Any] = {}
    names = {"record_id", "at", "amount", "credit", "debit", "memo", "ref", "currency"}
    for part in text.split(","):
        name, _, header = part.partition("=")
        name = name.strip()
        if name not in names or not header.strip():
            raise ValidationError(
                "--bank-columns", part, f"expected NAME=HEADER with NAME in {sorted(names)}"
            )
        values[name] = header.strip()
    if "credit" in values and "amount" not in values:
        values["amount"] = None
    return BankColumns(**values)


def _reader(
    path: str, fmt: str, args: argparse.Namespace, side: str, err: TextIO
) -> Iterator[Record | Rejected]:
    if fmt not in FORMATS:
        raise ValidationError(f"--{side}-format", fmt, f"expected one of {sorted(FORMATS)}")
    with open(path, "rb"):  # a missing or unreadable file is an OSError, not bad data
        pass
    options: dict[str, Any] = {}
    encoding = getattr(args, f"{side}_encoding")
    if encoding:
        options["encoding"] = encoding
    if fmt == "bank-csv":
        if args.bank_columns:
            options["columns"] = _bank_columns(args.bank_columns)
        if args.date_format:
            options["date_format"] = args.date_format
    if fmt in ("bank-csv", "erp", "pos"):
        options["source_tz"] = args.source_tz
    name = Path(path).name

    def progress(rows: int) -> None:
        print(f"reading {name}: {rows:,} rows", file=err, flush=True)

    return FORMATS[fmt](path, progress=progress, **options)


def _threshold(text: str) -> Money:
    amount, _, currency = text.strip().partition(" ")
    try:
        Decimal(amount)
    except InvalidOperation:
        raise ValidationError("--alert-threshold", text, "expected an amount like 500.00") from None
    return Money(amount, currency.strip() or "CNY")


def _encoding(args: argparse.Namespace, side: str) -> None:
    name = getattr(args, f"{side}_encoding")
    if name:
        try:
            codecs.lookup(name)
        except LookupError:
            raise ValidationError(f"--{side}-encoding", name, "unknown text encoding") from None


def run_reconcile(args: argparse.Namespace, *, err: TextIO | None = None) -> int:
    """The handler of ``orderkit reconcile``.

    Every option is checked before a file is read, and every input file is opened
    before the first is parsed: a bad option or a missing file fails at once.
    """
    stream = err if err is not None else sys.stderr
    started = time.perf_counter()
    for side in ("left", "right"):
        _encoding(args, side)
    cutoff = (
        parse_timestamp(args.cutoff, source_tz=args.tz, path="--cutoff") if args.cutoff else None
    )
    rules = Rules(tz=args.tz, cutoff=cutoff)
    threshold = _threshold(args.alert_threshold)
    left_rows = _reader(args.left, args.left_format, args, "left", stream)
    right_rows = _reader(args.right, args.right_format, args, "right", stream)
    left = list(left_rows)
    right = list(right_rows)
    print(
        f"read {len(left):,} left and {len(right):,} right inputs; reconciling in {args.tz} ...",
        file=stream,
        flush=True,
    )
    result = reconcile(left, right, rules=rules)
    summary = result.summary()
    print(
        f"reconciled in {time.perf_counter() - started:.2f}s: match rate"
        f" {float(summary['match_rate']):.2%}",  # type: ignore[arg-type]
        file=stream,
        flush=True,
    )
    alert_differences(result, _StderrNotifier(stream), threshold=threshold)
    files = (Path(args.left).name, Path(args.right).name)
    for out in args.out:
        path = write_report(result, out, files=files, lang=args.lang)
        print(f"wrote {path}", file=stream, flush=True)
    breaks = sum(1 for outcome in result.outcomes if needs_a_person(outcome))
    if breaks:
        print(f"{breaks:,} outcomes need a person (see the report)", file=stream, flush=True)
        return 1  # orderkit.cli.EXIT_REFUSED: a check found problems
    return 0


def _add_lang(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lang",
        default="en",
        choices=LANGS,
        help="language of the HTML and CSV reports' labels (default: en)",
    )


def add_reconcile_command(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    handler: Callable[[argparse.Namespace], int] | None = None,
) -> argparse.ArgumentParser:
    """Register ``reconcile`` on the ``orderkit`` parser's subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "reconcile", help="match two exports and write a report"
    )
    formats = sorted(FORMATS)
    parser.add_argument("--left", required=True, metavar="PATH", help="left file (the ERP)")
    parser.add_argument("--right", required=True, metavar="PATH", help="right file")
    parser.add_argument("--left-format", default="erp", choices=formats)
    parser.add_argument("--right-format", default="bank-csv", choices=formats)
    parser.add_argument("--left-encoding", default=None, help="text encoding of --left")
    parser.add_argument("--right-encoding", default=None, help="e.g. gbk for Alipay")
    parser.add_argument("--tz", default=DEFAULT_ACCOUNTING_TZ, help="accounting time zone")
    parser.add_argument(
        "--source-tz", default=DEFAULT_ACCOUNTING_TZ, help="zone of naive times in the files"
    )
    parser.add_argument("--bank-columns", default=None, help="NAME=HEADER,... for bank-csv")
    parser.add_argument("--date-format", default=None, help="strptime pattern for bank-csv")
    parser.add_argument("--cutoff", default=None, help="records at or after this are pending")
    parser.add_argument(
        "--alert-threshold", default="500.00 CNY", help="daily difference alert threshold"
    )
    parser.add_argument(
        "--out",
        action="append",
        required=True,
        metavar="PATH",
        help="report.html, report.json or report.csv (repeatable)",
    )
    _add_lang(parser)
    parser.set_defaults(handler=handler if handler is not None else run_reconcile)
    return parser
