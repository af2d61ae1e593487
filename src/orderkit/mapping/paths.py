"""Field paths inside a platform payload: ``"orders.order[2].price"``.

A map names source fields with dotted paths; ``[*]`` marks a list whose items are each
read (``"refunds[*].refund_line_items"``). Paths are parsed once, when a map is compiled,
into tuples of keys, so reading a field at run time is a short loop of ``dict`` lookups.
Error paths keep the real index (``orders.order[2].price``) so a bad record can be found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from orderkit.model.errors import DefinitionError, MappingError

__all__ = [
    "MISSING",
    "SCALARS",
    "Missing",
    "iter_leaves",
    "join",
    "lookup",
    "parse_path",
    "path_text",
    "pattern_of",
    "typed_values",
]


class Missing:
    """The marker for "the payload has no such key" (distinct from JSON ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()

#: The JSON scalar types a payload value, or a value a map declares, may be.
SCALARS: Final = (str, int, float, bool, type(None))


def typed_values(values: Iterable[object], where: str) -> frozenset[tuple[type, object]]:
    """``values`` a map declares, as ``(type, value)`` pairs, so that a payload's ``1``
    matches ``1`` and not ``"1"`` or ``True``; :class:`DefinitionError` at ``where``
    unless every one is a JSON scalar."""
    values = tuple(values)
    if not all(isinstance(value, SCALARS) for value in values):
        raise DefinitionError("expected JSON scalar values", path=where, value=values)
    return frozenset((type(value), value) for value in values)


def is_known(known: frozenset[tuple[type, object]], value: object) -> bool:
    """Whether ``value`` is one of the :func:`typed_values` ``known``, type included:
    ``"1"`` is not ``1``, and ``True`` is not ``1`` (a drifted type is an unknown value,
    not a match)."""
    return isinstance(value, SCALARS) and (type(value), value) in known


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


def path_text(prefix: str, keys: Sequence[str]) -> str:
    """The indexed path of ``keys`` under ``prefix``: ``path_text("a[2]", ("b", "c"))`` is
    ``"a[2].b.c"``."""
    return join(prefix, ".".join(keys))


def lookup(obj: Mapping[str, Any], keys: tuple[str, ...], prefix: str, platform: str) -> Any:
    """The value at ``keys`` under ``obj``: ``MISSING`` when a key is absent, ``None`` when
    an object on the way is null, and a ``MappingError`` naming the path when something on
    the way is not an object (a list, a string)."""
    current: Any = obj
    for index, key in enumerate(keys):
        if current is None:
            return None
        if type(current) is not dict and not isinstance(current, Mapping):
            # (``type`` first: JSON objects are dicts, and the ABC check costs far more)
            raise MappingError(
                platform, path_text(prefix, keys[:index]), current, "expected an object"
            )
        current = current.get(key, MISSING)
        if current is MISSING:
            return MISSING
    return current


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
