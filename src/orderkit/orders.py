"""Alias of :mod:`orderkit.model.orders`, kept so that code written against 0.1 keeps importing.

New code imports from :mod:`orderkit` (the public API) or :mod:`orderkit.model.orders`;
orderkit's own modules never import this one.
"""

from orderkit.model.orders import *  # noqa: F403
from orderkit.model.orders import __all__ as __all__
