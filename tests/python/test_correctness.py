"""Defects an adversarial review found (issue 9), each pinned by a test:
owner-dead marks that must not be lost, timeouts that must never come out
short, and relative paths shared with children."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import warnings

import pytest

import helpers
from prwlock import LockTimeoutError, OwnerDiedWarning, RWLock


def _dead_writer(ctx):
    lock = RWLock()
    helpers.kill_holder(ctx, lock, "write")
    return lock


def test_warning_as_error_keeps_owner_dead(ctx):
    # With warnings turned into errors (as in this suite), the acquire
    # raises and lets go of the lock: it must not clear the mark, since
    # nobody repaired anything.
    lock = _dead_writer(ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(OwnerDiedWarning):
            lock.acquire_write(timeout=5)
    assert lock.owner_died
    assert lock.stats().writer_pid == 0  # and we were made to let go
    with pytest.warns(OwnerDiedWarning):
        assert lock.acquire_write(timeout=5)
    lock.release()  # warned and returned normally: repaired
    assert not lock.owner_died
    lock.close()


def test_release_unrepaired_keeps_mark(ctx):
    lock = _dead_writer(ctx)
    with pytest.warns(OwnerDiedWarning):
        assert lock.acquire_write(timeout=5)
    lock.release_unrepaired()
    assert lock.owner_died
    with pytest.warns(OwnerDiedWarning):
        assert lock.acquire_write(timeout=5)
    lock.release()
    assert not lock.owner_died
    lock.close()


def _writer_thread(lock):
    """Hold write on another thread until the returned event is set."""
    held, done = threading.Event(), threading.Event()

    def writer():
        lock.acquire_write()
        held.set()
        done.wait(10)
        lock.release()

    th = threading.Thread(target=writer)
    th.start()
    assert held.wait(10)
    return done, th


@pytest.mark.parametrize("timeout", [18446744074, 1e300, 2**63 / 1e9, 2**64])
@pytest.mark.parametrize("where", ["main", "thread"])
def test_huge_timeouts_wait_forever(timeout, where):
    # About 584 years overflowed a 64-bit ns count and came back short.
    lock = RWLock()

    def waiter(result):
        t = time.monotonic()
        result["got"] = lock.acquire_read(timeout=timeout)
        result["after"] = time.monotonic() - t
        lock.release()

    done, w = _writer_thread(lock)
    threading.Timer(1.0, done.set).start()
    result = {}
    if where == "main":
        waiter(result)  # the main thread waits in slices
    else:
        th = threading.Thread(target=waiter, args=(result,))
        th.start()
        th.join(10)
    w.join(10)
    assert result["got"] is True and result["after"] >= 0.9, result
    lock.close()


@pytest.mark.parametrize("bad", ["1", b"1", True, False, [1], object()])
def test_timeout_type_errors(bad):
    lock = RWLock()
    for call in (lock.acquire_read, lock.acquire_write, lock.reader_lock, lock.writer_lock):
        with pytest.raises(TypeError):
            call(timeout=bad)
    assert lock.stats().readers == 0
    lock.close()


def test_short_timeout_still_times_out():
    lock = RWLock()
    done, w = _writer_thread(lock)
    t = time.monotonic()
    assert lock.acquire_read(timeout=0.2) is False
    assert time.monotonic() - t >= 0.19
    with pytest.raises(LockTimeoutError):
        with lock.reader_lock(timeout=0.05):
            pass
    done.set()
    w.join(10)
    lock.close()


def _use_token_lock(lock, q):
    ok = lock.acquire_write(timeout=5)
    q.put((ok, lock.stats().writer_pid == os.getpid()))
    lock.release()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_relative_path_shared_with_children(method, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lock = RWLock("./rel.lock")
    ctx = multiprocessing.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=_use_token_lock, args=(lock, q))
    p.start()
    assert q.get(timeout=60) == (True, True)
    p.join(30)
    assert p.exitcode == 0
    lock.close()
    os.unlink(tmp_path / "rel.lock")


@pytest.mark.parametrize("mode", ["read", "write"])
def test_thread_that_exits_holding_dies_as_holder(mode):
    # Its hold ends at the next call, as if it had died; a new thread given
    # the same thread id never inherits it.
    lock = RWLock()
    th = threading.Thread(target=lock.acquire_read if mode == "read" else lock.acquire_write)
    th.start()
    th.join(10)
    if mode == "read":
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert lock.acquire_write(timeout=5) is True
    else:
        with pytest.warns(OwnerDiedWarning):
            assert lock.acquire_write(timeout=5) is True
    lock.release()
    assert not lock.owner_died
    assert lock.stats().used_slots == 0
    lock.close()
