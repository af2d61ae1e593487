"""Compare reconciliation runs outcome by outcome.

A host that changes its matching rules, its readers or its orderkit version wants to
know which outcomes moved. :func:`outcome_signature` turns a run into plain tuples that
compare with ``==`` and print readably in a failed assertion; orderkit's own tests use
it to hold the engine to a plain reference implementation on random inputs.
"""

from __future__ import annotations

from orderkit.reconcile import Reconciliation

__all__ = ["OutcomeSignature", "outcome_signature"]

#: (status, kind, rule, left record ids, right record ids, evidence)
OutcomeSignature = tuple[
    str, str | None, str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]
]


def outcome_signature(result: Reconciliation) -> list[OutcomeSignature]:
    """Every outcome of ``result``, in order, as ``(status, kind, rule, left record ids,
    right record ids, evidence)``."""
    return [
        (
            outcome.status,
            outcome.kind,
            outcome.rule,
            tuple(record.record_id for record in outcome.left),
            tuple(record.record_id for record in outcome.right),
            outcome.evidence,
        )
        for outcome in result.outcomes
    ]
