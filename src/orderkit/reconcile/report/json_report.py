"""The JSON report: the summary, then every outcome with its records and trace.

Outcomes are written one at a time, so a million of them never sit in memory as one
JSON document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from orderkit.model.errors import ValidationError
from orderkit.reconcile.matrix import MultiReconciliation
from orderkit.reconcile.outcomes import Reconciliation
from orderkit.reconcile.report._common import outcome_data

__all__ = ["read_summary", "write_json"]


def _outcomes(out: TextIO, result: Reconciliation) -> None:
    out.write("[")
    for n, outcome in enumerate(result.outcomes):
        out.write(",\n" if n else "\n")
        out.write(json.dumps(outcome_data(outcome), ensure_ascii=False, sort_keys=True))
    out.write("\n]")


def write_json(
    result: Reconciliation | MultiReconciliation,
    path: str | Path,
    *,
    summary: Mapping[str, object] | None = None,
) -> Path:
    """Write ``result`` as UTF-8 JSON to ``path``; returns the path. ``summary`` is
    written as the summary instead of ``result.summary()`` (a settlement's adds its own)."""
    target = Path(path)
    with target.open("w", encoding="utf-8") as out:
        out.write('{"summary": ')
        written = dict(summary) if summary is not None else result.summary()
        out.write(json.dumps(written, ensure_ascii=False, sort_keys=True))
        if isinstance(result, MultiReconciliation):
            out.write(', "pairs": {')
            for n, (name, pair) in enumerate(result.pairs.items()):
                out.write(", " if n else "")
                out.write(f"{json.dumps(name, ensure_ascii=False)}: ")
                _outcomes(out, pair)
            out.write("}")
        else:
            out.write(', "outcomes": ')
            _outcomes(out, result)
        out.write("}\n")
    return target


_SUMMARY_KEY = re.compile(r'\s*\{\s*"summary"\s*:\s*')


def read_summary(path: str | Path, *, field: str = "path") -> dict[str, Any]:
    """The ``summary`` of a JSON report :func:`write_json` wrote, read from the start of
    the file only (the outcomes after it, a million of them, are not read).
    :class:`ValidationError` naming ``field`` when the file is not such a report; an
    ``OSError`` when it cannot be read."""
    decoder = json.JSONDecoder()
    text = ""
    with Path(path).open(encoding="utf-8") as source:
        while True:
            try:
                chunk = source.read(1 << 16)
            except UnicodeDecodeError as error:
                raise ValidationError(field, str(path), "expected a UTF-8 JSON report of"
                                      " orderkit reconcile") from error
            text += chunk
            start = _SUMMARY_KEY.match(text)
            if start is not None:
                try:
                    summary, _end = decoder.raw_decode(text, start.end())
                except json.JSONDecodeError:
                    summary = None  # not all of it read yet, or broken
                if isinstance(summary, dict):
                    return summary
            if not chunk or (start is None and len(text.lstrip()) > 16):
                raise ValidationError(field, str(path), "expected the JSON report of"
                                      " orderkit reconcile (it starts with its summary)")
