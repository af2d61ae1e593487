"""``read_bill``: every layout chosen by its header, in the encoding its platform writes.

Every file is written by the test, in the column layout of the real download (see
``tests/fixtures/reconcile/README.md`` for the public document each layout follows):
WeChat Pay's trade bill in its current and older layouts (backticked cells, summary
block), Alipay's 账务明细, 业务明细 and the Qianniu seller export (GBK, ``#`` lines), JD's
订单结算明细 (GBK), Pinduoduo's 货款账单, Douyin's 资金流水 and 结算账单, and bank
statements (GBK, a preamble, a 合计 line, split date and time).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orderkit.model.errors import OrderkitError, ValidationError
from orderkit.reconcile import (
    CATEGORIES,
    LAYOUTS,
    BillRead,
    Record,
    UnknownBillLayout,
    read_bill,
    settle,
)
from orderkit.reconcile.readers import BankColumns, read_bank_csv, read_erp_csv
from orderkit.reconcile.readers.alipay import alipay_category


def write(path: Path, lines: list[str], encoding: str, *, newline: str = "\n") -> Path:
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def amounts(bill: BillRead) -> dict[str, Decimal]:
    return {r.record_id: r.amount.amount for r in bill.records}


def categories(bill: BillRead) -> dict[str, str | None]:
    return {r.record_id: r.category for r in bill.records}


def test_every_record_of_every_layout_has_a_category_consistent_with_its_kind(
    tmp_path: Path,
) -> None:
    bills = [
        read_bill(write(tmp_path / "wx.csv", WECHAT, "utf-8-sig", newline="\r\n")),
        read_bill(write(tmp_path / "ali.csv", ALIPAY_ACCOUNT, "gbk", newline="\r\n")),
        read_bill(write(tmp_path / "jd.csv", JD, "gbk")),
        read_bill(write(tmp_path / "pdd.csv", PDD, "utf-8")),
        read_bill(write(tmp_path / "dy.csv", DOUYIN_SETTLEMENT, "utf-8-sig")),
    ]
    seen = set()
    for bill in bills:
        assert bill.records and not bill.rejected, bill.layout
        for record in bill.records:
            assert record.category is not None
            assert CATEGORIES[record.category] == record.kind
            seen.add(record.category)
    assert {"sale", "refund", "coupon", "subsidy", "commission", "payment_fee"} <= seen
    assert {"withdrawal"} <= seen


# --- WeChat Pay ---------------------------------------------------------------------

WECHAT = [
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
    "费率备注",
    "`2026-03-10 12:00:00,`wx1,`1900000001,`,`,`4200001001,`SO20260310000001,`o1,`JSAPI,"
    "`SUCCESS,`CFT,`CNY,`165.00,`5.00,`0,`0,`0.00,`0.00,`,`,`红茶,`,`0.99000,`0.60%,"
    "`170.00,`0.00,`",
    "`2026-03-10 15:30:00,`wx1,`1900000001,`,`,`4200001002,`SO20260310000002,`o2,`JSAPI,"
    "`REFUND,`CFT,`CNY,`0.00,`0.00,`50000001,`RF1,`45.50,`0.00,`ORIGINAL,`SUCCESS,`绿茶,`,"
    "`-0.27000,`0.60%,`0.00,`45.50,`",
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
    "`2,`165.00,`45.50,`0.00,`0.72000,`170.00,`45.50",
]


def test_wechat_bill_with_bom_and_crlf_is_read_as_sale_coupon_fee_and_refund(
    tmp_path: Path,
) -> None:
    bill = read_bill(write(tmp_path / "wx.csv", WECHAT, "utf-8-sig", newline="\r\n"))
    assert (bill.layout, bill.encoding, bill.rejected) == ("wechatpay", "utf-8-sig", ())
    assert amounts(bill) == {
        "4200001001": Decimal("170.00"),
        "4200001001#coupon": Decimal("-5.00"),
        "4200001001#fee": Decimal("-0.99000"),
        "50000001": Decimal("-45.50"),
        "50000001#fee": Decimal("0.27000"),
    }
    assert categories(bill)["4200001001#coupon"] == "coupon"
    assert categories(bill)["4200001001#fee"] == "payment_fee"
    # what WeChat Pay settles for the sale row: 应结订单金额 less the fee
    sale = [r.amount.amount for r in bill.records if r.record_id.startswith("4200001001")]
    assert sum(sale) == Decimal("165.00") - Decimal("0.99")


#: A 45.50 order paid with a 5.00 merchant-funded coupon (应结订单金额 40.50) and refunded
#: in full the same day: 申请退款金额 is the order's 45.50, 退款金额 (应结退款金额) the 40.50
#: WeChat Pay takes back; the day settles to nothing.
WECHAT_COUPON_REFUNDED = [
    WECHAT[0],
    "`2026-03-10 13:00:05,`wx1,`1900000001,`,`,`4200001002,`SO20260310000002,`o2,`JSAPI,"
    "`SUCCESS,`CFT,`CNY,`40.50,`5.00,`0,`0,`0.00,`0.00,`,`,`青瓷杯,`,`0.24300,`0.60%,"
    "`45.50,`0.00,`",
    "`2026-03-10 18:00:05,`wx1,`1900000001,`,`,`4200001002,`SO20260310000002,`o2,`JSAPI,"
    "`REFUND,`CFT,`CNY,`0.00,`0.00,`50000002,`SO20260310000002-R1,`40.50,`0.00,`ORIGINAL,"
    "`SUCCESS,`青瓷杯,`,`-0.24300,`0.60%,`0.00,`45.50,`",
    WECHAT[3],
    "`2,`40.50,`40.50,`0.00,`0.00000,`45.50,`45.50",
]


def test_a_wechat_refund_of_a_coupon_order_reverses_the_coupon_and_nets_what_wechat_refunds(
    tmp_path: Path,
) -> None:
    bill = read_bill(write(tmp_path / "wx.csv", WECHAT_COUPON_REFUNDED, "utf-8"))
    assert bill.rejected == ()
    assert amounts(bill) == {
        "4200001002": Decimal("45.50"),
        "4200001002#coupon": Decimal("-5.00"),
        "4200001002#fee": Decimal("-0.24300"),
        "50000002": Decimal("-45.50"),
        "50000002#coupon": Decimal("5.00"),
        "50000002#fee": Decimal("0.24300"),
    }
    assert categories(bill)["50000002#coupon"] == "coupon"
    refund_row = [r.amount.amount for r in bill.records if r.record_id.startswith("50000002")]
    assert sum(refund_row) == -Decimal("40.50") + Decimal("0.24300")  # 退款金额, fee returned
    # Settled the same day: the ERP's sale and refund match, and nothing is paid out.
    at = datetime(2026, 3, 10, 5, tzinfo=UTC)
    erp = [
        Record("erp", "W2", "SO20260310000002", bill.records[0].amount, at, channel="wechatpay"),
        Record(
            "erp", "W2-R1", "SO20260310000002", -bill.records[0].amount, at,
            kind="refund", channel="wechatpay",
        ),
    ]
    month = settle(erp, {"wechatpay": bill.inputs()}, [], tz="Asia/Shanghai")
    assert month.payouts("wechatpay") == ()
    assert month.breaks() == []


WECHAT_LEGACY_ALL = [
    "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,"
    "企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率",
    "`2018-08-21 18:13:12,`wx1,`1510000001,`1510000002,`,`4200000145201808202300523655,"
    "`2018082010,`o1,`NATIVE,`SUCCESS,`CFT,`CNY,`10.00,`1.00,`,`,`0.00,`0.00,`,`,`测试,`,"
    "`0.06000,`0.60%",
    "`2018-08-21 18:13:12,`wx1,`1510000001,`1510000002,`,`4200000158201808206112598907,"
    "`2018082011,`o1,`NATIVE,`REFUND,`CFT,`CNY,`0.00,`0.00,`50000307862018082106030153581,"
    "`R1,`0.01,`0.00,`ORIGINAL,`SUCCESS,`测试,`,`0.00000,`0.60%",
    "总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额",
    "`2,`10.00,`0.01,`0.00,`0.06000",
]


def test_the_older_24_column_wechat_bill_is_recognised_and_read(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "wx-old.csv", WECHAT_LEGACY_ALL, "utf-8"))
    assert (bill.layout, bill.encoding, bill.rejected) == ("wechatpay-legacy", "utf-8", ())
    assert amounts(bill) == {
        "4200000145201808202300523655": Decimal("11.00"),
        "4200000145201808202300523655#coupon": Decimal("-1.00"),
        "4200000145201808202300523655#fee": Decimal("-0.06000"),
        "50000307862018082106030153581": Decimal("-0.01"),
    }


def test_an_older_wechat_refund_reverses_the_red_packet_it_returns(tmp_path: Path) -> None:
    # 退款金额 is what WeChat takes back, 企业红包退款金额 the red packet returned to the
    # buyer: the refund of the order is their sum, as the sale is 总金额 + 企业红包金额.
    row = WECHAT_LEGACY_ALL[2].replace("`R1,`0.01,`0.00,", "`R1,`9.00,`1.00,")
    bill = read_bill(write(tmp_path / "wx-old.csv", [WECHAT_LEGACY_ALL[0], row], "utf-8"))
    assert amounts(bill) == {
        "50000307862018082106030153581": Decimal("-10.00"),
        "50000307862018082106030153581#coupon": Decimal("1.00"),
    }


def test_an_older_refund_bill_dates_each_refund_by_its_success_time(tmp_path: Path) -> None:
    header = WECHAT_LEGACY_ALL[0].replace(
        "企业红包金额,", "企业红包金额,退款申请时间,退款成功时间,"
    )
    row = (
        "`2018-08-20 14:40:09,`wx1,`1510000001,`1510000002,`,`4200000145201808202300523655,"
        "`2018082010,`o1,`NATIVE,`REFUND,`CFT,`CNY,`0.00,`0.00,`2018-08-21 18:13:10,"
        "`2018-08-21 18:13:12,`50000707812018082106030155182,`R1,`0.01,`0.00,`ORIGINAL,"
        "`SUCCESS,`测试,`,`0.00000,`1.00%"
    )
    bill = read_bill(
        write(tmp_path / "wx-refund.csv", [header, row, *WECHAT_LEGACY_ALL[3:]], "utf-8")
    )
    (refund,) = bill.records
    assert bill.layout == "wechatpay-legacy"
    assert refund.at == datetime(2018, 8, 21, 10, 13, 12, tzinfo=UTC)  # 18:13:12 in Beijing
    assert (refund.kind, refund.amount.amount) == ("refund", Decimal("-0.01"))


#: The REFUND bill of binarywang/WxJava's ``WxPayBillResultTest`` (identifiers masked
#: there): one refund row of 0.01 kept, while its summary counts 4 rows and 2.02 refunded,
#: and no line break at the end.
WXJAVA_REFUND_BILL = [
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,"
    "商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,"
    "订单金额,申请退款金额,费率备注",
    "`2019-07-23 20:53:36,`xxx,`xxx,`xxx,`,`xxx,`xxxx,`xxxxx,`JSAPI,`REFUND,`CFT,`CNY,`0.00,"
    "`0.00,`2019-07-23 20:53:36,`2019-07-23 20:53:40,`xxxx,`xxx,`0.01,`0.00,`ORIGINAL,"
    "`SUCCESS,`xxxx,`xxxx,`0.00000,`0.60%,`0.00,`0.01,`",
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
    "`4,`0.00,`2.02,`0.00,`-0.02000,`0.00,`2.02",
]


def test_a_wechat_bill_whose_rows_do_not_add_up_to_its_summary_is_not_clean(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wx.csv"
    path.write_bytes("\n".join(WXJAVA_REFUND_BILL).encode("utf-8"))
    bill = read_bill(path)
    assert len(bill.records) == 1
    (summary,) = bill.rejected
    assert summary.line == 4
    assert summary.column == "总交易单数, 退款总金额, 手续费总金额, 申请退款总金额"
    assert summary.value == "4, 2.02, -0.02000, 2.02"
    assert "总交易单数 counts 4 rows, the file holds 1" in summary.reason
    assert "退款总金额 gives 2.02 for the sum of 退款金额, the rows add up to 0.01" in (
        summary.reason
    )
    assert "手续费总金额 gives -0.02000 for the sum of 手续费" in summary.reason
    assert summary.raw == WXJAVA_REFUND_BILL[3]
    # and so the month is not clean
    month = settle([], {"wechatpay": bill.inputs()}, [], tz="Asia/Shanghai")
    assert summary in [outcome.rejected for outcome in month.breaks()]


def test_a_wechat_bill_with_every_row_removed_but_its_summary_is_not_clean(
    tmp_path: Path,
) -> None:
    emptied = [WECHAT[0], *WECHAT[3:]]
    bill = read_bill(write(tmp_path / "wx.csv", emptied, "utf-8"))
    assert bill.records == ()
    (summary,) = bill.rejected
    assert summary.line == 3 and summary.column.startswith("总交易单数, 应结订单总金额")
    assert "总交易单数 counts 2 rows, the file holds 0" in summary.reason
    # the older layout's five-column summary is checked the same way
    legacy_lines = [WECHAT_LEGACY_ALL[0], *WECHAT_LEGACY_ALL[2:]]
    legacy = read_bill(write(tmp_path / "old.csv", legacy_lines, "utf-8"))
    (summary,) = legacy.rejected
    assert summary.column == "总交易单数, 手续费总金额, 总交易额"
    assert "总交易额 gives 10.00 for the sum of 总金额, the rows add up to 0.00" in summary.reason


def test_a_wechat_amount_finer_than_a_fen_is_rejected_but_the_fee_keeps_five_decimals(
    tmp_path: Path,
) -> None:
    sale = WECHAT[1].replace("`170.00,`0.00,`", "`170.005,`0.00,`")  # 订单金额
    refund = WECHAT[2].replace("`RF1,`45.50,", "`RF1,`45.505,")  # 退款金额
    bill = read_bill(write(tmp_path / "wx.csv", [WECHAT[0], sale, refund, *WECHAT[3:]], "utf-8"))
    assert [(r.line, r.column, r.value) for r in bill.rejected] == [
        (2, "订单金额", "170.005"),
        (3, "退款金额", "45.505"),
    ]
    assert bill.rejected[0].reason == "expected at most 2 decimals: CNY has no smaller unit"
    # the summary's sums of those columns cannot be compared; its count still is, and holds
    assert bill.records == ()


def test_a_wechat_row_rejected_for_its_own_fault_still_counts_in_the_summary(
    tmp_path: Path,
) -> None:
    # One rejected line for the row that is wrong, and none for the summary it is part of.
    broken = WECHAT[2].replace("`REFUND,", "`UNKNOWN,")
    bill = read_bill(write(tmp_path / "wx.csv", [*WECHAT[:2], broken, *WECHAT[3:]], "utf-8"))
    (rejected,) = bill.rejected
    assert (rejected.line, rejected.column) == (3, "交易状态")


# --- Alipay -------------------------------------------------------------------------

ALIPAY_ACCOUNT = [
    "#支付宝账务明细查询",
    "#账号：[20881234567890120156]",
    "#起始日期：[2026年03月01日 00:00:00]   终止日期：[2026年04月01日 00:00:00]",
    "#-----------------------------------------账务明细列表----------------------------------------",
    "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,"
    "账户余额（元）,交易渠道,业务类型,备注",
    "310001\t,2026031422001400001\t,T200P3698512204871532841\t,乌龙茶\t,2026-03-14 20:00:00\t,"
    "buyer\t,256.00\t,\t,1256.00\t,支付宝\t,在线支付\t,\t",
    "310002\t,2026031422001400001\t,T200P3698512204871532841\t,\t,2026-03-16 10:00:00\t,"
    "天猫\t,\t,-12.80\t,1243.20\t,支付宝\t,交易分账\t,天猫佣金（类目）{3698512204871532841}\t",
    "310003\t,2026031422001400001\t,T200P3698512204871532841\t,\t,2026-03-16 10:00:01\t,"
    "\t,\t,-1.54\t,1241.66\t,支付宝\t,收费\t,服务费[2026031422001400001]\t",
    "310004\t,20260320000100\t,\t,\t,2026-03-20 09:00:00\t,\t,\t,-1000.00\t,241.66\t,"
    "支付宝\t,提现\t,提现到招商银行\t",
    "#-----------------------------------------账务明细列表结束------------------------------------",
    "#收入合计：1笔，共256.00元",
    "#支出合计：3笔，共1014.34元",
]


def test_alipay_account_statement_of_a_tmall_shop_in_gbk(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "ali.csv", ALIPAY_ACCOUNT, "gbk", newline="\r\n"))
    assert (bill.layout, bill.encoding, bill.rejected) == ("alipay-account", "gbk", ())
    assert categories(bill) == {
        "310001": "sale",
        "310002": "commission",
        "310003": "payment_fee",
        "310004": "withdrawal",
    }
    withdrawal = bill.records[3]
    assert (withdrawal.kind, withdrawal.amount.amount) == ("transfer", Decimal("-1000.00"))
    assert bill.records[0].ref == "T200P3698512204871532841"
    assert bill.records[0].links == ("2026031422001400001",)


def test_an_alipay_statement_without_its_closing_lines_was_cut_off(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "ali.csv", ALIPAY_ACCOUNT[:-3], "gbk"))
    assert len(bill.records) == 4
    (cut,) = bill.rejected
    assert "truncated" in cut.reason and cut.line == 10


def test_an_alipay_statement_with_a_row_removed_disagrees_with_its_summary_lines(
    tmp_path: Path,
) -> None:
    lines = [line for line in ALIPAY_ACCOUNT if not line.startswith("310003")]
    bill = read_bill(write(tmp_path / "ali.csv", lines, "gbk", newline="\r\n"))
    (summary,) = bill.rejected
    assert (summary.line, summary.column, summary.value) == (11, "支出合计", "3, 1014.34")
    assert summary.reason == (
        "the rows do not add up to the bill's own summary: 支出合计 counts 3 rows with"
        " 支出金额（-元）, the file holds 2; 支出合计 gives 1014.34 for the sum of"
        " 支出金额（-元）, the rows add up to 1012.80"
    )
    assert len(bill.records) == 3


ALIPAY_TRADE = [
    "#支付宝业务明细查询",
    "#账号：[20881234567890120156]",
    "#起始日期：[2026年03月01日 00:00:00]   终止日期：[2026年03月02日 00:00:00]",
    "#-----------------------------------------业务明细列表----------------------------------------",
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
    "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
    "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
    "退款批次号/请求号,服务费（元）,分润（元）,备注",
    "2026030122001400010\t,SO20260301000010\t,交易\t,红茶\t,2026-03-01 10:00:00,"
    "2026-03-01 10:00:05,\t,\t,\t,\t,*李(138****0000)\t,100.00,95.00,0.00,0.00,0.00,5.00,"
    "0.00,,0.00\t,0.00,\t,0.60,0.00,",
    "2026030122001400010\t,SO20260301000010\t,退款\t,红茶\t,2026-03-01 12:00:00,"
    "2026-03-01 12:00:03,\t,\t,\t,\t,*李(138****0000)\t,-20.00,-20.00,0.00,0.00,0.00,0.00,"
    "0.00,,0.00\t,0.00,RF20260301001\t,-0.12,0.00,",
    "#-----------------------------------------业务明细列表结束------------------------------------",
    "#交易合计：1笔，商家实收共95.00元",
]


def test_alipay_trade_bill_rows_become_sale_coupon_fee_and_refund(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "trade.csv", ALIPAY_TRADE, "gbk"))
    assert (bill.layout, bill.encoding, bill.rejected) == ("alipay-trade", "gbk", ())
    assert amounts(bill) == {
        "2026030122001400010": Decimal("100.00"),
        "2026030122001400010#coupon": Decimal("-5.00"),
        "2026030122001400010#fee": Decimal("-0.60"),
        "2026030122001400010#refund:RF20260301001": Decimal("-20.00"),
        "2026030122001400010#refund:RF20260301001#fee": Decimal("0.12"),
    }
    cut = read_bill(write(tmp_path / "cut.csv", ALIPAY_TRADE[:-2], "gbk"))
    (truncated,) = cut.rejected
    assert "truncated" in truncated.reason


QIANNIU = [
    "#支付宝账务明细查询",
    "入账时间,支付宝交易号,支付宝流水号,商户订单号,账务类型,收入（+元）,支出（-元）,账户余额（元）,"
    "服务费（元）,支付渠道,签约产品,对方账户,对方名称,银行订单号,商品名称,备注",
    "2026-03-14 20:00:00\t,2026031422001400001\t,20260314001\t,T200P3698512204871532841\t,"
    "交易付款\t,256.00\t,\t,1256.00\t,0.00\t,\t,淘宝交易\t,buyer\t,\t,\t,乌龙茶\t,\t",
    "2026-03-16 10:00:00\t,2026031422001400001\t,20260316001\t,T200P3698512204871532841\t,"
    "交易分账\t,\t,12.80\t,1243.20\t,0.00\t,\t,\t,天猫\t,\t,\t,\t,天猫佣金\t",
    "2026-03-17 10:00:00\t,\t,20260317001\t,\t,提现\t,\t,1000.00\t,243.20\t,0.00\t,\t,\t,"
    "\t,\t,\t,\t,提现\t",
    "#导出时间：[2026年04月01日 09:00:00]",
]


def test_qianniu_seller_export_of_the_alipay_account(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "qn.csv", QIANNIU, "gbk"))
    assert (bill.layout, bill.rejected) == ("alipay-qianniu", ())
    assert amounts(bill) == {
        "20260314001": Decimal("256.00"),
        "20260316001": Decimal("-12.80"),
        "20260317001": Decimal("-1000.00"),
    }
    assert list(categories(bill).values()) == ["sale", "commission", "withdrawal"]


# --- JD, Pinduoduo, Douyin --------------------------------------------------------------

JD = [
    "订单编号,单据编号,单据类型,商品编号,商户订单号,商品名称,结算状态,下单时间,费用计费时间,"
    "费用项,金额,币种,收支方向,钱包结算备注,店铺号",
    "300001,D1,订单,100001,SO20260305000001,普洱,已结算,2026-03-05 09:00:00,"
    "2026-03-08 00:00:00,货款,199.00,CNY,收入,,10001",
    "300001,D1,订单,100001,SO20260305000001,普洱,已结算,2026-03-05 09:00:00,"
    "2026-03-08 00:00:00,佣金,15.92,CNY,支出,,10001",
    "300001,D1,订单,100001,SO20260305000001,普洱,已结算,2026-03-05 09:00:00,"
    "2026-03-08 00:00:00,京豆,2.00,CNY,支出,,10001",
    "300002,D2,退款单,100002,SO20260306000001,白茶,已结算,2026-03-06 09:00:00,"
    "2026-03-09 00:00:00,货款,59.00,CNY,支出,,10001",
]


def test_jd_settlement_detail_one_record_per_fee_row_signed_by_direction(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "jd.csv", JD, "gbk"))
    assert (bill.layout, bill.encoding, bill.rejected) == ("jd-settlement", "gbk", ())
    assert amounts(bill) == {
        "D1#货款": Decimal("199.00"),
        "D1#佣金": Decimal("-15.92"),
        "D1#京豆": Decimal("-2.00"),
        "D2#货款": Decimal("-59.00"),
    }
    assert list(categories(bill).values()) == ["sale", "commission", "subsidy", "refund"]
    assert {r.ref for r in bill.records} == {"300001", "300002"}


PDD = [
    "商户订单号,发生时间,收入金额（+元）,支出金额（-元）,账务类型,备注,业务描述",
    "260305-000000000001,2026-03-05 10:00:00,39.90,,交易收入,,订单收入",
    "260305-000000000001,2026-03-05 10:00:00,3.00,,优惠券结算,,平台优惠券",
    "260305-000000000001,2026-03-05 10:00:00,,-0.24,技术服务费,,技术服务费",
    ",2026-03-07 10:00:00,,-500.00,提现,,提现",
]


def test_pdd_bill_rows_without_ids_get_line_ids_and_categories(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "pdd.csv", PDD, "utf-8"))
    assert (bill.layout, bill.encoding, bill.rejected) == ("pdd-bill", "utf-8", ())
    assert amounts(bill) == {
        "260305-000000000001#L2": Decimal("39.90"),
        "260305-000000000001#L3": Decimal("3.00"),
        "260305-000000000001#L4": Decimal("-0.24"),
        "L5": Decimal("-500.00"),
    }
    assert list(categories(bill).values()) == ["sale", "subsidy", "commission", "withdrawal"]


def test_jd_settlement_detail_with_only_the_columns_it_needs(tmp_path: Path) -> None:
    # The shape without the optional columns (商品编号, 商户订单号, 钱包结算备注, ...):
    # the time falls back to 下单时间 when 费用计费时间 is absent.
    lines = [
        "订单编号,单据编号,费用项,金额,收支方向,下单时间",
        "300003,D3,货款,88.00,收入,2026-03-07 09:00:00",
        "300003,D3,佣金,7.04,支出,2026-03-07 09:00:00",
    ]
    bill = read_bill(write(tmp_path / "jd-min.csv", lines, "gbk"))
    assert (bill.layout, bill.rejected) == ("jd-settlement", ())
    assert amounts(bill) == {"D3#货款": Decimal("88.00"), "D3#佣金": Decimal("-7.04")}


def test_pdd_bill_with_the_plain_amount_headers_the_field_list_names(tmp_path: Path) -> None:
    # 收入金额 / 支出金额 as the Kuaimai field list names them (see the fixture README),
    # without the (+元)/(-元) unit; no 备注 column.
    lines = [
        "商户订单号,发生时间,收入金额,支出金额,账务类型,业务描述",
        "260305-000000000002,2026-03-05 11:00:00,19.90,,交易收入,订单收入",
        "260305-000000000002,2026-03-05 11:00:00,,-0.12,技术服务费,技术服务费",
    ]
    bill = read_bill(write(tmp_path / "pdd-plain.csv", lines, "utf-8-sig"))
    assert (bill.layout, bill.rejected) == ("pdd-bill", ())
    assert sorted(amounts(bill).values()) == [Decimal("-0.12"), Decimal("19.90")]


def test_douyin_fund_flow_with_the_unit_in_the_amount_header(tmp_path: Path) -> None:
    # 动账金额(元) as ERP vendors label the field; no 备注 or 商品ID columns.
    lines = [
        "动账时间,动账流水号,动账方向,动账账户,动账金额(元),动账摘要,订单号",
        "2026-03-12 08:00:00,F9,入账,聚合账户,66.00,订单结算,69009",
        "2026-03-13 08:00:00,F10,出账,聚合账户,66.00,提现,",
    ]
    bill = read_bill(write(tmp_path / "flow-yuan.csv", lines, "utf-8-sig"))
    assert (bill.layout, bill.rejected) == ("douyin-flow", ())
    assert amounts(bill) == {"F9": Decimal("66.00"), "F10": Decimal("-66.00")}


DOUYIN_FLOW = [
    "动账时间,动账流水号,动账方向,动账账户,动账金额,动账摘要,订单号,子订单号,下单时间,商品ID,"
    "业务类型,备注",
    "2026-03-12 08:00:00,F1,入账,聚合账户,88.00,订单结算,69001,69001-1,2026-03-05 10:00:00,"
    "3001,小店自卖,",
    "2026-03-12 08:00:00,F2,出账,聚合账户,4.40,达人带货佣金,69001,69001-1,2026-03-05 10:00:00,"
    "3001,精选联盟,",
    "2026-03-13 09:00:00,F3,出账,聚合账户,83.60,提现,,,,,,提现至银行卡",
]


def test_douyin_fund_flow_signed_by_direction(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "flow.csv", DOUYIN_FLOW, "utf-8-sig"))
    assert (bill.layout, bill.rejected) == ("douyin-flow", ())
    assert amounts(bill) == {
        "F1": Decimal("88.00"),
        "F2": Decimal("-4.40"),
        "F3": Decimal("-83.60"),
    }
    assert list(categories(bill).values()) == ["sale", "commission", "withdrawal"]


DOUYIN_SETTLEMENT = [
    "结算时间,结算单号,订单号,子订单号,商家实收,结算账户,结算单类型,下单时间,商品ID,业务类型,"
    "订单总价,结算前退款金额,平台补贴,达人补贴,抖音支付补贴,平台服务费,佣金,渠道分成,招商服务费,"
    "站外推广费,其他分成,备注",
    "2026-03-12 08:00:00,S1,69001,69001-1,88.00,聚合账户,已结算,2026-03-05 10:00:00,3001,"
    "小店自卖,90.00,0.00,5.00,0.00,0.00,2.50,4.50,0.00,0.00,0.00,0.00,",
    "2026-03-12 08:00:00,S2,69002,69002-1,50.00,聚合账户,已结算,2026-03-05 11:00:00,3002,"
    "小店自卖,52.00,0.00,0.00,0.00,0.00,1.00,0.00,0.00,0.00,0.00,0.00,",
    "2026-03-14 08:00:00,S3,69001,69001-1,-88.00,聚合账户,结算后退款-原路退回,"
    "2026-03-05 10:00:00,3001,小店自卖,90.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,",
]


def test_douyin_settlement_rows_add_up_to_what_the_shop_received(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "settle.csv", DOUYIN_SETTLEMENT, "utf-8-sig"))
    assert (bill.layout, bill.rejected) == ("douyin-settlement", ())
    by_row: dict[str, Decimal] = defaultdict(Decimal)
    for record in bill.records:
        by_row[record.record_id.split("#")[0]] += record.amount.amount
    assert dict(by_row) == {"S1": Decimal("88.00"), "S2": Decimal("50.00"), "S3": Decimal("-88.00")}
    assert categories(bill) == {
        "S1": "sale",
        "S1#平台补贴": "subsidy",
        "S1#平台服务费": "commission",
        "S1#佣金": "commission",
        "S2": "sale",
        "S2#平台服务费": "commission",
        "S2#rest": "adjustment",  # 52.00 - 1.00 is not 50.00: left for a person
        "S3": "refund",
    }


# --- bank statements ---------------------------------------------------------------

ICBC = [
    "明细查询文件下载",
    "",
    '卡号: 1234****9876,"卡别名: 门店收款"',
    "",
    "交易日期,摘要,交易详情,交易场所,交易国家或地区简称,钞/汇,交易金额(收入),交易金额(支出),"
    "交易币种,记账金额(收入),记账金额(支出),记账币种,余额,对方户名,对方账户",
    '2026-03-11     \t,"他行汇入    \t","  \t","  \t","CHN   \t",钞  \t,"-   \t","-   \t",'
    '-   \t,"1,164.01   \t","   \t",人民币   \t,"xx,yyyy.zz  \t",'
    '"财付通支付科技有限公司   \t","1234****9876  \t",',
    '2026-03-31     \t,"账户管理费    \t","  \t","  \t","CHN   \t",钞  \t,"-   \t","-   \t",'
    '-   \t,"   \t","15.00   \t",人民币   \t,"xx,yyyy.zz  \t","   \t","   \t",',
    " ",
    '人民币合计,,,,,,,,,"1,164.01   \t","15.00   \t",',
]


def test_a_bank_statement_with_a_preamble_padding_and_a_total_line(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "icbc.csv", ICBC, "gbk"))
    assert (bill.layout, bill.encoding, bill.rejected) == ("bank", "gbk", ())
    assert amounts(bill) == {"L6": Decimal("1164.01"), "L7": Decimal("-15.00")}
    assert list(categories(bill).values()) == ["credit", "bank_charge"]
    assert "财付通" in bill.records[0].memo


CORPORATE = [
    "账号:755900000000001,户名:某某茶业有限公司",
    "起始日期:20260301,终止日期:20260331",
    "交易日期,交易时间,交易流水号,借方金额,贷方金额,余额,摘要,对方户名,附言",
    "20260311,100215,B0001,,164.01,10164.01,网银入账,财付通支付科技有限公司,结算款",
    "20260320,090500,B0002,,1000.00,11164.01,汇入,支付宝（中国）网络技术有限公司,提现",
    "20260331,235959,B0003,15.00,,11149.01,收费,,账户管理费",
]


def test_a_corporate_statement_with_compact_dates_and_a_separate_time(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "cmb.csv", CORPORATE, "gbk"))
    assert (bill.layout, bill.rejected) == ("bank", ())
    first, _, charge = bill.records
    assert first.at == datetime(2026, 3, 11, 2, 2, 15, tzinfo=UTC)
    assert charge.at == datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC)
    assert (charge.kind, charge.category) == ("charge", "bank_charge")


# --- the chain, from files ------------------------------------------------------------


def test_bills_read_by_their_headers_settle_against_the_bank(tmp_path: Path) -> None:
    # the sale row alone, with the summary of that one row
    one_sale = [*WECHAT[:2], WECHAT[3], "`1,`165.00,`0.00,`0.00,`0.99000,`170.00,`0.00"]
    wechat = read_bill(write(tmp_path / "wx.csv", one_sale, "utf-8-sig"))
    bank = read_bill(write(tmp_path / "bank.csv", CORPORATE[:4], "gbk"))
    order = Record(
        "erp",
        "W1",
        "SO20260310000001",
        wechat.records[0].amount,
        datetime(2026, 3, 10, 4, 0, tzinfo=UTC),
        channel="wechatpay",
    )
    month = settle([order], {"wechatpay": wechat.inputs()}, bank.inputs())
    assert month.breaks() == []
    assert month.conservation()["balanced"] is True
    hops = {(o.hop, o.status, o.kind) for o in month.outcomes}
    assert ("channel_bank", "matched", None) in hops


# --- hostile input ---------------------------------------------------------------------


def test_a_header_no_layout_knows_is_refused_naming_the_columns_it_found(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mystery.csv", ["# export", "日期,金额,说明", "2026-03-01,1.00,x"], "utf-8"
    )
    with pytest.raises(UnknownBillLayout) as caught:
        read_bill(path)
    assert isinstance(caught.value, OrderkitError)
    assert caught.value.columns == ("日期", "金额", "说明")
    assert "mystery.csv" in str(caught.value) and "日期,金额,说明" in str(caught.value)


def test_a_layout_can_be_named_and_an_unknown_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "jd.csv", JD, "gbk")
    assert read_bill(path, layout="jd-settlement").layout == "jd-settlement"
    with pytest.raises(ValidationError) as caught:
        read_bill(path, layout="taobao")
    assert caught.value.path == "layout" and caught.value.value == "taobao"
    assert {layout.name for layout in LAYOUTS} >= {"wechatpay", "bank", "douyin-flow"}


def test_an_unknown_source_zone_or_encoding_is_refused_before_any_row_is_read(
    tmp_path: Path,
) -> None:
    bank = write(tmp_path / "bank.csv", CORPORATE[:4], "gbk")
    erp = write(tmp_path / "erp.csv", ["record_id,ref,amount,at", "E1,R1,1.00,2026-03-01"], "utf-8")
    refused = [
        (lambda: read_bill(bank, source_tz="Nope/Nope"), "source_tz", "Nope/Nope"),
        (lambda: read_erp_csv(erp, source_tz="Nope/Nope"), "source_tz", "Nope/Nope"),
        (lambda: read_bill(bank, encoding="base64"), "encoding", "base64"),
        (lambda: list(read_erp_csv(erp, encoding="latin-9x")), "encoding", "latin-9x"),
    ]
    for call, path, value in refused:
        with pytest.raises(ValidationError) as caught:
            call()
        assert (caught.value.path, caught.value.value) == (path, value)
    # UTF-16 asked for, a file without its byte-order mark: the file and encoding named
    for call in (lambda: read_bill(erp, encoding="utf-16"),
                 lambda: list(read_erp_csv(erp, encoding="utf-16"))):  # fmt: skip
        with pytest.raises(ValidationError, match=r"erp\.csv is not utf-16 text"):
            call()


def test_a_stray_quote_a_misplaced_comma_and_a_cut_off_line_are_reported(tmp_path: Path) -> None:
    lines = [
        *JD[:2],
        JD[2].replace(",,10001", ',"货款 SO2026,10001'),
        JD[3].replace(",2.00,", ',"2,00",'),
    ]
    path = tmp_path / "jd.csv"
    path.write_bytes(("\n".join([*lines, JD[4]])).encode("gbk"))  # no line break at the end
    bill = read_bill(path)
    assert [r.record_id for r in bill.records] == ["D1#货款"]
    quote, comma, cut = bill.rejected
    assert (quote.line, "quote" in quote.reason) == (3, True)
    assert (comma.line, comma.column, comma.value) == (4, "金额", "2,00")
    assert (cut.line, "truncated" in cut.reason) == (5, True)


def test_bytes_that_are_neither_utf8_nor_gbk_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes("\n".join(JD[:2]).encode("gbk") + b"\n300003,D3,\x80\xff\n")
    with pytest.raises(ValidationError) as caught:
        read_bill(path)
    assert caught.value.path == "encoding" and "gbk" in str(caught.value)


def test_a_bank_statement_whose_only_date_column_is_a_date_time_is_read(
    tmp_path: Path,
) -> None:
    lines = [
        "交易流水号,交易时间,贷方金额,借方金额,摘要",
        "CMB1,2026-02-17 09:30:00,170.00,,货款 SO20260216000892",
        "CMB2,2026-02-17 10:05:00,,12.00,账户管理费",
    ]
    bill = read_bill(write(tmp_path / "bank.csv", lines, "gbk"))
    assert (bill.layout, bill.encoding, bill.rejected) == ("bank", "gbk", ())
    assert [(r.record_id, r.at, r.kind) for r in bill.records] == [
        ("CMB1", datetime(2026, 2, 17, 1, 30, tzinfo=UTC), "sale"),
        ("CMB2", datetime(2026, 2, 17, 2, 5, tzinfo=UTC), "charge"),
    ]



# --- joined downloads: nothing after a total or a summary is dropped ------------------


def test_two_bank_statements_joined_into_one_file_are_read_whole(tmp_path: Path) -> None:
    # finance joins the 1-15 and the 16-31 downloads: the second preamble, header and rows
    # after the first 人民币合计 are a second table, not the end of the file
    second_half = [line.replace("2026-03-11", "2026-03-20") for line in ICBC]
    bill = read_bill(write(tmp_path / "icbc.csv", [*ICBC, *second_half], "gbk"))
    assert bill.rejected == ()
    assert amounts(bill) == {
        "L6": Decimal("1164.01"),
        "L7": Decimal("-15.00"),
        "L15": Decimal("1164.01"),
        "L16": Decimal("-15.00"),
    }


def test_a_bank_row_after_the_total_line_is_read_as_a_row(tmp_path: Path) -> None:
    stray = ICBC[5].replace("2026-03-11", "2026-03-28").replace("1,164.01", "888.00")
    bill = read_bill(write(tmp_path / "icbc.csv", [*ICBC, stray], "gbk"))
    assert bill.rejected == ()
    assert amounts(bill) == {
        "L6": Decimal("1164.01"),
        "L7": Decimal("-15.00"),
        "L10": Decimal("888.00"),
    }


def test_two_wechat_bills_joined_are_read_whole_and_each_summary_checked(
    tmp_path: Path,
) -> None:
    second = [line.replace("4200001001", "4200001101") for line in WECHAT]
    second[-1] = second[-1].replace("`2,", "`3,")  # its summary counts a row it lacks
    bill = read_bill(write(tmp_path / "wx.csv", [*WECHAT, *second], "utf-8"))
    assert sorted({r.record_id.split("#")[0] for r in bill.records}) == [
        "4200001001",
        "4200001101",
        "50000001",
    ]
    assert sum(1 for r in bill.records if r.category == "refund") == 2
    (summary,) = bill.rejected
    assert summary.line == 10
    assert "总交易单数 counts 3 rows, the file holds 2" in summary.reason


def test_a_wechat_row_after_the_summary_block_is_read_and_the_file_is_not_clean(
    tmp_path: Path,
) -> None:
    late = WECHAT[1].replace("4200001001", "4200001201")
    bill = read_bill(write(tmp_path / "wx.csv", [*WECHAT, late], "utf-8"))
    assert "4200001201" in amounts(bill)
    # the summary before it holds, but the row has no summary of its own after it
    (cut,) = bill.rejected
    assert cut.line == 7 and "summary block" in cut.reason


def test_two_alipay_statements_joined_are_read_whole(tmp_path: Path) -> None:
    second = [line.replace("31000", "32000") for line in ALIPAY_ACCOUNT]
    second[-1] = second[-1].replace("3笔", "4笔")
    bill = read_bill(write(tmp_path / "ali.csv", [*ALIPAY_ACCOUNT, *second], "gbk"))
    assert len(bill.records) == 8
    assert {r.record_id for r in bill.records} >= {"310001", "320004"}
    (summary,) = bill.rejected
    assert summary.line == 24 and "支出合计 counts 4 rows" in summary.reason


def test_an_alipay_row_after_the_summary_lines_is_read_and_the_file_is_not_clean(
    tmp_path: Path,
) -> None:
    late = ALIPAY_ACCOUNT[5].replace("310001", "310009")
    bill = read_bill(write(tmp_path / "ali.csv", [*ALIPAY_ACCOUNT, late], "gbk"))
    assert "310009" in amounts(bill)
    (cut,) = bill.rejected
    assert cut.line == 14 and "truncated" in cut.reason


# --- bank charges: only the bank's own -------------------------------------------------

#: A corporate statement with 用途 and the counterparty's name, as ICBC's 企业网银 gives it.
PAYMENTS = [
    "交易日期,交易流水号,摘要,用途,借方金额,贷方金额,对方户名",
    "2026-03-20,P1,网银转账,3月代运营服务费,20000.00,,杭州某某电商代运营有限公司",
    "2026-03-26,P2,网银转账,3月物业管理费,3600.00,,某某物业管理有限公司",
    "2026-03-27,P3,网银转账,货款,1000.00,,Recharge Trading Ltd",
    "2026-03-28,P4,转账,手续费,300.00,,杭州某某电商代运营有限公司",
    "2026-03-31,P5,收费,账户管理费,15.00,,",
    "2026-03-31,P6,手续费,,0.50,,中国工商银行股份有限公司杭州分行",
    "2026-03-31,P7,Bank charge,,2.00,,",
]


def test_only_the_banks_own_charges_are_bank_charges(tmp_path: Path) -> None:
    bill = read_bill(write(tmp_path / "bank.csv", PAYMENTS, "gbk"))
    assert bill.rejected == ()
    assert categories(bill) == {
        # payments to other parties, whatever their memo says: debits nobody explains
        "P1": "debit",
        "P2": "debit",
        "P3": "debit",
        "P4": "debit",
        # no counterparty, or the bank itself, and the bank's word for a charge
        "P5": "bank_charge",
        "P6": "bank_charge",
        "P7": "bank_charge",
    }


def test_a_bank_csv_charge_is_a_whole_word_and_has_no_other_party(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bank.csv",
        [
            "id,date,amount,memo,payee",
            "B1,2026-03-27,-1000.00,Recharge Trading,",
            "B2,2026-03-28,-20000.00,3月代运营服务费,",
            "B3,2026-03-29,-300.00,手续费,某某代运营有限公司",
            "B4,2026-03-31,-2.00,Bank charge,",
            "B5,2026-03-31,-15.00,账户管理费,",
        ],
        "utf-8",
    )
    columns = BankColumns(record_id="id", counterparty="payee")
    records = [r for r in read_bank_csv(path, columns=columns) if isinstance(r, Record)]
    assert [(r.record_id, r.kind) for r in records] == [
        ("B1", "refund"),
        ("B2", "refund"),
        ("B3", "refund"),
        ("B4", "charge"),
        ("B5", "charge"),
    ]


# --- Alipay: money paid out under a payment type ---------------------------------------


def test_an_alipay_expense_paid_online_is_not_a_sale(tmp_path: Path) -> None:
    # the shop pays for 直通车 ads from its Alipay balance: 业务类型 在线支付, money out
    ads = (
        "310005\t,2026031122001400077\t,\t,直通车充值\t,2026-03-11 09:00:00\t,阿里妈妈\t,\t,"
        "-1000.00\t,256.00\t,支付宝\t,在线支付\t,直通车充值\t"
    )
    lines = [*ALIPAY_ACCOUNT[:6], ads, *ALIPAY_ACCOUNT[9:]]
    lines[-2], lines[-1] = "#收入合计：1笔，共256.00元", "#支出合计：1笔，共1000.00元"
    bill = read_bill(write(tmp_path / "ali.csv", lines, "gbk"))
    assert bill.rejected == ()
    assert categories(bill) == {"310001": "sale", "310005": "adjustment"}
    sales = sum(r.amount.amount for r in bill.records if r.category == "sale")
    assert sales == Decimal("256.00")
    # the same in the Qianniu export (账务类型 交易付款, money out)
    assert alipay_category("交易付款", "", Decimal("-99.00")) == "adjustment"
    assert alipay_category("交易付款", "", Decimal("99.00")) == "sale"


# --- a file in the wrong slot, ids Excel damaged ---------------------------------------


def test_a_bill_read_for_another_channel_is_refused_saying_what_it_looks_like(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "wx.csv", WECHAT, "utf-8")
    for channel in ("alipay", "bank"):
        with pytest.raises(ValidationError) as caught:
            read_bill(path, source=channel)
        assert caught.value.path == "layout" and caught.value.value == "wechatpay"
        assert "wx.csv looks like a WeChat Pay merchant trade bill" in str(caught.value)
        assert f"not a file for {channel!r}" in str(caught.value)
    # a channel of the host's own naming reads any layout, as before
    assert read_bill(path, source="mini-program").layout == "wechatpay"
    assert read_bill(path, source="wechatpay").records


def test_ids_excel_turned_into_scientific_notation_are_rejected_saying_so(
    tmp_path: Path,
) -> None:
    damaged = WECHAT[1].replace("`4200001001,", "4.20000E+09,")
    bill = read_bill(write(tmp_path / "wx.csv", [WECHAT[0], damaged, *WECHAT[2:]], "utf-8"))
    (rejected,) = bill.rejected
    assert (rejected.line, rejected.column, rejected.value) == (2, "微信订单号", "4.20000E+09")
    assert "Excel" in rejected.reason and "scientific notation" in rejected.reason
    assert [r.record_id for r in bill.records if r.kind == "refund"] == ["50000001"]


def test_a_pos_export_is_known_by_its_header(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pos.csv",
        [
            "receipt_no,order_ref,amount,paid_at,payment_method,store,note",
            "S1-0001,SO1,89.00,2026-03-30 14:00:00,cash,S1,",
        ],
        "utf-8-sig",
    )
    bill = read_bill(path, source_tz="UTC")
    assert bill.layout == "pos"
    (receipt,) = bill.records
    assert (receipt.source, receipt.channel) == ("pos", "pos.cash.S1")
    assert receipt.at == datetime(2026, 3, 30, 14, tzinfo=UTC)  # the till's own zone
