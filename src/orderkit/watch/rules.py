"""Watch rules as data, checked when built, and the defaults the shops asked for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Final, Literal

import attrs

from orderkit.lifecycle.ports import ANCHORS, LEAVE_OUT, Anchor
from orderkit.model._checks import Validator
from orderkit.model.errors import DefinitionError
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderStatus, PaymentTerms

__all__ = ["DEFAULT_RULES", "QUEUES", "Route", "Rule", "group_key"]

Severity = Literal["info", "warning", "critical"]
GroupBy = Literal["channel", "carrier", "region"]

#: The queues alerts are routed to; a host may name its own too.
QUEUES: Final = ("finance", "customer_service", "warehouse", "tech")


def _duration(name: str, *, allow_zero: bool = False) -> Validator:
    """A timedelta field: positive, or non-negative with ``allow_zero``."""
    floor = "non-negative" if allow_zero else "positive"

    def validate(_instance: object, _attribute: object, value: object) -> None:
        if not isinstance(value, timedelta) or value < timedelta(0) or (
            value == timedelta(0) and not allow_zero
        ):
            raise DefinitionError(f"expected a {floor} timedelta", path=name, value=value)

    return validate


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise DefinitionError("expected rule names", path="inhibits", value=value)
    return tuple(str(item) for item in value)


def _statuses(value: object) -> frozenset[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise DefinitionError("expected status codes", path="statuses", value=value)
    codes = frozenset(value)
    if not codes or any(isinstance(c, bool) or not isinstance(c, int) for c in codes):
        raise DefinitionError("expected at least one integer status code", path="statuses",
                              value=value)
    return frozenset(int(c) for c in codes)


def _labels(value: object) -> dict[str, str]:
    """Labels: a mapping of text to text (a rule's, or what a route asks of it)."""
    if not isinstance(value, Mapping) or any(
        not isinstance(k, str) or not isinstance(v, str) for k, v in value.items()
    ):
        raise DefinitionError("expected a mapping of text labels to text values",
                              path="labels", value=value)
    return dict(value)


def _summary(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, str):
        raise DefinitionError("expected text", path="summary", value=value)


def _leave_out(value: object) -> frozenset[Anchor]:
    """A rule's ``leave_out``: a collection of anchors (a single string is refused, not
    read as a set of its letters); which anchors, :meth:`Rule.__attrs_post_init__`
    checks, naming the rule."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise DefinitionError("expected a collection of anchors", path="leave_out",
                              value=value)
    return frozenset(value)


def _terms(value: object) -> PaymentTerms | None:
    if value is None or isinstance(value, PaymentTerms):
        return value
    if isinstance(value, str) and value in {t.value for t in PaymentTerms}:
        return PaymentTerms(value)
    raise DefinitionError(
        f"expected None or one of {', '.join(t.value for t in PaymentTerms)}",
        path="payment_terms", value=value,
    )


@attrs.frozen
class Rule:
    """One watch rule: orders in ``statuses`` whose ``anchor`` instant is more than
    ``older_than`` ago are a condition; it must hold for ``for_`` before an alert is
    raised (no flapping).

    ``group_by`` (``channel``, ``carrier`` or ``region``) makes one alert per group
    instead of one per order, raised only once the group has ``min_orders`` orders;
    ``inhibits`` names rules whose alerts on the same group value stay silent while
    this one fires (a channel outage silences that channel's per-order alerts).
    ``repeat`` is how long a firing alert waits before it is sent again, ``regroup``
    how long a grouped alert waits before an update when orders joined it.
    ``severity``, ``labels`` and ``route_to`` (a queue) say who looks.
    ``payment_terms`` keeps the rule to orders with those terms (``None``: any): a
    cash-on-delivery order is unpaid until its parcel is delivered, so the
    pending-payment rules are for prepaid orders only. ``leave_out`` names anchors
    (of ``LEAVE_OUT``) whose orders the rule leaves out, those that have that instant:
    ``{"balance_due_since"}`` keeps a presale that took its deposit, and waits for its
    balance by design, out of the pending-payment rules.
    """

    name: str
    statuses: frozenset[int] = attrs.field(converter=_statuses)
    anchor: Anchor
    older_than: timedelta = attrs.field(validator=_duration("older_than"))
    route_to: str
    severity: Severity = "warning"
    for_: timedelta = attrs.field(
        default=timedelta(0), validator=_duration("for_", allow_zero=True)
    )
    group_by: GroupBy | None = None
    min_orders: int = 1
    inhibits: tuple[str, ...] = attrs.field(default=(), converter=_names)
    repeat: timedelta = attrs.field(default=timedelta(hours=4), validator=_duration("repeat"))
    regroup: timedelta = attrs.field(default=timedelta(minutes=5),
                                     validator=_duration("regroup"))
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)
    summary: str = attrs.field(default="", validator=_summary)
    limit: int = 1000
    payment_terms: PaymentTerms | None = attrs.field(default=None, converter=_terms)
    leave_out: frozenset[Anchor] = attrs.field(factory=frozenset, converter=_leave_out)

    def __attrs_post_init__(self) -> None:
        path = f"rules[{self.name!r}]"
        if not isinstance(self.name, str) or not self.name.strip():
            raise DefinitionError("a rule needs a name", path="name", value=self.name)
        if self.anchor not in ANCHORS:
            raise DefinitionError(f"unknown anchor (one of {', '.join(ANCHORS)})",
                                  path=f"{path}.anchor", value=self.anchor)
        for anchor in self.leave_out:
            if anchor not in LEAVE_OUT:
                raise DefinitionError(f"unknown anchor to leave out (one of"
                                      f" {', '.join(LEAVE_OUT)})",
                                      path=f"{path}.leave_out", value=anchor)
        if self.severity not in ("info", "warning", "critical"):
            raise DefinitionError("expected info, warning or critical",
                                  path=f"{path}.severity", value=self.severity)
        if self.group_by not in (None, "channel", "carrier", "region"):
            raise DefinitionError("expected channel, carrier, region or None",
                                  path=f"{path}.group_by", value=self.group_by)
        if not isinstance(self.route_to, str) or not self.route_to:
            raise DefinitionError("expected a queue name", path=f"{path}.route_to",
                                  value=self.route_to)
        for name, number in (("min_orders", self.min_orders), ("limit", self.limit)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise DefinitionError("expected an integer >= 1", path=f"{path}.{name}",
                                      value=number)
        if self.min_orders > 1 and self.group_by is None:
            raise DefinitionError("min_orders needs group_by", path=f"{path}.min_orders",
                                  value=self.min_orders)
        if self.inhibits and self.group_by is None:
            raise DefinitionError("inhibits needs group_by (the value both alerts share)",
                                  path=f"{path}.inhibits", value=self.inhibits)


def group_key(order: Order, group_by: GroupBy) -> str:
    """The value ``order`` has for ``group_by`` (``"unknown"`` when it has none)."""
    if group_by == "channel":
        return order.channel
    if group_by == "carrier":
        carrier = order.shipments[-1].carrier if order.shipments else ""
        return carrier or "unknown"
    province = order.ship_to.province if order.ship_to is not None else ""
    return province or "unknown"


def _route_names(path: str, value: object) -> frozenset[str] | None:
    """A route's ``channels`` or ``regions``: ``None`` (any) or a collection of names
    (a single string is refused, not read as a set of its letters)."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise DefinitionError("expected None or a collection of names", path=path,
                              value=value)
    names = frozenset(value)
    if any(not isinstance(name, str) or not name for name in names):
        raise DefinitionError("expected non-empty names", path=path, value=value)
    return names


def _route_channels(value: object) -> frozenset[str] | None:
    return _route_names("channels", value)


def _route_regions(value: object) -> frozenset[str] | None:
    return _route_names("regions", value)


def _check_route_to(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError("expected a queue name", path="to", value=value)


_route_to: Validator = _check_route_to


def _route_amount(value: object) -> Money | None:
    if value is not None and not isinstance(value, Money):
        raise DefinitionError("expected Money or None", path="min_amount", value=value)
    return value


@attrs.frozen
class Route:
    """A routing rule: alerts on orders of these ``channels``, of at least
    ``min_amount`` (the orders' payable, summed), in these ``regions`` (ship-to
    province) and with these ``labels`` go to queue ``to``. ``None`` matches anything;
    the first matching route wins, else the rule's own ``route_to``."""

    to: str = attrs.field(validator=_route_to)
    channels: frozenset[str] | None = attrs.field(default=None,
                                                  converter=_route_channels)
    min_amount: Money | None = attrs.field(default=None, converter=_route_amount)
    regions: frozenset[str] | None = attrs.field(default=None,
                                                 converter=_route_regions)
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)

    def matches(self, rule: Rule, orders: Iterable[Order]) -> bool:
        """Whether an alert of ``rule`` on ``orders`` goes to this route."""
        found = list(orders)
        if any(rule.labels.get(k) != v for k, v in self.labels.items()):
            return False
        if self.channels is not None and not any(o.channel in self.channels for o in found):
            return False
        if self.regions is not None and not any(
            o.ship_to is not None and o.ship_to.province in self.regions for o in found
        ):
            return False
        if self.min_amount is not None:
            total = Money.zero(self.min_amount.currency)
            for order in found:
                if order.currency == total.currency:
                    total += order.totals.payable
            if total < self.min_amount:
                return False
        return True


_S = OrderStatus
#: The statuses an order can be in while a return is under way: a parcel refused at the
#: door comes back while SHIPPED, a return after delivery leaves the order DELIVERED or
#: COMPLETED, and a return may still arrive once a full refund CLOSED it.
_AFTER_SALE: Final = frozenset({_S.SHIPPED, _S.DELIVERED, _S.COMPLETED, _S.CLOSED})

#: The shops' rules with their numbers: a pending order is red after 15 minutes; a paid
#: order unshipped after 24 hours; no first carrier scan 5 minutes after the waybill
#: (one message per carrier, to the warehouse lead); and 20 orders of one channel
#: pending for 30 minutes means the channel's payments are down (which silences that
#: channel's per-order pending alerts). A cash-on-delivery order waits unpaid by design:
#: the pending rules leave it out, and it is late when not shipped 24 hours after it was
#: placed. A presale is due to ship from its ship-from day (as the wave reads it), and
#: one that took its deposit waits for its balance by design: no pending alert. After a
#: sale (orderkit's defaults): a return asked for and not received 14
#: days later (the buyer's time to send it plus the carrier's), and a return received and
#: not refunded 48 hours later, in whatever status the order is by then. A partly shipped
#: order (orderkit's default) whose units still to ship have waited 3 days since its first
#: parcel left: a restock's usual wait, and about when the buyer, the first parcel in
#: hand, asks for the rest. Only SHIPPED holds units still to ship once a parcel left
#: under the default lifecycle.
DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    Rule("pending_payment_stale", {_S.PENDING_PAYMENT}, "status_since",
         timedelta(minutes=15), "customer_service",
         summary="orders pending payment for more than 15 minutes",
         payment_terms=PaymentTerms.PREPAID, leave_out={"balance_due_since"}),
    Rule("paid_not_shipped", {_S.PAID, _S.PACKED}, "ship_due_at", timedelta(hours=24),
         "warehouse", summary="paid orders not shipped after 24 hours"),
    Rule("cod_not_shipped", {_S.PENDING_PAYMENT, _S.PACKED}, "created_at",
         timedelta(hours=24), "warehouse",
         summary="cash-on-delivery orders not shipped 24 hours after they were placed",
         payment_terms=PaymentTerms.ON_DELIVERY),
    Rule("no_first_scan", {_S.SHIPPED}, "unscanned_since", timedelta(minutes=5),
         "warehouse", severity="critical", group_by="carrier", for_=timedelta(seconds=30),
         summary="no first carrier scan 5 minutes after the waybill"),
    Rule("payment_channel_down", {_S.PENDING_PAYMENT}, "status_since", timedelta(minutes=30),
         "tech", severity="critical", group_by="channel", min_orders=20,
         inhibits=("pending_payment_stale",), payment_terms=PaymentTerms.PREPAID,
         leave_out={"balance_due_since"},
         summary="20 or more orders of one channel pending for 30 minutes"),
    Rule("return_not_received", _AFTER_SALE, "return_requested_since", timedelta(days=14),
         "customer_service", summary="returns asked for and not received after 14 days"),
    Rule("refund_not_paid", _AFTER_SALE, "refund_due_since", timedelta(hours=48), "finance",
         summary="returns received and not refunded after 48 hours"),
    Rule("partly_shipped_waiting", {_S.SHIPPED}, "partly_shipped_since", timedelta(days=3),
         "warehouse",
         summary="partly shipped orders with units still to ship 3 days after the first parcel"),
)
