"""Canonical values are immutable all the way down."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit import LineStatus, Money, Order, OrderLine, Payment, Shipment, from_dict, to_dict
from orderkit.model.frozen import FrozenMap

T0 = datetime(2026, 2, 16, tzinfo=UTC)


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.integers(1, 99), max_size=6))
def test_a_frozen_map_equals_hashes_and_pickles_like_its_items(items: dict[str, int]) -> None:
    frozen = FrozenMap(items)
    assert frozen == items and dict(frozen) == items
    assert frozen == FrozenMap(list(items.items()))
    assert hash(frozen) == hash(FrozenMap(dict(reversed(list(items.items())))))
    assert pickle.loads(pickle.dumps(frozen)) == frozen
    items["changed-after"] = 1  # the map copied what it was given
    assert "changed-after" not in frozen


def test_a_frozen_map_refuses_every_change() -> None:
    frozen = FrozenMap({"L1": 2})
    with pytest.raises(TypeError):
        frozen["L1"] = 3  # type: ignore[index]
    with pytest.raises(TypeError):
        del frozen["L1"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        frozen.update({"L2": 1})  # type: ignore[attr-defined]
    # Its views are views of the dict inside, and they change nothing either.
    assert list(frozen.items()) == [("L1", 2)]
    assert (list(frozen.keys()), list(frozen.values())) == (["L1"], [2])
    inside = frozen.items().mapping  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        inside["L1"] = 3
    assert frozen == {"L1": 2}


def test_no_dict_inside_an_order_can_be_changed_in_place() -> None:
    source = {LineStatus.OPEN: 1, LineStatus.SHIPPED: 1}
    line = OrderLine("1", "TEA", 2, Money("9.00", "CNY"), quantities=source)
    refund = Payment("R1", Money("1.00", "CNY"), T0, kind="refund", lines={"1": 1})
    parcel = Shipment("S1", "SF", "SF1", {"1": 1}, shipped_at=T0)
    order = Order(
        order_id="O1", channel="shop", channel_order_id="O1", lines=[line],
        created_at=T0, payments=[refund], shipments=[parcel],
    )
    source[LineStatus.OPEN] = 0  # the caller's dict is not the order's
    assert order.lines[0].quantities[LineStatus.OPEN] == 1
    for mapping in (order.lines[0].quantities, order.payments[0].lines, order.shipments[0].lines):
        assert isinstance(mapping, FrozenMap)
    assert hash(order) == hash(from_dict(Order, to_dict(order)))
    assert from_dict(Order, to_dict(order)) == order
