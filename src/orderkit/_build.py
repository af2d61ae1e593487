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
(about 20 ns). The finished object is then re-classed to the real type, which
CPython allows because the twin's layout is identical (same slots, nothing added). The
result is indistinguishable from a constructed value: ``type(x) is cls``, equality,
hashing, pickling and ``attrs.evolve`` behave as for any other instance.

Trust is the contract: the caller passes values that already satisfy the class's
validators and converters (``tests/test_build.py`` and the fast-path tests of each user
compare the results with the validating constructor).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["builder", "copier", "field_names"]

T = TypeVar("T")

_TWINS: dict[type, type] = {}
_NAMES: dict[type, tuple[str, ...]] = {}
_COPIERS: dict[tuple[type, tuple[str, ...]], Callable[..., Any]] = {}
_BUILDERS: dict[tuple[type, bool], Callable[..., Any]] = {}


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
        unknown = set(changed) - set(field_names(cls))
        if unknown:
            raise AttributeError(f"{cls.__name__} has no fields {sorted(unknown)}")
        params = {name: f"_v{i}" for i, name in enumerate(changed)}
        head = "def make(_src" + "".join(", " + p for p in params.values()) + "):"
        values = [params.get(name, f"_src.{name}") for name in field_names(cls)]
        made = _COPIERS[key] = _generate(cls, head, values)
    return made


def builder(cls: type[T], *, keyword: bool = False) -> Callable[..., T]:
    """``make(field, ...)`` taking every field of ``cls`` in declaration order
    (``keyword``: ``make(*, field=...)``), with no defaults: a trusted caller states
    every value. Cached per class."""
    key = (cls, keyword)
    made = _BUILDERS.get(key)
    if made is None:
        names = field_names(cls)
        head = f"def make({'*, ' if keyword and names else ''}{', '.join(names)}):"
        made = _BUILDERS[key] = _generate(cls, head, list(names))
    return made


def _generate(cls: type[T], head: str, values: list[str]) -> Callable[..., T]:
    """Straight-line code writing ``values`` (Python expressions) into the fields of a
    new writable twin of ``cls``, then giving it its real class."""
    names = field_names(cls)
    body = [head, "    _obj = _new(_twin)"]
    body += [f"    _obj.{name} = {value}" for name, value in zip(names, values, strict=True)]
    body += ["    _obj.__class__ = _cls", "    return _obj"]
    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": _twin(cls), "_cls": cls}
    # Code built from attrs field names only; named after the class so profiles and
    # tracebacks say which builder ran.
    code = compile("\n".join(body), f"<orderkit._build {cls.__qualname__}>", "exec")
    exec(code, namespace)
    made: Callable[..., T] = namespace["make"]
    return made


def _twin(cls: type) -> type:
    """The writable twin of ``cls``: same layout, plain ``object.__setattr__``/``__delattr__``."""
    twin = _TWINS.get(cls)
    if twin is None:
        twin = _TWINS[cls] = type(
            f"_Writable{cls.__name__}",
            (cls,),
            {
                "__slots__": (),
                "__setattr__": object.__setattr__,
                "__delattr__": object.__delattr__,
                "__module__": cls.__module__,
            },
        )
    return twin
