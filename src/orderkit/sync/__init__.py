"""Marketplace sync: its ports and the values its store keeps (the engine follows)."""

from orderkit.sync.ports import ChannelClient, OrderLookup, SyncStore
from orderkit.sync.records import Cursor, DeadLetter, Page, Seen

__all__ = ["ChannelClient", "Cursor", "DeadLetter", "OrderLookup", "Page", "Seen", "SyncStore"]
