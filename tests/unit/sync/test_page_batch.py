"""A page is decided in memory first and then written as a batch: every payload of
the page is mapped and its events decided before the first write, so a payload that
fails (malformed, refused by the lifecycle) is a dead letter and writes nothing, while
the rest of the page is stored in one transaction (a new order the shelf cannot cover
among them, waiting for stock); the same page again is a no-op. A payload that comes
with its raw text is known again by a hash of that text."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit.adapters.memory import MemoryReconIdSequence
from orderkit.model.errors import ValidationError
from orderkit.model.orders import OrderStatus
from orderkit.numbering import ReconIdIssuer
from orderkit.sync import (
    Page,
    Sync,
    SyncReport,
    payload_digest,
    payload_text,
    raw_digest,
)
from orderkit.testing import FileChannelClient, MemoryChannelClient

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TEA, POT = "TEA-OOLONG-250G", "100012345681"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def shop(request: pytest.FixtureRequest, new_shop: Any) -> Any:
    if request.param == "memory":
        made = new_shop()
    elif request.param == "postgres":
        from orderkit.adapters.postgres import (
            PostgresInventoryStore,
            PostgresOrderRepository,
            PostgresSyncStore,
        )
        from orderkit.testing.postgres import fresh_schema

        dsn = request.getfixturevalue("pg_dsn")
        repository = PostgresOrderRepository(dsn, schema=fresh_schema())
        made = new_shop(repository=repository, store=PostgresSyncStore(repository.database),
                        inventory=PostgresInventoryStore(repository.database))
    else:
        made = request.getfixturevalue("sqlite_shop")
    made.sequence = MemoryReconIdSequence()
    made.sync = Sync(made.repository, made.service, store=made.store, clock=made.clock,
                     recon_ids=ReconIdIssuer(made.sequence, clock=made.clock))
    made.ledger.receive(TEA, 6, reference="PO-TEA")
    made.ledger.receive(POT, 10, reference="PO-POT")
    return made


def _greedy(versions: Any, order_id: str, at: datetime) -> dict[str, Any]:
    """A paid JD order for 5 of the tea (more than the page leaves)."""
    payload = versions(order_id, "paid", at)
    payload["itemInfoList"] = copy.deepcopy(payload["itemInfoList"])
    payload["itemInfoList"][0]["itemTotal"] = "5"
    # 5 x 89.00 + 299.00, less the 30.00 coupon.
    payload.update(orderTotalPrice="744.00", orderSellerPrice="714.00", orderPayment="714.00")
    return payload


def _malformed(versions: Any, order_id: str, at: datetime) -> dict[str, Any]:
    return dict(versions(order_id, "paid", at), orderState="WAIT_FOR_MARS")


def _state(shop: Any, ids: list[str]) -> dict[str, Any]:
    """Everything the page could have written, per order and for the stock (the outbox
    drained first: on PostgreSQL a page's stock messages are delivered by the next
    relay run, not by the one inside the page's block)."""
    shop.service.relay.run_until_idle()
    orders = {i: shop.repository.find_by_channel("jd", i) for i in ids}
    return {
        "orders": {i: None if o is None else (o.version, o.status, o.recon_id, o.lock_id)
                   for i, o in orders.items()},
        "audit": {i: len(shop.repository.audit_trail(o.order_id))
                  for i, o in orders.items() if o is not None},
        "seen": {i: shop.store.seen("jd", i) for i in ids},
        "entries": len(shop.ledger.entries()),
        "stock": {sku: shop.ledger.stock(sku) for sku in (TEA, POT)},
        "letters": sorted((letter.letter_id, letter.error.split(":")[0])
                          for letter in shop.store.dead_letters("jd")),
    }


def test_a_page_with_a_malformed_a_duplicate_and_a_sold_out_payload(
    shop: Any, versions: Any
) -> None:
    stored = versions("7001", "paid", NOW - 3 * HOUR)
    assert shop.sync.receive("jd", stored, received_at=NOW) == SyncReport(new=1)
    before = shop.repository.find_by_channel("jd", "7001")
    page = [
        versions("7002", "paid", NOW - 2 * HOUR),             # new
        _malformed(versions, "7003", NOW - 2 * HOUR),          # malformed: dead letter
        copy.deepcopy(stored),                                 # a duplicate of 7001
        _greedy(versions, "7004", NOW - 2 * HOUR),             # sells out the tea
        versions("7001", "shipped", NOW - HOUR),               # 7001 moves on
        versions("7005", "paid", NOW - HOUR),                  # new, after the refusal
    ]
    report = shop.sync.receive_many("jd", page, received_at=NOW)
    assert report == SyncReport(new=3, updated=1, unchanged=1, dead_lettered=1,
                                waiting_for_stock=1)
    ids = ["7001", "7002", "7003", "7004", "7005"]
    state = _state(shop, ids)

    # The others are stored: the new ones paid with their stock locked and a recon id
    # each, the stored one shipped; the one the shelf cannot cover is stored paid,
    # waiting for stock: no lock, a refused lock in its audit naming what was short.
    assert state["orders"]["7002"][1] == state["orders"]["7005"][1] == OrderStatus.PAID
    assert state["orders"]["7001"][1] == OrderStatus.SHIPPED
    assert state["orders"]["7001"][2] == before.recon_id
    waiting = shop.repository.find_by_channel("jd", "7004")
    assert (waiting.status, waiting.lock_id) == (OrderStatus.PAID, None)
    short = [e for e in shop.repository.audit_trail(waiting.order_id)
             if e.outcome == "refused"]
    assert [(e.event, e.reason.split(":")[0]) for e in short] == [("lock", "short of stock")]
    assert [c for e in short for c in e.changes] == [("stock", TEA, "wanted 5, available 4")]
    # The malformed one wrote nothing but its dead letter: no order, no seen, no stock
    # entry, and no recon id drawn (the numbers stay gap-free).
    assert state["orders"]["7003"] is None
    assert state["seen"]["7003"] is None
    assert [kind for _id, kind in state["letters"]] == ["MappingError"]
    numbers = sorted(state["orders"][i][2] for i in ("7001", "7002", "7004", "7005"))
    assert [n[-4:] for n in numbers] == ["0001", "0002", "0003", "0004"]
    # Stock: three orders of one tea each locked or shipped; nothing of the 5 wanted.
    tea = state["stock"][TEA]
    assert (tea.on_hand, tea.locked, tea.available) == (5, 2, 3)
    locked = {entry.order_id for entry in shop.ledger.entries() if entry.order_id}
    assert locked == {before.order_id, *(shop.repository.find_by_channel("jd", i).order_id
                                          for i in ("7002", "7005"))}

    # The same page again is a no-op: nothing stored, locked, numbered or audited anew;
    # the copy of 7001's older version is now stale (counted on what sync saw), and the
    # dead letter stays (one more attempt).
    again = shop.sync.receive_many("jd", copy.deepcopy(page), received_at=NOW + HOUR)
    assert again == SyncReport(unchanged=4, stale=1, dead_lettered=1)
    after = _state(shop, ids)
    assert after["seen"]["7001"] == attrs.evolve(state["seen"]["7001"], stale=1)
    after["seen"]["7001"] = state["seen"]["7001"]
    assert after == state
    assert all(letter.attempts == 2 for letter in shop.store.dead_letters("jd"))


def test_one_payload_is_the_one_payload_page(shop: Any, versions: Any) -> None:
    """``receive`` takes the page path: a sold-out payload alone is stored waiting for
    stock, with no stock entry, and takes its stock when it is reserved."""
    assert shop.sync.receive("jd", _greedy(versions, "7101", NOW - HOUR),
                             received_at=NOW) == SyncReport(new=1)
    entries = len(shop.ledger.entries())
    report = shop.sync.receive("jd", _greedy(versions, "7102", NOW - HOUR), received_at=NOW)
    assert report == SyncReport(new=1, waiting_for_stock=1)
    assert report.summary().endswith("dead letters 0, waiting for stock 1")
    waiting = shop.repository.find_by_channel("jd", "7102")
    assert waiting.lock_id is None
    assert len(shop.ledger.entries()) == entries
    shop.ledger.receive(TEA, 1, reference="PO-TEA-2")
    assert shop.sync.receive("jd", versions("7103", "paid", NOW - HOUR),
                             received_at=NOW) == SyncReport(new=1)
    numbers = [shop.repository.find_by_channel("jd", i).recon_id
               for i in ("7101", "7102", "7103")]
    assert [n[-4:] for n in numbers] == ["0001", "0002", "0003"]
    # The tea left is 0 of the 5 wanted: still waiting; 5 more come in and it is reserved,
    # its lock confirmed (it is paid) so it never lapses.
    assert list(shop.service.reserve([waiting.order_id], at=NOW)) == [waiting.order_id]
    shop.ledger.receive(TEA, 5, reference="PO-TEA-3")
    assert shop.service.reserve([waiting.order_id], at=NOW) == {}
    shop.service.relay.run_until_idle()
    reserved = shop.repository.get(waiting.order_id)
    assert reserved.lock_id is not None
    tea = shop.ledger.stock(TEA)
    assert (tea.on_hand, tea.locked, tea.available) == (12, 11, 1)  # 5 + 1 + 5 locked
    assert sorted(e.kind.value for e in shop.ledger.entries()
                  if e.order_id == waiting.order_id) == ["confirm", "confirm", "lock", "lock"]
    assert shop.ledger.verify().ok


def test_versions_of_a_new_order_in_one_page_are_one_placement(
    shop: Any, versions: Any
) -> None:
    """Placed, paid and shipped in one page: stored once in its final form with every
    event's audit entry, and a later stale version is counted, not applied."""
    page = [versions("7201", "unpaid", NOW - 3 * HOUR), versions("7201", "paid", NOW - 2 * HOUR),
            versions("7201", "shipped", NOW - HOUR), versions("7201", "paid", NOW - 2 * HOUR)]
    page[3]["orderRemark"] = "an older copy, changed"
    report = shop.sync.receive_many("jd", page, received_at=NOW)
    assert report == SyncReport(new=1, updated=2, stale=1)
    order = shop.repository.find_by_channel("jd", "7201")
    assert order.status == OrderStatus.SHIPPED
    kinds = [entry.event for entry in shop.repository.audit_trail(order.order_id)]
    assert kinds == ["pay", "ship"]
    seen = shop.store.seen("jd", "7201")
    assert (seen.modified_at, seen.stale) == (NOW - HOUR, 1)


# --- payloads that come with their raw text --------------------------------------------


def test_a_payload_with_its_raw_text_is_known_again_by_a_hash_of_that_text(
    sqlite_shop: Any, versions: Any, transactions: Any
) -> None:
    shop = sqlite_shop
    shop.stock(TEA, POT)
    payload = versions("7301", "paid", NOW - HOUR)
    text = json.dumps(payload, ensure_ascii=False, indent=1)  # as the platform sent it
    assert shop.sync.receive("jd", payload, received_at=NOW, text=text) == SyncReport(new=1)
    assert shop.store.seen("jd", "7301").digest == raw_digest(text)
    begun = transactions(shop)
    # The same text again: unchanged by one read, no mapping, no transaction.
    assert shop.sync.receive("jd", json.loads(text), received_at=NOW,
                             text=text) == SyncReport(unchanged=1)
    assert begun == []
    # The same version in another text (a poll, other spacing; or no text at all): it
    # is mapped and changes nothing, so it is unchanged all the same.
    order = shop.repository.find_by_channel("jd", "7301")
    other = json.dumps(payload, separators=(",", ":"))
    assert shop.sync.receive("jd", json.loads(other), received_at=NOW,
                             text=other) == SyncReport(unchanged=1)
    assert shop.sync.receive("jd", payload, received_at=NOW) == SyncReport(unchanged=1)
    assert shop.repository.find_by_channel("jd", "7301") == order
    assert shop.store.seen("jd", "7301").digest == payload_digest(payload_text(payload))


def test_a_dead_letter_keeps_the_canonical_text_however_the_payload_came(
    shop: Any, versions: Any
) -> None:
    bad = _malformed(versions, "7401", NOW - HOUR)
    text = json.dumps(bad, indent=2)
    assert shop.sync.receive("jd", bad, received_at=NOW, text=text) == \
        SyncReport(dead_lettered=1)
    assert shop.sync.receive("jd", bad, received_at=NOW) == SyncReport(dead_lettered=1)
    (letter,) = shop.store.dead_letters("jd")  # one bad payload, one letter
    assert letter.payload == payload_text(bad)
    assert letter.letter_id == "jd:" + payload_digest(payload_text(bad))
    assert letter.attempts == 2


def test_texts_must_be_one_json_text_per_payload(shop: Any, versions: Any) -> None:
    page = [versions("7501", "paid", NOW - HOUR), versions("7502", "paid", NOW - HOUR)]
    with pytest.raises(ValidationError) as caught:
        shop.sync.receive_many("jd", page, received_at=NOW, texts=["{}"])
    assert caught.value.path == "texts"
    with pytest.raises(ValidationError) as caught:
        shop.sync.receive("jd", page[0], received_at=NOW, text=b"{}")  # type: ignore[arg-type]
    assert caught.value.path == "text"
    with pytest.raises(ValidationError) as caught:
        Page(page, texts=["{}"])
    assert caught.value.path == "texts"
    assert shop.repository.find_by_channel("jd", "7501") is None


def test_file_client_pages_carry_the_lines_as_read(versions: Any, tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    lines = [json.dumps(versions(str(7600 + n), "paid", NOW - HOUR + n * timedelta(minutes=1)),
                        ensure_ascii=False) for n in range(3)]
    feed.write_text("\n".join(lines) + "\n", "utf-8")
    page = FileChannelClient(feed, platform="jd").changed(NOW - 2 * HOUR, NOW, None)
    assert page.texts == tuple(lines)
    assert [json.loads(t) for t in lines] == list(page.payloads)
    texts = MemoryChannelClient([json.loads(t) for t in lines], platform="jd",
                                texts=lines).changed(NOW - 2 * HOUR, NOW, None).texts
    assert texts == tuple(lines)


def test_every_version_of_a_sold_out_new_order_in_a_page_is_one_order_waiting_for_stock(
    shop: Any, versions: Any
) -> None:
    greedy = _greedy(versions, "7701", NOW - 2 * HOUR)
    later = dict(greedy, modified=versions("7701", "paid", NOW - HOUR)["modified"])
    page = [versions("7702", "paid", NOW - HOUR), versions("7703", "paid", NOW - HOUR),
            greedy, later]  # the tea left after 7702 and 7703 is 4 of the 5 wanted
    assert shop.sync.receive_many("jd", page, received_at=NOW) == \
        SyncReport(new=3, unchanged=1, waiting_for_stock=1)
    waiting = shop.repository.find_by_channel("jd", "7701")
    assert (waiting.status, waiting.lock_id) == (OrderStatus.PAID, None)
    assert shop.store.seen("jd", "7701").modified_at == NOW - HOUR
    assert shop.store.dead_letters("jd") == []
    tea = shop.ledger.stock(TEA)
    assert (tea.on_hand, tea.locked, tea.available) == (6, 2, 4)
