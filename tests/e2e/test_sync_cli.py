"""``orderkit sync`` and ``orderkit backfill`` on a JSON-lines file: progress on stderr,
the summary on stdout, exit 1 when a payload became a dead letter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orderkit import Money, Order, OrderLine
from orderkit.adapters.sqlite import SQLiteInventoryStore, SQLiteOrderRepository, SQLiteSyncStore
from orderkit.cli import EXIT_FILE, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from orderkit.inventory import InventoryLedger
from orderkit.lifecycle import Event, OrderService
from orderkit.outbox import OutboxRelay
from orderkit.sync import Sync
from orderkit.testing import ManualClock

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mapping" / "jd"
#: Six JD orders, each with the platform's modified time.
FEED = ("cancelled_after_payment", "cancelled_unpaid", "cash_on_delivery_not_yet_paid",
        "finished", "shipped_with_waybill", "wait_seller_stock_out")


def _feed(tmp_path: Path, *, broken: bool) -> Path:
    lines = [json.loads((FIXTURES / f"{name}.json").read_text("utf-8")) for name in FEED]
    if broken:
        lines.append({"orderId": "1", "modified": "not a time"})
    path = tmp_path / "orders.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in lines), "utf-8")
    return path


def test_sync_applies_a_file_and_a_second_run_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed, db = _feed(tmp_path, broken=False), tmp_path / "shop.db"
    args = ["sync", "--platform", "jd", "--from-file", str(feed), "--db", str(db)]
    assert main(args) == EXIT_OK
    out, err = capsys.readouterr()
    assert out.strip() == "new 6, updated 0, unchanged 0, stale 0, dead letters 0"
    assert "100%" in err
    assert main(args) == EXIT_OK
    assert capsys.readouterr().out.strip().startswith("new 0, updated 0, unchanged 6")
    assert SQLiteOrderRepository(db).find_by_channel("jd", "281736112233") is not None


def test_backfill_reads_a_window_and_a_dead_letter_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed, db = _feed(tmp_path, broken=True), tmp_path / "shop.db"
    code = main(["backfill", "--platform", "jd", "--from-file", str(feed), "--db", str(db),
                 "--since", "2026-02-14T00:00:00+08:00", "--until", "2026-02-16T00:00:00Z"])
    assert code == EXIT_REFUSED
    out: Any = capsys.readouterr().out
    # Modified on 14-16 February: shipped_with_waybill, both cancellations; the broken
    # payload has no time, so each of the three one-day windows returns it: one letter,
    # three attempts.
    assert out.strip() == "new 3, updated 0, unchanged 0, stale 0, dead letters 3"
    letters = SQLiteSyncStore(db).dead_letters("jd")
    assert [letter.attempts for letter in letters] == [3]
    assert "modified" in letters[0].error
    with pytest.raises(SystemExit) as caught:
        main(["backfill", "--platform", "jd", "--from-file", str(feed), "--db", str(db),
              "--since", "yesterday", "--until", "2026-02-16T00:00:00Z"])
    assert caught.value.code == EXIT_USAGE


@pytest.mark.parametrize("command", ["sync", "backfill"])
def test_a_mistyped_platform_exits_1_with_one_line_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    feed, db = _feed(tmp_path, broken=False), tmp_path / "shop.db"
    args = [command, "--platform", "JD", "--from-file", str(feed), "--db", str(db)]
    if command == "backfill":
        args += ["--since", "2026-02-14", "--until", "2026-02-16"]
    assert main(args) == EXIT_REFUSED
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()  # the known ones: the built-in maps (and any registered)
    assert line.startswith("orderkit: ValidationError: platform: no such platform (known: ")
    assert " jd, pdd, " in line
    assert line.endswith(") (got 'JD')")
    assert not db.exists()  # refused before the database was created


@pytest.mark.parametrize(("command", "options", "field"), [
    ("sync", ["--batch", "0"], "batch"),
    ("backfill", ["--batch", "0", "--since", "2026-02-14", "--until", "2026-02-16"], "batch"),
    ("backfill", ["--since", "2026-02-16", "--until", "2026-02-14"], "--until"),
])
def test_a_refused_option_creates_no_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, options: list[str],
    field: str,
) -> None:
    feed, db = _feed(tmp_path, broken=False), tmp_path / "shop.db"
    args = [command, "--platform", "jd", "--from-file", str(feed), "--db", str(db), *options]
    assert main(args) == EXIT_REFUSED
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"orderkit: ValidationError: {field}: ")
    assert not db.exists()



def test_a_refused_window_names_the_options_in_iso_8601(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed, db = _feed(tmp_path, broken=False), tmp_path / "shop.db"
    assert main(["backfill", "--platform", "jd", "--from-file", str(feed), "--db", str(db),
                 "--since", "2026-02-16T08:00:00+08:00", "--until", "2026-02-14"]) == EXIT_REFUSED
    assert capsys.readouterr().err.strip() == (
        "orderkit: ValidationError: --until: is before --since (2026-02-16T00:00:00+00:00)"
        " (got '2026-02-14T00:00:00+00:00')"
    )


def test_backfill_of_an_old_export_is_not_held_to_the_api_lookback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Taobao's increment API answers the last 90 days only; a file exported back then
    is read whatever today's date (the samples were modified in February 2026)."""
    sample = Path(__file__).parents[1] / "fixtures" / "mapping" / "tmall"
    feed, db = tmp_path / "tmall.jsonl", tmp_path / "shop.db"
    feed.write_text(json.dumps(json.loads((sample / "closed_by_taobao_unpaid.json")
                                          .read_text("utf-8"))) + "\n", "utf-8")
    args = ["backfill", "--platform", "tmall", "--from-file", str(feed), "--db", str(db),
            "--since", "2026-02-18", "--until", "2026-02-19"]
    assert main(args) == EXIT_OK
    assert capsys.readouterr().out.strip() == (
        "new 1, updated 0, unchanged 0, stale 0, dead letters 0")


@pytest.mark.parametrize("command", ["sync", "backfill"])
def test_a_file_not_in_utf8_exits_1_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    feed, db = tmp_path / "export.jsonl", tmp_path / "shop.db"
    feed.write_bytes('{"orderId": "1", "buyer": "张三"}\n'.encode("gbk"))
    args = [command, "--platform", "jd", "--from-file", str(feed), "--db", str(db)]
    if command == "backfill":
        args += ["--since", "2026-02-14", "--until", "2026-02-16"]
    assert main(args) == EXIT_REFUSED
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("orderkit: ValidationError: export.jsonl: is not UTF-8 text")
    assert not db.exists()

@pytest.mark.parametrize("command", ["sync", "backfill"])
def test_sync_refuses_a_file_that_keeps_stock_and_leaves_it_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    feed, db = _feed(tmp_path, broken=False), tmp_path / "shop.db"
    SQLiteOrderRepository(db)
    ledger = InventoryLedger(SQLiteInventoryStore(db), secret=b"stock-file-secret-0123")
    ledger.receive("TEA-OOLONG-250G", 10, reference="PO-1")
    before = db.read_bytes()
    args = [command, "--platform", "jd", "--from-file", str(feed), "--db", str(db)]
    if command == "backfill":
        args += ["--since", "2026-02-14", "--until", "2026-02-16"]
    # Without the ledger the paid and shipped orders would be stored with no stock
    # locked or taken: refused, as dead-letters --replay refuses such a file.
    assert main(args) == EXIT_FILE
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith(f"orderkit: StoreError: sync on {db} failed: this file keeps stock")
    assert db.read_bytes() == before
    assert SQLiteOrderRepository(db).find_by_channel("jd", "281736112233") is None


def test_dead_letters_lists_replays_and_drops_what_failed_for_good(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, good = tmp_path / "shop.db", json.loads(
        (FIXTURES / "shipped_with_waybill.json").read_text("utf-8"))
    broken = {key: value for key, value in good.items() if key != "orderPayment"}
    for name, payload in (("broken", broken), ("good", good)):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(payload) + "\n", "utf-8")
    sync = ["sync", "--platform", "jd", "--db", str(db), "--from-file"]
    assert main([*sync, str(tmp_path / "broken.jsonl")]) == EXIT_REFUSED
    assert main(["dead-letters", "--db", str(db)]) == EXIT_REFUSED  # one letter waits
    listed = capsys.readouterr().out
    assert "sync dead letters: 1" in listed and "orderPayment: required field missing" in listed
    (letter,) = SQLiteSyncStore(db).dead_letters()
    # The complete payload arrives later and the order is stored; the broken one still
    # does not map, so a replay keeps it, and a person drops it.
    assert main([*sync, str(tmp_path / "good.jsonl")]) == EXIT_OK
    assert main(["dead-letters", "--db", str(db), "--replay"]) == EXIT_REFUSED
    assert "sync: new 0, updated 0, unchanged 0, stale 0, dead letters 1" in (
        capsys.readouterr().out)
    assert main(["dead-letters", "--db", str(db), "--drop", letter.letter_id]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"dropped {letter.letter_id}" in out and "sync dead letters: 0" in out
    assert main(["dead-letters", "--db", str(db), "--drop", letter.letter_id]) == EXIT_REFUSED
    assert "--drop" in capsys.readouterr().err


def test_dead_letters_refuses_a_file_that_holds_no_orders(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert main(["dead-letters", "--db", str(empty)]) == EXIT_FILE
    assert empty.read_bytes() == b""


def test_dead_letters_keeps_stock_letters_for_the_host_and_drops_an_outbox_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "shop.db"
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    ledger = InventoryLedger(SQLiteInventoryStore(db), secret=b"dead-letters-secret-01",
                             clock=clock)
    repository = SQLiteOrderRepository(db)
    service = OrderService(repository, inventory=ledger, sink=Down(), clock=clock,
                           deliver=False)
    # A JD order in a state its map does not know: a dead letter.
    payload = json.loads((FIXTURES / "wait_seller_stock_out.json").read_text("utf-8"))
    payload["orderState"] = "WAIT_FOR_MARS"
    sync = Sync(repository, service, store=SQLiteSyncStore(db))
    assert sync.receive("jd", payload, received_at=clock.now()).dead_lettered == 1
    # A counter sale whose events the broker never took: given up after one attempt.
    ledger.receive("CUP", 1, reference="PO-1")
    service.place(Order("POS-1", "pos", "R-1", [OrderLine("1", "CUP", 1, Money("9.90", "CNY"))],
                        clock.now()))
    service.handle("POS-1", Event("pay", event_id="cash-1", at=clock.now(),
                                  data={"amount": Money("9.90", "CNY")}))
    OutboxRelay(repository, sink=Down(), inventory=ledger, clock=clock,
                max_attempts=1).run_once()
    (dead, *others) = repository.dead_letters()
    capsys.readouterr()
    # Replaying here would store the JD order with no stock locked: left for the host.
    assert main(["dead-letters", "--db", str(db), "--replay"]) == EXIT_REFUSED
    out = capsys.readouterr().out
    assert "sync: not replayed here: this file keeps stock" in out
    assert "sync dead letters: 1" in out
    assert repository.find_by_channel("jd", "281736459102") is None
    # The --replay put the messages back in line; the broker is still down and they give
    # up again. A person decides one event nobody needs any more: dropped, never applied.
    for stored in (dead, *others):
        repository.mark_failed(stored.message.message_id, "gave up", dead=True)
    assert main(["dead-letters", "--db", str(db), "--drop", dead.message.message_id]) == (
        EXIT_REFUSED)  # the sync letter still waits
    out = capsys.readouterr().out
    assert f"dropped {dead.message.message_id} (an outbox message" in out
    assert f"outbox dead letters: {len(others)}" in out


class Down:
    """A broker that is down."""

    def publish(self, events: object) -> None:
        raise ConnectionError("broker unreachable")
