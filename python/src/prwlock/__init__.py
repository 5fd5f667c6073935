"""Process-shared reader-writer locks for Python.

A drop-in replacement for prwlock 0.4.1 built on ``libprwlock.so``: locks
that work across processes whatever the multiprocessing start method
(fork, spawn, forkserver), survive holders that die, and let Ctrl-C through
a blocked acquire.

>>> from prwlock import RWLock
>>> lock = RWLock()
>>> with lock.reader_lock():
...     pass
>>> lock.close()

The shared library is loaded on first use, not at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import (
    DeadlockError,
    HoldLostError,
    InvalidNameError,
    LibraryLoadError,
    LockClosedError,
    LockExistsError,
    LockFullError,
    LockNotFoundError,
    LockPermissionError,
    LockTimeoutError,
    LockUnavailableError,
    NotHeldError,
    OwnerDiedWarning,
    PrwlockError,
)
from ._async import AsyncRWLock
from ._lock import Holder, RWLock, Stats

if TYPE_CHECKING:
    from ._async import AsyncRWLock


def __getattr__(name: str) -> Any:
    # asyncio is imported only by programs that use it.
    if name == "AsyncRWLock":
        from ._async import AsyncRWLock

        return AsyncRWLock
    raise AttributeError("module %r has no attribute %r" % (__name__, name))

__version__ = "1.0.0"

#: Value of ``PTHREAD_PROCESS_SHARED`` on Linux, kept for prwlock 0.4.1 code.
PTHREAD_PROCESS_SHARED = 1
_process_shared = PTHREAD_PROCESS_SHARED


def get_pthread_process_shared() -> int:
    """Return the ``PTHREAD_PROCESS_SHARED`` value in use (compatibility only).

    prwlock 0.4.1 built its lock from a pthread rwlock and needed this
    platform constant. Locks here are always shared between processes and
    do not use pthread attributes, so the value has no effect; it is kept
    so that code written for 0.4.1 still imports and runs.
    """
    return _process_shared


def set_pthread_process_shared(value: int) -> None:
    """Set the value returned by :func:`get_pthread_process_shared` (compatibility only).

    It has no effect on locks, which are always process-shared.

    :param value: any integer.
    :raises TypeError: *value* is not an integer.
    """
    global _process_shared
    if not isinstance(value, int):
        raise TypeError("value must be an int")
    _process_shared = value


def library_version() -> str:
    """Return ``prw_version()`` of the loaded ``libprwlock.so`` (loading it if needed)."""
    from . import _lib

    return _lib.get().version


__all__ = [
    "AsyncRWLock",
    "DeadlockError",
    "HoldLostError",
    "Holder",
    "InvalidNameError",
    "LibraryLoadError",
    "LockClosedError",
    "LockExistsError",
    "LockFullError",
    "LockNotFoundError",
    "LockPermissionError",
    "LockTimeoutError",
    "LockUnavailableError",
    "NotHeldError",
    "OwnerDiedWarning",
    "PTHREAD_PROCESS_SHARED",
    "PrwlockError",
    "RWLock",
    "Stats",
    "__version__",
    "get_pthread_process_shared",
    "library_version",
    "set_pthread_process_shared",
]
