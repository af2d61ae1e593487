"""The platform's own modified time of a payload, and the payload's digest.

Sync tells an old payload from a new one by the time the platform says the order last
changed, never by when it arrived. The platform maps read that time themselves
(:attr:`PlatformMap.modified_at <orderkit.mapping.PlatformMap>`, through
:func:`orderkit.mapping.modified_at`): Taobao/Tmall and JD ``modified``, Douyin
``update_time``, Pinduoduo ``updated_at``, Shopify ``updated_at`` and WooCommerce
``date_modified_gmt``, in the map's zone when the text has no offset. This module only
turns "the payload has none" into an error sync can keep as a dead letter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orderkit.mapping.registry import Registry, default_registry
from orderkit.model.errors import MappingError, ValidationError

__all__ = ["modified_at", "parse_json", "payload_digest", "payload_text", "raw_digest"]


def modified_at(
    platform: str, payload: Mapping[str, Any], *, maps: Registry | None = None
) -> datetime:
    """The platform's modified time of ``payload`` (aware, UTC), as ``platform``'s map
    in ``maps`` (default: the built-in registry) reads it.

    Raises :class:`~orderkit.model.errors.MappingError` naming the field when the
    payload has none (or the map reads none), when it is not a time, and for an unknown
    platform.
    """
    registry = maps if maps is not None else default_registry()
    found = registry.modified_at(platform, payload)
    if found is None:
        spec = registry.get_map(platform).modified_at
        path = spec.path if spec is not None else "modified_at"
        raise MappingError(platform, path, None, "the platform's modified time is missing")
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (non-finite numbers are refused)")


def parse_json(text: str | bytes) -> Any:
    """JSON text parsed as sync reads payloads: like :func:`json.loads`, except that
    ``NaN``, ``Infinity`` and ``-Infinity`` (which Python writes and reads but JSON has
    not) raise :class:`ValueError` naming the constant, so such a payload is refused
    where it is read, never stored with a value no JSON writer can write back."""
    return json.loads(text, parse_constant=_no_constant)


def payload_text(payload: Mapping[str, Any]) -> str:
    """``payload`` as canonical JSON (sorted keys, no spaces): what the digest hashes
    and what a dead letter keeps. Values JSON cannot hold are refused, naming them."""
    try:
        return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValidationError("payload", payload, f"expected a JSON object ({error})") from error


def payload_digest(text: str) -> str:
    """The SHA-256 of a payload's canonical JSON text, in hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def raw_digest(text: str) -> str:
    """The digest of a payload's raw JSON text as received (``raw:`` and the SHA-256
    hex of its UTF-8 bytes): how sync knows a payload it applied before when the client
    hands over the text, without writing the payload out as canonical JSON. The prefix
    keeps it apart from :func:`payload_digest`."""
    return "raw:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
