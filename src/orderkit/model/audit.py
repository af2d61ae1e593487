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
from typing import Any, Final, Literal, get_args

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import ValidationError
from orderkit.model.orders import ID_MAX_LENGTH, Address
from orderkit.model.time import ensure_instant

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


_OUTCOMES: Final = frozenset(get_args(AuditOutcome))


#: ``check.optional_text`` typed as a validator of any value (as the others are).
_optional_text: check.Validator = check.optional_text


def _instant(_instance: object, attribute: Any, value: Any) -> None:
    ensure_instant(value, path=attribute.name)


def _status(_instance: object, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(attribute.name, value, "expected a status code (int)")


def _outcome(_instance: object, attribute: Any, value: object) -> None:
    if value not in _OUTCOMES:
        raise ValidationError(attribute.name, value,
                              "expected one of " + ", ".join(sorted(_OUTCOMES)))


def _stored_text(_instance: object, attribute: Any, value: object) -> None:
    """Text the engine writes (a reason), of any length, that a store holds."""
    check.stored_key(attribute.name, value)


def _changes(_instance: object, attribute: Any, value: object) -> None:
    """``(field, old, new)`` texts of any length that a store holds, checked at once:
    their shapes, then the texts joined (joining refuses what is no text, and the joined
    text holds NUL or a lone surrogate exactly when one of them does); only a refusal
    checks them one by one, to name the change."""
    if not isinstance(value, tuple):
        raise ValidationError(attribute.name, value, "expected a tuple of changes")
    texts: list[str] = []
    for index, change in enumerate(value):
        if not isinstance(change, tuple) or len(change) != 3:
            raise ValidationError(f"{attribute.name}[{index}]", change,
                                  "expected (field, old, new) texts")
        texts.extend(change)
    try:
        check.storable(attribute.name, "".join(texts))
    except (TypeError, ValidationError):
        for index, change in enumerate(value):
            path = f"{attribute.name}[{index}]"
            for text in change:
                if not isinstance(text, str):
                    raise ValidationError(path, change,
                                          "expected (field, old, new) texts") from None
                check.storable(path, text)
        raise


@attrs.frozen
class AuditEntry:
    """One decision about one event on one order.

    Its fields are checked on construction, as every model value's are (a
    :class:`ValidationError` naming the field), so nothing a store cannot hold reaches
    one: ids and names are text of at most
    :data:`~orderkit.model._checks.TEXT_MAX_LENGTH` characters (the order id at most
    ``ID_MAX_LENGTH``), the reason and the changes text of any length, none of it with
    NUL or a lone surrogate; the times are aware.
    """

    order_id: str = attrs.field(
        validator=check.text(allow_empty=False, max_length=ID_MAX_LENGTH)
    )
    event_id: str = attrs.field(validator=check.text(allow_empty=False))
    event: str = attrs.field(validator=check.text(allow_empty=False))
    actor: str | None = attrs.field(validator=_optional_text)
    at: datetime = attrs.field(validator=_instant)
    event_at: datetime = attrs.field(validator=_instant)
    from_status: int = attrs.field(validator=_status)
    to_status: int = attrs.field(validator=_status)
    outcome: AuditOutcome = attrs.field(default="applied", validator=_outcome)
    changes: tuple[Change, ...] = attrs.field(default=(), validator=_changes)
    reason: str = attrs.field(default="", validator=_stored_text)
    approved_by: str | None = attrs.field(default=None, validator=_optional_text)


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
