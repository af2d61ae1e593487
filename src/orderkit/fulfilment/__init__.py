"""Fulfilment rules: near-expiry holds and shipping waves that explain what they leave out.

* :func:`near_expiry_hold`: a line that would ship from a lot with less than its
  threshold left (90 days by default, per SKU or category) holds the order
  (``near_expiry``) for quality review. The host says which lot through a
  :class:`LotCatalog`.
* :func:`plan_wave`: the orders of one shipping batch by a :class:`WavePolicy`; every
  candidate left out has an :class:`Exclusion` (a :class:`Reason` and words);
  :class:`ExclusionLog` raises an alert for an order left out too long.
* :func:`ship_from`: a presale order's ship-from date (its ``ship_from:`` tag), the one
  reading the wave and the watch share.
* :func:`release_wave`: pack the selected orders through the lifecycle.
"""

from orderkit.fulfilment.expiry import near_expiry_hold
from orderkit.fulfilment.ports import Lot, LotCatalog
from orderkit.fulfilment.release import release_wave
from orderkit.fulfilment.waves import (
    PRESALE_TAG,
    Exclusion,
    ExclusionLog,
    Reason,
    Wave,
    WavePolicy,
    plan_wave,
    policy_from_toml,
    ship_from,
)

__all__ = [
    "PRESALE_TAG",
    "Exclusion",
    "ExclusionLog",
    "Lot",
    "LotCatalog",
    "Reason",
    "Wave",
    "WavePolicy",
    "near_expiry_hold",
    "plan_wave",
    "policy_from_toml",
    "release_wave",
    "ship_from",
]
