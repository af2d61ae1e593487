"""Exchanges (换货): two orders joined by one internal transfer.

When a buyer swaps goods for others, the original order refunds what the returned goods
were sold for and the replacement order is paid with it, both ``method="exchange"``
under one reference (``EX-<original order id>-1``). No money leaves the merchant, so
neither leg is in any channel's bill or on the bank statement: the two legs are each
other's counterpart. :func:`~orderkit.reconcile.records_from_orders` makes each leg a
``transfer`` record of category ``exchange`` whose ``ref`` is the exchange's reference.

:func:`pair_exchanges` takes the legs of each side out before the matching passes and
pairs them, on their own side, by reference: a refund leg (negative) with a payment leg
(positive) of the same reference and currency, in time order. Equal and opposite, they
are ``matched`` (rule ``exchange``); amounts that differ (a price difference booked as an
exchange instead of a real top-up or refund) are an ``amount_mismatch``; a leg without
its partner, or without a reference, is ``unmatched``, kind ``unpaired_exchange``. Each
outcome names the reference. Nothing else about the two sides changes.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal
from operator import attrgetter, eq
from typing import Final, TypeVar

from orderkit.reconcile.columns import in_time_order
from orderkit.reconcile.outcomes import Amounts, Row
from orderkit.reconcile.records import Record

__all__ = ["EXCHANGE", "legs_of", "moved", "pair_exchanges", "set_apart"]

#: The category of an exchange's legs, the payment method that makes one and the rule
#: of the outcome that pairs them.
EXCHANGE: Final = "exchange"
_CATEGORY: Final = attrgetter("category")
T = TypeVar("T")


def legs_of(records: list[Record]) -> list[int]:
    """The positions of ``records`` that are legs of an exchange (category
    ``exchange``), in position order; empty for a side without any (one C-level scan)."""
    categories = list(map(_CATEGORY, records))
    if EXCHANGE not in categories:
        return []
    is_leg = map(eq, categories, itertools.repeat(EXCHANGE))
    return list(itertools.compress(range(len(records)), is_leg))


def set_apart(records: list[Record], legs: list[int]) -> tuple[list[Record], dict[int, int]]:
    """``records`` with the ``legs`` moved to the end (the others keep their order), and
    where each record that is not a leg moved to (old position -> new): the matching
    passes then run on the others alone, the prefix of the list."""
    is_leg = bytearray(len(records))
    for p in legs:
        is_leg[p] = 1
    others = [p for p in range(len(records)) if not is_leg[p]]
    return [*map(records.__getitem__, others), *map(records.__getitem__, legs)], {
        old: new for new, old in enumerate(others)
    }


def moved(by_position: Mapping[int, T] | None, to: dict[int, int]) -> dict[int, T] | None:
    """``by_position`` (facts about left positions) at the positions ``to`` moved them
    to; the facts of a leg are dropped."""
    if by_position is None:
        return None
    return {to[p]: value for p, value in by_position.items() if p in to}


def pair_exchanges(
    records: list[Record], positions: list[int], side: int, rows: list[Row], amounts: Amounts
) -> None:
    """Pair the exchange legs at ``positions`` of ``records`` (side 0, left, or 1,
    right) and append their rows to ``rows`` and their totals to ``amounts`` (see the
    module docstring)."""
    groups: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    lone: list[int] = []
    for p in in_time_order(records, positions):
        record = records[p]
        if record.ref is None:
            lone.append(p)
            continue
        refunds, payments = groups.setdefault((record.ref, record.amount.currency), ([], []))
        (refunds if record.amount.amount < 0 else payments).append(p)
    for (ref, _currency), (refunds, payments) in groups.items():
        for refund, payment in zip(refunds, payments, strict=False):
            net = records[refund].amount.amount + records[payment].amount.amount
            status, kind = ("matched", None) if not net else ("difference", "amount_mismatch")
            evidence = {"ref": ref}
            if net:
                evidence["refunded"] = str(-records[refund].amount.amount)
                evidence["paid"] = str(records[payment].amount.amount)
            _row(records, (refund, payment), side, status, kind, evidence, rows, amounts)
        paired = min(len(refunds), len(payments))
        lone += refunds[paired:] + payments[paired:]
    for p in in_time_order(records, lone):
        named = records[p].ref
        facts = {"ref": named} if named else {"reason": "an exchange without a reference"}
        _row(records, (p,), side, "unmatched", "unpaired_exchange", facts, rows, amounts)


def _row(
    records: list[Record],
    positions: tuple[int, ...],
    side: int,
    status: str,
    kind: str | None,
    evidence: dict[str, str],
    rows: list[Row],
    amounts: Amounts,
) -> None:
    for p in positions:
        money = records[p].amount
        key = (status, kind, side, money.currency)
        amounts[key] = amounts.get(key, Decimal(0)) + money.amount
    lpos, rpos = (positions, ()) if side == 0 else ((), positions)
    rows.append((status, kind, lpos, rpos, EXCHANGE, evidence, ()))
