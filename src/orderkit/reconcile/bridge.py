"""From stored orders to the ERP side of a reconciliation.

:func:`records_from_orders` turns canonical :class:`~orderkit.model.orders.Order` objects
into :class:`~orderkit.reconcile.Record` objects: one per payment and one per refund, so
an order paid in two parts or refunded twice is reconciled part by part. Each record
carries what the channel's bill shares with it: the order's reconciliation id as
``ref``, the gateway's transaction number (``Payment.reference``), the channel's own
order number (a Tmall tid, which Alipay shows inside ``T200P<tid>``) and the order id as
``links``, and
the channel it was paid through as ``channel``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from orderkit.model.errors import ValidationError
from orderkit.model.orders import Order, Payment, PaymentKind, status_name
from orderkit.reconcile.exchanges import EXCHANGE
from orderkit.reconcile.records import Record

__all__ = ["records_from_orders"]

ChannelOf = Callable[[Order, Payment], str | None]


def _default_channel(order: Order, payment: Payment) -> str:
    # The payment method names the gateway ("wechatpay", "alipay", "pos"); a refund
    # without one goes back through the payment it refunds; an order paid without any
    # method was paid through its sales channel.
    if payment.method:
        return payment.method
    if payment.kind is PaymentKind.REFUND:
        return order.paying_method(payment.amount, payment.at) or order.channel
    return order.channel


def records_from_orders(
    orders: Iterable[Order],
    *,
    source: str = "erp",
    channels: Mapping[str, str] | ChannelOf | None = None,
) -> list[Record]:
    """The ERP-side records of ``orders``: one ``sale`` per payment and one negative
    ``refund`` per refund, at the payment's own time.

    ``channels`` routes a payment to the name of its channel's bill: a mapping from the
    payment method to a bill name, or a function of ``(order, payment)``. By default the
    method itself is the name. A refund without a method goes back through the order's
    paying channel: the method of the payment it refunds (the order's only method, else
    the latest payment made before it that covers it); only an order with no payment
    method at all falls back to its sales channel (``order.channel``). An order's records
    add up to ``order.totals.paid - order.totals.refunded``; ``refund_due`` (owed but not
    yet paid back) moves no money and makes no record.

    A payment or refund with ``method="exchange"`` is one leg of an exchange (换货: the
    refund of the goods returned paying for their replacement order, no money moving
    outside the merchant): a ``transfer`` record of category ``exchange`` whose ``ref``
    is the payment's ``reference`` (the exchange's, shared by both legs; ``None``
    without one) and whose ``links`` name its order. The two legs pair with each other
    in :func:`~orderkit.reconcile.reconcile` and :func:`~orderkit.reconcile.settle`,
    never with a bill or the bank (:mod:`orderkit.reconcile.exchanges`).

    >>> from datetime import datetime, UTC
    >>> from orderkit.model.money import Money
    >>> from orderkit.model.orders import Order, OrderLine, Payment
    >>> at = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    >>> order = Order("O1", "tmall", "3698512204871532841",
    ...               (OrderLine("L1", "TEA-1", 1, Money("256.00", "CNY")),), at,
    ...               recon_id="SO20260310000001",
    ...               payments=(Payment("P1", Money("256.00", "CNY"), at, method="alipay",
    ...                                 reference="2026031022001456780001"),))
    >>> (record,) = records_from_orders([order])
    >>> record.ref, record.channel, str(record.amount)
    ('SO20260310000001', 'alipay', 'CNY 256.00')
    >>> record.links
    ('2026031022001456780001', '3698512204871532841', 'O1')
    """
    return list(_records(orders, source, channels))


def _records(
    orders: Iterable[Order], source: str, channels: Mapping[str, str] | ChannelOf | None
) -> Iterator[Record]:
    for position, order in enumerate(orders):
        if not isinstance(order, Order):
            raise ValidationError(f"orders[{position}]", order, "expected an Order")
        order_ref = order.recon_id or order.order_id
        for payment in order.payments:
            channel = _channel(order, payment, channels)
            refund = payment.kind is PaymentKind.REFUND
            if payment.method == EXCHANGE:
                # One leg of an exchange: named by the exchange's reference, which its
                # other leg (on the other order) carries too; the order is a link.
                ref = payment.reference or None
                names: tuple[str | None, ...] = (
                    order_ref, order.channel_order_id, order.order_id
                )
                kind, category = "transfer", EXCHANGE
            else:
                ref = order_ref
                names = (payment.reference, order.channel_order_id, order.order_id)
                kind, category = ("refund" if refund else "sale"), None
            links = tuple(name for name in dict.fromkeys(names) if name and name != ref)
            yield Record(
                source,
                f"{order.order_id}/{payment.payment_id}",
                ref,
                -payment.amount if refund else payment.amount,
                payment.at,
                kind=kind,
                status=status_name(order.status),
                links=links,
                channel=channel,
                category=category,
            )


def _channel(
    order: Order, payment: Payment, channels: Mapping[str, str] | ChannelOf | None
) -> str | None:
    if channels is None:
        return _default_channel(order, payment)
    if callable(channels):
        return channels(order, payment)
    name = _default_channel(order, payment)
    return channels.get(name, name)
