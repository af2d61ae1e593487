"""Profit per order: costs as data, margins with every component named, a loss hold.

The incident: the same tea at 99.00 on Tmall, 89.00 in a Douyin live room and 79.00 in a
Pinduoduo flash sale; with commissions, influencer cuts, payment fees, shipping and
packaging, the flash sale lost money on every order and nobody knew per order.

* :class:`FeeTable`: one channel's fees from an effective date on (commission, payment
  fee and influencer rates; shipping cost or subsidy and packaging per order).
* :class:`CostModel`: the fee tables, versioned by date, and a
  :class:`~orderkit.costing.ports.CostCatalog` giving each SKU's product cost.
* :func:`margin`: an order's :class:`Margin`, every :class:`Component` with the party it
  goes to, settled (from the order's own fee adjustments, as the settlement bills give
  them) or estimated (from the fee table). A cost nobody knows is named in
  ``Margin.unknown``, never counted as zero.
* :func:`loss_hold`: the ``hold`` event that stops a loss-making order (predicted margin
  below -5% by default) with the numbers in its reason; releasing a ``loss_making`` hold
  needs a second person under a :class:`~orderkit.lifecycle.Policy`.
* :func:`profit_by`: profit tables by channel, SKU, day or tag; :func:`profit_grid` by
  day and channel, the health page's heat map.
"""

from orderkit.costing.margins import (
    Component,
    CostModel,
    FeeTable,
    Margin,
    Party,
    ProfitRow,
    loss_hold,
    margin,
    profit_by,
    profit_grid,
)
from orderkit.costing.ports import CostCatalog

__all__ = [
    "Component",
    "CostCatalog",
    "CostModel",
    "FeeTable",
    "Margin",
    "Party",
    "ProfitRow",
    "loss_hold",
    "margin",
    "profit_by",
    "profit_grid",
]
