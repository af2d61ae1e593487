"""Checks of an event's data, run before any row is chosen or anything changes.

Each check raises :class:`~orderkit.model.errors.ValidationError` naming the field as
``data.<field>`` and the value it refused. A built-in event's data holds only the keys
the engine reads for it (and ``approved_by``): a key it does not read is refused, not
ignored. ``pack``, ``deliver``, ``complete`` and ``cancel`` read none; a host's own
events carry what the host likes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from orderkit.lifecycle.events import EVENT_DATA
from orderkit.model import _checks as check
from orderkit.model._checks import TEXT_MAX_LENGTH
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money, minor_digits
from orderkit.model.orders import NAME_MAX_LENGTH, Address, Order, TrackingStatus

__all__ = ["CHECKS", "DataCheck"]

DataCheck = Callable[[Order, Mapping[str, Any]], None]


def _money(order: Order, data: Mapping[str, Any], key: str) -> None:
    value = data.get(key)
    if not isinstance(value, Money):
        raise ValidationError(f"data.{key}", value, "expected Money")
    if value.currency != order.currency:
        raise ValidationError(
            f"data.{key}.currency", value.currency, f"order {order.order_id} is in {order.currency}"
        )
    if value.amount < 0:
        raise ValidationError(f"data.{key}.amount", value.amount, "must be >= 0")


def _whole_minor_units(order: Order, data: Mapping[str, Any], key: str) -> None:
    """Money that moves (a payment, a refund) is a whole number of the currency's minor
    unit (no CNY 0.001: no gateway moves it)."""
    if not data[key].is_whole_minor():
        raise ValidationError(
            f"data.{key}", data[key],
            f"more decimals than the {order.currency} minor unit"
            f" ({minor_digits(order.currency)})",
        )


def _text(data: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    value = data.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"data.{key}", value, "expected a non-empty string")
    if len(value) > TEXT_MAX_LENGTH:
        raise ValidationError(f"data.{key}", value, f"longer than {TEXT_MAX_LENGTH} characters")
    check.storable(f"data.{key}", value)


def _payment_texts(data: Mapping[str, Any]) -> None:
    """``data["method"]`` and ``data["reference"]`` (when present) are text: how the
    money moved (``alipay``) and the gateway's transaction number, never a number a
    record would store as ``'5'`` (an id that lost its leading zeros)."""
    for key, what in (("method", "naming the method"),
                      ("reference", "with the gateway's transaction number")):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"data.{key}", value, f"expected a string {what}")
        _stored_text(data, key)


def _stored_text(data: Mapping[str, Any], key: str) -> None:
    """``data[key]`` (when present), as the text a record stores, fits a text field."""
    value = data.get(key)
    if value is not None and len(value if isinstance(value, str) else str(value)) > TEXT_MAX_LENGTH:
        raise ValidationError(f"data.{key}", value, f"longer than {TEXT_MAX_LENGTH} characters")
    if isinstance(value, str):
        check.storable(f"data.{key}", value)


def _lines(
    data: Mapping[str, Any], key: str, *, required: bool = True, allow_empty: bool = False
) -> None:
    """``data[key]`` is a map of line id to units. Present, it names at least one line
    (an empty map is not "every line": leave the key out for that), unless
    ``allow_empty`` (``sellable``: none of the units received can be sold again)."""
    if key not in data and not required:
        return
    check.quantity_map(f"data.{key}")(data.get(key))
    if not allow_empty and not data[key]:
        raise ValidationError(f"data.{key}", data[key], "name at least one line")


def pay(order: Order, data: Mapping[str, Any]) -> None:
    _money(order, data, "amount")
    _whole_minor_units(order, data, "amount")
    if not data["amount"].amount and order.due.amount:
        # A payment of zero pays exactly an order with nothing due (a gift, a platform
        # coupon covering everything): it marks it paid.
        raise ValidationError("data.amount", data["amount"],
                              f"a payment of zero records nothing while {order.due} is due")
    _payment_texts(data)


def ship(order: Order, data: Mapping[str, Any]) -> None:
    _text(data, "carrier")
    _text(data, "waybill")
    _lines(data, "lines", required=False)


def track(order: Order, data: Mapping[str, Any]) -> None:
    check.enum_member(TrackingStatus, "data.status")(data.get("status"))
    check.aware("data.carrier_time")(data.get("carrier_time"))
    _text(data, "waybill", required=False)


def cancel_lines(order: Order, data: Mapping[str, Any]) -> None:
    _lines(data, "lines")


def refund(order: Order, data: Mapping[str, Any]) -> None:
    _money(order, data, "amount")
    _whole_minor_units(order, data, "amount")
    _lines(data, "lines", required=False)
    if not data["amount"].amount and not _zero_refund_moves(order, data):
        raise ValidationError(
            "data.amount", data["amount"],
            "a refund of zero moves no money: name the units it gives back, if any",
        )
    _payment_texts(data)


def return_requested(order: Order, data: Mapping[str, Any]) -> None:
    _lines(data, "lines")


def return_received(order: Order, data: Mapping[str, Any]) -> None:
    _lines(data, "lines")
    _lines(data, "sellable", required=False, allow_empty=True)


def return_cancelled(order: Order, data: Mapping[str, Any]) -> None:
    _lines(data, "lines", required=False)
    _text(data, "reason", required=False)


def hold(order: Order, data: Mapping[str, Any]) -> None:
    _text(data, "kind")
    if len(data["kind"]) > NAME_MAX_LENGTH:
        raise ValidationError(
            "data.kind", data["kind"], f"longer than {NAME_MAX_LENGTH} characters"
        )


def change_address(order: Order, data: Mapping[str, Any]) -> None:
    if not isinstance(data.get("address"), Address):
        raise ValidationError("data.address", data.get("address"), "expected an Address")


def change_price(order: Order, data: Mapping[str, Any]) -> None:
    _text(data, "line_id")
    try:
        line = order.line(data["line_id"])
    except ValidationError as error:
        raise error.at("data") from None
    _money(order, data, "unit_price")
    try:  # the line repriced keeps the model's rules (a whole-fen line amount)
        attrs.evolve(line, unit_price=data["unit_price"])
    except ValidationError as error:
        raise error.at("data") from None


def _zero_refund_moves(order: Order, data: Mapping[str, Any]) -> bool:
    """A refund of zero still means something when it names units (given back with
    nothing left to pay for them: cash on delivery units never paid for, units whose
    money went back before), or when it ends an order with nothing left to sell or pay
    back (sync's ``refund:all`` of a trade the platform closed)."""
    if data.get("lines"):
        return True
    if order.is_final:
        return False
    return not any(order.sold_units.values()) and not order.refund_due


def _nothing(order: Order, data: Mapping[str, Any]) -> None:
    """Events that carry no data the engine reads (``pack``, ``deliver``, ...)."""


#: Per built-in event, its data check; the keys its data may hold are
#: :data:`~orderkit.lifecycle.events.EVENT_DATA`'s.
_VALUE_CHECKS: Final[Mapping[str, DataCheck]] = {
    "pay": pay,
    "pack": _nothing,
    "ship": ship,
    "track": track,
    "deliver": _nothing,
    "complete": _nothing,
    "cancel": _nothing,
    "cancel_lines": cancel_lines,
    "refund": refund,
    "hold": hold,
    "release_hold": hold,
    "change_address": change_address,
    "change_price": change_price,
    "return_requested": return_requested,
    "return_received": return_received,
    "return_cancelled": return_cancelled,
}


def _known_keys(name: str, check: DataCheck, keys: Iterable[str]) -> DataCheck:
    """``check`` run after refusing any key of the data that ``name`` does not read: a
    misspelt optional key (``line`` for ``lines``) would otherwise be left unread, and a
    ``ship`` meant for one unit would send every open unit."""
    allowed = {*keys, "approved_by"}
    known = ", ".join(sorted(allowed))

    def checked(order: Order, data: Mapping[str, Any]) -> None:
        for key in data:
            if key not in allowed:
                raise ValidationError(
                    f"data.{key}", data[key], f"{name} reads no such key (it reads: {known})"
                )
        check(order, data)

    return checked


#: The data check of every built-in event: its keys, then its values.
CHECKS: Final[Mapping[str, DataCheck]] = {
    name: _known_keys(name, _VALUE_CHECKS[name], keys) for name, keys in EVENT_DATA.items()
}
