"""Refunds listed apart from the lines: refunded units
(:class:`~orderkit.mapping.spec.RefundSpec`) and money paid back
(:class:`~orderkit.mapping.spec.RefundPaymentSpec`).

Shopify lists refunds as ``refunds[*].refund_line_items[*]``, each naming its line and a
number of units. The compiled reader moves those units of the named line into the
REFUNDED bucket, open units first, then shipped ones. A refund that names no line of the
order, or refunds more units than the line has left, is a
:class:`~orderkit.model.errors.MappingError`.

WooCommerce lists money paid back as ``refunds[*]`` (``id``, ``total`` as a negative
decimal text), naming no units: :func:`compile_refund_payments` reads each as a REFUND
:class:`~orderkit.model.orders.Payment` of the mapped order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from orderkit.mapping.fields import compile_field
from orderkit.mapping.lines import LineDraft
from orderkit.mapping.paths import MISSING, lookup, parse_path, path_text
from orderkit.mapping.spec import RefundPaymentSpec, RefundSpec
from orderkit.mapping.units import MONEY_UNITS, Reject, amount_converter, read_count
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.money import Money
from orderkit.model.orders import LineStatus, Payment, PaymentKind

__all__ = ["RefundPaymentsReader", "RefundsReader", "compile_refund_payments",
           "compile_refunds"]

RefundsReader = Callable[[Mapping[str, Any], Sequence[LineDraft]], None]
"""``(order object, line drafts)``: moves the refunded units of each draft."""


def _no_refunds(_payload: Mapping[str, Any], _lines: Sequence[LineDraft]) -> None:
    return None


def _take(buckets: dict[LineStatus, int], units: int) -> int:
    """Move up to ``units`` open, then shipped, units to REFUNDED; returns what is left."""
    for source in (LineStatus.OPEN, LineStatus.SHIPPED):
        take = min(units, buckets.get(source, 0))
        if take:
            buckets[source] -= take
            buckets[LineStatus.REFUNDED] = buckets.get(LineStatus.REFUNDED, 0) + take
            units -= take
    return units


def compile_refunds(spec: RefundSpec | None, platform: str) -> RefundsReader:
    """The refunds reader (a no-op without a spec); :class:`DefinitionError` names a
    malformed path of ``refunds``."""
    if spec is None:
        return _no_refunds
    where = f"{platform}.refunds"
    list_keys = parse_path(spec.path.replace("[*]", ""), where=f"{where}.path")
    ref_keys = parse_path(spec.line_ref, where=f"{where}.line_ref")
    quantity_keys = parse_path(spec.quantity, where=f"{where}.quantity")
    line_key = parse_path(spec.line_key, where=f"{where}.line_key")
    outer, _, inner = ".".join(list_keys).partition(".")
    inner_keys = tuple(inner.split(".")) if inner else ()

    def by_key(lines: Sequence[LineDraft]) -> dict[str, LineDraft]:
        out: dict[str, LineDraft] = {}
        for line in lines:
            key = lookup(line.item, line_key, "", platform)
            if isinstance(key, str | int) and not isinstance(key, bool):
                out[str(key)] = line
        return out

    def apply_item(item: object, prefix: str, lines: Mapping[str, LineDraft]) -> None:
        if not isinstance(item, Mapping):
            raise MappingError(platform, prefix, item, "expected an object")
        ref = lookup(item, ref_keys, prefix, platform)
        target = lines.get(str(ref)) if isinstance(ref, str | int) else None
        if target is None:
            raise MappingError(platform, path_text(prefix, ref_keys), ref,
                               "refund names no line of this order")
        raw = lookup(item, quantity_keys, prefix, platform)
        try:
            units = read_count(raw)
        except Reject as error:
            raise MappingError(platform, path_text(prefix, quantity_keys), raw,
                               error.reason) from None
        if _take(target.buckets, units):
            raise MappingError(platform, path_text(prefix, quantity_keys), raw,
                               "refunds more units than the line has left")

    def apply(payload: Mapping[str, Any], drafts: Sequence[LineDraft]) -> None:
        refunds = payload.get(outer, MISSING)
        if refunds is MISSING or refunds is None:
            return
        if not isinstance(refunds, list):
            raise MappingError(platform, outer, refunds, "expected a list")
        lines = by_key(drafts)
        for r_index, refund in enumerate(refunds):
            prefix = f"{outer}[{r_index}]"
            if not isinstance(refund, Mapping):
                raise MappingError(platform, prefix, refund, "expected an object")
            items = lookup(refund, inner_keys, prefix, platform) if inner_keys else [refund]
            if items is MISSING or items is None:
                continue
            items_path = path_text(prefix, inner_keys)
            if not isinstance(items, list):
                raise MappingError(platform, items_path, items, "expected a list")
            for i_index, item in enumerate(items):
                apply_item(item, f"{items_path}[{i_index}]", lines)

    return apply


RefundPaymentsReader = Callable[[Mapping[str, Any], str, str, datetime], tuple[Payment, ...]]
"""``(order object, currency, channel order id, when)``: the money paid back."""


def _no_refund_payments(_payload: Mapping[str, Any], _currency: str, _order_id: str,
                        _at: datetime) -> tuple[Payment, ...]:
    return ()


def compile_refund_payments(
    spec: RefundPaymentSpec | None, platform: str, channel: str, source_tz: tzinfo
) -> RefundPaymentsReader:
    """The reader of the money paid back (none without a spec): one REFUND payment per
    listed refund, ``"<channel>:<order id>:refund:<refund id>"``, at the time given.
    :class:`DefinitionError` names a malformed entry; a refund that is not an object, an
    amount that is not one (or, ``negative``, a positive one) is a :class:`MappingError`
    naming it."""
    if spec is None:
        return _no_refund_payments
    where = f"{platform}.payment.refunds"
    if not isinstance(spec, RefundPaymentSpec):
        raise DefinitionError("expected a RefundPaymentSpec", path=where, value=spec)
    if spec.unit not in MONEY_UNITS:
        raise DefinitionError(f"expected a money unit, one of {sorted(MONEY_UNITS)}",
                              path=f"{where}.unit", value=spec.unit)
    list_keys = parse_path(spec.path, where=f"{where}.path")
    amount_keys = parse_path(spec.amount, where=f"{where}.amount")
    read_id = compile_field(spec.refund_id, platform, "payment.refunds.refund_id", source_tz,
                            units=frozenset({"id"}))
    convert = amount_converter(spec.unit, signed=True)
    list_path = ".".join(list_keys)

    def read(payload: Mapping[str, Any], currency: str, order_id: str,
             at: datetime) -> tuple[Payment, ...]:
        refunds = lookup(payload, list_keys, "", platform)
        if refunds is MISSING or refunds is None:
            return ()
        if not isinstance(refunds, list):
            raise MappingError(platform, list_path, refunds, "expected a list")
        out: list[Payment] = []
        for index, refund in enumerate(refunds):
            prefix = f"{list_path}[{index}]"
            if not isinstance(refund, Mapping):
                raise MappingError(platform, prefix, refund, "expected an object")
            refund_id = read_id(refund, prefix, currency)
            raw = lookup(refund, amount_keys, prefix, platform)
            try:
                amount = convert(raw, currency)
            except Reject as error:
                raise MappingError(platform, path_text(prefix, amount_keys), raw,
                                   error.reason) from None
            if spec.negative:
                amount = amount.copy_negate()  # exact, whatever the thread's context
            if amount < 0:
                raise MappingError(platform, path_text(prefix, amount_keys), raw,
                                   "expected a refund written as a negative amount"
                                   if spec.negative else "expected an amount >= 0")
            if amount:
                out.append(Payment(f"{channel}:{order_id}:refund:{refund_id}",
                                   Money(amount, currency), at, kind=PaymentKind.REFUND,
                                   reference=str(refund_id)))
        return tuple(out)

    return read
