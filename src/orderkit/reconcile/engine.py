"""The matching engine: passes in a fixed priority, each a hash join or a sorted window.

1. ``exact_ref``: hash join on ``(ref, kind)``. Keys that occur more than once on a side
   are resolved in a small group step (equal amounts pair in time order, the rest are
   duplicates or split payments).
2. ``memo_ref``: references extracted from memos (:func:`~orderkit.reconcile.extract_refs`)
   looked up in a hash index of the other side's open refs and links. A candidate that
   points at exactly one open record with the same amount is a match; anything else is a
   ``suggestion`` and never a match.
3. ``amount_time``: the remaining records bucketed by currency, kind and amount; within a
   bucket a bisected time window; ties broken by amount distance, time distance, time,
   then record id.
4. ``batch`` then ``subset_sum``: one record against several on the other side, first by
   explicit batch or parent keys in ``links``, then a bounded subset-sum search among the
   records nearest in time (settlements covering several orders, split payments).

Whatever is left is classified on its own (:func:`~orderkit.reconcile.classify.classify_lone`).
The hot path works on positions in two lists and on the records' own strings: no
per-pair objects are created for the million pairs that match on the first pass.

At a million records a side the run is bound by memory, not by Python: one side is in
random order relative to the other, and every visit to a record of that side is a cache
miss. So each pass reads a record once, while it is at hand, and keeps what later steps
need (the totals the summary reports are added up as rows are made). The cycle collector
is paused for the run (:func:`_cycle_collection_paused`).
"""

from __future__ import annotations

import gc
import itertools
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from itertools import repeat
from operator import attrgetter, is_
from typing import Final

from orderkit.errors import ValidationError
from orderkit.money import Money
from orderkit.reconcile.classify import PeriodOf, classify_lone, classify_pair
from orderkit.reconcile.outcomes import Amounts, Evidence, Reconciliation, Related, Row
from orderkit.reconcile.records import Record, Rejected
from orderkit.reconcile.refs import extract_refs
from orderkit.reconcile.rules import Rules

__all__ = ["reconcile"]

_SEP: Final = "\x1f"
_SALE: Final = "sale"
_ZERO: Final = Decimal(0)
_REF: Final = attrgetter("ref")
_KIND: Final = attrgetter("kind")
_AT_ID: Final = attrgetter("at", "record_id")


def _split(items: Iterable[Record | Rejected], side: str) -> tuple[list[Record], list[Rejected]]:
    materialised = list(items)
    if set(map(type, materialised)) <= {Record}:
        return materialised, []  # type: ignore[return-value]
    records: list[Record] = []
    rejected: list[Rejected] = []
    for position, item in enumerate(materialised):
        if isinstance(item, Record):
            records.append(item)
        elif isinstance(item, Rejected):
            rejected.append(item)
        else:
            raise ValidationError(f"{side}[{position}]", item, "expected a Record or a Rejected")
    return records, rejected


def _key(record: Record, ref: str) -> str:
    kind = record.kind
    return ref if kind == _SALE else kind + _SEP + ref


def _order(record: Record) -> tuple[datetime, str]:
    return record.at, record.record_id


class _Engine:
    """One run. Positions index ``left``/``right``; ``*_open`` flags what is still free."""

    def __init__(self, left: list[Record], right: list[Record], rules: Rules) -> None:
        self.left = left
        self.right = right
        self.rules = rules
        self.left_open = bytearray(b"\x01") * len(left)
        self.right_open = bytearray(b"\x01") * len(right)
        self.pair_left: list[int] = []
        self.pair_right: list[int] = []
        self.pair_kind: dict[int, str] = {}
        self.clean_totals: dict[str, Decimal] = {}
        #: Totals of the rows and of the exact pairs with a difference kind, by
        #: (status, kind, side, currency); see :class:`Reconciliation`.
        self.row_amounts: Amounts = {}
        self.pair_amounts: Amounts = {}
        self.rows: list[Row] = []
        self.period_of = PeriodOf(rules.tz, rules.period)
        self._rest: dict[str, list[int]] = {}

    # --- helpers ---------------------------------------------------------------------

    def _row(
        self,
        status: str,
        kind: str | None,
        lpos: tuple[int, ...],
        rpos: tuple[int, ...],
        rule: str,
        evidence: Evidence,
        related: Related = (),
    ) -> None:
        # The row's amounts are added up now, while its records are at hand: the
        # summary then never has to visit them again (they lie scattered in memory).
        amounts = self.row_amounts
        for i in lpos:
            self.left_open[i] = 0
            money = self.left[i].amount
            key = (status, kind, 0, money.currency)
            amounts[key] = amounts.get(key, _ZERO) + money.amount
        for j in rpos:
            self.right_open[j] = 0
            money = self.right[j].amount
            key = (status, kind, 1, money.currency)
            amounts[key] = amounts.get(key, _ZERO) + money.amount
        self.rows.append((status, kind, lpos, rpos, rule, evidence, related))

    def _group(
        self, lpos: tuple[int, ...], rpos: tuple[int, ...], rule: str, evidence: Evidence
    ) -> None:
        if len(lpos) == 1 and len(rpos) == 1:
            kind = self._pair_kind(self.left[lpos[0]], self.right[rpos[0]])
            self._row("matched" if kind is None else "difference", kind, lpos, rpos, rule, evidence)
            return
        kind = classify_pair(
            tuple(self.left[i] for i in lpos),
            tuple(self.right[j] for j in rpos),
            self.rules,
            self.period_of,
        )
        self._row("matched" if kind is None else "difference", kind, lpos, rpos, rule, evidence)

    def _pair_kind(self, record: Record, other: Record) -> str | None:
        """:func:`classify_pair` for one record a side, with the common case first."""
        la = record.amount
        ra = other.amount
        if record.kind == _SALE and la.amount == ra.amount and la.currency == ra.currency:
            lat = record.at
            rat = other.at
            if (
                lat == rat
                or (
                    self.rules.period == "month"
                    and lat.month == rat.month
                    and lat.year == rat.year
                    and 1 < lat.day < 28
                    and 1 < rat.day < 28
                )
                or self.period_of(lat) == self.period_of(rat)
            ):
                return None
            return "cross_period"
        return classify_pair((record,), (other,), self.rules, self.period_of)

    def _open(self, side: str) -> list[int]:
        """Open positions of ``side`` in time order (then record id), whatever the input order.

        After the first pass few records are open, so the full scan happens once per side
        and later calls filter the short list.
        """
        flags = self.left_open if side == "left" else self.right_open
        cached = self._rest.get(side)
        if cached is None:
            records = self.left if side == "left" else self.right
            positions = list(itertools.compress(range(len(flags)), flags))
            # Sort keys read with one C-level attrgetter per record; sorting the key
            # indices is stable, so ties keep position order as sorting by key would.
            keys = list(map(_AT_ID, map(records.__getitem__, positions)))
            cached = [positions[k] for k in sorted(range(len(keys)), key=keys.__getitem__)]
        else:
            cached = [p for p in cached if flags[p]]
        self._rest[side] = cached
        return cached

    # --- pass 1: exact reference -----------------------------------------------------

    @staticmethod
    def _keys(records: list[Record]) -> tuple[list[str | None], int]:
        """Every record's join key (the ref for a sale, ``kind + SEP + ref`` otherwise)
        and how many of the records are sales.

        Built column-wise with C-level ``map`` calls: a sale-only side (the common case)
        costs one attribute read per record.
        """
        refs: list[str | None] = list(map(_REF, records))
        kinds: list[str] = list(map(_KIND, records))
        sales = kinds.count(_SALE)
        if sales == len(kinds):
            return refs, sales
        keys = [
            ref if ref is None or kind == _SALE else kind + _SEP + ref
            for ref, kind in zip(refs, kinds, strict=True)
        ]
        return keys, sales

    def exact(self) -> None:
        left, right = self.left, self.right
        right_keys, kinds_right = self._keys(right)
        # dict(zip(...)) builds the hash index in C; a repeated key keeps its last position,
        # so repeated keys are found by size and taken out to the group step.
        index: dict[str | None, int] = dict(zip(right_keys, range(len(right_keys)), strict=True))
        index.pop(None, None)
        right_multi: dict[str, list[int]] = {}
        if len(index) != len(right_keys) - _count_none(right_keys):
            repeated = {k for k, c in Counter(right_keys).items() if c > 1 and k is not None}
            for j, key in enumerate(right_keys):
                if key in repeated:
                    right_multi.setdefault(key, []).append(j)
            for key in repeated:
                del index[key]
        left_keys, kinds_left = self._keys(left)
        left_multi: dict[str, list[int]] = {}
        if right_multi:
            for i, lkey in enumerate(left_keys):
                if lkey is not None and lkey in right_multi:
                    left_multi.setdefault(lkey, []).append(i)
        # Sum of the clean pairs' amounts (equal on both sides), kept while the records
        # are at hand so the summary does not have to visit a million records again.
        totals: dict[str, Decimal] = {}
        main_currency = left[0].amount.currency if left else ""
        main_total = _ZERO
        elsewhere = 0  # clean pairs added to ``totals`` directly
        all_sales = kinds_left == len(left) and kinds_right == len(right)
        month = self.rules.period == "month"
        period_of = self.period_of
        # Month periods: the period of each UTC day that lies inside one month, looked
        # up per record with one C-level subscript. The two tables answer differently
        # for a day that straddles a month edge, so such pairs fall to ``period_of``.
        left_days = period_of.whole_days(-1)
        right_days = period_of.whole_days(-2)
        pair_kind = self.pair_kind
        pair_left: list[int] = []
        pair_right: list[int] = []
        # Left records whose partner was already claimed by an earlier left record with
        # the same key (an order entered twice), and that partner: see ``_regroup``.
        collided: dict[int, int] = {}
        left_open = self.left_open
        right_open = self.right_open
        get = index.get
        n = -1
        # The only per-record Python loop: probe, pair and classify in one visit, so each
        # record of the side in random order is read once, while it is at hand. The
        # common case (a sale, the same amount and currency, the same accounting period)
        # is settled inline; everything else goes to the checked classification.
        for i, key in enumerate(left_keys):
            partner = get(key)
            if partner is None:
                continue
            if not right_open[partner]:
                collided[i] = partner
                continue
            right_open[partner] = 0
            left_open[i] = 0
            pair_left.append(i)
            pair_right.append(partner)
            n += 1
            record = left[i]
            other = right[partner]
            la = record.amount
            ra = other.amount
            if (
                la.amount == ra.amount
                and la.currency == ra.currency
                and (all_sales or record.kind == _SALE)
            ):
                lat = record.at
                rat = other.at
                if not (
                    (month and left_days[lat.toordinal()] == right_days[rat.toordinal()])
                    or lat == rat
                    or period_of(lat) == period_of(rat)
                ):
                    pair_kind[n] = "cross_period"
                    _add_pair(self.pair_amounts, "cross_period", la, ra)
                elif la.currency == main_currency:
                    main_total += la.amount
                else:
                    totals[la.currency] = totals.get(la.currency, _ZERO) + la.amount
                    elsewhere += 1
            else:
                outcome = classify_pair((record,), (other,), self.rules, period_of)
                if outcome is not None:
                    pair_kind[n] = outcome
                    _add_pair(self.pair_amounts, outcome, la, ra)
                else:
                    totals[la.currency] = totals.get(la.currency, _ZERO) + la.amount
                    elsewhere += 1
        if len(pair_left) - len(pair_kind) > elsewhere:  # a clean pair in main_currency
            totals[main_currency] = totals.get(main_currency, _ZERO) + main_total
        self.pair_left, self.pair_right = pair_left, pair_right
        self.clean_totals = totals
        if collided:
            self._regroup(collided, left_keys, right_multi, left_multi)
        for key in sorted(right_multi):
            self._exact_group(key, left_multi.get(key, []), right_multi[key])

    def _regroup(
        self,
        collided: dict[int, int],
        left_keys: list[str | None],
        right_multi: dict[str, list[int]],
        left_multi: dict[str, list[int]],
    ) -> None:
        """Take back the pairs whose key turned out to repeat on the left.

        Rare (an order entered twice), so it is handled after the loop instead of
        checking every key for repeats up front.
        """
        position_of = {j: n for n, j in enumerate(self.pair_right)}
        voided: set[int] = set()
        for i, j in collided.items():  # in left order, as they were found
            key = left_keys[i]
            assert key is not None
            if key not in right_multi:
                pos = position_of[j]
                voided.add(pos)
                right_multi[key] = [j]
                left_multi[key] = [self.pair_left[pos]]
                self.left_open[self.pair_left[pos]] = 1
                self.right_open[j] = 1
            left_multi[key].append(i)
        for pos in voided:
            if pos not in self.pair_kind:
                amount = self.left[self.pair_left[pos]].amount
                self.clean_totals[amount.currency] -= amount.amount
        kept = [n for n in range(len(self.pair_left)) if n not in voided]
        self.pair_kind = {
            new: self.pair_kind[old] for new, old in enumerate(kept) if old in self.pair_kind
        }
        self.pair_left = [self.pair_left[n] for n in kept]
        self.pair_right = [self.pair_right[n] for n in kept]
        self.pair_amounts = {}
        for n, kind in self.pair_kind.items():
            _add_pair(
                self.pair_amounts,
                kind,
                self.left[self.pair_left[n]].amount,
                self.right[self.pair_right[n]].amount,
            )

    def _exact_group(self, key: str, lpos: list[int], rpos: list[int]) -> None:
        left, right = self.left, self.right
        ls = sorted(lpos, key=lambda i: _order(left[i]))
        rs = sorted(rpos, key=lambda j: _order(right[j]))
        paired_left: dict[tuple[Decimal, str], str] = {}
        paired_right: dict[tuple[Decimal, str], str] = {}
        rest_left: list[int] = []
        for i in ls:
            amount = left[i].amount
            for n, j in enumerate(rs):
                if right[j].amount == amount:
                    del rs[n]
                    self._group((i,), (j,), "exact_ref", (("ref", key.split(_SEP)[-1]),))
                    value = (amount.amount, amount.currency)
                    paired_left.setdefault(value, left[i].record_id)
                    paired_right.setdefault(value, right[j].record_id)
                    break
            else:
                rest_left.append(i)
        rest_right: list[int] = []
        for i in rest_left:
            amount = left[i].amount
            original = paired_left.get((amount.amount, amount.currency))
            if original is not None:
                self._row(
                    "difference", "duplicate", (i,), (), "exact_ref", (("duplicate_of", original),)
                )
        for j in rs:
            amount = right[j].amount
            original = paired_right.get((amount.amount, amount.currency))
            if original is not None:
                self._row(
                    "difference", "duplicate", (), (j,), "exact_ref", (("duplicate_of", original),)
                )
            else:
                rest_right.append(j)
        rest_left = [i for i in rest_left if self.left_open[i]]
        ref = key.split(_SEP)[-1]
        if rest_left and rest_right and (len(rest_left) == 1 or len(rest_right) == 1):
            many = len(rest_left) > 1 or len(rest_right) > 1
            self._group(
                tuple(rest_left),
                tuple(rest_right),
                "split_payment" if many else "exact_ref",
                (("ref", ref),),
            )

    # --- pass 2: references in memos -------------------------------------------------

    def memos(self, memo_side: str) -> None:
        other_side = "left" if memo_side == "right" else "right"
        memo_records = self.left if memo_side == "left" else self.right
        others = self.left if other_side == "left" else self.right
        memo_open = self.left_open if memo_side == "left" else self.right_open
        other_open = self.left_open if other_side == "left" else self.right_open
        candidates = [p for p in self._open(memo_side) if memo_records[p].memo]
        if not candidates:
            return
        index: dict[str, list[int]] = {}
        for p in self._open(other_side):
            record = others[p]
            for ref in (record.ref, *record.links):
                if ref:
                    index.setdefault(_key(record, ref), []).append(p)
        if not index:
            return
        for p in candidates:  # already in time order
            if not memo_open[p]:
                continue
            record = memo_records[p]
            prefix = "" if record.kind == _SALE else record.kind + _SEP
            hits: list[int] = []
            matched_tokens: list[str] = []
            for token in extract_refs(record.memo):
                for q in index.get(prefix + token, ()):
                    if other_open[q] and q not in hits:
                        hits.append(q)
                        matched_tokens.append(token)
            if not hits:
                continue
            evidence: Evidence = (
                ("memo", record.memo),
                ("tokens", ",".join(matched_tokens)),
                ("candidates", ",".join([others[q].record_id for q in hits])),
            )
            lone: tuple[int, ...] = (p,)
            if len(hits) == 1 and others[hits[0]].amount == record.amount:
                pair = (hits[0],)
                lpos, rpos = (lone, pair) if memo_side == "left" else (pair, lone)
                self._group(lpos, rpos, "memo_ref", evidence)
            else:
                lpos, rpos = (lone, ()) if memo_side == "left" else ((), lone)
                self._row("suggestion", None, lpos, rpos, "memo_ref", evidence)

    # --- pass 3: amount and time window ---------------------------------------------

    def amount_time(self) -> None:
        left, right = self.left, self.right
        right_open = self.right_open
        buckets: dict[tuple[str, str], dict[Decimal, list[tuple[float, str, int]]]] = {}
        for j in self._open("right"):
            record = right[j]
            group = buckets.setdefault((record.amount.currency, record.kind), {})
            group.setdefault(record.amount.amount, []).append(
                (record.at.timestamp(), record.record_id, j)
            )
        if not buckets:
            return
        amounts: dict[tuple[str, str], list[Decimal]] = {}
        for name, group in buckets.items():
            for entries in group.values():
                entries.sort()
            amounts[name] = sorted(group)
        window = self.rules.time_window.total_seconds()
        for i in self._open("left"):  # already in time order
            record = left[i]
            name = (record.amount.currency, record.kind)
            keys = amounts.get(name)
            if not keys:
                continue
            group = buckets[name]
            value = record.amount.amount
            tolerance = self.rules.tolerance(record.amount.currency)
            ts = record.at.timestamp()
            best: tuple[Decimal, float, float, str, int] | None = None
            for amount in keys[
                bisect_left(keys, value - tolerance) : bisect_right(keys, value + tolerance)
            ]:
                entries = group[amount]
                start = bisect_left(entries, (ts - window,))
                for when, record_id, j in entries[start:]:
                    if when > ts + window:
                        break
                    if not right_open[j]:
                        continue
                    other = right[j]
                    if record.ref and other.ref and record.ref != other.ref:
                        continue
                    score = (abs(amount - value), abs(when - ts), when, record_id, j)
                    if best is None or score < best:
                        best = score
            if best is not None:
                j = best[4]
                self._group(
                    (i,),
                    (j,),
                    "amount_time",
                    (
                        ("time_difference", str(right[j].at - record.at)),
                        ("window", str(self.rules.time_window)),
                    ),
                )

    # --- pass 4: one-to-many and many-to-one -----------------------------------------

    def batches(self) -> None:
        for parent_side in ("right", "left"):
            child_side = "left" if parent_side == "right" else "right"
            parents = self.right if parent_side == "right" else self.left
            children = self.left if child_side == "left" else self.right
            parent_open = self.right_open if parent_side == "right" else self.left_open
            child_open = self.left_open if child_side == "left" else self.right_open
            parent_index: dict[str, int] = {}
            for p in self._open(parent_side):
                record = parents[p]
                for name in (record.ref, record.record_id):
                    if name:
                        parent_index.setdefault(name, p)
            child_refs: dict[str, list[int]] = {}
            groups: dict[int, list[int]] = {}
            for c in self._open(child_side):
                record = children[c]
                if record.ref:
                    child_refs.setdefault(record.ref, []).append(c)
                for link in record.links:
                    parent = parent_index.get(link)
                    if parent is not None:
                        groups.setdefault(parent, []).append(c)
            for p in self._open(parent_side):
                for link in parents[p].links:
                    for c in child_refs.get(link, ()):
                        members = groups.setdefault(p, [])
                        if c not in members:
                            members.append(c)
            for p in sorted(groups, key=lambda p: _order(parents[p])):
                members = sorted(
                    (c for c in dict.fromkeys(groups[p]) if child_open[c]),
                    key=lambda c: _order(children[c]),
                )
                if not members or not parent_open[p]:
                    continue
                if any(children[c].amount.currency != parents[p].amount.currency for c in members):
                    continue
                evidence: Evidence = (
                    ("batch", parents[p].ref or parents[p].record_id),
                    ("members", ",".join(children[c].record_id for c in members)),
                )
                if parent_side == "right":
                    self._group(tuple(members), (p,), "batch", evidence)
                else:
                    self._group((p,), tuple(members), "batch", evidence)

    def subset_sums(self) -> None:
        for target_side in ("right", "left"):
            self._subset_side(target_side)

    def _subset_side(self, target_side: str) -> None:
        pool_side = "left" if target_side == "right" else "right"
        targets = self.right if target_side == "right" else self.left
        pool = self.left if pool_side == "left" else self.right
        target_open = self.right_open if target_side == "right" else self.left_open
        pool_open = self.left_open if pool_side == "left" else self.right_open
        lanes: dict[tuple[str, str], _Lane] = {}
        # Each pool record is a candidate for many targets: scale its amount once.
        scaled_of: dict[int, int | None] = {}
        for q in self._open(pool_side):
            record = pool[q]
            lane = lanes.get((record.amount.currency, record.kind))
            if lane is None:
                lane = lanes[(record.amount.currency, record.kind)] = _Lane()
            lane.add((record.at.timestamp(), record.record_id, q), record.ref)
            scaled_of[q] = _scaled(record.amount.amount)
        if not lanes:
            return
        for lane in lanes.values():
            lane.sort()
        window = self.rules.time_window.total_seconds()
        limit = self.rules.max_candidates
        for p in self._open(target_side):  # already in time order
            if not target_open[p]:
                continue
            record = targets[p]
            found = lanes.get((record.amount.currency, record.kind))
            if not found:
                continue
            nearest = found.nearest(record.at.timestamp(), window, limit, pool_open, record.ref)
            if len(nearest) < 2:
                continue
            goal = _scaled(record.amount.amount)
            values = list(map(scaled_of.__getitem__, nearest))
            if goal is None or None in values:
                continue
            chosen = _subset_scaled(goal, nearest, values, self.rules.max_group)  # type: ignore[arg-type]
            if chosen is None:
                continue
            members = tuple(sorted(chosen, key=lambda q: _order(pool[q])))
            evidence: Evidence = (
                ("members", ",".join(pool[q].record_id for q in members)),
                ("window", str(self.rules.time_window)),
            )
            if target_side == "right":
                self._group(members, (p,), "subset_sum", evidence)
            else:
                self._group((p,), members, "subset_sum", evidence)

    # --- what is left ----------------------------------------------------------------

    def leftovers(self) -> None:
        rules = self.rules
        lone_left = self._open("left")
        lone_right = self._open("right")
        wanted = {
            r.ref
            for r in itertools.chain(
                (self.left[i] for i in lone_left), (self.right[j] for j in lone_right)
            )
            if r.kind != _SALE and r.ref
        }
        # The sale each lone fee, subsidy or refund belongs to (one scan, only if needed).
        sales: dict[str, list[tuple[int, int]]] = {}
        if wanted:
            for side, records in ((0, self.left), (1, self.right)):
                for p, record in enumerate(records):
                    if record.kind == _SALE and record.ref in wanted:
                        sales.setdefault(record.ref, []).append((side, p))
            for found in sales.values():
                found.sort(
                    key=lambda sp: (sp[0], _order((self.right if sp[0] else self.left)[sp[1]]))
                )
        for side_name, positions in (("left", lone_left), ("right", lone_right)):
            records = self.left if side_name == "left" else self.right
            for p in positions:  # already in time order
                record = records[p]
                related: Related = ()
                sale_amount: Decimal | None = None
                if record.ref and record.kind != _SALE:
                    related = tuple(sales.get(record.ref, ()))
                    if related:
                        side, q = related[0]
                        sale_amount = (self.right if side else self.left)[q].amount.amount
                status, kind = classify_lone(
                    record, side=side_name, sale_amount=sale_amount, rules=rules
                )
                evidence: Evidence = (("ref", record.ref),) if record.ref else ()
                if related:
                    evidence += (
                        (
                            "belongs_to",
                            ",".join(
                                (self.right if side else self.left)[q].record_id
                                for side, q in related
                            ),
                        ),
                    )
                lpos, rpos = ((p,), ()) if side_name == "left" else ((), (p,))
                self._row(status, kind, lpos, rpos, "unpaired", evidence, related)


def _add_pair(amounts: Amounts, kind: str, left: Money, right: Money) -> None:
    """Add an exact pair with a difference ``kind`` into ``amounts``."""
    key = ("difference", kind, 0, left.currency)
    amounts[key] = amounts.get(key, _ZERO) + left.amount
    key = ("difference", kind, 1, right.currency)
    amounts[key] = amounts.get(key, _ZERO) + right.amount


def _count_none(items: list[str | None]) -> int:
    """How many items are ``None``, by identity only (``list.count`` would compare every
    string with ``None`` through ``__eq__``, reading each string object)."""
    return bytes(map(is_, items, repeat(None))).count(1)


_Entry = tuple[float, str, int]


class _Lane:
    """The open pool records of one currency and kind, for the subset-sum search.

    Each entry is ``(timestamp, record_id, position)`` sorted by time. A target with a
    ref may only take records with no ref or with the same ref, so the lane is kept split
    by ref: the target looks at the ref-less records and at its own ref's records instead
    of skipping every other ref inside its window (which made the pass quadratic in the
    number of unpaired records). :meth:`nearest` then walks outward from the target's
    time and stops once no closer record can follow, instead of sorting the whole window.
    """

    __slots__ = ("by_ref", "entries", "free")

    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        self.free: list[_Entry] = []
        self.by_ref: dict[str, list[_Entry]] = {}

    def __bool__(self) -> bool:
        return bool(self.entries)

    def add(self, entry: _Entry, ref: str | None) -> None:
        self.entries.append(entry)
        if ref:
            self.by_ref.setdefault(ref, []).append(entry)
        else:
            self.free.append(entry)

    def sort(self) -> None:
        self.entries.sort()
        self.free.sort()
        for entries in self.by_ref.values():
            entries.sort()

    def nearest(
        self, ts: float, window: float, limit: int, open_flags: bytearray, ref: str | None
    ) -> list[int]:
        """Up to ``limit`` open positions nearest to ``ts`` within ``window`` that ``ref``
        may take, ordered by time distance, then time, then record id."""
        if not ref:
            found = _walk(self.entries, ts, window, limit, open_flags)
        else:
            found = _walk(self.free, ts, window, limit, open_flags)
            own = self.by_ref.get(ref)
            if own:
                found += _walk(own, ts, window, limit, open_flags)
                found.sort()
        return [q for *_rest, q in found[:limit]]


def _walk(
    entries: list[_Entry], ts: float, window: float, limit: int, open_flags: bytearray
) -> list[tuple[float, float, str, int]]:
    """The ``limit`` open entries nearest to ``ts`` within ``window`` (plus any tied with
    the last of them), sorted by ``(distance, time, record id, position)``.

    Entries are visited from ``ts`` outward in order of distance, so once ``limit`` open
    entries are found only ties can still qualify.
    """
    low = bisect_left(entries, (ts - window,))
    high = bisect_right(entries, (ts + window, "\U0010ffff"))
    down = bisect_left(entries, (ts,), low, high) - 1
    up = down + 1
    found: list[tuple[float, float, str, int]] = []
    worst: float | None = None
    while down >= low or up < high:
        if up >= high or (down >= low and ts - entries[down][0] <= entries[up][0] - ts):
            when, record_id, q = entries[down]
            down -= 1
        else:
            when, record_id, q = entries[up]
            up += 1
        distance = abs(when - ts)
        if worst is not None and distance > worst:
            break
        if open_flags[q]:
            found.append((distance, when, record_id, q))
            if worst is None and len(found) >= limit:
                worst = distance
    found.sort()
    return found


def _scaled(amount: Decimal) -> int | None:
    """``amount`` in millionths as an int (hashing ints is far cheaper than Decimals)."""
    scaled = amount.scaleb(6)
    integral = scaled.to_integral_value()
    return int(integral) if integral == scaled else None


def _subset(
    target: Decimal, candidates: list[tuple[int, Decimal]], max_group: int
) -> tuple[int, ...] | None:
    """The first group (smallest size, then candidate order) whose amounts sum to ``target``.

    ``candidates`` are ``(position, amount)``; the group is returned as positions. Amounts
    that are not whole millionths are not searched (``None``).
    """
    goal = _scaled(target)
    values = [_scaled(amount) for _q, amount in candidates]
    if goal is None or None in values:
        return None
    positions = [q for q, _amount in candidates]
    return _subset_scaled(goal, positions, values, max_group)  # type: ignore[arg-type]


def _subset_scaled(
    goal: int, candidates: list[int], values: list[int], max_group: int
) -> tuple[int, ...] | None:
    """:func:`_subset` on amounts already scaled to ints (``values[k]`` is the amount of
    ``candidates[k]``).

    Each size ``k`` enumerates the ``k-1`` combinations and finds the last member with one
    hash lookup, so the search costs ``C(n, k-1)`` steps instead of ``C(n, k)``. The sums
    and lookups run in C (``map`` over ``itertools.combinations``); Python only looks at
    the combinations whose remainder is one of the candidates' amounts.
    """
    positions: dict[int, list[int]] = {}
    for index, value in enumerate(values):
        positions.setdefault(value, []).append(index)
    count = len(values)
    for size in range(2, max_group + 1):
        rests = map(goal.__sub__, map(sum, itertools.combinations(values, size - 1)))
        found = list(map(positions.get, rests))
        combos = itertools.combinations(range(count), size - 1)
        # Both combination streams run in the same (lexicographic) order.
        for combo, indices in itertools.compress(zip(combos, found, strict=True), found):
            for index in indices or ():
                if index > combo[-1]:
                    return tuple(candidates[c] for c in (*combo, index))
    return None


def reconcile(
    left: Iterable[Record | Rejected],
    right: Iterable[Record | Rejected],
    *,
    rules: Rules | None = None,
    **options: object,
) -> Reconciliation:
    """Match two sides and classify every difference.

    ``left`` is usually the book of record (ERP), ``right`` the money side (bank, payment
    gateway, settlement). Either may contain :class:`Rejected` inputs from a reader; they
    are reported, not matched. ``options`` override fields of ``rules`` (see
    :class:`Rules`): ``amount_tolerance``, ``time_window``, ``tz``, ``period``,
    ``cutoff``, ``refund_delay``, ``max_group``, ``max_candidates``.
    """
    settings = Rules.build(rules, options)
    with _cycle_collection_paused():
        left_records, left_rejected = _split(left, "left")
        right_records, right_rejected = _split(right, "right")
        engine = _Engine(left_records, right_records, settings)
        engine.exact()
        engine.memos("right")
        engine.memos("left")
        engine.amount_time()
        engine.batches()
        engine.subset_sums()
        engine.leftovers()
    return Reconciliation(
        left=left_records,
        right=right_records,
        rejected_left=left_rejected,
        rejected_right=right_rejected,
        pair_left=engine.pair_left,
        pair_right=engine.pair_right,
        pair_kind=engine.pair_kind,
        pair_totals=engine.clean_totals,
        rows=engine.rows,
        amounts=_merged(engine.row_amounts, engine.pair_amounts),
        rules=settings,
        left_source=_source_name(left_records, left_rejected, "left"),
        right_source=_source_name(right_records, right_rejected, "right"),
    )


def _merged(first: Amounts, second: Amounts) -> Amounts:
    merged = dict(first)
    for key, value in second.items():
        merged[key] = merged.get(key, _ZERO) + value
    return merged


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector for the run, and restore it whatever happens.

    The engine builds only acyclic containers (position lists, index dicts, row tuples),
    which reference counting frees on its own, but it builds them by the hundred
    thousand while the caller's million records sit in the collector's generations: each
    automatic collection then walks young lists of a million entries for nothing.
    ``gc.disable`` is process-wide; if the collector was already off (the caller paused
    it, or another thread's run did), it is left as found.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _source_name(records: list[Record], rejected: list[Rejected], default: str) -> str:
    if records:
        return records[0].source
    if rejected:
        return rejected[0].source
    return default
