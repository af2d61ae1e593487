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

from orderkit.model.orders import Order, Payment, PaymentKind

if TYPE_CHECKING:
    from orderkit.lifecycle.events import Event

__all__ = ["money_only_refund", "reclassed_refund", "refund_label", "unrefunded"]


def refund_label(event_id: str) -> str:
    """The label of the adjustments a ``refund`` (event ``event_id``) records: the
    concessions, the shipping given back and the rounding taken back. They are the
    lifecycle's own record of money given back, never the channel's."""
    return f"refund {event_id}"


def reclassed_refund(order: Order, event: Event) -> Payment | None:
    """The refund on ``order`` recorded as money only that ``event`` gives its units to,
    or ``None``: ``event`` is a ``refund`` naming lines whose non-empty
    ``data["reference"]`` a refund on ``order`` carries, of the same amount, naming no
    lines. Any other event is not such a re-class (a refund of its own, the same refund
    told again, or other money under its reference)."""
    if event.name != "refund":
        return None
    data = event.data
    reference = data.get("reference")
    if not data.get("lines") or not isinstance(reference, str):
        return None
    recorded = money_only_refund(order, reference)
    if recorded is None or recorded.amount != data.get("amount"):
        return None
    return recorded


def money_only_refund(order: Order, reference: str) -> Payment | None:
    """The refund on ``order`` that carries the non-empty ``reference`` (a platform's
    refund number) and names no lines, recorded as money only; else ``None``."""
    if not reference:
        return None
    recorded = next((p for p in order.payments
                     if p.kind is PaymentKind.REFUND and p.reference == reference), None)
    return recorded if recorded is not None and not recorded.lines else None


def unrefunded(order: Order, refund: Payment) -> Order:
    """``order`` without ``refund``: its payment, and the adjustments it recorded
    (labelled :func:`refund_label` of its id), taken back. Its lines, history and
    version stay as they are."""
    label = refund_label(refund.payment_id)
    return attrs.evolve(
        order,
        payments=tuple(p for p in order.payments if p.payment_id != refund.payment_id),
        adjustments=tuple(a for a in order.adjustments if a.label != label),
    )
