"""The settlement chain: order -> payment channel -> payout -> bank.

Money does not go from an order straight to the bank. A WeChat Pay order is paid into
WeChat Pay, which pays the day's sales out the next day, net of its fees, coupons and
refunds, as one bank credit; a Tmall order is paid into Alipay, and the merchant
withdraws the balance to the bank when they choose; a store's card sales settle T+1
through the acquirer. :func:`settle` reconciles each hop against the right records:

1. ``order_channel``: each ERP record is routed to the channel it was paid through
   (``Record.channel``) and reconciled against that channel's transaction bill only,
   line by line (goods, coupons, fees, refunds). An order paid by WeChat is never
   "missing" from Alipay.
2. ``channel_bank``: each channel's payouts against the bank's credits. A bill that
   carries its own payouts (``settlement`` or ``transfer`` rows: an Alipay withdrawal)
   uses them. A channel that pays out by itself (WeChat Pay; its
   :class:`~orderkit.reconcile.payouts.PayoutTerms` are ``automatic``) and has no payout
   rows gets derived payouts, one per settlement day, as the net of that day's
   transactions, due ``settlement_days`` later (T+1 by default); a day of refunds that
   leaves the balance negative is taken out of the next payout, never from the bank. A
   channel the merchant withdraws from (Alipay) gets none, and what stays in its
   balance is carried.
   An internal transfer (the withdrawal) is paired with the bank credit it became, not
   reported on both sides as a break. A payout with no credit yet is money in transit,
   ``pending``, when its credit is expected at or after the cut-off: a derived payout
   at its due instant, the bill's own row by the start of the next day in the
   channel's settlement zone. A bank's own ``charge`` is a ``bank_charge``.
3. ``order_bank``: ERP records paid straight into the bank (a channel with no bill, a
   bank transfer) against the bank, in the same run as the payouts so that one bank
   credit is only ever claimed once. The two legs of an exchange (category
   ``exchange``: an internal transfer from one order to its replacement, no bill) come
   here too and pair with each other, never with a bank line
   (:mod:`~orderkit.reconcile.exchanges`).

Every input record (and rejected line) ends in exactly one outcome, each naming its hop;
derived payouts appear in the ``channel_bank`` outcomes and name the transactions they
add up (:meth:`Settlement.members`). :meth:`Settlement.chain` follows one order along the
hops with the time of each step.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import repeat
from operator import attrgetter, eq, ne, not_
from typing import Final

import attrs

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.time import zone
from orderkit.reconcile.classify import PeriodOf
from orderkit.reconcile.columns import in_time_order, split, totals
from orderkit.reconcile.engine import reconcile_split
from orderkit.reconcile.exchanges import EXCHANGE
from orderkit.reconcile.figures import duration_text, in_places, totals_text
from orderkit.reconcile.outcomes import Outcome, Reconciliation
from orderkit.reconcile.payouts import (
    PayoutTerms,
    check_settlement_days,
    payout_terms_of,
    route_terms_of,
)
from orderkit.reconcile.records import Record, Rejected
from orderkit.reconcile.rules import Rules

__all__ = [
    "BREAK_KINDS",
    "HOPS",
    "ChainStep",
    "Settlement",
    "check_opening_payout",
    "needs_a_person",
    "settle",
]

#: The hops of the chain, in the order money travels.
HOPS: Final = ("order_channel", "channel_bank", "order_bank")
#: Record kinds that move money from a channel's account to the bank.
PAYOUT_KINDS: Final = frozenset({"settlement", "transfer"})
#: Difference kinds that need a person; the others are explained by the records
#: themselves (a fee, a coupon, a bank charge, a rounding, a timing difference).
BREAK_KINDS: Final = frozenset({"amount_mismatch", "duplicate", "partial_refund"})
_NEEDS_A_PERSON: Final = frozenset({"unmatched", "suggestion", "rejected"})
_AT: Final = attrgetter("at")
_KIND: Final = attrgetter("kind")
_CHANNEL: Final = attrgetter("channel")


def needs_a_person(outcome: Outcome) -> bool:
    """Whether ``outcome`` is a break: an unmatched record, a suggestion, a rejected
    line, or a difference the records do not explain (``BREAK_KINDS``)."""
    return _is_a_break(outcome.status, outcome.kind)


def _is_a_break(status: str, kind: str | None) -> bool:
    return status in _NEEDS_A_PERSON or (status == "difference" and kind in BREAK_KINDS)


@attrs.frozen
class ChainStep:
    """One record on an order's way to the bank: its hop, its outcome and how long after
    the order's first record it happened."""

    hop: str
    source: str
    record_id: str
    amount: Money
    at: datetime
    after: timedelta
    status: str
    kind: str | None

    def __str__(self) -> str:
        return (
            f"{self.hop} {self.source}:{self.record_id} {self.amount}"
            f" ({duration_text(self.after, signed=True)}) {self.status}"
            + (f" {self.kind}" if self.kind else "")
        )


class Settlement:
    """The result of :func:`settle`.

    :attr:`outcomes` lists every outcome of every hop; ``results`` holds each hop's own
    :class:`~orderkit.reconcile.Reconciliation` by ``(hop, channel)`` (``channel`` is
    empty for the bank hop). :meth:`breaks` and :meth:`summary` read the hops' compact
    results: a month's clean matches and fee lines are only built as outcomes when
    :attr:`outcomes` (or :meth:`chain`) is read.
    """

    __slots__ = (
        "_bank_outcomes",
        "_breaks",
        "_carried",
        "_channel_payouts",
        "_derived",
        "_erp",
        "_erp_records",
        "_explains",
        "_members",
        "_of_record",
        "_opening",
        "_outcomes",
        "_sources",
        "_terms",
        "inputs",
        "results",
        "rules",
    )

    def __init__(
        self,
        *,
        bank_outcomes: list[Outcome],
        results: dict[tuple[str, str], Reconciliation],
        members: dict[int, list[Record] | tuple[Record, ...]],
        derived: list[Record],
        erp: list[Record],
        inputs: list[Record | Rejected],
        rules: Rules,
        payouts: dict[str, list[Record]] | None = None,
        carried: dict[str, dict[str, Decimal]] | None = None,
        terms: dict[str, PayoutTerms] | None = None,
        sources: list[tuple[str, str, int]] | None = None,
        opening: list[Record] | None = None,
    ) -> None:
        self._erp_records = erp
        self._opening = opening if opening is not None else []
        # Each source of the inputs, in order: (source, channel, where its inputs end).
        self._sources = sources if sources is not None else [("", "", len(inputs))]
        self._terms = terms if terms is not None else {}
        self._carried = carried if carried is not None else {}
        self._erp: set[int] | None = None
        self._channel_payouts = payouts if payouts is not None else {}
        self._bank_outcomes = bank_outcomes
        self._outcomes: list[Outcome] | None = None
        self._breaks: list[Outcome] | None = None
        self.results = results
        self.rules = rules
        self.inputs = inputs
        self._members = members
        self._derived = derived
        # Which outcome holds each record, and which explain it: built for chain().
        self._of_record: dict[int, Outcome] | None = None
        self._explains: dict[int, list[Outcome]] = {}

    @property
    def outcomes(self) -> list[Outcome]:
        """Every outcome of every hop: each channel's order hop (in the order the bills
        were given), then the bank hop's (payouts and direct payments against the bank)."""
        if self._outcomes is None:
            outcomes: list[Outcome] = []
            for (hop, _channel), result in self.results.items():
                if hop == "order_channel":
                    outcomes += result.outcomes
            outcomes += self._bank_outcomes
            self._outcomes = outcomes
        return self._outcomes

    def _channel_results(self) -> list[Reconciliation]:
        return [result for (hop, _c), result in self.results.items() if hop == "order_channel"]

    def _index(self) -> dict[int, Outcome]:
        if self._of_record is None:
            of_record: dict[int, Outcome] = {}
            for outcome in self.outcomes:
                for record in outcome.records:
                    of_record[id(record)] = outcome
                for record in outcome.related:
                    self._explains.setdefault(id(record), []).append(outcome)
            self._of_record = of_record
        return self._of_record

    def members(self, payout: Record) -> tuple[Record, ...]:
        """The channel transactions a derived payout adds up, in time order (then record
        id); empty for other records."""
        found = self._members.get(id(payout))
        if found is None:
            return ()
        if not isinstance(found, tuple):
            found = self._members[id(payout)] = tuple(
                map(found.__getitem__, in_time_order(found, list(range(len(found)))))
            )
        return found

    def is_order(self, record: Record) -> bool:
        """Whether ``record`` is one of the ERP's input records (an order's payment or
        refund), not a bill, bank or derived record."""
        return id(record) in self._erp_ids()

    def _erp_ids(self) -> set[int]:
        if self._erp is None:
            self._erp = set(map(id, self._erp_records))
        return self._erp

    @property
    def channels(self) -> tuple[str, ...]:
        """The names of the channels whose bills were settled, in the order given."""
        return tuple(channel for hop, channel in self.results if hop == "order_channel")

    def payouts(self, channel: str) -> tuple[Record, ...]:
        """The payouts of ``channel`` to the bank: the bill's own payout rows (an Alipay
        withdrawal) or, for a bill without them, the payouts derived from its
        transactions (:attr:`derived`), in time order."""
        if channel not in self.channels:
            raise ValidationError("channel", channel, "no bill of this name was settled")
        return tuple(self._channel_payouts.get(channel, ()))

    def terms(self, channel: str) -> PayoutTerms:
        """How ``channel`` paid out in this settlement, its settlement zone named: the
        host's ``payout_terms``, else :data:`~orderkit.reconcile.DEFAULT_PAYOUT_TERMS`,
        else automatic T+``settlement_days`` in the accounting zone. ``channel`` may also
        name a route of a bill's lines (``pos.cash.S1``:
        :func:`~orderkit.reconcile.payouts.route_terms_of`)."""
        if channel not in self._terms:
            raise ValidationError("channel", channel, "no bill or route of this name was settled")
        return self._terms[channel]

    def carried(self) -> dict[str, dict[str, Money]]:
        """What each channel's balance still holds at the end of the period, by currency;
        a channel that netted to zero is left out. For a withdrawal channel (Alipay) the
        net of its bill, withdrawals included: the merchant has not withdrawn it yet. For
        a channel that pays out by itself (WeChat Pay), the negative balance its last
        days of refunds left, which it takes out of its next payout. Explained, not a
        break."""
        return {
            channel: {
                currency: Money(in_places(net, currency), currency)
                for currency, net in nets.items()
                if net
            }
            for channel, nets in self._carried.items()
            if any(nets.values())
        }

    @property
    def opening(self) -> tuple[Record, ...]:
        """Last month's payouts still in transit at its cut-off, as :func:`settle` was
        given them (``opening``): each matched against this month's bank credits."""
        return tuple(self._opening)

    @property
    def derived(self) -> list[Record]:
        """The payouts derived from the channels' transactions (not input records)."""
        return list(self._derived)

    def breaks(self) -> list[Outcome]:
        """The outcomes that need a person: unmatched records, suggestions, rejected
        lines and differences the records do not explain (``BREAK_KINDS``), in the order
        of :attr:`outcomes`. Only these outcomes are built (once)."""
        if self._breaks is None:
            if self._outcomes is not None:
                self._breaks = [o for o in self._outcomes if needs_a_person(o)]
            else:
                found: list[Outcome] = []
                for result in self._channel_results():
                    found += result.where(_is_a_break)
                self._breaks = found + [o for o in self._bank_outcomes if needs_a_person(o)]
        return list(self._breaks)

    def chain(self, ref: str) -> tuple[ChainStep, ...]:
        """The steps of the order whose ref (or ERP record id) is ``ref``: its ERP
        records, the channel records they matched, the payout those were paid out in
        and the bank credit it became, each with its hop, outcome and time. The leg of
        an exchange the order made (its ``ref`` the exchange's, its ``links`` naming the
        order) is one of its records, and the other leg its step in the exchange."""
        erp = self._erp_ids()
        wanted = [
            r
            for r in self.inputs
            if isinstance(r, Record)
            and id(r) in erp
            and (ref in (r.ref, r.record_id) or (r.category == EXCHANGE and ref in r.links))
        ]
        if not wanted:
            raise ValidationError("ref", ref, "no ERP record has this ref or id")
        steps: list[tuple[Record, Outcome]] = []
        seen: set[int] = set()
        of_record = self._index()

        def visit(record: Record) -> None:
            if id(record) in seen:
                return
            seen.add(id(record))
            outcome = of_record.get(id(record))
            if outcome is None:
                return
            steps.append((record, outcome))
            for other in outcome.records:
                if other is not record and (id(other) not in erp or outcome.rule == EXCHANGE):
                    visit(other)
            for payout in self._payouts_of(record):
                visit(payout)
            for explained in self._explains.get(id(record), ()):
                # The fee or coupon charged on this sale.
                for other in explained.records:
                    visit(other)

        for record in sorted(wanted, key=lambda r: (r.at, r.record_id)):
            visit(record)
        first = min(record.at for record, _outcome in steps)
        return tuple(
            ChainStep(
                outcome.hop,
                record.source,
                record.record_id,
                record.amount,
                record.at,
                record.at - first,
                outcome.status,
                outcome.kind,
            )
            for record, outcome in steps
        )

    def _payouts_of(self, record: Record) -> list[Record]:
        return [p for p in self._derived if any(m is record for m in self._members[id(p)])]

    def summary(self) -> dict[str, object]:
        """Counts and amounts by hop, status and kind, and the breaks, as the engine
        accounted for them by construction: nothing is recounted and no outcome is built.

        The counts come from each hop's rows (:meth:`Reconciliation.tally`);
        ``records_accounted`` is the number of records the rows place (each pair two, each
        group its members, each lone record and rejected line one) and
        ``amount_accounted`` the totals the engine kept while it placed them
        (:meth:`Reconciliation.accounted`). Whether every input record is placed exactly
        once, with its amount, is :meth:`conservation`'s independent recount.
        """
        by_hop: dict[str, dict[str, int]] = {}
        by_status: dict[str, int] = {}
        by_kind: dict[str, dict[str, Decimal]] = {}
        kind_counts: dict[str, int] = {}

        def count(hop: str, status: str, kind: str | None, times: int) -> None:
            of_hop = by_hop.setdefault(hop, {})
            of_hop[status] = of_hop.get(status, 0) + times
            by_status[status] = by_status.get(status, 0) + times
            if kind is not None:
                kind_counts[kind] = kind_counts.get(kind, 0) + times

        def add(kind: str, differences: dict[str, Decimal]) -> None:
            totals = by_kind.setdefault(kind, {})
            for currency, value in differences.items():
                totals[currency] = totals.get(currency, Decimal(0)) + value

        accounted: dict[str, Decimal] = {}
        records_accounted = 0
        for result in self._channel_results():
            counts, differences = result.tally()
            for (status, kind), times in counts.items():
                count("order_channel", status, kind, times)
            for kind, values in differences.items():
                add(kind, values)
            records_accounted += result.records_placed()
            for currency, value in result.accounted().items():
                accounted[currency] = accounted.get(currency, Decimal(0)) + value
        for outcome in self._bank_outcomes:
            count(outcome.hop, outcome.status, outcome.kind, 1)
            if outcome.kind is not None:
                add(outcome.kind, outcome.difference)
            records_accounted += outcome.rejected is not None
        bank_placed = self._bank_placed()
        records_accounted += len(bank_placed)
        for currency, value in totals(bank_placed).items():
            accounted[currency] = accounted.get(currency, Decimal(0)) + value
        return {
            "by_hop": {hop: by_hop[hop] for hop in HOPS if hop in by_hop},
            "by_status": by_status,
            "by_kind": {
                kind: {"outcomes": kind_counts[kind], "difference": totals_text(by_kind[kind])}
                for kind in sorted(by_kind)
            },
            "breaks": len(self.breaks()),
            "carried": {
                channel: totals_text({c: m.amount for c, m in nets.items()})
                for channel, nets in self.carried().items()
            },
            "records_in": len(self.inputs),
            "records_accounted": records_accounted,
            "amount_accounted": totals_text(accounted),
            "inputs": self.inputs_by_source(),
        }

    def inputs_by_source(self) -> list[dict[str, object]]:
        """What each source brought in, in the order given: the ERP, each channel's bill
        (``source`` ``"bill"``, its ``channel`` named), last month's payouts in transit
        when :func:`settle` was given any (``"opening"``), the bank; each with its number of
        ``records`` (rejected lines included) and their ``amount`` by currency. Each is a
        figure of its own; the three are never added up (one order's yuan is in all of
        them)."""
        found: list[dict[str, object]] = []
        start = 0
        for source, channel, end in self._sources:
            items = self.inputs[start:end]
            records = itertools.compress(items, map(isinstance, items, repeat(Record)))
            found.append(
                {
                    "source": source,
                    "channel": channel,
                    "records": end - start,
                    "amount": totals_text(totals(records)),  # type: ignore[arg-type]
                }
            )
            start = end
        return found

    def _bank_placed(self) -> list[Record]:
        """The input records the bank hop's outcomes hold (its derived payouts are not
        inputs: their members are placed in the order hops)."""
        derived = {id(r) for r in self._derived}
        return [
            r for outcome in self._bank_outcomes for r in outcome.records if id(r) not in derived
        ]

    def conservation(self) -> dict[str, object]:
        """Recount every input and every outcome independently and compare: the check a
        caller (or a report) asks for, apart from :meth:`summary`.

        The records where each hop placed them (:meth:`Reconciliation.placed`) must be the
        inputs, each exactly once, by identity; and their amounts, added up afresh, must
        equal the inputs' amounts, added up afresh. ``balanced`` is true when both hold.
        """
        placed: list[Record] = []
        placed_rejected: list[Rejected] = []
        for result in self._channel_results():
            records, rejected = result.placed()
            placed += records
            placed_rejected += rejected
        placed += self._bank_placed()
        placed_rejected += [o.rejected for o in self._bank_outcomes if o.rejected is not None]
        placed_ids = set(map(id, placed))
        placed_ids.update(map(id, placed_rejected))
        records_accounted = len(placed) + len(placed_rejected)
        inputs = self.inputs
        once = records_accounted == len(placed_ids) == len(inputs) and all(
            map(placed_ids.__contains__, map(id, inputs))
        )
        records_in = itertools.compress(inputs, map(isinstance, inputs, repeat(Record)))
        amount_in = totals(records_in)  # type: ignore[arg-type]
        accounted = totals(placed)
        return {
            "records_in": len(inputs),
            "records_accounted": records_accounted,
            "amount_in": totals_text(amount_in),
            "amount_accounted": totals_text(accounted),
            "balanced": once and amount_in == accounted,
        }


def _inflow(record: Record, amount: Money) -> Record:
    """How ``record`` looks from the bank: money in is matched as a ``sale``, money out
    as a ``refund`` (the bank's credits and debits are read that way)."""
    return attrs.evolve(record, amount=amount, kind="sale" if amount.amount >= 0 else "refund")


def _credit_window(
    payout: Record, terms: PayoutTerms, *, derived: bool
) -> tuple[datetime, datetime]:
    """When the bank credit of ``payout`` may come and when it is expected: the one rule
    of the bank hop for a payout on its way to the bank.

    A derived payout is due at its own instant (the start of the day T+N): no credit
    before it, and in transit while that is at or after the cut-off. The bill's own
    payout row (an Alipay withdrawal) takes a credit from the start of its day in the
    channel's settlement zone (a withdrawal at 09:00 also takes a credit posted earlier
    that day, as a statement that gives dates only shows it at 00:00) and is expected by
    the start of the next day (a withdrawal made in the evening reaches the bank the
    next morning): with no credit yet, it is in transit (``pending``) when that is at or
    after the cut-off, as a derived payout due then is.
    """
    if derived:
        return payout.at, payout.at
    assert terms.tz is not None  # payout_terms_of names it
    tz = zone(terms.tz)
    day = payout.at.astimezone(tz).date()
    return (
        datetime.combine(day, time(0), tzinfo=tz),
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz),
    )


def check_opening_payout(
    record: object, path: str, channels: Collection[str] | None = None
) -> Record:
    """``record`` if it is a payout still in transit, as :func:`settle` takes it in
    ``opening``: a :class:`Record` of kind ``settlement``, its amount what the bank is to
    receive (more than zero), its ``channel`` named (and one of ``channels`` when given).
    Otherwise a :class:`ValidationError` naming ``path`` (``opening[2]``, or the file and
    line it was read from)."""
    if not isinstance(record, Record):
        raise ValidationError(path, record, "expected a Record: a payout still in transit")
    if record.kind != "settlement":
        raise ValidationError(
            f"{path}.kind", record.kind, "expected 'settlement': a payout still in transit"
        )
    if record.amount.amount <= 0:
        raise ValidationError(
            f"{path}.amount", str(record.amount), "expected what the bank is to receive,"
            " more than zero",
        )
    if not record.channel or (channels is not None and record.channel not in channels):
        known = ", ".join(channels) if channels else "none"
        raise ValidationError(
            f"{path}.channel", record.channel, f"expected a channel whose bill is settled"
            f" ({known}); an empty bill will do",
        )
    return record


def _check_opening(opening: Iterable[Record], channels: Collection[str]) -> list[Record]:
    """``opening`` as a list, each item checked by :func:`check_opening_payout`."""
    if isinstance(opening, (str, bytes, Mapping)):
        raise ValidationError("opening", opening, "expected last month's pending payouts")
    return [
        check_opening_payout(record, f"opening[{i}]", channels)
        for i, record in enumerate(opening)
    ]


def _routes(channel: str, transactions: list[Record]) -> dict[str, list[Record]]:
    """``transactions`` by the route their money takes to the bank: each one's
    ``channel`` (``pos.cash.S1``), else ``channel`` itself, the bill's; in order of
    first appearance, each in input order."""
    routes: dict[str, list[Record]] = {}
    for record in transactions:
        routes.setdefault(record.channel or channel, []).append(record)
    return routes


def _add_into(into: dict[str, Decimal], amounts: Mapping[str, Decimal]) -> None:
    """Add ``amounts`` into ``into``, by currency."""
    for currency, amount in amounts.items():
        into[currency] = into.get(currency, Decimal(0)) + amount


def _daily_payouts(
    channel: str, transactions: list[Record], terms: PayoutTerms
) -> tuple[list[tuple[Record, list[Record]]], dict[str, Decimal]]:
    """One payout per settlement day of ``transactions`` (in the channel's own zone,
    ``terms.tz``, not the accounting zone), due at the start of the day ``terms.days``
    later, for the net of the day in each currency; each with its members in input order
    (:meth:`Settlement.members` puts them in time order when they are read).

    The channel takes refunds out of the merchant's balance, never from the bank: a day
    whose balance (its net plus what earlier days left owing) is negative pays nothing
    and carries that balance, and its transactions, into the next day's payout; a day
    that nets to zero pays nothing. Also returned: the negative balance still carried at
    the end, by currency.

    Each instant's local day comes from :class:`PeriodOf`'s hour memo, read as one
    column; the positions are sorted by day (a C-level sort of ints, stable), each day
    is a run of that order, and its nets are :func:`~orderkit.reconcile.columns.totals`
    of its records.
    """
    assert terms.tz is not None  # payout_terms_of names it
    tz = zone(terms.tz)
    days = terms.days
    day_of = PeriodOf(tz, "day").column(list(map(_AT, transactions)))
    order = sorted(range(len(day_of)), key=day_of.__getitem__)
    days_in_order = list(map(day_of.__getitem__, order))
    starts = [
        0,
        *itertools.compress(range(1, len(order)), map(ne, days_in_order, days_in_order[1:])),
    ]
    payouts: list[tuple[Record, list[Record]]] = []
    # What earlier days left owing, by currency, and their transactions.
    owed: dict[str, tuple[Decimal, list[Record]]] = {}
    for start, end in zip(starts, [*starts[1:], len(order)], strict=True):
        if start == end:
            continue  # no transactions at all
        of_day = list(map(transactions.__getitem__, order[start:end]))
        day = date.fromordinal(days_in_order[start])
        label = day.isoformat()
        due = datetime.combine(day + timedelta(days=days), time(0), tzinfo=tz)
        nets = totals(of_day)
        for currency, net in nets.items():
            members = of_day if len(nets) == 1 else [
                record for record in of_day if record.amount.currency == currency
            ]
            carried_in, earlier = owed.pop(currency, (Decimal(0), []))
            balance = net + carried_in
            if balance < 0:
                owed[currency] = (balance, [*earlier, *members])
                continue  # taken from the balance: owed out of the next payout
            if not balance:
                continue  # the day's transactions cancel out: nothing reaches the bank
            memo = f"{channel} T+{days} payout of {label}"
            if carried_in:
                memo += f", net of {in_places(carried_in, currency)} owed from earlier days"
            payout = Record(
                channel,
                f"{channel}:{label}" + ("" if currency == "CNY" else f":{currency}"),
                None,
                Money(in_places(balance, currency), currency),
                due,
                memo=memo,
                kind="settlement",
                status="derived",
            )
            payouts.append((payout, [*earlier, *members]))
    return payouts, {currency: balance for currency, (balance, _members) in owed.items()}


def settle(
    erp: Iterable[Record | Rejected],
    bills: Mapping[str, Iterable[Record | Rejected]],
    bank: Iterable[Record | Rejected],
    *,
    rules: Rules | None = None,
    settlement_days: int | Mapping[str, int] = 1,
    payout_terms: Mapping[str, PayoutTerms] | None = None,
    opening: Iterable[Record] = (),
    **options: object,
) -> Settlement:
    """Reconcile the ERP, each channel's bill and the bank along the settlement chain
    (see the module docstring).

    ``bills`` maps a channel name to that channel's records; an ERP record is routed by
    its ``channel``. How each channel pays out is its
    :class:`~orderkit.reconcile.payouts.PayoutTerms`: ``payout_terms`` by channel name,
    else :data:`~orderkit.reconcile.payouts.DEFAULT_PAYOUT_TERMS` (WeChat Pay automatic
    T+1, Alipay by withdrawal), else automatic. An automatic channel whose bill has no
    payout rows gets one derived payout per settlement day, due ``settlement_days`` later
    unless its terms say otherwise (a number, or one per channel name); a negative
    balance is carried into the next payout, and what is still owed at the end is
    carried (:meth:`Settlement.carried`), not a break. A withdrawal channel gets none:
    only its withdrawal rows reach the bank, and the rest of its net is its carried
    balance, not a break either.

    ``opening`` holds last month's payouts still in transit at its cut-off (its report's
    ``pending`` payouts): each a :class:`Record` of kind ``settlement`` for what the bank
    is to receive (positive), its ``channel`` one of ``bills``. Each joins this month's
    payouts against the bank with its credit window (:func:`_credit_window`: a
    ``status="derived"`` payout is due at its own instant, any other from the start of its
    day to the start of the next), so the credit of 1 March matches February's payout;
    one still without a credit is ``missing_right`` (or ``pending`` again, if still not
    due). They are their own source, ``"opening"``, in
    :meth:`Settlement.inputs_by_source`. Anything else is refused naming
    ``opening[i]``. ``options`` override fields of ``rules`` as in
    :func:`~orderkit.reconcile.reconcile`.
    """
    settings = Rules.build(rules, options)
    check_settlement_days(settlement_days)
    if not isinstance(bills, Mapping):
        raise ValidationError("bills", bills, "expected a mapping of channel name to records")
    opening_records = _check_opening(opening, [str(name) for name in bills])
    erp_records, erp_rejected = split(erp, "erp")
    bank_records, bank_rejected = split(bank, "bank")
    # Each ERP record goes to the bill of its channel, the rest straight to the bank.
    channels = list(map(_CHANNEL, erp_records))
    routed: dict[str, list[Record]] = {
        name: list(itertools.compress(erp_records, map(eq, channels, repeat(name))))
        for name in bills
    }
    direct = list(itertools.compress(erp_records, map(not_, map(routed.__contains__, channels))))
    inputs: list[Record | Rejected] = [*erp_records, *erp_rejected]
    sources = [("erp", "", len(inputs))]
    results: dict[tuple[str, str], Reconciliation] = {}
    original: dict[int, Record] = {}
    views: list[Record] = []
    members: dict[int, list[Record] | tuple[Record, ...]] = {}
    derived: list[Record] = []
    payout_views: list[Record] = []
    # When a bank credit may pay each payout and when it is expected (by position in
    # payout_views): see _credit_window.
    windows: list[tuple[datetime, datetime]] = []
    by_channel: dict[str, list[Record]] = {}
    carried: dict[str, dict[str, Decimal]] = {}
    terms_of: dict[str, PayoutTerms] = {}
    for name, items in bills.items():
        if not isinstance(name, str) or not name:
            raise ValidationError("bills", name, "expected a channel name")
        records, rejected = split(items, f"bills[{name!r}]")
        inputs += [*records, *rejected]
        sources.append(("bill", name, len(inputs)))
        is_payout = list(map(PAYOUT_KINDS.__contains__, map(_KIND, records)))
        transactions = list(itertools.compress(records, map(not_, is_payout)))
        payouts = list(itertools.compress(records, is_payout))
        result = reconcile_split(
            routed[name], [], transactions, rejected, settings, names=("erp", name)
        )
        result.hop = "order_channel"  # its outcomes are built naming their hop
        results["order_channel", name] = result
        terms = terms_of[name] = payout_terms_of(name, payout_terms, settlement_days, settings.tz)
        if payouts:
            if terms.mode == "withdrawal":
                carried[name] = totals(records)
            # The bill's own payout rows: money leaving the channel's account for the bank.
            by_channel[name] = sorted(payouts, key=lambda r: (r.at, r.record_id))
            for payout in payouts:
                view = _inflow(payout, -payout.amount)
                original[id(view)] = payout
                views.append(view)
                payout_views.append(view)
                windows.append(_credit_window(payout, terms, derived=False))
            continue
        if terms.mode == "withdrawal":
            carried[name] = {}
        # Each route of the bill (its lines' ``channel``: a store's cash, its card
        # acquirer) pays out on its own terms; a line without one goes the bill's way.
        for route, of_route in _routes(name, transactions).items():
            route_terms = terms_of[route] = (
                terms
                if route == name
                else route_terms_of(route, name, terms, payout_terms, settlement_days)
            )
            if route_terms.mode == "withdrawal":
                # The money stays in the channel's balance until the merchant withdraws it.
                _add_into(carried.setdefault(name, {}), totals(of_route))
                continue
            derived_of, owing = _daily_payouts(route, of_route, route_terms)
            if owing:
                _add_into(carried.setdefault(name, {}), owing)
            for payout, of_payout in derived_of:
                by_channel.setdefault(name, []).append(payout)
                derived.append(payout)
                members[id(payout)] = of_payout
                view = _inflow(payout, payout.amount)
                original[id(view)] = payout
                views.append(view)
                payout_views.append(view)
                windows.append(_credit_window(payout, route_terms, derived=True))
        if name in by_channel:
            by_channel[name].sort(key=lambda r: (r.at, r.record_id))
    if opening_records:
        inputs += opening_records
        sources.append(("opening", "", len(inputs)))
    for payout in opening_records:
        # Already a payout as the bank receives it; its channel's terms give its window.
        view = _inflow(payout, payout.amount)
        original[id(view)] = payout
        views.append(view)
        payout_views.append(view)
        assert payout.channel is not None  # _check_opening
        windows.append(
            _credit_window(payout, terms_of[payout.channel], derived=payout.status == "derived")
        )
    inputs += [*bank_records, *bank_rejected]
    sources.append(("bank", "", len(inputs)))
    bank_side: list[Record] = []
    for record in bank_records:
        if record.kind in PAYOUT_KINDS:
            view = _inflow(record, record.amount)
            original[id(view)] = record
            views.append(view)
            bank_side.append(view)
        else:
            bank_side.append(record)
    result = reconcile_split(
        [*payout_views, *direct],
        erp_rejected,
        bank_side,
        bank_rejected,
        settings,
        names=("erp", "bank"),
        not_before={i: earliest for i, (earliest, _due) in enumerate(windows)},
        due={i: due for i, (_earliest, due) in enumerate(windows)},
    )
    results["bank", ""] = result
    direct_ids = {id(r) for r in direct}

    def back(records: tuple[Record, ...]) -> tuple[Record, ...]:
        return tuple(original.get(id(r), r) for r in records)

    direct_names = {r.record_id for r in direct}
    outcomes: list[Outcome] = []
    for outcome in result.outcomes:
        left = back(outcome.left)
        named = dict(outcome.evidence).get("candidates", "").split(",")
        direct_hop = (
            any(id(r) in direct_ids for r in left)
            or (not left and any(name in direct_names for name in named))
            or (outcome.rejected is not None and outcome.rejected in erp_rejected)
        )
        outcomes.append(
            attrs.evolve(
                outcome,
                left=left,
                right=back(outcome.right),
                related=back(outcome.related),
                hop="order_bank" if direct_hop else "channel_bank",
            )
        )
    return Settlement(
        bank_outcomes=outcomes,
        results=results,
        members=members,
        derived=derived,
        erp=erp_records,
        inputs=inputs,
        rules=settings,
        payouts=by_channel,
        carried=carried,
        terms=terms_of,
        sources=sources,
        opening=opening_records,
    )
