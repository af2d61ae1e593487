"""``orderkit reconcile`` and ``orderkit settle``: reconcile from the command line.

    orderkit reconcile --left erp.csv --right bank.csv --right-format bank-csv \\
        --bank-columns record_id=交易流水号,at=交易时间,credit=贷方金额,debit=借方金额,memo=摘要 \\
        --date-format "%Y/%m/%d %H:%M" --out report.html --out report.json

Progress (rows read, passes run, files written) goes to stderr so stdout stays clean;
daily difference alerts above ``--alert-threshold`` are printed to stderr as well. The
command exits with 1 (``EXIT_REFUSED``: a check found problems) when any outcome needs a
person (unmatched, a suggestion, a rejected line, an unexplained difference), 0 when
the reports hold only matches and explained differences (fees, coupons, pending).

``--format auto`` (or ``--left-format auto`` / ``--right-format auto``) reads a file with
:func:`~orderkit.reconcile.read_bill`, its layout chosen by its header; a file whose
header is the canonical ERP export's is read as the ERP export.

Each ``--out`` file's suffix picks its writer: ``.html``, ``.json``, ``.csv`` or ``.xlsx``
(the last needs the ``xlsx`` extra, ``pip install "orderkit[xlsx]"``; without it the
command stops before reading any file).

``orderkit settle`` follows the money along the settlement chain with
:func:`~orderkit.reconcile.settle`::

    orderkit settle --erp erp.csv --bill wechatpay=wechat-2026-03.csv \\
        --bill alipay=alipay-2026-03.csv --bank bank-2026-03.csv --out report.html

The ERP file is the canonical export (its ``channel`` column routes each order to its
channel's bill); each ``--bill CHANNEL=FILE`` and the ``--bank`` statement are read with
``read_bill``. Its HTML, CSV and xlsx reports are laid out hop by hop (order -> bill ->
payout -> bank credit, per channel). ``--opening FILE`` reads last month's settlement
CSV report and carries its payouts still in transit into this month
(:func:`~orderkit.reconcile.report.settlement_csv.read_pending_payouts`, ``settle(...,
opening=...)``). It exits with 1 when ``Settlement.breaks()`` is not empty, as
``reconcile`` does.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from orderkit.model.alerts import Alert
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, ensure_instant, parse_timestamp, zone
from orderkit.reconcile.alerting import alert_differences, check_threshold
from orderkit.reconcile.chain import needs_a_person, settle
from orderkit.reconcile.engine import reconcile
from orderkit.reconcile.payouts import PayoutTerms
from orderkit.reconcile.readers import (
    ERP_COLUMNS,
    FORMATS,
    BankColumns,
    check_encoding,
    detect_encoding,
    read_bank_csv,
    read_erp_csv,
)
from orderkit.reconcile.readers.bill import UnknownBillLayout, read_bill
from orderkit.reconcile.records import Record, Rejected
from orderkit.reconcile.report import LANGS, check_report_path, write_report
from orderkit.reconcile.report.settlement_csv import read_pending_payouts
from orderkit.reconcile.rules import Rules

__all__ = ["add_reconcile_command", "add_settle_command", "run_reconcile", "run_settle"]

#: ``--format auto``: the layout is chosen by the file's header.
AUTO = "auto"
#: A date option's text that is only a number: unix time to :func:`parse_timestamp`,
#: which a date option never reads (``20260401`` is a day, not 20,260,401 seconds).
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")
_DATE_OPTION_FORMS = "2026-04-01, 20260401 or 2026-04-01T00:00+08:00"


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


def _progress(path: str, err: TextIO) -> Callable[[int], None]:
    name = Path(path).name

    def progress(rows: int) -> None:
        print(f"reading {name}: {rows:,} rows", file=err, flush=True)

    return progress


def _add_cutoff(parser: argparse.ArgumentParser) -> None:
    """``--cutoff``, as ``reconcile`` and ``settle`` both take it (read by
    :func:`_date_option`, checked by :func:`_check_cutoff`)."""
    parser.add_argument(
        "--cutoff",
        default=None,
        metavar="DATE",
        help="records at or after this are pending: 2026-04-01, 20260401 (midnight in --tz)"
        " or an instant; refused at or before every record",
    )


def _read_auto(
    path: str,
    *,
    encoding: str | None,
    source_tz: str,
    err: TextIO,
    source: str | None = None,
) -> Iterator[Record | Rejected]:
    """Read ``path`` with :func:`read_bill`; the canonical ERP export if its header is."""
    progress = _progress(path, err)
    try:
        bill = read_bill(
            path, source=source, encoding=encoding, source_tz=source_tz, progress=progress
        )
    except UnknownBillLayout as error:
        if not set(ERP_COLUMNS[:4]) <= set(error.columns):
            raise
        print(f"read {Path(path).name} as the ERP export", file=err, flush=True)
        yield from read_erp_csv(
            path,
            source=source or "erp",
            source_tz=source_tz,
            encoding=encoding or detect_encoding(path),
            progress=progress,
        )
        return
    print(
        f"read {bill.file} as {bill.layout} ({bill.encoding}): {len(bill.records):,} records,"
        f" {len(bill.rejected):,} rejected lines",
        file=err,
        flush=True,
    )
    yield from bill.items


def _reader(
    path: str, fmt: str, args: argparse.Namespace, side: str, err: TextIO
) -> Iterator[Record | Rejected]:
    if fmt == AUTO:
        with open(path, "rb"):  # a missing or unreadable file is an OSError, not bad data
            pass
        encoding = getattr(args, f"{side}_encoding")
        return _read_auto(path, encoding=encoding, source_tz=args.source_tz, err=err)
    if fmt not in FORMATS:
        raise ValidationError(f"--{side}-format", fmt, f"expected one of {sorted(FORMATS)}")
    with open(path, "rb"):  # a missing or unreadable file is an OSError, not bad data
        pass
    # The encoding is detected the same way for every file (read_bill's detect_encoding).
    options: dict[str, Any] = {
        "encoding": getattr(args, f"{side}_encoding") or detect_encoding(path)
    }
    if fmt == "bank-csv":
        if args.bank_columns:
            options["columns"] = _bank_columns(args.bank_columns)
        if args.date_format:
            options["date_format"] = args.date_format
    if fmt in ("bank-csv", "bank", "erp", "pos"):
        options["source_tz"] = args.source_tz
    return FORMATS[fmt](path, progress=_progress(path, err), **options)


def _threshold(text: str) -> Money:
    amount, _, currency = text.strip().partition(" ")
    try:
        Decimal(amount)
    except InvalidOperation:
        raise ValidationError("--alert-threshold", text, "expected an amount like 500.00") from None
    money = Money(amount, currency.strip() or "CNY")
    try:
        return check_threshold(money, "--alert-threshold")
    except ValidationError as error:  # named as typed
        raise ValidationError("--alert-threshold", text, error.reason) from None


def _date_option(option: str, text: str, tz: str) -> datetime:
    """The instant a date option (``--cutoff``) names: an ISO 8601 date or instant, or
    the compact ``YYYYMMDD`` date bank statements print (and ``YYYYMMDDHHMMSS``), a date
    or a time without an offset read in the accounting zone ``tz``. A number of any
    other length is refused: unix time is never what finance typed."""
    accounting = zone(tz, path="--tz")
    cell = text.strip()
    if len(cell) == 8 and cell.isdigit():
        try:
            day = datetime.strptime(cell, "%Y%m%d")
        except ValueError:
            raise ValidationError(option, text, "no such date (expected YYYYMMDD)") from None
        instant = parse_timestamp(day, source_tz=accounting, path=option)
    elif _NUMBER.fullmatch(cell) and not (len(cell) == 14 and cell.isdigit()):
        raise ValidationError(
            option, text, f"expected a date or instant such as {_DATE_OPTION_FORMS}"
            " (a number is not read as unix time)",
        )
    else:
        try:
            instant = parse_timestamp(cell, source_tz=accounting, path=option)
        except ValidationError as error:
            raise ValidationError(
                option, text, f"expected a date or instant such as {_DATE_OPTION_FORMS}"
            ) from error
    try:
        return ensure_instant(instant, path=option)
    except ValidationError as error:
        raise ValidationError(option, text, error.reason) from None


def _check_cutoff(
    text: str | None,
    cutoff: datetime | None,
    inputs: Iterable[Record | Rejected],
    tz: str,
    err: TextIO,
) -> None:
    """Refuse a ``--cutoff`` at or before every input record (last month's cut-off
    reused: every record would be pending and nothing checked), else say on ``err`` how
    many records are at or after it."""
    if cutoff is None:
        return
    times = [item.at for item in inputs if isinstance(item, Record)]
    if not times:
        return
    local = zone(tz)
    first = min(times)
    if cutoff <= first:
        raise ValidationError(
            "--cutoff", text, f"at or before the first record"
            f" ({first.astimezone(local):%Y-%m-%d %H:%M} {tz}): every record would be"
            " pending; give the end of the period being reconciled",
        )
    later = sum(1 for at in times if at >= cutoff)
    print(
        f"cut-off {cutoff.astimezone(local):%Y-%m-%d %H:%M} ({tz}): {later:,} of"
        f" {len(times):,} records at or after it (pending unless matched)",
        file=err,
        flush=True,
    )


def _check_options(args: argparse.Namespace, encodings: tuple[str, ...]) -> None:
    """The options every reading command shares, checked before any file is read:
    ``--source-tz`` and each of the ``encodings`` options (``erp`` is ``--erp-encoding``)."""
    zone(args.source_tz, path="--source-tz")
    for name in encodings:
        encoding = getattr(args, f"{name}_encoding")
        if encoding:
            check_encoding(encoding, f"--{name}-encoding")


def run_reconcile(args: argparse.Namespace, *, err: TextIO | None = None) -> int:
    """The handler of ``orderkit reconcile``.

    Every option is checked before a file is read, and every input file is opened
    before the first is parsed: a bad option or a missing file fails at once.
    """
    stream = err if err is not None else sys.stderr
    started = time.perf_counter()
    if args.format is not None:
        args.left_format = args.right_format = args.format
    _check_options(args, ("left", "right"))
    cutoff = _date_option("--cutoff", args.cutoff, args.tz) if args.cutoff else None
    rules = Rules(tz=args.tz, cutoff=cutoff)
    threshold = _threshold(args.alert_threshold)
    for out in args.out:
        check_report_path(out)
    left_rows = _reader(args.left, args.left_format, args, "left", stream)
    right_rows = _reader(args.right, args.right_format, args, "right", stream)
    left = list(left_rows)
    right = list(right_rows)
    _check_cutoff(args.cutoff, cutoff, [*left, *right], args.tz, stream)
    print(
        f"read {len(left):,} left and {len(right):,} right inputs; reconciling in {args.tz} ...",
        file=stream,
        flush=True,
    )
    # A side is named after its records' source; a file with none (no rows for the
    # period) after the file itself, never "left" or "right".
    result = reconcile(left, right, rules=rules,
                       names=(Path(args.left).stem, Path(args.right).stem))
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
    formats = [AUTO, *sorted(FORMATS)]
    parser.add_argument("--left", required=True, metavar="PATH", help="left file (the ERP)")
    parser.add_argument("--right", required=True, metavar="PATH", help="right file")
    parser.add_argument("--left-format", default="erp", choices=formats)
    parser.add_argument("--right-format", default="bank-csv", choices=formats)
    parser.add_argument(
        "--format",
        default=None,
        choices=[AUTO],
        help="auto: read both files with read_bill, the layout chosen by the header",
    )
    parser.add_argument("--left-encoding", default=None, help="text encoding of --left")
    parser.add_argument("--right-encoding", default=None, help="e.g. gbk for Alipay")
    parser.add_argument("--tz", default=DEFAULT_ACCOUNTING_TZ, help="accounting time zone")
    parser.add_argument(
        "--source-tz", default=DEFAULT_ACCOUNTING_TZ, help="zone of naive times in the files"
    )
    parser.add_argument("--bank-columns", default=None, help="NAME=HEADER,... for bank-csv")
    parser.add_argument("--date-format", default=None, help="strptime pattern for bank-csv")
    _add_cutoff(parser)
    parser.add_argument(
        "--alert-threshold", default="500.00 CNY", help="daily difference alert threshold"
    )
    parser.add_argument(
        "--out",
        action="append",
        required=True,
        metavar="PATH",
        help="report.html, .json, .csv or .xlsx (repeatable; .xlsx needs orderkit[xlsx])",
    )
    _add_lang(parser)
    parser.set_defaults(handler=handler if handler is not None else run_reconcile)
    add_settle_command(commands)
    return parser


def _bill_option(text: str) -> tuple[str, str]:
    channel, _, path = text.partition("=")
    if not channel.strip() or not path.strip():
        raise ValidationError("--bill", text, "expected CHANNEL=FILE, e.g. wechatpay=bill.csv")
    return channel.strip(), path.strip()


def _payout_option(text: str) -> tuple[str, PayoutTerms]:
    channel, _, terms = text.partition("=")
    if not channel.strip() or not terms.strip():
        raise ValidationError("--payout", text, "expected CHANNEL=withdrawal or CHANNEL=T+N")
    return channel.strip(), PayoutTerms.parse(terms)


def run_settle(args: argparse.Namespace, *, err: TextIO | None = None) -> int:
    """The handler of ``orderkit settle``: read, :func:`settle`, write, exit 1 on breaks.

    Every option is checked and every input file opened before the first is parsed.
    """
    stream = err if err is not None else sys.stderr
    started = time.perf_counter()
    _check_options(args, ("erp",))
    bills = [_bill_option(text) for text in args.bill]
    channels = [channel for channel, _path in bills]
    if len(set(channels)) != len(channels):
        raise ValidationError("--bill", ",".join(channels), "each channel may be named once")
    cutoff = _date_option("--cutoff", args.cutoff, args.tz) if args.cutoff else None
    if args.settlement_days < 0:
        raise ValidationError("--settlement-days", args.settlement_days, "expected 0 or more")
    payouts = [_payout_option(text) for text in args.payout]
    payout_terms = dict(payouts)
    for text, (channel, _terms) in zip(args.payout, payouts, strict=True):
        # A name under a bill's is a route of its lines (``pos.cash``, a store's cash).
        if channel not in channels and not any(channel.startswith(f"{c}.") for c in channels):
            raise ValidationError(
                "--payout",
                text,
                f"no --bill names channel {channel!r}"
                f" (channels with a bill: {', '.join(channels) or 'none'})",
            )
    if args.date_format and not args.bank_columns:
        raise ValidationError("--date-format", args.date_format, "only with --bank-columns")
    if args.bank_columns:
        _bank_columns(args.bank_columns)  # checked before any file is read
    rules = Rules(tz=args.tz, cutoff=cutoff)
    for out in args.out:
        check_report_path(out)
    paths = [args.erp, *(path for _channel, path in bills), args.bank]
    if args.opening:
        paths.append(args.opening)
    for path in paths:
        with open(path, "rb"):  # a missing or unreadable file is an OSError, not bad data
            pass
    erp = list(
        read_erp_csv(
            args.erp,
            source_tz=args.source_tz,
            encoding=args.erp_encoding or detect_encoding(args.erp),
            progress=_progress(args.erp, stream),
        )
    )
    channel_records = {
        channel: list(
            _read_auto(path, encoding=None, source_tz=args.source_tz, err=stream, source=channel)
        )
        for channel, path in bills
    }
    if args.bank_columns:
        bank = list(
            read_bank_csv(
                args.bank,
                columns=_bank_columns(args.bank_columns),
                date_format=args.date_format,
                source_tz=args.source_tz,
                encoding=detect_encoding(args.bank),
                progress=_progress(args.bank, stream),
            )
        )
    else:
        bank = list(_read_auto(args.bank, encoding=None, source_tz=args.source_tz, err=stream,
                               source="bank"))
    opening = read_pending_payouts(args.opening, channels=channels) if args.opening else []
    if args.opening:
        print(
            f"read {Path(args.opening).name} as last month's settlement report:"
            f" {len(opening):,} payouts in transit",
            file=stream,
            flush=True,
        )
    inputs = itertools.chain(erp, *channel_records.values(), bank)
    _check_cutoff(args.cutoff, cutoff, inputs, args.tz, stream)
    result = settle(
        erp,
        channel_records,
        bank,
        rules=rules,
        settlement_days=args.settlement_days,
        payout_terms=payout_terms,
        opening=opening,
    )
    conservation = result.conservation()
    print(
        f"settled in {time.perf_counter() - started:.2f}s: {conservation['records_in']:,} inputs,"
        f" {'balanced' if conservation['balanced'] else 'NOT balanced'}",
        file=stream,
        flush=True,
    )
    files = tuple(Path(path).name for path in paths)
    for out in args.out:
        path = write_report(result, out, files=files, lang=args.lang)
        print(f"wrote {path}", file=stream, flush=True)
    breaks = result.breaks()
    if breaks:
        print(f"{len(breaks):,} outcomes need a person (see the report)", file=stream, flush=True)
        return 1  # orderkit.cli.EXIT_REFUSED: a check found problems
    return 0


def add_settle_command(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    handler: Callable[[argparse.Namespace], int] | None = None,
) -> argparse.ArgumentParser:
    """Register ``settle`` on the ``orderkit`` parser's subcommands.

    :func:`add_reconcile_command` registers it too, so the ``orderkit`` parser gets both.
    """
    parser: argparse.ArgumentParser = commands.add_parser(
        "settle", help="follow the money: ERP -> channel bills -> bank, and write a report"
    )
    parser.add_argument("--erp", required=True, metavar="FILE", help="the canonical ERP export")
    parser.add_argument(
        "--bill",
        action="append",
        default=[],
        metavar="CHANNEL=FILE",
        help="a channel's bill, its layout chosen by its header (repeatable)",
    )
    parser.add_argument("--bank", required=True, metavar="FILE", help="the bank statement")
    parser.add_argument(
        "--bank-columns",
        default=None,
        help="NAME=HEADER,... to read --bank by these columns instead of by its header",
    )
    parser.add_argument("--date-format", default=None, help="strptime pattern for --bank-columns")
    parser.add_argument("--erp-encoding", default=None, help="text encoding of --erp")
    parser.add_argument("--tz", default=DEFAULT_ACCOUNTING_TZ, help="accounting time zone")
    parser.add_argument(
        "--source-tz", default=DEFAULT_ACCOUNTING_TZ, help="zone of naive times in the files"
    )
    _add_cutoff(parser)
    parser.add_argument(
        "--opening",
        default=None,
        metavar="FILE",
        help="last month's settlement CSV report: its payouts pending on the way to the bank"
        " are matched against this month's credits",
    )
    parser.add_argument(
        "--settlement-days",
        type=int,
        default=1,
        metavar="N",
        help="T+N of the payouts derived for a bill without payout rows (default: 1)",
    )
    parser.add_argument(
        "--payout",
        action="append",
        default=[],
        metavar="CHANNEL=TERMS",
        help="how a channel pays out: withdrawal, or T+N (automatic), each with an optional"
        " @ZONE its days are cut in; defaults: wechatpay T+1@Asia/Shanghai, alipay"
        " withdrawal, pos T+1 and a store's cash pos.cash T+0; CHANNEL may name a route of"
        " a bill's lines, pos.card (repeatable)",
    )
    parser.add_argument(
        "--out",
        action="append",
        required=True,
        metavar="PATH",
        help="report.html, .json, .csv or .xlsx (repeatable; .xlsx needs orderkit[xlsx])",
    )
    _add_lang(parser)
    parser.set_defaults(handler=handler if handler is not None else run_settle)
    return parser
