"""Trusted construction of frozen attrs values, for hot paths that validated already.

Every canonical type is a frozen, slotted attrs class. Its constructor runs every field
validator, which is right at a boundary and wasted work inside the library: the
lifecycle engine copies an order that was validated when it was built and changes four
fields it checked itself; a platform map builds lines from values its own parsers
produced.

Frozen classes refuse ``setattr``, so the usual way around the constructor
(``object.__setattr__`` or the slot descriptor's ``__set__``, once per field) costs about
130 ns per field, which for a 22-field order is more than all of the engine's own logic.
The builders here write the slots through a *writable twin* instead: a subclass that adds
no slots and restores ``object.__setattr__`` and ``object.__delattr__`` (attrs overrides
both, and they share one type slot), so each field is a plain specialised slot store
(about 20 ns). The twin's ``__init__`` is ``object.__init__``, so calling the twin makes an
empty instance without running a validator, and by a shorter path in CPython than
``object.__new__(twin)``, which checks its argument and slices its argument tuple on
every call. The finished object is then re-classed to the real type, which
CPython allows because the twin's layout is identical (same slots, nothing added). The
result is indistinguishable from a constructed value: ``type(x) is cls``, equality,
hashing, pickling and ``attrs.evolve`` behave as for any other instance.

Trust is the contract: the caller passes values that already satisfy the class's
validators and converters (``tests/test_build.py`` and the fast-path tests of each user
compare the results with the validating constructor).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

__all__ = ["Part", "assemble", "builder", "copier", "field_names"]

T = TypeVar("T")

_TWINS: dict[type, type] = {}
_NAMES: dict[type, tuple[str, ...]] = {}
_COPIERS: dict[tuple[type, tuple[str, ...]], Callable[..., Any]] = {}
_BUILDERS: dict[tuple[type, bool], Callable[..., Any]] = {}


@attrs.frozen
class Part:
    """One value a function made by :func:`assemble` builds: ``name = cls(...)``.

    ``values`` maps field names to Python expressions over the function's parameters and
    the names of earlier parts. A field not in ``values`` is read from ``copy_of`` (an
    expression naming a ``cls`` instance), so a copy states only what changes; without
    ``copy_of`` every field must be given. With ``when`` (an expression), the value is
    built only when it is true, and ``name`` is ``None`` otherwise.
    """

    name: str
    cls: type
    values: Mapping[str, str]
    copy_of: str | None = None
    when: str | None = None


def field_names(cls: type) -> tuple[str, ...]:
    """The attrs field names of ``cls`` in declaration order, cached."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(a.name for a in attrs.fields(cls))
    return names


def copier(cls: type[T], changed: tuple[str, ...]) -> Callable[..., T]:
    """``copy(src, *values)``: a copy of ``src`` (a ``cls``) with ``changed`` set to
    ``values`` in that order and every other field shared with ``src``. Cached per class
    and tuple of changed fields."""
    key = (cls, changed)
    made = _COPIERS.get(key)
    if made is None:
        # ``assemble`` refuses fields ``cls`` does not have.
        params = {name: f"_v{i}" for i, name in enumerate(changed)}
        part = Part("_obj", cls, params, copy_of="_src")
        made = _COPIERS[key] = assemble(("_src", *params.values()), (part,), "_obj")
    return made


def builder(cls: type[T], *, keyword: bool = False) -> Callable[..., T]:
    """``make(field, ...)`` taking every field of ``cls`` in declaration order
    (``keyword``: ``make(*, field=...)``), with no defaults: a trusted caller states
    every value. Cached per class."""
    key = (cls, keyword)
    made = _BUILDERS.get(key)
    if made is None:
        names = field_names(cls)
        part = Part("_obj", cls, {name: name for name in names})
        made = _BUILDERS[key] = assemble(names, (part,), "_obj", keyword=keyword)
    return made


def assemble(
    params: Sequence[str],
    parts: Sequence[Part],
    result: str,
    *,
    keyword: bool = False,
    constants: Mapping[str, object] | None = None,
    bindings: Mapping[str, str] | None = None,
) -> Callable[..., Any]:
    """``make(*params)``: straight-line code building every part in order, returning the
    expression ``result`` (``keyword``: the parameters are keyword-only). ``constants``
    are names the expressions may use besides the parameters, the parts and builtins;
    ``bindings`` are local names bound to expressions over the parameters before the
    first part (so a value read from a parameter several times is read once).

    One generated function for several values saves a Python call per value, which on a
    hot path that builds four values costs as much as their slot writes: the lifecycle
    engine builds a moved order, its event, its audit entry and the transition holding
    them in one call.
    """
    sign = f"{'*, ' if keyword and params else ''}{', '.join(params)}"
    body = [f"def make({sign}):"]
    body += [f"    {name} = {value}" for name, value in (bindings or {}).items()]
    namespace: dict[str, Any] = dict(constants or {})
    for k, part in enumerate(parts):
        names = field_names(part.cls)
        unknown = set(part.values) - set(names)
        if unknown:
            raise AttributeError(f"{part.cls.__name__} has no fields {sorted(unknown)}")
        if part.copy_of is None and len(part.values) != len(names):
            missing = sorted(set(names) - set(part.values))
            raise AttributeError(f"{part.cls.__name__} needs values for {missing}")
        namespace[f"_twin{k}"] = _twin(part.cls)
        namespace[f"_cls{k}"] = part.cls
        pad = "    "
        if part.when is not None:
            body += [f"    {part.name} = None", f"    if {part.when}:"]
            pad = "        "
        body.append(f"{pad}{part.name} = _twin{k}()")
        body += [
            f"{pad}{part.name}.{name} = {part.values.get(name, f'{part.copy_of}.{name}')}"
            for name in names
        ]
        body.append(f"{pad}{part.name}.__class__ = _cls{k}")
    body.append(f"    return {result}")
    # Code built from attrs field names and the caller's own expressions only; named after
    # the classes so profiles and tracebacks say which builder ran.
    label = "+".join(part.cls.__qualname__ for part in parts)
    exec(compile("\n".join(body), f"<orderkit._build {label}>", "exec"), namespace)
    made: Callable[..., Any] = namespace["make"]
    return made


def _twin(cls: type) -> type:
    """The writable twin of ``cls``: same layout, plain ``object.__setattr__``/``__delattr__``,
    and ``object.__init__``, so ``twin()`` is an empty instance with no validator run."""
    twin = _TWINS.get(cls)
    if twin is None:
        twin = _TWINS[cls] = type(
            f"_Writable{cls.__name__}",
            (cls,),
            {
                "__slots__": (),
                "__setattr__": object.__setattr__,
                "__delattr__": object.__delattr__,
                "__init__": object.__init__,
                "__module__": cls.__module__,
            },
        )
    return twin
