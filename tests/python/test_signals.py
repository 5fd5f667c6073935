"""Ctrl-C and signal handlers while an acquire is blocked; fairness of sliced waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import child_env
from prwlock import RWLock, _lib
from prwlock import _lock as lockmod

CHILD = r"""
import os, sys, time, threading
from prwlock import RWLock
lock = RWLock(sys.argv[1], create=False)
mode = sys.argv[2]
print("blocking", flush=True)
try:
    (lock.acquire_write if mode == "write" else lock.acquire_read)()
    print("acquired", flush=True)
except KeyboardInterrupt:
    t = time.monotonic()
    me = (os.getpid(), threading.get_native_id())
    phantom = [h for h in lock.holders() if (h.pid, h.tid) == me]
    print("interrupted %.6f %s" % (t, phantom), flush=True)
sys.stdin.readline()
lock.close()
"""


@pytest.mark.parametrize("mode", ["read", "write"])
def test_sigint_interrupts_blocked_acquire(lock_name, mode):
    lock = RWLock(lock_name)
    lock.acquire_write()
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, lock_name, mode],
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout.readline().strip() == "blocking"
        deadline = time.monotonic() + 10
        while not any(h.waiting for h in lock.holders()):  # it is really waiting
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        line = p.stdout.readline().split(None, 2)
        assert line[0] == "interrupted", line
        latency = float(line[1]) - sent
        print("KeyboardInterrupt latency: %.1f ms" % (latency * 1000))
        assert latency < 0.25  # the bound is 100 ms; leave room for a loaded machine
        assert line[2].strip() == "[]"  # the child holds nothing
        # No phantom waiter either: the lock is ours alone, and free after us.
        assert [(h.pid, h.waiting) for h in lock.holders()] == [(os.getpid(), False)]
        lock.release()
        assert lock.try_acquire_write()
        lock.release()
    finally:
        p.stdin.close()
        p.wait(10)
        p.stdout.close()
        lock.close()
    assert p.returncode == 0


def test_interrupt_right_after_grant_leaves_no_phantom(monkeypatch):
    """A KeyboardInterrupt raised just after the C call granted the lock
    (the result is lost) must not leave the thread holding it."""
    lock = RWLock()
    lib = _lib.get()
    other = threading.Event()
    release_other = threading.Event()

    def holder():
        lock.acquire_write()
        other.set()
        release_other.wait(10)
        lock.release()

    t = threading.Thread(target=holder)
    t.start()
    other.wait()
    real = lib.acquire_slice
    calls = []

    class Fake:
        def __call__(self, ptr, mode, deadline, slice_end):
            calls.append((deadline, slice_end - time.monotonic_ns()))
            if len(calls) == 2:
                release_other.set()
                t.join(10)
                err = real(ptr, mode, deadline, time.monotonic_ns() + 10**9)
                assert err == 0
                raise KeyboardInterrupt  # as if a signal handler ran after the call
            return real(ptr, mode, deadline, slice_end)

    monkeypatch.setattr(lib, "acquire_slice", Fake())
    with pytest.raises(KeyboardInterrupt):
        lock.acquire_read()
    monkeypatch.undo()
    assert len(calls) == 2 and calls[0][0] == -1 and 0 < calls[0][1] <= lockmod.SIGNAL_SLICE_NS
    assert lock.holders() == []
    assert lock.try_acquire_write()
    lock.release()
    lock.close()


def test_signal_handler_runs_on_time():
    lock = RWLock()
    held = threading.Event()
    done = threading.Event()

    def holder():
        lock.acquire_write()
        held.set()
        done.wait(10)
        lock.release()

    t = threading.Thread(target=holder)
    t.start()
    held.wait()

    class Alarm(Exception):
        pass

    fired = []

    def on_alarm(signum, frame):
        fired.append(time.monotonic())
        raise Alarm

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        start = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Alarm):
            lock.acquire_read(timeout=5)
        raised = time.monotonic()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        done.set()
        t.join(10)
    assert raised - start < 0.2 + 0.1
    assert lock.holders() == []
    lock.close()


@pytest.mark.parametrize("hold", [0.03, 0.12])  # shorter and longer than a wait slice
def test_main_thread_writer_not_starved_by_readers(hold):
    """Sliced waits keep the engine's fairness: a main-thread writer gets in
    against a continuous stream of overlapping readers."""
    lock = RWLock()
    stop = threading.Event()
    errors = []

    def reader():
        try:
            while not stop.is_set():
                if lock.acquire_read(timeout=5):
                    time.sleep(hold)  # long holds that overlap across readers
                    lock.release()
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for r in readers:
        r.start()
    time.sleep(0.2)
    try:
        for _ in range(3):
            t0 = time.monotonic()
            assert lock.acquire_write(timeout=5) is True
            waited = time.monotonic() - t0
            lock.release()
            assert waited < 1.0, waited
            time.sleep(0.05)
    finally:
        stop.set()
        for r in readers:
            r.join(10)
    assert errors == []
    lock.close()


def test_sliced_writer_keeps_its_place():
    """The main thread waits in slices, but between slices its wait stays
    queued: an older sliced writer gets the lock before a younger writer
    that waits in one call, and new readers stay out meanwhile."""
    lock = RWLock()
    order = []
    lock.acquire_write()  # main thread: the holder for now
    holder_done = threading.Event()

    def younger():
        time.sleep(0.15)  # queue after the main thread
        assert lock.acquire_write(timeout=10)
        order.append("younger")
        lock.release()

    def release_later():
        # Let the main thread queue for read-then-write below.
        time.sleep(0.3)
        holder_done.set()

    lock.release()
    other = threading.Thread(target=lambda: (lock.acquire_write(), holder_done.wait(10), lock.release()))
    other.start()
    while lock.stats().writer_pid == 0:
        time.sleep(0.001)
    t = threading.Thread(target=younger)
    t.start()
    threading.Thread(target=release_later).start()
    assert lock.acquire_write(timeout=10)  # sliced: 40 ms slices, several of them
    order.append("main")
    time.sleep(0.05)
    lock.release()
    t.join(10)
    other.join(10)
    assert order == ["main", "younger"]
    assert lock.holders() == []
