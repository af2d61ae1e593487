"""The trusted builders make values indistinguishable from constructed ones.

``orderkit._build`` writes slots through a writable twin class and then re-classes the
object; these tests pin that the result is exactly the frozen type, equal to what the
validating constructor builds, still frozen, hashable, picklable and evolvable, and
that the twin never leaks out.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit._build import Part, assemble, builder, copier, field_names
from orderkit.model.audit import AuditEntry
from orderkit.model.money import Money
from orderkit.model.orders import Address, Order, OrderLine, OrderStatus

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)


def _order() -> Order:
    line = OrderLine("L1", "TEA", 2, Money("10.00", "CNY"))
    return Order(
        order_id="O1",
        channel="pos",
        channel_order_id="P1",
        lines=[line],
        created_at=T0,
        ship_to=Address(name="张三", city="杭州"),
        tags={"vip"},
    )


def test_copy_equals_evolve_and_is_the_real_frozen_type() -> None:
    order = _order()
    moved = copier(Order, ("status", "version"))(order, OrderStatus.PAID, 1)
    assert type(moved) is Order
    assert moved == attrs.evolve(order, status=OrderStatus.PAID, version=1)
    assert moved.lines is order.lines  # unchanged fields are shared, not copied
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        moved.version = 2  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del moved.version  # type: ignore[misc]


def test_built_value_hashes_pickles_and_evolves_like_a_constructed_one() -> None:
    made = builder(Money)(Decimal("1.50"), "CNY")
    constructed = Money("1.50", "CNY")
    assert type(made) is Money
    assert made == constructed and hash(made) == hash(constructed)
    assert pickle.loads(pickle.dumps(made)) == constructed
    assert attrs.evolve(made, currency="USD") == Money("1.50", "USD")


def test_keyword_builder_needs_every_field() -> None:
    make = builder(AuditEntry, keyword=True)
    values = dict.fromkeys(field_names(AuditEntry))
    entry = make(**values)
    assert type(entry) is AuditEntry
    missing = dict(values)
    missing.pop("order_id")
    with pytest.raises(TypeError):
        make(**missing)


def test_copier_refuses_a_field_the_class_does_not_have() -> None:
    with pytest.raises(AttributeError, match="nonsense"):
        copier(Order, ("nonsense",))


def test_builders_are_cached_per_class_and_fields() -> None:
    assert copier(Order, ("version",)) is copier(Order, ("version",))
    assert builder(Money) is builder(Money)
    assert builder(Money) is not builder(Money, keyword=True)


@given(
    version=st.integers(min_value=0, max_value=10**9),
    status=st.sampled_from(list(OrderStatus)),
    buyer=st.text(max_size=20),
)
def test_copy_matches_the_validating_constructor(
    version: int, status: OrderStatus, buyer: str
) -> None:
    order = _order()
    fast = copier(Order, ("version", "status", "buyer_id"))(order, version, status, buyer)
    slow = attrs.evolve(order, version=version, status=status, buyer_id=buyer)
    assert fast == slow
    assert {n: getattr(fast, n) for n in field_names(Order)} == {
        n: getattr(slow, n) for n in field_names(Order)
    }


@attrs.frozen(slots=False)
class _DictBacked:
    amount: int
    label: str = ""


class _HostOrder(Order):
    """A host's own subclass of the canonical order, without slots of its own."""


def test_classes_without_slots_and_host_subclasses_are_built_too() -> None:
    made = builder(_DictBacked)(3, "x")
    assert type(made) is _DictBacked and made == _DictBacked(3, "x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.amount = 4  # type: ignore[misc]
    order = _order()
    host = _HostOrder(**{name: getattr(order, name) for name in field_names(Order)})
    copied = copier(_HostOrder, ("version",))(host, 7)
    assert type(copied) is _HostOrder
    assert copied == attrs.evolve(host, version=7)


def test_an_assembler_builds_several_values_that_refer_to_each_other() -> None:
    order = _order()
    make = assemble(
        ("src", "amount", "version"),
        [
            Part("price", Money, {"amount": "amount", "currency": "_CNY"}),
            Part(
                "line",
                OrderLine,
                {"unit_price": "price"},
                copy_of="src.lines[0]",
            ),
            Part("new", Order, {"lines": "(line,)", "version": "version"}, copy_of="src"),
        ],
        "(price, new)",
        constants={"_CNY": "CNY"},
    )
    price, new = make(order, Decimal("12.50"), 5)
    expected_line = attrs.evolve(order.lines[0], unit_price=Money("12.50", "CNY"))
    assert type(price) is Money and price == Money("12.50", "CNY")
    assert type(new) is Order
    assert new == attrs.evolve(order, lines=(expected_line,), version=5)
    assert new.lines[0].unit_price is price  # the later part holds the earlier one
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        new.version = 6  # type: ignore[misc]


def test_an_assembler_refuses_unknown_and_missing_fields() -> None:
    with pytest.raises(AttributeError, match="no fields"):
        assemble(("a",), [Part("m", Money, {"amount": "a", "colour": "a"})], "m")
    with pytest.raises(AttributeError, match="needs values for \\['currency'\\]"):
        assemble(("a",), [Part("m", Money, {"amount": "a"})], "m")


def test_building_runs_no_validator_and_no_init() -> None:
    calls: list[str] = []

    @attrs.frozen
    class Probe:
        x: int = attrs.field(validator=lambda *_: calls.append("validated"))

        def __attrs_post_init__(self) -> None:
            calls.append("post-init")

    constructed = Probe(1)
    assert calls == ["validated", "post-init"]
    calls.clear()
    made = builder(Probe)(1)
    copied = copier(Probe, ("x",))(made, 2)
    assert calls == []  # trusted: the caller validated already
    assert type(made) is Probe and made == constructed and copied == Probe(2)


def test_a_conditional_part_is_built_only_when_its_condition_holds() -> None:
    make = assemble(
        ("amount", "wanted"),
        [Part("price", Money, {"amount": "amount", "currency": "'CNY'"}, when="wanted")],
        "price",
    )
    assert make(Decimal("1.00"), False) is None
    built = make(Decimal("1.00"), True)
    assert type(built) is Money and built == Money("1.00", "CNY")


def test_an_assemblers_bindings_are_read_once_before_the_parts() -> None:
    reads: list[str] = []

    class Source:
        @property
        def amount(self) -> Decimal:
            reads.append("amount")
            return Decimal("3.00")

    make = assemble(
        ("source",),
        [
            Part("first", Money, {"amount": "amount", "currency": "'CNY'"}),
            Part("second", Money, {"amount": "amount", "currency": "'USD'"}),
        ],
        "(first, second)",
        bindings={"amount": "source.amount"},
    )
    assert make(Source()) == (Money("3.00", "CNY"), Money("3.00", "USD"))
    assert reads == ["amount"]
