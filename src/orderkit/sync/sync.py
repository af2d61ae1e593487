"""``Sync``: webhooks, polls and backfills through one path onto the stored orders.

Every payload, however it came, goes through :meth:`Sync._ingest`: read the platform's
modified time and map the payload; a payload older than the version already applied is
stale and ignored, an identical one is a no-op; otherwise the order is found by
``(channel, channel order id)`` and, inside one
:meth:`~orderkit.lifecycle.ports.OrderRepository.atomic` block, placed in its initial
form when new (:meth:`OrderService.place`: stock locked, recon id issued) and brought
to the mapped state through :meth:`OrderService.handle`, one event at a time
(:mod:`orderkit.sync.diff`), with what sync saw of it. A payload that fails to map, or
whose events the lifecycle refuses, is kept as a dead letter with the error, and
nothing of it is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

import attrs

from orderkit.lifecycle.service import OrderService
from orderkit.mapping.registry import Registry, default_registry
from orderkit.model.errors import DuplicateOrder, RefusedError, ValidationError
from orderkit.model.orders import Order
from orderkit.model.time import Clock, SystemClock, ensure_aware
from orderkit.numbering.issuer import ReconIdIssuer
from orderkit.sync.diff import initial, next_event
from orderkit.sync.limits import PlatformLimits, limits_for, windows
from orderkit.sync.modified import modified_at, payload_digest, payload_text
from orderkit.sync.ports import ChannelClient, OrderLookup, SyncStore
from orderkit.sync.records import Cursor, DeadLetter, Seen

__all__ = ["Sync", "SyncReport"]

Outcome = Literal["new", "updated", "unchanged", "stale", "dead_lettered"]

#: Most events one payload may bring (a fresh order that is already completed takes
#: pay, ship, deliver and complete; the bound only stops a map that never converges).
_MAX_STEPS: Final = 32
#: Longest error text a dead letter keeps.
_ERROR_MAX: Final = 2000


@attrs.frozen
class SyncReport:
    """What a receipt, a poll, a backfill or a replay did, per payload: ``new`` orders
    placed, ``updated`` orders moved, ``unchanged`` payloads (seen already, or nothing
    to apply), ``stale`` ones (older than what is stored) and ``dead_lettered`` ones."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    dead_lettered: int = 0

    def __add__(self, other: SyncReport) -> SyncReport:
        if not isinstance(other, SyncReport):
            return NotImplemented
        return SyncReport(*(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other),
                                                   strict=True)))

    @property
    def total(self) -> int:
        """Payloads counted."""
        return self.new + self.updated + self.unchanged + self.stale + self.dead_lettered

    def summary(self) -> str:
        """One line: ``new 3, updated 1, unchanged 2, stale 1, dead letters 0``."""
        return (f"new {self.new}, updated {self.updated}, unchanged {self.unchanged}, "
                f"stale {self.stale}, dead letters {self.dead_lettered}")


def _one(outcome: Outcome) -> SyncReport:
    return SyncReport(**{outcome: 1})


class Sync:
    """One path in for marketplace orders (see the module docstring).

    ``repository`` is the order repository the ``service`` saves to (it must find
    orders by waybill too, see :class:`~orderkit.sync.ports.OrderLookup`); ``store``
    keeps what sync saw, the cursors and the dead letters; ``maps`` the platform maps
    (default: the built-in registry); ``limits`` the per-platform API limits (default
    :data:`~orderkit.sync.limits.LIMITS`); ``recon_ids`` issues a recon id with
    ``recon_prefix`` for each new order that has none.
    """

    def __init__(
        self,
        repository: OrderLookup,
        service: OrderService,
        *,
        store: SyncStore,
        maps: Registry | None = None,
        clock: Clock | None = None,
        limits: Mapping[str, PlatformLimits] | None = None,
        recon_ids: ReconIdIssuer | None = None,
        recon_prefix: str = "SO",
    ) -> None:
        if not isinstance(service, OrderService):
            raise ValidationError("service", service, "expected an OrderService")
        if service.repository is not repository:
            raise ValidationError(
                "repository", repository, "expected the repository the service saves to"
            )
        self.repository = repository
        self.service = service
        self.store = store
        self.maps = maps if maps is not None else default_registry()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.limits = dict(limits) if limits is not None else None
        self.recon_ids = recon_ids
        self.recon_prefix = recon_prefix

    # --- the three ways in -------------------------------------------------------------

    def receive(
        self, platform: str, payload: Mapping[str, Any], *, received_at: datetime
    ) -> SyncReport:
        """A webhook: apply one payload received at ``received_at`` (aware)."""
        received_at = ensure_aware(received_at, path="received_at")
        return _one(self._ingest(platform, payload, received_at)[0])

    def poll(
        self, platform: str, client: ChannelClient, *, start: datetime | None = None
    ) -> SyncReport:
        """A polling pass: read every order changed since this platform and shop's
        cursor (less the settle margin) up to now, window by window, and move the
        cursor after each window whose every order is stored.

        Without a cursor the pass starts at ``start`` (default: one window ago). A
        client failure propagates (as :class:`~orderkit.model.errors.StoreError`); the
        windows completed before it keep their cursor, the failed one is read again by
        the next pass.
        """
        limits = limits_for(platform, self.limits)
        now = self.clock.now()
        cursor = self.store.cursor(platform, client.shop)
        if cursor is not None:
            since = cursor.modified_at - limits.settle
        else:
            since = ensure_aware(start, path="start") if start is not None else (
                now - limits.max_window
            )
        since = min(since, now)
        report = SyncReport()
        for low, high in windows(limits, since, now, now=now):
            done, top, ids = self._window(platform, client, low, high)
            report += done
            mark = high - limits.settle
            if top is not None and top >= mark:
                mark, held = top, ids
            else:
                held = frozenset()
            if cursor is None:
                cursor = Cursor(platform, client.shop, mark, held)
            else:
                cursor = cursor.advanced(mark, held)
            cursor = self.store.save_cursor(cursor)
        return report

    def backfill(
        self, platform: str, client: ChannelClient, since: datetime, until: datetime
    ) -> SyncReport:
        """Read every order changed in ``[since, until]`` through the same path; the
        cursor does not move."""
        limits = limits_for(platform, self.limits)
        report = SyncReport()
        for low, high in windows(limits, since, until, now=self.clock.now()):
            report += self._window(platform, client, low, high)[0]
        return report

    def replay_dead_letters(self, platform: str | None = None) -> SyncReport:
        """Run every dead letter (of ``platform``) through the path again, as received
        then; a letter that now applies (or is stale or unchanged) is dropped, one that
        fails again stays with the new error."""
        report = SyncReport()
        for letter in self.store.dead_letters(platform):
            payload = json.loads(letter.payload)
            outcome = self._ingest(letter.platform, payload, letter.received_at)[0]
            if outcome != "dead_lettered":
                self.store.resolve_dead_letter(letter.letter_id)
            report += _one(outcome)
        return report

    # --- one window, one payload -------------------------------------------------------

    def _window(
        self, platform: str, client: ChannelClient, low: datetime, high: datetime
    ) -> tuple[SyncReport, datetime | None, frozenset[str]]:
        """Read every page of ``[low, high]``; the latest platform modified time among
        its orders and the ids stored at exactly that time."""
        report = SyncReport()
        top: datetime | None = None
        ids: set[str] = set()
        token: str | None = None
        while True:
            page = client.changed(low, high, token)
            for payload in page.payloads:
                received_at = self.clock.now()
                outcome, stamp, order_id = self._ingest(platform, payload, received_at)
                report += _one(outcome)
                if stamp is None or order_id is None:
                    continue
                if top is None or stamp > top:
                    top, ids = stamp, {order_id}
                elif stamp == top:
                    ids.add(order_id)
            if page.next is None:
                return report, top, frozenset(ids)
            token = page.next

    def _ingest(
        self, platform: str, payload: Mapping[str, Any], received_at: datetime
    ) -> tuple[Outcome, datetime | None, str | None]:
        """Apply one payload: its outcome, its modified time and channel order id
        (``None`` when it did not map)."""
        if not isinstance(payload, Mapping):
            raise ValidationError("payload", payload, "expected a JSON object")
        text = payload_text(payload)
        digest = payload_digest(text)
        try:
            modified = modified_at(platform, payload)
            target = self.maps.normalize(platform, payload)
        except ValidationError as error:
            return self._dead(platform, text, digest, error, received_at), None, None
        position = (modified, target.channel_order_id)
        quick = self._settled(platform, target, modified, digest)
        if quick is not None:
            return (quick, *position)
        try:
            with self.repository.atomic():
                outcome = self._settled(platform, target, modified, digest)
                if outcome is None:
                    outcome = self._apply(target, modified)
                    self.store.mark_seen(
                        Seen(platform, target.channel_order_id, modified, digest, received_at)
                    )
        except (ValidationError, RefusedError) as error:
            outcome = self._dead(platform, text, digest, error, received_at)
        return (outcome, *position)

    def _settled(
        self, platform: str, target: Order, modified: datetime, digest: str
    ) -> Outcome | None:
        """``stale`` or ``unchanged`` when what is stored already decides it."""
        seen = self.store.seen(platform, target.channel_order_id)
        if seen is None:
            return None
        if modified < seen.modified_at:
            self.store.mark_stale(platform, target.channel_order_id)
            return "stale"
        if modified == seen.modified_at and digest == seen.digest:
            return "unchanged"
        return None

    def _apply(self, target: Order, modified: datetime) -> Outcome:
        stored = self.repository.find_by_channel(target.channel, target.channel_order_id)
        new = stored is None
        if stored is None:
            base = initial(target)
            if base.recon_id is None and self.recon_ids is not None:
                base = attrs.evolve(
                    base, recon_id=self.recon_ids.issue(self.recon_prefix, at=base.created_at)
                )
            try:
                stored = self.service.place(base)
            except DuplicateOrder:
                # Placed by another writer that does not share this transaction.
                stored = self.repository.find_by_channel(target.channel, target.channel_order_id)
                if stored is None:
                    raise
                new = False
        changed = False
        for _step in range(_MAX_STEPS):
            event = next_event(stored, target, at=modified)
            if event is None:
                break
            transition = self.service.handle(stored.order_id, event)
            if not transition.changed:
                break
            stored, changed = transition.order, True
        if new:
            return "new"
        return "updated" if changed else "unchanged"

    def _dead(
        self, platform: str, text: str, digest: str, error: Exception, received_at: datetime
    ) -> Outcome:
        message = f"{type(error).__name__}: {error}"[:_ERROR_MAX]
        self.store.add_dead_letter(
            DeadLetter(f"{platform}:{digest}", platform, text, message, received_at)
        )
        return "dead_lettered"
