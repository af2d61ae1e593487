"""What a compiled plan promises for any payload, checked on fixtures and random ones.

A payload either builds an order that is canonical (equal to itself rebuilt through every
constructor, round-tripped through ``to_dict``/``from_dict``, of the canonical types) or
is refused with a ``MappingError`` naming the platform, a path, and exactly the value
the payload holds at that path. Comparisons are by ``repr`` as well as ``==``, so an enum
member that became a plain string, a ``Decimal`` with the wrong exponent or a list
instead of a tuple would show.
"""

from __future__ import annotations

import copy
import decimal
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit.mapping import (
    AdjustmentSpec,
    Field,
    LinesSpec,
    PaymentSpec,
    Plan,
    PlatformMap,
    Registry,
    ShipmentSpec,
    StatusAxis,
    StatusRule,
    StatusTable,
    default_registry,
)
from orderkit.model.errors import MappingError
from orderkit.model.money import Money
from orderkit.model.orders import AdjustmentKind, Bearer, LineStatus, Order, OrderStatus
from orderkit.model.serialization import from_dict, to_dict
from orderkit.testing.strategies import mutated_payloads

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"
ALL = sorted(FIXTURES.glob("*/*.json"))
SEEDS = [(p.parent.name, json.loads(p.read_text("utf-8"))) for p in ALL]
SEEDS_BY = dict(reversed(SEEDS))  # the first fixture of each platform
PLATFORMS = ("tmall", "jd", "pdd", "douyin", "shopify", "woocommerce")

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
NOWHERE = object()


def value_at(payload: object, path: str) -> object:
    """The value at an error path like ``orders.order[2].price`` (``$``: the payload),
    or NOWHERE when the payload has nothing there."""
    if path == "$":
        return payload
    current: Any = payload
    for key, index in _STEP.findall(path):
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                return NOWHERE
            current = current[int(index)]
        elif isinstance(current, dict) and key in current:
            current = current[key]
        else:
            return NOWHERE
    return current


def revalidated(order: Order) -> Order:
    """``order`` rebuilt through every validating constructor and converter."""
    return attrs.evolve(
        order,
        lines=tuple(
            attrs.evolve(line, unit_price=attrs.evolve(line.unit_price)) for line in order.lines
        ),
        ship_to=attrs.evolve(order.ship_to) if order.ship_to is not None else None,
        adjustments=tuple(
            attrs.evolve(a, amount=attrs.evolve(a.amount)) for a in order.adjustments
        ),
        payments=tuple(attrs.evolve(p, amount=attrs.evolve(p.amount)) for p in order.payments),
        shipments=tuple(attrs.evolve(s) for s in order.shipments),
    )


def assert_canonical(order: Order, payable: Money, platform: str) -> None:
    again = revalidated(order)
    assert again == order
    assert repr(again) == repr(order)
    assert from_dict(Order, to_dict(order)) == order
    assert type(order) is Order
    assert type(order.status) is OrderStatus
    assert type(order.lines) is tuple and type(order.adjustments) is tuple
    assert all(type(a.kind) is AdjustmentKind and type(a.borne_by) is Bearer
               for a in order.adjustments)
    assert all(sum(line.quantities.values()) == line.quantity for line in order.lines)
    assert order.channel == platform
    assert order.order_id == f"{platform}:{order.channel_order_id}"
    assert type(payable) is Money and payable.currency == order.currency


def assert_answer(plan: Plan, payload: object) -> None:
    """The promise of :meth:`Plan.build` and :meth:`Plan.normalize` for ``payload``."""
    try:
        order, payable = plan.build(payload)
    except MappingError as error:
        assert error.platform == plan.name
        assert isinstance(error.path, str) and error.path
        found = value_at(payload, error.path)
        if found is not NOWHERE:
            assert found is error.value or (
                type(found) is type(error.value) and found == error.value
            ), (error.path, found, error.value)
        with pytest.raises(MappingError) as again:
            plan.normalize(payload)
        assert (again.value.path, repr(again.value.value), again.value.reason) == (
            error.path, repr(error.value), error.reason
        )
        return
    assert_canonical(order, payable, plan.name)
    try:
        normalized = plan.normalize(payload)
    except MappingError as error:
        assert error.path.endswith(plan.map.payable.path)
        assert f"but the platform's payable is {payable.amount}" in error.reason
    else:
        assert normalized == order
        assert normalized.totals.payable == payable


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_fixture_builds_a_canonical_order(path: Path) -> None:
    platform = path.parent.name
    plan = default_registry().plan(platform)
    order, payable = plan.build(json.loads(path.read_text("utf-8")))
    assert_canonical(order, payable, platform)


def test_built_values_have_canonical_types() -> None:
    order, payable = default_registry().plan("tmall").build(SEEDS_BY["tmall"])
    assert all(set(line.quantities) == set(LineStatus) for line in order.lines)
    assert payable.amount.as_tuple().exponent == -2
    assert all(a.amount.amount.as_tuple().exponent == -2 for a in order.adjustments)


# --- odd values, one at a time ----------------------------------------------------------

TMALL_LINE = ("orders", "order", 0)

# (platform, path inside the payload, value, None if it builds or (error path, reason))
ODD_CASES: list[tuple[str, tuple[Any, ...], object, tuple[str, str] | None]] = [
    ("tmall", ("tid",), "9" * 123, ("order_id", "longer than 128 characters")),
    ("tmall", ("tid",), "9" * 122, None),
    ("tmall", ("tid",), "   ", ("tid", "expected a non-empty identifier")),
    ("tmall", ("tid",), True, ("tid", "expected an identifier (string or integer)")),
    ("tmall", ("tid",), 10**40, ("tid", "identifier out of range")),
    # the seed's own creation time, written other ways (its pay_time is 2026-02-10 08:16:01)
    ("tmall", ("created",), " 2026-02-10 08:15:42", None),
    ("tmall", ("created",), "2026-02-10T08:15:42+08:00", None),
    ("tmall", ("created",), "2026-02-30 25:61:00", ("created", "expected ISO-8601")),
    ("tmall", ("created",), "2026/02/10 08:15:42", None),
    ("tmall", ("created",), "20260210081542", None),
    ("tmall", ("created",), 1770682542, None),
    ("tmall", ("created",), 1770682542123, None),
    ("tmall", ("created",), "2026-02-16 00:30:00",
     ("pay_time", "paid before the order was created (2026-02-15T16:30:00+00:00)")),
    ("tmall", ("pay_time",), "", None),
    ("tmall", ("pay_time",), None, None),
    ("tmall", ("status",), "TRADE_CLOSED", None),
    ("tmall", ("status",), "WAIT_PRE_AUTH_CONFIRM", ("status", "unknown trade status")),
    ("tmall", ("payment",), "328.5", None),
    ("tmall", ("payment",), " 328.50", None),
    ("tmall", ("payment",), "328.500", None),
    ("tmall", ("payment",), "-328.50", ("payment", "expected an amount >= 0")),
    ("tmall", ("payment",), 328.5, ("payment", "got a float")),
    ("tmall", ("post_fee",), "-8.00", ("post_fee", "expected an amount >= 0")),
    ("tmall", ("receiver_name",), "x" * 4097, ("name", "longer than 4096 characters")),
    ("tmall", ("receiver_name",), 5, ("receiver_name", "expected text")),
    ("tmall", ("buyer_open_uid",), None, None),
    ("tmall", ("orders",), [], ("orders", "expected an object")),
    ("tmall", ("orders", "order"), [], ("orders.order", "expected a non-empty list")),
    ("tmall", ("orders", "order"), {"0": 1}, ("orders.order", "expected a non-empty list")),
    ("tmall", (*TMALL_LINE, "num"), True, ("orders.order[0].num", "expected an integer")),
    ("tmall", (*TMALL_LINE, "num"), 0, ("orders.order[0].num", "expected a quantity")),
    ("tmall", (*TMALL_LINE, "num"), "2", None),
    ("tmall", (*TMALL_LINE, "price"), "89", None),
    ("tmall", (*TMALL_LINE, "price"), "9" * 16 + ".00",
     ("orders.order[0].price", "amount out of range")),
    ("tmall", (*TMALL_LINE, "title"), "t" * 4097, ("title", "longer than 4096 characters")),
    ("tmall", (*TMALL_LINE, "outer_sku_id"), "", None),
    ("tmall", (*TMALL_LINE, "outer_sku_id"), "x" * 4097, ("sku", "longer than 4096")),
    ("tmall", (*TMALL_LINE, "refund_status"), "SUCCESS", None),
    ("tmall", (*TMALL_LINE, "refund_status"), None, None),
    ("tmall", (*TMALL_LINE, "refund_status"), 1,
     ("orders.order[0].refund_status", "unknown refund status; add 1 to the tmall")),
    ("tmall", (*TMALL_LINE, "adjust_fee"), "-3.00", None),
    ("tmall", (*TMALL_LINE, "adjust_fee"), "-0.00", None),
    ("tmall", (*TMALL_LINE, "discount_fee"), "-1.00",
     ("orders.order[0].discount_fee", "expected an amount >= 0")),
    ("douyin", ("order_id",), 6932104587612340001, None),
    ("douyin", ("create_time",), 0, ("create_time", "not an order's creation time")),
    ("douyin", ("create_time",), 10**11, ("create_time", "not an order's creation time")),
    ("douyin", ("pay_time",), 0, None),
    ("douyin", ("pay_time",), False, None),
    ("douyin", ("order_status",), True, ("order_status", "unknown order status; add True")),
    ("douyin", ("order_status",), 2.0, ("order_status", "unknown order status; add 2.0")),
    ("douyin", ("order_status",), "2", ("order_status", "unknown order status; add '2'")),
    ("douyin", ("pay_amount",), "31850", None),
    ("douyin", ("pay_amount",), 10**15, ("pay_amount", "amount out of range")),
    ("douyin", ("promotion_shop_amount",), -100,
     ("promotion_shop_amount", "expected an amount >= 0")),
    ("douyin", ("post_addr",), None, None),
    ("douyin", ("post_addr",), ["not", "an", "object"], ("post_addr", "expected an object")),
    ("douyin", ("post_addr", "province"), "上海市", ("post_addr.province", "expected an object")),
    ("douyin", ("mask_post_receiver",), "", None),
    ("douyin", ("sku_order_list", 0, "after_sale_info"), None, None),
    ("douyin", ("sku_order_list", 0, "after_sale_info"), "refunded",
     ("sku_order_list[0].after_sale_info", "expected an object")),
    ("douyin", ("sku_order_list", 0, "after_sale_info", "refund_status"), 3, None),
    # beside its sum_amount, a unit price its unit refuses is passed over for the total
    ("douyin", ("sku_order_list", 0, "goods_price"), 1.5, None),
    ("douyin", ("sku_order_list", 0, "sum_amount"), 1.5,
     ("sku_order_list[0].sum_amount", "expected an integer number of minor units")),
    ("douyin", ("sku_order_list", 0, "item_num"), 10**9 + 1,
     ("sku_order_list[0].item_num", "expected a quantity between 1 and 1000000000")),
]


def _put(payload: dict[str, Any], path: tuple[Any, ...], value: object) -> None:
    target: Any = payload
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


@pytest.mark.parametrize(
    ("platform", "path", "value", "refused"), ODD_CASES,
    ids=[f"{c[0]}:{'.'.join(map(str, c[1]))}={c[2]!r:.20}" for c in ODD_CASES],
)
def test_odd_values_are_read_or_refused_by_name(
    platform: str, path: tuple[Any, ...], value: object, refused: tuple[str, str] | None
) -> None:
    payload = copy.deepcopy(SEEDS_BY[platform])
    _put(payload, path, value)
    plan = default_registry().plan(platform)
    assert_answer(plan, payload)
    if refused is None:
        plan.build(payload)
        return
    with pytest.raises(MappingError) as caught:
        plan.build(payload)
    assert caught.value.path == refused[0]
    assert refused[1] in caught.value.reason


def test_odd_times_and_amounts_that_are_read_mean_what_they_say() -> None:
    plan = default_registry().plan("tmall")
    seed = SEEDS_BY["tmall"]
    reference, _ = plan.build(seed)
    for value in (" 2026-02-10 08:15:42", "2026-02-10T08:15:42+08:00", "2026/02/10 08:15:42"):
        payload = copy.deepcopy(seed)
        payload["created"] = value  # the seed's own, paid at 2026-02-10 08:16:01
        assert plan.build(payload)[0].created_at.isoformat() == "2026-02-10T00:15:42+00:00"
    payload = copy.deepcopy(seed)
    payload["pay_time"] = ""
    assert plan.build(payload)[0].paid_at is None
    payload = copy.deepcopy(seed)
    payload["payment"] = "328.5"
    assert plan.build(payload)[1].amount.as_tuple().exponent == -2
    assert reference.paid_at is not None


def test_too_long_order_id_is_refused_with_platform_path_and_value() -> None:
    payload = copy.deepcopy(SEEDS_BY["tmall"])
    payload["tid"] = "9" * 123
    with pytest.raises(MappingError) as caught:
        default_registry().plan("tmall").build(payload)
    assert caught.value.platform == "tmall"
    assert caught.value.path == "order_id"
    assert caught.value.value == "tmall:" + "9" * 123


@pytest.mark.parametrize(("platform", "seed"), SEEDS, ids=[f"{p}-{i}" for i, (p, _) in
                                                           enumerate(SEEDS)])
def test_a_deleted_key_still_maps_or_is_named(platform: str, seed: dict[str, Any]) -> None:
    plan = default_registry().plan(platform)
    for key in list(seed):
        payload = copy.deepcopy(seed)
        del payload[key]
        try:
            plan.build(payload)
        except MappingError as error:
            assert error.path == key or error.path.startswith((f"{key}.", f"{key}[")), (
                key, error.path
            )
        assert_answer(plan, payload)


# --- random payloads ---------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_payloads(SEEDS))
def test_mutated_payloads_build_canonical_orders_or_name_the_bad_value(
    case: tuple[str, Any],
) -> None:
    platform, payload = case
    assert_answer(default_registry().plan(platform), payload)


# --- a map that uses what the built-in ones do not ---------------------------------------


def odd_map() -> PlatformMap:
    """Currency read from the payload, nested paths, a presence axis, a status axis with a
    null value, non-text map defaults, signed line adjustments, payment and shipment."""
    return PlatformMap(
        name="odd",
        source_zone="Europe/London",
        currency_path="meta.currency",
        order_id=Field("head.id", "id"),
        created_at=Field("head.at", "timestamp"),
        paid_at=Field("paid", "timestamp", required=False, null=(None, 0, "")),
        buyer_id=Field("buyer", "id", required=False, default="anonymous"),
        payable=Field("total", "minor"),
        ship_to={"name": Field("to.name", required=False, default=7),
                 "city": Field("to.city", required=False, default="")},
        lines=LinesSpec(
            path="data.items",
            sku=Field("sku", "text"),
            quantity=Field("n", "count"),
            unit_price=Field("cents", "minor"),
        ),
        status=StatusTable(
            axes={"state": StatusAxis("state", ("open", 1, None)),
                  "void": StatusAxis("voided_at", presence=True)},
            rules=(
                StatusRule({"void": "set"}, OrderStatus.CANCELLED),
                StatusRule({"state": "open"}, OrderStatus.PENDING_PAYMENT),
                StatusRule({}, OrderStatus.PAID),
            ),
        ),
        adjustments=(
            AdjustmentSpec("ship", AdjustmentKind.SHIPPING, Bearer.BUYER, unit="minor"),
            AdjustmentSpec("fix", AdjustmentKind.ROUNDING, Bearer.MERCHANT, unit="minor",
                           signed=True, scope="line"),
        ),
        payment=PaymentSpec(reference=Field("ref", "id", required=False)),
        shipment=ShipmentSpec(carrier=Field("carrier", required=False),
                              waybill=Field("waybill", required=False),
                              shipped_at=Field("shipped", "timestamp", required=False)),
    )


ODD_SEED: dict[str, Any] = {
    "meta": {"currency": "JPY"},
    "head": {"id": 42, "at": "2025-10-26 01:30:00"},  # twice in London: clocks went back
    "paid": 1774800000,
    "total": 1500,
    "to": {"name": "Ann", "city": "Leeds"},
    "data": {"items": [{"sku": "A", "n": 1, "cents": 1000, "fix": -20},
                       {"sku": "B", "n": 2, "cents": 250, "fix": 20}]},
    "state": 1,
    "voided_at": None,
    "ship": 0,
    "ref": "r-1",
    "waybill": "WB1",
    "carrier": "SF",
    "shipped": "2026-03-29T09:00:00+01:00",
}


def test_the_unusual_map_reads_its_seed() -> None:
    plan = Registry(builtins=False).register(odd_map())
    order = plan.normalize(ODD_SEED)
    assert order.order_id == "odd:42"
    assert order.currency == "JPY"
    assert order.status is OrderStatus.PAID
    assert order.created_at.tzinfo is UTC
    assert order.paid_at == datetime.fromtimestamp(1774800000, UTC)
    assert order.shipments[0].shipped_at == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert order.buyer_id == "anonymous"
    assert [a.amount for a in order.adjustments] == [Money(-20, "JPY"), Money(20, "JPY")]
    assert [(p.payment_id, p.reference) for p in order.payments] == [("odd:42:payment", "r-1")]
    [shipment] = order.shipments
    assert (shipment.shipment_id, dict(shipment.lines)) == ("odd:42:WB1", {"1": 1, "2": 2})
    assert order.totals.payable == Money(1500, "JPY")


def test_a_map_default_the_constructor_refuses_is_a_mapping_error() -> None:
    plan = Registry(builtins=False).register(odd_map())
    payload = copy.deepcopy(ODD_SEED)
    del payload["to"]["name"]  # the map's default for it is 7, not text
    with pytest.raises(MappingError) as caught:
        plan.build(payload)
    assert (caught.value.path, caught.value.value) == ("name", 7)


@settings(max_examples=300, deadline=None)
@given(mutated_payloads([("odd", ODD_SEED)], max_mutations=3))
def test_the_unusual_map_builds_canonical_orders_or_names_the_bad_value(
    case: tuple[str, Any],
) -> None:
    plan = Registry(builtins=False).register(odd_map())
    _, payload = case
    assert_answer(plan, payload)


# --- the host's decimal context ------------------------------------------------------------


def outcome(plan: Plan, payload: object) -> tuple[str, str, str]:
    """What ``build`` gave, and whether (and where) ``normalize`` refused."""
    try:
        built = repr(plan.build(payload))
    except MappingError as error:
        built = repr((error.path, error.value, error.reason))
    try:
        plan.normalize(payload)
    except MappingError as error:
        return built, "refused", error.path
    return built, "normalized", ""


def test_a_low_precision_host_context_does_not_change_what_maps() -> None:
    payload = copy.deepcopy(SEEDS_BY["tmall"])
    line = payload["orders"]["order"][0]
    rise = (Decimal("1234567.00") - Decimal(line["price"])) * line["num"]
    line["price"] = "1234567.00"  # 9 digits, past precision 6
    payload["payment"] = str(Decimal(payload["payment"]) + rise)
    plan = default_registry().plan("tmall")
    expected = outcome(plan, payload)
    assert expected[1] == "normalized"
    with decimal.localcontext() as context:
        context.prec = 6
        assert outcome(plan, payload) == expected


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fen_and_totals_are_exact_under_a_two_digit_host_context(path: Path) -> None:
    plan = default_registry().plan(path.parent.name)
    payload = json.loads(path.read_text("utf-8"))
    expected = outcome(plan, payload)
    with decimal.localcontext() as context:
        context.prec = 2
        assert outcome(plan, payload) == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_payloads(SEEDS), st.integers(min_value=1, max_value=8))
def test_no_payload_maps_differently_under_a_host_decimal_context(
    case: tuple[str, Any], precision: int
) -> None:
    platform, payload = case
    plan = default_registry().plan(platform)
    expected = outcome(plan, payload)
    with decimal.localcontext() as context:
        context.prec = precision
        assert outcome(plan, payload) == expected
