"""Sharing a lock with other processes: every start method, every channel."""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import subprocess
import sys
import threading

import pytest

import helpers
from conftest import child_env
from prwlock import RWLock


@pytest.fixture
def held_lock():
    lock = RWLock()
    lock.acquire_write()
    yield lock
    lock.release()
    lock.close()


def test_process_args(ctx, held_lock):
    q = ctx.Queue()
    p = ctx.Process(target=lambda_put, args=(held_lock, q))
    p.start()
    assert q.get(timeout=30) == (False, False)  # the child never inherits the hold
    p.join(10)
    assert p.exitcode == 0


def lambda_put(lock, q):
    q.put(helpers.try_both(lock))


def test_pool_apply_async(ctx, held_lock):
    with ctx.Pool(2) as pool:
        res = [pool.apply_async(helpers.try_both, [held_lock]) for _ in range(4)]
        assert [r.get(30) for r in res] == [(False, False)] * 4
        held_lock.release()
        # One at a time: two workers trying at once may see each other's hold.
        assert [pool.apply(helpers.try_both, [held_lock]) for _ in range(4)] == [(True, True)] * 4
        held_lock.acquire_write()


def test_queue(ctx, held_lock):
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=queue_worker, args=(q_in, q_out))
    p.start()
    q_in.put(held_lock)
    assert q_out.get(timeout=30) == (False, False)
    q_in.put(None)
    p.join(10)
    assert p.exitcode == 0


def queue_worker(q_in, q_out):
    lock = q_in.get()
    q_out.put(helpers.try_both(lock))
    q_in.get()


def test_process_pool_executor(ctx, held_lock):
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        futs = [ex.submit(helpers.pid_and_try, held_lock) for _ in range(3)]
        for f in futs:
            pid, tried = f.result(30)
            assert pid != os.getpid() and tried == (False, False)
        held_lock.release()
        assert ex.submit(helpers.try_both, held_lock).result(30) == (True, True)
        held_lock.acquire_write()


def test_plain_pickle_in_unrelated_process(held_lock):
    data = pickle.dumps(held_lock)
    code = (
        "import pickle, sys; lock = pickle.loads(sys.stdin.buffer.read());"
        "r = lock.try_acquire_read(); print(r, lock.name); lock.close()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, env=child_env(), timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().split() == ["False", held_lock.path]
    held_lock.release()
    out = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, env=child_env(), timeout=30
    )
    assert out.stdout.decode().split()[0] == "True", out.stderr
    held_lock.acquire_write()


def test_fork_child_never_inherits_holds():
    lock = RWLock()
    lock.acquire_read()
    lock.acquire_read()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            mine = [h for h in lock.holders() if h.pid == os.getpid()]
            ok = mine == [] and lock.try_acquire_write() is False
            try:
                lock.release()
                ok = False
            except ValueError:
                pass
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(r)
    assert [h.count for h in lock.holders()] == [2]
    lock.release()
    lock.release()
    lock.close()


def test_threads_of_child_are_owners_too(ctx):
    lock = RWLock()
    with ctx.Pool(1) as pool:
        assert pool.apply(helpers.try_both, (lock,)) == (True, True)
    lock.close()
