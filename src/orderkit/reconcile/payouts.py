"""How each payment channel pays the money it collects out to the merchant's bank.

Channels settle in one of two ways. WeChat Pay (and a card acquirer) pays each day's net
out by itself, T+1: its bill has no payout rows, so :func:`~orderkit.reconcile.settle`
derives one payout per accounting day. Alipay (and a Pinduoduo or Douyin shop balance)
keeps the money in the merchant's balance until the merchant withdraws it: only the
bill's withdrawal rows reach the bank, and what is not withdrawn in the period is the
channel's *carried balance*, an explained amount, never a payout nobody made.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

import attrs

from orderkit.model.errors import ValidationError

__all__ = ["DEFAULT_PAYOUT_TERMS", "PayoutTerms", "payout_terms_of"]

Mode = Literal["automatic", "withdrawal"]


def _check_days(instance: object, attribute: object, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError("days", value, "expected a whole number of days >= 0")


def _check_mode(instance: object, attribute: object, value: object) -> None:
    if value not in ("automatic", "withdrawal"):
        raise ValidationError("mode", value, "expected 'automatic' or 'withdrawal'")


@attrs.frozen
class PayoutTerms:
    """How one channel pays out: ``automatic`` every accounting day, ``days`` later
    (T+``days``), or on the merchant's ``withdrawal``.

    >>> PayoutTerms.automatic(2), PayoutTerms.withdrawal().mode
    (PayoutTerms(mode='automatic', days=2), 'withdrawal')
    """

    mode: Mode = attrs.field(validator=_check_mode)
    days: int = attrs.field(default=1, validator=_check_days)

    @classmethod
    def automatic(cls, days: int = 1) -> PayoutTerms:
        """The channel pays each accounting day's net out by itself, ``days`` later."""
        return cls("automatic", days)

    @classmethod
    def withdrawal(cls) -> PayoutTerms:
        """The channel keeps the balance until the merchant withdraws it."""
        return cls("withdrawal", 0)

    @classmethod
    def parse(cls, text: str) -> PayoutTerms:
        """``withdrawal``, ``automatic`` (T+1), ``automatic:N`` or ``T+N``."""
        cell = text.strip()
        if cell == "withdrawal":
            return cls.withdrawal()
        if cell == "automatic":
            return cls.automatic()
        for prefix in ("automatic:", "T+", "t+"):
            days = cell.removeprefix(prefix)
            if days != cell and days.isdigit():
                return cls.automatic(int(days))
        raise ValidationError("payout terms", text, "expected withdrawal, automatic[:N] or T+N")


#: The terms of the channels orderkit knows by name; any other channel is ``automatic``
#: with ``settle()``'s ``settlement_days``.
DEFAULT_PAYOUT_TERMS: Final[Mapping[str, PayoutTerms]] = MappingProxyType(
    {
        "wechatpay": PayoutTerms.automatic(1),
        "pos": PayoutTerms.automatic(1),
        "alipay": PayoutTerms.withdrawal(),
        "pdd": PayoutTerms.withdrawal(),
        "douyin": PayoutTerms.withdrawal(),
    }
)


def payout_terms_of(
    channel: str,
    terms: Mapping[str, PayoutTerms] | None,
    settlement_days: int | Mapping[str, int],
) -> PayoutTerms:
    """The terms ``channel`` settles on: the host's ``terms`` for it, else the default for
    its name; an automatic channel the host did not name pays T+``settlement_days``."""
    if terms is not None and channel in terms:
        given = terms[channel]
        if not isinstance(given, PayoutTerms):
            raise ValidationError(f"payout_terms[{channel!r}]", given, "expected PayoutTerms")
        return given
    default = DEFAULT_PAYOUT_TERMS.get(channel, PayoutTerms.automatic())
    if default.mode == "withdrawal":
        return default
    if isinstance(settlement_days, int):
        days = settlement_days
    else:
        days = settlement_days.get(channel, default.days)
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise ValidationError("settlement_days", days, "expected a whole number of days >= 0")
    return PayoutTerms.automatic(days)
