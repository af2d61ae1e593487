"""The matching engine: passes in a fixed priority, each a hash join or a sorted window.

0. ``exchange``: before any pass, the legs of an exchange (category ``exchange``: the
   refund of goods returned and the payment of their replacement, both internal) are
   set apart and paired with each other on their own side by reference
   (:mod:`~orderkit.reconcile.exchanges`); they are never looked for on the other side.
1. ``exact_ref``: hash join on ``(ref, kind)``. Keys that occur more than once on a side
   are resolved in a small group step (equal amounts pair in time order, the rest are
   duplicates or split payments).
2. ``shared_link``: a hash join on the ids both systems carry (refs and links, and the
   Tmall order number inside ``T200P<tid>``); only a pair that is each other's only
   candidate is matched.
3. ``memo_ref``: references extracted from memos (:func:`~orderkit.reconcile.extract_refs`)
   looked up in a hash index of the other side's open refs and links. When the open
   records a memo names add up to its amount within the rounding tolerance (one record,
   or several orders paid in one credit), they are matched; anything else is a
   ``suggestion`` and never a match.
4. ``amount_time``: the remaining records bucketed by currency, kind and amount; within a
   bucket a bisected time window. A pair is matched only when each is the other's only
   candidate; every record with a choice is a ``suggestion`` naming its candidates.
5. ``batch`` then ``subset_sum``: one record against several on the other side, first by
   explicit batch or parent keys in ``links``, then a bounded subset-sum search among the
   records nearest in time (settlements covering several orders, split payments).

The time window of passes 4 and 5 is symmetric, except for a left record given a
``not_before`` instant (:func:`reconcile_split`): no right record earlier than that may
pair with it by time. A payout cannot reach the bank before it is due.

Right after the exact pass, the open records no later pass can pair (their kind has no
open record on the other side, and no id ties them to one for the batch pass: a bill's
fee lines) are set aside in one column-wise step. Whatever is left at the end, set aside
or not, is classified on columns (:func:`~orderkit.reconcile.classify.classify_lone`);
its outcomes are built when read.
The hot path works on positions in two lists and on the records' own strings: no
per-pair objects are created for the million pairs that match on the first pass.

The exact pass, which settles most records, works on columns: each side's keys,
amounts, currencies and accounting periods are read once, in that side's own order, with
C-level ``map`` calls, and the pairs are compared column against column. A pair whose
columns agree (equal amounts in one currency, one accounting period) is a clean
match, which is what :func:`~orderkit.reconcile.classify.classify_pair` says of
it (a refund pair also needs its two sides within ``refund_delay``); every other pair
is classified by ``classify_pair`` itself. Later passes read a
record while it is at hand and keep what later steps need (the totals the summary
reports are added up as rows are made).
"""

from __future__ import annotations

import itertools
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from itertools import repeat
from operator import add, attrgetter, eq, is_, lt, not_, or_
from typing import Final

from orderkit.model.money import Money
from orderkit.reconcile.classify import PeriodOf, classify_lone, classify_pair
from orderkit.reconcile.columns import in_time_order, sales_of, split
from orderkit.reconcile.exchanges import legs_of, moved, pair_exchanges, set_apart
from orderkit.reconcile.figures import duration_text
from orderkit.reconcile.outcomes import Amounts, Facts, Reconciliation, Row
from orderkit.reconcile.records import KINDS, Record, Rejected
from orderkit.reconcile.refs import extract_refs, linked_ids
from orderkit.reconcile.rules import Rules

__all__ = ["reconcile"]

_SEP: Final = "\x1f"
_SALE: Final = "sale"
_REFUND: Final = "refund"
_ZERO: Final = Decimal(0)
_REF: Final = attrgetter("ref")
_KIND: Final = attrgetter("kind")
_AT: Final = attrgetter("at")
_MEMO: Final = attrgetter("memo")
_RECORD_ID: Final = attrgetter("record_id")
_LINKS: Final = attrgetter("links")
_AMOUNT: Final = attrgetter("amount.amount")
_CURRENCY: Final = attrgetter("amount.currency")
#: What a record's kind puts before its ref in a join key.
_PREFIX: Final = {kind: "" if kind == _SALE else kind + _SEP for kind in KINDS}
#: Turns "found" flags into "still open" flags.
_FLIP: Final = bytes.maketrans(b"\x00\x01", b"\x01\x00")


def _key(record: Record, ref: str) -> str:
    kind = record.kind
    return ref if kind == _SALE else kind + _SEP + ref


def _order(record: Record) -> tuple[datetime, str]:
    return record.at, record.record_id


class _Engine:
    """One run. Positions index ``left``/``right``; ``*_open`` flags what is still free."""

    def __init__(
        self,
        left: list[Record],
        right: list[Record],
        rules: Rules,
        not_before: Mapping[int, datetime] | None = None,
        due: Mapping[int, datetime] | None = None,
    ) -> None:
        self.left = left
        self.right = right
        self.rules = rules
        #: Left position -> the earliest timestamp of a right record that may pair with
        #: it by time (the amount-and-time and subset-sum passes); unbounded when absent.
        self.not_before: dict[int, float] = {
            i: at.timestamp() for i, at in (not_before or {}).items()
        }
        #: Left position -> the instant it is due, when that is not its own time (a
        #: payout whose bank credit is expected later): decides ``pending``.
        self.due: Mapping[int, datetime] = due if due is not None else {}
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
        #: Each side's kind column (read by the exact pass).
        self.kinds: tuple[list[str], list[str]] = ([], [])
        #: Records no later pass can pair, closed by :meth:`set_aside` (left, right).
        self.aside: tuple[list[int], list[int]] = ([], [])
        #: The lone records of each side, and the (status, kind) of each.
        self.lone: tuple[list[int], list[int]] = ([], [])
        self.lone_classes: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ([], [])

    # --- helpers ---------------------------------------------------------------------

    def _row(
        self,
        status: str,
        kind: str | None,
        lpos: tuple[int, ...],
        rpos: tuple[int, ...],
        rule: str,
        evidence: Facts,
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
        self.rows.append((status, kind, lpos, rpos, rule, evidence, ()))

    def _group(
        self, lpos: tuple[int, ...], rpos: tuple[int, ...], rule: str, evidence: Facts
    ) -> None:
        kind = classify_pair(
            tuple(self.left[i] for i in lpos),
            tuple(self.right[j] for j in rpos),
            self.rules,
            self.period_of,
        )
        self._row("matched" if kind is None else "difference", kind, lpos, rpos, rule, evidence)

    def _sides(self, side: str) -> tuple[list[Record], bytearray, list[Record], bytearray]:
        """``(records, open flags)`` of ``side`` (``"left"`` or ``"right"``), then of the
        other side: the passes that work from either side start here."""
        if side == "left":
            return self.left, self.left_open, self.right, self.right_open
        return self.right, self.right_open, self.left, self.left_open

    def _open(self, side: str) -> list[int]:
        """Open positions of ``side`` in time order (then record id), whatever the input order.

        After the first pass few records are open, so the full scan happens once per side
        and later calls filter the short list.
        """
        records, flags, _, _ = self._sides(side)
        cached = self._rest.get(side)
        if cached is None:
            cached = in_time_order(records, list(itertools.compress(range(len(flags)), flags)))
        else:
            cached = [p for p in cached if flags[p]]
        self._rest[side] = cached
        return cached

    # --- pass 1: exact reference -----------------------------------------------------

    def exact(self) -> None:
        """Pair every key that occurs once on each side; hand repeated keys to the group step.

        The join runs column-wise, in C-level ``map`` calls, and reads each record of a
        side in that side's own (memory) order: the keys are read once per record into a
        column, the right side's keys become a hash index and the left side's keys probe
        it. :meth:`_classify_pairs` then classifies the pairs on columns too.

        A key holds its record's kind, so a record whose kind the other side does not
        have at all (a bill's fee lines against the orders) can never pair here: such
        records never enter the join, and none of their columns is read. The join works
        on the positions of the others and its results are put back in place.
        """
        left, right = self.left, self.right
        left_kinds: list[str] = list(map(_KIND, left))
        right_kinds: list[str] = list(map(_KIND, right))
        self.kinds = (left_kinds, right_kinds)
        left_at = _of_kinds(left_kinds, set(right_kinds))
        right_at = _of_kinds(right_kinds, set(left_kinds))
        jleft = left if left_at is None else list(map(left.__getitem__, left_at))
        jright = right if right_at is None else list(map(right.__getitem__, right_at))
        jleft_kinds = left_kinds if left_at is None else list(map(left_kinds.__getitem__, left_at))
        jright_kinds = (
            right_kinds if right_at is None else list(map(right_kinds.__getitem__, right_at))
        )
        nl, nr = len(jleft), len(jright)
        right_keys = _keys(list(map(_REF, jright)), jright_kinds)
        left_keys = _keys(list(map(_REF, jleft)), jleft_kinds)
        index: dict[str | None, int] = dict(zip(right_keys, range(nr), strict=True))
        # A repeated key keeps its last position in the index; ``nr`` stands for "none".
        index.pop(None, None)
        partners = array("q", map(index.get, left_keys, repeat(nr)))
        found, pair_right, right_open = _join(partners, nr)
        right_multi = self._repeated(index, right_keys, right_open, pair_right)
        left_multi: dict[str, list[int]] = {}
        if right_multi:
            for i in itertools.compress(range(nl), map(right_multi.__contains__, left_keys)):
                key = left_keys[i]
                assert key is not None
                left_multi.setdefault(key, []).append(i)
                partners[i] = nr  # the group step decides these
            found, pair_right, right_open = _join(partners, nr)
        pair_left = list(itertools.compress(range(nl), found))
        self._classify_pairs(jleft, jright, partners, found, jleft_kinds, pair_left)
        # Back to the positions of the whole sides (the order of the pairs is kept).
        if left_at is None:
            self.left_open = bytearray(found.translate(_FLIP))
        else:
            pair_left = list(map(left_at.__getitem__, pair_left))
            self.left_open = _open_but(len(left), pair_left)
            left_multi = {k: list(map(left_at.__getitem__, v)) for k, v in left_multi.items()}
        if right_at is None:
            self.right_open = right_open
        else:
            pair_right = list(map(right_at.__getitem__, pair_right))
            self.right_open = _open_but(len(right), pair_right)
            right_multi = {k: list(map(right_at.__getitem__, v)) for k, v in right_multi.items()}
        self.pair_left = pair_left
        self.pair_right = pair_right
        for key in sorted(right_multi):
            self._exact_group(key, left_multi.get(key, []), right_multi[key])

    def _repeated(
        self,
        index: dict[str | None, int],
        right_keys: list[str | None],
        right_open: bytearray,
        pair_right: list[int],
    ) -> dict[str, list[int]]:
        """The keys that occur more than once on the right, or more than once on the left
        with a right partner, each with its right positions (in position order).

        Rare (an order entered or paid twice), so found after the join instead of
        counting every key first: a repeated right key left its earlier positions open
        (only the last is in the index), and a repeated left key made two pairs share
        one right record.
        """
        multi: dict[str, list[int]] = {}
        for j in itertools.compress(range(len(right_open)), right_open):
            key = right_keys[j]
            if key is not None and index[key] != j:
                multi.setdefault(key, []).append(j)
        if right_open.count(0) != len(pair_right):
            for j, times in Counter(pair_right).items():
                if times > 1:
                    key = right_keys[j]
                    assert key is not None
                    multi.setdefault(key, [])
        for key, positions in multi.items():
            positions.append(index[key])
            positions.sort()
        return multi

    def _classify_pairs(
        self,
        left: list[Record],
        right: list[Record],
        partners: array[int],
        found: bytes,
        left_kinds: list[str],
        pair_left: list[int],
    ) -> None:
        """Give every 1:1 pair the kind :func:`classify_pair` gives it, and keep the totals.

        A pair whose columns agree (equal amounts in one currency, one accounting period)
        is a clean match when it is not a refund pair, or when it is one whose two sides
        are within ``refund_delay``: every rule of ``classify_pair`` needs a difference
        in one of those. The columns are compared column against column, with no record
        read in the other side's order; only the refund pairs (a few in a hundred) have
        their two instants compared, one by one. The other pairs (those with a real
        difference, a few in a thousand in a month's data) are classified by
        ``classify_pair``.

        ``left`` and ``right`` are the records in the join (``partners`` and
        ``pair_left`` index them); a pair is numbered by its place in ``pair_left``.
        """
        nl = len(left)
        period_of = self.period_of
        # Each right column ends with a value no left value equals: the "partner" of a
        # left record that has none.
        left_amounts: list[Decimal] = list(map(_AMOUNT, left))
        right_amounts: list[Decimal | None] = list(map(_AMOUNT, right))
        right_amounts.append(None)
        left_currencies: list[str] = list(map(_CURRENCY, left))
        right_currencies: list[str | None] = list(map(_CURRENCY, right))
        right_currencies.append(None)
        left_periods = period_of.column(list(map(_AT, left)))
        right_periods: list[int | None] = list(period_of.column(list(map(_AT, right))))
        right_periods.append(None)
        agree = found
        for left_column, right_column in (
            (left_amounts, right_amounts),
            (left_currencies, right_currencies),
            (left_periods, right_periods),
        ):
            same = bytes(map(eq, left_column, map(right_column.__getitem__, partners)))
            agree = _both(agree, same)
        # The key holds the kind, so both records of a pair have the same kind.
        is_refund = bytes(map(eq, left_kinds, repeat(_REFUND)))
        # Clean: agreeing pairs, refunds among them only when the refund came in time.
        flags = bytearray(_but_not(agree, is_refund))
        delay = self.rules.refund_delay
        for i in itertools.compress(range(nl), _both(agree, is_refund)):
            if abs(right[partners[i]].at - left[i].at) <= delay:
                flags[i] = 1
        clean = bytes(flags)
        totals: dict[str, Decimal] = {}
        for currency in sorted(set(itertools.compress(left_currencies, clean))):
            of_currency = _both(clean, bytes(map(eq, left_currencies, repeat(currency))))
            totals[currency] = sum(itertools.compress(left_amounts, of_currency), _ZERO)
        pair_kind = self.pair_kind
        for i in itertools.compress(range(nl), _but_not(found, clean)):
            record = left[i]
            other = right[partners[i]]
            kind = classify_pair((record,), (other,), self.rules, period_of)
            if kind is None:
                money = record.amount
                totals[money.currency] = totals.get(money.currency, _ZERO) + money.amount
            else:
                pair_kind[bisect_left(pair_left, i)] = kind
                _add_pair(self.pair_amounts, kind, record.amount, other.amount)
        self.clean_totals = totals

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
                    self._group((i,), (j,), "exact_ref", {"ref": key.split(_SEP)[-1]})
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
                    "difference", "duplicate", (i,), (), "exact_ref", {"duplicate_of": original}
                )
        for j in rs:
            amount = right[j].amount
            original = paired_right.get((amount.amount, amount.currency))
            if original is not None:
                self._row(
                    "difference", "duplicate", (), (j,), "exact_ref", {"duplicate_of": original}
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
                {"ref": ref},
            )

    # --- pass 1a: what no later pass can pair ----------------------------------------

    def set_aside(self) -> None:
        """Close, in one column-wise step, the open records that no later pass can pair.

        Every later pass but one pairs a record only with records of its own kind (their
        keys, buckets and lanes carry the kind): a record whose kind has no open record
        on the other side can only end alone. The exception is the batch pass, which
        pairs across kinds through ids (a child's link naming a parent's ref or id, or a
        parent's link naming a child's ref), so a record that such an id ties to an open
        record of the other side stays open. In a channel's bill these are the fee lines
        (commissions, payment fees, subsidies) that the orders have no counterpart for;
        a third of a month's records. They go straight to :meth:`leftovers`, which
        classifies them as it would have after every pass.

        Both sides are decided against the open records as the exact pass left them,
        before either is closed (the batch tie is symmetric, so a tied pair stays open
        on both sides).
        """
        sides = ((self.left, self.left_open), (self.right, self.right_open))
        aside: list[list[int]] = []
        for mine, theirs in ((0, 1), (1, 0)):
            records, flags = sides[mine]
            others, other_flags = sides[theirs]
            open_kinds = set(itertools.compress(self.kinds[theirs], other_flags))
            alone = bytes(map(not_, map(open_kinds.__contains__, self.kinds[mine])))
            positions = list(itertools.compress(range(len(records)), _both(bytes(flags), alone)))
            if positions:
                tied = _batch_tied(
                    list(map(records.__getitem__, positions)),
                    list(itertools.compress(others, other_flags)),
                )
                positions = list(itertools.compress(positions, map(not_, tied)))
            aside.append(positions)
        for (_records, flags), positions in zip(sides, aside, strict=True):
            deque(map(flags.__setitem__, positions, repeat(0)), maxlen=0)
        self.aside = (aside[0], aside[1])

    def _sums_to(self, record: Record, members: list[Record]) -> bool:
        """True when ``members`` (all in ``record``'s currency) add up to ``record``'s
        amount within the rounding tolerance."""
        currency = record.amount.currency
        total = _ZERO
        for member in members:
            if member.amount.currency != currency:
                return False
            total += member.amount.amount
        return abs(total - record.amount.amount) <= self.rules.tolerance(currency)

    # --- pass 1b: shared links --------------------------------------------------------

    def shared_links(self) -> None:
        """Pair records that share an id both systems carry (the Alipay or WeChat Pay
        transaction number, a Tmall order number inside ``T200P<tid>``), see
        :func:`~orderkit.reconcile.refs.linked_ids`.

        Only a pair that is each other's only candidate (among the open records of the
        same kind) is matched; a shared id with several candidates is left to the later
        passes, which never auto-match an ambiguous candidate either.
        """
        left_index = self._link_index("left")
        right_index = self._link_index("right")
        if not left_index or not right_index:
            return
        left = self.left
        left_of: dict[int, dict[int, str]] = {}
        right_of: dict[int, dict[int, str]] = {}
        for key, rpos in right_index.items():
            lpos = left_index.get(key)
            if not lpos:
                continue
            name = key.split(_SEP)[-1]
            for i in lpos:
                for j in rpos:
                    left_of.setdefault(i, {}).setdefault(j, name)
                    right_of.setdefault(j, {}).setdefault(i, name)
        for i in sorted(left_of, key=lambda i: _order(left[i])):
            partners = left_of[i]
            if len(partners) != 1:
                continue
            ((j, name),) = partners.items()
            if len(right_of[j]) != 1:
                continue
            self._group((i,), (j,), "shared_link", {"link": name})

    def _link_index(self, side: str) -> dict[str, list[int]]:
        """Open records of ``side`` under each id they share (keys carry the kind)."""
        records, flags, _, _ = self._sides(side)
        index: dict[str, list[int]] = {}
        for p in itertools.compress(range(len(flags)), flags):
            record = records[p]
            if not record.links and not record.ref:
                continue
            for name in linked_ids(record.ref, record.links):
                index.setdefault(_key(record, name), []).append(p)
        return index

    # --- pass 2: references in memos -------------------------------------------------

    def memos(self, memo_side: str) -> None:
        memo_records, memo_open, others, other_open = self._sides(memo_side)
        # The open records with a memo, put in time order (then record id) below: sorting
        # only these leaves the side's full time order to later passes, when the memo
        # matches have closed most of its open records (and a side without memos is
        # never sorted here at all).
        open_positions = list(itertools.compress(range(len(memo_open)), memo_open))
        candidates = list(
            itertools.compress(
                open_positions, map(_MEMO, map(memo_records.__getitem__, open_positions))
            )
        )
        if not candidates:
            return
        index = self._memo_index(others, other_open)
        if not index:
            return
        memo_is_left = memo_side == "left"
        get = index.get
        order = in_time_order(memo_records, candidates)
        records = list(map(memo_records.__getitem__, order))
        # Every memo's candidates, and what each finds in the index, before the loop:
        # the loop then only checks which of the found records are still open (an
        # earlier memo's match may have closed one).
        tokens_of = list(map(extract_refs, map(_MEMO, records)))
        for p, record, tokens in zip(order, records, tokens_of, strict=True):
            if not tokens:
                continue
            kind = record.kind
            found = list(map(get, tokens if kind == _SALE else map((kind + _SEP).__add__, tokens)))
            if found.count(None) == len(found) or not memo_open[p]:
                continue
            hits: list[int] = []
            matched_tokens: list[str] = []
            for token, positions in zip(tokens, found, strict=True):
                for q in positions or ():
                    if other_open[q] and q not in hits:
                        hits.append(q)
                        matched_tokens.append(token)
            if not hits:
                continue
            evidence: Facts = {
                "memo": record.memo,
                "tokens": ",".join(matched_tokens),
                "candidates": ",".join([others[q].record_id for q in hits]),
            }
            if self._sums_to(record, [others[q] for q in hits]):
                # One candidate within the rounding tolerance, or several orders the memo
                # names that add up to it: the memo accounts for the whole amount.
                members = tuple(sorted(hits, key=lambda q: _order(others[q])))
                if memo_is_left:
                    self._group((p,), members, "memo_ref", evidence)
                else:
                    self._group(members, (p,), "memo_ref", evidence)
                continue
            lpos, rpos = ((p,), ()) if memo_is_left else ((), (p,))
            self._row("suggestion", None, lpos, rpos, "memo_ref", evidence)

    @staticmethod
    def _memo_index(others: list[Record], other_open: bytearray) -> dict[str, list[int]]:
        """The memo pass's index: each open record of the other side under its ref and its
        links (keys carry the kind, as in the exact pass), each key's records in time
        order (then record id).

        Records are collected in position order and only lists of two or more are sorted:
        the other side's full time order is left to later passes, when fewer are open.
        """
        index: dict[str, list[int]] = {}
        for p in itertools.compress(range(len(other_open)), other_open):
            record = others[p]
            ref = record.ref
            links = record.links
            if record.kind == _SALE and not links:
                if ref:
                    index.setdefault(ref, []).append(p)
                continue
            for name in (ref, *links) if ref else links:
                index.setdefault(_key(record, name), []).append(p)
        for positions in index.values():
            if len(positions) > 1:
                positions.sort(key=lambda q: _order(others[q]))
        return index

    # --- pass 3: amount and time window ---------------------------------------------

    def amount_time(self) -> None:
        """Pair by amount (within the tolerance) and time (within the window), but only a
        pair that is each other's only candidate. Every record with two or more
        candidates, or whose candidate has another candidate, is a ``suggestion`` that
        names them: an ambiguous candidate is never matched automatically."""
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
        not_before = self.not_before
        candidates_of: dict[int, list[int]] = {}
        reverse: dict[int, list[int]] = {}
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
            earliest = max(ts - window, not_before.get(i, _NO_BOUND))
            found: list[tuple[Decimal, float, float, str, int]] = []
            for amount in keys[
                bisect_left(keys, value - tolerance) : bisect_right(keys, value + tolerance)
            ]:
                entries = group[amount]
                start = bisect_left(entries, (earliest,))
                for when, record_id, j in entries[start:]:
                    if when > ts + window:
                        break
                    if not right_open[j]:
                        continue
                    other = right[j]
                    if record.ref and other.ref and record.ref != other.ref:
                        continue
                    found.append((abs(amount - value), abs(when - ts), when, record_id, j))
            if found:
                found.sort()
                candidates_of[i] = [j for *_score, j in found]
                for j in candidates_of[i]:
                    reverse.setdefault(j, []).append(i)
        for i, js in candidates_of.items():
            j = js[0]
            if len(js) == 1 and len(reverse[j]) == 1:
                self._group(
                    (i,),
                    (j,),
                    "amount_time",
                    {
                        "time_difference": duration_text(
                            right[j].at - left[i].at, signed=True
                        ),
                        "window": duration_text(self.rules.time_window),
                    },
                )
        for i, js in candidates_of.items():
            if self.left_open[i]:
                evidence: Facts = {"candidates": ",".join(right[j].record_id for j in js)}
                self._row("suggestion", None, (i,), (), "amount_time", evidence)
        for j in sorted(reverse, key=lambda j: _order(right[j])):
            if right_open[j]:
                evidence = {"candidates": ",".join(left[i].record_id for i in reverse[j])}
                self._row("suggestion", None, (), (j,), "amount_time", evidence)

    # --- pass 4: one-to-many and many-to-one -----------------------------------------

    def batches(self) -> None:
        for parent_side in ("right", "left"):
            child_side = "left" if parent_side == "right" else "right"
            parents, parent_open, children, child_open = self._sides(parent_side)
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
                evidence: Facts = {
                    "batch": parents[p].ref or parents[p].record_id,
                    "members": ",".join(children[c].record_id for c in members),
                }
                if parent_side == "right":
                    self._group(tuple(members), (p,), "batch", evidence)
                else:
                    self._group((p,), tuple(members), "batch", evidence)

    def subset_sums(self) -> None:
        for target_side in ("right", "left"):
            self._subset_side(target_side)

    def _subset_side(self, target_side: str) -> None:
        pool_side = "left" if target_side == "right" else "right"
        targets, target_open, pool, pool_open = self._sides(target_side)
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
        # A left target takes no right record before its own bound; a right target takes
        # no left record whose bound is after it.
        bounds: Mapping[int, float] = self.not_before if target_side == "right" else {}
        for p in self._open(target_side):  # already in time order
            if not target_open[p]:
                continue
            record = targets[p]
            found = lanes.get((record.amount.currency, record.kind))
            if not found:
                continue
            ts = record.at.timestamp()
            floor = self.not_before.get(p, _NO_BOUND) if target_side == "left" else _NO_BOUND
            nearest = found.nearest(ts, window, limit, pool_open, record.ref, floor, bounds)
            if len(nearest) < 2:
                continue
            goal = _scaled(record.amount.amount)
            values = list(map(scaled_of.__getitem__, nearest))
            if goal is None or None in values:
                continue
            groups = _subsets(goal, nearest, values, self.rules.max_group)  # type: ignore[arg-type]
            if not groups:
                continue
            if len(groups) > 1:
                self._ambiguous_groups(target_side, p, groups)
                continue
            members = tuple(sorted(groups[0], key=lambda q: _order(pool[q])))
            evidence: Facts = {
                "members": ",".join(pool[q].record_id for q in members),
                "window": str(self.rules.time_window),
            }
            if target_side == "right":
                self._group(members, (p,), "subset_sum", evidence)
            else:
                self._group((p,), members, "subset_sum", evidence)

    def _ambiguous_groups(
        self, target_side: str, p: int, groups: list[tuple[int, ...]]
    ) -> None:
        """Two or more groups of the pool add up to the target ``p``: the target is a
        ``suggestion`` naming the groups (``groups``, members in time order, ``|``
        between groups) and their records (``candidates``), and each of those records
        a suggestion naming the target. None is matched: which group it is, is a
        person's call."""
        targets, _flags, pool, _pool_flags = self._sides(target_side)
        ordered = [sorted(group, key=lambda q: _order(pool[q])) for group in groups]
        members = sorted({q for group in ordered for q in group}, key=lambda q: _order(pool[q]))
        evidence: Facts = {
            "candidates": ",".join(pool[q].record_id for q in members),
            "groups": " | ".join(
                "+".join(pool[q].record_id for q in group) for group in ordered
            ),
        }
        target_at = (p,)
        self._row(
            "suggestion",
            None,
            () if target_side == "right" else target_at,
            target_at if target_side == "right" else (),
            "subset_sum",
            evidence,
        )
        named: Facts = {"candidates": targets[p].record_id}
        for q in members:
            lpos, rpos = ((q,), ()) if target_side == "right" else ((), (q,))
            self._row("suggestion", None, lpos, rpos, "subset_sum", named)

    # --- what is left ----------------------------------------------------------------

    def leftovers(self) -> None:
        """Classify every record still alone (:func:`classify_lone`), on columns.

        The lone records of a side are those still open plus those :meth:`set_aside`
        closed. Their classes and totals are decided here; their outcomes (in time
        order, each naming the sale it belongs to) are built only when somebody reads
        them (:attr:`Reconciliation.outcomes`).
        """
        sides = (
            (self.left, self.left_open, self.aside[0]),
            (self.right, self.right_open, self.aside[1]),
        )
        lone = [
            [*itertools.compress(range(len(flags)), flags), *aside]
            for _records, flags, aside in sides
        ]
        lone_records = [
            list(map(records.__getitem__, positions))
            for (records, _flags, _aside), positions in zip(sides, lone, strict=True)
        ]
        # A lone refund is partial when the sale it belongs to is larger: look those up.
        refunds = {
            record.ref
            for records in lone_records
            for record in itertools.compress(records, map(eq, map(_KIND, records), repeat(_REFUND)))
            if record.ref
        }
        sale_amounts = {
            ref: (self.right if side else self.left)[p].amount.amount
            for ref, ((side, p), *_rest) in sales_of(self.left, self.right, refunds).items()
        }
        # When each lone left record is due (a payout: when its credit is expected).
        due = self.due
        left_due = (
            list(map(due.get, lone[0], map(_AT, lone_records[0]))) if due else None
        )
        classes: list[list[tuple[str, str]]] = []
        for side, records in enumerate(lone_records):
            of_side = classify_lone(
                records,
                side=("left", "right")[side],
                sale_amounts=sale_amounts,
                rules=self.rules,
                due=None if side else left_due,
            )
            _add_lone(self.row_amounts, side, of_side, records)
            classes.append(of_side)
        for (_records, flags, _aside), positions in zip(sides, lone, strict=True):
            deque(map(flags.__setitem__, positions, repeat(0)), maxlen=0)
        self.lone = (lone[0], lone[1])
        self.lone_classes = (classes[0], classes[1])


def _batch_tied(records: list[Record], others: list[Record]) -> list[bool]:
    """For each of ``records``, whether the batch pass could group it with one of
    ``others`` (the other side's open records): a link of one names the other's ref or
    record id (either way round; a slight over-approximation of the batch pass's keys,
    which only ever keeps a record open)."""
    names: set[str | None] = set(map(_REF, others))
    names.update(map(_RECORD_ID, others))
    names.discard(None)
    links = set(itertools.chain.from_iterable(map(_LINKS, others)))
    tied = list(map(not_, map(names.isdisjoint, map(_LINKS, records))))
    if links:
        tied = list(map(or_, tied, map(links.__contains__, map(_REF, records))))
        tied = list(map(or_, tied, map(links.__contains__, map(_RECORD_ID, records))))
    return tied


def _add_lone(
    amounts: Amounts, side: int, classes: list[tuple[str, str]], records: list[Record]
) -> None:
    """Add the lone ``records`` of ``side`` into ``amounts`` by their class and currency
    (one C-level pass per class and per currency; a side has a handful of each)."""
    currencies = list(map(_CURRENCY, records))
    values = list(map(_AMOUNT, records))
    of_currency = {c: bytes(map(eq, currencies, repeat(c))) for c in sorted(set(currencies))}
    for status, kind in sorted(set(classes)):
        of_class = bytes(map(eq, classes, repeat((status, kind))))
        for currency, flags in of_currency.items():
            chosen = _both(of_class, flags)
            if 1 in chosen:
                total = sum(itertools.compress(values, chosen), _ZERO)
                slot = (status, kind, side, currency)
                amounts[slot] = amounts.get(slot, _ZERO) + total


def _add_pair(amounts: Amounts, kind: str, left: Money, right: Money) -> None:
    """Add an exact pair with a difference ``kind`` into ``amounts``."""
    key = ("difference", kind, 0, left.currency)
    amounts[key] = amounts.get(key, _ZERO) + left.amount
    key = ("difference", kind, 1, right.currency)
    amounts[key] = amounts.get(key, _ZERO) + right.amount


def _keys(refs: list[str | None], kinds: list[str]) -> list[str | None]:
    """The join key of each record: ``None`` without a ref, else the ref prefixed by its
    kind (the prefix of a sale is empty: ``"" + ref`` is ``ref`` itself, not a copy).

    The keys are made by C-level ``map`` calls; only the records without a ref (few) are
    visited in Python. ``refs`` is a scratch list: its ``None`` entries are overwritten.
    """
    missing = list(itertools.compress(range(len(refs)), map(is_, refs, repeat(None))))
    for k in missing:
        refs[k] = ""
    keys: list[str | None] = list(map(add, map(_PREFIX.__getitem__, kinds), refs))
    for k in missing:
        keys[k] = None
    return keys


def _join(partners: array[int], none: int) -> tuple[bytes, list[int], bytearray]:
    """``(found, pair_right, right_open)`` for ``partners`` (each left position's right
    partner, or ``none``): which left positions have a partner, the partners in left
    order, and the right positions no pair took. All in C-level loops (the flags are
    cleared by mapping ``bytearray.__setitem__`` over the partners)."""
    found = bytes(map(lt, partners, repeat(none)))
    pair_right = list(itertools.compress(partners, found))
    return found, pair_right, _open_but(none, pair_right)


def _of_kinds(kinds: list[str], wanted: set[str]) -> list[int] | None:
    """The positions whose kind is in ``wanted``, or ``None`` when every one is."""
    if wanted.issuperset(kinds):
        return None
    return list(itertools.compress(range(len(kinds)), map(wanted.__contains__, kinds)))


def _open_but(size: int, taken: list[int]) -> bytearray:
    """Open flags for ``size`` positions with those in ``taken`` cleared (a C-level loop)."""
    flags = bytearray(b"\x01") * size
    deque(map(flags.__setitem__, taken, repeat(0)), maxlen=0)
    return flags


def _both(first: bytes, second: bytes) -> bytes:
    """Bytewise AND of two equally long 0/1 flag strings, as one big-integer operation."""
    both = int.from_bytes(first, "little") & int.from_bytes(second, "little")
    return both.to_bytes(len(first), "little")


def _but_not(first: bytes, second: bytes) -> bytes:
    """The flags set in ``first`` and not in ``second`` (0/1 bytes, equally long)."""
    rest = int.from_bytes(first, "little") & ~int.from_bytes(second, "little")
    return rest.to_bytes(len(first), "little")


_Entry = tuple[float, str, int]
#: The bound of a record that has none.
_NO_BOUND: Final = -float("inf")


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
        self,
        ts: float,
        window: float,
        limit: int,
        open_flags: bytearray,
        ref: str | None,
        floor: float = _NO_BOUND,
        bounds: Mapping[int, float] | None = None,
    ) -> list[int]:
        """Up to ``limit`` open positions nearest to ``ts`` within ``window`` that ``ref``
        may take, ordered by time distance, then time, then record id; none before
        ``floor``, and none whose own bound (``bounds``) is after ``ts``."""
        if not ref:
            found = _walk(self.entries, ts, window, limit, open_flags, floor, bounds)
        else:
            found = _walk(self.free, ts, window, limit, open_flags, floor, bounds)
            own = self.by_ref.get(ref)
            if own:
                found += _walk(own, ts, window, limit, open_flags, floor, bounds)
                found.sort()
        return [q for *_rest, q in found[:limit]]


def _walk(
    entries: list[_Entry],
    ts: float,
    window: float,
    limit: int,
    open_flags: bytearray,
    floor: float = _NO_BOUND,
    bounds: Mapping[int, float] | None = None,
) -> list[tuple[float, float, str, int]]:
    """The ``limit`` open entries nearest to ``ts`` within ``window`` (plus any tied with
    the last of them), sorted by ``(distance, time, record id, position)``. Entries
    before ``floor`` are outside the window, and so is an entry whose position has a
    bound in ``bounds`` later than ``ts``.

    Entries are visited from ``ts`` outward in order of distance, so once ``limit`` open
    entries are found only ties can still qualify.
    """
    low = bisect_left(entries, (max(ts - window, floor),))
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
        if open_flags[q] and (not bounds or bounds.get(q, ts) <= ts):
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


#: How many groups an ambiguous subset-sum suggestion names at most.
_GROUPS_NAMED: Final = 3


def _subsets(
    goal: int, candidates: list[int], values: list[int], max_group: int
) -> list[tuple[int, ...]]:
    """The groups of ``candidates`` (smallest size first, then candidate order) whose
    amounts sum to ``goal``, as candidates, but no more than :data:`_GROUPS_NAMED`:
    one group is a match, two or more make the target ambiguous. Amounts are scaled to
    ints by :func:`_scaled` (``values[k]`` is the amount of ``candidates[k]``).

    Every size up to ``max_group`` is searched, not only the smallest that fits: a
    credit that two receipts make up and three others make up too is ambiguous. The
    search then costs what a target no group fits has always cost.

    Each size ``k`` enumerates the ``k-1`` combinations and finds the last member with one
    hash lookup, so the search costs ``C(n, k-1)`` steps instead of ``C(n, k)``. The sums
    and lookups run in C (``map`` over ``itertools.combinations``); Python only looks at
    the combinations whose remainder is one of the candidates' amounts.

    A size is skipped outright when ``goal`` lies outside the sums its groups can reach:
    between the sum of the ``size`` smallest amounts and that of the ``size`` largest.
    Most targets that no group matches (a lone payment, an amount typed wrong) are
    settled by these bounds without enumerating anything.

    Candidates of amount zero are left out: they add nothing to a group, so every group
    would fit again with them (an open 0.00 record beside a credit would make its one
    group ambiguous).
    """
    if 0 in values:
        kept = [k for k, value in enumerate(values) if value]
        candidates = [candidates[k] for k in kept]
        values = [values[k] for k in kept]
    ordered = sorted(values)
    positions: dict[int, list[int]] = {}
    count = len(values)
    groups: list[tuple[int, ...]] = []
    for size in range(2, min(max_group, count) + 1):
        if not sum(ordered[:size]) <= goal <= sum(ordered[-size:]):
            continue
        if not positions:
            for index, value in enumerate(values):
                positions.setdefault(value, []).append(index)
        rests = map(goal.__sub__, map(sum, itertools.combinations(values, size - 1)))
        found = list(map(positions.get, rests))
        combos = itertools.combinations(range(count), size - 1)
        # Both combination streams run in the same (lexicographic) order.
        for combo, indices in itertools.compress(zip(combos, found, strict=True), found):
            for index in indices or ():
                if index > combo[-1]:
                    groups.append(tuple(candidates[c] for c in (*combo, index)))
                    if len(groups) >= _GROUPS_NAMED:
                        return groups
    return groups


def reconcile(
    left: Iterable[Record | Rejected],
    right: Iterable[Record | Rejected],
    *,
    rules: Rules | None = None,
    names: tuple[str, str] = ("left", "right"),
    **options: object,
) -> Reconciliation:
    """Match two sides and classify every difference.

    ``left`` is usually the book of record (ERP), ``right`` the money side (bank, payment
    gateway, settlement). Either may contain :class:`Rejected` inputs from a reader; they
    are reported, not matched. ``options`` override fields of ``rules`` (see
    :class:`Rules`): ``amount_tolerance``, ``time_window``, ``tz``, ``period``,
    ``cutoff``, ``refund_delay``, ``max_group``, ``max_candidates``. A side is named
    after the source of its records; ``names`` name a side that has none.
    """
    settings = Rules.build(rules, options)
    left_records, left_rejected = split(left, "left")
    right_records, right_rejected = split(right, "right")
    return reconcile_split(left_records, left_rejected, right_records, right_rejected, settings,
                           names=names)


def reconcile_split(
    left_records: list[Record],
    left_rejected: list[Rejected],
    right_records: list[Record],
    right_rejected: list[Rejected],
    settings: Rules,
    *,
    names: tuple[str, str] = ("left", "right"),
    not_before: Mapping[int, datetime] | None = None,
    due: Mapping[int, datetime] | None = None,
) -> Reconciliation:
    """:func:`reconcile` on sides already split into records and rejected lines (as
    :func:`~orderkit.reconcile.settle` has them), with the rules already built.

    A side is named after the source of its records; ``names`` name a side that has none
    (a bill with no rows for the period). ``not_before`` maps a left position to the
    earliest instant of a right record that may pair with it by amount and time (a
    payout against the bank: a credit before the payout was due is not its credit); the
    window stays symmetric for the others. ``due`` maps a left position to the instant
    it is due when that is later than its own time (a payout's credit is expected then):
    left alone, it is ``pending`` when that instant is at or after the cut-off.
    """
    # An exchange's legs pair with each other on their own side, before any pass
    # (orderkit.reconcile.exchanges): set apart at the end of their side, the passes
    # run on the rest.
    exchange_rows: list[Row] = []
    exchange_amounts: Amounts = {}
    engine_left, engine_right = left_records, right_records
    left_legs, right_legs = legs_of(left_records), legs_of(right_records)
    if left_legs:
        left_records, to = set_apart(left_records, left_legs)
        engine_left = left_records[: len(left_records) - len(left_legs)]
        not_before, due = moved(not_before, to), moved(due, to)
        pair_exchanges(left_records, list(range(len(engine_left), len(left_records))), 0,
                       exchange_rows, exchange_amounts)
    if right_legs:
        right_records, _to = set_apart(right_records, right_legs)
        engine_right = right_records[: len(right_records) - len(right_legs)]
        pair_exchanges(right_records, list(range(len(engine_right), len(right_records))), 1,
                       exchange_rows, exchange_amounts)
    engine = _Engine(engine_left, engine_right, settings, not_before, due)
    engine.exact()
    engine.set_aside()
    engine.shared_links()
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
        rows=[*exchange_rows, *engine.rows] if exchange_rows else engine.rows,
        lone=engine.lone,
        lone_classes=engine.lone_classes,
        amounts=_merged(_merged(engine.row_amounts, engine.pair_amounts), exchange_amounts),
        rules=settings,
        left_source=_source_name(left_records, left_rejected, names[0]),
        right_source=_source_name(right_records, right_rejected, names[1]),
    )


def _merged(first: Amounts, second: Amounts) -> Amounts:
    merged = dict(first)
    for key, value in second.items():
        merged[key] = merged.get(key, _ZERO) + value
    return merged


def _source_name(records: list[Record], rejected: list[Rejected], default: str) -> str:
    if records:
        return records[0].source
    if rejected:
        return rejected[0].source
    return default
