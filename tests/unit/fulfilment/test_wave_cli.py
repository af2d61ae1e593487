"""``orderkit wave`` on a real database, and wave policies read from TOML."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import attrs
import pytest

from orderkit import Hold, LineStatus, Money, Order, OrderLine, OrderStatus, PaymentTerms
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.errors import ValidationError
from orderkit.fulfilment import policy_from_toml

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def paid(order_id: str, minutes: int, **fields: object) -> Order:
    at = T0 + timedelta(minutes=minutes)
    order = Order(order_id=order_id, channel="jd", channel_order_id=order_id,
                  lines=[OrderLine("1", "TEA", 1, Money("99.00", "CNY"))], created_at=at,
                  paid_at=at, status=OrderStatus.PAID, status_since=at)
    return attrs.evolve(order, **fields)  # type: ignore[arg-type]


def wave(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``orderkit wave --db db ...`` as a shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "orderkit", "wave", "--db", str(db), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_orderkit_wave_prints_the_wave_and_every_order_left_out(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(db)
    repository.save(paid("A", 0), None)
    repository.save(paid("B", 5), None)
    repository.save(paid("HELD", 1, holds=[Hold("manual", "cs-1", T0, "buyer called")]), None)
    repository.save(paid("LATE", 9 * 60), None)  # 18:00 in Shanghai
    # Cash on delivery ships unpaid: a candidate; an unpaid online order is not.
    repository.save(paid("COD", 2, status=OrderStatus.PENDING_PAYMENT, paid_at=None,
                         payment_terms=PaymentTerms.ON_DELIVERY), None)
    repository.save(paid("UNPAID", 3, status=OrderStatus.PENDING_PAYMENT, paid_at=None), None)
    policy = tmp_path / "policy.toml"
    policy.write_text('[wave]\ncutoff = "16:00"\nmax_orders = 1\n', encoding="utf-8")
    run = wave(db, "--policy", str(policy), "--at", "2026-03-02T20:00:00+08:00")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "wave (in_stock) at 2026-03-02T20:00:00+08:00: 1 selected, 4 left out",
        "  A",
        "over_cap: 2",
        "  B: the wave is full (1 orders)",
        "  COD: the wave is full (1 orders)",
        "after_cutoff: 1",
        "  LATE: paid after the cut-off 2026-03-02 16:00 (Asia/Shanghai): next wave",
        "on_hold: 1",
        "  HELD: on hold: manual (buyer called)",
    ]
    policy.write_text('[wave]\ncutof = "16:00"\n', encoding="utf-8")
    bad = wave(db, "--policy", str(policy))
    assert bad.returncode == 1 and "wave.cutof: unknown policy key" in bad.stderr


def test_a_policy_reads_from_toml_and_names_bad_keys() -> None:
    policy = policy_from_toml(
        'stream = "presale"\ncutoff = "15:30"\ncarriers = ["SF"]\npromise_hours = 24\n'
    )
    assert (policy.stream, policy.cutoff, policy.carriers, policy.promise) == (
        "presale", time(15, 30), frozenset({"SF"}), timedelta(hours=24))
    for text, path in (('[wave]\nstream = "tomorrow"', "wave.stream"),
                       ('[wave]\ncutoff = "late"', "wave.cutoff"),
                       ('[wave]\ncarriers = "SF"', "wave.carriers"),
                       ('[wave]\nmax_orders = 0', "wave.max_orders"),
                       ('[wave]\ntz = "Mars/Base"', "wave.tz"),
                       ("[wave", "policy")):
        with pytest.raises(ValidationError) as caught:
            policy_from_toml(text)
        assert caught.value.path == path, text


@pytest.mark.parametrize(("text", "path"), [
    ("[wave]\npromise_hours = nan", "wave.promise_hours"),
    ("[wave]\npromise_hours = inf", "wave.promise_hours"),
    ("[wave]\npromise_hours = 1e300", "wave.promise_hours"),
    ("[wave]\ncutoff = 16", "wave.cutoff"),
    ('[wave]\ncutoff = "16:00+08:00"', "wave.cutoff"),  # the zone is tz
])
def test_a_policy_out_of_range_is_refused_naming_the_key(text: str, path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        policy_from_toml(text)
    assert caught.value.path == path


def test_orderkit_wave_refuses_a_bad_policy_file_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db).save(paid("A", 0), None)
    policy = tmp_path / "policy.toml"
    policy.write_text("[wave]\npromise_hours = nan\n", encoding="utf-8")
    bad = wave(db, "--policy", str(policy))
    assert bad.returncode == 1, bad.stderr
    assert len(bad.stderr.splitlines()) == 1 and "wave.promise_hours" in bad.stderr



def test_orderkit_wave_refuses_a_time_without_its_offset_as_health_does(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db).save(paid("A", 0), None)
    policy = tmp_path / "policy.toml"  # a zone in the policy does not say what --at means
    policy.write_text('[wave]\ntz = "Asia/Shanghai"\n', encoding="utf-8")
    naive = "2026-03-02T10:00:00"
    runs = {"--at": wave(db, "--policy", str(policy), "--at", naive),
            "--now": subprocess.run([sys.executable, "-m", "orderkit", "health", "--db", str(db),
                                     "--out", str(tmp_path / "h.html"), "--now", naive],
                                    capture_output=True, text=True, timeout=120, check=False)}
    for option, run in runs.items():
        assert run.returncode == 1, run.stderr
        assert run.stderr == (f"orderkit: ValidationError: {option}: expected a UTC offset"
                              f" (like +08:00 or Z) (got '{naive}')\n")
        assert run.stdout == ""
    aware = wave(db, "--at", "2026-03-02T10:00:00Z")
    assert aware.stdout.startswith("wave (in_stock) at 2026-03-02T18:00:00+08:00: 1 selected")


def test_orderkit_wave_refuses_an_instant_orderkit_cannot_store_naming_at(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db).save(paid("A", 0), None)
    for at in ("9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+00:00"):
        run = wave(db, "--at", at)
        assert run.returncode == 1, run.stderr
        assert run.stderr == (f"orderkit: ValidationError: --at: expected an instant from 1900"
                              f" to before 9000 (got '{at}')\n")
    last = wave(db, "--at", "8999-12-31T23:59:59+00:00")
    assert last.returncode == 0, last.stderr
    assert last.stdout.startswith("wave (in_stock) at 9000-01-01T07:59:59+08:00: 1 selected")

def test_orderkit_wave_lists_packed_cash_on_delivery_and_partly_shipped_orders(
    tmp_path: Path,
) -> None:
    """A packed cash-on-delivery order has no paid_at, and a partly shipped one waits in
    SHIPPED for its open units: both are candidates, as plan_wave says; an order
    shipped in full is not listed."""
    db = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(db)
    repository.save(paid("COD-PACKED", 0, status=OrderStatus.PACKED, paid_at=None,
                         payment_terms=PaymentTerms.ON_DELIVERY), None)
    two = [OrderLine("1", "TEA", 1, Money("99.00", "CNY")),
           OrderLine("2", "CUP", 2, Money("5.00", "CNY"))]
    partly = paid("PARTLY", 1, status=OrderStatus.SHIPPED, lines=two)
    tea, cups = partly.lines
    shipped_tea = attrs.evolve(tea, quantities={**tea.quantities, LineStatus.OPEN: 0,
                                                LineStatus.SHIPPED: 1})
    repository.save(attrs.evolve(partly, lines=[shipped_tea, cups]), None)
    repository.save(paid("DONE", 2, status=OrderStatus.SHIPPED,
                         lines=[attrs.evolve(shipped_tea)]), None)
    run = wave(db, "--at", "2026-03-02T20:00:00+08:00")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "wave (in_stock) at 2026-03-02T20:00:00+08:00: 2 selected, 0 left out",
        "  COD-PACKED (already packed)",
        "  PARTLY (partly shipped, left to pick: CUP 2)",
    ]


def test_orderkit_wave_plans_from_one_snapshot_while_the_packing_station_packs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The packing station (another process) packs A between the wave's read of the
    paid orders and its read of the packed ones: the plan still sees A once, as it was
    when the plan began reading, and the command succeeds."""
    from orderkit.cli import main

    db = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(db)
    repository.save(paid("A", 0), None)
    repository.save(paid("B", 1), None)

    def pack_a() -> None:  # its own connection, as another process has
        station = SQLiteOrderRepository(db)
        order = station.get("A")
        station.save(attrs.evolve(order, status=OrderStatus.PACKED,
                                  status_since=T0 + timedelta(minutes=10),
                                  version=order.version + 1), order.version)

    read = SQLiteOrderRepository.stale
    packed: list[str] = []

    def stale_then_pack(self: SQLiteOrderRepository, *args: object, **kwargs: object) -> object:
        found = read(self, *args, **kwargs)  # type: ignore[arg-type]
        if not packed:
            station = threading.Thread(target=pack_a)
            station.start()
            station.join()
            packed.append("A")
        return found

    monkeypatch.setattr(SQLiteOrderRepository, "stale", stale_then_pack)
    code = main(["wave", "--db", str(db), "--at", "2026-03-02T20:00:00+08:00"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert packed == ["A"]
    assert out.splitlines() == [
        "wave (in_stock) at 2026-03-02T20:00:00+08:00: 2 selected, 0 left out",
        "  A",
        "  B",
    ]
    assert repository.get("A").status is OrderStatus.PACKED  # the station's pack stands


def test_orderkit_wave_finds_a_partly_shipped_order_behind_any_number_of_shipped_ones(
    tmp_path: Path,
) -> None:
    """``--limit`` bounds each kind of candidate, and the partly shipped orders are read
    on their own: older fully shipped orders (in transit) never crowd them out."""
    db = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(db)
    tea = paid("X", 0).lines[0]
    shipped_tea = attrs.evolve(tea, quantities={**tea.quantities, LineStatus.OPEN: 0,
                                                LineStatus.SHIPPED: 1})
    two = [shipped_tea, OrderLine("2", "CUP", 2, Money("5.00", "CNY"))]
    for n in range(5):
        repository.save(paid(f"DONE-{n}", n, status=OrderStatus.SHIPPED, lines=[shipped_tea]),
                        None)
    repository.save(paid("PARTLY", 6, status=OrderStatus.SHIPPED, lines=two), None)
    run = wave(db, "--at", "2026-03-02T20:00:00+08:00", "--limit", "1")
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines()[1:] == ["  PARTLY (partly shipped, left to pick: CUP 2)"]


def test_orderkit_wave_on_a_file_that_keeps_stock_spends_it_and_trusts_no_lock_id(
    tmp_path: Path,
) -> None:
    """On a file with an inventory ledger the plan reads the stock: an order holding its
    lock goes; one waiting for stock (no lock) goes only while the shelf covers it; one
    whose lock lapsed counts as holding nothing."""
    from orderkit.adapters.sqlite import SQLiteInventoryStore
    from orderkit.inventory import InventoryLedger
    from orderkit.lifecycle import OrderService
    from orderkit.testing import ManualClock

    db = tmp_path / "shop.db"
    clock = ManualClock(T0)
    ledger = InventoryLedger(SQLiteInventoryStore(db), secret=b"wave-cli-secret-0123456",
                             clock=clock)
    ledger.receive("TEA", 2, reference="PO-1")
    service = OrderService(SQLiteOrderRepository(db), inventory=ledger, clock=clock,
                           lock_ttl=timedelta(hours=1))
    # LOCKED holds its tin (placed paid: the lock is confirmed); LAPSED's lock was taken
    # unconfirmed and ran out; WAITING and LATER came in without a lock. One tin is left
    # for the three of them, in pick order.
    service.place(paid("LOCKED", 0))
    unpaid = paid("LAPSED", 1, status=OrderStatus.PENDING_PAYMENT, paid_at=None)
    service.place(unpaid)
    repository = service.repository
    lapsed = repository.get("LAPSED")
    repository.save(attrs.evolve(lapsed, status=OrderStatus.PAID, paid_at=T0,
                                 version=lapsed.version + 1), lapsed.version)
    repository.save(paid("WAITING", 2), None)
    repository.save(paid("LATER", 3), None)
    clock.advance(timedelta(hours=2))
    ledger.expire_due()
    run = wave(db, "--at", "2026-03-02T20:00:00+08:00")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "wave (in_stock) at 2026-03-02T20:00:00+08:00: 2 selected, 2 left out",
        "  LAPSED",
        "  LOCKED",
        "awaiting_stock: 2",
        "  LATER: TEA needs 1, 0 available",
        "  WAITING: TEA needs 1, 0 available",
    ]


@pytest.mark.parametrize("limit", ["0", "-5", "ten", "1.5", str(2**63)])
def test_orderkit_wave_refuses_a_limit_that_is_no_count_of_orders(
    tmp_path: Path, limit: str
) -> None:
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db).save(paid("A", 0), None)
    run = wave(db, "--limit", limit)
    assert run.returncode == 2
    assert "--limit" in run.stderr and repr(limit) in run.stderr


@pytest.mark.parametrize(("text", "path", "value"), [
    # Beside a [wave] table, a key at the top level is read by nobody.
    ('max_orders = 1\n[wave]\ncutoff = "16:00"\n', "max_orders", 1),
    ('carriers = ["SF"]\n[wave]\ncutoff = "16:00"\n', "carriers", ["SF"]),
    ('colour = "red"\n[wave]\ncutoff = "16:00"\n', "colour", "red"),
    # A misspelt table, beside [wave] or alone.
    ('[wave]\ncutoff = "16:00"\n[waves]\nmax_orders = 1\n', "waves", {"max_orders": 1}),
    ('[waves]\nmax_orders = 1\n', "waves", {"max_orders": 1}),
])
def test_a_policy_key_outside_the_wave_table_is_refused_naming_it(
    text: str, path: str, value: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        policy_from_toml(text)
    assert (caught.value.path, caught.value.value) == (path, value)
    assert "[wave]" in caught.value.reason


def test_orderkit_wave_refuses_a_policy_file_that_is_not_utf8_naming_it(
    tmp_path: Path,
) -> None:
    """Notepad on a Chinese Windows saves GBK: the file is refused in one line naming it
    and the encoding TOML wants (exit 1), not an internal error; Notepad's UTF-8 with a
    byte-order mark is read."""
    db = tmp_path / "shop.db"
    SQLiteOrderRepository(db).save(paid("A", 0), None)
    text = '[wave]\ncutoff = "16:00"\nregions = ["浙江省"]\n'
    policy = tmp_path / "gbk.toml"
    policy.write_bytes(text.encode("gbk"))
    run = wave(db, "--policy", str(policy), "--at", "2026-03-02T20:00:00+08:00")
    assert run.returncode == 1, run.stderr
    assert run.stdout == ""
    assert run.stderr == (
        "orderkit: ValidationError: --policy: not UTF-8 text (invalid continuation byte at"
        " byte 36), as a TOML file must be: save it as UTF-8 (got"
        f" {str(policy)!r})\n")
    policy.write_bytes(text.encode("utf-8-sig"))
    run = wave(db, "--policy", str(policy), "--at", "2026-03-02T20:00:00+08:00")
    assert run.returncode == 0, run.stderr
    assert "  A: region unknown is not in this wave" in run.stdout  # A has no address


def test_orderkit_wave_reads_on_the_floor_in_the_policys_zone_and_marks_what_to_pick(
    tmp_path: Path,
) -> None:
    """The header is in the policy's zone (that of its cut-off), whatever offset --at
    was given in; the cut-off has its day and zone; an unpaid cash-on-delivery order
    was placed after it, not paid; a packed order and a partly shipped one are marked,
    the latter with the units left to pick."""
    db = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(db)
    two = [OrderLine("1", "TEA", 1, Money("99.00", "CNY")),
           OrderLine("2", "CUP", 3, Money("5.00", "CNY"))]
    partly = paid("PART-1", 1, status=OrderStatus.SHIPPED, lines=two)
    tea, cups = partly.lines
    repository.save(attrs.evolve(partly, lines=[
        attrs.evolve(tea, quantities={**tea.quantities, LineStatus.OPEN: 0,
                                      LineStatus.SHIPPED: 1}),
        attrs.evolve(cups, quantities={**cups.quantities, LineStatus.OPEN: 2,
                                       LineStatus.SHIPPED: 1})]), None)
    repository.save(paid("PACKED-1", 0, status=OrderStatus.PACKED), None)
    repository.save(paid("COD-1", 8 * 60, status=OrderStatus.PENDING_PAYMENT, paid_at=None,
                         payment_terms=PaymentTerms.ON_DELIVERY), None)  # 17:00 Shanghai
    policy = tmp_path / "policy.toml"
    policy.write_text('[wave]\ncutoff = "16:00"\ntz = "Asia/Shanghai"\n', encoding="utf-8")
    for at in ("2026-03-02T20:00:00+08:00", "2026-03-02T12:00:00Z"):
        run = wave(db, "--policy", str(policy), "--at", at)
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines() == [
            "wave (in_stock) at 2026-03-02T20:00:00+08:00: 2 selected, 1 left out",
            "  PACKED-1 (already packed)",
            "  PART-1 (partly shipped, left to pick: CUP 2)",
            "after_cutoff: 1",
            "  COD-1: placed after the cut-off 2026-03-02 16:00 (Asia/Shanghai),"
            " cash on delivery: next wave",
        ]
