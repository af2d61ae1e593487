"""``SyncStore`` in memory, for tests and single-process tools."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import attrs

from orderkit.model.errors import ValidationError
from orderkit.sync.records import Cursor, DeadLetter, Seen, newest_seen
from orderkit.watch.ports import checked_window

__all__ = ["MemorySyncStore"]


class MemorySyncStore:
    """What sync saw, its cursors and its dead letters, in dicts under one lock."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], Seen] = {}
        #: (platform, digest) -> channel order id of the newest versions in ``_seen``.
        self._by_digest: dict[tuple[str, str], str] = {}
        self._cursors: dict[tuple[str, str], Cursor] = {}
        self._letters: dict[str, DeadLetter] = {}
        self._lock = threading.Lock()

    def seen(self, platform: str, channel_order_id: str) -> Seen | None:
        """The newest version applied of this order, or ``None``."""
        with self._lock:
            return self._seen.get((platform, channel_order_id))

    def seen_many(self, platform: str, channel_order_ids: Collection[str]) -> dict[str, Seen]:
        """The newest version applied of each of these orders that has one."""
        with self._lock:
            found = ((key, self._seen.get((platform, key))) for key in set(channel_order_ids))
            return {key: seen for key, seen in found if seen is not None}

    def seen_digests(self, platform: str, digests: Collection[str]) -> dict[str, Seen]:
        """The newest versions applied whose digest is one of ``digests``."""
        with self._lock:
            found = ((d, self._by_digest.get((platform, d))) for d in set(digests))
            return {d: self._seen[(platform, key)] for d, key in found if key is not None}

    def mark_seen(self, seen: Seen) -> bool:
        """Keep ``seen`` unless a later version is stored."""
        if not isinstance(seen, Seen):
            raise ValidationError("seen", seen, "expected a Seen")
        key = (seen.platform, seen.channel_order_id)
        with self._lock:
            stored = self._seen.get(key)
            if stored is not None and stored.modified_at > seen.modified_at:
                return False
            self._seen[key] = attrs.evolve(seen, stale=stored.stale if stored else seen.stale)
            if stored is not None:
                self._by_digest.pop((seen.platform, stored.digest), None)
            self._by_digest[(seen.platform, seen.digest)] = seen.channel_order_id
            return True

    def mark_seen_many(self, seen: Sequence[Seen]) -> int:
        """:meth:`mark_seen` for several versions; the number of orders kept."""
        return sum(self.mark_seen(item) for item in newest_seen(seen))

    def lags(self, since: datetime, until: datetime) -> list[timedelta]:
        """The lags of the newest versions received in ``[since, until)``, smallest
        first (a scan: this store is for tests and small tools)."""
        since, until = checked_window(since, until)
        with self._lock:
            return sorted(s.lag for s in self._seen.values() if since <= s.received_at < until)

    def mark_stale(self, platform: str, channel_order_id: str) -> None:
        """Count one late, older version of this order."""
        with self._lock:
            stored = self._seen.get((platform, channel_order_id))
            if stored is not None:
                self._seen[(platform, channel_order_id)] = attrs.evolve(
                    stored, stale=stored.stale + 1
                )

    def cursor(self, platform: str, shop: str) -> Cursor | None:
        """The polling cursor of this platform and shop, or ``None``."""
        with self._lock:
            return self._cursors.get((platform, shop))

    def save_cursor(self, cursor: Cursor) -> Cursor:
        """Move the stored cursor forward to ``cursor``; never back."""
        if not isinstance(cursor, Cursor):
            raise ValidationError("cursor", cursor, "expected a Cursor")
        key = (cursor.platform, cursor.shop)
        with self._lock:
            stored = self._cursors.get(key)
            kept = cursor if stored is None else stored.advanced(cursor.modified_at,
                                                                 cursor.ids_at)
            self._cursors[key] = kept
            return kept

    def add_dead_letter(self, letter: DeadLetter) -> DeadLetter:
        """Keep ``letter``, or count one more attempt of the stored one."""
        if not isinstance(letter, DeadLetter):
            raise ValidationError("letter", letter, "expected a DeadLetter")
        with self._lock:
            stored = self._letters.get(letter.letter_id)
            kept = letter if stored is None else attrs.evolve(
                stored, error=letter.error, attempts=stored.attempts + 1
            )
            self._letters[letter.letter_id] = kept
            return kept

    def dead_letters(self, platform: str | None = None) -> list[DeadLetter]:
        """The dead letters (of ``platform``), oldest first."""
        with self._lock:
            return [
                letter for letter in self._letters.values()
                if platform is None or letter.platform == platform
            ]

    def dead_letter_count(self, platform: str | None = None) -> int:
        """How many dead letters (of ``platform``) wait."""
        return len(self.dead_letters(platform))

    def resolve_dead_letter(self, letter_id: str) -> bool:
        """Drop a letter; ``False`` when there is none with that id."""
        with self._lock:
            return self._letters.pop(letter_id, None) is not None
