"""Exceptions and warnings of :mod:`prwlock`.

Every exception subclasses the builtin that old code already catches:
prwlock 0.4.1 raised :class:`ValueError` for a failed context manager and a
release without a hold, so the new types are still ``ValueError`` where the
old package raised one, and also the precise :class:`OSError` subclass the
errno suggests.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Any, Dict, Optional, Tuple, Type

#: The C library's code for "called in a child forked from a process that
#: had loaded this copy of the library" (``PRW_EFORKED`` in ``prwlock.h``).
EFORKED = 1024


class PrwlockError(OSError):
    """Base class of the errors reported by the lock library.

    It is an :class:`OSError`; :attr:`errno` holds the code the C library
    returned and :attr:`filename` the lock's file, when known.
    """

    def __reduce__(self) -> Tuple[Any, ...]:
        # OSError's own reduce drops attributes set after construction;
        # rebuild from the constructor arguments so that the exception
        # survives a trip through multiprocessing.
        args: Tuple[Any, ...] = (self.errno, self.strerror)
        if self.filename is not None:
            args += (self.filename,)
        return (type(self), args)


class LockTimeoutError(PrwlockError, TimeoutError, ValueError):
    """The lock could not be acquired in time.

    Raised by :meth:`RWLock.reader_lock` and :meth:`RWLock.writer_lock`.
    It is a :class:`TimeoutError` and, for code written against
    prwlock 0.4.1, a :class:`ValueError`.
    """


class DeadlockError(PrwlockError, ValueError):
    """The calling thread's own hold makes the request impossible (``EDEADLK``).

    Raised for write after write, write after read and read after write on
    one thread, instead of hanging. Recursive reads are allowed.
    """


class NotHeldError(PrwlockError, ValueError):
    """Release or downgrade without the matching hold (``EPERM``).

    A :class:`ValueError`, as prwlock 0.4.1 raised.
    """


class LockClosedError(PrwlockError, ValueError):
    """The lock object was closed (``EBADF``); like I/O on a closed file."""


class LockNotFoundError(PrwlockError, FileNotFoundError):
    """The named lock does not exist (``ENOENT``)."""


class LockExistsError(PrwlockError, FileExistsError):
    """The named lock already exists and ``exclusive=True`` was asked (``EEXIST``)."""


class LockPermissionError(PrwlockError, PermissionError):
    """The lock file may not be opened (``EACCES``), or is a symlink (``ELOOP``).

    ``EACCES`` also means that the file is owned by another user (not root),
    or that users other than its owner can write it, and the caller did not
    pass ``multiuser=True``; the message then says which.
    """


class HoldLostError(PrwlockError):
    """The hold is already gone (``ENOTRECOVERABLE``).

    Another process judged the holder's process dead and recovered its
    hold. Nothing was written to the lock; the thread holds nothing now.
    """


class LockUnavailableError(PrwlockError, ConnectionError):
    """The server of a remote lock did not answer in time (``ENOTCONN``).

    The etcd cluster is unreachable or has no quorum. Nothing was granted.
    """


class LockFullError(PrwlockError):
    """The lock is at its capacity (``EAGAIN``); raised at once, never after a wait.

    Every thread that holds or waits for a lock takes one of its slots, and
    every process that has an anonymous lock open takes one of its
    attachment entries; a lock has as many of each as its capacity, which
    its creator chose (``RWLock(capacity=...)``, 1024 by default, at most
    4096). The message names the limit and that option.
    """


class InvalidNameError(PrwlockError, ValueError):
    """The lock name is not allowed (``EINVAL``).

    Refused: an empty name, a NUL byte, a ``.`` or ``..`` component, a
    trailing ``/``, a bare name longer than the system allows, a path longer
    than ``PATH_MAX``. It is a :class:`ValueError` (what an empty name always
    raised) and an :class:`OSError` with ``errno == EINVAL`` (what the
    library reports), so either ``except`` clause catches every bad name.
    """


class LibraryLoadError(OSError):
    """``libprwlock.so`` could not be found or loaded.

    The message lists every path that was tried and why each failed.
    """


class OwnerDiedWarning(RuntimeWarning):
    """A writer died holding the lock; the protected data may be inconsistent.

    The acquire that emits this warning succeeded. The condition lasts (and
    every acquire warns) until a writer that was warned releases the lock,
    which marks the data consistent again. See :attr:`RWLock.owner_died`.
    """


_BY_ERRNO: Dict[int, Type[PrwlockError]] = {
    _errno.ETIMEDOUT: LockTimeoutError,
    _errno.EBUSY: LockTimeoutError,
    _errno.EDEADLK: DeadlockError,
    _errno.EPERM: NotHeldError,
    _errno.EBADF: LockClosedError,
    _errno.ENOENT: LockNotFoundError,
    _errno.EEXIST: LockExistsError,
    _errno.EACCES: LockPermissionError,
    _errno.ELOOP: LockPermissionError,
    _errno.EAGAIN: LockFullError,
    _errno.ENOTRECOVERABLE: HoldLostError,
    _errno.ENOTCONN: LockUnavailableError,
}

# The words for each code come from the library (prw_strerror), the one
# table every language shares; Python adds its own advice where C names C
# functions (how to raise the capacity, which argument shares a lock
# between users). The head of each message, before ": " or " (", stays
# the library's (tests/python/test_api.py).
_ADVICE: Dict[int, str] = {
    _errno.EAGAIN: (
        "lock is full: every holder slot (one per thread holding or waiting) or, for an anonymous "
        "lock, every attachment entry (one per process) is in use; create the lock with a larger "
        "capacity: RWLock(capacity=...), at most 4096"
    ),
    _errno.EACCES: "permission denied (by the file's mode, or because the lock's file is another "
    "user's or others can write it: pass multiuser=True to share a lock between users)",
}


def strerror(code: int) -> str:
    """Return a short message for a code of the C library."""
    msg = _ADVICE.get(code)
    if msg is not None:
        return msg
    from . import _lib  # _lib imports this module

    lib = _lib.loaded()
    if lib is not None:
        return str(lib.strerror(code).decode("utf-8", "replace"))
    try:  # the library failed to load: the system's words
        return os.strerror(code)
    except ValueError:  # pragma: no cover - out-of-range codes
        return "error %d" % code


def full_error(capacity: int, filename: Optional[str] = None) -> PrwlockError:
    """The :class:`LockFullError` of an acquire on a lock of *capacity* slots."""
    msg = (
        "lock is full: all %d holder slots are in use (one per thread holding or waiting); "
        "create the lock with a larger capacity: RWLock(capacity=...), at most 4096" % capacity
    )
    if filename is None:
        return LockFullError(_errno.EAGAIN, msg)
    return LockFullError(_errno.EAGAIN, msg, filename)


def error_for(code: int, filename: Optional[str] = None) -> PrwlockError:
    """Build the exception for a nonzero code returned by the C library."""
    cls = _BY_ERRNO.get(code, PrwlockError)
    if filename is None:
        return cls(code, strerror(code))
    return cls(code, strerror(code), filename)
