"""Report writers: JSON, CSV and a self-contained HTML page.

:func:`write_report` picks the writer from the file suffix (``.json``, ``.csv``,
``.html``/``.htm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orderkit.model.errors import ValidationError
from orderkit.reconcile.chain import Settlement
from orderkit.reconcile.matrix import MultiReconciliation
from orderkit.reconcile.outcomes import Reconciliation
from orderkit.reconcile.report.csv_report import CSV_COLUMNS, write_csv
from orderkit.reconcile.report.escaping import spreadsheet_safe, spreadsheet_text
from orderkit.reconcile.report.html_report import format_amount, render_html, write_html
from orderkit.reconcile.report.json_report import write_json
from orderkit.reconcile.report.labels import LANGS, labels

__all__ = [
    "CSV_COLUMNS",
    "LANGS",
    "format_amount",
    "labels",
    "render_html",
    "settlement_view",
    "spreadsheet_safe",
    "spreadsheet_text",
    "write_csv",
    "write_html",
    "write_json",
    "write_report",
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


def write_report(
    result: Reconciliation | MultiReconciliation | Settlement,
    path: str | Path,
    *,
    files: Sequence[str] = (),
    lang: str = "en",
) -> Path:
    """Write ``result`` in the format named by ``path``'s suffix.

    A :class:`~orderkit.reconcile.Settlement` is written as :func:`settlement_view`.
    ``files`` names the input files, shown in the HTML report's header; ``lang``
    (``"en"`` or ``"zh"``) is the language of the HTML and CSV reports' labels.
    """
    labels(lang)  # an unknown language is refused whatever the format
    if isinstance(result, Settlement):
        result = settlement_view(result)
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".json":
        return write_json(result, target)
    if suffix == ".csv":
        return write_csv(result, target, lang=lang)
    if suffix in (".html", ".htm"):
        return write_html(result, target, files=files, lang=lang)
    raise ValidationError("out", str(path), "expected a .html, .json or .csv file name")
