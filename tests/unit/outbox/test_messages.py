"""Outbox messages: stable ids, canonical payloads, refusals that name the field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit.errors import ValidationError
from orderkit.outbox import OutboxMessage, message_id

T0 = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)
TEXT = st.text(min_size=1, max_size=12)


@given(TEXT, TEXT, st.integers(0, 50), TEXT, TEXT, st.integers(0, 50))
def test_message_ids_are_stable_and_differ_when_any_part_does(
    order: str, event: str, index: int, other_order: str, other_event: str, other_index: int
) -> None:
    same = message_id(order, event, index)
    assert same == message_id(order, event, index) and len(same) == 32
    if (order, event, index) != (other_order, other_event, other_index):
        assert same != message_id(other_order, other_event, other_index)


def test_a_separator_inside_an_id_cannot_make_two_decisions_collide() -> None:
    assert message_id("A:B", "C", 0) != message_id("A", "B:C", 0)
    assert message_id("A|1", "C", 0) != message_id("A", "1|C", 0)
    with pytest.raises(ValidationError) as caught:
        message_id("A", "B", -1)
    assert caught.value.path == "index"


def test_a_payload_is_kept_as_canonical_text_and_read_back_fresh() -> None:
    first = OutboxMessage("m1", "ORD-1", "stock.commit", {"lines": {"B": 1, "A": 2}, "n": 1}, T0)
    second = OutboxMessage("m1", "ORD-1", "stock.commit", {"n": 1, "lines": {"A": 2, "B": 1}}, T0)
    assert first == second and hash(first) == hash(second)
    assert first.payload_json == '{"lines":{"A":2,"B":1},"n":1}'
    first.payload["lines"]["A"] = 99  # the reader's copy, not the message
    assert first.payload["lines"]["A"] == 2
    assert attrs.evolve(first, message_id="m2").payload == first.payload


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"amount": 12.3}, "payload.amount"),
        ({"lines": [1, 2.5]}, "payload.lines[1]"),
        ({1: "x"}, "payload"),
        ({"a": {"b": [{"c": 1.5}]}}, "payload.a.b[0].c"),
        ({"a": [[1, "x", None, True], {"d": Decimal("1.50")}]}, "payload.a[1].d"),
        ({"skus": {"A", "B"}}, "payload.skus"),
        ({"ok": "x", "inner": {2: "y"}}, "payload.inner"),
        (["not", "a", "mapping"], "payload"),
        ("[1, 2]", "payload"),
        ('{"amount": 12.3}', "payload"),
        ('{"amount": NaN}', "payload"),
        ("{not json", "payload"),
    ],
)
def test_a_payload_that_is_not_json_values_is_refused(payload: object, path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OutboxMessage("m1", "ORD-1", "event.X", payload, T0)  # type: ignore[arg-type]
    assert caught.value.path == path
