"""The settlement report as one self-contained HTML page, laid out hop by hop.

A :class:`~orderkit.reconcile.Settlement` is shown the way money travels
(:func:`~orderkit.reconcile.report.hops.settlement_hops`): after the header (records'
dates, zone, period, cut-off in local time, source files) and the conservation line
comes one summary table with a row per hop (matched, explained, pending and break
counts, left and right totals) and what each channel still holds at the end
(:meth:`Settlement.carried() <orderkit.reconcile.Settlement.carried>`, one
``<tr class="carried">`` per channel), then, for each channel, a section per hop:

* ``order → <channel> bill``: ERP records against the bill's lines;
* ``<channel> bill → payout``: the transactions each payout adds up;
* ``<channel> payout → bank credit``: each payout against the bank's credit;

then ``order → bank (paid directly)`` and ``bank lines no payout or order explains``.
Each section's table names its two sides in its column heads (``ERP``, ``wechatpay
bill``, ``payout``, ``bank``), shows amounts to the currency's minor unit with thousands
separators, and lists for every row the orders it traces back to. Clean matches of the
order hops are counted but not listed (the CSV and xlsx reports list every row); the
other hops list every row. A section is a ``<section class="hop order-bill">`` (or
``bill-payout``, ``payout-bank``, ``order-bank``, ``bank-only``), a row a
``<tr class="row break">`` (or ``matched``, ``explained``, ``pending``), so a page check
or a style sheet can find them.

As in :mod:`orderkit.reconcile.report.html_report`, every value from the input is
escaped on its way in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Final

from orderkit.model.time import zone
from orderkit.reconcile.chain import Settlement
from orderkit.reconcile.records import Record
from orderkit.reconcile.report.escaping import Html, join, tag
from orderkit.reconcile.report.hops import STATES, HopRow, HopTable, Totals, settlement_hops
from orderkit.reconcile.report.html_report import _STYLE, format_amount, page_header
from orderkit.reconcile.report.labels import labels

__all__ = [
    "hop_title",
    "render_settlement_html",
    "side_name",
    "totals_text",
    "write_settlement_html",
]

#: The CSS class of each hop's section.
_SECTION: Final = {
    "order_bill": "hop order-bill",
    "bill_payout": "hop bill-payout",
    "payout_bank": "hop payout-bank",
    "order_bank": "hop order-bank",
    "bank_only": "hop bank-only",
}
#: The hops whose clean matches are counted but not listed on the page.
_COUNTED_ONLY: Final = frozenset({"order_bill", "order_bank"})
#: How many record ids and order refs a cell lists before "and N more".
_SHOWN: Final = 5

Labels = Mapping[str, str]


def hop_title(table: HopTable, say: Labels) -> str:
    """``order → wechatpay bill``, in the report's language."""
    return say[f"hop_{table.hop}"].format(channel=table.channel)


def side_name(side: str, channel: str, say: Labels) -> str:
    """What one side of a hop holds: ``ERP``, ``wechatpay bill``, ``payout``, ``bank``."""
    return say[f"side_{side}"].format(channel=channel)


def totals_text(totals: Totals) -> str:
    """``CNY 1,234.50`` (one per currency, comma separated), or ``—`` for none."""
    if not totals:
        return "—"
    return ", ".join(format_amount(value, currency) for currency, value in sorted(totals.items()))


def _listed(items: Sequence[str], say: Labels) -> str:
    if not items:
        return "—"
    shown = "; ".join(items[:_SHOWN])
    if len(items) > _SHOWN:
        shown += " " + say["more_orders"].format(count=len(items) - _SHOWN)
    return shown


def _ids(records: Sequence[Record], say: Labels) -> str:
    return _listed([r.record_id for r in records], say)


def _row(row: HopRow, say: Labels) -> Html:
    differs = any(value != 0 for value in row.difference.values())
    what = row.status + (f" / {row.kind}" if row.kind else "")
    if row.rejected is not None:
        records = f"{row.rejected.file}:{row.rejected.line} {row.rejected.column}"
        # Listed once, under the side of the file it came from.
        left_records = records if row.rejected_side == "left" else "—"
        right_records = records if row.rejected_side != "left" else "—"
    else:
        left_records, right_records = _ids(row.left, say), _ids(row.right, say)
    return tag(
        "tr",
        tag("td", say[row.state if row.state != "break" else "breaks"], cls="state"),
        tag("td", what),
        tag("td", left_records),
        tag("td", totals_text(row.left_amount), cls="num"),
        tag("td", right_records),
        tag("td", totals_text(row.right_amount), cls="num"),
        tag(
            "td",
            totals_text(row.difference) if differs else "",
            cls="num diff" if differs and row.state == "break" else "num",
        ),
        tag("td", _listed(row.orders, say), cls="orders"),
        tag("td", f"{row.rule}: {row.evidence}" if row.evidence else row.rule, cls="trace"),
        cls=f"row {row.state}",
    )


def _counts_line(table: HopTable, say: Labels) -> str:
    counts = table.counts()
    left, right = table.totals()
    left_name = side_name(table.left_side, table.channel, say)
    right_name = side_name(table.right_side, table.channel, say)
    return (
        ", ".join(
            f"{say[state if state != 'break' else 'breaks']} {counts[state]}" for state in STATES
        )
        + f"; {left_name} {totals_text(left)}; {right_name} {totals_text(right)}"
    )


def _section(table: HopTable, limit: int, say: Labels) -> Html:
    left = side_name(table.left_side, table.channel, say)
    right = side_name(table.right_side, table.channel, say)
    rows = [
        row
        for row in table.rows
        if not (table.hop in _COUNTED_ONLY and row.state == "matched")
    ]
    # The rows that need a person first, then the rest in the order the hop produced them.
    rows.sort(key=lambda row: row.state != "break")
    parts: list[Html] = [
        tag("h3", hop_title(table, say)),
        tag("p", _counts_line(table, say), cls="note counts"),
    ]
    if rows:
        head = (
            say["state"],
            say["outcome"],
            say["side_records"].format(side=left),
            say["side_amount"].format(side=left),
            say["side_records"].format(side=right),
            say["side_amount"].format(side=right),
            say["difference"],
            say["orders"],
            say["evidence"],
        )
        parts.append(
            tag(
                "table",
                tag("tr", *(tag("th", h) for h in head)),
                *(_row(row, say) for row in rows[:limit]),
            )
        )
        if len(rows) > limit:
            parts.append(tag("p", say["more"].format(count=len(rows) - limit), cls="note"))
    elif not table.rows:
        parts.append(tag("p", say["no_rows"], cls="note"))
    hidden = len(table.rows) - len(rows)
    if hidden:
        parts.append(tag("p", say["not_shown"].format(count=hidden), cls="note"))
    return tag("section", *parts, cls=_SECTION[table.hop])


def _summary_table(tables: Sequence[HopTable], say: Labels) -> Html:
    head = (
        say["channel"],
        say["hop"],
        say["matched"],
        say["explained"],
        say["pending"],
        say["breaks"],
        say["left_total"],
        say["right_total"],
    )
    body: list[Html] = []
    for table in tables:
        counts = table.counts()
        left, right = table.totals()
        body.append(
            tag(
                "tr",
                tag("td", table.channel or "—"),
                tag("td", hop_title(table, say)),
                *(
                    tag("td", str(counts[state]), cls="num diff" if state == "break" and
                        counts[state] else "num")
                    for state in STATES
                ),
                tag("td", totals_text(left), cls="num"),
                tag("td", totals_text(right), cls="num"),
                cls=f"summary {table.hop.replace('_', '-')}",
            )
        )
    return tag("table", tag("tr", *(tag("th", h) for h in head)), *body)


def _carried(settlement: Settlement, say: Labels) -> list[Html]:
    carried = settlement.carried()
    if not carried:
        return [tag("p", say["carried_none"], cls="note carried")]
    rows = [
        tag(
            "tr",
            tag("td", channel),
            tag("td", totals_text({c: m.amount for c, m in nets.items()}), cls="num"),
            cls="carried",
        )
        for channel, nets in carried.items()
    ]
    return [
        tag("p", say["carried_note"], cls="note carried"),
        tag("table", tag("tr", tag("th", say["channel"]), tag("th", say["carried_amount"])),
            *rows),
    ]


def _span(settlement: Settlement) -> str:
    local = zone(settlement.rules.tz)
    days = [
        item.at.astimezone(local).date()
        for item in settlement.inputs
        if isinstance(item, Record)
    ]
    return f"{min(days)} – {max(days)}" if days else "—"


def _amounts(totals: object) -> str:
    if not isinstance(totals, dict):
        return "—"
    return totals_text({str(c): Decimal(str(v)) for c, v in totals.items()})


def _inputs(settlement: Settlement, say: Labels) -> str:
    """What each source brought in (``ERP 12 records, CNY 2,713.00; wechatpay bill ...``):
    a figure per source, never their sum (one order's yuan is in each of them)."""
    parts = []
    for each in settlement.inputs_by_source():
        count = each["records"]
        assert isinstance(count, int)
        name = say[f"input_{each['source']}"].format(channel=each["channel"])
        records = say["input_record" if count == 1 else "input_records"].format(count=f"{count:,}")
        parts.append(f"{name} {records}, {_amounts(each['amount'])}")
    return "; ".join(parts)


def render_settlement_html(
    settlement: Settlement,
    *,
    limit: int = 500,
    files: Sequence[str] = (),
    lang: str = "en",
) -> str:
    """The settlement report as one HTML string (see the module docstring), its labels in
    ``lang`` (``"en"`` or ``"zh"``); each section lists at most ``limit`` rows."""
    say = labels(lang)
    tables = settlement_hops(settlement)
    summary = settlement.summary()
    conservation = settlement.conservation()
    head = Html(
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{say['settle_title']}</title><style>{_STYLE}</style></head><body>"
    )
    parts: list[Html] = [
        head,
        tag("h1", say["settle_title"]),
        page_header(settlement.rules, _span(settlement), files, say),
        tag(
            "p",
            say["settle_balance"].format(
                inputs=_inputs(settlement, say),
                records_in=f"{conservation['records_in']:,}",
                records_accounted=f"{conservation['records_accounted']:,}",
                balanced=say["balanced" if conservation["balanced"] else "not_balanced"],
                breaks=f"{summary['breaks']:,}",
            ),
        ),
        tag("h2", say["hops_summary"]),
        _summary_table(tables, say),
        tag("h2", say["carried"]),
        *_carried(settlement, say),
    ]
    for channel in settlement.channels:
        parts.append(tag("h2", channel))
        parts.extend(_section(t, limit, say) for t in tables if t.channel == channel)
    parts.append(tag("h2", side_name("bank", "", say)))
    parts.extend(_section(t, limit, say) for t in tables if not t.channel)
    parts.append(Html("</body></html>\n"))
    return join(parts).markup


def write_settlement_html(
    settlement: Settlement,
    path: str | Path,
    *,
    limit: int = 500,
    files: Sequence[str] = (),
    lang: str = "en",
) -> Path:
    """Write :func:`render_settlement_html` to ``path`` (UTF-8); returns the path."""
    target = Path(path)
    target.write_text(
        render_settlement_html(settlement, limit=limit, files=files, lang=lang), encoding="utf-8"
    )
    return target
