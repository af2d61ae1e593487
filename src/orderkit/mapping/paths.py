"""Field paths inside a platform payload: ``"orders.order[2].price"``.

A map names source fields with dotted paths; ``[*]`` marks a list whose items are each
read (``"refunds[*].refund_line_items"``). Paths are parsed once, when a map is compiled,
into tuples of keys, so reading a field at run time is a short loop of ``dict`` lookups.
Error paths keep the real index (``orders.order[2].price``) so a bad record can be found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Final

from orderkit.model.errors import DefinitionError

__all__ = ["MISSING", "Missing", "iter_leaves", "join", "parse_path", "pattern_of"]


class Missing:
    """The marker for "the payload has no such key" (distinct from JSON ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()

_KEY = re.compile(r"[^.\[\]]+")


def parse_path(path: str, *, where: str = "path") -> tuple[str, ...]:
    """Split a dotted path into its keys; ``DefinitionError`` naming ``where`` if malformed.

    >>> parse_path("post_addr.province.name")
    ('post_addr', 'province', 'name')
    """
    if not isinstance(path, str) or not path:
        raise DefinitionError("expected a non-empty dotted path", path=where, value=path)
    keys = tuple(path.split("."))
    for key in keys:
        if not _KEY.fullmatch(key):
            raise DefinitionError(f"bad path segment {key!r}", path=where, value=path)
    return keys


def join(prefix: str, key: str) -> str:
    """``join("orders.order[2]", "price")`` -> ``"orders.order[2].price"``."""
    return f"{prefix}.{key}" if prefix else key


def pattern_of(path: str) -> str:
    """Replace list indices by ``[*]``: ``a[2].b`` -> ``a[*].b`` (for batch statistics)."""
    return re.sub(r"\[\d+\]", "[*]", path)


def iter_leaves(value: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Every leaf (scalar or empty container) of a JSON value with its indexed path."""
    if isinstance(value, Mapping):
        if not value:
            yield prefix, value
        for key, item in value.items():
            yield from iter_leaves(item, join(prefix, str(key)))
    elif isinstance(value, list):
        if not value:
            yield prefix, value
        for index, item in enumerate(value):
            yield from iter_leaves(item, f"{prefix}[{index}]")
    else:
        yield prefix, value
