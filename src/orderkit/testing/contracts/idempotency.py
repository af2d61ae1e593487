"""The contract every ``IdempotencyStore`` keeps.

Subclass :class:`IdempotencyStoreContract` as ``Test...`` and implement
:meth:`~IdempotencyStoreContract.create_store`. Where two store objects can share one
backing store (two processes on one SQLite file), also implement
:meth:`~IdempotencyStoreContract.create_peer` so the sharing is proven too (by default a
store is its own peer).

The last tests run the :class:`~orderkit.idempotency.Idempotency` guard over the store:
work that ran is never run twice (even when its result cannot be stored), a refusal is
retried unless the caller marks it final, and field names never make two payloads
share a fingerprint.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from orderkit.idempotency.guard import Idempotency
from orderkit.idempotency.ports import IdempotencyStore
from orderkit.idempotency.records import IdempotencyRecord, RecordState
from orderkit.model.errors import (
    IdempotencyConflict,
    IdempotencyError,
    TransitionNotAllowed,
    ValidationError,
)

__all__ = ["IdempotencyStoreContract"]

_T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
_LEASE = timedelta(seconds=30)


def _claim(
    key: str = "k1", token: str = "t1", *, at: datetime = _T0, **extra: object
) -> IdempotencyRecord:
    values: dict[str, object] = {
        "key": key,
        "request_hash": "h1",
        "token": token,
        "created_at": at,
        "lease_expires_at": at + _LEASE,
        "field_hashes": {"order_id": "aa", "status": "bb"},
    }
    values.update(extra)
    return IdempotencyRecord(**values)  # type: ignore[arg-type]


class IdempotencyStoreContract:
    """Subclass as ``Test...`` and implement :meth:`create_store`."""

    def create_store(self) -> IdempotencyStore:
        """Return a new, empty store."""
        raise NotImplementedError

    def create_peer(self, store: IdempotencyStore) -> IdempotencyStore:
        """Another store object over the same backing storage as ``store``.

        A store that cannot be opened twice (the memory store) is its own peer.
        """
        return store

    # --- claim -------------------------------------------------------------------------

    def test_first_claim_wins_and_is_stored_as_given(self) -> None:
        store = self.create_store()
        record = _claim()
        assert store.claim(record) is None
        assert store.get("k1") == record

    def test_second_claim_gets_the_stored_record_unchanged(self) -> None:
        store = self.create_store()
        first = _claim(token="first")
        store.claim(first)
        assert store.claim(_claim(token="second", request_hash="h2")) == first
        assert store.get("k1") == first

    def test_unknown_key_reads_as_none(self) -> None:
        assert self.create_store().get("nobody") is None

    def test_keys_are_independent(self) -> None:
        store = self.create_store()
        assert store.claim(_claim("a")) is None
        assert store.claim(_claim("b")) is None

    def test_instants_come_back_aware_in_utc_to_the_microsecond(self) -> None:
        store = self.create_store()
        east = _T0.astimezone(ZoneInfo("Asia/Shanghai"))
        at = east.replace(microsecond=123456)
        store.claim(_claim(at=at))
        stored = store.get("k1")
        assert stored is not None
        assert stored.created_at == at
        assert stored.created_at.utcoffset() == timedelta(0)

    def test_only_one_of_many_concurrent_claims_wins(self) -> None:
        store = self.create_store()
        winners: list[str] = []
        start = threading.Barrier(8)

        def contend(token: str) -> None:
            start.wait()
            if store.claim(_claim(token=token)) is None:
                winners.append(token)

        threads = [threading.Thread(target=contend, args=(f"t{i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(winners) == 1
        stored = store.get("k1")
        assert stored is not None and stored.token == winners[0]

    # --- complete (compare-and-set on the token) ---------------------------------------

    def test_holder_completes_with_its_outcome(self) -> None:
        store = self.create_store()
        store.claim(_claim())
        done_at = _T0 + timedelta(seconds=2)
        assert store.complete("k1", "t1", b"\x00outcome\xff", done_at) is True
        stored = store.get("k1")
        assert stored is not None
        assert stored.state is RecordState.COMPLETED
        assert stored.outcome == b"\x00outcome\xff"
        assert stored.completed_at == done_at
        assert stored.token == "t1"
        assert dict(stored.field_hashes) == {"order_id": "aa", "status": "bb"}

    def test_an_empty_outcome_is_kept_as_empty_bytes(self) -> None:
        # The guard's not-stored marker: it must not read back as "no outcome".
        store = self.create_store()
        store.claim(_claim())
        assert store.complete("k1", "t1", b"", _T0) is True
        stored = self.create_peer(store).get("k1")
        assert stored is not None and stored.state is RecordState.COMPLETED
        assert stored.outcome == b""

    def test_completing_with_another_token_is_refused(self) -> None:
        store = self.create_store()
        store.claim(_claim())
        assert store.complete("k1", "intruder", b"x", _T0) is False
        stored = store.get("k1")
        assert stored is not None and stored.state is RecordState.IN_PROGRESS

    def test_completing_twice_keeps_the_first_outcome(self) -> None:
        store = self.create_store()
        store.claim(_claim())
        store.complete("k1", "t1", b"first", _T0)
        assert store.complete("k1", "t1", b"second", _T0) is False
        stored = store.get("k1")
        assert stored is not None and stored.outcome == b"first"

    def test_completing_an_unknown_key_is_refused(self) -> None:
        assert self.create_store().complete("nobody", "t1", b"x", _T0) is False

    # --- take over ---------------------------------------------------------------------

    def test_take_over_replaces_the_claim_holding_the_expected_token(self) -> None:
        store = self.create_store()
        store.claim(_claim(token="old"))
        later = _T0 + timedelta(minutes=1)
        new = _claim(token="new", at=later)
        assert store.take_over("old", new) is True
        assert store.get("k1") == new
        # The late first holder can no longer finish or release.
        assert store.complete("k1", "old", b"late", later) is False
        assert store.release("k1", "old") is False
        assert store.get("k1") == new

    def test_only_one_of_two_takers_wins(self) -> None:
        store = self.create_store()
        store.claim(_claim(token="old"))
        assert store.take_over("old", _claim(token="a")) is True
        assert store.take_over("old", _claim(token="b")) is False
        stored = store.get("k1")
        assert stored is not None and stored.token == "a"

    def test_a_completed_record_cannot_be_taken_over(self) -> None:
        store = self.create_store()
        store.claim(_claim(token="old"))
        store.complete("k1", "old", b"done", _T0)
        assert store.take_over("old", _claim(token="new")) is False
        stored = store.get("k1")
        assert stored is not None and stored.outcome == b"done"

    def test_taking_over_a_missing_key_is_refused(self) -> None:
        store = self.create_store()
        assert store.take_over("old", _claim(token="new")) is False
        assert store.get("k1") is None

    # --- release -----------------------------------------------------------------------

    def test_release_frees_the_key_for_the_next_claim(self) -> None:
        store = self.create_store()
        store.claim(_claim())
        assert store.release("k1", "t1") is True
        assert store.get("k1") is None
        assert store.claim(_claim(token="t2")) is None

    def test_release_with_another_token_changes_nothing(self) -> None:
        store = self.create_store()
        store.claim(_claim())
        assert store.release("k1", "intruder") is False
        assert store.get("k1") is not None

    def test_a_completed_record_is_not_released(self) -> None:
        store = self.create_store()
        store.claim(_claim())
        store.complete("k1", "t1", b"done", _T0)
        assert store.release("k1", "t1") is False
        assert store.get("k1") is not None

    # --- purge -------------------------------------------------------------------------

    def test_purge_drops_old_completed_records_and_dead_claims_only(self) -> None:
        store = self.create_store()
        old = _T0 - timedelta(days=2)
        store.claim(_claim("old-done", at=old))
        store.complete("old-done", "t1", b"x", old)
        store.claim(_claim("old-dead", at=old))
        store.claim(_claim("old-live", at=old, lease_expires_at=_T0 + timedelta(days=1)))
        store.claim(_claim("fresh", at=_T0))
        store.complete("fresh", "t1", b"x", _T0)
        assert store.purge(_T0 - timedelta(days=1)) == 2
        assert store.get("old-done") is None
        assert store.get("old-dead") is None
        assert store.get("old-live") is not None
        assert store.get("fresh") is not None
        assert store.claim(_claim("old-done", token="again", at=_T0)) is None

    def test_purge_of_nothing_deletes_nothing(self) -> None:
        store = self.create_store()
        store.claim(_claim())
        assert store.purge(_T0) == 0

    # --- validation and sharing --------------------------------------------------------

    def test_records_refuse_naive_instants_naming_the_field(self) -> None:
        try:
            _claim(lease_expires_at=datetime(2026, 2, 16, 2, 0))
        except ValidationError as error:
            assert error.path == "lease_expires_at"
        else:
            raise AssertionError("a naive lease expiry was accepted")

    def test_a_peer_store_sees_the_same_records(self) -> None:
        store = self.create_store()
        peer = self.create_peer(store)
        store.claim(_claim(token="mine"))
        theirs = peer.claim(_claim(token="theirs"))
        assert theirs is not None and theirs.token == "mine"
        assert peer.complete("k1", "mine", b"done", _T0) is True
        stored = store.get("k1")
        assert stored is not None and stored.outcome == b"done"

    # --- the guard over this store -----------------------------------------------------

    def test_unstorable_result_never_runs_the_work_twice(self) -> None:
        store = self.create_store()
        charges: list[threading.Lock] = []

        def charge_card() -> threading.Lock:
            charges.append(threading.Lock())  # a result that does not pickle
            return charges[-1]

        payload = {"order_id": "T1001", "amount": "89.00"}
        first = Idempotency(store).run("charge:T1001", payload, charge_card)
        assert first is charges[0]
        for guard in (Idempotency(store), Idempotency(self.create_peer(store))):
            for _ in range(2):
                try:
                    guard.run("charge:T1001", payload, charge_card)
                except IdempotencyError as refused:
                    assert refused.key == "charge:T1001"
                else:
                    raise AssertionError("a retry returned without an IdempotencyError")
        assert len(charges) == 1

    def test_a_refusal_is_retried_unless_the_caller_says_it_is_final(self) -> None:
        store = self.create_store()
        guard = Idempotency(store)
        status = ["SHIPPED"]
        runs: list[str] = []

        def confirm_receipt() -> str:
            runs.append(status[0])
            if status[0] != "DELIVERED":
                raise TransitionNotAllowed("T1001", status[0], "confirm", "not delivered yet")
            return "COMPLETED"

        payload = {"order_id": "T1001"}
        for final in (False, True):
            key = f"confirm:T1001:{final}"
            status[0] = "SHIPPED"
            try:
                guard.run(
                    key,
                    payload,
                    confirm_receipt,
                    final_errors=(TransitionNotAllowed,) if final else (),
                )
            except TransitionNotAllowed:
                pass
            else:
                raise AssertionError("the refusal was not raised")
            status[0] = "DELIVERED"
            try:
                outcome = guard.run(key, payload, confirm_receipt)
            except TransitionNotAllowed as replayed:
                assert final, "a refusal not marked final was replayed"
                assert replayed.status == "SHIPPED"
            else:
                assert not final, "a refusal marked final was run again"
                assert outcome == "COMPLETED"
        assert runs == ["SHIPPED", "DELIVERED", "SHIPPED"]

    def test_field_names_with_nul_never_share_a_fingerprint(self) -> None:
        store = self.create_store()
        guard = Idempotency(store)
        # Written naively as "name NUL value", both read "a NUL s b NUL s c".
        first: dict[str, object] = {"a": "b\x00sc"}
        second: dict[str, object] = {"a\x00sb": "c"}
        runs: list[str] = []
        guard.run("refund:T1001", first, lambda: runs.append("first"))
        try:
            guard.run("refund:T1001", second, lambda: runs.append("second"))
        except IdempotencyConflict as conflict:
            assert set(conflict.fields) == {"a", "a\x00sb"}
        else:
            raise AssertionError("a different payload was taken for the same request")
        assert runs == ["first"]
