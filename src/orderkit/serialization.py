"""Alias of :mod:`orderkit.model.serialization`, kept so that 0.1 code keeps importing.

New code imports from :mod:`orderkit` (the public API) or :mod:`orderkit.model.serialization`;
orderkit's own modules never import this one.
"""

from orderkit.model.serialization import *  # noqa: F403
from orderkit.model.serialization import __all__ as __all__
