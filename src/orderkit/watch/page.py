"""The health page: one self-contained HTML file (no script, no network) with the KPIs
against their thresholds, the stuck orders by state, the carriers' first-scan delays and
the alert history as inline SVG charts.

Every part is an escaped fragment (:mod:`orderkit.reconcile.report.escaping`): text
goes through :func:`text`, elements through :func:`tag` or :func:`_svg`, which checks
the element and attribute names against fixed lists and escapes every attribute value.
Rule names, carriers, outlets and order ids come from input and only ever reach the
page as text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final

from orderkit.costing.margins import ProfitRow
from orderkit.model.errors import StoreError, ValidationError
from orderkit.model.orders import status_name
from orderkit.model.time import zone
from orderkit.reconcile.report.escaping import Html, join, tag, text
from orderkit.watch.carriers import CarrierReport
from orderkit.watch.health import HealthReport, Kpi
from orderkit.watch.ports import Episode

__all__ = ["health_page", "write_health_page"]

_STYLE: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2733}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.muted{color:#5b6673;font-size:13px}
.index{font-size:40px;font-weight:700}.good{color:#1b7f3b}.bad{color:#b3261e}
table{border-collapse:collapse;font-size:14px;margin:6px 0}
td,th{border-bottom:1px solid #dde2e8;padding:4px 10px;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
svg{display:block;margin:6px 0}svg text{font-size:12px;fill:#1d2733}
"""

_HEAD: Final = Html(
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    f"<title>orderkit health</title><style>{_STYLE}</style></head><body>"
)

#: The SVG elements and attributes the charts use; anything else is refused.
_SVG_TAGS: Final = frozenset({"svg", "g", "rect", "line", "text", "title"})
_SVG_ATTRIBUTES: Final = frozenset({
    "xmlns", "width", "height", "viewbox", "x", "y", "x1", "x2", "y1", "y2", "fill",
    "stroke", "stroke-width", "stroke-dasharray", "text-anchor", "role", "aria-label",
    "class", "font-weight",
})
_NAME: Final = re.compile(r"[a-z][a-z0-9-]*\Z")
_OK: Final = "#2e7d32"
_ALERT: Final = "#c62828"
_NEUTRAL: Final = "#5c7cfa"
_RESOLVED: Final = _OK


def _svg(name: str, attributes: Mapping[str, object], *children: Html | str) -> Html:
    """``<name a="v" ...>children</name>`` with ``name`` and every attribute name from
    the fixed lists and every value escaped; ``str`` children are escaped as text."""
    if name not in _SVG_TAGS:
        raise ValidationError("tag", name, "not an SVG element the page uses")
    parts = []
    for key, value in attributes.items():
        if key not in _SVG_ATTRIBUTES or not _NAME.match(key):
            raise ValidationError("attribute", key, "not an SVG attribute the page uses")
        written = "viewBox" if key == "viewbox" else key
        parts.append(f' {written}="{text(value).markup}"')
    return Html(f"<{name}{''.join(parts)}>{join(children).markup}</{name}>")


def _chart(label: str, width: int, height: int, *children: Html) -> Html:
    return _svg("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": width,
                        "height": height, "viewbox": f"0 0 {width} {height}", "role": "img",
                        "aria-label": label}, _svg("title", {}, label), *children)


def _label(x: float, y: float, words: str, *, anchor: str = "start",
           bold: bool = False) -> Html:
    attributes: dict[str, object] = {"x": f"{x:.1f}", "y": f"{y:.1f}", "text-anchor": anchor}
    if bold:
        attributes["font-weight"] = "600"
    return _svg("text", attributes, words)


def _bar(x: float, y: float, width: float, height: float, colour: str, hint: str) -> Html:
    return _svg("rect", {"x": f"{x:.1f}", "y": f"{y:.1f}", "width": f"{max(width, 0):.1f}",
                         "height": f"{height:.1f}", "fill": colour},
                _svg("title", {}, hint))


def _shown(kpi: Kpi, value: Decimal | None) -> str:
    if value is None:
        return "not measured"
    if kpi.unit == "%":
        return f"{(value * 100).quantize(Decimal('0.01'))}%"
    return f"{value.quantize(Decimal('0.01'))} {kpi.unit}".strip()


def _duration(span: timedelta) -> str:
    """``15 min``, ``24 h``, ``7 days``: the largest unit that divides ``span``."""
    seconds = int(span.total_seconds())
    for unit, size in (("days", 86_400), ("h", 3600), ("min", 60)):
        if seconds and seconds % size == 0 and (unit != "days" or seconds // size > 1):
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _short(words: str, limit: int = 30) -> str:
    return words if len(words) <= limit else words[: limit - 1] + "\u2026"


def _hours(delay: timedelta | None) -> str:
    if delay is None:
        return "-"
    return f"{Decimal(delay.total_seconds() / 3600).quantize(Decimal('0.1'))} h"


# --- the sections ------------------------------------------------------------------------


def _kpi_section(report: HealthReport) -> Html:
    rows = [tag("tr", tag("th", "KPI"), tag("th", "value", cls="num"),
                tag("th", "threshold", cls="num"), tag("th", "state"), tag("th", "measured"))]
    for kpi in report.kpis:
        side = "at least" if kpi.higher_is_better else "at most"
        state = ("not measured" if kpi.value is None else "ALERT" if kpi.breached else "ok")
        rows.append(tag(
            "tr", tag("td", kpi.label), tag("td", _shown(kpi, kpi.value), cls="num"),
            tag("td", f"{side} {_shown(kpi, kpi.threshold)}", cls="num"),
            tag("td", state, cls="bad" if kpi.breached else "muted" if kpi.value is None
                else "good"), tag("td", kpi.detail),
        ))
    # Each KPI as a bar of its value over its threshold: the dashed line is the
    # threshold, the axis runs to twice it.
    measured = [k for k in report.kpis if k.value is not None]
    width, left, bar_width, row = 720, 230, 400, 26
    parts: list[Html] = []
    for index, kpi in enumerate(measured):
        assert kpi.value is not None
        y = 8 + index * row
        if kpi.higher_is_better:  # distance from perfect, against the allowed distance
            gap, allowed = Decimal(1) - kpi.value, Decimal(1) - kpi.threshold
        else:
            gap, allowed = kpi.value, kpi.threshold
        ratio = Decimal(2) if allowed <= 0 else min(gap / allowed, Decimal(2))
        colour = _ALERT if kpi.breached else _OK
        parts.append(_label(left - 8, y + 14, kpi.label, anchor="end"))
        parts.append(_bar(left, y + 2, float(ratio) / 2 * bar_width, 16, colour,
                          f"{kpi.label}: {_shown(kpi, kpi.value)}"))
        parts.append(_label(left + bar_width + 8, y + 14, _shown(kpi, kpi.value)))
    height = 16 + len(measured) * row
    middle = left + bar_width / 2
    parts.append(_svg("line", {"x1": middle, "x2": middle, "y1": 4, "y2": height - 4,
                               "stroke": "#1d2733", "stroke-dasharray": "4 3"}))
    chart = _chart("KPIs against their thresholds (dashed line: the threshold)", width,
                   height, *parts)
    return join([tag("h2", "KPIs against their thresholds"), tag("table", *rows),
                 tag("p", "Bars: the distance from perfect; the dashed line is the threshold.",
                     cls="muted"), chart])


def _stuck_section(report: HealthReport) -> Html:
    codes = sorted(report.stuck_after)
    counts = [report.stuck.get(code, 0) for code in codes]
    top = max(counts, default=0) or 1
    width, left, bar_width, row = 720, 230, 400, 26
    parts: list[Html] = []
    for index, (code, count) in enumerate(zip(codes, counts, strict=True)):
        y = 8 + index * row
        after = report.stuck_after[code]
        parts.append(_label(left - 8, y + 14, f"{status_name(code)} (over {_duration(after)})",
                            anchor="end"))
        parts.append(_bar(left, y + 2, count / top * bar_width, 16,
                          _ALERT if count else _OK, f"{status_name(code)}: {count}"))
        parts.append(_label(left + count / top * bar_width + 6, y + 14, str(count)))
    chart = _chart("Orders stuck by state", width, 16 + len(codes) * row, *parts)
    return join([tag("h2", "Orders stuck by state"), chart])


def _carrier_section(carriers: CarrierReport | None) -> Html:
    if carriers is None:
        return join([tag("h2", "First-scan delay by carrier"),
                     tag("p", "No carrier report.", cls="muted")])
    late_hours = carriers.late_after.total_seconds() / 3600
    scale_hours = max([late_hours * 2] + [
        c.p99.total_seconds() / 3600 for c in carriers.carriers if c.p99 is not None])
    width, left, bar_width, row = 760, 220, 420, 58
    parts: list[Html] = []
    for index, carrier in enumerate(carriers.carriers):
        y = 8 + index * row
        parts.append(_label(left - 8, y + 30, _short(carrier.carrier), anchor="end",
                            bold=True))
        for offset, (name, delay) in enumerate(
            (("p50", carrier.p50), ("p90", carrier.p90), ("p99", carrier.p99))
        ):
            hours = 0.0 if delay is None else delay.total_seconds() / 3600
            length = min(hours / scale_hours, 1.0) * bar_width
            colour = _ALERT if hours > late_hours else _NEUTRAL
            parts.append(_bar(left, y + 4 + offset * 16, length, 13, colour,
                              f"{carrier.carrier} {name}: {_hours(delay)}"))
            parts.append(_label(left + length + 6, y + 15 + offset * 16,
                                f"{name} {_hours(delay)}"))
    height = 16 + max(len(carriers.carriers), 1) * row
    mark = left + late_hours / scale_hours * bar_width
    parts.append(_svg("line", {"x1": f"{mark:.1f}", "x2": f"{mark:.1f}", "y1": 4,
                               "y2": height - 4, "stroke": _ALERT, "stroke-dasharray": "4 3"}))
    parts.append(_label(mark + 4, height - 4, f"{late_hours:g} h"))
    chart = _chart("First-scan delay by carrier (p50, p90, p99)", width, height, *parts)
    rows = [tag("tr", tag("th", "carrier"), tag("th", "outlet"),
                tag("th", f"late (> {late_hours:g} h)", cls="num"), tag("th", "orders"))]
    for group in carriers.top:
        shown = ", ".join(group.order_ids[:8]) + (" ..." if len(group.order_ids) > 8 else "")
        rows.append(tag("tr", tag("td", group.carrier), tag("td", group.outlet),
                        tag("td", str(group.late), cls="num"), tag("td", shown)))
    table = (tag("table", *rows) if carriers.top
             else tag("p", "No late first scans.", cls="muted"))
    summary = (f"{carriers.period.label}: {carriers.parcels} first parcels,"
               f" {carriers.late} without a first scan after {late_hours:g} h")
    return join([tag("h2", "First-scan delay by carrier"), tag("p", summary, cls="muted"),
                 chart, tag("h2", f"Top {len(carriers.top)} late: carrier and outlet"),
                 table])


def _alert_section(alerts: Sequence[Episode], resolved: Sequence[Episode],
                   now: datetime, tz: str) -> Html:
    if not alerts and not resolved:
        return join([tag("h2", "Alert history"), tag("p", "No alert.", cls="muted")])
    ordered = sorted([*alerts, *resolved], key=lambda e: (e.fired_at or e.first_seen, e.key))
    local = zone(tz)  # the page's day is the accounting zone's: so are its times
    start = min(e.first_seen for e in ordered)
    span = max((now - start).total_seconds(), 60.0)
    width, left, bar_width, row = 720, 260, 420, 24
    parts: list[Html] = []
    for index, episode in enumerate(ordered):
        y = 8 + index * row
        since = episode.fired_at or episode.first_seen
        until = episode.resolved_at or now
        x = left + (since - start).total_seconds() / span * bar_width
        length = max((until - since).total_seconds() / span * bar_width, 2.0)
        colour = {"firing": _ALERT, "resolved": _RESOLVED}.get(episode.state, "#9e9e9e")
        ended = (f", resolved {episode.resolved_at.astimezone(local).isoformat()}"
                 if episode.resolved_at is not None else "")
        parts.append(_label(left - 8, y + 14, _short(episode.key, 36), anchor="end"))
        parts.append(_bar(x, y + 3, length, 14, colour,
                          f"{episode.key}: {episode.state} since"
                          f" {since.astimezone(local).isoformat()}{ended},"
                          f" sent {episode.sent} time(s)"))
    height = 28 + len(ordered) * row
    parts.append(_label(left, height - 4,
                        start.astimezone(local).isoformat(timespec="minutes")))
    parts.append(_label(left + bar_width, height - 4,
                        now.astimezone(local).isoformat(timespec="minutes"), anchor="end"))
    chart = _chart("Alert history: open and resolved alert episodes over time", width, height,
                   *parts)
    rows = [tag("tr", tag("th", "alert"), tag("th", "state"), tag("th", "since"),
                tag("th", "resolved"), tag("th", "sent", cls="num"),
                tag("th", "orders", cls="num"))]
    for episode in ordered:
        since = episode.fired_at or episode.first_seen
        ended = ("" if episode.resolved_at is None
                 else episode.resolved_at.astimezone(local).isoformat(timespec="seconds"))
        rows.append(tag("tr", tag("td", episode.key), tag("td", episode.state),
                        tag("td", since.astimezone(local).isoformat(timespec="seconds")),
                        tag("td", ended),
                        tag("td", str(episode.sent), cls="num"),
                        tag("td", str(len(episode.orders)), cls="num")))
    counts = tag("p", f"{len(alerts)} open, {len(resolved)} resolved", cls="muted")
    return join([tag("h2", "Alert history"), counts, chart, tag("table", *rows)])


def _profit_section(profit: Mapping[tuple[str, str], ProfitRow] | None) -> Html:
    """A heat map of margin by day (columns) and channel (rows): red below -5%, amber
    below 5%, green above; grey where a cost is unknown."""
    if not profit:
        return join([])
    days = sorted({day for day, _channel in profit})
    channels = sorted({channel for _day, channel in profit})
    left, cell, top = 200, 64, 22
    parts: list[Html] = []
    for column, day in enumerate(days):
        parts.append(_label(left + column * cell + cell / 2, 14, day[5:], anchor="middle"))
    for row_index, channel in enumerate(channels):
        y = top + row_index * (cell // 2 + 4)
        parts.append(_label(left - 8, y + 20, _short(channel), anchor="end", bold=True))
        for column, day in enumerate(days):
            found = profit.get((day, channel))
            if found is None:
                continue
            ratio = found.ratio
            if ratio is None or found.unknown:
                colour, words = "#bdbdbd", "n/a"
            else:
                colour = _ALERT if ratio < Decimal("-0.05") else (
                    "#f9a825" if ratio < Decimal("0.05") else "#43a047")
                words = f"{ratio * 100:.1f}%"
            hint = (f"{channel} {day}: {found.orders} order(s), revenue {found.revenue.amount},"
                    f" profit {found.profit.amount}, {found.unknown} with unknown costs")
            x = left + column * cell
            parts.append(_bar(x + 2, y + 2, cell - 4, cell // 2, colour, hint))
            parts.append(_label(x + cell / 2, y + 22, words, anchor="middle"))
    width = left + max(len(days), 1) * cell + 20
    height = top + len(channels) * (cell // 2 + 4) + 8
    chart = _chart("Profit margin by day and channel", width, height, *parts)
    return join([tag("h2", "Profit by day and channel"), chart])


def health_page(
    report: HealthReport,
    carriers: CarrierReport | None = None,
    alerts: Sequence[Episode] = (),
    profit: Mapping[tuple[str, str], ProfitRow] | None = None,
    *,
    resolved: Sequence[Episode] = (),
) -> str:
    """The page as text: the health index, the KPIs against their thresholds, stuck
    orders by state, first-scan delay by carrier (when ``carriers`` is given), the
    ``alerts`` (the watch's open episodes) and the ``resolved`` ones (its history,
    :meth:`~orderkit.watch.WatchHistory.history`) over time, and, given ``profit``
    (:func:`orderkit.costing.profit_grid`), a heat map of margin by day and channel."""
    if not isinstance(report, HealthReport):
        raise ValidationError("report", report, "expected a HealthReport")
    good = not report.alerts
    # The page's day is the accounting zone's day: every time on it is in that zone.
    as_of = report.as_of.astimezone(zone(report.period.tz))
    head = join([
        tag("h1", f"orderkit health: {report.period.label}"),
        tag("p", f"as of {as_of.isoformat(timespec='seconds')} ({report.period.tz});"
                 f" {sum(report.orders_by_status.values())} orders placed in the period",
            cls="muted"),
        tag("div", f"health index {report.index_text}",
            cls="index " + ("muted" if report.index is None else "good" if good else "bad")),
        tag("p", f"{len(report.alerts)} KPI(s) past their threshold", cls="muted"),
    ])
    lag = ", ".join(f"{name} {value}" for name, value in report.lag.items())
    parts = [
        _HEAD, head, _kpi_section(report),
        tag("p", f"sync lag: {lag}" if lag else "sync lag: not measured", cls="muted"),
        _stuck_section(report), _carrier_section(carriers), _profit_section(profit),
        _alert_section(alerts, resolved, report.as_of, report.period.tz), Html("</body></html>\n"),
    ]
    return join(parts).markup


def write_health_page(
    path: str | os.PathLike[str],
    report: HealthReport,
    carriers: CarrierReport | None = None,
    alerts: Sequence[Episode] = (),
    profit: Mapping[tuple[str, str], ProfitRow] | None = None,
    *,
    resolved: Sequence[Episode] = (),
) -> Path:
    """Write :func:`health_page` to ``path`` (UTF-8); :class:`StoreError` when it
    cannot be written."""
    target = Path(path)
    try:
        target.write_text(health_page(report, carriers, alerts, profit, resolved=resolved),
                          encoding="utf-8")
    except OSError as error:
        raise StoreError(f"write {target}", str(error)) from error
    return target
