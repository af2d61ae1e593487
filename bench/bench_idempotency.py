"""Benchmark: what the idempotency guard adds to a call on a durable SQLite store.

Times, in the same process, the same piece of work (it returns a small dict) called:

* bare: ``work()``;
* guarded, first call: ``guard.run(new_key, payload, work)``: claim, run, store the
  outcome (two write transactions on SQLite);
* guarded, replay: ``guard.run(same_key, payload, work)``: the stored outcome comes
  back, the work does not run.

SQLite runs with ``durable=True`` (``synchronous=FULL``: every commit is on disk before
``run`` returns), on a temporary file in the current directory's file system unless a
directory is given, next to the floor: one ``fsync`` of a small append on the same file
system. Target: <= 200 us added per call. Run:

    python bench/bench_idempotency.py            # 1000 calls
    python bench/bench_idempotency.py 2000 [directory]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from orderkit.adapters.sqlite import SQLiteIdempotencyStore
from orderkit.idempotency import Idempotency, fingerprint
from orderkit.idempotency.ports import IdempotencyStore

PAYLOAD = {"order_id": "T1001", "status": 50, "by": "buyer"}


def work() -> dict[str, object]:
    return {"order_id": "T1001", "status": 50}


def per_call_us(fn: Callable[[int], object], n: int, batch: int) -> tuple[float, float]:
    """``(best, median)`` microseconds per call over batches of ``batch`` calls.

    Other programs share the machine; the best batch is the cost of the code itself,
    the median shows what a caller typically saw during the run. The garbage collector
    stays on, as it is in a real host.
    """
    samples: list[float] = []
    done = 0
    while done < n:
        start = time.perf_counter()
        for i in range(done, done + batch):
            fn(i)
        samples.append((time.perf_counter() - start) / batch * 1e6)
        done += batch
    return min(samples), statistics.median(samples)


def measure(name: str, store: IdempotencyStore, n: int, batch: int, target_us: float) -> None:
    guard = Idempotency(store)
    keys = [fingerprint("bench", name, i) for i in range(n)]
    bare, bare_median = per_call_us(lambda i: work(), n, batch)
    first, first_median = per_call_us(lambda i: guard.run(keys[i], PAYLOAD, work), n, batch)
    guard.run("replay", PAYLOAD, work)
    replay, replay_median = per_call_us(lambda i: guard.run("replay", PAYLOAD, work), n, batch)
    added = first - bare
    verdict = "within" if added <= target_us else "OVER"
    print(f"{name} (target: <= {target_us:.0f} us added per call)")
    print(f"  bare call             {bare:9.2f} us   (median batch {bare_median:9.2f} us)")
    print(
        f"  guarded, first call   {first:9.2f} us   (median batch {first_median:9.2f} us)"
        f"   added {added:.2f} us: {verdict} target"
    )
    print(
        f"  guarded, replay       {replay:9.2f} us   (median batch {replay_median:9.2f} us)"
        f"   added {replay - bare:.2f} us"
    )


def fsync_us(directory: Path, n: int = 200) -> float:
    """What one ``fsync`` of a small append costs here: the floor of a durable commit."""
    path = directory / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        start = time.perf_counter()
        for _ in range(n):
            os.write(fd, b"x" * 100)
            os.fsync(fd)
        return (time.perf_counter() - start) / n * 1e6
    finally:
        os.close(fd)
        path.unlink()


def main(argv: list[str]) -> None:
    n_sqlite = int(argv[0]) if argv else 1_000
    where = argv[1] if len(argv) > 1 else None
    print(f"python {sys.version.split()[0]}; sqlite n={n_sqlite}")
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        print(f"one fsync on this file system: {fsync_us(Path(tmp)):.0f} us")
        store = SQLiteIdempotencyStore(Path(tmp) / "bench.db", durable=True)
        measure("sqlite, durable commits", store, n_sqlite, 20, 200)
        store.close()
        # For reference only (not the target): commits that do not wait for the disk.
        relaxed = SQLiteIdempotencyStore(Path(tmp) / "relaxed.db", durable=False)
        measure("sqlite, durable=False (reference only)", relaxed, n_sqlite, 20, 200)
        relaxed.close()


if __name__ == "__main__":
    main(sys.argv[1:])
