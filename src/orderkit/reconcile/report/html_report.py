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

from collections.abc import Iterable, Mapping, Sequence
from datetime import tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Final

from orderkit.model.money import Money
from orderkit.model.time import zone
from orderkit.reconcile.figures import duration_text, in_places
from orderkit.reconcile.matrix import MultiReconciliation
from orderkit.reconcile.outcomes import Reconciliation
from orderkit.reconcile.records import Record
from orderkit.reconcile.report._common import evidence_text
from orderkit.reconcile.report.escaping import Html, join, tag
from orderkit.reconcile.report.labels import labels
from orderkit.reconcile.rules import Rules

__all__ = ["cutoff_text", "format_amount", "page_header", "render_html", "write_html"]

_STYLE: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:2em;color:#1d2733}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ccd}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eef1f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.diff{background:#ffe3e0;font-weight:600}td.ok{background:#e6f5e9}
.note{color:#667}.trace{font-family:ui-monospace,monospace;font-size:.85em}
"""

#: The page head per language: fixed literals only (no input reaches it).
_HEADS: Final = {
    lang: Html(
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{labels(lang)['title']}</title><style>{_STYLE}</style></head><body>"
    )
    for lang in ("en", "zh")
}

#: The label table in use (see :mod:`orderkit.reconcile.report.labels`).
Labels = Mapping[str, str]

#: A table cell: plain text (escaped into ``<td>``), or a ``<td>`` built by :func:`_td`.
Cell = str | Html


def _td(content: str, cls: str | None = None) -> Html:
    return tag("td", content, cls=cls)


def _table(head: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Html:
    """A table; a ``str`` cell is escaped text, an :class:`Html` cell a built ``<td>``."""
    return tag(
        "table",
        tag("tr", *(tag("th", h) for h in head)),
        *(
            tag("tr", *(cell if isinstance(cell, Html) else _td(cell) for cell in row))
            for row in rows
        ),
    )


def format_amount(value: Decimal | str, currency: str) -> str:
    """``value`` to the currency's minor unit with thousands separators: ``1,234.50``.

    An amount with more places than the minor unit (a WeChat Pay fee of ``0.99000``) is
    shown to the minor unit when that loses nothing, and in full otherwise.
    """
    amount = in_places(Decimal(value), currency)
    return f"{currency} {amount:,}"


def _is_zero(amounts: object) -> bool:
    return isinstance(amounts, dict) and all(Decimal(v) == 0 for v in amounts.values())


def _money(amounts: object) -> str:
    """One amount per currency, or ``—`` for none (an empty month, an empty side), as the
    settlement page writes it."""
    if isinstance(amounts, dict) and amounts:
        return ", ".join(format_amount(value, currency) for currency, value in amounts.items())
    return "—"


def _total(money: Money) -> str:
    return format_amount(money.amount, money.currency)


def _summary(result: Reconciliation, say: Labels) -> Html:
    summary = result.summary()
    conservation = result.conservation()
    by_status = summary["by_status"]
    by_kind = summary["by_kind"]
    assert isinstance(by_status, dict) and isinstance(by_kind, dict)
    parts = [
        tag(
            "p",
            say["summary_line"].format(
                left=result.left_source,
                right=result.right_source,
                match=f"{float(summary['match_rate']):.2%}",  # type: ignore[arg-type]
                paired=f"{float(summary['paired_rate']):.2%}",  # type: ignore[arg-type]
                amount_in=_money(conservation["amount_in"]),
                accounted=_money(conservation["amount_accounted"]),
                balanced=say["balanced" if conservation["balanced"] else "not_balanced"],
            ),
        ),
        _table(
            _heads(say, "status", "outcomes", "records", "left_amount", "right_amount"),
            (
                (
                    str(status),
                    _td(str(body["outcomes"]), "num"),
                    _td(str(body["records"]), "num"),
                    _td(_money(body["left_amount"]), "num"),
                    _td(_money(body["right_amount"]), "num"),
                )
                for status, body in by_status.items()
            ),
        ),
    ]
    if by_kind:
        parts.append(
            _table(
                _heads(
                    say, "difference_kind", "outcomes", "left_amount", "right_amount", "difference"
                ),
                (
                    (
                        str(kind),
                        _td(str(body["outcomes"]), "num"),
                        _td(_money(body["left_amount"]), "num"),
                        _td(_money(body["right_amount"]), "num"),
                        _td(
                            _money(body["difference"]),
                            "num" if _is_zero(body["difference"]) else "num diff",
                        ),
                    )
                    for kind, body in by_kind.items()
                ),
            )
        )
    return join(parts)


def _amount(records: Sequence[Record]) -> str:
    if not records:
        return ""
    return _total(sum((r.amount for r in records[1:]), records[0].amount))


def _cell(content: str, differs: bool) -> Html:
    return _td(content, f"{'diff' if differs else 'ok'} num")


def _heads(say: Labels, *names: str) -> tuple[str, ...]:
    return tuple(say[name] for name in names)


def _more(total: int, limit: int, say: Labels) -> Html:
    if total <= limit:
        return join(())
    return tag("p", say["more"].format(count=total - limit), cls="note")


def _pair_matrix(result: Reconciliation, limit: int, say: Labels) -> Html:
    rows = [o for o in result.outcomes if o.status not in ("matched", "rejected")]
    body: list[tuple[Cell, ...]] = []
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
    return join(
        (
            _table((say["ref"], result.left_source, result.right_source, say["outcome"]), body),
            _more(len(rows), limit, say),
        )
    )


def _cell_amount(text: str) -> str:
    """A matrix cell's total (``str(Money)``, ``CNY 1234.50``) as every amount on the page."""
    if not text:
        return ""
    currency, _, value = text.partition(" ")
    return format_amount(value, currency)


def _multi_matrix(result: MultiReconciliation, limit: int, say: Labels) -> Html:
    rows = [row for row in result.matrix() if row.differs]
    names = [result.anchor, *result.pairs]
    body: list[list[Cell]] = []
    for row in rows[:limit]:
        cells: list[Cell] = [row.key]
        for cell in row.cells:
            label = _cell_amount(cell.amount) or "—"
            if cell.differs:
                label += f" ({cell.kind or cell.status})"
            cells.append(_cell(label, cell.differs) if cell.status else _td(""))
        cells.append(_td(" -> ".join(str(s) for s in row.trace), "trace"))
        body.append(cells)
    return join((_table((say["row"], *names, say["trace"]), body), _more(len(rows), limit, say)))


def _differences(result: Reconciliation, limit: int, say: Labels) -> Html:
    tz = zone(result.rules.tz)
    parts: list[Html] = []
    for kind, outcomes in result.by_kind().items():
        parts.append(tag("h3", f"{kind} ({len(outcomes)})"))
        parts.append(
            _table(
                _heads(say, "status", "rule", "left", "right", "evidence", "trace"),
                (
                    (
                        o.status,
                        o.rule,
                        _records(o.left, tz),
                        _records(o.right, tz),
                        evidence_text(o),
                        _td(o.trace_text(), "trace"),
                    )
                    for o in outcomes[:limit]
                ),
            )
        )
        parts.append(_more(len(outcomes), limit, say))
    suggestions = [o for o in result.outcomes if o.status == "suggestion"]
    if suggestions:
        parts.append(tag("h3", say["suggestions"].format(count=len(suggestions))))
        parts.append(
            _table(
                _heads(say, "left", "right", "evidence"),
                (
                    (_records(o.left, tz), _records(o.right, tz), evidence_text(o))
                    for o in suggestions[:limit]
                ),
            )
        )
    rejected = [o for o in result.outcomes if o.rejected is not None]
    if rejected:
        parts.append(tag("h3", say["rejected_lines"].format(count=len(rejected))))
        parts.append(
            _table(
                _heads(say, "file", "line", "column", "value", "reason"),
                (
                    (r.file, str(r.line), r.column, r.value, r.reason)
                    for r in (o.rejected for o in rejected[:limit])
                    if r is not None
                ),
            )
        )
    return join(parts)


def _records(records: Sequence[Record], tz: tzinfo) -> str:
    return "; ".join(
        " ".join(
            part
            for part in (
                r.record_id,
                _total(r.amount),
                r.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                r.memo,
            )
            if part
        )
        for r in records
    )


def _span(pairs: Iterable[Reconciliation], tz: tzinfo) -> str:
    days = [
        record.at.astimezone(tz).date()
        for pair in pairs
        for outcome in pair.outcomes
        for record in outcome.records
    ]
    return f"{min(days)} – {max(days)}" if days else "—"


def cutoff_text(rules: Rules, say: Labels) -> str:
    """The cut-off in the accounting zone (``2026-04-01 00:00``), or the word for none."""
    if rules.cutoff is None:
        return say["none"]
    return rules.cutoff.astimezone(zone(rules.tz)).strftime("%Y-%m-%d %H:%M")


def page_header(rules: Rules, span: str, files: Sequence[str], say: Labels) -> Html:
    """The lines under a report's title: the records' dates, zone, period, cut-off in
    local time and time window, then the source file names."""
    parts = [
        tag(
            "p",
            say["header"].format(
                span=span,
                tz=rules.tz,
                period=rules.period,
                cutoff=cutoff_text(rules, say),
                window=duration_text(rules.time_window),
            ),
            cls="note",
        )
    ]
    if files:
        parts.append(tag("p", say["files"].format(files=", ".join(files)), cls="note"))
    return join(parts)


def render_html(
    result: Reconciliation | MultiReconciliation,
    *,
    limit: int = 500,
    files: Sequence[str] = (),
    lang: str = "en",
) -> str:
    """The report as one HTML string, its labels in ``lang`` (``"en"`` or ``"zh"``).

    Every value from the input (record ids, refs, rejected cells, evidence) is escaped
    on its way in (:mod:`orderkit.reconcile.report.escaping`): it shows as text and can
    never add an element or an attribute to the page.
    """
    say = labels(lang)
    parts = [_HEADS[lang], tag("h1", say["title"])]
    pairs = result.pairs if isinstance(result, MultiReconciliation) else {"": result}
    first = next(iter(pairs.values()))
    parts.append(page_header(first.rules, _span(pairs.values(), zone(first.rules.tz)), files, say))
    parts.append(tag("h2", say["summary"]))
    parts.extend(_summary(pair, say) for pair in pairs.values())
    parts.append(tag("h2", say["matrix"]))
    if isinstance(result, MultiReconciliation):
        parts.append(_multi_matrix(result, limit, say))
    else:
        parts.append(_pair_matrix(result, limit, say))
    parts.append(tag("h2", say["differences"]))
    for name, pair in pairs.items():
        if name:
            parts.append(tag("h3", say["versus"].format(left=pair.left_source, right=name)))
        parts.append(_differences(pair, limit, say))
    parts.append(Html("</body></html>\n"))
    return join(parts).markup


def write_html(
    result: Reconciliation | MultiReconciliation,
    path: str | Path,
    *,
    limit: int = 500,
    files: Sequence[str] = (),
    lang: str = "en",
) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8); returns the path."""
    target = Path(path)
    target.write_text(render_html(result, limit=limit, files=files, lang=lang), encoding="utf-8")
    return target
