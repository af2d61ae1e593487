"""``check``: what a batch of real payloads says about a platform map.

Run it on a day's worth of orders before trusting a map (or after a platform changes its
API). It never stops at the first problem; it reports, each with a suggested fix:

* ``unmapped_field``: source fields the map neither reads nor lists in ``ignore``;
* ``unknown_status``: status values that are not in the map's table;
* ``type_drift``: mapped fields whose JSON type changed across the batch or does not fit
  the declared unit (a fen field that became a yuan string), and amounts declared in
  yuan that arrive as JSON integers or as text of a whole number other than 0 (fen
  read as yuan is 100 times the amount, and the totals still add up): a unit to confirm;
* ``totals``: orders whose goods + shipping + tax - discounts is not the platform's payable;
  the fix names the fields the map does not read that explain the difference, when the
  payload has any (an amount, or the sum of one over a list, equal to the difference: a
  fee in WooCommerce ``fee_lines``; or a goods total equal to the lines' sum plus the
  difference: a map without ``goods_total`` reading Pinduoduo's ``goods_amount`` after
  a seller's price change);
* ``error``: any other reason a record could not be mapped;
* ``sync``: what :class:`~orderkit.sync.Sync` needs that the map does not read: a map
  without ``modified_at`` maps and checks, but sync tells an old payload from a new one
  by the platform's modified time, so it would dead-letter every payload.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from orderkit.mapping.lines import line_items
from orderkit.mapping.paths import MISSING, is_known, iter_leaves, lookup, pattern_of
from orderkit.mapping.plan import Plan, totals_mismatch
from orderkit.mapping.registry import Registry, default_registry
from orderkit.mapping.units import AMOUNT_LIMIT, EXACT, is_minor_text
from orderkit.model.errors import MappingError
from orderkit.model.money import Money, minor_digits
from orderkit.model.orders import Order

__all__ = ["ConsistencyReport", "Finding", "FindingKind", "check"]

FindingKind = Literal["unmapped_field", "unknown_status", "type_drift", "totals", "error",
                      "sync"]

_COMPATIBLE: Final[Mapping[str, frozenset[str]]] = {
    "yuan_float": frozenset({"int", "float"}),
    "decimal_float": frozenset({"int", "float"}),
    "id": frozenset({"int", "str"}),
}
_ACCEPTS: Final[Mapping[str, frozenset[str]]] = {
    "yuan": frozenset({"str", "int"}),
    "decimal": frozenset({"str", "int"}),
    "yuan_float": frozenset({"int", "float", "str"}),
    "decimal_float": frozenset({"int", "float", "str"}),
    "fen": frozenset({"int"}),
    "minor": frozenset({"int"}),
    "count": frozenset({"int", "str"}),
    "id": frozenset({"int", "str"}),
    "text": frozenset({"str"}),
}
#: JSON type names; a ``Decimal`` is a JSON number with a fraction read with
#: ``parse_float=Decimal`` (as ``orderkit check-mapping`` reads files), so a ``float``.
_JSON_NAMES: Final = {bool: "bool", int: "int", float: "float", Decimal: "float", str: "str",
                      dict: "object", list: "list", type(None): "null"}


def _json_type(value: object) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


#: A decimal text with a fraction (``"5.00"``); digits alone are more often ids than money.
_DECIMAL_TEXT: Final = re.compile(r"-?[0-9]{1,20}\.[0-9]{1,10}")


def _amount(value: object) -> Decimal | None:
    """A leaf that reads as an amount: a JSON number with a fraction (a float, or a
    ``Decimal`` from ``parse_float=Decimal``) or a decimal text; integers are left out
    (ids, counts and minor units are integers too)."""
    if isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        amount = Decimal(value)
    else:
        return None
    return amount if amount.is_finite() and abs(amount) < AMOUNT_LIMIT else None


def _shown(amount: Decimal, currency: str) -> str:
    """``amount`` written with the currency's decimals when that is exact (``100.0`` ->
    ``100.00``), else as it is."""
    exact = amount.quantize(Decimal(1).scaleb(-minor_digits(currency)), context=EXACT)
    return str(exact if exact == amount else amount)


def _gap_hints(
    plan: Plan, payload: Mapping[str, Any], order: Order, payable: Money
) -> tuple[tuple[str, ...], str]:
    """The fields the map does not read that explain why ``order`` is not ``payable``:
    ``(their patterns, a fix naming them)``, or ``((), "")`` when none does.

    An unread amount (or the sum of one over a list's items) equal to the difference is
    an amount the buyer pays or saves that the map misses; one equal to the lines' sum
    plus the difference is the goods total the platform counts (a price change the
    payload carries no field for)."""
    currency = payable.currency
    if currency != order.currency:
        return (), ""
    mapped = order.totals
    gap = EXACT.subtract(payable.amount, mapped.payable.amount)
    if not gap:
        return (), ""
    sums: dict[str, Decimal] = {}
    for path, value in iter_leaves(payload):
        pattern = pattern_of(path)
        amount = None if pattern in plan.typed_paths else _amount(value)
        if amount is not None:
            sums[pattern] = EXACT.add(sums.get(pattern, Decimal(0)), amount)
    goods = mapped.goods.amount
    counted = EXACT.add(goods, gap)
    direction = "adds to" if gap > 0 else "lowers"
    found: list[str] = []
    fixes: list[str] = []
    for pattern, amount in sums.items():
        if amount == abs(gap):
            found.append(pattern)
            fixes.append(
                f"`{pattern}` ({_shown(amount, currency)}) is the difference: map it in the"
                f" {plan.name} map as an adjustment that {direction} what the buyer pays"
            )
        elif amount == counted and amount > 0:
            found.append(pattern)
            fixes.append(
                f"`{pattern}` ({_shown(amount, currency)}) is the goods total the platform"
                f" counts, {_shown(abs(gap), currency)} {'above' if gap > 0 else 'below'}"
                f" the sum of the lines ({_shown(goods, currency)}): the difference (a price"
                " the seller changed) has no field of its own; "
                + (f"read `{pattern}` as the {plan.name} map's `goods_total`" if gap < 0
                   else f"the {plan.name} map needs it as an adjustment")
            )
    return tuple(found), "; ".join(fixes)


@attrs.frozen
class Finding:
    """One thing to fix, found in ``count`` records (``records`` lists their indexes)."""

    kind: FindingKind
    path: str
    detail: str
    suggestion: str
    count: int = 1
    records: tuple[int, ...] = ()
    examples: tuple[object, ...] = ()


@attrs.frozen
class ConsistencyReport:
    """The result of :func:`check` over a batch of payloads of one platform."""

    platform: str
    records: int
    mapped: int
    findings: tuple[Finding, ...]

    def of_kind(self, kind: FindingKind) -> tuple[Finding, ...]:
        """The findings of one kind."""
        return tuple(f for f in self.findings if f.kind == kind)

    @property
    def unmapped_fields(self) -> tuple[Finding, ...]:
        """Source fields never mapped nor ignored."""
        return self.of_kind("unmapped_field")

    @property
    def unknown_statuses(self) -> tuple[Finding, ...]:
        """Status values outside the table."""
        return self.of_kind("unknown_status")

    @property
    def drifted_fields(self) -> tuple[Finding, ...]:
        """Fields whose type or unit drifted."""
        return self.of_kind("type_drift")

    @property
    def totals_mismatches(self) -> tuple[Finding, ...]:
        """Orders whose totals do not add up to the platform's payable."""
        return self.of_kind("totals")

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Other reasons records could not be mapped."""
        return self.of_kind("error")

    @property
    def sync_needs(self) -> tuple[Finding, ...]:
        """What sync needs that the map does not read (its ``modified_at``)."""
        return self.of_kind("sync")

    @property
    def ok(self) -> bool:
        """True when every record mapped and nothing needs attention."""
        return not self.findings

    def to_text(self) -> str:
        """A short human report, one finding per line with its suggested fix."""
        lines = [f"{self.platform}: {self.mapped}/{self.records} records mapped,"
                 f" {len(self.findings)} finding(s)"]
        for finding in self.findings:
            lines.append(f"- {finding.kind} {finding.path} ({finding.count}x): {finding.detail}")
            lines.append(f"  fix: {finding.suggestion}")
        return "\n".join(lines)


@attrs.define
class _Tally:
    count: int = 0
    records: list[int] = attrs.Factory(list)
    examples: list[object] = attrs.Factory(list)
    detail: str = ""
    fix: str = ""

    def add(self, index: int, example: object) -> None:
        self.count += 1
        if index not in self.records and len(self.records) < 20:
            self.records.append(index)
        if example not in self.examples and len(self.examples) < 5:
            self.examples.append(example)


def _containers(mapped: frozenset[str]) -> frozenset[str]:
    """Every object or list that holds a mapped field (an empty one is not "unmapped")."""
    return frozenset(
        path[:i] for path in mapped for i, char in enumerate(path) if char in ".["
    )


def _covered(pattern: str, mapped: frozenset[str], containers: frozenset[str]) -> bool:
    # "" is the order object itself: an empty one is missing its fields, which the
    # map's errors name, not a field of its own.
    if not pattern or pattern in mapped or pattern in containers:
        return True
    return any(char in ".[" and pattern[:i] in mapped for i, char in enumerate(pattern))


def check(
    platform: str, payloads: Iterable[object], *, registry: Registry | None = None
) -> ConsistencyReport:
    """Map every payload of ``platform`` and report what does not fit, with fixes."""
    plan = (registry or default_registry()).plan(platform)
    name = plan.name
    unmapped: dict[str, _Tally] = {}
    statuses: dict[tuple[str, str, object], _Tally] = {}
    types: dict[str, dict[str, _Tally]] = {}
    drift_errors: dict[str, _Tally] = {}
    whole_texts: dict[str, _Tally] = {}
    errors: dict[tuple[str, str], _Tally] = {}
    totals: dict[tuple[str, tuple[str, ...]], _Tally] = {}
    records = mapped = 0
    containers = _containers(plan.mapped_paths)
    for index, payload in enumerate(payloads):
        records += 1
        if not isinstance(payload, Mapping):
            errors.setdefault(("$", "expected a JSON object"), _Tally()).add(index, payload)
            continue
        order_object, envelope = plan.unwrap(payload)
        for path, value in iter_leaves(order_object):
            pattern = pattern_of(path)
            if pattern in plan.typed_paths:
                types.setdefault(pattern, {}).setdefault(_json_type(value), _Tally()).add(
                    index, value
                )
                if _whole_text(plan.typed_paths[pattern], value):
                    whole_texts.setdefault(pattern, _Tally()).add(index, value)
            elif not _covered(pattern, plan.mapped_paths, containers):
                unmapped.setdefault(pattern, _Tally()).add(index, value)
        unknown_paths = _scan_statuses(plan, order_object, index, statuses, envelope)
        try:
            order, payable = plan.build(payload)
        except MappingError as error:
            if error.path in unknown_paths:
                continue
            inner_path = error.path
            if envelope and inner_path.startswith(f"{envelope}."):
                inner_path = inner_path[len(envelope) + 1:]
            error_pattern = pattern_of(inner_path)
            if error_pattern in plan.typed_paths and error.value not in (None, MISSING):
                tally = drift_errors.setdefault(error_pattern, _Tally())
                tally.detail = error.reason
                tally.add(index, error.value)
            else:
                errors.setdefault((error_pattern, error.reason), _Tally()).add(index, error.value)
            continue
        mismatch = totals_mismatch(order, payable)
        if mismatch is None:
            mapped += 1
        else:
            explained_by, fix = _gap_hints(plan, order_object, order, payable)
            tally = totals.setdefault((plan.map.payable.path, explained_by), _Tally())
            tally.detail = mismatch
            tally.fix = tally.fix or fix
            tally.add(index, str(payable.amount))
    return ConsistencyReport(name, records, mapped, (*_sync_needs(plan, records), *_findings(
        plan, unmapped, statuses, types, drift_errors, whole_texts, errors, totals
    )))


def _sync_needs(plan: Plan, records: int) -> tuple[Finding, ...]:
    """A finding when the map reads no modified time, which sync orders payloads by."""
    if plan.map.modified_at is not None:
        return ()
    return (Finding(
        "sync", "modified_at",
        "the map reads no modified time: Sync tells an old payload from a new one by it,"
        " and dead-letters every payload without one",
        f"map the platform's own modified time as `modified_at=Field(..., 'timestamp')` in"
        f" the {plan.name} map (for records never changed once written, their creation"
        f" time `{plan.map.created_at.path}` is it)",
        records, tuple(range(min(records, 20))),
    ),)


def _scan_statuses(
    plan: Plan, payload: Mapping[str, Any], index: int,
    statuses: dict[tuple[str, str, object], _Tally], envelope: str,
) -> set[str]:
    """Record status values outside the tables; returns the indexed paths that had one."""
    found: set[str] = set()
    for scope, (list_path, status_plan) in plan.status_plans.items():
        if scope == "order":
            objects: list[tuple[str, object]] = [("", payload)]
        else:
            try:
                items = lookup(payload, tuple(list_path.split(".")), "", plan.name)
            except MappingError:
                continue  # a malformed container is reported when the record is built
            objects = line_items(items, list_path, plan.map.lines.one_object) or []
        for prefix, obj in objects:
            if not isinstance(obj, Mapping):
                continue
            for axis, keys, known, presence, _null, default in status_plan.axes:
                if presence:
                    continue
                try:
                    value = lookup(obj, keys, prefix, plan.name)
                except MappingError:
                    continue
                if value is MISSING or (value is None and default is not None
                                        and (type(None), None) not in known):
                    continue
                hashable = isinstance(value, str | int | float | bool | type(None))
                if not is_known(known, value):
                    path = f"{prefix}.{'.'.join(keys)}" if prefix else ".".join(keys)
                    found.add(f"{envelope}.{path}" if envelope else path)
                    shown = value if hashable else repr(value)
                    statuses.setdefault((pattern_of(path), axis, shown), _Tally()).add(
                        index, shown
                    )
    return found


def _findings(
    plan: Plan,
    unmapped: dict[str, _Tally],
    statuses: dict[tuple[str, str, object], _Tally],
    types: dict[str, dict[str, _Tally]],
    drift_errors: dict[str, _Tally],
    whole_texts: dict[str, _Tally],
    errors: dict[tuple[str, str], _Tally],
    totals: dict[tuple[str, tuple[str, ...]], _Tally],
) -> list[Finding]:
    name = plan.name
    out: list[Finding] = []
    for (path, axis, value), tally in statuses.items():
        out.append(Finding(
            "unknown_status", path, f"{axis} status {value!r} is not in the table",
            f"add `{value}` to the {name} status table (axis {axis!r}) and say which"
            " OrderStatus it means",
            tally.count, tuple(tally.records), (value,),
        ))
    for path, seen in sorted(types.items()):
        unit = plan.typed_paths[path]
        kinds = set(seen) - {"null"}
        accepted = _ACCEPTS.get(unit)
        bad = sorted(kinds - accepted) if accepted is not None else []
        mixed = len(kinds) > 1 and not kinds <= _COMPATIBLE.get(unit, frozenset())
        drift = drift_errors.get(path)
        whole = whole_texts.get(path)
        if not (bad or mixed or drift or whole or _whole_yuan(unit, seen)):
            continue
        if whole is not None and not (bad or mixed or drift or _whole_yuan(unit, seen)):
            out.append(Finding(  # only whole-number text is in question: name it alone
                "type_drift", path,
                f"arrives as str but is declared {unit!r} (text of a whole number)",
                _whole_text_fix(name, path, unit, whole), whole.count, tuple(whole.records),
                tuple(whole.examples),
            ))
            continue
        all_examples = [e for t in seen.values() for e in t.examples][:5]
        records = sorted({r for t in seen.values() for r in t.records})[:20]
        detail = (f"arrives as {', '.join(sorted(kinds))} but is declared {unit!r}"
                  + (f" ({drift.detail})" if drift else ""))
        out.append(Finding(
            "type_drift", path, detail, _drift_fix(name, path, unit, seen),
            sum(t.count for t in seen.values()), tuple(records), tuple(all_examples),
        ))
    for path, tally in drift_errors.items():
        if path in types:
            continue
        out.append(Finding("type_drift", path, tally.detail,
                           _drift_fix(name, path, plan.typed_paths[path], {}),
                           tally.count, tuple(tally.records), tuple(tally.examples)))
    for (path, _explained_by), tally in totals.items():
        out.append(Finding(
            "totals", path, tally.detail,
            tally.fix or "an amount the buyer pays or saves is not mapped: add the missing"
            f" discount, subsidy, shipping or tax field to the {name} map's adjustments",
            tally.count, tuple(tally.records), tuple(tally.examples),
        ))
    for (path, reason), tally in errors.items():
        out.append(Finding("error", path, reason,
                           f"fix the payload or the {name} map at `{path}`",
                           tally.count, tuple(tally.records), tuple(tally.examples)))
    for path, tally in sorted(unmapped.items()):
        out.append(Finding(
            "unmapped_field", path, "present in the payload, never mapped",
            f"map `{path}` in the {name} map, or add it to its ignore list",
            tally.count, tuple(tally.records), tuple(tally.examples),
        ))
    return out


def _whole_yuan(unit: str, seen: Mapping[str, _Tally]) -> bool:
    """Whether an amount declared in yuan (``"yuan"``, ``"decimal"``) arrived as a JSON
    integer other than 0: read as that many yuan, it is 100 times the amount if the
    platform sends fen, and the totals proof cannot tell (every amount scales alike)."""
    ints = seen.get("int")
    return (unit in ("yuan", "decimal") and ints is not None
            and any(example != 0 for example in ints.examples))


def _whole_text(unit: str, value: object) -> bool:
    """Whether ``value`` is text of a whole number other than 0 (``"13590"``) in an
    amount declared in yuan: fen written as text reads as 100 times the amount, and,
    as with a JSON integer, the totals proof cannot tell."""
    return (unit in ("yuan", "decimal") and is_minor_text(value)
            and str(value).lstrip("-0") != "")


def _whole_text_fix(platform: str, path: str, unit: str, whole: _Tally) -> str:
    example = whole.examples[0]
    return (f"`{path}` arrives as text of a whole number ({example!r}), read as"
            f" {str(example).lstrip('-')} yuan: if the platform sends fen there, declare it"
            f" as 'fen' in the {platform} map; if it really sends whole yuan as text,"
            f" confirm it and keep {unit!r}")


def _drift_fix(platform: str, path: str, unit: str, seen: Mapping[str, _Tally]) -> str:
    if "float" in seen and unit in ("yuan", "decimal"):
        return f"declare `{path}` as 'yuan_float' in the {platform} map (read via its text form)"
    texts = seen.get("str")
    if texts is not None and unit in ("fen", "minor"):
        if all(is_minor_text(example) for example in texts.examples):
            return (f"`{path}` arrives as text of a whole number ({texts.examples[0]!r}),"
                    f" read as {unit} like the integer it spells: keep {unit!r} if the"
                    " platform's docs say so (only text with a fraction, '135.90', would be"
                    " yuan)")
        return (f"`{path}` now arrives as text: check whether it is still fen, and declare"
                f" it as 'yuan' in the {platform} map if the platform switched to yuan")
    if _whole_yuan(unit, seen):
        example = next(e for e in seen["int"].examples if e != 0)
        return (f"`{path}` arrives as a JSON integer ({example}), read as {example} yuan:"
                f" if the platform sends fen there, declare it as 'fen' in the {platform}"
                f" map; if it really sends whole yuan as integers, confirm it and keep"
                f" {unit!r}")
    return f"confirm the unit of `{path}` with the platform docs and update the {platform} map"
