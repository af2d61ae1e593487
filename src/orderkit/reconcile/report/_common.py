"""Plain-data views of outcomes shared by the JSON, CSV and HTML writers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from orderkit.model.time import zone
from orderkit.reconcile.figures import in_places
from orderkit.reconcile.outcomes import Outcome
from orderkit.reconcile.records import Record
from orderkit.reconcile.report.labels import labels

__all__ = ["column_heads", "evidence_text", "local_time_text", "outcome_data", "record_data"]


def local_time_text(at: datetime, tz: str) -> str:
    """``at`` as ISO 8601 in the accounting zone ``tz``, with its offset
    (``2026-03-06T00:00:00+08:00``): the date a spreadsheet filter sees is the
    accounting date, and the instant stays exact."""
    return at.astimezone(zone(tz)).isoformat()


def column_heads(columns: Sequence[str], tz: str, lang: str) -> list[str]:
    """The table heads of ``columns`` in ``lang``; the time column names the zone its
    times are given in (``at (Asia/Shanghai)``), as the CSV and xlsx reports write it."""
    say = labels(lang)
    return [f"{say[c]} ({tz})" if c == "at" else say[c] for c in columns]


def record_data(record: Record) -> dict[str, object]:
    """A record as JSON-ready data (amount as exact text to its currency's places, time
    as ISO-8601 UTC)."""
    return {
        "source": record.source,
        "record_id": record.record_id,
        "ref": record.ref,
        "amount": str(in_places(record.amount.amount, record.amount.currency)),
        "currency": record.amount.currency,
        "at": record.at.isoformat(),
        "memo": record.memo,
        "kind": record.kind,
        "status": record.status,
        "links": list(record.links),
    }


def evidence_text(outcome: Outcome) -> str:
    """``"name=value; name=value"``."""
    return "; ".join(f"{name}={value}" for name, value in outcome.evidence)


def outcome_data(outcome: Outcome) -> dict[str, object]:
    """An outcome as JSON-ready data, with its trace."""
    data: dict[str, object] = {
        "status": outcome.status,
        "kind": outcome.kind,
        "rule": outcome.rule,
        "evidence": dict(outcome.evidence),
        "left": [record_data(r) for r in outcome.left],
        "right": [record_data(r) for r in outcome.right],
        "trace": [
            {
                "source": step.source,
                "record_id": step.record_id,
                "at": step.at.isoformat(),
                "after_seconds": int(step.after.total_seconds()),
            }
            for step in outcome.trace
        ],
    }
    if outcome.rejected is not None:
        rejected = outcome.rejected
        data["rejected"] = {
            "source": rejected.source,
            "file": rejected.file,
            "line": rejected.line,
            "column": rejected.column,
            "value": rejected.value,
            "reason": rejected.reason,
            "raw": rejected.raw,
        }
    return data
