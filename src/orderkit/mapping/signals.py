"""Holds and tags: "do not ship" signals and flags of a payload, compiled into readers.

A :class:`~orderkit.mapping.spec.HoldSpec` turns a platform's signal (JD ``LOCKED``, a
Tmall sub-order whose buyer asked for a refund, Taobao ``PAID_FORBID_CONSIGN``) into a
:class:`~orderkit.model.orders.Hold` whose reason names the field and the value; a
:class:`~orderkit.mapping.spec.TagSpec` turns a flag (presale) into a tag of
``Order.tags``. Values match with their JSON type, as status values do, so ``true`` is
not ``1``. Reading the same payload always gives the same holds and tags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from orderkit.mapping.lines import LineDraft
from orderkit.mapping.paths import is_known, lookup, parse_path, path_text, typed_values
from orderkit.mapping.spec import HoldSpec, TagSpec
from orderkit.model.errors import DefinitionError
from orderkit.model.orders import Hold, LineStatus

__all__ = ["HoldsReader", "TagsReader", "compile_holds", "compile_tags", "value_matcher"]

HoldsReader = Callable[[Mapping[str, Any], Sequence[LineDraft], datetime], tuple[Hold, ...]]
"""``(order object, line drafts, when)`` -> the holds the payload asks for."""

TagsReader = Callable[[Mapping[str, Any], Sequence[LineDraft]], frozenset[str]]
"""``(order object, line drafts)`` -> the tags of the payload's flags."""

_Matcher = Callable[[Mapping[str, Any], str], "object | None"]


def _matcher(
    path: str, values: tuple[object, ...], scope: str, platform: str, at: str
) -> tuple[tuple[str, ...], _Matcher]:
    """The parsed path and a function giving the matching value of an object (or None)."""
    if scope not in ("order", "line"):
        raise DefinitionError("scope is 'order' or 'line'", path=f"{at}.scope", value=scope)
    keys = parse_path(path, where=f"{at}.path")
    if not values:
        raise DefinitionError("expected JSON scalar values", path=f"{at}.values", value=values)
    known = typed_values(values, f"{at}.values")

    def match(obj: Mapping[str, Any], prefix: str) -> object | None:
        value = lookup(obj, keys, prefix, platform)
        return value if is_known(known, value) else None

    return keys, match


def value_matcher(
    path: str, values: tuple[object, ...], platform: str, at: str
) -> Callable[[Mapping[str, Any]], object | None]:
    """A reader of the value at ``path`` of an order object when it is one of ``values``
    (type included), else ``None``; :class:`DefinitionError` at ``at`` for a bad path
    or non-scalar values."""
    _keys, match = _matcher(path, values, "order", platform, at)
    return lambda obj: match(obj, "")


def _name(value: object, what: str, at: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(f"expected a non-empty {what}", path=at, value=value)
    return str(value)  # a StrEnum member (PlatformHold) as its plain value


def compile_holds(specs: Sequence[HoldSpec], platform: str, channel: str) -> HoldsReader:
    """The reader of a map's ``holds``; :class:`DefinitionError` names a bad entry."""
    compiled = []
    kinds: set[str] = set()
    for index, spec in enumerate(specs):
        at = f"{platform}.holds[{index}]"
        if not isinstance(spec, HoldSpec):
            raise DefinitionError("expected a HoldSpec", path=at, value=spec)
        kind = _name(spec.kind, "hold kind", f"{at}.kind")
        if kind in kinds:
            raise DefinitionError("one entry per hold kind; list every value in it",
                                  path=f"{at}.kind", value=kind)
        kinds.add(kind)
        keys, match = _matcher(spec.path, spec.values, spec.scope, platform, at)
        compiled.append((kind, spec, keys, match))

    def read(
        payload: Mapping[str, Any], lines: Sequence[LineDraft], at: datetime
    ) -> tuple[Hold, ...]:
        holds = []
        for kind, spec, keys, match in compiled:
            found: list[str] = []
            if spec.scope == "order":
                value = match(payload, "")
                if value is not None:
                    found.append(f"{path_text('', keys)}={value}")
            else:
                for line in lines:
                    value = match(line.item, line.prefix)
                    if value is not None and line.buckets.get(LineStatus.OPEN, 0):
                        found.append(f"{path_text(line.prefix, keys)}={value}"
                                     f" (line {line.line_id})")
            if found:
                signal = "; ".join(found)
                reason = f"{spec.reason} ({signal})" if spec.reason else signal
                holds.append(Hold(kind=kind, by=channel, at=at, reason=reason))
        return tuple(holds)

    return read


def compile_tags(specs: Sequence[TagSpec], platform: str) -> TagsReader:
    """The reader of a map's ``tags``; :class:`DefinitionError` names a bad entry."""
    compiled = []
    for index, spec in enumerate(specs):
        at = f"{platform}.tags[{index}]"
        if not isinstance(spec, TagSpec):
            raise DefinitionError("expected a TagSpec", path=at, value=spec)
        tag = _name(spec.tag, "tag", f"{at}.tag")
        _keys, match = _matcher(spec.path, spec.values, spec.scope, platform, at)
        compiled.append((tag, spec.scope, match))

    def read(payload: Mapping[str, Any], lines: Sequence[LineDraft]) -> frozenset[str]:
        tags = set()
        for tag, scope, match in compiled:
            if scope == "order":
                if match(payload, "") is not None:
                    tags.add(tag)
            elif any(match(line.item, line.prefix) is not None for line in lines):
                tags.add(tag)
        return frozenset(tags)

    return read
