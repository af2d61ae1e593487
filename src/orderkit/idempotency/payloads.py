"""Digests of a request payload: one for the whole payload, one per top-level field.

A stored key remembers these digests, not the payload, so that a conflicting reuse of
the key can name the fields that differ without keeping personal data around.

Scalar fields (``str``, ``int``, ``bool``, ``None``) are digested from their text
directly, which keeps a guarded call cheap; every other value goes through
:func:`orderkit.ids.canonical_json`, the form :func:`orderkit.ids.fingerprint` hashes, so
``Decimal("1.50")`` and ``Decimal("1.5")`` are the same field value and naive datetimes
are refused with a :class:`~orderkit.errors.ValidationError` naming the field.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping

from orderkit.errors import ValidationError
from orderkit.ids import canonical_json

__all__ = ["payload_digests"]


def _field_text(name: str, value: object) -> str:
    kind = type(value)
    if kind is str:
        return f"s{value}"
    if kind is int:
        return f"i{value}"
    if value is None or kind is bool:
        return f"k{value}"
    try:
        return "c" + canonical_json(value)
    except ValidationError as error:
        inner = error.path.removeprefix("parts[0]")
        raise ValidationError(f"payload.{name}{inner}", error.value, error.reason) from None


def payload_digests(payload: Mapping[str, object]) -> tuple[str, dict[str, str]]:
    """``(request_hash, {field: digest})`` for ``payload``.

    ``request_hash`` (BLAKE2b, 128 bits, over every field's name and value) decides
    whether two payloads are equal. The per-field digests are CRC-32s: they only serve
    to *name* the differing fields once the request hashes already differ, so a (one in
    four billion) collision could at worst leave one field out of that list; they are
    cheap, which matters on every guarded call.

    >>> whole, fields = payload_digests({"order_id": "T1001", "status": 50})
    >>> sorted(fields), len(whole)
    (['order_id', 'status'], 32)
    """
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise ValidationError("payload", payload, "expected a mapping of field name -> value")
    try:
        names = sorted(payload)
    except TypeError:
        names = [_name(name) for name in payload]  # raises, naming the bad field name
    chunks: list[bytes] = []
    fields: dict[str, str] = {}
    for name in names:
        if type(name) is not str:
            _name(name)
        value = payload[name]
        kind = type(value)
        # Inline fast paths for the usual scalars; everything else goes canonical.
        text = (
            f"{name}\x00s{value}"
            if kind is str
            else f"{name}\x00i{value}"
            if kind is int
            else f"{name}\x00{_field_text(name, value)}"
        )
        # Length-prefixed, so no choice of values can make two payloads hash alike.
        chunk = f"{len(text)}:{text}".encode()
        chunks.append(chunk)
        fields[name] = f"{zlib.crc32(chunk):08x}"
    return hashlib.blake2b(b"".join(chunks), digest_size=16).hexdigest(), fields


def _name(name: object) -> str:
    if type(name) is not str:
        raise ValidationError("payload", name, "field names must be strings")
    return name
