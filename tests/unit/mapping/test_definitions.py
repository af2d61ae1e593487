"""Maps are checked when defined; integrators add platforms and extend built-in ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.mapping import (
    AdjustmentSpec,
    Field,
    LinesSpec,
    PlatformMap,
    Registry,
    StatusAxis,
    StatusRule,
    StatusTable,
    compile_map,
    get_map,
    normalize,
    platforms,
    register,
)
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.money import Money
from orderkit.model.orders import AdjustmentKind, Bearer, LineStatus, OrderStatus

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"


def load(platform: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text("utf-8"))
    return payload


def pos_map(**changes: Any) -> PlatformMap:
    """A small in-house point-of-sale feed: the kind of map an integrator writes."""
    spec = PlatformMap(
        name="pos",
        source_zone="Asia/Shanghai",
        order_id=Field("ticket", "id"),
        created_at=Field("at", "timestamp"),
        payable=Field("total_fen", "fen"),
        lines=LinesSpec(path="items", sku=Field("sku", "id"), quantity=Field("qty", "count"),
                        unit_price=Field("price_fen", "fen")),
        status=StatusTable(
            axes={"state": StatusAxis("state", ("open", "paid", "void"))},
            rules=(
                StatusRule({"state": "open"}, OrderStatus.PENDING_PAYMENT),
                StatusRule({"state": "paid"}, OrderStatus.COMPLETED),
                StatusRule({"state": "void"}, OrderStatus.CANCELLED),
            ),
        ),
        adjustments=(AdjustmentSpec("member_discount_fen", AdjustmentKind.DISCOUNT,
                                    unit="fen"),),
    )
    return attrs.evolve(spec, **changes)


TICKET = {"ticket": "STORE7-0009", "at": 1771216200, "state": "paid", "total_fen": 16800,
          "member_discount_fen": 1000,
          "items": [{"sku": "TEA-OOLONG-250G", "qty": 2, "price_fen": 8900}]}


def test_an_integrator_registers_an_in_house_platform() -> None:
    registry = Registry(builtins=False)
    registry.register(pos_map())
    order = registry.normalize("pos", TICKET)
    assert order.order_id == "pos:STORE7-0009"
    assert order.status is OrderStatus.COMPLETED
    assert order.totals.payable == Money("168.00", "CNY")
    assert registry.platforms() == ("pos",)


def test_registering_a_name_twice_needs_replace() -> None:
    registry = Registry(builtins=False)
    registry.register(pos_map())
    with pytest.raises(DefinitionError, match="already registered"):
        registry.register(pos_map())
    registry.register(pos_map(), replace=True)


def test_the_default_registry_lists_the_built_in_platforms() -> None:
    assert {"tmall", "taobao", "jd", "pdd", "douyin", "shopify", "woocommerce"} <= set(
        platforms()
    )


def test_module_level_register_adds_a_platform_for_normalize() -> None:
    register(pos_map(name="pos_store7"), replace=True)
    assert normalize("pos_store7", TICKET).channel == "pos_store7"


def test_extending_tmall_with_pre_authorised_trades_without_forking_it() -> None:
    trade = load("tmall", "wait_seller_send_goods")
    trade["status"] = "WAIT_PRE_AUTH_CONFIRM"
    with pytest.raises(MappingError):
        normalize("tmall", trade)
    extended = get_map("tmall").extended(
        "tmall_credit",
        status_values={"trade": ("WAIT_PRE_AUTH_CONFIRM",)},
        status_rules=(StatusRule({"trade": "WAIT_PRE_AUTH_CONFIRM"}, OrderStatus.PENDING_PAYMENT,
                                 "credit pre-authorisation"),),
    )
    registry = Registry(builtins=False)
    registry.register(extended)
    assert registry.normalize("tmall_credit", trade).status is OrderStatus.PENDING_PAYMENT
    # The built-in map is untouched.
    with pytest.raises(MappingError):
        normalize("tmall", trade)


def test_replacing_a_built_in_map_in_a_private_registry() -> None:
    registry = Registry()
    trade = load("tmall", "wait_seller_send_goods")
    trade["seller_flag_fee"] = "2.00"
    trade["payment"] = "330.50"
    with pytest.raises(MappingError):
        registry.normalize("tmall", trade)
    registry.register(
        registry.get_map("tmall").extended(
            adjustments=(AdjustmentSpec("seller_flag_fee", AdjustmentKind.TAX, Bearer.BUYER),)
        ),
        replace=True,
    )
    assert registry.normalize("tmall", trade).totals.tax == Money("2.00", "CNY")


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"payable": Field("total_fen", "pennies")}, "pos.payable", "unknown unit"),
        ({"payable": Field("total_fen", "text")}, "pos.payable", "expected unit"),
        ({"order_id": Field("tic..ket", "id")}, "pos.order_id", "bad path segment"),
        ({"source_zone": "Mars/Olympus"}, "pos.source_zone", "IANA"),
        ({"currency": "RMB"}, "pos.currency", "ISO 4217"),
        ({"name": "my platform"}, "name", "short word"),
        ({"ship_to": {"recipient": Field("name")}}, "pos.ship_to['recipient']",
         "Address has no field"),
        ({"adjustments": (AdjustmentSpec("x", AdjustmentKind.DISCOUNT, signed=True),)},
         "pos.adjustments[0]", "only a ROUNDING"),
    ],
)
def test_bad_entries_are_refused_when_defined(
    change: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(DefinitionError, match=message) as caught:
        compile_map(pos_map(**change))
    assert caught.value.path == path


def test_a_rule_naming_an_undeclared_status_value_is_refused() -> None:
    table = pos_map().status.with_rules(StatusRule({"state": "refunded"}, OrderStatus.CLOSED))
    with pytest.raises(DefinitionError, match="'refunded' is not declared") as caught:
        compile_map(pos_map(status=table))
    assert caught.value.path == "pos.status.rules[0]"


def test_a_status_combination_without_a_rule_is_refused() -> None:
    table = StatusTable(
        axes={"state": StatusAxis("state", ("open", "paid", "void"))},
        rules=(StatusRule({"state": "open"}, OrderStatus.PENDING_PAYMENT),),
    )
    with pytest.raises(DefinitionError, match="no rule covers state='paid'"):
        compile_map(pos_map(status=table))


def test_a_line_rule_must_give_a_line_status() -> None:
    lines = attrs.evolve(
        pos_map().lines,
        status=StatusTable(axes={"s": StatusAxis("s", ("a",))},
                           rules=(StatusRule({}, OrderStatus.PAID),)),
    )
    with pytest.raises(DefinitionError, match="expected a LineStatus"):
        compile_map(pos_map(lines=lines))
    ok = attrs.evolve(lines, status=StatusTable(axes={"s": StatusAxis("s", ("a",))},
                                                rules=(StatusRule({}, LineStatus.OPEN),)))
    compile_map(pos_map(lines=ok))


@pytest.mark.parametrize("platform", ["tmall", "jd", "pdd", "douyin", "shopify", "woocommerce"])
def test_every_built_in_map_compiles(platform: str) -> None:
    assert compile_map(get_map(platform)).name == platform


def test_influencer_commission_joined_by_the_host_reduces_settlement_not_payable() -> None:
    """Douyin's order detail carries the influencer's discount but not their commission
    (that comes from the alliance settlement API); a host that joins it in maps it too."""
    order_detail = load("douyin", "paid_three_skus_with_influencer_promotion")
    order_detail["sku_order_list"][0]["alliance_commission_fen"] = 1780
    registry = Registry()
    registry.register(registry.get_map("douyin").extended(adjustments=(
        AdjustmentSpec("alliance_commission_fen", AdjustmentKind.COMMISSION, Bearer.MERCHANT,
                       unit="fen", scope="line", label="influencer commission"),
    )), replace=True)
    order = registry.normalize("douyin", order_detail)
    totals = order.totals
    assert totals.payable == Money("318.50", "CNY")
    assert totals.merchant_fees == Money("17.80", "CNY")
    assert totals.settlement == Money("318.50", "CNY") + Money("15.00", "CNY") - Money(
        "17.80", "CNY"
    )
    [commission] = [a for a in order.adjustments if a.kind is AdjustmentKind.COMMISSION]
    assert commission.line_id == "6932104587612340101"


def test_sub_fen_precision_is_accepted_only_where_the_field_declares_it() -> None:
    metered = pos_map(
        name="metered",
        payable=Field("total", "yuan", max_decimals=4),
        lines=LinesSpec(path="items", sku=Field("sku", "id"), quantity=Field("qty", "count"),
                        unit_price=Field("price", "yuan", max_decimals=4)),
        adjustments=(),
    )
    # A unit price finer than the fen; the line (and the order) still comes to whole fen.
    ticket = {"ticket": "M-1", "at": 1771216200, "state": "paid", "total": "0.1000",
              "items": [{"sku": "SMS", "qty": 8, "price": "0.0125"}]}
    registry = Registry(builtins=False)
    registry.register(metered)
    assert registry.normalize("metered", ticket).lines[0].unit_price == Money("0.0125", "CNY")
    registry.register(pos_map(name="metered", adjustments=(), lines=attrs.evolve(
        metered.lines, unit_price=Field("price", "yuan")), payable=Field("total", "yuan")),
        replace=True)
    with pytest.raises(MappingError, match="more than 2 decimals") as caught:
        registry.normalize("metered", ticket)
    assert caught.value.path == "items[0].price"


def test_replacing_the_tmall_map_replaces_what_taobao_reads_unless_taobao_has_its_own() -> None:
    """``taobao`` is the Tmall map under another name: a host that fixes the Tmall map
    fixes Taobao trades too; a map registered under ``taobao`` itself stands."""
    from orderkit.mapping import StatusRule, get_map
    from orderkit.model.orders import OrderStatus

    trade = dict(load("tmall", "wait_seller_send_goods"), status="WAIT_PRE_AUTH_CONFIRM")
    trade.pop("pay_time")
    fixed = get_map("tmall").extended(
        "tmall", status_values={"trade": ("WAIT_PRE_AUTH_CONFIRM",)},
        status_rules=(StatusRule({"trade": "WAIT_PRE_AUTH_CONFIRM"},
                                 OrderStatus.PENDING_PAYMENT),),
    )
    registry = Registry()
    with pytest.raises(MappingError):
        registry.normalize("taobao", trade)  # compiled before the fix
    registry.register(fixed, replace=True)
    order = registry.normalize("taobao", trade)
    assert (order.status, order.channel) == (OrderStatus.PENDING_PAYMENT, "tmall")
    assert order.order_id == f"tmall:{trade['tid']}"  # one trade, one order

    own = Registry()
    own.register(attrs.evolve(get_map("tmall"), name="taobao", channel="tmall"), replace=True)
    own.register(fixed, replace=True)
    with pytest.raises(MappingError):
        own.normalize("taobao", trade)  # its own map, not the fixed Tmall one
