"""asyncio: AsyncRWLock and ``async with lock.reader_lock()``; holds belong to the task."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings

import pytest

import helpers
from prwlock import AsyncRWLock, DeadlockError, LockTimeoutError, NotHeldError, OwnerDiedWarning, RWLock
from prwlock import _async


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def _held_by_thread(lock: RWLock):
    """A thread that holds *lock* for writing until the returned event is set."""
    held, go = threading.Event(), threading.Event()

    def body():
        lock.acquire_write()
        held.set()
        go.wait(60)
        lock.release()

    t = threading.Thread(target=body)
    t.start()
    assert held.wait(10)
    return go, t


def _wait_for_waiters(lock: RWLock, n: int, timeout=20.0):
    deadline = time.monotonic() + timeout
    while sum(h.waiting for h in lock.holders()) < n:
        assert time.monotonic() < deadline, lock.holders()
        time.sleep(0.005)


def test_uncontended_inline_and_guards():
    async def main():
        lk = AsyncRWLock()
        threads = threading.active_count()
        async with lk.reader_lock() as l:
            assert l is lk.lock
            async with lk.read_lock():  # recursive read of the same task
                pass
            (h,) = lk.lock.holders()
            assert h.mode == "read" and h.count == 1
        async with lk.writer_lock(timeout=1):
            assert lk.lock.stats().writer_active
        assert await lk.acquire_write(timeout=0)
        lk.downgrade()
        lk.release()
        # async with on the RWLock's own guards takes a task hold too.
        async with lk.lock.writer_lock():
            with pytest.raises(NotHeldError):
                lk.lock.release()  # the thread holds nothing: the task does
        assert threading.active_count() == threads  # no thread for an uncontended acquire
        assert lk.lock.holders() == []
        assert "AsyncRWLock" in repr(lk) and "reader_lock" in repr(lk.reader_lock())
        lk.close()

    run(main())


def test_tasks_of_one_thread_are_distinct_holders():
    async def main():
        lk = AsyncRWLock()
        await lk.acquire_write()
        got = []

        async def other():
            with pytest.raises(NotHeldError):
                lk.release()  # not this task's hold
            got.append(await lk.acquire_read(timeout=0))
            got.append(await lk.acquire_read(timeout=0.05))

        await asyncio.create_task(other())
        assert got == [False, False]
        with pytest.raises(DeadlockError):
            await lk.acquire_read()  # the same task asks for read under its write
        lk.release()
        lk.close()

    run(main())


def test_not_in_a_task():
    lk = AsyncRWLock()
    with pytest.raises(RuntimeError, match="task"):
        lk.release()
    lk.close()


def test_thousand_waiters_one_thread_drain_and_loop_not_blocked():
    lock = RWLock()
    go, t = _held_by_thread(lock)
    lk = AsyncRWLock(lock)

    async def main():
        base = threading.active_count()
        done = []

        async def reader(i):
            async with lk.reader_lock():
                done.append(i)

        tasks = [asyncio.create_task(reader(i)) for i in range(1000)]
        ticks = []

        async def ticker():
            while len(done) < 1000:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0.2)
        assert len(done) == 0
        assert threading.active_count() - base <= 1  # one worker for the lock, not one per waiter
        assert _async.waiting_threads() == 1
        assert sum(h.waiting for h in lock.holders()) == 1000
        go.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        await tick
        assert sorted(done) == list(range(1000))
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        assert max(gaps) < 1.0, max(gaps)  # generous: the loop kept running while they waited
        return base

    run(main())
    t.join(10)
    deadline = time.monotonic() + 5
    while _async.waiting_threads():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert lock.holders() == []
    lock.close()


@pytest.mark.parametrize("write", [False, True], ids=["readers", "writers"])
def test_cancelled_waiters_leave_nothing(write):
    lock = RWLock()
    go, t = _held_by_thread(lock)
    lk = AsyncRWLock(lock)

    async def main():
        tasks = [asyncio.create_task(lk.acquire_write() if write else lk.acquire_read()) for _ in range(200)]
        await asyncio.sleep(0.05)
        _wait_for_waiters(lock, 200)
        for x in tasks:
            x.cancel()
        res = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in res)
        # Within a worker slice, nothing of theirs is left.
        deadline = time.monotonic() + 5
        while len(lock.holders()) > 1:
            assert time.monotonic() < deadline, lock.holders()
            await asyncio.sleep(0.01)
        (h,) = lock.holders()
        assert h.mode == "write" and not h.waiting  # only the thread's hold

    run(main())
    go.set()
    t.join(10)
    assert lock.try_acquire_write()
    lock.release()
    lock.close()


def test_cancel_racing_with_the_grant_leaves_no_phantom():
    """Cancel every waiter just as the holder releases, many times over."""
    lock = RWLock()
    lk = AsyncRWLock(lock)

    async def attempt(write):
        ok = await (lk.acquire_write() if write else lk.acquire_read())
        if ok:
            lk.release()  # no await in between: a cancellation cannot come first
        return ok

    async def main():
        for round_ in range(30):
            go, t = _held_by_thread(lock)
            tasks = [asyncio.create_task(attempt(i % 3 == 0)) for i in range(12)]
            await asyncio.sleep(0.002 * (round_ % 5))
            go.set()
            await asyncio.sleep(0.0005 * (round_ % 7))
            for x in tasks:
                x.cancel()
            res = await asyncio.gather(*tasks, return_exceptions=True)
            t.join(10)
            for r in res:
                assert r is True or isinstance(r, asyncio.CancelledError), r
            deadline = time.monotonic() + 5
            while lock.holders():
                assert time.monotonic() < deadline, (round_, lock.holders())
                await asyncio.sleep(0.005)

    run(main(), timeout=120)
    lock.close()


def test_queued_async_writer_keeps_its_place():
    """Fairness as for threads: a queued async writer keeps new readers out
    and gets the lock before readers that came later."""
    lock = RWLock()
    lk = AsyncRWLock(lock)

    async def main():
        order = []
        lock.acquire_read()  # this thread holds read

        async def writer():
            async with lk.writer_lock(timeout=10):
                order.append("writer")

        w = asyncio.create_task(writer())
        await asyncio.sleep(0.05)
        assert lock.stats().writer_pid != 0  # queued, owning the field
        r_ok = []
        t = threading.Thread(target=lambda: r_ok.append(lock.try_acquire_read()))
        t.start()
        t.join(10)
        assert r_ok == [False]  # new readers stay out

        async def reader():
            async with lk.reader_lock(timeout=10):
                order.append("reader")

        r = asyncio.create_task(reader())
        await asyncio.sleep(0.05)
        lock.release()
        await asyncio.gather(w, r)
        assert order == ["writer", "reader"]

    run(main())
    assert lock.holders() == []
    lock.close()


def test_timeouts():
    lock = RWLock()
    go, t = _held_by_thread(lock)
    lk = AsyncRWLock(lock)

    async def main():
        t0 = time.monotonic()
        assert await lk.acquire_read(timeout=0.1) is False
        assert 0.09 <= time.monotonic() - t0 < 5
        with pytest.raises(LockTimeoutError):
            async with lk.writer_lock(timeout=0.05):
                pass
        # Many timing out at once, some behind the worker's current waiter.
        res = await asyncio.gather(*[lk.acquire_write(timeout=0.05 + i * 0.01) for i in range(20)])
        assert res == [False] * 20
        assert [h for h in lock.holders() if h.waiting] == []

    run(main())
    go.set()
    t.join(10)
    lock.close()


@pytest.mark.parametrize("ctx", ["fork"], indirect=True)
def test_owner_died_is_reported_as_for_threads(ctx):
    lock = RWLock()
    helpers.kill_holder(ctx, lock, "write")
    lk = AsyncRWLock(lock)

    async def main():
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            assert await lk.acquire_write(timeout=5)
        assert [w.category for w in got] == [OwnerDiedWarning]
        assert got[0].filename == __file__
        lk.release()  # warned, then released: repaired

    run(main())
    assert not lock.owner_died
    lock.close()
