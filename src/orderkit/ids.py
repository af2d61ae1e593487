"""Alias of :mod:`orderkit.model.ids`, kept so that code written against 0.1 keeps importing.

New code imports from :mod:`orderkit` (the public API) or :mod:`orderkit.model.ids`;
orderkit's own modules never import this one.
"""

from orderkit.model.ids import (
    MAX_SEQUENCE,
    ReconId,
    canonical_json,
    check_prefix,
    fingerprint,
    parse_recon_id,
    recon_id,
)
from orderkit.numbering.issuer import ReconIdIssuer

__all__ = [
    "MAX_SEQUENCE",
    "ReconId",
    "ReconIdIssuer",
    "canonical_json",
    "check_prefix",
    "fingerprint",
    "parse_recon_id",
    "recon_id",
]
