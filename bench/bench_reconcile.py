"""Benchmark: orderkit.reconcile on a million records a side, and a pandas merge beside it.

Generates N ERP records and N bank records (95% with the exact ref, 4% with the ref only
in a messy memo, 1% drifting in amount or time or missing on one side), then:

* times ``reconcile(erp, bank)`` plus ``summary()``: every pass, every classification,
  on in-memory records. The independent conservation recount (``conservation()``) is run
  and checked afterwards, untimed;
* reads the process's peak RSS right after that, before anything else is loaded: the
  generated records plus everything the reconciliation allocated;
* then, when pandas is installed, times ``DataFrame.merge(how="outer", on="ref",
  indicator=True)`` over the same rows in the same process: the exact-reference part
  only, for scale. Its frames are built after orderkit's peak RSS was read.

The acceptance is orderkit's own time and peak RSS against the budget (default 10 s and
2 GB at 1M x 1M); the script prints whether the run is within it. Neither the benchmark
nor the library touches the garbage collector. Generation is not timed. Run:

    python bench/bench_reconcile.py                      # 1M x 1M, one round
    python bench/bench_reconcile.py 100000 --rounds 3    # chosen size, best of three
    python bench/bench_reconcile.py --no-pandas
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from orderkit.model.money import Money
from orderkit.reconcile import Record, reconcile

START = datetime(2026, 2, 1, tzinfo=UTC)
REPEAT = 3
FULL_WIDTH = str.maketrans("0123456789SO", "０１２３４５６７８９ＳＯ")


def messy(ref: str, rng: random.Random) -> str:
    """A memo the way people type it: spaces, full-width digits, a word in front."""
    style = rng.randrange(4)
    if style == 0:
        return f"货款 {ref[:2]} {ref[2:6]} {ref[6:10]} {ref[10:]}"
    if style == 1:
        return f"付款{ref.translate(FULL_WIDTH)}"
    if style == 2:
        return f"ORDER:{ref[:8]}-{ref[8:]} THANKS"
    return f"转账 {ref.lower()}"


def generate(n: int, seed: int = 7) -> tuple[list[Record], list[Record]]:
    """ERP records in ERP order, bank records in a random order relative to them.

    The bank lines are decided first and built afterwards in their own (shuffled) order,
    so each side's records sit in memory in list order, as they would when read from a
    file, while the bank order shares nothing with the ERP order.
    """
    rng = random.Random(seed)
    erp: list[Record] = []
    lines: list[tuple[str, str | None, int, datetime, str]] = []
    seconds = 27 * 86400
    for k in range(n):
        at = START + timedelta(seconds=rng.randrange(seconds))
        day = at.strftime("%Y%m%d")
        ref = f"SO{day}{k % 1_000_000:06d}" if k < 1_000_000 else f"SO{day}{k:07d}"
        minor = rng.randrange(100, 200_000)
        erp.append(Record("erp", f"E{k}", ref, Money(Decimal(minor).scaleb(-2), "CNY"), at))
        later = at + timedelta(seconds=rng.randrange(600, 20 * 3600))
        roll = rng.random()
        if roll < 0.95:  # the exact ref
            lines.append((f"B{k}", ref, minor, later, ""))
        elif roll < 0.99:  # the ref only in a messy memo
            lines.append((f"B{k}", None, minor, later, messy(ref, rng)))
        elif roll < 0.994:  # amount drift
            lines.append((f"B{k}", ref, minor + rng.choice((1, -1, 500, -3000)), later, ""))
        elif roll < 0.997:  # time drift: lands days later
            lines.append((f"B{k}", ref, minor, at + timedelta(days=rng.randrange(3, 40)), ""))
        else:  # missing on the bank side; an unrelated credit instead
            lines.append((f"X{k}", None, rng.randrange(100, 200_000), later, "INTEREST"))
    rng.shuffle(lines)
    bank = [
        Record("bank", record_id, ref, Money(Decimal(minor).scaleb(-2), "CNY"), at, memo=memo)
        for record_id, ref, minor, at, memo in lines
    ]
    return erp, bank


def peak_mb() -> float:
    """The process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_orderkit(erp: list[Record], bank: list[Record], rounds: int) -> dict[str, object]:
    """Best of ``rounds`` timings of ``reconcile`` plus ``summary``, and the last result's
    summary and conservation recount (untimed)."""
    best = float("inf")
    times: list[float] = []
    summary: dict[str, object] = {}
    conservation: dict[str, object] = {}
    for attempt in range(rounds):
        t0 = time.perf_counter()
        result = reconcile(erp, bank)
        summary = result.summary()
        times.append(time.perf_counter() - t0)
        best = min(best, times[-1])
        if attempt + 1 == rounds:
            conservation = result.conservation()
        del result
    return {"best": best, "times": times, "summary": summary, "conservation": conservation}


def time_pandas(erp: list[Record], bank: list[Record], rounds: int) -> tuple[float, int] | None:
    """Best of ``rounds`` timings of the pandas exact-ref outer merge, and its "both" rows;
    ``None`` when pandas is not installed."""
    try:
        import pandas as pd  # type: ignore[import-untyped]
    except ImportError:
        return None
    left = pd.DataFrame({"ref": [r.ref for r in erp], "amount": [r.amount.minor for r in erp]})
    right = pd.DataFrame({"ref": [r.ref for r in bank], "amount": [r.amount.minor for r in bank]})
    best = float("inf")
    both = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        merged = left.merge(
            right, how="outer", on="ref", indicator=True, suffixes=("_erp", "_bank")
        )
        best = min(best, time.perf_counter() - t0)
        both = int((merged["_merge"] == "both").sum())
        del merged
    return best, both


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", nargs="?", type=int, default=1_000_000, help="records a side")
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds; best is reported")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas merge")
    parser.add_argument("--budget-seconds", type=float, default=10.0)
    parser.add_argument("--budget-mb", type=float, default=2048.0)
    args = parser.parse_args(argv)
    n = args.n
    print(f"python {sys.version.split()[0]}; n={n:,} records a side; timing excludes generation")

    t0 = time.perf_counter()
    erp, bank = generate(n)
    generated = time.perf_counter() - t0
    after_generation = peak_mb()
    run = time_orderkit(erp, bank, args.rounds)
    peak = peak_mb()
    summary: dict[str, object] = run["summary"]  # type: ignore[assignment]
    conservation: dict[str, object] = run["conservation"]  # type: ignore[assignment]
    assert summary["records_accounted"] == 2 * n, summary["records_accounted"]
    assert conservation["balanced"] is True, conservation
    seconds: float = run["best"]  # type: ignore[assignment]
    times: list[float] = run["times"]  # type: ignore[assignment]
    kinds = {kind: body["outcomes"] for kind, body in summary["by_kind"].items()}  # type: ignore[attr-defined]
    print(f"generate {generated:.2f}s (peak RSS after generation {after_generation:,.0f} MB)")
    print(
        f"orderkit reconcile + summary: {seconds:.3f}s"
        f" (rounds {', '.join(f'{t:.3f}' for t in times)})"
        f"  match rate {summary['match_rate']:.2%}, paired {summary['paired_rate']:.2%}"
    )
    print(f"peak RSS (generation + reconcile + summary): {peak:,.0f} MB")
    print(f"outcomes by kind: {kinds}; conservation balanced={conservation['balanced']}")
    within = seconds < args.budget_seconds and peak < args.budget_mb
    print(
        f"budget {args.budget_seconds:g}s / {args.budget_mb:,.0f} MB:"
        f" {'within' if within else 'OVER'}"
    )
    if not args.no_pandas:
        merged = time_pandas(erp, bank, args.rounds)
        if merged is None:
            print("pandas not installed: merge skipped (pip install -e '.[bench]')")
        else:
            pandas_seconds, both = merged
            print(
                f"pandas exact-ref outer merge, same rows: {pandas_seconds:.3f}s"
                f" (exact pairs {both / n:.2%}); ratio orderkit/pandas"
                f" {seconds / pandas_seconds:.2f}"
            )
    return 0 if within else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
