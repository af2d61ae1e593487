"""The HTML report: one self-contained file (inline CSS, no scripts, no external assets).

It has three parts, in the order finance reads them:

1. the summary table (outcomes, records and amounts by status, then by difference kind,
   and the match rate);
2. the cross-system matrix: one row per group of records that is not a clean match
   (for a multi-source result, one column per system), differing cells highlighted;
3. the differences grouped by kind, each with its rule, evidence and trace across
   systems.

Large results are cut at ``limit`` rows per table, with a line saying how many were left
out; the JSON and CSV reports always carry everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Final

from orderkit.reconcile.matrix import MultiReconciliation
from orderkit.reconcile.outcomes import Reconciliation
from orderkit.reconcile.records import Record
from orderkit.reconcile.report._common import evidence_text

__all__ = ["render_html", "write_html"]

_STYLE: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:2em;color:#1d2733}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ccd}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eef1f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.diff{background:#ffe3e0;font-weight:600}td.ok{background:#e6f5e9}
.note{color:#667}.trace{font-family:ui-monospace,monospace;font-size:.85em}
"""


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; cells are pre-escaped HTML ``<td>`` elements or plain text."""
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>")
        for cell in row:
            out.append(cell if cell.startswith("<td") else f"<td>{escape(cell)}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _money(amounts: object) -> str:
    if isinstance(amounts, dict):
        return ", ".join(f"{currency} {value}" for currency, value in amounts.items())
    return ""


def _summary(result: Reconciliation) -> str:
    summary = result.summary()
    conservation = result.conservation()
    by_status = summary["by_status"]
    by_kind = summary["by_kind"]
    assert isinstance(by_status, dict) and isinstance(by_kind, dict)
    parts = [
        f"<p>{escape(result.left_source)} (left) against {escape(result.right_source)} (right);"
        f" match rate {float(summary['match_rate']):.2%}"  # type: ignore[arg-type]
        f", paired {float(summary['paired_rate']):.2%}"  # type: ignore[arg-type]
        f"; amounts in {escape(_money(conservation['amount_in']))}"
        f", accounted for {escape(_money(conservation['amount_accounted']))}"
        f" ({'balanced' if conservation['balanced'] else 'NOT balanced'}).</p>",
        _table(
            ("status", "outcomes", "records", "left amount", "right amount"),
            (
                (
                    status,
                    f'<td class="num">{body["outcomes"]}</td>',
                    f'<td class="num">{body["records"]}</td>',
                    f'<td class="num">{escape(_money(body["left_amount"]))}</td>',
                    f'<td class="num">{escape(_money(body["right_amount"]))}</td>',
                )
                for status, body in by_status.items()
            ),
        ),
    ]
    if by_kind:
        parts.append(
            _table(
                ("difference kind", "outcomes", "left amount", "right amount", "difference"),
                (
                    (
                        kind,
                        f'<td class="num">{body["outcomes"]}</td>',
                        f'<td class="num">{escape(_money(body["left_amount"]))}</td>',
                        f'<td class="num">{escape(_money(body["right_amount"]))}</td>',
                        f'<td class="num diff">{escape(_money(body["difference"]))}</td>',
                    )
                    for kind, body in by_kind.items()
                ),
            )
        )
    return "".join(parts)


def _amount(records: Sequence[Record]) -> str:
    if not records:
        return ""
    return str(sum((r.amount for r in records[1:]), records[0].amount))


def _cell(text: str, differs: bool) -> str:
    return f'<td class="{"diff" if differs else "ok"} num">{escape(text)}</td>'


def _more(total: int, limit: int) -> str:
    if total <= limit:
        return ""
    return f'<p class="note">{total - limit} more rows are in the JSON and CSV reports.</p>'


def _pair_matrix(result: Reconciliation, limit: int) -> str:
    rows = [o for o in result.outcomes if o.status not in ("matched", "rejected")]
    body = []
    for outcome in rows[:limit]:
        key = (outcome.left or outcome.right)[0].ref or (outcome.left or outcome.right)[0].record_id
        left_text = _amount(outcome.left) or "—"
        right_text = _amount(outcome.right) or "—"
        body.append(
            (
                key,
                _cell(left_text, True),
                _cell(right_text, True),
                f"{outcome.status} / {outcome.kind or ''}",
            )
        )
    return _table(("ref", result.left_source, result.right_source, "outcome"), body) + _more(
        len(rows), limit
    )


def _multi_matrix(result: MultiReconciliation, limit: int) -> str:
    rows = [row for row in result.matrix() if row.differs]
    names = [result.anchor, *result.pairs]
    body = []
    for row in rows[:limit]:
        cells = [row.key]
        for cell in row.cells:
            label = cell.amount or "—"
            if cell.differs:
                label += f" ({cell.kind or cell.status})"
            cells.append(_cell(label, cell.differs) if cell.status else "<td></td>")
        cells.append(f'<td class="trace">{escape(" -> ".join(str(s) for s in row.trace))}</td>')
        body.append(cells)
    return _table(("row", *names, "trace"), body) + _more(len(rows), limit)


def _differences(result: Reconciliation, limit: int) -> str:
    parts = []
    for kind, outcomes in result.by_kind().items():
        parts.append(f"<h3>{escape(kind)} ({len(outcomes)})</h3>")
        parts.append(
            _table(
                ("status", "rule", "left", "right", "evidence", "trace"),
                (
                    (
                        o.status,
                        o.rule,
                        _records(o.left),
                        _records(o.right),
                        evidence_text(o),
                        f'<td class="trace">{escape(o.trace_text())}</td>',
                    )
                    for o in outcomes[:limit]
                ),
            )
        )
        parts.append(_more(len(outcomes), limit))
    suggestions = [o for o in result.outcomes if o.status == "suggestion"]
    if suggestions:
        parts.append(f"<h3>suggestions to confirm ({len(suggestions)})</h3>")
        parts.append(
            _table(
                ("left", "right", "evidence"),
                (
                    (_records(o.left), _records(o.right), evidence_text(o))
                    for o in suggestions[:limit]
                ),
            )
        )
    rejected = [o for o in result.outcomes if o.rejected is not None]
    if rejected:
        parts.append(f"<h3>rejected input lines ({len(rejected)})</h3>")
        parts.append(
            _table(
                ("file", "line", "column", "value", "reason"),
                (
                    (r.file, str(r.line), r.column, r.value, r.reason)
                    for r in (o.rejected for o in rejected[:limit])
                    if r is not None
                ),
            )
        )
    return "".join(parts)


def _records(records: Sequence[Record]) -> str:
    return "; ".join(f"{r.record_id} {r.amount}" for r in records)


def render_html(result: Reconciliation | MultiReconciliation, *, limit: int = 500) -> str:
    """The report as one HTML string."""
    title = "Reconciliation report"
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    pairs = result.pairs if isinstance(result, MultiReconciliation) else {"": result}
    first = next(iter(pairs.values()))
    rules = first.rules
    parts.append(
        f'<p class="note">accounting zone {escape(rules.tz)}, period {escape(rules.period)},'
        f" time window {escape(str(rules.time_window))}, cut-off"
        f" {escape(rules.cutoff.isoformat() if rules.cutoff else 'none')}</p>"
    )
    parts.append("<h2>Summary</h2>")
    for pair in pairs.values():
        parts.append(_summary(pair))
    parts.append("<h2>Cross-system matrix</h2>")
    if isinstance(result, MultiReconciliation):
        parts.append(_multi_matrix(result, limit))
    else:
        parts.append(_pair_matrix(result, limit))
    parts.append("<h2>Differences by kind</h2>")
    for name, pair in pairs.items():
        if name:
            parts.append(f"<h3>{escape(pair.left_source)} vs {escape(name)}</h3>")
        parts.append(_differences(pair, limit))
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(
    result: Reconciliation | MultiReconciliation, path: str | Path, *, limit: int = 500
) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8); returns the path."""
    target = Path(path)
    target.write_text(render_html(result, limit=limit), encoding="utf-8")
    return target
