"""The contract every ``SyncStore`` keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from orderkit.model.errors import ValidationError
from orderkit.sync.ports import SyncStore
from orderkit.sync.records import Cursor, DeadLetter, Seen
from orderkit.watch.ports import SyncLagSource

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

    def test_many_versions_are_marked_in_one_call_as_one_by_one(self) -> None:
        store = self.create_store()
        assert store.mark_seen_many([]) == 0
        store.mark_seen(Seen("jd", "J-2", _T0 + 5 * _S, "d2-new", _T0 + 6 * _S))
        kept = store.mark_seen_many([
            _seen(_T0, "d1-old"),
            _seen(_T0 + 2 * _S, "d1-new"),
            _seen(_T0 + _S, "d1-between"),  # older than the one before: ignored
            Seen("jd", "J-2", _T0, "d2-old", _T0 + _S),  # older than stored: ignored
            Seen("jd", "J-3", _T0, "d3", _T0 + _S, stale=2),
        ])
        assert kept == 2
        assert store.seen_many("jd", ["J-1", "J-2", "J-3"]) == {
            "J-1": _seen(_T0 + 2 * _S, "d1-new"),
            "J-2": Seen("jd", "J-2", _T0 + 5 * _S, "d2-new", _T0 + 6 * _S),
            "J-3": Seen("jd", "J-3", _T0, "d3", _T0 + _S, stale=2),
        }
        assert store.seen_digests("jd", ["d1-old", "d1-new"]) == {
            "d1-new": _seen(_T0 + 2 * _S, "d1-new")}
        # A version seen at the same modified time later replaces the earlier one.
        assert store.mark_seen_many([_seen(_T0 + 2 * _S, "same-a"),
                                     _seen(_T0 + 2 * _S, "same-b")]) == 1
        assert store.seen("jd", "J-1") == _seen(_T0 + 2 * _S, "same-b")

    def test_marking_many_refuses_a_bad_item_before_writing_any(self) -> None:
        store = self.create_store()
        with _Refused() as refused:
            store.mark_seen_many([_seen(_T0), "J-2"])  # type: ignore[list-item]
        assert refused.error is not None
        assert (refused.error.path, refused.error.value) == ("seen[1]", "J-2")
        assert store.seen("jd", "J-1") is None

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
        assert store.dead_letter_count() == 0
        first = DeadLetter("jd:abc", "jd", '{"orderId":"J-1"}', "MappingError: x", _T0)
        store.add_dead_letter(first)
        again = store.add_dead_letter(DeadLetter("jd:abc", "jd", '{"orderId":"J-1"}',
                                                 "MappingError: y", _T0 + _S))
        assert (again.attempts, again.error, again.received_at) == (2, "MappingError: y", _T0)
        store.add_dead_letter(DeadLetter("pdd:def", "pdd", '{"order_sn":"P"}', "e", _T0))
        assert [x.letter_id for x in store.dead_letters()] == ["jd:abc", "pdd:def"]
        assert [x.letter_id for x in store.dead_letters("pdd")] == ["pdd:def"]
        counts = [store.dead_letter_count(), store.dead_letter_count("pdd")]
        assert [*counts, store.dead_letter_count("tmall")] == [2, 1, 0]
        assert store.resolve_dead_letter("jd:abc")
        assert not store.resolve_dead_letter("jd:abc")
        assert [x.letter_id for x in store.dead_letters()] == ["pdd:def"]
        assert store.dead_letter_count() == 1

    def test_the_lags_of_versions_received_in_a_window_are_read_smallest_first(self) -> None:
        store = self.create_store()
        assert isinstance(store, SyncLagSource)
        assert store.lags(_T0, _T0 + 3600 * _S) == []
        ms = timedelta(microseconds=1000)
        for order_id, platform, lag, received in (
            ("J-1", "jd", 90 * _S, 60), ("J-2", "jd", 2 * _S, 61), ("P-1", "pdd", 7 * _S, 62),
            ("J-3", "jd", -ms, 63),  # the platform's clock a millisecond ahead
            ("J-4", "jd", 5 * _S, 120),  # received at the window's end: left out
            ("J-5", "jd", 4 * _S, 59),  # just before the window: left out
        ):
            at = _T0 + received * _S
            store.mark_seen(Seen(platform, order_id, at - lag, "d-" + order_id, at))
        window = (_T0 + 60 * _S, _T0 + 120 * _S)
        assert store.lags(*window) == [-ms, 2 * _S, 7 * _S, 90 * _S]
        shanghai = timezone(timedelta(hours=8))
        assert store.lags(window[0].astimezone(shanghai), window[1]) == store.lags(*window)
        # J-1's newer version, received later, replaces its lag; an older one changes nothing.
        store.mark_seen(Seen("jd", "J-1", _T0 + 100 * _S, "d-new", _T0 + 103 * _S))
        assert not store.mark_seen(Seen("jd", "J-1", _T0, "d-old", _T0 + 104 * _S))
        assert store.lags(*window) == [-ms, 2 * _S, 3 * _S, 7 * _S]
        assert store.lags(_T0 + 103 * _S, _T0 + 103 * _S) == []
        with _Refused() as naive:
            store.lags(datetime(2026, 2, 16, 2, 0), _T0)
        assert naive.error is not None and naive.error.path == "since"
        with _Refused() as naive:
            store.lags(_T0, datetime(2026, 2, 16, 2, 0))
        assert naive.error is not None and naive.error.path == "until"


class _Refused:
    """A block that must raise ValidationError, kept as ``.error``."""

    def __init__(self) -> None:
        self.error: ValidationError | None = None

    def __enter__(self) -> _Refused:
        return self

    def __exit__(self, kind: object, error: BaseException | None, _tb: object) -> bool:
        if not isinstance(error, ValidationError):
            raise AssertionError("expected ValidationError") from error
        self.error = error
        return True
