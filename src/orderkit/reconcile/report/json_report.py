"""The JSON report: the summary, then every outcome with its records and trace.

Outcomes are written one at a time, so a million of them never sit in memory as one
JSON document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from orderkit.reconcile.matrix import MultiReconciliation
from orderkit.reconcile.outcomes import Reconciliation
from orderkit.reconcile.report._common import outcome_data

__all__ = ["write_json"]


def _outcomes(out: TextIO, result: Reconciliation) -> None:
    out.write("[")
    for n, outcome in enumerate(result.outcomes):
        out.write(",\n" if n else "\n")
        out.write(json.dumps(outcome_data(outcome), ensure_ascii=False, sort_keys=True))
    out.write("\n]")


def write_json(result: Reconciliation | MultiReconciliation, path: str | Path) -> Path:
    """Write ``result`` as UTF-8 JSON to ``path``; returns the path."""
    target = Path(path)
    with target.open("w", encoding="utf-8") as out:
        out.write('{"summary": ')
        out.write(json.dumps(result.summary(), ensure_ascii=False, sort_keys=True))
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
