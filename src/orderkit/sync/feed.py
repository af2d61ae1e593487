"""Payloads in memory as a :class:`~orderkit.sync.ports.ChannelClient`, and the
JSON-lines files they are kept in: what the command line, examples, tests and
benchmarks read (a host's own client talks to the platform's API)."""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from orderkit.mapping.registry import Registry, default_registry
from orderkit.model.errors import StoreError, ValidationError
from orderkit.model.time import ensure_aware
from orderkit.sync.modified import modified_at, parse_json
from orderkit.sync.records import Listed, Listing, Page

__all__ = ["MemoryChannelClient", "read_lines", "read_payloads"]


def read_payloads(path: str | os.PathLike[str]) -> list[Mapping[str, Any]]:
    """The payloads of a JSON-lines file (one JSON object a line, blank lines skipped).

    A line that is not a JSON object (or holds ``NaN`` or ``Infinity``, which JSON has
    not: see :func:`~orderkit.sync.modified.parse_json`) raises
    :class:`~orderkit.model.errors.ValidationError` naming ``<file>:<line>``; a file
    that cannot be read raises :class:`~orderkit.model.errors.StoreError`, and one that
    is not UTF-8 text (a GBK export) :class:`~orderkit.model.errors.ValidationError`
    naming the file and the bytes around the first that is not."""
    return [payload for payload, _text in read_lines(path)]


def read_lines(path: str | os.PathLike[str]) -> list[tuple[Mapping[str, Any], str]]:
    """Each payload of a JSON-lines file with its line as read (its raw text), checked
    as :func:`read_payloads` checks them."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise StoreError(f"read {path.name}", str(error)) from error
    except UnicodeDecodeError as error:
        raise ValidationError(
            path.name, error.object[max(error.start - 8, 0):error.start + 8],
            f"is not UTF-8 text ({error.reason} at byte {error.start}): save the export as"
            " UTF-8",
        ) from None
    out: list[tuple[Mapping[str, Any], str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            payload = parse_json(line)
        except ValueError as error:
            raise ValidationError(f"{path.name}:{number}", line[:80], str(error)) from error
        if not isinstance(payload, Mapping):
            raise ValidationError(f"{path.name}:{number}", payload, "expected a JSON object")
        out.append((payload, line))
    return out


class MemoryChannelClient:
    """One platform's "changed orders" API over payloads held in memory: what a host's
    own client returns, for tests, examples, the command line and benchmarks.

    ``changed(since, until, cursor)`` returns the payloads whose platform modified time
    lies in ``[since, until]``, oldest first (given order among equal times), in pages
    of ``page_size``; payloads without a readable modified time come first in every
    window (a real API would return them somewhere; sync dead-letters them). ``listed``
    lists the orders whose newest version falls in a window as ``(channel order id,
    modified time)`` only, for a sweep (payloads that do not map are left out: they have
    no id). ``get`` returns the newest
    payload of an order. The payloads are dated once, when the client is built.
    ``texts``, when given, are the raw JSON texts the payloads were parsed from (one
    each, as a real client reads them off the wire); its pages then carry them
    (:attr:`Page.texts <orderkit.sync.records.Page>`).
    """

    def __init__(
        self,
        payloads: Iterable[Mapping[str, Any]],
        *,
        platform: str,
        shop: str = "",
        page_size: int = 100,
        maps: Registry | None = None,
        texts: Iterable[str] | None = None,
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValidationError("page_size", page_size, "expected an integer >= 1")
        payloads = list(payloads)
        raw = None if texts is None else list(texts)
        if raw is not None and len(raw) != len(payloads):
            raise ValidationError("texts", len(raw),
                                  f"expected one text per payload ({len(payloads)})")
        self.platform = platform
        self._shop = shop
        self.page_size = page_size
        self.maps = maps if maps is not None else default_registry()
        self._texts = raw is not None
        self._undated: list[Mapping[str, Any]] = []
        self._undated_texts: list[str] = []
        dated: list[tuple[datetime, int, Mapping[str, Any]]] = []
        for index, payload in enumerate(payloads):
            try:
                dated.append((modified_at(platform, payload, maps=self.maps), index, payload))
            except ValidationError:
                self._undated.append(payload)
                if raw is not None:
                    self._undated_texts.append(raw[index])
        dated.sort(key=lambda row: (row[0], row[1]))
        self._stamps = [row[0] for row in dated]
        self._dated = [row[2] for row in dated]
        self._dated_texts = [] if raw is None else [raw[row[1]] for row in dated]
        self._ids: list[str | None] | None = None
        self._latest: dict[str, int] | None = None

    @property
    def shop(self) -> str:
        """The shop this client reads."""
        return self._shop

    def _span(self, since: datetime, until: datetime) -> tuple[int, int]:
        since = ensure_aware(since, path="since")
        until = ensure_aware(until, path="until")
        return (bisect.bisect_left(self._stamps, since),
                bisect.bisect_right(self._stamps, until))

    def _offset(self, cursor: str | None) -> int:
        if cursor is None:
            return 0
        if not cursor.isdigit():
            raise ValidationError("cursor", cursor, "expected a page token from this client")
        return int(cursor)

    def changed(self, since: datetime, until: datetime, cursor: str | None) -> Page:
        """One page of the payloads changed in ``[since, until]``."""
        low, high = self._span(since, until)
        start = self._offset(cursor)
        count = len(self._undated) + high - low
        end = min(start + self.page_size, count)
        chunk = [self._at(low, k) for k in range(start, end)]
        texts = [self._text_at(low, k) for k in range(start, end)] if self._texts else None
        return Page(chunk, str(end) if end < count else None, texts=texts)

    def _at(self, low: int, k: int) -> Mapping[str, Any]:
        undated = len(self._undated)
        return self._undated[k] if k < undated else self._dated[low + k - undated]

    def _text_at(self, low: int, k: int) -> str:
        undated = len(self._undated)
        return self._undated_texts[k] if k < undated else self._dated_texts[low + k - undated]

    def _channel_ids(self) -> list[str | None]:
        if self._ids is None:
            ids: list[str | None] = []
            for payload in self._dated:
                try:
                    ids.append(self.maps.normalize(self.platform, payload).channel_order_id)
                except ValidationError:
                    ids.append(None)
            self._ids = ids
        return self._ids

    def listed(self, since: datetime, until: datetime, cursor: str | None) -> Listing:
        """One page of ``(channel order id, modified time)`` of the orders whose newest
        version was modified in ``[since, until]``: each order once, as the platform
        lists it now."""
        low, high = self._span(since, until)
        start = low + self._offset(cursor)
        end = min(start + self.page_size, high)
        ids, newest = self._channel_ids(), self._newest()
        entries = [
            Listed(key, self._stamps[k]) for k in range(start, end)
            if (key := ids[k]) is not None and newest[key] == k
        ]
        return Listing(entries, str(end - low) if end < high else None)

    def _newest(self) -> dict[str, int]:
        if self._latest is None:
            self._latest = {key: k for k, key in enumerate(self._channel_ids())
                            if key is not None}
        return self._latest

    def get(self, channel_order_id: str) -> Mapping[str, Any] | None:
        """The newest payload (by modified time, then given order) of this order."""
        k = self._newest().get(channel_order_id)
        return None if k is None else self._dated[k]
