""""Do not ship" signals become holds with the platform's reason; presale flags, tags."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.mapping import (
    PRESALE,
    HoldSpec,
    PlatformHold,
    Registry,
    TagSpec,
    get_map,
    normalize,
)
from orderkit.model.errors import DefinitionError
from orderkit.model.orders import LineStatus, OrderStatus

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"


def load(platform: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / platform / f"{name}.json").read_text("utf-8"))
    return payload


def test_jd_locked_order_is_paid_and_held_with_jds_reason() -> None:
    order = normalize("jd", load("jd", "locked_cancellation_pending"))
    assert order.status is OrderStatus.PAID
    hold = order.hold("platform_locked")
    assert hold is not None
    assert type(hold.kind) is str
    assert hold.by == "jd"
    assert hold.at == datetime(2026, 2, 16, 1, 12, 40, tzinfo=UTC)  # "modified", Beijing
    assert hold.reason == "JD locked the order: a cancellation is pending (orderState=LOCKED)"


@pytest.mark.parametrize("state", ["POP_ORDER_PAUSE", "PAUSE"])
def test_jd_paused_order_is_held_as_paused(state: str) -> None:
    payload = load("jd", "locked_cancellation_pending")
    payload["orderState"] = state
    order = normalize("jd", payload)
    assert [h.kind for h in order.holds] == ["platform_paused"]
    assert f"orderState={state}" in order.holds[0].reason


def test_jd_order_waiting_for_stock_out_has_no_hold() -> None:
    assert normalize("jd", load("jd", "wait_seller_stock_out")).holds == ()


def test_tmall_sub_order_with_a_refund_asked_for_holds_the_order() -> None:
    order = normalize("tmall", load("tmall", "sub_order_refund_requested"))
    assert order.status is OrderStatus.PAID
    assert [line.status for line in order.lines] == [LineStatus.OPEN] * 3
    [hold] = order.holds
    assert hold.kind == PlatformHold.REFUND_REQUESTED == "refund_requested"
    assert hold.by == "tmall"
    assert hold.reason == (
        "the buyer asked for a refund"
        " (orders.order[1].refund_status=WAIT_SELLER_AGREE (line 3698512206871537777))"
    )


@pytest.mark.parametrize("refund", ["WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS"])
def test_every_open_refund_step_holds_an_unshipped_sub_order(refund: str) -> None:
    payload = load("tmall", "sub_order_refund_requested")
    payload["orders"]["order"][1]["refund_status"] = refund
    assert [h.kind for h in normalize("tmall", payload).holds] == ["refund_requested"]


@pytest.mark.parametrize("refund", ["SELLER_REFUSE_BUYER", "CLOSED", "NO_REFUND"])
def test_a_refused_or_withdrawn_refund_holds_nothing(refund: str) -> None:
    payload = load("tmall", "sub_order_refund_requested")
    payload["orders"]["order"][1]["refund_status"] = refund
    assert normalize("tmall", payload).holds == ()


def test_a_refund_asked_for_a_shipped_sub_order_holds_nothing() -> None:
    payload = load("tmall", "seller_consigned_part_with_waybill")
    payload["orders"]["order"][0]["refund_status"] = "WAIT_SELLER_AGREE"
    order = normalize("tmall", payload)
    assert order.lines[0].status is LineStatus.SHIPPED
    assert order.holds == ()


def test_taobao_paid_but_forbidden_to_ship_is_held_under_the_tmall_channel() -> None:
    order = normalize("taobao", load("tmall", "taobao_paid_forbid_consign"))
    assert order.status is OrderStatus.PAID
    assert (order.channel, [h.kind for h in order.holds]) == ("tmall", ["consign_forbidden"])
    assert order.holds[0].reason == (
        "paid, but the platform forbids shipping it (status=PAID_FORBID_CONSIGN)"
    )


def test_tmall_presale_trade_is_tagged_presale() -> None:
    assert normalize("tmall", load("tmall", "presale_final_paid")).tags == {PRESALE}
    assert normalize("tmall", load("tmall", "wait_seller_send_goods")).tags == frozenset()


def test_a_flag_of_another_json_type_is_not_the_flag() -> None:
    payload = load("tmall", "presale_final_paid")
    payload["new_presell"] = "true"
    assert normalize("tmall", payload).tags == frozenset()


def test_douyin_presale_line_tags_the_order() -> None:
    assert normalize("douyin", load("douyin", "presale_full_payment")).tags == {PRESALE}
    payload = load("douyin", "presale_full_payment")
    for item in payload["sku_order_list"]:
        item["pre_sale_type"] = 0
    assert normalize("douyin", payload).tags == frozenset()
    payload["sku_order_list"][1]["trade_type"] = 2  # deposit presale
    assert normalize("douyin", payload).tags == {PRESALE}


def test_pdd_presale_flag_tags_the_order() -> None:
    payload = load("pdd", "awaiting_shipment_three_lines")
    payload["is_pre_sale"] = 1
    assert normalize("pdd", payload).tags == {PRESALE}
    payload["is_pre_sale"] = 0
    assert normalize("pdd", payload).tags == frozenset()


@pytest.mark.parametrize(
    ("holds", "where"),
    [
        ((HoldSpec("x", "status", ()),), "tmall.holds[0].values"),
        ((HoldSpec("", "status", "A"),), "tmall.holds[0].kind"),
        ((HoldSpec("x", "status", "A", scope="parcel"),), "tmall.holds[0].scope"),  # type: ignore[arg-type]
        ((HoldSpec("x", "a..b", "A"),), "tmall.holds[0].path"),
        ((HoldSpec("x", "status", "A"), HoldSpec("x", "type", "B")), "tmall.holds[1].kind"),
    ],
)
def test_an_unsound_hold_is_refused_when_registered(
    holds: tuple[HoldSpec, ...], where: str
) -> None:
    spec = attrs.evolve(get_map("tmall"), holds=holds)
    with pytest.raises(DefinitionError) as caught:
        Registry(builtins=False).register(spec)
    assert caught.value.path.startswith(where)


def test_an_integrator_adds_a_hold_and_a_tag_by_extending_a_map() -> None:
    registry = Registry()
    registry.register(registry.get_map("pdd").extended(
        holds=(HoldSpec("risk_review", "risk_control_status", 1, "PDD risk control"),),
        tags=(TagSpec("lucky", "is_lucky_flag", 1),),
    ), replace=True)
    payload = load("pdd", "awaiting_shipment_three_lines")
    payload.update(risk_control_status=1, is_lucky_flag=1)
    order = registry.normalize("pdd", payload)
    assert [(h.kind, h.reason) for h in order.holds] == [
        ("risk_review", "PDD risk control (risk_control_status=1)")
    ]
    assert order.tags == {"lucky"}
