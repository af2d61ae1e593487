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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from orderkit.model.orders import Order, Payment, PaymentKind, derived

if TYPE_CHECKING:
    from orderkit.lifecycle.events import Event

__all__ = [
    "is_reclass",
    "money_only_refund",
    "reclassed_refund",
    "recorded_by_reference",
    "refund_label",
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
