"""Report writers: JSON, CSV, a self-contained HTML page and an Excel workbook.

:func:`write_report` picks the writer from the file suffix (``.json``, ``.csv``,
``.html``/``.htm``, ``.xlsx``). A :class:`~orderkit.reconcile.Settlement` is written hop
by hop (:func:`settlement_hops`): its HTML page and CSV file by
:mod:`~orderkit.reconcile.report.settlement_html` and
:mod:`~orderkit.reconcile.report.settlement_csv`. The ``.xlsx`` writer needs the
``xlsx`` extra (openpyxl).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from orderkit.model.errors import ValidationError
from orderkit.reconcile.chain import Settlement
from orderkit.reconcile.matrix import MultiReconciliation
from orderkit.reconcile.outcomes import Reconciliation
from orderkit.reconcile.report.csv_report import CSV_COLUMNS, write_csv
from orderkit.reconcile.report.escaping import spreadsheet_safe, spreadsheet_text
from orderkit.reconcile.report.hops import HOP_TABLES, STATES, HopRow, HopTable, settlement_hops
from orderkit.reconcile.report.html_report import format_amount, render_html, write_html
from orderkit.reconcile.report.json_report import write_json
from orderkit.reconcile.report.labels import LANGS, labels
from orderkit.reconcile.report.settlement_csv import SETTLEMENT_CSV_COLUMNS, write_settlement_csv
from orderkit.reconcile.report.settlement_html import (
    render_settlement_html,
    write_settlement_html,
)
from orderkit.reconcile.report.xlsx_report import (
    MissingXlsxExtra,
    amount_format,
    require_openpyxl,
    write_xlsx,
)

__all__ = [
    "CSV_COLUMNS",
    "HOP_TABLES",
    "LANGS",
    "SETTLEMENT_CSV_COLUMNS",
    "STATES",
    "SUFFIXES",
    "HopRow",
    "HopTable",
    "MissingXlsxExtra",
    "amount_format",
    "check_report_path",
    "format_amount",
    "labels",
    "render_html",
    "render_settlement_html",
    "settlement_hops",
    "settlement_view",
    "spreadsheet_safe",
    "spreadsheet_text",
    "write_csv",
    "write_html",
    "write_json",
    "write_report",
    "write_settlement_csv",
    "write_settlement_html",
    "write_xlsx",
]


def settlement_view(settlement: Settlement) -> MultiReconciliation:
    """A :class:`~orderkit.reconcile.Settlement` as the report writers show it.

    One pair per hop run: the ERP against each channel's bill (``order_channel``, under
    the channel's name), and the payouts and direct payments against the bank (under
    ``bank``).
    """
    pairs = {
        channel if hop == "order_channel" else "bank": result
        for (hop, channel), result in settlement.results.items()
    }
    return MultiReconciliation("erp", pairs)


#: The file suffixes :func:`write_report` writes.
SUFFIXES: Final = (".html", ".htm", ".json", ".csv", ".xlsx")


def check_report_path(path: str | Path) -> Path:
    """Check before any work that :func:`write_report` can write ``path``: its suffix is
    one of :data:`SUFFIXES` (:class:`~orderkit.model.errors.ValidationError` otherwise)
    and, for ``.xlsx``, openpyxl is installed (:class:`MissingXlsxExtra` otherwise)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValidationError("out", str(path), "expected a .html, .json, .csv or .xlsx file name")
    if suffix == ".xlsx":
        require_openpyxl()
    return target


def write_report(
    result: Reconciliation | MultiReconciliation | Settlement,
    path: str | Path,
    *,
    files: Sequence[str] = (),
    lang: str = "en",
) -> Path:
    """Write ``result`` in the format named by ``path``'s suffix.

    A :class:`~orderkit.reconcile.Settlement` is written hop by hop as HTML, CSV and
    xlsx, and as :func:`settlement_view` in JSON, whose summary adds the settlement's
    own (:meth:`~orderkit.reconcile.Settlement.summary`: by hop, breaks, carried
    balances) under ``"settlement"``. ``files`` names the input files, shown
    in the HTML report's header and on the xlsx summary sheet; ``lang`` (``"en"`` or
    ``"zh"``) is the language of the HTML, CSV and xlsx reports' labels. ``.xlsx`` needs
    the ``xlsx`` extra (:class:`MissingXlsxExtra` otherwise).
    """
    labels(lang)  # an unknown language is refused whatever the format
    target = Path(path)
    suffix = target.suffix.lower()
    check_report_path(target)
    if suffix == ".xlsx":
        return write_xlsx(result, target, files=files, lang=lang)
    if isinstance(result, Settlement):
        if suffix == ".csv":
            return write_settlement_csv(result, target, lang=lang)
        if suffix in (".html", ".htm"):
            return write_settlement_html(result, target, files=files, lang=lang)
        view = settlement_view(result)
        if suffix == ".json":
            summary = {**view.summary(), "settlement": result.summary()}
            return write_json(view, target, summary=summary)
        result = view
    if suffix == ".json":
        return write_json(result, target)
    if suffix == ".csv":
        return write_csv(result, target, lang=lang)
    return write_html(result, target, files=files, lang=lang)
