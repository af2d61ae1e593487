"""Many threads and processes on one key: the work runs exactly once.

Side effects are counted in a separate file that the guarded work appends to (one line
per real execution), never with a mock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderkit.adapters.memory import MemoryIdempotencyStore
from orderkit.adapters.sqlite import SQLiteIdempotencyStore
from orderkit.idempotency import Idempotency, fingerprint
from orderkit.idempotency.ports import IdempotencyStore
from orderkit.model.errors import AlreadyInProgress
from orderkit.testing import ManualClock

KEY = fingerprint("order.confirm", "T1001")
PAYLOAD = {"order_id": "T1001", "status": 50}

# One worker process: 16 threads call run() on the same key until they get the result.
WORKER = textwrap.dedent(
    """
    import json, os, sys, threading, time
    from orderkit.adapters.sqlite import SQLiteIdempotencyStore
    from orderkit.model.errors import AlreadyInProgress
    from orderkit.idempotency import Idempotency, fingerprint

    db, effects, ready, go, hold = sys.argv[1:6]
    guard = Idempotency(SQLiteIdempotencyStore(db))
    key = fingerprint("order.confirm", "T1001")
    payload = {"order_id": "T1001", "status": 50}

    def confirm():
        with open(effects, "a") as out:
            out.write(f"{os.getpid()}\\n")
        time.sleep(float(hold))
        return {"confirmed_by": os.getpid()}

    outcomes = []
    barrier = threading.Barrier(16)

    def caller():
        barrier.wait()
        busy = 0
        while True:
            try:
                result = guard.run(key, payload, confirm)
            except AlreadyInProgress:
                busy += 1
                time.sleep(0.01)
                continue
            except BaseException as error:
                outcomes.append({"error": repr(error)})
                return
            outcomes.append({"result": result, "busy": busy})
            return

    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
    started = time.time()
    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"started": started, "ended": time.time(), "outcomes": outcomes}))
    """
)


def _effects(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.mark.slow
def test_sixteen_threads_in_each_of_four_processes_confirm_once(tmp_path: Path) -> None:
    db, effects, go = tmp_path / "idem.db", tmp_path / "effects.log", tmp_path / "go"
    SQLiteIdempotencyStore(db)  # create the schema before the race
    readies = [tmp_path / f"ready-{i}" for i in range(4)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db), str(effects), str(ready), str(go), "1.0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in readies
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(ready.exists() for ready in readies):
            assert time.monotonic() < deadline, "workers did not start"
            assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
            time.sleep(0.01)
        go.touch()
        reports = []
        for worker in workers:
            out, err = worker.communicate(timeout=90)
            assert worker.returncode == 0, err
            reports.append(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    outcomes = [outcome for report in reports for outcome in report["outcomes"]]
    assert len(outcomes) == 64
    assert all("result" in outcome for outcome in outcomes), outcomes
    # The work ran exactly once, in one process, and every caller got its result.
    executions = _effects(effects)
    assert len(executions) == 1
    assert {json.dumps(o["result"]) for o in outcomes} == {
        json.dumps({"confirmed_by": int(executions[0])})
    }
    # Callers really overlapped: many were told "in progress", and the four processes
    # were all running their callers at the same time.
    assert sum(o["busy"] for o in outcomes) >= 63
    assert max(r["started"] for r in reports) < min(r["ended"] for r in reports)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_sixteen_threads_in_one_process_get_the_result_or_in_progress(
    kind: str, tmp_path: Path
) -> None:
    store: IdempotencyStore = (
        MemoryIdempotencyStore() if kind == "memory" else SQLiteIdempotencyStore(tmp_path / "t.db")
    )
    guard = Idempotency(store)
    effects = tmp_path / "effects.log"
    release = threading.Event()
    barrier = threading.Barrier(16)
    outcomes: list[object] = []

    def confirm() -> str:
        with effects.open("a") as out:
            out.write("ran\n")
        release.wait(30)
        return "confirmed"

    def caller() -> None:
        barrier.wait()
        try:
            outcomes.append(guard.run(KEY, PAYLOAD, confirm))
        except AlreadyInProgress as error:
            outcomes.append(error)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(outcomes) < 15 and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    for thread in threads:
        thread.join()
    assert _effects(effects) == ["ran"]
    assert outcomes.count("confirmed") == 1
    busy = [o for o in outcomes if isinstance(o, AlreadyInProgress)]
    assert len(busy) == 15
    assert guard.run(KEY, PAYLOAD, confirm) == "confirmed"
    assert _effects(effects) == ["ran"]


CRASHER = textwrap.dedent(
    """
    import os, sys
    from orderkit.adapters.sqlite import SQLiteIdempotencyStore
    from orderkit.idempotency import Idempotency, fingerprint

    guard = Idempotency(SQLiteIdempotencyStore(sys.argv[1]))

    def confirm():
        with open(sys.argv[2], "a") as out:
            out.write("crashed\\n")
        os._exit(17)  # the process dies inside the work: no release, no completion

    guard.run(fingerprint("order.confirm", "T1001"), {"order_id": "T1001", "status": 50}, confirm)
    """
)


def test_a_process_that_dies_inside_the_work_blocks_the_key_until_its_lease_expires(
    tmp_path: Path,
) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHER, str(db), str(effects)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert crashed.returncode == 17, crashed.stderr
    clock = ManualClock(datetime.now(UTC))
    guard = Idempotency(SQLiteIdempotencyStore(db), clock=clock)

    def confirm() -> str:
        with effects.open("a") as out:
            out.write("retried\n")
        return "confirmed"

    with pytest.raises(AlreadyInProgress):
        guard.run(KEY, PAYLOAD, confirm)
    clock.advance(timedelta(seconds=31))
    assert guard.run(KEY, PAYLOAD, confirm) == "confirmed"
    assert guard.run(KEY, PAYLOAD, confirm) == "confirmed"
    assert _effects(effects) == ["crashed", "retried"]
