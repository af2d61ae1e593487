"""The command line follows the chain: ``orderkit settle`` and ``reconcile --format auto``.

Each test writes the files finance downloads (a WeChat Pay bill in UTF-8 with a BOM and
CRLF, a corporate bank statement in GBK with its preamble, the canonical ERP export) and
runs the ``orderkit`` console script on them as a separate process.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from orderkit.cli import EXIT_FILE, EXIT_OK, EXIT_REFUSED

ORDERKIT = Path(sys.executable).parent / "orderkit"

WECHAT = [
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
    "费率备注",
    "`2026-03-10 12:00:00,`wx1,`1900000001,`,`,`4200001001,`SO20260310000001,`o1,`JSAPI,"
    "`SUCCESS,`CFT,`CNY,`165.00,`5.00,`0,`0,`0.00,`0.00,`,`,`红茶,`,`0.99000,`0.60%,"
    "`170.00,`0.00,`",
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
    "`1,`165.00,`0.00,`0.00,`0.99000,`170.00,`0.00",
]
#: WeChat Pay pays the 10th out on the 11th: 170.00 - 5.00 coupon - 0.99 fee.
BANK = [
    "账号:755900000000001,户名:某某茶业有限公司",
    "起始日期:20260301,终止日期:20260331",
    "交易日期,交易时间,交易流水号,借方金额,贷方金额,余额,摘要,对方户名,附言",
    "20260311,100215,B0001,,164.01,10164.01,网银入账,财付通支付科技有限公司,结算款",
]
ERP_HEADER = "record_id,ref,amount,at,channel"
PAID = "W1,SO20260310000001,170.00,2026-03-10T12:00:00+08:00,wechatpay"
UNPAID = "W2,SO20260310000002,58.00,2026-03-10T13:00:00+08:00,wechatpay"


def write(path: Path, lines: list[str], encoding: str, newline: str = "\n") -> Path:
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def files(tmp_path: Path, *orders: str) -> tuple[Path, Path, Path]:
    erp = write(tmp_path / "erp-2026-03.csv", [ERP_HEADER, *orders], "utf-8")
    wechat = write(tmp_path / "wechat-2026-03.csv", WECHAT, "utf-8-sig", "\r\n")
    bank = write(tmp_path / "bank-2026-03.csv", BANK, "gbk")
    return erp, wechat, bank


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORDERKIT), *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=120,
    )


def test_settle_follows_a_wechat_order_to_the_bank_and_exits_0(tmp_path: Path) -> None:
    erp, wechat, bank = files(tmp_path, PAID)
    html, report = tmp_path / "report.html", tmp_path / "report.json"
    done = run(
        "settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
        "--tz", "Asia/Shanghai", "--out", html, "--out", report,
    )  # fmt: skip
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout == ""
    assert "wechat-2026-03.csv as wechatpay (utf-8-sig)" in done.stderr
    assert "bank-2026-03.csv as bank (gbk)" in done.stderr
    assert "balanced" in done.stderr and "NOT balanced" not in done.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert set(data["pairs"]) == {"wechatpay", "bank"}
    bank_pair = data["pairs"]["bank"]
    assert [(o["status"], o["right"][0]["record_id"]) for o in bank_pair] == [("matched", "B0001")]
    assert bank_pair[0]["left"][0]["amount"] == "164.01"
    page = html.read_text(encoding="utf-8")
    assert "erp-2026-03.csv, wechat-2026-03.csv, bank-2026-03.csv" in page
    # The page shows the derived payout to the fen under its own hop, not under "erp".
    assert "wechatpay payout → bank credit" in page
    assert "CNY 164.01<" in page and "164.01000" not in page


def test_settle_exits_1_when_an_order_never_reached_its_channel(tmp_path: Path) -> None:
    erp, wechat, bank = files(tmp_path, PAID, UNPAID)
    table = tmp_path / "report.csv"
    done = run(
        "settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
        "--out", table, "--lang", "zh",
    )  # fmt: skip
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert "1 outcomes need a person" in done.stderr
    with table.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(row["记录号"], row["状态"]) for row in rows if row["状态"] == "unmatched"} == {
        ("W2", "unmatched")
    }
    (missing,) = [row for row in rows if row["状态"] == "unmatched"]
    assert (missing["渠道"], missing["环节"]) == ("wechatpay", "order_bill")
    assert missing["归类"] == "break"


def test_settle_refuses_a_missing_file_and_a_bill_without_a_channel(tmp_path: Path) -> None:
    erp, wechat, bank = files(tmp_path, PAID)
    out = tmp_path / "r.html"
    missing = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}",
                  "--bank", tmp_path / "nope.csv", "--out", out)  # fmt: skip
    assert missing.returncode == EXIT_FILE, missing.stderr
    unnamed = run("settle", "--erp", erp, "--bill", str(wechat), "--bank", bank, "--out", out)
    assert unnamed.returncode == EXIT_REFUSED, unnamed.stderr
    assert "CHANNEL=FILE" in unnamed.stderr
    assert not out.exists()


def test_settle_refuses_a_channel_bill_given_as_the_bank_statement(tmp_path: Path) -> None:
    erp, wechat, _bank = files(tmp_path, PAID)
    out = tmp_path / "r.html"
    done = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", wechat,
               "--out", out)  # fmt: skip
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert "looks like a WeChat Pay merchant trade bill" in done.stderr
    assert "not a file for 'bank'" in done.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("--erp-encoding", "latin-9x"), ("--erp-encoding:", "unknown text encoding")),
        (("--source-tz", "Nope/Nope"), ("--source-tz:", "'Nope/Nope'")),
        (("--erp-encoding", "utf-16"), ("encoding:", "erp-2026-03.csv is not utf-16 text")),
    ],
)
def test_settle_refuses_a_bad_encoding_or_source_zone_in_one_line(
    tmp_path: Path, extra: tuple[str, ...], words: tuple[str, ...]
) -> None:
    erp, wechat, bank = files(tmp_path, PAID)
    out = tmp_path / "r.json"
    done = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
               "--out", out, *extra)  # fmt: skip
    assert done.returncode == EXIT_REFUSED, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("orderkit: ValidationError: ")
    assert all(word in line for word in words), line
    assert not out.exists()


def test_settle_refuses_payout_terms_for_a_channel_without_a_bill(tmp_path: Path) -> None:
    erp, wechat, bank = files(tmp_path, PAID)
    out = tmp_path / "r.json"
    done = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
               "--payout", "wechatpy=T+3", "--out", out)  # fmt: skip
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert done.stderr.splitlines() == [
        "orderkit: ValidationError: --payout: no --bill names channel 'wechatpy'"
        " (channels with a bill: wechatpay) (got 'wechatpy=T+3')"
    ]
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["erp", "auto"])
def test_reconcile_names_the_file_and_encoding_a_file_does_not_decode_in(
    tmp_path: Path, fmt: str
) -> None:
    erp, wechat, _bank = files(tmp_path, PAID)
    done = run("reconcile", "--left", erp, "--left-format", fmt, "--left-encoding", "utf-16",
               "--right", wechat, "--right-format", "wechatpay",
               "--out", tmp_path / "r.json")  # fmt: skip
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "orderkit: ValidationError: encoding: erp-2026-03.csv is not utf-16 text"
        " (UTF-16 stream does not start with BOM) (got 'utf-16')"
    )


def test_reconcile_format_auto_reads_each_file_by_its_header(tmp_path: Path) -> None:
    erp, wechat, _bank = files(tmp_path, PAID)
    report = tmp_path / "report.json"
    done = run("reconcile", "--format", "auto", "--left", erp, "--right", wechat,
               "--out", report)  # fmt: skip
    assert done.returncode == EXIT_OK, done.stderr
    assert "erp-2026-03.csv as the ERP export" in done.stderr
    assert "wechat-2026-03.csv as wechatpay (utf-8-sig): 3 records" in done.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    sources = {r["source"] for o in data["outcomes"] for r in o["right"]}
    assert sources == {"wechatpay"}
    assert {o["status"] for o in data["outcomes"]} <= {"matched", "difference"}


def test_reconcile_format_auto_refuses_a_file_no_layout_knows(tmp_path: Path) -> None:
    erp, _wechat, _bank = files(tmp_path, PAID)
    mystery = write(tmp_path / "mystery.csv", ["日期,金额,说明", "2026-03-01,1.00,x"], "utf-8")
    done = run("reconcile", "--format", "auto", "--left", erp, "--right", mystery,
               "--out", tmp_path / "r.json")  # fmt: skip
    assert done.returncode == EXIT_REFUSED
    assert "mystery.csv: no known bill layout" in done.stderr


def test_source_tz_applies_to_a_bank_statement_read_by_its_header_or_as_bank(
    tmp_path: Path,
) -> None:
    # A London shop: its ERP and its bank both write London time without a zone. The
    # bank credit at 01:00 on 1 April pays the order of 00:30 that day; read as Beijing
    # time it would fall on 31 March and be reported in the wrong period.
    erp = write(
        tmp_path / "erp.csv",
        ["record_id,ref,amount,at,currency", "E1,SO20260401000001,100.00,2026-04-01 00:30:00,CNY"],
        "utf-8",
    )
    bank = write(
        tmp_path / "bank.csv",
        ["交易日期,交易时间,交易流水号,贷方金额,借方金额,摘要",
         "20260401,010000,BK1,100.00,,SO20260401000001"],
        "utf-8",
    )  # fmt: skip
    london = ("--source-tz", "Europe/London", "--tz", "Europe/London")
    for formats in (("--format", "auto"), ("--left-format", "erp", "--right-format", "bank")):
        report = tmp_path / "r.json"
        done = run("reconcile", "--left", erp, "--right", bank, *formats, *london, "--out", report)
        assert done.returncode == EXIT_OK, done.stderr
        (outcome,) = json.loads(report.read_text(encoding="utf-8"))["outcomes"]
        assert outcome["status"] == "matched", formats
        assert outcome["right"][0]["at"] == "2026-04-01T00:00:00+00:00"
    report = tmp_path / "s.json"
    done = run("settle", "--erp", erp, "--bank", bank, *london, "--out", report)
    assert done.returncode == EXIT_OK, done.stderr
    (outcome,) = json.loads(report.read_text(encoding="utf-8"))["pairs"]["bank"]
    assert outcome["right"][0]["at"] == "2026-04-01T00:00:00+00:00"


def test_a_bank_statement_dated_by_one_date_time_column_is_read_by_settle(
    tmp_path: Path,
) -> None:
    # The project's own statement (tests/fixtures/reconcile/bank_2026-02.csv): 交易时间
    # holds the date and the time, and there is no 交易日期 column.
    fixtures = Path(__file__).parents[2] / "fixtures" / "reconcile"
    erp, bill = fixtures / "erp_2026-02-16.csv", fixtures / "wechatpay_20260216.csv"
    bank = fixtures / "bank_2026-02.csv"
    by_header, by_columns = tmp_path / "a.json", tmp_path / "b.json"
    done = run("settle", "--erp", erp, "--bill", f"wechatpay={bill}", "--bank", bank,
               "--out", by_header)  # fmt: skip
    assert "bank_2026-02.csv as bank (utf-8): 4 records, 1 rejected lines" in done.stderr
    assert done.returncode == EXIT_REFUSED and "balanced" in done.stderr, done.stderr
    columns = "record_id=交易流水号,at=交易时间,credit=贷方金额,debit=借方金额,memo=摘要"
    done = run("settle", "--erp", erp, "--bill", f"wechatpay={bill}", "--bank", bank,
               "--bank-columns", columns, "--date-format", "%Y/%m/%d %H:%M",
               "--out", by_columns)  # fmt: skip
    assert done.returncode == EXIT_REFUSED and "balanced" in done.stderr, done.stderr

    def bank_ids(report: Path) -> set[tuple[str, str]]:
        outcomes = json.loads(report.read_text(encoding="utf-8"))["pairs"]["bank"]
        return {(r["record_id"], r["at"]) for o in outcomes for r in o["right"]}

    assert ("CMB202602170001", "2026-02-17T01:30:00+00:00") in bank_ids(by_header)
    assert bank_ids(by_header) == bank_ids(by_columns)


def test_every_file_gets_its_encoding_detected_the_erp_export_and_a_bank_as_bank(
    tmp_path: Path,
) -> None:
    erp = write(tmp_path / "erp.csv", [ERP_HEADER, PAID.replace("wechatpay", "银行")], "gbk")
    bank = write(tmp_path / "bank.csv", BANK, "gbk")
    for formats in (("--format", "auto"), ("--left-format", "erp", "--right-format", "bank")):
        report = tmp_path / "r.json"
        done = run("reconcile", "--left", erp, "--right", bank, *formats, "--out", report)
        assert done.returncode in (EXIT_OK, EXIT_REFUSED), done.stderr
        data = json.loads(report.read_text(encoding="utf-8"))
        records = [r for o in data["outcomes"] for r in o["left"] + o["right"]]
        assert {r["record_id"] for r in records} >= {"W1", "B0001"}, formats


def test_settle_reads_a_compact_cutoff_date_in_the_accounting_zone(tmp_path: Path) -> None:
    # Finance types the date as the bank statement writes it: 20260401 is 1 April,
    # midnight in the accounting zone, never 20,260,401 seconds after 1970. W2 never
    # reached its bill before that cut-off: a break, exit 1.
    erp, wechat, bank = files(tmp_path, PAID, UNPAID)
    for cutoff in ("20260401", "2026-04-01", "2026-04-01T00:00:00+08:00"):
        report = tmp_path / "r.json"
        done = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
                   "--tz", "Asia/Shanghai", "--cutoff", cutoff, "--out", report)  # fmt: skip
        assert done.returncode == EXIT_REFUSED, (cutoff, done.stderr)
        summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
        assert summary["sources"]["bank"]["rules"]["cutoff"] == "2026-03-31T16:00:00+00:00"
        assert summary["settlement"]["breaks"] == 1
        assert "cut-off 2026-04-01 00:00 (Asia/Shanghai): 0 of 6 records at or after it" in (
            done.stderr
        )


@pytest.mark.parametrize(
    ("cutoff", "words"),
    [
        ("1775001600", "not read as unix time"),
        ("20260431", "20260431"),
        # Last month's cut-off, reused: every record of March would be pending.
        ("2026-03-01", "at or before the first record (2026-03-10 12:00 Asia/Shanghai)"),
    ],
)
def test_settle_refuses_a_cutoff_that_is_no_date_or_before_every_record(
    tmp_path: Path, cutoff: str, words: str
) -> None:
    erp, wechat, bank = files(tmp_path, PAID, UNPAID)
    report = tmp_path / "r.json"
    done = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
               "--cutoff", cutoff, "--out", report)  # fmt: skip
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert "--cutoff:" in done.stderr and words in done.stderr, done.stderr
    assert not report.exists()


def test_reconcile_reads_a_compact_cutoff_date_and_refuses_one_before_every_record(
    tmp_path: Path,
) -> None:
    erp, _wechat, bank = files(tmp_path, PAID)
    report = tmp_path / "r.json"
    args = ("reconcile", "--left", erp, "--right", bank, "--right-format", "bank")
    done = run(*args, "--cutoff", "20260401", "--out", report)
    assert json.loads(report.read_text(encoding="utf-8"))["summary"]["rules"]["cutoff"] == (
        "2026-03-31T16:00:00+00:00"
    ), done.stderr
    report.unlink()
    done = run(*args, "--cutoff", "20260301", "--out", report)
    assert done.returncode == EXIT_REFUSED and "--cutoff:" in done.stderr, done.stderr
    assert not report.exists()


def february(tmp_path: Path) -> Path:
    """February's settlement CSV (in Chinese): the order of the 28th paid out T+1, due 1
    March, with no credit by the cut-off: pending, in transit."""
    lines = [line.replace("2026-03-10", "2026-02-28").replace("SO20260310", "SO20260228")
             for line in WECHAT]
    wechat = write(tmp_path / "wechat-2026-02.csv", lines, "utf-8-sig", "\r\n")
    erp = write(tmp_path / "erp-2026-02.csv", [ERP_HEADER, PAID.replace("2026-03-10", "2026-02-28")
                .replace("SO20260310", "SO20260228")], "utf-8")  # fmt: skip
    bank = write(tmp_path / "bank-2026-02.csv", BANK[:3], "gbk")
    report = tmp_path / "settle-2026-02.csv"
    done = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
               "--cutoff", "2026-03-01", "--lang", "zh", "--out", report)  # fmt: skip
    assert done.returncode == EXIT_OK, done.stderr
    return report


def test_settle_carries_last_months_payouts_in_transit_into_the_month(tmp_path: Path) -> None:
    opening = february(tmp_path)
    erp, wechat, _bank = files(tmp_path, PAID)
    # February's payout reaches the bank on 1 March.
    first = "20260301,090000,B0000,,164.01,10000.00,网银入账,财付通支付科技有限公司,结算款"
    bank = write(tmp_path / "bank-2026-03.csv", [*BANK[:3], first, BANK[3]], "gbk")
    out = tmp_path / "march.csv"
    alone = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
                "--cutoff", "2026-04-01", "--out", out)  # fmt: skip
    assert alone.returncode == EXIT_REFUSED, alone.stderr  # the credit of 1 March: a break
    done = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
               "--cutoff", "2026-04-01", "--opening", opening, "--out", out)  # fmt: skip
    assert done.returncode == EXIT_OK, done.stderr
    assert "settle-2026-02.csv as last month's settlement report: 1 payouts in transit" in (
        done.stderr
    )
    assert "balanced" in done.stderr and "NOT balanced" not in done.stderr
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    carried = [(r["hop"], r["state"], r["side"], r["record_id"], r["amount"])
               for r in rows if r["row"] == "1" and r["hop"] == "payout_bank"]  # fmt: skip
    assert carried == [
        ("payout_bank", "matched", "left", "wechatpay:2026-02-28", "164.01"),
        ("payout_bank", "matched", "right", "B0000", "164.01"),
    ]


def test_settle_refuses_an_opening_file_that_is_not_a_pending_payout(tmp_path: Path) -> None:
    opening = february(tmp_path)
    erp, wechat, bank = files(tmp_path, PAID)
    out = tmp_path / "march.csv"
    # Not a settlement report at all.
    done = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
               "--opening", erp, "--out", out)  # fmt: skip
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert "erp-2026-03.csv:1" in done.stderr and "settlement CSV report" in done.stderr
    # A pending payout row whose record is a sale.
    lines = opening.read_text(encoding="utf-8-sig").splitlines()
    (at,) = [n for n, line in enumerate(lines) if ",payout_bank," in line and ",pending," in line]
    lines[at] = lines[at].replace(",settlement,", ",sale,")
    opening.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    done = run("settle", "--erp", erp, "--bill", f"wechatpay={wechat}", "--bank", bank,
               "--opening", opening, "--out", out)  # fmt: skip
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert f"settle-2026-02.csv:{at + 1} record_kind" in done.stderr, done.stderr
    assert not out.exists()


def test_settle_reads_a_pos_export_and_pays_each_store_and_method_out(tmp_path: Path) -> None:
    erp = write(
        tmp_path / "erp.csv",
        [
            ERP_HEADER,
            "S1-1,SO1,89.00,2026-03-30T14:00:00+08:00,pos",
            "S1-2,SO2,170.00,2026-03-30T15:00:00+08:00,pos",
        ],
        "utf-8",
    )
    pos = write(
        tmp_path / "pos.csv",
        [
            "receipt_no,order_ref,amount,paid_at,payment_method,store,fee,note",
            "S1-1,SO1,89.00,2026-03-30 14:00:00,cash,S1,,",
            "S1-2,SO2,170.00,2026-03-30 15:00:00,card,S1,1.02,",
        ],
        "utf-8",
    )
    bank = write(
        tmp_path / "bank.csv",
        [
            "交易日期,交易时间,交易流水号,借方金额,贷方金额,余额,摘要,对方户名,附言",
            "20260330,190000,B1,,89.00,10089.00,现金存款 S1,,",
            "20260331,103000,B2,,168.98,10257.98,银联 POS 结算,银联商务,",
        ],
        "gbk",
    )
    report = tmp_path / "report.json"
    done = run(
        "settle", "--erp", erp, "--bill", f"pos={pos}", "--bank", bank,
        "--payout", "pos.card=T+1", "--out", report,
    )  # fmt: skip
    assert done.returncode == EXIT_OK, done.stderr
    assert "pos.csv as pos (utf-8)" in done.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert sorted(
        (o["status"], o["left"][0]["record_id"], o["right"][0]["record_id"])
        for o in data["pairs"]["bank"]
    ) == [("matched", "pos.card.S1:2026-03-30", "B2"), ("matched", "pos.cash.S1:2026-03-30", "B1")]
