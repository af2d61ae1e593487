"""Benchmark: the whole settlement chain with settle(), and pandas doing the same matching.

The month is ``orderkit.testing.settlement_month``: WeChat Pay and Alipay orders, 0.6%
fees as their own bill lines, about 3% partial refunds, WeChat Pay's T+1 net payouts as
bank credits, Alipay's daily withdrawals and their bank credits, and about 0.1% of the
orders in each kind of break (an order missing from its bill, a bill payment without an
order, an amount that differs, a short WeChat Pay credit, an unknown bank credit).
The size is the number of input records across the ERP, both bills and the bank
(default 1,000,000).

Three child processes each build the same month from the same seed, so each peak RSS
is its own:

* ``generate``: the month alone (the floor every peak includes);
* ``settle``: ``settle(erp, bills, bank)`` plus ``breaks()`` and ``summary()`` timed,
  then ``conservation()`` (the independent recount) timed apart;
* ``pandas``: the same matching as a pandas user writes it, timed from frames built
  from the same records (amounts as int64 fen, times as UTC timestamps; building them is
  not timed): per channel an outer merge of the ERP and the bill's payments and refunds
  on ``(ref, kind)`` (one side only or amounts differing is a break); each bill fee
  must name a payment of the bill; the WeChat Pay payouts derived as a groupby of the
  day's net in Asia/Shanghai, the Alipay payouts from its withdrawal rows; an outer
  merge of the payouts and the bank lines on ``(date, amount)``. Then, alone, the
  exact-reference merge (ERP against all bill lines on ``ref``): the floor of any
  matching.

Both runs must find the same breaks, and the month's own truth; the script prints
both times (wall clock and the process's CPU time, since the machine may be shared), their
ratios, each peak RSS (``settle``'s read right after its timed part) and the load
average before and after. Not a test: speed is never asserted in the
suite. Run::

    python bench/bench_settle.py                 # 1,000,000 records
    python bench/bench_settle.py 200000 --seed 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from orderkit.reconcile import settle
from orderkit.testing.settlement_month import Month, settlement_month

#: Input records per order (its payment, the bill's payment and fee, 3% refunds on both
#: sides), to size the month by records.
RECORDS_PER_ORDER = 3.06


def peak_mb() -> float:
    """The process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(records: int, seed: int) -> tuple[Month, float]:
    t0 = time.perf_counter()
    month = settlement_month(round(records / RECORDS_PER_ORDER), seed=seed)
    return month, time.perf_counter() - t0


def run_settle(month: Month) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    result = settle(month.erp, month.bills, month.bank)
    breaks = result.breaks()
    summary = result.summary()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_mb()  # before anything untimed is built
    # The independent recount, timed on its own: a caller asks for it (the reports do).
    t1, c1 = time.perf_counter(), time.process_time()
    conservation = result.conservation()
    recount_seconds, recount_cpu = time.perf_counter() - t1, time.process_time() - c1
    assert conservation["balanced"] is True, conservation
    assert summary["records_accounted"] == conservation["records_in"], summary
    ids = sorted({r.record_id for o in breaks for r in o.records})
    by_status = summary["by_status"]
    assert isinstance(by_status, dict)
    return {"seconds": seconds, "cpu": cpu, "breaks": ids, "outcomes": sum(by_status.values()),
            "timed_peak_mb": peak, "recount_seconds": recount_seconds,
            "recount_cpu": recount_cpu}  # fmt: skip


def frames(month: Month) -> tuple[Any, dict[str, Any], Any]:
    import pandas as pd

    def frame(records: list[Any]) -> Any:
        return pd.DataFrame(
            {
                "record_id": [r.record_id for r in records],
                "ref": [r.ref for r in records],
                "kind": [r.kind for r in records],
                "channel": [r.channel for r in records],
                "fen": [r.amount.minor for r in records],
                "at": pd.to_datetime([r.at for r in records], utc=True),
            }
        )

    return frame(month.erp), {c: frame(b) for c, b in month.bills.items()}, frame(month.bank)


def run_pandas(month: Month) -> dict[str, Any]:
    import pandas as pd

    erp, bills, bank = frames(month)
    t0, c0 = time.perf_counter(), time.process_time()
    broken: list[Any] = []
    payouts: list[Any] = []
    for channel, bill in bills.items():
        mine = erp[erp["channel"] == channel]
        goods = bill[bill["kind"].isin(("sale", "refund"))]
        pairs = mine.merge(goods, how="outer", on=["ref", "kind"], indicator=True,
                           suffixes=("_erp", "_bill"))  # fmt: skip
        alone = pairs[pairs["_merge"] != "both"]
        broken += [alone["record_id_erp"].dropna(), alone["record_id_bill"].dropna()]
        both = pairs[pairs["_merge"] == "both"]
        differs = both[both["fen_erp"] != both["fen_bill"]]
        broken += [differs["record_id_erp"], differs["record_id_bill"]]
        fees = bill[bill["kind"] == "fee"]
        broken.append(fees.loc[~fees["ref"].isin(goods["ref"]), "record_id"])
        if channel == "wechatpay":
            day = bill["at"].dt.tz_convert("Asia/Shanghai").dt.normalize()
            net = bill.groupby(day)["fen"].sum().reset_index()
            net.columns = ["day", "fen"]
            net["record_id"] = "wechatpay:" + net["day"].dt.strftime("%Y-%m-%d")
            net["date"] = (net["day"] + pd.Timedelta(days=1)).dt.date
            payouts.append(net[["record_id", "date", "fen"]])
        else:
            out = bill[bill["kind"] == "transfer"]
            payouts.append(
                pd.DataFrame(
                    {
                        "record_id": out["record_id"],
                        "date": out["at"].dt.tz_convert("Asia/Shanghai").dt.date,
                        "fen": -out["fen"],
                    }
                )
            )
    paid = pd.concat(payouts, ignore_index=True)
    lines = pd.DataFrame(
        {
            "record_id": bank["record_id"],
            "date": bank["at"].dt.tz_convert("Asia/Shanghai").dt.date,
            "fen": bank["fen"],
        }
    )
    credits = paid.merge(lines, how="outer", on=["date", "fen"], indicator=True,
                         suffixes=("_payout", "_bank"))  # fmt: skip
    alone = credits[credits["_merge"] != "both"]
    broken += [alone["record_id_payout"].dropna(), alone["record_id_bank"].dropna()]
    ids = sorted(set(pd.concat(broken, ignore_index=True)))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    # The floor: the exact-reference merge alone, ERP against every bill line.
    every = pd.concat(list(bills.values()), ignore_index=True)
    t1, c1 = time.perf_counter(), time.process_time()
    merged = erp.merge(every, how="outer", on="ref", indicator=True)
    exact_seconds, exact_cpu = time.perf_counter() - t1, time.process_time() - c1
    return {"seconds": seconds, "cpu": cpu, "breaks": ids, "exact_ref_seconds": exact_seconds,
            "exact_ref_cpu": exact_cpu, "exact_ref_rows": len(merged)}  # fmt: skip


def child(mode: str, records: int, seed: int) -> None:
    month, generated = build(records, seed)
    out: dict[str, Any] = {"records": month.records, "generate_seconds": generated}
    if mode == "settle":
        out.update(run_settle(month))
    elif mode == "pandas":
        out.update(run_pandas(month))
    else:
        out["truth"] = sorted(month.break_ids())
    out["peak_mb"] = peak_mb()
    print(json.dumps(out))


def spawn(mode: str, records: int, seed: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, str(records), "--seed", str(seed), "--child", mode],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("records", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", choices=("generate", "settle", "pandas"), default=None)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.records, args.seed)
        return 0
    try:
        import pandas as pd
    except ImportError:
        print("pandas is not installed: pip install -e '.[bench]'")
        return 2
    load_before = os.getloadavg()
    floor = spawn("generate", args.records, args.seed)
    print(
        f"python {sys.version.split()[0]}, pandas {pd.__version__}; {floor['records']:,} input"
        f" records (seed {args.seed}); generated in {floor['generate_seconds']:.1f}s, untimed"
    )
    ours = spawn("settle", args.records, args.seed)
    theirs = spawn("pandas", args.records, args.seed)
    truth = set(floor["truth"])
    same = set(ours["breaks"]) == set(theirs["breaks"]) == truth
    base = floor["peak_mb"]
    print(f"peak RSS of the month alone (the floor): {base:,.0f} MB")
    print(
        f"settle + breaks + summary: {ours['seconds']:.2f}s (CPU {ours['cpu']:.2f}s), peak RSS"
        f" {ours['timed_peak_mb']:,.0f} MB (+{ours['timed_peak_mb'] - base:,.0f} MB over the"
        f" month); {ours['outcomes']:,} outcomes"
    )
    print(
        f"conservation() (the independent recount, asked for apart):"
        f" {ours['recount_seconds']:.2f}s (CPU {ours['recount_cpu']:.2f}s)"
    )
    print(
        f"pandas, the same matching: {theirs['seconds']:.2f}s (CPU {theirs['cpu']:.2f}s), peak"
        f" RSS {theirs['peak_mb']:,.0f} MB (+{theirs['peak_mb'] - base:,.0f} MB over the month,"
        f" frames included)"
    )
    print(
        f"pandas exact-reference merge alone (floor): {theirs['exact_ref_seconds']:.2f}s"
        f" (CPU {theirs['exact_ref_cpu']:.2f}s)"
    )
    print(
        f"ratio settle / pandas matching: {ours['seconds'] / theirs['seconds']:.2f}"
        f" (CPU {ours['cpu'] / theirs['cpu']:.2f}); settle / exact-ref merge:"
        f" {ours['seconds'] / theirs['exact_ref_seconds']:.2f}"
        f" (CPU {ours['cpu'] / theirs['exact_ref_cpu']:.2f})"
    )
    load_after = os.getloadavg()
    print(
        f"load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)};"
        f" after: {', '.join(f'{x:.2f}' for x in load_after)} ({os.cpu_count()} CPUs)"
    )
    print(
        f"breaks: settle {len(ours['breaks'])}, pandas {len(theirs['breaks'])}, month's truth"
        f" {len(truth)}; {'the same records' if same else 'DIFFERENT'}"
    )
    if not same:
        print("only settle:", sorted(set(ours["breaks"]) - set(theirs["breaks"]))[:20])
        print("only pandas:", sorted(set(theirs["breaks"]) - set(ours["breaks"]))[:20])
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
