"""The audit trail: one entry per decision the engine makes.

Every applied change, every ignored stale event and every refusal leaves an entry that
says who asked (``actor``), when it was decided (``at``) and when the fact happened
(``event_at``), which event (``event``, ``event_id``), the status before and after, and
what changed, as ``(field, old, new)`` texts. Repositories store them beside the order
(``save(order, expected_version, audit=...)``) so the trail survives the order's
next change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import attrs

from orderkit.model.errors import ValidationError
from orderkit.model.orders import Address

__all__ = [
    "AddressVersion",
    "AuditEntry",
    "AuditOutcome",
    "Change",
    "address_version",
    "checked_entries",
]

#: ``applied``: the order changed; ``ignored``: a stale event was recorded and ignored;
#: ``refused``: the engine or the policy refused it (nothing changed).
AuditOutcome = Literal["applied", "ignored", "refused"]
#: One change an audit entry records, as texts: ``(field, old, new)``.
Change = tuple[str, str, str]


@attrs.frozen
class AuditEntry:
    """One decision about one event on one order."""

    order_id: str
    event_id: str
    event: str
    actor: str | None
    at: datetime
    event_at: datetime
    from_status: int
    to_status: int
    outcome: AuditOutcome = "applied"
    changes: tuple[Change, ...] = ()
    reason: str = ""
    approved_by: str | None = None


@attrs.frozen
class AddressVersion:
    """One change of an order's ship-to address, kept by the repository.

    ``version`` is the order version that carries ``address``; ``previous`` is what it
    replaced. ``at``, ``event_id``, ``actor`` and ``approved_by`` come from the audit
    entry saved with it (``None`` when the address was changed without one).
    """

    order_id: str
    version: int
    previous: Address | None
    address: Address | None
    at: datetime | None = None
    event_id: str | None = None
    actor: str | None = None
    approved_by: str | None = None


def address_version(
    previous: Address | None, order_id: str, version: int, address: Address | None,
    audit: tuple[AuditEntry, ...] | list[AuditEntry],
) -> AddressVersion:
    """Build the :class:`AddressVersion` a repository stores when a save changes the
    address, taking who/when from the ``change_address`` audit entry saved with it."""
    entry = next((e for e in audit if e.event == "change_address"), None)
    if entry is None:
        return AddressVersion(order_id, version, previous, address)
    return AddressVersion(order_id, version, previous, address, entry.at, entry.event_id,
                          entry.actor, entry.approved_by)


def checked_entries(audit: Sequence[AuditEntry]) -> list[AuditEntry]:
    """``audit`` as a list, refusing anything that is not an :class:`AuditEntry`.

    Repositories call it before writing, so a bad entry never half-writes a trail.
    """
    entries = list(audit)
    for index, entry in enumerate(entries):
        if not isinstance(entry, AuditEntry):
            raise ValidationError(f"audit[{index}]", entry, "expected an AuditEntry")
    return entries
