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
   uses them; for any other channel the payouts are derived, one per accounting day, as
   the net of that day's transactions, due ``settlement_days`` later (T+1 by default).
   An internal transfer (the withdrawal) is paired with the bank credit it became, not
   reported on both sides as a break. A bank's own ``charge`` is a ``bank_charge``.
3. ``order_bank``: ERP records paid straight into the bank (a channel with no bill, a
   bank transfer) against the bank, in the same run as the payouts so that one bank
   credit is only ever claimed once.

Every input record (and rejected line) ends in exactly one outcome, each naming its hop;
derived payouts appear in the ``channel_bank`` outcomes and name the transactions they
add up (:meth:`Settlement.members`). :meth:`Settlement.chain` follows one order along the
hops with the time of each step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Final

import attrs

from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.time import zone
from orderkit.reconcile.engine import reconcile
from orderkit.reconcile.outcomes import Outcome, Reconciliation
from orderkit.reconcile.records import Record, Rejected
from orderkit.reconcile.rules import Rules

__all__ = ["BREAK_KINDS", "HOPS", "ChainStep", "Settlement", "settle"]

#: The hops of the chain, in the order money travels.
HOPS: Final = ("order_channel", "channel_bank", "order_bank")
#: Record kinds that move money from a channel's account to the bank.
PAYOUT_KINDS: Final = frozenset({"settlement", "transfer"})
#: Difference kinds that need a person; the others are explained by the records
#: themselves (a fee, a coupon, a bank charge, a rounding, a timing difference).
BREAK_KINDS: Final = frozenset({"amount_mismatch", "duplicate", "partial_refund"})
_NEEDS_A_PERSON: Final = frozenset({"unmatched", "suggestion", "rejected"})


def needs_a_person(outcome: Outcome) -> bool:
    """Whether ``outcome`` is a break: an unmatched record, a suggestion, a rejected
    line, or a difference the records do not explain (``BREAK_KINDS``)."""
    return outcome.status in _NEEDS_A_PERSON or (
        outcome.status == "difference" and outcome.kind in BREAK_KINDS
    )


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
        days, rest = divmod(int(self.after.total_seconds()), 86400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        return (
            f"{self.hop} {self.source}:{self.record_id} {self.amount}"
            f" (+{days}d {hours:02d}:{minutes:02d}) {self.status}"
            + (f" {self.kind}" if self.kind else "")
        )


class Settlement:
    """The result of :func:`settle`.

    ``outcomes`` lists every outcome of every hop; ``results`` holds each hop's own
    :class:`~orderkit.reconcile.Reconciliation` by ``(hop, channel)`` (``channel`` is
    empty for the bank hop).
    """

    __slots__ = (
        "_channel_payouts",
        "_derived",
        "_erp",
        "_explains",
        "_members",
        "_of_record",
        "inputs",
        "outcomes",
        "results",
        "rules",
    )

    def __init__(
        self,
        *,
        outcomes: list[Outcome],
        results: dict[tuple[str, str], Reconciliation],
        members: dict[int, tuple[Record, ...]],
        derived: list[Record],
        erp: list[Record],
        inputs: list[Record | Rejected],
        rules: Rules,
        payouts: dict[str, list[Record]] | None = None,
    ) -> None:
        self._erp = {id(record) for record in erp}
        self._channel_payouts = payouts if payouts is not None else {}
        self.outcomes = outcomes
        self.results = results
        self.rules = rules
        self.inputs = inputs
        self._members = members
        self._derived = derived
        # Which outcome holds each record, and which explain it: built for chain().
        self._of_record: dict[int, Outcome] | None = None
        self._explains: dict[int, list[Outcome]] = {}

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
        """The channel transactions a derived payout adds up (empty for other records)."""
        return self._members.get(id(payout), ())

    def is_order(self, record: Record) -> bool:
        """Whether ``record`` is one of the ERP's input records (an order's payment or
        refund), not a bill, bank or derived record."""
        return id(record) in self._erp

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

    @property
    def derived(self) -> list[Record]:
        """The payouts derived from the channels' transactions (not input records)."""
        return list(self._derived)

    def breaks(self) -> list[Outcome]:
        """The outcomes that need a person: unmatched records, suggestions, rejected
        lines and differences the records do not explain (``BREAK_KINDS``)."""
        return [o for o in self.outcomes if needs_a_person(o)]

    def chain(self, ref: str) -> tuple[ChainStep, ...]:
        """The steps of the order whose ref (or ERP record id) is ``ref``: its ERP
        records, the channel records they matched, the payout those were paid out in
        and the bank credit it became, each with its hop, outcome and time."""
        wanted = [
            r
            for r in self.inputs
            if isinstance(r, Record) and id(r) in self._erp and ref in (r.ref, r.record_id)
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
                if other is not record and id(other) not in self._erp:
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
        """Counts and amounts by hop, status and kind, the breaks, and the conservation
        check (every input record in exactly one outcome, amounts equal)."""
        by_hop: dict[str, dict[str, int]] = {}
        by_status: dict[str, int] = {}
        by_kind: dict[str, dict[str, Decimal]] = {}
        kind_counts: dict[str, int] = {}
        derived = {id(r) for r in self._derived}
        counted: dict[int, int] = {}
        accounted: dict[str, Decimal] = {}
        for outcome in self.outcomes:
            hop = by_hop.setdefault(outcome.hop, {})
            hop[outcome.status] = hop.get(outcome.status, 0) + 1
            by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
            if outcome.rejected is not None:
                counted[id(outcome.rejected)] = counted.get(id(outcome.rejected), 0) + 1
            for record in outcome.records:
                if id(record) in derived:
                    continue
                counted[id(record)] = counted.get(id(record), 0) + 1
                money = record.amount
                accounted[money.currency] = accounted.get(money.currency, Decimal(0)) + money.amount
            if outcome.kind is not None:
                kind_counts[outcome.kind] = kind_counts.get(outcome.kind, 0) + 1
                totals = by_kind.setdefault(outcome.kind, {})
                for currency, value in outcome.difference.items():
                    totals[currency] = totals.get(currency, Decimal(0)) + value
        amount_in: dict[str, Decimal] = {}
        for item in self.inputs:
            if isinstance(item, Record):
                money = item.amount
                amount_in[money.currency] = amount_in.get(money.currency, Decimal(0)) + money.amount
        once = all(counted.get(id(item)) == 1 for item in self.inputs) and len(counted) == len(
            self.inputs
        )
        return {
            "by_hop": {hop: by_hop[hop] for hop in HOPS if hop in by_hop},
            "by_status": by_status,
            "by_kind": {
                kind: {"outcomes": kind_counts[kind], "difference": _text(by_kind[kind])}
                for kind in sorted(by_kind)
            },
            "breaks": len(self.breaks()),
            "records_in": len(self.inputs),
            "records_accounted": sum(counted.values()),
            "amount_in": _text(amount_in),
            "amount_accounted": _text(accounted),
            "balanced": once and _text(amount_in) == _text(accounted),
        }


def _text(totals: dict[str, Decimal]) -> dict[str, str]:
    return {currency: str(value) for currency, value in sorted(totals.items())}


def _split(items: Iterable[Record | Rejected], path: str) -> tuple[list[Record], list[Rejected]]:
    records: list[Record] = []
    rejected: list[Rejected] = []
    for position, item in enumerate(items):
        if isinstance(item, Record):
            records.append(item)
        elif isinstance(item, Rejected):
            rejected.append(item)
        else:
            raise ValidationError(f"{path}[{position}]", item, "expected a Record or a Rejected")
    return records, rejected


def _inflow(record: Record, amount: Money) -> Record:
    """How ``record`` looks from the bank: money in is matched as a ``sale``, money out
    as a ``refund`` (the bank's credits and debits are read that way)."""
    return attrs.evolve(record, amount=amount, kind="sale" if amount.amount >= 0 else "refund")


def _daily_payouts(
    channel: str, transactions: list[Record], rules: Rules, days: int
) -> list[tuple[Record, tuple[Record, ...]]]:
    """One payout per accounting day of ``transactions`` (in ``rules.tz``), due at the
    start of the day ``days`` later, for the net of the day in each currency."""
    tz = zone(rules.tz)
    groups: dict[tuple[str, str], list[Record]] = {}
    for record in transactions:
        day = record.at.astimezone(tz).date().isoformat()
        groups.setdefault((day, record.amount.currency), []).append(record)
    payouts: list[tuple[Record, tuple[Record, ...]]] = []
    for (day, currency), members in sorted(groups.items()):
        total = sum((m.amount.amount for m in members), Decimal(0))
        due = datetime.combine(
            datetime.fromisoformat(day).date() + timedelta(days=days), time(0), tzinfo=tz
        )
        payout = Record(
            channel,
            f"{channel}:{day}" + ("" if currency == "CNY" else f":{currency}"),
            None,
            Money(total, currency),
            due,
            memo=f"{channel} T+{days} payout of {day}",
            kind="settlement",
            status="derived",
        )
        payouts.append((payout, tuple(sorted(members, key=lambda r: (r.at, r.record_id)))))
    return payouts


def settle(
    erp: Iterable[Record | Rejected],
    bills: Mapping[str, Iterable[Record | Rejected]],
    bank: Iterable[Record | Rejected],
    *,
    rules: Rules | None = None,
    settlement_days: int | Mapping[str, int] = 1,
    **options: object,
) -> Settlement:
    """Reconcile the ERP, each channel's bill and the bank along the settlement chain
    (see the module docstring).

    ``bills`` maps a channel name to that channel's records; an ERP record is routed by
    its ``channel``. ``settlement_days`` is the T+n of the payouts derived for a channel
    whose bill has no payout rows (a number, or one per channel name). ``options``
    override fields of ``rules`` as in :func:`~orderkit.reconcile.reconcile`.
    """
    settings = Rules.build(rules, options)
    if not isinstance(bills, Mapping):
        raise ValidationError("bills", bills, "expected a mapping of channel name to records")
    erp_records, erp_rejected = _split(erp, "erp")
    bank_records, bank_rejected = _split(bank, "bank")
    routed: dict[str, list[Record]] = {name: [] for name in bills}
    direct: list[Record] = []
    for record in erp_records:
        if record.channel is not None and record.channel in routed:
            routed[record.channel].append(record)
        else:
            direct.append(record)
    inputs: list[Record | Rejected] = [*erp_records, *erp_rejected]
    outcomes: list[Outcome] = []
    results: dict[tuple[str, str], Reconciliation] = {}
    original: dict[int, Record] = {}
    views: list[Record] = []
    members: dict[int, tuple[Record, ...]] = {}
    derived: list[Record] = []
    payout_views: list[Record] = []
    by_channel: dict[str, list[Record]] = {}
    for name, items in bills.items():
        if not isinstance(name, str) or not name:
            raise ValidationError("bills", name, "expected a channel name")
        records, rejected = _split(items, f"bills[{name!r}]")
        inputs += [*records, *rejected]
        transactions = [r for r in records if r.kind not in PAYOUT_KINDS]
        payouts = [r for r in records if r.kind in PAYOUT_KINDS]
        result = reconcile(routed[name], [*transactions, *rejected], rules=settings)
        result.hop = "order_channel"  # its outcomes are built naming their hop
        results["order_channel", name] = result
        outcomes += result.outcomes
        if payouts:
            # The bill's own payout rows: money leaving the channel's account for the bank.
            by_channel[name] = sorted(payouts, key=lambda r: (r.at, r.record_id))
            for payout in payouts:
                view = _inflow(payout, -payout.amount)
                original[id(view)] = payout
                views.append(view)
                payout_views.append(view)
            continue
        days = settlement_days if isinstance(settlement_days, int) else settlement_days.get(name, 1)
        if not isinstance(days, int) or days < 0:
            raise ValidationError("settlement_days", days, "expected a whole number of days >= 0")
        for payout, of_payout in _daily_payouts(name, transactions, settings, days):
            by_channel.setdefault(name, []).append(payout)
            derived.append(payout)
            members[id(payout)] = of_payout
            view = _inflow(payout, payout.amount)
            original[id(view)] = payout
            views.append(view)
            payout_views.append(view)
    inputs += [*bank_records, *bank_rejected]
    bank_side: list[Record | Rejected] = []
    for record in bank_records:
        if record.kind in PAYOUT_KINDS:
            view = _inflow(record, record.amount)
            original[id(view)] = record
            views.append(view)
            bank_side.append(view)
        else:
            bank_side.append(record)
    bank_side += bank_rejected
    result = reconcile([*payout_views, *direct, *erp_rejected], bank_side, rules=settings)
    results["bank", ""] = result
    direct_ids = {id(r) for r in direct}

    def back(records: tuple[Record, ...]) -> tuple[Record, ...]:
        return tuple(original.get(id(r), r) for r in records)

    direct_names = {r.record_id for r in direct}
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
        outcomes=outcomes,
        results=results,
        members=members,
        derived=derived,
        erp=erp_records,
        inputs=inputs,
        rules=settings,
        payouts=by_channel,
    )
