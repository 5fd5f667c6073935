"""The ctypes table: the GIL-keeping bindings and their public fallback."""

from __future__ import annotations

import ctypes
import errno
import threading
import types

import pytest

from prwlock import RWLock, _lib


def test_internals_missing_gives_no_type():
    """A ctypes without _CFuncPtr or _FUNCFLAG_PYTHONAPI: no internal type, no error."""
    assert _lib._held_function_type(types.SimpleNamespace()) is None
    partial = types.SimpleNamespace(_CFuncPtr=ctypes.CFUNCTYPE(ctypes.c_int).__mro__[1], _FUNCFLAG_CDECL=1)
    assert _lib._held_function_type(partial) is None


def test_internals_present_on_this_python():
    # If a CPython drops them, the fallback below is what runs: this test
    # says so instead of the package breaking.
    assert _lib._held_function_type() is not None


@pytest.mark.parametrize("internals", [True, False], ids=["internals", "fallback"])
def test_held_bindings_lock_and_unlock(monkeypatch, internals):
    """Both bindings return the C int and drive the lock's fast paths."""
    real = _lib.get()
    held = _lib._HeldFunction if internals else None
    lib = _lib.Library(real.cdll, real.path, real.generation, held_type=held)
    if not internals:
        assert lib.held_try_acquire_read.restype is ctypes.c_int
    monkeypatch.setattr(_lib._state, "lib", lib)
    lock = RWLock()
    assert lock._try_read is lib.held_try_acquire_read
    arg = _lib.handle_arg(lock._ptr)
    assert lib.held_try_acquire_write(arg) == 0
    other = []
    t = threading.Thread(target=lambda: other.append(lib.held_try_acquire_read(_lib.handle_arg(lock._ptr))))
    t.start()
    t.join(10)
    assert other == [errno.EBUSY] and isinstance(other[0], int)
    assert lib.held_release(arg) == 0
    assert lib.held_release(arg) == errno.EPERM
    # The RWLock API over them, contended path included.
    lock.acquire_write()
    got = []
    t = threading.Thread(target=lambda: got.append(lock.acquire_read(timeout=10)) or lock.release())
    t.start()
    lock.release()
    t.join(10)
    assert got == [True]
    with lock.reader_lock():
        pass
    lock.close()
