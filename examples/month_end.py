"""Month-end reconciliation: ERP export against the WeChat Pay bill and the bank statement.

Usage: ``python examples/month_end.py ERP_CSV WECHATPAY_BILL BANK_CSV OUT_DIR``

The bank statement is read with its own headers (交易流水号, 交易时间, 贷方金额, 借方金额,
摘要) and ``YYYY/MM/DD HH:MM`` times. The script reconciles the ERP against both sources,
prints the difference summary per source and any daily difference alert, and writes
``report.html``, ``report.json`` and ``report.csv`` into ``OUT_DIR``. It exits 1 when any
outcome needs a person (``needs_a_person``: an unmatched record, a suggestion, a rejected
line, or a difference the records do not explain), the rule of ``orderkit reconcile``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from orderkit.alerts import Alert
from orderkit.money import Money
from orderkit.reconcile import needs_a_person, reconcile_many
from orderkit.reconcile.alerting import alert_differences
from orderkit.reconcile.readers import BankColumns, read_bank_csv, read_erp_csv, read_wechatpay_bill
from orderkit.reconcile.report import write_csv, write_html, write_json

BANK_COLUMNS = BankColumns(
    record_id="交易流水号",
    at="交易时间",
    amount=None,
    credit="贷方金额",
    debit="借方金额",
    memo="摘要",
)


class PrintNotifier:
    """Prints alerts; a real host would post them to chat or open a ticket."""

    def notify(self, alert: Alert) -> None:
        print(f"ALERT {alert.subject}: {alert.message}")


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    erp_path, wechat_path, bank_path, out_dir = (Path(a) for a in argv)
    result = reconcile_many(
        {
            "erp": read_erp_csv(erp_path),
            "wechatpay": read_wechatpay_bill(wechat_path),
            "bank": read_bank_csv(bank_path, columns=BANK_COLUMNS, date_format="%Y/%m/%d %H:%M"),
        }
    )
    breaks = 0
    for name, pair in result.pairs.items():
        summary = pair.summary()
        print(f"erp vs {name}: match rate {summary['match_rate']:.0%}")
        for kind, body in summary["by_kind"].items():  # type: ignore[attr-defined]
            print(f"  {kind:<18} {body['outcomes']:>3}  difference {body['difference']}")
        rejected = summary["records"]["rejected"]  # type: ignore[index]
        if rejected:
            print(f"  rejected lines     {rejected:>3}")
        need = sum(1 for outcome in pair.outcomes if needs_a_person(outcome))
        if need:
            print(f"  need a person      {need:>3}")
            breaks += need
        alert_differences(pair, PrintNotifier(), threshold=Money("100.00", "CNY"))
    out_dir.mkdir(parents=True, exist_ok=True)
    for writer, name in (
        (write_html, "report.html"),
        (write_json, "report.json"),
        (write_csv, "report.csv"),
    ):
        writer(result, out_dir / name)
    print(f"reports written to {out_dir}")
    return 1 if breaks else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
