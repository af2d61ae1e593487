"""What reading a payload gives beside the order: :class:`MappedOrder`.

The canonical :class:`~orderkit.model.orders.Order` holds what every channel has. A sync
engine needs a little more from each payload, and so does a person looking at an order:
the platform's own modified time (to tell an old payload from a new one), the shop it
belongs to, the buyer's and the seller's notes, and the payload itself, or a digest of
it (to tell an identical payload from a changed one without storing it twice).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from orderkit.model.money import Money
from orderkit.model.orders import Order

__all__ = ["MappedOrder", "payload_digest"]


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        # A host that parses JSON with ``parse_float=Decimal``: the number's own text.
        return str(value)
    raise TypeError(type(value).__name__)


def payload_digest(order_object: Mapping[str, Any]) -> str:
    """``"sha256:<hex>"`` of the order object's canonical JSON (keys sorted, no spaces,
    UTF-8): the same for the same content whatever its key order or envelope.

    Raises ``TypeError`` naming the type of a value JSON cannot hold.
    """
    text = json.dumps(order_object, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False, default=_json_value)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@attrs.frozen
class MappedOrder:
    """One payload read by a map: the order, and what the order type does not hold.

    ``modified_at`` is the platform's own modified time (aware, in UTC; naive platform
    text read in the map's zone, Asia/Shanghai for the Chinese platforms), or ``None``
    when the payload has none. ``shop_id``, ``buyer_note`` and ``seller_note`` are ``""``
    when the platform does not send them. ``raw`` is the order object that was read (the
    inside of its envelope; not copied) and ``digest`` its :func:`payload_digest`.
    ``platform`` is the name of the map that read it (``"taobao"``), while
    ``order.channel`` is the channel identity (``"tmall"``).
    """

    order: Order
    payable: Money
    platform: str
    modified_at: datetime | None
    shop_id: str
    buyer_note: str
    seller_note: str
    digest: str
    raw: Mapping[str, Any] = attrs.field(eq=False, repr=False)

    @property
    def presale(self) -> bool:
        """Whether the platform flagged the order as a presale (the ``presale`` tag)."""
        return "presale" in self.order.tags
