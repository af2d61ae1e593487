"""Compile a :class:`~orderkit.mapping.spec.PlatformMap` into a plan, and run it.

Compiling does every check that can be done without a payload (paths parse, units
exist, every combination of known status values has a meaning, adjustments are
coherent) and raises :class:`~orderkit.model.errors.DefinitionError` naming the bad entry.
It also turns the description into closures and lookup dicts (a status is one dict
lookup on the tuple of axis values): that is the *checked* path. On top of it,
:mod:`orderkit.mapping.fastpath` generates straight-line code per map that inlines the
common cases and uses trusted builders, stepping aside to the checked path for anything
it cannot prove; ``Plan.build`` runs that, ``Plan.build_checked`` the reference.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import attrs

from orderkit.mapping.fastpath import generate_build
from orderkit.mapping.paths import MISSING, parse_path
from orderkit.mapping.spec import (
    AdjustmentListSpec,
    AdjustmentSpec,
    Field,
    PlatformMap,
    StatusTable,
)
from orderkit.mapping.units import (
    MONEY_UNITS,
    UNITS,
    Reject,
    amount_converter,
    money_converter,
    read_count,
    read_id,
    read_text,
    timestamp_converter,
)
from orderkit.model.errors import DefinitionError, MappingError, ValidationError
from orderkit.model.money import _CURRENCIES, Money
from orderkit.model.orders import (
    Address,
    Adjustment,
    AdjustmentKind,
    Bearer,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    Shipment,
)
from orderkit.model.time import zone

__all__ = ["Plan", "compile_map"]

#: Tables with more combinations than this are refused (nobody can review them).
_MAX_COMBINATIONS: Final = 20_000

#: Where lines sit when the platform has no per-line status: they follow the order.
_LINES_FOLLOW_ORDER: Final[Mapping[OrderStatus, LineStatus]] = {
    OrderStatus.PENDING_PAYMENT: LineStatus.OPEN,
    OrderStatus.PAID: LineStatus.OPEN,
    OrderStatus.PACKED: LineStatus.OPEN,
    OrderStatus.SHIPPED: LineStatus.SHIPPED,
    OrderStatus.DELIVERED: LineStatus.SHIPPED,
    OrderStatus.COMPLETED: LineStatus.SHIPPED,
    OrderStatus.CANCELLED: LineStatus.CANCELLED,
    OrderStatus.CLOSED: LineStatus.REFUNDED,
}
_ADDRESS_FIELDS: Final = frozenset(a.name for a in attrs.fields(Address))
_SCALARS: Final = (str, int, float, bool, type(None))
_ZERO: Final = Decimal(0)

Reader = Callable[[Mapping[str, Any], str, str], Any]


def _path_text(prefix: str, keys: Sequence[str]) -> str:
    dotted = ".".join(keys)
    return f"{prefix}.{dotted}" if prefix else dotted


def _lookup(obj: Mapping[str, Any], keys: tuple[str, ...], prefix: str, platform: str) -> Any:
    """The value at ``keys`` under ``obj``; MISSING when a key is absent, None on null."""
    current: Any = obj
    for index, key in enumerate(keys):
        if current is None:
            return None
        if type(current) is not dict and not isinstance(current, Mapping):
            raise MappingError(
                platform, _path_text(prefix, keys[:index]), current, "expected an object"
            )
        current = current.get(key, MISSING)
        if current is MISSING:
            return MISSING
    return current


@attrs.frozen
class _Compiled:
    platform: str
    where: str

    def fail(self, message: str, value: object = None) -> DefinitionError:
        return DefinitionError(message, path=f"{self.platform}.{self.where}", value=value)


def _compile_field(field: Field, platform: str, where: str, source_tz: Any) -> Reader:
    entry = _Compiled(platform, where)
    if not isinstance(field, Field):
        raise entry.fail("expected a Field", field)
    if field.unit not in UNITS:
        raise entry.fail(f"unknown unit {field.unit!r}; expected one of {sorted(UNITS)}", field)
    if field.max_decimals is not None and field.unit not in MONEY_UNITS:
        raise entry.fail("max_decimals only applies to money units", field)
    paths = [parse_path(field.path, where=f"{platform}.{where}")]
    paths += [parse_path(p, where=f"{platform}.{where}.fallback") for p in field.fallback]
    convert: Callable[[object, str], Any]
    if field.unit in MONEY_UNITS:
        convert = money_converter(field.unit, max_decimals=field.max_decimals)
    elif field.unit == "timestamp":
        convert = timestamp_converter(source_tz)
    else:
        simple = {"count": read_count, "id": read_id, "text": read_text}[field.unit]

        def convert(value: object, _currency: str) -> Any:
            return simple(value)

    null = field.null
    required = field.required
    default = field.default
    first = paths[0]

    if len(paths) == 1 and len(first) == 1:
        # The common case, kept short: one top-level key, no fallback.
        key = first[0]

        def read_key(obj: Mapping[str, Any], prefix: str, currency: str) -> Any:
            value = obj.get(key, MISSING)
            if value is not MISSING and value not in null:
                try:
                    return convert(value, currency)
                except Reject as error:
                    raise MappingError(
                        platform, f"{prefix}.{key}" if prefix else key, value, error.reason
                    ) from None
            if required:
                reason = "required field missing" if value is MISSING else "required field is empty"
                raise MappingError(platform, f"{prefix}.{key}" if prefix else key, value, reason)
            return default

        return read_key

    def read(obj: Mapping[str, Any], prefix: str, currency: str) -> Any:
        for keys in paths:
            value = _lookup(obj, keys, prefix, platform)
            if value is MISSING or value in null:
                continue
            try:
                return convert(value, currency)
            except Reject as error:
                raise MappingError(
                    platform, _path_text(prefix, keys), value, error.reason
                ) from None
        if required:
            value = _lookup(obj, first, prefix, platform)
            reason = "required field missing" if value is MISSING else "required field is empty"
            raise MappingError(platform, _path_text(prefix, first), value, reason)
        return default

    return read


# --- status tables -----------------------------------------------------------------------


#: A compiled axis: name, keys, known (type, value) pairs, presence, null values, default.
_Axis = tuple[str, tuple[str, ...], frozenset[tuple[type, object]], bool, tuple[object, ...],
              object]

_NULL_KEY: Final = (type(None), None)


def is_known(known: frozenset[tuple[type, object]], value: object) -> bool:
    """Whether ``value`` is a declared status value, type included: ``"1"`` is not ``1``,
    and ``True`` is not ``1`` (a drifted type is an unknown status, not a match)."""
    return isinstance(value, _SCALARS) and (type(value), value) in known


@attrs.frozen
class _StatusPlan:
    """A status table compiled to a dict from the tuple of axis values to the status."""

    axes: tuple[_Axis, ...]
    table: Mapping[tuple[object, ...], OrderStatus | LineStatus]

    def values(self, obj: Mapping[str, Any], prefix: str, platform: str) -> tuple[object, ...]:
        out = []
        for name, keys, known, presence, null, default in self.axes:
            value = _lookup(obj, keys, prefix, platform)
            if value is MISSING or (
                value is None and default is not None and _NULL_KEY not in known
            ):
                if default is None:
                    raise MappingError(
                        platform, _path_text(prefix, keys), None,
                        f"required status field missing (axis {name!r})",
                    )
                value = default
            if presence:
                value = "unset" if value in null else "set"
            elif not is_known(known, value):
                raise MappingError(
                    platform, _path_text(prefix, keys), value,
                    f"unknown {name} status; add {value!r} to the {platform} status table",
                )
            out.append(value)
        return tuple(out)

    def status(self, obj: Mapping[str, Any], prefix: str, platform: str) -> Any:
        return self.table[self.values(obj, prefix, platform)]


def _compile_status(
    table: StatusTable, platform: str, where: str, result: type[OrderStatus] | type[LineStatus]
) -> _StatusPlan:
    entry = _Compiled(platform, where)
    if not isinstance(table, StatusTable) or not table.axes:
        raise entry.fail("expected a StatusTable with at least one axis", table)
    axes = []
    domains = []
    for name, axis in table.axes.items():
        keys = parse_path(axis.path, where=f"{platform}.{where}.axes[{name!r}]")
        if axis.presence:
            if axis.values and set(axis.values) - {"set", "unset"}:
                raise _Compiled(platform, f"{where}.axes[{name!r}]").fail(
                    "a presence axis has only the values 'set' and 'unset'", axis.values
                )
            domain: tuple[object, ...] = ("set", "unset")
        else:
            domain = axis.values
            if not domain:
                raise _Compiled(platform, f"{where}.axes[{name!r}]").fail(
                    "an axis needs its documented values", axis
                )
            for value in domain:
                if not isinstance(value, _SCALARS):
                    raise _Compiled(platform, f"{where}.axes[{name!r}]").fail(
                        "status values are JSON scalars", value
                    )
            if len(set(domain)) != len(domain):
                raise _Compiled(platform, f"{where}.axes[{name!r}]").fail(
                    "duplicate status value", domain
                )
        typed = frozenset((type(value), value) for value in domain)
        axes.append((name, keys, typed, axis.presence, axis.null, axis.default))
        domains.append(domain)
    for index, rule in enumerate(table.rules):
        rule_entry = _Compiled(platform, f"{where}.rules[{index}]")
        if not isinstance(rule.status, result):
            raise rule_entry.fail(f"expected a {result.__name__}", rule.status)
        for name, values in rule.when.items():
            if name not in table.axes:
                raise rule_entry.fail(f"unknown axis {name!r}", name)
            domain = domains[list(table.axes).index(name)]
            for value in values:
                if value not in domain:
                    raise rule_entry.fail(
                        f"value {value!r} is not declared on axis {name!r}", value
                    )
    total = 1
    for domain in domains:
        total *= len(domain)
    if total > _MAX_COMBINATIONS:
        raise entry.fail(f"{total} status combinations; split the table", total)
    names = list(table.axes)
    lookup: dict[tuple[object, ...], Any] = {}
    for combination in itertools.product(*domains):
        for rule in table.rules:
            if all(combination[names.index(n)] in v for n, v in rule.when.items()):
                lookup[combination] = rule.status
                break
        else:
            shown = ", ".join(f"{n}={v!r}" for n, v in zip(names, combination, strict=True))
            raise entry.fail(f"no rule covers {shown}", combination)
    return _StatusPlan(tuple(axes), lookup)


# --- adjustments -------------------------------------------------------------------------

AdjustmentReader = Callable[[Mapping[str, Any], str, str, "str | None"], "Adjustment | None"]


def _compile_adjustment(
    spec: AdjustmentSpec, platform: str, where: str, tz: Any
) -> AdjustmentReader:
    entry = _Compiled(platform, where)
    if spec.unit not in MONEY_UNITS:
        raise entry.fail(f"unknown money unit {spec.unit!r}", spec.unit)
    try:
        kind = AdjustmentKind(spec.kind)
        bearer = Bearer(spec.borne_by)
    except ValueError:
        raise entry.fail("unknown adjustment kind or bearer", spec) from None
    if spec.signed and kind is not AdjustmentKind.ROUNDING:
        raise entry.fail("only a ROUNDING adjustment may be signed", spec)
    if spec.scope not in ("order", "line"):
        raise entry.fail("scope is 'order' or 'line'", spec.scope)
    keys = parse_path(spec.path, where=f"{platform}.{where}")
    condition = None
    if spec.only_if is not None:
        condition = (parse_path(spec.only_if[0], where=f"{platform}.{where}.only_if"),
                     spec.only_if[1])
    convert = amount_converter(spec.unit, signed=spec.signed, max_decimals=spec.max_decimals)
    label = spec.label or spec.path
    required = spec.required
    single = len(keys) == 1

    def read(
        obj: Mapping[str, Any], prefix: str, currency: str, line_id: str | None
    ) -> Adjustment | None:
        if condition is not None:
            flag = _lookup(obj, condition[0], prefix, platform)
            if flag != condition[1] or type(flag) is not type(condition[1]):
                if flag is MISSING or flag is None:
                    raise MappingError(
                        platform, _path_text(prefix, condition[0]), flag,
                        f"required to decide whether {spec.path} applies",
                    )
                if not isinstance(flag, type(condition[1])):
                    raise MappingError(
                        platform, _path_text(prefix, condition[0]), flag,
                        f"expected {type(condition[1]).__name__}",
                    )
                return None
        value = obj.get(keys[0], MISSING) if single else _lookup(obj, keys, prefix, platform)
        if value is MISSING or value is None:
            if required:
                raise MappingError(
                    platform, _path_text(prefix, keys), value, "required field missing"
                )
            return None
        try:
            amount = convert(value, currency)
        except Reject as error:
            raise MappingError(platform, _path_text(prefix, keys), value, error.reason) from None
        if not amount:
            return None
        return Adjustment(kind, Money(amount, currency), bearer, line_id, label)

    return read


def _compile_adjustment_list(
    spec: AdjustmentListSpec, platform: str, where: str
) -> Callable[[Mapping[str, Any], str, Mapping[str, str]], list[Adjustment]]:
    entry = _Compiled(platform, where)
    if spec.unit not in MONEY_UNITS:
        raise entry.fail(f"unknown money unit {spec.unit!r}", spec.unit)
    for key, target in spec.types.items():
        if target is None:
            continue
        try:
            AdjustmentKind(target[0])
            Bearer(target[1])
        except (ValueError, TypeError, IndexError):
            raise _Compiled(platform, f"{where}.types[{key!r}]").fail(
                "expected (AdjustmentKind, Bearer) or None", target
            ) from None
    list_keys = parse_path(spec.path, where=f"{platform}.{where}")
    amount_keys = parse_path(spec.amount, where=f"{platform}.{where}.amount")
    type_keys = parse_path(spec.type_field, where=f"{platform}.{where}.type_field")
    ref_keys = (
        parse_path(spec.line_ref, where=f"{platform}.{where}.line_ref") if spec.line_ref else None
    )
    convert = amount_converter(spec.unit)
    types = dict(spec.types)

    def read(
        payload: Mapping[str, Any], currency: str, line_ids: Mapping[str, str]
    ) -> list[Adjustment]:
        items = _lookup(payload, list_keys, "", platform)
        if items is MISSING or items is None:
            return []
        base = ".".join(list_keys)
        if not isinstance(items, list):
            raise MappingError(platform, base, items, "expected a list")
        out = []
        for index, item in enumerate(items):
            prefix = f"{base}[{index}]"
            if not isinstance(item, Mapping):
                raise MappingError(platform, prefix, item, "expected an object")
            kind_value = _lookup(item, type_keys, prefix, platform)
            if not isinstance(kind_value, _SCALARS) or kind_value not in types:
                raise MappingError(
                    platform, _path_text(prefix, type_keys), kind_value,
                    f"unknown adjustment type; add it to the {platform} map",
                )
            target = types[kind_value]
            if target is None:
                continue
            value = _lookup(item, amount_keys, prefix, platform)
            try:
                amount = convert(value, currency)
            except Reject as error:
                raise MappingError(
                    platform, _path_text(prefix, amount_keys), value, error.reason
                ) from None
            if not amount:
                continue
            line_id = None
            if ref_keys is not None:
                ref = _lookup(item, ref_keys, prefix, platform)
                line_id = line_ids.get(str(ref)) if isinstance(ref, str | int) else None
            out.append(Adjustment(target[0], Money(amount, currency), target[1], line_id,
                                  f"{kind_value}"))
        return out

    return read


# --- the plan ----------------------------------------------------------------------------


@attrs.frozen
class Plan:
    """A compiled platform map: :meth:`build` maps one payload, :meth:`normalize` also
    proves the totals against the platform's own payable amount."""

    map: PlatformMap
    mapped_paths: frozenset[str]
    """Source paths (with ``[*]`` for list items) the map reads; used by ``check``."""
    typed_paths: Mapping[str, str]
    """Source path pattern -> unit, for drift detection."""
    _build: Callable[[Mapping[str, Any]], tuple[Order, Money]]
    _envelopes: tuple[tuple[str, ...], ...]
    _id_key: str
    status_plans: Mapping[str, tuple[str, _StatusPlan]]
    """``"order"`` and (if any) ``"line"`` -> (list path or "", compiled table)."""
    _checked: Callable[[Mapping[str, Any]], tuple[Order, Money]]
    """The reference path: closures and validating constructors. ``_build`` is the
    generated fast path (:mod:`orderkit.mapping.fastpath`), which hands every payload it
    cannot prove to this one; tests compare the two."""

    @property
    def name(self) -> str:
        """The platform name."""
        return self.map.name

    def build(self, payload: object) -> tuple[Order, Money]:
        """The mapped order and the platform's payable amount, unchecked."""
        platform = self.map.name
        if not isinstance(payload, Mapping):
            raise MappingError(platform, "$", payload, "expected a JSON object (the order)")
        inner, where = self.unwrap(payload)
        if not where:
            return self._build_order(payload)
        try:
            return self._build_order(inner)
        except MappingError as error:
            path = where if error.path == "$" else f"{where}.{error.path}"
            raise MappingError(platform, path, error.value, error.reason) from None

    def build_checked(self, payload: object) -> tuple[Order, Money]:
        """:meth:`build` through the checked path only (closures and the validating
        constructors): the reference the fast path is tested against."""
        return attrs.evolve(self, build=self._checked).build(payload)

    def unwrap(self, payload: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
        """The order object inside ``payload`` and the envelope path ("" if none)."""
        if self._envelopes and self._id_key not in payload:
            for keys in self._envelopes:
                inner = _lookup(payload, keys, "", self.map.name)
                if isinstance(inner, Mapping):
                    return inner, ".".join(keys)
        return payload, ""

    def _build_order(self, payload: Mapping[str, Any]) -> tuple[Order, Money]:
        platform = self.map.name
        try:
            return self._build(payload)
        except MappingError:
            raise
        except ValidationError as error:
            raise MappingError(platform, error.path or "$", error.value, error.reason) from None
        except (TypeError, ValueError, KeyError, IndexError, ArithmeticError,
                AttributeError, RecursionError) as error:  # pragma: no cover - safety net
            raise MappingError(
                platform, "$", None, f"unexpected {type(error).__name__}: {error}"
            ) from None

    def normalize(self, payload: object) -> Order:
        """Map ``payload`` and refuse it when goods + shipping + tax - discounts differs
        from what the platform says the buyer pays."""
        order, payable = self.build(payload)
        mismatch = totals_mismatch(order, payable)
        if mismatch is not None:
            path = self.map.payable.path
            if isinstance(payload, Mapping):
                where = self.unwrap(payload)[1]
                path = f"{where}.{path}" if where else path
            raise MappingError(self.map.name, path, str(payable.amount), mismatch)
        return order


_SIGN: Final = {
    AdjustmentKind.SHIPPING: 1,
    AdjustmentKind.TAX: 1,
    AdjustmentKind.ROUNDING: 1,
    AdjustmentKind.DISCOUNT: -1,
    AdjustmentKind.COUPON: -1,
    AdjustmentKind.SUBSIDY: -1,
    AdjustmentKind.FEE: 0,
    AdjustmentKind.COMMISSION: 0,
}


def totals_mismatch(order: Order, payable: Money) -> str | None:
    """Why the mapped totals disagree with the platform's payable, or None when they agree.

    The sum is the one :attr:`Order.totals` makes (goods + shipping + tax - discounts +
    rounding), done on the ``Decimal`` amounts directly because it runs on every order.
    """
    total = sum((line.unit_price.amount * line.quantity for line in order.lines), _ZERO)
    for adjustment in order.adjustments:
        total += _SIGN[adjustment.kind] * adjustment.amount.amount
    if total == payable.amount and payable.currency == order.currency:
        return None
    totals = order.totals
    return (
        f"goods {totals.goods.amount} + shipping {totals.shipping.amount}"
        f" + tax {totals.tax.amount} - discounts {totals.discounts.amount}"
        f" + rounding {totals.rounding.amount} = {totals.payable.amount},"
        f" but the platform's payable is {payable.amount}"
    )


def _patterns(spec: PlatformMap) -> Iterator[tuple[str, str]]:
    """(source path pattern, unit) for every field the map reads."""
    def field(f: Field | None, prefix: str = "") -> Iterator[tuple[str, str]]:
        if f is None:
            return
        for path in (f.path, *f.fallback):
            yield (f"{prefix}{path}", f.unit)

    yield from field(spec.order_id)
    yield from field(spec.created_at)
    yield from field(spec.paid_at)
    yield from field(spec.buyer_id)
    yield from field(spec.payable)
    if spec.currency_path:
        yield (spec.currency_path, "text")
    for receiver in spec.ship_to.values():
        yield from field(receiver)
    line = f"{spec.lines.path}[*]."
    for item in (spec.lines.sku, spec.lines.quantity, spec.lines.unit_price,
                 spec.lines.line_id, spec.lines.title):
        yield from field(item, line)
    for axis in spec.status.axes.values():
        yield (axis.path, "status")
    if spec.lines.status is not None:
        for axis in spec.lines.status.axes.values():
            yield (f"{line}{axis.path}", "status")
    for adjustment in spec.adjustments:
        prefix = line if adjustment.scope == "line" else ""
        yield (f"{prefix}{adjustment.path}", adjustment.unit)
        if adjustment.only_if:
            yield (f"{prefix}{adjustment.only_if[0]}", "flag")
    for listed in spec.adjustment_lists:
        yield (f"{listed.path}[*].{listed.amount}", listed.unit)
        yield (f"{listed.path}[*].{listed.type_field}", "type")
        if listed.line_ref:
            yield (f"{listed.path}[*].{listed.line_ref}", "ref")
    if spec.refunds is not None:
        yield (f"{spec.refunds.path}[*].{spec.refunds.line_ref}", "ref")
        yield (f"{spec.refunds.path}[*].{spec.refunds.quantity}", "count")
    if spec.payment is not None:
        yield from field(spec.payment.reference)
        yield from field(spec.payment.method)
    if spec.shipment is not None:
        yield from field(spec.shipment.carrier)
        yield from field(spec.shipment.waybill)
        yield from field(spec.shipment.shipped_at)


def compile_map(spec: PlatformMap) -> Plan:
    """Validate ``spec`` and compile it; :class:`DefinitionError` names the first bad entry."""
    if not isinstance(spec, PlatformMap):
        raise DefinitionError("expected a PlatformMap", path="map", value=spec)
    name = spec.name
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise DefinitionError(
            "a platform name is a short word like 'tmall'", path="name", value=name
        )
    try:
        tz = zone(spec.source_zone, path=f"{name}.source_zone")
    except ValidationError as error:
        raise DefinitionError(
            error.reason, path=f"{name}.source_zone", value=spec.source_zone
        ) from None
    if spec.currency_path is None:
        try:
            Money.zero(spec.currency)
        except ValidationError:
            raise DefinitionError(
                "expected an ISO 4217 code", path=f"{name}.currency", value=spec.currency
            ) from None
        currency_keys = None
    else:
        currency_keys = parse_path(spec.currency_path, where=f"{name}.currency_path")
    fixed_currency = spec.currency

    read_order_id = _compile_field(spec.order_id, name, "order_id", tz)
    read_created = _compile_field(spec.created_at, name, "created_at", tz)
    read_payable = _compile_field(spec.payable, name, "payable", tz)
    for where, f, unit in (("order_id", spec.order_id, {"id"}),
                           ("created_at", spec.created_at, {"timestamp"}),
                           ("payable", spec.payable, MONEY_UNITS)):
        if f.unit not in unit:
            raise DefinitionError(f"expected unit in {sorted(unit)}", path=f"{name}.{where}",
                                  value=f.unit)
    read_paid = _compile_field(spec.paid_at, name, "paid_at", tz) if spec.paid_at else None
    read_buyer = _compile_field(spec.buyer_id, name, "buyer_id", tz) if spec.buyer_id else None
    address_readers = []
    for attr, f in spec.ship_to.items():
        if attr not in _ADDRESS_FIELDS:
            raise DefinitionError(
                f"Address has no field {attr!r}; expected one of {sorted(_ADDRESS_FIELDS)}",
                path=f"{name}.ship_to[{attr!r}]", value=attr,
            )
        if f.unit != "text":
            raise DefinitionError("receiver fields are text", path=f"{name}.ship_to[{attr!r}]",
                                  value=f.unit)
        address_readers.append((attr, _compile_field(f, name, f"ship_to[{attr!r}]", tz)))

    lines = spec.lines
    line_keys = parse_path(lines.path, where=f"{name}.lines.path")
    line_base = lines.path
    read_sku = _compile_field(lines.sku, name, "lines.sku", tz)
    read_qty = _compile_field(lines.quantity, name, "lines.quantity", tz)
    read_price = _compile_field(lines.unit_price, name, "lines.unit_price", tz)
    if lines.quantity.unit != "count":
        raise DefinitionError("expected unit 'count'", path=f"{name}.lines.quantity",
                              value=lines.quantity.unit)
    if lines.unit_price.unit not in MONEY_UNITS:
        raise DefinitionError("expected a money unit", path=f"{name}.lines.unit_price",
                              value=lines.unit_price.unit)
    read_line_id = (
        _compile_field(lines.line_id, name, "lines.line_id", tz) if lines.line_id else None
    )
    read_title = _compile_field(lines.title, name, "lines.title", tz) if lines.title else None
    order_status = _compile_status(spec.status, name, "status", OrderStatus)
    line_status = (
        _compile_status(lines.status, name, "lines.status", LineStatus) if lines.status else None
    )

    order_adjustments: list[AdjustmentReader] = []
    line_adjustments: list[AdjustmentReader] = []
    adjustment_specs: dict[str, list[tuple[AdjustmentSpec, AdjustmentReader]]] = {
        "order": [], "line": []
    }
    for index, adjustment in enumerate(spec.adjustments):
        reader = _compile_adjustment(adjustment, name, f"adjustments[{index}]", tz)
        (line_adjustments if adjustment.scope == "line" else order_adjustments).append(reader)
        adjustment_specs[adjustment.scope].append((adjustment, reader))
    list_readers = [
        _compile_adjustment_list(listed, name, f"adjustment_lists[{index}]")
        for index, listed in enumerate(spec.adjustment_lists)
    ]

    refunds = spec.refunds
    refund_keys = None
    if refunds is not None:
        refund_keys = (
            parse_path(refunds.path.replace("[*]", ""), where=f"{name}.refunds.path"),
            parse_path(refunds.line_ref, where=f"{name}.refunds.line_ref"),
            parse_path(refunds.quantity, where=f"{name}.refunds.quantity"),
            parse_path(refunds.line_key, where=f"{name}.refunds.line_key"),
        )
    payment = spec.payment
    read_reference = read_method = None
    if payment is not None:
        if spec.paid_at is None:
            raise DefinitionError("a payment needs paid_at", path=f"{name}.payment", value=payment)
        if payment.reference:
            read_reference = _compile_field(payment.reference, name, "payment.reference", tz)
        if payment.method:
            read_method = _compile_field(payment.method, name, "payment.method", tz)
    shipment = spec.shipment
    ship_readers = None
    if shipment is not None:
        ship_readers = (
            _compile_field(shipment.carrier, name, "shipment.carrier", tz),
            _compile_field(shipment.waybill, name, "shipment.waybill", tz),
            _compile_field(shipment.shipped_at, name, "shipment.shipped_at", tz)
            if shipment.shipped_at else None,
        )
    for index, ignored in enumerate(spec.ignore):
        parse_path(ignored.replace("[*]", ""), where=f"{name}.ignore[{index}]")

    def checked(payload: Mapping[str, Any]) -> tuple[Order, Money]:
        if currency_keys is None:
            currency = fixed_currency
        else:
            currency = _lookup(payload, currency_keys, "", name)
            try:
                Money.zero(currency)
            except ValidationError:
                raise MappingError(
                    name, spec.currency_path or "", currency, "expected an ISO 4217 currency"
                ) from None
        channel_order_id: str = read_order_id(payload, "", currency)
        created_at: datetime = read_created(payload, "", currency)
        paid_at = read_paid(payload, "", currency) if read_paid else None
        status: OrderStatus = order_status.status(payload, "", name)

        items = _lookup(payload, line_keys, "", name)
        if items is MISSING or items is None:
            raise MappingError(name, line_base, None, "required list of line items missing")
        if not isinstance(items, list) or not items:
            raise MappingError(name, line_base, items, "expected a non-empty list of line items")
        follow = _LINES_FOLLOW_ORDER[status]
        built_lines = []
        adjustments: list[Adjustment] = []
        keyed: dict[str, str] = {}
        for index, item in enumerate(items):
            prefix = f"{line_base}[{index}]"
            if not isinstance(item, Mapping):
                raise MappingError(name, prefix, item, "expected an object")
            line_id = read_line_id(item, prefix, currency) if read_line_id else str(index + 1)
            quantity = read_qty(item, prefix, currency)
            if line_status is None:
                bucket = follow
            else:
                bucket = line_status.status(item, prefix, name)
                if bucket is LineStatus.OPEN and status is OrderStatus.CANCELLED:
                    bucket = LineStatus.CANCELLED
            if line_id in keyed:
                raise MappingError(name, f"{prefix}", line_id, "duplicate line id")
            keyed[line_id] = line_id
            built_lines.append(
                [line_id, read_sku(item, prefix, currency), quantity,
                 read_price(item, prefix, currency), {bucket: quantity},
                 read_title(item, prefix, currency) if read_title else "", item]
            )
            for reader in line_adjustments:
                adjustment = reader(item, prefix, currency, line_id)
                if adjustment is not None:
                    adjustments.append(adjustment)
        if refund_keys is not None:
            _apply_refunds(payload, refund_keys, built_lines, name)
        for reader in order_adjustments:
            adjustment = reader(payload, "", currency, None)
            if adjustment is not None:
                adjustments.append(adjustment)
        for list_reader in list_readers:
            adjustments.extend(list_reader(payload, currency, keyed))
        ship_to = None
        if address_readers:
            ship_to = Address(**{attr: read(payload, "", currency) or ""
                                 for attr, read in address_readers})
        payable: Money = read_payable(payload, "", currency)
        payments: tuple[Payment, ...] = ()
        if payment is not None and paid_at is not None:
            reference = read_reference(payload, "", currency) if read_reference else ""
            payments = (Payment(
                payment_id=f"{name}:{channel_order_id}:payment",
                amount=payable,
                at=paid_at,
                method=(read_method(payload, "", currency) if read_method else "") or "",
                reference=reference or "",
            ),)
        shipments: tuple[Shipment, ...] = ()
        if ship_readers is not None:
            waybill = ship_readers[1](payload, "", currency)
            if waybill:
                shipments = (Shipment(
                    shipment_id=f"{name}:{channel_order_id}:{waybill}",
                    carrier=ship_readers[0](payload, "", currency) or "",
                    waybill=waybill,
                    lines={line[0]: line[2] for line in built_lines},
                    shipped_at=ship_readers[2](payload, "", currency) if ship_readers[2] else None,
                ),)
        buyer = (read_buyer(payload, "", currency) if read_buyer else "") or ""
        order = Order(
            order_id=f"{name}:{channel_order_id}",
            channel=name,
            channel_order_id=channel_order_id,
            lines=tuple(
                OrderLine(line_id=line[0], sku=line[1], quantity=line[2], unit_price=line[3],
                          quantities=line[4], title=line[5] or "", channel_line_id=line[0]
                          if read_line_id else "")
                for line in built_lines
            ),
            created_at=created_at,
            status=status,
            ship_to=ship_to,
            adjustments=tuple(adjustments),
            payments=payments,
            shipments=shipments,
            paid_at=paid_at,
            buyer_id=buyer,
        )
        return order, payable

    parts = {
        "tz": tz, "follow": _LINES_FOLLOW_ORDER, "valid_currency": _valid_currency,
        "order_id": read_order_id, "created": read_created, "paid": read_paid,
        "buyer": read_buyer, "payable": read_payable, "order_status": order_status,
        "line_status": line_status, "line_id": read_line_id, "quantity": read_qty,
        "sku": read_sku, "price": read_price, "title": read_title,
        "line_adjustments": adjustment_specs["line"],
        "order_adjustments": adjustment_specs["order"], "list_readers": list_readers,
        "refund_keys": refund_keys, "apply_refunds": _apply_refunds,
        "address": dict(address_readers), "reference": read_reference, "method": read_method,
        "waybill": ship_readers[1] if ship_readers else None,
        "carrier": ship_readers[0] if ship_readers else None,
        "shipped_at": ship_readers[2] if ship_readers else None,
    }
    fast = generate_build(spec, parts, checked)

    patterns = dict(_patterns(spec))
    mapped = frozenset(patterns) | frozenset(spec.ignore)
    status_plans: dict[str, tuple[str, _StatusPlan]] = {"order": ("", order_status)}
    if line_status is not None:
        status_plans["line"] = (lines.path, line_status)
    envelopes = tuple(
        parse_path(envelope, where=f"{name}.envelopes[{index}]")
        for index, envelope in enumerate(spec.envelopes)
    )
    id_key = parse_path(spec.order_id.path, where=f"{name}.order_id")[0]
    return Plan(spec, mapped, patterns, fast or checked, envelopes, id_key, status_plans,
                checked)


def _valid_currency(currency: object) -> bool:
    """Whether ``currency`` is a code ``Money`` accepts (what ``Money.zero`` checks)."""
    return currency.__class__ is str and currency in _CURRENCIES


def _apply_refunds(
    payload: Mapping[str, Any],
    keys: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]],
    lines: list[list[Any]],
    platform: str,
) -> None:
    """Move refunded units of each line into REFUNDED, taking open units first."""
    list_keys, ref_keys, qty_keys, line_key = keys
    outer, _, inner = ".".join(list_keys).partition(".")
    refunds = payload.get(outer, MISSING)
    if refunds is MISSING or refunds is None:
        return
    if not isinstance(refunds, list):
        raise MappingError(platform, outer, refunds, "expected a list")
    by_key: dict[str, list[Any]] = {}
    for line in lines:
        key = _lookup(line[6], line_key, "", platform)
        if isinstance(key, str | int) and not isinstance(key, bool):
            by_key[str(key)] = line
    inner_keys = tuple(inner.split(".")) if inner else ()
    for r_index, refund in enumerate(refunds):
        prefix = f"{outer}[{r_index}]"
        if not isinstance(refund, Mapping):
            raise MappingError(platform, prefix, refund, "expected an object")
        items = _lookup(refund, inner_keys, prefix, platform) if inner_keys else [refund]
        if items is MISSING or items is None:
            continue
        if not isinstance(items, list):
            raise MappingError(platform, _path_text(prefix, inner_keys), items, "expected a list")
        for i_index, item in enumerate(items):
            item_prefix = f"{_path_text(prefix, inner_keys)}[{i_index}]"
            if not isinstance(item, Mapping):
                raise MappingError(platform, item_prefix, item, "expected an object")
            ref = _lookup(item, ref_keys, item_prefix, platform)
            target = by_key.get(str(ref)) if isinstance(ref, str | int) else None
            if target is None:
                raise MappingError(platform, _path_text(item_prefix, ref_keys), ref,
                                   "refund names no line of this order")
            raw = _lookup(item, qty_keys, item_prefix, platform)
            try:
                units = read_count(raw)
            except Reject as error:
                raise MappingError(platform, _path_text(item_prefix, qty_keys), raw,
                                   error.reason) from None
            buckets: dict[LineStatus, int] = target[4]
            for source in (LineStatus.OPEN, LineStatus.SHIPPED):
                take = min(units, buckets.get(source, 0))
                if take:
                    buckets[source] -= take
                    buckets[LineStatus.REFUNDED] = buckets.get(LineStatus.REFUNDED, 0) + take
                    units -= take
            if units:
                raise MappingError(platform, _path_text(item_prefix, qty_keys), raw,
                                   "refunds more units than the line has left")
