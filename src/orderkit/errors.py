"""Alias of :mod:`orderkit.model.errors`, kept so that code written against 0.1 keeps importing.

New code imports from :mod:`orderkit` (the public API) or :mod:`orderkit.model.errors`;
orderkit's own modules never import this one.
"""

from orderkit.model.errors import *  # noqa: F403
from orderkit.model.errors import __all__ as __all__
