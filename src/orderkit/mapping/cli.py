"""``orderkit normalize`` and ``orderkit check-mapping``.

Both read a file of platform orders: one JSON object, a JSON array of objects, or JSON
lines (one object per line); ``-`` reads standard input. ``normalize`` writes one
canonical order per line (JSON) to standard output and every failure, with its field
path, to standard error; it exits 1 if any record failed. ``check-mapping`` prints the
:class:`~orderkit.mapping.check.ConsistencyReport` and exits 1 when a record did not map,
a status is unknown, a type drifted or totals do not add up (``--strict``: on any
finding, unmapped fields included).

Both read with a built-in map (``--platform``) or with the host's own
:class:`~orderkit.mapping.spec.PlatformMap` (``--map MODULE:NAME`` or
``--map FILE.py:NAME``), compiled before any record is read.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from orderkit.mapping.check import check
from orderkit.mapping.registry import Registry, default_registry
from orderkit.mapping.spec import PlatformMap
from orderkit.model.errors import DefinitionError, MappingError, ValidationError
from orderkit.model.serialization import to_dict

__all__ = ["add_commands", "load_map", "read_payloads", "run_check_mapping", "run_normalize"]

_MAP_OPTION = "--map"


def _import_source(source: str, spec: str) -> object:
    """The module ``source`` names: a ``.py`` file, else a module on ``sys.path``."""
    if source.endswith(".py"):
        path = Path(source)
        if not path.is_file():
            raise DefinitionError(f"no such file {source!r} (in {spec!r})",
                                  path=_MAP_OPTION, value=spec)
        found = importlib.util.spec_from_file_location(f"_orderkit_map_{path.stem}", path)
        if found is None or found.loader is None:  # pragma: no cover - a .py file loads
            raise DefinitionError(f"cannot import {source!r} (in {spec!r})",
                                  path=_MAP_OPTION, value=spec)
        module = importlib.util.module_from_spec(found)
        try:
            found.loader.exec_module(module)
        except Exception as error:  # the host's own code: report it, do not crash
            raise DefinitionError(
                f"cannot import {source!r} (in {spec!r}): {type(error).__name__}: {error}",
                path=_MAP_OPTION, value=spec) from None
        return module
    try:
        return importlib.import_module(source)
    except Exception as error:  # the host's own code: report it, do not crash
        raise DefinitionError(
            f"cannot import {source!r} (in {spec!r}): {type(error).__name__}: {error}",
            path=_MAP_OPTION, value=spec) from None


def load_map(spec: str) -> tuple[Registry, str]:
    """A registry holding only the host's map named by ``spec``, compiled, and the
    map's name: ``MODULE:NAME`` (a module on ``sys.path``) or ``FILE.py:NAME``, whose
    ``NAME`` is a :class:`~orderkit.mapping.spec.PlatformMap`.

    A spec that cannot be read, a missing file, module or attribute, a value that is no
    map and a map that does not compile are each a
    :class:`~orderkit.model.errors.DefinitionError` naming ``--map`` and ``spec``.
    """
    source, colon, attribute = spec.rpartition(":")
    if not colon or not source or not attribute.isidentifier():
        raise DefinitionError(f"expected MODULE:NAME or FILE.py:NAME, got {spec!r}",
                              path=_MAP_OPTION, value=spec)
    module = _import_source(source, spec)
    found = getattr(module, attribute, None)
    if found is None:
        raise DefinitionError(f"{source!r} has no attribute {attribute!r} (in {spec!r})",
                              path=_MAP_OPTION, value=spec)
    if not isinstance(found, PlatformMap):
        raise DefinitionError(
            f"expected a PlatformMap, got {type(found).__name__} (in {spec!r})",
            path=_MAP_OPTION, value=spec)
    registry = Registry(builtins=False)
    try:
        plan = registry.register(found)
    except DefinitionError as error:
        raise DefinitionError(f"{spec!r} does not compile: {error}",
                              path=_MAP_OPTION, value=spec) from None
    return registry, plan.name


def _chosen(args: argparse.Namespace) -> tuple[Registry, str]:
    """The registry and platform name the command reads with (``--platform`` or
    ``--map``)."""
    spec: str | None = getattr(args, "map", None)
    if spec is None:
        return default_registry(), args.platform
    return load_map(spec)


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
    registry, platform = _chosen(args)
    plan = registry.plan(platform)
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
    registry, platform = _chosen(args)
    payloads = [p for _, p in read_payloads(_read(args.file))]
    report = check(platform, payloads, registry=registry)
    print(report.to_text(), file=out)
    if args.strict:
        return 0 if report.ok else 1
    serious = [f for f in report.findings if f.kind != "unmapped_field"]
    return 1 if serious or report.mapped != report.records else 0


def _add_map_options(command: argparse.ArgumentParser) -> None:
    """``--platform NAME`` or ``--map SPEC``: one of them, never both."""
    which = command.add_mutually_exclusive_group(required=True)
    which.add_argument("--platform", help="a built-in map: tmall, jd, pdd, douyin, ...")
    which.add_argument(_MAP_OPTION, metavar="SPEC", dest="map",
                       help="your own PlatformMap: MODULE:NAME (a module on the Python"
                       " path) or FILE.py:NAME")


def add_commands(commands: Any) -> None:
    """Register both subcommands on ``orderkit``'s subparsers."""
    normalize = commands.add_parser(
        "normalize", help="map platform orders (JSON or JSON lines) to canonical JSON lines"
    )
    _add_map_options(normalize)
    normalize.add_argument("file", metavar="FILE", help="input file, or - for stdin")
    normalize.set_defaults(handler=run_normalize)

    check_mapping = commands.add_parser(
        "check-mapping", help="report unmapped fields, unknown statuses, drift and totals"
    )
    _add_map_options(check_mapping)
    check_mapping.add_argument("file", metavar="FILE", help="input file, or - for stdin")
    check_mapping.add_argument("--strict", action="store_true",
                               help="exit 1 on any finding, unmapped fields included")
    check_mapping.set_defaults(handler=run_check_mapping)
