"""Capacity: big pools on a default lock, the capacity option, a full lock's
error, and unpickling that never takes a pool worker down."""

from __future__ import annotations

import errno
import multiprocessing
import os
import pickle
import threading
import time

import pytest

import capacity_tasks
from prwlock import LockFullError, PrwlockError, RWLock


def _pool_holds_together(method: str, n: int) -> None:
    """n workers of a Pool get a default anonymous lock with each task and
    all hold read at the same moment; every task returns."""
    ctx = multiprocessing.get_context(method)
    held, go = ctx.Barrier(n + 1), ctx.Barrier(n + 1)
    lock = RWLock()
    t0 = time.monotonic()
    try:
        with ctx.Pool(n, initializer=capacity_tasks.init, initargs=(held, go)) as pool:
            res = pool.map_async(capacity_tasks.hold_read_together, [lock] * n, chunksize=1)
            held.wait(timeout=150)  # every task holds read now
            st = lock.stats()
            go.wait(timeout=30)
            pids = res.get(timeout=60)
            pool.close()
            pool.join()
    finally:
        lock.close()
    print("%s Pool(%d): all held read at once; %.1f s in all" % (method, n, time.monotonic() - t0))
    assert st.readers == n and st.used_slots == n and st.attached == n + 1, st
    assert len(pids) == n and len(set(pids)) == n


@pytest.mark.timeout(240)
def test_fork_pool_300_default_lock():
    _pool_holds_together("fork", 300)


@pytest.mark.timeout(240)
def test_spawn_pool_64_default_lock():
    _pool_holds_together("spawn", 64)


def test_unpickling_never_kills_a_pool_worker(ctx, lock_name):
    """A lock whose file is gone reaches the workers: each task gets the error
    from its own call (before, the worker quit while unpickling, silently, and
    the pool waited forever)."""
    lock = RWLock(lock_name)
    RWLock.unlink(lock_name)
    try:
        with ctx.Pool(2) as pool:
            res = pool.map_async(capacity_tasks.read_or_error, [lock] * 6, chunksize=1)
            assert res.get(timeout=60) == ["LockNotFoundError"] * 6
    finally:
        lock.close()


@pytest.mark.timeout(120)
def test_pool_over_capacity_gets_the_error_in_its_tasks():
    """80 workers on a 64-capacity anonymous lock: 63 attach and hold (the
    creator is the 64th process), the others get LockFullError at once, from
    their own call, naming the limit and the option; every task returns."""
    n, cap = 80, 64
    ctx = multiprocessing.get_context("fork")
    held, go = ctx.Barrier(n), ctx.Barrier(1)
    lock = RWLock(capacity=cap)
    try:
        with ctx.Pool(n, initializer=capacity_tasks.init, initargs=(held, go)) as pool:
            out = pool.map_async(capacity_tasks.try_read_together, [lock] * n, chunksize=1).get(timeout=90)
            pool.close()
            pool.join()
        assert lock.stats().attached == 1
    finally:
        lock.close()
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
