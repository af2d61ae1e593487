"""The check every order repository adapter runs on the keys of
``find_many_by_channel``: each a ``(channel, channel order id)`` pair of strings that
a store can hold (UTF-8, no NUL), named by its place when it is not; duplicates read once."""

from __future__ import annotations

from collections.abc import Collection

from orderkit.model._checks import storable
from orderkit.model.errors import ValidationError

__all__ = ["checked_channel_keys"]


def checked_channel_keys(keys: Collection[tuple[str, str]]) -> list[tuple[str, str]]:
    """``keys`` as a list of distinct pairs, in their first order."""
    if isinstance(keys, str | bytes) or not isinstance(keys, Collection):
        raise ValidationError("keys", keys, "expected (channel, channel order id) pairs")
    seen: dict[tuple[str, str], None] = {}
    for index, key in enumerate(keys):
        if (not isinstance(key, tuple) or len(key) != 2
                or not all(isinstance(part, str) for part in key)):
            raise ValidationError(f"keys[{index}]", key,
                                  "expected a (channel, channel order id) pair of strings")
        for part in key:
            storable(f"keys[{index}]", part)
        seen[key] = None
    return list(seen)
