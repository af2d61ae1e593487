"""Alias of :mod:`orderkit.model.ids`, kept so that code written against 0.1 keeps importing.

New code imports from :mod:`orderkit` (the public API) or :mod:`orderkit.model.ids`;
orderkit's own modules never import this one.
"""

from orderkit.model.ids import *  # noqa: F403
from orderkit.model.ids import __all__ as _model_names
from orderkit.numbering.issuer import ReconIdIssuer

__all__ = [*_model_names, "ReconIdIssuer"]
