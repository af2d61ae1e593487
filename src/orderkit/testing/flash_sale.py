"""A flash sale through the public API, for proving a shared store under contention.

Run :func:`flash_sale_worker` in several processes (``multiprocessing`` *spawn*
context): each places orders for one SKU through :class:`~orderkit.lifecycle.OrderService`
with an :class:`~orderkit.inventory.InventoryLedger` (every placement locks its units in
the same transaction as the order is saved), and cancels about a third of the orders it
placed again, so stock flows back while the others keep buying. Afterwards the store must
show that no more units were ever locked or shipped than were received. orderkit's own
tests run it with eight processes on PostgreSQL; the factories must be picklable
(``functools.partial`` of an adapter class and its arguments).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs

from orderkit.inventory.ledger import InventoryLedger
from orderkit.inventory.ports import InventoryStore
from orderkit.lifecycle.events import Event
from orderkit.lifecycle.ports import OrderRepository
from orderkit.lifecycle.service import OrderService
from orderkit.model.errors import InsufficientStock
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine
from orderkit.model.time import SystemClock

__all__ = ["SaleReport", "flash_sale_worker", "run_sale"]

_AT = datetime(2026, 2, 16, 12, 0, tzinfo=UTC)


@attrs.frozen
class SaleReport:
    """What one worker did: the orders it placed (id, units), those it cancelled again,
    and how many attempts found the SKU sold out."""

    worker: int
    attempts: int
    placed: tuple[tuple[str, int], ...]
    cancelled: tuple[str, ...]
    sold_out: int
    seconds: float


def run_sale(
    repository: OrderRepository,
    store: InventoryStore,
    *,
    secret: bytes,
    sku: str,
    attempts: int,
    seed: int,
    worker: int = 0,
    cancel_share: float = 1 / 3,
) -> SaleReport:
    """Try ``attempts`` placements of 1 to 3 units of ``sku``; cancel about
    ``cancel_share`` of the placed orders again (each right after it was placed)."""
    rng = random.Random(seed)
    clock = SystemClock()
    ledger = InventoryLedger(store, secret=secret, clock=clock, release_limit=10**9)
    service = OrderService(repository, inventory=ledger, clock=clock)
    placed: list[tuple[str, int]] = []
    cancelled: list[str] = []
    sold_out = 0
    started = time.monotonic()
    for attempt in range(attempts):
        order_id = f"W{worker}-{attempt}"
        units = rng.randint(1, 3)
        order = Order(
            order_id=order_id, channel="flash", channel_order_id=order_id,
            lines=[OrderLine("1", sku, units, Money("99.00", "CNY"))], created_at=_AT,
        )
        try:
            service.place(order)
        except InsufficientStock:
            sold_out += 1
            continue
        placed.append((order_id, units))
        if rng.random() < cancel_share:
            cancel = Event("cancel", event_id=f"cancel-{order_id}", at=clock.now())
            service.handle(order_id, cancel)  # the relay releases the lock after commit
            cancelled.append(order_id)
    return SaleReport(
        worker, attempts, tuple(placed), tuple(cancelled), sold_out,
        time.monotonic() - started,
    )


def flash_sale_worker(
    repository_factory: Callable[[], OrderRepository],
    store_factory: Callable[[], InventoryStore],
    secret: bytes,
    sku: str,
    attempts: int,
    seed: int,
    worker: int,
    barrier: Any,
    results: Any,
) -> None:
    """Process entry point: build the adapters, wait at ``barrier`` so all start
    together, run, and put the :class:`SaleReport` (or the exception) on ``results``."""
    try:
        repository, store = repository_factory(), store_factory()
        barrier.wait(timeout=120)
        results.put(
            run_sale(
                repository, store, secret=secret, sku=sku, attempts=attempts, seed=seed,
                worker=worker,
            )
        )
    except Exception as error:  # reported to the parent, which fails the run
        results.put(error)

