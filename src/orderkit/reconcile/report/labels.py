"""The reports' labels in English and Chinese: headings, table heads and CSV columns.

:func:`labels` gives the table for a language (``"en"``, the default, or ``"zh"``).
Only the writer's own words are translated; values from the input, statuses and kinds
(``unmatched``, ``platform_fee``) are codes that a program may filter on and are written
as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from orderkit.model.errors import ValidationError

__all__ = ["LANGS", "labels"]

_EN: Final = {
    "title": "Reconciliation report",
    "header": "records dated {span} ({tz}); accounting period: {period};"
    " cut-off {cutoff} ({tz}); time window {window}",
    "none": "none",
    "files": "files: {files}",
    "summary": "Summary",
    "summary_line": "{left} (left) against {right} (right); match rate {match},"
    " paired {paired}; amounts in {amount_in}, accounted for {accounted} ({balanced}).",
    "balanced": "balanced",
    "not_balanced": "NOT balanced",
    "matrix": "Cross-system matrix",
    "differences": "Differences by kind",
    "versus": "{left} vs {right}",
    "suggestions": "suggestions to confirm ({count})",
    "rejected_lines": "rejected input lines ({count})",
    "more": "{count} more rows are in the JSON and CSV reports.",
    "difference_kind": "difference kind",
    "left_amount": "left amount",
    "right_amount": "right amount",
    "difference": "difference",
    "outcomes": "outcomes",
    "records": "records",
    "row": "row",
    "file": "file",
    "line": "line",
    "value": "value",
    "reason": "reason",
    "left": "left",
    "right": "right",
    # The CSV report's columns (and HTML table heads of the same name).
    "outcome": "outcome",
    "pair": "pair",
    "status": "status",
    "kind": "kind",
    "rule": "rule",
    "side": "side",
    "source": "source",
    "record_id": "record_id",
    "ref": "ref",
    "amount": "amount",
    "currency": "currency",
    "at": "at",
    "record_kind": "record_kind",
    "memo": "memo",
    "evidence": "evidence",
    "trace": "trace",
    "column": "column",
    # The settlement report (orderkit.reconcile.report.settlement_html) and its CSV/xlsx.
    "settle_title": "Settlement report",
    "hops_summary": "Hops",
    "hop": "hop",
    "channel": "channel",
    "state": "state",
    "matched": "matched",
    "explained": "explained",
    "pending": "pending",
    "breaks": "breaks",
    "left_total": "left total",
    "right_total": "right total",
    "orders": "orders",
    "more_orders": "and {count} more",
    "hop_order_bill": "order → {channel} bill",
    "hop_bill_payout": "{channel} bill → payout",
    "hop_payout_bank": "{channel} payout → bank credit",
    "hop_order_bank": "order → bank (paid directly)",
    "hop_bank_only": "bank lines no payout or order explains",
    "side_erp": "ERP",
    "side_bill": "{channel} bill",
    "side_transactions": "{channel} transactions",
    "side_payout": "payout",
    "side_bank": "bank",
    "side_records": "{side}: records",
    "side_amount": "{side}: amount",
    "no_rows": "nothing in this hop",
    "settle_balance": "inputs: {inputs}; {records_accounted} of {records_in} records"
    " accounted for ({balanced}); {breaks} rows need a person.",
    "input_erp": "ERP",
    "input_bill": "{channel} bill",
    "input_bank": "bank",
    "input_opening": "last month's payouts in transit",
    "input_record": "{count} record",
    "input_records": "{count} records",
    "not_shown": "{count} matched rows are counted above and listed in the CSV and xlsx"
    " reports.",
    "carried": "Carried balances",
    "carried_amount": "carried",
    "carried_note": "What each channel still holds at the end: explained, not a break"
    " (money not withdrawn yet; refunds a channel takes from its next payout).",
    "carried_none": "No channel carries a balance.",
    "period": "period",
    "zone": "time zone",
    "cutoff": "cut-off",
    "span": "records dated",
    "files_label": "source files",
    "sheet_summary": "summary",
    "sheet_order_bill": "order→bill",
    "sheet_bill_payout": "bill→payout",
    "sheet_payout_bank": "payout→bank",
    "sheet_order_bank": "order→bank",
    "sheet_bank_only": "bank only",
}

_ZH: Final = {
    "title": "对账报告",
    "header": "记录日期 {span}（{tz}）；会计期间：{period}；截止时间 {cutoff}（{tz}）；"
    "时间窗口 {window}",
    "none": "无",
    "files": "文件：{files}",
    "summary": "汇总",
    "summary_line": "{left}（左）对 {right}（右）；匹配率 {match}，配对率 {paired}；"
    "输入金额 {amount_in}，已归类金额 {accounted}（{balanced}）。",
    "balanced": "平衡",
    "not_balanced": "不平衡",
    "matrix": "跨系统对照表",
    "differences": "差异明细（按类型）",
    "versus": "{left} 对 {right}",
    "suggestions": "待确认的建议匹配（{count}）",
    "rejected_lines": "被拒绝的输入行（{count}）",
    "more": "另有 {count} 行见 JSON 和 CSV 报告。",
    "difference_kind": "差异类型",
    "left_amount": "左方金额",
    "right_amount": "右方金额",
    "difference": "差额",
    "outcomes": "结果数",
    "records": "记录数",
    "row": "行",
    "file": "文件",
    "line": "行号",
    "value": "值",
    "reason": "原因",
    "left": "左方",
    "right": "右方",
    "outcome": "结果序号",
    "pair": "对账方",
    "status": "状态",
    "kind": "差异类型",
    "rule": "规则",
    "side": "方向",
    "source": "来源",
    "record_id": "记录号",
    "ref": "订单号",
    "amount": "金额",
    "currency": "币种",
    "at": "时间",
    "record_kind": "记录类型",
    "memo": "摘要",
    "evidence": "依据",
    "trace": "轨迹",
    "column": "列",
    "settle_title": "结算对账报告",
    "hops_summary": "各环节汇总",
    "hop": "环节",
    "channel": "渠道",
    "state": "归类",
    "matched": "已匹配",
    "explained": "已说明差异",
    "pending": "未到期",
    "breaks": "待处理",
    "left_total": "左方合计",
    "right_total": "右方合计",
    "orders": "订单",
    "more_orders": "另 {count} 个",
    "hop_order_bill": "订单 → {channel} 账单",
    "hop_bill_payout": "{channel} 账单 → 结算款",
    "hop_payout_bank": "{channel} 结算款 → 银行入账",
    "hop_order_bank": "订单 → 银行（直接付款）",
    "hop_bank_only": "无对应结算款或订单的银行流水",
    "side_erp": "ERP 订单",
    "side_bill": "{channel} 账单",
    "side_transactions": "{channel} 交易",
    "side_payout": "结算款",
    "side_bank": "银行",
    "side_records": "{side}：记录",
    "side_amount": "{side}：金额",
    "no_rows": "本环节无记录",
    "settle_balance": "输入：{inputs}；{records_in} 条记录中已归类 {records_accounted} 条"
    "（{balanced}）；{breaks} 行待处理。",
    "input_erp": "ERP 订单",
    "input_bill": "{channel} 账单",
    "input_bank": "银行",
    "input_opening": "上月在途结算款",
    "input_record": "{count} 条记录",
    "input_records": "{count} 条记录",
    "not_shown": "另有 {count} 行已匹配，计入上方数量，明细见 CSV 和 xlsx 报告。",
    "carried": "渠道结余",
    "carried_amount": "结余",
    "carried_note": "期末仍留在各渠道余额中的金额：已说明，不算待处理"
    "（尚未提现的余额；渠道将从下次结算款中扣回的退款）。",
    "carried_none": "没有渠道留有结余。",
    "period": "会计期间",
    "zone": "时区",
    "cutoff": "截止时间",
    "span": "记录日期",
    "files_label": "源文件",
    "sheet_summary": "汇总",
    "sheet_order_bill": "订单→账单",
    "sheet_bill_payout": "账单→结算款",
    "sheet_payout_bank": "结算款→银行",
    "sheet_order_bank": "订单→银行",
    "sheet_bank_only": "仅银行流水",
}

#: The languages the reports are written in.
LANGS: Final = ("en", "zh")
_TABLES: Final = {"en": MappingProxyType(_EN), "zh": MappingProxyType(_ZH)}


def labels(lang: str = "en") -> Mapping[str, str]:
    """The label table for ``lang`` (``"en"`` or ``"zh"``).

    >>> labels("zh")["title"], labels()["title"]
    ('对账报告', 'Reconciliation report')
    """
    try:
        return _TABLES[lang]
    except KeyError:
        raise ValidationError("lang", lang, f"expected one of {', '.join(LANGS)}") from None
