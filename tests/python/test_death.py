"""Holders that die: SIGKILL of readers and writers, and the owner-dead rules."""

from __future__ import annotations

import os
import signal
import time
import warnings

import pytest

import helpers
from prwlock import OwnerDiedWarning, RWLock


def test_sigkill_reader(ctx):
    lock = RWLock()
    helpers.kill_holder(ctx, lock, "read")
    t = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dead reader is recovered silently
        assert lock.acquire_write(timeout=5) is True
    assert time.monotonic() - t < 1.0
    assert not lock.owner_died
    assert lock.stats().recoveries >= 1
    lock.release()
    lock.close()


def test_sigkill_writer(ctx):
    lock = RWLock()
    helpers.kill_holder(ctx, lock, "write")
    t = time.monotonic()
    with pytest.warns(OwnerDiedWarning):
        assert lock.acquire_read(timeout=5) is True
    assert time.monotonic() - t < 1.0
    assert lock.owner_died
    lock.release()
    # Every acquire warns until a warned writer releases.
    with pytest.warns(OwnerDiedWarning):
        assert lock.acquire_write(timeout=5) is True
    assert lock.owner_died
    st = lock.stats()
    assert st.owner_dead and st.owner_deaths == 1
    lock.release()  # the warned writer repaired the data
    assert not lock.owner_died
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lock.acquire_write(timeout=1)
    lock.release()
    lock.close()


def test_sigkill_writer_with_waiting_writer(ctx):
    """The next writer, already waiting, gets in within 1 s of the kill."""
    lock = RWLock()
    ready = ctx.Event()
    p = ctx.Process(target=helpers.hold, args=(lock, "write", ready))
    p.start()
    assert ready.wait(30)
    import threading

    got = []

    def waiter():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            got.append(lock.acquire_write(timeout=10))
            got.append(time.monotonic())
            got.append([x.category for x in w])
            lock.release()

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)
    killed = time.monotonic()
    os.kill(p.pid, signal.SIGKILL)
    t.join(10)
    p.join(10)
    assert got[0] is True
    assert got[1] - killed < 1.0
    assert got[2] == [OwnerDiedWarning]
    lock.close()


def test_warning_as_error_does_not_leave_a_hold(ctx):
    lock = RWLock()
    helpers.kill_holder(ctx, lock, "write")
    with warnings.catch_warnings():
        warnings.simplefilter("error", OwnerDiedWarning)
        with pytest.raises(OwnerDiedWarning):
            lock.acquire_read(timeout=5)
    assert [h for h in lock.holders() if h.pid == os.getpid()] == []
    with pytest.warns(OwnerDiedWarning):
        lock.acquire_write(5)
    lock.release()
    lock.close()
