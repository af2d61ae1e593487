"""The platform's own modified time of a payload, and the payload's digest.

Sync tells an old payload from a new one by the time the platform says the order last
changed, never by when it arrived. Until the platform maps read it themselves, this
module reads it per platform: Taobao/Tmall and JD ``modified``, Douyin ``update_time``
(unix seconds), Pinduoduo ``updated_at``, Shopify ``updated_at`` and WooCommerce
``date_modified_gmt`` (else ``date_modified``). Text without an offset is read in the
platform's zone (``Asia/Shanghai`` for the Chinese platforms, UTC for WooCommerce's
``_gmt`` fields). Payloads wrapped in the API response envelope the maps accept are
read through it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from orderkit.model.errors import MappingError, ValidationError
from orderkit.model.time import parse_timestamp

__all__ = ["modified_at", "payload_digest", "payload_text"]

#: Per platform: the fields that hold the modified time (first present wins) and the
#: zone of text without an offset.
_FIELDS: Final[dict[str, tuple[tuple[str, ...], str]]] = {
    "tmall": (("modified",), "Asia/Shanghai"),
    "taobao": (("modified",), "Asia/Shanghai"),
    "jd": (("modified",), "Asia/Shanghai"),
    "pdd": (("updated_at",), "Asia/Shanghai"),
    "douyin": (("update_time",), "Asia/Shanghai"),
    "shopify": (("updated_at",), "UTC"),
    "woocommerce": (("date_modified_gmt", "date_modified"), "UTC"),
}

#: The response envelopes the maps accept, as key paths to the order object.
_ENVELOPES: Final = (
    ("trade_fullinfo_get_response", "trade"),
    ("order_info_get_response", "order_info"),
    ("data", "shop_order_detail"),
    ("order",),
)


def modified_at(platform: str, payload: Mapping[str, Any]) -> datetime:
    """The platform's modified time of ``payload`` (aware, UTC).

    Raises :class:`~orderkit.model.errors.MappingError` naming the field when the
    payload has none or it is not a time, and
    :class:`~orderkit.model.errors.ValidationError` for a platform without a reader.
    """
    try:
        names, zone = _FIELDS[platform]
    except KeyError:
        known = ", ".join(sorted(_FIELDS))
        raise ValidationError(
            "platform", platform, f"no modified-time reader (known: {known})"
        ) from None
    body, prefix = _unwrap(payload)
    for name in names:
        value = body.get(name)
        if value in (None, "", 0):
            continue
        try:
            return parse_timestamp(value, source_tz=zone, path=prefix + name)
        except ValidationError as error:
            raise MappingError(platform, error.path, value, error.reason) from error
    raise MappingError(platform, prefix + names[0], None, "the platform's modified time is missing")


def _unwrap(payload: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    for path in _ENVELOPES:
        node: object = payload
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping):
            return node, "".join(f"{key}." for key in path)
    return payload, ""


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
