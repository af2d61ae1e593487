"""``orderkit demo``: the whole story on the embedded SQLite default.

Each chapter replays one way orders go grey in real shops, and how orderkit keeps them
out of it. The chapters share one SQLite file (a temporary one unless ``--db`` is given)
and one manual clock, so the run is the same every time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import attrs

from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteReconIdSequence
from orderkit.model.ids import parse_recon_id
from orderkit.model.money import Money
from orderkit.model.orders import (
    Address,
    Adjustment,
    AdjustmentKind,
    Bearer,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    Shipment,
    status_name,
)
from orderkit.model.time import accounting_date, parse_timestamp
from orderkit.numbering import ReconIdIssuer
from orderkit.testing.clock import ManualClock

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from orderkit.inventory import InventoryLedger
    from orderkit.lifecycle import OrderService
    from orderkit.sync.ports import SyncStore

__all__ = ["Story", "demo_files", "run_demo"]


@attrs.define
class Story:
    """What every chapter gets: where to write, the database file and the clock."""

    out: TextIO
    db_path: Path
    clock: ManualClock
    chapter: int = 0

    def say(self, text: str = "") -> None:
        """Print one line of the narrative."""
        print(text, file=self.out)

    def title(self, text: str) -> None:
        """Print the next numbered chapter heading."""
        self.chapter += 1
        heading = f"{self.chapter}. {text}"
        self.say()
        self.say(heading)
        self.say("-" * len(heading))


def chapter_orders(story: Story) -> None:
    """Two channels, one canonical order type, recon ids, save and reload."""
    story.title("Two channels, one order shape")
    repository = SQLiteOrderRepository(story.db_path)
    issuer = ReconIdIssuer(SQLiteReconIdSequence(story.db_path), clock=story.clock)

    # Tmall sends Beijing time without an offset; it is stored in UTC.
    tmall_created = parse_timestamp("2026-02-16 00:30:00", source_tz="Asia/Shanghai")
    tmall = Order(
        order_id="ORD-1001",
        channel="tmall",
        channel_order_id="3698512204871532841",
        lines=[
            OrderLine("1", "TEA-OOLONG-250G", 2, Money("89.00", "CNY")),
            OrderLine("2", "CUP-CELADON", 1, Money("45.50", "CNY")),
        ],
        created_at=tmall_created,
        recon_id=issuer.issue("SO", at=tmall_created),
        ship_to=Address(name="张*", phone="138****5678", province="浙江省", city="杭州市"),
        adjustments=[
            Adjustment(AdjustmentKind.SHIPPING, Money("8.00", "CNY"), borne_by=Bearer.BUYER),
            Adjustment(AdjustmentKind.COUPON, Money("20.00", "CNY"), borne_by=Bearer.PLATFORM),
        ],
    )
    pos_created = story.clock.now()
    pos = Order(
        order_id="ORD-1002",
        channel="pos",
        channel_order_id="STORE7-0009",
        lines=[OrderLine("1", "TEA-OOLONG-250G", 1, Money("89.00", "CNY"))],
        created_at=pos_created,
        recon_id=issuer.issue("SO", at=pos_created),
    )
    for order in (tmall, pos):
        repository.save(order, expected_version=None)

    for order_id in ("ORD-1001", "ORD-1002"):
        order = repository.get(order_id)
        totals = order.totals
        recon = parse_recon_id(order.recon_id or "")
        story.say(
            f"{order.channel:>6} {order.channel_order_id:<20} recon id {order.recon_id}"
            f" (accounting day {recon.on})"
        )
        story.say(
            f"       goods {totals.goods.amount} + shipping {totals.shipping.amount}"
            f" - discounts {totals.discounts.amount} = payable {totals.payable.amount}"
            f" {order.currency}; platform refunds the merchant"
            f" {totals.platform_funded.amount}"
        )
    story.say(
        f"Tmall's '2026-02-16 00:30:00' (Beijing) is stored as {tmall.created_at.isoformat()}"
        f" and books on {accounting_date(tmall.created_at)}."
    )


def chapter_sync(story: Story) -> None:
    """A mixed feed through one path: a duplicate, a stale update, a malformed payload."""
    import copy
    import json
    from importlib import resources

    from orderkit.adapters.sqlite import SQLiteSyncStore
    from orderkit.lifecycle import OrderService
    from orderkit.sync import Sync, SyncReport

    story.title("Sync: webhooks, polls and backfills converge on one stored order")
    samples = resources.files("orderkit.mapping").joinpath("samples")
    tmall = json.loads(samples.joinpath("tmall.json").read_text(encoding="utf-8"))
    jd = json.loads(samples.joinpath("jd.json").read_text(encoding="utf-8"))
    shipped = dict(copy.deepcopy(jd), orderState="WAIT_GOODS_RECEIVE_CONFIRM",
                   waybill="JDVA21738465902", modified="2026-02-16 11:40:00")
    older = dict(copy.deepcopy(tmall), status="WAIT_BUYER_PAY", modified="2026-02-16 00:10:00")
    malformed = dict(copy.deepcopy(tmall), tid=3698512204871539999,
                     tid_str="3698512204871539999", status="WAIT_PRE_AUTH_CONFIRM")
    feed = [
        ("tmall", tmall, "webhook"),
        ("jd", jd, "webhook"),
        ("jd", jd, "poll (the same version again)"),
        ("jd", shipped, "webhook (shipped)"),
        ("tmall", older, "backfill (an older version)"),
        ("tmall", malformed, "webhook (a status the map does not know)"),
    ]
    # A shop of its own, beside the demo's file: chapter 1 stored the Tmall sample
    # already, and this chapter's orders stay out of the other chapters' counts.
    path = demo_files(story.db_path)[1]
    repository = SQLiteOrderRepository(path)
    store = SQLiteSyncStore(path)
    sync = Sync(repository, OrderService(repository, clock=story.clock), store=store,
                clock=story.clock)
    total = SyncReport()
    for platform, payload, how in feed:
        report = sync.receive(platform, payload, received_at=story.clock.now())
        total += report
        (outcome,) = (name for name, count in attrs.asdict(report).items() if count)
        order_id = payload.get("tid_str") or payload.get("orderId")
        story.say(f"{platform:<6} {order_id:<20} {how:<42} -> {outcome}")
    story.say(f"SyncReport: {total.summary()}")
    for channel, channel_order_id in (("tmall", tmall["tid_str"]), ("jd", jd["orderId"])):
        order = repository.find_by_channel(channel, channel_order_id)
        if order is not None:
            waybills = ", ".join(s.waybill for s in order.shipments) or "-"
            story.say(f"stored {order.order_id}: {status_name(order.status)},"
                      f" waybill {waybills}")
    for letter in store.dead_letters():
        story.say(f"dead letter {letter.letter_id[:22]}... ({letter.attempts} attempt):"
                  f" {letter.error}")
    story.say("Nothing was dropped: the bad payload waits, whole, in this chapter's shop"
              " (named on the first line) for a map fix and replay_dead_letters();"
              " `orderkit dead-letters --db` on that file lists it.")
    _waiting_for_stock(story, repository, store, path, samples)


def _waiting_for_stock(
    story: Story, repository: SQLiteOrderRepository, store: SyncStore, path: Path,
    samples: Traversable,
) -> None:
    """A Pinduoduo order the shelf cannot cover: sold already, so stored waiting for
    stock, told to the host, and reserved once the goods come in."""
    import json

    from orderkit.adapters.sqlite import SQLiteInventoryStore
    from orderkit.inventory import InventoryLedger
    from orderkit.lifecycle import OrderService
    from orderkit.sync import Sync

    pdd = json.loads(samples.joinpath("pdd.json").read_text(encoding="utf-8"))
    ledger = InventoryLedger(SQLiteInventoryStore(path),
                             secret=b"demo-secret-not-for-production", clock=story.clock)
    for sku, units in (("TEA-OOLONG-250G", 10), ("CUP-CELADON", 5), ("TRAY-MINI", 1)):
        ledger.receive(sku, units, reference=f"PO-{sku}")
    sent: list[object] = []
    service = OrderService(repository, inventory=ledger, clock=story.clock,
                           sink=_Told(sent))
    sync = Sync(repository, service, store=store, clock=story.clock)
    report = sync.receive("pdd", pdd, received_at=story.clock.now())
    order = repository.find_by_channel("pdd", pdd["order_sn"])
    assert order is not None
    story.say(f"pdd    {pdd['order_sn']} paid, 3 bamboo trays wanted, 1 on the shelf"
              f" -> {report.summary()}")
    (refused,) = (e for e in repository.audit_trail(order.order_id) if e.outcome == "refused")
    shortages = "; ".join(f"{sku} {text}" for _f, sku, text in refused.changes)
    story.say(f"stored {order.order_id}: {status_name(order.status)}, lock"
              f" {order.lock_id or 'none'} (waiting for stock: {shortages}); the host was"
              f" told: {', '.join(getattr(m, 'topic', '?') for m in sent)}")
    # The trays come in later that morning, after the order (created 04:00 UTC): a
    # reserve is dated by when it happens, never before the order existed.
    story.clock.advance(timedelta(hours=3))
    ledger.receive("TRAY-MINI", 6, reference="PO-TRAY-2")
    refused_now = service.reserve([order.order_id], at=story.clock.now())
    reserved = repository.get(order.order_id)
    tray = ledger.stock("TRAY-MINI")
    story.say(f"6 trays come in; reserve() -> {'refused' if refused_now else 'locked'}:"
              f" lock {'held' if reserved.lock_id else 'none'}, TRAY-MINI locked {tray.locked},"
              f" available {tray.available}; the paid order's lock is confirmed and never"
              f" lapses.")


class _Told:
    """The demo host's event sink: it keeps what it is told."""

    def __init__(self, sent: list[object]) -> None:
        self.sent = sent

    def publish(self, events: Sequence[object]) -> None:
        self.sent.extend(events)


def chapter_idempotency(story: Story) -> None:
    """A "confirm receipt" delivered 17 times by a retrying job is applied once."""
    from datetime import timedelta

    from orderkit.adapters.sqlite import SQLiteIdempotencyStore
    from orderkit.idempotency import Idempotency, RetryPolicy, fingerprint

    story.title("Idempotency: a retried confirmation is applied once")
    repository = SQLiteOrderRepository(story.db_path)
    repository.save(
        Order(
            order_id="ORD-1401",
            channel="jd",
            channel_order_id="JD-88412907",
            lines=[OrderLine("1", "TEA-OOLONG-250G", 1, Money("89.00", "CNY"))],
            created_at=story.clock.now(),
        ),
        expected_version=None,
    )
    guard = Idempotency(SQLiteIdempotencyStore(story.db_path), clock=story.clock)
    policy = RetryPolicy(timedelta(seconds=1), 2, 17, timedelta(seconds=8), 0)
    applied: list[int] = []

    def confirm_receipt() -> int:
        order = repository.get("ORD-1401")
        confirmed = attrs.evolve(
            order, tags=order.tags | {"receipt-confirmed"}, version=order.version + 1
        )
        repository.save(confirmed, expected_version=order.version)
        applied.append(confirmed.version)
        return confirmed.version

    key = fingerprint("order.confirm-receipt", "ORD-1401")
    versions: set[int] = set()
    for attempt, wait in policy.attempts():
        story.clock.advance(wait)
        versions.add(
            guard.run(
                key, {"order_id": "ORD-1401"}, confirm_receipt, lease=policy.lock_ttl(attempt)
            )
        )
    story.say(
        f"A retrying job delivered 'confirm receipt' for ORD-1401 {policy.max_attempts}"
        f" times; it was applied {len(applied)} time(s), and every delivery was answered"
        f" with version {', '.join(str(v) for v in sorted(versions))}."
    )
    story.say(
        f"Each attempt's lease is attempt x {policy.base.seconds}s"
        f" (attempt 17: {policy.lock_ttl(17).seconds}s), so no lock expires under a retry."
    )


def chapter_inventory(story: Story) -> None:
    """The oversell incident replayed: partial cancel, last units, forged id, breaker."""
    from datetime import timedelta

    from orderkit.adapters.sqlite import SQLiteInventoryStore
    from orderkit.inventory import InventoryLedger
    from orderkit.model.errors import InsufficientStock, InvalidLock

    story.title("Inventory: a partial cancel returns exactly what was cancelled")
    ledger = InventoryLedger(
        SQLiteInventoryStore(story.db_path),
        secret=b"demo-secret-not-for-production",
        clock=story.clock,
        release_limit=20,  # a breaker set low: a small shop's 20 releases of a SKU an hour
    )

    def _level(_ledger: InventoryLedger, sku: str) -> str:
        level = _ledger.stock(sku)
        return f"on hand {level.on_hand}, locked {level.locked}, available {level.available}"

    sku = "VASE-CELADON"
    ledger.receive(sku, 10, reference="PO-2026-0216")
    a = ledger.lock("ORD-2001", {sku: 10}, ttl=timedelta(minutes=30))
    story.say(f"Stock {sku}: 10. Order A (ORD-2001) locks 10 -> {_level(ledger, sku)}.")
    ledger.release(a.lock_id, {sku: 3})
    story.say(f"A cancels 3 of its 10 by line; exactly 3 return -> {_level(ledger, sku)}.")
    ledger.lock("ORD-2002", {sku: 3}, ttl=timedelta(minutes=30))
    story.say(f"Order B (ORD-2002) locks 3 and succeeds -> {_level(ledger, sku)}.")
    try:
        ledger.lock("ORD-2002", {sku: 1}, ttl=timedelta(minutes=30))
    except InsufficientStock as refused:
        wanted, available = refused.shortages[sku]
        story.say(f"B asks for 1 more: refused (wanted {wanted}, available {available}).")
    forged = a.lock_id[:-4] + ("AAAA" if not a.lock_id.endswith("AAAA") else "BBBB")
    try:
        ledger.release(forged)
    except InvalidLock as refused:
        story.say(f"A release with a forged lock id: refused ({refused.reason}).")
    story.say(f"Still {_level(ledger, sku)}: nothing was oversold or stranded.")

    burst = "KETTLE-1L"
    ledger.receive(burst, 30, reference="PO-2026-0216")
    locks = [ledger.lock(f"ORD-21{n:02}", {burst: 1}, ttl=timedelta(hours=2)) for n in range(21)]
    outcomes = [ledger.release(lock.lock_id).outcome for lock in locks]
    parked = ledger.pending_review()
    story.say(
        f"A runaway script releases 21 {burst} locks in a minute: {outcomes.count('released')}"
        f" released, the 21st {outcomes[-1]} for review ({len(parked)} pending)."
    )
    ledger.approve_release(parked[0].entry_id, actor="ops-lead")
    story.say(
        f"ops-lead approves it -> {_level(ledger, burst)}; ledger verified clean:"
        f" {ledger.verify().ok}."
    )

    # Going live: the stock was counted this morning; the old system hands over a
    # shipped order from last week and a sale handed over at the counter since.
    from orderkit.lifecycle import OrderService

    counted = story.clock.now() - timedelta(hours=1)
    jar = "JAR-PUER"
    ledger.receive(jar, 12, reference="opening count")
    service = OrderService(
        SQLiteOrderRepository(story.db_path), inventory=ledger, clock=story.clock,
        stock_counted_at=counted,
    )
    for order_id, units, when, channel in (
        ("ORD-2201", 2, counted - timedelta(days=6), "tmall"),
        ("POS-0001", 1, story.clock.now(), "pos"),
    ):
        price = Money("128.00", "CNY")
        service.place(Order(
            order_id=order_id, channel=channel, channel_order_id=f"C-{order_id}",
            lines=[OrderLine("1", jar, units, price, quantities={LineStatus.SHIPPED: units})],
            created_at=when, status=OrderStatus.SHIPPED, paid_at=when,
            payments=[Payment(f"P-{order_id}", price * units, when)],
            shipments=[Shipment(f"S-{order_id}", "SF", f"SF{order_id[-4:]}",
                                {"1": units}, shipped_at=when)],
        ))
    ledger.restock({jar: 1}, order_id="ORD-2201", ref="rma-2201")
    story.say(
        f"Going live: {jar} counted at 12; last week's ORD-2201 (2 shipped before the"
        f" count) is recorded, not taken again; a counter sale takes 1; one of ORD-2201's"
        f" jars comes back -> {_level(ledger, jar)}; ledger agrees with the orders:"
        f" {ledger.verify(shipped={'ORD-2201': {jar: 2}, 'POS-0001': {jar: 1}}).ok}."
    )


def chapter_reconcile(story: Story) -> None:
    """Month end: ERP, POS and bank matched in one pass, every difference explained."""
    from orderkit.reconcile import Record, reconcile_many

    story.title("Month end: three systems, one answer")

    def at(text: str) -> datetime:
        return parse_timestamp(text, source_tz="Asia/Shanghai")

    def cny(text: str) -> Money:
        return Money(text, "CNY")

    erp = [
        Record(
            "erp",
            "SO20260228000001",
            "SO20260228000001",
            cny("89.00"),
            at("2026-03-01 00:05:00"),
            memo="keyed in after midnight",
        ),
        Record(
            "erp", "SO20260228000002", "SO20260228000002", cny("170.00"), at("2026-02-28 10:02:00")
        ),
        Record(
            "erp", "SO20260228000003", "SO20260228000003", cny("45.50"), at("2026-02-28 11:15:00")
        ),
    ]
    pos = [
        Record("pos", "STORE7-0031", "SO20260228000001", cny("89.00"), at("2026-02-28 23:55:00")),
        Record("pos", "STORE7-0032", "SO20260228000002", cny("170.00"), at("2026-02-28 10:01:30")),
    ]
    bank = [
        Record(
            "bank",
            "CMB0301-0001",
            None,
            cny("170.00"),
            at("2026-02-28 16:30:00"),
            memo="货款 SO 2026 0228 000002",
        ),
        Record(
            "bank",
            "CMB0301-0002",
            None,
            cny("45.50"),
            at("2026-02-28 16:31:00"),
            memo="付款ＳＯ２０２６０２２８０００００３",
        ),
    ]
    cutoff = at("2026-03-01 00:00:00")
    result = reconcile_many({"erp": erp, "pos": pos, "bank": bank}, cutoff=cutoff)
    for row in result.matrix():
        cells = ", ".join(
            f"{cell.source} {cell.status}"
            + (f" ({cell.kind})" if cell.kind and cell.kind != cell.status else "")
            for cell in row.cells
        )
        story.say(f"{row.key}: {cells}")
        story.say(f"    trace: {' -> '.join(str(step) for step in row.trace)}")
    for name, pair in result.pairs.items():
        summary = pair.summary()
        kinds = summary["by_kind"]
        assert isinstance(kinds, dict)
        found = ", ".join(f"{kind} x{body['outcomes']}" for kind, body in kinds.items())
        story.say(
            f"erp vs {name}: match rate {float(summary['match_rate']):.0%};"  # type: ignore[arg-type]
            f" outcomes by kind: {found or 'none'}"
        )
    story.say("The bank memos with spaces and full-width digits matched; the sale keyed in")
    story.say("after midnight is a cross_period difference, not a lost sale.")


def chapter_mapping(story: Story) -> None:
    """Four marketplaces, four payload shapes, one canonical order each, side by side."""
    import json
    from importlib import resources

    from orderkit.mapping import normalize

    story.title("Mapping: Tmall, JD, Pinduoduo and Douyin into one order shape")
    samples = resources.files("orderkit.mapping").joinpath("samples")
    story.say(
        f"{'platform':<8} {'channel order id':<23} {'status':<8} {'paid at (UTC)':<17}"
        f" {'goods':>7} {'ship':>5} {'disc':>6} {'payable':>7} {'platform':>8}"
    )
    for platform in ("tmall", "jd", "pdd", "douyin"):
        payload = json.loads(samples.joinpath(f"{platform}.json").read_text(encoding="utf-8"))
        order = normalize(platform, payload)
        totals = order.totals
        paid = order.paid_at.strftime("%Y-%m-%d %H:%M") if order.paid_at else "-"
        story.say(
            f"{platform:<8} {order.channel_order_id:<23} {status_name(order.status):<8} {paid:<17}"
            f" {totals.goods.amount:>7} {totals.shipping.amount:>5}"
            f" {totals.discounts.amount:>6} {totals.payable.amount:>7}"
            f" {totals.platform_funded.amount:>8}"
        )
    story.say("Yuan strings, yuan floats and integer fen became the same exact Money; Beijing")
    story.say("text and unix seconds the same UTC instants; every payable matched the platform's.")


def chapter_lifecycle(story: Story) -> None:
    """A lost ``ship`` event fixed by a carrier scan, a replayed confirmation, a partial
    cancel that moves only the named units."""
    from datetime import timedelta

    from orderkit.adapters.sqlite import SQLiteOrderRepository as Orders
    from orderkit.lifecycle import Event, OrderService, ReceivableDue

    story.title("Lifecycle: no order stays grey")
    service = OrderService(Orders(story.db_path), clock=story.clock)
    now = story.clock.now()
    service.place(
        Order(
            order_id="ORD-1501",
            channel="douyin",
            channel_order_id="DY-5017730021",
            lines=[
                OrderLine("1", "TEA-OOLONG-250G", 2, Money("89.00", "CNY")),
                OrderLine("2", "CUP-CELADON", 5, Money("45.50", "CNY")),
            ],
            created_at=now,
        )
    )
    service.handle(
        "ORD-1501",
        Event("pay", event_id="wx-pay-1", at=now, data={"amount": Money("405.50", "CNY")}),
    )
    story.say("ORD-1501 paid. The warehouse's 'ship' callback is lost in a deploy.")
    scan_at = story.clock.advance(timedelta(hours=6))
    scan = service.handle(
        "ORD-1501",
        Event(
            "track",
            event_id="yto-7731-1",
            at=scan_at,
            data={
                "status": "in_transit",
                "carrier_time": scan_at - timedelta(minutes=20),
                "waybill": "YT7731002",
            },
        ),
    )
    due = next(e for e in scan.events if isinstance(e, ReceivableDue))
    story.say(
        f"The carrier's first scan arrives: status {status_name(scan.order.status)}, and"
        f" finance is told {due.amount} is receivable ({due.reason})."
    )
    delivered_at = story.clock.advance(timedelta(days=2))
    service.handle("ORD-1501", Event("deliver", event_id="yto-7731-signed", at=delivered_at))
    confirm = Event("complete", event_id="dy-confirm-1501", at=delivered_at)
    outcomes = [service.handle("ORD-1501", confirm).changed for _ in range(17)]
    stored = service.repository.get("ORD-1501")
    story.say(
        f"'Confirm receipt' delivered 17 times: applied {outcomes.count(True)} time(s);"
        f" the order is {status_name(stored.status)} at version {stored.version}."
    )

    service.place(
        Order(
            order_id="ORD-1502",
            channel="pdd",
            channel_order_id="PDD-260216-1502",
            lines=[OrderLine("1", "CUP-CELADON", 5, Money("45.50", "CNY"))],
            created_at=now,
        )
    )
    cut = service.handle(
        "ORD-1502", Event("cancel_lines", event_id="pdd-cancel-1", at=now, data={"lines": {"1": 2}})
    )
    buckets = {k.value: v for k, v in cut.order.line("1").quantities.items() if v}
    story.say(
        f"ORD-1502 cancels 2 of 5 cups: status {status_name(cut.order.status)}, line 1 {buckets};"
        f" {len(service.repository.audit_trail('ORD-1502'))} audit entry kept."
    )


def chapter_outbox(story: Story) -> None:
    """A cancel whose stock release is lost, a broker that is down: nothing is lost."""
    from datetime import timedelta

    from orderkit.adapters.sqlite import SQLiteInventoryStore
    from orderkit.inventory import InventoryLedger
    from orderkit.lifecycle import Event, OrderService
    from orderkit.outbox import OutboxMessage, OutboxRelay

    story.title("The outbox: a crash or a broker outage loses no effect")
    ledger = InventoryLedger(
        SQLiteInventoryStore(story.db_path),
        secret=b"demo-secret-not-for-production",
        clock=story.clock,
    )
    repository = SQLiteOrderRepository(story.db_path)
    sku = "TEAPOT-ZISHA"
    ledger.receive(sku, 4, reference="PO-2026-0216")

    class Broker:
        """The host's message broker: down at first, then keeping messages by id."""

        def __init__(self) -> None:
            self.up = False
            self.kept: dict[str, OutboxMessage] = {}

        def publish(self, events: Sequence[object]) -> None:
            if not self.up:
                raise ConnectionError("broker unreachable")
            for message in events:
                assert isinstance(message, OutboxMessage)
                self.kept.setdefault(message.message_id, message)

    broker = Broker()
    # The web process saves decisions; a separate relay delivers (deliver=False).
    service = OrderService(
        repository, inventory=ledger, sink=broker, clock=story.clock, deliver=False,
        payment_timeout=timedelta(minutes=30),
    )
    at = story.clock.now()
    service.place(Order(
        order_id="ORD-3001", channel="douyin", channel_order_id="6918201117360010001",
        lines=[OrderLine("1", sku, 3, Money("268.00", "CNY"))], created_at=at,
    ))
    service.handle("ORD-3001", Event("pay", event_id="dy-pay-1", at=at,
                                     data={"amount": Money("804.00", "CNY")}))
    service.handle("ORD-3001", Event("cancel_lines", event_id="cs-3001-1", at=at,
                                     data={"lines": {"1": 2}}))
    level = ledger.stock(sku)
    story.say(
        f"ORD-3001 locks 3 {sku}, is paid, and customer service cancels 2; the process"
        f" dies before any effect is sent: locked {level.locked}, available"
        f" {level.available}, {len(repository.pending(100))} messages waiting in the outbox."
    )
    relay = OutboxRelay(repository, inventory=ledger, sink=broker, clock=story.clock)
    report = relay.run_once()
    level = ledger.stock(sku)
    story.say(
        f"After the restart the relay runs with the broker still down: {report.delivered}"
        f" stock messages applied (locked {level.locked}, available {level.available});"
        f" {report.failed} event delivery failed, and the events wait out their back-off."
    )
    broker.up = True
    story.clock.advance(timedelta(minutes=10))
    report = relay.run_until_idle()
    relay.run_until_idle()
    story.say(
        f"The broker is back: {report.delivered} more delivered, {len(broker.kept)} events"
        f" in the broker, each once; lag now {report.lag.total_seconds():.0f} s;"
        f" ledger verified clean: {ledger.verify().ok}."
    )


def chapter_money(story: Story) -> None:
    """A partial cancel after payment and a 7-day return: the buyer is owed exactly
    their share, and only sellable units go back on sale; then a cup paid by a coupon,
    a return withdrawn, and an exchange that moves no money."""
    from datetime import timedelta

    from orderkit.adapters.sqlite import SQLiteInventoryStore
    from orderkit.inventory import InventoryLedger
    from orderkit.lifecycle import (
        Event,
        LinesCancelled,
        OrderService,
        RefundDue,
        Transition,
    )
    from orderkit.model.orders import Adjustment, AdjustmentKind, Bearer

    story.title("Money: a partial cancel and a 7-day return, to the fen")
    ledger = InventoryLedger(
        SQLiteInventoryStore(story.db_path),
        secret=b"demo-secret-not-for-production",
        clock=story.clock,
    )
    ledger.receive("TEA-LONGJING-250G", 6, reference="PO-2026-0301")
    ledger.receive("CUP-CELADON", 2, reference="PO-2026-0301")
    service = OrderService(SQLiteOrderRepository(story.db_path), inventory=ledger,
                           clock=story.clock)
    at = story.clock.now()
    day = timedelta(days=1)

    def handle(name: str, event_id: str, when: timedelta, **data: object) -> Transition:
        return service.handle("ORD-4001", Event(name, event_id=event_id, at=at + when,
                                                data=data))

    service.place(Order(
        order_id="ORD-4001", channel="tmall", channel_order_id="3698512204871539001",
        lines=[OrderLine("1", "TEA-LONGJING-250G", 2, Money("89.00", "CNY")),
               OrderLine("2", "CUP-CELADON", 1, Money("45.50", "CNY"))],
        adjustments=[Adjustment(AdjustmentKind.COUPON, Money("20.00", "CNY"), Bearer.PLATFORM),
                     Adjustment(AdjustmentKind.SHIPPING, Money("8.00", "CNY"), Bearer.BUYER)],
        created_at=at,
    ))
    handle("pay", "alipay-4001", timedelta(minutes=2), amount=Money("211.50", "CNY"))
    cut = handle("cancel_lines", "cs-4001-1", timedelta(hours=1), lines={"2": 1})
    (gone,) = [e for e in cut.events if isinstance(e, LinesCancelled)]
    story.say(
        f"ORD-4001: 2 tins of tea and a cup, a 20.00 coupon and 8.00 shipping, paid 211.50."
        f" The cup is out of stock and cancelled: {gone.goods.amount} of goods less"
        f" {gone.discounts.amount} of coupon share = {gone.amount.amount} owed back"
        f" (refund due {cut.order.totals.refund_due.amount}); only the cup's lock is"
        f" released (tea locked {ledger.stock('TEA-LONGJING-250G').locked})."
    )
    handle("refund", "alipay-refund-4001-1", timedelta(hours=2), amount=gone.amount)
    handle("ship", "wms-4001", timedelta(hours=5), carrier="SF", waybill="SF4001")
    handle("deliver", "sf-4001-signed", day)
    handle("return_requested", "rma-4001", 3 * day, lines={"1": 2})
    back = handle("return_received", "wms-rx-4001", 5 * day,
                  lines={"1": 2}, sellable={"1": 1})
    (due,) = [e for e in back.events if isinstance(e, RefundDue)]
    handle("refund", "alipay-refund-4001-2", 6 * day, amount=due.amount)
    order = service.repository.get("ORD-4001")
    totals = order.totals
    story.say(
        f"Delivered, then returned within 7 days; one tin came back dented. Owed back"
        f" {due.amount.amount} (178.00 of tea less its coupon share), refunded; tea on hand"
        f" {ledger.stock('TEA-LONGJING-250G').on_hand} (only the sellable tin restocked)."
    )
    story.say(
        f"Paid {totals.paid.amount} - refunded {totals.refunded.amount} - still owed"
        f" {totals.refund_due.amount} = {totals.sold.amount} kept (the shipping the parcel"
        f" used; nothing else is still sold);"
        f" after-sale: {order.after_sale.value}; ledger clean: {ledger.verify().ok}."
    )

    # A cup the platform's coupon pays in full: nothing to pay is paid by 0.00, so the
    # order is PAID and its lock holds; a return asked for and withdrawn owes nothing.
    service.place(Order(
        order_id="ORD-4002", channel="tmall", channel_order_id="3698512204871539002",
        lines=[OrderLine("1", "CUP-CELADON", 1, Money("45.50", "CNY"))],
        adjustments=[Adjustment(AdjustmentKind.COUPON, Money("45.50", "CNY"), Bearer.PLATFORM)],
        created_at=at,
    ))

    def after_sale(name: str, event_id: str, when: timedelta, **data: object) -> Transition:
        return service.handle("ORD-4002", Event(name, event_id=event_id, at=at + when,
                                                data=data))

    paid = after_sale("pay", "tmall-4002", timedelta(minutes=1), amount=Money("0.00", "CNY"))
    story.say(
        f"ORD-4002: a cup the platform's coupon paid in full; a pay of 0.00 makes it"
        f" {status_name(paid.order.status)} (payable {paid.order.totals.payable.amount}), its lock"
        f" holding the cup (locked {ledger.stock('CUP-CELADON').locked})."
    )
    after_sale("ship", "wms-4002", timedelta(hours=5), carrier="SF", waybill="SF4002")
    after_sale("deliver", "sf-4002-signed", day)
    after_sale("return_requested", "rma-4002", 2 * day, lines={"1": 1})
    withdrawn = after_sale("return_cancelled", "rma-4002-withdrawn", 3 * day,
                           reason="buyer withdrew the request").order
    story.say(
        f"Delivered; the buyer asks to return it, then withdraws: after-sale"
        f" {withdrawn.after_sale.value}, refund due {withdrawn.totals.refund_due.amount};"
        f" ledger clean: {ledger.verify().ok}."
    )
    _exchange(story, service, ledger)


def _exchange(story: Story, service: OrderService, ledger: InventoryLedger) -> None:
    """An exchange (换货): the celadon cup comes back and a blue one replaces it, paid
    over by one internal transfer that reconciliation pairs by its reference."""
    from orderkit.lifecycle import Event, RefundDue, Transition
    from orderkit.reconcile import reconcile, records_from_orders

    at = story.clock.now()
    day = timedelta(days=1)
    ledger.receive("CUP-BLUE", 3, reference="PO-2026-0302")

    def handle(order_id: str, name: str, event_id: str, when: timedelta,
               **data: object) -> Transition:
        return service.handle(order_id, Event(name, event_id=event_id, at=at + when,
                                              data=data))

    service.place(Order(order_id="ORD-4003", channel="shop", channel_order_id="4003",
                        lines=[OrderLine("1", "CUP-CELADON", 1, Money("45.50", "CNY"))],
                        created_at=at))
    handle("ORD-4003", "pay", "wx-4003", timedelta(minutes=1), amount=Money("45.50", "CNY"),
           method="wechatpay")
    handle("ORD-4003", "ship", "wms-4003", timedelta(hours=4), carrier="SF",
           waybill="SF4003")
    handle("ORD-4003", "deliver", "sf-4003-signed", day)
    handle("ORD-4003", "return_requested", "rma-4003", 2 * day, lines={"1": 1})
    back = handle("ORD-4003", "return_received", "wms-rx-4003", 3 * day, lines={"1": 1},
                  sellable={"1": 1})
    (owed,) = [e for e in back.events if isinstance(e, RefundDue)]
    original = handle("ORD-4003", "refund", "ex-4003-out", 3 * day, amount=owed.amount,
                      method="exchange", reference="EX-ORD-4003-1").order
    service.place(Order(order_id="ORD-4003-X", channel="shop", channel_order_id="4003-X",
                        lines=[OrderLine("1", "CUP-BLUE", 1, Money("45.50", "CNY"))],
                        created_at=at + 3 * day))
    handle("ORD-4003-X", "pay", "ex-4003-in", 3 * day, amount=owed.amount,
           method="exchange", reference="EX-ORD-4003-1")
    replacement = handle("ORD-4003-X", "ship", "wms-4003-x", 3 * day + timedelta(hours=3),
                         carrier="SF", waybill="SF4003X").order
    legs = [r for r in records_from_orders([original, replacement])
            if r.category == "exchange"]
    paired = reconcile(legs, []).outcomes
    story.say(
        f"ORD-4003: a celadon cup paid {owed.amount.amount} by WeChat, delivered, then"
        f" exchanged for a blue one. The cup comes back sellable (celadon on hand"
        f" {ledger.stock('CUP-CELADON').on_hand}); the {owed.amount.amount} it is owed is"
        f" paid over to the replacement ORD-4003-X by exchange (EX-ORD-4003-1), which"
        f" ships the blue cup (blue on hand {ledger.stock('CUP-BLUE').on_hand})."
    )
    kept = original.totals.sold + replacement.totals.sold
    story.say(
        f"Across the two orders {kept.amount} stays sold and no money moved: the two"
        f" exchange legs pair with each other"
        f" ({', '.join(sorted({o.status + ' by ' + o.rule for o in paired}))}), never"
        f" looked for in a bill; due {original.totals.due.amount} and"
        f" {replacement.totals.due.amount}; ledger clean: {ledger.verify().ok}."
    )


def chapter_fulfilment(story: Story) -> None:
    """A flash-sale order held for its loss, and a wave that says what it left out."""
    from datetime import date, timedelta
    from decimal import Decimal

    from orderkit.costing import CostModel, FeeTable, loss_hold, margin
    from orderkit.fulfilment import WavePolicy, plan_wave
    from orderkit.lifecycle import Actor, Event, OrderService
    from orderkit.model.orders import Adjustment, AdjustmentKind, Bearer

    story.title("Profit and waves: a loss held with its numbers, no order left out silently")

    class Catalog:
        """The purchase price of each SKU (the host's ERP knows it)."""

        def unit_cost(self, sku: str, on: date) -> Money | None:
            return Money("52.00", "CNY") if sku == "TEA-LONGJING-250G" else None

    def fees(channel: str, commission: str, influencer: str = "0") -> FeeTable:
        return FeeTable(channel, date(2026, 1, 1), Decimal(commission), Decimal("0.006"),
                        shipping_cost=Money("6.00", "CNY"), packaging=Money("1.50", "CNY"),
                        influencer_rate=Decimal(influencer))

    costs = CostModel([fees("tmall", "0.05"), fees("douyin", "0.05", "0.20"),
                       fees("pdd", "0.006")], Catalog())
    service = OrderService(SQLiteOrderRepository(story.db_path), clock=story.clock)
    at = story.clock.now()
    bot = Actor("costing-bot")
    placed = []
    for n, (channel, price, coupon) in enumerate(
        (("tmall", "99.00", None), ("douyin", "89.00", None), ("pdd", "79.00", "25.00"))
    ):
        coupons = (
            [Adjustment(AdjustmentKind.COUPON, Money(coupon, "CNY"), Bearer.MERCHANT)]
            if coupon else []
        )
        order = service.place(Order(
            order_id=f"ORD-50{n}", channel=channel, channel_order_id=f"{channel}-50{n}",
            lines=[OrderLine("1", "TEA-LONGJING-250G", 1, Money(price, "CNY"))],
            adjustments=coupons, created_at=at,
            tags={"presale", "ship_from:2026-03-20"} if channel == "douyin" else set(),
        ))
        paid = service.handle(order.order_id, Event(
            "pay", event_id=f"pay-50{n}", at=at, data={"amount": order.totals.payable})).order
        found = margin(paid, costs)
        story.say(f"{paid.order_id} {channel} at {price}: {found.explain()}")
        hold = loss_hold(paid, costs, at=at, actor=bot)
        if hold is not None:
            service.handle(paid.order_id, hold)
            story.say("  -> held loss_making until a second person releases it")
        placed.append(paid.order_id)
    orders = [service.repository.get(order_id) for order_id in placed]
    wave = plan_wave(orders, WavePolicy(), at + timedelta(hours=1))
    story.say(f"Today's in-stock wave takes {', '.join(wave.selected) or 'nothing'}; left out:")
    for order_id, exclusion in sorted(wave.excluded.items()):
        story.say(f"  {order_id}: {exclusion.code.value}: {exclusion.words}")


def chapter_watch(story: Story) -> None:
    """A paid order nobody ships and a parcel with no scan: alerted once, then resolved;
    a payment channel whose callbacks stop: degraded, the fallback named, recovered."""
    from datetime import timedelta

    from orderkit.adapters.sqlite import SQLiteWatchState
    from orderkit.lifecycle import Event, OrderService
    from orderkit.model.alerts import Alert
    from orderkit.watch import ChannelHealth, PaymentStatus, Watcher

    story.title("Watch: no grey state unnoticed, no alert storm")
    told: list[Alert] = []

    class Lead:
        """The warehouse lead's phone."""

        def notify(self, alert: Alert) -> None:
            told.append(alert)

    # A shop of its own, beside the demo's file, so the earlier chapters' orders stay quiet.
    fresh = demo_files(story.db_path)[2]
    repository = SQLiteOrderRepository(fresh)
    service = OrderService(repository, clock=story.clock)
    watcher = Watcher(repository, Lead(), clock=story.clock, state=SQLiteWatchState(fresh))
    start = story.clock.now()
    for n in (1, 2):
        order = service.place(Order(
            order_id=f"ORD-600{n}", channel="jd", channel_order_id=f"J-600{n}",
            lines=[OrderLine("1", "TEA-LONGJING-250G", 1, Money("89.00", "CNY"))],
            created_at=start,
        ))
        service.handle(order.order_id, Event("pay", event_id=f"jd-pay-{n}", at=start,
                                             data={"amount": Money("89.00", "CNY")}))
    service.handle("ORD-6002", Event("ship", event_id="wms-6002", at=start,
                                     data={"carrier": "YTO", "waybill": "YT6002"}))
    for minutes in (4, 6, 30, 90):
        story.clock.set(start + timedelta(minutes=minutes))
        watcher.run_once()
    story.say(f"90 minutes of cycles every few minutes: {len(told)} alert(s):"
              f" {'; '.join(a.message for a in told)}")
    scan = Event("track", event_id="yto-scan-1", at=story.clock.now(),
                 data={"status": "in_transit", "carrier_time": story.clock.now()})
    service.handle("ORD-6002", scan)
    story.clock.set(start + timedelta(hours=25))
    report = watcher.run_once()
    story.say(f"The first scan arrives: {', '.join(a.key for a in report.resolved)} resolved;"
              f" a day on, {', '.join(a.key for a in report.raised)} raised for the paid"
              f" order nobody shipped, once ({len(watcher.run_once().raised)} more next cycle).")

    class WechatQuery:
        """WeChat Pay's query-order API, as the host wraps it: every order was paid."""

        def query(self, order: Order) -> PaymentStatus:
            return PaymentStatus.PAID

    state = SQLiteWatchState(fresh)
    channels = ChannelHealth(Lead(), gateways={"wechat_pay": WechatQuery()},
                             fallbacks={"wechat_pay": "alipay"}, clock=story.clock,
                             state=state)
    paid_at = story.clock.now()
    for n in (1, 2, 3, 4):
        order = service.place(Order(
            order_id=f"ORD-610{n}", channel="jd", channel_order_id=f"J-610{n}",
            lines=[OrderLine("1", "TEA-LONGJING-250G", 1, Money("89.00", "CNY"))],
            created_at=paid_at,
        ))
        if n < 4:  # the buyer's app says "paid"; the callback never comes
            channels.expect(order, "wechat_pay", paid_at + timedelta(minutes=n))
    story.clock.set(paid_at + timedelta(minutes=10))
    checked = channels.check()
    (down,) = checked.raised
    queried = ", ".join(f"{order_id} {answer}" for order_id, _channel, answer in checked.queried)
    fallback = next(part for part in down.message.split("; ") if "fallback" in part)
    story.say(f"WeChat Pay: {len(down.order_ids)} callbacks missing in a row: {down.key}"
              f" raised ({down.severity}, to {down.route_to}: {fallback}); checkout now offers"
              f" {channels.channel_for('wechat_pay')}; active queries: {queried}.")
    story.clock.set(paid_at + timedelta(minutes=12))
    channels.expect(repository.get("ORD-6104"), "wechat_pay", story.clock.now())
    channels.callback("ORD-6104", story.clock.now() + timedelta(seconds=3))
    story.clock.set(paid_at + timedelta(minutes=13))
    (back,) = channels.check().resolved
    kept = ", ".join(episode.key for episode in state.history())
    story.say(f"A callback arrives again: {back.message}; checkout offers"
              f" {channels.channel_for('wechat_pay')} again. Resolved alerts kept: {kept}.")


#: The chapters in reading order. Each takes the shared :class:`Story`.
CHAPTERS: list[Callable[[Story], None]] = [
    chapter_orders,
    chapter_sync,
    chapter_mapping,
    chapter_lifecycle,
    chapter_idempotency,
    chapter_inventory,
    chapter_outbox,
    chapter_money,
    chapter_fulfilment,
    chapter_watch,
    chapter_reconcile,
    # (chapters are added above this line)
]


def demo_files(db_path: Path) -> tuple[Path, Path, Path]:
    """The files the demo writes for ``db_path``: the shop itself, and beside it the
    sync chapter's shop and the watch chapter's (shops of their own, so that each
    chapter's counts are its own)."""
    return (db_path, db_path.with_name(db_path.stem + "-sync.db"),
            db_path.with_name(db_path.stem + "-watch.db"))


def run_demo(out: TextIO, db_path: Path | None = None) -> Path:
    """Run every chapter, writing the narrative to ``out``; returns the database path."""
    if db_path is None:
        db_path = Path(tempfile.mkdtemp(prefix="orderkit-demo-")) / "orderkit.db"
    story = Story(
        out=out, db_path=db_path, clock=ManualClock(datetime(2026, 2, 16, 2, 0, tzinfo=UTC))
    )
    _shop, synced, watched = demo_files(db_path)
    story.say(f"orderkit demo on {db_path} (and beside it {synced.name}, {watched.name}: the"
              " sync and watch chapters' own shops)")
    for chapter in CHAPTERS:
        chapter(story)
    story.say()
    story.say("No order was left in a grey state.")
    return db_path
