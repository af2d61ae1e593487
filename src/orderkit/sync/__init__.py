"""Marketplace sync: webhooks, polling and backfill converge on one stored order.

:class:`Sync` takes every payload through one path (map, then upsert by channel and
channel order id: the first sighting places the order, later ones become lifecycle
events), keeps what it saw in a :class:`~orderkit.sync.ports.SyncStore`, polls through
a :class:`~orderkit.sync.ports.ChannelClient` with cursors that never skip, and keeps
what it could not map as dead letters. :mod:`orderkit.sync.signatures` checks the
platforms' webhook signatures before a message is received. See ``docs/sync.md``.
"""

from orderkit.sync.diff import (
    MISMATCH_HOLD,
    SYNC_ACTOR,
    UNKNOWN_WAYBILL,
    Wanted,
    initial,
    next_event,
)
from orderkit.sync.feed import MemoryChannelClient, read_lines, read_payloads
from orderkit.sync.limits import LIMITS, PlatformLimits, limits_for, windows
from orderkit.sync.modified import modified_at, parse_json, payload_digest, payload_text, raw_digest
from orderkit.sync.ports import ChannelClient, ListingClient, OrderLookup, SyncStore
from orderkit.sync.records import Cursor, DeadLetter, Listed, Listing, Page, Seen
from orderkit.sync.signatures import (
    DouyinSignature,
    JdSignature,
    PddSignature,
    ShopifySignature,
    SignatureCheck,
    TopSignature,
    WebhookRequest,
    WooCommerceSignature,
)
from orderkit.sync.sync import DEFAULT_BATCH, NotConverged, Progress, Sync, SyncReport

__all__ = [
    "DEFAULT_BATCH",
    "LIMITS",
    "MISMATCH_HOLD",
    "SYNC_ACTOR",
    "UNKNOWN_WAYBILL",
    "ChannelClient",
    "Cursor",
    "DeadLetter",
    "DouyinSignature",
    "JdSignature",
    "Listed",
    "Listing",
    "ListingClient",
    "MemoryChannelClient",
    "NotConverged",
    "OrderLookup",
    "Page",
    "PddSignature",
    "PlatformLimits",
    "Progress",
    "Seen",
    "ShopifySignature",
    "SignatureCheck",
    "Sync",
    "SyncReport",
    "SyncStore",
    "TopSignature",
    "Wanted",
    "WebhookRequest",
    "WooCommerceSignature",
    "initial",
    "limits_for",
    "modified_at",
    "next_event",
    "parse_json",
    "payload_digest",
    "payload_text",
    "raw_digest",
    "read_lines",
    "read_payloads",
    "windows",
]
