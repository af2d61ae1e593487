"""Reconciliation ids and fingerprints."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderkit import Money, fingerprint, parse_recon_id, recon_id
from orderkit.adapters.memory import MemoryReconIdSequence
from orderkit.model.errors import ValidationError
from orderkit.model.ids import canonical_json
from orderkit.numbering import ReconIdIssuer
from orderkit.testing import ManualClock


def test_recon_id_is_type_date_and_six_digit_sequence() -> None:
    assert recon_id("SO", date(2026, 2, 16), 892) == "SO20260216000892"
    parsed = parse_recon_id(" SO20260216000892 ")
    assert (parsed.prefix, parsed.on, parsed.seq) == ("SO", date(2026, 2, 16), 892)
    assert str(parsed) == "SO20260216000892"


@given(
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8),
    st.dates(min_value=date(1000, 1, 1)),
    st.integers(1, 999_999),
)
def test_recon_ids_round_trip(prefix: str, on: date, seq: int) -> None:
    parsed = parse_recon_id(recon_id(prefix, on, seq))
    assert (parsed.prefix, parsed.on, parsed.seq) == (prefix, on, seq)


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (("so", date(2026, 2, 16), 1), "prefix"),
        (("SO", "2026-02-16", 1), "on"),
        (("SO", datetime(2026, 2, 16, tzinfo=UTC), 1), "on"),
        (("SO", date(2026, 2, 16), 0), "seq"),
        (("SO", date(2026, 2, 16), 1_000_000), "seq"),
        (("SO", date(2026, 2, 16), True), "seq"),
    ],
)
def test_bad_recon_id_parts_are_named(args: tuple[object, ...], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        recon_id(*args)  # type: ignore[arg-type]
    assert caught.value.path == path


@pytest.mark.parametrize(
    "text", ["", "SO2026021600089", "SO20260230000001", "so20260216000001", "SO20260216000000", 42]
)
def test_malformed_recon_ids_are_refused(text: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_recon_id(text)  # type: ignore[arg-type]
    assert caught.value.value == text


def test_issuer_uses_the_accounting_date_of_the_instant() -> None:
    clock = ManualClock(datetime(2026, 2, 15, 16, 30, tzinfo=UTC))  # 00:30 in Beijing
    issuer = ReconIdIssuer(MemoryReconIdSequence(), clock=clock)
    assert issuer.issue("SO") == "SO20260216000001"
    assert issuer.issue("SO") == "SO20260216000002"
    assert issuer.issue("RF") == "RF20260216000001"
    assert ReconIdIssuer(MemoryReconIdSequence(), clock=clock, tz="UTC").issue("SO") == (
        "SO20260215000001"
    )


def test_fingerprint_is_pinned_across_versions() -> None:
    # A golden value: if this changes, every stored idempotency key changes with it.
    assert canonical_json("order.confirm", "T1001", Decimal("12.30")) == (
        '["order.confirm","T1001",{"$decimal":"12.3"}]'
    )
    assert fingerprint("order.confirm", "T1001", Decimal("12.30")) == (
        "33f4149e502458d59bc3ca344898bf75d0bc89e26470a828ec86c874b3030abe"
    )


def test_fingerprint_is_identical_in_other_processes() -> None:
    code = (
        "from decimal import Decimal\nfrom datetime import datetime, UTC\n"
        "from orderkit import fingerprint, Money\n"
        "print(fingerprint({'b': 1, 'a': {3, 1, 2}}, Money('1.50', 'CNY'),"
        " datetime(2026, 2, 16, tzinfo=UTC), Decimal('1.50')))"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("0", "1", "12345")
    }
    local = fingerprint(
        {"a": {1, 2, 3}, "b": 1},
        Money("1.5", "CNY"),
        datetime(2026, 2, 16, tzinfo=UTC),
        Decimal("1.5"),
    )
    assert digests == {local}


def test_fingerprint_normalises_decimals_datetimes_and_key_order() -> None:
    assert fingerprint(Decimal("1.50")) == fingerprint(Decimal("1.5"))
    assert fingerprint(Decimal("100")) == fingerprint(Decimal("1E+2"))
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    beijing = datetime.fromisoformat("2026-02-16T00:30:00+08:00")
    assert fingerprint(beijing) == fingerprint(datetime(2026, 2, 15, 16, 30, tzinfo=UTC))
    assert fingerprint("1.5") != fingerprint(Decimal("1.5"))
    assert fingerprint([1, 2]) != fingerprint([2, 1])
    assert canonical_json({"b": 1, "a": 2}) == '[{"a":2,"b":1}]'


@pytest.mark.parametrize(
    "value", [datetime(2026, 2, 16), object(), Decimal("NaN"), float("inf"), {1.5: "x"}]
)
def test_fingerprint_refuses_what_it_cannot_make_stable(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        fingerprint("x", value)
    assert caught.value.path.startswith("parts[1]")
