"""asyncio benchmarks (driven by tests/bench/run.py, section pyasync).

    bench_async.py pair|queue|cancel --impl ours|filelock [--n 1000] [--ms 300] [--rep R]

pair: uncontended ``async with lock.read_lock()`` / ``write_lock()`` pairs
in one task, ns each. queue: N coroutines wait for read on a lock another
holder holds for write; threads the process gained and RSS added while they
wait, then the time from the release until all N have held and released.
cancel: N coroutines wait for write, then all are cancelled; the time to
cancel and collect them, and what is left queued in the lock (ours only:
the seed library has no inspection). ours is AsyncRWLock; filelock is
filelock's AsyncReadWriteLock (SQLite-based; it waits in executor threads).
One JSON object per result on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time

mono = time.monotonic_ns


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class Ours:
    def __init__(self, tmp: str) -> None:
        import prwlock

        assert prwlock.__version__ != "0.4.1"
        self.lk = prwlock.AsyncRWLock()
        self.sync = self.lk.lock

    def read_lock(self):
        return self.lk.reader_lock()

    def write_lock(self):
        return self.lk.writer_lock()

    def hold_write(self):
        """A holder outside the loop: a thread of this process."""
        held, go = threading.Event(), threading.Event()

        def body():
            self.sync.acquire_write()
            held.set()
            go.wait()
            self.sync.release()

        t = threading.Thread(target=body, daemon=True)
        t.start()
        held.wait()
        return go.set

    def left_queued(self) -> int:
        return sum(h.waiting for h in self.sync.holders())

    def close(self) -> None:
        self.lk.close()


class FileLock:
    def __init__(self, tmp: str) -> None:
        import filelock

        self.path = os.path.join(tmp, "lock.db")
        self.lk = filelock.AsyncReadWriteLock(self.path, is_singleton=False)
        self.filelock = filelock

    def read_lock(self):
        return self.lk.read_lock()

    def write_lock(self):
        return self.lk.write_lock()

    def hold_write(self):
        held, go = threading.Event(), threading.Event()

        def body():
            other = self.filelock.ReadWriteLock(self.path, is_singleton=False)
            other.acquire_write()
            held.set()
            go.wait()
            other.release()
            other.close()

        t = threading.Thread(target=body, daemon=True)
        t.start()
        held.wait()
        return go.set

    def left_queued(self):
        return None

    def close(self) -> None:
        asyncio.run(self.lk.close())  # a coroutine in filelock


IMPLS = {"ours": Ours, "filelock": FileLock}


def out(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def pair(lk, a) -> None:
    for mode, guard in (("read", lk.read_lock), ("write", lk.write_lock)):
        n = 50
        while True:
            t0 = mono()
            for _ in range(n):
                async with guard():
                    pass
            dt = mono() - t0
            if dt >= a.ms * 1e6:
                break
            n *= 2
        out({"bench": "async-pair", "impl": a.impl, "mode": mode, "rep": a.rep, "ns": dt / n})


async def queue(lk, a) -> None:
    release = lk.hold_write()  # a thread of this process holds it: counted in the base
    base_threads, base_rss = threading.active_count(), rss_kb()
    done = []

    async def reader(i):
        async with lk.read_lock():
            done.append(i)

    tasks = [asyncio.create_task(reader(i)) for i in range(a.n)]
    await asyncio.sleep(0.3)  # every coroutine has queued (ours) or is waiting in the executor (filelock)
    threads, rss = threading.active_count() - base_threads, rss_kb() - base_rss
    t0 = mono()
    release()
    await asyncio.wait_for(asyncio.gather(*tasks), 600)
    drain = mono() - t0
    out({"bench": "async-queue", "impl": a.impl, "n": a.n, "rep": a.rep, "threads_added": threads,
         "rss_kb_added": rss, "drain_ns": drain, "done": len(done)})


async def cancel(lk, a) -> None:
    release = lk.hold_write()

    async def writer():
        async with lk.write_lock():
            pass

    tasks = [asyncio.create_task(writer()) for _ in range(a.n)]
    await asyncio.sleep(0.3)
    t0 = mono()
    for t in tasks:
        t.cancel()
    res = await asyncio.gather(*tasks, return_exceptions=True)
    took = mono() - t0
    # What is still queued once the cancellations settled (ours: at most a worker slice later).
    await asyncio.sleep(0.1)
    left = lk.left_queued()
    release()
    out({"bench": "async-cancel", "impl": a.impl, "n": a.n, "rep": a.rep, "cancel_ns": took,
         "cancelled": sum(isinstance(r, asyncio.CancelledError) for r in res), "left_queued": left})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["pair", "queue", "cancel"])
    p.add_argument("--impl", required=True, choices=sorted(IMPLS))
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--ms", type=float, default=300)
    p.add_argument("--rep", type=int, default=0)
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="prwlock-bench-")
    try:
        lk = IMPLS[a.impl](tmp)
        try:
            asyncio.run({"pair": pair, "queue": queue, "cancel": cancel}[a.cmd](lk, a))
        finally:
            lk.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
