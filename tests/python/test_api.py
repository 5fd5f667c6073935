"""The API: prwlock 0.4.1 compatibility plus the new calls."""

from __future__ import annotations

import errno
import os
import pickle
import stat
import threading
import time

import pytest

import helpers
import prwlock
from prwlock import (
    DeadlockError,
    LockClosedError,
    LockExistsError,
    LockNotFoundError,
    LockTimeoutError,
    NotHeldError,
    OwnerDiedWarning,
    PrwlockError,
    RWLock,
)


@pytest.fixture
def lock():
    lk = RWLock()
    yield lk
    lk.close()


def test_import_does_not_load_the_library():
    from conftest import run_python

    r = run_python(
        "import prwlock, prwlock._lib as L, threading;"
        "assert L.loaded() is None;"
        "assert threading.active_count() == 1;"
        "l = prwlock.RWLock(); assert L.loaded() is not None; l.close(); print('ok')"
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_compat_names():
    from prwlock.prwlock import RWLock as Old

    assert Old is RWLock
    assert prwlock.get_pthread_process_shared() == 1
    prwlock.set_pthread_process_shared(1)
    assert prwlock.get_pthread_process_shared() == 1
    assert sorted(prwlock.__all__) == prwlock.__all__
    for name in prwlock.__all__:
        if name.startswith("__") or name == "PTHREAD_PROCESS_SHARED":
            continue
        assert getattr(prwlock, name).__doc__, name


def test_basic_acquire_release(lock):
    assert lock.acquire_read() is True
    assert lock.try_acquire_read() is True
    lock.release()
    lock.release()
    assert lock.acquire_write() is True
    lock.release()
    assert lock.try_acquire_write() is True
    lock.release()


def test_release_without_hold_is_valueerror(lock):
    with pytest.raises(ValueError) as info:
        lock.release()
    assert isinstance(info.value, NotHeldError) and info.value.errno == errno.EPERM


@pytest.mark.parametrize("first,second", [("write", "write"), ("read", "write"), ("write", "read")])
def test_self_deadlock_raises(lock, first, second):
    getattr(lock, "acquire_" + first)()
    with pytest.raises(OSError) as info:
        getattr(lock, "acquire_" + second)()
    assert info.value.errno == errno.EDEADLK
    assert isinstance(info.value, ValueError) and isinstance(info.value, DeadlockError)
    # Context managers raise the same ValueError, as 0.4.1's did on failure.
    with pytest.raises(ValueError):
        with getattr(lock, second[0:0] + ("writer_lock" if second == "write" else "reader_lock"))():
            pass
    lock.release()
    with pytest.raises(NotHeldError):
        lock.release()


def test_recursive_read_against_waiting_writer(lock):
    assert lock.acquire_read()
    started = threading.Event()
    result = []

    def writer():
        started.set()
        result.append(lock.acquire_write(timeout=10))
        lock.release()

    t = threading.Thread(target=writer)
    t.start()
    started.wait()
    time.sleep(0.1)  # let the writer queue up
    assert lock.acquire_read(timeout=2) is True  # recursion never deadlocks
    lock.release()
    lock.release()
    t.join(10)
    assert result == [True]


@pytest.mark.parametrize("bad", [-2, -0.001, -1.5, float("nan"), float("-inf")])
def test_negative_timeouts_rejected(lock, bad):
    for fn in (lock.acquire_read, lock.acquire_write, lock.reader_lock, lock.writer_lock):
        with pytest.raises(ValueError):
            fn(bad)
    assert lock.stats().used_slots == 0


def test_timeout_type_checked(lock):
    with pytest.raises(TypeError):
        lock.acquire_read("soon")


def test_timeouts_against_other_thread(lock):
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
    try:
        assert lock.acquire_read(0) is False
        assert lock.try_acquire_read() is False and lock.try_acquire_write() is False
        for timeout in (0.05, 0.2):
            t0 = time.monotonic()
            assert lock.acquire_write(timeout) is False
            elapsed = time.monotonic() - t0
            assert timeout * 0.9 <= elapsed < timeout + 0.5
        with pytest.raises(LockTimeoutError) as info:
            with lock.reader_lock(timeout=0.05):
                pass
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, ValueError)
        with pytest.raises(TimeoutError):
            with lock.writer_lock(timeout=0):
                pass
        assert [h.waiting for h in lock.holders()] == [False]  # no phantom waiter
    finally:
        done.set()
        t.join(10)
    assert lock.acquire_read(-1) and lock.release() is None


def test_context_managers(lock):
    with lock.reader_lock() as lk:
        assert lk is lock
        assert lock.stats().readers == 1
    with lock.writer_lock(timeout=1):
        st = lock.stats()
        assert st.writer_active and st.writer_pid == os.getpid()
        assert st.writer_tid == threading.get_native_id()
    assert lock.stats().readers == 0 and lock.stats().writer_pid == 0
    with pytest.raises(ZeroDivisionError):
        with lock.writer_lock():
            1 / 0
    assert lock.try_acquire_write()
    lock.release()


def test_downgrade(lock):
    with pytest.raises(NotHeldError):
        lock.downgrade()
    lock.acquire_write()
    got = []
    t = threading.Thread(target=lambda: got.append(lock.acquire_read(timeout=5)) or lock.release())
    t.start()
    time.sleep(0.05)
    assert got == []
    lock.downgrade()
    t.join(5)
    assert got == [True]
    assert [h.mode for h in lock.holders()] == ["read"]
    with pytest.raises(DeadlockError):
        lock.acquire_write(0)
    lock.release()


def test_holders_and_stats(lock):
    assert lock.holders() == []
    st = lock.stats()
    assert st.readers == 0 and st.capacity >= 128 and st.attached >= 1 and not st.owner_dead
    before = time.monotonic()
    lock.acquire_read()
    lock.acquire_read()
    (h,) = lock.holders()
    assert (h.pid, h.tid, h.mode, h.waiting, h.count) == (os.getpid(), threading.get_native_id(), "read", False, 2)
    assert (h.owner, h.host, h.fence) == (threading.get_native_id(), "", 0)
    assert h.since is None or before - 1 <= h.since <= time.monotonic() + 1
    lock.release()
    lock.release()
    assert lock.owner_died is False


def test_named_lock_options(lock_name):
    with pytest.raises(LockNotFoundError):
        RWLock(lock_name, create=False)
    a = RWLock(lock_name, mode=0o640)
    assert a.name == lock_name and not a.anonymous
    assert a.path == "/dev/shm/prwlock." + lock_name
    assert stat.S_IMODE(os.stat(a.path).st_mode) == 0o640
    with pytest.raises(LockExistsError) as info:
        RWLock(lock_name, exclusive=True)
    assert isinstance(info.value, FileExistsError)
    b = RWLock(lock_name, create=False)
    assert a.acquire_write()
    assert not threading_try(b)
    a.release()
    b.close()
    a.unlink()
    assert not os.path.exists(a.path)
    assert a.try_acquire_write()  # still usable after unlink
    a.release()
    with pytest.raises(LockNotFoundError):
        RWLock.unlink(lock_name)
    a.close()


def threading_try(lock):
    out = []
    def run():
        out.append(lock.try_acquire_read())
        if out[0]:
            lock.release()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


def test_path_helpers_agree_with_the_library(lock_name, tmp_path):
    # The package spells where locks live once (_paths); the library decides.
    from prwlock import _paths

    path = str(tmp_path / "jobs.lock")
    for name in (lock_name, path):
        lk = RWLock(name)
        try:
            assert _paths.lock_path(name) == lk.path
            assert _paths.display_name(lk.path) == name
        finally:
            lk.close()
            RWLock.unlink(name)
    shm = _paths.lock_path(lock_name)
    assert _paths.shm_name(shm) == "/prwlock." + lock_name
    assert _paths.shm_name(path) is None
    assert _paths.shm_name("/dev/shm/sub/prwlock.x") is None


def test_named_lock_path_and_class_unlink(tmp_path):
    path = str(tmp_path / "jobs.lock")
    a = RWLock(path)
    assert a.name == path and a.path == path
    RWLock.unlink(path)
    assert not os.path.exists(path)
    a.close()


def test_not_a_lock(tmp_path):
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"hello" * 1000)
    with pytest.raises(PrwlockError) as info:
        RWLock(str(bogus), create=False)
    assert info.value.errno == errno.EPROTO
    link = tmp_path / "link"
    os.symlink(bogus, link)
    with pytest.raises(OSError):
        RWLock(str(link))


def test_close(lock_name):
    a = RWLock(lock_name)
    a.close()
    a.close()  # idempotent
    assert a.closed
    for fn in (a.acquire_read, a.try_acquire_write, a.release, a.holders, a.stats):
        with pytest.raises(LockClosedError) as info:
            fn()
        assert isinstance(info.value, ValueError)
    RWLock.unlink(lock_name)


def test_close_releases_holds_and_context(lock_name):
    with RWLock(lock_name) as a:
        a.acquire_read()
    b = RWLock(lock_name)
    assert threading_try(b) is True
    assert b.try_acquire_write()  # the closed handle's read hold is gone
    b.release()
    b.unlink()
    b.close()


def test_anonymous_lock_removed_with_last_user():
    a = RWLock()
    path = a.path
    assert a.anonymous and os.path.exists(path) and a.name == path
    b = pickle.loads(pickle.dumps(a))
    assert b.path == path  # first use: b attaches
    a.close()
    assert os.path.exists(path)
    b.close()
    assert not os.path.exists(path)


def test_unpickled_lock_attaches_on_first_use():
    """Unpickling never fails and attaches nothing; the first use does, and fails there."""
    a = RWLock()
    path = a.path
    data = pickle.dumps(a)
    b = pickle.loads(data)
    assert "not yet attached" in repr(b)
    assert a.stats().attached == 1
    a.close()
    assert not os.path.exists(path)  # an unused copy does not keep it alive
    c = pickle.loads(data)  # the file is gone: still no error here
    with pytest.raises(LockNotFoundError):
        c.acquire_read()
    with pytest.raises(LockNotFoundError):
        c.path
    c.close()
    c.close()
    with pytest.raises(LockClosedError):
        c.acquire_read()
    b.close()
    # A copy that was never used pickles on unchanged.
    d = pickle.loads(pickle.dumps(pickle.loads(data)))
    assert d._token_bytes() == a._token_bytes()
    d.close()


def test_garbage_collected_lock_is_closed():
    import gc

    a = RWLock()
    path = a.path
    del a
    gc.collect()
    assert not os.path.exists(path)


def test_pickle_roundtrip_same_process(lock):
    b = pickle.loads(pickle.dumps(lock))
    assert b.path == lock.path
    lock.acquire_write()
    with pytest.raises(DeadlockError):  # same thread, same lock, other handle
        b.acquire_read(0)
    assert threading_try(b) is False
    lock.release()
    b.close()


@pytest.mark.parametrize(
    "exc",
    [
        LockTimeoutError(errno.ETIMEDOUT, "x"),
        DeadlockError(errno.EDEADLK, "y", "/dev/shm/prwlock.z"),
        NotHeldError(errno.EPERM, "z"),
    ],
)
def test_exceptions_pickle(exc):
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and back.errno == exc.errno and str(back) == str(exc)


def test_owner_died_warning_is_runtimewarning():
    assert issubclass(OwnerDiedWarning, RuntimeWarning)


def test_each_thread_is_its_own_owner(lock):
    lock.acquire_read()
    out = []

    def other():
        out.append(lock.acquire_read(1))
        with pytest.raises(NotHeldError):
            lock.release()
            lock.release()  # second one: this thread held only one level

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert out == [True]
    assert lock.stats().readers == 1
    lock.release()


def test_blocked_acquire_releases_the_gil(lock):
    lock.acquire_write()
    counter = [0]
    stop = threading.Event()
    got = []

    def spin():
        while not stop.is_set():
            counter[0] += 1

    def waiter():
        got.append(lock.acquire_read(timeout=5))
        lock.release()

    s = threading.Thread(target=spin)
    w = threading.Thread(target=waiter)
    s.start()
    w.start()
    time.sleep(0.3)
    c0 = counter[0]
    time.sleep(0.2)
    assert counter[0] > c0  # other threads kept running
    lock.release()
    w.join(5)
    stop.set()
    s.join()
    assert got == [True]


def test_api_in_child(ctx):
    """Every API behaviour from a child made with each start method."""
    lock = RWLock()
    parent_holds, child_checked, parent_released = ctx.Event(), ctx.Event(), ctx.Event()
    p = ctx.Process(target=helpers.api_scenario, args=(lock, parent_holds, child_checked, parent_released))
    p.start()
    try:
        assert child_checked.wait(30)
        assert lock.acquire_write(10)
        parent_holds.set()
        time.sleep(0.4)
        lock.release()
        parent_released.set()
        p.join(30)
        assert p.exitcode == 0
    finally:
        if p.is_alive():
            p.kill()
        lock.close()


def test_named_lock_in_child(ctx, lock_name):
    lock = RWLock(lock_name)
    ready, rel = ctx.Event(), ctx.Event()
    p = ctx.Process(target=helpers.named_open_and_hold, args=(lock_name, ready, rel))
    p.start()
    try:
        assert ready.wait(30)
        assert lock.try_acquire_read() is False
        (h,) = lock.holders()
        assert h.pid == p.pid and h.mode == "write"
        rel.set()
        assert lock.acquire_write(10)
        lock.release()
        p.join(10)
        assert p.exitcode == 0
    finally:
        if p.is_alive():
            p.kill()
        lock.close()


def test_error_words_come_from_the_library():
    # One table of words (prw_strerror); Python adds advice to a few codes,
    # after the library's head.
    from prwlock import _errors, _lib

    lib = _lib.get()
    codes = [errno.EBUSY, errno.ETIMEDOUT, errno.EDEADLK, errno.EPERM, errno.EOWNERDEAD, errno.EAGAIN,
             errno.EPROTO, errno.EBADF, errno.EINTR, errno.ELOOP, errno.EINVAL, errno.ENOENT, errno.EEXIST,
             errno.EACCES, errno.ERANGE, errno.ENOTRECOVERABLE, errno.ENOTCONN, errno.ENOTSUP, errno.ENOSYS,
             errno.EIO, _errors.EFORKED]

    def head(s):
        for sep in (": ", " ("):
            s = s.split(sep)[0]
        return s

    for code in codes:
        theirs = lib.strerror(code).decode()
        ours = _errors.strerror(code)
        assert theirs != os.strerror(code), code  # the library has its own words for it
        if code in (errno.EAGAIN, errno.EACCES):
            assert head(ours) == head(theirs) and ours != theirs, code
        else:
            assert ours == theirs, code
    e = _errors.error_for(errno.EPROTO, "/x")
    assert e.strerror == lib.strerror(errno.EPROTO).decode() and e.filename == "/x"
