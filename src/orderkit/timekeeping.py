"""Alias of :mod:`orderkit.model.time`, kept so that code written against 0.1 keeps importing.

New code imports from :mod:`orderkit` (the public API) or :mod:`orderkit.model.time`;
orderkit's own modules never import this one.
"""

from orderkit.model.time import *  # noqa: F403
from orderkit.model.time import __all__ as __all__
