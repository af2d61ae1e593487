"""Digests of a request payload: one for the whole payload, one per top-level field.

A stored key remembers these digests, not the payload, so that a conflicting reuse of
the key can name the fields that differ without keeping personal data around.

Every field is turned into a text ``name NUL tag value`` and hashed length-prefixed
(``f"{len(text)}:{text}"`` in UTF-8). A NUL inside a field name is written twice, so the
single NUL after the name always marks where the name ends: field names of any
characters never make two different payloads give the same text (a name without NUL is
written exactly as earlier releases wrote it). Scalar fields are tagged and written directly:
``s`` + the text of a ``str``, ``i`` + the digits of an ``int``, ``k`` +
``None``/``True``/``False``. An enum counts as its value, and a subclass of ``str`` or
``int`` as the plain ``str`` or ``int`` it holds, as in :func:`~orderkit.model.ids.fingerprint`
(``OrderStatus.PAID`` and ``20`` are the same field value, so a retry rebuilt from JSON
matches). Every other value is ``c`` + its
:func:`orderkit.model.ids.canonical_json`, the form
:func:`orderkit.model.ids.fingerprint` hashes, so
``Decimal("1.50")`` and ``Decimal("1.5")`` are the same field value and naive datetimes
are refused with a :class:`~orderkit.model.errors.ValidationError` naming the field.

The digests are stored, so their form is fixed: a record written by an earlier release
must still match the same payload after an upgrade (the idempotency unit tests pin
golden values). Releases before enums counted as their values wrote an enum or a
``str``/``int`` subclass at the top level as ``c`` + its canonical JSON:
:func:`legacy_request_hash` gives that form, which the guard also accepts for a
record written then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import Enum
from zlib import crc32

from orderkit.model.errors import ValidationError
from orderkit.model.ids import canonical_json

__all__ = ["legacy_request_hash", "payload_digests"]

_NUL = "\x00"


def _unencodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _field_text(name: str, value: object, *, legacy: bool = False) -> str:
    """The tagged text of one value (the rule in the module docstring); ``legacy``: as
    releases before enums counted as their values wrote it."""
    if not legacy:
        while isinstance(value, Enum):
            value = value.value
        if isinstance(value, str):
            return f"s{str.__str__(value)}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"i{int.__repr__(value)}"
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


def _scalar_like(value: object) -> bool:
    """Whether ``value`` is written differently now than by earlier releases."""
    kind = type(value)
    return kind not in (str, int, bool) and isinstance(value, Enum | str | int)


def legacy_request_hash(payload: Mapping[str, object]) -> str | None:
    """The ``request_hash`` releases before enums counted as their values gave
    ``payload`` (checked by :func:`payload_digests` first), or ``None`` when it is the
    same as today's: when no top-level field is an enum or a ``str``/``int`` subclass."""
    if not any(_scalar_like(value) for value in payload.values()):
        return None
    return _digests(payload, legacy=True)[0]


def payload_digests(payload: Mapping[str, object]) -> tuple[str, dict[str, str]]:
    """``(request_hash, {field: digest})`` for ``payload``.

    ``request_hash`` (BLAKE2b, 128 bits, over every field's name and value) decides
    whether two payloads are equal. The per-field digests are CRC-32s: they only serve
    to *name* the differing fields once the request hashes already differ, so a (one in
    four billion) collision could at worst leave one field out of that list.

    >>> whole, fields = payload_digests({"order_id": "T1001", "status": 50})
    >>> sorted(fields), len(whole)
    (['order_id', 'status'], 32)
    """
    if not isinstance(payload, Mapping):
        raise ValidationError("payload", payload, "expected a mapping of field name -> value")
    for name in payload:
        if type(name) is not str:
            raise ValidationError("payload", name, "field names must be strings")
    return _digests(payload)


def _digests(payload: Mapping[str, object], *, legacy: bool = False) -> tuple[str, dict[str, str]]:
    whole = hashlib.blake2b(digest_size=16)
    fields: dict[str, str] = {}
    for name in sorted(payload):
        # NUL ends the name (a NUL inside it is doubled) and the value starts with its tag
        # letter; length-prefixed, so no choice of names or values hash alike.
        value = _field_text(name, payload[name], legacy=legacy)
        text = f"{name.replace(_NUL, _NUL * 2)}{_NUL}{value}"
        try:
            chunk = f"{len(text)}:{text}".encode()
        except UnicodeEncodeError:
            bad = name if _unencodable(name) else payload[name]
            where = "payload" if bad is name else f"payload.{name}"
            raise ValidationError(where, bad, "text must encode as UTF-8") from None
        whole.update(chunk)
        fields[name] = f"{crc32(chunk):08x}"
    return whole.hexdigest(), fields
