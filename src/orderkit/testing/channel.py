"""A :class:`~orderkit.sync.ports.ChannelClient` over a JSON-lines file of payloads."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from orderkit.mapping.registry import Registry, default_registry
from orderkit.model.errors import StoreError, ValidationError
from orderkit.model.time import ensure_aware
from orderkit.sync.modified import modified_at
from orderkit.sync.records import Page

__all__ = ["FileChannelClient"]


class FileChannelClient:
    """One platform's "changed orders" API, read from a JSON-lines file (one payload a
    line; blank lines skipped), for tests and examples.

    ``changed(since, until, cursor)`` returns the payloads whose platform modified time
    lies in ``[since, until]``, oldest first (file order among equal times), in pages
    of ``page_size``; the file is read on every call, so lines appended between calls
    show up as they would on the platform. Payloads without a readable modified time
    are returned in every window (a real API would return them somewhere; sync dead-
    letters them). ``fail(times)`` makes the next ``times`` calls (every call, with
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

    def _call(self, operation: str) -> None:
        if self._failing is None:
            raise StoreError(operation, "channel unavailable (simulated outage)")
        if self._failing > 0:
            self._failing -= 1
            raise StoreError(operation, "channel unavailable (simulated outage)")

    def _payloads(self) -> list[Mapping[str, Any]]:
        try:
            text = self.path.read_text("utf-8")
        except OSError as error:
            raise StoreError(f"read {self.path.name}", str(error)) from error
        out: list[Mapping[str, Any]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                payload = json.loads(line)
            except ValueError as error:
                where = f"{self.path.name}:{number}"
                raise ValidationError(where, line[:80], str(error)) from error
            if not isinstance(payload, Mapping):
                where = f"{self.path.name}:{number}"
                raise ValidationError(where, payload, "expected a JSON object")
            out.append(payload)
        return out

    def changed(self, since: datetime, until: datetime, cursor: str | None) -> Page:
        """One page of the payloads changed in ``[since, until]``."""
        since = ensure_aware(since, path="since")
        until = ensure_aware(until, path="until")
        self.calls.append((since, until, cursor))
        self._call("changed orders")
        start = 0 if cursor is None else int(cursor)
        dated: list[tuple[datetime | None, int, Mapping[str, Any]]] = []
        for index, payload in enumerate(self._payloads()):
            try:
                stamp: datetime | None = modified_at(self.platform, payload)
            except ValidationError:
                stamp = None
            if stamp is None or since <= stamp <= until:
                dated.append((stamp, index, payload))
        dated.sort(key=lambda row: (row[0] or since, row[1]))
        chunk = [payload for _stamp, _index, payload in dated[start:start + self.page_size]]
        end = start + self.page_size
        return Page(chunk, str(end) if end < len(dated) else None)

    def get(self, channel_order_id: str) -> Mapping[str, Any] | None:
        """The newest payload (by modified time, then file order) of this order."""
        self._call("get order")
        best: tuple[datetime, int, Mapping[str, Any]] | None = None
        for index, payload in enumerate(self._payloads()):
            try:
                order = self.maps.normalize(self.platform, payload)
                stamp = modified_at(self.platform, payload)
            except ValidationError:
                continue
            if order.channel_order_id == channel_order_id and (
                best is None or (stamp, index) >= best[:2]
            ):
                best = (stamp, index, payload)
        return None if best is None else best[2]
