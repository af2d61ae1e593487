"""Hostile input at every public entry point: only ``OrderkitError`` comes out, and a
refused call leaves every store (memory and SQLite) exactly as it was.

Hostile means lone surrogates (valid JSON, not UTF-8), NUL, right-to-left marks,
100k-character strings, spreadsheet formula prefixes, integers beyond 64 bits, negative
quantities, NaN/Infinity Decimals, floats where a Decimal belongs, and naive or extreme
datetimes, put one at a time into a field of an otherwise valid call.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit.adapters.memory import (
    MemoryIdempotencyStore,
    MemoryInventoryStore,
    MemoryOrderRepository,
)
from orderkit.adapters.sqlite import (
    SQLiteIdempotencyStore,
    SQLiteInventoryStore,
    SQLiteOrderRepository,
)
from orderkit.idempotency import Idempotency
from orderkit.inventory import InventoryLedger
from orderkit.inventory.ports import InventoryStore
from orderkit.lifecycle import EVENT_NAMES, Event, Lifecycle, OrderService
from orderkit.mapping import normalize
from orderkit.model.errors import OrderkitError, OrderNotFound
from orderkit.model.money import Money
from orderkit.model.orders import Order, OrderLine
from orderkit.reconcile import Record, reconcile
from orderkit.reconcile.readers import FORMATS
from orderkit.testing import ManualClock
from orderkit.testing.samples import sample_order

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)
SECRET = b"hostile-input-secret-0123456789"
FIXTURES = Path(__file__).parents[1] / "fixtures"
FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

HOSTILE_TEXT = st.one_of(
    st.sampled_from(
        [
            "\udc80",
            "ok\ud800",
            "a\x00b",
            "\u202eevil\u202c",
            "\u200f",
            "x" * 100_000,
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-1+2",
            "@SUM(A1)",
            "\t=1",
            "",
            "   ",
            "<script>alert(1)</script>",
        ]
    ),
    st.text(max_size=12),
)
HOSTILE_NUMBER = st.one_of(
    st.sampled_from([2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**100, 0, -1, True, False]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            Decimal("NaN"),
            Decimal("sNaN"),
            Decimal("Infinity"),
            Decimal("-Infinity"),
            Decimal("1E+999999"),
            Decimal("1E-999999"),
            Decimal("0.1"),
        ]
    ),
    st.decimals(allow_nan=True, allow_infinity=True),
)
_EAST = timezone(timedelta(hours=14))
_WEST = timezone(timedelta(hours=-12))
HOSTILE_TIME = st.one_of(
    st.sampled_from(
        [
            datetime.min,
            datetime.max,
            datetime.min.replace(tzinfo=_EAST),
            datetime.max.replace(tzinfo=_WEST),
            datetime.min.replace(tzinfo=UTC),
            datetime.max.replace(tzinfo=UTC),
            datetime(2026, 2, 16, 3, 0),
        ]
    ),
    st.datetimes(),
    st.datetimes(timezones=st.sampled_from([UTC, _EAST, _WEST])),
    st.sampled_from([timedelta.max, timedelta.min, timedelta(0), timedelta(days=-1)]),
)
HOSTILE = st.one_of(
    HOSTILE_TEXT, HOSTILE_NUMBER, HOSTILE_TIME, st.sampled_from([None, [], {}, (), b"\xff"])
)


def only_orderkit_errors(call: Callable[[], object]) -> bool:
    """Run ``call``; True when it was refused (with an ``OrderkitError``), else False.

    Any other exception propagates and fails the test."""
    try:
        call()
    except OrderkitError:
        return True
    return False


# --- the stores ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def inventory_held(store: InventoryStore) -> tuple[object, ...]:
    lines = sorted(store.all_lock_lines(), key=lambda line: (line.lock_key, line.sku))
    return (
        tuple(store.entries()),
        tuple(sorted(store.balances().items())),
        tuple(lines),
        tuple(store.pending_parks()),
    )


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def new_ledger(
    request: pytest.FixtureRequest, folder: Path
) -> Callable[[], InventoryLedger]:
    """A fresh ledger (and store) per example: what one example books (a shipment of
    2**63-1 units is a fact the ledger records) never starves the next one."""
    made = iter(range(1_000_000))

    def make() -> InventoryLedger:
        store: InventoryStore = (
            MemoryInventoryStore()
            if request.param == "memory"
            else SQLiteInventoryStore(folder / f"ledger-{next(made)}.db", durable=False)
        )
        ledger = InventoryLedger(store, secret=SECRET, clock=ManualClock(T0))
        ledger.receive("TEA", 1_000_000, reference="PO-1")
        return ledger

    return make


# --- constructors ---------------------------------------------------------------------------


def _samples() -> list[object]:
    order = sample_order()
    found: list[object] = [order, Money("12.30", "CNY"), *order.lines]
    found += [order.ship_to, *order.payments, *order.shipments, *order.adjustments]
    found += [*order.holds, *order.returns]
    found.append(Event("pay", event_id="E1", at=T0, data={"amount": "12.30"}))
    found.append(
        Record(source="bank", record_id="B1", ref=None, amount=Money("1.00", "CNY"), at=T0)
    )
    return found


SAMPLES = _samples()


def _kwargs(sample: object) -> dict[str, Any]:
    fields = attrs.fields(type(sample))  # type: ignore[misc]
    return {f.alias: getattr(sample, f.name) for f in fields if f.init}


@FAST
@given(data=st.data(), hostile=HOSTILE)
def test_constructors_refuse_hostile_fields_with_orderkit_errors(
    data: st.DataObject, hostile: object
) -> None:
    sample = data.draw(st.sampled_from(SAMPLES))
    kwargs = _kwargs(sample)
    field = data.draw(st.sampled_from(sorted(kwargs)))
    kwargs[field] = hostile
    only_orderkit_errors(lambda: type(sample)(**kwargs))


@FAST
@given(amount=HOSTILE, currency=HOSTILE_TEXT)
def test_money_refuses_hostile_amounts(amount: object, currency: str) -> None:
    assert only_orderkit_errors(lambda: Money(amount, "CNY")) or isinstance(
        amount, int | Decimal | str
    )
    only_orderkit_errors(lambda: Money("1.00", currency))


# --- the inventory ledger -----------------------------------------------------------------


def _ledger_calls(ledger: InventoryLedger, lock_id: str, bad: Any) -> list[Callable[[], object]]:
    lock = {"ttl": TTL}
    return [
        lambda: ledger.receive(bad, 1, reference="PO"),
        lambda: ledger.receive("TEA", bad, reference="PO"),
        lambda: ledger.receive("TEA", 1, reference=bad),
        lambda: ledger.receive("TEA", 1, reference="PO", actor=bad),
        lambda: ledger.adjust(bad, 1, reason="count"),
        lambda: ledger.adjust("TEA", bad, reason="count"),
        lambda: ledger.adjust("TEA", -1, reason=bad),
        lambda: ledger.lock(bad, {"TEA": 1}, **lock),
        lambda: ledger.lock("ORD-9", [(bad, 1)], **lock),
        lambda: ledger.lock("ORD-9", {"TEA": bad}, **lock),
        lambda: ledger.lock("ORD-9", bad, **lock),
        lambda: ledger.lock("ORD-9", {"TEA": 1}, ttl=bad),
        lambda: ledger.lock("ORD-9", {"TEA": 1}, ttl=TTL, actor=bad),
        lambda: ledger.lock_many([(bad, {"TEA": 1})], **lock),
        lambda: ledger.lock_many(bad, **lock),
        lambda: ledger.release(bad),
        lambda: ledger.release(lock_id, {"TEA": bad}),
        lambda: ledger.release(lock_id, bad),
        lambda: ledger.release(lock_id, order_id=bad),
        lambda: ledger.release(lock_id, actor=bad),
        lambda: ledger.release(lock_id, reason=bad),
        lambda: ledger.release(lock_id, ref=bad),
        lambda: ledger.commit(bad),
        lambda: ledger.commit(lock_id, {"TEA": bad}),
        lambda: ledger.commit(lock_id, actor=bad),
        lambda: ledger.commit(lock_id, reason=bad),
        lambda: ledger.commit(lock_id, ref=bad),
        lambda: ledger.confirm(bad),
        lambda: ledger.confirm(lock_id, ref=bad),
        lambda: ledger.confirm(lock_id, actor=bad),
        lambda: ledger.restock({"TEA": bad}, order_id="ORD-1", ref="R"),
        lambda: ledger.restock({"TEA": 1}, order_id=bad, ref="R"),
        lambda: ledger.restock({"TEA": 1}, order_id="ORD-1", ref=bad),
        lambda: ledger.restock({"TEA": 1}, order_id="ORD-1", ref="R", reason=bad),
        lambda: ledger.expire_due(bad),
        lambda: ledger.expire_due(limit=bad),
        lambda: ledger.approve_release(bad, actor="ops"),
        lambda: ledger.stock(bad),
        lambda: ledger.occupancy(bad),
    ]


CALLS = len(_ledger_calls(InventoryLedger(MemoryInventoryStore(), secret=SECRET), "x", None))


@FAST
@given(which=st.integers(0, CALLS - 1), bad=HOSTILE)
def test_the_ledger_refuses_hostile_input_and_writes_nothing(
    new_ledger: Callable[[], InventoryLedger], which: int, bad: object
) -> None:
    ledger = new_ledger()
    lock = ledger.lock("ORD-1", {"TEA": 1}, ttl=TTL)
    before = inventory_held(ledger.store)
    call = _ledger_calls(ledger, lock.lock_id, bad)[which]
    if only_orderkit_errors(call):
        assert inventory_held(ledger.store) == before


# --- the order service and the lifecycle ---------------------------------------------------


def _orders_held(repository: Any, order_ids: list[str]) -> tuple[object, ...]:
    held: list[object] = []
    for order_id in order_ids:
        try:
            held.append((repository.get(order_id), repository.audit_trail(order_id)))
        except OrderNotFound:
            held.append(None)
    held.append(tuple(m.message for m in repository.pending(1000)))
    return tuple(held)


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def service(request: pytest.FixtureRequest, folder: Path) -> OrderService:
    clock = ManualClock(T0)
    if request.param == "memory":
        store: InventoryStore = MemoryInventoryStore()
        repository: Any = MemoryOrderRepository()
    else:
        store = SQLiteInventoryStore(folder / "shop.db")
        repository = SQLiteOrderRepository(folder / "shop.db")
    ledger = InventoryLedger(store, secret=SECRET, clock=clock)
    ledger.receive("TEA", 1_000_000, reference="PO-1")
    service = OrderService(repository, clock=clock, inventory=ledger)
    service.place(_order("ORD-1"))
    return service


def _order(order_id: str, sku: str = "TEA", qty: int = 1) -> Order:
    return Order(
        order_id=order_id,
        channel="tmall",
        channel_order_id=f"T-{order_id}",
        lines=[OrderLine("L1", sku, qty, Money("10.00", "CNY"))],
        created_at=T0,
    )


#: Every built-in event, and a name no table knows.
EVENTS = [*sorted(EVENT_NAMES), "refund_lines"]
DATA_KEYS = ["amount", "lines", "payment_id", "line_id", "price", "address", "reason",
             "kind", "waybill", "carrier", "sellable", "actor", "reference", "method",
             "carrier_time"]


@FAST
@given(
    name=st.one_of(st.sampled_from(EVENTS), HOSTILE_TEXT),
    key=st.one_of(st.sampled_from(DATA_KEYS), HOSTILE_TEXT),
    bad=HOSTILE,
    event_id=st.one_of(st.just("E-1"), HOSTILE_TEXT),
    at=st.one_of(st.just(T0), HOSTILE_TIME),
)
def test_events_with_hostile_data_are_refused_and_write_nothing(
    service: OrderService, name: str, key: str, bad: object, event_id: str, at: object
) -> None:
    repository = service.repository
    ledger = service.inventory
    assert isinstance(ledger, InventoryLedger)
    before = (_orders_held(repository, ["ORD-1"]), inventory_held(ledger.store))

    def handle() -> None:
        event = Event(name, event_id=event_id, at=at, data={key: bad})  # type: ignore[arg-type]
        Lifecycle().apply(repository.get("ORD-1"), event)
        service.handle("ORD-1", event)

    if only_orderkit_errors(handle):
        assert (_orders_held(repository, ["ORD-1"]), inventory_held(ledger.store)) == before


@FAST
@given(sku=HOSTILE_TEXT, qty=st.one_of(st.integers(1, 2**63 - 1), HOSTILE_NUMBER))
def test_placing_a_hostile_order_locks_and_stores_nothing(
    service: OrderService, sku: str, qty: int
) -> None:
    ledger = service.inventory
    assert isinstance(ledger, InventoryLedger)
    order_id = f"ORD-{len(ledger.entries())}"
    before = (_orders_held(service.repository, [order_id]), inventory_held(ledger.store))
    if only_orderkit_errors(lambda: service.place(_order(order_id, sku, qty))):
        after = (_orders_held(service.repository, [order_id]), inventory_held(ledger.store))
        assert after == before


# --- the idempotency guard ------------------------------------------------------------------


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def guarded(request: pytest.FixtureRequest, folder: Path) -> tuple[Idempotency, Any]:
    store: Any = (
        MemoryIdempotencyStore()
        if request.param == "memory"
        else SQLiteIdempotencyStore(folder / "guard.db")
    )
    return Idempotency(store, clock=ManualClock(T0)), store


@FAST
@given(key=st.one_of(st.just("K-1"), HOSTILE_TEXT), field=HOSTILE_TEXT, bad=HOSTILE)
def test_the_guard_refuses_hostile_requests_before_it_claims(
    guarded: tuple[Idempotency, Any], key: str, field: str, bad: object
) -> None:
    guard, store = guarded
    runs: list[int] = []
    before = store.get("K-1")

    def work() -> int:
        runs.append(1)
        return len(runs)

    if only_orderkit_errors(lambda: guard.run(key, {field: bad}, work)):
        assert runs == []
        assert store.get("K-1") == before


# --- mapping, readers and reconciliation ------------------------------------------------------


def _payloads() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((FIXTURES / "mapping").glob("*/*.json")):
        found.append((path.parent.name, json.loads(path.read_text(encoding="utf-8"))))
    return found


PAYLOADS = _payloads()


def _leaves(value: object, path: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path


def _replaced(value: Any, path: tuple[Any, ...], new: object) -> Any:
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replaced(value[head], tuple(rest), new)
    return copy


@FAST
@given(data=st.data(), bad=HOSTILE)
def test_normalize_refuses_hostile_payload_fields_with_orderkit_errors(
    data: st.DataObject, bad: object
) -> None:
    platform, payload = data.draw(st.sampled_from(PAYLOADS))
    leaf = data.draw(st.sampled_from(list(_leaves(payload))))
    only_orderkit_errors(lambda: normalize(platform, _replaced(payload, leaf, bad)))


def _csv_fixture(name: str, encoding: str = "utf-8") -> list[str]:
    return (FIXTURES / "reconcile" / name).read_text(encoding=encoding).splitlines()


#: Every reader, with the file it reads and that file's encoding (Alipay exports GBK).
READERS = [
    ("erp", "erp_2026-02-16.csv", "utf-8"),
    ("pos", "pos_store7.csv", "utf-8"),
    ("bank-csv", "bank_2026-02.csv", "utf-8"),
    ("wechatpay", "wechatpay_20260216.csv", "utf-8"),
    ("alipay", "alipay_20260216.csv", "gbk"),
]


@FAST
@given(
    data=st.data(),
    cell=st.one_of(HOSTILE_TEXT, HOSTILE_NUMBER.map(str), HOSTILE_TIME.map(str)),
)
def test_readers_and_reconcile_turn_hostile_cells_into_rejects_or_records(
    data: st.DataObject, cell: str
) -> None:
    fmt, name, encoding = data.draw(st.sampled_from(READERS))
    lines = _csv_fixture(name, encoding)
    row = data.draw(st.integers(1, len(lines) - 1))
    cells = lines[row].split(",")
    column = data.draw(st.integers(0, len(cells) - 1))
    cells[column] = cell.replace(",", " ").replace("\n", " ").replace("\r", " ")
    lines[row] = ",".join(cells)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        # What GBK cannot hold becomes "?" in a GBK file; UTF-8 files keep even a lone
        # surrogate, as a broken export would.
        errors = "surrogatepass" if encoding == "utf-8" else "replace"
        path.write_bytes("\n".join(lines).encode(encoding, errors))
        read: list[object] = []

        def run() -> None:
            read.extend(FORMATS[fmt](path))
            reconcile(read, FORMATS["erp"](FIXTURES / "reconcile" / "erp_2026-02-16.csv"))

        only_orderkit_errors(run)
