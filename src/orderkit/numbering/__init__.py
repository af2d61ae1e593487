"""Reconciliation ids (``SO20260216000892``) drawn from a gap-free sequence store.

:class:`ReconIdIssuer` formats ids with :func:`orderkit.model.ids.recon_id`; the numbers
come from a :class:`ReconIdSequence` (memory and SQLite adapters ship with orderkit).
"""

from orderkit.numbering.issuer import ReconIdIssuer
from orderkit.numbering.ports import ReconIdSequence

__all__ = ["ReconIdIssuer", "ReconIdSequence"]
