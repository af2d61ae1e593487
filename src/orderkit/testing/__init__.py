"""Test support for integrators: a manual clock, port contract suites, strategies.

* :class:`ManualClock`: a ``Clock`` that moves only when told.
* :class:`FileChannelClient`: a marketplace's "changed orders" API over a JSON-lines
  file of payloads, able to fail on demand (an outage); :class:`MemoryChannelClient`
  the same over payloads in memory (dated once); both list ids and modified times for
  a sweep.
* ``orderkit.testing.contracts``: one abstract test class per port. Subclass it in your
  own test module, implement its ``create_...()`` hook, and pytest runs the whole
  contract against your adapter.
* ``orderkit.testing.strategies``: hypothesis strategies for canonical values (needs the
  ``test`` extra).
* ``orderkit.testing.reconcile.outcome_signature``: a reconciliation run as plain tuples,
  to compare two runs outcome by outcome.
* ``orderkit.testing.crash``: a crash test's parts: :func:`~orderkit.testing.crash.supervise`
  kills worker and relay processes at random and restarts them; plans of orders that a
  restarted worker replays from the start (:func:`~orderkit.testing.crash.shop_plan`,
  :func:`~orderkit.testing.crash.run_plan`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orderkit.adapters._lazy import lazy_names

if TYPE_CHECKING:
    from orderkit.testing.channel import FileChannelClient, MemoryChannelClient, read_payloads
    from orderkit.testing.clock import ManualClock

__all__ = ["FileChannelClient", "ManualClock", "MemoryChannelClient", "read_payloads"]

#: Each name and its module, imported when first used: a crash test's worker process
#: that needs only ``orderkit.testing.crash`` does not load sync and the maps.
_MODULES = {
    "FileChannelClient": "orderkit.testing.channel",
    "MemoryChannelClient": "orderkit.testing.channel",
    "read_payloads": "orderkit.testing.channel",
    "ManualClock": "orderkit.testing.clock",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULES, globals())
