"""How the SQLite order repository's save refuses, now that the constraints refuse
instead of reads: a stale version, a taken channel order id, a taken message id. Each
refusal leaves none of the save's writes behind, at the top level and inside an
atomic block, whether or not this repository has seen the stored version."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.model.audit import AuditEntry
from orderkit.model.errors import ConcurrencyError, DuplicateOrder, ValidationError
from orderkit.model.orders import Address, OrderStatus, Shipment
from orderkit.outbox import OutboxMessage
from orderkit.outbox.messages import message_id
from orderkit.testing.samples import sample_order

_T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class _Abort(Exception):
    pass


def _entry(order_id: str, event_id: str, event: str = "pack") -> AuditEntry:
    return AuditEntry(order_id, event_id, event, "cs-1", _T0, _T0, 20, 25, "applied")


def _message(order_id: str, event_id: str) -> OutboxMessage:
    return OutboxMessage(message_id(order_id, event_id, 0), order_id, "event.StatusChanged",
                         {"event_id": event_id}, _T0)


@pytest.fixture(params=[4096, 0], ids=["cached", "uncached"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> SQLiteOrderRepository:
    return SQLiteOrderRepository(tmp_path / "orders.db", cache_size=request.param)


def test_an_update_with_a_taken_message_id_changes_nothing(
    repository: SQLiteOrderRepository,
) -> None:
    kept = _message("ORD-1", "E1")
    order = sample_order("ORD-1")
    repository.save(order, None, outbox=(kept,))
    taken = attrs.evolve(_message("ORD-1", "E2"), message_id=kept.message_id)
    moved = attrs.evolve(order, status=OrderStatus.DELIVERED, version=order.version + 1)
    with pytest.raises(ValidationError) as caught:
        repository.save(moved, order.version, audit=(_entry("ORD-1", "E2"),),
                        outbox=(_message("ORD-1", "E3"), taken))
    error = caught.value
    assert (error.path, error.value, error.reason) == (
        "outbox[1].message_id", kept.message_id, "already stored")
    assert repository.get("ORD-1") == order
    assert repository.audit_trail("ORD-1") == []
    assert [m.message for m in repository.pending(10)] == [kept]


def test_a_refused_update_inside_a_block_leaves_the_order_and_the_block_as_they_were(
    repository: SQLiteOrderRepository,
) -> None:
    kept = _message("ORD-1", "E1")
    order = sample_order("ORD-1")
    repository.save(order, None, outbox=(kept,))
    moved = attrs.evolve(order, status=OrderStatus.DELIVERED, version=order.version + 1,
                         ship_to=Address(name="李*", city="南京市"),
                         shipments=(*order.shipments, Shipment("S9", "YTO", "YT000111", {})))
    taken = attrs.evolve(_message("ORD-1", "E2"), message_id=kept.message_id)
    with repository.atomic():
        with pytest.raises(ValidationError):
            repository.save(moved, order.version, audit=(_entry("ORD-1", "E2"),),
                            outbox=(taken,))
        # The refused save wrote nothing the block goes on to commit.
        repository.save(sample_order("ORD-2"), None)
    assert repository.get("ORD-1") == order
    assert repository.audit_trail("ORD-1") == []
    assert repository.address_history("ORD-1") == []
    assert repository.find_by_waybill("YT000111") == []
    assert repository.get("ORD-2") == sample_order("ORD-2")


def test_a_stale_update_inside_a_block_names_the_stored_version(
    repository: SQLiteOrderRepository,
) -> None:
    order = sample_order("ORD-1")
    repository.save(order, None)
    winner = attrs.evolve(order, version=order.version + 1)
    repository.save(winner, order.version)
    loser = attrs.evolve(order, version=order.version + 1, status=OrderStatus.CLOSED)
    with contextlib.suppress(_Abort), repository.atomic():
        with pytest.raises(ConcurrencyError) as caught:
            repository.save(loser, order.version, outbox=(_message("ORD-1", "E9"),))
        error = caught.value
        assert (error.expected, error.actual) == (order.version, winner.version)
        raise _Abort
    assert repository.get("ORD-1") == winner
    assert list(repository.pending(10)) == []


def test_an_order_may_move_to_a_free_channel_order_id_but_not_to_a_taken_one(
    repository: SQLiteOrderRepository,
) -> None:
    first = sample_order("ORD-1", channel_order_id="T-1")
    second = sample_order("ORD-2", channel_order_id="T-2")
    repository.save(first, None)
    repository.save(second, None)
    clash = attrs.evolve(second, channel_order_id="T-1", version=second.version + 1)
    with pytest.raises(DuplicateOrder) as duplicate:
        repository.save(clash, second.version, outbox=(_message("ORD-2", "E1"),))
    assert duplicate.value.existing_order_id == "ORD-1"
    assert repository.get("ORD-2") == second
    assert list(repository.pending(10)) == []
    renamed = attrs.evolve(second, channel_order_id="T-3", version=second.version + 1)
    repository.save(renamed, second.version)
    assert repository.find_by_channel("tmall", "T-3") == renamed
    assert repository.find_by_channel("tmall", "T-2") is None


def test_a_save_on_a_version_another_repository_wrote_checks_the_file(tmp_path: Path) -> None:
    # Two repositories on one file (as two processes): each knows only what it read.
    path = tmp_path / "orders.db"
    mine, theirs = SQLiteOrderRepository(path), SQLiteOrderRepository(path)
    order = sample_order("ORD-1")
    mine.save(order, None)
    assert mine.get("ORD-1") == order
    elsewhere = Address(name="王*", city="苏州市")
    moved = attrs.evolve(theirs.get("ORD-1"), ship_to=elsewhere, version=order.version + 1)
    theirs.save(moved, order.version, audit=(_entry("ORD-1", "E1", "change_address"),))
    # Mine still holds version 0: its save on top of it is refused by the file.
    stale = attrs.evolve(order, version=order.version + 1, status=OrderStatus.CLOSED)
    with pytest.raises(ConcurrencyError):
        mine.save(stale, order.version)
    # On top of the version it now reads, its address check compares with that one.
    fresh = mine.get("ORD-1")
    back = attrs.evolve(fresh, ship_to=order.ship_to, version=fresh.version + 1)
    mine.save(back, fresh.version)
    history = mine.address_history("ORD-1")
    assert [(v.previous, v.address) for v in history] == [
        (order.ship_to, elsewhere), (elsewhere, order.ship_to)]


def test_a_refused_save_without_messages_inside_a_block_writes_nothing(
    repository: SQLiteOrderRepository,
) -> None:
    # Its one refusable write is its first, so it joins the block without a savepoint.
    first = sample_order("ORD-1", channel_order_id="T-1")
    second = sample_order("ORD-2", channel_order_id="T-2")
    repository.save(first, None)
    repository.save(second, None)
    clash = attrs.evolve(second, channel_order_id="T-1", version=second.version + 1,
                         ship_to=Address(name="赵*"))
    stale = attrs.evolve(first, version=first.version + 2)
    with repository.atomic():
        with pytest.raises(DuplicateOrder):
            repository.save(clash, second.version, audit=(_entry("ORD-2", "E1"),))
        with pytest.raises(ConcurrencyError):
            repository.save(stale, first.version + 1, audit=(_entry("ORD-1", "E1"),))
        repository.save(sample_order("ORD-3"), None)
    assert (repository.get("ORD-1"), repository.get("ORD-2")) == (first, second)
    assert repository.audit_trail("ORD-1") == repository.audit_trail("ORD-2") == []
    assert repository.address_history("ORD-2") == []
    assert repository.get("ORD-3") == sample_order("ORD-3")
