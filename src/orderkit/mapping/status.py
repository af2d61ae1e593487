"""A :class:`~orderkit.mapping.spec.StatusTable` compiled into one dict lookup.

Compiling checks the table (every axis declares its values, every rule names declared
values and gives the right kind of status, every combination of known values is covered
by some rule) and expands it into a dict from the tuple of axis values to the status, so
reading a status is one lookup. A value outside its axis is an unknown status and a
:class:`~orderkit.model.errors.MappingError`, never a default.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import attrs

from orderkit.mapping.paths import MISSING, SCALARS, is_known, lookup, parse_path, path_text
from orderkit.mapping.spec import StatusTable
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.orders import LineStatus, OrderStatus

__all__ = ["MAX_COMBINATIONS", "CompiledAxis", "StatusPlan", "compile_status", "is_known"]

#: Tables with more combinations than this are refused (nobody can review them).
MAX_COMBINATIONS: Final = 20_000

_NULL_KEY: Final = (type(None), None)


class CompiledAxis(NamedTuple):
    """One axis, ready to read: its keys and its known values with their JSON types."""

    name: str
    keys: tuple[str, ...]
    known: frozenset[tuple[type, object]]
    presence: bool
    null: tuple[object, ...]
    default: object


@attrs.frozen
class StatusPlan:
    """A status table compiled to a dict from the tuple of axis values to the status."""

    axes: tuple[CompiledAxis, ...]
    table: Mapping[tuple[object, ...], OrderStatus | LineStatus]

    def values(self, obj: Mapping[str, Any], prefix: str, platform: str) -> tuple[object, ...]:
        """The axis values of ``obj``: ``"set"``/``"unset"`` for a presence axis."""
        out = []
        for axis in self.axes:
            value = lookup(obj, axis.keys, prefix, platform)
            if value is MISSING or (
                value is None and axis.default is not None and _NULL_KEY not in axis.known
            ):
                if axis.default is None:
                    raise MappingError(
                        platform, path_text(prefix, axis.keys), None,
                        f"required status field missing (axis {axis.name!r})",
                    )
                value = axis.default
            if axis.presence:
                value = "unset" if value in axis.null else "set"
            elif not is_known(axis.known, value):
                raise MappingError(
                    platform, path_text(prefix, axis.keys), value,
                    f"unknown {axis.name} status; add {value!r} to the {platform} status table",
                )
            out.append(value)
        return tuple(out)

    def status(self, obj: Mapping[str, Any], prefix: str, platform: str) -> Any:
        """The status the table gives ``obj`` (the object at ``prefix``)."""
        return self.table[self.values(obj, prefix, platform)]


def _domain(table: StatusTable, name: str, at: str) -> tuple[object, ...]:
    """The values of axis ``name``, checked."""
    axis = table.axes[name]
    where = f"{at}.axes[{name!r}]"
    if axis.presence:
        if axis.values and set(axis.values) - {"set", "unset"}:
            raise DefinitionError(
                "a presence axis has only the values 'set' and 'unset'",
                path=where, value=axis.values,
            )
        return ("set", "unset")
    if not axis.values:
        raise DefinitionError("an axis needs its documented values", path=where, value=axis)
    for value in axis.values:
        if not isinstance(value, SCALARS):
            raise DefinitionError("status values are JSON scalars", path=where, value=value)
    if len(set(axis.values)) != len(axis.values):
        raise DefinitionError("duplicate status value", path=where, value=axis.values)
    return axis.values


def _check_rules(
    table: StatusTable, domains: Mapping[str, tuple[object, ...]], at: str,
    result: type[OrderStatus] | type[LineStatus],
) -> None:
    for index, rule in enumerate(table.rules):
        where = f"{at}.rules[{index}]"
        if not isinstance(rule.status, result):
            raise DefinitionError(f"expected a {result.__name__}", path=where, value=rule.status)
        for name, values in rule.when.items():
            if name not in domains:
                raise DefinitionError(f"unknown axis {name!r}", path=where, value=name)
            for value in values:
                if value not in domains[name]:
                    raise DefinitionError(
                        f"value {value!r} is not declared on axis {name!r}",
                        path=where, value=value,
                    )


def _expand(
    table: StatusTable, domains: Mapping[str, tuple[object, ...]], at: str
) -> dict[tuple[object, ...], Any]:
    """Every combination of known values -> the status of the first rule that matches."""
    total = 1
    for domain in domains.values():
        total *= len(domain)
    if total > MAX_COMBINATIONS:
        raise DefinitionError(f"{total} status combinations; split the table", path=at,
                              value=total)
    names = list(domains)
    lookup_table: dict[tuple[object, ...], Any] = {}
    for combination in itertools.product(*domains.values()):
        for rule in table.rules:
            if all(combination[names.index(n)] in v for n, v in rule.when.items()):
                lookup_table[combination] = rule.status
                break
        else:
            shown = ", ".join(f"{n}={v!r}" for n, v in zip(names, combination, strict=True))
            raise DefinitionError(f"no rule covers {shown}", path=at, value=combination)
    return lookup_table


def compile_status(
    table: StatusTable, platform: str, where: str, result: type[OrderStatus] | type[LineStatus]
) -> StatusPlan:
    """Check ``table`` and compile it; :class:`DefinitionError` names ``platform.where``
    (or the axis or rule inside it) when it is not sound."""
    at = f"{platform}.{where}"
    if not isinstance(table, StatusTable) or not table.axes:
        raise DefinitionError("expected a StatusTable with at least one axis", path=at,
                              value=table)
    axes = []
    domains: dict[str, tuple[object, ...]] = {}
    for name, axis in table.axes.items():
        keys = parse_path(axis.path, where=f"{at}.axes[{name!r}]")
        domain = _domain(table, name, at)
        known = frozenset((type(value), value) for value in domain)
        axes.append(CompiledAxis(name, keys, known, axis.presence, axis.null, axis.default))
        domains[name] = domain
    _check_rules(table, domains, at, result)
    return StatusPlan(tuple(axes), _expand(table, domains, at))
