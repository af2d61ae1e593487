"""The input of a reconciliation: one :class:`Record` per line of any source.

A record is deliberately small and flat. ERP exports, bank statements, payment-gateway
bills, POS exports and marketplace settlements all become the same shape, so the engine
can join any two of them. A line that cannot become a record is not dropped: it becomes a
:class:`Rejected` input that names the file, line and column, and the reconciliation
reports it, so the totals still account for every line that was read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from orderkit.model import _checks
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.model.time import ensure_instant

__all__ = ["CATEGORIES", "KINDS", "Record", "Rejected"]

#: What a record is about. Sales and refunds are paired across systems; fees and
#: subsidies are the pieces that make "received" differ from "receivable". Along the
#: settlement chain, ``settlement`` is a channel's payout of a day or a batch to the bank,
#: ``transfer`` money moved between the merchant's own accounts (an Alipay withdrawal to
#: the bank) and ``charge`` a bank's own charge (not a refund).
KINDS: Final = frozenset(
    {"sale", "refund", "fee", "subsidy", "adjustment", "settlement", "transfer", "charge"}
)

#: The fee taxonomy of a bill line (``Record.category``) and the record kind each is
#: reconciled as. A reader names what the line *is* (a platform commission, a payment
#: fee, a withdrawal); the engine only needs to know how to pair it.
CATEGORIES: Final = {
    "sale": "sale",
    "refund": "refund",
    "coupon": "subsidy",
    "subsidy": "subsidy",
    "commission": "fee",
    "payment_fee": "fee",
    "service_fee": "fee",
    "settlement": "settlement",
    "withdrawal": "transfer",
    "transfer": "transfer",
    "exchange": "transfer",
    "bank_charge": "charge",
    "credit": "sale",
    "debit": "refund",
    "deposit": "adjustment",
    "adjustment": "adjustment",
}
"""``sale`` and ``refund`` are the goods; ``coupon`` a discount the merchant funds
(negative) and ``subsidy`` one the platform funds; ``commission`` the platform's or an
affiliate's commission (佣金, 技术服务费), ``payment_fee`` the payment channel's fee
(手续费, 支付服务费), ``service_fee`` any other platform charge (freight insurance,
advertising); ``settlement`` a payout, ``withdrawal`` money taken from a platform balance
to the bank, ``transfer`` money between the merchant's own accounts; ``exchange`` one leg
of an exchange (换货: the refund of the goods returned paying for their replacement,
moving no money outside the merchant; the two legs pair with each other by their
``ref``, the exchange's reference, see :func:`~orderkit.reconcile.reconcile`); ``bank_charge`` a
bank's own charge; ``credit`` and ``debit`` a bank line whose nature the statement does
not say; ``deposit`` a security deposit; ``adjustment`` anything else, left for a person."""


def _check_category(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and value not in CATEGORIES:
        raise ValidationError(
            "category", value, f"expected one of {', '.join(sorted(CATEGORIES))} or None"
        )


def _check_kind(_instance: object, _attribute: object, value: object) -> None:
    if value not in KINDS:
        raise ValidationError("kind", value, f"expected one of {', '.join(sorted(KINDS))}")


def _optional_ref(value: object) -> str | None:
    # An empty cell is "no reference", not a reference that equals every other empty cell.
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("ref", value, "expected a string or None")
    text = value.strip()
    return text or None


def _to_at(value: object) -> datetime:
    return ensure_instant(value, path="at")


def _links(value: object) -> tuple[str, ...]:
    items = _checks.tuple_of(str, "links")(value)
    return tuple(item for item in items if item)


@attrs.frozen
class Record:
    """One line from one source, immutable.

    ``ref`` is the reconciliation id or order id when the source knows it (``None`` for a
    bank credit that only has a memo). ``at`` must be aware and is stored in UTC.
    ``links`` holds other ids the source knows (a platform order number, a gateway
    transaction number, a settlement batch), used to pair records through an id both
    systems carry and to group one-to-many settlements.

    >>> from datetime import datetime, UTC
    >>> r = Record("erp", "SO20260216000892", "SO20260216000892", Money("170.00", "CNY"),
    ...            datetime(2026, 2, 16, 2, 0, tzinfo=UTC))
    >>> (r.kind, r.memo, r.links)
    ('sale', '', ())
    """

    source: str = attrs.field(validator=_checks.text(allow_empty=False, max_length=64))
    record_id: str = attrs.field(validator=_checks.text(allow_empty=False))
    ref: str | None = attrs.field(converter=_optional_ref)
    amount: Money = attrs.field(validator=_checks.instance(Money))
    at: datetime = attrs.field(converter=_to_at)
    memo: str = attrs.field(default="", validator=_checks.text())
    kind: str = attrs.field(default="sale", validator=_check_kind)
    status: str | None = attrs.field(default=None, validator=_checks.optional_text)
    links: tuple[str, ...] = attrs.field(default=(), converter=_links)
    channel: str | None = attrs.field(default=None, validator=_checks.optional_text)
    """The payment channel an ERP record was paid through (the name of its bill in
    :func:`~orderkit.reconcile.settle`), ``None`` when unknown. On a bill's line, the
    route its money takes to the bank when the bill has several (a POS receipt's
    ``pos.cash.S1``: a store's cash; ``pos.card.S1``: its card acquirer), each paid
    out on its own terms; ``None`` for the bill's own way."""
    category: str | None = attrs.field(default=None, validator=_check_category)
    """What a bill line is in the fee taxonomy (:data:`CATEGORIES`), ``None`` when the
    source does not say (an ERP export)."""


@attrs.frozen
class Rejected:
    """An input line that could not become a :class:`Record`.

    ``line`` is the 1-based physical line in ``file`` and ``column`` the header name of
    the offending cell (empty when the whole line is unreadable). ``raw`` keeps the line
    text so that nobody has to reopen the file to see what was wrong.
    """

    source: str
    file: str
    line: int
    column: str
    value: str
    reason: str
    raw: str = ""

    @property
    def record_id(self) -> str:
        """A stable id for reports: ``file:line``."""
        return f"{self.file}:{self.line}"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f" column {self.column!r}" if self.column else "")
        return f"{where}: {self.reason} (got {self.value!r})"
