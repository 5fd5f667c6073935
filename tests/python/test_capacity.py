"""Capacity: big pools on a default lock, the capacity option, a full lock's
error, and unpickling that never takes a pool worker down."""

from __future__ import annotations

import errno
import json
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import helpers
from conftest import child_env
from prwlock import LockFullError, PrwlockError, RWLock

POOL = str(Path(__file__).resolve().parent / "capacity_pool.py")


def _run_pool(*args: object, timeout: float = 300) -> dict:
    """Run capacity_pool.py in a fresh interpreter (its spawn children then
    import that small program, not pytest) and return its JSON result."""
    r = subprocess.run([sys.executable, POOL] + [str(a) for a in args], env=child_env(), capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("method,n", [("fork", 300), ("spawn", 64)])
@pytest.mark.timeout(330)
def test_pool_on_a_default_lock(method, n):
    """n workers of a Pool get a default anonymous lock with each task and
    all hold read at the same moment; every task returns."""
    r = _run_pool("hold", method, n)
    print("%s Pool(%d): all held read at once; %.1f s in all" % (method, n, r["seconds"]))
    assert r["capacity"] == 1024
    # (attached: at least; a concurrent `python -m prwlock list` may be looking too)
    assert r["readers"] == n and r["used_slots"] == n and r["attached"] >= n + 1, r
    assert r["tasks"] == n and r["pids"] == n, r


def read_or_error(lock):
    """Use a lock whose file may be gone; the error comes from this call, in the task."""
    try:
        with lock.reader_lock():
            return "held"
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        return type(exc).__name__


def test_unpickling_never_kills_a_pool_worker(ctx, lock_name):
    """A lock whose file is gone reaches the workers: each task gets the error
    from its own call (before, the worker quit while unpickling, silently, and
    the pool waited forever)."""
    lock = RWLock(lock_name)
    RWLock.unlink(lock_name)
    try:
        with ctx.Pool(2) as pool:
            res = pool.map_async(read_or_error, [lock] * 6, chunksize=1)
            assert res.get(timeout=60) == ["LockNotFoundError"] * 6
            # The workers are still there, and a live lock reaches them.
            with RWLock() as live:
                assert pool.map(read_or_error, [live] * 2, chunksize=1) == ["held"] * 2
    finally:
        lock.close()


@pytest.mark.slow
@pytest.mark.timeout(330)
def test_pool_over_capacity_gets_the_error_in_its_tasks():
    """80 workers on a 64-capacity anonymous lock: 63 attach and hold (the
    creator is the 64th process), the others get LockFullError at once, from
    their own call, naming the limit and the option; every task returns."""
    n, cap = 80, 64
    r = _run_pool("full", n, cap)
    out = r["results"]
    assert 1 <= r["attached_after"] <= 2, r  # the creator (and maybe a concurrent lister)
    full = [o for o in out if o[0] == "full"]
    assert sum(o[0] == "held" for o in out) == cap - 1 and len(full) == n - cap + 1, out
    slowest = max(o[1] for o in full)
    print("Pool(%d) on a %d-capacity lock: %d LockFullError, the slowest after %.2f ms: %s"
          % (n, cap, len(full), slowest * 1e3, full[0][2]))
    assert slowest < 1.0  # generous: the error must come at once, not after a wait
    for _, _, msg in full:
        assert "lock is full" in msg and "RWLock(capacity=" in msg and "4096" in msg, msg


def test_capacity_option(lock_name):
    with RWLock() as lk:
        assert lk.stats().capacity == 1024
    for ask, got in [(None, 1024), (1, 64), (100, 128), (4096, 4096)]:
        with RWLock(capacity=ask) as lk:
            assert lk.stats().capacity == got
    with RWLock(lock_name, capacity=200) as a:
        assert a.stats().capacity == 256
        with RWLock(lock_name, capacity=4096) as b:  # exists: the creator chose
            assert b.stats().capacity == 256
    for bad in (0, -1, 4097, 1 << 40):
        with pytest.raises(ValueError):
            RWLock(capacity=bad)
    for bad in ("64", 64.0, True):
        with pytest.raises(TypeError):
            RWLock(capacity=bad)  # type: ignore[arg-type]


@pytest.mark.timeout(60)
def test_full_lock_raises_at_once_naming_the_limit():
    """64 threads hold a 64-capacity lock; every kind of acquire by a 65th
    raises LockFullError at once, whatever its timeout."""
    lock = RWLock(capacity=64)
    ready, stop = threading.Barrier(65), threading.Event()

    def hold():
        lock.acquire_read()
        ready.wait(30)
        stop.wait(30)
        lock.release()

    threads = [threading.Thread(target=hold) for _ in range(64)]
    for t in threads:
        t.start()
    worst = 0.0
    try:
        ready.wait(30)
        calls = [
            lock.acquire_read,
            lambda: lock.acquire_read(timeout=5),
            lock.try_acquire_read,
            lock.acquire_write,
            lambda: lock.acquire_write(timeout=5),
            lock.try_acquire_write,
            lambda: lock.reader_lock().__enter__(),
            lambda: lock.writer_lock(timeout=5).__enter__(),
        ]
        for call in calls:
            t0 = time.monotonic()
            with pytest.raises(LockFullError) as info:
                call()
            worst = max(worst, time.monotonic() - t0)
            exc = info.value
            assert isinstance(exc, PrwlockError) and isinstance(exc, OSError) and exc.errno == errno.EAGAIN
            assert "all 64 holder slots" in str(exc) and "RWLock(capacity=" in str(exc), str(exc)
    finally:
        stop.set()
        for t in threads:
            t.join()
    print("65th thread on a 64-capacity lock: LockFullError after at most %.2f ms" % (worst * 1e3))
    assert worst < 1.0
    assert lock.try_acquire_write()
    lock.release()
    lock.close()


def test_lock_full_error_pickles():
    exc = LockFullError(errno.EAGAIN, "lock is full: all 64 holder slots are in use", "/dev/shm/prwlock.x")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is LockFullError and str(back) == str(exc) and back.errno == errno.EAGAIN
    assert os.strerror(errno.EAGAIN) not in str(back)
