"""The generated fast path builds exactly what the checked path builds, or refuses alike.

``Plan.build`` runs code generated per map that reads the common shapes inline and makes
the canonical values with trusted builders; ``Plan.build_checked`` is the reference (the
compiled readers and the validating constructors). Every comparison here is by ``repr``
as well as ``==``, so an enum member that became a plain string, a ``Decimal`` with the
wrong exponent or a list instead of a tuple would show.
"""

from __future__ import annotations

import copy
import decimal
import json
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

FIXTURES = Path(__file__).parent / "fixtures" / "mapping"
ALL = sorted(FIXTURES.glob("*/*.json"))
SEEDS = [(p.parent.name, json.loads(p.read_text("utf-8"))) for p in ALL]
SEEDS_BY = dict(reversed(SEEDS))  # the first fixture of each platform
PLATFORMS = ("tmall", "jd", "pdd", "douyin", "shopify", "woocommerce")


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


def outcome(build: Any, payload: object) -> tuple[str, object]:
    """What a build did: the order and payable, or the error's platform/path/value/reason."""
    try:
        order, payable = build(payload)
    except MappingError as error:
        return "refused", (error.platform, error.path, repr(error.value), error.reason)
    return "built", (order, payable)


def assert_same(platform: str, payload: object, plan: Plan | None = None) -> None:
    """Both paths of ``platform``'s plan (or of ``plan``) give the same answer."""
    plan = plan or default_registry().plan(platform)
    fast = outcome(plan.build, payload)
    checked = outcome(plan.build_checked, payload)
    assert fast == checked
    assert repr(fast) == repr(checked)
    if fast[0] == "built":
        order, _ = fast[1]  # type: ignore[misc]
        again = revalidated(order)
        assert again == order
        assert repr(again) == repr(order)
        assert from_dict(Order, to_dict(order)) == order


def test_every_builtin_map_compiles_to_a_fast_path() -> None:
    for platform in PLATFORMS:
        plan = default_registry().plan(platform)
        assert plan._build is not plan._checked, platform


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fast_built_fixture_equals_the_order_the_constructors_build(path: Path) -> None:
    assert_same(path.parent.name, json.loads(path.read_text("utf-8")))


def test_fast_built_values_have_canonical_types() -> None:
    order, payable = default_registry().plan("tmall").build(SEEDS_BY["tmall"])
    assert type(order) is Order
    assert type(order.lines) is tuple and type(order.adjustments) is tuple
    assert type(order.status) is OrderStatus
    assert all(type(a.kind) is AdjustmentKind and type(a.borne_by) is Bearer
               for a in order.adjustments)
    assert all(set(line.quantities) == set(LineStatus) for line in order.lines)
    assert type(payable) is Money and payable.amount.as_tuple().exponent == -2


# --- values the fast path must not accept on its own -------------------------------------

TMALL_LINE = ("orders", "order", 0)

ODD_CASES = [
    # (platform, path inside the payload, value)
    ("tmall", ("tid",), "9" * 123),  # order_id would pass 128 characters
    ("tmall", ("tid",), "9" * 122),
    ("tmall", ("tid",), "   "),
    ("tmall", ("tid",), True),
    ("tmall", ("tid",), 10**40),
    ("tmall", ("created",), " 2026-02-16 00:30:00"),
    ("tmall", ("created",), "2026-02-16T00:30:00+08:00"),
    ("tmall", ("created",), "2026-02-30 25:61:00"),
    ("tmall", ("created",), "2026/02/16 00:30:00"),
    ("tmall", ("created",), "20260216003000"),
    ("tmall", ("created",), 1771173000),
    ("tmall", ("created",), 1771173000123),
    ("tmall", ("pay_time",), ""),
    ("tmall", ("pay_time",), None),
    ("tmall", ("status",), "TRADE_CLOSED"),
    ("tmall", ("status",), "WAIT_PRE_AUTH_CONFIRM"),
    ("tmall", ("payment",), "328.5"),
    ("tmall", ("payment",), " 328.50"),
    ("tmall", ("payment",), "328.500"),
    ("tmall", ("payment",), "-328.50"),
    ("tmall", ("payment",), 328.5),
    ("tmall", ("post_fee",), "1_0.00"),
    ("tmall", ("post_fee",), "-8.00"),
    ("tmall", ("post_fee",), "１２.３０"),
    ("tmall", ("receiver_name",), "x" * 4097),
    ("tmall", ("receiver_name",), 5),
    ("tmall", ("buyer_open_uid",), None),
    ("tmall", ("orders",), []),
    ("tmall", ("orders", "order"), []),
    ("tmall", ("orders", "order"), {"0": 1}),
    ("tmall", (*TMALL_LINE, "oid"), 3698512204873532841),  # duplicate line id
    ("tmall", (*TMALL_LINE, "num"), True),
    ("tmall", (*TMALL_LINE, "num"), 0),
    ("tmall", (*TMALL_LINE, "num"), "2"),
    ("tmall", (*TMALL_LINE, "price"), "89"),
    ("tmall", (*TMALL_LINE, "price"), "9" * 16 + ".00"),
    ("tmall", (*TMALL_LINE, "title"), "t" * 4097),
    ("tmall", (*TMALL_LINE, "outer_sku_id"), ""),
    ("tmall", (*TMALL_LINE, "outer_sku_id"), "x" * 4097),
    ("tmall", (*TMALL_LINE, "refund_status"), "SUCCESS"),
    ("tmall", (*TMALL_LINE, "refund_status"), None),
    ("tmall", (*TMALL_LINE, "refund_status"), 1),
    ("tmall", (*TMALL_LINE, "adjust_fee"), "-3.00"),
    ("tmall", (*TMALL_LINE, "adjust_fee"), "-0.00"),
    ("tmall", (*TMALL_LINE, "discount_fee"), "-1.00"),
    ("douyin", ("order_id",), 6932104587612340001),
    ("douyin", ("create_time",), 0),
    ("douyin", ("create_time",), -1),
    ("douyin", ("create_time",), 10**11),
    ("douyin", ("pay_time",), 0),
    ("douyin", ("pay_time",), False),
    ("douyin", ("order_status",), True),
    ("douyin", ("order_status",), 2.0),
    ("douyin", ("order_status",), "2"),
    ("douyin", ("pay_amount",), "31850"),
    ("douyin", ("pay_amount",), 10**15),
    ("douyin", ("promotion_shop_amount",), -100),
    ("douyin", ("post_addr",), None),
    ("douyin", ("post_addr",), ["not", "an", "object"]),
    ("douyin", ("post_addr", "province"), "上海市"),
    ("douyin", ("mask_post_receiver",), ""),
    ("douyin", ("sku_order_list", 0, "after_sale_info"), None),
    ("douyin", ("sku_order_list", 0, "after_sale_info"), "refunded"),
    ("douyin", ("sku_order_list", 0, "after_sale_info", "refund_status"), 3),
    ("douyin", ("sku_order_list", 0, "goods_price"), 1.5),
    ("douyin", ("sku_order_list", 0, "item_num"), 10**9 + 1),
]


def _put(payload: dict[str, Any], path: tuple[Any, ...], value: object) -> None:
    target: Any = payload
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


@pytest.mark.parametrize(("platform", "path", "value"), ODD_CASES,
                         ids=[f"{c[0]}:{'.'.join(map(str, c[1]))}={c[2]!r:.20}" for c in ODD_CASES])
def test_odd_values_get_the_checked_answer(platform: str, path: tuple[Any, ...],
                                           value: object) -> None:
    payload = copy.deepcopy(SEEDS_BY[platform])
    _put(payload, path, value)
    assert_same(platform, payload)


def test_too_long_order_id_is_still_refused_with_platform_path_and_value() -> None:
    payload = copy.deepcopy(SEEDS_BY["tmall"])
    payload["tid"] = "9" * 123
    with pytest.raises(MappingError) as caught:
        default_registry().plan("tmall").build(payload)
    assert caught.value.platform == "tmall"
    assert caught.value.path == "order_id"
    assert caught.value.value == "tmall:" + "9" * 123


def test_deleted_keys_get_the_checked_answer() -> None:
    for platform, seed in SEEDS:
        for key in list(seed):
            payload = copy.deepcopy(seed)
            del payload[key]
            assert_same(platform, payload)


# --- random payloads ---------------------------------------------------------------------

def mutated() -> st.SearchStrategy[tuple[str, Any]]:
    return mutated_payloads(SEEDS)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fast_and_checked_paths_agree_on_mutated_payloads(case: tuple[str, Any]) -> None:
    platform, payload = case
    assert_same(platform, payload)


# --- a map that uses what the built-in ones do not ---------------------------------------


def _odd_map() -> PlatformMap:
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
    "head": {"id": 42, "at": "2026-03-29 01:30:00"},
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

@settings(max_examples=300, deadline=None)
@given(mutated_payloads([("odd", ODD_SEED)], max_mutations=3))
def test_fast_and_checked_paths_agree_on_a_map_with_unusual_features(
    case: tuple[str, Any],
) -> None:
    registry = Registry(builtins=False)
    plan = registry.register(_odd_map())
    assert plan._build is not plan._checked
    _, payload = case
    assert_same("odd", payload, plan)


def test_a_low_precision_host_context_does_not_change_what_maps() -> None:
    payload = copy.deepcopy(SEEDS_BY["tmall"])
    payload["orders"]["order"][0]["price"] = "1234567.00"  # 9 digits, past precision 6
    plan = default_registry().plan("tmall")
    expected = outcome(plan.build_checked, payload)
    assert expected[0] == "built"
    with decimal.localcontext() as context:
        context.prec = 6
        assert_same("tmall", payload)
        assert outcome(plan.build_checked, payload) == expected
