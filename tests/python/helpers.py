"""Functions run in child processes (importable under spawn and forkserver)."""

from __future__ import annotations

import errno
import os
import pickle
import signal
import threading
import time
import warnings

import prwlock
from prwlock import DeadlockError, LockTimeoutError, NotHeldError, RWLock


def hold(lock, mode, ready, release_evt=None):
    """Acquire *lock* in *mode*, set *ready*, then wait (forever, or until *release_evt*)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", prwlock.OwnerDiedWarning)
        ok = lock.acquire_write() if mode == "write" else lock.acquire_read()
    assert ok
    ready.set()
    if release_evt is None:
        while True:
            time.sleep(3600)
    release_evt.wait(30)
    lock.release()


def try_both(lock):
    """Return (try_read, try_write) results from a process, releasing what it got."""
    r = lock.try_acquire_read()
    if r:
        lock.release()
    w = lock.try_acquire_write()
    if w:
        lock.release()
    return r, w


def pid_and_try(lock):
    return os.getpid(), try_both(lock)


def readme_worker(rwlock):
    # The shape of the seed README's Pool task, shortened.
    for _ in range(2):
        rwlock.acquire_read()
        time.sleep(0.01)
        rwlock.release()
    return os.getpid()


def api_scenario(lock, parent_holds, child_checked, parent_released):
    """Every API behaviour, checked inside a child process; raises on a mismatch."""
    me = (os.getpid(), threading.get_native_id())
    # Plain read, recursion, holders and stats.
    assert lock.acquire_read() is True
    assert lock.acquire_read(timeout=1) is True  # recursive
    hs = [h for h in lock.holders() if (h.pid, h.tid) == me]
    assert len(hs) == 1 and hs[0].mode == "read" and hs[0].count == 2 and not hs[0].waiting, hs
    assert lock.stats().readers == 1
    lock.release()
    lock.release()
    try:
        lock.release()
    except NotHeldError as exc:
        assert isinstance(exc, ValueError) and exc.errno == errno.EPERM
    else:
        raise AssertionError("release without a hold did not raise")
    # Write, self-deadlocks, downgrade.
    assert lock.acquire_write() is True
    for fn in (lock.acquire_write, lock.acquire_read, lock.try_acquire_read):
        try:
            fn()
        except DeadlockError as exc:
            assert isinstance(exc, OSError) and isinstance(exc, ValueError)
            assert exc.errno == errno.EDEADLK
        else:
            raise AssertionError("%s did not raise EDEADLK" % fn)
    lock.downgrade()
    hs = [h for h in lock.holders() if (h.pid, h.tid) == me]
    assert [h.mode for h in hs] == ["read"], hs
    try:
        lock.acquire_write(timeout=0)
    except DeadlockError:
        pass
    else:
        raise AssertionError("read->write did not raise EDEADLK")
    lock.release()
    try:
        lock.downgrade()
    except NotHeldError:
        pass
    else:
        raise AssertionError("downgrade without write did not raise")
    # Timeout rules.
    for bad in (-2, -0.5, float("nan")):
        try:
            lock.acquire_read(bad)
        except ValueError:
            pass
        else:
            raise AssertionError("timeout %r accepted" % bad)
    assert lock.acquire_write(-1) and lock.release() is None
    assert lock.acquire_write(None) and lock.release() is None
    # Context managers.
    with lock.reader_lock():
        assert lock.stats().readers == 1
    with lock.writer_lock(timeout=1) as same:
        assert same is lock and lock.stats().writer_active
    # The lock survives pickling here too.
    again = pickle.loads(pickle.dumps(lock))
    assert again.try_acquire_write()
    again.release()
    again.close()
    # Against the parent's write hold.
    child_checked.set()  # ready for the parent to take the lock
    assert parent_holds.wait(20)
    assert lock.try_acquire_read() is False
    assert lock.try_acquire_write() is False
    t = time.monotonic()
    assert lock.acquire_read(timeout=0.1) is False
    assert 0.08 <= time.monotonic() - t < 2, time.monotonic() - t
    assert lock.acquire_write(timeout=0) is False
    for cm in (lock.reader_lock(timeout=0.05), lock.writer_lock(timeout=0)):
        try:
            with cm:
                raise AssertionError("entered a held lock")
        except LockTimeoutError as exc:
            assert isinstance(exc, TimeoutError) and isinstance(exc, ValueError)
    waiter_ok = []
    got = threading.Event()
    done = threading.Event()

    def waiter():
        waiter_ok.append(lock.acquire_read(timeout=20))
        got.set()
        done.wait(20)
        lock.release()

    th = threading.Thread(target=waiter)
    th.start()
    assert parent_released.wait(20)
    assert got.wait(20) and waiter_ok == [True]
    # The thread owns that hold: this thread does not.
    try:
        lock.release()
    except NotHeldError:
        pass
    else:
        raise AssertionError("a thread released another thread's hold")
    done.set()
    th.join(20)
    assert lock.acquire_write(timeout=5) is True
    lock.release()
    lock.close()
    return True


def named_open_and_hold(name, ready, release_evt):
    lock = RWLock(name, create=False)
    hold(lock, "write", ready, release_evt)
    lock.close()


def kill_holder(ctx, lock, mode):
    """SIGKILL a process of context ctx while it holds lock in mode; return it, reaped."""
    ready = ctx.Event()
    p = ctx.Process(target=hold, args=(lock, mode, ready))
    p.start()
    assert ready.wait(30)
    assert lock.try_acquire_write() is False
    assert any(h.pid == p.pid and h.mode == mode for h in lock.holders())
    os.kill(p.pid, signal.SIGKILL)
    p.join(10)
    return p
