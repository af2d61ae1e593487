"""Straight-line code for a compiled map: the fast path of :meth:`Plan.build`.

The checked path (the closures in :mod:`orderkit.mapping.plan`) reads every field through
two or three layers of closures and builds every canonical value through its validating
constructor. That costs about three times what a hand-written mapper costs. This module
generates, once per :class:`~orderkit.mapping.spec.PlatformMap`, one Python function that
does the same reads in the same order with the common cases inlined, and builds the
values with the trusted builders of :mod:`orderkit._build`.

Correctness rests on one rule: **the fast path only ever produces a value the checked
path would produce, and otherwise steps aside.** For every field it inlines a test that
recognises the shapes it can prove (a plain ``"89.00"`` yuan string, an int of fen, a
naive ``"YYYY-MM-DD HH:MM:SS"`` time, a non-blank id); anything else goes to the field's
checked reader, which converts it or raises the one ``MappingError`` the checked path
raises. Before a value reaches a builder it is known to satisfy what the constructor
would check (string type and length, non-empty ids, UTC datetimes, one currency, unique
line ids, the full ``quantities`` dict); when that cannot be shown the whole payload is
handed to the checked path (``return _checked(payload)``), so every error, ordering of
errors included, is the checked path's own. ``tests/test_mapping_fastpath.py`` compares
both paths on every fixture and on the fuzz strategy's payloads.

The spec stays the single source of truth: this module reads the same
:class:`~orderkit.mapping.spec.PlatformMap` and calls the same compiled readers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Final

from orderkit._build import builder, field_names
from orderkit.mapping.paths import MISSING, parse_path
from orderkit.mapping.spec import AdjustmentSpec, Field, PlatformMap, StatusTable
from orderkit.mapping.units import AMOUNT_LIMIT, MAX_COUNT
from orderkit.model._checks import TEXT_MAX_LENGTH
from orderkit.model.money import MINOR_DIGITS, Money, minor_digits
from orderkit.model.orders import (
    ID_MAX_LENGTH,
    NAME_MAX_LENGTH,
    Address,
    Adjustment,
    AdjustmentKind,
    Bearer,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentKind,
    Shipment,
)
from orderkit.model.time import MILLIS_THRESHOLD

__all__ = ["Parts", "generate_build"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_AMOUNT_LIMIT: Final = int(AMOUNT_LIMIT)
_STATUS_SCALARS: Final = (str, int, type(None))

Parts = Mapping[str, Any]
"""The compiled pieces of a map (readers by role) that the generated code falls back on."""


def _plain_amount(digits: int, signed: bool) -> Callable[[str], object]:
    """``fullmatch`` for amounts written exactly as the checked converter returns them:
    ASCII digits, at most 15 before the point, exactly ``digits`` after it. For such text
    ``Decimal(text)`` is finite, below the limit, exact to the currency and already has
    the currency's exponent, so it *is* the checked result."""
    sign = "-?" if signed else ""
    tail = rf"\.[0-9]{{{digits}}}" if digits else ""
    return re.compile(rf"{sign}[0-9]{{1,15}}{tail}").fullmatch


def _naive_text(source: tzinfo) -> Callable[[str], datetime | None]:
    """The fast reading of ``"YYYY-MM-DD HH:MM:SS"``-shaped text, or None to step aside.

    Text with a ``-`` at index 4 is never unix time, needs no strip when it starts and
    ends with a digit, and is exactly what ``parse_timestamp`` hands to
    ``datetime.fromisoformat``; a naive result is read in ``source``, an aware one is
    left to the checked path.
    """
    fromisoformat = datetime.fromisoformat

    def read(text: str) -> datetime | None:
        if len(text) < 10 or text[4] != "-" or not ("0" <= text[0] <= "9"):
            return None
        if not ("0" <= text[-1] <= "9"):
            return None
        try:
            parsed = fromisoformat(text)
            if parsed.tzinfo is not None:
                return None
            return parsed.replace(tzinfo=source).astimezone(UTC)
        except (ValueError, OverflowError):
            return None

    return read


# Slot guards: what the constructors would accept, applied to a checked reader's result
# (which may be a map's own default of any type) before it reaches a builder.


def _ok_text(value: object, limit: int, nonempty: bool) -> bool:
    return (
        value.__class__ is str
        and len(value) <= limit
        and (not nonempty or bool(value.strip()))
    )


def _ok_money(value: object, currency: str) -> bool:
    return (
        value.__class__ is Money
        and value.currency == currency
        and value.amount >= 0
    )


def _ok_at(value: object, optional: bool) -> bool:
    if value is None:
        return optional
    return value.__class__ is datetime and value.tzinfo is UTC


def _ok_count(value: object) -> bool:
    return value.__class__ is int and 1 <= value <= MAX_COUNT


class _Slow:
    """The value of a path that crosses a non-object: only the checked reader handles it."""

    __slots__ = ()


class _Emitter:
    """Collects source lines and the constants they refer to."""

    def __init__(self, platform: str, digits: int | None) -> None:
        self.platform = platform
        self.digits = digits
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {}
        self._count = 0

    def const(self, value: object, hint: str = "c") -> str:
        for name, known in self.ns.items():
            if known is value and name.startswith(f"_{hint}"):
                return name
        self._count += 1
        name = f"_{hint}{self._count}"
        self.ns[name] = value
        return name

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def fetch(self, indent: int, target: str, obj: str, keys: tuple[str, ...]) -> None:
        """``target`` = the value at ``keys`` (chained dict gets), MISSING otherwise."""
        # Like ``plan._lookup``: a missing key is MISSING, a null on the way is None, and
        # anything else on the way (a list, a string) is _S, which no fast test accepts,
        # so the checked reader reports it.
        self.emit(indent, f"{target} = {obj}.get({keys[0]!r}, _M)")
        for key in keys[1:]:
            self.emit(indent, f"{target} = {target}.get({key!r}, _M)"
                              f" if {target}.__class__ is dict else {target}"
                              f" if {target} is _M or {target} is None else _S")


def _null_test(null: tuple[object, ...], var: str, em: _Emitter, known: type) -> str:
    """`` and <var> not in null`` as needed for a value known to be of class ``known``."""
    relevant = tuple(n for n in null if n is not None)
    if known is str:
        relevant = tuple(n for n in relevant if isinstance(n, str))
    else:
        relevant = tuple(n for n in relevant if not isinstance(n, str))
    if not relevant:
        return ""
    return f" and {var} not in {em.const(null, 'null')}"


def _field(
    em: _Emitter,
    indent: int,
    field: Field,
    reader: Callable[..., Any],
    target: str,
    obj: str,
    prefix: str,
    slot: str,
    *,
    limit: int = TEXT_MAX_LENGTH,
) -> None:
    """Read ``field`` into ``target``, fast where provable, else through ``reader``.

    ``slot`` says what the value becomes: ``"id"`` (non-empty text), ``"text"`` (text;
    the checked path writes ``value or ""``), ``"money"``, ``"count"``, ``"at"`` (aware
    datetime), ``"opt_at"`` (or None). A reader's result that the slot's constructor
    would refuse hands the payload to the checked path.
    """
    keys = parse_path(field.path)
    null = field.null
    unit = field.unit
    if not all(isinstance(n, (str, int, float, bool, type(None))) for n in null):
        # A null value of an unusual type: its == semantics are not ours to guess.
        conds: list[tuple[str, str]] = []
        keys = ()
    else:
        conds = _fast_conditions(em, unit, null, slot, limit, field.max_decimals)
    reader_name = em.const(reader, "r")
    if keys:
        em.fetch(indent, "v", obj, keys)
    first = True
    for cond, expr in conds:
        em.emit(indent, f"{'if' if first else 'elif'} {cond}:")
        em.emit(indent + 1, f"{target} = {expr}")
        first = False
    default = field.default
    default_ok = (
        (default is None and slot in ("text", "opt_at"))
        or (isinstance(default, str) and slot == "text" and len(default) <= limit)
    )
    if keys and not field.required and not field.fallback and default_ok:
        em.emit(indent, f"{'if' if first else 'elif'} v is _M or v in {em.const(null, 'null')}:")
        em.emit(indent + 1, f"{target} = {default!r}" if default is not None
                else f"{target} = None")
        first = False
    body = indent
    if not first:
        em.emit(indent, "else:")
        body = indent + 1
    em.emit(body, f"{target} = {reader_name}({obj}, {prefix}, currency)")
    guard = {
        "id": f"_ok_text({target}, {limit}, True)",
        "text": f"_ok_text({target} or '', {limit}, False)",
        "money": f"_ok_money({target}, currency)",
        "count": f"_ok_count({target})",
        "at": f"_ok_at({target}, False)",
        "opt_at": f"_ok_at({target}, True)",
    }[slot]
    em.emit(body, f"if not {guard}:")
    em.emit(body + 1, "return _checked(payload)")


def _fast_conditions(
    em: _Emitter, unit: str, null: tuple[object, ...], slot: str, limit: int,
    max_decimals: int | None,
) -> list[tuple[str, str]]:
    """(condition on ``v``, expression) pairs whose result equals the checked reader's."""
    out: list[tuple[str, str]] = []
    if unit == "id" and slot in ("id", "text"):
        out.append((f"v.__class__ is str{_null_test(null, 'v', em, str)}"
                    f" and len(v) <= {limit} and v.strip()", "v"))
        if limit >= 40:
            out.append((f"v.__class__ is int and 0 <= v < {10**40}"
                        f"{_null_test(null, 'v', em, int)}", "str(v)"))
    elif unit == "text" and slot == "text":
        out.append((f"v.__class__ is str{_null_test(null, 'v', em, str)} and len(v) <= {limit}",
                    "v"))
    elif unit == "count" and slot == "count":
        out.append((f"v.__class__ is int and 1 <= v <= {MAX_COUNT}"
                    f"{_null_test(null, 'v', em, int)}", "v"))
    elif unit == "timestamp" and slot in ("at", "opt_at"):
        out.append((f"v.__class__ is int and 0 <= v < {MILLIS_THRESHOLD}"
                    f"{_null_test(null, 'v', em, int)}", "_EPOCH + _td(seconds=v)"))
        out.append((f"v.__class__ is str{_null_test(null, 'v', em, str)}"
                    " and (_t := _naive(v)) is not None", "_t"))
    elif slot == "money" and max_decimals is None:
        amount = _amount_condition(em, unit, null, signed=False)
        if amount is not None:
            out.append((amount[0], f"_money({amount[1]}, currency)"))
    return out


def _amount_condition(
    em: _Emitter, unit: str, null: tuple[object, ...], *, signed: bool
) -> tuple[str, str] | None:
    """(condition on ``v``, Decimal expression) for an amount, when the unit allows one."""
    digits = em.digits
    if unit in ("fen", "minor"):
        low = -_AMOUNT_LIMIT + 1 if signed else 0
        scale = "-digits" if digits is None else str(-digits)
        return (f"v.__class__ is int and {low} <= v < {_AMOUNT_LIMIT}"
                f"{_null_test(null, 'v', em, int)}", f"_D(v).scaleb({scale})")
    if unit in ("yuan", "decimal", "yuan_float", "decimal_float"):
        if digits is None:
            # The currency is read from the payload: its pattern is picked once per order.
            plain = "plain_signed" if signed else "plain"
        else:
            plain = em.const(_plain_amount(digits, signed), "plain")
        return (f"v.__class__ is str{_null_test(null, 'v', em, str)} and {plain}(v)", "_D(v)")
    return None


def _status(
    em: _Emitter, indent: int, table: StatusTable, plan: Any, target: str, obj: str,
    prefix: str,
) -> None:
    """``target`` = the status, from a dict of exactly-typed value tuples; anything else
    (a missing required axis, an unknown value, a bool for an int) goes to the plan."""
    names = []
    for index, (_name, keys, known, presence, null, default) in enumerate(plan.axes):
        var = f"a{index}"
        names.append(var)
        em.fetch(indent, var, obj, keys)
        if presence:
            # MISSING (or null, with a default) takes the default; MISSING without one
            # stays MISSING, fails the str test below and the plan raises.
            if default is not None:
                fallback = "unset" if default in null else "set"
                em.emit(indent, f"if {var} is _M or {var} is None:")
                em.emit(indent + 1, f"{var} = {fallback!r}")
                em.emit(indent, f"elif {var} is not _S:")
            else:
                em.emit(indent, f"if {var} is not _M and {var} is not _S:")
            em.emit(indent + 1, f"{var} = 'unset' if {var} in {em.const(null, 'null')}"
                                " else 'set'")
            continue
        if default is not None and (type(default), default) in known:
            em.emit(indent, f"if {var} is _M:")
            em.emit(indent + 1, f"{var} = {em.const(default)}")
            if (type(None), None) not in known:
                em.emit(indent, f"elif {var} is None:")
                em.emit(indent + 1, f"{var} = {em.const(default)}")
    fast = {
        combo: status
        for combo, status in plan.table.items()
        if all(value.__class__ in _STATUS_SCALARS for value in combo)
    }
    checks = []
    for var, axis in zip(names, plan.axes, strict=True):
        if axis[3]:
            checks.append(f"{var}.__class__ is str")
            continue
        classes = sorted({t.__name__ for t, _ in axis[2] if t in _STATUS_SCALARS})
        if not classes:
            checks.append("False")
            continue
        tests = [f"{var}.__class__ is {'_NoneType' if c == 'NoneType' else c}" for c in classes]
        checks.append(tests[0] if len(tests) == 1 else f"({' or '.join(tests)})")
    key = f"({', '.join(names)},)"
    table_name = em.const(fast, "table")
    plan_name = em.const(plan, "status")
    cond = " and ".join(checks) if checks else "True"
    em.emit(indent, f"{target} = {table_name}.get({key}) if {cond} else None")
    em.emit(indent, f"if {target} is None:")
    em.emit(indent + 1, f"{target} = {plan_name}.status({obj}, {prefix}, {em.platform!r})")


def _adjustment(
    em: _Emitter, indent: int, spec: AdjustmentSpec, reader: Callable[..., Any], obj: str,
    prefix: str, line_id: str,
) -> None:
    """Append the adjustment at ``spec.path`` (if non-zero) to ``adjustments``."""
    reader_name = em.const(reader, "r")
    call = f"_x = {reader_name}({obj}, {prefix}, currency, {line_id})"
    label = spec.label or spec.path
    fast = None
    if spec.only_if is None and spec.max_decimals is None and isinstance(label, str) \
            and len(label) <= TEXT_MAX_LENGTH:
        fast = _amount_condition(em, spec.unit, (None,), signed=spec.signed)
    if fast is None:
        em.emit(indent, call)
        em.emit(indent, "if _x is not None:")
        em.emit(indent + 1, "adjustments.append(_x)")
        return
    kind = em.const(AdjustmentKind(spec.kind), "kind")
    bearer = em.const(Bearer(spec.borne_by), "bearer")
    em.fetch(indent, "v", obj, parse_path(spec.path))
    em.emit(indent, f"if {fast[0]}:")
    em.emit(indent + 1, f"_a = {fast[1]}")
    em.emit(indent + 1, "if _a:")
    em.emit(indent + 2, f"adjustments.append(_adj({kind}, _money(_a, currency), {bearer},"
                        f" {line_id}, {label!r}))")
    if not spec.required:
        em.emit(indent, "elif v is _M or v is None:")
        em.emit(indent + 1, "pass")
    em.emit(indent, "else:")
    em.emit(indent + 1, call)
    em.emit(indent + 1, "if _x is not None:")
    em.emit(indent + 2, "adjustments.append(_x)")


def _make(em: _Emitter, cls: type, values: Mapping[str, str]) -> str:
    """A builder call for ``cls`` with every field given (positional, in field order)."""
    names = field_names(cls)
    missing = set(names) - set(values)
    if missing or set(values) - set(names):
        raise AssertionError(f"{cls.__name__} builder fields out of date: {sorted(missing)}")
    make = em.const(builder(cls), f"make{cls.__name__}")
    return f"{make}({', '.join(values[name] for name in names)})"


def generate_build(
    spec: PlatformMap, parts: Parts, checked: Callable[[Mapping[str, Any]], Any]
) -> Callable[[Mapping[str, Any]], Any] | None:
    """The fast ``build`` for ``spec``, or None when the map uses something the fast path
    cannot prove (then the plan builds with ``checked`` alone)."""
    name = spec.name
    if len(name) > NAME_MAX_LENGTH or len(name) + 1 >= ID_MAX_LENGTH:
        return None
    lines = spec.lines
    texts = [lines.sku, lines.line_id, lines.title, spec.buyer_id]
    if spec.payment is not None:
        texts += [spec.payment.reference, spec.payment.method]
    if spec.shipment is not None:
        texts += [spec.shipment.carrier, spec.shipment.waybill]
    for f in texts:
        if f is not None and f.unit not in ("id", "text"):
            return None
    for f in (spec.paid_at, spec.shipment.shipped_at if spec.shipment else None):
        if f is not None and f.unit != "timestamp":
            return None
    for listed in spec.adjustment_lists:
        if any(len(str(key)) > TEXT_MAX_LENGTH for key in listed.types):
            return None
    for adjustment in spec.adjustments:
        label = adjustment.label or adjustment.path
        if not isinstance(label, str) or len(label) > TEXT_MAX_LENGTH:
            return None

    digits = None if spec.currency_path is not None else minor_digits(spec.currency)
    em = _Emitter(name, digits)
    em.ns.update(
        _M=MISSING, _S=_Slow(), _D=Decimal, _td=timedelta, _EPOCH=_EPOCH, _NoneType=type(None),
        _checked=checked, _ok_text=_ok_text, _ok_money=_ok_money, _ok_at=_ok_at,
        _ok_count=_ok_count, _naive=_naive_text(parts["tz"]), _money=builder(Money),
        _adj=builder(Adjustment), _ZB=dict.fromkeys(LineStatus, 0), _OPEN=LineStatus.OPEN,
        _LCANCELLED=LineStatus.CANCELLED, _OCANCELLED=OrderStatus.CANCELLED,
        _FOLLOW=parts["follow"], _PAYMENT=PaymentKind.PAYMENT, _EMPTY=frozenset(),
        _valid_currency=parts["valid_currency"], _digits=minor_digits,
        _PLAIN={(d, signed): _plain_amount(d, signed)
                for d in set(MINOR_DIGITS.values()) | {2} for signed in (False, True)},
    )
    e = em.emit
    e(0, "def build(payload):")
    if spec.currency_path is None:
        e(1, f"currency = {spec.currency!r}")
    else:
        em.fetch(1, "currency", "payload", parse_path(spec.currency_path))
        e(1, "if not _valid_currency(currency):")
        e(2, "return _checked(payload)")
        e(1, "digits = _digits(currency)")
        e(1, "plain = _PLAIN[digits, False]")
        e(1, "plain_signed = _PLAIN[digits, True]")
    id_limit = ID_MAX_LENGTH - len(name) - 1
    _field(em, 1, spec.order_id, parts["order_id"], "coid", "payload", "''", "id",
           limit=id_limit)
    _field(em, 1, spec.created_at, parts["created"], "created", "payload", "''", "at")
    if spec.paid_at is not None:
        _field(em, 1, spec.paid_at, parts["paid"], "paid_at", "payload", "''", "opt_at")
    else:
        e(1, "paid_at = None")
    _status(em, 1, spec.status, parts["order_status"], "status", "payload", "''")

    line_keys = parse_path(lines.path)
    em.fetch(1, "items", "payload", line_keys)
    e(1, "if items.__class__ is not list or not items:")
    e(2, "return _checked(payload)")
    if lines.status is None:
        e(1, "follow = _FOLLOW[status]")
    e(1, "built = []")
    e(1, "adjustments = []")
    e(1, "keyed = {}")
    e(1, "for index, item in enumerate(items):")
    e(2, "if item.__class__ is not dict:")
    e(3, "return _checked(payload)")
    prefix = f"f'{lines.path}[{{index}}]'"
    if lines.line_id is not None:
        _field(em, 2, lines.line_id, parts["line_id"], "line_id", "item", prefix, "id")
    else:
        e(2, "line_id = str(index + 1)")
    _field(em, 2, lines.quantity, parts["quantity"], "quantity", "item", prefix, "count")
    if lines.status is None:
        e(2, "bucket = follow")
    else:
        _status(em, 2, lines.status, parts["line_status"], "bucket", "item", prefix)
        e(2, "if bucket is _OPEN and status is _OCANCELLED:")
        e(3, "bucket = _LCANCELLED")
    e(2, "if line_id in keyed:")
    e(3, "return _checked(payload)")
    e(2, "keyed[line_id] = line_id")
    _field(em, 2, lines.sku, parts["sku"], "sku", "item", prefix, "id")
    _field(em, 2, lines.unit_price, parts["price"], "price", "item", prefix, "money")
    if lines.title is not None:
        _field(em, 2, lines.title, parts["title"], "title", "item", prefix, "text")
    else:
        e(2, "title = ''")
    e(2, "built.append([line_id, sku, quantity, price, {bucket: quantity}, title or '', item])")
    for spec_adj, reader in parts["line_adjustments"]:
        _adjustment(em, 2, spec_adj, reader, "item", prefix, "line_id")
    if spec.refunds is not None:
        e(1, f"_apply_refunds(payload, {em.const(parts['refund_keys'])}, built, {name!r})")
    for spec_adj, reader in parts["order_adjustments"]:
        _adjustment(em, 1, spec_adj, reader, "payload", "''", "None")
    for list_reader in parts["list_readers"]:
        e(1, f"adjustments.extend({em.const(list_reader, 'r')}(payload, currency, keyed))")
    if spec.ship_to:
        values = {}
        for index, (attr, f) in enumerate(spec.ship_to.items()):
            _field(em, 1, f, parts["address"][attr], f"s{index}", "payload", "''", "text")
            values[attr] = f"s{index} or ''"
        for attr in field_names(Address):
            values.setdefault(attr, "''")
        e(1, f"ship_to = {_make(em, Address, values)}")
    else:
        e(1, "ship_to = None")
    _field(em, 1, spec.payable, parts["payable"], "payable", "payload", "''", "money")
    payment = spec.payment
    if payment is not None:
        e(1, "payments = ()")
        e(1, "if paid_at is not None:")
        for role, f, var in (("reference", payment.reference, "reference"),
                             ("method", payment.method, "method")):
            if f is not None:
                _field(em, 2, f, parts[role], var, "payload", "''", "text")
            else:
                e(2, f"{var} = ''")
        made = _make(em, Payment, {
            "payment_id": f"{name + ':'!r} + coid + ':payment'", "amount": "payable",
            "at": "paid_at", "method": "method or ''", "kind": "_PAYMENT",
            "reference": "reference or ''", "lines": "{}",
        })
        e(2, f"payments = ({made},)")
    else:
        e(1, "payments = ()")
    shipment = spec.shipment
    e(1, "shipments = ()")
    if shipment is not None:
        _field(em, 1, shipment.waybill, parts["waybill"], "waybill", "payload", "''", "text")
        e(1, "if waybill:")
        _field(em, 2, shipment.carrier, parts["carrier"], "carrier", "payload", "''", "text")
        if shipment.shipped_at is not None:
            _field(em, 2, shipment.shipped_at, parts["shipped_at"], "shipped_at", "payload",
                   "''", "opt_at")
        else:
            e(2, "shipped_at = None")
        made = _make(em, Shipment, {
            "shipment_id": f"{name + ':'!r} + coid + ':' + waybill",
            "carrier": "carrier or ''", "waybill": "waybill",
            "lines": "{line[0]: line[2] for line in built}", "shipped_at": "shipped_at",
            "first_scan_at": "None", "events": "()",
        })
        e(2, f"shipments = ({made},)")
    if spec.buyer_id is not None:
        _field(em, 1, spec.buyer_id, parts["buyer"], "buyer", "payload", "''", "text")
    else:
        e(1, "buyer = ''")
    channel_line = "line[0]" if lines.line_id is not None else "''"
    line_made = _make(em, OrderLine, {
        "line_id": "line[0]", "sku": "line[1]", "quantity": "line[2]",
        "unit_price": "line[3]", "quantities": "{**_ZB, **line[4]}", "title": "line[5]",
        "channel_line_id": channel_line,
    })
    order_made = _make(em, Order, {
        "order_id": f"{name + ':'!r} + coid", "channel": repr(name),
        "channel_order_id": "coid", "lines": f"tuple([{line_made} for line in built])",
        "created_at": "created", "recon_id": "None", "status": "status",
        "ship_to": "ship_to", "adjustments": "tuple(adjustments)", "payments": "payments",
        "shipments": "shipments", "holds": "()", "tags": "_EMPTY", "paid_at": "paid_at",
        "version": "0", "buyer_id": "buyer or ''", "status_since": "None",
        "lock_id": "None", "applied_event_ids": "()",
    })
    e(1, f"return {order_made}, payable")
    em.ns["_apply_refunds"] = parts["apply_refunds"]
    source = "\n".join(em.lines)
    code = compile(source, f"<orderkit.mapping {name} fast build>", "exec")
    exec(code, em.ns)  # the source is generated from the validated map only
    build: Callable[[Mapping[str, Any]], Any] = em.ns["build"]
    build.__doc__ = source  # shown by ``help``/debuggers: what this map compiled to
    return build
