"""``Sync``: webhooks, polls and backfills through one path onto the stored orders.

Every payload, however it came, goes through :meth:`Sync._batch` (a webhook is a batch
of one, a poll or a backfill one batch per page): read the platform's modified time and
map the payload; a payload older than the version already applied is stale and ignored,
an identical one is a no-op; otherwise its order is found by ``(channel, channel order
id)`` (the whole page's in one read) and the events the payload brings are decided in
memory (:mod:`orderkit.sync.diff`, :meth:`OrderService.decide`), from the order as the
page left it or from the initial form of a new order. Only then, inside one
:meth:`~orderkit.lifecycle.ports.OrderRepository.atomic` block per page, the page is
written: its new orders placed together (:meth:`OrderService.place_many`: one stock
lock call, one insert, a recon id each), its stored orders that moved saved once each,
and what sync saw of them. A payload that fails to map, or whose events the lifecycle
refuses, is kept as a dead letter with the error, and nothing else of it is written. A
new order the shelf cannot cover for the units it still waits for was sold already: it
is stored waiting for stock, with no lock (``OrderService.place_many(...,
wait_for_stock=True)``; counted in :attr:`SyncReport.waiting_for_stock`); units a new
order shipped before sync saw it are a physical fact: they leave stock, a shortfall
reported as an oversell.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal

import attrs

from orderkit.lifecycle.engine import Transition
from orderkit.lifecycle.events import Event
from orderkit.lifecycle.service import OrderService
from orderkit.mapping.registry import Registry, default_registry
from orderkit.model.errors import (
    AddressLocked,
    ConcurrencyError,
    DuplicateOrder,
    NotPermitted,
    OrderkitError,
    RefusedError,
    ValidationError,
)
from orderkit.model.orders import Order
from orderkit.model.time import Clock, SystemClock, checked_now, ensure_aware
from orderkit.numbering.issuer import ReconIdIssuer
from orderkit.sync.diff import Wanted, initial
from orderkit.sync.limits import LIMITS, PlatformLimits, limits_for, windows
from orderkit.sync.modified import (
    modified_at,
    parse_json,
    payload_digest,
    payload_text,
    raw_digest,
)
from orderkit.sync.ports import ChannelClient, ListingClient, OrderLookup, SyncStore
from orderkit.sync.records import PAYLOAD_MAX_LENGTH, Cursor, DeadLetter, Seen

__all__ = ["DEFAULT_BATCH", "NotConverged", "Progress", "Sync", "SyncReport", "check_batch",
           "check_platform"]

#: ``waiting``: a new order stored waiting for stock (counted in ``new`` too).
Outcome = Literal["new", "waiting", "updated", "unchanged", "stale", "dead_lettered"]

#: Payloads :meth:`Sync.receive_many` applies per commit unless told otherwise.
DEFAULT_BATCH: Final = 100

#: Most events one payload may bring beside those it brings per line, parcel and hold
#: (see :func:`_step_bound`; the bound only stops a map that never converges).
_MAX_STEPS: Final = 32
#: Longest error text a dead letter keeps.
_ERROR_MAX: Final = 2000
#: How much of a payload text too long for a dead letter the letter keeps.
_KEPT: Final = 100_000


class NotConverged(RefusedError):
    """A payload's events stop short of the state it shows: an event changed nothing on
    the order (the lifecycle ignored it, or the order took its id before) while the
    channel still shows what it brings, or the payload outran the step bound. Sync
    keeps the payload as a dead letter with this error and writes nothing of it, as
    for any refusal: applying the events before it would leave the order short of the
    platform's state with nobody told.

    ``order_id`` is the stored order's id, ``event`` the event still wanted (its name
    and id in the text), ``status`` the order's status where it stopped, ``wanted``
    the status the channel shows."""

    def __init__(self, where: str, order_id: str, event: Event, status: object,
                 wanted: object, reason: str) -> None:
        super().__init__(
            f"{where} (order {order_id}) stops short of the channel's state: {reason}; "
            f"still wanted: {event.name!r} ({event.event_id}), the order {status!s}, the "
            f"channel {wanted!s}; nothing of this payload was applied"
        )
        self.order_id = order_id
        self.event = event
        self.status = status
        self.wanted = wanted


def _step_bound(order: Order, target: Order) -> int:
    """Most events one payload may bring to ``order``: one event each of its kinds
    (:data:`_MAX_STEPS` covers them with room), and beside them a ``change_price`` and
    a refund (one per platform refund id) per line, a ``ship`` per parcel, a ``hold``
    per hold shown and a ``release_hold`` per hold stored: a trade sent in 40 parcels
    takes 43 events, and is applied whole."""
    return (_MAX_STEPS + 2 * len(target.lines) + len(target.shipments) + len(target.holds)
            + len(order.holds))


@attrs.frozen
class SyncReport:
    """What a receipt, a poll, a backfill or a replay did, per payload: ``new`` orders
    placed, ``updated`` orders moved, ``unchanged`` payloads (seen already, or nothing
    to apply), ``stale`` ones (older than what is stored) and ``dead_lettered`` ones.
    ``waiting_for_stock`` counts the new orders the shelf could not cover, stored
    waiting for stock (they are in ``new`` too)."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    dead_lettered: int = 0
    waiting_for_stock: int = 0

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
        """One line: ``new 3, updated 1, unchanged 2, stale 1, dead letters 0``, and
        ``, waiting for stock 1`` when new orders wait for stock."""
        waiting = (f", waiting for stock {self.waiting_for_stock}"
                   if self.waiting_for_stock else "")
        return (f"new {self.new}, updated {self.updated}, unchanged {self.unchanged}, "
                f"stale {self.stale}, dead letters {self.dead_lettered}{waiting}")


#: Called after every batch with the report so far and the fraction of the work done
#: (of the payloads for :meth:`Sync.receive_many`, of the time span for a poll or a
#: backfill), between 0 and 1: what a progress bar shows.
Progress = Callable[[SyncReport, float], None]


def check_platform(maps: Registry, platform: object) -> None:
    """Refuse ``platform`` unless ``maps`` has a map of it, before anything is read or
    stored: a mistyped name (``"JD"`` for ``"jd"``) would make every payload a dead
    letter, or find none to replay."""
    known = maps.platforms()
    if not isinstance(platform, str) or platform not in known:
        raise ValidationError("platform", platform,
                              f"no such platform (known: {', '.join(known)})")


def check_batch(batch: object) -> None:
    """Refuse a ``batch`` (payloads per commit) that is not a whole number >= 1."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValidationError("batch", batch, "expected an integer >= 1")


def _one(outcome: Outcome) -> SyncReport:
    return _count((outcome,))


def _count(outcomes: Iterable[Outcome]) -> SyncReport:
    tally = Counter(outcomes)
    return SyncReport(tally["new"] + tally["waiting"], tally["updated"], tally["unchanged"],
                      tally["stale"], tally["dead_lettered"], tally["waiting"])


@attrs.frozen
class _Mapped:
    """A payload of a batch that mapped: its place in the batch, the payload, its
    canonical text (``None`` when it came with its raw text) and digest, its platform
    modified time and the order it maps to."""

    index: int
    payload: Mapping[str, Any]
    text: str | None
    digest: str
    modified: datetime
    target: Order


class _Chain:
    """One order's payloads in a page, decided in memory: the stored order (``None``:
    a new order), the form it is placed or found in (``base``), the transitions decided
    so far, the order they leave (``current``), the payloads applied and what sync saw
    of the last of them (``mark``, with the ``stale`` versions counted on it)."""

    def __init__(self, stored: Order | None, base: Order) -> None:
        self.stored = stored
        self.base = base
        self.current = base
        self.moved: tuple[Transition, ...] = ()
        self.items: list[_Mapped] = []
        self.mark: Seen | None = None
        self.stale = 0

    def add(self, item: _Mapped, moved: tuple[Transition, ...], mark: Seen) -> None:
        self.items.append(item)
        if moved:
            self.moved += moved
            self.current = moved[-1].order
        self.mark = mark


def _decide(seen: Seen | None, item: _Mapped) -> Outcome | None:
    """``stale`` or ``unchanged`` when what sync saw already decides ``item``."""
    if seen is None:
        return None
    if item.modified < seen.modified_at:
        return "stale"
    if item.modified == seen.modified_at and item.digest == seen.digest:
        return "unchanged"
    return None


class _Tally:
    """A poll's or a backfill's report so far, told to a :data:`Progress` hook after
    every page as the fraction of ``[since, until]`` read."""

    def __init__(self, since: datetime, until: datetime, hook: Progress | None) -> None:
        self.since = since
        self.span = until - since
        self.hook = hook
        self.report = SyncReport()

    def add(self, page: SyncReport, reached: datetime) -> None:
        self.report += page
        if self.hook is not None:
            fraction = 1.0 if not self.span else (reached - self.since) / self.span
            self.hook(self.report, min(max(fraction, 0.0), 1.0))


class Sync:
    """One path in for marketplace orders (see the module docstring).

    ``repository`` is the order repository the ``service`` saves to (it must find
    orders by waybill too, see :class:`~orderkit.sync.ports.OrderLookup`); ``store``
    keeps what sync saw, the cursors and the dead letters; ``maps`` the platform maps
    (default: the built-in registry); ``limits`` the per-platform API limits that
    override :data:`~orderkit.sync.limits.LIMITS` (a platform not named keeps its
    default; a map registered under a new name with no limits of its own uses those of
    the platform whose channel it reads, see :meth:`_limits`); ``recon_ids`` issues a recon id with
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
        if limits is not None and not isinstance(limits, Mapping):
            raise ValidationError("limits", limits, "expected a mapping of platform to"
                                  " PlatformLimits")
        for name, value in (limits or {}).items():
            if not isinstance(value, PlatformLimits):
                raise ValidationError(f"limits[{name!r}]", value, "expected PlatformLimits")
        self.limits: dict[str, PlatformLimits] = {**LIMITS, **(limits or {})}
        self.recon_ids = recon_ids
        self.recon_prefix = recon_prefix

    # --- the three ways in -------------------------------------------------------------

    def _known(self, platform: str) -> None:
        """Refuse ``platform`` unless :attr:`maps` has a map of it (:func:`check_platform`)."""
        check_platform(self.maps, platform)

    def _limits(self, platform: str) -> PlatformLimits:
        """The API limits of ``platform`` (refused unless it has a map): its own, else
        those of its map's channel (a map extended under a new name reads the same
        platform, so ``tmall_credit`` polls within Tmall's limits)."""
        self._known(platform)
        if platform not in self.limits:
            channel = self._seen_key(platform)
            if channel in self.limits:
                return self.limits[channel]
        return limits_for(platform, self.limits)

    def _seen_key(self, platform: str) -> str:
        """Whose orders ``platform``'s payloads are (the map's channel identity: ``taobao``
        and ``tmall`` read the same trades), so what sync saw of a trade is found
        whichever name delivered it."""
        try:
            return self.maps.plan(platform).channel
        except OrderkitError:
            return platform

    def _names(self, channel: str) -> list[str]:
        """Every registered name whose payloads are ``channel``'s (``tmall`` and
        ``taobao`` for ``tmall``), sorted."""
        return [name for name in self.maps.platforms() if self._seen_key(name) == channel]

    def _reader(self, platform: str) -> str:
        """The name of the map that actually reads ``platform``'s payloads: the channel's
        own name when ``platform``'s map is the channel's map under another name (the
        built-in ``taobao`` is the Tmall map), else ``platform``. Asked only when a
        payload fails to map, so the error names the map a host has to fix."""
        channel = self._seen_key(platform)
        if channel == platform or channel not in self.maps.platforms():
            return platform
        try:
            own, theirs = self.maps.get_map(platform), self.maps.get_map(channel)
            same = attrs.evolve(own, name=theirs.name, channel=theirs.channel) == theirs
        except OrderkitError:
            return platform
        return channel if same else platform

    def receive(
        self,
        platform: str,
        payload: Mapping[str, Any],
        *,
        received_at: datetime,
        text: str | None = None,
    ) -> SyncReport:
        """A webhook: apply one payload received at ``received_at`` (aware).

        ``text`` is the raw JSON text ``payload`` was parsed from (the request body),
        when the caller has it: a payload is then known as one applied before by a hash
        of that text (:func:`~orderkit.sync.modified.raw_digest`) instead of its
        canonical JSON, which costs more to write out than the hash does. The same
        version arriving with another text (a poll, other spacing) is mapped and found
        to change nothing: still ``unchanged``, one step later.
        """
        self._known(platform)
        received_at = ensure_aware(received_at, path="received_at")
        texts = None if text is None else (text,)
        return _one(self._batch(platform, (payload,), received_at, texts)[0][0])

    def receive_many(
        self,
        platform: str,
        payloads: Sequence[Mapping[str, Any]],
        *,
        received_at: datetime,
        batch: int = DEFAULT_BATCH,
        progress: Progress | None = None,
        texts: Sequence[str] | None = None,
    ) -> SyncReport:
        """Webhooks drained in bulk (a queue, an export file): apply ``payloads`` in
        order, ``batch`` per commit, each exactly as :meth:`receive` would (``texts``:
        the raw JSON text of each, as for :meth:`receive`).

        A payload that fails becomes a dead letter without undoing the rest of its
        batch; a crash leaves every batch applied or not at all.
        """
        self._known(platform)
        received_at = ensure_aware(received_at, path="received_at")
        check_batch(batch)
        if isinstance(payloads, Mapping | str) or not isinstance(payloads, Sequence):
            raise ValidationError("payloads", payloads, "expected a sequence of JSON objects")
        if texts is not None and (isinstance(texts, str) or not isinstance(texts, Sequence)
                                  or len(texts) != len(payloads)):
            raise ValidationError("texts", texts, "expected one JSON text per payload")
        report = SyncReport()
        for start in range(0, len(payloads), batch):
            chunk = payloads[start:start + batch]
            raw = None if texts is None else texts[start:start + batch]
            report += _count(outcome for outcome, _at, _id in
                             self._batch(platform, chunk, received_at, raw))
            if progress is not None:
                progress(report, min(start + batch, len(payloads)) / len(payloads))
        return report

    def poll(
        self,
        platform: str,
        client: ChannelClient,
        *,
        start: datetime | None = None,
        progress: Progress | None = None,
    ) -> SyncReport:
        """A polling pass: read every order changed since this platform and shop's
        cursor (less the settle margin) up to now, window by window, and move the
        cursor after each window whose every order is stored.

        Without a cursor the pass starts at ``start`` (default: one window ago). A
        client failure propagates (as :class:`~orderkit.model.errors.StoreError`); the
        windows completed before it keep their cursor, the failed one is read again by
        the next pass.
        """
        limits = self._limits(platform)
        now = checked_now(self.clock)
        cursor = self.store.cursor(platform, client.shop)
        if cursor is not None:
            since = cursor.modified_at - limits.settle
        else:
            since = ensure_aware(start, path="start") if start is not None else (
                now - limits.max_window
            )
        since = min(since, now)
        tally = _Tally(since, now, progress)
        for low, high in windows(limits, since, now, now=now):
            _done, top, ids = self._window(platform, client, low, high, tally)
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
        return tally.report

    def backfill(
        self,
        platform: str,
        client: ChannelClient,
        since: datetime,
        until: datetime,
        *,
        progress: Progress | None = None,
    ) -> SyncReport:
        """Read every order changed in ``[since, until]`` through the same path, one
        commit per page; the cursor does not move."""
        limits = self._limits(platform)
        spans = windows(limits, since, until, now=checked_now(self.clock))
        tally = _Tally(ensure_aware(since, path="since"), ensure_aware(until, path="until"),
                       progress)
        for low, high in spans:
            self._window(platform, client, low, high, tally)
        return tally.report

    def sweep(
        self,
        platform: str,
        client: ListingClient,
        since: datetime,
        until: datetime,
        *,
        progress: Progress | None = None,
    ) -> SyncReport:
        """The cheap backstop: list the ids and modified times of the orders changed in
        ``[since, until]`` (:meth:`ListingClient.listed`), compare each page of the
        listing with what sync saw in one read, fetch (:meth:`ChannelClient.get`) only
        the orders listed newer than stored (or never seen), and apply them as one
        batch. Listed orders not newer than stored are counted ``unchanged`` without a
        fetch; an order the platform no longer returns is skipped. The cursor does not
        move.
        """
        if not isinstance(client, ListingClient):
            raise ValidationError("client", client, "expected a client with listed()")
        limits = self._limits(platform)
        spans = windows(limits, since, until, now=checked_now(self.clock))
        tally = _Tally(ensure_aware(since, path="since"), ensure_aware(until, path="until"),
                       progress)
        for low, high in spans:
            token: str | None = None
            while True:
                listing = client.listed(low, high, token)
                seen = self.store.seen_many(
                    self._seen_key(platform), [entry.channel_order_id for entry in listing.entries]
                )
                wanted = [
                    entry.channel_order_id for entry in listing.entries
                    if (known := seen.get(entry.channel_order_id)) is None
                    or entry.modified_at > known.modified_at
                ]
                fetched = [p for p in map(client.get, wanted) if p is not None]
                done = _count(outcome for outcome, _at, _id in
                              self._batch(platform, fetched, checked_now(self.clock)))
                done += SyncReport(unchanged=len(listing.entries) - len(wanted))
                tally.add(done, low if listing.next is not None else high)
                if listing.next is None:
                    break
                token = listing.next
        return tally.report

    def replay_dead_letters(self, platform: str | None = None) -> SyncReport:
        """Run every dead letter (of ``platform``'s channel: ``"tmall"`` replays the
        letters received as ``taobao`` too) through the path again, as received then; a
        letter that now applies (or is stale or unchanged) is dropped, one that fails
        again stays with the new error.

        A letter is replayed under the name it was received under, or, when that map
        still refuses it, under the first other name of its channel whose map reads it
        (a fixed ``tmall`` map applies a trade received as ``taobao``). A letter kept
        under its platform name before letters were keyed by channel (``taobao:<digest>``)
        is moved to its channel's key (``tmall:<digest>``) as it is replayed, merged with
        a letter of the same payload kept there. A ``platform`` with no map is refused
        (:class:`ValidationError`), as :meth:`receive` refuses it."""
        if platform is None:
            letters = self.store.dead_letters()
        else:
            self._known(platform)  # "JD" for "jd" would find no letter and say nothing
            letters = sorted(
                (letter for name in self._names(self._seen_key(platform))
                 for letter in self.store.dead_letters(name)),
                key=lambda letter: letter.received_at,
            )
        report = SyncReport()
        done: set[str] = set()
        # The letters kept for one payload of one channel, under any of its names.
        kin: dict[tuple[str, str], list[DeadLetter]] = {}
        for letter in letters:
            digest = _digest_of(letter)
            if digest is not None:
                kin.setdefault((self._seen_key(letter.platform), digest), []).append(letter)
        for letter in letters:
            if letter.letter_id in done:
                continue  # merged into a letter of the same payload replayed before
            try:
                payload = parse_json(letter.payload)
            except ValueError:
                # Kept cut short or with a value JSON has not: nothing to replay.
                report += _one("dead_lettered")
                continue
            if not isinstance(payload, Mapping):
                report += _one("dead_lettered")
                continue
            letter_id = self._rekey(letter, kin, done)
            outcome = self._ingest(self._replayer(letter.platform, payload), payload,
                                   letter.received_at)[0]
            if outcome != "dead_lettered":
                self.store.resolve_dead_letter(letter_id)
            report += _one(outcome)
        return report

    def _rekey(self, letter: DeadLetter, kin: Mapping[tuple[str, str], list[DeadLetter]],
               done: set[str]) -> str:
        """The id ``letter`` has under its channel's key, moving it (and every other
        letter ``kin`` keeps for the same channel and payload under another name) there
        first; the ids moved are added to ``done``."""
        channel = self._seen_key(letter.platform)
        digest = _digest_of(letter)
        if digest is None:
            return letter.letter_id
        letter_id = f"{channel}:{digest}"
        for other in kin.get((channel, digest), ()):
            if other.letter_id != letter_id:
                # Added under the new key before the old one is dropped: a crash between
                # leaves the letter twice, never lost.
                self.store.add_dead_letter(attrs.evolve(other, letter_id=letter_id))
                self.store.resolve_dead_letter(other.letter_id)
                done.add(other.letter_id)
        done.add(letter_id)
        return letter_id

    def _replayer(self, platform: str, payload: Mapping[str, Any]) -> str:
        """The name to replay a letter received as ``platform`` under: ``platform`` when
        its map reads ``payload``, else the first other name of the same channel whose
        map does, else ``platform`` (to keep its error)."""
        names = self._names(self._seen_key(platform))
        for name in [platform, *(n for n in names if n != platform)]:
            if self._refusal(name, payload) is None:
                return name
        return platform

    def _refusal(self, platform: str, payload: Mapping[str, Any]) -> ValueError | None:
        """Why ``platform``'s map refuses ``payload`` (its modified time or the payload
        itself), or ``None`` when it reads it."""
        try:
            modified_at(platform, payload, maps=self.maps)
            self.maps.normalize(platform, payload)
        except ValueError as error:  # a ValidationError, or a value the map chokes on
            return error
        return None

    # --- one window, one payload -------------------------------------------------------

    def _window(
        self,
        platform: str,
        client: ChannelClient,
        low: datetime,
        high: datetime,
        tally: _Tally,
    ) -> tuple[SyncReport, datetime | None, frozenset[str]]:
        """Read every page of ``[low, high]``, each page one batch; the latest platform
        modified time among its orders and the ids stored at exactly that time."""
        report = SyncReport()
        top: datetime | None = None
        ids: set[str] = set()
        token: str | None = None
        while True:
            page = client.changed(low, high, token)
            results = self._batch(platform, page.payloads, checked_now(self.clock), page.texts)
            done = _count(outcome for outcome, _at, _id in results)
            report += done
            for _outcome, stamp, order_id in results:
                if stamp is None or order_id is None:
                    continue
                if top is None or stamp > top:
                    top, ids = stamp, {order_id}
                elif stamp == top:
                    ids.add(order_id)
            tally.add(done, low if page.next is not None else high)
            if page.next is None:
                return report, top, frozenset(ids)
            token = page.next

    def _ingest(
        self, platform: str, payload: Mapping[str, Any], received_at: datetime
    ) -> tuple[Outcome, datetime | None, str | None]:
        """Apply one payload (a batch of one)."""
        return self._batch(platform, (payload,), received_at)[0]

    def _batch(
        self,
        platform: str,
        payloads: Sequence[Mapping[str, Any]],
        received_at: datetime,
        texts: Sequence[str] | None = None,
    ) -> list[tuple[Outcome, datetime | None, str | None]]:
        """Apply a page of payloads, in order; per payload its outcome, its modified
        time and its channel order id (``None`` when it did not map).

        First every payload's digest: of its raw text when ``texts`` gives it
        (:func:`~orderkit.sync.modified.raw_digest`), else of its canonical text (a
        payload holding a value JSON cannot hold is a dead letter); and one read of
        the versions sync applied with those digests: a payload identical to the newest
        version applied of its order is ``unchanged`` without being mapped, and without
        a transaction. The rest are mapped and decided, then written, in one
        :meth:`~orderkit.lifecycle.ports.OrderRepository.atomic` block (one commit, one
        ``fsync`` on SQLite): see :meth:`_page`. A crash leaves the whole page applied
        with its sync records, or none of it.
        """
        if texts is not None and len(texts) != len(payloads):
            raise ValidationError("texts", len(texts),
                                  f"expected one text per payload ({len(payloads)})")
        keys: list[tuple[str | None, str]] = []
        unwritable: dict[int, ValidationError] = {}
        for index, payload in enumerate(payloads):
            if not isinstance(payload, Mapping):
                path = "payload" if len(payloads) == 1 else f"payloads[{index}]"
                raise ValidationError(path, payload, "expected a JSON object")
            if texts is not None:
                raw = texts[index]
                if not isinstance(raw, str):
                    path = "text" if len(payloads) == 1 else f"texts[{index}]"
                    raise ValidationError(path, raw, "expected the payload's JSON text")
                keys.append((None, raw_digest(raw)))
            else:
                canonical, problem = _kept_text(payload)
                if problem is not None:
                    # A value JSON cannot hold (NaN, Infinity, an object): this payload
                    # alone is a dead letter.
                    unwritable[index] = problem
                keys.append((canonical, payload_digest(canonical)))
        hits = self.store.seen_digests(
            self._seen_key(platform), [digest for _text, digest in keys]
        )
        known = Counter(hits[digest].channel_order_id for _text, digest in keys
                        if digest in hits)
        results: list[tuple[Outcome, datetime | None, str | None] | None] = []
        failed: list[tuple[int, Mapping[str, Any], str | None, str, ValidationError]] = []
        pending: list[_Mapped] = []
        for payload, (text, digest) in zip(payloads, keys, strict=True):
            problem = unwritable.get(len(results))
            if problem is not None:
                failed.append((len(results), payload, text, digest, problem))
                results.append(("dead_lettered", None, None))
                continue
            hit = hits.get(digest)
            if hit is not None and known[hit.channel_order_id] == 1:
                results.append(("unchanged", hit.modified_at, hit.channel_order_id))
                continue
            mapped = self._map(platform, len(results), payload, text, digest, failed)
            if mapped is None:
                results.append(("dead_lettered", None, None))
                continue
            pending.append(mapped)
            results.append(None)
        # An order whose identical version shares the page with another version is
        # decided in the block, in page order, like every other version of it.
        pending_ids = Counter(item.target.channel_order_id for item in pending)
        for index, result in enumerate(results):
            if result is not None and result[2] in pending_ids:
                text, digest = keys[index]
                mapped = self._map(platform, index, payloads[index], text, digest, failed)
                if mapped is None:
                    results[index] = ("dead_lettered", None, None)
                    continue
                pending.append(mapped)
                results[index] = None
        pending.sort(key=lambda item: item.index)
        if pending or failed:
            # The page's deliveries run once, after its commit (and after the host's,
            # when the host called sync inside a block of its own): a sink never hears
            # of a page that rolled back, and the relay run never waits on the locks
            # of the page's own open transaction.
            with self.service.deliver_later(), self.repository.atomic():
                for index, payload, text, digest, problem in failed:
                    where = f"payloads[{index}]" if len(payloads) > 1 else "payload"
                    self._dead(platform, payload, text, digest, problem, received_at,
                               where=f"{platform} {where}")
                for item, outcome in self._page(platform, pending, received_at):
                    results[item.index] = (outcome, item.modified,
                                           item.target.channel_order_id)
        return [result for result in results if result is not None]

    def _map(
        self,
        platform: str,
        index: int,
        payload: Mapping[str, Any],
        text: str | None,
        digest: str,
        failed: list[tuple[int, Mapping[str, Any], str | None, str, ValidationError]],
    ) -> _Mapped | None:
        """The page's ``index``-th payload mapped (``None``: refused by its map, and
        added to ``failed`` for the dead letters)."""
        try:
            modified = modified_at(platform, payload, maps=self.maps)
            target = self.maps.normalize(platform, payload)
        except ValidationError as error:
            failed.append((index, payload, text, digest, self._named(platform, payload, error)))
            return None
        return _Mapped(index, payload, text, digest, modified, target)

    def _named(
        self, platform: str, payload: Mapping[str, Any], error: ValidationError
    ) -> ValidationError:
        """``error`` as the map that actually read ``payload`` gives it: a payload
        ``taobao`` refuses is refused by the Tmall map, and the error says to add the
        value to the ``tmall`` status table (see :meth:`_reader`)."""
        reader = self._reader(platform)
        if reader == platform:
            return error
        named = self._refusal(reader, payload)
        return named if isinstance(named, ValidationError) else error

    def _page(
        self, platform: str, pending: list[_Mapped], received_at: datetime
    ) -> list[tuple[_Mapped, Outcome]]:
        """Decide a page's mapped payloads in memory, then write them, inside the page's
        block (see :meth:`_batch`).

        One read of what sync saw of their orders and one of the stored orders
        (:meth:`~orderkit.lifecycle.ports.OrderRepository.find_many_by_channel`). Then,
        per payload in page order: ``stale`` or ``unchanged`` by what sync saw (or what
        the page applied before it), else the events it brings, decided in memory
        (:meth:`OrderService.decide`) from the order as the page left it, or from the
        initial form of a new order; a refusal makes it a dead letter before anything
        of it is written. Only then the writes: the page's new orders placed together
        (:meth:`OrderService.place_many`: one ``lock_many`` for the page, each order
        saved once in its final form; an order the shelf cannot cover for its waiting
        units is stored waiting for stock, with no lock), each stored order that moved
        saved once with all its events (:meth:`OrderService.save_decided`), and what
        sync saw of every order applied (one
        :meth:`~orderkit.sync.ports.SyncStore.mark_seen_many` write).
        """
        seen_key = self._seen_key(platform)
        seen = self.store.seen_many(seen_key, [i.target.channel_order_id for i in pending])
        stored = self.repository.find_many_by_channel(
            {(i.target.channel, i.target.channel_order_id) for i in pending}
        )
        chains: dict[tuple[str, str], _Chain] = {}
        decided: list[tuple[_Mapped, Outcome]] = []
        late: list[str] = []  # stale versions of orders sync had seen before the page
        for item in pending:
            key = (item.target.channel, item.target.channel_order_id)
            chain = chains.get(key)
            outcome = _decide(chain.mark if chain is not None else seen.get(key[1]), item)
            if outcome == "stale":
                if chain is not None and key[1] not in seen:
                    chain.stale += 1
                else:
                    late.append(key[1])
            if outcome is not None:
                decided.append((item, outcome))
                continue
            if chain is None:
                found = stored.get(key)
                chain = _Chain(found, found if found is not None else initial(item.target))
            outcome = self._extend(platform, seen_key, chain, item, received_at)
            if outcome != "dead_lettered":
                chains[key] = chain
                if chain.stored is None and len(chain.items) == 1:
                    outcome = "new"
            decided.append((item, outcome))
        changed: dict[int, Outcome] = {}
        new = [chain for chain in chains.values() if chain.stored is None]
        if new:
            placed = self.service.place_many(
                [(chain.base, chain.moved) for chain in new], stamp=self._stamp,
                wait_for_stock=True,
            )
            for chain, result in zip(new, placed, strict=True):
                if isinstance(result, Order):
                    if self.service.waits_for_stock(result):
                        changed[chain.items[0].index] = "waiting"
                elif isinstance(result, DuplicateOrder):
                    # Placed meanwhile by a writer outside this transaction: the page's
                    # payloads of it apply to the order as stored.
                    changed.update(self._settle(platform, chain, received_at, error=result))
                elif isinstance(result, OrderkitError):
                    for item in chain.items:
                        changed[item.index] = self._dead_item(platform, item, result, received_at)
                    chain.items.clear()
        for chain in chains.values():
            if chain.stored is not None:
                changed.update(self._settle(platform, chain, received_at))
        self.store.mark_seen_many([
            attrs.evolve(chain.mark, stale=chain.stale) if chain.stale else chain.mark
            for chain in chains.values() if chain.items and chain.mark is not None
        ])
        for channel_order_id in late:
            self.store.mark_stale(seen_key, channel_order_id)
        return [(item, changed.get(item.index, outcome)) for item, outcome in decided]

    def _extend(
        self, platform: str, seen_key: str, chain: _Chain, item: _Mapped, received_at: datetime
    ) -> Outcome:
        """Decide ``item`` on the order as ``chain`` leaves it and add it to the chain
        (``updated`` or ``unchanged``); refused, it is a dead letter and the chain stays
        as it was."""
        try:
            moved = self._decided(chain.current, item)
        except (ValidationError, RefusedError) as error:
            return self._dead_item(platform, item, error, received_at)
        chain.add(item, moved, Seen(seen_key, item.target.channel_order_id, item.modified,
                                    item.digest, received_at))
        return "updated" if moved else "unchanged"

    def _decided(self, order: Order, item: _Mapped) -> tuple[Transition, ...]:
        """The events ``item`` brings to ``order``, decided in memory. A new address the
        lifecycle refuses (packed, shipped, past the edit window, or a policy that does
        not let sync change it) is decided again as a difference: the order is held
        :data:`~orderkit.sync.diff.MISMATCH_HOLD` naming it, for a person to settle."""
        try:
            return self._reached(order, item, Wanted(item.target, item.modified))
        except (AddressLocked, NotPermitted) as refused:
            if isinstance(refused, NotPermitted) and refused.action != "change_address":
                raise
        return self._reached(order, item, Wanted(item.target, item.modified, readdress=False))

    def _reached(self, order: Order, item: _Mapped, want: Wanted) -> tuple[Transition, ...]:
        """The events ``want`` brings to ``order`` (:meth:`OrderService.decide`), once
        they reach what it shows. :class:`NotConverged` when the loop ended short of it:
        at an event that changed nothing while ``want`` still asks for it, or at the
        step bound (:func:`_step_bound`) with an event still wanted."""
        asked: list[Event | None] = [None]

        def step(current: Order) -> Event | None:
            asked[0] = want.next_event(current)
            return asked[0]

        limit = _step_bound(order, want.target)
        moved = self.service.decide(order, step, limit=limit)
        event = asked[0]
        if event is None:
            return moved
        final = moved[-1].order if moved else order
        if len(moved) < limit:
            # decide stops early only at an event that changed nothing.
            ignored = next((t.ignored for t in moved if t.ignored
                            and t.order.applied_event_ids[-1:] == (event.event_id,)), None)
            reason = (f"{event.name!r} changed nothing (the lifecycle ignored it: "
                      f"{ignored})" if ignored is not None else
                      f"{event.name!r} changed nothing (the order took an event of its id "
                      "before)")
        else:
            event = want.next_event(final)
            if event is None:
                return moved
            reason = f"{limit} events applied, the most one payload may bring"
        table = self.service.lifecycle.table
        raise NotConverged(f"{item.target.channel} order {item.target.channel_order_id}",
                           order.order_id, event, table.name(final.status),
                           table.name(item.target.status), reason)

    def _settle(
        self,
        platform: str,
        chain: _Chain,
        received_at: datetime,
        *,
        error: DuplicateOrder | None = None,
    ) -> dict[int, Outcome]:
        """Save a stored order's decided events in one save. When another writer moved
        the order meanwhile (or, with ``error``, placed it), its page's payloads are
        decided again from the order as stored; those that fail then are dead letters.
        The outcomes that changed, by payload index."""
        outcomes: dict[int, Outcome] = {}
        again = error is not None
        for attempt in range(self.service.max_attempts):
            if again:
                key = chain.items[-1].target
                fresh = self.repository.find_by_channel(key.channel, key.channel_order_id)
                if fresh is None:
                    assert error is not None  # a conflict means the order is stored
                    for item in chain.items:
                        outcomes[item.index] = self._dead_item(platform, item, error, received_at)
                    chain.items.clear()
                    return outcomes
                items, chain.items = chain.items, []
                chain.stored = chain.base = chain.current = fresh
                chain.moved = ()
                seen_key = self._seen_key(platform)
                for item in items:
                    outcomes[item.index] = self._extend(platform, seen_key, chain, item,
                                                        received_at)
            if not chain.moved:
                return outcomes
            assert chain.stored is not None
            try:
                self.service.save_decided(chain.stored, chain.moved)
            except ConcurrencyError:
                if attempt == self.service.max_attempts - 1:
                    raise
                again = True
            else:
                return outcomes
        return outcomes  # pragma: no cover - the loop returns or raises

    def _stamp(self, order: Order) -> Order:
        """A new order's recon id, drawn as it is saved (a refused order draws none)."""
        if order.recon_id is None and self.recon_ids is not None:
            return attrs.evolve(
                order, recon_id=self.recon_ids.issue(self.recon_prefix, at=order.created_at)
            )
        return order

    def _dead_item(
        self, platform: str, item: _Mapped, error: Exception, received_at: datetime
    ) -> Outcome:
        return self._dead(platform, item.payload, item.text, item.digest, error, received_at,
                          where=f"{platform} order {item.target.channel_order_id}")

    def _dead(
        self,
        platform: str,
        payload: Mapping[str, Any],
        text: str | None,
        digest: str,
        error: Exception,
        received_at: datetime,
        *,
        where: str,
    ) -> Outcome:
        """Keep ``payload`` as a dead letter: always its canonical text, under its
        channel identity and the digest of that text (``"tmall:<digest>"``, so one bad
        payload is one letter however it came, ``taobao`` or ``tmall`` alike).

        Keeping it never fails the batch: a payload JSON cannot hold is kept as Python's
        JSON writer writes it (``NaN``), and a text longer than a letter holds is kept
        cut to :data:`_KEPT` characters, the error saying so and naming the payload
        (``where``: the platform and channel order id, or its place in the batch) and
        the digest of the whole text. Such a letter cannot be replayed; it waits for
        a person."""
        if text is None:
            text, _problem = _kept_text(payload)
            digest = payload_digest(text)
        message = f"{type(error).__name__}: {error}"[:_ERROR_MAX]
        if len(text) > PAYLOAD_MAX_LENGTH:
            note = (f"{where}: payload of {len(text)} characters is longer than a dead "
                    f"letter keeps ({PAYLOAD_MAX_LENGTH}): kept its first {_KEPT} "
                    f"characters (sha256 of the whole: {digest}); ")
            message = note + message[:_ERROR_MAX - len(note)] if len(note) < _ERROR_MAX \
                else note[:_ERROR_MAX]
            text = text[:_KEPT]
        self.store.add_dead_letter(
            DeadLetter(f"{self._seen_key(platform)}:{digest}", platform, text, message,
                       received_at)
        )
        return "dead_lettered"


def _digest_of(letter: DeadLetter) -> str | None:
    """The payload digest of ``letter``'s id (``"<channel or platform>:<digest>"``), or
    ``None`` for an id of another form."""
    _prefix, colon, digest = letter.letter_id.rpartition(":")
    return digest if colon and digest else None


def _kept_text(payload: Mapping[str, Any]) -> tuple[str, ValidationError | None]:
    """``payload``'s canonical text (:func:`~orderkit.sync.modified.payload_text`), or,
    when it holds a value JSON cannot hold, its text as :func:`_any_text` writes it and
    the error refusing it."""
    try:
        return payload_text(payload), None
    except ValidationError as error:
        return _any_text(payload), error


def _any_text(payload: Mapping[str, Any]) -> str:
    """``payload`` as JSON text even when JSON cannot hold it (``NaN``, ``Infinity``, any
    other value as its ``repr``): what a dead letter keeps of a payload
    :func:`~orderkit.sync.modified.payload_text` refuses."""
    try:
        return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                          default=repr)
    except (TypeError, ValueError):
        return repr(payload)
