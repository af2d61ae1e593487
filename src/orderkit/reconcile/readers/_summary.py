"""A bill's own summary, checked against its rows.

WeChat Pay ends its trade bill with a summary block (``总交易单数,应结订单总金额,...`` and
a row of figures) and Alipay its account statement with ``#收入合计：3笔，共304.50元`` and
``#支出合计`` lines. A reader names each figure it can recompute as a :class:`Total` (a
count of rows, or a sum of one column) and how its summary is written
(:class:`SummaryCheck`); :func:`~orderkit.reconcile.readers._table.read_table` tallies
every data row of the table, reads the summary after it and reports each summary line
whose figures the rows do not give, exactly (Decimal), as a
:class:`~orderkit.reconcile.Rejected` line naming the figures: a download with rows
missing, or a bill edited by hand, is never a clean month.

A data row counts even when it is rejected for another reason (its own rejected line says
why); a sum is compared only when every row's cell of it could be read, and a figure only
when the header has the columns it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal

import attrs

from orderkit.model.errors import ValidationError
from orderkit.reconcile.readers._table import Cells, parse_amount
from orderkit.reconcile.records import Rejected

__all__ = ["Stated", "SummaryCheck", "Tally", "Total"]

@attrs.frozen
class Total:
    """One figure of a bill's summary, and what each row adds to it.

    ``label`` is the summary's name for it (``总交易单数``, ``收入合计``); ``count`` whether
    it counts rows (else it sums amounts); ``part(cells)`` a row's share (``None``: every
    data row counts one); ``columns`` the header columns it needs (without one of them the
    figure is not compared); ``what`` says what it is in a message; ``absolute``: the
    summary may write a sum of expenses with or without its minus sign.
    """

    label: str
    count: bool
    what: str
    part: Callable[[Cells], Decimal] | None = None
    columns: tuple[str, ...] = ()
    absolute: bool = False


@attrs.frozen
class Stated:
    """A figure as the summary gives it: its line, its text and the raw line."""

    line: int
    text: str
    raw: str


#: Reads the lines after the table (line number, text) into the figures they give,
#: keyed by (label, count).
FooterReader = Callable[[Sequence[tuple[int, str]]], Mapping[tuple[str, bool], Stated]]


@attrs.frozen
class SummaryCheck:
    """What a layout's summary gives (``totals``) and how it is written (``read``).

    ``required``: a table that ends without the summary's figures was cut off.
    """

    totals: tuple[Total, ...]
    read: FooterReader
    required: bool = False

    def tally(self, header: Sequence[str]) -> Tally:
        """A running tally of the rows of a table with this ``header``."""
        return Tally(self, frozenset(header))


@attrs.define
class Tally:
    """The figures of a :class:`SummaryCheck`, as the rows read so far give them."""

    check: SummaryCheck
    header: frozenset[str]
    #: Running value per figure; ``None`` once a row's cell of it could not be read.
    values: dict[int, Decimal | None] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.values = {
            index: Decimal(0) if self.header.issuperset(total.columns) else None
            for index, total in enumerate(self.check.totals)
        }

    def add(self, cells: Cells | None) -> None:
        """Count one data row; ``None`` for a row whose cells could not be split."""
        for index, total in enumerate(self.check.totals):
            value = self.values[index]
            if value is None:
                continue
            if total.part is None:
                self.values[index] = value + 1
            elif cells is None:
                self.values[index] = None
            else:
                try:
                    self.values[index] = value + total.part(cells)
                except ValidationError:
                    self.values[index] = None

    def differences(
        self, source: str, file: str, lines: Iterable[tuple[int, str]]
    ) -> Iterator[Rejected]:
        """One rejected line per summary line whose figures the rows do not give."""
        trailer = list(lines)
        stated = self.check.read(trailer)
        if self.check.required and not stated:
            line = trailer[-1][0] + 1 if trailer else 1
            yield Rejected(
                source, file, line, "", "",
                "the file ends inside its summary: it was cut off (truncated)",
            )
            return
        found: dict[int, list[tuple[Total, Stated, str]]] = {}
        for index, total in enumerate(self.check.totals):
            figure = stated.get((total.label, total.count))
            read = self.values[index]
            if figure is None or read is None:
                continue
            message = _difference(total, figure, read)
            if message:
                found.setdefault(figure.line, []).append((total, figure, message))
        for line, items in sorted(found.items()):
            yield Rejected(
                source,
                file,
                line,
                ", ".join(dict.fromkeys(total.label for total, _figure, _message in items)),
                ", ".join(figure.text for _total, figure, _message in items),
                "the rows do not add up to the bill's own summary: "
                + "; ".join(message for _total, _figure, message in items),
                items[0][1].raw,
            )


def _difference(total: Total, figure: Stated, read: Decimal) -> str:
    try:
        value = parse_amount(figure.text, total.label)
    except ValidationError:
        return f"{total.label} is not a number ({figure.text!r})"
    if value is None:
        return f"{total.label} is empty"
    if total.count:
        if value == read:
            return ""
        return f"{total.label} counts {figure.text} {total.what}, the file holds {read}"
    if (abs(value) == abs(read)) if total.absolute else (value == read):
        return ""
    return f"{total.label} gives {figure.text} for {total.what}, the rows add up to {read}"
