"""Hypothesis strategies for canonical values (requires the ``test`` extra).

Use them in your own property tests: ``@given(orders())`` yields valid, fully populated
orders with consistent currencies and line buckets that sum to each line's quantity;
``@given(mutated_payloads(seeds))`` yields real platform payloads with keys deleted or
replaced by odd JSON values, for fuzzing a :class:`~orderkit.mapping.PlatformMap`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

try:
    from hypothesis import strategies as st
except ModuleNotFoundError as missing:  # pragma: no cover - the suite installs the extra
    raise ModuleNotFoundError(
        "orderkit.testing.strategies needs hypothesis: pip install 'orderkit[test]'"
        " (or pip install hypothesis)",
        name=missing.name,
    ) from missing

from orderkit.model.money import MINOR_DIGITS, Money, minor_digits
from orderkit.model.orders import (
    Address,
    Adjustment,
    AdjustmentKind,
    Bearer,
    CarrierScan,
    Hold,
    HoldKind,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentKind,
    PaymentTerms,
    RefundValue,
    Shipment,
    TrackingStatus,
)

__all__ = [
    "PRICED_LINE_IDS",
    "addresses",
    "aware_datetimes",
    "currencies",
    "decimal_amounts",
    "money",
    "mutated_payloads",
    "odd_json_values",
    "order_lines",
    "orders",
    "priced_orders",
]

_COMMON = ("CNY", "USD", "EUR", "HKD", "JPY", "KWD")


def currencies() -> st.SearchStrategy[str]:
    """Currencies with 0, 2 and 3 minor digits."""
    return st.sampled_from(_COMMON + tuple(sorted(MINOR_DIGITS))[:4])


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes between 2000 and 2100, with microseconds."""
    return st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )


def money(currency: str, *, min_minor: int = 0, max_minor: int = 10**9) -> st.SearchStrategy[Money]:
    """Whole-minor-unit amounts of ``currency``."""
    return st.integers(min_minor, max_minor).map(lambda m: Money.from_minor(m, currency))


def _text() -> st.SearchStrategy[str]:
    # Any text a store holds: UTF-8, no NUL.
    return st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)


def _ids() -> st.SearchStrategy[str]:
    return st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_:", min_size=1, max_size=16)


def addresses() -> st.SearchStrategy[Address]:
    """Addresses with arbitrary (including masked or empty) parts."""
    return st.builds(
        Address,
        name=_text(),
        phone=_text(),
        province=_text(),
        city=_text(),
        district=_text(),
        street=_text(),
        postcode=_text(),
        country=_text(),
    )


@st.composite
def order_lines(draw: st.DrawFn, currency: str, line_id: str) -> OrderLine:
    """A line whose quantity is spread over random buckets."""
    quantity = draw(st.integers(1, 50))
    cuts = sorted(draw(st.lists(st.integers(0, quantity), min_size=4, max_size=4)))
    bounds = [0, *cuts, quantity]
    buckets = {status: bounds[i + 1] - bounds[i] for i, status in enumerate(LineStatus)}
    return OrderLine(
        line_id=line_id,
        sku=draw(_ids()),
        quantity=quantity,
        unit_price=draw(money(currency, max_minor=10**7)),
        quantities=buckets,
        title=draw(_text()),
        channel_line_id=draw(st.just("") | _ids()),
        refund_id=draw(st.just("") | _ids()),
    )


@st.composite
def orders(draw: st.DrawFn) -> Order:
    """A valid order with lines, adjustments, payments, shipments, holds and tags."""
    currency = draw(currencies())
    count = draw(st.integers(1, 4))
    lines = [draw(order_lines(currency, str(i + 1))) for i in range(count)]
    created = draw(aware_datetimes())
    later = st.integers(0, 10**6).map(lambda s: created + timedelta(seconds=s))
    kind = st.sampled_from(list(AdjustmentKind))
    adjustments = draw(
        st.lists(
            st.builds(
                Adjustment,
                kind=kind,
                amount=money(currency, max_minor=10**6),
                borne_by=st.sampled_from(list(Bearer)),
                line_id=st.none() | st.sampled_from([line.line_id for line in lines]),
                label=_text(),
            ),
            max_size=4,
        )
    )
    # Discounts never take the order below zero (an Order refuses that): charges count
    # first, then each discount only while the goods and charges still cover it.
    payable = sum((line.unit_price.amount * line.quantity for line in lines), Decimal(0))
    payable += sum((a.payable_effect.amount for a in adjustments
                    if a.payable_effect.amount > 0), Decimal(0))
    kept = []
    for adjustment in adjustments:
        effect = adjustment.payable_effect.amount
        if effect < 0:
            if payable + effect < 0:
                continue
            payable += effect
        kept.append(adjustment)
    adjustments = kept
    payments = draw(
        st.lists(
            st.builds(
                Payment,
                payment_id=_ids(),
                amount=money(currency, max_minor=10**8),
                at=later,
                method=st.sampled_from(["alipay", "wechatpay", "card", ""]),
                kind=st.sampled_from(list(PaymentKind)),
                reference=_ids(),
                lines=st.dictionaries(
                    st.sampled_from([line.line_id for line in lines]), st.integers(1, 5)
                ),
            ),
            max_size=3,
        )
    )
    payments = [draw(_valued(payment)) for payment in payments]
    shipments = draw(
        st.lists(
            st.builds(
                Shipment,
                shipment_id=_ids(),
                carrier=st.sampled_from(["SF", "ZTO", "YTO", "JD"]),
                waybill=_ids(),
                lines=st.dictionaries(
                    st.sampled_from([line.line_id for line in lines]), st.integers(1, 5)
                ),
                shipped_at=st.none() | later,
                first_scan_at=st.none() | later,
                events=st.lists(
                    st.builds(
                        CarrierScan, status=st.sampled_from(list(TrackingStatus)), at=later
                    ),
                    max_size=3,
                ).map(tuple),
            ),
            max_size=2,
        )
    )
    hold_kinds = draw(st.sets(st.sampled_from(list(HoldKind)) | _ids(), max_size=3))
    holds = [
        Hold(kind, by=draw(_ids()), at=draw(later), reason=draw(_text())) for kind in hold_kinds
    ]
    return Order(
        order_id=draw(_ids()),
        channel=draw(st.sampled_from(["tmall", "jd", "pdd", "douyin", "shopify", "pos"])),
        channel_order_id=draw(_ids()),
        lines=lines,
        created_at=created,
        recon_id=draw(
            st.none()
            | st.builds(
                lambda d, n: f"SO{d:%Y%m%d}{n:06d}",
                st.dates(min_value=date(1000, 1, 1)),
                st.integers(1, 999_999),
            )
        ),
        status=draw(st.sampled_from(list(OrderStatus))),
        ship_to=draw(st.none() | addresses()),
        adjustments=adjustments,
        payments=payments,
        shipments=shipments,
        holds=holds,
        tags=draw(st.frozensets(_ids(), max_size=3)),
        paid_at=draw(st.none() | later),
        version=draw(st.integers(0, 1000)),
        buyer_id=draw(_text()),
        status_since=draw(st.none() | later),
        lock_id=draw(st.none() | _ids()),
        applied_event_ids=tuple(draw(st.lists(_ids(), max_size=5))),
    )


@st.composite
def _valued(draw: st.DrawFn, payment: Payment) -> Payment:
    """``payment``, or for a refund maybe with what it gave back: parts of any sign
    that add up to its amount."""
    if payment.kind is not PaymentKind.REFUND or not draw(st.booleans()):
        return payment
    currency = payment.amount.currency
    parts = [draw(money(currency, max_minor=10**6)) for _part in range(4)]
    goods, discounts, shipping, tax = parts
    rounding = -draw(money(currency, max_minor=99))
    overpaid = payment.amount - (goods - discounts + shipping + tax + rounding)
    return attrs.evolve(payment, value=RefundValue(goods, discounts, shipping, tax,
                                                   rounding, overpaid))


#: The line ids of :func:`priced_orders`, in order.
PRICED_LINE_IDS = ("1", "2", "3")


@st.composite
def priced_orders(draw: st.DrawFn, *, rounding: bool = False) -> Order:
    """A new CNY order as a channel places it, for a lifecycle to take through its
    life (added in 0.3): one to three lines ``"1"``, ``"2"``, ``"3"`` (1 to 4 units at
    0.00 to 99.99), maybe one line's own discount, an order coupon, shipping and tax
    (each covered by the goods), with ``rounding`` maybe a till's rounding (up, or down
    but not below zero), and either payment terms; nothing paid, shipped or refunded."""
    count = draw(st.integers(1, 3))
    lines = [OrderLine(PRICED_LINE_IDS[i], f"SKU-{i}", draw(st.integers(1, 4)),
                       Money.from_minor(draw(st.integers(0, 9_999)), "CNY"))
             for i in range(count)]
    goods = sum(line.amount.minor for line in lines)
    adjustments = []
    line = draw(st.sampled_from(lines))
    if line.amount.minor and draw(st.booleans()):
        off = draw(st.integers(1, line.amount.minor))
        goods -= off
        adjustments.append(Adjustment(AdjustmentKind.DISCOUNT, Money.from_minor(off, "CNY"),
                                      line_id=line.line_id))
    if goods and draw(st.booleans()):
        coupon = Money.from_minor(draw(st.integers(1, goods)), "CNY")
        adjustments.append(Adjustment(AdjustmentKind.COUPON, coupon))
    for kind, most in ((AdjustmentKind.SHIPPING, 1_500), (AdjustmentKind.TAX, 999)):
        if draw(st.booleans()):
            amount = Money.from_minor(draw(st.integers(0, most)), "CNY")
            adjustments.append(Adjustment(kind, amount))
    order = Order("ORD-V", "pos", "V-1", lines, datetime(2026, 2, 16, 2, 0, tzinfo=UTC),
                  adjustments=adjustments,
                  payment_terms=draw(st.sampled_from(list(PaymentTerms))))
    if rounding and draw(st.booleans()):
        down = min(9, order.totals.payable.minor)
        till = Money.from_minor(draw(st.integers(-down, 9)), "CNY")
        order = attrs.evolve(order, adjustments=(
            *adjustments, Adjustment(AdjustmentKind.ROUNDING, till)))
    return order


def decimal_amounts(currency: str) -> st.SearchStrategy[Decimal]:
    """Decimals with exactly the currency's minor digits."""
    digits = minor_digits(currency)
    return st.integers(-(10**12), 10**12).map(lambda n: Decimal(n).scaleb(-digits))


# --- platform payload fuzzing ------------------------------------------------------------


def odd_json_values() -> st.SearchStrategy[Any]:
    """Values a platform field should never hold but one day will: null, bools, huge and
    negative numbers, NaN and infinities, odd unicode, nested lists and objects, and
    near misses of real amounts, dates and statuses."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.integers(min_value=-2, max_value=12),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
        st.from_regex(r"-?[0-9]{1,17}(\.[0-9]{0,4})?", fullmatch=True),
        st.from_regex(
            r"20[0-9]{2}-[01][0-9]-[0-3][0-9][ T][0-2][0-9]:[0-5][0-9]:[0-5][0-9]",
            fullmatch=True,
        ),
        st.sampled_from(_NEAR_MISSES),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )


_NEAR_MISSES = (
    *("", "0", "0.0", "0.00", "0.000", "-0", "-0.00", "0001-01-01 00:00:00", "1e400"),
    *("NaN", "12.345", "9" * 40, "\u202e89.00", "2026-02-30 25:61:00", "٣٤", "１２.３０"),
    *("NO_REFUND", "SUCCESS", "TRADE_CLOSED", "WAIT_BUYER_PAY", "CNY", "KWD", "CLF", "JPY"),
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every key and index in a JSON value."""
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((*path, key))
            out.extend(_paths(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.append((*path, index))
            out.extend(_paths(item, (*path, index)))
    return out


@st.composite
def mutated_payloads(
    draw: st.DrawFn,
    seeds: Sequence[tuple[str, Any]],
    junk: st.SearchStrategy[Any] | None = None,
    max_mutations: int = 4,
) -> tuple[str, Any]:
    """``(platform, payload)``: a deep copy of one of ``seeds`` (``(platform, payload)``
    pairs, e.g. your fixtures) with 1 to ``max_mutations`` keys or items deleted or
    replaced by a value from ``junk`` (default :func:`odd_json_values`)."""
    platform, seed = draw(st.sampled_from(list(seeds)))
    values = odd_json_values() if junk is None else junk
    payload = copy.deepcopy(seed)
    for _ in range(draw(st.integers(min_value=1, max_value=max_mutations))):
        paths = _paths(payload)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.sampled_from(["delete", "replace", "replace"])) == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(values)
    return platform, payload
