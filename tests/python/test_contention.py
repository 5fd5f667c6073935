"""Threads of one process contending for one lock (issue 17).

A thread that finds the lock busy first gives the CPU and the GIL away and
tries again a few times (RWLock._yield_tries) before it blocks in the
library. These tests check what that phase must keep: the reader-writer
invariant, queue order and fairness once a thread blocks, timeouts, and a
clean lock after a KeyboardInterrupt on the main thread.
"""

from __future__ import annotations

import random
import threading
import time
from typing import List

import pytest

from prwlock import RWLock, _lib
from prwlock import _lock as lockmod


def test_threads_hammer_invariant():
    """Many threads, mostly readers, on one lock; checked inside the critical section."""
    lock = RWLock()
    nthreads = 16
    inside = [0] * nthreads
    writer = [0]
    violations: List[str] = []
    counts = [[0, 0] for _ in range(nthreads)]
    stop = threading.Event()

    def worker(i: int) -> None:
        rng = random.Random(i)
        while not stop.is_set():
            if rng.random() < 0.9:
                lock.acquire_read()
                inside[i] = 1
                if writer[0]:
                    violations.append("reader %d saw a writer" % i)
                for _ in range(rng.randrange(30)):
                    pass
                inside[i] = 0
                lock.release()
                counts[i][0] += 1
            else:
                lock.acquire_write()
                if writer[0] or any(inside):
                    violations.append("writer %d was not alone" % i)
                writer[0] = 1
                for _ in range(rng.randrange(30)):
                    pass
                writer[0] = 0
                lock.release()
                counts[i][1] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(1, nthreads)]
    for t in threads:
        t.start()
    threading.Timer(1.5, stop.set).start()
    worker(0)  # the main thread too: its waits are sliced
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert violations == []
    # Every thread made progress, writers included.
    assert all(r + w > 0 for r, w in counts), counts
    assert sum(w for _, w in counts) > 0
    assert lock.holders() == []
    lock.close()


def _count_blocking_calls(monkeypatch: pytest.MonkeyPatch, lib: _lib.Library) -> List[str]:
    calls: List[str] = []
    for name in ("acquire_read", "acquire_write", "acquire_slice"):
        real = getattr(lib, name)

        def counted(*args: object, _real=real, _name=name) -> int:
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(lib, name, counted)
    return calls


class _Holder:
    """A thread that holds the lock (write by default) until told to release."""

    def __init__(self, lock: RWLock, write: bool = True) -> None:
        self.lock = lock
        self.write = write
        self.held = threading.Event()
        self.release = threading.Event()
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.held.wait(10)

    def _run(self) -> None:
        (self.lock.acquire_write if self.write else self.lock.acquire_read)()
        self.held.set()
        self.release.wait(30)
        self.lock.release()
        self.released.set()

    def finish(self) -> None:
        self.release.set()
        self.thread.join(10)


def _run_on(on_main: bool, fn) -> None:
    if on_main:
        fn()
        return
    t = threading.Thread(target=fn)
    t.start()
    t.join(30)
    assert not t.is_alive()


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
@pytest.mark.parametrize("on_main", [True, False], ids=["main", "thread"])
def test_holder_that_releases_during_a_yield_is_not_waited_for(monkeypatch, write, on_main):
    """The holder leaves while the waiter yields: the retry takes the lock,
    and nothing blocks in the library. Without the yield phase the first
    busy try goes straight to a blocking call."""
    lock = RWLock()
    holder = _Holder(lock)
    calls = _count_blocking_calls(monkeypatch, _lib.get())
    yields: List[int] = []

    def fake_yield() -> None:
        yields.append(1)
        if len(yields) == 2:  # the holder runs "during" the second yield
            holder.release.set()
            assert holder.released.wait(10)

    monkeypatch.setattr(lockmod, "_sched_yield", fake_yield)
    result = []

    def waiter() -> None:
        result.append((lock.acquire_write if write else lock.acquire_read)(timeout=10))
        lock.release()

    _run_on(on_main, waiter)
    holder.finish()
    assert result == [True]
    assert calls == []
    assert len(yields) == 2
    assert lock.holders() == []
    lock.close()


@pytest.mark.parametrize("on_main", [True, False], ids=["main", "thread"])
def test_yields_count_against_the_timeout(monkeypatch, on_main):
    """Slow yields (a busy machine) end the acquire at its deadline, without
    a blocking call after it."""
    lock = RWLock()
    holder = _Holder(lock)
    calls = _count_blocking_calls(monkeypatch, _lib.get())
    monkeypatch.setattr(lockmod, "_sched_yield", lambda: time.sleep(0.05))
    result = []

    def waiter() -> None:
        t0 = time.monotonic()
        result.append(lock.acquire_write(timeout=0.02))
        result.append(time.monotonic() - t0)

    _run_on(on_main, waiter)
    holder.finish()
    assert result[0] is False
    assert result[1] < 1.0  # one slow yield, not YIELD_TRIES of them plus a wait
    assert calls == []
    lock.close()


def test_yields_then_blocking_wait_keeps_the_queue(monkeypatch):
    """After its yields a writer blocks and queues: a reader arriving later
    stays out (it too yields, then queues) until the writer has had its turn."""
    lock = RWLock()
    holder = _Holder(lock, write=False)
    order: List[str] = []

    def writer() -> None:
        assert lock.acquire_write(timeout=10)
        order.append("writer")
        time.sleep(0.05)
        lock.release()

    w = threading.Thread(target=writer)
    w.start()
    deadline = time.monotonic() + 10
    while lock.stats().writer_pid == 0:  # the writer owns the field, draining the reader
        assert time.monotonic() < deadline
        time.sleep(0.002)

    def reader() -> None:
        assert lock.acquire_read(timeout=10)
        order.append("reader")
        lock.release()

    r = threading.Thread(target=reader)
    r.start()
    time.sleep(0.1)  # the reader yields, retries, then queues behind the writer
    holder.finish()
    w.join(10)
    r.join(10)
    assert order == ["writer", "reader"]
    lock.close()


def test_keyboard_interrupt_during_the_yields_leaves_nothing(monkeypatch):
    """A signal handler that raises between two tries (main thread): no
    hold, no queued wait."""
    lock = RWLock()
    holder = _Holder(lock)
    n = []

    def fake_yield() -> None:
        n.append(1)
        if len(n) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(lockmod, "_sched_yield", fake_yield)
    with pytest.raises(KeyboardInterrupt):
        lock.acquire_read()
    monkeypatch.undo()
    hs = lock.holders()
    assert [(h.mode, h.waiting) for h in hs] == [("write", False)]  # the holder's only
    holder.finish()
    assert lock.try_acquire_write()
    lock.release()
    lock.close()
