"""Big pools on one lock, run by test_capacity.py in a fresh interpreter so
that spawn children import this small program, not pytest.

    python capacity_pool.py hold METHOD N     N workers hold read at once on a
                                              default anonymous lock
    python capacity_pool.py full N CAPACITY   N fork workers try at once on a
                                              lock of CAPACITY

Prints one JSON object with the results.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from typing import Any, Optional, Tuple

import prwlock
from prwlock import LockFullError, RWLock

_held: Any = None  # barrier: every task holds read (or has failed)
_go: Any = None  # barrier: the parent has looked; release


def _init(held: Any, go: Any) -> None:
    global _held, _go
    _held, _go = held, go
    prwlock.library_version()  # load the library now: time only the calls below


def hold_read_together(lock: RWLock) -> int:
    """Hold read until every task of the pool holds it and the parent has looked."""
    with lock.reader_lock():
        _held.wait(timeout=240)
        _go.wait(timeout=240)
    return os.getpid()


def try_read_together(lock: RWLock) -> Tuple[str, float, Optional[str]]:
    """Try to hold read while every other task tries too; report how it went."""
    t0 = time.monotonic()
    try:
        lock.acquire_read()
    except LockFullError as exc:
        took = time.monotonic() - t0
        _held.wait(timeout=240)
        return "full", took, str(exc)
    took = time.monotonic() - t0
    try:
        _held.wait(timeout=240)
    finally:
        lock.release()
    return "held", took, None


def hold(method: str, n: int) -> dict:
    ctx = multiprocessing.get_context(method)
    held, go = ctx.Barrier(n + 1), ctx.Barrier(n + 1)
    t0 = time.monotonic()
    with RWLock() as lock:
        with ctx.Pool(n, initializer=_init, initargs=(held, go)) as pool:
            res = pool.map_async(hold_read_together, [lock] * n, chunksize=1)
            held.wait(timeout=240)  # every task holds read now
            st = lock.stats()
            go.wait(timeout=60)
            pids = res.get(timeout=120)
            pool.close()
            pool.join()
    return {"readers": st.readers, "used_slots": st.used_slots, "attached": st.attached, "capacity": st.capacity,
            "tasks": len(pids), "pids": len(set(pids)), "seconds": time.monotonic() - t0}


def full(n: int, capacity: int) -> dict:
    ctx = multiprocessing.get_context("fork")
    held = ctx.Barrier(n)
    with RWLock(capacity=capacity) as lock:
        with ctx.Pool(n, initializer=_init, initargs=(held, None)) as pool:
            out = pool.map_async(try_read_together, [lock] * n, chunksize=1).get(timeout=240)
            pool.close()
            pool.join()
        attached_after = lock.stats().attached
    return {"results": out, "attached_after": attached_after}


if __name__ == "__main__":
    if sys.argv[1] == "hold":
        r = hold(sys.argv[2], int(sys.argv[3]))
    else:
        r = full(int(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps(r))
