"""The contract every ``OutboxStore`` keeps: an order repository that is also the outbox
store of the messages saved with its orders.

Subclass :class:`OutboxStoreContract` as ``Test...`` and implement
:meth:`~OutboxStoreContract.create_store`. Where two repository objects can share one
backing store (two processes on one SQLite file), also implement
:meth:`~OutboxStoreContract.create_peer`, so that messages are proven to outlive the
object that wrote them (by default a store is its own peer).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import attrs

from orderkit.lifecycle.ports import OrderRepository
from orderkit.model.errors import ConcurrencyError, DuplicateOrder, OrderNotFound, ValidationError
from orderkit.model.orders import OrderStatus
from orderkit.outbox.messages import OutboxMessage, StoredMessage, message_id
from orderkit.outbox.ports import OutboxRetention, OutboxStore, StockEffects
from orderkit.testing.samples import sample_order

__all__ = ["OutboxRetentionContract", "OutboxStoreContract"]

_T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
_PAYLOAD: dict[str, Any] = {
    "type": "PaymentReceived",
    "amount": "112.50",
    "currency": "CNY",
    "title": "绿茶 250g",
    "lines": {"SKU-A": 2, "SKU-B": None},
    "flags": [True, False, None, 0, -7, 2**70, "", {"deep": [[], {}]}],
    "empty": {},
}


def _message(
    order_id: str, event: str, index: int = 0, *, at: datetime = _T0, **extra: Any
) -> OutboxMessage:
    values: dict[str, Any] = {
        "message_id": message_id(order_id, event, index),
        "order_id": order_id,
        "topic": "event.PaymentReceived",
        "payload": {"event_id": event, "index": index},
        "created_at": at,
    }
    values.update(extra)
    return OutboxMessage(**values)


def _raises(kind: type[BaseException], call: Callable[..., object], *args: object,
            **kwargs: object) -> Any:
    try:
        call(*args, **kwargs)
    except kind as error:
        return error
    raise AssertionError(f"expected {kind.__name__}")


def _messages(stored: Sequence[StoredMessage]) -> list[OutboxMessage]:
    return [s.message for s in stored]


class _Abort(Exception):
    """Raised by the tests to leave an atomic block."""


@attrs.frozen
class _Applied:
    oversold: dict[str, int] = attrs.Factory(dict)
    lapsed: dict[str, int] = attrs.Factory(dict)


class _Ledger:
    """A stock ledger that applies every call and remembers it."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def apply_many(self, calls: Sequence[Any]) -> list[_Applied]:
        self.calls += calls
        return [_Applied() for _call in calls]


class OutboxStoreContract:
    """Subclass as ``Test...`` and implement :meth:`create_store`."""

    def create_store(self) -> OrderRepository:
        """Return a new, empty repository that is also an outbox store."""
        raise NotImplementedError

    def create_peer(self, store: OrderRepository) -> OrderRepository:
        """Another repository object over the same backing storage as ``store``.

        A store that cannot be opened twice (the memory store) is its own peer.
        """
        return store

    # --- saving messages with their order ----------------------------------------------

    def test_the_repository_is_an_outbox_store(self) -> None:
        store = self.create_store()
        assert isinstance(store, OutboxStore)
        assert isinstance(store, OrderRepository)

    def test_messages_saved_with_orders_come_back_pending_in_commit_order(self) -> None:
        store = self.create_store()
        first = sample_order("ORD-1")
        m1, m2 = _message("ORD-1", "E1", 0), _message("ORD-1", "E1", 1)
        store.save(first, expected_version=None, outbox=(m1, m2))
        m3 = _message("ORD-2", "E2", at=_T0 - timedelta(hours=1))
        store.save(sample_order("ORD-2"), expected_version=None, outbox=[m3])
        m4 = _message("ORD-1", "E3")
        changed = attrs.evolve(first, status=OrderStatus.DELIVERED, version=first.version + 1)
        store.save(changed, expected_version=first.version, outbox=(m4,))
        pending = store.pending(10)
        assert _messages(pending) == [m1, m2, m3, m4]
        assert all((s.status, s.attempts, s.error) == ("pending", 0, "") for s in pending)
        assert store.get("ORD-1") == changed

    def test_a_save_without_messages_adds_none(self) -> None:
        store = self.create_store()
        store.save(sample_order(), expected_version=None)
        assert list(store.pending(10)) == []
        assert store.oldest_pending() is None

    def test_payload_and_instant_come_back_equal(self) -> None:
        store = self.create_store()
        east = datetime(2026, 2, 16, 10, 0, 0, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))
        sent = _message("ORD-1", "E1", topic="stock.release", payload=_PAYLOAD, at=east)
        store.save(sample_order(), expected_version=None, outbox=(sent,))
        (stored,) = store.pending(1)
        got = stored.message
        assert got == sent
        assert got.payload["lines"] == {"SKU-A": 2, "SKU-B": None}
        assert got.payload["title"] == "绿茶 250g"
        flags = got.payload["flags"]  # JSON lists, read back as lists
        assert flags == [True, False, None, 0, -7, 2**70, "", {"deep": [[], {}]}]
        assert [type(flag) for flag in flags[:5]] == [bool, bool, type(None), int, int]
        assert got.created_at == east
        assert got.created_at.utcoffset() == timedelta(0)
        assert got.created_at.microsecond == 123456

    def test_what_caused_a_message_comes_back_with_it(self) -> None:
        """``occurred_at``, ``order_version`` and ``index`` are kept as given (``None``
        when not given)."""
        store = self.create_store()
        caused = attrs.evolve(_message("ORD-1", "E1", 1),
                              occurred_at=_T0 - timedelta(minutes=20), order_version=7, index=1)
        bare = _message("ORD-2", "E2")
        store.save(sample_order("ORD-1"), None, outbox=(caused,))
        store.enqueue([bare])
        got = _messages(store.pending(10))
        assert got == [caused, bare]
        assert (got[0].occurred_at, got[0].order_version, got[0].index) == (
            _T0 - timedelta(minutes=20), 7, 1)
        assert (got[1].occurred_at, got[1].order_version, got[1].index) == (None, None, None)

    # --- refused saves write no message ------------------------------------------------

    def test_a_stale_save_writes_no_message(self) -> None:
        store = self.create_store()
        order = sample_order()
        store.save(order, expected_version=None)
        stale = attrs.evolve(order, version=order.version + 6)
        _raises(ConcurrencyError, store.save, stale, order.version + 5,
                outbox=(_message("ORD-1", "E1"),))
        assert list(store.pending(10)) == []

    def test_a_duplicate_order_writes_no_message(self) -> None:
        store = self.create_store()
        store.save(sample_order("ORD-1", channel_order_id="T-9"), expected_version=None)
        twin = sample_order("ORD-2", channel_order_id="T-9")
        _raises(DuplicateOrder, store.save, twin, None, outbox=(_message("ORD-2", "E1"),))
        assert list(store.pending(10)) == []

    def test_a_message_of_another_order_is_refused_and_nothing_is_written(self) -> None:
        store = self.create_store()
        good, stray = _message("ORD-1", "E1"), _message("ORD-9", "E1")
        error = _raises(ValidationError, store.save, sample_order(), None, outbox=(good, stray))
        assert (error.path, error.value) == ("outbox[1].order_id", "ORD-9")
        _raises(OrderNotFound, store.get, "ORD-1")
        assert list(store.pending(10)) == []

    def test_something_not_a_message_is_refused_and_nothing_is_written(self) -> None:
        store = self.create_store()
        bad: Any = {"topic": "event.X"}
        error = _raises(ValidationError, store.save, sample_order(), None,
                        outbox=[_message("ORD-1", "E1"), bad])
        assert error.path == "outbox[1]"
        _raises(OrderNotFound, store.get, "ORD-1")
        assert list(store.pending(10)) == []

    def test_text_utf8_cannot_hold_is_refused_and_nothing_is_written(self) -> None:
        store = self.create_store()
        error = _raises(ValidationError, _message, "ORD-1", "E1", payload={"note": "\ud800"})
        assert error.path == "payload"
        # The message itself refuses such a topic, so no store is ever handed one.
        error = _raises(ValidationError, _message, "ORD-1", "E1", topic="event.\ud800")
        assert error.path == "topic"
        _raises(OrderNotFound, store.get, "ORD-1")
        assert list(store.pending(10)) == []

    def test_a_message_id_already_stored_is_refused_and_nothing_is_written(self) -> None:
        store = self.create_store()
        kept = _message("ORD-1", "E1")
        store.save(sample_order("ORD-1"), expected_version=None, outbox=(kept,))
        reused = attrs.evolve(_message("ORD-2", "E2"), message_id=kept.message_id)
        fresh = _message("ORD-2", "E3")
        error = _raises(ValidationError, store.save, sample_order("ORD-2"), None,
                        outbox=(fresh, reused))
        assert (error.path, error.value) == ("outbox[1].message_id", kept.message_id)
        _raises(OrderNotFound, store.get, "ORD-2")
        assert _messages(store.pending(10)) == [kept]

    def test_enqueued_messages_wait_behind_those_saved_before(self) -> None:
        store = self.create_store()
        saved = _message("ORD-1", "E1")
        store.save(sample_order("ORD-1"), expected_version=None, outbox=(saved,))
        found = _message("ORD-1", "oversell", topic="event.OversellDetected")
        other = _message("ORD-9", "oversell")  # no order needs to be stored for it
        store.enqueue([found, other])
        assert _messages(store.pending(10)) == [saved, found, other]

    def test_an_enqueue_with_a_taken_or_repeated_id_writes_nothing(self) -> None:
        store = self.create_store()
        kept = _message("ORD-1", "E1")
        store.save(sample_order("ORD-1"), expected_version=None, outbox=(kept,))
        fresh = _message("ORD-2", "E2")
        error = _raises(ValidationError, store.enqueue, [fresh, kept])
        assert (error.path, error.value) == ("messages[1].message_id", kept.message_id)
        error = _raises(ValidationError, store.enqueue, [fresh, fresh])
        assert error.path == "messages[1].message_id"
        _raises(ValidationError, store.enqueue, ["not a message"])
        assert _messages(store.pending(10)) == [kept]

    def test_an_id_stays_taken_after_delivery(self) -> None:
        store = self.create_store()
        kept = _message("ORD-1", "E1")
        store.save(sample_order("ORD-1"), expected_version=None, outbox=(kept,))
        store.mark_delivered([kept.message_id], _T0)
        reused = attrs.evolve(_message("ORD-2", "E2"), message_id=kept.message_id)
        error = _raises(ValidationError, store.save, sample_order("ORD-2"), None,
                        outbox=(reused,))
        assert error.path == "outbox[0].message_id"
        assert list(store.pending(10)) == []

    def test_one_id_twice_in_one_save_is_refused(self) -> None:
        store = self.create_store()
        twice = _message("ORD-1", "E1")
        error = _raises(ValidationError, store.save, sample_order(), None,
                        outbox=(twice, twice))
        assert (error.path, error.value) == ("outbox[1].message_id", twice.message_id)
        _raises(OrderNotFound, store.get, "ORD-1")

    # --- atomic blocks -----------------------------------------------------------------

    def test_an_atomic_block_that_raises_keeps_none_of_its_messages(self) -> None:
        store = self.create_store()
        order = sample_order("ORD-1")
        before = _message("ORD-1", "E0")
        store.save(order, expected_version=None, outbox=(before,))
        changed = attrs.evolve(order, version=order.version + 1)
        with contextlib.suppress(_Abort), store.atomic():
            store.save(changed, order.version, outbox=(_message("ORD-1", "E1"),))
            store.save(sample_order("ORD-2"), None, outbox=(_message("ORD-2", "E2"),))
            store.mark_failed(before.message_id, "boom", dead=True)
            raise _Abort
        assert store.get("ORD-1") == order
        assert list(store.pending(10)) == [StoredMessage(before)]
        assert list(store.dead_letters()) == []
        with contextlib.suppress(_Abort), store.atomic():
            store.mark_delivered([before.message_id], _T0)
            raise _Abort
        assert list(store.pending(10)) == [StoredMessage(before)]
        assert store.oldest_pending() == _T0

    def test_an_inner_block_that_raises_undoes_only_its_own_messages(self) -> None:
        store = self.create_store()
        m1, m2 = _message("ORD-1", "E1"), _message("ORD-2", "E2")
        with store.atomic():
            store.save(sample_order("ORD-1"), None, outbox=(m1,))
            with contextlib.suppress(_Abort), store.atomic():
                store.save(sample_order("ORD-2"), None, outbox=(m2,))
                store.mark_delivered([m1.message_id], _T0)
                raise _Abort
        assert _messages(store.pending(10)) == [m1]
        _raises(OrderNotFound, store.get, "ORD-2")

    def test_a_refused_save_inside_a_block_leaves_the_block_usable(self) -> None:
        store = self.create_store()
        m1 = _message("ORD-1", "E1")
        m3 = _message("ORD-3", "E3")
        with store.atomic():
            store.save(sample_order("ORD-1"), None, outbox=(m1,))
            reused = attrs.evolve(_message("ORD-2", "E2"), message_id=m1.message_id)
            _raises(ValidationError, store.save, sample_order("ORD-2"), None, outbox=(reused,))
            store.save(sample_order("ORD-3"), None, outbox=(m3,))
        assert _messages(store.pending(10)) == [m1, m3]
        _raises(OrderNotFound, store.get, "ORD-2")

    # --- delivery ----------------------------------------------------------------------

    def test_delivered_messages_leave_pending(self) -> None:
        store = self.create_store()
        m1, m2, m3 = (_message("ORD-1", "E1", i) for i in range(3))
        store.save(sample_order(), expected_version=None, outbox=(m1, m2, m3))
        store.mark_delivered([m1.message_id, "no-such-message", m3.message_id], _T0)
        assert _messages(store.pending(10)) == [m2]
        store.mark_delivered([m1.message_id], _T0 + timedelta(1))  # again: no change
        store.mark_delivered([], _T0)
        assert _messages(store.pending(10)) == [m2]
        store.mark_delivered((m2.message_id,), _T0)
        assert list(store.pending(10)) == []
        assert list(store.dead_letters()) == []

    def test_a_failed_delivery_counts_attempts_and_keeps_the_error(self) -> None:
        store = self.create_store()
        m1, m2 = _message("ORD-1", "E1", 0), _message("ORD-1", "E1", 1)
        store.save(sample_order(), expected_version=None, outbox=(m1, m2))
        store.mark_failed(m1.message_id, "timeout", dead=False)
        store.mark_failed(m1.message_id, "连接被拒绝", dead=False)
        assert list(store.pending(10)) == [
            StoredMessage(m1, "pending", 2, "连接被拒绝"),
            StoredMessage(m2),
        ]

    def test_a_long_error_is_cut_to_a_sane_length(self) -> None:
        store = self.create_store()
        m1 = _message("ORD-1", "E1")
        store.save(sample_order(), expected_version=None, outbox=(m1,))
        long = "x" * 1500 + "y" * 100_000
        store.mark_failed(m1.message_id, long, dead=False)
        (stored,) = store.pending(1)
        assert 1500 < len(stored.error) <= 2000
        assert stored.error.startswith("x" * 1500)

    def test_an_error_utf8_cannot_hold_is_kept_escaped(self) -> None:
        store = self.create_store()
        m1 = _message("ORD-1", "E1")
        store.save(sample_order(), expected_version=None, outbox=(m1,))
        store.mark_failed(m1.message_id, "bad \udc80 byte", dead=False)
        (stored,) = store.pending(1)
        assert stored.error.startswith("bad ") and stored.error.endswith(" byte")
        assert stored.attempts == 1
        # NUL, which PostgreSQL text cannot hold, is kept as the same escape everywhere.
        store.mark_failed(m1.message_id, "bad \x00 byte", dead=False)
        (stored,) = store.pending(1)
        assert stored.error == "bad \\x00 byte"

    def test_a_dead_message_leaves_pending_for_the_dead_letters(self) -> None:
        store = self.create_store()
        m1, m2 = _message("ORD-1", "E1", 0), _message("ORD-1", "E1", 1)
        store.save(sample_order(), expected_version=None, outbox=(m1, m2))
        store.mark_failed(m1.message_id, "first", dead=False)
        store.mark_failed(m1.message_id, "gave up", dead=True)
        assert _messages(store.pending(10)) == [m2]
        assert list(store.dead_letters()) == [StoredMessage(m1, "dead", 2, "gave up")]

    def test_failures_of_delivered_dead_or_unknown_messages_change_nothing(self) -> None:
        store = self.create_store()
        m1, m2 = _message("ORD-1", "E1", 0), _message("ORD-1", "E1", 1)
        store.save(sample_order(), expected_version=None, outbox=(m1, m2))
        store.mark_delivered([m1.message_id], _T0)
        store.mark_failed(m1.message_id, "late", dead=True)
        store.mark_failed("no-such-message", "late", dead=True)
        store.mark_failed(m2.message_id, "gave up", dead=True)
        store.mark_failed(m2.message_id, "again", dead=False)
        assert list(store.pending(10)) == []
        assert list(store.dead_letters()) == [StoredMessage(m2, "dead", 1, "gave up")]
        assert store.dead_letter_count() == 1

    def test_replay_brings_a_dead_message_back_in_its_place(self) -> None:
        store = self.create_store()
        m1, m2 = _message("ORD-1", "E1", 0), _message("ORD-1", "E1", 1)
        store.save(sample_order(), expected_version=None, outbox=(m1, m2))
        store.mark_failed(m1.message_id, "gave up", dead=True)
        assert store.dead_letter_count() == 1
        assert store.replay(m1.message_id) is True
        assert list(store.pending(10)) == [StoredMessage(m1), StoredMessage(m2)]
        assert list(store.dead_letters()) == []
        assert store.dead_letter_count() == 0
        assert store.replay(m1.message_id) is False  # pending now, not dead
        assert store.replay("no-such-message") is False
        store.mark_delivered([m1.message_id], _T0)
        assert store.replay(m1.message_id) is False

    def test_oldest_pending_is_when_the_earliest_waiting_message_was_created(self) -> None:
        store = self.create_store()
        assert store.oldest_pending() is None
        late = _message("ORD-1", "E1", at=_T0 + timedelta(hours=2))
        early = _message("ORD-2", "E2", at=_T0 + timedelta(minutes=5))
        later = _message("ORD-3", "E3", at=_T0 + timedelta(hours=3))
        store.save(sample_order("ORD-1"), None, outbox=(late,))
        store.save(sample_order("ORD-2"), None, outbox=(early,))
        store.save(sample_order("ORD-3"), None, outbox=(later,))
        assert store.oldest_pending() == early.created_at
        store.mark_failed(early.message_id, "gave up", dead=True)
        assert store.oldest_pending() == late.created_at
        store.mark_delivered([late.message_id], _T0)
        assert store.oldest_pending() == later.created_at
        store.mark_delivered([later.message_id], _T0)
        assert store.oldest_pending() is None

    def test_pending_returns_at_most_limit_oldest_first(self) -> None:
        store = self.create_store()
        sent = [_message("ORD-1", "E1", i) for i in range(5)]
        store.save(sample_order(), expected_version=None, outbox=sent)
        assert _messages(store.pending(2)) == sent[:2]
        assert _messages(store.pending(1)) == sent[:1]
        assert _messages(store.pending(99)) == sent
        store.mark_delivered([sent[0].message_id, sent[2].message_id], _T0)
        assert _messages(store.pending(2)) == [sent[1], sent[3]]

    def test_a_consumers_pending_skips_rows_waiting_out_a_back_off_and_those_behind(
        self,
    ) -> None:
        """``pending(limit, consumer=..., now=...)`` reads one consumer's lane, without
        the rows waiting out a back-off at ``now`` nor the later rows of their order for
        that consumer; the order's rows for the other consumer are not held back."""
        store = self.create_store()
        a0, a1 = _message("ORD-A", "E1", 0), _message("ORD-A", "E1", 1)
        a_stock = _message("ORD-A", "E1", 2, topic="stock.release",
                           payload={"lock_id": "L-A", "lines": None})
        store.save(sample_order("ORD-A"), None, outbox=(a0, a1, a_stock))
        b0 = _message("ORD-B", "E2")
        store.save(sample_order("ORD-B"), None, outbox=(b0,))
        store.mark_failed(a0.message_id, "down", dead=False,
                          retry_at=_T0 + timedelta(seconds=10))
        assert _messages(store.pending(10, consumer="sink", now=_T0)) == [b0]
        assert _messages(store.pending(10, consumer="ledger", now=_T0)) == [a_stock]
        later = _T0 + timedelta(seconds=10)  # the back-off has passed: in saved order
        assert _messages(store.pending(10, consumer="sink", now=later)) == [a0, a1, b0]
        assert _messages(store.pending(2, consumer="sink", now=later)) == [a0, a1]
        # Without a consumer and an instant: every pending row, as before.
        assert _messages(store.pending(10)) == [a0, a1, a_stock, b0]
        store.mark_failed(a0.message_id, "gave up", dead=True)  # a dead letter: no block
        assert _messages(store.pending(10, consumer="sink", now=_T0)) == [a1, b0]

    def test_event_rows_in_back_off_do_not_starve_the_stock_lane(self) -> None:
        """150 event rows wait out their back-off, then one stock row is saved: one
        relay run applies the stock row."""
        from orderkit.outbox.relay import OutboxRelay  # the relay, on this store

        store = self.create_store()
        waiting: list[OutboxMessage] = []
        for n in range(50):
            order_id = f"ORD-{n:03d}"
            sent = [_message(order_id, "E1", k) for k in range(3)]
            store.save(sample_order(order_id, channel_order_id=f"C-{n}"), None, outbox=sent)
            waiting += sent
        for first in waiting[::3]:  # each order's first event: the two behind it wait
            store.mark_failed(first.message_id, "broker down", dead=False,
                              retry_at=_T0 + timedelta(minutes=5))
        release = _message("ORD-Z", "E9", topic="stock.release",
                           payload={"lock_id": "L-Z", "lines": None})
        store.save(sample_order("ORD-Z", channel_order_id="C-Z"), None, outbox=(release,))
        ledger = _Ledger()

        class _Clock:
            def now(self) -> datetime:
                return _T0

        relay = OutboxRelay(store, inventory=cast(StockEffects, ledger), clock=_Clock())
        report = relay.run_once(limit=100)
        assert report.delivered == 1
        assert [call.ref for call in ledger.calls] == [release.message_id]
        assert len(store.pending(1000)) == 150

    def test_bad_arguments_are_refused_naming_the_field(self) -> None:
        store = self.create_store()
        m1 = _message("ORD-1", "E1")
        store.save(sample_order(), expected_version=None, outbox=(m1,))
        bad: Any = "no"
        for limit in (0, -1, True, "5", 1.5, 2**63):
            assert _raises(ValidationError, store.pending, limit).path == "limit"
        for consumer in ("event", "", 7):
            assert _raises(ValidationError, store.pending, 1, consumer=consumer,
                           now=_T0).path == "consumer"
        assert _raises(ValidationError, store.pending, 1, consumer="sink",
                       now=datetime(2026, 2, 16, 2, 0)).path == "now"
        assert _raises(ValidationError, store.mark_delivered, m1.message_id, _T0).path == (
            "message_ids"
        )
        assert _raises(ValidationError, store.mark_delivered, [m1.message_id, 7], _T0).path == (
            "message_ids[1]"
        )
        naive = datetime(2026, 2, 16, 2, 0)
        assert _raises(ValidationError, store.mark_delivered, [m1.message_id], naive).path == "at"
        assert _raises(ValidationError, store.mark_failed, m1.message_id, None,
                       dead=False).path == "error"
        assert _raises(ValidationError, store.mark_failed, m1.message_id, "e",
                       dead=bad).path == "dead"
        assert _raises(ValidationError, store.replay, 7).path == "message_id"
        for not_messages in ("no", None, {"m": m1}):
            assert _raises(ValidationError, store.save, sample_order("ORD-2"), None,
                           outbox=not_messages).path == "outbox"
        assert list(store.pending(10)) == [StoredMessage(m1)]

    # --- sharing and concurrency --------------------------------------------------------

    def test_messages_outlive_the_object_that_saved_them(self) -> None:
        store = self.create_store()
        m1, m2 = _message("ORD-1", "E1", 0), _message("ORD-1", "E1", 1)
        store.save(sample_order(), expected_version=None, outbox=(m1, m2))
        store.mark_failed(m1.message_id, "gave up", dead=True)
        peer = self.create_peer(store)
        assert list(peer.pending(10)) == [StoredMessage(m2)]
        assert list(peer.dead_letters()) == [StoredMessage(m1, "dead", 1, "gave up")]
        assert peer.replay(m1.message_id) is True
        peer.mark_delivered([m2.message_id], _T0)
        assert list(store.pending(10)) == [StoredMessage(m1)]

    def test_concurrent_savers_lose_no_message_and_readers_see_commit_order(self) -> None:
        store = self.create_store()
        writers, orders = 3, 15
        start = threading.Barrier(writers + 1)
        failures: list[BaseException] = []
        done = threading.Event()
        snapshots: list[list[str]] = []

        def save_all(name: str) -> None:
            try:
                peer = self.create_peer(store)
                start.wait()
                for n in range(orders):
                    order_id = f"{name}-{n}"
                    sent = [_message(order_id, "E", i) for i in range(2)]
                    order = sample_order(order_id)
                    peer.save(order, expected_version=None, outbox=sent)
            except BaseException as error:  # reported by the main thread
                failures.append(error)

        def read_all() -> None:
            try:
                peer = self.create_peer(store)
                start.wait()
                while not done.is_set():
                    snapshots.append([s.message.message_id for s in peer.pending(10_000)])
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=save_all, args=(f"W{w}",)) for w in range(writers)]
        reader = threading.Thread(target=read_all)
        for thread in [*threads, reader]:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        reader.join()
        assert failures == []
        final = [s.message for s in store.pending(10_000)]
        assert len(final) == writers * orders * 2
        assert len({m.message_id for m in final}) == len(final)
        for w in range(writers):  # each writer's messages keep the order it saved them in
            mine = [m.message_id for m in final if m.order_id.startswith(f"W{w}-")]
            assert mine == [
                message_id(f"W{w}-{n}", "E", i) for n in range(orders) for i in range(2)
            ]
        ids = [m.message_id for m in final]
        for snapshot in snapshots:  # nothing ever committed before a message already seen
            assert snapshot == ids[: len(snapshot)]


class _Sink:
    """An event sink that keeps every message id it is given, in order."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def publish(self, events: Sequence[object]) -> None:
        self.ids += [cast(OutboxMessage, message).message_id for message in events]


class _FixedClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


class OutboxRetentionContract:
    """The contract of an outbox store with a retention
    (:class:`~orderkit.outbox.ports.OutboxRetention`, added in 0.3): subclass as
    ``Test...`` and implement :meth:`create_store` (and :meth:`create_peer` where two
    objects can share one backing store), as for :class:`OutboxStoreContract`."""

    def create_store(self) -> OrderRepository:
        """Return a new, empty repository that is also an outbox store with a retention."""
        raise NotImplementedError

    def create_peer(self, store: OrderRepository) -> OrderRepository:
        """Another repository object over the same backing storage as ``store``."""
        return store

    def _retention(self, store: OrderRepository) -> OutboxRetention:
        assert isinstance(store, OutboxRetention)
        return store

    def _one_delivered(self) -> tuple[OrderRepository, OutboxMessage, OutboxRetention]:
        """A new store holding one message, delivered at ``_T0``; the message; the store
        as a retention."""
        store = self.create_store()
        m1 = _message("ORD-1", "E1")
        store.save(sample_order("ORD-1"), None, outbox=(m1,))
        store.mark_delivered([m1.message_id], _T0)
        return store, m1, self._retention(store)

    def _taken(self, store: OrderRepository, message: OutboxMessage) -> bool:
        """Whether ``message``'s id is still stored: an enqueue of it is refused."""
        try:
            store.enqueue([attrs.evolve(message, order_id="ORD-PROBE")])
        except ValidationError:
            return True
        with contextlib.suppress(ValidationError):  # taken now: delivered and purged
            store.mark_delivered([message.message_id], _T0 - timedelta(days=3650))
            self._retention(store).purge_delivered(_T0 - timedelta(days=3649))
        return False

    def test_the_repository_keeps_a_retention(self) -> None:
        store = self.create_store()
        assert isinstance(store, OutboxRetention)

    def test_only_messages_delivered_before_the_cutoff_go(self) -> None:
        store = self.create_store()
        cutoff = _T0 - timedelta(days=30)
        year_ago = _T0 - timedelta(days=365)
        waiting, failing, dead, early, at_cutoff, late = (
            _message("ORD-1", "E1", i, at=year_ago) for i in range(6)
        )
        store.save(sample_order("ORD-1"), None,
                   outbox=(waiting, failing, dead, early, at_cutoff, late))
        store.mark_failed(failing.message_id, "down", dead=False, retry_at=year_ago)
        store.mark_failed(dead.message_id, "gave up", dead=True)
        store.mark_delivered([early.message_id], cutoff - timedelta(microseconds=1))
        store.mark_delivered([at_cutoff.message_id], cutoff)
        store.mark_delivered([late.message_id], _T0 - timedelta(days=1))
        retention = self._retention(store)
        assert retention.purge_delivered(cutoff) == 1
        assert retention.purge_delivered(cutoff) == 0
        assert _messages(store.pending(10)) == [waiting, failing]
        assert _messages(store.dead_letters()) == [dead]
        assert not self._taken(store, early)
        assert self._taken(store, at_cutoff) and self._taken(store, late)
        assert retention.purge_delivered(cutoff + timedelta(microseconds=1)) == 1
        assert retention.purge_delivered(_T0 + timedelta(days=3650)) == 1
        # Pending and dead messages stay, however old.
        assert _messages(store.pending(10)) == [waiting, failing]
        assert _messages(store.dead_letters()) == [dead]
        assert store.oldest_pending() == year_ago

    def test_a_limit_purges_the_earliest_delivered_first(self) -> None:
        store = self.create_store()
        sent = [_message("ORD-1", "E1", i) for i in range(5)]
        store.save(sample_order("ORD-1"), None, outbox=sent)
        for hours, message in enumerate(reversed(sent)):  # the last saved delivered first
            store.mark_delivered([message.message_id], _T0 + timedelta(hours=hours))
        retention = self._retention(store)
        later = _T0 + timedelta(days=1)
        assert retention.purge_delivered(later, limit=2) == 2
        assert [self._taken(store, m) for m in sent] == [True, True, True, False, False]
        assert retention.purge_delivered(later, limit=2) == 2
        assert retention.purge_delivered(later, limit=2) == 1
        assert retention.purge_delivered(later, limit=2) == 0

    def test_a_purged_message_is_gone_for_every_call(self) -> None:
        store = self.create_store()
        gone, kept = _message("ORD-1", "E1", 0), _message("ORD-1", "E1", 1)
        store.save(sample_order("ORD-1"), None, outbox=(gone, kept))
        store.mark_delivered([gone.message_id], _T0)
        assert self._retention(store).purge_delivered(_T0 + timedelta(1)) == 1
        store.mark_delivered([gone.message_id], _T0)  # unknown now: skipped
        store.mark_failed(gone.message_id, "late", dead=True)
        assert store.replay(gone.message_id) is False
        assert list(store.dead_letters()) == []
        assert store.dead_letter_count() == 0
        assert list(store.pending(10)) == [StoredMessage(kept)]
        assert self._retention(store).purge_delivered(_T0 + timedelta(1)) == 0

    def test_an_orders_new_messages_still_wait_behind_its_pending_ones(self) -> None:
        store = self.create_store()
        order = sample_order("ORD-1")
        m0, m1 = _message("ORD-1", "E1", 0), _message("ORD-1", "E1", 1)
        store.save(order, None, outbox=(m0, m1))
        other = _message("ORD-2", "E2")
        store.save(sample_order("ORD-2"), None, outbox=(other,))
        store.mark_delivered([m0.message_id, other.message_id], _T0)
        retry = _T0 + timedelta(minutes=5)
        store.mark_failed(m1.message_id, "down", dead=False, retry_at=retry)
        assert self._retention(store).purge_delivered(_T0 + timedelta(1)) == 2
        m2 = _message("ORD-1", "E2")
        store.save(attrs.evolve(order, version=order.version + 1), order.version, outbox=(m2,))
        peer = self.create_peer(store)
        assert _messages(peer.pending(10)) == [m1, m2]
        assert list(peer.pending(10, consumer="sink", now=_T0)) == []  # behind m1
        assert _messages(peer.pending(10, consumer="sink", now=retry)) == [m1, m2]

    def test_a_purge_in_a_block_that_raises_is_undone(self) -> None:
        store, m1, retention = self._one_delivered()
        with contextlib.suppress(_Abort), store.atomic():
            assert retention.purge_delivered(_T0 + timedelta(1)) == 1
            raise _Abort
        assert self._taken(store, m1)
        with store.atomic():
            assert retention.purge_delivered(_T0 + timedelta(1)) == 1
        assert retention.purge_delivered(_T0 + timedelta(1)) == 0

    def test_bad_arguments_are_refused_and_nothing_is_deleted(self) -> None:
        store, m1, retention = self._one_delivered()
        later = _T0 + timedelta(1)
        bad: Any
        for bad in (datetime(2026, 3, 1), "2026-03-01T00:00:00+00:00", None, 7):
            assert _raises(ValidationError, retention.purge_delivered, bad).path == "before"
        for bad in (0, -1, True, "5", 1.5, 2**63):
            assert _raises(ValidationError, retention.purge_delivered, later,
                           limit=bad).path == "limit"
        assert self._taken(store, m1)
        assert retention.purge_delivered(later, limit=None) == 1

    def test_the_relay_purges_by_its_clock_in_batches(self) -> None:
        from orderkit.outbox.relay import OutboxRelay  # the relay, on this store

        store = self.create_store()
        sent = [_message("ORD-1", "E1", i) for i in range(7)]
        store.save(sample_order("ORD-1"), None, outbox=sent)
        store.mark_delivered([m.message_id for m in sent[:5]], _T0 - timedelta(days=31))
        store.mark_delivered([sent[5].message_id], _T0 - timedelta(days=29))
        clock = _FixedClock(_T0)
        relay = OutboxRelay(self.create_peer(store), clock=clock)
        assert relay.purge(timedelta(days=30), batch=2) == 5
        assert relay.purge(timedelta(days=30), batch=2) == 0
        assert self._taken(store, sent[5])
        assert _messages(store.pending(10)) == [sent[6]]
        clock.at = _T0 + timedelta(days=2)
        assert relay.purge(timedelta(days=30)) == 1

    def test_a_purge_beside_a_relay_loses_and_repeats_nothing(self) -> None:
        """Writers save messages, a relay delivers them and a purger deletes what was
        delivered, all at once: every message reaches the sink once and is purged once."""
        from orderkit.outbox.relay import OutboxRelay  # the relay, on this store

        store = self.create_store()
        writers, orders = 2, 30
        failures: list[BaseException] = []
        done = threading.Event()
        sink = _Sink()
        purged: list[int] = []
        future = datetime(2999, 1, 1, tzinfo=UTC)

        def save_all(name: str) -> None:
            try:
                peer = self.create_peer(store)
                for n in range(orders):
                    order_id = f"{name}-{n}"
                    sent = [_message(order_id, "E", i) for i in range(2)]
                    peer.save(sample_order(order_id, channel_order_id=order_id), None,
                              outbox=sent)
            except BaseException as error:  # reported by the main thread
                failures.append(error)

        def relay_all() -> None:
            try:
                relay = OutboxRelay(self.create_peer(store), sink=sink)
                while not done.is_set():
                    relay.run_once(limit=5)
            except BaseException as error:
                failures.append(error)

        def purge_all() -> None:
            try:
                peer = self._retention(self.create_peer(store))
                while not done.is_set():
                    purged.append(peer.purge_delivered(future, limit=3))
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=save_all, args=(f"W{w}",)) for w in range(writers)]
        helpers = [threading.Thread(target=relay_all), threading.Thread(target=purge_all)]
        for thread in [*threads, *helpers]:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        for thread in helpers:
            thread.join()
        assert failures == []
        OutboxRelay(store, sink=sink).run_until_idle(limit=1000)
        purged.append(self._retention(store).purge_delivered(future))
        total = writers * orders * 2
        assert sorted(sink.ids) == sorted(
            message_id(f"W{w}-{n}", "E", i)
            for w in range(writers) for n in range(orders) for i in range(2)
        )
        assert len(sink.ids) == total and sum(purged) == total
        assert list(store.pending(10)) == [] and list(store.dead_letters()) == []
