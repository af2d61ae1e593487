"""Lock ids that cannot be forged: an HMAC over the lock's identity and its order.

The incident this prevents: a support tool (or a buggy retry) released a lock by typing a
guessed id, and another order's stock went back on sale while it was still being packed.
A lock id here is ``<lock key>.<order id, hex>.<tag>`` where the tag is HMAC-SHA256
(:mod:`hmac`, truncated to 128 bits, hex) over a fixed domain prefix and both parts,
keyed with the host's secret. Changing any character, pairing a key with another order,
or inventing a key makes the tag wrong, and the tag is compared in constant time
(:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from orderkit.model.errors import InvalidLock, ValidationError

__all__ = ["LockTokens"]

_DOMAIN: Final = b"orderkit.inventory.lock.v1\x00"
_TAG_BYTES: Final = 16
_MIN_SECRET_BYTES: Final = 16
_MAX_TOKEN: Final = 1024


class LockTokens:
    """Issues and opens lock ids with one secret (keep it out of the database)."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: bytes | str) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET_BYTES:
            raise ValidationError(
                "secret", "<hidden>", f"expected at least {_MIN_SECRET_BYTES} bytes of secret"
            )
        # Keyed once and fed the domain prefix; every tag continues a copy of it.
        self._keyed = hmac.new(secret, _DOMAIN, hashlib.sha256)

    def _tag(self, body: str) -> str:
        mac = self._keyed.copy()
        mac.update(body.encode("ascii"))
        return mac.digest()[:_TAG_BYTES].hex()

    def issue(self, lock_key: str, order_id: str) -> str:
        """The lock id for lock ``lock_key`` taken by ``order_id``."""
        body = f"{lock_key}.{order_id.encode('utf-8').hex()}"
        return f"{body}.{self._tag(body)}"

    def open(self, lock_id: object) -> tuple[str, str]:
        """Check ``lock_id`` and return ``(lock_key, order_id)``; :class:`InvalidLock` if not.

        Only the signature is checked here; whether the lock exists is the store's to say.
        """
        if not isinstance(lock_id, str) or len(lock_id) > _MAX_TOKEN or not lock_id.isascii():
            raise InvalidLock(str(lock_id), "not a lock id")
        parts = lock_id.split(".")
        if len(parts) != 3 or not all(parts):
            raise InvalidLock(lock_id, "not a lock id")
        lock_key, order_part, tag = parts
        if not hmac.compare_digest(self._tag(f"{lock_key}.{order_part}"), tag):
            raise InvalidLock(lock_id, "signature does not match (forged or altered)")
        try:
            order_id = bytes.fromhex(order_part).decode("utf-8")
        except ValueError:  # pragma: no cover - a signed part always decodes
            raise InvalidLock(lock_id, "not a lock id") from None
        return lock_key, order_id
