"""Waybills (:class:`~orderkit.mapping.spec.ShipmentSpec`), compiled into a reader.

A platform names its waybills in one of three places: on the order (JD ``waybill``), in a
list of parcels (Douyin ``logistics_info``, each listing the sku orders and units it
carries) or on each line (Tmall sub-orders' ``invoice_no``). The compiled reader returns
one :class:`~orderkit.model.orders.Shipment` per distinct waybill that is not empty,
built through its validating constructor, in payload order. Its id is
``"<channel>:<channel order id>:<waybill>"``, the same however often the payload is read.
A parcel whose status is one the spec skips (a cancelled Shopify fulfilment) is passed
over before anything else of it is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

import attrs

from orderkit.mapping.fields import compile_field, compile_time_after_creation
from orderkit.mapping.lines import LineDraft
from orderkit.mapping.paths import MISSING, is_known, lookup, parse_path, path_text, typed_values
from orderkit.mapping.plan import Header, ShipmentsReader
from orderkit.mapping.spec import ShipmentSpec
from orderkit.mapping.units import Reject, read_count
from orderkit.model.errors import DefinitionError, MappingError
from orderkit.model.orders import Shipment

__all__ = ["compile_shipments"]


@attrs.define
class _Parcel:
    waybill: str
    carrier: str
    shipped_at: datetime | None
    lines: dict[str, int]


def _no_shipments(
    _payload: Mapping[str, Any], _currency: str, _header: Header, _lines: list[LineDraft]
) -> tuple[Shipment, ...]:
    return ()


def _check(spec: ShipmentSpec, at: str) -> None:
    if spec.scope not in ("order", "line"):
        raise DefinitionError("scope is 'order' or 'line'", path=f"{at}.scope", value=spec.scope)
    if spec.scope == "line" and spec.path is not None:
        raise DefinitionError("a line-scoped waybill is read inside each line; no path",
                              path=f"{at}.path", value=spec.path)
    if spec.items is not None and (spec.path is None or not spec.line_ref or not spec.units):
        raise DefinitionError("items need a parcel path, a line_ref and units",
                              path=f"{at}.items", value=spec.items)
    if spec.status is not None and not spec.skip:
        raise DefinitionError("a status needs the values of it to skip",
                              path=f"{at}.skip", value=spec.skip)
    if spec.status is None and spec.skip:
        raise DefinitionError("values to skip need the status they are read from",
                              path=f"{at}.status", value=spec.status)


def compile_shipments(
    spec: ShipmentSpec | None, platform: str, channel: str, tz: tzinfo
) -> ShipmentsReader:
    """The reader of the waybills (none without a spec); :class:`DefinitionError` names a
    bad entry of ``shipment``."""
    if spec is None:
        return _no_shipments
    at = f"{platform}.shipment"
    _check(spec, at)
    read_carrier = compile_field(spec.carrier, platform, "shipment.carrier", tz)
    read_waybill = compile_field(spec.waybill, platform, "shipment.waybill", tz)
    read_shipped = compile_time_after_creation(spec.shipped_at, platform,
                                               "shipment.shipped_at", tz,
                                               event="shipped", noun="shipping")
    parcels_keys = parse_path(spec.path, where=f"{at}.path") if spec.path else None
    items_keys = parse_path(spec.items, where=f"{at}.items") if spec.items else None
    ref_keys = parse_path(spec.line_ref, where=f"{at}.line_ref") if spec.line_ref else ()
    units_keys = parse_path(spec.units, where=f"{at}.units") if spec.units else ()
    status_keys = (parse_path(spec.status, where=f"{at}.status")
                   if spec.status is not None else None)
    skipped = typed_values(spec.skip, f"{at}.skip")

    def parcel_of(
        obj: Mapping[str, Any], prefix: str, currency: str, created: datetime,
        found: dict[str, _Parcel],
    ) -> _Parcel | None:
        if status_keys is not None and is_known(
            skipped, lookup(obj, status_keys, prefix, platform)
        ):
            return None
        waybill = read_waybill(obj, prefix, currency)
        if not waybill:
            return None
        parcel = found.get(waybill)
        if parcel is None:
            parcel = found[waybill] = _Parcel(
                waybill, read_carrier(obj, prefix, currency) or "",
                read_shipped(obj, prefix, currency, created), {},
            )
        return parcel

    def carry(
        parcel_obj: Mapping[str, Any], prefix: str, lines: list[LineDraft], parcel: _Parcel
    ) -> None:
        """Add the units ``parcel_obj`` lists to its waybill's ``parcel`` (every unit
        without an items list). One waybill carries at most a line's quantity of it; the
        parcels of an order together may carry more (a parcel sent again)."""
        every = {line.line_id: line.quantity for line in lines}
        if items_keys is None:
            parcel.lines.update(every)
            return
        items = lookup(parcel_obj, items_keys, prefix, platform)
        where = path_text(prefix, items_keys)
        if items is MISSING or items is None:
            parcel.lines.update(every)
            return
        if not isinstance(items, list):
            raise MappingError(platform, where, items, "expected a list")
        for index, item in enumerate(items):
            item_at = f"{where}[{index}]"
            if not isinstance(item, Mapping):
                raise MappingError(platform, item_at, item, "expected an object")
            ref = lookup(item, ref_keys, item_at, platform)
            line_id = str(ref) if isinstance(ref, str | int) and not isinstance(ref, bool) else ""
            if line_id not in every:
                raise MappingError(platform, path_text(item_at, ref_keys), ref,
                                   "parcel names no line of this order")
            raw = lookup(item, units_keys, item_at, platform)
            try:
                units = read_count(raw)
            except Reject as error:
                raise MappingError(platform, path_text(item_at, units_keys), raw,
                                   error.reason) from None
            carried = parcel.lines.get(line_id, 0) + units
            if carried > every[line_id]:
                raise MappingError(
                    platform, path_text(item_at, units_keys), raw,
                    f"waybill {parcel.waybill} carries {carried} units of line {line_id},"
                    f" which has {every[line_id]}",
                )
            parcel.lines[line_id] = carried

    def order_scope(
        payload: Mapping[str, Any], currency: str, created: datetime, lines: list[LineDraft]
    ) -> dict[str, _Parcel]:
        found: dict[str, _Parcel] = {}
        if parcels_keys is None:
            parcel = parcel_of(payload, "", currency, created, found)
            if parcel is not None:
                parcel.lines = {line.line_id: line.quantity for line in lines}
            return found
        parcels = lookup(payload, parcels_keys, "", platform)
        base = ".".join(parcels_keys)
        if parcels is MISSING or parcels is None:
            return found
        if not isinstance(parcels, list):
            raise MappingError(platform, base, parcels, "expected a list")
        for index, obj in enumerate(parcels):
            prefix = f"{base}[{index}]"
            if not isinstance(obj, Mapping):
                raise MappingError(platform, prefix, obj, "expected an object")
            parcel = parcel_of(obj, prefix, currency, created, found)
            if parcel is not None:
                carry(obj, prefix, lines, parcel)
        return found

    def line_scope(
        currency: str, created: datetime, lines: list[LineDraft]
    ) -> dict[str, _Parcel]:
        found: dict[str, _Parcel] = {}
        for line in lines:
            parcel = parcel_of(line.item, line.prefix, currency, created, found)
            if parcel is not None:
                parcel.lines[line.line_id] = line.quantity
        return found

    def read(
        payload: Mapping[str, Any], currency: str, header: Header, lines: list[LineDraft]
    ) -> tuple[Shipment, ...]:
        if spec.scope == "line":
            found = line_scope(currency, header.created_at, lines)
        else:
            found = order_scope(payload, currency, header.created_at, lines)
        return tuple(
            Shipment(
                shipment_id=f"{channel}:{header.channel_order_id}:{waybill}",
                carrier=parcel.carrier, waybill=waybill, lines=parcel.lines,
                shipped_at=parcel.shipped_at,
            )
            for waybill, parcel in found.items()
        )

    return read
