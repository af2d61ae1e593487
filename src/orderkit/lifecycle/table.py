"""The transition table: which event moves an order from which status to which.

The table is plain data, checked when it is built, so a typo in a host's extension fails
at start-up with a :class:`~orderkit.model.errors.DefinitionError` instead of leaving orders
stuck in production. A table is

* ``rules``: :class:`Rule` rows ``(source, event) -> target``, optionally behind a named
  guard. Several rows may share a ``(source, event)``: they are tried in order and the
  first whose guard passes wins (an unguarded row must come last);
* ``statuses``: code -> name (default: :class:`~orderkit.model.orders.OrderStatus`);
* ``initial`` and ``final`` statuses;
* ``guards``: name -> ``guard(order, event) -> bool``;
* ``stale``: ``(status, event) -> reason`` for events that arrive after the order moved
  past them (a slow payment callback after shipment). The engine records them as
  ignored instead of refusing them or moving backwards;
* ``events``: extra event names a host adds; they move the status and do nothing else.

Checks on construction: every status and event is known, every guard exists, every
status is reachable from ``initial``, every non-final status has a way out, final
statuses have none, and no row is shadowed by an earlier unguarded one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from orderkit.lifecycle.events import EVENT_NAMES, Event
from orderkit.lifecycle.parcels import scanned_parcel
from orderkit.lifecycle.refunds import reclassed_refund, unrefunded
from orderkit.model.errors import DefinitionError
from orderkit.model.money import Money
from orderkit.model.orders import (
    Hold,
    LineStatus,
    Order,
    OrderStatus,
    PaymentKind,
    PaymentTerms,
    Shipment,
    TrackingStatus,
)

__all__ = [
    "DEFAULT_GUARDS",
    "DEFAULT_TABLE",
    "Guard",
    "Rule",
    "TransitionTable",
    "blocking_holds",
    "refund_lines",
    "refund_moves",
    "refund_moves_on",
    "repeated_parcel",
]

#: ``guard(order, event) -> bool``; called after the event's data was validated.
Guard = Callable[[Order, "Event"], bool]


@attrs.frozen
class Rule:
    """One row: ``event`` moves ``source`` to ``target`` when ``guard`` (if any) passes."""

    source: int
    event: str
    target: int
    guard: str | None = None


class TransitionTable:
    """A validated transition table (see the module docstring)."""

    def __init__(
        self,
        rules: Iterable[Rule | tuple[Any, ...]],
        *,
        statuses: Mapping[int, str] | None = None,
        initial: int = OrderStatus.PENDING_PAYMENT,
        final: Iterable[int] = (OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.CLOSED),
        guards: Mapping[str, Guard] | None = None,
        stale: Mapping[tuple[int, str], str] | None = None,
        events: Iterable[str] = (),
    ) -> None:
        self.statuses: dict[int, str] = dict(
            statuses if statuses is not None else {s.value: s.name for s in OrderStatus}
        )
        self.guards: dict[str, Guard] = dict(guards or {})
        self.extra_events = frozenset(events)
        self.events = EVENT_NAMES | self.extra_events
        self.rules: tuple[Rule, ...] = tuple(_rule(row, i) for i, row in enumerate(rules))
        self.initial = int(initial)
        self.final = frozenset(int(s) for s in final)
        self.stale: dict[tuple[int, str], str] = {
            (int(s), e): r for (s, e), r in (stale or {}).items()
        }
        by_key: dict[tuple[int, str], list[Rule]] = {}
        for rule in self.rules:
            by_key.setdefault((rule.source, rule.event), []).append(rule)
        self._by_key = {key: tuple(rows) for key, rows in by_key.items()}
        self._validate()
        self._lets_units_go = self._reached(
            {r.source for r in self.rules
             if r.event in _MOVES_OPEN_UNITS and r.guard not in _REPORTS_ONLY},
            backward=True,
        )

    @property
    def rows(self) -> Mapping[tuple[int, str], tuple[Rule, ...]]:
        """``(status, event) -> rows`` in the order they are tried (read-only)."""
        return MappingProxyType(self._by_key)

    # --- lookups -----------------------------------------------------------------------

    def candidates(self, status: int, event: str) -> tuple[Rule, ...]:
        """The rows for ``(status, event)`` in the order they are tried (maybe empty)."""
        return self._by_key.get((status, event), ())

    def stale_reason(self, status: int, event: str) -> str | None:
        """Why ``event`` is stale in ``status``, or ``None`` when it is not."""
        return self.stale.get((status, event))

    def can_ship_or_cancel(self, status: int) -> bool:
        """Whether the open units of an order in ``status`` can still ship or be
        cancelled (added in 0.3): a ``ship``, ``cancel`` or ``cancel_lines`` row leaves
        ``status``, or a status its rows lead to (a row that only reports a parcel a
        scan shipped, ``ship [reports_scanned_parcel]``, sends no open unit). ``False``
        for a final status, for DELIVERED in the default table, and for a status the
        table does not know: open units there would keep their stock locked for ever."""
        return int(status) in self._lets_units_go

    def collects(self, order: Order, status: int, at: datetime) -> bool:
        """Whether ``order`` in ``status`` still takes a ``pay`` of what it owes
        (``Order.due``) at ``at`` (added in 0.3): a ``pay`` row of ``status`` whose
        guard passes. ``True`` in PENDING_PAYMENT and, for cash on delivery, up to
        COMPLETED; ``False`` where a ``pay`` is stale (PAID and on for an order paid in
        advance). No decision may leave an order owing money in a status that does not
        collect it: nobody could ever pay it."""
        probe = Event("pay", event_id="collects:probe", at=at, data={"amount": order.due})
        moved = attrs.evolve(order, status=status)
        return any(rule.guard is None or self.guards[rule.guard](moved, probe)
                   for rule in self.candidates(int(status), "pay"))

    def name(self, status: int) -> str:
        """The status's name (``"PAID"``), or its code as text when unknown."""
        return self.statuses.get(int(status), str(int(status)))

    # --- extension ---------------------------------------------------------------------

    def extend(
        self,
        rules: Iterable[Rule | tuple[Any, ...]] = (),
        *,
        statuses: Mapping[int, str] | None = None,
        remove: Iterable[tuple[int, str]] = (),
        guards: Mapping[str, Guard] | None = None,
        stale: Mapping[tuple[int, str], str] | None = None,
        events: Iterable[str] = (),
        final: Iterable[int] | None = None,
    ) -> TransitionTable:
        """A new table: these rows added (before existing rows of the same key, so a new
        guarded row can take precedence), ``remove`` keys dropped, the rest kept."""
        dropped = {(int(s), e) for s, e in remove}
        added = [_rule(row, i) for i, row in enumerate(rules)]
        kept = [r for r in self.rules if (r.source, r.event) not in dropped]
        return TransitionTable(
            [*added, *kept],
            statuses={**self.statuses, **(statuses or {})},
            initial=self.initial,
            final=self.final if final is None else final,
            guards={**self.guards, **(guards or {})},
            stale={k: v for k, v in {**self.stale, **(stale or {})}.items() if k not in dropped},
            events=self.extra_events | frozenset(events),
        )

    # --- drawing -----------------------------------------------------------------------

    def to_mermaid(self) -> str:
        """A Mermaid ``stateDiagram-v2`` of the table (events between the same two
        statuses share one arrow; guards in brackets)."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.name(self.initial)}"]
        arrows: dict[tuple[int, int], list[str]] = {}
        for rule in self.rules:
            label = rule.event + (f" [{rule.guard}]" if rule.guard else "")
            labels = arrows.setdefault((rule.source, rule.target), [])
            if label not in labels:
                labels.append(label)
        for (source, target), labels in arrows.items():
            lines.append(f"    {self.name(source)} --> {self.name(target)} : {', '.join(labels)}")
        for status in sorted(self.final):
            lines.append(f"    {self.name(status)} --> [*]")
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        """The rows as a Markdown table (status codes and names, event, guard, target),
        followed by the stale rows."""
        out = ["| from | event | guard | to |", "|---|---|---|---|"]
        for rule in self.rules:
            out.append(
                f"| {rule.source} {self.name(rule.source)} | `{rule.event}` |"
                f" {rule.guard or ''} | {rule.target} {self.name(rule.target)} |"
            )
        out += ["", "| status | stale event (ignored) | reason |", "|---|---|---|"]
        for (status, event), reason in self.stale.items():
            out.append(f"| {status} {self.name(status)} | `{event}` | {reason} |")
        return "\n".join(out) + "\n"

    # --- validation --------------------------------------------------------------------

    def _reached(self, starts: Iterable[int], *, backward: bool = False) -> frozenset[int]:
        """``starts`` and every status some rows lead to from one of them (``backward``:
        every status from which some rows lead to one of them)."""
        reached = set(starts)
        frontier = list(reached)
        while frontier:
            current = frontier.pop()
            for rule in self.rules:
                here, there = (rule.target, rule.source) if backward else (rule.source, rule.target)
                if here == current and there not in reached:
                    reached.add(there)
                    frontier.append(there)
        return frozenset(reached)

    def _validate(self) -> None:
        for code, name in self.statuses.items():
            if isinstance(code, bool) or not isinstance(code, int) or not isinstance(name, str):
                raise DefinitionError("expected int code -> str name", path="statuses",
                                      value=(code, name))
        known = set(self.statuses)
        if self.initial not in known:
            raise DefinitionError("unknown initial status", path="initial", value=self.initial)
        for status in self.final:
            if status not in known:
                raise DefinitionError("unknown final status", path="final", value=status)
        for name, guard in self.guards.items():
            if not callable(guard):
                raise DefinitionError("a guard must be callable", path=f"guards[{name!r}]",
                                      value=guard)
        for index, rule in enumerate(self.rules):
            path = f"rules[{index}]"
            for field, status in (("source", rule.source), ("target", rule.target)):
                if status not in known:
                    raise DefinitionError(f"unknown {field} status", path=path, value=status)
            if rule.event not in self.events:
                raise DefinitionError("unknown event (declare it in events=)", path=path,
                                      value=rule.event)
            if rule.guard is not None and rule.guard not in self.guards:
                raise DefinitionError("unknown guard", path=path, value=rule.guard)
            if rule.source in self.final and rule.target != rule.source:
                raise DefinitionError("a final status cannot move on", path=path,
                                      value=self.name(rule.source))
        for (source, event), rows in self._by_key.items():
            for row in rows[:-1]:
                if row.guard is None:
                    raise DefinitionError(
                        "an unguarded row shadows the rows after it",
                        path=f"rules[({source}, {event!r})]", value=row,
                    )
        for (status, event), reason in self.stale.items():
            path = f"stale[({status}, {event!r})]"
            if status not in known or event not in self.events:
                raise DefinitionError("unknown status or event", path=path, value=reason)
            if any(r.guard is None for r in self.candidates(status, event)):
                raise DefinitionError("an unguarded row makes this never stale", path=path,
                                      value=reason)
        for status in sorted(known - self._reached([self.initial])):
            raise DefinitionError("unreachable status", path=f"statuses[{status}]",
                                  value=self.name(status))
        for status in sorted(known - self.final):
            if not any(r.source == status and r.target != status for r in self.rules):
                raise DefinitionError("dead end: a non-final status with no way out",
                                      path=f"statuses[{status}]", value=self.name(status))


#: The events whose handlers take units out of OPEN as a matter of course (to SHIPPED,
#: or CANCELLED): see :meth:`TransitionTable.can_ship_or_cancel`.
_MOVES_OPEN_UNITS = frozenset({"ship", "cancel", "cancel_lines"})
#: The guards of rows that only report a parcel that left already (a ``ship`` of the
#: parcel a carrier scan shipped): such a row sends no open unit.
_REPORTS_ONLY = frozenset({"reports_scanned_parcel"})


def _rule(row: Rule | tuple[Any, ...], index: int) -> Rule:
    if isinstance(row, Rule):
        rule = row
    elif isinstance(row, tuple) and len(row) in (3, 4):
        rule = Rule(*row)
    else:
        raise DefinitionError("expected a Rule or (source, event, target[, guard])",
                              path=f"rules[{index}]", value=row)
    if not isinstance(rule.event, str) or not isinstance(rule.source, int) or not isinstance(
        rule.target, int
    ):
        raise DefinitionError("expected (int, str, int[, str])", path=f"rules[{index}]",
                              value=row)
    return Rule(int(rule.source), rule.event, int(rule.target), rule.guard)


# --- the default table ---------------------------------------------------------------------


def blocking_holds(order: Order, event: Event) -> tuple[Hold, ...]:
    """The holds on ``order`` that stop ``event`` (a ``pack`` or ``ship``): those placed
    at or before the event's own time. A parcel that left at 10:30 left before a hold
    placed at 11:00, whenever either event arrives, so both arrival orders give the same
    order (a tie goes to the hold). The ``no_holds`` guards of the rows into PACKED and
    SHIPPED and the ``ship`` handler (for a partly shipped order) refuse by it."""
    return tuple(h for h in order.holds if h.at <= event.at)


def _no_holds(order: Order, event: Event) -> bool:
    return not blocking_holds(order, event)


def _carrier(*statuses: str) -> Guard:
    wanted = frozenset(statuses)

    def guard(_order: Order, event: Event) -> bool:
        return str(event.data.get("status")) in wanted

    return guard


def _open_units(order: Order) -> int:
    return sum(line.quantities[LineStatus.OPEN] for line in order.lines)


def _shipped_units(order: Order) -> int:
    return sum(line.quantities[LineStatus.SHIPPED] for line in order.lines)


def _cancels_everything(order: Order, event: Event) -> bool:
    lines: Mapping[str, int] = event.data.get("lines", {})
    return sum(lines.values()) == _open_units(order) and not _shipped_units(order)


def refund_lines(order: Order, event: Event) -> dict[str, int]:
    """The units a ``refund`` covers, by line id: the lines it names, or, when it names
    none and brings what was refunded up to everything paid, every unit still open or
    shipped (a refund of everything). Empty for a money-only refund."""
    named: Mapping[str, int] = event.data.get("lines", {})
    if named:
        return dict(named)
    amount = event.data.get("amount")
    totals = order.totals
    if not isinstance(amount, Money) or not totals.paid or totals.refunded + amount != totals.paid:
        return {}
    return {line_id: units for line_id, units in order.sold_units.items() if units}


def refund_moves(order: Order, event: Event) -> dict[str, int]:
    """The units a ``refund`` moves to REFUNDED (from open first, then shipped), by line
    id: those :func:`refund_lines` covers, less, for named lines while the buyer is owed
    money, the line's units already out of the sale (cancelled or returned: the refund
    pays for them and they stay where they are). A refund giving its units to one
    recorded as money only (:func:`~orderkit.lifecycle.refunds.reclassed_refund`) is
    judged on the order without that refund's money, as it would have been then."""
    recorded = reclassed_refund(order, event)
    return refund_moves_on(order if recorded is None else unrefunded(order, recorded), event)


def refund_moves_on(order: Order, event: Event) -> dict[str, int]:
    """:func:`refund_moves` judged on ``order`` as it is: the order a refund is paid
    back on, which the ``refund`` handler has already taken a re-classed refund out of
    (or found none)."""
    wanted = refund_lines(order, event)
    if not (event.data.get("lines") and order.refund_due):
        return wanted
    by_id = {line.line_id: line for line in order.lines}
    moves: dict[str, int] = {}
    for line_id, units in wanted.items():
        line = by_id.get(line_id)  # an unknown line reaches the handler's check as it is
        out = 0 if line is None else (
            line.quantities[LineStatus.CANCELLED] + line.quantities[LineStatus.RETURNED]
        )
        if units > out:
            moves[line_id] = units - out
    return moves


def _refunds_everything(order: Order, event: Event) -> bool:
    """After this refund no unit is still sold (open or shipped)."""
    moves = refund_moves(order, event)
    sold = order.sold_units
    taken = sum(min(units, sold.get(line_id, 0)) for line_id, units in moves.items())
    return taken == _open_units(order) + _shipped_units(order)


def _leaves_nothing_due(order: Order, event: Event) -> bool:
    """Something was paid and, after this ``cancel_lines`` (its units cancelled) or
    ``change_price`` (its line repriced), the payments cover what is still sold: the
    order is paid, as a ``pay`` of the rest would have made it."""
    if not any(p.kind is PaymentKind.PAYMENT for p in order.payments):
        return False
    data = event.data
    if event.name == "cancel_lines":
        wanted: Mapping[str, int] = data.get("lines", {})
        lines = []
        for line in order.lines:
            units = wanted.get(line.line_id, 0)
            if units > line.quantities[LineStatus.OPEN]:
                return False  # the handler names what is wrong
            if units:
                buckets = dict(line.quantities)
                buckets[LineStatus.OPEN] -= units
                buckets[LineStatus.CANCELLED] += units
                line = attrs.evolve(line, quantities=buckets)
            lines.append(line)
        after = attrs.evolve(order, lines=tuple(lines))
    elif event.name == "change_price":
        price: Money = data["unit_price"]  # checked: Money of the order's currency
        after = attrs.evolve(order, lines=tuple(
            attrs.evolve(line, unit_price=price) if line.line_id == data.get("line_id")
            else line
            for line in order.lines
        ))
    else:
        return False
    return not after.due.amount and any(after.sold_units.values())


def _has_open_units(order: Order, _event: Event) -> bool:
    return _open_units(order) > 0


def _reports_scanned_parcel(order: Order, event: Event) -> bool:
    """The ``ship`` reports a parcel a carrier scan recorded first (its carrier and
    waybill, and its units when the scan could not tell them): see
    :func:`~orderkit.lifecycle.parcels.scanned_parcel`."""
    return scanned_parcel(order, event.data.get("waybill")) is not None


def repeated_parcel(order: Order, event: Event) -> Shipment | None:
    """The shipment ``order`` already carries that the ``ship`` ``event`` reports again:
    the same waybill with the same units per line (the lines it names, else every open
    unit), or ``None``. A warehouse system that retries its callback under a fresh event
    id sends such a ``ship``: one parcel, not a second. Other units under the same
    waybill are another parcel (SF's multi-piece 子母件 and JD's packages of one waybill
    are often reported by the master number)."""
    waybill = event.data.get("waybill")
    named: Mapping[str, int] | None = event.data.get("lines")
    wanted = order.open_units if named is None else dict(named)
    return next(
        (s for s in order.shipments if s.waybill and s.waybill == waybill
         and dict(s.lines) == wanted),
        None,
    )


def _new_parcel(order: Order, event: Event) -> bool:
    """A ``ship`` that sends units still open, and not a parcel the order already
    carries (:func:`repeated_parcel`); otherwise the ``ship`` is stale."""
    return _has_open_units(order, event) and repeated_parcel(order, event) is None


def _nothing_open(order: Order, _event: Event) -> bool:
    """No unit is still to ship: each left or left the sale. Only such an order is
    DELIVERED, a status no ``ship`` or ``cancel`` reaches (its open units would keep
    their stock locked for ever)."""
    return not _open_units(order)


_signed = _carrier(TrackingStatus.SIGNED)


def _signed_nothing_open(order: Order, event: Event) -> bool:
    """A ``signed`` scan of the last units to go: one parcel of an order that has units
    still to ship is written onto its shipment, and the order stays SHIPPED."""
    return _signed(order, event) and _nothing_open(order, event)


def _refused_on_delivery(order: Order, event: Event) -> bool:
    """A cash on delivery order ends unpaid: nothing was paid (or all of it was
    refunded) and this event takes the last units out of the sale, whichever comes
    last: a ``return_received`` bringing back every unit still shipped (none open), or
    a ``cancel_lines`` cancelling every unit still open (none shipped) once the parcel
    came back."""
    if order.payment_terms is not PaymentTerms.ON_DELIVERY:
        return False
    totals = order.totals
    if totals.paid != totals.refunded:
        return False
    lines: Mapping[str, int] = event.data.get("lines", {})
    if event.name == "cancel_lines":
        return _cancels_everything(order, event)
    if _open_units(order):
        return False
    shipped = {line.line_id: line.quantities[LineStatus.SHIPPED] for line in order.lines}
    return all(lines.get(line_id, 0) >= units for line_id, units in shipped.items())



#: The guards the default table names; an extension may add its own.
def _pays_in_full(order: Order, event: Event) -> bool:
    """The payment covers what is still due (or more)."""
    amount = event.data.get("amount")
    if not isinstance(amount, Money):
        return False
    return amount >= order.due


def _on_delivery(order: Order, _event: Event) -> bool:
    """Cash on delivery: the order may go out unpaid and is paid when it arrives."""
    return order.payment_terms is PaymentTerms.ON_DELIVERY


def _on_delivery_no_holds(order: Order, event: Event) -> bool:
    return _on_delivery(order, event) and _no_holds(order, event)


DEFAULT_GUARDS: Mapping[str, Guard] = {
    "no_holds": _no_holds,
    "carrier_moving": _carrier(TrackingStatus.IN_TRANSIT, TrackingStatus.OUT_FOR_DELIVERY),
    "carrier_signed": _signed,
    "signed_nothing_open": _signed_nothing_open,
    "cancels_everything": _cancels_everything,
    "refunds_everything": _refunds_everything,
    "has_open_units": _has_open_units,
    "reports_scanned_parcel": _reports_scanned_parcel,
    "new_parcel": _new_parcel,
    "nothing_open": _nothing_open,
    "leaves_nothing_due": _leaves_nothing_due,
    "pays_in_full": _pays_in_full,
    "on_delivery": _on_delivery,
    "on_delivery_no_holds": _on_delivery_no_holds,
    "refused_on_delivery": _refused_on_delivery,
}

_S = OrderStatus


def _default_rules() -> list[Rule]:
    rules: list[Rule] = []

    def add(source: int, event: str, target: int, guard: str | None = None) -> None:
        rules.append(Rule(int(source), event, int(target), guard))

    add(_S.PENDING_PAYMENT, "pay", _S.PAID, "pays_in_full")
    add(_S.PENDING_PAYMENT, "pay", _S.PENDING_PAYMENT)  # short: recorded, still unpaid
    for status in (_S.PENDING_PAYMENT, _S.PAID, _S.PACKED):
        if status is not _S.PENDING_PAYMENT:
            if status is _S.PAID:
                # Packing labels the parcel and locks the address: a held order (an
                # address under review, say) is not packed.
                add(status, "pack", _S.PACKED, "no_holds")
            add(status, "ship", _S.SHIPPED, "no_holds")
            add(status, "track", _S.DELIVERED, "carrier_signed")
            add(status, "track", _S.SHIPPED, "carrier_moving")
            add(status, "track", status)
            add(status, "refund", _S.CLOSED, "refunds_everything")
            add(status, "refund", status)
        add(status, "cancel", _S.CANCELLED)
        add(status, "cancel_lines", _S.CANCELLED, "cancels_everything")
        if status is _S.PENDING_PAYMENT:
            # A deposit that covers what is left once lines are cut or repriced pays it.
            add(status, "cancel_lines", _S.PAID, "leaves_nothing_due")
        add(status, "cancel_lines", status)
        add(status, "hold", status)
        add(status, "release_hold", status)
        if status is not _S.PACKED:
            add(status, "change_address", status)
            if status is _S.PENDING_PAYMENT:
                add(status, "change_price", _S.PAID, "leaves_nothing_due")
            add(status, "change_price", status)
    # Cash on delivery: packed and shipped unpaid; the money the carrier collects is
    # recorded when it comes (at delivery, or with the carrier's later remittance).
    add(_S.PENDING_PAYMENT, "pack", _S.PACKED, "on_delivery_no_holds")
    add(_S.PENDING_PAYMENT, "ship", _S.SHIPPED, "on_delivery_no_holds")
    for status in (_S.PACKED, _S.SHIPPED, _S.DELIVERED, _S.COMPLETED):
        add(status, "pay", status, "on_delivery")
    # The last units of a partly shipped order; a parcel reported again (a retry under
    # a fresh id) is stale, as a ship with nothing open is. The ship handler checks holds.
    add(_S.SHIPPED, "ship", _S.SHIPPED, "new_parcel")
    # The warehouse's ``ship`` of a parcel the carrier scanned first (scan, then ship).
    add(_S.SHIPPED, "ship", _S.SHIPPED, "reports_scanned_parcel")
    # A partly shipped order is held before its last units go (a second check, a
    # near-expiry lot): the hold stops their ``ship`` as it does in PAID or PACKED.
    # Shipped in full, nothing is left for a hold to stop.
    add(_S.SHIPPED, "hold", _S.SHIPPED, "has_open_units")
    add(_S.SHIPPED, "release_hold", _S.SHIPPED)
    # The unit never sent cancelled after the parcel came back unpaid ends it the same way.
    add(_S.SHIPPED, "cancel_lines", _S.CLOSED, "refused_on_delivery")
    add(_S.SHIPPED, "cancel_lines", _S.SHIPPED)
    # Delivered whole: a parcel signed for while units are still to ship leaves the
    # order SHIPPED (a later ``ship`` sends them, a ``cancel_lines`` cuts them).
    add(_S.SHIPPED, "deliver", _S.DELIVERED, "nothing_open")
    add(_S.SHIPPED, "track", _S.DELIVERED, "signed_nothing_open")
    add(_S.SHIPPED, "track", _S.SHIPPED)
    add(_S.SHIPPED, "refund", _S.CLOSED, "refunds_everything")
    add(_S.SHIPPED, "refund", _S.SHIPPED)
    # A cash on delivery parcel refused at the door ends the order: nothing to collect.
    add(_S.SHIPPED, "return_received", _S.CLOSED, "refused_on_delivery")
    add(_S.SHIPPED, "return_received", _S.SHIPPED)  # a parcel the buyer refused
    add(_S.DELIVERED, "complete", _S.COMPLETED)
    # The warehouse's ``ship`` of the parcel a ``signed`` scan delivered before any
    # ``ship`` came: its carrier and waybill go on the scan's shipment, nothing moves.
    add(_S.DELIVERED, "ship", _S.DELIVERED, "reports_scanned_parcel")
    # Signed for, then every unit came back unpaid: nothing will be collected either.
    add(_S.DELIVERED, "return_received", _S.CLOSED, "refused_on_delivery")
    add(_S.DELIVERED, "track", _S.DELIVERED)
    add(_S.DELIVERED, "refund", _S.CLOSED, "refunds_everything")
    add(_S.DELIVERED, "refund", _S.DELIVERED)
    add(_S.COMPLETED, "track", _S.COMPLETED)
    # After-sales run beside the status (``Order.after_sale``): a COMPLETED order stays
    # COMPLETED while units come back and money goes back.
    for status in (_S.DELIVERED, _S.COMPLETED):
        add(status, "return_requested", status)
        add(status, "return_received", status)
    # A request withdrawn by the buyer or refused by the merchant, also once a refund
    # of everything closed the order while its parcel was awaited.
    for status in (_S.DELIVERED, _S.COMPLETED, _S.CLOSED):
        add(status, "return_cancelled", status)
    # Money still owed after the order ended (a cancel after payment, a late return).
    for status in (_S.COMPLETED, _S.CANCELLED, _S.CLOSED):
        add(status, "refund", status)
    add(_S.CLOSED, "return_received", _S.CLOSED)
    return rules


def _default_stale() -> dict[tuple[int, str], str]:
    stale: dict[tuple[int, str], str] = {}
    later = {
        "pay": (_S.PAID, _S.PACKED, _S.SHIPPED, _S.DELIVERED, _S.COMPLETED),
        "pack": (_S.PACKED, _S.SHIPPED, _S.DELIVERED, _S.COMPLETED),
        "ship": (_S.SHIPPED, _S.DELIVERED, _S.COMPLETED),
        "deliver": (_S.DELIVERED, _S.COMPLETED),
        "complete": (_S.COMPLETED,),
    }
    for event, statuses in later.items():
        for status in statuses:
            stale[(int(status), event)] = f"order is already {status.name}"
    return stale


#: The organisation's lifecycle (codes as in ARCHITECTURE.md). Extend it with
#: :meth:`TransitionTable.extend`.
DEFAULT_TABLE = TransitionTable(
    _default_rules(), guards=DEFAULT_GUARDS, stale=_default_stale()
)
