"""What closes the library's handles and removes anonymous locks' files.

A lock object's handle is closed by :meth:`RWLock.close`, by a finalizer
when the object is collected, and at interpreter exit, including the exit of
a multiprocessing child, which skips ``atexit``. The library removes an
anonymous lock when its last user closes it; if every user dies (SIGKILL),
nobody is left to do so, so the creator registers the file with
multiprocessing's resource tracker, a separate process that outlives them
all and unlinks what is still registered when the last process sharing it
has gone. Whoever finds the file gone after closing "forgets" it again:
REGISTER then UNREGISTER is safe whoever registered.
"""

from __future__ import annotations

import ctypes
import os
import sys
import weakref
from typing import Any, Optional

from . import _lib
from ._paths import shm_name


class Handle:
    """A handle of the C library. Shared with the finalizer."""

    __slots__ = ("ptr", "generation", "anonymous", "path", "__weakref__")

    def __init__(self, ptr: ctypes.c_void_p, generation: int, anonymous: bool, path: str) -> None:
        self.ptr: Optional[ctypes.c_void_p] = ptr
        self.generation = generation
        self.anonymous = anonymous
        self.path = path


def close_handle(h: Handle) -> None:
    """Close *h* (also in a fork child: the library keeps its handles valid there)."""
    ptr, h.ptr = h.ptr, None
    lib = _lib.loaded()
    if ptr is None or lib is None:
        return
    lib.close(ptr)
    if h.anonymous:
        tracker_forget(h.path)


def tracker_register(path: str) -> None:
    """Have the resource tracker remove the anonymous lock at *path* if every user dies."""
    name = shm_name(path)
    if name is None or os.environ.get("PRWLOCK_NO_TRACKER"):
        return
    try:
        from multiprocessing import resource_tracker

        resource_tracker.register(name, "shared_memory")
    except Exception:  # pragma: no cover - the tracker is best effort
        pass


def tracker_forget(path: str) -> None:
    """Tell the tracker to forget *path* once the library has removed it."""
    name = shm_name(path)
    if name is None or os.path.lexists(path):
        return
    rt = sys.modules.get("multiprocessing.resource_tracker")
    if rt is None:
        return
    tracker = getattr(rt, "_resource_tracker", None)
    # Only talk to a tracker this process already shares: never start one
    # just to forget a name.
    if tracker is None or getattr(tracker, "_fd", None) is None:
        return
    try:
        tracker.register(name, "shared_memory")
        tracker.unregister(name, "shared_memory")
    except Exception:  # pragma: no cover
        pass


# Every live lock object, so that a fork child can re-attach and interpreter
# exit can close handles (multiprocessing children leave through os._exit,
# which skips atexit; they run multiprocessing's own finalizers instead).
live: "weakref.WeakSet[Any]" = weakref.WeakSet()
_mp_finalizer_pid = 0


def _close_all() -> None:
    for lock in list(live):
        try:
            lock.close()
        except Exception:  # pragma: no cover
            pass


def hook_mp_exit() -> None:
    """Close every lock when a multiprocessing child exits (once per process)."""
    global _mp_finalizer_pid
    if _mp_finalizer_pid == os.getpid():
        return
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    _mp_finalizer_pid = os.getpid()
    try:
        util.Finalize(None, _close_all, exitpriority=-10)
    except Exception:  # pragma: no cover
        pass


def _after_fork_child() -> None:
    global _mp_finalizer_pid
    _mp_finalizer_pid = 0


_lib.on_fork_child(_after_fork_child)
