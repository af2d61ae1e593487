"""Fee tables, margins and profit tables (see :mod:`orderkit.costing`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Literal

import attrs

from orderkit.costing.ports import CostCatalog
from orderkit.lifecycle.events import Event
from orderkit.lifecycle.policy import Actor
from orderkit.model import _checks as check
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money, minor_digits
from orderkit.model.orders import AdjustmentKind, Bearer, HoldKind, LineStatus, Order
from orderkit.model.shares import spread_weights, units_share
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, accounting_date, ensure_aware

__all__ = [
    "Component",
    "CostModel",
    "FeeTable",
    "Margin",
    "Party",
    "ProfitRow",
    "loss_hold",
    "margin",
    "profit_by",
    "profit_grid",
]

#: The hold :func:`loss_hold` places when a cost is unknown (a person looks first).
COST_UNKNOWN = "cost_unknown"


class Party(StrEnum):
    """Who bears a margin component (pays it, or gives it up)."""

    BUYER = "buyer"
    MERCHANT = "merchant"
    PLATFORM = "platform"
    INFLUENCER = "influencer"
    PAYMENT_CHANNEL = "payment_channel"


def _rate(name: str) -> check.Validator:
    def validate(_instance: object, _attribute: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, Decimal):
            raise ValidationError(name, value, "expected a Decimal rate such as Decimal('0.05')")
        if not value.is_finite() or not Decimal(0) <= value < Decimal(1):
            raise ValidationError(name, value, "expected a rate from 0 up to (not including) 1")

    return validate


def _money(name: str) -> check.Validator:
    """A per-order amount of a :class:`FeeTable`: booked as it is, so whole minor units
    (fen), not negative, and in the currency of the table's ``shipping_cost``."""

    def validate(instance: object, _attribute: object, value: object) -> None:
        if not isinstance(value, Money):
            raise ValidationError(name, value, "expected Money")
        if value.amount < 0:
            raise ValidationError(f"{name}.amount", value.amount, "must be >= 0")
        if not value.is_whole_minor():
            raise ValidationError(name, value, f"expected whole minor units of {value.currency}"
                                  " (a cost booked as it is)")
        first = getattr(instance, "shipping_cost", value)
        if isinstance(first, Money) and value.currency != first.currency:
            raise ValidationError(name, value, f"expected Money in {first.currency}, the"
                                  f" currency of shipping_cost ({first}): a fee table's amounts"
                                  " share one currency")

    return validate


def _day(value: object) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValidationError("effective_from", value, "expected a date")
    return value


@attrs.frozen
class FeeTable:
    """One channel's fees from ``effective_from`` on (until the next table of the channel).

    Rates are fractions (``Decimal("0.05")`` is 5%): ``commission_rate`` of the goods the
    buyer paid for (the platform's cut), ``payment_fee_rate`` of what the buyer paid,
    ``influencer_rate`` of the goods (a live room's cut). Per order: ``shipping_cost``
    the carrier charges, ``shipping_subsidy`` the platform pays towards it,
    ``packaging``; each in whole minor units and all in one currency, that of the
    orders the table costs.
    """

    channel: str = attrs.field(validator=check.text(allow_empty=False))
    effective_from: date = attrs.field(converter=_day)
    commission_rate: Decimal = attrs.field(validator=_rate("commission_rate"))
    payment_fee_rate: Decimal = attrs.field(validator=_rate("payment_fee_rate"))
    shipping_cost: Money = attrs.field(validator=_money("shipping_cost"))
    packaging: Money = attrs.field(validator=_money("packaging"))
    influencer_rate: Decimal = attrs.field(
        default=Decimal(0), validator=_rate("influencer_rate")
    )
    shipping_subsidy: Money | None = attrs.field(default=None)

    @shipping_subsidy.validator
    def _subsidy(self, _attribute: object, value: Money | None) -> None:
        if value is not None:
            _money("shipping_subsidy")(self, _attribute, value)


class CostModel:
    """Fee tables versioned by effective date, and the product costs of a catalog.

    ``tz`` is the zone whose calendar date picks the fee table and the product cost
    (the day the order was paid, else placed).
    """

    def __init__(
        self,
        fees: Iterable[FeeTable],
        catalog: CostCatalog,
        *,
        tz: str = DEFAULT_ACCOUNTING_TZ,
    ) -> None:
        by_channel: dict[str, list[FeeTable]] = {}
        for index, table in enumerate(fees):
            if not isinstance(table, FeeTable):
                raise ValidationError(f"fees[{index}]", table, "expected a FeeTable")
            tables = by_channel.setdefault(table.channel, [])
            if any(t.effective_from == table.effective_from for t in tables):
                raise ValidationError(
                    f"fees[{index}].effective_from",
                    table.effective_from,
                    f"a second {table.channel} table from the same day",
                )
            tables.append(table)
        if not isinstance(catalog, CostCatalog):
            raise ValidationError("catalog", catalog, "expected a CostCatalog")
        self._fees = {
            channel: sorted(tables, key=lambda t: t.effective_from)
            for channel, tables in by_channel.items()
        }
        self.catalog = catalog
        self.tz = tz

    def fees_for(self, channel: str, on: date) -> FeeTable | None:
        """The table of ``channel`` in force on ``on``, or ``None`` when none is."""
        found = None
        for table in self._fees.get(channel, ()):
            if table.effective_from <= on:
                found = table
        return found

    def day_of(self, order: Order) -> date:
        """The date whose fees and costs apply to ``order`` (paid, else placed)."""
        return accounting_date(order.paid_at or order.created_at, self.tz)


@attrs.frozen
class Component:
    """One part of an order's margin: ``amount`` is its effect on the merchant's profit
    (income positive, cost negative), ``borne_by`` who pays it or gives it up,
    ``settled`` whether it comes from the order's settled fees rather than an estimate."""

    name: str
    amount: Money
    borne_by: Party
    settled: bool = False


@attrs.frozen
class Margin:
    """An order's predicted profit, component by component.

    ``revenue`` is what the merchant is entitled to for what is still sold (goods less
    the merchant's own discounts, plus the shipping charged less what the merchant gave
    back of it); ``profit`` is the
    sum of the components; ``ratio`` is ``profit / revenue`` (``None`` when revenue is
    zero). ``unknown`` names every cost nobody could give (no product cost for a SKU, no
    fee table for the channel on that day): while it is not empty the margin is not
    ``complete`` and its profit leaves those costs out.
    """

    order_id: str
    channel: str
    on: date
    components: tuple[Component, ...]
    revenue: Money
    profit: Money
    unknown: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Every cost is known."""
        return not self.unknown

    @property
    def ratio(self) -> Decimal | None:
        """``profit / revenue``, to four decimals (``Decimal("-0.1234")``), or ``None``."""
        if not self.revenue.amount:
            return None
        return (self.profit.amount / self.revenue.amount).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )

    def component(self, name: str) -> Component | None:
        """The component called ``name``, if any."""
        return next((c for c in self.components if c.name == name), None)

    def explain(self) -> str:
        """One line with the numbers: ratio, revenue, profit and every component."""
        ratio = "n/a" if self.ratio is None else f"{self.ratio * 100:.2f}%"
        parts = ", ".join(f"{c.name} {c.amount.amount}" for c in self.components)
        text = (
            f"margin {ratio}: revenue {self.revenue.amount},"
            f" profit {self.profit.amount} ({parts})"
        )
        if self.unknown:
            text += "; unknown: " + ", ".join(self.unknown)
        return text


def margin(order: Order, costs: CostModel) -> Margin:
    """The :class:`Margin` of ``order`` by ``costs``: the income of its units still
    sold, against the cost of every unit it sent that did not come back on the shelf.

    Income: the goods, less the discounts the merchant bears (platform-funded discounts
    come back from the platform), plus the shipping charged less what the merchant gave
    back of it (shipping the platform gave back, a platform-borne SHIPPING_CONCESSION,
    comes back from the platform like its coupons). Each discount is
    attributed to who bears it on the units still sold: the platform's part of a coupon
    on a refunded unit leaves with the unit, and a concession granted later is the
    merchant's alone, however the platform's coupons were spread. Costs: the product
    cost of each unit still to ship and of each unit that left and did not come back to
    stock (kept by the buyer after a refund, 仅退款, or returned and scrapped: received
    but not ``sellable``), the platform's commission (on the goods less all discounts), the
    payment fee (on what the buyer paid), the influencer's cut, shipping less any
    platform subsidy, packaging. Shipping and packaging are costs while anything is
    still sold and, once a parcel went out, for good (when every unit came back, or
    the fee was given back or waived on a parcel refused at the door): they count
    exactly when the order's own shipping charge stands
    (:attr:`~orderkit.model.orders.Order.shipping_standing`). The order's own COMMISSION
    and FEE adjustments (what the settlement bill says) replace the estimates and are
    marked settled.
    """
    if not isinstance(order, Order):
        raise ValidationError("order", order, "expected an Order")
    if not isinstance(costs, CostModel):
        raise ValidationError("costs", costs, "expected a CostModel")
    currency = order.currency
    zero = Money.zero(currency)
    on = costs.day_of(order)
    sold = order.sold_value
    totals = order.totals
    costed = _costed_units(order)
    # What the platform funds of the discounts on the units still sold, and of the
    # shipping given back that still stands, comes back from it; the rest of the
    # discounts is the merchant's (its coupons, its concessions).
    platform_discounts, platform_shipping = _platform_funded(order)
    merchant_discounts = sold.discounts - platform_discounts
    shipping = sold.shipping + platform_shipping
    components: list[Component] = [
        Component("goods", sold.goods, Party.BUYER),
        Component("merchant_discounts", -merchant_discounts, Party.MERCHANT),
        Component("shipping_charged", shipping, Party.BUYER),
    ]
    revenue = sold.goods - merchant_discounts + shipping
    table = costs.fees_for(order.channel, on)
    if table is not None and table.shipping_cost.currency != currency:
        raise ValidationError(
            "shipping_cost", table.shipping_cost,
            f"expected Money in {currency}, the currency of order {order.order_id}: the"
            f" {table.channel} fee table from {table.effective_from.isoformat()} cannot apply",
        )
    unknown: list[str] = []
    product = zero
    for line in order.lines:
        units = costed[line.line_id]
        if not units:
            continue
        cost = costs.catalog.unit_cost(line.sku, on)
        if cost is None:
            unknown.append(f"product cost of {line.sku}")
            continue
        if not isinstance(cost, Money) or cost.currency != currency:
            raise ValidationError(f"unit_cost[{line.sku!r}]", cost, f"expected Money in {currency}")
        if cost.amount < 0:
            raise ValidationError(f"unit_cost[{line.sku!r}]", cost, "a cost must be >= 0")
        product += cost * units
    # A unit cost may be finer than the fen (an average purchase price); the product
    # cost is booked rounded, once.
    components.append(Component("product_cost", -product.round(), Party.MERCHANT))
    # The carrier and the box were paid for once a parcel went out (or while units are
    # still to go): they stay costs whenever the order's own shipping charge stands,
    # whether or not the fee was given back or waived since.
    parcel = order.charges_stand
    settled_commission = _settled(order, AdjustmentKind.COMMISSION)
    settled_fee = _settled(order, AdjustmentKind.FEE)
    goods_paid = sold.goods - sold.discounts
    if settled_commission is not None:
        components.append(Component("commission", -settled_commission, Party.MERCHANT, True))
    if settled_fee is not None:
        components.append(Component("payment_fee", -settled_fee, Party.MERCHANT, True))
    if table is None:
        unknown.append(f"fee table of {order.channel} on {on.isoformat()}")
    else:
        if settled_commission is None:
            commission = Money(goods_paid.amount * table.commission_rate, currency).round()
            components.append(Component("commission", -commission, Party.MERCHANT))
        if settled_fee is None:
            fee = Money(totals.sold.amount * table.payment_fee_rate, currency).round()
            components.append(Component("payment_fee", -fee, Party.MERCHANT))
        influencer = Money(goods_paid.amount * table.influencer_rate, currency).round()
        components.append(Component("influencer", -influencer, Party.MERCHANT))
        if parcel:
            components.append(Component("shipping_cost", -table.shipping_cost, Party.MERCHANT))
            if table.shipping_subsidy is not None:
                components.append(
                    Component("shipping_subsidy", table.shipping_subsidy, Party.PLATFORM)
                )
            components.append(Component("packaging", -table.packaging, Party.MERCHANT))
    profit = sum((c.amount for c in components), zero)
    return Margin(order.order_id, order.channel, on, tuple(components), revenue, profit,
                  tuple(unknown))


_DISCOUNT_KINDS = frozenset({
    AdjustmentKind.DISCOUNT,
    AdjustmentKind.COUPON,
    AdjustmentKind.SUBSIDY,
    AdjustmentKind.CONCESSION,
})


def _platform_funded(order: Order) -> tuple[Money, Money]:
    """What the platform funds on ``order``'s units still sold: ``(discounts, shipping
    given back)``, the sums of :func:`_platform_funded_lines` (shipping given back on
    the order itself included)."""
    by_line, on_order = _platform_funded_lines(order)
    discounts = sum((funded[0] for funded in by_line.values()), Decimal(0))
    shipping = sum((funded[1] for funded in by_line.values()), on_order)
    return Money(discounts, order.currency), Money(shipping, order.currency)


def _platform_funded_lines(
    order: Order,
) -> tuple[dict[str, tuple[Decimal, Decimal]], Decimal]:
    """What the platform funds on ``order``'s units still sold: ``(discounts, shipping
    given back)`` by line id (lines with nothing still sold left out), and the shipping
    given back on the order itself.

    Each platform-borne adjustment goes to its lines as the order spreads it: a line's
    own to that line (over the units it covers), an order-level discount over the
    lines by value net of their own discounts at sale. A line's units still sold carry
    their part of each, summed exactly and rounded once, as in
    :attr:`~orderkit.model.orders.Order.sold_value`; so when the platform funds every
    discount the lines' discounts add up to ``sold_value.discounts`` to the fen.
    Shipping given back on the order itself counts while the order's own shipping
    stands (anything still sold or shipped), as in
    :attr:`~orderkit.model.orders.Order.shipping_standing`.
    """
    currency = order.currency
    quantity = {line.line_id: line.quantity for line in order.lines}
    own: dict[str, Decimal] = {}  # each line's own discounts at sale, whoever bears them
    discounts: dict[str, list[tuple[Decimal, int]]] = {line_id: [] for line_id in quantity}
    shipping: dict[str, list[tuple[Decimal, int]]] = {line_id: [] for line_id in quantity}
    spread = on_order = Decimal(0)
    for adjustment in order.adjustments:
        kind = adjustment.kind
        if kind not in _DISCOUNT_KINDS and kind is not AdjustmentKind.SHIPPING_CONCESSION:
            continue
        amount, line_id = adjustment.amount.amount, adjustment.line_id
        platform = adjustment.borne_by is Bearer.PLATFORM
        if line_id is not None and line_id in quantity:
            if kind in _DISCOUNT_KINDS and kind is not AdjustmentKind.CONCESSION:
                own[line_id] = own.get(line_id, Decimal(0)) + amount
            if platform:
                shares = discounts if kind in _DISCOUNT_KINDS else shipping
                shares[line_id].append((amount, adjustment.units or quantity[line_id]))
        elif platform and kind in _DISCOUNT_KINDS:
            spread += amount
        elif platform:
            on_order += amount
    if spread:
        parts = Money(spread, currency).allocate(spread_weights(order.lines, own))
        for line, part in zip(order.lines, parts, strict=True):
            discounts[line.line_id].append((part.amount, line.quantity))
    minor = minor_digits(currency)
    funded: dict[str, tuple[Decimal, Decimal]] = {}
    for line_id, units in order.sold_units.items():
        if units:
            discount, given_back = (
                units_share(shares[line_id], units, minor) if shares[line_id] else Decimal(0)
                for shares in (discounts, shipping)
            )
            funded[line_id] = (discount, given_back)
    return funded, on_order if order.charges_stand else Decimal(0)


def _costed_units(order: Order) -> dict[str, int]:
    """The units whose product cost ``order`` bears, by line id: those still to ship
    (OPEN) and every unit that left and did not come back to stock. A unit that left
    (:attr:`~orderkit.model.orders.Order.sent_units`) is gone while it is out (shipped,
    or refunded and kept by the buyer, 仅退款) and when it came back not sellable
    (received by a return less its ``sellable`` units: scrapped); only a unit received
    sellable went back on the shelf. A unit RETURNED with no receipt on the order's
    returns (an order imported already returned) counts as back in stock, as the stock
    ledger counts it when the order is placed. Cancelled units and units refunded
    before they shipped never left."""
    sent = order.sent_units
    costed: dict[str, int] = {}
    for line in order.lines:
        line_id = line.line_id
        returned = line.quantities[LineStatus.RETURNED]
        scrapped = sum(
            r.received.get(line_id, 0) - r.sellable.get(line_id, 0) for r in order.returns
        )
        costed[line_id] = (
            line.quantities[LineStatus.OPEN] + sent[line_id] - returned
            + min(max(scrapped, 0), returned)
        )
    return costed


def _settled(order: Order, kind: AdjustmentKind) -> Money | None:
    found = [a.amount for a in order.adjustments if a.kind is kind]
    return sum(found, Money.zero(order.currency)) if found else None


def loss_hold(
    order: Order,
    costs: CostModel,
    *,
    at: datetime,
    threshold: Decimal = Decimal("-0.05"),
    hold_unknown: bool = True,
    actor: Actor | None = None,
) -> Event | None:
    """The ``hold`` event for ``order`` when its predicted margin is below ``threshold``
    (kind ``loss_making``, the numbers in the reason), or, with ``hold_unknown``, when a
    cost is unknown (kind ``cost_unknown``, naming it); ``None`` when it may ship. An
    order with no revenue (a 0.00 giveaway, goods paid in full by the merchant's coupon)
    has no margin ratio: any loss holds it, whatever the threshold.

    ``at`` is when the check ran (the event's time), ``actor`` who holds (a system
    account the host's policy lets place holds; ``None`` for a system event). The event
    id is derived from the order and the numbers, so running the check again changes
    nothing, and a hold a person released is not placed again until the numbers change.
    Apply it with :meth:`~orderkit.lifecycle.OrderService.handle`; releasing a
    ``loss_making`` hold needs ``approved_by`` under a policy (the two-person rule).
    """
    at = ensure_aware(at, path="at")
    if isinstance(threshold, bool) or not isinstance(threshold, Decimal):
        raise ValidationError("threshold", threshold, "expected a Decimal such as Decimal('-0.05')")
    found = margin(order, costs)
    if not found.complete:
        if not hold_unknown or order.hold(COST_UNKNOWN) is not None:
            return None
        reason = "unknown: " + ", ".join(found.unknown)
        return Event("hold", event_id=f"costing:unknown:{order.order_id}:{len(found.unknown)}",
                     at=at, data={"kind": COST_UNKNOWN, "reason": reason[:4000]}, actor=actor)
    ratio = found.ratio
    rule = f"threshold {threshold * 100:.2f}%"
    if ratio is None:
        # No revenue to measure the margin against: any loss is below any threshold.
        losing, rule = found.profit.amount < 0, f"a loss on no revenue ({rule})"
    else:
        losing = ratio < threshold
    if not losing or order.hold(HoldKind.LOSS_MAKING) is not None:
        return None
    reason = f"predicted {found.explain()}; {rule}"
    event_id = f"costing:loss:{order.order_id}:{found.revenue.amount}:{found.profit.amount}"
    return Event("hold", event_id=event_id, at=at, actor=actor,
                 data={"kind": HoldKind.LOSS_MAKING.value, "reason": reason[:4000]})


ProfitKey = Literal["channel", "sku", "day", "tag"]


@attrs.frozen
class ProfitRow:
    """One row of :func:`profit_by`: ``orders`` counted, their ``revenue`` and
    ``profit`` (orders with an unknown cost are counted in ``unknown`` and left out of
    the sums), and ``ratio``."""

    key: str
    orders: int
    revenue: Money
    profit: Money
    unknown: int = 0

    @property
    def ratio(self) -> Decimal | None:
        """``profit / revenue`` to four decimals, or ``None``."""
        if not self.revenue.amount:
            return None
        return (self.profit.amount / self.revenue.amount).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )


def profit_by(
    orders: Iterable[Order], costs: CostModel, key: ProfitKey = "channel"
) -> dict[str, ProfitRow]:
    """Profit tables: by ``channel``, ``sku`` (each order's revenue and profit spread
    over its SKUs by what each line's units still sold bring in, exact to the fen: what
    the buyer pays for them, :meth:`~orderkit.model.orders.Order.sold_by_line`, plus
    what the platform funds of their discounts; an order with nothing still sold,
    returned in full, by the value it sold), ``day`` (the accounting day
    the fees apply to) or ``tag`` (an order counts under each of its tags, such as
    ``"douyin-live:influencer-x"``). Rows sorted by key; the rows of ``channel``,
    ``sku`` and ``day`` each add up to the margins of the orders."""
    if key not in ("channel", "sku", "day", "tag"):
        raise ValidationError("key", key, "expected channel, sku, day or tag")
    rows: dict[str, _Row] = {}

    def add(name: str, currency: str, revenue: Money | None, profit: Money | None) -> None:
        row = rows.get(name)
        if row is None:
            row = rows[name] = _Row(Money.zero(currency), Money.zero(currency))
        row.orders += 1
        if revenue is None or profit is None:
            row.unknown += 1
        else:
            row.revenue += revenue
            row.profit += profit

    for order in orders:
        found = margin(order, costs)
        revenue = found.revenue if found.complete else None
        profit = found.profit if found.complete else None
        currency = order.currency
        if key == "channel":
            add(order.channel, currency, revenue, profit)
        elif key == "day":
            add(found.on.isoformat(), currency, revenue, profit)
        elif key == "tag":
            for tag in sorted(order.tags) or ["(untagged)"]:
                add(tag, currency, revenue, profit)
        else:
            for sku, (rev, prof) in _by_sku(order, revenue, profit).items():
                add(sku, currency, rev, prof)
    return {
        name: ProfitRow(name, row.orders, row.revenue, row.profit, row.unknown)
        for name, row in sorted(rows.items())
    }


def profit_grid(orders: Iterable[Order], costs: CostModel) -> dict[tuple[str, str], ProfitRow]:
    """Profit by (accounting day, channel), for a heat map: the rows of
    :func:`profit_by` by ``day`` for each channel's orders, keyed ``(day, channel)``."""
    by_channel: dict[str, list[Order]] = {}
    for order in orders:
        if not isinstance(order, Order):
            raise ValidationError("orders", order, "expected Orders")
        by_channel.setdefault(order.channel, []).append(order)
    grid: dict[tuple[str, str], ProfitRow] = {}
    for channel, found in sorted(by_channel.items()):
        for day, row in profit_by(found, costs, "day").items():
            grid[(day, channel)] = attrs.evolve(row, key=f"{day} {channel}")
    return dict(sorted(grid.items()))


@attrs.define
class _Row:
    revenue: Money
    profit: Money
    orders: int = 0
    unknown: int = 0


def _by_sku(
    order: Order, revenue: Money | None, profit: Money | None
) -> Mapping[str, tuple[Money | None, Money | None]]:
    """Each SKU's part of ``order``'s revenue and profit, exact to the fen: by what its
    lines' units still sold bring in, what the buyer pays for them
    (:meth:`~orderkit.model.orders.Order.sold_by_line`, so a discount on one line stays
    with that line's SKU) plus what the platform funds of them (its coupons come back
    from it), a line bringing in less than nothing counting as nothing; when nothing is
    still sold (every unit returned, refunded or cancelled), by the value ordered, so
    what is left of the order (a shipping fee kept, the carrier and the box paid for)
    stays with the SKUs it was sold for; in equal parts when those values are all zero
    (a gift)."""
    sold = order.sold_by_line()
    funded, _on_order = _platform_funded_lines(order)
    worth: dict[str, Decimal] = {}
    for line in order.lines:
        if sold:
            if line.line_id not in sold:
                continue
            value = sold[line.line_id].amount + sum(funded[line.line_id], Decimal(0))
        else:
            value = line.amount.amount
        worth[line.sku] = worth.get(line.sku, Decimal(0)) + max(value, Decimal(0))
    skus = list(worth)
    weights: list[int | Decimal] = [worth[s] for s in skus]
    if not any(weights):
        weights = [1] * len(skus)
    if revenue is None or profit is None:
        return dict.fromkeys(skus, (None, None))
    revenues = revenue.allocate(weights)
    profits = profit.allocate(weights) if profit.amount >= 0 else [
        -part for part in (-profit).allocate(weights)
    ]
    return {sku: (r, p) for sku, r, p in zip(skus, revenues, profits, strict=True)}
