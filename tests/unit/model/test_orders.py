"""The canonical order: totals to the cent, line buckets, and named errors for bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit import (
    Address,
    Adjustment,
    AdjustmentKind,
    Bearer,
    CarrierScan,
    Hold,
    HoldKind,
    LineStatus,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentKind,
    Shipment,
    TrackingStatus,
)
from orderkit.model.errors import CurrencyMismatch, OrderkitError, ValidationError
from orderkit.model.orders import check_version_raised
from orderkit.testing.samples import sample_order

T0 = datetime(2026, 2, 16, 1, 30, tzinfo=UTC)


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def make_order(**changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_id": "ORD-1",
        "channel": "tmall",
        "channel_order_id": "3698512204871532841",
        "lines": [
            OrderLine("1", "SKU-A", 2, cny("89.00")),
            OrderLine("2", "SKU-B", 1, cny("45.50")),
        ],
        "created_at": T0,
    }
    fields.update(changes)
    return Order(**fields)


def test_only_identity_lines_and_creation_time_are_required() -> None:
    order = make_order()
    assert order.status is OrderStatus.PENDING_PAYMENT
    assert order.version == 0
    assert order.recon_id is None
    assert order.ship_to is None
    assert (order.adjustments, order.payments, order.shipments, order.holds) == ((), (), (), ())
    assert order.tags == frozenset()
    assert order.currency == "CNY"


def test_payable_is_goods_plus_shipping_minus_discounts_to_the_cent() -> None:
    order = make_order(
        adjustments=[
            Adjustment(AdjustmentKind.SHIPPING, cny("8.00"), borne_by=Bearer.BUYER),
            Adjustment(AdjustmentKind.COUPON, cny("20.00"), borne_by=Bearer.PLATFORM),
            Adjustment(AdjustmentKind.DISCOUNT, cny("5.50")),
            Adjustment(AdjustmentKind.FEE, cny("4.47")),
            Adjustment(AdjustmentKind.COMMISSION, cny("10.00"), borne_by=Bearer.MERCHANT),
            Adjustment(AdjustmentKind.ROUNDING, cny("-0.01")),
        ]
    )
    totals = order.totals
    assert totals.goods == cny("223.50")
    assert totals.shipping == cny("8.00")
    assert totals.discounts == cny("25.50")
    assert totals.payable == cny("205.99")
    assert totals.payable == totals.goods + totals.shipping - totals.discounts + totals.rounding
    # The platform pays back its coupon; the merchant pays fees and commission.
    assert totals.platform_funded == cny("20.00")
    assert totals.merchant_fees == cny("14.47")
    assert totals.settlement == cny("211.52")


def test_paid_and_refunded_totals_come_from_payments() -> None:
    order = make_order(
        payments=[
            Payment("P1", cny("223.50"), T0, method="alipay"),
            Payment("R1", cny("45.50"), T0, kind=PaymentKind.REFUND, lines={"2": 1}),
        ]
    )
    assert order.totals.paid == cny("223.50")
    assert order.totals.refunded == cny("45.50")


def test_line_buckets_must_sum_to_the_ordered_quantity() -> None:
    line = OrderLine("1", "SKU", 5, cny("1.00"), quantities={"open": 3, "cancelled": 2})
    assert line.quantities[LineStatus.CANCELLED] == 2
    assert line.quantities[LineStatus.REFUNDED] == 0
    with pytest.raises(ValidationError) as caught:
        OrderLine("1", "SKU", 5, cny("1.00"), quantities={"open": 3, "cancelled": 1})
    assert caught.value.path == "quantities"


@pytest.mark.parametrize("quantity", [-2, 0, "3", 2.0])
def test_a_bad_quantity_is_reported_as_the_quantity(quantity: object) -> None:
    with pytest.raises(ValidationError) as caught:
        OrderLine("1", "SKU", quantity, cny("1.00"))  # type: ignore[arg-type]
    assert caught.value.path == "quantity"
    assert caught.value.value == quantity


def test_line_status_summarises_its_buckets() -> None:
    def line(**buckets: int) -> OrderLine:
        return OrderLine("1", "S", sum(buckets.values()), cny("1"), quantities=buckets)

    assert line(open=1, cancelled=4).status is LineStatus.OPEN
    assert line(shipped=2, refunded=1).status is LineStatus.SHIPPED
    assert line(returned=1, refunded=1).status is LineStatus.RETURNED
    assert line(refunded=1, cancelled=1).status is LineStatus.REFUNDED
    assert line(cancelled=3).status is LineStatus.CANCELLED


def test_lines_in_two_currencies_are_refused_with_the_path() -> None:
    with pytest.raises(CurrencyMismatch) as caught:
        make_order(
            lines=[OrderLine("1", "A", 1, cny("1")), OrderLine("2", "B", 1, Money("1", "USD"))]
        )
    assert caught.value.path == "lines[1].unit_price.currency"


def test_adjustment_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch) as caught:
        make_order(adjustments=[Adjustment("shipping", Money("1", "USD"))])
    assert caught.value.path == "adjustments[0].amount.currency"


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"lines": []}, "lines"),
        (
            {"lines": [OrderLine("1", "A", 1, cny("1")), OrderLine("1", "B", 1, cny("1"))]},
            "lines[1].line_id",
        ),
        ({"lines": ["not a line"]}, "lines[0]"),
        ({"created_at": datetime(2026, 2, 16)}, "created_at"),
        ({"created_at": "2026-02-16T00:00:00Z"}, "created_at"),
        ({"order_id": ""}, "order_id"),
        ({"channel": None}, "channel"),
        ({"channel_order_id": 3698512204871532841}, "channel_order_id"),
        ({"status": 1000}, "status"),
        ({"status": "20"}, "status"),
        ({"recon_id": "SO-1"}, "recon_id"),
        ({"version": -1}, "version"),
        ({"version": True}, "version"),
        ({"tags": "vip"}, "tags"),
        ({"ship_to": {"name": "x"}}, "ship_to"),
        ({"holds": [Hold("manual", "a", T0), Hold("manual", "b", T0)]}, "holds[1].kind"),
        ({"paid_at": datetime(2026, 2, 16)}, "paid_at"),
    ],
)
def test_bad_order_fields_are_named(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make_order(**changes)
    assert caught.value.path == path


def test_status_accepts_the_organisation_code_or_a_host_defined_one() -> None:
    assert make_order(status=30).status is OrderStatus.SHIPPED
    assert make_order(status=22).status == 22  # e.g. AWAITING_REVIEW in an extended table
    assert OrderStatus.CANCELLED.is_final and not OrderStatus.DELIVERED.is_final


def test_orders_are_immutable_and_change_by_evolve() -> None:
    order = make_order()
    with pytest.raises(AttributeError):
        order.status = OrderStatus.PAID  # type: ignore[misc]
    paid = attrs.evolve(order, status=OrderStatus.PAID, version=1)
    assert (order.status, paid.status) == (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)


def test_line_and_hold_lookup() -> None:
    order = sample_order()
    assert order.line("2").sku == "SKU-B"
    assert order.hold(HoldKind.MANUAL) is not None
    assert order.hold(HoldKind.LOSS_MAKING) is None
    with pytest.raises(ValidationError) as caught:
        order.line("9")
    assert caught.value.path == "line_id"


def test_negative_discount_is_refused_but_rounding_is_signed() -> None:
    with pytest.raises(ValidationError) as caught:
        Adjustment(AdjustmentKind.DISCOUNT, cny("-1.00"))
    assert caught.value.path == "amount.amount"
    assert Adjustment(AdjustmentKind.ROUNDING, cny("-0.01")).payable_effect == cny("-0.01")


# --- every public constructor names the bad field, whatever it is given -------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.text(max_size=10),
    st.decimals(allow_nan=True),
    st.datetimes(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    st.just(object()),
)

VALID: dict[Callable[..., object], dict[str, object]] = {
    Money: {"amount": "1.00", "currency": "CNY"},
    Address: {
        "name": "张三",
        "phone": "13800000000",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "street": "文三路 1 号",
        "postcode": "310000",
        "country": "CN",
    },
    OrderLine: {
        "line_id": "1",
        "sku": "SKU",
        "quantity": 2,
        "unit_price": cny("1.00"),
        "quantities": {"open": 2},
        "title": "t",
        "channel_line_id": "c",
    },
    Adjustment: {
        "kind": "coupon",
        "amount": cny("1.00"),
        "borne_by": "platform",
        "line_id": "1",
        "label": "x",
    },
    Payment: {
        "payment_id": "P1",
        "amount": cny("1.00"),
        "at": T0,
        "method": "alipay",
        "kind": "payment",
        "reference": "r",
        "lines": {"1": 1},
    },
    CarrierScan: {"status": "in_transit", "at": T0, "location": "", "description": ""},
    Shipment: {
        "shipment_id": "S1",
        "carrier": "SF",
        "waybill": "SF1",
        "lines": {"1": 1},
        "shipped_at": T0,
        "first_scan_at": None,
        "events": (),
    },
    Hold: {"kind": "manual", "by": "ops", "at": T0, "reason": "r"},
    Order: {
        "order_id": "O1",
        "channel": "pos",
        "channel_order_id": "P1",
        "lines": (OrderLine("1", "SKU", 1, cny("1.00")),),
        "created_at": T0,
        "recon_id": None,
        "status": 10,
        "ship_to": None,
        "adjustments": (),
        "payments": (),
        "shipments": (),
        "holds": (),
        "tags": frozenset(),
        "paid_at": None,
        "version": 0,
        "buyer_id": "",
        "status_since": None,
        "lock_id": None,
        "applied_event_ids": (),
    },
}


@pytest.mark.parametrize("constructor", list(VALID), ids=lambda c: getattr(c, "__name__", "?"))
@given(data=st.data())
def test_bad_input_to_any_constructor_is_an_orderkit_error_naming_the_field(
    constructor: Callable[..., object], data: st.DataObject
) -> None:
    kwargs = dict(VALID[constructor])
    field = data.draw(st.sampled_from(sorted(kwargs)), label="field")
    kwargs[field] = data.draw(JUNK, label="value")
    try:
        constructor(**kwargs)
    except OrderkitError as error:
        assert isinstance(error, ValidationError)
        # The error names the replaced field, or a field derived from it.
        assert error.path.split(".")[0].split("[")[0] in {field, "amount", "quantities"}, error
    except Exception as error:  # pragma: no cover - the failure this test exists to catch
        raise AssertionError(f"{constructor} raised {type(error).__name__}: {error}") from error


def test_valid_arguments_construct_every_type() -> None:
    for constructor, kwargs in VALID.items():
        constructor(**kwargs)


def test_decimal_amount_is_kept_exactly() -> None:
    assert make_order().lines[1].unit_price.amount == Decimal("45.50")
    assert CarrierScan(TrackingStatus.SIGNED, T0).status is TrackingStatus.SIGNED


# --- an adjustment covers at most its line's units -----------------------------------------


@pytest.mark.parametrize("units", [1, 2])
def test_an_adjustment_may_cover_up_to_its_lines_units(units: int) -> None:
    order = make_order(adjustments=[Adjustment("discount", cny("15.00"), line_id="1", units=units)])
    assert order.totals.sold == order.totals.payable == cny("208.50")


def test_an_adjustment_covering_more_units_than_its_line_has_is_refused() -> None:
    """A discount "on 5 units" of a 2-unit line left the order's units carrying less of
    it than it took off the payable: a fresh order sold for more than it was payable."""
    with pytest.raises(ValidationError) as caught:
        make_order(adjustments=[
            Adjustment("shipping", cny("6.00")),
            Adjustment("discount", cny("15.00"), line_id="1", units=5),
        ])
    assert caught.value.path == "adjustments[1].units"
    assert caught.value.value == 5
    assert "line 1 has 2 units" in caught.value.reason


# --- the money an order asks for is whole minor units ---------------------------------------


def test_a_line_whose_amount_is_not_whole_fen_is_refused_naming_the_line() -> None:
    """100.00 / 3 as a unit price: payable 99.999, which no whole-fen payment settles."""
    with pytest.raises(ValidationError) as caught:
        OrderLine("7", "TEA", 3, cny("33.333"))
    assert caught.value.path == "unit_price"
    assert caught.value.value == cny("33.333")
    assert "line 7" in caught.value.reason and "CNY 99.999" in caught.value.reason


def test_a_sub_fen_line_in_stored_json_is_reported_with_its_path() -> None:
    from orderkit import from_dict, to_dict

    data = to_dict(make_order())
    data["lines"][1]["unit_price"]["amount"] = "15.1666"
    data["lines"][1]["quantity"] = 3
    data["lines"][1]["quantities"] = {"open": 3}
    with pytest.raises(ValidationError) as caught:
        from_dict(Order, data)
    assert caught.value.path == "lines[1].unit_price"


def test_a_unit_price_finer_than_the_fen_stands_when_the_line_comes_to_whole_fen() -> None:
    """A metered unit (0.0125 each, 8 of them: 0.10), and the multi-buy shape mapping
    gives "3 for 100.00": 33.33 a unit and the remainder as the line's ROUNDING."""
    assert OrderLine("1", "SMS", 8, cny("0.0125")).amount == cny("0.1000")
    order = make_order(
        lines=[OrderLine("1", "TEA", 3, cny("33.33"))],
        adjustments=[Adjustment("rounding", cny("0.01"), borne_by="buyer", line_id="1",
                                label="multi-buy remainder")],
    )
    assert order.totals.payable == order.totals.sold == cny("100.00")


def test_adjustments_that_leave_the_payable_finer_than_the_fen_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        make_order(adjustments=[Adjustment("fee", cny("1.23456")),
                                Adjustment("coupon", cny("0.005"))])
    assert caught.value.path == "adjustments[1].amount"
    assert "CNY 223.495" in caught.value.reason
    # Sub-fen amounts that cancel out, and fees (not paid by the buyer), stand.
    halves = [Adjustment("coupon", cny("0.005")), Adjustment("discount", cny("0.005"))]
    assert make_order(adjustments=halves).totals.payable == cny("223.49")
    assert make_order(adjustments=[Adjustment("fee", cny("1.23456"))]).totals.payable == cny(
        "223.50"
    )


def test_whole_fen_is_decided_exactly_whatever_the_decimal_context() -> None:
    import decimal

    with decimal.localcontext(decimal.Context(prec=5)):
        with pytest.raises(ValidationError):
            OrderLine("1", "X", 2**62, cny("0.001"))
        assert OrderLine("1", "X", 2**62, cny("0.01")).quantity == 2**62


# --- text every store can hold ----------------------------------------------------------------

NUL = "TEA\x00250G"


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (lambda: OrderLine("1", NUL, 1, cny("1.00")), "sku"),
        (lambda: OrderLine(NUL, "A", 1, cny("1.00")), "line_id"),
        (lambda: OrderLine("1", "A", 1, cny("1.00"), title=NUL), "title"),
        (lambda: make_order(order_id=NUL), "order_id"),
        (lambda: make_order(channel_order_id=NUL), "channel_order_id"),
        (lambda: make_order(buyer_id=NUL), "buyer_id"),
        (lambda: make_order(lock_id=NUL), "lock_id"),
        (lambda: make_order(tags={"vip", NUL}), "tags"),
        (lambda: make_order(applied_event_ids=("pay-1", NUL)), "applied_event_ids[1]"),
        (lambda: Shipment("S1", "SF", NUL), "waybill"),
        (lambda: Shipment("S1", "SF", "SF1", lines={NUL: 1}), "lines"),
        (lambda: Address(street=NUL), "street"),
        (lambda: Hold(NUL, "ops", T0), "kind"),
        (lambda: Adjustment("discount", cny("1.00"), line_id=NUL), "line_id"),
    ],
)
def test_text_with_nul_is_refused_naming_the_field(build: Callable[[], object], path: str) -> None:
    """PostgreSQL text (and JSON) holds no NUL: memory and SQLite kept what PostgreSQL
    then refused with a driver error. Every store now gets the same refusal, as for a
    lone surrogate."""
    with pytest.raises(ValidationError) as caught:
        build()
    assert caught.value.path == path
    assert "NUL" in caught.value.reason


@pytest.mark.parametrize(
    ("ids", "path", "reason"),
    [
        (("pay-1", "pay-2", "ship\x00-1"), "applied_event_ids[2]", "NUL (at 4)"),
        (("pay-1", "pay-\udc80"), "applied_event_ids[1]", "lone surrogate at 4"),
        # A surrogate pair split over two ids is two lone surrogates, not one character.
        (("pay-\ud83d", "\ude00"), "applied_event_ids[0]", "lone surrogate at 4"),
    ],
)
def test_an_applied_event_id_no_store_holds_is_named(
    ids: tuple[str, ...], path: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        make_order(applied_event_ids=ids)
    assert (caught.value.path, caught.value.value) == (path, ids[int(path[-2])])
    assert reason in caught.value.reason


def test_applied_event_ids_beyond_ascii_are_kept() -> None:
    ids = ("支付-1", "pay-😀")
    assert make_order(applied_event_ids=ids).applied_event_ids == ids


@pytest.mark.parametrize(
    ("order", "expected_version", "path"),
    [
        ({"order_id": "ORD-1"}, None, "order"),
        (None, "3", "expected_version"),
        (None, True, "expected_version"),
        (None, -1, "expected_version"),
        (None, 1.0, "expected_version"),
        (None, 2**63, "expected_version"),
        (None, 5, "order.version"),
    ],
)
def test_a_save_a_host_repository_checks_is_refused_naming_what_is_wrong(
    order: object, expected_version: object, path: str
) -> None:
    # A host's own repository calls check_version_raised before writing, as orderkit's
    # do: it refuses what is not an Order and a version no store holds, not only a save
    # that does not raise the version.
    saved = attrs.evolve(sample_order(), version=5)
    with pytest.raises(ValidationError) as refused:
        check_version_raised(saved if order is None else order, expected_version)  # type: ignore[arg-type]
    assert refused.value.path == path
    check_version_raised(saved, 4)
    check_version_raised(saved, None)


def test_a_rounding_down_is_spread_over_the_lines_like_an_order_discount() -> None:
    """抹零: 2 x 49.99 rounded down to 99.90. The -0.08 lowers what the units are worth
    (half each), so every unit returned takes its part of it back out of the sale."""
    down = Adjustment(AdjustmentKind.ROUNDING, cny("-0.08"), label="抹零")
    order = make_order(lines=[OrderLine("1", "TEA", 1, cny("49.99")),
                              OrderLine("2", "CUP", 1, cny("49.99"))],
                       adjustments=[down])
    assert order.totals.payable == order.totals.sold == cny("99.90")
    assert order.sold_by_line() == {"1": cny("49.95"), "2": cny("49.95")}
    assert order.rounding_standing == cny("0.00")  # no order charge left to give back
    shipped = [attrs.evolve(line, quantities={LineStatus.SHIPPED: 1}) for line in order.lines]
    returned = [attrs.evolve(line, quantities={LineStatus.RETURNED: 1}) for line in order.lines]
    sent = attrs.evolve(order, lines=shipped,
                        shipments=[Shipment("s1", "SF", "SF1", shipped_at=T0)])
    assert sent.totals.sold == cny("99.90")
    back = attrs.evolve(sent, lines=returned)
    assert back.totals.sold == cny("0.00")
    assert back.sold_value.rounding == cny("0.00")


def test_a_rounding_up_stays_the_orders_own_charge() -> None:
    up = Adjustment(AdjustmentKind.ROUNDING, cny("0.02"), borne_by="buyer")
    order = make_order(lines=[OrderLine("1", "TEA", 1, cny("49.99")),
                              OrderLine("2", "CUP", 1, cny("49.99"))],
                       adjustments=[up])
    assert order.sold_by_line() == {"1": cny("49.99"), "2": cny("49.99")}
    assert order.rounding_standing == cny("0.02")
    assert order.totals.sold == cny("100.00")


def test_units_value_gives_each_unit_its_lines_share_wherever_the_units_stand() -> None:
    """A 10.00 discount over 3 tins and 8.00 of order shipping: every sold unit valued
    at once is the sold value; one tin carries a third of its line's share; the order's
    own shipping counts only when charged; moving the units leaves the shares alone."""
    order = make_order(
        lines=[OrderLine("1", "TEA", 3, cny("30.00")), OrderLine("2", "CUP", 1, cny("45.50"))],
        adjustments=[Adjustment(AdjustmentKind.DISCOUNT, cny("10.00")),
                     Adjustment(AdjustmentKind.SHIPPING, cny("8.00"), borne_by="buyer")])
    assert order.units_value({"1": 3, "2": 1}, charged=True) == order.sold_value
    one = order.units_value({"1": 1}, charged=False)
    assert one.goods == cny("30.00") and one.shipping == cny("8.00")  # a unit counted
    assert order.units_value({}, charged=False).amount == cny("0.00")
    assert order.units_value({}, charged=True).amount == cny("8.00")
    thirds = [order.units_value({"1": n}, charged=True).discounts for n in (1, 2, 3)]
    assert thirds[2] == order.sold_value.discounts - order.units_value(
        {"2": 1}, charged=True).discounts
    shipped = attrs.evolve(order, lines=[
        attrs.evolve(order.lines[0], quantities={LineStatus.SHIPPED: 2, LineStatus.OPEN: 1}),
        order.lines[1]])
    assert shipped.units_value({"1": 2}, charged=True) == order.units_value({"1": 2},
                                                                            charged=True)
