"""``read_bill``: read any bill finance downloads, its layout known by its header.

Finance downloads a dozen kinds of file at month end and should not have to say which is
which. :func:`read_bill` opens the file, detects its encoding (a UTF-8 byte-order mark,
UTF-8, else GBK as Alipay, JD and the banks write it; line ends may be CRLF), finds the
header after any preamble (Alipay's ``#`` lines, a bank's account and period lines) and
chooses the layout whose *signature*, the set of columns only that layout has, the
header contains; the most specific one wins. A header no layout knows is refused with an
:class:`UnknownBillLayout` naming the columns found.

:data:`LAYOUTS` lists every layout with its signature and its reader.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final

import attrs

from orderkit.model.errors import ValidationError
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, zone
from orderkit.reconcile.readers._table import (
    HEADER_SEARCH_LINES,
    Column,
    Progress,
    check_encoding,
    not_text,
)
from orderkit.reconcile.readers.alipay import (
    read_alipay_qianniu,
    read_alipay_statement,
    read_alipay_trades,
)
from orderkit.reconcile.readers.bank import (
    STATEMENT_CREDIT,
    STATEMENT_DEBIT,
    STATEMENT_MEMO,
    STATEMENT_WHEN,
    read_bank_statement,
)
from orderkit.reconcile.readers.douyin import (
    FLOW_AMOUNT,
    read_douyin_flow,
    read_douyin_settlement,
)
from orderkit.reconcile.readers.jd import read_jd_settlement
from orderkit.reconcile.readers.pdd import read_pdd_bill
from orderkit.reconcile.readers.pos import read_pos_csv
from orderkit.reconcile.readers.wechatpay import read_wechatpay_bill
from orderkit.reconcile.records import Record, Rejected

__all__ = ["LAYOUTS", "BillRead", "Layout", "UnknownBillLayout", "detect_encoding", "read_bill"]

BillReader = Callable[..., Iterator[Record | Rejected]]


@attrs.frozen
class Layout:
    """A bill layout: its name, what it is, the columns that identify it, its reader."""

    name: str
    title: str
    signature: tuple[Column, ...]
    reader: BillReader
    source: str
    #: Whether the file's naive times are in the zone of whoever exported it (a bank's
    #: statement, a store's tills) rather than in the platform's own (Beijing time for
    #: every platform bill): :func:`read_bill`'s ``source_tz`` applies to these.
    local_time: bool = False

    def matches(self, header: Sequence[str]) -> bool:
        """Whether ``header`` (cleaned cell texts) has every column of the signature."""
        return all(
            (column in header)
            if isinstance(column, str)
            else any(name in header for name in column)
            for column in self.signature
        )


def _alipay_account(
    path: str | Path,
    *,
    source: str = "alipay",
    encoding: str = "gbk",
    progress: Progress | None = None,
) -> Iterator[Record | Rejected]:
    # read_bill reads a whole download, which always ends with Alipay's # lines.
    return read_alipay_statement(
        path, source=source, encoding=encoding, require_footer=True, progress=progress
    )


#: Every layout :func:`read_bill` knows, by name.
LAYOUTS: Final[tuple[Layout, ...]] = (
    Layout(
        "wechatpay",
        "WeChat Pay merchant trade bill (交易账单), 20/27/29 columns",
        ("交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "手续费"),
        read_wechatpay_bill,
        "wechatpay",
    ),
    Layout(
        "wechatpay-legacy",
        "WeChat Pay merchant trade bill, older 24/26-column layout",
        ("交易时间", "微信订单号", "商户订单号", "交易状态", "总金额", "企业红包金额", "手续费"),
        read_wechatpay_bill,
        "wechatpay",
    ),
    Layout(
        "alipay-account",
        "Alipay account statement (账务明细), also a Tmall/Taobao shop's",
        ("账务流水号", "业务流水号", "商户订单号", "发生时间", "收入金额（+元）"),
        _alipay_account,
        "alipay",
    ),
    Layout(
        "alipay-trade",
        "Alipay trade bill (业务明细/交易明细)",
        ("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "商家实收（元）"),
        read_alipay_trades,
        "alipay",
    ),
    Layout(
        "alipay-qianniu",
        "Alipay account statement as a Taobao/Tmall seller exports it from Qianniu",
        ("入账时间", "支付宝交易号", "支付宝流水号", "账务类型", "收入（+元）", "支出（-元）"),
        read_alipay_qianniu,
        "alipay",
    ),
    Layout(
        "jd-settlement",
        "JD order settlement detail (订单结算明细), one row per fee type",
        ("订单编号", "单据编号", "费用项", "金额", "收支方向"),
        read_jd_settlement,
        "jd",
    ),
    Layout(
        "pdd-bill",
        "Pinduoduo goods-payment bill (货款账单)",
        (
            "商户订单号",
            "发生时间",
            "账务类型",
            "业务描述",
            ("收入金额（+元）", "收入金额(+元)", "收入金额"),
            ("支出金额（-元）", "支出金额(-元)", "支出金额"),
        ),
        read_pdd_bill,
        "pdd",
    ),
    Layout(
        "douyin-flow",
        "Douyin shop fund flow (资金流水)",
        ("动账时间", "动账流水号", "动账方向", FLOW_AMOUNT),
        read_douyin_flow,
        "douyin",
    ),
    Layout(
        "douyin-settlement",
        "Douyin shop settlement bill (结算账单)",
        ("结算时间", "结算单号", "订单号", "子订单号", "商家实收", "订单总价"),
        read_douyin_settlement,
        "douyin",
    ),
    Layout(
        "pos",
        "point-of-sale receipts export (receipt_no, amount, paid_at, payment_method, store)",
        ("receipt_no", "amount", "paid_at"),
        read_pos_csv,
        "pos",
        local_time=True,
    ),
    Layout(
        "bank",
        "bank statement (交易日期/记账日期 or 交易时间, 借方/贷方 or 收入/支出, 摘要)",
        (STATEMENT_WHEN, STATEMENT_CREDIT, STATEMENT_DEBIT, STATEMENT_MEMO),
        read_bank_statement,
        "bank",
        local_time=True,
    ),
)
_BY_NAME: Final = {layout.name: layout for layout in LAYOUTS}
#: The channels the layouts belong to: a ``source`` of one of these names asks for its
#: layouts only.
_CHANNELS: Final = frozenset(layout.source for layout in LAYOUTS)


class UnknownBillLayout(ValidationError):
    """No known layout has the columns of this file's header.

    ``columns`` lists the columns found (the widest line near the top of the file),
    ``file`` the file's name.
    """

    def __init__(self, file: str, columns: Sequence[str]) -> None:
        known = ", ".join(layout.name for layout in LAYOUTS)
        super().__init__(
            "header",
            ",".join(columns),
            f"{file}: no known bill layout has these columns (known layouts: {known})",
        )
        self.file = file
        self.columns = tuple(columns)


@attrs.frozen
class BillRead:
    """What :func:`read_bill` read: the layout, the encoding, the records and the rejects.

    Every data row of the file is in ``records`` (one or more records) or in
    ``rejected``; :meth:`inputs` gives both, in file order, for
    :func:`~orderkit.reconcile.reconcile` or :func:`~orderkit.reconcile.settle`.
    """

    layout: str
    file: str
    encoding: str
    records: tuple[Record, ...]
    rejected: tuple[Rejected, ...]
    items: tuple[Record | Rejected, ...] = attrs.field(repr=False)

    def inputs(self) -> list[Record | Rejected]:
        """Records and rejected lines in file order."""
        return list(self.items)


_CHUNK: Final = 1 << 20


def detect_encoding(path: str | Path) -> str:
    """``"utf-8-sig"`` (a BOM), ``"utf-16"`` (its BOM), ``"utf-8"`` or ``"gbk"``.

    A file without a byte-order mark is UTF-8 when all of it decodes as UTF-8 (checked
    chunk by chunk, never loaded whole), and GBK otherwise.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except OSError as error:
        raise ValidationError("path", str(path), f"cannot open: {error.strerror}") from None
    with handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk = head
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = handle.read(_CHUNK)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gbk"
    return "utf-8"


def _header_lines(path: str | Path, encoding: str) -> list[list[str]]:
    rows: list[list[str]] = []
    with open(path, encoding=encoding, newline="", errors="replace") as handle:
        try:
            for number, text in enumerate(handle, start=1):
                if number > HEADER_SEARCH_LINES:
                    break
                try:
                    cells = next(csv.reader((text,)), [])
                except csv.Error:
                    continue
                rows.append([cell.strip().lstrip("`").strip() for cell in cells])
        except UnicodeError as error:  # UTF-16 without its byte-order mark
            raise not_text(Path(path).name, encoding, error) from None
    return rows


def _choose(path: str | Path, encoding: str) -> Layout:
    rows = _header_lines(path, encoding)
    for cells in rows:
        found = [layout for layout in LAYOUTS if layout.matches(cells)]
        if found:
            return max(found, key=lambda layout: len(layout.signature))
    widest = max(rows, key=len, default=[])
    raise UnknownBillLayout(Path(path).name, [cell for cell in widest if cell])


def read_bill(
    path: str | Path,
    *,
    layout: str | None = None,
    source: str | None = None,
    encoding: str | None = None,
    source_tz: str = DEFAULT_ACCOUNTING_TZ,
    progress: Progress | None = None,
) -> BillRead:
    """Read a bill whose layout is chosen by its header (or named by ``layout``).

    ``source`` names the records' source (the layout's channel by default: ``wechatpay``,
    ``alipay``, ``jd``, ``pdd``, ``douyin``, ``pos``, ``bank``); a ``source`` that is one of
    these channels also says what the file must be, so a WeChat Pay bill read as
    ``source="bank"`` or ``"alipay"`` is refused with a :class:`ValidationError` on
    ``layout`` naming the file and what it looks like (any other name reads any
    layout). ``encoding`` overrides the detection. ``source_tz`` is the zone of the naive
    times of a file without a zone of its own (a bank statement, a POS export); a
    platform's bill is read in the zone its platform writes (Beijing time). A row that
    cannot be read is a :class:`~orderkit.reconcile.Rejected` in ``.rejected`` naming its
    line and column; reading goes on.
    """
    if layout is not None and layout not in _BY_NAME:
        raise ValidationError("layout", layout, f"expected one of {', '.join(_BY_NAME)}")
    if encoding is not None:
        check_encoding(encoding)
    zone(source_tz, path="source_tz")
    text_encoding = encoding or detect_encoding(path)
    chosen = _BY_NAME[layout] if layout is not None else _choose(path, text_encoding)
    if source in _CHANNELS and chosen.source != source:
        expected = ", ".join(item.name for item in LAYOUTS if item.source == source)
        raise ValidationError(
            "layout",
            chosen.name,
            f"{Path(path).name} looks like a {chosen.title}, not a file for {source!r}"
            f" (its layouts: {expected})",
        )
    options = {"source_tz": source_tz} if chosen.local_time else {}
    items = tuple(
        chosen.reader(
            path,
            source=source or chosen.source,
            encoding=text_encoding,
            progress=progress,
            **options,
        )
    )
    return BillRead(
        layout=chosen.name,
        file=Path(path).name,
        encoding=text_encoding,
        records=tuple(item for item in items if isinstance(item, Record)),
        rejected=tuple(item for item in items if isinstance(item, Rejected)),
        items=items,
    )
