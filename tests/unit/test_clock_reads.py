"""Every part that reads the host's clock checks the reading as every stored instant is
checked: a clock giving a naive datetime is a ValidationError naming ``clock.now()``,
never a TypeError from comparing it later."""

from __future__ import annotations

from datetime import datetime

import pytest

from orderkit.adapters.memory import MemoryOrderRepository, MemoryReconIdSequence
from orderkit.errors import ValidationError
from orderkit.numbering import ReconIdIssuer
from orderkit.outbox import OutboxRelay


class NaiveClock:
    """A host clock that forgot its zone."""

    def now(self) -> datetime:
        return datetime(2026, 3, 1, 12, 0)


def test_the_recon_id_issuer_names_a_naive_clock() -> None:
    issuer = ReconIdIssuer(MemoryReconIdSequence(), clock=NaiveClock())
    with pytest.raises(ValidationError) as refused:
        issuer.issue("TM")
    assert refused.value.path == "clock.now()"


def test_the_relay_names_a_naive_clock() -> None:
    relay = OutboxRelay(MemoryOrderRepository(), clock=NaiveClock())
    with pytest.raises(ValidationError) as refused:
        relay.run_once()
    assert refused.value.path == "clock.now()"
