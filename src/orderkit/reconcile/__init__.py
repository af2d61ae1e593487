"""Reconciliation: match ERP, bank, payment-gateway, POS and settlement records.

Read records with :mod:`orderkit.reconcile.readers`, match them with :func:`reconcile`
(two sides) or :func:`reconcile_many` (a cross-system matrix), and write the result with
:mod:`orderkit.reconcile.report`. Every input record ends in exactly one
:class:`Outcome`; :meth:`Reconciliation.summary` proves the amounts are conserved.
"""

from __future__ import annotations

from orderkit.reconcile.classify import DifferenceKind
from orderkit.reconcile.engine import reconcile
from orderkit.reconcile.matrix import MatrixCell, MatrixRow, MultiReconciliation, reconcile_many
from orderkit.reconcile.outcomes import STATUSES, Outcome, Reconciliation, TraceStep
from orderkit.reconcile.records import KINDS, Record, Rejected
from orderkit.reconcile.refs import extract_refs
from orderkit.reconcile.rules import Rules

__all__ = [
    "KINDS",
    "STATUSES",
    "DifferenceKind",
    "MatrixCell",
    "MatrixRow",
    "MultiReconciliation",
    "Outcome",
    "Reconciliation",
    "Record",
    "Rejected",
    "Rules",
    "TraceStep",
    "extract_refs",
    "reconcile",
    "reconcile_many",
]
