"""Small, fully populated canonical values for contract suites and examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orderkit.model.money import Money
from orderkit.model.orders import (
    Address,
    Adjustment,
    AdjustmentKind,
    Bearer,
    CarrierScan,
    Hold,
    HoldKind,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    Shipment,
    TrackingStatus,
)

__all__ = ["sample_order"]

_T0 = datetime(2026, 2, 16, 1, 30, tzinfo=UTC)


def sample_order(order_id: str = "ORD-1", *, channel_order_id: str | None = None) -> Order:
    """An order with every kind of field filled in, so a store must keep all of them."""
    return Order(
        order_id=order_id,
        channel="tmall",
        channel_order_id=channel_order_id or f"T-{order_id}",
        lines=(
            OrderLine("1", "SKU-A", 5, Money("19.90", "CNY"), title="绿茶 250g"),
            OrderLine(
                "2",
                "SKU-B",
                3,
                Money("5.00", "CNY"),
                quantities={LineStatus.SHIPPED: 2, LineStatus.CANCELLED: 1},
                channel_line_id="oid-2",
            ),
        ),
        created_at=_T0,
        recon_id="SO20260216000001",
        status=OrderStatus.SHIPPED,
        ship_to=Address(name="张*", phone="138****5678", province="浙江省", city="杭州市"),
        adjustments=(
            Adjustment(AdjustmentKind.SHIPPING, Money("8.00", "CNY"), borne_by=Bearer.BUYER),
            Adjustment(AdjustmentKind.COUPON, Money("10.00", "CNY"), borne_by=Bearer.PLATFORM),
            Adjustment(AdjustmentKind.FEE, Money("1.23456", "CNY"), label="commission"),
        ),
        payments=(
            Payment("P1", Money("112.50", "CNY"), _T0 + timedelta(minutes=1), method="alipay"),
        ),
        shipments=(
            Shipment(
                "S1",
                carrier="SF",
                waybill="SF1234567890",
                lines={"1": 5, "2": 2},
                shipped_at=_T0 + timedelta(hours=5),
                first_scan_at=_T0 + timedelta(hours=6),
                events=(CarrierScan(TrackingStatus.IN_TRANSIT, _T0 + timedelta(hours=6)),),
            ),
        ),
        holds=(Hold(HoldKind.MANUAL, by="ops-1", at=_T0, reason="customer asked to wait"),),
        tags=frozenset({"source=douyin_live:influencer", "vip"}),
        paid_at=_T0 + timedelta(minutes=1),
        version=3,
        buyer_id="buyer-42",
        status_since=_T0 + timedelta(hours=5),
        applied_event_ids=("e1", "e2", "e3"),
    )
