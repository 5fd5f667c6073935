"""The prefork pattern from Python: a parent opens and uses a named lock, then
workers use it (inherited through os.fork, nested 3 deep, or received by a
multiprocessing start method) for reading and writing while the parent's
threads contend, then open it anew. An invariant in shared memory is checked
inside every critical section: zero errors, zero violations."""

from __future__ import annotations

import mmap
import multiprocessing
import os
import struct
import threading
import time

import pytest

from prwlock import RWLock

# Shared counters: writers inside, violations, round trips.
_FMT = "qqq"
WRITERS, VIOLATIONS, TRIPS = 0, 1, 2


class Board:
    """Counters in anonymous shared memory, inherited by fork children. The
    writers count changes only inside a write hold (the lock makes it safe);
    the others only ever grow, so a lost update cannot hide a violation."""

    def __init__(self) -> None:
        self.mem = mmap.mmap(-1, struct.calcsize(_FMT))

    def get(self, k: int) -> int:
        return struct.unpack_from(_FMT, self.mem)[k]

    def add(self, k: int, d: int) -> None:
        struct.pack_into("q", self.mem, 8 * k, self.get(k) + d)


def _round_trip(lock: RWLock, board: Board) -> None:
    with lock.writer_lock(timeout=20):
        if board.get(WRITERS) != 0:
            board.add(VIOLATIONS, 1)
        board.add(WRITERS, 1)
        time.sleep(0)
        board.add(WRITERS, -1)
    with lock.reader_lock(timeout=20):
        if board.get(WRITERS) != 0:
            board.add(VIOLATIONS, 1)
    board.add(TRIPS, 1)


def _work(lock: RWLock, name: str, board: Board, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        _round_trip(lock, board)
    mine = RWLock(name, create=False)
    end = time.monotonic() + seconds / 2
    while time.monotonic() < end:
        _round_trip(mine, board)
    mine.close()


def _fork(fn) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def _reap(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_prefork_os_fork(lock_name):
    lock = RWLock(lock_name)
    board = Board()
    _round_trip(lock, board)  # the parent uses the lock before it forks
    stop = threading.Event()

    def contend():
        while not stop.is_set():
            _round_trip(lock, board)

    threads = [threading.Thread(target=contend) for _ in range(2)]
    for t in threads:
        t.start()

    def nested(level: int) -> None:
        child = _fork(lambda: nested(level + 1)) if level < 3 else None
        _work(lock, lock_name, board, 0.4)
        if child is not None:
            assert _reap(child) == 0

    try:
        pids = [_fork(lambda: nested(1))] + [_fork(lambda: _work(lock, lock_name, board, 0.4)) for _ in range(3)]
        codes = [_reap(p) for p in pids]
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert codes == [0, 0, 0, 0]
    assert board.get(VIOLATIONS) == 0
    assert board.get(TRIPS) > 20
    assert lock.stats().used_slots == 0
    lock.close()


def _mp_worker(lock, name, seconds, q):
    try:
        n = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with lock.writer_lock(timeout=20):
                n += 1
            with lock.reader_lock(timeout=20):
                pass
        again = RWLock(name, create=False)
        with again.writer_lock(timeout=20):
            pass
        again.close()
        q.put(("ok", n))
    except BaseException as exc:  # pragma: no cover - reported to the parent
        q.put(("error", repr(exc)))


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_prefork_multiprocessing(lock_name, method):
    ctx = multiprocessing.get_context(method)
    lock = RWLock(lock_name)
    with lock.writer_lock():
        pass
    q = ctx.Queue()
    procs = [ctx.Process(target=_mp_worker, args=(lock, lock_name, 0.3, q)) for _ in range(4)]
    for p in procs:
        p.start()
    stop = time.monotonic() + 0.3
    while time.monotonic() < stop:
        with lock.writer_lock(timeout=20):
            pass
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert all(r[0] == "ok" and r[1] > 0 for r in results), results
    lock.close()
