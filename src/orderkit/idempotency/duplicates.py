"""Duplicate-submission detection: the double-clicked "submit".

Most orders flagged as "suspected fraud" in the incident review were a buyer pressing
"submit" twice, or a client retrying a request that had in fact succeeded: two orders,
same buyer, same channel, same lines, same amount, seconds apart. The detector derives a
fingerprint from exactly those facts and remembers, through the idempotency store, which
order first had it. A second order with the same fingerprint inside ``window`` is
reported with the first order's id. Because the memory lives in the store, two
processes behind a load balancer see each other's orders (with the SQLite or a shared
store).

In the store, the first order holds a claim on the fingerprint whose lease is the
window; the claim never completes, it simply expires, and purging drops it like any
other expired claim.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from orderkit.idempotency.records import IdempotencyRecord, positive_duration
from orderkit.idempotency.tokens import new_token
from orderkit.model.errors import ValidationError
from orderkit.model.ids import fingerprint
from orderkit.model.money import Money
from orderkit.model.orders import Order
from orderkit.model.time import SystemClock, checked_now

if TYPE_CHECKING:
    from orderkit.idempotency.ports import IdempotencyStore
    from orderkit.model.time import Clock

__all__ = ["DuplicateDetector"]

_NAMESPACE: Final = "orderkit.duplicate-order"
_MAX_ROUNDS: Final = 8


class DuplicateDetector:
    """Tells whether a new order repeats one seen within ``window`` (default 60 s)."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        window: timedelta = timedelta(seconds=60),
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self.window = positive_duration("window", window)
        self._clock: Clock = clock if clock is not None else SystemClock()

    @staticmethod
    def key(
        *, buyer: str, channel: str, lines: Iterable[tuple[str, int]], amount: Money
    ) -> str:
        """The store key for these facts; line order does not matter, quantities add up."""
        if not isinstance(buyer, str) or not buyer:
            raise ValidationError("buyer", buyer, "expected the buyer's identity")
        if not isinstance(channel, str) or not channel:
            raise ValidationError("channel", channel, "expected a channel name")
        if not isinstance(amount, Money):
            raise ValidationError("amount", amount, "expected Money")
        totals: dict[str, int] = {}
        for index, line in enumerate(lines):
            if (
                not isinstance(line, tuple)
                or len(line) != 2
                or not isinstance(line[0], str)
                or isinstance(line[1], bool)
                or not isinstance(line[1], int)
            ):
                raise ValidationError(f"lines[{index}]", line, "expected (sku, quantity)")
            totals[line[0]] = totals.get(line[0], 0) + line[1]
        return fingerprint(_NAMESPACE, buyer, channel, sorted(totals.items()), amount)

    def check(
        self,
        order_id: str,
        *,
        buyer: str,
        channel: str,
        lines: Iterable[tuple[str, int]],
        amount: Money,
    ) -> str | None:
        """Record ``order_id``; return the id of an earlier duplicate within the window.

        ``None`` means "not a duplicate" (and this order is now the one later
        submissions are compared with). Checking the same order again returns ``None``.
        """
        if not isinstance(order_id, str) or not order_id:
            raise ValidationError("order_id", order_id, "expected an order id")
        key = self.key(buyer=buyer, channel=channel, lines=lines, amount=amount)
        for _ in range(_MAX_ROUNDS):
            now = checked_now(self._clock)
            mine = IdempotencyRecord(
                key=key,
                request_hash=fingerprint(order_id),
                token=new_token(),
                created_at=now,
                lease_expires_at=now + self.window,
                outcome=order_id.encode("utf-8"),
            )
            seen = self._store.claim(mine)
            if seen is None:
                return None
            earlier = (seen.outcome or b"").decode("utf-8", "replace")
            if not seen.lease_expired(now):
                return None if earlier == order_id else earlier
            # Outside the window: this order becomes the one later ones are compared with.
            if self._store.take_over(seen.token, mine):
                return None
        return None

    def check_order(self, order: Order) -> str | None:
        """:meth:`check` with the facts taken from a canonical order."""
        return self.check(
            order.order_id,
            buyer=order.buyer_id,
            channel=order.channel,
            lines=[(line.sku, line.quantity) for line in order.lines],
            amount=order.totals.payable,
        )
