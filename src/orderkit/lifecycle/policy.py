"""Who may do what to which order: actors, roles, regions and the two-person rule.

The incident: a regional manager lowered prices for his own profit because his account
could, and a loss-making hold was released by the same person who placed the order on
it. A :class:`Policy` maps roles to the events they may apply and limits actors to their
regions; *sensitive* actions (a refund above a threshold, a price change, releasing a
``loss_making`` hold) also need ``data["approved_by"]``: a second, real person.

An approver is an :class:`Actor`, passed as one or named by id and resolved through the
host's :class:`ActorDirectory`. Ids are compared as people, not as strings
(:func:`person_key`: Unicode NFKC, surrounding space dropped, case folded), so
``"cs-1 "`` or a full-width ``"ＣＳ-1"`` is still ``"CS-1"``. The approver must be a
different person, hold a role that may approve the action and see the order's region.
A name the directory does not know approves nothing.

The default, :meth:`Policy.allow_all`, allows everything, so a host that has no roles yet
is not forced to invent them; it checks no roles and verifies no approver beyond "a
different name".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from orderkit.lifecycle.refunds import recorded_by_reference
from orderkit.model import _checks as check
from orderkit.model.errors import NotPermitted, ValidationError
from orderkit.model.money import Money
from orderkit.model.orders import HoldKind, Order, PaymentKind

__all__ = [
    "SYSTEM_EVENTS",
    "Actor",
    "ActorDirectory",
    "Directory",
    "Policy",
    "named_approver",
    "person_key",
]


def person_key(actor_id: str) -> str:
    """The form in which two ids name the same person: Unicode NFKC (full-width letters
    become ASCII), surrounding whitespace dropped, case folded."""
    return unicodedata.normalize("NFKC", actor_id).strip().casefold()


def named_approver(data: Mapping[str, Any]) -> Actor | str | None:
    """Who ``data["approved_by"]`` names, checked as the text a store keeps (added in
    0.3): an :class:`Actor`, an actor id (a string of at most
    :data:`~orderkit.model._checks.TEXT_MAX_LENGTH` characters, as an :class:`Actor`'s
    id, with no NUL and no lone surrogate), or ``None`` when absent or ``""``. Anything
    else is a :class:`ValidationError` naming ``data.approved_by``, so an approver no
    store can hold is refused before anything is decided or written, on every store
    alike."""
    value = data.get("approved_by")
    if value is None or value == "" or isinstance(value, Actor):
        return value or None
    return check.bounded_text("data.approved_by", value,
                              expected="expected an Actor or an actor id")


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

    @id.validator
    def _names_someone(self, _attribute: Any, value: str) -> None:
        if not person_key(value):
            raise ValidationError("id", value, "an actor id must name someone")

    @property
    def key(self) -> str:
        """The id as a person (:func:`person_key`)."""
        return person_key(self.id)


@runtime_checkable
class ActorDirectory(Protocol):
    """The host's people: who an id names, with their roles and regions."""

    def find(self, actor_id: str) -> Actor | None:
        """The actor ``actor_id`` names (compared with :func:`person_key`), or ``None``."""
        ...


class Directory:
    """An :class:`ActorDirectory` over a fixed list of actors (tests, small hosts)."""

    def __init__(self, actors: Iterable[Actor]) -> None:
        self._by_key: dict[str, Actor] = {}
        for index, actor in enumerate(actors):
            if not isinstance(actor, Actor):
                raise ValidationError(f"actors[{index}]", actor, "expected an Actor")
            if actor.key in self._by_key:
                raise ValidationError(
                    f"actors[{index}].id", actor.id, "names the same person as another actor"
                )
            self._by_key[actor.key] = actor

    def find(self, actor_id: str) -> Actor | None:
        """The actor ``actor_id`` names, or ``None``."""
        return self._by_key.get(person_key(actor_id)) if isinstance(actor_id, str) else None


def _default_region(order: Order) -> str:
    return order.ship_to.province if order.ship_to is not None else ""


#: Events a system (``actor=None``) may send under a restrictive policy: payment
#: callbacks, warehouse and carrier scans.
SYSTEM_EVENTS = frozenset({"pay", "pack", "ship", "track", "deliver", "complete"})


class Policy:
    """Role -> allowed events, region scope and the two-person rule.

    ``roles`` maps a role name to the event names it may apply (``"*"`` for all).
    ``region_of`` gives an order's region (default: the ship-to province).
    ``refund_threshold``: refunds that, with those the order already recorded, come to
    more than it need an approver. ``system_events`` may be
    sent without an actor. ``directory`` resolves approvers named by id (without one,
    only approvers passed as :class:`Actor` are accepted). ``approvers`` maps an event
    to the roles that may approve it (default: the roles that may apply it).
    Refusals raise :class:`~orderkit.model.errors.NotPermitted`.
    """

    def __init__(
        self,
        roles: Mapping[str, Iterable[str]],
        *,
        region_of: Callable[[Order], str] | None = None,
        refund_threshold: Money | None = None,
        system_events: Iterable[str] = SYSTEM_EVENTS,
        sensitive_holds: Iterable[str] = (HoldKind.LOSS_MAKING,),
        directory: ActorDirectory | None = None,
        approvers: Mapping[str, Iterable[str]] | None = None,
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
        if directory is not None and not isinstance(directory, ActorDirectory):
            raise ValidationError("directory", directory, "expected an ActorDirectory")
        self._directory = directory
        if approvers is not None and not isinstance(approvers, Mapping):
            raise ValidationError("approvers", approvers, "expected a mapping of event to roles")
        self._approvers = {
            event: _name_set(roles, f"approvers[{event!r}]")
            for event, roles in (approvers or {}).items()
        }
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

    def is_sensitive(
        self, order: Order, event: str, data: Mapping[str, Any], *, event_id: str | None = None
    ) -> bool:
        """Whether this action needs a second person (``data["approved_by"]``).

        A refund is sensitive when it moves money and, with the refunds ``order``
        already recorded, comes to more than ``refund_threshold`` (or is in another
        currency): splitting a large refund into small ones does not dodge the rule.
        The refund recorded under ``event_id`` (the event itself, replayed) and one
        carrying the same ``data["reference"]`` (the same money told again) are not
        counted twice."""
        if self._open:
            return False
        if event == "change_price":
            return True
        if event == "release_hold":
            return data.get("kind") in self._sensitive_holds
        if event == "refund" and self._refund_threshold is not None:
            amount = data.get("amount")
            if not isinstance(amount, Money) or not amount.amount:
                return False
            if amount.currency != self._refund_threshold.currency:
                return True
            if amount.currency != order.currency:
                return amount > self._refund_threshold  # the order records no refund in it
            # What the order refunded, less this event replayed and this money told again.
            excluded = {p.payment_id: p.amount for p in order.payments
                        if p.payment_id == event_id and p.kind is PaymentKind.REFUND}
            reference = data.get("reference")
            told = (recorded_by_reference(order, PaymentKind.REFUND, reference)
                    if isinstance(reference, str) else None)
            if told is not None:
                excluded[told.payment_id] = told.amount
            before = order.totals.refunded - sum(excluded.values(), Money.zero(amount.currency))
            return before + amount > self._refund_threshold
        return False

    def check(
        self, actor: Actor | None, order: Order, event: str, data: Mapping[str, Any],
        *, event_id: str | None = None,
    ) -> Actor | None:
        """Raise :class:`NotPermitted` unless ``actor`` may apply ``event`` now; the
        checked approver (see :meth:`approval`) of a sensitive action, and of any action
        whose data names one (``approved_by`` is never recorded unchecked: an id nobody
        knows, or the actor themself, approves nothing, needed or not), else ``None``.
        ``event_id`` is the event's id (see :meth:`is_sensitive`)."""
        if self._open:
            return None
        who = actor.id if actor is not None else "system"
        if not self.can_view(actor, order):
            raise NotPermitted(who, event, "order is outside the actor's regions",
                               order_id=order.order_id)
        if not self.can_act(actor, order, event):
            raise NotPermitted(who, event, "no role allows this event", order_id=order.order_id)
        named = named_approver(data)
        if named is not None or self.is_sensitive(order, event, data, event_id=event_id):
            return self._approval(actor, order, event, named)
        return None

    def approval(
        self, actor: Actor | None, order: Order, event: str, data: Mapping[str, Any]
    ) -> Actor:
        """The second person ``data["approved_by"]`` names, checked: known (an
        :class:`Actor`, or an id the directory resolves), a different person from
        ``actor``, holding a role that may approve ``event`` and seeing the order's
        region. Raises :class:`NotPermitted` saying which rule failed, and
        :class:`ValidationError` for an ``approved_by`` that is no actor id
        (:func:`named_approver`).

        Under :meth:`allow_all` only "a different person" is checked: there are no roles
        or directory to check against.
        """
        return self._approval(actor, order, event, named_approver(data))

    def _approval(
        self, actor: Actor | None, order: Order, event: str, value: Actor | str | None
    ) -> Actor:
        """:meth:`approval` of the approver ``value`` (:func:`named_approver` of the
        event's data)."""
        who = actor.id if actor is not None else "system"
        if value is None:
            raise NotPermitted(who, event, "needs approved_by (two-person rule)",
                               order_id=order.order_id)
        named = value.key if isinstance(value, Actor) else person_key(value)
        if actor is not None and named == actor.key:
            raise NotPermitted(who, event, "approver must be a different person",
                               order_id=order.order_id)
        if isinstance(value, Actor):
            approver: Actor | None = value
        elif self._directory is not None:
            approver = self._directory.find(value)
        elif self._open:
            approver = Actor(value)
        else:
            raise NotPermitted(who, event, f"cannot verify approver {value!r}: the policy"
                               " has no actor directory", order_id=order.order_id)
        if approver is None:
            raise NotPermitted(who, event, f"approver {value!r} is not a known actor",
                               order_id=order.order_id)
        if actor is not None and approver.key == actor.key:
            raise NotPermitted(who, event, "approver must be a different person",
                               order_id=order.order_id)
        if self._open:
            return approver
        if not self.can_view(approver, order):
            raise NotPermitted(who, event, f"approver {approver.id!r} does not see the order's"
                               " region", order_id=order.order_id)
        may = self._approvers.get(event)
        allowed = (
            bool(approver.roles & may) if may is not None
            else self.can_act(approver, order, event)
        )
        if not allowed:
            raise NotPermitted(who, event, f"approver {approver.id!r} holds no role that may"
                               f" approve {event}", order_id=order.order_id)
        return approver
