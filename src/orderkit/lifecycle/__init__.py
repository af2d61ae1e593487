"""The order lifecycle: a transition table (data), a pure engine, and the service hosts call.

* :class:`TransitionTable` / :data:`DEFAULT_TABLE`: which event moves which status where.
* :class:`Lifecycle`: ``apply(order, event) -> Transition``, no I/O.
* :class:`OrderService`: load, apply, save with the expected version (retrying on
  :class:`~orderkit.model.errors.ConcurrencyError`), then publish the domain events.
* :class:`Actor` and :class:`Policy`: roles, regions and the two-person rule.
* :func:`may_ship`: whether an order may ship now, as :class:`ReadyToShip` and
  :class:`NotReadyToShip` tell a warehouse system.
"""

from orderkit.lifecycle.engine import Lifecycle, Transition
from orderkit.lifecycle.events import (
    DOMAIN_EVENTS,
    EVENT_NAMES,
    AddressChanged,
    DomainEvent,
    Event,
    HoldPlaced,
    HoldReleased,
    LinesCancelled,
    LinesShipped,
    LinesUnshipped,
    NotReadyReason,
    NotReadyToShip,
    OrderCancelled,
    Overpaid,
    PaymentReceived,
    PaymentShort,
    PriceChanged,
    ReadyToShip,
    ReceivableDue,
    RefundDue,
    Refunded,
    RefundLinesAssigned,
    RefundSplit,
    ReturnCancelled,
    ReturnReceived,
    ReturnRequested,
    StatusChanged,
    StockShort,
    StockShortage,
    TrackingRecorded,
    read_event,
)
from orderkit.lifecycle.policy import Actor, ActorDirectory, Directory, Policy, person_key
from orderkit.lifecycle.readiness import may_ship
from orderkit.lifecycle.service import InventoryLedgerLike, OrderService
from orderkit.lifecycle.table import DEFAULT_GUARDS, DEFAULT_TABLE, Guard, Rule, TransitionTable
from orderkit.model.audit import AuditEntry

__all__ = [
    "DEFAULT_GUARDS",
    "DEFAULT_TABLE",
    "DOMAIN_EVENTS",
    "EVENT_NAMES",
    "Actor",
    "ActorDirectory",
    "AddressChanged",
    "AuditEntry",
    "Directory",
    "DomainEvent",
    "Event",
    "Guard",
    "HoldPlaced",
    "HoldReleased",
    "InventoryLedgerLike",
    "Lifecycle",
    "LinesCancelled",
    "LinesShipped",
    "LinesUnshipped",
    "NotReadyReason",
    "NotReadyToShip",
    "OrderCancelled",
    "OrderService",
    "Overpaid",
    "PaymentReceived",
    "PaymentShort",
    "Policy",
    "PriceChanged",
    "ReadyToShip",
    "ReceivableDue",
    "RefundDue",
    "RefundLinesAssigned",
    "RefundSplit",
    "Refunded",
    "ReturnCancelled",
    "ReturnReceived",
    "ReturnRequested",
    "Rule",
    "StatusChanged",
    "StockShort",
    "StockShortage",
    "TrackingRecorded",
    "Transition",
    "TransitionTable",
    "may_ship",
    "person_key",
    "read_event",
]
