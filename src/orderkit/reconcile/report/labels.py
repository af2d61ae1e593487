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
