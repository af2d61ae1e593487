"""Benchmark: orderkit.reconcile against a pandas exact-reference outer merge.

Generates N ERP records and N bank records (95% with the exact ref, 4% with the ref only
in a messy memo, 1% drifting in amount or time or missing on one side), then times, in
the same process:

* ``orderkit``: ``reconcile(erp, bank)`` plus ``summary()``: every pass, every
  classification, on in-memory records (the independent conservation recount,
  ``conservation()``, is run and checked after the timing and printed separately);
* ``pandas``: ``DataFrame.merge(how="outer", on="ref", indicator=True)`` over the same
  rows: the exact-reference part only.

Generation (and building the DataFrames) is not timed; each side runs three times, the
two sides taking turns, and the best time of each is reported, because the machine may
be shared. Run:

    python bench/bench_reconcile.py                 # 100k, 300k and 1M
    python bench/bench_reconcile.py 100000 300000   # chosen sizes
"""

from __future__ import annotations

import gc
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


def pandas_frames(erp: list[Record], bank: list[Record]) -> tuple[object, object]:
    import pandas as pd  # type: ignore[import-untyped]

    left = pd.DataFrame({"ref": [r.ref for r in erp], "amount": [r.amount.minor for r in erp]})
    right = pd.DataFrame({"ref": [r.ref for r in bank], "amount": [r.amount.minor for r in bank]})
    return left, right


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n: int) -> dict[str, float]:
    t0 = time.perf_counter()
    erp, bank = generate(n)
    left, right = pandas_frames(erp, bank)
    generated = time.perf_counter() - t0
    # Each side is timed REPEAT times and its best run reported: the machine is shared.
    # The rounds alternate (pandas, orderkit, pandas, ...), so a slow or fast spell of the
    # machine falls on both sides alike instead of on one side's block of runs.
    pandas_time = orderkit_time = summary_time = float("inf")
    rounds: dict[str, list[float]] = {"pandas": [], "orderkit": []}
    both = 0
    for attempt in range(REPEAT):
        gc.collect()
        t0 = time.perf_counter()
        merged = left.merge(  # type: ignore[attr-defined]
            right, how="outer", on="ref", indicator=True, suffixes=("_erp", "_bank")
        )
        rounds["pandas"].append(time.perf_counter() - t0)
        pandas_time = min(pandas_time, rounds["pandas"][-1])
        both = int((merged["_merge"] == "both").sum())
        del merged

        gc.collect()
        t0 = time.perf_counter()
        result = reconcile(erp, bank)
        matched_at = time.perf_counter()
        summary = result.summary()
        done = time.perf_counter()
        rounds["orderkit"].append(done - t0)
        if done - t0 < orderkit_time:
            orderkit_time, summary_time = done - t0, done - matched_at
        if attempt + 1 < REPEAT:
            del result, summary

    accounted = summary["records_accounted"]
    assert accounted == 2 * n, (accounted, 2 * n)
    t0 = time.perf_counter()
    conservation = result.conservation()
    conservation_time = time.perf_counter() - t0
    assert conservation["balanced"] is True, conservation
    print(
        f"n={n:>9,}  generate {generated:6.2f}s  |  pandas exact-ref merge {pandas_time:6.3f}s"
        f" (exact pairs {both / n:6.2%})  |  orderkit full reconcile {orderkit_time:6.3f}s"
        f" (summary {summary_time:.3f}s of it; match rate {summary['match_rate']:.2%},"
        f" paired {summary['paired_rate']:.2%})"
        f"  |  ratio orderkit/pandas {orderkit_time / pandas_time:5.2f}"
        f"  |  peak RSS so far {peak_mb():,.0f} MB",
        flush=True,
    )
    print(
        "           every round (s): "
        + "; ".join(
            f"{name} {', '.join(f'{t:.3f}' for t in times)}" for name, times in rounds.items()
        ),
        flush=True,
    )
    kinds = {kind: body["outcomes"] for kind, body in summary["by_kind"].items()}  # type: ignore[attr-defined]
    print(f"           outcomes by kind: {kinds}", flush=True)
    print(
        f"           independent conservation recount (not timed above):"
        f" {conservation_time:.3f}s, balanced={conservation['balanced']}",
        flush=True,
    )
    return {"n": n, "orderkit": orderkit_time, "pandas": pandas_time}


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [100_000, 300_000, 1_000_000]
    print(f"python {sys.version.split()[0]}; timing excludes data generation")
    results = [run(n) for n in sizes]
    base = results[0]
    for result in results[1:]:
        scale = result["n"] / base["n"]
        print(
            f"scaling {base['n']:,} -> {result['n']:,} (x{scale:.0f}): orderkit time"
            f" x{result['orderkit'] / base['orderkit']:.2f}, pandas time"
            f" x{result['pandas'] / base['pandas']:.2f}"
        )
    print(f"peak RSS of the whole run (generation included): {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
