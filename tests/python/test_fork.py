"""fork(): inherited locks just work in children (the library handles it), nested
forks, forks under load, forks made behind Python's back."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import threading
import time

import pytest

from prwlock import RWLock, _lib


def _child_result(fn) -> int:
    """Run fn() in an os.fork() child; return its exit status (0 = fn returned True)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if fn() else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _copy_loaded() -> bool:
    """Whether the library loaded its private copy in this process."""
    with open("/proc/self/maps") as f:
        return "libprwlock-fork-copy" in f.read()


def test_child_uses_the_inherited_library():
    lock = RWLock()
    parent_lib = _lib.get()

    def child():
        assert _lib.get() is parent_lib
        assert lock.try_acquire_write()
        lock.release()
        with lock.reader_lock():
            pass
        # The data plane needs no engine: nothing was loaded for it.
        assert not _copy_loaded()
        assert lock.stats().readers == 0  # inspection does: the library loads its copy
        assert _copy_loaded()
        return True

    assert _child_result(child) == 0
    assert _lib.get() is parent_lib
    lock.close()


def test_nested_forks():
    lock = RWLock()
    lock.acquire_read()

    def level(depth):
        def run():
            # Shares with the parent's read hold, and is excluded by it.
            assert lock.try_acquire_write() is False
            assert lock.try_acquire_read()
            lock.release()
            if depth < 3:
                assert _child_result(level(depth + 1)) == 0
            return True

        return run

    assert _child_result(level(1)) == 0
    lock.release()
    lock.close()


def test_fork_while_threads_are_inside_the_library():
    lock = RWLock()
    lock.acquire_write()  # parent threads will block inside acquire (inside Go)
    stop = threading.Event()
    blocked = [threading.Thread(target=lambda: (lock.acquire_read(10), lock.release())) for _ in range(3)]
    spins = 0

    def spinner():
        nonlocal spins
        other = RWLock()
        while not stop.is_set():
            other.try_acquire_read()
            other.release()
            other.stats()
            spins += 1
        other.close()

    busy = [threading.Thread(target=spinner) for _ in range(2)]
    for t in blocked + busy:
        t.start()
    time.sleep(0.1)
    try:
        for _ in range(10):

            def child():
                # The parent holds write; the child must see that and not hang.
                assert lock.try_acquire_read() is False
                assert lock.acquire_read(timeout=0.02) is False
                fresh = RWLock()
                assert fresh.try_acquire_write()
                fresh.release()
                fresh.close()
                return True

            assert _child_result(child) == 0
    finally:
        stop.set()
        lock.release()
        for t in blocked + busy:
            t.join(15)
    assert spins > 0
    lock.close()


def test_multiprocessing_fork_nested_processes():
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    lock = RWLock()
    q = ctx.Queue()
    p = ctx.Process(target=_mp_level, args=(ctx, lock, q, 2))
    p.start()
    assert [q.get(timeout=30) for _ in range(3)] == [(True, True)] * 3
    p.join(30)
    assert p.exitcode == 0
    lock.close()


def _mp_level(ctx, lock, q, depth):
    import helpers

    q.put(helpers.try_both(lock))
    if depth:
        p = ctx.Process(target=_mp_level, args=(ctx, lock, q, depth - 1))
        p.start()
        p.join(30)
        assert p.exitcode == 0


def test_raw_fork():
    """A fork made behind Python's back (libc fork, no at-fork hooks): the
    inherited library works in the child all the same."""
    lock = RWLock()
    lock.acquire_write()
    # PyDLL: the call keeps the GIL, so the child owns it. Through CDLL the
    # GIL is released around fork(), and if another thread of this process
    # took it meanwhile, the child would wait for it forever.
    libc = ctypes.PyDLL(None, use_errno=True)
    libc.fork.restype = ctypes.c_int
    parent_lib = _lib.get()
    r, w = os.pipe()
    pid = libc.fork()
    if pid == 0:
        ok = b"0"
        try:
            assert _lib.loaded() is parent_lib
            t = time.monotonic()
            assert lock.try_acquire_read() is False  # the parent holds write
            assert lock.acquire_read(timeout=0.05) is False
            assert lock.stats().writer_pid == os.getppid()
            assert time.monotonic() - t < 5
            ok = b"1"
        finally:
            os.write(w, ok)
            os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 60)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        assert ready, "the raw-fork child did not answer within 60 s"
        assert os.read(r, 1) == b"1"
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    lock.release()
    lock.close()


def test_many_generations():
    """Each generation of nested forks makes every kind of call: the library
    loads a private copy per generation for those that need its engine."""
    lock = RWLock()

    def chain(n):
        def run():
            assert lock.try_acquire_write()
            lock.release()
            assert lock.stats().writer_pid == 0
            fresh = RWLock()
            with fresh.writer_lock(timeout=5):
                pass
            fresh.close()
            if n:
                return _child_result(chain(n - 1)) == 0
            return True

        return run

    assert _child_result(chain(4)) == 0
    lock.close()
