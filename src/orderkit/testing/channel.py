""":class:`~orderkit.sync.ports.ChannelClient`\\ s over payloads in memory and in a
JSON-lines file, with the id-and-modified-time listing a sweep reads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from orderkit.mapping.registry import Registry, default_registry
from orderkit.model.errors import StoreError, ValidationError
from orderkit.model.time import ensure_aware
from orderkit.sync.feed import MemoryChannelClient, read_lines, read_payloads
from orderkit.sync.records import Listing, Page

__all__ = ["FileChannelClient", "MemoryChannelClient", "read_lines", "read_payloads"]


class FileChannelClient:
    """One platform's "changed orders" API, read from a JSON-lines file (one payload a
    line; blank lines skipped), for tests and examples.

    It answers like :class:`MemoryChannelClient` over the file's payloads, and reads the
    file again on every call, so lines appended between calls show up as they would on
    the platform. ``fail(times)`` makes the next ``times`` calls (every call, with
    ``None``, until :meth:`recover`) raise :class:`~orderkit.model.errors.StoreError`:
    an outage.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        platform: str,
        shop: str = "",
        page_size: int = 100,
        maps: Registry | None = None,
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValidationError("page_size", page_size, "expected an integer >= 1")
        self.path = Path(path)
        self.platform = platform
        self._shop = shop
        self.page_size = page_size
        self.maps = maps if maps is not None else default_registry()
        self._failing: int | None = 0
        #: Every ``changed`` call made, as ``(since, until, cursor)`` (for assertions).
        self.calls: list[tuple[datetime, datetime, str | None]] = []

    @property
    def shop(self) -> str:
        """The shop this client reads."""
        return self._shop

    def fail(self, times: int | None = 1) -> None:
        """Fail the next ``times`` calls (``None``: every call until :meth:`recover`)."""
        self._failing = times

    def recover(self) -> None:
        """End an outage."""
        self._failing = 0

    def _client(self, operation: str) -> MemoryChannelClient:
        if self._failing is None:
            raise StoreError(operation, "channel unavailable (simulated outage)")
        if self._failing > 0:
            self._failing -= 1
            raise StoreError(operation, "channel unavailable (simulated outage)")
        lines = read_lines(self.path)
        return MemoryChannelClient([payload for payload, _text in lines],
                                   texts=[text for _payload, text in lines],
                                   platform=self.platform, shop=self._shop,
                                   page_size=self.page_size, maps=self.maps)

    def changed(self, since: datetime, until: datetime, cursor: str | None) -> Page:
        """One page of the payloads changed in ``[since, until]``."""
        since = ensure_aware(since, path="since")
        until = ensure_aware(until, path="until")
        self.calls.append((since, until, cursor))
        return self._client("changed orders").changed(since, until, cursor)

    def listed(self, since: datetime, until: datetime, cursor: str | None) -> Listing:
        """One page of ``(channel order id, modified time)`` changed in ``[since,
        until]``."""
        return self._client("list changed orders").listed(since, until, cursor)

    def get(self, channel_order_id: str) -> Mapping[str, Any] | None:
        """The newest payload (by modified time, then file order) of this order."""
        return self._client("get order").get(channel_order_id)
