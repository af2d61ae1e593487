"""The contract every ``ReconIdSequence`` keeps."""

from __future__ import annotations

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
