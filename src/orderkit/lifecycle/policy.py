"""Who may do what to which order: actors, roles, regions and the two-person rule.

The incident: a unit price edited by an agent who should not have been able to, and a
loss-making hold released by the same person who placed the order on it. A
:class:`Policy` maps roles to the events they may apply and limits actors to their
regions; *sensitive* actions (a refund above a threshold, a price change, releasing a
``loss_making`` hold) also need ``data["approved_by"]`` naming a second person.

The default, :meth:`Policy.allow_all`, allows everything, so a host that has no roles yet
is not forced to invent them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import NotPermitted, ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import HoldKind, Order

__all__ = ["Actor", "Policy"]


def _name_set(value: object, path: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError(path, value, "expected a collection of strings")
    items = frozenset(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValidationError(path, item, "expected non-empty strings")
    return items


def _roles(value: object) -> frozenset[str]:
    return _name_set(value, "roles")


def _regions(value: object) -> frozenset[str]:
    return _name_set(value, "regions")


@attrs.frozen
class Actor:
    """A person or system acting on orders.

    ``roles`` select the events the :class:`Policy` allows; ``regions`` limit which
    orders they see and act on (empty: every region).
    """

    id: str = attrs.field(validator=check.text(allow_empty=False))
    roles: frozenset[str] = attrs.field(default=frozenset(), converter=_roles)
    regions: frozenset[str] = attrs.field(default=frozenset(), converter=_regions)


def _default_region(order: Order) -> str:
    return order.ship_to.province if order.ship_to is not None else ""


#: Events a system (``actor=None``) may send under a restrictive policy: payment
#: callbacks, warehouse and carrier scans.
SYSTEM_EVENTS = frozenset({"pay", "pack", "ship", "track", "deliver", "complete"})


class Policy:
    """Role -> allowed events, region scope and the two-person rule.

    ``roles`` maps a role name to the event names it may apply (``"*"`` for all).
    ``region_of`` gives an order's region (default: the ship-to province).
    ``refund_threshold``: refunds above it need an approver. ``system_events`` may be
    sent without an actor. Refusals raise :class:`~orderkit.model.errors.NotPermitted`.
    """

    def __init__(
        self,
        roles: Mapping[str, Iterable[str]],
        *,
        region_of: Callable[[Order], str] | None = None,
        refund_threshold: Money | None = None,
        system_events: Iterable[str] = SYSTEM_EVENTS,
        sensitive_holds: Iterable[str] = (HoldKind.LOSS_MAKING,),
    ) -> None:
        if not isinstance(roles, Mapping):
            raise ValidationError("roles", roles, "expected a mapping of role to event names")
        self._roles = {
            role: _name_set(events, f"roles[{role!r}]") for role, events in roles.items()
        }
        self._region_of = region_of or _default_region
        if refund_threshold is not None and not isinstance(refund_threshold, Money):
            raise ValidationError("refund_threshold", refund_threshold, "expected Money")
        self._refund_threshold = refund_threshold
        self._system = _name_set(system_events, "system_events")
        self._sensitive_holds = _name_set(sensitive_holds, "sensitive_holds")
        self._open = False

    @classmethod
    def allow_all(cls) -> Policy:
        """A policy that permits every event to anyone, with no two-person rule."""
        policy = cls({})
        policy._open = True
        return policy

    @property
    def allows_everything(self) -> bool:
        """True for :meth:`allow_all` (the engine skips checks entirely)."""
        return self._open

    def can_view(self, actor: Actor | None, order: Order) -> bool:
        """Whether ``actor`` may see ``order`` (region scope)."""
        if self._open or actor is None or not actor.regions:
            return True
        return self._region_of(order) in actor.regions

    def can_act(self, actor: Actor | None, order: Order, event: str) -> bool:
        """Whether ``actor`` may apply ``event`` to ``order`` (role and region)."""
        if self._open:
            return True
        if actor is None:
            return event in self._system
        if not self.can_view(actor, order):
            return False
        return any(
            event in self._roles.get(role, ()) or "*" in self._roles.get(role, ())
            for role in actor.roles
        )

    def is_sensitive(self, order: Order, event: str, data: Mapping[str, Any]) -> bool:
        """Whether this action needs a second person (``data["approved_by"]``)."""
        if self._open:
            return False
        if event == "change_price":
            return True
        if event == "release_hold":
            return data.get("kind") in self._sensitive_holds
        if event == "refund" and self._refund_threshold is not None:
            amount = data.get("amount")
            return isinstance(amount, Money) and (
                amount.currency != self._refund_threshold.currency
                or amount > self._refund_threshold
            )
        return False

    def check(self, actor: Actor | None, order: Order, event: str, data: Mapping[str, Any]) -> None:
        """Raise :class:`NotPermitted` unless ``actor`` may apply ``event`` now."""
        if self._open:
            return
        who = actor.id if actor is not None else "system"
        if not self.can_view(actor, order):
            raise NotPermitted(who, event, "order is outside the actor's regions",
                               order_id=order.order_id)
        if not self.can_act(actor, order, event):
            raise NotPermitted(who, event, "no role allows this event", order_id=order.order_id)
        if self.is_sensitive(order, event, data):
            approver = data.get("approved_by")
            if not isinstance(approver, str) or not approver:
                raise NotPermitted(who, event, "needs approved_by (two-person rule)",
                                   order_id=order.order_id)
            if approver == who:
                raise NotPermitted(who, event, "approver must be a different person",
                                   order_id=order.order_id)
