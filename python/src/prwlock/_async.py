"""asyncio support: holds that belong to the task, not to the thread.

Each task that takes a lock gets an owner number of its own, and every
call goes through the library's explicit-owner API (``prw_*_as``), so a
task's hold is its own whichever thread runs the loop, and two tasks of one
thread are two holders, as two threads are.

Waiting never costs a thread per coroutine. A coroutine that finds the lock
busy queues in the lock at once (a slice call whose slice has already
ended: the wait stays queued and keeps its place, and a queued writer keeps
new readers out, exactly as a blocked thread would), then awaits a future.
One worker thread per lock (started when the first coroutine queues, gone
when none is left) blocks in the library on behalf of the oldest waiter, a
slice at a time, and after each call looks at every other queued waiter
without blocking, since a release may have handed the lock to several (the
readers queued behind a writer). Whoever makes a call for an owner is the
only one doing so (the library refuses concurrent calls per owner): the
``busy`` and ``settled`` flags, under the queue's mutex, decide who.

A task cancelled while it waits leaves nothing behind: its queued wait is
withdrawn, or a grant that raced with the cancellation is given back, by
whichever side holds the waiter at that moment (the loop at once, or the
worker when its current slice ends).
"""

from __future__ import annotations

import asyncio
import errno as _errno
import itertools
import threading
import time
import warnings
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _lib
from ._errors import LockTimeoutError, OwnerDiedWarning, error_for
from ._lock import RWLock, Timeout, _caller_stacklevel, _deadline, _timeout_ns

_EBUSY = _errno.EBUSY
_EINTR = _errno.EINTR
_ETIMEDOUT = _errno.ETIMEDOUT
_EOWNERDEAD = _errno.EOWNERDEAD
_EAGAIN = _errno.EAGAIN

#: How long the worker blocks for the oldest waiter before it looks at the
#: others (and at cancellations of the oldest) again.
WORKER_SLICE_NS = 20_000_000

# Owners of tasks: a bit above any thread id, then a counter, so that a
# number is never reused for another task of this process.
_OWNER_BASE = 1 << 32
_owner_counter = itertools.count(1)
# id(task) -> (owner, weak reference to the task). The reference both tells
# a reused id from the task it was made for and drops the entry when the
# task goes (a WeakKeyDictionary costs a new reference per lookup).
_owners: Dict[int, Tuple[int, "weakref.ref[asyncio.Task[Any]]"]] = {}
_current_task = asyncio.current_task


def _drop_owner(key: int) -> Callable[["weakref.ref[asyncio.Task[Any]]"], None]:
    def drop(ref: "weakref.ref[asyncio.Task[Any]]") -> None:
        entry = _owners.get(key)
        if entry is not None and entry[1] is ref:
            del _owners[key]

    return drop


def task_owner() -> int:
    """The owner number of the running task (made on first use).

    :raises RuntimeError: not called from an asyncio task.
    """
    try:
        task = _current_task()
    except RuntimeError:  # no running loop
        task = None
    if task is None:
        raise RuntimeError("prwlock async holds belong to an asyncio task: call this from a coroutine run by a task")
    key = id(task)
    entry = _owners.get(key)
    if entry is not None and entry[1]() is task:
        return entry[0]
    owner = _OWNER_BASE | next(_owner_counter)
    _owners[key] = (owner, weakref.ref(task, _drop_owner(key)))
    return owner


class _Waiter:
    __slots__ = ("owner", "mode", "deadline", "loop", "fut", "busy", "settled", "cancelled")

    def __init__(self, owner: int, mode: int, deadline: int, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.mode = mode
        self.deadline = deadline
        self.loop = loop
        self.fut: "asyncio.Future[int]" = loop.create_future()
        self.busy = False  # a call for this owner is in progress
        self.settled = False  # out of the queue: its result is on its way or handled
        self.cancelled = False  # the task gave up: whoever settles it undoes it


class _Queue:
    """The coroutines of this process waiting for one lock, and their worker."""

    def __init__(self, ptr: Any) -> None:
        self.ptr = ptr
        self.mu = threading.Lock()
        self.waiters: List[_Waiter] = []
        self.worker: Optional[threading.Thread] = None

    def add(self, w: _Waiter) -> None:
        with self.mu:
            self.waiters.append(w)
            if self.worker is None:
                self.worker = threading.Thread(target=self._run, name="prwlock-async-waiter", daemon=True)
                self.worker.start()

    def _take(self, w: _Waiter) -> bool:
        """Claim the right to call for *w* (under the mutex); False if someone else has it."""
        if w.settled or w.busy:
            return False
        w.busy = True
        return True

    def _run(self) -> None:
        lib = _lib.get()
        slice_as = lib.acquire_slice_as
        mono = time.monotonic_ns
        while True:
            with self.mu:
                self.waiters = [w for w in self.waiters if not w.settled]
                head = next((w for w in self.waiters if not w.busy), None)
                if head is None:
                    if not self.waiters:
                        self.worker = None
                        return
                else:
                    head.busy = True
            if head is None:  # every waiter is being polled by the loop (a timeout): look again soon
                time.sleep(0.001)
                continue
            err = slice_as(self.ptr, head.owner, head.mode, head.deadline, mono() + WORKER_SLICE_NS)
            self.after_call(lib, head, err)
            for w in list(self.waiters):
                if w is head:
                    continue
                with self.mu:
                    if not self._take(w):
                        continue
                err = slice_as(self.ptr, w.owner, w.mode, w.deadline, mono() + 1)
                self.after_call(lib, w, err)

    def poll(self, lib: _lib.Library, w: _Waiter) -> None:
        """One non-blocking look at *w* from the loop (its deadline passed)."""
        with self.mu:
            if not self._take(w):
                return
        self.after_call(lib, w, lib.acquire_slice_as(self.ptr, w.owner, w.mode, w.deadline, time.monotonic_ns() + 1))

    def after_call(self, lib: _lib.Library, w: _Waiter, err: int) -> None:
        """Settle *w* after a call made for it, unless it is still queued."""
        with self.mu:
            w.busy = False
            if err == _EINTR and not w.cancelled:
                return
            w.settled = True
            cancelled = w.cancelled
        if cancelled:
            self.undo(lib, w, err)
            return
        try:
            w.loop.call_soon_threadsafe(self._deliver, lib, w, err)
        except RuntimeError:  # the loop is closed: nobody will take the result
            self.undo(lib, w, err)

    def _deliver(self, lib: _lib.Library, w: _Waiter, err: int) -> None:
        if w.fut.cancelled():
            self.undo(lib, w, err)
        else:
            w.fut.set_result(err)

    def undo(self, lib: _lib.Library, w: _Waiter, err: int) -> None:
        """Leave nothing of *w*'s request behind, given the last call's result."""
        if err == 0:
            lib.release_as(self.ptr, w.owner)
        elif err == _EOWNERDEAD:
            lib.release_unrepaired_as(self.ptr, w.owner)  # nobody repaired anything
        elif err == _EINTR:
            lib.cancel_as(self.ptr, w.owner)  # withdraws the wait, or gives back a racing grant
        # Otherwise the call already withdrew the wait (timeout, error).


# One queue per lock handle; a fork child starts with none (the workers are
# not there).
_queues: Dict[int, _Queue] = {}
_queues_mu = threading.Lock()


def _queue_for(ptr: Any) -> _Queue:
    key = ptr.value
    q = _queues.get(key)
    if q is None:
        with _queues_mu:
            q = _queues.get(key)
            if q is None:
                q = _queues[key] = _Queue(ptr)
    return q


def forget(ptr: Any) -> None:
    """Drop the queue of a handle that is being closed."""
    key = getattr(ptr, "value", None)
    if key is not None:
        with _queues_mu:
            _queues.pop(key, None)


def _after_fork_child() -> None:
    global _queues_mu
    _queues.clear()
    _queues_mu = threading.Lock()


_lib.on_fork_child(_after_fork_child)


def _mode(write: bool) -> int:
    return _lib.MODE_WRITE if write else _lib.MODE_READ


async def acquire(lock: RWLock, write: bool, timeout: Timeout) -> bool:
    """Acquire *lock* for the running task; see :meth:`AsyncRWLock.acquire_read`."""
    timeout_ns = _timeout_ns(timeout)
    deadline = _deadline(timeout_ns)
    owner = task_owner()
    lib, ptr = lock._fresh()
    err = (lib.try_acquire_write_as if write else lib.try_acquire_read_as)(ptr, owner)
    if err == _EBUSY and timeout_ns != 0:
        # Queue in the lock now, without waiting: the place is kept.
        err = lib.acquire_slice_as(ptr, owner, _mode(write), deadline, time.monotonic_ns() + 1)
        if err == _EINTR:
            err = await _wait(lock, lib, ptr, owner, write, deadline)
    return _result(lock, lib, ptr, owner, err, write)


async def _wait(lock: RWLock, lib: _lib.Library, ptr: Any, owner: int, write: bool, deadline: int) -> int:
    loop = asyncio.get_running_loop()
    q = _queue_for(ptr)
    w = _Waiter(owner, _mode(write), deadline, loop)
    q.add(w)
    timer = None
    if deadline >= 0:
        # The worker may be blocked for an older waiter: look at this one
        # when its time is up. time.monotonic is the loop's clock too.
        timer = loop.call_at(deadline / 1e9 - time.monotonic() + loop.time(), q.poll, lib, w)
    try:
        return await w.fut
    except asyncio.CancelledError:
        with q.mu:
            w.cancelled = True
            ours = not w.settled and not w.busy
            if ours:
                w.settled = True
        if w.fut.done() and not w.fut.cancelled():
            q.undo(lib, w, w.fut.result())  # granted, but the task goes away
        elif ours:
            q.undo(lib, w, _EINTR)  # queued: withdraw it now
        # Otherwise the worker (busy) or the pending delivery undoes it.
        raise
    finally:
        if timer is not None:
            timer.cancel()


def _result(lock: RWLock, lib: _lib.Library, ptr: Any, owner: int, err: int, write: bool) -> bool:
    if err == 0:
        return True
    if err in (_EBUSY, _ETIMEDOUT):
        return False
    if err == _EOWNERDEAD:
        try:
            warnings.warn(
                OwnerDiedWarning(
                    "prwlock %s: acquired for %s, but a writer died holding it; "
                    "the protected data may be inconsistent" % (lock.name, "writing" if write else "reading")
                ),
                stacklevel=_caller_stacklevel(),
            )
        except BaseException:
            lib.release_unrepaired_as(ptr, owner)
            raise
        return True
    if err == _EAGAIN:
        raise lock._full_error(lib)
    raise error_for(err, lock._name)


def release(lock: RWLock, unrepaired: bool = False) -> None:
    """Release the running task's hold on *lock*."""
    lib, ptr = lock._fresh()
    err = (lib.release_unrepaired_as if unrepaired else lib.release_as)(ptr, task_owner())
    if err:
        raise error_for(err, lock._name)


def downgrade(lock: RWLock) -> None:
    lib, ptr = lock._fresh()
    err = lib.downgrade_as(ptr, task_owner())
    if err:
        raise error_for(err, lock._name)


def timeout_error(write: bool, timeout: Any) -> LockTimeoutError:
    return LockTimeoutError(
        _ETIMEDOUT, "could not acquire the %s lock within %r s" % ("write" if write else "read", timeout)
    )


def waiting_threads() -> int:
    """Worker threads alive in this process (for tests and benchmarks)."""
    return sum(1 for q in list(_queues.values()) if q.worker is not None)


class AsyncGuard:
    """``async with`` of :meth:`AsyncRWLock.reader_lock` and :meth:`AsyncRWLock.writer_lock`."""

    __slots__ = ("_lock", "_write", "_timeout")

    def __init__(self, lock: RWLock, write: bool, timeout: Timeout) -> None:
        _timeout_ns(timeout)  # validate now, not on entry
        self._lock = lock
        self._write = write
        self._timeout = timeout

    async def __aenter__(self) -> RWLock:
        if not await acquire(self._lock, self._write, self._timeout):
            raise timeout_error(self._write, self._timeout)
        return self._lock

    async def __aexit__(self, *exc: Any) -> None:
        release(self._lock)

    def __repr__(self) -> str:
        return "<prwlock async %s of %r timeout=%r>" % (
            "writer_lock" if self._write else "reader_lock", self._lock, self._timeout)


class AsyncRWLock:
    """The asyncio face of :class:`RWLock`: holds belong to the task.

    ``AsyncRWLock(...)`` takes :class:`RWLock`'s arguments and opens a lock,
    or wraps an open one: ``AsyncRWLock(lock)``. Each task is its own
    holder (as each thread is for :class:`RWLock`), whichever thread runs
    its event loop; a task may take a read lock it holds again. Waiting
    coroutines take no thread each: they queue in the lock, keeping their
    place (fairness is the sync API's), and one worker thread per lock
    waits on their behalf. An uncontended acquire completes inline, without
    a thread. A task cancelled while it waits leaves no hold and no queued
    wait behind.

    >>> async def main(lock):
    ...     async with lock.reader_lock():
    ...         ...
    ...     async with lock.writer_lock(timeout=5):
    ...         ...
    """

    __slots__ = ("_lock", "_own")

    def __init__(self, name: Any = None, **kwargs: Any) -> None:
        if isinstance(name, RWLock):
            if kwargs:
                raise TypeError("AsyncRWLock(lock) takes no other arguments")
            self._lock = name
            self._own = False
        else:
            self._lock = RWLock(name, **kwargs)
            self._own = True

    @property
    def lock(self) -> RWLock:
        """The :class:`RWLock` underneath (its thread-owned API, inspection, pickling)."""
        return self._lock

    async def acquire_read(self, timeout: Timeout = None) -> bool:
        """Acquire the lock for reading for the running task.

        :param timeout: seconds to wait; ``None`` or ``-1`` wait forever,
            ``0`` does not wait.
        :returns: ``True`` once acquired, ``False`` if the timeout expired.
        :raises DeadlockError: the task holds the write lock.
        :raises RuntimeError: not called from an asyncio task.
        :warns OwnerDiedWarning: acquired, but a writer died holding the lock.
        """
        return await acquire(self._lock, False, timeout)

    async def acquire_write(self, timeout: Timeout = None) -> bool:
        """Acquire the lock for writing for the running task.

        :param timeout: as for :meth:`acquire_read`.
        :returns: ``True`` once acquired, ``False`` if the timeout expired.
        :raises DeadlockError: the task already holds the lock.
        :warns OwnerDiedWarning: acquired, but a writer died holding the lock.
        """
        return await acquire(self._lock, True, timeout)

    def release(self) -> None:
        """Release the running task's hold (one level of a recursive read).

        :raises NotHeldError: the task holds nothing.
        """
        release(self._lock)

    def release_unrepaired(self) -> None:
        """Release like :meth:`release`, leaving the owner-died mark (see :meth:`RWLock.release_unrepaired`)."""
        release(self._lock, unrepaired=True)

    def downgrade(self) -> None:
        """Turn the task's write hold into a read hold, atomically.

        :raises NotHeldError: the task does not hold the write lock.
        """
        downgrade(self._lock)

    def reader_lock(self, timeout: Timeout = None) -> AsyncGuard:
        """Return an async context manager that holds the lock for reading.

        :raises LockTimeoutError: on entry, if not acquired in time.
        """
        return AsyncGuard(self._lock, False, timeout)

    def writer_lock(self, timeout: Timeout = None) -> AsyncGuard:
        """Return an async context manager that holds the lock for writing.

        :raises LockTimeoutError: on entry, if not acquired in time.
        """
        return AsyncGuard(self._lock, True, timeout)

    #: filelock's names.
    read_lock = reader_lock
    write_lock = writer_lock

    def close(self) -> None:
        """Close the lock if this object opened it (a wrapped lock stays open)."""
        if self._own:
            self._lock.close()

    async def __aenter__(self) -> "AsyncRWLock":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<prwlock.AsyncRWLock of %r>" % (self._lock,)
