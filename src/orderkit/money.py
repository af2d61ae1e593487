"""Alias of :mod:`orderkit.model.money`, kept so that code written against 0.1 keeps importing.

New code imports from :mod:`orderkit` (the public API) or :mod:`orderkit.model.money`;
orderkit's own modules never import this one.
"""

from orderkit.model.money import *  # noqa: F403
from orderkit.model.money import __all__ as __all__
