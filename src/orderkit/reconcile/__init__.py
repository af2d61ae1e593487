"""Reconciliation: match ERP, bank, payment-gateway, POS and settlement records.

Read records with :mod:`orderkit.reconcile.readers`, match them with :func:`reconcile`
(two sides) or :func:`reconcile_many` (a cross-system matrix), and write the result with
:mod:`orderkit.reconcile.report`. :func:`settle` follows the money along the settlement
chain (order -> payment channel -> payout -> bank), and :func:`records_from_orders`
builds the ERP side from stored orders. Every input record ends in exactly one
:class:`Outcome`; :meth:`Reconciliation.summary` proves the amounts are conserved.
"""

from __future__ import annotations

from orderkit.reconcile.bridge import records_from_orders
from orderkit.reconcile.chain import (
    BREAK_KINDS,
    HOPS,
    ChainStep,
    Settlement,
    needs_a_person,
    settle,
)
from orderkit.reconcile.classify import DifferenceKind
from orderkit.reconcile.engine import reconcile
from orderkit.reconcile.matrix import MatrixCell, MatrixRow, MultiReconciliation, reconcile_many
from orderkit.reconcile.outcomes import STATUSES, Outcome, Reconciliation, TraceStep
from orderkit.reconcile.payouts import DEFAULT_PAYOUT_TERMS, PayoutTerms
from orderkit.reconcile.readers.bill import LAYOUTS, BillRead, UnknownBillLayout, read_bill
from orderkit.reconcile.records import CATEGORIES, KINDS, Record, Rejected
from orderkit.reconcile.refs import extract_refs, linked_ids
from orderkit.reconcile.rules import Rules

__all__ = [
    "BREAK_KINDS",
    "CATEGORIES",
    "DEFAULT_PAYOUT_TERMS",
    "HOPS",
    "KINDS",
    "LAYOUTS",
    "STATUSES",
    "BillRead",
    "ChainStep",
    "DifferenceKind",
    "MatrixCell",
    "MatrixRow",
    "MultiReconciliation",
    "Outcome",
    "PayoutTerms",
    "Reconciliation",
    "Record",
    "Rejected",
    "Rules",
    "Settlement",
    "TraceStep",
    "UnknownBillLayout",
    "extract_refs",
    "linked_ids",
    "needs_a_person",
    "read_bill",
    "reconcile",
    "reconcile_many",
    "records_from_orders",
    "settle",
]
