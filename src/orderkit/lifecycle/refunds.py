"""Refunds recorded as money only whose units are told later.

A platform's refund number names one refund. A host's webhook receiver often hears only
the money ("refund RF-1 of 43.70 succeeded") and sends a ``refund`` naming no lines: the
lifecycle books it as a concession on the units still sold (adjustments labelled
:func:`refund_label`). When the same refund (its reference, its amount) is told later
naming its units (a poll of the order, a refund import), those units are given to it:
:func:`reclassed_refund` finds the refund recorded as money only, and the ``refund``
handler takes back what that refund recorded (:func:`unrefunded`) and refunds the named
units on its own line path, so the order ends as if the refund had named them from the
start, and no new money moves.

Every refund also says what it gives back, part by part (a
:class:`~orderkit.model.orders.RefundValue`: goods, discounts, shipping, tax, rounding,
or money paid beyond the order's price), and the order keeps it on the refund's
payment (:attr:`~orderkit.model.orders.Payment.value`). :func:`given_back` is what left
the buyer's bill (what was refunded and what is still owed back), :func:`refunds_value`
what the order's refunds gave back of it, and :func:`owed_value` the rest, what is
still owed; :func:`refund_value` splits a refund by them, and :func:`owed_between`
what a decision left owed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import attrs

from orderkit.model.money import Money
from orderkit.model.orders import Order, Payment, PaymentKind, RefundValue, derived

if TYPE_CHECKING:
    from orderkit.lifecycle.events import Event

__all__ = [
    "RefundFields",
    "given_back",
    "is_reclass",
    "money_only_refund",
    "owed_between",
    "owed_value",
    "reclassed_refund",
    "recorded_by_reference",
    "refund_fields",
    "refund_label",
    "refund_value",
    "refunds_value",
    "repriced_left",
    "unrefunded",
    "without_refund",
]


def refund_label(event_id: str) -> str:
    """The label of the adjustments a ``refund`` (event ``event_id``) records: the
    concessions, the shipping given back and the rounding taken back. They are the
    lifecycle's own record of money given back, never the channel's."""
    return f"refund {event_id}"


def recorded_by_reference(order: Order, kind: PaymentKind, reference: str) -> Payment | None:
    """The payment of ``kind`` on ``order`` that carries the non-empty ``reference`` (a
    gateway's transaction number, a platform's refund number: it names one payment or
    refund), else ``None``. An empty reference names nothing."""
    if not reference:
        return None
    return next((p for p in order.payments if p.kind is kind and p.reference == reference),
                None)


def is_reclass(recorded: Payment, event: Event) -> bool:
    """Whether ``event`` gives its units to ``recorded``: ``event`` is a ``refund``
    naming lines, of ``recorded``'s amount and under its non-empty reference, and
    ``recorded`` is a refund recorded as money only (naming no lines)."""
    data = event.data
    return (event.name == "refund" and recorded.kind is PaymentKind.REFUND
            and not recorded.lines and bool(recorded.reference)
            and bool(data.get("lines")) and data.get("reference") == recorded.reference
            and recorded.amount == data.get("amount"))


def reclassed_refund(order: Order, event: Event) -> Payment | None:
    """The refund on ``order`` recorded as money only that ``event`` gives its units to
    (:func:`is_reclass`), or ``None``: any other event is not such a re-class (a refund
    of its own, the same refund told again, or other money under its reference)."""
    reference = event.data.get("reference") if event.name == "refund" else None
    if not isinstance(reference, str):
        return None
    recorded = recorded_by_reference(order, PaymentKind.REFUND, reference)
    return recorded if recorded is not None and is_reclass(recorded, event) else None


def money_only_refund(order: Order, reference: str) -> Payment | None:
    """The refund on ``order`` that carries the non-empty ``reference`` (a platform's
    refund number) and names no lines, recorded as money only; else ``None``."""
    recorded = recorded_by_reference(order, PaymentKind.REFUND, reference)
    return recorded if recorded is not None and not recorded.lines else None


def unrefunded(order: Order, refund: Payment) -> Order:
    """``order`` without ``refund`` (:func:`without_refund`), built once per order and
    refund: a re-class reads it in the ``refunds_everything`` guard and again in the
    ``refund`` handler."""
    built: Order = derived(order, f"unrefunded {refund.payment_id}",
                           lambda: without_refund(order, refund))
    return built


def without_refund(order: Order, refund: Payment) -> Order:
    """``order`` without ``refund``: its payment, and the adjustments it recorded
    (labelled :func:`refund_label` of its id), taken back. Its lines, history and
    version stay as they are."""
    label = refund_label(refund.payment_id)
    return attrs.evolve(
        order,
        payments=tuple(p for p in order.payments if p.payment_id != refund.payment_id),
        adjustments=tuple(a for a in order.adjustments if a.label != label),
    )


# --- what refunds give back, part by part -------------------------------------------------


def given_back(order: Order) -> RefundValue:
    """What ``order``'s buyer was given back or is owed back, part by part: worth what
    was refunded plus ``refund_due``.

    It is what left the buyer's bill: the value of every unit no longer sold (cancelled,
    refunded, returned) and of the order's own charges once they stopped standing, as
    the order counts what is still sold (:meth:`~orderkit.model.orders.Order.units_value`
    of every unit, less :attr:`~orderkit.model.orders.Order.sold_value`), each unit at
    the value it left at (a price changed since re-values only the units still sold:
    :attr:`~orderkit.model.orders.Order.repriced_left` keeps the difference), and what
    refunds gave on what is still sold (their concessions, shipping and rounding given
    back, the adjustments labelled :func:`refund_label`), and beyond that ``overpaid``:
    what was paid beyond the order's price (a price lowered after payment among it). An
    order not paid in full for what left (a deposit, cash on delivery never collected)
    gave back only the part it was paid: each part in proportion
    (:meth:`~orderkit.model.orders.RefundValue.part`)."""
    value: RefundValue = derived(order, "given_back", lambda: _given_back(order))
    return value


def _given_back(order: Order) -> RefundValue:
    left = _left(order)
    totals = order.totals
    given = totals.refunded + totals.refund_due
    beyond = given - left.amount
    if beyond.amount >= 0:
        return attrs.evolve(left, overpaid=beyond)
    return left.part(given)


def _left(order: Order) -> RefundValue:
    """What left ``order``'s bill, each unit at the value it left at: at the order's
    prices now, and what a price changed since took from it (``repriced_left``)."""
    left = _left_at_prices(order)
    return left if order.repriced_left is None else left.plus(order.repriced_left)


def _left_at_prices(order: Order) -> RefundValue:
    """What left ``order``'s bill (every unit's value less what is still sold, and what
    refunds gave on what is still sold), valued at the order's prices now."""
    labels = {refund_label(p.payment_id) for p in order.payments if p.kind is PaymentKind.REFUND}
    priced = order  # the order as sold: without what its refunds gave on it
    if any(a.label in labels for a in order.adjustments):
        priced = attrs.evolve(order, adjustments=tuple(
            a for a in order.adjustments if a.label not in labels))
    every = {line.line_id: line.quantity for line in order.lines}
    return RefundValue.left(priced.units_value(every, charged=True).minus(order.sold_value))


def repriced_left(before: Order, after: Order) -> RefundValue | None:
    """The :attr:`~orderkit.model.orders.Order.repriced_left` of ``after``, ``before``
    with its prices changed (a ``change_price``): what the units that left had left
    the bill worth in ``before`` (at the value they left at) beyond what ``after``'s
    prices value them at, so that the change re-values only the units still sold.
    ``None`` when that is nothing."""
    kept = _left(before).minus(_left_at_prices(after))
    return None if kept == RefundValue.zero(kept.goods.currency) else kept


def refunds_value(order: Order) -> RefundValue:
    """What ``order``'s refunds gave back, part by part: the sum of their
    :attr:`~orderkit.model.orders.Payment.value`, worth ``totals.refunded``. Refunds
    recorded without one (placed by a mapping, stored before 0.3) are taken to have
    given back, in proportion, what :func:`given_back` holds beyond the others."""
    value: RefundValue = derived(order, "refunds_value", lambda: _refunds_value(order))
    return value


def _refunds_value(order: Order) -> RefundValue:
    refunds = [p for p in order.payments if p.kind is PaymentKind.REFUND]
    known = RefundValue.zero(order.currency)
    unknown = Money.zero(order.currency)
    for refund in refunds:
        if refund.value is None:
            unknown += refund.amount
        else:
            known = known.plus(refund.value)
    if not unknown:
        return known
    return known.plus(given_back(order).minus(known).part(unknown))


def owed_value(order: Order) -> RefundValue:
    """What ``order``'s buyer is still owed back, part by part (worth ``refund_due``):
    :func:`given_back` less :func:`refunds_value`."""
    return given_back(order).minus(refunds_value(order))


def refund_value(before: Order, after: Order, amount: Money) -> RefundValue:
    """What a refund of ``amount`` gives back, part by part: ``before`` is the order
    it is paid on, ``after`` that order with the refund applied (its payment, its units
    moved to REFUNDED, what it gave on the goods kept).

    It pays first for what it gives itself (its units' value, its concessions: what
    :func:`given_back` gained from ``before`` to ``after``), in proportion when it pays
    less than that (the rest is owed); then what was owed before (:func:`owed_value`),
    in proportion when it pays part of it; all of what is owed when it leaves nothing
    owed."""
    owed = owed_value(before)
    own = given_back(after).minus(given_back(before))
    if after.refund_due.amount == 0:
        return owed.plus(own)
    if own.amount <= amount:
        return own.plus(owed.part(amount - own.amount))
    return own.part(amount)


def owed_between(before: Order, after: Order) -> RefundValue:
    """What a decision that took ``before`` to ``after`` left owed back, part by part
    (the ``RefundDue`` of ``after.refund_due - before.refund_due``)."""
    return owed_value(after).minus(owed_value(before))


class RefundFields(TypedDict):
    """The parts of a :class:`~orderkit.model.orders.RefundValue`, as the keyword
    arguments of ``RefundDue``, ``Refunded`` and ``RefundLinesAssigned``."""

    goods: Money
    discounts: Money
    shipping: Money
    tax: Money
    rounding: Money
    overpaid: Money


def refund_fields(value: RefundValue) -> RefundFields:
    """``value``'s parts as the fields of a refund's domain event."""
    return {"goods": value.goods, "discounts": value.discounts, "shipping": value.shipping,
            "tax": value.tax, "rounding": value.rounding, "overpaid": value.overpaid}
