"""A payment, a parcel or a cash on delivery collection cannot come before the order was
created: such a time is a corrupted or sentinel value (Douyin ``pay_time: -1``, an epoch
text), refused naming the field, never mapped to a payment in 1969."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from orderkit.errors import MappingError
from orderkit.mapping import normalize

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mapping"


def sample(platform: str) -> dict[str, Any]:
    text = resources.files("orderkit.mapping").joinpath("samples", f"{platform}.json")
    payload: dict[str, Any] = json.loads(text.read_text("utf-8"))
    return payload


def fixture(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return payload


def refusal(platform: str, payload: dict[str, Any]) -> tuple[str, object, str]:
    with pytest.raises(MappingError) as caught:
        normalize(platform, payload)
    return caught.value.path, caught.value.value, caught.value.reason


@pytest.mark.parametrize(("platform", "value", "created"), [
    ("douyin", -1, "2026-02-16T04:30:00+00:00"),
    ("douyin", 1, "2026-02-16T04:30:00+00:00"),
    ("tmall", "1970-01-01 08:00:00", "2026-02-15T16:30:00+00:00"),
    ("tmall", "2026-02-16 00:29:59", "2026-02-15T16:30:00+00:00"),
])
def test_a_payment_before_the_order_was_created_is_refused_naming_it(
    platform: str, value: object, created: str
) -> None:
    payload = dict(sample(platform), pay_time=value)
    assert refusal(platform, payload) == (
        "pay_time", value,
        f"paid before the order was created ({created}): not a payment time")


def test_a_payment_in_the_second_the_order_was_created_maps() -> None:
    payload = sample("tmall")
    payload["pay_time"] = payload["created"]
    order = normalize("tmall", payload)
    assert order.paid_at == order.created_at == order.payments[0].at


def test_the_refused_payment_time_is_named_inside_its_envelope() -> None:
    trade = dict(sample("tmall"), pay_time="1970-01-01 08:00:00")
    response = {"trade_fullinfo_get_response": {"trade": trade}}
    path, value, _ = refusal("tmall", response)
    assert (path, value) == ("trade_fullinfo_get_response.trade.pay_time", "1970-01-01 08:00:00")


def test_a_parcel_shipped_before_the_order_was_created_is_refused_naming_it() -> None:
    payload = fixture("douyin/shipped_every_documented_field")
    payload["logistics_info"][0]["ship_time"] = payload["create_time"] - 1
    path, value, reason = refusal("douyin", payload)
    assert (path, value) == ("logistics_info[0].ship_time", payload["create_time"] - 1)
    assert reason.startswith("shipped before the order was created (")


def test_a_sub_order_consigned_before_the_trade_was_created_is_refused_naming_it() -> None:
    payload = fixture("tmall/seller_consigned_part_with_waybill")
    lines = payload["orders"]["order"]
    index = next(i for i, line in enumerate(lines) if line.get("consign_time"))
    lines[index]["consign_time"] = "2000-01-01 00:00:00"
    path, value, _ = refusal("tmall", payload)
    assert (path, value) == (f"orders.order[{index}].consign_time", "2000-01-01 00:00:00")


def test_cash_collected_before_the_order_was_created_is_refused_naming_it() -> None:
    payload = fixture("jd/cash_on_delivery_finished")
    payload["orderEndTime"] = "2026-02-15 11:02:00"  # a day before orderStartTime
    path, value, reason = refusal("jd", payload)
    assert (path, value) == ("orderEndTime", "2026-02-15 11:02:00")
    assert reason.startswith("collected before the order was created (")


def test_every_fixture_pays_ships_and_collects_after_it_was_created() -> None:
    for path in sorted(FIXTURES.glob("*/*.json")):
        order = normalize(path.parent.name, json.loads(path.read_text("utf-8")))
        times = [order.paid_at, *(s.shipped_at for s in order.shipments),
                 *(payment.at for payment in order.payments)]  # refunds too
        assert all(at >= order.created_at for at in times if at is not None), path.name



@pytest.mark.parametrize(("value", "created"), [
    (0, "1970-01-01T00:00:00+00:00"),
    (-1, "1969-12-31T23:59:59+00:00"),
    (946684799, "1999-12-31T23:59:59+00:00"),
    (4102444800, "2100-01-01T00:00:00+00:00"),
    (99999999999, "5138-11-16T09:46:39+00:00"),
])
def test_a_creation_time_outside_2000_to_2099_is_refused_naming_it(
    value: int, created: str
) -> None:
    payload = dict(sample("douyin"), create_time=value, pay_time=None)
    assert refusal("douyin", payload) == (
        "create_time", value,
        f"created {created}: not an order's creation time (expected 2000 to 2099)")


def test_an_epoch_creation_text_is_refused_naming_it() -> None:
    payload = dict(sample("tmall"), created="1970-01-01 08:00:00")
    path, value, reason = refusal("tmall", payload)
    assert (path, value) == ("created", "1970-01-01 08:00:00")
    assert reason.startswith("created 1970-01-01T00:00:00+00:00: not an order's creation time")


@pytest.mark.parametrize("value", [946684800, 4102444799])
def test_a_creation_time_at_the_ends_of_the_range_maps(value: int) -> None:
    payload = dict(sample("douyin"), create_time=value, pay_time=None)
    assert normalize("douyin", payload).created_at.timestamp() == value
