"""Lock ids: verifiable by whoever holds the secret, refused when forged or altered."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.inventory import LockTokens
from orderkit.model.errors import InvalidLock, ValidationError

SECRET = b"lock-id-test-secret-0123456789"
DOMAIN = b"orderkit.inventory.lock.v1\x00"


@pytest.mark.parametrize(
    "secret", [b"s" * 16, b"k" * 63, b"k" * 64, b"k" * 65, os.urandom(200), "text secret ok!!"]
)
def test_the_tag_is_hmac_sha256_over_the_domain_and_both_parts(secret: bytes | str) -> None:
    tokens = LockTokens(secret)
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    for lock_key, order_id in [("abc", "ord"), ("k" * 40, "订单-1"), ("x", "\x00" * 100)]:
        order_part = order_id.encode("utf-8").hex()
        message = DOMAIN + f"{lock_key}.{order_part}".encode("ascii")
        tag = hmac.new(key, message, hashlib.sha256).digest()[:16].hex()
        lock_id = tokens.issue(lock_key, order_id)
        assert lock_id == f"{lock_key}.{order_part}.{tag}"
        assert tokens.open(lock_id) == (lock_key, order_id)


def test_a_lock_id_issued_by_an_earlier_release_still_opens() -> None:
    lock_id = "k1.4f52442d31.34f515a0aad3c31fa744e24c74ce155f"
    tokens = LockTokens(b"ledger-test-secret-0123456789")
    assert tokens.issue("k1", "ORD-1") == lock_id
    assert tokens.open(lock_id) == ("k1", "ORD-1")


_KEY_TEXT = st.text(st.characters(min_codepoint=0x30, max_codepoint=0x7A), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(lock_key=_KEY_TEXT, order_id=st.text(min_size=1, max_size=40), edit=st.integers(0, 200))
def test_any_issued_id_opens_and_any_altered_copy_is_refused(
    lock_key: str, order_id: str, edit: int
) -> None:
    tokens = LockTokens(SECRET)
    try:
        lock_id = tokens.issue(lock_key, order_id)
    except UnicodeEncodeError:  # a lone surrogate: not an order id anyone can store
        return
    assert tokens.open(lock_id) == (lock_key, order_id)
    position = edit % len(lock_id)
    swapped = "0" if lock_id[position] != "0" else "1"
    altered = lock_id[:position] + swapped + lock_id[position + 1 :]
    with pytest.raises(InvalidLock) as caught:
        tokens.open(altered)
    assert caught.value.lock_id == altered
    with pytest.raises(InvalidLock):
        tokens.open(lock_id[: edit % len(lock_id)])  # cut short


def test_another_secret_refuses_the_id() -> None:
    lock_id = LockTokens(SECRET).issue("k1", "ORD-1")
    with pytest.raises(InvalidLock, match="forged or altered"):
        LockTokens(b"another-host-secret-0000").open(lock_id)


@pytest.mark.parametrize("bad", [["k1", "ORD-1"], None, 42, "", "a.b", "é" * 10, "x" * 2000])
def test_what_is_not_a_lock_id_is_refused_not_crashed_on(bad: object) -> None:
    with pytest.raises(InvalidLock):
        LockTokens(SECRET).open(bad)


def test_a_short_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        LockTokens(b"short")
    assert caught.value.path == "secret"
    assert "short" not in str(caught.value)
