"""DuplicateDetector: the double-clicked "submit", within a window, across processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderkit.adapters.memory import MemoryIdempotencyStore
from orderkit.adapters.sqlite import SQLiteIdempotencyStore
from orderkit.idempotency import DuplicateDetector
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
CART = {
    "buyer": "buyer-7f3a",
    "channel": "tmall",
    "lines": [("TEA-OOLONG-250G", 2), ("CUP-CELADON", 1)],
    "amount": Money("223.50", "CNY"),
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def detector(clock: ManualClock) -> DuplicateDetector:
    return DuplicateDetector(MemoryIdempotencyStore(), clock=clock)


def test_a_double_click_within_the_window_names_the_first_order(
    detector: DuplicateDetector, clock: ManualClock
) -> None:
    assert detector.check("ORD-1", **CART) is None  # type: ignore[arg-type]
    clock.advance(timedelta(seconds=3))
    assert detector.check("ORD-2", **CART) == "ORD-1"  # type: ignore[arg-type]


def test_line_order_and_split_lines_do_not_hide_a_duplicate(detector: DuplicateDetector) -> None:
    detector.check("ORD-1", **CART)  # type: ignore[arg-type]
    reordered = {
        **CART,
        "lines": [("CUP-CELADON", 1), ("TEA-OOLONG-250G", 1), ("TEA-OOLONG-250G", 1)],
        "amount": Money("223.5", "CNY"),
    }
    assert detector.check("ORD-2", **reordered) == "ORD-1"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"buyer": "buyer-other"},
        {"channel": "jd"},
        {"lines": [("TEA-OOLONG-250G", 3), ("CUP-CELADON", 1)]},
        {"amount": Money("223.51", "CNY")},
    ],
)
def test_a_different_buyer_channel_cart_or_amount_is_not_a_duplicate(
    detector: DuplicateDetector, change: dict[str, object]
) -> None:
    detector.check("ORD-1", **CART)  # type: ignore[arg-type]
    assert detector.check("ORD-2", **{**CART, **change}) is None  # type: ignore[arg-type]


def test_after_the_window_the_same_cart_is_a_new_order_and_the_new_reference(
    detector: DuplicateDetector, clock: ManualClock
) -> None:
    detector.check("ORD-1", **CART)  # type: ignore[arg-type]
    clock.advance(timedelta(seconds=60))
    assert detector.check("ORD-2", **CART) is None  # type: ignore[arg-type]
    clock.advance(timedelta(seconds=10))
    assert detector.check("ORD-3", **CART) == "ORD-2"  # type: ignore[arg-type]


def test_checking_the_same_order_again_is_not_a_duplicate(detector: DuplicateDetector) -> None:
    assert detector.check("ORD-1", **CART) is None  # type: ignore[arg-type]
    assert detector.check("ORD-1", **CART) is None  # type: ignore[arg-type]


def test_two_store_objects_on_one_sqlite_file_see_each_others_orders(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    web = DuplicateDetector(SQLiteIdempotencyStore(tmp_path / "shop.db"), clock=clock)
    app = DuplicateDetector(SQLiteIdempotencyStore(tmp_path / "shop.db"), clock=clock)
    assert web.check("ORD-1", **CART) is None  # type: ignore[arg-type]
    clock.advance(timedelta(seconds=2))
    assert app.check("ORD-2", **CART) == "ORD-1"  # type: ignore[arg-type]


def test_check_order_reads_the_facts_from_a_canonical_order(
    detector: DuplicateDetector,
) -> None:
    def order(order_id: str, channel_order_id: str) -> Order:
        return Order(
            order_id=order_id,
            channel="tmall",
            channel_order_id=channel_order_id,
            lines=[OrderLine("1", "TEA-OOLONG-250G", 2, Money("89.00", "CNY"))],
            created_at=T0,
            buyer_id="buyer-7f3a",
        )

    assert detector.check_order(order("ORD-1", "3698512204871532841")) is None
    assert detector.check_order(order("ORD-2", "3698512204871532842")) == "ORD-1"


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("buyer", {"buyer": ""}),
        ("channel", {"channel": None}),
        ("amount", {"amount": "223.50"}),
        ("lines[0]", {"lines": [("SKU", "2")]}),
    ],
)
def test_bad_facts_are_refused_naming_the_field(
    detector: DuplicateDetector, field: str, change: dict[str, object]
) -> None:
    with pytest.raises(ValidationError) as caught:
        detector.check("ORD-1", **{**CART, **change})  # type: ignore[arg-type]
    assert caught.value.path == field


def test_the_window_must_be_positive() -> None:
    with pytest.raises(ValidationError) as caught:
        DuplicateDetector(MemoryIdempotencyStore(), window=timedelta(0))
    assert caught.value.path == "window"
