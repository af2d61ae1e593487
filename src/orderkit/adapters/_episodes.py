"""What the SQLite and PostgreSQL watch states share: an alert episode as JSON text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from orderkit.watch.ports import Episode

__all__ = ["dump_episode", "load_episode", "written_back"]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def dump_episode(episode: Episode) -> str:
    """``episode`` as canonical JSON text (keys sorted), every instant in ISO 8601 with
    its offset, so an unchanged episode dumps to the same text."""
    return json.dumps({
        "key": episode.key, "rule": episode.rule, "group": episode.group,
        "state": episode.state, "orders": list(episode.orders),
        "first_seen": _iso(episode.first_seen), "fired_at": _iso(episode.fired_at),
        "last_sent": _iso(episode.last_sent), "sent": episode.sent,
        "resolved_at": _iso(episode.resolved_at), "route_to": episode.route_to,
        "claim": episode.claim, "claimed_until": _iso(episode.claimed_until),
    }, ensure_ascii=False, sort_keys=True)


def load_episode(body: str) -> Episode:
    """The episode :func:`dump_episode` wrote (text without ``resolved_at``, as the
    first PostgreSQL release wrote it, reads as not resolved; text without
    ``route_to``, as releases before it wrote, as no queue kept; text without a claim as
    unclaimed)."""
    data = json.loads(body)
    first_seen = _when(data["first_seen"])
    assert first_seen is not None
    return Episode(data["key"], data["rule"], data["group"], data["state"],
                   tuple(data["orders"]), first_seen, _when(data["fired_at"]),
                   _when(data["last_sent"]), data["sent"], _when(data.get("resolved_at")),
                   data.get("route_to"), data.get("claim"),
                   _when(data.get("claimed_until")))


def written_back(
    before: Mapping[str, str], working: Mapping[str, Episode]
) -> tuple[list[str], list[tuple[str, str]], list[Episode]]:
    """What a watch cycle writes back, given the episodes it read (``before``: key ->
    stored text) and the block left (``working``): the keys to delete (read, or resolved
    by the block, and no longer open), the ``(key, text)`` rows to insert or update (an
    episode added or changed: an unchanged one dumps to the text it was read as), and
    the episodes closed (resolved: for the history)."""
    closed = [e for e in working.values() if e.state == "resolved"]
    after = {key: dump_episode(episode) for key, episode in working.items()
             if episode.state != "resolved"}
    gone = sorted({*before, *(e.key for e in closed)} - after.keys())
    changed = [(key, body) for key, body in after.items() if before.get(key) != body]
    return gone, changed, closed
