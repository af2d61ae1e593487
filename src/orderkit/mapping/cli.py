"""``orderkit normalize`` and ``orderkit check-mapping``.

Both read a file of platform orders: one JSON object, a JSON array of objects, or JSON
lines (one object per line); ``-`` reads standard input. ``normalize`` writes one
canonical order per line (JSON) to standard output and every failure, with its field
path, to standard error; it exits 1 if any record failed. ``check-mapping`` prints the
:class:`~orderkit.mapping.check.ConsistencyReport` and exits 1 when a record did not map,
a status is unknown, a type drifted or totals do not add up (``--strict``: on any
finding, unmapped fields included).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from orderkit.mapping.check import check
from orderkit.mapping.registry import default_registry
from orderkit.model.errors import MappingError, ValidationError
from orderkit.model.serialization import to_dict

__all__ = ["add_commands", "read_payloads", "run_check_mapping", "run_normalize"]


def read_payloads(text: str) -> Iterator[tuple[int, Any]]:
    """(record number, payload) for a JSON document, array or JSON lines.

    Numbers with a fraction are parsed as ``Decimal`` so their exact text reaches the
    mapping. A line that is not JSON yields ``(n, ValueError)`` instead of stopping.
    """
    try:
        document = json.loads(text, parse_float=Decimal)
    except ValueError:
        document = None
        lines = True
    else:
        lines = False
    if not lines:
        items = document if isinstance(document, list) else [document]
        yield from enumerate(items, start=1)
        return
    number = 0
    for raw in text.splitlines():
        if not raw.strip():
            continue
        number += 1
        try:
            yield number, json.loads(raw, parse_float=Decimal)
        except ValueError as error:
            yield number, ValueError(f"invalid JSON: {error}")


def _read(path: str) -> str:
    """The text of ``path`` (``-``: stdin); an ``OSError`` when it cannot be read."""
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValidationError("FILE", path, f"is not UTF-8 text ({error.reason})") from None


def run_normalize(args: argparse.Namespace, out: TextIO | None = None,
                  err: TextIO | None = None) -> int:
    """Handler of ``orderkit normalize``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    plan = default_registry().plan(args.platform)
    failed = 0
    for number, payload in read_payloads(_read(args.file)):
        if isinstance(payload, ValueError):
            failed += 1
            print(f"orderkit: record {number}: {payload}", file=err)
            continue
        try:
            order = plan.normalize(payload)
        except MappingError as error:
            failed += 1
            print(f"orderkit: record {number}: {error.platform} {error.path}:"
                  f" {error.reason} (got {error.value!r})", file=err)
            continue
        print(json.dumps(to_dict(order), ensure_ascii=False, sort_keys=True), file=out)
    return 1 if failed else 0


def run_check_mapping(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Handler of ``orderkit check-mapping``; returns the exit code."""
    out = out or sys.stdout
    payloads = [p for _, p in read_payloads(_read(args.file))]
    report = check(args.platform, payloads)
    print(report.to_text(), file=out)
    if args.strict:
        return 0 if report.ok else 1
    serious = [f for f in report.findings if f.kind != "unmapped_field"]
    return 1 if serious or report.mapped != report.records else 0


def add_commands(commands: Any) -> None:
    """Register both subcommands on ``orderkit``'s subparsers."""
    normalize = commands.add_parser(
        "normalize", help="map platform orders (JSON or JSON lines) to canonical JSON lines"
    )
    normalize.add_argument("--platform", required=True, help="tmall, jd, pdd, douyin, ...")
    normalize.add_argument("file", metavar="FILE", help="input file, or - for stdin")
    normalize.set_defaults(handler=run_normalize)

    check_mapping = commands.add_parser(
        "check-mapping", help="report unmapped fields, unknown statuses, drift and totals"
    )
    check_mapping.add_argument("--platform", required=True)
    check_mapping.add_argument("file", metavar="FILE", help="input file, or - for stdin")
    check_mapping.add_argument("--strict", action="store_true",
                               help="exit 1 on any finding, unmapped fields included")
    check_mapping.set_defaults(handler=run_check_mapping)
