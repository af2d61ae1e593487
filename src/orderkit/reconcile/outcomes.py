"""What a reconciliation produces: one :class:`Outcome` per group of records.

Every input record, and every rejected input line, ends in exactly one outcome. An
outcome names the rule that produced it, the evidence that rule used and, through
:attr:`Outcome.trace`, the path of the money across systems with the time between steps.

:class:`Reconciliation` keeps the bulk of its results compact (the exact-reference pairs
are two lists of positions) and builds :class:`Outcome` objects only when they are asked
for, so that a million matched pairs cost two integers each until somebody reads them.
The engine also hands over the totals of every other outcome (added up while it had the
records at hand), so :meth:`Reconciliation.summary` reads no record at all.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

import attrs

from orderkit.reconcile.columns import in_time_order, sales_of
from orderkit.reconcile.figures import totals_text
from orderkit.reconcile.records import Record, Rejected
from orderkit.reconcile.rules import Rules

__all__ = [
    "STATUSES",
    "Amounts",
    "Outcome",
    "Reconciliation",
    "TraceStep",
]

#: Every status an outcome can have. ``pending`` is not a break: it is not due yet.
STATUSES: Final = ("matched", "difference", "suggestion", "unmatched", "pending", "rejected")


Evidence = tuple[tuple[str, str], ...]
#: Evidence as the engine keeps it in a row, by name; :data:`Evidence` when outcomes are built.
Facts = dict[str, str]
#: Records an outcome refers to without owning them: (0 for left or 1 for right, position).
Related = tuple[tuple[int, int], ...]
#: (status, kind, left positions, right positions, rule, evidence, related)
Row = tuple[str, str | None, tuple[int, ...], tuple[int, ...], str, Facts, Related]
#: Totals by (status, kind, 0 for left or 1 for right, currency).
Amounts = dict[tuple[str, str | None, int, str], Decimal]
#: The (status, kind) of a record left alone.
Lone = tuple[str, str]
#: Which outcomes to build, by (status, kind).
Keep = Callable[[str, str | None], bool]


def _needs_a_look(status: str, _kind: str | None) -> bool:
    return status in ("difference", "suggestion", "unmatched")


@attrs.frozen
class TraceStep:
    """One hop of a trace: which record in which system, and how long after the first."""

    source: str
    record_id: str
    at: datetime
    after: timedelta

    def __str__(self) -> str:
        return f"{self.source}:{self.record_id} (+{_delta(self.after)})"


def _delta(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{sign}{days}d {text}" if days else f"{sign}{text}"


def trace_of(records: Sequence[Record]) -> tuple[TraceStep, ...]:
    """The records in time order (then source, then id), each with its offset from the first."""
    ordered = sorted(records, key=lambda r: (r.at, r.source, r.record_id))
    if not ordered:
        return ()
    first = ordered[0].at
    return tuple(TraceStep(r.source, r.record_id, r.at, r.at - first) for r in ordered)


@attrs.frozen
class Outcome:
    """One group of records and what the engine concluded about it.

    ``status`` is one of :data:`STATUSES`; ``kind`` the difference kind (``"platform_fee"``,
    ``"missing_right"``, ...) or ``None`` for a clean match; ``left`` and ``right`` the
    records of each side; ``rule`` the pass that produced it (``"exact_ref"``,
    ``"memo_ref"``, ``"amount_time"``, ``"batch"``, ``"subset_sum"``, ...) and ``evidence``
    the facts it used, as ``(name, value)`` pairs. ``related`` holds records that belong
    to other outcomes but explain this one (the sale a fee was charged on); they appear
    in the trace only. ``hop`` names the hop of the settlement chain.
    """

    status: str
    kind: str | None
    left: tuple[Record, ...]
    right: tuple[Record, ...]
    rule: str
    evidence: Evidence = ()
    rejected: Rejected | None = None
    related: tuple[Record, ...] = ()
    hop: str = ""
    """Along the settlement chain (:func:`~orderkit.reconcile.settle`), the hop this
    outcome belongs to: ``"order_channel"``, ``"channel_bank"`` or ``"order_bank"``;
    empty for a plain two-sided reconciliation."""

    @property
    def records(self) -> tuple[Record, ...]:
        """Both sides' records."""
        return self.left + self.right

    @property
    def trace(self) -> tuple[TraceStep, ...]:
        """The records (and related records) in time order, with the time since the first."""
        return trace_of(self.records + self.related)

    @property
    def difference(self) -> dict[str, Decimal]:
        """Right total minus left total, per currency (received minus receivable)."""
        out: dict[str, Decimal] = defaultdict(Decimal)
        for record in self.left:
            out[record.amount.currency] -= record.amount.amount
        for record in self.right:
            out[record.amount.currency] += record.amount.amount
        return dict(out)

    def trace_text(self) -> str:
        """``"pos:R1 (+00:00:00) -> erp:SO1 (+00:05:00) -> bank:B7 (+1d 02:00:00)"``."""
        return " -> ".join(str(step) for step in self.trace)


def _add(totals: dict[str, Decimal], records: Sequence[Record], positions: Iterable[int]) -> None:
    """Add the amounts of ``records[positions]`` into ``totals`` per currency."""
    for position in positions:
        money = records[position].amount
        totals[money.currency] = totals.get(money.currency, Decimal(0)) + money.amount


def _split_sums(
    sums: dict[tuple[str, int, str], Decimal],
) -> dict[str, tuple[dict[str, Decimal], dict[str, Decimal]]]:
    """``{(name, side, currency): total}`` as ``{name: (left totals, right totals)}``."""
    out: dict[str, tuple[dict[str, Decimal], dict[str, Decimal]]] = {}
    for (name, side, currency), value in sums.items():
        out.setdefault(name, ({}, {}))[side][currency] = value
    return out


class Reconciliation:
    """The result of :func:`orderkit.reconcile.reconcile`.

    ``outcomes`` lists every outcome (built on first access); :meth:`summary` gives
    counts and amounts by status and kind without building them. ``pair_totals`` holds
    the total of the clean exact pairs by currency and ``amounts`` the totals of every
    other outcome by ``(status, kind, side, currency)``, as the engine kept them while
    it had the records at hand; :meth:`conservation` recounts everything from the
    records, independently.
    """

    __slots__ = (
        "_amounts",
        "_lone",
        "_lone_classes",
        "_outcomes",
        "_pair_kind",
        "_pair_left",
        "_pair_right",
        "_pair_totals",
        "_rows",
        "hop",
        "left",
        "left_source",
        "rejected_left",
        "rejected_right",
        "right",
        "right_source",
        "rules",
    )

    def __init__(
        self,
        *,
        left: list[Record],
        right: list[Record],
        rejected_left: list[Rejected],
        rejected_right: list[Rejected],
        pair_left: list[int],
        pair_right: list[int],
        pair_kind: dict[int, str],
        pair_totals: dict[str, Decimal],
        rows: list[Row],
        rules: Rules,
        left_source: str,
        right_source: str,
        amounts: Amounts,
        lone: tuple[list[int], list[int]] = ([], []),
        lone_classes: tuple[list[Lone], list[Lone]] = ([], []),
    ) -> None:
        self.left = left
        self.right = right
        self.rejected_left = rejected_left
        self.rejected_right = rejected_right
        self._pair_left = pair_left
        self._pair_right = pair_right
        self._pair_kind = pair_kind
        self._pair_totals = pair_totals
        self._rows = rows
        self._amounts = amounts
        self._lone = lone
        self._lone_classes = lone_classes
        self.rules = rules
        self.left_source = left_source
        self.right_source = right_source
        self.hop = ""
        """The hop of the settlement chain the outcomes belong to (set by
        :func:`~orderkit.reconcile.settle` before they are built), else empty."""
        self._outcomes: list[Outcome] | None = None

    # --- outcomes --------------------------------------------------------------------

    def _iter_outcomes(self, keep: Keep | None = None) -> Iterator[Outcome]:
        """Every outcome in order, or only those whose ``(status, kind)`` ``keep``
        accepts: the others are never built."""
        left, right, hop = self.left, self.right, self.hop
        kinds = self._pair_kind
        if keep is None or keep("matched", None):
            numbered: Iterable[int] = range(len(self._pair_left))
        else:
            numbered = sorted(n for n, kind in kinds.items() if keep("difference", kind))
        pair_left, pair_right = self._pair_left, self._pair_right
        for n in numbered:
            i, j = pair_left[n], pair_right[n]
            kind = kinds.get(n)
            status = "matched" if kind is None else "difference"
            if keep is not None and not keep(status, kind):
                continue
            yield Outcome(
                status,
                kind,
                (left[i],),
                (right[j],),
                "exact_ref",
                (("ref", left[i].ref or ""),),
                hop=hop,
            )
        rows = (*self._rows, *self._lone_rows(keep))
        for status, kind, lpos, rpos, rule, evidence, related in rows:
            if keep is not None and not keep(status, kind):
                continue
            yield Outcome(
                status,
                kind,
                tuple(left[i] for i in lpos),
                tuple(right[j] for j in rpos),
                rule,
                tuple(evidence.items()),
                related=tuple((right if side else left)[p] for side, p in related),
                hop=hop,
            )
        if keep is not None and not keep("rejected", None):
            return
        for rejected in (*self.rejected_left, *self.rejected_right):
            yield Outcome(
                "rejected",
                None,
                (),
                (),
                "reader",
                (
                    ("file", rejected.file),
                    ("line", str(rejected.line)),
                    ("column", rejected.column),
                    ("reason", rejected.reason),
                ),
                rejected,
                hop=hop,
            )

    def _lone_rows(self, keep: Keep | None) -> list[Row]:
        """The rows of the records left alone (those ``keep`` accepts), left side then
        right, each in time order (then record id), naming the sale a lone fee, coupon or
        refund belongs to."""
        sides = (self.left, self.right)
        chosen: list[list[int]] = []
        class_of: list[dict[int, Lone]] = []
        for positions, classes in zip(self._lone, self._lone_classes, strict=True):
            if keep is not None:
                # ``keep`` is asked once per class (a side has a handful), not per record.
                kept = {c for c in set(classes) if keep(*c)}
                picked = list(map(kept.__contains__, classes))
                positions = list(itertools.compress(positions, picked))
                classes = list(itertools.compress(classes, picked))
            chosen.append(positions)
            class_of.append(dict(zip(positions, classes, strict=True)))
        wanted = {
            record.ref
            for records, positions in zip(sides, chosen, strict=True)
            for record in map(records.__getitem__, positions)
            if record.ref and record.kind != "sale"
        }
        sales = sales_of(self.left, self.right, wanted)
        rows: list[Row] = []
        for side, (records, positions) in enumerate(zip(sides, chosen, strict=True)):
            of_position = class_of[side]
            for p in in_time_order(records, positions):
                record = records[p]
                status, kind = of_position[p]
                evidence: Facts = {"ref": record.ref} if record.ref else {}
                related: Related = ()
                if record.ref and record.kind != "sale":
                    related = tuple(sales.get(record.ref, ()))
                    if related:
                        evidence["belongs_to"] = ",".join(
                            sides[s][q].record_id for s, q in related
                        )
                lpos, rpos = ((p,), ()) if side == 0 else ((), (p,))
                rows.append((status, kind, lpos, rpos, "unpaired", evidence, related))
        return rows

    @property
    def outcomes(self) -> list[Outcome]:
        """Every outcome: exact-reference pairs first, then the later passes, then rejects."""
        if self._outcomes is None:
            self._outcomes = list(self._iter_outcomes())
        return self._outcomes

    def where(self, keep: Keep) -> list[Outcome]:
        """The outcomes whose ``(status, kind)`` ``keep`` accepts, in outcome order. Only
        those are built (a month's breaks without its million clean matches)."""
        if self._outcomes is not None:
            return [o for o in self._outcomes if keep(o.status, o.kind)]
        return list(self._iter_outcomes(keep))

    def differences(self) -> list[Outcome]:
        """Outcomes that need a person: differences, suggestions and unmatched records."""
        return self.where(_needs_a_look)

    def by_kind(self) -> dict[str, list[Outcome]]:
        """Outcomes with a difference kind, grouped by it (kinds sorted by name)."""
        groups: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in self.outcomes:
            if outcome.kind is not None:
                groups[outcome.kind].append(outcome)
        return dict(sorted(groups.items()))

    def _lone_counts(self) -> Counter[Lone]:
        """How many records were left alone, by ``(status, kind)``."""
        counts: Counter[Lone] = Counter(self._lone_classes[0])
        counts.update(self._lone_classes[1])
        return counts

    def tally(self) -> tuple[Counter[tuple[str, str | None]], dict[str, dict[str, Decimal]]]:
        """How many outcomes there are by ``(status, kind)``, and the difference (right
        total minus left total, per currency) of the outcomes of each kind, from the
        engine's rows and totals: no outcome is built."""
        counts: Counter[tuple[str, str | None]] = Counter(
            ("difference", kind) for kind in self._pair_kind.values()
        )
        clean = len(self._pair_left) - len(self._pair_kind)
        if clean:
            counts["matched", None] += clean
        counts.update((row[0], row[1]) for row in self._rows)
        counts.update(self._lone_counts())
        rejected = len(self.rejected_left) + len(self.rejected_right)
        if rejected:
            counts["rejected", None] += rejected
        differences: dict[str, dict[str, Decimal]] = {}
        for (_status, kind, side, currency), value in self._amounts.items():
            if kind is not None:
                totals = differences.setdefault(kind, {})
                totals[currency] = totals.get(currency, Decimal(0)) + (value if side else -value)
        return counts, differences

    def accounted(self) -> dict[str, Decimal]:
        """The total of every record in the outcomes, per currency, from the totals the
        engine kept while it placed them (both sides of the clean pairs, then every other
        outcome): no record is read."""
        out: dict[str, Decimal] = {}
        for currency, value in self._pair_totals.items():
            out[currency] = out.get(currency, Decimal(0)) + value + value
        for (_status, _kind, _side, currency), value in self._amounts.items():
            out[currency] = out.get(currency, Decimal(0)) + value
        return out

    def records_placed(self) -> int:
        """How many records and rejected lines the outcomes hold, from the rows' lengths:
        no record is read."""
        rows = sum(len(row[2]) + len(row[3]) for row in self._rows)
        lone = len(self._lone[0]) + len(self._lone[1])
        rejected = len(self.rejected_left) + len(self.rejected_right)
        return 2 * len(self._pair_left) + rows + lone + rejected

    def placed(self) -> tuple[list[Record], list[Rejected]]:
        """Every record where the outcomes put it (a record placed twice appears twice),
        and every rejected line: for recounting without building the outcomes."""
        left, right = self.left, self.right
        rows = self._rows
        lefts = itertools.chain(
            self._pair_left, itertools.chain.from_iterable(row[2] for row in rows), self._lone[0]
        )
        rights = itertools.chain(
            self._pair_right, itertools.chain.from_iterable(row[3] for row in rows), self._lone[1]
        )
        records = [*map(left.__getitem__, lefts), *map(right.__getitem__, rights)]
        return records, [*self.rejected_left, *self.rejected_right]

    # --- summary ---------------------------------------------------------------------

    def summary(self) -> dict[str, object]:
        """Counts and amounts by status and by kind, the match rate and the conservation
        check, as a plain dict ready for JSON."""
        left, right = self.left, self.right
        # Counts come from one pass over the rows (no record is read); amounts from the
        # totals the engine kept while it had the records at hand.
        status_counts: dict[str, int] = {}
        status_records: dict[str, int] = {}
        kind_counts: dict[str, int] = {}
        status_sums: dict[tuple[str, int, str], Decimal] = {}
        kind_sums: dict[tuple[str, int, str], Decimal] = {}
        zero = Decimal(0)

        kinds_of_pairs = self._pair_kind
        clean = len(self._pair_left) - len(kinds_of_pairs)
        if clean:
            status_counts["matched"] = clean
            status_records["matched"] = 2 * clean
            for currency, value in self._pair_totals.items():
                status_sums["matched", 0, currency] = value
                status_sums["matched", 1, currency] = value
        if kinds_of_pairs:
            status_counts["difference"] = len(kinds_of_pairs)
            status_records["difference"] = 2 * len(kinds_of_pairs)
            for pair_kind in kinds_of_pairs.values():
                kind_counts[pair_kind] = kind_counts.get(pair_kind, 0) + 1
        for status, row_kind, lpos, rpos, _rule, _evidence, _related in self._rows:
            status_counts[status] = status_counts.get(status, 0) + 1
            status_records[status] = status_records.get(status, 0) + len(lpos) + len(rpos)
            if row_kind is not None:
                kind_counts[row_kind] = kind_counts.get(row_kind, 0) + 1
        for (status, lone_kind), times in self._lone_counts().items():
            # A lone record is an outcome of its own.
            status_counts[status] = status_counts.get(status, 0) + times
            status_records[status] = status_records.get(status, 0) + times
            kind_counts[lone_kind] = kind_counts.get(lone_kind, 0) + times
        for (status, of_kind, side, currency), value in self._amounts.items():
            key = (status, side, currency)
            status_sums[key] = status_sums.get(key, zero) + value
            if of_kind is not None:
                key = (of_kind, side, currency)
                kind_sums[key] = kind_sums.get(key, zero) + value
        rejected = len(self.rejected_left) + len(self.rejected_right)
        if rejected:
            status_counts["rejected"] = status_counts.get("rejected", 0) + rejected
            status_records["rejected"] = status_records.get("rejected", 0) + rejected

        statuses: dict[str, dict[str, object]] = {}
        status_amounts = _split_sums(status_sums)
        for status in STATUSES:
            if status_counts.get(status):
                left_amount, right_amount = status_amounts.get(status, ({}, {}))
                statuses[status] = {
                    "outcomes": status_counts[status],
                    "records": status_records[status],
                    "left_amount": totals_text(left_amount),
                    "right_amount": totals_text(right_amount),
                }
        kinds: dict[str, dict[str, object]] = {}
        kind_amounts = _split_sums(kind_sums)
        for kind in sorted(kind_counts):
            left_amount, right_amount = kind_amounts.get(kind, ({}, {}))
            net: dict[str, Decimal] = dict.fromkeys(right_amount, zero)
            for currency, value in right_amount.items():
                net[currency] += value
            for currency, value in left_amount.items():
                net[currency] = net.get(currency, zero) - value
            kinds[kind] = {
                "outcomes": kind_counts[kind],
                "left_amount": totals_text(left_amount),
                "right_amount": totals_text(right_amount),
                "difference": totals_text(net),
            }

        matched_records = status_records.get("matched", 0)
        paired_records = matched_records + status_records.get("difference", 0)
        total_records = len(left) + len(right) + rejected
        return {
            "left_source": self.left_source,
            "right_source": self.right_source,
            "records": {
                "left": len(left) + len(self.rejected_left),
                "right": len(right) + len(self.rejected_right),
                "rejected": rejected,
            },
            "by_status": statuses,
            "by_kind": kinds,
            "match_rate": (matched_records / total_records) if total_records else 1.0,
            "paired_rate": (paired_records / total_records) if total_records else 1.0,
            "records_accounted": sum(status_records.values()),
            "rules": {
                "amount_tolerance": None
                if self.rules.amount_tolerance is None
                else str(self.rules.amount_tolerance),
                "time_window": str(self.rules.time_window),
                "tz": self.rules.tz,
                "period": self.rules.period,
                "cutoff": None if self.rules.cutoff is None else self.rules.cutoff.isoformat(),
            },
        }

    # --- conservation ----------------------------------------------------------------

    def conservation(self) -> dict[str, object]:
        """Recount every input and every outcome independently and compare.

        ``records_in`` and ``amount_in`` come from the inputs; ``records_accounted`` and
        ``amount_accounted`` from the outcomes (each record counted where it ended).
        ``balanced`` is true when both agree, which the engine guarantees and the
        property tests check on random data.
        """
        left, right = self.left, self.right
        amount_in: dict[str, Decimal] = {}
        _add(amount_in, left, range(len(left)))
        _add(amount_in, right, range(len(right)))
        accounted: dict[str, Decimal] = {}
        _add(accounted, left, self._pair_left)
        _add(accounted, right, self._pair_right)
        records = 2 * len(self._pair_left)
        for _status, _kind, lpos, rpos, _rule, _evidence, _related in self._rows:
            _add(accounted, left, lpos)
            _add(accounted, right, rpos)
            records += len(lpos) + len(rpos)
        for side, positions in zip((left, right), self._lone, strict=True):
            _add(accounted, side, positions)
            records += len(positions)
        rejected = len(self.rejected_left) + len(self.rejected_right)
        records_in = len(left) + len(right) + rejected
        result = {
            "records_in": records_in,
            "records_accounted": records + rejected,
            "amount_in": totals_text(amount_in),
            "amount_accounted": totals_text(accounted),
        }
        result["balanced"] = (
            result["records_in"] == result["records_accounted"]
            and result["amount_in"] == result["amount_accounted"]
        )
        return result
