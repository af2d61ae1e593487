"""Payload digests: stable across processes and releases, equal for equal payloads.

A stored key remembers the digests of its payload, so their form is fixed: a record
written before an upgrade must still match the same payload after it (the golden values
below were stored by earlier releases).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.idempotency.payloads import legacy_request_hash, payload_digests
from orderkit.model.errors import ValidationError
from orderkit.model.ids import fingerprint
from orderkit.model.money import Money
from orderkit.model.orders import OrderStatus

SHANGHAI = timezone(timedelta(hours=8))

GOLDEN = [
    (
        {"order_id": "T1001", "status": 50, "by": "buyer"},
        "ad2caa08803aa7240c1653b7503dd2dd",
        {"by": "49ff22dc", "order_id": "b8268ab6", "status": "9953ab33"},
    ),
    ({}, "cae66941d9efbd404e4d88758ea67670", {}),
    (
        {"note": "", "flag": True, "off": False, "none": None, "neg": -7, "big": 10**30},
        "c2896dfca46d3badc6427aec5d0cc126",
        {
            "big": "7352821e",
            "flag": "ade1f98e",
            "neg": "cf67fb43",
            "none": "4b68ca78",
            "note": "6042efbf",
            "off": "5c7b16eb",
        },
    ),
    (
        {"收货人": "张三", "emoji": "🍵"},
        "81d0f217601e73b9e3641c03c09fae4e",
        {"emoji": "8e283a5f", "收货人": "f57bc4cb"},
    ),
    (
        {
            "amount": Decimal("12.50"),
            "zero": Decimal("-0.00"),
            "money": Money("178.00", "CNY"),
            "exp": Decimal("1E+3"),
        },
        "1ac5d3f11533e8498e7fd1eba129449d",
        {"amount": "859a8be8", "exp": "432721e2", "money": "cefd3b90", "zero": "5e4844c8"},
    ),
    (
        {
            "lines": [{"sku": "TEA-250G", "qty": 2}],
            "at": datetime(2026, 2, 16, 10, 0, tzinfo=SHANGHAI),
            "on": date(2026, 2, 16),
            "ratio": 0.25,
        },
        "b3b1c7af9f12bc76ae42b9996b6b3c05",
        {"at": "e1067645", "lines": "63545e48", "on": "e6278a71", "ratio": "33a37370"},
    ),
]


@pytest.mark.parametrize(("payload", "whole", "fields"), GOLDEN)
def test_payload_digests_are_the_ones_earlier_releases_stored(
    payload: dict[str, object], whole: str, fields: dict[str, str]
) -> None:
    assert payload_digests(payload) == (whole, fields)


def test_digests_are_the_same_in_another_process() -> None:
    script = (
        "from orderkit.idempotency.payloads import payload_digests;"
        "print(payload_digests({'order_id': 'T1001', 'status': 50, 'by': 'buyer'})[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == payload_digests(GOLDEN[0][0])[0]


field_values = st.one_of(
    st.text(st.characters(codec="utf-8")),
    st.integers(),
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([UTC, SHANGHAI])),
)
payloads = st.dictionaries(st.text(max_size=8), field_values, max_size=6).filter(
    lambda payload: all(_encodable(k) and _encodable(v) for k, v in payload.items())
)


def _encodable(value: object) -> bool:
    """False for a text with a lone surrogate, which no UTF-8 payload can carry."""
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(payloads)
def test_equal_payloads_digest_alike_whatever_their_order(payload: dict[str, object]) -> None:
    reordered = dict(reversed(list(payload.items())))
    assert payload_digests(reordered) == payload_digests(payload)
    assert payload_digests(MappingProxyType(payload)) == payload_digests(payload)
    whole, fields = payload_digests(payload)
    assert sorted(fields) == sorted(payload)
    assert len(whole) == 32


@settings(max_examples=200, deadline=None)
@given(payloads, st.text(max_size=8).filter(lambda s: s.isascii()), field_values)
def test_a_changed_field_changes_the_request_hash_and_names_the_field(
    payload: dict[str, object], name: str, value: object
) -> None:
    changed = {**payload, name: value}
    if name in payload and type(payload[name]) is type(value) and payload[name] == value:
        return  # not a change
    if isinstance(value, Decimal) and isinstance(payload.get(name), Decimal):
        return  # 1.5 and 1.50 are the same amount
    before, fields_before = payload_digests(payload)
    after, fields_after = payload_digests(changed)
    if before == after:  # the only way: equal values of the same kind written differently
        assert fields_before == fields_after
        return
    differing = {n for n in set(fields_before) | set(fields_after)
                 if fields_before.get(n) != fields_after.get(n)}
    assert differing == {name}


def test_equal_amounts_written_differently_digest_alike() -> None:
    assert payload_digests({"a": Decimal("1.5")}) == payload_digests({"a": Decimal("1.500")})
    assert payload_digests({"a": Decimal("0")}) == payload_digests({"a": Decimal("-0.00")})


def test_scalars_of_different_kinds_are_different_values() -> None:
    # 1 == True == Decimal(1) in Python, but they are different request values.
    digests = {payload_digests({"v": v})[0] for v in (1, True, Decimal(1), "1", 1.0)}
    assert len(digests) == 5


class Tag(str):
    """A str subclass: digested as the str it holds."""


class Channel(StrEnum):
    TMALL = "tmall"


class Code(int):
    """An int subclass: digested as the int it holds."""


@pytest.mark.parametrize(
    ("rich", "plain"),
    [
        (OrderStatus.PAID, 20),
        (Channel.TMALL, "tmall"),
        (Tag("x"), "x"),
        (Code(7), 7),
    ],
)
def test_an_enum_or_scalar_subclass_digests_as_its_value_as_fingerprint_does(
    rich: object, plain: object
) -> None:
    assert fingerprint({"v": rich}) == fingerprint({"v": plain})
    assert payload_digests({"v": rich, "n": 1}) == payload_digests({"v": plain, "n": 1})
    assert payload_digests({"v": [rich]}) == payload_digests({"v": [plain]})
    # What releases before this one stored for ``rich`` stays readable.
    assert legacy_request_hash({"v": rich}) != payload_digests({"v": rich})[0]
    assert legacy_request_hash({"v": plain}) is None


def test_a_str_subclass_value_is_digested_and_a_str_subclass_name_refused() -> None:
    assert payload_digests({"v": Tag("x")})[1].keys() == {"v"}
    with pytest.raises(ValidationError) as caught:
        payload_digests({Tag("v"): "x"})
    assert caught.value.path == "payload"


def test_bad_payloads_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        payload_digests({"lines": [{"at": datetime(2026, 2, 16)}]})
    assert caught.value.path == "payload.lines[0].at"
    for amount in (Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(ValidationError) as caught:
            payload_digests({"amount": amount})
        assert caught.value.path == "payload.amount"
    with pytest.raises(ValidationError) as caught:
        payload_digests({"a": 1, 2: "b"})  # type: ignore[dict-item]
    assert caught.value.path == "payload"
    with pytest.raises(ValidationError) as caught:
        payload_digests(["T1001"])  # type: ignore[arg-type]
    assert caught.value.path == "payload"


def test_field_names_with_nul_never_share_a_fingerprint() -> None:
    # Each pair reads the same when written naively as "name NUL tagged value".
    pairs = [
        ({"a": "b\x00sc"}, {"a\x00sb": "c"}),
        ({"a\x00": "x"}, {"a": "\x00x"}),
        ({"a": "x", "a\x00sx": "y"}, {"a": "x\x00sx", "a\x00": "y"}),
    ]
    for first, second in pairs:
        assert payload_digests(first)[0] != payload_digests(second)[0], (first, second)


names = st.text(alphabet=st.sampled_from(["a", "s", "\x00", "1", ":"]), max_size=4)
values = st.one_of(
    st.text(alphabet=st.sampled_from(["a", "s", "\x00", "1", ":"]), max_size=4),
    st.integers(-2, 2),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, values, max_size=3), st.dictionaries(names, values, max_size=3))
def test_payloads_digest_alike_only_when_they_are_equal(
    first: dict[str, object], second: dict[str, object]
) -> None:
    same = {k: (type(v), v) for k, v in first.items()} == {
        k: (type(v), v) for k, v in second.items()
    }
    assert (payload_digests(first)[0] == payload_digests(second)[0]) == same


def test_text_that_is_not_utf8_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        payload_digests({"order_id": "T\udc80"})
    assert caught.value.path == "payload.order_id"
    with pytest.raises(ValidationError) as caught:
        payload_digests({"order\udc80": "T1001"})
    assert caught.value.path == "payload"
