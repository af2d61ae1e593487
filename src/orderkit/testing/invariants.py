"""The architecture's invariants on stored orders, for story tests on any adapter."""

from __future__ import annotations

from collections.abc import Iterable

from orderkit.lifecycle.ports import OrderRepository
from orderkit.lifecycle.table import DEFAULT_TABLE, TransitionTable
from orderkit.model.orders import Order

__all__ = ["order_problems"]

#: The audit outcomes of a decision that saved a new version of the order, remembering
#: the event's id: an applied change, a stale event recorded and ignored.
_CHANGED = frozenset({"applied", "ignored"})


def order_problems(
    repository: OrderRepository, orders: Iterable[Order], table: TransitionTable = DEFAULT_TABLE
) -> list[str]:
    """What breaks the rules every stored order keeps, as text (empty when none): every
    change bumped the version once and left one audit entry, ``applied`` or ``ignored``
    (a stale event recorded and ignored takes a version and its id is remembered too;
    a ``refused`` entry changed nothing); the ids the order remembers are those of its
    applied and ignored entries, each once; every status change in the trail is a row
    of ``table``; lines are buckets summing to their quantity. (The money a story owes
    is its own to check: ``paid - refunded - refund_due == sold`` holds for a fully paid
    order.)"""
    problems: list[str] = []
    for order in orders:
        oid = order.order_id
        changed = [e for e in repository.audit_trail(oid) if e.outcome in _CHANGED]
        if order.version != len(changed):
            problems.append(f"{oid}: version {order.version}, {len(changed)} entries that"
                            " changed it (applied or ignored)")
        for entry in changed:
            if entry.from_status != entry.to_status:
                rows = table.candidates(entry.from_status, entry.event)
                if entry.to_status not in {rule.target for rule in rows}:
                    problems.append(f"{oid}: {entry.event} {entry.from_status}->"
                                    f"{entry.to_status} is no row of the table")
        ids = [entry.event_id for entry in changed]
        if len(ids) != len(set(ids)) or sorted(ids) != sorted(order.applied_event_ids):
            problems.append(f"{oid}: an event id applied twice or not remembered")
        for line in order.lines:
            if sum(line.quantities.values()) != line.quantity:
                problems.append(f"{oid}: line {line.line_id} buckets do not sum")
    return problems
