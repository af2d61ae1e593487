"""to_dict/from_dict: JSON-safe, exact, strict, with field paths in errors."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit import Money, Order, OrderLine, from_dict, to_dict
from orderkit.model.errors import ValidationError
from orderkit.model.orders import RefundValue
from orderkit.model.serialization import make_converter
from orderkit.testing.samples import sample_order
from orderkit.testing.strategies import orders


def _repriced(order: Order) -> Order:
    """``order`` with a price cut since a unit left (its ``repriced_left``)."""
    zero = Money("0.00", "CNY")
    kept = RefundValue(Money("1.00", "CNY"), Money("0.09", "CNY"), zero, zero, zero, zero)
    return attrs.evolve(order, repriced_left=kept)


def test_an_order_without_a_repricing_is_written_without_the_key() -> None:
    # A reader from before repriced_left refuses the unknown key: leave it out when None.
    order = sample_order()
    data = to_dict(order)
    assert "repriced_left" not in data
    assert "repriced_left" not in to_dict([order])[0]  # inside a container, too
    assert from_dict(Order, json.loads(json.dumps(data))) == order
    # what was written with the key as null still reads
    assert from_dict(Order, {**data, "repriced_left": None}) == order


def test_an_order_with_a_repricing_is_written_with_it_and_round_trips() -> None:
    order = _repriced(sample_order())
    data = to_dict(order)
    assert data["repriced_left"]["goods"] == {"amount": "1.00", "currency": "CNY"}
    assert from_dict(Order, json.loads(json.dumps(data))) == order


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(orders())
def test_orders_round_trip_through_json(order: Order) -> None:
    text = json.dumps(to_dict(order))
    assert from_dict(Order, json.loads(text)) == order


def test_json_shape_keeps_money_exact_and_times_with_offset() -> None:
    data = to_dict(sample_order())
    assert data["lines"][0]["unit_price"] == {"amount": "19.90", "currency": "CNY"}
    assert data["adjustments"][2]["amount"]["amount"] == "1.23456"
    assert data["created_at"] == "2026-02-16T01:30:00+00:00"
    assert data["status"] == 30
    assert data["lines"][1]["quantities"] == {
        "open": 0,
        "shipped": 2,
        "cancelled": 1,
        "refunded": 0,
        "returned": 0,
    }
    assert data["tags"] == ["source=douyin_live:influencer", "vip"]
    assert type(next(iter(data["lines"][1]["quantities"]))) is str
    assert json.loads(json.dumps(data)) == data


def _data() -> dict[str, Any]:
    return copy.deepcopy(to_dict(sample_order()))


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (
            lambda d: d["lines"][1]["unit_price"].__setitem__("amount", 5.0),
            "lines[1].unit_price.amount",
        ),
        (lambda d: d["lines"][0].__setitem__("quantity", "5"), "lines[0].quantity"),
        (lambda d: d["lines"][0].pop("sku"), "lines[0].sku"),
        (lambda d: d.__setitem__("created_at", "2026-02-16 01:30:00"), "created_at"),
        (lambda d: d.__setitem__("status", 1000), "status"),
        (lambda d: d["payments"][0].__setitem__("at", "yesterday"), "payments[0].at"),
        (lambda d: d["lines"][1]["quantities"].__setitem__("lost", 1), "lines[1].quantities"),
        (lambda d: d.__setitem__("colour", "red"), "$"),
        (lambda d: d["ship_to"].__setitem__("name", 7), "ship_to.name"),
        (
            lambda d: d["lines"][0]["unit_price"].__setitem__("currency", "RMB"),
            "lines[0].unit_price.currency",
        ),
    ],
)
def test_bad_fields_are_reported_with_their_path(mutate: Any, path: str) -> None:
    data = _data()
    mutate(data)
    with pytest.raises(ValidationError) as caught:
        from_dict(Order, data)
    assert caught.value.path == path


@settings(max_examples=200)
@given(
    st.data(),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=2), st.none(), max_size=2),
    ),
)
def test_any_corruption_gives_a_validation_error(data: st.DataObject, junk: object) -> None:
    document = _data()
    node: Any = document
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        if isinstance(node[key], dict | list) and node[key] and data.draw(st.booleans()):
            node = node[key]
            continue
        node[key] = junk
        break
    with contextlib.suppress(ValidationError):
        from_dict(Order, document)


def test_money_and_lines_serialize_on_their_own() -> None:
    assert from_dict(Money, {"amount": "12.30", "currency": "CNY"}) == Money("12.30", "CNY")
    line = OrderLine("1", "SKU", 2, Money("1.00", "CNY"))
    assert from_dict(OrderLine, to_dict(line)) == line
    with pytest.raises(ValidationError) as caught:
        from_dict(Money, {"amount": "1"})
    assert caught.value.path == "currency"


def test_make_converter_builds_independent_converters() -> None:
    first, second = make_converter(), make_converter()
    assert first is not second
    assert first.unstructure(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00+00:00"


def test_a_stored_return_without_refunded_units_reads_back() -> None:
    from datetime import UTC, datetime

    from orderkit.model.orders import Return

    stored = {"return_id": "rq", "lines": {"1": 1}, "requested_at": None,
              "received": {}, "sellable": {}, "received_at": None}
    back = from_dict(Return, stored)
    assert back.refunded == {} and back.cancelled == {} and back.outstanding == {"1": 1}
    assert from_dict(Return, to_dict(Return("rq", {"1": 1}, datetime(2026, 1, 1, tzinfo=UTC),
                                            refunded={"1": 1}))).refunded == {"1": 1}
    withdrawn = Return("rq", {"1": 2}, cancelled={"1": 1})
    assert from_dict(Return, to_dict(withdrawn)) == withdrawn
    assert withdrawn.outstanding == {"1": 1}
