"""The contract every ``SyncStore`` keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orderkit.sync.ports import SyncStore
from orderkit.sync.records import Cursor, DeadLetter, Seen

__all__ = ["SyncStoreContract"]

_T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)
_S = timedelta(seconds=1)


def _seen(modified: datetime, digest: str = "d1") -> Seen:
    return Seen("jd", "J-1", modified, digest, modified + 3 * _S)


class SyncStoreContract:
    """Subclass as ``Test...`` and implement :meth:`create_store`."""

    def create_store(self) -> SyncStore:
        """Return a new, empty store."""
        raise NotImplementedError

    def test_a_seen_version_reads_back_with_its_lag(self) -> None:
        store = self.create_store()
        assert store.seen("jd", "J-1") is None
        assert store.mark_seen(_seen(_T0))
        seen = store.seen("jd", "J-1")
        assert seen == _seen(_T0)
        assert seen is not None
        assert seen.lag == 3 * _S

    def test_seen_versions_are_read_for_many_orders_at_once(self) -> None:
        store = self.create_store()
        assert store.seen_many("jd", ["J-1", "J-2"]) == {}
        store.mark_seen(_seen(_T0))
        store.mark_seen(Seen("jd", "J-3", _T0 + _S, "d3", _T0 + 2 * _S))
        store.mark_seen(Seen("pdd", "J-2", _T0, "p2", _T0))
        ids = ["J-1", "J-2", "J-3", "J-4", "J-1"]
        assert store.seen_many("jd", ids) == {
            "J-1": _seen(_T0), "J-3": Seen("jd", "J-3", _T0 + _S, "d3", _T0 + 2 * _S),
        }
        assert store.seen_many("jd", []) == {}

    def test_newest_versions_are_found_by_digest(self) -> None:
        store = self.create_store()
        assert store.seen_digests("jd", ["d1"]) == {}
        store.mark_seen(_seen(_T0, "d1"))
        store.mark_seen(Seen("jd", "J-3", _T0, "d3", _T0))
        store.mark_seen(Seen("pdd", "J-4", _T0, "d4", _T0))
        assert store.seen_digests("jd", ["d1", "d3", "d4", "d9"]) == {
            "d1": _seen(_T0, "d1"), "d3": Seen("jd", "J-3", _T0, "d3", _T0),
        }
        store.mark_seen(_seen(_T0 + _S, "d2"))  # a newer version replaces d1
        assert store.seen_digests("jd", ["d1", "d2"]) == {"d2": _seen(_T0 + _S, "d2")}
        assert store.seen_digests("jd", []) == {}

    def test_an_older_version_never_replaces_a_newer_one(self) -> None:
        store = self.create_store()
        store.mark_seen(_seen(_T0 + _S, "new"))
        assert not store.mark_seen(_seen(_T0, "old"))
        assert store.mark_seen(_seen(_T0 + _S, "same-second"))
        seen = store.seen("jd", "J-1")
        assert seen is not None
        assert seen.digest == "same-second"

    def test_stale_versions_are_counted(self) -> None:
        store = self.create_store()
        store.mark_seen(_seen(_T0))
        store.mark_stale("jd", "J-1")
        store.mark_stale("jd", "J-1")
        store.mark_seen(_seen(_T0 + _S, "d2"))
        seen = store.seen("jd", "J-1")
        assert seen is not None
        assert seen.stale == 2

    def test_a_cursor_moves_forward_only_and_merges_ids_at_its_time(self) -> None:
        store = self.create_store()
        assert store.cursor("pdd", "shop-1") is None
        store.save_cursor(Cursor("pdd", "shop-1", _T0, {"A"}))
        kept = store.save_cursor(Cursor("pdd", "shop-1", _T0, {"B"}))
        assert kept.ids_at == {"A", "B"}
        store.save_cursor(Cursor("pdd", "shop-1", _T0 - _S, {"Z"}))
        assert store.cursor("pdd", "shop-1") == Cursor("pdd", "shop-1", _T0, {"A", "B"})
        store.save_cursor(Cursor("pdd", "shop-1", _T0 + _S, {"C"}))
        assert store.cursor("pdd", "shop-1") == Cursor("pdd", "shop-1", _T0 + _S, {"C"})
        assert store.cursor("pdd", "shop-2") is None

    def test_dead_letters_count_attempts_and_resolve(self) -> None:
        store = self.create_store()
        first = DeadLetter("jd:abc", "jd", '{"orderId":"J-1"}', "MappingError: x", _T0)
        store.add_dead_letter(first)
        again = store.add_dead_letter(DeadLetter("jd:abc", "jd", '{"orderId":"J-1"}',
                                                 "MappingError: y", _T0 + _S))
        assert (again.attempts, again.error, again.received_at) == (2, "MappingError: y", _T0)
        store.add_dead_letter(DeadLetter("pdd:def", "pdd", '{"order_sn":"P"}', "e", _T0))
        assert [x.letter_id for x in store.dead_letters()] == ["jd:abc", "pdd:def"]
        assert [x.letter_id for x in store.dead_letters("pdd")] == ["pdd:def"]
        assert store.resolve_dead_letter("jd:abc")
        assert not store.resolve_dead_letter("jd:abc")
        assert [x.letter_id for x in store.dead_letters()] == ["pdd:def"]
