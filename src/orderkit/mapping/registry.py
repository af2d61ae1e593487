"""Which platforms exist, and the calls integrators make: ``normalize`` and friends.

A :class:`Registry` holds compiled plans by platform name. The module-level functions
(:func:`normalize`, :func:`register`, ...) use a default registry with the built-in
platforms, built on first use (nothing happens at import). Hosts that want isolation
(tests, several tenants with different maps) create their own ``Registry``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from orderkit.mapping.compile import compile_map
from orderkit.mapping.plan import Plan
from orderkit.mapping.result import MappedOrder
from orderkit.mapping.spec import PlatformMap
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.orders import Order

__all__ = [
    "BatchResult",
    "MappingFailure",
    "Registry",
    "builtin_maps",
    "channel_identity",
    "default_registry",
    "get_map",
    "modified_at",
    "normalize",
    "normalize_many",
    "platforms",
    "read_order",
    "register",
]


def builtin_maps() -> dict[str, Callable[[], PlatformMap]]:
    """The built-in platform maps by name.

    ``"taobao"`` is the Tmall map under that name: Taobao and Tmall trades come from the
    same API with ids from one sequence, so both names give the channel identity
    ``"tmall"`` and one trade is one stored order whichever name a host passes.
    """
    from orderkit.mapping.maps import douyin, jd, pdd, shopify, tmall, woocommerce

    return {
        "tmall": tmall.platform_map,
        "taobao": lambda: _alias(tmall.platform_map(), "taobao"),
        "jd": jd.platform_map,
        "pdd": pdd.platform_map,
        "douyin": douyin.platform_map,
        "shopify": shopify.platform_map,
        "woocommerce": woocommerce.platform_map,
    }


#: Built-in names that read with another name's map (see :func:`builtin_maps`): while a
#: registry has no map of its own under the alias, the alias follows that map, also
#: when a host replaces it.
_ALIASES: Final[dict[str, str]] = {"taobao": "tmall"}


def _alias(platform_map: PlatformMap, name: str) -> PlatformMap:
    """``platform_map`` under the name ``name``, with its channel identity."""
    return attrs.evolve(platform_map, name=name, channel=platform_map.channel_name)


@attrs.frozen
class MappingFailure:
    """One payload that could not be mapped: where it was in the batch and why."""

    index: int
    payload: object
    error: MappingError


@attrs.frozen
class BatchResult:
    """What :func:`normalize_many` returns: every input ends up in exactly one list.

    ``outcomes`` keeps input order, each an ``Order`` or a :class:`MappingFailure`.
    """

    outcomes: tuple[Order | MappingFailure, ...]

    @property
    def orders(self) -> tuple[Order, ...]:
        """The payloads that mapped, in input order."""
        return tuple(o for o in self.outcomes if isinstance(o, Order))

    @property
    def failures(self) -> tuple[MappingFailure, ...]:
        """The payloads that did not, in input order, each with its error."""
        return tuple(o for o in self.outcomes if isinstance(o, MappingFailure))

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures

    def __len__(self) -> int:
        return len(self.outcomes)


class Registry:
    """Compiled platform maps by name.

    ``Registry()`` starts with the built-in platforms (compiled lazily, on first use);
    ``Registry(builtins=False)`` starts empty.
    """

    def __init__(self, *, builtins: bool = True) -> None:
        self._plans: dict[str, Plan] = {}
        self._pending: dict[str, Callable[[], PlatformMap]] = builtin_maps() if builtins else {}
        self._aliases: dict[str, str] = dict(_ALIASES) if builtins else {}

    def register(self, platform_map: PlatformMap, *, replace: bool = False) -> Plan:
        """Validate, compile and add ``platform_map``; returns its plan.

        Registering a name that exists raises :class:`DefinitionError` unless
        ``replace=True`` (that is how a built-in map is swapped for an extended one).
        Replacing ``"tmall"`` replaces what ``"taobao"`` reads too, unless ``"taobao"``
        was given a map of its own.
        """
        name = getattr(platform_map, "name", None)
        if not replace and isinstance(name, str) and name in self.platforms():
            raise DefinitionError(
                "platform already registered; pass replace=True to override it",
                path=f"{name}", value=name,
            )
        plan = compile_map(platform_map)
        self._pending.pop(plan.name, None)
        self._plans[plan.name] = plan
        self._aliases.pop(plan.name, None)  # a map of its own: no longer an alias
        for alias, target in self._aliases.items():
            if target == plan.name:
                self._plans.pop(alias, None)
                self._pending[alias] = functools.partial(_alias, platform_map, alias)
        return plan

    def platforms(self) -> tuple[str, ...]:
        """Registered platform names, sorted."""
        return tuple(sorted({*self._plans, *self._pending}))

    def plan(self, platform: str) -> Plan:
        """The compiled plan of ``platform``; ``MappingError`` if there is none."""
        plan = self._plans.get(platform)
        if plan is None:
            factory = self._pending.pop(platform, None) if isinstance(platform, str) else None
            if factory is None:
                raise MappingError(
                    str(platform), "$", platform,
                    f"unknown platform; expected one of {', '.join(self.platforms())}",
                )
            plan = self._plans[platform] = compile_map(factory())
        return plan

    def get_map(self, platform: str) -> PlatformMap:
        """The (validated) map of ``platform``, to read or to extend."""
        return self.plan(platform).map

    def normalize(self, platform: str, payload: Mapping[str, Any]) -> Order:
        """Map one platform order object onto the canonical :class:`Order`."""
        return self.plan(platform).normalize(payload)

    def read_order(self, platform: str, payload: Mapping[str, Any]) -> MappedOrder:
        """Map one payload, like :meth:`normalize`, and return the order with what the
        payload says beside it (see :class:`MappedOrder`)."""
        return self.plan(platform).read_order(payload)

    def modified_at(self, platform: str, payload: Mapping[str, Any]) -> datetime | None:
        """The platform's modified time of ``payload`` (aware, UTC), or ``None``."""
        return self.plan(platform).modified_at(payload)

    def channel_identity(self, platform: str, payload: Mapping[str, Any]) -> tuple[str, str]:
        """``(channel, channel order id)`` of ``payload``, reading only its id."""
        return self.plan(platform).identity(payload)

    def normalize_many(self, platform: str, payloads: Iterable[object]) -> BatchResult:
        """Map every payload; failures are kept beside successes, nothing is dropped."""
        plan = self.plan(platform)
        outcomes: list[Order | MappingFailure] = []
        for index, payload in enumerate(payloads):
            try:
                outcomes.append(plan.normalize(payload))
            except MappingError as error:
                outcomes.append(MappingFailure(index, payload, error))
        return BatchResult(tuple(outcomes))


@functools.cache
def default_registry() -> Registry:
    """The registry behind the module-level functions (built on first use)."""
    return Registry()


def normalize(platform: str, payload: Mapping[str, Any]) -> Order:
    """Map one order object, as the platform's open API returns it, onto an ``Order``.

    Raises :class:`~orderkit.model.errors.MappingError` (``.platform``, ``.path``, ``.value``)
    when the payload cannot be mapped.
    """
    return default_registry().normalize(platform, payload)


def normalize_many(platform: str, payloads: Iterable[object]) -> BatchResult:
    """Map a batch; see :meth:`Registry.normalize_many`."""
    return default_registry().normalize_many(platform, payloads)


def read_order(platform: str, payload: Mapping[str, Any]) -> MappedOrder:
    """Map one payload and return the order with the platform's modified time, shop id,
    buyer and seller notes and the payload's digest; see :meth:`Registry.read_order`."""
    return default_registry().read_order(platform, payload)


def modified_at(platform: str, payload: Mapping[str, Any]) -> datetime | None:
    """The platform's own modified time of ``payload``: aware (UTC), naive platform text
    read in the platform's zone (Asia/Shanghai for the Chinese platforms); ``None`` when
    the payload has none. Only that field is read, so it is cheap enough to compare a
    payload with the stored one before mapping it."""
    return default_registry().modified_at(platform, payload)


def channel_identity(platform: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """``(channel, channel order id)``: the key of the one stored order ``payload``
    belongs to (``("tmall", "36985...")`` for ``"tmall"`` and ``"taobao"`` alike)."""
    return default_registry().channel_identity(platform, payload)


def platforms() -> tuple[str, ...]:
    """Names accepted by :func:`normalize`."""
    return default_registry().platforms()


def register(platform_map: PlatformMap, *, replace: bool = False) -> Plan:
    """Add (or with ``replace=True`` override) a platform in the default registry."""
    return default_registry().register(platform_map, replace=replace)


def get_map(platform: str) -> PlatformMap:
    """The map behind ``platform`` in the default registry (to read or extend)."""
    return default_registry().get_map(platform)
