"""Reconciliation identifiers and stable fingerprints.

A reconciliation id (``SO20260216000892``) is the number finance searches for in every
system: business type, accounting date, and a six-digit sequence that is gap-free per
type and day. It is printed on invoices and typed into bank memos, so it is short and
unambiguous. :class:`~orderkit.numbering.ReconIdIssuer` draws the sequence from a
:class:`~orderkit.numbering.ReconIdSequence` store so that several processes never hand
out the same number.

:func:`fingerprint` is the stable digest used for idempotency keys and duplicate
detection: the same business identity gives the same hex string in every process, on
every machine and Python version, because it hashes a canonical JSON text (sorted keys,
``Decimal`` normalised, datetimes in UTC) instead of relying on ``hash()``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Final, cast

import attrs

from orderkit.model._checks import encodable
from orderkit.model.errors import ValidationError

__all__ = [
    "MAX_SEQUENCE",
    "ReconId",
    "canonical_json",
    "check_prefix",
    "fingerprint",
    "parse_recon_id",
    "recon_id",
]

MAX_SEQUENCE: Final = 999_999
_PREFIX = re.compile(r"[A-Z]{1,8}")
_RECON_ID = re.compile(r"([A-Z]{1,8})(\d{4})(\d{2})(\d{2})(\d{6})")


def check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValidationError("prefix", prefix, "expected 1 to 8 upper-case letters, like 'SO'")
    return prefix


@attrs.frozen
class ReconId:
    """A parsed reconciliation id: ``prefix`` (business type), ``on`` (date), ``seq``."""

    prefix: str
    on: date
    seq: int

    def __str__(self) -> str:
        return recon_id(self.prefix, self.on, self.seq)


def recon_id(prefix: str, on: date, seq: int) -> str:
    """Format ``[prefix][yyyymmdd][6-digit seq]``.

    >>> from datetime import date
    >>> recon_id("SO", date(2026, 2, 16), 892)
    'SO20260216000892'
    """
    check_prefix(prefix)
    if isinstance(on, datetime) or not isinstance(on, date):
        raise ValidationError(
            "on", on, "expected a date (use accounting_date() to get one from an instant)"
        )
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= MAX_SEQUENCE:
        raise ValidationError("seq", seq, f"expected an integer from 1 to {MAX_SEQUENCE}")
    return f"{prefix}{on:%Y%m%d}{seq:06d}"


def parse_recon_id(text: str) -> ReconId:
    """Parse a reconciliation id; surrounding spaces are ignored, anything else is not.

    >>> parse_recon_id("SO20260216000892")
    ReconId(prefix='SO', on=datetime.date(2026, 2, 16), seq=892)
    """
    if not isinstance(text, str):
        raise ValidationError("text", text, "expected a reconciliation id string")
    match = _RECON_ID.fullmatch(text.strip())
    if match is None:
        raise ValidationError("text", text, "expected PREFIX + YYYYMMDD + 6 digits")
    prefix, year, month, day, seq = match.groups()
    try:
        on = date(int(year), int(month), int(day))
    except ValueError:
        raise ValidationError("text", text, "the date part is not a calendar date") from None
    if int(seq) == 0:
        raise ValidationError("text", text, "sequence numbers start at 000001")
    return ReconId(prefix, on, int(seq))


# --- fingerprints ------------------------------------------------------------------------


def _canonical(value: object, path: str) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return encodable(path, value)
    if isinstance(value, Enum):
        return _canonical(value.value, path)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(path, value, "cannot fingerprint a non-finite float")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(path, value, "cannot fingerprint a non-finite Decimal")
        # 1.5, 1.50 and 1.500 are the same amount and give the same fingerprint.
        return {"$decimal": format(value.normalize(), "f") if value else "0"}
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(path, value, "cannot fingerprint a naive datetime")
        try:
            return {"$datetime": value.astimezone(UTC).isoformat()}
        except OverflowError:  # datetime.min east of UTC, datetime.max west of it
            raise ValidationError(path, value, "instant out of range") from None
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            name = key.value if isinstance(key, Enum) else key
            if not isinstance(name, str | int):
                raise ValidationError(f"{path}.{key!r}", key, "mapping keys must be strings")
            if isinstance(name, str):
                encodable(f"{path}.{name!r}", name)
            out[str(name)] = _canonical(item, f"{path}.{name}")
        return out
    if isinstance(value, list | tuple):
        return [_canonical(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [_canonical(item, f"{path}[]") for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if attrs.has(type(value)):
        fields = attrs.fields(cast("type[attrs.AttrsInstance]", type(value)))
        return {
            "$type": type(value).__name__,
            **{f.name: _canonical(getattr(value, f.name), f"{path}.{f.name}") for f in fields},
        }
    raise ValidationError(path, value, f"cannot fingerprint a {type(value).__name__}")


def canonical_json(*parts: object) -> str:
    """The canonical JSON text that :func:`fingerprint` hashes (useful when debugging)."""
    body = [_canonical(part, f"parts[{i}]") for i, part in enumerate(parts)]
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(*parts: object) -> str:
    """A stable SHA-256 hex digest of ``parts``.

    Accepts JSON-like values, ``Decimal``, ``Money`` and other attrs classes, enums,
    dates and aware datetimes. Equal business identities give equal digests in every
    process; ``Decimal("1.50")`` and ``Decimal("1.5")`` are equal.

    >>> fingerprint("order.confirm", "T1001") == fingerprint("order.confirm", "T1001")
    True
    >>> len(fingerprint("x"))
    64
    """
    return hashlib.sha256(canonical_json(*parts).encode("utf-8")).hexdigest()
