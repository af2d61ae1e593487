"""Reconciling more than two systems: one anchor (usually the ERP) against every other.

:func:`reconcile_many` runs :func:`~orderkit.reconcile.reconcile` of the anchor against
each other source with the same rules, then lays the results side by side: one row per
anchor record (and one per record no anchor record explains), one cell per source. A
cell *differs* when that source's outcome for the row is not a clean match, which is
what the HTML report highlights. A row's trace follows the money across every system in
time order (POS receipt -> ERP order -> bank credit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from orderkit.model.errors import ValidationError
from orderkit.reconcile.columns import split
from orderkit.reconcile.engine import reconcile_split
from orderkit.reconcile.outcomes import Outcome, Reconciliation, TraceStep, trace_of
from orderkit.reconcile.records import Record, Rejected
from orderkit.reconcile.rules import Rules

__all__ = ["MatrixCell", "MatrixRow", "MultiReconciliation", "reconcile_many"]


@attrs.frozen
class MatrixCell:
    """What one source says about one row (``status`` is empty when it has no part in it)."""

    source: str
    status: str
    kind: str | None
    amount: str
    record_ids: tuple[str, ...]

    @property
    def differs(self) -> bool:
        """True unless the source matched the row cleanly (or is not part of the row)."""
        return self.status not in ("matched", "")


@attrs.frozen
class MatrixRow:
    """One anchor record (or one record nothing on the anchor side explains)."""

    key: str
    cells: tuple[MatrixCell, ...]
    trace: tuple[TraceStep, ...]

    @property
    def differs(self) -> bool:
        """True when any cell differs."""
        return any(cell.differs for cell in self.cells)


def _amount(records: tuple[Record, ...]) -> str:
    if not records:
        return ""
    total = sum((r.amount for r in records[1:]), records[0].amount)
    return str(total)


@attrs.frozen
class MultiReconciliation:
    """The anchor against each other source; ``pairs`` maps source name -> result."""

    anchor: str
    pairs: dict[str, Reconciliation]

    def summary(self) -> dict[str, object]:
        """Each pair's summary under its source name."""
        return {
            "anchor": self.anchor,
            "sources": {name: pair.summary() for name, pair in self.pairs.items()},
        }

    def matrix(self) -> list[MatrixRow]:
        """Rows keyed by anchor record id, cells per source; rows in time order."""
        names = [self.anchor, *self.pairs]
        anchor_cells: dict[str, dict[str, MatrixCell]] = {}
        anchor_records: dict[str, Record] = {}
        records_of_row: dict[str, list[Record]] = {}
        extra_rows: list[tuple[str, MatrixCell, Outcome]] = []
        for name, pair in self.pairs.items():
            for outcome in pair.outcomes:
                if outcome.status == "rejected":
                    continue
                cell = MatrixCell(
                    name,
                    outcome.status,
                    outcome.kind,
                    _amount(outcome.right),
                    tuple(r.record_id for r in outcome.right),
                )
                if not outcome.left:
                    extra_rows.append((f"{name}:{outcome.right[0].record_id}", cell, outcome))
                    continue
                for record in outcome.left:
                    anchor_records[record.record_id] = record
                    anchor_cells.setdefault(record.record_id, {})[name] = cell
                    records_of_row.setdefault(record.record_id, [record]).extend(outcome.right)
        rows: list[tuple[Any, MatrixRow]] = []
        for record_id, cells in anchor_cells.items():
            anchor = anchor_records[record_id]
            row_cells = [MatrixCell(self.anchor, "matched", None, str(anchor.amount), (record_id,))]
            row_cells += [
                cells.get(name, MatrixCell(name, "unmatched", None, "", ())) for name in names[1:]
            ]
            rows.append(
                (
                    (anchor.at, record_id),
                    MatrixRow(
                        record_id, tuple(row_cells), trace_of(_unique(records_of_row[record_id]))
                    ),
                )
            )
        for key, cell, outcome in extra_rows:
            # A record no anchor record explains: only its own source has something to say.
            row_cells = [MatrixCell(self.anchor, "", None, "", ())]
            row_cells += [
                cell if name == cell.source else MatrixCell(name, "", None, "", ())
                for name in names[1:]
            ]
            rows.append(
                ((outcome.right[0].at, key), MatrixRow(key, tuple(row_cells), outcome.trace))
            )
        rows.sort(key=lambda item: item[0])
        return [row for _key, row in rows]

    def outcomes(self) -> dict[str, list[Outcome]]:
        """Each pair's outcomes under its source name."""
        return {name: pair.outcomes for name, pair in self.pairs.items()}


def _unique(records: list[Record]) -> list[Record]:
    seen: set[tuple[str, str]] = set()
    out = []
    for record in records:
        key = (record.source, record.record_id)
        if key not in seen:
            seen.add(key)
            out.append(record)
    return out


def reconcile_many(
    sources: Mapping[str, Iterable[Record | Rejected]],
    *,
    anchor: str | None = None,
    rules: Rules | None = None,
    **options: object,
) -> MultiReconciliation:
    """Reconcile the ``anchor`` source (default: the first) against every other source.

    >>> from datetime import datetime, UTC
    >>> from orderkit.model.money import Money
    >>> at = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
    >>> erp = [Record("erp", "SO1", "SO20260216000001", Money("89.00", "CNY"), at)]
    >>> pos = [Record("pos", "R-7", "SO20260216000001", Money("89.00", "CNY"), at)]
    >>> bank = [Record("bank", "B-1", None, Money("89.00", "CNY"), at,
    ...                memo="SO 2026 0216 000001")]
    >>> result = reconcile_many({"erp": erp, "pos": pos, "bank": bank})
    >>> [cell.status for cell in result.matrix()[0].cells]
    ['matched', 'matched', 'matched']
    """
    if not isinstance(sources, Mapping) or len(sources) < 2:
        raise ValidationError("sources", sources, "expected a mapping of at least two sources")
    names = list(sources)
    base = anchor if anchor is not None else names[0]
    if base not in sources:
        raise ValidationError("anchor", anchor, f"expected one of {names}")
    settings = Rules.build(rules, options)
    anchor_records, anchor_rejected = split(sources[base], "left")
    pairs = {
        name: reconcile_split(
            list(anchor_records),  # each pair owns its lists, as reconcile() gives them
            list(anchor_rejected),
            *split(items, "right"),
            settings,
            names=(base, name),
        )
        for name, items in sources.items()
        if name != base
    }
    return MultiReconciliation(base, pairs)
