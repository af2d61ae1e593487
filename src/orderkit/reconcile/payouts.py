"""How each payment channel pays the money it collects out to the merchant's bank.

Channels settle in one of two ways. WeChat Pay (and a card acquirer) pays each day's net
out by itself, T+1: its bill has no payout rows, so :func:`~orderkit.reconcile.settle`
derives one payout per settlement day. Alipay (and a Pinduoduo or Douyin shop balance)
keeps the money in the merchant's balance until the merchant withdraws it: only the
bill's withdrawal rows reach the bank, and what is not withdrawn in the period is the
channel's *carried balance*, an explained amount, never a payout nobody made.

A channel's day is its own, not the host's: WeChat Pay cuts its days at Beijing midnight
whatever zone the host keeps its books in. :attr:`PayoutTerms.tz` names that zone (the
channel's *settlement zone*); the accounting zone (``Rules.tz``) only decides reporting.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

import attrs

from orderkit.model.errors import ValidationError
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, zone

__all__ = [
    "DEFAULT_PAYOUT_TERMS",
    "PayoutTerms",
    "check_settlement_days",
    "payout_terms_of",
    "route_terms_of",
]

Mode = Literal["automatic", "withdrawal"]

#: The settlement zone of the Chinese channels orderkit knows by name (Beijing time).
_CHINA_TZ: Final = "Asia/Shanghai"


def _whole_days(path: str, value: object) -> int:
    """``value`` if it is a whole number of days, 0 or more (an ``int``, not a ``bool``)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(path, value, "expected a whole number of days >= 0")
    return value


def _check_days(instance: object, attribute: object, value: object) -> None:
    _whole_days("days", value)


def check_settlement_days(value: object) -> int | Mapping[str, int]:
    """``settle()``'s ``settlement_days``: a whole number of days, 0 or more, or a
    mapping of channel names to one. Anything else (``1.5``, ``"1"``, ``True``, a
    mapping holding one) is a :class:`~orderkit.model.errors.ValidationError` naming
    ``settlement_days`` (``settlement_days['wechatpay']`` for a mapping's entry).

    >>> check_settlement_days({"wechatpay": 2})
    {'wechatpay': 2}
    >>> try:
    ...     check_settlement_days(1.5)
    ... except ValidationError as refused:
    ...     print(refused.path, refused.value)
    settlement_days 1.5
    """
    if isinstance(value, Mapping):
        for channel, days in value.items():
            _whole_days(f"settlement_days[{channel!r}]", days)
        return value
    return _whole_days("settlement_days", value)


def _check_mode(instance: object, attribute: object, value: object) -> None:
    if value not in ("automatic", "withdrawal"):
        raise ValidationError("mode", value, "expected 'automatic' or 'withdrawal'")


def _check_tz(instance: object, attribute: object, value: str | None) -> None:
    if value is not None:
        if not isinstance(value, str):
            raise ValidationError("payout tz", value, "expected an IANA time zone name or None")
        zone(value, path="payout tz")


@attrs.frozen
class PayoutTerms:
    """How one channel pays out: ``automatic`` every settlement day, ``days`` later
    (T+``days``), or on the merchant's ``withdrawal``.

    ``tz`` is the channel's settlement zone: the zone its days are cut in (a derived
    payout adds up one such day and is due at its midnight ``days`` later). ``None``
    means the zone of the channel's entry in :data:`DEFAULT_PAYOUT_TERMS` (Beijing time
    for the Chinese channels orderkit knows), else the accounting zone.

    >>> PayoutTerms.automatic(2), PayoutTerms.withdrawal().mode
    (PayoutTerms(mode='automatic', days=2, tz=None), 'withdrawal')
    >>> PayoutTerms.parse("T+1@UTC")
    PayoutTerms(mode='automatic', days=1, tz='UTC')
    """

    mode: Mode = attrs.field(validator=_check_mode)
    days: int = attrs.field(default=1, validator=_check_days)
    tz: str | None = attrs.field(default=None, validator=_check_tz)

    @classmethod
    def automatic(cls, days: int = 1, tz: str | None = None) -> PayoutTerms:
        """The channel pays each settlement day's net out by itself, ``days`` later."""
        return cls("automatic", days, tz)

    @classmethod
    def withdrawal(cls, tz: str | None = None) -> PayoutTerms:
        """The channel keeps the balance until the merchant withdraws it."""
        return cls("withdrawal", 0, tz)

    @classmethod
    def parse(cls, text: str) -> PayoutTerms:
        """``withdrawal``, ``automatic`` (T+1), ``automatic:N`` or ``T+N``, each with an
        optional ``@ZONE`` naming the settlement zone (``T+1@Asia/Shanghai``)."""
        if not isinstance(text, str):
            raise ValidationError("payout terms", text, "expected text")
        cell, at, tz_name = text.strip().partition("@")
        cell = cell.strip()
        tz = tz_name.strip() if at else None
        if at and not tz:
            raise ValidationError("payout terms", text, "expected a zone name after '@'")
        if cell == "withdrawal":
            return cls.withdrawal(tz)
        if cell == "automatic":
            return cls.automatic(1, tz)
        for prefix in ("automatic:", "T+", "t+"):
            days = cell.removeprefix(prefix)
            if days != cell and days.isdigit():
                return cls.automatic(int(days), tz)
        raise ValidationError(
            "payout terms", text, "expected withdrawal, automatic[:N] or T+N, then @ZONE or not"
        )


#: The terms of the channels orderkit knows by name, each cut by Beijing days; any other
#: channel is ``automatic`` with ``settle()``'s ``settlement_days``, in the accounting zone.
DEFAULT_PAYOUT_TERMS: Final[Mapping[str, PayoutTerms]] = MappingProxyType(
    {
        "wechatpay": PayoutTerms.automatic(1, _CHINA_TZ),
        "pos": PayoutTerms.automatic(1, _CHINA_TZ),
        # A store pays its tills' cash in itself, the same day: one deposit per store.
        "pos.cash": PayoutTerms.automatic(0, _CHINA_TZ),
        "alipay": PayoutTerms.withdrawal(_CHINA_TZ),
        "pdd": PayoutTerms.withdrawal(_CHINA_TZ),
        "douyin": PayoutTerms.withdrawal(_CHINA_TZ),
    }
)


def payout_terms_of(
    channel: str,
    terms: Mapping[str, PayoutTerms] | None,
    settlement_days: int | Mapping[str, int],
    tz: str = DEFAULT_ACCOUNTING_TZ,
) -> PayoutTerms:
    """The terms ``channel`` settles on, its settlement zone always named: the host's
    ``terms`` for it, else the default for its name; an automatic channel the host did
    not name pays T+``settlement_days``. A zone left ``None`` is the default terms' zone
    for the channel's name, else ``tz`` (the accounting zone)."""
    settlement_days = check_settlement_days(settlement_days)
    default = DEFAULT_PAYOUT_TERMS.get(channel)
    settles_in = default.tz if default is not None and default.tz is not None else tz
    if terms is not None and channel in terms:
        given = terms[channel]
        if not isinstance(given, PayoutTerms):
            raise ValidationError(f"payout_terms[{channel!r}]", given, "expected PayoutTerms")
        return given if given.tz is not None else attrs.evolve(given, tz=settles_in)
    if default is not None and default.mode == "withdrawal":
        return attrs.evolve(default, tz=settles_in)
    if isinstance(settlement_days, int):
        days = settlement_days
    else:
        days = settlement_days.get(channel, default.days if default is not None else 1)
    return PayoutTerms.automatic(days, settles_in)


def route_terms_of(
    route: str,
    channel: str,
    channel_terms: PayoutTerms,
    terms: Mapping[str, PayoutTerms] | None,
    settlement_days: int | Mapping[str, int],
) -> PayoutTerms:
    """The terms a route of ``channel``'s bill pays out on (``Record.channel`` of its
    lines: ``pos.cash.S1``, a store's cash). The host's word first: the first of the
    route's dotted names, from the route itself down to its first two parts
    (``pos.cash.S1``, then ``pos.cash``), that the host's ``terms`` or a
    ``settlement_days`` mapping names, and when it names none of them but names the
    channel itself (``pos``), ``channel_terms``, the channel's own. Only when the host
    named none of them, the first that :data:`DEFAULT_PAYOUT_TERMS` names, else
    ``channel_terms`` (the route's first part alone, ``pos``, is a channel's name, not a
    route's). A zone left ``None`` is the channel's.

    >>> pos = PayoutTerms.automatic(1, "Asia/Shanghai")
    >>> route_terms_of("pos.cash.S1", "pos", pos, None, 1).days
    0
    >>> route_terms_of("pos.card.S1", "pos", pos, {"pos.card": PayoutTerms.automatic(2)}, 1)
    PayoutTerms(mode='automatic', days=2, tz='Asia/Shanghai')
    >>> route_terms_of("pos.card.S1", "pos", pos, None, 1) is pos
    True
    >>> route_terms_of("pos.cash.S1", "pos", PayoutTerms.automatic(3), None, {"pos": 3}).days
    3
    """
    names: list[str] = []
    name = route if route != channel else ""
    while "." in name:
        names.append(name)
        name = name.rpartition(".")[0]
    days = settlement_days if isinstance(settlement_days, Mapping) else {}
    for name in names:
        if terms is not None and name in terms:
            given = terms[name]
            if not isinstance(given, PayoutTerms):
                raise ValidationError(f"payout_terms[{name!r}]", given, "expected PayoutTerms")
            return given if given.tz is not None else attrs.evolve(given, tz=channel_terms.tz)
        if name in days:
            return PayoutTerms.automatic(days[name], channel_terms.tz)
    if (terms is not None and channel in terms) or channel in days:
        return channel_terms
    for name in names:
        default = DEFAULT_PAYOUT_TERMS.get(name)
        if default is not None:
            return default
    return channel_terms
