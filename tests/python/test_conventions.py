"""The stdlib's conventions: exceptions, warnings, __repr__, context managers."""

from __future__ import annotations

import errno
import pickle
import threading
import warnings

import pytest

import helpers
import prwlock
from prwlock import (
    DeadlockError,
    LockClosedError,
    LockNotFoundError,
    LockTimeoutError,
    NotHeldError,
    OwnerDiedWarning,
    PrwlockError,
    RWLock,
)


def test_exceptions_are_oserrors_with_errno_and_filename(lock_name):
    with pytest.raises(LockNotFoundError) as ei:
        RWLock(lock_name + "-none", create=False)
    e = ei.value
    assert isinstance(e, FileNotFoundError) and e.errno == errno.ENOENT
    assert e.filename == lock_name + "-none"
    # str() as OSError prints it: "[Errno 2] message: 'name'".
    assert str(e).startswith("[Errno %d] " % errno.ENOENT) and repr(lock_name + "-none") in str(e)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is LockNotFoundError and (back.errno, back.strerror, back.filename) == (
        e.errno, e.strerror, e.filename)


def test_old_except_clauses_still_catch():
    lock = RWLock()
    with pytest.raises(ValueError):  # prwlock 0.4.1 raised ValueError
        lock.release()
    with pytest.raises(NotHeldError):
        lock.release()
    lock.acquire_write()
    with pytest.raises(DeadlockError) as ei:
        lock.acquire_read()
    assert ei.value.errno == errno.EDEADLK
    lock.release()
    lock.close()
    with pytest.raises(LockClosedError) as ec:
        lock.acquire_read()
    assert isinstance(ec.value, ValueError) and ec.value.errno == errno.EBADF
    assert issubclass(LockTimeoutError, TimeoutError) and issubclass(LockTimeoutError, ValueError)
    assert all(issubclass(getattr(prwlock, n), PrwlockError) for n in prwlock.__all__
               if n.endswith("Error") and n != "LibraryLoadError")


def test_repr_says_what_and_never_attaches():
    lock = RWLock()
    r = repr(lock)
    assert r.startswith("<prwlock.RWLock anonymous ") and lock.path in r
    g = lock.reader_lock(timeout=1.5)
    assert repr(g) == "<prwlock reader_lock of %r timeout=1.5>" % lock
    assert "writer_lock" in repr(lock.writer_lock())
    restored = pickle.loads(pickle.dumps(lock))
    assert "not yet attached" in repr(restored)  # repr did not attach it
    assert restored._h is None
    lock.close()
    assert repr(lock).startswith("<prwlock.RWLock closed ")
    restored.close()


def test_guards_are_context_managers_that_never_swallow():
    lock = RWLock()
    for guard in (lock.reader_lock(), lock.writer_lock(), lock.reader_lock(timeout=1), lock):
        assert hasattr(guard, "__enter__") and hasattr(guard, "__exit__")
    with pytest.raises(KeyError):
        with lock.writer_lock() as held:
            assert held is lock
            raise KeyError("inside")
    assert lock.holders() == []  # released on the way out
    lock.acquire_write()
    assert lock.writer_lock().__exit__(None, None, None) is None  # released, and nothing swallowed
    assert lock.holders() == []
    # A guard that cannot enter in time raises the timeout error, holding nothing.
    t_got = []

    def try_enter():
        try:
            with lock.reader_lock(timeout=0.05):
                t_got.append("entered")
        except LockTimeoutError as exc:
            t_got.append(exc.errno)

    lock.acquire_write()
    t = threading.Thread(target=try_enter)
    t.start()
    t.join(10)
    lock.release()
    assert t_got == [errno.ETIMEDOUT]
    lock.close()


@pytest.mark.parametrize("ctx", ["fork"], indirect=True)
@pytest.mark.parametrize("path", ["fast", "timeout", "guard"])
def test_owner_died_warning_names_the_callers_line(ctx, path):
    """Like the stdlib's warnings, OwnerDiedWarning points at the user's call, whichever path warned."""
    lock = RWLock()
    helpers.kill_holder(ctx, lock, "write")
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        if path == "fast":
            lock.acquire_write()
        elif path == "timeout":
            lock.acquire_write(timeout=5)
        else:
            lock.writer_lock().__enter__()
    assert [w.category for w in got] == [OwnerDiedWarning]
    assert got[0].filename == __file__, got[0].filename
    lock.release()
    lock.close()
