"""A settlement laid out as finance reads it: per channel, the hops the money takes.

:func:`settlement_hops` turns a :class:`~orderkit.reconcile.Settlement` into tables, one
per hop, each holding only that hop's rows:

* for each channel, in the order the bills were given:

  1. ``order_bill``: the ERP's orders against the channel's bill, line by line (the
     ``order_channel`` outcomes of that channel);
  2. ``bill_payout``: the bill's transactions against the payouts they were paid out
     in (one row per payout: a payout derived as a day's net, with the transactions it
     adds up, or the bill's own payout row, such as an Alipay withdrawal, which the bill
     itself states);
  3. ``payout_bank``: the channel's payouts against the bank's credits (the
     ``channel_bank`` outcomes that hold a payout of that channel, last month's payouts
     in transit among them: :attr:`Settlement.opening
     <orderkit.reconcile.Settlement.opening>`);

* then, for no channel, ``order_bank``: orders paid straight into the bank, and
  ``bank_only``: bank lines no payout and no order explains (a bank charge, an unknown
  credit, a rejected statement line).

Every outcome of the settlement is in exactly one table; the ``bill_payout`` rows are
built from the payouts and add no outcome (a derived payout's evidence names the day it
is due, in the channel's settlement zone: ``due=2026-03-11``). Each row names the
orders it traces back to (:attr:`HopRow.orders`): the ERP records' refs, a bill line's
order ref, or, for a payout, the refs of the transactions it adds up.

Every report shows a payout the way the bank sees it, whichever way the bill writes it:
money reaching the bank is positive, so an Alipay withdrawal the bill writes as
-254.46 is paid out as 254.46 in the page, the CSV and the workbook alike
(:attr:`HopRow.left_amounts`, :attr:`HopRow.right_amounts`); every other record is
shown as read. A row whose amounts there is nothing to compare with (a match, a payout
row the bill states) has no :attr:`~HopRow.difference`.

Each row has a ``state`` that the counts are kept by: ``matched``; ``explained`` (a
difference the records explain: a fee, a coupon, a rounding, a bank charge, a payout
row the bill states); ``pending`` (not due before the cut-off); ``break`` (needs a
person: :meth:`Settlement.breaks() <orderkit.reconcile.Settlement.breaks>`).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from operator import attrgetter
from typing import Final

import attrs

from orderkit.model.time import zone
from orderkit.reconcile.chain import Settlement, needs_a_person
from orderkit.reconcile.outcomes import Outcome
from orderkit.reconcile.records import Record, Rejected
from orderkit.reconcile.report._common import evidence_text

__all__ = ["HOP_TABLES", "STATES", "HopRow", "HopTable", "settlement_hops"]

#: The tables of a settlement report, in the order money travels.
HOP_TABLES: Final = ("order_bill", "bill_payout", "payout_bank", "order_bank", "bank_only")
#: What a row counts as, in the order the report shows the counts.
STATES: Final = ("matched", "explained", "pending", "break")

Totals = dict[str, Decimal]
_CURRENCY: Final = attrgetter("amount.currency")


def _totals(pairs: Iterable[tuple[str, Decimal]]) -> Totals:
    out: Totals = {}
    for currency, value in pairs:
        out[currency] = out.get(currency, Decimal(0)) + value
    return out


def _add(into: Totals, more: Totals) -> None:
    for currency, value in more.items():
        into[currency] = into.get(currency, Decimal(0)) + value


@attrs.frozen
class HopRow:
    """One row of a hop: the records of each side and their amounts as every report
    shows them (``left_amounts`` and ``right_amounts``, one per record: a payout as the
    bank receives it, see the module docstring), what the row is (``status``, ``kind``,
    ``rule``, ``state``) and the orders it traces back to. A rejected input line has no
    records: ``rejected`` holds it and ``rejected_side`` names the side of the file it
    came from (``"left"`` or ``"right"``), the one column the reports list it under."""

    state: str
    status: str
    kind: str | None
    rule: str
    left: tuple[Record, ...]
    right: tuple[Record, ...]
    left_amounts: tuple[Decimal, ...]
    right_amounts: tuple[Decimal, ...]
    orders: tuple[str, ...]
    evidence: str
    rejected: Rejected | None = None
    rejected_side: str = ""

    @property
    def left_amount(self) -> Totals:
        """The left records' amounts, per currency."""
        return _totals(zip(map(_CURRENCY, self.left), self.left_amounts, strict=True))

    @property
    def right_amount(self) -> Totals:
        """The right records' amounts, per currency."""
        return _totals(zip(map(_CURRENCY, self.right), self.right_amounts, strict=True))

    @property
    def difference(self) -> Totals:
        """Right amount less left amount, per currency; empty where there is nothing to
        compare: a match, or a payout row the bill states (status ``stated``)."""
        if self.state == "matched" or self.status == "stated":
            return {}
        out = self.right_amount
        for currency, value in self.left_amount.items():
            out[currency] = out.get(currency, Decimal(0)) - value
        return out


@attrs.frozen
class HopTable:
    """The rows of one hop of one channel (``channel`` is empty for ``order_bank`` and
    ``bank_only``). ``left_side`` and ``right_side`` say what each side holds:
    ``"erp"``, ``"bill"``, ``"transactions"``, ``"payout"`` or ``"bank"``."""

    channel: str
    hop: str
    left_side: str
    right_side: str
    rows: tuple[HopRow, ...]

    def counts(self) -> dict[str, int]:
        """Rows by state, every state of :data:`STATES` present (zero when none)."""
        out = dict.fromkeys(STATES, 0)
        for row in self.rows:
            out[row.state] += 1
        return out

    def totals(self) -> tuple[Totals, Totals]:
        """The left and the right amounts of all rows, per currency."""
        left: Totals = {}
        right: Totals = {}
        for row in self.rows:
            _add(left, row.left_amount)
            _add(right, row.right_amount)
        return left, right

    def breaks(self) -> tuple[HopRow, ...]:
        """The rows that need a person."""
        return tuple(row for row in self.rows if row.state == "break")


def _state(outcome: Outcome) -> str:
    if needs_a_person(outcome):
        return "break"
    if outcome.status == "pending":
        return "pending"
    return "matched" if outcome.status == "matched" else "explained"


def _refs(records: Iterable[Record]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for record in records:
        if record.ref:
            seen.setdefault(record.ref, None)
    return tuple(seen)


class _Builder:
    """Everything a row needs to know about payouts: whose they are, what they add up."""

    def __init__(self, settlement: Settlement) -> None:
        self.settlement = settlement
        self.order_refs = {
            r.record_id: r.ref or r.record_id
            for r in settlement.inputs
            if isinstance(r, Record) and settlement.is_order(r)
        }
        # The rejected lines of each run's left side (the ERP's); the others are right.
        self.rejected_left = {
            id(line) for result in settlement.results.values() for line in result.rejected_left
        }
        self.channel_of: dict[int, str] = {}
        self.stated: set[int] = set()
        for channel in settlement.channels:
            for payout in settlement.payouts(channel):
                self.channel_of[id(payout)] = channel
                if not settlement.members(payout):
                    self.stated.add(id(payout))
        # Last month's payouts in transit: their channel's, already as the bank sees them.
        for payout in settlement.opening:
            assert payout.channel is not None  # settle() checks it
            self.channel_of[id(payout)] = payout.channel

    def paid_out(self, record: Record) -> Decimal:
        """A record's amount as every report shows it: a payout as the bank receives it
        (a bill's own payout row, money leaving the channel, is negative in the bill:
        an Alipay withdrawal of -254.46 is paid out as 254.46; a derived payout is
        already an inflow), any other record as read."""
        amount = record.amount.amount
        return -amount if id(record) in self.stated else amount

    def amounts(self, records: Iterable[Record]) -> tuple[Decimal, ...]:
        return tuple(map(self.paid_out, records))

    def orders(self, records: Iterable[Record]) -> tuple[str, ...]:
        traced: list[Record] = []
        for record in records:
            members = self.settlement.members(record)
            if members:
                traced.extend(members)
            else:
                traced.append(record)
        return _refs(traced)

    def row(self, outcome: Outcome) -> HopRow:
        erp_first = [r for r in outcome.left if self.settlement.is_order(r)]
        orders = self.orders(erp_first) or self.orders((*outcome.left, *outcome.right))
        if not orders and outcome.status == "suggestion":
            # A bank credit suggested for orders: the orders it may belong to.
            named = dict(outcome.evidence).get("candidates", "").split(",")
            orders = tuple(dict.fromkeys(self.order_refs[n] for n in named if n in self.order_refs))
        return HopRow(
            _state(outcome),
            outcome.status,
            outcome.kind,
            outcome.rule,
            outcome.left,
            outcome.right,
            self.amounts(outcome.left),
            self.amounts(outcome.right),
            orders,
            evidence_text(outcome),
            outcome.rejected,
            self.rejected_side(outcome.rejected),
        )

    def rejected_side(self, line: Rejected | None) -> str:
        if line is None:
            return ""
        return "left" if id(line) in self.rejected_left else "right"

    def payout_rows(self, channel: str) -> tuple[HopRow, ...]:
        rows: list[HopRow] = []
        # A payout is due at midnight of a day in the channel's settlement zone.
        tz = self.settlement.terms(channel).tz
        assert tz is not None  # a settlement's terms name their zone
        settles_in = zone(tz)
        for payout in self.settlement.payouts(channel):
            members = self.settlement.members(payout)
            money = self.amounts((payout,))
            if members:
                rows.append(
                    HopRow(
                        "matched",
                        "matched",
                        None,
                        "daily_net",
                        members,
                        (payout,),
                        self.amounts(members),
                        money,
                        _refs(members),
                        f"transactions={len(members)};"
                        f" due={payout.at.astimezone(settles_in).date().isoformat()}",
                    )
                )
            else:
                rows.append(
                    HopRow(
                        "explained",
                        "stated",
                        payout.category or payout.kind,
                        "bill_row",
                        (),
                        (payout,),
                        (),
                        money,
                        (),
                        "the bill's own payout row",
                    )
                )
        return tuple(rows)


def settlement_hops(settlement: Settlement) -> tuple[HopTable, ...]:
    """The tables of a settlement report (see the module docstring), channels in the
    order their bills were given, then ``order_bank`` and ``bank_only``."""
    build = _Builder(settlement)
    tables: list[HopTable] = []
    to_bank: dict[str, list[HopRow]] = {channel: [] for channel in settlement.channels}
    direct: list[HopRow] = []
    bank_only: list[HopRow] = []
    for outcome in settlement.outcomes:
        if outcome.hop == "order_bank":
            direct.append(build.row(outcome))
        elif outcome.hop == "channel_bank":
            owner = next(
                (build.channel_of[id(r)] for r in outcome.left if id(r) in build.channel_of), None
            )
            (bank_only if owner is None else to_bank[owner]).append(build.row(outcome))
    for channel in settlement.channels:
        result = settlement.results["order_channel", channel]
        rows = tuple(
            build.row(attrs.evolve(outcome, hop="order_channel")) for outcome in result.outcomes
        )
        tables.append(HopTable(channel, "order_bill", "erp", "bill", rows))
        tables.append(
            HopTable(channel, "bill_payout", "transactions", "payout", build.payout_rows(channel))
        )
        tables.append(HopTable(channel, "payout_bank", "payout", "bank", tuple(to_bank[channel])))
    tables.append(HopTable("", "order_bank", "erp", "bank", tuple(direct)))
    tables.append(HopTable("", "bank_only", "payout", "bank", tuple(bank_only)))
    return tuple(tables)
