"""The ``orderkit`` command (also ``python -m orderkit``).

Every failure is reported as one line on stderr, ``orderkit: ...``, never a traceback,
with one of the exit codes in :data:`EXIT_CODES` (also printed by ``orderkit --help``).
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

from orderkit import __version__
from orderkit.model.errors import OrderkitError, StoreError
from orderkit.model.limits import MAX_QUANTITY

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime, timedelta

    from orderkit.adapters.sqlite import SQLiteOrderRepository
    from orderkit.inventory import LedgerEntry
    from orderkit.model.money import Money
    from orderkit.model.orders import Order
    from orderkit.model.time import AccountingPeriod
    from orderkit.reconcile.ports import Notifier
    from orderkit.sync import Sync
    from orderkit.sync.limits import PlatformLimits
    from orderkit.watch import WatchReport
    from orderkit.watch.health import Kpi

__all__ = [
    "EXIT_CODES",
    "EXIT_FILE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNSENT",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

Command = Callable[[argparse.Namespace], int]

EXIT_OK: Final = 0
#: The input was refused: a record failed to map, a check found problems, or orderkit
#: refused a value in a file or an option (the line names the field and the value).
EXIT_REFUSED: Final = 1
#: The command line is wrong: an unknown command or option, a missing or invalid argument.
EXIT_USAGE: Final = 2
#: A file could not be opened, read or written (missing, a directory, no permission), or
#: a database file could not be used (a ``StoreError``).
EXIT_FILE: Final = 3
#: An unexpected error inside orderkit (a bug); ``--traceback`` shows where.
EXIT_INTERNAL: Final = 4
#: Alerts were due and could not be sent (``orderkit watch``); each is sent next run.
EXIT_UNSENT: Final = 5
#: Interrupted (Ctrl-C).
EXIT_INTERRUPTED: Final = 130

#: Exit code -> what it means, as ``orderkit --help`` and the docs list them.
EXIT_CODES: Final = {
    EXIT_OK: "success",
    EXIT_REFUSED: "the input was refused: a record failed to map, a check found problems,"
    " or a value in a file or an option is not acceptable",
    EXIT_USAGE: "the command line is wrong: unknown command or option, missing or invalid"
    " argument, or a demo database that already exists",
    EXIT_FILE: "a file could not be opened, read or written (missing, a directory,"
    " permission denied), or a database file could not be used",
    EXIT_INTERNAL: "an unexpected error inside orderkit (a bug; --traceback shows where)",
    EXIT_UNSENT: "alerts were due and could not be sent (orderkit watch; each is sent"
    " again on the next run)",
    EXIT_INTERRUPTED: "interrupted",
}

_EPILOG: Final = (
    "Every failure is one line on stderr, starting with 'orderkit:'.\n\nexit codes:\n"
    + "\n".join(
        textwrap.fill(meaning, 79, initial_indent=f"  {code:<4}", subsequent_indent=" " * 6)
        for code, meaning in EXIT_CODES.items()
    )
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        _say(f"{self.prog}: {message} (see {self.prog} --help)")
        raise SystemExit(EXIT_USAGE)


def _say(text: str) -> None:
    """Print ``text`` to stderr as one line."""
    print(" ".join(text.split("\n")).rstrip(), file=sys.stderr)


def _file_problem(error: OSError) -> str:
    reason = error.strerror or type(error).__name__
    if error.filename is None:
        return f"orderkit: {reason}"
    return f"orderkit: cannot use {error.filename}: {reason}"


def _demo(args: argparse.Namespace) -> int:
    from orderkit.demo import demo_files, run_demo

    db = Path(args.db) if args.db else None
    if db is not None and not db.parent.is_dir():  # refused before a word of the story
        raise StoreError(f"open {db}", f"no such directory {db.parent}: the demo creates"
                         " its database files, not their directory")
    for path in demo_files(db) if db is not None else ():
        if path.exists():
            _say(f"orderkit: {path} exists; the demo writes new database files")
            return EXIT_USAGE
    run_demo(sys.stdout, db)
    return 0


_WATCH_EVERY_MIN: Final = 1.0
"""The shortest ``orderkit watch --every`` interval, in seconds: a shorter one only spins
(a cycle reads the database and the rules' state, ~175 cycles a second at 0)."""
_WATCH_EVERY_MAX: Final = 86_400.0
"""The longest ``orderkit watch --every`` interval, in seconds (a day; a scheduler runs
``--once`` less often)."""


def _watch_interval(text: str) -> float:
    """``--every SECONDS``: seconds from ``_WATCH_EVERY_MIN`` to ``_WATCH_EVERY_MAX``."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(seconds) and _WATCH_EVERY_MIN <= seconds <= _WATCH_EVERY_MAX):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a number of seconds from {_WATCH_EVERY_MIN:g}"
            f" to {_WATCH_EVERY_MAX:g}"
        )
    return seconds


def _whole_number(text: str, what: str) -> int:
    """A whole number of ``what`` from 1, at most what a store counts rows in (a signed
    64-bit integer, :data:`~orderkit.model.limits.MAX_QUANTITY`), or a usage error."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {what}") from None
    if not 1 <= number <= MAX_QUANTITY:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of {what} from 1")
    return number


def _wave_limit(text: str) -> int:
    """``--limit N``: a whole number of orders from 1."""
    return _whole_number(text, "orders")


def _watch(args: argparse.Namespace) -> int:
    import time

    if args.watch_db is None:
        args.parser.error("the following arguments are required: --db")
    notifier = _watch_notifier(args.webhook)
    if _order_database(args.watch_db) is None:
        return EXIT_FILE
    while True:
        try:
            report = _watch_cycle(args, notifier)
        except StoreError as error:
            if args.every is None:
                raise
            # One failed cycle (the file locked too long): said, and the next one runs.
            _say(f"orderkit: StoreError: {error} (trying again in {args.every:g} s)")
            time.sleep(args.every)
            continue
        print(f"watch: {len(report.raised)} raised, {len(report.repeated)} repeated,"
              f" {len(report.resolved)} resolved, {report.pending} pending,"
              f" {len(report.inhibited)} inhibited, {len(report.failed)} failed", flush=True)
        for rule, group, listed, counted in report.cut:
            # A rule's limit cut its list: the rest are counted, in one more alert.
            named = f"{rule}:{group}" if group else rule
            print(f"watch: cut {named}: {listed} of {counted} stale order(s) listed",
                  flush=True)
        for alert, reason in report.failed:
            _say(f"orderkit: could not send {alert.state} {alert.key}: {reason}")
        for metric, reason in report.unread:
            _say(f"orderkit: could not read {metric}: {reason}")
        if args.every is None:
            return EXIT_UNSENT if report.failed else EXIT_OK
        time.sleep(args.every)


def _watch_notifier(webhook: str | None) -> Notifier:
    """``--webhook URL``, checked (a URL no request could be sent to, or an empty one,
    is refused naming the option); stdout without it."""
    from orderkit.model.errors import ValidationError
    from orderkit.watch.notifiers import StdoutNotifier, WebhookNotifier

    if webhook is None:
        return StdoutNotifier()
    try:
        return WebhookNotifier(webhook)
    except ValidationError as error:
        raise ValidationError("--webhook", webhook, error.reason) from error


def _watch_cycle(args: argparse.Namespace, notifier: Notifier) -> WatchReport:
    """One watch cycle over ``args.watch_db``: the orders' rules, and the metric rules on the
    file's outbox lag and dead letters, once the file holds sync tables its sync lag and
    dead letters, and once it keeps stock the releases its ledger's breaker parked (the
    watch creates no sync or inventory table)."""
    from orderkit.adapters.sqlite import (
        SQLiteInventoryStore,
        SQLiteOrderRepository,
        SQLiteSyncStore,
        SQLiteWatchState,
    )
    from orderkit.watch import DEFAULT_METRIC_RULES, DEFAULT_RULES, Backlog, SyncLagMetric, Watcher
    from orderkit.watch.metrics import Metrics

    path = args.watch_db
    repository = SQLiteOrderRepository(path)
    database = repository.database
    synced = SQLiteSyncStore(path) if database.schema_version("sync") > 0 else None
    stock = SQLiteInventoryStore(path) if database.schema_version("inventory") > 0 else None
    metrics: list[Metrics] = [] if synced is None else [SyncLagMetric(synced)]
    metrics.append(Backlog(outbox=repository, sync=synced, inventory=stock))
    watcher = Watcher(repository, notifier, rules=[*DEFAULT_RULES, *DEFAULT_METRIC_RULES],
                      state=SQLiteWatchState(path), metrics=metrics)
    return watcher.run_once()


def _wave(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository
    from orderkit.fulfilment import WavePolicy, plan_wave, policy_from_toml
    from orderkit.inventory import available_units, held_units
    from orderkit.model.time import zone

    now = datetime.now(UTC) if args.at is None else _option_instant("--at", args.at)
    policy = policy_from_toml(_wave_policy_text(args.policy)) if args.policy else WavePolicy()
    versions = _order_database(args.db)
    if versions is None:
        return EXIT_FILE
    repository = SQLiteOrderRepository(args.db)
    # The file keeps stock: the plan spends what is available on the units no live lock
    # holds (orders waiting for stock, lapsed locks), and trusts no lock id.
    store = SQLiteInventoryStore(args.db) if "inventory" in versions else None
    # One snapshot for every read of the plan: an order packed or shipped by another
    # process meanwhile is read once, as it was when the plan began (WAL: the packing
    # station is never kept waiting).
    with repository.database.read("plan wave"):
        candidates = _wave_candidates(repository, now, args.limit)
        stock: dict[str, int] | None = None
        held: dict[str, dict[str, int]] | None = None
        if store is not None:
            stock = available_units(store)
            held = held_units(store, [order.order_id for order in candidates], now)
    wave = plan_wave(candidates, policy, now, stock=stock, held=held)
    # The instant in the policy's zone, that of its cut-off: what the floor's clocks say.
    shown = now.astimezone(zone(policy.tz)).isoformat()
    print(f"wave ({policy.stream}) at {shown}: {len(wave.selected)} selected,"
          f" {len(wave.excluded)} left out")
    by_id = {order.order_id: order for order in candidates}
    for order_id in wave.selected:
        print(f"  {order_id}{_wave_pick(by_id[order_id])}")
    for reason, count in wave.summary().items():
        print(f"{reason.value}: {count}")
        for order_id, exclusion in sorted(wave.excluded.items()):
            if exclusion.code is reason:
                print(f"  {order_id}: {exclusion.words}")
    return EXIT_OK


def _wave_pick(order: Order) -> str:
    """What the floor does with a selected ``order`` beyond picking it in full: nothing
    to pick when it is packed already, only its open units when it is partly shipped."""
    from orderkit.model.orders import OrderStatus

    if order.status == OrderStatus.PACKED:
        return " (already packed)"
    if order.status == OrderStatus.SHIPPED:
        left = ", ".join(f"{sku} {units}" for sku, units in sorted(order.open_units_by_sku.items()))
        return f" (partly shipped, left to pick: {left})"
    return ""


def _wave_policy_text(path: str) -> str:
    """The text of the policy file ``path``: UTF-8, as TOML is, with or without the
    byte-order mark Notepad writes; any other encoding (GBK from Notepad's "ANSI" on a
    Chinese Windows) is refused naming ``--policy`` and the file, not guessed: a region
    name misread would leave its orders out of every wave."""
    from orderkit.model.errors import ValidationError

    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationError(
            "--policy", path, f"not UTF-8 text ({error.reason} at byte {error.start}), as a"
            " TOML file must be: save it as UTF-8") from None


def _wave_candidates(
    repository: SQLiteOrderRepository, now: datetime, limit: int
) -> list[Order]:
    """The orders a wave may ship, at most ``limit`` of each kind, oldest first."""
    from orderkit.model.orders import OrderStatus, PaymentTerms

    candidates = list(repository.stale([OrderStatus.PAID], "paid_at", now, limit))
    # Packed orders by when they were packed: a cash on delivery one has no paid_at.
    candidates += repository.stale([OrderStatus.PACKED], "status_since", now, limit)
    # Cash on delivery ships unpaid: those waiting to ship are candidates too.
    candidates += repository.stale([OrderStatus.PENDING_PAYMENT], "status_since", now,
                                   limit, terms=PaymentTerms.ON_DELIVERY)
    # Partly shipped orders wait in SHIPPED for a later ship of their open units: read
    # through their own index, never among the (many) shipped orders in transit.
    candidates += repository.stale([OrderStatus.SHIPPED], "partly_shipped_since", now, limit)
    return candidates


def _option_instant(option: str, text: str) -> datetime:
    """The ISO 8601 instant ``text`` given in ``option``, in UTC; refused without its UTC
    offset (``+08:00``, ``Z``), since a bare local time could mean any zone, and outside
    the instants orderkit stores (:func:`~orderkit.model.time.ensure_instant`), so the
    days and windows measured from it stay in the calendar."""
    from datetime import datetime

    from orderkit.model.errors import ValidationError
    from orderkit.model.time import ensure_instant

    try:
        instant = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValidationError(option, text, "expected an ISO 8601 instant") from error
    if instant.tzinfo is None:
        raise ValidationError(option, text, "expected a UTC offset (like +08:00 or Z)")
    try:
        return ensure_instant(instant, path=option)
    except ValidationError as error:
        raise ValidationError(option, text, error.reason) from error


def _order_database(db: str) -> dict[str, int] | None:
    """The component versions of the orderkit order database ``db`` (read without
    changing it), or ``None`` after saying why it cannot be used: missing, a directory,
    not readable (permission denied, a read-only directory, locked by another process),
    or no orders were ever written to it (another application's file is left
    untouched)."""
    from orderkit.adapters.sqlite import schema_versions

    if not Path(db).exists():
        _say(f"orderkit: cannot use {db}: no such database file")
        return None
    try:
        versions = schema_versions(db)
    except StoreError as error:
        _say(f"orderkit: cannot use {db}: {error.reason}")
        return None
    if "orders" not in versions:
        _say(f"orderkit: cannot use {db}: not an orderkit order database"
             " (no orders were ever written to it)")
        return None
    return versions


def _first_line(text: str, width: int = 160) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def _dead_letters(args: argparse.Namespace) -> int:
    """``orderkit dead-letters``: list what failed for good, replay it, or drop a letter
    a person has dealt with, and on a file that keeps stock the releases the breaker
    parked; exits 1 while any letter or parked release waits. Reads the file's sync
    letters only when it holds sync tables (it creates none)."""
    from datetime import UTC, datetime

    from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteSyncStore
    from orderkit.lifecycle import OrderService
    from orderkit.model.errors import ValidationError
    from orderkit.sync import Sync

    versions = _order_database(args.db)
    if versions is None:
        return EXIT_FILE
    repository = SQLiteOrderRepository(args.db)
    store = SQLiteSyncStore(args.db) if "sync" in versions else None
    if args.drop is not None:
        if store is not None and store.resolve_dead_letter(args.drop):
            print(f"dropped {args.drop}")
        elif _drop_message(repository, args.drop, datetime.now(UTC)):
            print(f"dropped {args.drop} (an outbox message: marked delivered, never applied)")
        else:
            raise ValidationError("--drop", args.drop, "no dead letter has this id")
    if args.replay:
        if store is not None and "inventory" in versions:
            print(f"sync: not replayed here: {_KEEPS_STOCK}")
        elif store is not None:
            sync = Sync(repository, OrderService(repository), store=store)
            print(f"sync: {sync.replay_dead_letters().summary()}")
        dead_messages = list(repository.dead_letters())
        for stored in dead_messages:
            repository.replay(stored.message.message_id)
        print(f"outbox: {len(dead_messages)} dead message(s) waiting for the relay again")
    letters = store.dead_letters() if store is not None else []
    print(f"sync dead letters: {len(letters)}")
    for letter in letters:
        print(f"  {letter.letter_id}  {letter.platform}  attempts {letter.attempts}"
              f"  received {letter.received_at.isoformat()}  {_first_line(letter.error)}")
    messages = list(repository.dead_letters())
    print(f"outbox dead letters: {len(messages)}")
    for stored in messages:
        message = stored.message
        print(f"  {message.message_id}  {message.order_id}  {message.topic}"
              f"  attempts {stored.attempts}  {_first_line(stored.error or '')}")
    parks = _parked_releases(args.db) if "inventory" in versions else []
    return EXIT_REFUSED if letters or messages or parks else EXIT_OK


def _parked_releases(db: str) -> list[LedgerEntry]:
    """List the releases the file's ledger breaker parked that nobody approved yet (a
    cancel's units still locked): they wait for a person as a dead letter does. The
    command has no lock secret, so it lists them; the host's ledger approves them."""
    from orderkit.adapters.sqlite import SQLiteInventoryStore

    parks = list(SQLiteInventoryStore(db).pending_parks())
    print(f"parked releases: {len(parks)}"
          + (" (approve each with InventoryLedger.approve_release(entry_id, actor=...))"
             if parks else ""))
    for park in parks:
        print(f"  {park.entry_id}  {park.order_id or ''}  {park.sku} x{park.qty}"
              f"  parked {park.at.isoformat()}")
    return parks


def _drop_message(repository: SQLiteOrderRepository, message_id: str, now: datetime) -> bool:
    """Take the dead outbox message ``message_id`` out of the dead letters as delivered
    (a person dealt with it: never to be applied), in one transaction, so that no relay
    sees it pending in between; ``False`` when no dead message has that id."""
    with repository.atomic():
        dropped = repository.replay(message_id)
        if dropped:
            repository.mark_delivered([message_id], now)
    return dropped


#: Why the command line runs no sync on a file that keeps stock (see :func:`_open_sync`).
_KEEPS_STOCK: Final = (
    "this file keeps stock, and sync must lock it (apply the payloads through the"
    " host's Sync and its ledger: Sync.receive_many, Sync.backfill,"
    " Sync.replay_dead_letters)"
)


def _keeps_stock(db: str) -> bool:
    """Whether the SQLite file ``db`` holds an inventory ledger (read without changing
    it): sync on it must lock and ship its stock, which the command line cannot."""
    from orderkit.adapters.sqlite import schema_versions

    return "inventory" in schema_versions(db)


def _open_sync(db: str, *, limits: Mapping[str, PlatformLimits] | None) -> Sync:
    """A Sync on the SQLite file ``db`` (created when missing), with ``limits``
    overriding the platforms' API limits: orders and what sync saw
    on one file, so a batch commits with one fsync. No stock ledger: a file of payloads
    says nothing of the stock on hand. A file that keeps stock is refused
    (:class:`StoreError`, exit 3) and left untouched: sync there would store paid and
    shipped orders with nothing locked or taken (a host that keeps stock runs ``Sync``
    with its ledger)."""
    from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteSyncStore
    from orderkit.lifecycle import OrderService
    from orderkit.sync import Sync

    if _keeps_stock(db):
        raise StoreError(f"sync on {db}", _KEEPS_STOCK)
    repository = SQLiteOrderRepository(db)
    return Sync(repository, OrderService(repository), store=SQLiteSyncStore(db),
                limits=limits)


#: ``--older-than``'s units: days, hours, minutes.
_SPAN_UNITS: Final = {"d": "days", "h": "hours", "m": "minutes"}


def _older_than(text: str) -> timedelta:
    """``--older-than SPAN``: a whole number of days, hours or minutes above zero
    (``30d``, ``12h``, ``90m``), at most 100 years."""
    import re
    from datetime import timedelta

    found = re.fullmatch(r"\s*(\d{1,7})\s*([dhm])\s*", text)
    span = None if found is None else timedelta(**{_SPAN_UNITS[found[2]]: int(found[1])})
    if span is None or not timedelta(0) < span <= timedelta(days=36_525):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a span like 30d (days), 12h (hours) or 90m (minutes),"
            " above zero and at most 100 years"
        )
    return span


def _span_text(span: timedelta) -> str:
    """A span as ``--older-than`` takes it (``30d``, ``12h``, ``90m``)."""
    minutes = int(span.total_seconds()) // 60
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


class _FixedClock:
    """The instant a command measures ages from (``--now``, or when it started)."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def _purge_store(args: argparse.Namespace) -> dict[str, int] | None:
    """The component versions of the order database a purge command names: the SQLite
    file ``--db`` or the PostgreSQL schema ``--schema`` (default ``orderkit``) of
    ``--dsn``, read without changing it; ``None`` after saying why it cannot be used
    (see :func:`_order_database`; a schema with no orders table is no order database).
    ``--schema`` with ``--db`` is a usage error."""
    if args.db is not None:
        if args.schema is not None:
            args.parser.error("--schema goes with --dsn (a PostgreSQL schema), not --db")
        return _order_database(args.db)
    from orderkit.adapters.postgres import Database

    args.database = Database(args.dsn, schema=args.schema)
    versions = {component: version for component in ("orders", "watch")
                if (version := args.database.schema_version(component))}
    if "orders" not in versions:
        _say(f"orderkit: cannot use schema {args.database.schema}: not an orderkit order"
             " database (no orders were ever written to it)")
        return None
    return versions


def _purge_now(args: argparse.Namespace) -> datetime:
    """A purge command's ``--now`` (default: now), the instant ages are measured from;
    an ``--older-than`` reaching back from it before 1900 is a usage error, before any
    database is opened."""
    from datetime import UTC, datetime

    from orderkit.model.time import EARLIEST

    now = datetime.now(UTC) if args.now is None else _option_instant("--now", args.now)
    if now - EARLIEST < args.older_than:
        args.parser.error(f"argument --older-than: {_span_text(args.older_than)} before"
                          f" --now {now.isoformat()} reaches back before {EARLIEST.year}")
    return now


def _outbox_purge(args: argparse.Namespace) -> int:
    """``orderkit outbox purge``: delete the outbox messages delivered more than
    ``--older-than`` ago, ``--batch`` at a time (each batch a transaction of its own);
    pending and dead ones stay. On the SQLite file ``--db`` or the PostgreSQL schema of
    ``--dsn``."""
    from orderkit.lifecycle.ports import OrderRepository
    from orderkit.outbox import OutboxRelay

    now = _purge_now(args)
    if _purge_store(args) is None:
        return EXIT_FILE
    repository: OrderRepository
    if args.db is not None:
        from orderkit.adapters.sqlite import SQLiteOrderRepository

        repository = SQLiteOrderRepository(args.db)
    else:
        from orderkit.adapters.postgres import PostgresOrderRepository

        repository = PostgresOrderRepository(args.database)
    relay = OutboxRelay(repository, clock=_FixedClock(now))
    purged = relay.purge(args.older_than, batch=args.batch)
    print(f"outbox purge: {purged} delivered message(s) deleted, delivered before"
          f" {(now - args.older_than).isoformat()} (older than {_span_text(args.older_than)});"
          f" {repository.dead_letter_count()} dead letter(s) kept", flush=True)
    return EXIT_OK


def _watch_purge(args: argparse.Namespace) -> int:
    """``orderkit watch purge``: delete the alert episodes resolved more than
    ``--older-than`` ago from the watch history, ``--batch`` at a time (each batch a
    transaction of its own); open episodes stay. On the SQLite file ``--db`` or the
    PostgreSQL schema of ``--dsn``; one whose watch never ran has no history, and is
    not given one. The watch's own ``--db`` (before ``purge``) is a usage error naming
    both, never silently replaced by the purge's."""
    from orderkit.watch import purge_resolved
    from orderkit.watch.ports import WatchState

    if args.watch_db is not None:
        named = "--db" if args.db is not None else "--dsn"
        args.parser.error(f"watch --db {args.watch_db} is not read by an ACTION: purge"
                          f" {named} names the database it purges; give it once, after"
                          " purge")
    now = _purge_now(args)
    versions = _purge_store(args)
    if versions is None:
        return EXIT_FILE
    purged = 0
    if "watch" in versions:
        state: WatchState
        if args.db is not None:
            from orderkit.adapters.sqlite import SQLiteWatchState

            state = SQLiteWatchState(args.db)
        else:
            from orderkit.adapters.postgres import PostgresWatchState

            state = PostgresWatchState(args.database)
        purged = purge_resolved(state, args.older_than, batch=args.batch,
                                clock=_FixedClock(now))
    print(f"watch purge: {purged} resolved episode(s) deleted, resolved before"
          f" {(now - args.older_than).isoformat()} (older than {_span_text(args.older_than)});"
          " open episodes kept", flush=True)
    return EXIT_OK


def _add_purge_command(
    actions: Any, handler: Command, what: str, kept: str, *, help: str, description: str
) -> None:
    """Register a ``purge`` action on ``actions``: ``--db PATH`` or ``--dsn DSN``
    (exactly one; ``--schema`` with ``--dsn``), ``--older-than``, ``--batch`` and
    ``--now``. ``what`` names the rows a batch counts (``messages``), ``kept`` one row
    that is purged (``a delivered message``)."""
    purge = actions.add_parser("purge", help=help, description=description,
                               epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = purge.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", metavar="PATH", help="the orders' SQLite file")
    where.add_argument("--dsn", metavar="DSN",
                       help="the orders' PostgreSQL database (needs the postgres extra)")
    purge.add_argument("--schema", metavar="NAME",
                       help="with --dsn: the schema of orderkit's tables (default: orderkit)")
    purge.add_argument("--older-than", metavar="SPAN", required=True, type=_older_than,
                       help=f"how long {kept} is kept: 30d, 12h or 90m")

    def batch(text: str) -> int:
        """``--batch N``: a whole number of ``what`` from 1."""
        return _whole_number(text, what)

    purge.add_argument("--batch", metavar="N", type=batch, default=1000,
                       help=f"{what} deleted per transaction (default: 1000)")
    purge.add_argument("--now", metavar="INSTANT",
                       help="measure ages as of this ISO 8601 instant, with its UTC offset"
                       " (default: now)")
    purge.set_defaults(handler=handler, parser=purge)


def _health_retries(text: str) -> tuple[int, int]:
    """``--retries RETRIED/ATTEMPTED``, checked."""
    import re

    from orderkit.model.errors import ValidationError

    found = re.fullmatch(r"\s*(\d{1,18})\s*/\s*(\d{1,18})\s*", text)
    if found is None or int(found[1]) > int(found[2]):
        raise ValidationError("--retries", text, "expected RETRIED/ATTEMPTED counts like"
                              " 12/400, retried no more than attempted")
    return int(found[1]), int(found[2])


def _health_period(text: str) -> AccountingPeriod:
    """``--period YYYY-MM-DD | YYYY-MM``, a day or a month in the accounting zone, checked:
    within the years of the instants orderkit stores (:data:`~orderkit.model.time.EARLIEST`
    to before :data:`~orderkit.model.time.LATEST`)."""
    from datetime import date

    from orderkit.model.errors import ValidationError
    from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, EARLIEST, LATEST, AccountingPeriod

    try:
        if len(text) == 7:
            period = AccountingPeriod("month", date.fromisoformat(text + "-01"),
                                      DEFAULT_ACCOUNTING_TZ)
        else:
            period = AccountingPeriod("day", date.fromisoformat(text), DEFAULT_ACCOUNTING_TZ)
    except ValueError as error:
        raise ValidationError("--period", text,
                              "expected YYYY-MM-DD (a day) or YYYY-MM (a month)") from error
    if not EARLIEST.year <= period.start.year < LATEST.year:
        raise ValidationError("--period", text, f"expected a period from {EARLIEST.year}"
                              f" to {LATEST.year - 1}")
    return period


def _health_difference(text: str) -> Money:
    """``--reconciliation-difference AMOUNT [CURRENCY]``, checked (CNY by default)."""
    from orderkit.model.errors import ValidationError
    from orderkit.model.money import Money

    parts = text.split()
    try:
        if not 1 <= len(parts) <= 2:
            raise ValueError(text)
        return abs(Money(parts[0], parts[1] if len(parts) == 2 else "CNY"))
    except (ValueError, ValidationError) as error:
        raise ValidationError("--reconciliation-difference", text,
                              "expected an amount like 123.45 or 123.45 CNY") from error


def _health_reconciliation(path: str) -> Mapping[str, object]:
    """The summary of ``--reconciliation FILE``, a JSON report of ``orderkit
    reconcile``, checked."""
    from orderkit.model.errors import ValidationError
    from orderkit.reconcile.report.json_report import read_summary
    from orderkit.watch.health import summary_difference

    summary = read_summary(path, field="--reconciliation")
    try:
        summary_difference(summary)
    except ValidationError as error:
        raise ValidationError("--reconciliation", path,
                              f"not the report of one reconciliation: {error}") from error
    return summary


def _health(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteSyncStore, SQLiteWatchState
    from orderkit.model.time import AccountingPeriod, accounting_period
    from orderkit.watch import carrier_report, health
    from orderkit.watch.page import write_health_page

    now = datetime.now(UTC) if args.now is None else _option_instant("--now", args.now)
    day = accounting_period(now) if args.period is None else _health_period(args.period)
    retries = None if args.retries is None else _health_retries(args.retries)
    reconciliation: Money | Mapping[str, object] | None = None
    if args.reconciliation_difference is not None:
        reconciliation = _health_difference(args.reconciliation_difference)
    elif args.reconciliation is not None:
        reconciliation = _health_reconciliation(args.reconciliation)
    if _order_database(args.db) is None:
        return EXIT_FILE
    month = AccountingPeriod("month", day.start.replace(day=1), day.tz)
    repository = SQLiteOrderRepository(args.db)
    if retries is None:  # what the file's outbox records: its deliveries in the period
        retries = repository.delivery_counts(*day.bounds())
    synced = repository.database.schema_version("sync") > 0
    report = health(repository, day, reconciliation, now=now, retries=retries,
                    lags=SQLiteSyncStore(args.db) if synced else ())
    carriers = carrier_report(repository, month, now=now)
    state = SQLiteWatchState(args.db)
    with state.cycle() as episodes:
        alerts = list(episodes.values())
    resolved = state.history(since=month.bounds()[0], limit=500)
    page = write_health_page(args.out, report, carriers, alerts, resolved=resolved)
    print(f"health {day.label}: index {report.index_text}, {len(report.alerts)} KPI(s) past"
          f" their threshold; {page}", flush=True)
    lag = ", ".join(f"{name} {value}" for name, value in report.lag.items())
    print(f"sync lag: {lag or 'not measured'}; retry rate:"
          f" {report.kpi('retry_rate').detail}; reconciliation difference:"
          f" {_shown(report.kpi('reconciliation_difference'))}", flush=True)
    return EXIT_OK


def _shown(kpi: Kpi) -> str:
    return "not measured" if kpi.value is None else f"{kpi.value} {kpi.unit}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; subcommands register themselves here."""
    parser = _Parser(
        prog="orderkit",
        description="Keep orders out of grey states.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"orderkit {__version__}")
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an unexpected error, print the Python traceback instead of one line",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the end-to-end story on SQLite")
    demo.add_argument("--db", metavar="PATH", help="SQLite file to use (default: a temp file)")
    demo.set_defaults(handler=_demo)
    from orderkit.mapping.cli import add_commands as add_mapping_commands

    add_mapping_commands(commands)  # normalize, check-mapping
    from orderkit.reconcile.cli import add_reconcile_command

    add_reconcile_command(commands)  # reconcile
    from orderkit.lifecycle.cli import add_lifecycle_command

    add_lifecycle_command(commands)  # lifecycle-table
    watch = commands.add_parser(
        "watch", help="run the watch rules (orders, sync lag, outbox lag, dead letters,"
        " parked stock releases) over a SQLite order database and send alerts")
    watch.add_argument("--db", metavar="PATH", dest="watch_db",
                       help="the orders' SQLite file (required without an ACTION; an"
                       " ACTION names its own database after it, and refuses this one)")
    when = watch.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="one cycle, then exit (default)")
    when.add_argument("--every", metavar="SECONDS", type=_watch_interval,
                      help=f"a cycle every SECONDS ({_WATCH_EVERY_MIN:g} to"
                      f" {_WATCH_EVERY_MAX:g}) until interrupted")
    watch.add_argument("--webhook", metavar="URL",
                       help="POST each alert as JSON here (default: one line on stdout)")
    watch.set_defaults(handler=_watch, parser=watch)
    watch_actions = watch.add_subparsers(dest="watch_command", metavar="ACTION")
    _add_purge_command(
        watch_actions, _watch_purge, "episodes", "a resolved episode",
        help="delete the alert episodes resolved more than a span ago (the history)",
        description="Delete the alert episodes of an order database's watch history (a"
        " SQLite file, or a PostgreSQL schema) that were resolved more than --older-than"
        " ago, --batch at a time, each batch a short transaction of its own (watcher"
        " cycles run between them). Open alerts are kept, however old. The health page"
        " then shows at most the retained span of resolved alerts; no KPI reads them."
        " Run it from cron (daily).")
    wave = commands.add_parser(
        "wave", help="plan a shipping wave from a SQLite order database and say why each"
        " paid order was left out")
    wave.add_argument("--db", metavar="PATH", required=True, help="the orders' SQLite file")
    wave.add_argument("--policy", metavar="FILE", help="a TOML wave policy ([wave] table)")
    wave.add_argument("--at", metavar="ISO", help="plan as of this ISO 8601 instant, with"
                      " its UTC offset, like 2026-03-02T20:00:00+08:00 (default: now)")
    wave.add_argument("--limit", metavar="N", type=_wave_limit, default=100_000,
                      help="the most orders of each kind to consider (oldest first):"
                      " paid, packed, cash on delivery, partly shipped")
    wave.set_defaults(handler=_wave)
    from orderkit.sync.cli import add_sync_commands

    add_sync_commands(commands, _open_sync)  # sync, backfill
    letters = commands.add_parser(
        "dead-letters", help="list, replay or drop the dead letters of a SQLite order database",
        description="List what failed for good in a SQLite order database: the platform"
        " payloads sync could not map or store, and the outbox messages that used up their"
        " attempts, each with its error. --replay runs the sync letters through sync again"
        " (dropped once they apply; not on a file that keeps stock, whose replay must lock"
        " it through the host's ledger) and puts the dead outbox messages back in line for"
        " the relay; --drop removes one letter a person has dealt with (a sync letter, or"
        " an outbox message, then marked delivered and never applied). On a file that"
        " keeps stock it also lists the releases the ledger's breaker parked that nobody"
        " approved yet (a cancel's units still locked; the host's ledger approves them)."
        " Exits 1 while any letter or parked release waits.")
    letters.add_argument("--db", required=True, metavar="PATH", help="the orders' SQLite file")
    letters.add_argument("--replay", action="store_true",
                         help="replay every sync letter; requeue every dead outbox message")
    letters.add_argument("--drop", metavar="ID", help="drop this dead letter")
    letters.set_defaults(handler=_dead_letters)
    page = commands.add_parser(
        "health", help="write the health page of a SQLite order database (one HTML file)")
    page.add_argument("--db", metavar="PATH", required=True, help="the orders' SQLite file")
    page.add_argument("--out", metavar="FILE", required=True, help="the page to write")
    page.add_argument("--period", metavar="PERIOD",
                      help="YYYY-MM-DD (a day) or YYYY-MM (a month); default: today")
    page.add_argument("--now", metavar="INSTANT",
                      help="measure as of this ISO 8601 instant, with its UTC offset"
                      " (default: now)")
    page.add_argument("--retries", metavar="RETRIED/ATTEMPTED",
                      help="the period's retried and attempted calls, like 12/400 (default:"
                      " the outbox deliveries of the messages created in the period)")
    money = page.add_mutually_exclusive_group()
    money.add_argument("--reconciliation", metavar="FILE",
                       help="the day's JSON report of orderkit reconcile (--out report.json)")
    money.add_argument("--reconciliation-difference", metavar="AMOUNT",
                       help="the day's reconciliation difference, like 123.45 or '123.45 CNY'")
    page.set_defaults(handler=_health)
    outbox = commands.add_parser(
        "outbox", help="keep the outbox of an order database bounded (purge)")
    outbox_actions = outbox.add_subparsers(dest="outbox_command", metavar="ACTION",
                                           required=True)
    _add_purge_command(
        outbox_actions, _outbox_purge, "messages", "a delivered message",
        help="delete the outbox messages delivered more than a span ago",
        description="Delete the outbox messages of an order database (a SQLite file,"
        " or a PostgreSQL schema) that were delivered more than --older-than ago, --batch"
        " at a time, each batch a short transaction of its own (the relay and the shop"
        " write between them). Pending and dead messages are kept, however old. Run it"
        " from cron (daily); the database reuses the space freed.")
    from orderkit.adapters.postgres.cli import add_db_command

    add_db_command(commands)  # db upgrade
    # (commands are registered above this line)
    for command in commands.choices.values():
        command.epilog = _EPILOG
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code (``EXIT_CODES``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Command | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(args)
    except StoreError as error:  # the command's database file
        _say(f"orderkit: {type(error).__name__}: {error}")
        return EXIT_FILE
    except OrderkitError as error:
        _say(f"orderkit: {type(error).__name__}: {error}")
        return EXIT_REFUSED
    except OSError as error:
        _say(_file_problem(error))
        return EXIT_FILE
    except KeyboardInterrupt:
        _say("orderkit: interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: one line, unless the caller asked for the trace
        if args.traceback:
            raise
        _say(
            f"orderkit: internal error: {type(error).__name__}: {error}"
            " (run again with --traceback to see where)"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
