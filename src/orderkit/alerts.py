"""Alias of :mod:`orderkit.model.alerts`, kept so that code written against 0.1 keeps importing.

New code imports from :mod:`orderkit` (the public API) or :mod:`orderkit.model.alerts`;
orderkit's own modules never import this one.
"""

from orderkit.model.alerts import *  # noqa: F403
from orderkit.model.alerts import __all__ as __all__
