"""The values sync keeps: what it saw of each order, where each poll stands, what it
could not map, and one page of a channel's changed orders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import ValidationError
from orderkit.model.time import ensure_aware

__all__ = [
    "PAYLOAD_MAX_LENGTH", "Cursor", "DeadLetter", "Listed", "Listing", "Page", "Seen",
    "newest_seen",
]

#: Longest payload text a dead letter keeps (a marketplace order is a few kilobytes).
PAYLOAD_MAX_LENGTH: Final = 4_000_000


def _modified_at(value: object) -> datetime:
    return ensure_aware(value, path="modified_at")


def _received_at(value: object) -> datetime:
    return ensure_aware(value, path="received_at")


def _ids(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Sequence | frozenset | set):
        raise ValidationError("ids_at", value, "expected a collection of channel order ids")
    out = frozenset(value)
    for item in out:
        if not isinstance(item, str) or not item:
            raise ValidationError("ids_at", item, "expected a non-empty string")
    return out


@attrs.frozen
class Seen:
    """The newest version of one channel order that sync applied.

    ``modified_at`` is the platform's own modified time of that version, ``digest`` the
    SHA-256 of its canonical JSON, ``received_at`` when orderkit received it (the lag,
    ``received_at - modified_at``, is what a watch rule reads). ``stale`` counts the
    older versions that arrived after it and were ignored.
    """

    platform: str = attrs.field(validator=check.text(allow_empty=False))
    channel_order_id: str = attrs.field(validator=check.text(allow_empty=False))
    modified_at: datetime = attrs.field(converter=_modified_at)
    digest: str = attrs.field(validator=check.text(allow_empty=False))
    received_at: datetime = attrs.field(converter=_received_at)
    stale: int = attrs.field(default=0, validator=check.count(minimum=0))

    @property
    def lag(self) -> timedelta:
        """How long after the platform's change orderkit received it (may be negative
        when the two clocks disagree)."""
        return self.received_at - self.modified_at


def newest_seen(seen: Iterable[Seen]) -> list[Seen]:
    """Of several versions seen, the one per order that :meth:`SyncStore.mark_seen
    <orderkit.sync.ports.SyncStore.mark_seen>` called on each in turn would leave: the
    latest ``modified_at`` per ``(platform, channel order id)``, the later one given on
    a tie. Every item is checked first (a :class:`ValidationError` names
    ``seen[index]``), so a store writes nothing of a bad call."""
    if isinstance(seen, Seen | str | Mapping) or not isinstance(seen, Iterable):
        raise ValidationError("seen", seen, "expected a sequence of Seen")
    newest: dict[tuple[str, str], Seen] = {}
    for index, item in enumerate(seen):
        if not isinstance(item, Seen):
            raise ValidationError(f"seen[{index}]", item, "expected a Seen")
        key = (item.platform, item.channel_order_id)
        kept = newest.get(key)
        if kept is None or item.modified_at >= kept.modified_at:
            newest[key] = item
    return list(newest.values())


@attrs.frozen
class Cursor:
    """Where polling of one platform and shop stands.

    ``modified_at`` is the platform's modified time up to which every changed order is
    stored; ``ids_at`` the channel order ids already stored at exactly that time, so a
    poll that starts there (it starts a settle margin earlier) neither loses the other
    orders sharing the boundary time nor counts these as new.
    """

    platform: str = attrs.field(validator=check.text(allow_empty=False))
    shop: str = attrs.field(validator=check.text())
    modified_at: datetime = attrs.field(converter=_modified_at)
    ids_at: frozenset[str] = attrs.field(default=frozenset(), converter=_ids)

    def advanced(self, modified_at: datetime, ids: frozenset[str]) -> Cursor:
        """This cursor moved to ``modified_at`` with ``ids`` stored there; never back."""
        if modified_at < self.modified_at:
            return self
        if modified_at == self.modified_at:
            return attrs.evolve(self, ids_at=self.ids_at | ids)
        return attrs.evolve(self, modified_at=modified_at, ids_at=ids)


@attrs.frozen
class DeadLetter:
    """A payload sync could not apply, kept with the error until a replay succeeds.

    ``letter_id`` is ``"<channel>:<digest>"``, the channel identity of the map that
    read it (``tmall`` for a trade received as ``taobao`` or as ``tmall``) and the
    SHA-256 of its canonical text: the same bad payload received twice, under either
    name, is one letter, with ``attempts`` counting the receipts and replays that
    failed. ``platform`` is the name it was first received under. Letters kept by
    earlier versions under ``"<platform>:<digest>"`` are listed as kept, and moved to
    their channel's key when replayed.
    """

    letter_id: str = attrs.field(validator=check.text(allow_empty=False))
    platform: str = attrs.field(validator=check.text(allow_empty=False))
    payload: str = attrs.field(
        validator=check.text(allow_empty=False, max_length=PAYLOAD_MAX_LENGTH)
    )
    error: str = attrs.field(validator=check.text())
    received_at: datetime = attrs.field(converter=_received_at)
    attempts: int = attrs.field(default=1, validator=check.count(minimum=1))


def _page_payloads(value: Iterable[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    if isinstance(value, Mapping | str) or not isinstance(value, Iterable):
        raise ValidationError("payloads", value, "expected a sequence of JSON objects")
    return tuple(value)


def _page_texts(value: Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError("texts", value, "expected a sequence of JSON texts")
    return tuple(value)


@attrs.frozen
class Page:
    """One page of a channel's changed orders: the payloads, and the token of the next
    page (``None`` on the last).

    ``texts``, when the client has them, are the raw JSON texts the payloads were
    parsed from, one per payload, exactly as the platform sent them: sync then tells a
    payload it applied before by a hash of that text, without writing the payload out
    as canonical JSON (see :meth:`orderkit.sync.Sync.receive`)."""

    payloads: tuple[Mapping[str, Any], ...] = attrs.field(converter=_page_payloads)
    next: str | None = attrs.field(default=None, validator=check.optional_text)
    texts: tuple[str, ...] | None = attrs.field(default=None, converter=_page_texts,
                                                kw_only=True)

    @payloads.validator
    def _mappings(self, _attribute: Any, value: tuple[object, ...]) -> None:
        for index, payload in enumerate(value):
            if not isinstance(payload, Mapping):
                raise ValidationError(f"payloads[{index}]", payload, "expected a JSON object")

    @texts.validator
    def _one_text_each(self, _attribute: Any, value: tuple[object, ...] | None) -> None:
        if value is None:
            return
        if len(value) != len(self.payloads):
            raise ValidationError("texts", len(value),
                                  f"expected one text per payload ({len(self.payloads)})")
        for index, text in enumerate(value):
            if not isinstance(text, str):
                raise ValidationError(f"texts[{index}]", text, "expected a JSON text")


@attrs.frozen
class Listed:
    """One entry of a channel's cheap listing: a channel order id (as the platform map
    gives it) and the platform's modified time of its newest version."""

    channel_order_id: str = attrs.field(validator=check.text(allow_empty=False))
    modified_at: datetime = attrs.field(converter=_modified_at)


def _listed(value: Iterable[Listed]) -> tuple[Listed, ...]:
    if isinstance(value, Mapping | str) or not isinstance(value, Iterable):
        raise ValidationError("entries", value, "expected a sequence of Listed")
    out = tuple(value)
    for index, entry in enumerate(out):
        if not isinstance(entry, Listed):
            raise ValidationError(f"entries[{index}]", entry, "expected a Listed")
    return out


@attrs.frozen
class Listing:
    """One page of a channel's id-and-modified-time listing, and the token of the next
    page (``None`` on the last)."""

    entries: tuple[Listed, ...] = attrs.field(converter=_listed)
    next: str | None = attrs.field(default=None, validator=check.optional_text)
