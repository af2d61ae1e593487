"""The decoded-order cache the SQLite and PostgreSQL order repositories share.

Orders are immutable values and every save raises the version, so a version is one
value in every process: a repository keeps the last orders it read or saved, by order
id, and serves one only when the stored version is the one it holds. The database
stays the only authority (another process's save changes the version, which misses).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from orderkit.model.errors import ValidationError
from orderkit.model.orders import Order

__all__ = ["OrderCache"]


class OrderCache:
    """The last ``size`` orders kept, least recently kept dropped first (``size`` 0:
    nothing is kept). Safe to share between threads."""

    __slots__ = ("_lock", "_orders", "size")

    def __init__(self, size: object) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValidationError("cache_size", size, "expected an integer >= 0")
        self.size = size
        self._orders: OrderedDict[str, Order] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, order_id: str) -> Order | None:
        """The kept version of the order, if any."""
        with self._lock:
            return self._orders.get(order_id)

    def at(self, order_id: str, version: int) -> Order | None:
        """The kept order when it is at ``version``, else ``None``."""
        cached = self.get(order_id)
        return cached if cached is not None and cached.version == version else None

    def remember(self, order: Order) -> None:
        """Keep ``order`` (a committed version), dropping the oldest beyond ``size``."""
        if not self.size:
            return
        with self._lock:
            self._orders[order.order_id] = order
            self._orders.move_to_end(order.order_id)
            while len(self._orders) > self.size:
                self._orders.popitem(last=False)
