"""The contract every ``ReconIdSequence`` keeps."""

from __future__ import annotations

import threading
from datetime import date

from orderkit.model.errors import ValidationError
from orderkit.numbering.ports import ReconIdSequence

__all__ = ["ReconIdSequenceContract"]

_DAY = date(2026, 2, 16)


class ReconIdSequenceContract:
    """Subclass as ``Test...`` and implement :meth:`create_sequence`."""

    def create_sequence(self) -> ReconIdSequence:
        """Return a new sequence store with no numbers drawn."""
        raise NotImplementedError

    def test_numbers_start_at_one_and_have_no_gaps(self) -> None:
        sequence = self.create_sequence()
        assert [sequence.next_value("SO", _DAY) for _ in range(5)] == [1, 2, 3, 4, 5]

    def test_each_prefix_and_day_counts_on_its_own(self) -> None:
        sequence = self.create_sequence()
        sequence.next_value("SO", _DAY)
        sequence.next_value("SO", _DAY)
        assert sequence.next_value("RF", _DAY) == 1
        assert sequence.next_value("SO", date(2026, 2, 17)) == 1
        assert sequence.next_value("SO", _DAY) == 3

    def test_threads_drawing_at_once_get_every_number_exactly_once(self) -> None:
        """Gap-free and never repeated across threads: 4 threads drawing 50 numbers
        each of one (prefix, day), and 25 each of another, at the same moment."""
        sequence = self.create_sequence()
        drawn: dict[str, list[int]] = {"SO": [], "RF": []}
        errors: list[BaseException] = []
        start = threading.Barrier(4)
        guard = threading.Lock()

        def draw() -> None:
            try:
                start.wait()
                mine: dict[str, list[int]] = {"SO": [], "RF": []}
                for n in range(75):
                    prefix = "RF" if n % 3 == 2 else "SO"
                    mine[prefix].append(sequence.next_value(prefix, _DAY))
                with guard:
                    for prefix, numbers in mine.items():
                        drawn[prefix].extend(numbers)
            except BaseException as error:  # reported below, in the test's thread
                errors.append(error)

        threads = [threading.Thread(target=draw) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(drawn["SO"]) == list(range(1, 201))
        assert sorted(drawn["RF"]) == list(range(1, 101))
        assert sequence.next_value("SO", _DAY) == 201

    def test_bad_prefix_is_refused_with_its_field_named(self) -> None:
        sequence = self.create_sequence()
        for bad in ("so", "", "S0", "TOOLONGPREFIX"):
            try:
                sequence.next_value(bad, _DAY)
            except ValidationError as error:
                assert error.path == "prefix"
                assert error.value == bad
            else:
                raise AssertionError(f"prefix {bad!r} was accepted")
