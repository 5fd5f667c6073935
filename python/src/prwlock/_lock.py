"""The :class:`RWLock` class: a thin layer over ``libprwlock.so``."""

from __future__ import annotations

import ctypes
import errno as _errno
import math
import numbers
import os
import sys
import threading
import time
import warnings
import weakref
from types import FrameType
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Tuple, Union

from . import _lib, _owner
from ._errors import (
    InvalidNameError,
    LockClosedError,
    LockTimeoutError,
    OwnerDiedWarning,
    PrwlockError,
    error_for,
    full_error,
)
from ._cleanup import Handle, close_handle, hook_mp_exit, live, tracker_register

Timeout = Optional[float]

_EBUSY = _errno.EBUSY
_ETIMEDOUT = _errno.ETIMEDOUT
_EOWNERDEAD = _errno.EOWNERDEAD
_EINTR = _errno.EINTR
_EAGAIN = _errno.EAGAIN
_MODE_READ = _lib.MODE_READ
_MODE_WRITE = _lib.MODE_WRITE

#: What :func:`_unbound` answers: no errno (the library returns 0 or a
#: positive errno).
_UNBOUND = -1


def _unbound(arg: Any) -> int:
    """The entry points of a lock that is not bound (unpickled and not yet
    used, or closed): the fast paths call it as they would the library and
    take their slow paths, which attach or raise."""
    return _UNBOUND


#: Longest single wait in the C library made by a thread that may have to
#: run a Python signal handler. A handler (and so Ctrl-C) runs only once the
#: ctypes call returns, so this bounds the reaction time; NOTES.md measured
#: 20-100 ms slices to be on time, and the requirement is 100 ms.
SIGNAL_SLICE_NS = 40_000_000

#: How many times a thread that found the lock busy gives the CPU away
#: (:func:`os.sched_yield`, without the GIL) and tries again before it
#: blocks in the library; see RWLock._yield_tries.
YIELD_TRIES = 16

_sched_yield = getattr(os, "sched_yield", None) or (lambda: time.sleep(0))
_monotonic_ns = time.monotonic_ns
_get_ident = threading.get_ident
_active_count = threading.active_count
_state = _lib._state


def _main_ident() -> int:
    return threading.main_thread().ident or 0


#: The largest timeout the C library takes, in ns; a longer one (about 292
#: years and up) waits forever, never wraps around to a short one.
_MAX_NS = 2**63 - 1


def _timeout_ns(timeout: Timeout) -> int:
    """Convert a timeout in seconds to the C convention: -1 forever, 0 try, else ns."""
    if timeout is None:
        return -1
    # bool is an int, and "1" converts to a float: neither is a timeout.
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError("timeout must be a number of seconds or None, not %r" % (timeout,))
    if timeout == -1 or timeout == math.inf:
        return -1
    if timeout != timeout:  # NaN
        raise ValueError("timeout must not be NaN")
    if timeout < 0:
        raise ValueError("timeout must be None, -1 (wait forever) or >= 0, not %r" % (timeout,))
    if timeout == 0:
        return 0
    if timeout >= _MAX_NS / 1e9:
        return -1
    return min(_MAX_NS, max(1, int(timeout * 1e9)))


def _deadline(timeout_ns: int) -> int:
    """The absolute CLOCK_MONOTONIC deadline of a wait, or -1 (forever)."""
    if timeout_ns < 0:
        return -1
    now = _monotonic_ns()
    return -1 if timeout_ns > _MAX_NS - now else now + timeout_ns


class Holder(NamedTuple):
    """One entry of :meth:`RWLock.holders`: a hold, or a wait when :attr:`waiting`."""

    pid: int
    """Process id of the holder."""
    tid: int
    """Kernel thread id (:func:`threading.get_native_id`) of the holder."""
    mode: str
    """``"read"`` or ``"write"``."""
    since: Optional[float]
    """:func:`time.monotonic` time at which the hold or wait began (or was first
    seen by an inspector); ``None`` when unknown."""
    waiting: bool = False
    """True while the thread still waits for :attr:`mode`."""
    # Shadows tuple.count on purpose: the field is public API.
    count: int = 1  # type: ignore[assignment]  # pyright: ignore[reportIncompatibleMethodOverride]
    """Recursion depth of a read hold."""
    owner: int = 0
    """The owner inside the process, all 64 bits: the thread id for a hold of
    a thread, or the value an explicit owner chose."""
    host: str = ""
    """The holder's host, for a lock on etcd (``etcd://`` names); ``""`` for a
    local lock."""
    fence: int = 0
    """The fencing token of the hold, for a lock on etcd; 0 otherwise."""


class Stats(NamedTuple):
    """A snapshot of a lock's state, from :meth:`RWLock.stats`."""

    readers: int
    """Threads holding the lock for reading."""
    writer_pid: int
    """Process of the writer that holds or is draining the lock, else 0."""
    writer_tid: int
    """Thread of that writer, else 0."""
    writer_active: bool
    """The writer has drained the readers and holds the lock."""
    waiting_readers: int
    """Threads waiting to read."""
    waiting_writers: int
    """Threads waiting to write (a writer still draining readers counts)."""
    capacity: int
    """Slots in the holder table; every holder and waiter takes one."""
    used_slots: int
    """Slots in use."""
    attached: int
    """Processes that have the lock open, as far as the library tracks."""
    owner_dead: bool
    """A writer died holding the lock and no warned writer has released since."""
    recoveries: int
    """Slots of dead processes cleaned up over the lock's life."""
    owner_deaths: int
    """Writers that died holding the lock over its life."""


_MODES = {_lib.MODE_READ: "read", _lib.MODE_WRITE: "write"}


# Serializes the first use of an unpickled lock (_attach).
_attach_mutex = threading.Lock()


def _after_fork_child() -> None:
    global _attach_mutex
    _attach_mutex = threading.Lock()  # another thread may have held it at fork


_lib.on_fork_child(_after_fork_child)


class _hybridmethod:
    """A method that works on the class (static form) and on instances."""

    def __init__(self, cls_fn: Callable[..., Any], inst_fn: Callable[..., Any]) -> None:
        self.cls_fn = cls_fn
        self.inst_fn = inst_fn
        self.__doc__ = inst_fn.__doc__

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self.cls_fn
        return self.inst_fn.__get__(obj, objtype)


def _name_bytes(name: Union[str, "os.PathLike[str]"]) -> bytes:
    raw = os.fsencode(name)
    if not raw or b"\0" in raw:
        raise _name_error(os.fsdecode(raw))
    return raw


def _name_error(name: str) -> InvalidNameError:
    return InvalidNameError(
        _errno.EINVAL,
        "not a valid lock name (empty, a NUL byte, a '.' or '..' component, "
        "a trailing '/', or too long)",
        name,
    )


def _unlink_name(name: Union[str, "os.PathLike[str]"]) -> None:
    """Remove the named lock *name*. Processes that have it open keep using it.

    :param name: a bare name (``/dev/shm/prwlock.<name>``) or a path.
    :raises LockNotFoundError: there is no such lock.
    :raises LockPermissionError: the file is another user's (other than root's).
    :raises InvalidNameError: *name* is not a valid lock name.
    """
    raw = _name_bytes(name)
    err = _lib.get().unlink(raw)
    if err == _errno.EINVAL:
        raise _name_error(os.fsdecode(raw))
    if err:
        raise _owner.explain(error_for(err, os.fsdecode(raw)), raw, unlink=True)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first frame outside this package.

    The package's frames between the user's call and the warning differ by
    path (fast path, timeout, sliced wait, guard); like the stdlib's own
    warnings, ours name the user's line.
    """
    level = 1
    f: Optional[FrameType] = sys._getframe(1)
    while f is not None and os.path.dirname(os.path.abspath(f.f_code.co_filename)) == _PACKAGE_DIR:
        level += 1
        f = f.f_back
    return level


class _Guard:
    """Context manager of :meth:`RWLock.reader_lock` and :meth:`RWLock.writer_lock`."""

    __slots__ = ("_lock", "_write", "_timeout")

    def __init__(self, lock: "RWLock", write: bool, timeout: Timeout) -> None:
        self._lock = lock
        self._write = write
        self._timeout = timeout

    def __repr__(self) -> str:
        return "<prwlock %s of %r timeout=%r>" % ("writer_lock" if self._write else "reader_lock", self._lock,
                                                   self._timeout)

    def __enter__(self) -> "RWLock":
        lock = self._lock
        err = _UNBOUND
        if self._timeout is None:
            # RWLock.acquire_read/acquire_write's fast path, inlined.
            write = self._write
            err = (lock._try_write if write else lock._try_read)(lock._arg)
            if not err:
                return lock
        if err != _UNBOUND:
            ok = lock._after_try(lock._own_lib(), lock._ptr, err, self._write, -1)
        else:
            ok = lock._acquire(self._write, _timeout_ns(self._timeout))
        if not ok:
            raise LockTimeoutError(
                _ETIMEDOUT,
                "could not acquire the %s lock within %r s" % ("write" if self._write else "read", self._timeout),
            )
        return self._lock

    async def __aenter__(self) -> "RWLock":
        # As a task: the hold belongs to the task (explicit owner), and a
        # busy lock is waited for without blocking the loop.
        from . import _async

        if not await _async.acquire(self._lock, self._write, self._timeout):
            raise _async.timeout_error(self._write, self._timeout)
        return self._lock

    async def __aexit__(self, *exc: Any) -> None:
        from . import _async

        _async.release(self._lock)

    def __exit__(self, *exc: Any) -> None:
        lock = self._lock
        # RWLock.release's fast path, inlined. On an error nothing was
        # released: release() makes the call again and reports it.
        fn = lock._release
        if not fn(lock._arg):
            return
        lock.release()


class RWLock:
    """A reader-writer lock shared between processes and threads.

    ``RWLock()`` creates an anonymous lock, which is removed when its last
    user closes it or exits. Share it by pickling (multiprocessing does it
    for you with every start method) or by passing it to a forked child.

    ``RWLock(name)`` opens, and by default creates, a named lock that
    unrelated processes, in any language, share by that name. A bare name
    lives in ``/dev/shm/prwlock.<name>``; a name containing ``/`` is a file
    path. A named lock lives until :meth:`unlink`.

    Ownership is per thread: each thread (in each process) is its own
    holder, and :meth:`release` releases the calling thread's hold. A
    thread may take a read lock it already holds again (recursively); any
    other request that would deadlock on the thread's own hold raises
    :class:`DeadlockError`. A process that dies never blocks the lock for
    long; if it died holding the write lock, later acquires warn with
    :class:`OwnerDiedWarning`.

    :param name: the lock's name or path; ``None`` for an anonymous lock.
    :param create: create the named lock if it does not exist.
    :param exclusive: with *create*, fail if it already exists.
    :param mode: file mode of a lock this call creates. Group or other write
        bits need *multiuser*.
    :param multiuser: accept a named lock meant to be shared between users.
        Without it, a lock file owned by neither this process's effective
        uid nor root, or writable by users other than its owner, is refused
        with :class:`LockPermissionError`, because another user could have
        planted it. Pickles of a lock opened with it carry the opt-in, for a
        file of the same owner only. See README, Permissions.
    :param capacity: how many threads may hold or wait for a lock this call
        creates at once, and how many processes may have it open (rounded
        up to a multiple of 64); ``None`` means the default, 1024; at most
        4096. Opening an existing lock keeps its creator's choice. Beyond
        it, acquiring raises :class:`LockFullError` at once.
    :raises LockNotFoundError: the named lock does not exist and *create* is false.
    :raises LockPermissionError: (a :class:`PermissionError`) the file's mode
        denies access, or the ownership check above refused it.
    :raises LockExistsError: it exists and *exclusive* is true.
    :raises InvalidNameError: *name* is not a valid lock name (a
        :class:`ValueError` and an :class:`OSError` with ``EINVAL``).
    :raises ValueError: *mode* is not within ``0o000..0o777``.
    :raises TypeError: *mode* is not an int.
    :raises PrwlockError: the file is not a prwlock (``EPROTO``), or another
        error of the library.
    :raises LibraryLoadError: ``libprwlock.so`` could not be loaded.
    """

    __slots__ = (
        "_h",
        "_ptr",
        "_gen",
        "_name",
        "_token",
        "_closed",
        "_finalizer",
        # The uncontended fast path: the handle as a prebuilt argument and the
        # GIL-holding entry points; _unbound while the lock is not bound (see
        # _bind and _unbind).
        "_arg",
        "_try_read",
        "_try_write",
        "_release",
        "_yields",
        "__weakref__",
    )

    def __init__(
        self,
        name: Union[str, "os.PathLike[str]", None] = None,
        *,
        create: bool = True,
        exclusive: bool = False,
        mode: int = 0o600,
        multiuser: bool = False,
        capacity: Optional[int] = None,
    ) -> None:
        self._closed = False
        self._token: Optional[bytes] = None
        self._h: Optional[Handle] = None
        self._finalizer: Optional["weakref.finalize[Any, Any]"] = None
        cap = _capacity_arg(capacity)
        lib = _lib.get()
        out = ctypes.c_void_p()
        if name is None:
            if multiuser:
                raise ValueError("multiuser applies to named locks; an anonymous lock is always the creator's")
            op: Callable[[_lib.Library], int] = lambda l: l.create_ex(cap, ctypes.byref(out))
            self._name: Optional[str] = None
        else:
            raw = _name_bytes(name)
            # Checked here so that EINVAL from the library means the name.
            if isinstance(mode, bool) or not isinstance(mode, int):
                raise TypeError("mode must be an int, not %r" % (mode,))
            if not 0 <= mode <= 0o777:
                raise ValueError("mode must be within 0o000..0o777, not %#o" % mode)
            if create and mode & 0o022 and not multiuser:
                raise ValueError(
                    "mode %#o lets users other than the owner write the lock; "
                    "pass multiuser=True if it is meant to be shared between users" % mode
                )
            flags = (_lib.PRW_CREATE if create else 0) | (_lib.PRW_EXCL if exclusive and create else 0)
            flags |= _lib.PRW_MULTIUSER if multiuser else 0
            op = lambda l: l.open_ex(raw, flags, mode, cap, ctypes.byref(out))
            self._name = os.fsdecode(raw)
        err = op(lib)
        if err == _errno.EINVAL and self._name is not None:
            raise _name_error(self._name)
        if err:
            raise _owner.explain(error_for(err, self._name), self._name or "", multiuser)
        h = self._adopt(lib, out)
        if name is None:
            tracker_register(h.path)

    # -- handle management ---------------------------------------------------

    def _adopt(self, lib: _lib.Library, out: ctypes.c_void_p) -> Handle:
        anonymous = lib.is_anonymous(out) == 1
        err, path = lib.read_string(lib.name, out)
        if err:
            lib.close(out)
            raise error_for(err, self._name)
        if self._token is None:
            # Fetched now, once: pickling needs it.
            err, token = lib.read_string(lib.serialize, out)
            if err:
                lib.close(out)
                raise error_for(err, self._name)
            self._token = token.encode("utf-8", "surrogateescape")
        h = self._h = Handle(out, lib.generation, anonymous, path)
        self._bind(lib, out)
        self._finalizer = weakref.finalize(self, close_handle, h)
        live.add(self)
        hook_mp_exit()
        return h

    @classmethod
    def _from_token(cls, token: bytes, name: Optional[str] = None) -> "RWLock":
        # Unpickling attaches nothing: the first use does (_fresh), and any
        # error comes from that call, inside the user's code. multiprocessing
        # cannot survive an error while unpickling: a Pool worker takes any
        # OSError from its task queue for a broken pipe and quits silently,
        # losing the task (the pool then waits forever), other errors kill
        # the worker, a spawn child dies before running, and the parent's
        # result handler thread stops. So nothing here may fail, whatever the
        # pickle holds: no library call, no validation (that comes on use).
        self = cls.__new__(cls)
        self._closed = False
        self._name = name
        self._token = token
        self._h = None
        self._finalizer = None
        self._unbind()
        return self

    def _attach(self) -> None:
        """First use of an unpickled lock: attach to it by its token."""
        # Two threads may race to use one unpickled lock.
        with _attach_mutex:
            if self._h is not None:
                return
            token = self._token_bytes_cached()
            if not isinstance(token, bytes) or b"\0" in token:
                raise PrwlockError(_errno.EINVAL, "malformed lock token", self._name)
            lib = _lib.get()
            out = ctypes.c_void_p()
            err = lib.deserialize(token, ctypes.byref(out))
            if err:
                raise error_for(err, self._name)
            self._adopt(lib, out)

    def _unbind(self) -> None:
        """Route every entry point to its slow path, which attaches or raises."""
        self._gen = -1  # matches no generation: _acquire and release go to _fresh
        # The fast paths call these without looking at _gen: _unbound answers
        # _UNBOUND, which sends them to their slow paths.
        self._try_read = self._try_write = self._release = _unbound
        self._arg = None

    def _bind(self, lib: _lib.Library, out: ctypes.c_void_p) -> None:
        # _gen and the entry points last. "_gen == _state.generation" means
        # "open, and lib is loaded"; close unbinds. A fast path that loaded
        # the entry point just before a close calls it with a closed handle,
        # which the library answers with EBADF (handles are never reissued).
        self._ptr = out
        self._arg = _lib.handle_arg(out)
        if self.remote:
            # A remote call waits for the network: never hold the GIL.
            self._try_read = lib.try_acquire_read
            self._try_write = lib.try_acquire_write
            self._release = lib.release
            self._yields = 0
        else:
            self._try_read = lib.held_try_acquire_read
            self._try_write = lib.held_try_acquire_write
            self._release = lib.held_release
            self._yields = YIELD_TRIES
        self._gen = lib.generation

    def _token_bytes_cached(self) -> bytes:
        if self._token is None:
            raise PrwlockError(_errno.EINVAL, "lock has no token to re-attach with", self._name)
        return self._token

    def _fresh(self) -> Tuple[_lib.Library, ctypes.c_void_p]:
        if self._closed:
            raise LockClosedError(_errno.EBADF, "lock is closed", self._name)
        if self._h is None:
            self._attach()
        return _lib.get(), self._ptr

    # -- acquiring -------------------------------------------------------------

    def _own_lib(self) -> _lib.Library:
        """The library this lock's handle belongs to (loaded: the lock is open)."""
        return _lib.get()

    def _acquire(self, write: bool, timeout_ns: int) -> bool:
        if self._gen != _state.generation:
            self._fresh()  # raises if closed
        # Try first through the GIL-keeping binding: a try never waits.
        fn = self._try_write if write else self._try_read
        err = fn(self._arg)
        if err == 0:
            return True
        return self._after_try(self._own_lib(), self._ptr, err, write, timeout_ns)

    def _after_try(self, lib: _lib.Library, ptr: ctypes.c_void_p, err: int, write: bool, timeout_ns: int) -> bool:
        if err == _EBUSY:
            if timeout_ns == 0:
                return False
            return self._acquire_slow(lib, ptr, write, timeout_ns)
        return self._acquire_error(lib, err, write, timeout_ns)

    def _acquire_error(self, lib: _lib.Library, err: int, write: bool, timeout_ns: int) -> bool:
        if err == _EOWNERDEAD:
            self._warn_owner_died(write)
            return True
        if err == _EAGAIN:
            raise self._full_error(lib)
        raise error_for(err, self._name)

    def _full_error(self, lib: Optional[_lib.Library]) -> PrwlockError:
        """The :class:`LockFullError` of an acquire, naming this lock's capacity."""
        cap = ctypes.c_uint32(0)
        if lib is None or lib.capacity(self._ptr, ctypes.byref(cap)) != 0:
            return error_for(_EAGAIN, self._name)
        return full_error(cap.value, self._name)

    def _warn_owner_died(self, write: bool) -> None:
        try:
            warnings.warn(
                OwnerDiedWarning(
                    "prwlock %s: acquired for %s, but a writer died holding it; "
                    "the protected data may be inconsistent"
                    % (self._name or (self._h.path if self._h else "?"), "writing" if write else "reading")
                ),
                stacklevel=_caller_stacklevel(),
            )
        except BaseException:
            # The warning was turned into an error: do not leave the caller
            # holding a lock it does not know it has, and do not vouch for
            # data nobody repaired: the mark stays for the next writer.
            self.release_unrepaired()
            raise

    def _acquire_slow(self, lib: _lib.Library, ptr: ctypes.c_void_p, write: bool, timeout_ns: int) -> bool:
        # time.monotonic_ns is CLOCK_MONOTONIC, the library's clock. Taken
        # first: the yields below count against the timeout.
        deadline = _deadline(timeout_ns)
        if _get_ident() != _main_ident():
            # No signal handler runs on this thread: nothing can interrupt.
            err = self._yield_tries(write, deadline)
            if err == _EBUSY:
                left = -1
                if deadline >= 0:
                    left = deadline - _monotonic_ns()
                    if left <= 0:
                        return False
                err = (lib.acquire_write if write else lib.acquire_read)(ptr, left)
            if err == 0:
                return True
            if err == _ETIMEDOUT or err == _EBUSY:
                return False
            return self._acquire_error(lib, err, write, timeout_ns)
        # Only the main thread runs Python signal handlers, and it only runs
        # them between ctypes calls: it waits in slices (prw_acquire_slice)
        # against the one absolute deadline, and between slices its wait
        # stays queued in the lock, keeping its place (a queued writer keeps
        # blocking new readers).
        mode = _MODE_WRITE if write else _MODE_READ
        try:
            err = self._yield_tries(write, deadline)
            if err == _EBUSY:
                if deadline >= 0 and _monotonic_ns() >= deadline:
                    return False
                err = _EINTR
            while err == _EINTR:
                err = lib.acquire_slice(ptr, mode, deadline, _monotonic_ns() + SIGNAL_SLICE_NS)
        except BaseException:
            # A signal handler raised (KeyboardInterrupt) between two calls:
            # withdraw the queued wait, or give back a grant that raced with
            # it. If the last call had already granted the lock, nothing is
            # queued, and the hold is a phantom the caller cannot know of:
            # we got here after a busy try, so this thread held nothing before.
            if lib.cancel(ptr) != 0:
                self._drop_phantom(lib, ptr)
            raise
        if err == 0:
            return True
        if err == _ETIMEDOUT:
            return False
        return self._acquire_error(lib, err, write, timeout_ns)

    def _yield_tries(self, write: bool, deadline: int) -> int:
        """Give the CPU (and the GIL) away, then try again, a few times; the last try's result.

        A holder in this process that is waiting for the GIL usually
        releases as soon as it gets it. A thread that blocks in the library
        instead goes to sleep without the GIL and, once woken and granted,
        holds the lock while it waits for the GIL in turn: every thread then
        convoys behind the GIL (see issue 17 and docs/bench). A try never
        queues, so the yields take nobody's place: the queue in the lock
        decides as before once the thread blocks. A writer yields only if
        the process has another thread: a writer that does not queue lets
        new readers in, and with no other thread no holder here needs the
        GIL. (Readers still yield: that keeps nobody waiting, and it kept
        single-threaded processes' contended throughput.)
        """
        if write and _active_count() < 2:
            # No other thread here, so no holder here waits for the GIL. A
            # yielding writer takes no place in the queue, so the readers of
            # other processes would keep coming in: a writer against 8
            # reader processes waited 74-80 ms (p50) instead of 0.03 ms.
            return _EBUSY
        fn = self._try_write if write else self._try_read
        arg = self._arg
        err = _EBUSY
        for _ in range(self._yields):
            _sched_yield()
            err = fn(arg)
            if err != _EBUSY or (deadline >= 0 and _monotonic_ns() >= deadline):
                break
        return err

    def _drop_phantom(self, lib: _lib.Library, ptr: ctypes.c_void_p) -> None:
        pid, tid = os.getpid(), threading.get_native_id()
        try:
            for h in self._holders(lib, ptr):
                if h.pid == pid and h.tid == tid and not h.waiting:
                    # The caller never saw this grant: it repaired nothing.
                    lib.release_unrepaired(ptr)
                    break
        except Exception:  # pragma: no cover - best effort on the way out
            pass

    def acquire_read(self, timeout: Timeout = None) -> bool:
        """Acquire the lock for reading.

        :param timeout: seconds to wait; ``None`` or ``-1`` wait forever,
            ``0`` does not wait.
        :returns: ``True`` once acquired, ``False`` if the timeout expired.
        :raises DeadlockError: the calling thread holds the write lock.
        :raises ValueError: *timeout* is negative (other than ``-1``) or NaN.
        :warns OwnerDiedWarning: acquired, but a writer died holding the lock.
        """
        if timeout is None:
            fn = self._try_read  # a plain load (LOAD_METHOD would not specialize)
            err = fn(self._arg)
            if not err:
                return True
            if err != _UNBOUND:
                return self._after_try(self._own_lib(), self._ptr, err, False, -1)
        return self._acquire(False, _timeout_ns(timeout))

    def acquire_write(self, timeout: Timeout = None) -> bool:
        """Acquire the lock for writing.

        :param timeout: seconds to wait; ``None`` or ``-1`` wait forever,
            ``0`` does not wait.
        :returns: ``True`` once acquired, ``False`` if the timeout expired.
        :raises DeadlockError: the calling thread already holds the lock
            (read or write).
        :raises ValueError: *timeout* is negative (other than ``-1``) or NaN.
        :warns OwnerDiedWarning: acquired, but a writer died holding the lock.
        """
        if timeout is None:
            fn = self._try_write
            err = fn(self._arg)
            if not err:
                return True
            if err != _UNBOUND:
                return self._after_try(self._own_lib(), self._ptr, err, True, -1)
        return self._acquire(True, _timeout_ns(timeout))

    def try_acquire_read(self) -> bool:
        """Acquire the lock for reading if that is possible without waiting.

        :returns: whether the lock was acquired.
        :raises DeadlockError: the calling thread holds the write lock.
        """
        return self._acquire(False, 0)

    def try_acquire_write(self) -> bool:
        """Acquire the lock for writing if that is possible without waiting.

        :returns: whether the lock was acquired.
        :raises DeadlockError: the calling thread already holds the lock.
        """
        return self._acquire(True, 0)

    def release(self) -> None:
        """Release the calling thread's hold, read or write (one level of a recursive read).

        :raises NotHeldError: the calling thread holds nothing (a
            :class:`ValueError`, as in prwlock 0.4.1).
        """
        fn = self._release  # a plain load (LOAD_METHOD would not specialize)
        err = fn(self._arg)
        if not err:
            return
        if err == _UNBOUND:
            lib, ptr = self._fresh()
            err = lib.release(ptr)
        if err:
            raise error_for(err, self._name)

    def release_unrepaired(self) -> None:
        """Release like :meth:`release`, without vouching for the data.

        For a writer warned with :class:`OwnerDiedWarning` that did not
        repair the protected data: the lock stays marked (:attr:`owner_died`)
        for the next writer. :meth:`release` after such a warning marks the
        data consistent again.

        :raises NotHeldError: the calling thread holds nothing.
        """
        lib, ptr = self._fresh()
        err = lib.release_unrepaired(ptr)
        if err:
            raise error_for(err, self._name)

    def downgrade(self) -> None:
        """Turn the calling thread's write hold into a read hold, atomically.

        No writer can get in between; readers waiting behind this writer are
        admitted along with it.

        :raises NotHeldError: the calling thread does not hold the write lock.
        """
        lib, ptr = self._fresh()
        err = lib.downgrade(ptr)
        if err:
            raise error_for(err, self._name)

    def fence(self) -> int:
        """Return the fencing token of the calling thread's hold on a remote lock.

        The token grows with every later hold in a conflicting mode. Pass it
        to the storage the lock protects, and have the storage refuse a
        token smaller than the largest it has seen: a holder that lost its
        lease but does not know it yet is then refused.

        :raises HoldLostError: the hold's lease expired, or could not be
            renewed in time; the thread holds nothing now.
        :raises NotHeldError: the calling thread holds nothing.
        :raises PrwlockError: ``ENOTSUP``, the lock is local.
        """
        lib, ptr = self._fresh()
        out = ctypes.c_uint64()
        err = lib.fence(ptr, ctypes.byref(out))
        if err:
            raise error_for(err, self._name)
        return out.value

    @property
    def remote(self) -> bool:
        """Whether the lock lives on a server (opened by an ``etcd://`` URL)."""
        token = self._token or b""
        return token.startswith((b"etcd://", b"etcds://"))

    def reader_lock(self, timeout: Timeout = None) -> _Guard:
        """Return a context manager that holds the lock for reading.

        :param timeout: as for :meth:`acquire_read`.
        :raises LockTimeoutError: on entry, if the lock was not acquired in
            time (a :class:`TimeoutError` and a :class:`ValueError`).
        """
        _timeout_ns(timeout)  # validate now, not on entry
        return _Guard(self, False, timeout)

    def writer_lock(self, timeout: Timeout = None) -> _Guard:
        """Return a context manager that holds the lock for writing.

        :param timeout: as for :meth:`acquire_write`.
        :raises LockTimeoutError: on entry, if the lock was not acquired in
            time (a :class:`TimeoutError` and a :class:`ValueError`).
        """
        _timeout_ns(timeout)
        return _Guard(self, True, timeout)

    # -- inspection ------------------------------------------------------------

    @staticmethod
    def _holders(lib: _lib.Library, ptr: ctypes.c_void_p) -> List[Holder]:
        cap = 64
        while True:
            arr = (_lib.HolderExStruct * cap)()
            count = ctypes.c_size_t(0)
            err = lib.holders_ex(ptr, arr, cap, ctypes.byref(count))
            if err == 0 and count.value > cap:
                err = _errno.ERANGE
            if err == _errno.ERANGE:
                cap = max(cap * 2, count.value)
                continue
            if err:
                raise error_for(err)
            return [
                Holder(
                    pid=x.h.pid,
                    tid=x.h.tid,
                    mode=_MODES.get(x.h.mode, str(x.h.mode)),
                    since=(x.h.since_ns / 1e9) if x.h.since_ns else None,
                    waiting=bool(x.h.waiting),
                    count=x.h.count,
                    owner=x.owner,
                    host=x.host.decode("utf-8", "replace"),
                    fence=x.fence,
                )
                for x in arr[: count.value]
            ]

    def holders(self) -> List[Holder]:
        """List who holds the lock, and who waits for it, in any process.

        :returns: a list of :class:`Holder` ``(pid, tid, mode, since, waiting,
            count, owner, host, fence)``; waiters have ``waiting=True``; ``host``
            and ``fence`` are set for a lock on etcd.
        """
        lib, ptr = self._fresh()
        return self._holders(lib, ptr)

    def stats(self) -> Stats:
        """Return a :class:`Stats` snapshot: readers, writer, waiters, recoveries."""
        lib, ptr = self._fresh()
        info = _lib.InfoStruct()
        err = lib.info(ptr, ctypes.byref(info))
        if err:
            raise error_for(err, self._name)
        return Stats(
            readers=info.readers,
            writer_pid=info.writer_pid,
            writer_tid=info.writer_tid,
            writer_active=bool(info.writer_active),
            waiting_readers=info.waiting_readers,
            waiting_writers=info.waiting_writers,
            capacity=info.capacity,
            used_slots=info.used_slots,
            attached=info.attached,
            owner_dead=bool(info.owner_dead),
            recoveries=info.recoveries,
            owner_deaths=info.owner_deaths,
        )

    @property
    def owner_died(self) -> bool:
        """Whether a writer died holding the lock, so the data may be inconsistent.

        It stays true until a writer that was warned (see
        :class:`OwnerDiedWarning`) releases the lock.
        """
        return self.stats().owner_dead

    @property
    def name(self) -> str:
        """The name the lock was opened with, or the file path of an anonymous lock.

        Either opens the same lock: ``RWLock(lock.name, create=False)``.
        """
        return self._name if self._name is not None else self.path

    def _handle(self) -> Handle:
        """The current handle, attaching an unpickled lock first."""
        h = self._h
        if h is None:
            self._fresh()
            h = self._h
            assert h is not None
        return h

    @property
    def path(self) -> str:
        """The file that holds the lock."""
        return self._handle().path

    @property
    def anonymous(self) -> bool:
        """Whether the lock is anonymous (created by ``RWLock()``)."""
        return self._handle().anonymous

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # -- life cycle --------------------------------------------------------------

    def close(self) -> None:
        """Detach from the lock. Idempotent.

        If this was the process's last handle of the lock, holds the process
        still has are released. An anonymous lock is removed with its last user.
        """
        if self._closed:
            return
        self._closed = True
        self._unbind()
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._h is not None:  # None: unpickled and never used
            aq = sys.modules.get(__name__.rsplit(".", 1)[0] + "._async")
            if aq is not None:
                aq.forget(self._ptr)
            close_handle(self._h)
        live.discard(self)

    def _unlink_self(self) -> None:
        """Remove this lock's name. Processes that have it open keep using it.

        :raises LockNotFoundError: the name was already removed.
        """
        _unlink_name(self.path)

    unlink = _hybridmethod(_unlink_name, _unlink_self)

    def __enter__(self) -> "RWLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __reduce__(self) -> Tuple[Any, ...]:
        # Pickle the token, never a descriptor: it works with every start
        # method and in unrelated processes, as long as the lock exists.
        # A closed lock may be gone (an anonymous one is removed with its
        # last user): refuse here, not in a child that cannot attach.
        if self._closed:
            raise LockClosedError(_errno.EBADF, "cannot pickle a closed lock", self.name)
        return (_restore, (self._token_bytes(), self._name))

    def _token_bytes(self) -> bytes:
        return self._token_bytes_cached()

    def __repr__(self) -> str:
        h = self._h
        if h is None:  # never attach for a repr
            state = "closed" if self._closed else "not yet attached"
            return "<prwlock.RWLock %s %r>" % (state, self._name if self._name is not None else self._token)
        state = "closed" if self._closed else ("anonymous" if h.anonymous else "named")
        return "<prwlock.RWLock %s %r>" % (state, self._name if self._name is not None else h.path)


def _restore(token: bytes, name: Optional[str] = None) -> RWLock:
    # Never raises (see RWLock._from_token).
    return RWLock._from_token(token, name)


def _capacity_arg(capacity: Optional[int]) -> int:
    """Check the *capacity* argument of :class:`RWLock`; 0 means the default."""
    if capacity is None:
        return 0
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise TypeError("capacity must be an int or None, not %r" % (capacity,))
    if not 1 <= capacity <= _lib.MAX_CAPACITY:
        raise ValueError("capacity must be between 1 and %d, not %d" % (_lib.MAX_CAPACITY, capacity))
    return capacity


def iter_locks() -> Iterator[RWLock]:
    """Iterate over the live lock objects of this process (for tests and the CLI)."""
    return iter(list(live))
