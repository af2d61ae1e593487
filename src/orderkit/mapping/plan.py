"""A compiled platform map, and the one path that runs it.

:func:`~orderkit.mapping.compile.compile_map` checks a
:class:`~orderkit.mapping.spec.PlatformMap` and compiles each of its sections (header,
lines, refunds, adjustments, address, payable, payment, shipment, buyer) into a small
reader. :class:`Sections` runs those readers in that order on one payload (the goods
total last, against the lines) and assembles the :class:`~orderkit.model.orders.Order`
through the validating constructors of every canonical value, so whatever a
constructor refuses is refused here too, as a
:class:`~orderkit.model.errors.MappingError` naming the platform, the path and the value.
:class:`Plan` adds what every payload needs around that: envelopes, the totals proof.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

import attrs

from orderkit.mapping.fields import FieldReader
from orderkit.mapping.lines import LineDraft, LinesReader
from orderkit.mapping.paths import lookup
from orderkit.mapping.refunds import RefundsReader
from orderkit.mapping.result import MappedOrder, payload_digest
from orderkit.mapping.signals import HoldsReader, TagsReader
from orderkit.mapping.spec import PlatformMap
from orderkit.mapping.status import StatusPlan
from orderkit.mapping.units import EXACT
from orderkit.model.errors import MappingError, ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import (
    Address,
    Adjustment,
    AdjustmentKind,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentKind,
    PaymentTerms,
    Shipment,
)

__all__ = ["AdjustmentsReader", "Built", "Extras", "GoodsTotalReader", "Header", "Plan",
           "Sections", "goods_of", "totals_mismatch"]

_T = TypeVar("_T")
_ZERO: Final = Decimal(0)


@attrs.frozen
class Header:
    """The order-level facts every other section may need."""

    channel_order_id: str
    created_at: datetime
    paid_at: datetime | None
    status: OrderStatus
    modified_at: datetime | None = None

    @property
    def signalled_at(self) -> datetime:
        """When the payload's signals (holds) were raised, as best the payload says: the
        platform's modified time, else the paid time, else the created time."""
        return self.modified_at or self.paid_at or self.created_at


@attrs.frozen
class Extras:
    """What a payload says beside the order (see :class:`MappedOrder`)."""

    shop_id: str
    buyer_note: str
    seller_note: str


@attrs.frozen
class Built:
    """One payload read: the order, the platform's payable and the rest."""

    order: Order
    payable: Money
    header: Header
    extras: Extras


CurrencyReader = Callable[[Mapping[str, Any]], str]
HeaderReader = Callable[[Mapping[str, Any], str], Header]
AddressReader = Callable[[Mapping[str, Any], str], "Address | None"]
PaymentsReader = Callable[
    [Mapping[str, Any], str, Header, Money], tuple[PaymentTerms, tuple[Payment, ...]]
]
"""``(order object, currency, header, payable)`` -> the payment terms and payments."""
ShipmentsReader = Callable[
    [Mapping[str, Any], str, Header, "list[LineDraft]"], tuple[Shipment, ...]
]
ExtrasReader = Callable[[Mapping[str, Any], str], Extras]
AdjustmentsReader = Callable[
    [Mapping[str, Any], str, Sequence[LineDraft]], list[Adjustment]
]
"""``(order object, currency, line drafts)`` -> the order's adjustments beside the
lines' own: order-level amounts (split into the lines' shares where the platform gives
them) and adjustment lists."""
GoodsTotalReader = Callable[[Mapping[str, Any], str, Sequence[OrderLine]], list[Adjustment]]
"""``(order object, currency, lines)`` -> what the lines exceed the platform's own goods
total by, as a discount (none without one; see ``PlatformMap.goods_total``)."""


@attrs.frozen
class Sections:
    """One compiled reader per section of a map, run in reading order by :meth:`build`.

    The order is fixed, so when a payload has several problems the first one reported is
    always the same.
    """

    platform: str
    currency: CurrencyReader
    header: HeaderReader
    lines: LinesReader
    refunds: RefundsReader
    adjustments: AdjustmentsReader
    address: AddressReader
    payable: FieldReader
    payments: PaymentsReader
    shipments: ShipmentsReader
    buyer: FieldReader
    holds: HoldsReader
    tags: TagsReader
    extras: ExtrasReader
    goods_total: GoodsTotalReader
    channel: str

    def build(self, payload: Mapping[str, Any]) -> Built:
        """The order in ``payload`` (the order object itself), its payable amount and
        what the payload says beside it."""
        currency = self.currency(payload)
        header = self.header(payload, currency)
        drafts, adjustments = self.lines(payload, currency, header.status)
        self.refunds(payload, drafts)
        adjustments += self.adjustments(payload, currency, drafts)
        ship_to = self.address(payload, currency)
        payable: Money = self.payable(payload, "", currency)
        terms, payments = self.payments(payload, currency, header, payable)
        shipments = self.shipments(payload, currency, header, drafts)
        buyer = self.buyer(payload, "", currency) or ""
        holds = self.holds(payload, drafts, header.signalled_at)
        tags = self.tags(payload, drafts)
        extras = self.extras(payload, currency)
        lines = tuple(draft.line() for draft in drafts)
        adjustments += self.goods_total(payload, currency, lines)
        order = Order(
            order_id=f"{self.channel}:{header.channel_order_id}",
            channel=self.channel,
            channel_order_id=header.channel_order_id,
            lines=lines,
            created_at=header.created_at,
            status=header.status,
            ship_to=ship_to,
            adjustments=tuple(adjustments),
            payments=payments,
            shipments=shipments,
            paid_at=header.paid_at or next(
                (p.at for p in payments if p.kind is PaymentKind.PAYMENT), None),
            buyer_id=buyer,
            holds=holds,
            tags=tags,
            payment_terms=terms,
        )
        return Built(order, payable, header, extras)


@attrs.frozen
class Plan:
    """A compiled platform map: :meth:`build` maps one payload, :meth:`normalize` also
    proves the totals against the platform's own payable amount."""

    map: PlatformMap
    mapped_paths: frozenset[str]
    """Source paths (with ``[*]`` for list items) the map reads; used by ``check``."""
    typed_paths: Mapping[str, str]
    """Source path pattern -> unit, for drift detection."""
    _sections: Sections
    _envelopes: tuple[tuple[str, ...], ...]
    _id_key: str
    status_plans: Mapping[str, tuple[str, StatusPlan]]
    """``"order"`` and (if any) ``"line"`` -> (list path or "", compiled table)."""

    _read_id: FieldReader
    _read_modified: FieldReader

    @property
    def name(self) -> str:
        """The platform name."""
        return self.map.name

    @property
    def channel(self) -> str:
        """The channel identity of the orders this map reads (``Order.channel``)."""
        return self.map.channel_name

    def build(self, payload: object) -> tuple[Order, Money]:
        """The mapped order and the platform's payable amount, unchecked."""
        built = self._built(payload)[0]
        return built.order, built.payable

    def unwrap(self, payload: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
        """The order object inside ``payload`` and the envelope path ("" if none)."""
        if self._envelopes and self._id_key not in payload:
            for keys in self._envelopes:
                inner = lookup(payload, keys, "", self.map.name)
                if isinstance(inner, Mapping):
                    return inner, ".".join(keys)
        return payload, ""

    def _inside(self, payload: object) -> tuple[Mapping[str, Any], str]:
        if not isinstance(payload, Mapping):
            raise MappingError(self.map.name, "$", payload, "expected a JSON object (the order)")
        return self.unwrap(payload)

    def _guarded(self, read: Callable[[Mapping[str, Any]], _T], inner: Mapping[str, Any],
                 where: str) -> _T:
        """``read(inner)``, its errors made :class:`MappingError` with the envelope path."""
        platform = self.map.name
        try:
            return read(inner)
        except MappingError as error:
            if not where:
                raise
            path = where if error.path == "$" else f"{where}.{error.path}"
            raise MappingError(platform, path, error.value, error.reason) from None
        except ValidationError as error:
            path = error.path or "$"
            if where:
                path = where if path == "$" else f"{where}.{path}"
            raise MappingError(platform, path, error.value, error.reason) from None
        except (TypeError, ValueError, KeyError, IndexError, ArithmeticError,
                AttributeError, RecursionError) as error:  # pragma: no cover - safety net
            raise MappingError(
                platform, where or "$", None, f"unexpected {type(error).__name__}: {error}"
            ) from None

    def _built(self, payload: object) -> tuple[Built, Mapping[str, Any], str]:
        inner, where = self._inside(payload)
        return self._guarded(self._sections.build, inner, where), inner, where

    def _checked(self, payload: object) -> tuple[Built, Mapping[str, Any]]:
        built, inner, where = self._built(payload)
        mismatch = totals_mismatch(built.order, built.payable)
        if mismatch is not None:
            path = self.map.payable.path
            path = f"{where}.{path}" if where else path
            raise MappingError(self.map.name, path, str(built.payable.amount), mismatch)
        return built, inner

    def normalize(self, payload: object) -> Order:
        """Map ``payload`` and refuse it when goods + shipping + tax - discounts differs
        from what the platform says the buyer pays."""
        return self._checked(payload)[0].order

    def read_order(self, payload: object) -> MappedOrder:
        """:meth:`normalize`, with what the payload says beside the order: the
        platform's modified time, shop, notes and the payload's digest."""
        built, inner = self._checked(payload)
        try:
            digest = payload_digest(inner)
        except (TypeError, ValueError) as error:
            raise MappingError(self.map.name, "$", str(error),
                               "the payload holds a value JSON cannot hold") from None
        extras = built.extras
        return MappedOrder(
            order=built.order, payable=built.payable, platform=self.map.name,
            modified_at=built.header.modified_at, shop_id=extras.shop_id,
            buyer_note=extras.buyer_note, seller_note=extras.seller_note,
            digest=digest, raw=inner,
        )

    def modified_at(self, payload: object) -> datetime | None:
        """The platform's modified time of ``payload`` (aware, UTC), or ``None`` when the
        map or the payload has none; only that field is read."""
        inner, where = self._inside(payload)
        found: datetime | None = self._guarded(
            lambda obj: self._read_modified(obj, "", ""), inner, where
        )
        return found

    def identity(self, payload: object) -> tuple[str, str]:
        """``(channel, channel order id)`` of ``payload``, the key one stored order has;
        only the id is read."""
        inner, where = self._inside(payload)
        channel_order_id: str = self._guarded(lambda obj: self._read_id(obj, "", ""),
                                              inner, where)
        return self.channel, channel_order_id


_SIGN: Final = {
    AdjustmentKind.SHIPPING: 1,
    AdjustmentKind.TAX: 1,
    AdjustmentKind.ROUNDING: 1,
    AdjustmentKind.DISCOUNT: -1,
    AdjustmentKind.COUPON: -1,
    AdjustmentKind.SUBSIDY: -1,
    AdjustmentKind.FEE: 0,
    AdjustmentKind.COMMISSION: 0,
}


def goods_of(lines: Iterable[OrderLine]) -> Decimal:
    """What ``lines`` add up to: each one's unit price times its quantity, exactly."""
    total = _ZERO
    for line in lines:
        total = EXACT.fma(line.unit_price.amount, line.quantity, total)
    return total


def totals_mismatch(order: Order, payable: Money) -> str | None:
    """Why the mapped totals disagree with the platform's payable, or None when they agree.

    The sum is the one :attr:`Order.totals` makes (goods + shipping + tax - discounts +
    rounding), done on the ``Decimal`` amounts directly because it runs on every order.
    """
    total = goods_of(order.lines)
    for adjustment in order.adjustments:
        total = EXACT.fma(adjustment.amount.amount, _SIGN[adjustment.kind], total)
    if total == payable.amount and payable.currency == order.currency:
        return None
    totals = order.totals
    return (
        f"goods {totals.goods.amount} + shipping {totals.shipping.amount}"
        f" + tax {totals.tax.amount} - discounts {totals.discounts.amount}"
        f" + rounding {totals.rounding.amount} = {totals.payable.amount},"
        f" but the platform's payable is {payable.amount}"
    )
