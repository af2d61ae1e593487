"""A unit refunded after it shipped stayed with the buyer: sync and a placement both take
it out of stock, from what the order's parcels carried (Shopify fulfilments)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from orderkit import LineStatus
from orderkit.adapters.memory import MemoryInventoryStore, MemoryOrderRepository, MemorySyncStore
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import OrderService
from orderkit.mapping import normalize
from orderkit.sync import Sync
from orderkit.testing import ManualClock

SHOPIFY = Path(__file__).parents[2] / "fixtures" / "mapping" / "shopify"


def _service(
    counted: datetime | None = None,
) -> tuple[OrderService, InventoryLedger, MemoryOrderRepository]:
    """A service on memory stores, five of each SKU in stock (counted at ``counted``)."""
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    ledger = InventoryLedger(MemoryInventoryStore(), secret=b"sent-units-secret-0123",
                             clock=clock)
    for sku in ("TEA-OOLONG-250G", "CUP-CELADON"):
        ledger.receive(sku, 5, reference="PO-1")
    repository = MemoryOrderRepository()
    service = OrderService(repository, inventory=ledger, clock=clock,
                           stock_counted_at=counted)
    return service, ledger, repository


def test_sync_and_a_placement_book_a_refunded_kept_unit_as_gone_alike() -> None:
    payload = json.loads((SHOPIFY / "fulfilled_partially_refunded.json").read_text("utf-8"))
    target = normalize("shopify", payload)
    cups = next(line for line in target.lines if line.sku == "CUP-CELADON")
    # Both cups went out in the two parcels; one was refunded (no restock) afterwards.
    assert (cups.quantities[LineStatus.SHIPPED], cups.quantities[LineStatus.REFUNDED]) == (1, 1)
    assert target.sent_units[cups.line_id] == 2

    service, ledger, repository = _service()
    report = Sync(repository, service, store=MemorySyncStore()).receive(
        "shopify", payload, received_at=datetime(2026, 3, 1, tzinfo=UTC))
    assert report.new == 1
    stored = repository.find_by_channel(target.channel, target.channel_order_id)
    assert stored is not None
    line = stored.line(cups.line_id)
    assert (line.quantities[LineStatus.SHIPPED], line.quantities[LineStatus.REFUNDED]) == (1, 1)
    synced = ledger.stock("CUP-CELADON").on_hand

    placing, placed_ledger, _repository = _service()
    placing.place(target)
    assert synced == placed_ledger.stock("CUP-CELADON").on_hand == 3
    for book in (ledger, placed_ledger):
        assert book.verify(shipped={stored.order_id: {"CUP-CELADON": 2,
                                                      "TEA-OOLONG-250G": 3}}).ok


def test_each_parcel_is_one_shipment_with_its_own_waybill_and_time() -> None:
    payload = json.loads((SHOPIFY / "fulfilled_partially_refunded.json").read_text("utf-8"))
    target = normalize("shopify", payload)
    first, second = target.shipments
    counted = datetime(2026, 2, 12, tzinfo=UTC)  # between the two parcels
    assert first.shipped_at is not None and second.shipped_at is not None
    assert first.shipped_at < counted < second.shipped_at
    shelves = []
    for path in ("sync", "place"):
        service, ledger, repository = _service(counted)
        if path == "sync":
            Sync(repository, service, store=MemorySyncStore()).receive(
                "shopify", payload, received_at=datetime(2026, 3, 1, tzinfo=UTC))
            stored = repository.find_by_channel(target.channel, target.channel_order_id)
            assert stored is not None
            assert [(s.waybill, s.shipped_at) for s in stored.shipments] == [
                (first.waybill, first.shipped_at), (second.waybill, second.shipped_at)]
        else:
            service.place(target)
        assert repository.dead_letters() == []
        shelves.append((ledger.stock("TEA-OOLONG-250G").on_hand,
                        ledger.stock("CUP-CELADON").on_hand))
    # The first parcel left before the count (recorded), the second after it (taken).
    assert shelves == [(5, 4), (5, 4)]
