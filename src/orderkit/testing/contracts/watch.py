"""The contract every ``WatchState`` keeps, with its ``WatchHistory`` and its
``WatchRetention``.

Subclass :class:`WatchStateContract` as ``Test...`` and implement
:meth:`~WatchStateContract.create_state`. Where two state objects can share one backing
store (two watcher processes on one SQLite file or PostgreSQL schema), also implement
:meth:`~WatchStateContract.create_peer`, so that episodes and the history are proven to
outlive the object that wrote them and cycles of two objects to take turns (by default
a state is its own peer). A state whose ``cycle`` takes ``keys`` (a
:class:`~orderkit.watch.ports.KeyedWatchState`, as the states orderkit ships) is also
proven to read and write only the episodes a cycle names; for one without, the watch
reads every open episode, and those tests have nothing to prove.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from orderkit.model.errors import ValidationError
from orderkit.watch.ports import Episode, WatchHistory, WatchRetention, WatchState, takes_keys

__all__ = ["WatchStateContract"]

_T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
_M = timedelta(minutes=1)


def _episode(key: str, **changes: Any) -> Episode:
    base = Episode(key, key.split(":")[0], "", "firing", (key.split(":")[-1], "B-2"), _T0,
                   fired_at=_T0 + _M, last_sent=_T0 + _M, sent=1, route_to="key_accounts")
    return attrs.evolve(base, **changes)


def _resolved(key: str, minutes: int) -> Episode:
    return _episode(key, state="resolved", resolved_at=_T0 + minutes * _M)


def _refused(call: Callable[[], object]) -> ValidationError:
    try:
        call()
    except ValidationError as error:
        return error
    raise AssertionError("expected ValidationError")


def _open(state: WatchState) -> dict[str, Episode]:
    with state.cycle() as episodes:
        return dict(episodes)


class WatchStateContract:
    """Subclass as ``Test...`` and implement :meth:`create_state`."""

    def create_state(self) -> WatchState:
        """Return a new, empty state that also keeps a :class:`WatchHistory` and a
        :class:`WatchRetention`."""
        raise NotImplementedError

    def create_peer(self, state: WatchState) -> WatchState:
        """Another object on ``state``'s backing store (a restarted or second watcher
        process); by default ``state`` itself."""
        return state

    def _history(self, state: WatchState) -> WatchHistory:
        assert isinstance(state, WatchHistory), "the state keeps no history"
        return state

    def _retention(self, state: WatchState) -> WatchRetention:
        assert isinstance(state, WatchRetention), "the state cannot purge its history"
        return state

    def _closed(self, state: WatchState, resolved: dict[str, int]) -> None:
        """Open an episode for each key, then resolve it ``resolved[key]`` minutes
        after ``_T0``: the history holds them."""
        with state.cycle() as episodes:
            for key in resolved:
                episodes[key] = _episode(key)
        with state.cycle() as episodes:
            for key, minutes in resolved.items():
                episodes[key] = _resolved(key, minutes)

    def _kept(self, state: WatchState) -> list[str]:
        """The keys of the history, read on a peer, newest resolution first."""
        return [e.key for e in self._history(self.create_peer(state)).history(limit=1000)]

    def test_episodes_written_in_a_cycle_read_back_in_the_next(self) -> None:
        state = self.create_state()
        assert _open(state) == {}
        pending = Episode("late:A", "late", "tmall", "pending", ("A",), _T0,
                          claim="run-1", claimed_until=_T0 + 5 * _M)  # being sent
        firing = _episode("stale:绿茶-1", first_seen=_T0.astimezone(ZoneInfo("Asia/Shanghai")))
        with state.cycle() as episodes:
            episodes[pending.key] = pending
            episodes[firing.key] = firing
        assert _open(self.create_peer(state)) == {pending.key: pending, firing.key: firing}
        with state.cycle() as episodes:
            episodes[pending.key] = attrs.evolve(pending, state="firing", fired_at=_T0 + _M,
                                                 last_sent=_T0 + _M, sent=1, claim=None,
                                                 claimed_until=None)
            del episodes[firing.key]
        assert list(_open(self.create_peer(state))) == [pending.key]
        assert _open(state)[pending.key].sent == 1
        assert _open(state)[pending.key].claim is None

    def test_a_block_that_raises_writes_nothing(self) -> None:
        state = self.create_state()
        with state.cycle() as episodes:
            episodes["stale:A"] = _episode("stale:A")
        try:
            with state.cycle() as episodes:
                episodes["stale:B"] = _episode("stale:B")
                episodes["stale:A"] = _resolved("stale:A", 5)
                raise RuntimeError("the notifier failed")
        except RuntimeError:
            pass
        assert list(_open(self.create_peer(state))) == ["stale:A"]
        assert self._history(state).history() == []

    def test_a_resolved_episode_moves_to_the_history(self) -> None:
        state = self.create_state()
        with state.cycle() as episodes:
            episodes["stale:A"] = _episode("stale:A")
            episodes["stale:B"] = _episode("stale:B")
        with state.cycle() as episodes:
            episodes["stale:A"] = _resolved("stale:A", 10)
        peer = self.create_peer(state)
        assert list(_open(peer)) == ["stale:B"]
        assert self._history(peer).history() == [_resolved("stale:A", 10)]
        # The same key raised and resolved again: a second entry, newest first.
        with state.cycle() as episodes:
            episodes["stale:A"] = _episode("stale:A", first_seen=_T0 + 20 * _M)
        with state.cycle() as episodes:
            episodes["stale:A"] = attrs.evolve(_resolved("stale:A", 30),
                                               first_seen=_T0 + 20 * _M)
        found = self._history(self.create_peer(state)).history()
        assert [(e.key, e.resolved_at) for e in found] == [
            ("stale:A", _T0 + 30 * _M), ("stale:A", _T0 + 10 * _M)]
        assert list(_open(state)) == ["stale:B"]

    def test_the_history_is_newest_first_from_since_up_to_limit(self) -> None:
        state = self.create_state()
        self._closed(state, {"a:1": 5, "b:2": 7, "c:3": 7, "d:4": 9, "e:5": 3})
        history = self._history(self.create_peer(state))
        assert [e.key for e in history.history()] == ["d:4", "c:3", "b:2", "a:1", "e:5"]
        assert [e.key for e in history.history(limit=2)] == ["d:4", "c:3"]
        since = (_T0 + 7 * _M).astimezone(ZoneInfo("Asia/Shanghai"))  # any zone, same instant
        assert [e.key for e in history.history(since=since)] == ["d:4", "c:3", "b:2"]
        assert [e.key for e in history.history(since=since, limit=1)] == ["d:4"]
        assert history.history(since=_T0 + 9 * _M + timedelta(microseconds=1)) == []
        (latest,) = history.history(limit=1)
        assert latest == _resolved("d:4", 9)

    def test_bad_history_arguments_are_refused_naming_them(self) -> None:
        history = self._history(self.create_state())
        naive = _refused(lambda: history.history(since=datetime(2026, 3, 2, 1, 0)))
        assert naive.path == "since"
        for limit in (0, -1, True, "10"):
            bad = _refused(lambda: history.history(limit=limit))  # type: ignore[arg-type]  # noqa: B023
            assert (bad.path, bad.value) == ("limit", limit)

    def test_cycles_of_two_watchers_take_turns(self) -> None:
        state = self.create_state()
        peer = self.create_peer(state)
        with state.cycle() as episodes:
            episodes["count:x"] = _episode("count:x", sent=0)
        errors: list[BaseException] = []

        def bump(on: WatchState) -> None:
            try:
                for _ in range(10):
                    with on.cycle() as episodes:
                        seen = episodes["count:x"]
                        episodes["count:x"] = attrs.evolve(seen, sent=seen.sent + 1)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=bump, args=(on,)) for on in (state, peer)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert _open(state)["count:x"].sent == 20  # no update lost

    def test_a_keyed_cycle_reads_and_writes_only_the_episodes_it_names(self) -> None:
        state = self.create_state()
        if not takes_keys(state):
            return  # read whole by the watch (see the module's note)
        a, b, c = _episode("stale:A"), _episode("stale:B"), _episode("stale:C")
        with state.cycle() as episodes:
            episodes.update({"stale:A": a, "stale:B": b, "stale:C": c})
        z = _episode("stale:Z", state="pending", fired_at=None, last_sent=None, sent=0)
        with state.cycle(keys=["stale:A", "stale:Z"]) as episodes:
            assert dict(episodes) == {"stale:A": a}  # Z has no open episode (yet)
            episodes["stale:A"] = attrs.evolve(a, sent=2)
            episodes["stale:Z"] = z
        peer = self.create_peer(state)
        assert takes_keys(peer)
        assert _open(peer) == {"stale:A": attrs.evolve(a, sent=2), "stale:B": b,
                               "stale:C": c, "stale:Z": z}
        with peer.cycle(keys=("stale:B",)) as episodes:
            del episodes["stale:B"]
        with state.cycle(keys=["stale:C", "stale:C"]) as episodes:  # a repeat is one
            assert list(episodes) == ["stale:C"]
            episodes["stale:C"] = _resolved("stale:C", 5)
        with state.cycle(keys=[]) as episodes:
            assert dict(episodes) == {}
        assert sorted(_open(self.create_peer(state))) == ["stale:A", "stale:Z"]
        assert self._history(state).history() == [_resolved("stale:C", 5)]
        try:
            with state.cycle(keys=["stale:A"]) as episodes:
                del episodes["stale:A"]
                raise RuntimeError("the notifier failed")
        except RuntimeError:
            pass
        assert sorted(_open(state)) == ["stale:A", "stale:Z"]

    def test_bad_keys_are_refused_naming_them(self) -> None:
        state = self.create_state()
        if not takes_keys(state):
            return  # read whole by the watch (see the module's note)

        def cycle(keys: object) -> None:
            with state.cycle(keys=keys):  # type: ignore[arg-type]
                raise AssertionError("bad keys were read")

        lone = _refused(lambda: cycle("stale:A"))  # a string, not a collection of keys
        assert (lone.path, lone.value) == ("keys", "stale:A")
        number = _refused(lambda: cycle(["stale:A", 7]))
        assert (number.path, number.value) == ("keys", 7)
        assert _refused(lambda: cycle(7)).path == "keys"

    def test_keyed_cycles_of_two_watchers_take_turns(self) -> None:
        state = self.create_state()
        if not takes_keys(state):
            return  # read whole by the watch (see the module's note)
        peer = self.create_peer(state)
        assert takes_keys(peer)
        with state.cycle() as episodes:
            episodes["count:x"] = _episode("count:x", sent=0)
            episodes["count:y"] = _episode("count:y", sent=0)
        errors: list[BaseException] = []

        def bump(on: WatchState, key: str) -> None:
            assert takes_keys(on)
            try:
                for _ in range(10):
                    with on.cycle(keys=[key]) as episodes:
                        seen = episodes[key]
                        episodes[key] = attrs.evolve(seen, sent=seen.sent + 1)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=bump, args=(on, key))
                   for on in (state, peer) for key in ("count:x", "count:y")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert {k: e.sent for k, e in _open(state).items()} == {"count:x": 20, "count:y": 20}

    # --- retention -----------------------------------------------------------------------

    def test_the_state_keeps_a_retention(self) -> None:
        assert isinstance(self.create_state(), WatchRetention)

    def test_only_episodes_resolved_before_the_cutoff_go_and_open_ones_stay(self) -> None:
        state = self.create_state()
        self._closed(state, {"a:1": 5, "b:2": 10, "c:3": 20})
        old_open = _episode("stale:OLD", first_seen=_T0 - timedelta(days=400))
        with state.cycle() as episodes:  # open long before every cut-off: kept
            episodes[old_open.key] = old_open
            episodes["stale:P"] = _episode("stale:P", state="pending", fired_at=None,
                                           last_sent=None, sent=0)
        retention = self._retention(self.create_peer(state))
        cutoff = (_T0 + 10 * _M).astimezone(ZoneInfo("Asia/Shanghai"))  # any zone
        assert retention.purge_history(cutoff) == 1
        assert retention.purge_history(cutoff) == 0
        assert self._kept(state) == ["c:3", "b:2"]  # resolved at the cut-off: kept
        assert retention.purge_history(cutoff + timedelta(microseconds=1)) == 1
        assert retention.purge_history(_T0 + timedelta(days=3650)) == 1
        assert self._kept(state) == []
        assert _open(self.create_peer(state)) == {
            old_open.key: old_open, "stale:P": _episode(
                "stale:P", state="pending", fired_at=None, last_sent=None, sent=0)}
        with state.cycle() as episodes:  # the open ones still resolve into the history
            episodes[old_open.key] = attrs.evolve(old_open, state="resolved",
                                                  resolved_at=_T0 + 30 * _M)
        assert self._kept(state) == [old_open.key]

    def test_a_limit_purges_the_earliest_resolved_first(self) -> None:
        state = self.create_state()
        self._closed(state, {"e:5": 1, "d:4": 2, "c:3": 3, "b:2": 4, "a:1": 5})
        retention = self._retention(state)
        later = _T0 + timedelta(days=1)
        assert retention.purge_history(later, limit=2) == 2
        assert self._kept(state) == ["a:1", "b:2", "c:3"]
        assert retention.purge_history(later, limit=2) == 2
        assert retention.purge_history(later, limit=2) == 1
        assert retention.purge_history(later, limit=2) == 0
        assert self._kept(state) == []

    def test_a_key_resolved_twice_keeps_its_later_episode(self) -> None:
        state = self.create_state()
        self._closed(state, {"stale:A": 10})
        with state.cycle() as episodes:
            episodes["stale:A"] = _episode("stale:A", first_seen=_T0 + 20 * _M)
        with state.cycle() as episodes:
            episodes["stale:A"] = attrs.evolve(_resolved("stale:A", 30),
                                               first_seen=_T0 + 20 * _M)
        assert self._retention(state).purge_history(_T0 + 20 * _M) == 1
        (kept,) = self._history(self.create_peer(state)).history()
        assert kept.resolved_at == _T0 + 30 * _M

    def test_bad_purge_arguments_are_refused_and_nothing_is_deleted(self) -> None:
        state = self.create_state()
        self._closed(state, {"a:1": 5})
        retention = self._retention(state)
        later = _T0 + timedelta(days=1)
        bad: Any
        for bad in (datetime(2026, 3, 2, 1, 0), "2026-03-02T01:00:00+00:00", None, 7):
            refused = _refused(lambda: retention.purge_history(bad))  # noqa: B023
            assert refused.path == "before"
        for bad in (0, -1, True, "10", 1.5, 2**63):
            refused = _refused(lambda: retention.purge_history(later, limit=bad))  # noqa: B023
            assert (refused.path, refused.value) == ("limit", bad)
        assert self._kept(state) == ["a:1"]
        assert retention.purge_history(later, limit=None) == 1
